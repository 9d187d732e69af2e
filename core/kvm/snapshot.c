/*
 * snapshot.c - the snapshot file (snapshot.h): its checksum, the writer
 * the agent runs while a shell holds its guest paused, and the loader,
 * which checks a file as strictly as the ELF validator checks an image.
 * No KVM here: the shell converts its vCPU to struct lv_snap_cpu and back.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "lightvm_abi.h"
#include "kvm/snapshot.h"

_Static_assert(sizeof(struct lv_snap_hdr) <= LV_SNAP_HDR_SIZE, "header fits");
_Static_assert(sizeof(struct lv_snap_cpu) <= LV_SNAP_LIST_OFF - LV_SNAP_CPU_OFF, "cpu fits");

#define P1 0x9e3779b97f4a7c15ull
#define P2 0xc2b2ae3d27d4eb4full
#define P3 0x165667b19e3779f9ull
#define RUN_PAGES 64u     /* pages read and written at once */

/* rflags a ring-3 LightVM guest can have: the arithmetic flags, DF, AC
 * and the fixed bit 1; never IF, TF, IOPL, NT, RF, VM or the rest */
#define RFLAGS_OK  (0x1ull | 0x2ull | 0x4ull | 0x10ull | 0x40ull | 0x80ull | \
		    0x400ull | 0x800ull | 0x40000ull)

static uint64_t rotl(uint64_t v, int r)
{
	return (v << r) | (v >> (64 - r));
}

static uint64_t lane(uint64_t acc, uint64_t v)
{
	return rotl(acc + v * P2, 31) * P1;
}

uint64_t lv_snap_sum(uint64_t seed, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t a[4] = { seed + P1, seed ^ P2, seed - P3, seed + P3 }, h, v;
	size_t i = 0;

	for (; i + 32 <= n; i += 32)
		for (int k = 0; k < 4; k++) {
			memcpy(&v, b + i + 8 * k, 8);
			a[k] = lane(a[k], v);
		}
	h = rotl(a[0], 1) + rotl(a[1], 7) + rotl(a[2], 12) + rotl(a[3], 18) + n;
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, b + i, 8);
		h = rotl(h ^ lane(0, v), 27) * P1 + P3;
	}
	for (; i < n; i++)
		h = rotl(h ^ (b[i] * P3), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static uint64_t round_page(uint64_t v)
{
	return (v + LV_SNAP_PAGE - 1) & ~(uint64_t)(LV_SNAP_PAGE - 1);
}

uint64_t lv_snap_meta_len(const uint8_t *buf, size_t len)
{
	struct lv_snap_hdr h;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, LV_SNAP_MAGIC, 8) || h.mem_off > LV_SNAP_META_MAX ||
	    h.mem_off < LV_SNAP_LIST_OFF)
		return 0;
	return h.mem_off;
}

void lv_snap_hdr_stamp(struct lv_snap_hdr *h, uint32_t platform)
{
	memcpy(h->magic, LV_SNAP_MAGIC, 8);
	h->version = LV_SNAP_VERSION;
	h->hdr_size = sizeof(*h);
	h->page_size = LV_SNAP_PAGE;
	h->platform = platform;
	h->abi_version = LV_ABI_VERSION;
}

bool lv_snap_str_ok(const char *s, size_t n, bool name)
{
	const char *e = memchr(s, 0, n);

	if (!e || e == s)
		return false;
	for (; s < e; s++) {
		unsigned char c = (unsigned char)*s;

		if (name ? !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
			 : (c < 0x20 || c == 0x7f))
			return false;
	}
	return true;
}

static int check_hdr(const struct lv_snap_hdr *h, uint64_t file_size, char *err, size_t errlen)
{
	uint64_t npg = h->mem_size / LV_SNAP_PAGE;

	if (memcmp(h->magic, LV_SNAP_MAGIC, 8))
		return fail(err, errlen, -EINVAL, "not a LightVM snapshot (bad magic)");
	if (h->version != LV_SNAP_VERSION)
		return fail(err, errlen, -EPROTONOSUPPORT,
			    "snapshot format version %u; this LightVM reads version %u",
			    h->version, LV_SNAP_VERSION);
	if (h->platform == LV_SNAP_PLAT_XEN_PV)
		return fail(err, errlen, -EPROTONOSUPPORT,
			    "a Xen snapshot (platform xen-pv): restore it with lightvmd on Xen; this driver restores kvm-x86_64");
	if (h->platform != LV_SNAP_PLAT_KVM_X86_64)
		return fail(err, errlen, -EPROTONOSUPPORT,
			    "snapshot of unknown platform %u; this driver restores kvm-x86_64 (%u)",
			    h->platform, LV_SNAP_PLAT_KVM_X86_64);
	if (h->abi_version != LV_ABI_VERSION)
		return fail(err, errlen, -EPROTONOSUPPORT,
			    "snapshot of a guest of ABI version %u; this LightVM has %u",
			    h->abi_version, LV_ABI_VERSION);
	if (h->hdr_size != sizeof(*h) || h->cpu_size != sizeof(struct lv_snap_cpu) ||
	    h->page_size != LV_SNAP_PAGE)
		return fail(err, errlen, -EINVAL,
			    "snapshot header sizes (%u, %u, page %u) are not this format's",
			    h->hdr_size, h->cpu_size, h->page_size);
	if (h->flags & ~LV_SNAP_F_ALL)
		return fail(err, errlen, -EINVAL, "snapshot flags 0x%x: unknown bits", h->flags);
	if (h->mem_size < LV_GUEST_MIN_MEM || h->mem_size > LV_GUEST_MAX_MEM ||
	    h->mem_size % (2u << 20))
		return fail(err, errlen, -EINVAL,
			    "snapshot guest memory %llu bytes: not a multiple of 2 MiB in %u..%u MiB",
			    (unsigned long long)h->mem_size, LV_GUEST_MIN_MEM >> 20,
			    LV_GUEST_MAX_MEM >> 20);
	if (h->npages > npg)
		return fail(err, errlen, -EINVAL, "snapshot lists %llu pages of a %llu-page guest",
			    (unsigned long long)h->npages, (unsigned long long)npg);
	if (h->mem_off % LV_SNAP_PAGE ||
	    h->mem_off < round_page(LV_SNAP_LIST_OFF + h->npages * 4) ||
	    h->mem_off > LV_SNAP_META_MAX)
		return fail(err, errlen, -EINVAL, "snapshot memory offset %llu is out of place",
			    (unsigned long long)h->mem_off);
	if (h->file_size != h->mem_off + h->mem_size)
		return fail(err, errlen, -EINVAL, "snapshot header says %llu bytes, its parts %llu",
			    (unsigned long long)h->file_size,
			    (unsigned long long)(h->mem_off + h->mem_size));
	if (file_size != h->file_size)
		return fail(err, errlen, -EINVAL, "snapshot file is %llu bytes, expected %llu (%s)",
			    (unsigned long long)file_size, (unsigned long long)h->file_size,
			    file_size < h->file_size ? "truncated" : "grown");
	if (!lv_snap_str_ok(h->name, sizeof(h->name), true) || !lv_snap_str_ok(h->image, sizeof(h->image), false))
		return fail(err, errlen, -EINVAL, "snapshot's VM or image name is not valid text");
	if (!h->tsc_khz)
		return fail(err, errlen, -EINVAL, "snapshot has no TSC frequency");
	if ((h->flags & LV_SNAP_F_NET) && !h->ipv4)
		return fail(err, errlen, -EINVAL, "snapshot has a NIC without an address");
	return 0;
}

static int check_cpu(const struct lv_snap_cpu *c, uint64_t mem_size, char *err, size_t errlen)
{
	if ((c->rflags & ~RFLAGS_OK) || !(c->rflags & 0x2))
		return fail(err, errlen, -EINVAL, "snapshot vCPU rflags 0x%llx: not a ring-3 guest's",
			    (unsigned long long)c->rflags);
	if (c->rip < LV_GPA_IMAGE || c->rip >= mem_size)
		return fail(err, errlen, -EINVAL, "snapshot vCPU rip 0x%llx is outside the image area",
			    (unsigned long long)c->rip);
	if (c->mxcsr & 0xffff0000u)
		return fail(err, errlen, -EINVAL, "snapshot vCPU mxcsr 0x%x has reserved bits",
			    c->mxcsr);
	return 0;
}

/* sum_meta: [0, mem_off) with the sum_meta field taken as zero */
static uint64_t meta_sum(const uint8_t *buf, uint64_t mem_off)
{
	static const uint8_t z[8];
	uint64_t sum = lv_snap_sum(0, buf, offsetof(struct lv_snap_hdr, sum_meta));

	sum = lv_snap_sum(sum, z, sizeof(z));
	return lv_snap_sum(sum, buf + sizeof(struct lv_snap_hdr), mem_off - sizeof(struct lv_snap_hdr));
}

static int parse(const uint8_t *buf, size_t len, uint64_t file_size,
		 struct lv_snap *s, bool pages, char *err, size_t errlen)
{
	struct lv_snap_hdr h;
	uint64_t sum, npg;
	int rc;

	memset(s, 0, sizeof(*s));
	if (len < sizeof(h))
		return fail(err, errlen, -EINVAL, "snapshot file too short (%zu bytes)", len);
	memcpy(&h, buf, sizeof(h));
	rc = check_hdr(&h, file_size, err, errlen);
	if (rc)
		return rc;
	if (len < h.mem_off)
		return fail(err, errlen, -EINVAL, "snapshot metadata truncated (%zu of %llu bytes)",
			    len, (unsigned long long)h.mem_off);
	sum = meta_sum(buf, h.mem_off);
	if (sum != h.sum_meta)
		return fail(err, errlen, -EBADMSG, "snapshot metadata checksum mismatch (corrupt file)");
	memcpy(&s->cpu, buf + LV_SNAP_CPU_OFF, sizeof(s->cpu));
	rc = check_cpu(&s->cpu, h.mem_size, err, errlen);
	if (rc)
		return rc;
	npg = h.mem_size / LV_SNAP_PAGE;
	for (uint64_t i = 0; i < h.npages; i++) {
		uint32_t pg, prev = 0;

		memcpy(&pg, buf + LV_SNAP_LIST_OFF + i * 4, 4);
		if (i)
			memcpy(&prev, buf + LV_SNAP_LIST_OFF + (i - 1) * 4, 4);
		if (pg >= npg || (i && pg <= prev))
			return fail(err, errlen, -EINVAL,
				    "snapshot page list entry %llu (page %u) out of order or range",
				    (unsigned long long)i, pg);
	}
	if (pages) {
		s->pages = malloc(h.npages ? h.npages * 4 : 4);
		if (!s->pages)
			return fail(err, errlen, -ENOMEM, "snapshot page list: out of memory");
		memcpy(s->pages, buf + LV_SNAP_LIST_OFF, h.npages * 4);
	}
	s->hdr = h;
	return 0;
}

int lv_snap_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		  struct lv_snap *s, char *err, size_t errlen)
{
	return parse(buf, len, file_size, s, true, err, errlen);
}

int lv_snap_parse_head(const uint8_t *buf, size_t len, uint64_t file_size,
		       struct lv_snap *s, char *err, size_t errlen)
{
	return parse(buf, len, file_size, s, false, err, errlen);
}

void lv_snap_free(struct lv_snap *s)
{
	free(s->pages);
	s->pages = NULL;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool zero(const uint8_t *p, size_t n)
{
	uint64_t v, acc = 0;

	for (size_t i = 0; i < n; i += 8) {
		memcpy(&v, p + i, 8);
		acc |= v;
	}
	return acc == 0;
}

static bool listed(const struct lv_snap *s, uint64_t pg)
{
	uint64_t lo = 0, hi = s->hdr.npages;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (s->pages[mid] == pg)
			return true;
		if (s->pages[mid] < pg)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The listed pages against sum_pages; data elsewhere must be zeros. */
static int verify_mem(int fd, const struct lv_snap *s, char *err, size_t errlen)
{
	uint8_t *buf = malloc(RUN_PAGES * LV_SNAP_PAGE);
	uint64_t sum = 0, i = 0, at;
	int rc = 0;

	if (!buf)
		return fail(err, errlen, -ENOMEM, "snapshot check: out of memory");
	while (i < s->hdr.npages) {     /* runs of consecutive pages */
		uint64_t n = 1;

		while (i + n < s->hdr.npages && n < RUN_PAGES && s->pages[i + n] == s->pages[i] + n)
			n++;
		rc = pread_all(fd, buf, n * LV_SNAP_PAGE, s->hdr.mem_off + (uint64_t)s->pages[i] * LV_SNAP_PAGE);
		if (rc) {
			fail(err, errlen, rc, "reading snapshot page %u: %s", s->pages[i],
			     rc == -EIO ? "file truncated" : strerror(-rc));
			goto out;
		}
		for (uint64_t k = 0; k < n; k++)
			sum = lv_snap_sum(sum, buf + k * LV_SNAP_PAGE, LV_SNAP_PAGE);
		i += n;
	}
	if (sum != s->hdr.sum_pages) {
		rc = fail(err, errlen, -EBADMSG, "snapshot memory checksum mismatch (corrupt file)");
		goto out;
	}
	/* pages with data that the list does not name: only zeros allowed */
	for (at = s->hdr.mem_off; at < s->hdr.file_size;) {
		off_t d = lseek(fd, (off_t)at, SEEK_DATA), e;

		if (d < 0)
			break;             /* ENXIO: no more data (or no SEEK_DATA) */
		e = lseek(fd, d, SEEK_HOLE);
		if (e < 0)
			e = (off_t)s->hdr.file_size;
		for (uint64_t a = (uint64_t)d & ~(uint64_t)(LV_SNAP_PAGE - 1);
		     a < (uint64_t)e && a < s->hdr.file_size; a += LV_SNAP_PAGE) {
			uint64_t pg = (a - s->hdr.mem_off) / LV_SNAP_PAGE;

			if (listed(s, pg))
				continue;
			rc = pread_all(fd, buf, LV_SNAP_PAGE, a);
			if (rc || !zero(buf, LV_SNAP_PAGE)) {
				rc = fail(err, errlen, -EBADMSG,
					  "snapshot page %llu holds data but is not listed (corrupt file)",
					  (unsigned long long)pg);
				goto out;
			}
		}
		at = (uint64_t)e;
	}
out:
	free(buf);
	return rc;
}

/* What both loaders do first: check fd is a regular file that holds a
 * header, and say how much metadata it announces (*need) in a file of
 * *size bytes.  Returns -errno, 0 (go on with *need bytes), or 1 with
 * *rc: the header alone was parsed, and refused (not a header, or more
 * metadata than the file holds; parse says why). */
static int head_read(int fd, struct lv_snap *s, bool pages, uint64_t *size, uint64_t *need,
		     int *rc, char *err, size_t errlen)
{
	uint8_t first[sizeof(struct lv_snap_hdr)];
	struct stat st;
	int r;

	memset(s, 0, sizeof(*s));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return fail(err, errlen, -EINVAL, "snapshot is not a regular file");
	if ((uint64_t)st.st_size < sizeof(first))
		return fail(err, errlen, -EINVAL, "snapshot file too short (%lld bytes)",
			    (long long)st.st_size);
	r = pread_all(fd, first, sizeof(first), 0);
	if (r)
		return fail(err, errlen, r, "reading the snapshot: %s", strerror(-r));
	*size = (uint64_t)st.st_size;
	*need = lv_snap_meta_len(first, sizeof(first));
	if (*need && *need <= *size)
		return 0;
	*rc = parse(first, sizeof(first), *size, s, pages, err, errlen);
	return 1;
}

int lv_snap_load(int fd, struct lv_snap *s, bool verify_mem_too, char *err, size_t errlen)
{
	uint64_t size, need;
	uint8_t *meta;
	int parsed, rc = head_read(fd, s, true, &size, &need, &parsed, err, errlen);

	if (rc)
		return rc < 0 ? rc : parsed;
	meta = malloc(need);
	if (!meta)
		return fail(err, errlen, -ENOMEM, "snapshot metadata: out of memory");
	rc = pread_all(fd, meta, need, 0);
	if (rc)
		fail(err, errlen, rc, "reading the snapshot: %s",
		     rc == -EIO ? "file truncated" : strerror(-rc));
	else
		rc = lv_snap_parse(meta, need, size, s, err, errlen);
	free(meta);
	if (!rc && verify_mem_too)
		rc = verify_mem(fd, s, err, errlen);
	if (rc)
		lv_snap_free(s);
	return rc;
}

int lv_snap_load_head(int fd, struct lv_snap *s, char *err, size_t errlen)
{
	uint64_t size, need;
	void *meta;
	int parsed, rc = head_read(fd, s, false, &size, &need, &parsed, err, errlen);

	if (rc)
		return rc < 0 ? rc : parsed;
	/* read from the page cache through a mapping: nothing to allocate */
	meta = mmap(NULL, need, PROT_READ, MAP_PRIVATE, fd, 0);
	if (meta == MAP_FAILED)
		return fail(err, errlen, -errno, "mapping the snapshot: %s", strerror(errno));
	rc = parse(meta, need, size, s, false, err, errlen);
	munmap(meta, need);
	return rc;
}

/* ---- the writer */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool bit(const uint8_t *m, uint64_t i)
{
	return m[i / 8] & (1u << (i % 8));
}

int lv_snap_write(int fd, struct lv_snap_hdr *h, const struct lv_snap_cpu *cpu,
		  const uint8_t *touched,
		  int (*read)(void *arg, uint64_t gpa, void *buf, size_t len), void *arg,
		  char *err, size_t errlen)
{
	uint64_t npg = h->mem_size / LV_SNAP_PAGE, ncand = 0, sum = 0, npages = 0;
	uint8_t *meta = NULL, *buf = NULL;
	uint32_t *list;
	int rc;

	if (h->mem_size < LV_GUEST_MIN_MEM || h->mem_size > LV_GUEST_MAX_MEM || h->mem_size % LV_SNAP_PAGE)
		return fail(err, errlen, -EINVAL, "guest memory size %llu", (unsigned long long)h->mem_size);
	for (uint64_t i = 0; i < npg; i++)
		ncand += bit(touched, i);
	lv_snap_hdr_stamp(h, LV_SNAP_PLAT_KVM_X86_64);
	h->cpu_size = sizeof(*cpu);
	h->mem_off = round_page(LV_SNAP_LIST_OFF + ncand * 4);
	h->file_size = h->mem_off + h->mem_size;
	meta = calloc(1, h->mem_off);
	buf = malloc(RUN_PAGES * LV_SNAP_PAGE);
	if (!meta || !buf) {
		rc = fail(err, errlen, -ENOMEM, "snapshot: out of memory");
		goto out;
	}
	list = (uint32_t *)(meta + LV_SNAP_LIST_OFF);
	if (ftruncate(fd, (off_t)h->file_size) < 0) {
		rc = fail(err, errlen, -errno, "sizing the snapshot file: %s", strerror(errno));
		goto out;
	}
	for (uint64_t i = 0; i < npg;) {
		uint64_t n = 0;

		if (!bit(touched, i)) {
			i++;
			continue;
		}
		while (i + n < npg && n < RUN_PAGES && bit(touched, i + n))
			n++;
		rc = read(arg, i * LV_SNAP_PAGE, buf, n * LV_SNAP_PAGE);
		if (rc) {
			fail(err, errlen, rc, "reading guest memory at 0x%llx: %s",
			     (unsigned long long)(i * LV_SNAP_PAGE), strerror(-rc));
			goto out;
		}
		for (uint64_t k = 0; k < n; k++) {
			const uint8_t *pg = buf + k * LV_SNAP_PAGE;

			if (zero(pg, LV_SNAP_PAGE))
				continue;
			rc = pwrite_all(fd, pg, LV_SNAP_PAGE, h->mem_off + (i + k) * LV_SNAP_PAGE);
			if (rc) {
				fail(err, errlen, rc, "writing the snapshot: %s", strerror(-rc));
				goto out;
			}
			sum = lv_snap_sum(sum, pg, LV_SNAP_PAGE);
			list[npages++] = (uint32_t)(i + k);
		}
		i += n;
	}
	h->npages = npages;
	h->sum_pages = sum;
	h->sum_meta = 0;
	memcpy(meta, h, sizeof(*h));
	memcpy(meta + LV_SNAP_CPU_OFF, cpu, sizeof(*cpu));
	h->sum_meta = meta_sum(meta, h->mem_off);
	memcpy(meta, h, sizeof(*h));
	rc = pwrite_all(fd, meta, h->mem_off, 0);
	if (rc)
		fail(err, errlen, rc, "writing the snapshot: %s", strerror(-rc));
out:
	free(meta);
	free(buf);
	return rc;
}
