/*
 * catalog.c - the image catalog: a name resolves to <dir>/<name> in the
 * first image directory that has it; anything with a '/' is a path.  An
 * image is opened and validated as a guest ELF before any VM is touched,
 * so a bad image is a clear error at the request, not a crashed guest.
 * Images are opened as root from paths an admin gives: only a regular
 * file is ever opened for reading (lv__open_regular), so a FIFO or a
 * device node is an error, never a hang or a side effect.
 * A name may also be an image directory (scripts/tinyx): NAME/ with
 * kernel, and optionally initrd and cmdline, which a spawn that names
 * neither ramdisk nor command line gets (lv_image_extras).  On KVM an
 * image is a LightVM unikernel or a Linux kernel (an ELF vmlinux with the
 * PVH entry note, lv__image_is_linux); the shell checks the kernel's
 * segments itself when it loads them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lv_internal.h"
#include "elf.h"
#include "lightvm_abi.h"
#include "hostnet.h"

#define STACK_RESERVE (64u << 10)

static bool image_name_ok(const char *s)
{
	return strlen(s) <= 128 && s[0] != '.' && lv__name_chars_ok(s);
}

static bool platform_dir(const struct lv_host *h)
{
	return h->ops && strcmp(h->ops->name, "xen") == 0;
}

/* A Xen PV kernel: an ELF64 x86-64 executable, or a Linux bzImage whose
 * payload (an ELF, compressed) libxenguest unpacks: the boot protocol's
 * header (2.08 or later: it says where the payload is), the payload
 * inside the file, in a format libxenguest reads. */
static int xen_kernel_ok(int fd, const uint8_t *b, size_t n, uint64_t size, char *why, size_t len)
{
	static const struct { const char *name; uint8_t len, magic[6]; } fmt[] = {
		{ "gzip", 2, { 0x1f, 0x8b } }, { "xz", 6, { 0xfd, '7', 'z', 'X', 'Z', 0 } },
		{ "zstd", 4, { 0x28, 0xb5, 0x2f, 0xfd } }, { "lz4", 4, { 0x02, 0x21, 0x4c, 0x18 } },
		{ "bzip2", 3, { 'B', 'Z', 'h' } }, { "lzma", 2, { 0x5d, 0x00 } },
	};
	uint32_t poff, plen;
	uint16_t ver;
	uint64_t start;
	uint8_t m[6];

	if (n >= 64 && memcmp(b, "\177ELF", 4) == 0) {
		if (b[4] != 2 || b[5] != 1 || b[16] != 2 || b[17] != 0 || b[18] != 62 || b[19] != 0) {
			snprintf(why, len, "not an ELF64 x86-64 executable (a Xen PV kernel)");
			return -ENOEXEC;
		}
		return 0;
	}
	if (n < 0x250 || b[0x1fe] != 0x55 || b[0x1ff] != 0xaa || memcmp(b + 0x202, "HdrS", 4)) {
		snprintf(why, len, "neither an ELF64 x86-64 executable nor a Linux bzImage (a Xen PV kernel)");
		return -ENOEXEC;
	}
	memcpy(&ver, b + 0x206, 2);
	memcpy(&poff, b + 0x248, 4);
	memcpy(&plen, b + 0x24c, 4);
	start = ((uint64_t)(b[0x1f1] ? b[0x1f1] : 4) + 1) * 512 + poff;
	if (ver < 0x208 || plen < 6 || start > size || plen > size - start) {
		snprintf(why, len, "bzImage: boot protocol %u.%02u, payload %u bytes at %llu of a %llu-byte file "
			 "(2.08 or later, the payload inside the file)", ver >> 8, ver & 0xff, plen,
			 (unsigned long long)start, (unsigned long long)size);
		return -ENOEXEC;
	}
	if (pread(fd, m, sizeof(m), (off_t)start) != (ssize_t)sizeof(m)) {
		snprintf(why, len, "bzImage: cannot read its payload");
		return -EIO;
	}
	for (unsigned i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++)
		if (memcmp(m, fmt[i].magic, fmt[i].len) == 0)
			return 0;
	snprintf(why, len, "bzImage: payload compressed in a format Xen's loader does not read "
		 "(gzip, xz, zstd, lz4, bzip2, lzma)");
	return -ENOEXEC;
}

/* DIR/NAME/kernel of an image directory, if path is one. */
static int open_image_dir(char *path, size_t len)
{
	struct stat st;
	size_t n = strlen(path);

	if (stat(path, &st) || !S_ISDIR(st.st_mode) || n + sizeof("/kernel") > len)
		return -EINVAL;
	memcpy(path + n, "/kernel", sizeof("/kernel"));
	return lv__open_regular(path);
}

/* The image NAME from the catalog, its path into path; *from_dir: it is
 * an image directory's kernel, not a file of that name. */
static int open_catalog(struct lv_host *h, const char *name, char *path, size_t plen,
			bool *from_dir, char *err, size_t errlen)
{
	*from_dir = false;
	if (!image_name_ok(name)) {
		snprintf(err, errlen, "invalid image name '%s'", name);
		return -EINVAL;
	}
	for (unsigned i = 0; h->image_dirs[i]; i++) {
		/* the xen driver runs the same apps built for Xen PV, which
		 * live next to each image directory in DIR-xen */
		for (int xen = platform_dir(h) ? 1 : 0; xen >= 0; xen--) {
			int fd;

			snprintf(path, plen, "%s%s/%s", h->image_dirs[i],
				 xen ? "-xen" : "", name);
			fd = lv__open_regular(path);
			if (fd == -EINVAL) {
				fd = open_image_dir(path, plen);
				*from_dir = fd >= 0;
			}
			if (fd >= 0)
				return fd;
			if (fd != -ENOENT && fd != -ENOTDIR) {
				snprintf(err, errlen, "image '%s': %s: %s", name, path,
					 fd == -EINVAL ? "not a regular file" : strerror(-fd));
				return fd;
			}
		}
	}
	snprintf(err, errlen, "unknown image '%s' (not in the image directories; try 'lvsh -c host')", name);
	return -ENOENT;
}

/*
 * A Linux kernel on KVM: not where /dev/kvm is PVM.  There a stock
 * kernel's ring 0 (and its 32-bit PVH entry) goes through KVM's
 * instruction emulator; measured: a Tinyx boot wrote not one byte to its
 * serial port (earlyprintk on) in 600 s.  LIGHTVM_KVM_LINUX_ON_PVM=1 in
 * the agent's environment tries anyway.
 */
static int linux_here(struct lv_host *h, char *why, size_t len)
{
	char plat[96];
	const char *o = getenv("LIGHTVM_KVM_LINUX_ON_PVM");

	lv_host_platform(h, plat, sizeof(plat));
	if (strncmp(plat, "kvm-pvm", 7) || (o && strcmp(o, "1") == 0))
		return 0;
	snprintf(why, len, "a Linux kernel, and /dev/kvm here is PVM, which emulates a stock kernel's ring 0 "
		 "(no console output within 600 s, measured): run Linux guests on standard KVM or Xen "
		 "(LIGHTVM_KVM_LINUX_ON_PVM=1 in lightvmd's environment tries anyway)");
	return -EOPNOTSUPP;
}

/*
 * Open images, kept for the last few files (KVM): a spawn request costs
 * a stat per catalog directory tried and a dup of the kept descriptor
 * instead of two opens, two fstats and a read (issue 17: the agent's work
 * between request and EXEC).  A hit needs the same path to name the same
 * regular file (device, inode, size, modification and change times) as
 * when it was opened; the header kept is checked again for each request.
 * Every VM's shell reads the image with pread, so sharing one open file
 * does not share an offset.  Not for Xen, whose loader reads the file.
 */
#define IMAGE_CACHE 4

struct image_entry {
	char path[1024];
	int fd;                       /* -1: empty */
	struct stat st;
	uint8_t head[4096];
	ssize_t n;
};

static struct image_entry image_cache[IMAGE_CACHE] = {
	{ .fd = -1 }, { .fd = -1 }, { .fd = -1 }, { .fd = -1 },
};
static unsigned image_next;
/* The catalog name the last lv_image_open found as a regular file (not
 * an image directory): lv_image_extras, asked next for the same name,
 * need not look again.  One use. */
static char last_regular[160];

bool lv__same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The kept entry for path if it still names the same file; NULL if not
 * (*gone: nothing is at path, so a catalog search goes on). */
static struct image_entry *image_cached(const char *path, bool *gone)
{
	struct stat st;

	*gone = false;
	if (stat(path, &st)) {
		*gone = errno == ENOENT || errno == ENOTDIR;
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
		return NULL;
	for (unsigned i = 0; i < IMAGE_CACHE; i++)
		if (image_cache[i].fd >= 0 && strcmp(image_cache[i].path, path) == 0 &&
		    lv__same_file(&image_cache[i].st, &st))
			return &image_cache[i];
	return NULL;
}

/* A kept image for this name or path: the first catalog directory that
 * has the name must hold the kept file. */
static struct image_entry *image_lookup(struct lv_host *h, const char *image)
{
	char path[1024];
	bool gone;

	if (platform_dir(h))
		return NULL;
	if (strchr(image, '/'))
		return strlen(image) < sizeof(path) ? image_cached(image, &gone) : NULL;
	if (!image_name_ok(image))
		return NULL;
	for (unsigned i = 0; h->image_dirs[i]; i++) {
		struct image_entry *e;

		snprintf(path, sizeof(path), "%s/%s", h->image_dirs[i], image);
		e = image_cached(path, &gone);
		if (e || !gone)
			return e;
	}
	return NULL;
}

static void image_keep(struct lv_host *h, const char *path, int fd, const struct stat *st,
		       const uint8_t *head, ssize_t n)
{
	struct image_entry *e;
	int kept;

	if (platform_dir(h) || strlen(path) >= sizeof(e->path) || n < 0)
		return;
	kept = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (kept < 0)
		return;
	e = &image_cache[image_next++ % IMAGE_CACHE];
	if (e->fd >= 0)
		close(e->fd);
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->fd = kept;
	e->st = *st;
	memcpy(e->head, head, (size_t)n);
	e->n = n;
}

int lv_image_open(struct lv_host *h, const char *image, uint64_t mem_bytes,
		  char *err, size_t errlen)
{
	struct stat st;

	return lv_image_open_st(h, image, mem_bytes, &st, err, errlen);
}

int lv_image_open_st(struct lv_host *h, const char *image, uint64_t mem_bytes,
		     struct stat *stp, char *err, size_t errlen)
{
	uint8_t buf[4096];
	struct lv_elf_info info;
	struct stat st;
	char why[320], path[1024];
	struct image_entry *kept = image_lookup(h, image);
	bool from_dir = false;
	ssize_t n;
	int fd, rc;

	last_regular[0] = 0;
	if (kept) {   /* a kept image is a regular file (image_cached) */
		fd = fcntl(kept->fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "image '%s': %s", image, strerror(-rc));
			return rc;
		}
		st = kept->st;
		n = kept->n;
		memcpy(buf, kept->head, (size_t)n);
		goto check;
	}
	if (strchr(image, '/')) {
		snprintf(path, sizeof(path), "%s", image);
		fd = lv__open_regular(image);
		if (fd < 0) {
			snprintf(err, errlen, "image '%s': %s", image,
				 fd == -EINVAL ? "not a regular file" : strerror(-fd));
			return fd;
		}
	} else {
		fd = open_catalog(h, image, path, sizeof(path), &from_dir, err, errlen);
		if (fd < 0)
			return fd;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "image '%s' is not a regular file", image);
		rc = -EINVAL;
		goto out;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "image '%s': read: %s", image, strerror(errno));
		goto out;
	}
	image_keep(h, path, fd, &st, buf, n);
check:
	if (!strchr(image, '/') && !from_dir && strlen(image) < sizeof(last_regular))
		snprintf(last_regular, sizeof(last_regular), "%s", image);
	if (mem_bytes < LV_GUEST_MIN_MEM || mem_bytes > LV_GUEST_MAX_MEM) {
		snprintf(err, errlen, "memory %llu bytes out of range (%u MiB .. %u MiB)",
			 (unsigned long long)mem_bytes, LV_GUEST_MIN_MEM >> 20, LV_GUEST_MAX_MEM >> 20);
		rc = -ERANGE;
		goto out;
	}
	/* a Xen PV kernel says where it goes and where it starts in its Xen
	 * notes (libxenguest's bounds-checked loader reads them, after
	 * unpacking a bzImage): here only that it is an x86-64 executable or
	 * a bzImage it can unpack */
	rc = platform_dir(h) ? xen_kernel_ok(fd, buf, (size_t)n, (uint64_t)st.st_size, why, sizeof(why)) :
		lv_elf_parse(buf, (size_t)n, (uint64_t)st.st_size, LV_GPA_IMAGE,
			     mem_bytes - STACK_RESERVE, &info, why, sizeof(why));
	if (rc && !platform_dir(h) && lv__image_is_linux(fd))
		rc = linux_here(h, why, sizeof(why));   /* the shell checks its segments */
	if (rc) {
		snprintf(err, errlen, "image '%s': %s", image, why);
		goto out;
	}
	*stp = st;
	return fd;
out:
	last_regular[0] = 0;
	close(fd);
	return rc;
}

/* What an image is, looked at once per file: every VM of `spawn 1000
 * noop` shares one image fd, and each look at it costs a stat and two
 * or three reads.  Kept for the last few files, by identity (device,
 * inode, size, change time), checked with one fstat per call. */
#define TRAITS_CACHE 4

struct traits_entry {
	struct stat st;
	bool valid, is_linux, wants_net;
};

static struct traits_entry traits_cache[TRAITS_CACHE];
static unsigned traits_next;

int lv__image_traits(int fd, const struct stat *known, bool *is_linux, bool *wants_net)
{
	struct traits_entry *e;
	struct stat st;

	if (known)
		st = *known;
	else if (fstat(fd, &st))
		return -errno;
	for (unsigned i = 0; i < TRAITS_CACHE; i++)
		if (traits_cache[i].valid && lv__same_file(&traits_cache[i].st, &st)) {
			*is_linux = traits_cache[i].is_linux;
			*wants_net = traits_cache[i].wants_net;
			return 0;
		}
	e = &traits_cache[traits_next++ % TRAITS_CACHE];
	*e = (struct traits_entry){ .st = st, .valid = true, .is_linux = lv__image_is_linux(fd),
				    .wants_net = lv__image_wants_net(fd) };
	*is_linux = e->is_linux;
	*wants_net = e->wants_net;
	return 0;
}

/* Is fd an ELF64 x86-64 kernel with a segment linked in the upper half
 * (Linux: 0xffffffff8...; LightVM's unikernels, which carry a PVH note too for
 * QEMU, are linked at 1 MiB) with the PVH entry note
 * (XEN_ELFNOTE_PHYS32_ENTRY, type 18, name "Xen")?  Reads the program
 * headers and at most 64 KiB of notes, bounds-checked. */
bool lv__image_is_linux(int fd)
{
	uint8_t h[64], ph[64 * 56], *notes = NULL;
	uint64_t phoff, fsize;
	uint16_t phnum, phent;
	struct stat st;
	bool found = false, high = false;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h, "\177ELF", 4) || h[4] != 2 || h[5] != 1 || h[18] != 62 || h[19] != 0)
		return false;
	fsize = (uint64_t)st.st_size;
	memcpy(&phoff, h + 32, 8);
	memcpy(&phent, h + 54, 2);
	memcpy(&phnum, h + 56, 2);
	if (phent != 56 || !phnum || phnum > 64 || phoff > fsize || (uint64_t)phnum * 56 > fsize - phoff ||
	    pread(fd, ph, (size_t)phnum * 56, (off_t)phoff) != (ssize_t)phnum * 56)
		return false;
	for (unsigned i = 0; i < phnum; i++) {
		uint64_t va;
		uint32_t type;

		memcpy(&type, ph + i * 56, 4);
		memcpy(&va, ph + i * 56 + 16, 8);
		high |= type == 1 && va >= 0xffff800000000000ull;
	}
	for (unsigned i = 0; i < phnum && high && !found; i++) {
		const uint8_t *p = ph + i * 56;
		uint32_t type;
		uint64_t off, sz, at = 0;

		memcpy(&type, p, 4);
		memcpy(&off, p + 8, 8);
		memcpy(&sz, p + 32, 8);
		if (type != 4 || sz > (64u << 10) || off > fsize || sz > fsize - off)
			continue;
		free(notes);
		notes = malloc(sz ? sz : 1);
		if (!notes || pread(fd, notes, sz, (off_t)off) != (ssize_t)sz)
			break;
		while (sz - at >= 12 && !found) {
			uint32_t nsz, dsz, nt;
			uint64_t desc, next;

			memcpy(&nsz, notes + at, 4);
			memcpy(&dsz, notes + at + 4, 4);
			memcpy(&nt, notes + at + 8, 4);
			desc = at + 12 + (((uint64_t)nsz + 3) & ~3ull);
			next = desc + (((uint64_t)dsz + 3) & ~3ull);
			if (next > sz)
				break;
			found = nt == 18 && nsz == 4 && memcmp(notes + at + 12, "Xen", 4) == 0 &&
				(dsz == 4 || dsz == 8);
			at = next;
		}
	}
	free(notes);
	return found;
}

/* An image directory's cmdline file: one line of printable text. */
static int read_cmdline(const char *path, char *out, size_t len)
{
	ssize_t n;
	int fd = lv__open_regular(path);

	out[0] = 0;
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	n = read(fd, out, len);
	close(fd);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -E2BIG;
	while (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			return -EINVAL;
	return 0;
}

static int dir_extras(const char *dir, char *ramdisk, size_t rlen, char *cmdline,
		      size_t clen, char *err, size_t errlen)
{
	char path[1100];
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/initrd", dir);
	if (stat(path, &st) == 0 && (size_t)snprintf(ramdisk, rlen, "%s", path) >= rlen) {
		ramdisk[0] = 0;
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(path, sizeof(path), "%s/cmdline", dir);
	rc = read_cmdline(path, cmdline, clen);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, rc == -E2BIG ? "longer than a command line may be" :
			 rc == -EINVAL ? "not one line of text" : strerror(-rc));
	return rc;
}

int lv_image_extras(struct lv_host *h, const char *image, char *ramdisk, size_t rlen,
		    char *cmdline, size_t clen, char *err, size_t errlen)
{
	char path[1024];
	struct stat st;

	ramdisk[0] = cmdline[0] = 0;
	if (strchr(image, '/') || !image_name_ok(image))
		return 0;
	if (last_regular[0] && strcmp(image, last_regular) == 0) {
		last_regular[0] = 0;
		return 0;             /* lv_image_open found a file, no directory */
	}
	for (unsigned i = 0; h->image_dirs[i]; i++)
		for (int xen = platform_dir(h) ? 1 : 0; xen >= 0; xen--) {
			snprintf(path, sizeof(path), "%s%s/%s", h->image_dirs[i],
				 xen ? "-xen" : "", image);
			if (stat(path, &st))
				continue;
			/* the first hit is what lv_image_open opened */
			return S_ISDIR(st.st_mode) ?
				dir_extras(path, ramdisk, rlen, cmdline, clen, err, errlen) : 0;
		}
	return 0;
}

static bool is_image_dir(const char *dir, const char *name)
{
	char path[1200];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/%s/kernel", dir, name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void lv_image_list(struct lv_host *h, void (*fn)(void *arg, const char *name), void *arg)
{
	for (unsigned i = 0; h->image_dirs[i]; i++) {
		char dir[1024];
		DIR *d;
		struct dirent *de;

		snprintf(dir, sizeof(dir), "%s%s", h->image_dirs[i], platform_dir(h) ? "-xen" : "");
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d)))
			if (image_name_ok(de->d_name) && (de->d_type != DT_DIR ||
			    is_image_dir(dir, de->d_name)))
				fn(arg, de->d_name);
		closedir(d);
	}
}
