/*
 * catalog.c - the image catalog: a name resolves to <dir>/<name> in the
 * first image directory that has it; anything with a '/' is a path.  An
 * image is opened and validated as a guest ELF before any VM is touched,
 * so a bad image is a clear error at the request, not a crashed guest.
 * Images are opened as root from paths an admin gives: only a regular
 * file is ever opened for reading (lv__open_regular), so a FIFO or a
 * device node is an error, never a hang or a side effect.
 * On Xen a name may also be an image directory (scripts/tinyx): NAME/ with
 * kernel, and optionally initrd and cmdline, which a spawn that names
 * neither ramdisk nor command line gets (lv_image_extras).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lv_internal.h"
#include "elf.h"
#include "lightvm_abi.h"

#define STACK_RESERVE (64u << 10)

static bool image_name_ok(const char *s)
{
	return strlen(s) <= 128 && s[0] != '.' && lv__name_chars_ok(s);
}

static bool platform_dir(const struct lv_host *h)
{
	return h->ops && strcmp(h->ops->name, "xen") == 0;
}

static int xen_elf_ok(const uint8_t *b, size_t n, char *why, size_t len)
{
	if (n < 64 || memcmp(b, "\177ELF", 4) || b[4] != 2 || b[5] != 1 ||
	    b[16] != 2 || b[17] != 0 || b[18] != 62 || b[19] != 0) {
		snprintf(why, len, "not an ELF64 x86-64 executable (a Xen PV kernel)");
		return -ENOEXEC;
	}
	return 0;
}

/* DIR/NAME/kernel of an image directory (Xen), if path is one. */
static int open_image_dir(char *path, size_t len)
{
	struct stat st;
	size_t n = strlen(path);

	if (stat(path, &st) || !S_ISDIR(st.st_mode) || n + sizeof("/kernel") > len)
		return -EINVAL;
	memcpy(path + n, "/kernel", sizeof("/kernel"));
	return lv__open_regular(path);
}

static int open_catalog(struct lv_host *h, const char *name, char *err, size_t errlen)
{
	char path[1024];

	if (!image_name_ok(name)) {
		snprintf(err, errlen, "invalid image name '%s'", name);
		return -EINVAL;
	}
	for (unsigned i = 0; h->image_dirs[i]; i++) {
		/* the xen driver runs the same apps built for Xen PV, which
		 * live next to each image directory in DIR-xen */
		for (int xen = platform_dir(h) ? 1 : 0; xen >= 0; xen--) {
			int fd;

			snprintf(path, sizeof(path), "%s%s/%s", h->image_dirs[i],
				 xen ? "-xen" : "", name);
			fd = lv__open_regular(path);
			if (fd == -EINVAL && xen)
				fd = open_image_dir(path, sizeof(path));
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

int lv_image_open(struct lv_host *h, const char *image, uint64_t mem_bytes,
		  char *err, size_t errlen)
{
	uint8_t buf[4096];
	struct lv_elf_info info;
	struct stat st;
	char why[200];
	ssize_t n;
	int fd, rc;

	if (strchr(image, '/')) {
		fd = lv__open_regular(image);
		if (fd < 0) {
			snprintf(err, errlen, "image '%s': %s", image,
				 fd == -EINVAL ? "not a regular file" : strerror(-fd));
			return fd;
		}
	} else {
		fd = open_catalog(h, image, err, errlen);
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
	if (mem_bytes < LV_GUEST_MIN_MEM || mem_bytes > LV_GUEST_MAX_MEM) {
		snprintf(err, errlen, "memory %llu bytes out of range (%u MiB .. %u MiB)",
			 (unsigned long long)mem_bytes, LV_GUEST_MIN_MEM >> 20, LV_GUEST_MAX_MEM >> 20);
		rc = -ERANGE;
		goto out;
	}
	/* a Xen PV kernel says where it goes and where it starts in its Xen
	 * notes (libxenguest's bounds-checked loader reads them): here only
	 * that it is an x86-64 executable */
	rc = platform_dir(h) ? xen_elf_ok(buf, (size_t)n, why, sizeof(why)) :
		lv_elf_parse(buf, (size_t)n, (uint64_t)st.st_size, LV_GPA_IMAGE,
			     mem_bytes - STACK_RESERVE, &info, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "image '%s': %s", image, why);
		goto out;
	}
	return fd;
out:
	close(fd);
	return rc;
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
	if (!platform_dir(h) || strchr(image, '/') || !image_name_ok(image))
		return 0;
	for (unsigned i = 0; h->image_dirs[i]; i++)
		for (int xen = 1; xen >= 0; xen--) {
			snprintf(path, sizeof(path), "%s%s/%s", h->image_dirs[i],
				 xen ? "-xen" : "", image);
			if (stat(path, &st))
				continue;
			/* the first hit is what lv_image_open opened */
			return xen && S_ISDIR(st.st_mode) ?
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
			    (platform_dir(h) && is_image_dir(dir, de->d_name))))
				fn(arg, de->d_name);
		closedir(d);
	}
}
