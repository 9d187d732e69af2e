/* test_snapshot.c - core/kvm/snapshot.c: a snapshot written from a guest's
 * memory loads back, sparse, with its pages; every kind of bad file (other
 * version, platform, ABI, truncated, grown, corrupt metadata or memory,
 * data outside the page list, a page list out of order, a vCPU no ring-3
 * guest has) is refused with a clear message. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lightvm_abi.h"
#include "kvm/snapshot.h"

#define MEM (4u << 20)

static uint8_t *guest;
static char path[64];
static char err[256];

static int read_mem(void *arg, uint64_t gpa, void *buf, size_t len)
{
	memcpy(buf, guest + gpa, len);
	return 0;
}

/* a guest with pages 9 (devpage), 256, 257 and 600 written; 300 touched
 * but zero; a bitmap naming those five */
static int make(struct lv_snap_hdr *h, struct lv_snap_cpu *c)
{
	uint8_t bm[MEM / 4096 / 8] = { 0 };
	int fd;

	memset(guest, 0, MEM);
	memset(guest + 9 * 4096, 0x11, 4096);
	memset(guest + 256 * 4096, 0x22, 4096);
	memset(guest + 257 * 4096 + 100, 0x33, 10);
	guest[600 * 4096 + 4095] = 0x44;
	for (unsigned p = 0; p < MEM / 4096; p++)
		if (p == 9 || p == 256 || p == 257 || p == 300 || p == 600)
			bm[p / 8] |= (uint8_t)(1u << (p % 8));
	memset(h, 0, sizeof(*h));
	memset(c, 0, sizeof(*c));
	h->mem_size = MEM;
	h->tsc_khz = 2000000;
	h->flags = LV_SNAP_F_READY | LV_SNAP_F_IDLE | LV_SNAP_F_NET;
	h->ipv4 = 0x0200590a;
	strcpy(h->name, "daytime-1");
	strcpy(h->image, "daytime");
	c->rip = 0x100123;
	c->rflags = 0x246 & ~0x200ull;
	c->mxcsr = 0x1f80;
	strcpy(path, "/tmp/lv-test-snap-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(lv_snap_write(fd, h, c, bm, read_mem, NULL, err, sizeof(err)), 0);
	return fd;
}

static void test_roundtrip(void **st)
{
	struct lv_snap_hdr h;
	struct lv_snap_cpu c;
	struct lv_snap s;
	struct stat sb;
	uint8_t pg[4096];
	int fd = make(&h, &c);

	assert_int_equal(lv_snap_load_head(fd, &s, err, sizeof(err)), 0);
	assert_null(s.pages);
	assert_int_equal(s.hdr.npages, 4);
	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), 0);
	assert_int_equal(s.hdr.npages, 4);         /* page 300 was zero */
	assert_int_equal(s.pages[0], 9);
	assert_int_equal(s.pages[3], 600);
	assert_int_equal(s.hdr.mem_size, MEM);
	assert_string_equal(s.hdr.name, "daytime-1");
	assert_int_equal(s.cpu.rip, 0x100123);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, s.hdr.mem_off + MEM);
	assert_true((uint64_t)sb.st_blocks * 512 < 64 * 1024);   /* sparse */
	assert_int_equal(pread(fd, pg, 4096, (off_t)(s.hdr.mem_off + 256 * 4096)), 4096);
	assert_memory_equal(pg, guest + 256 * 4096, 4096);
	if (getenv("LV_SNAP_SEED")) {   /* a seed for tests/fuzz/fuzz_snapshot */
		uint8_t *meta = malloc(s.hdr.mem_off);
		FILE *f = fopen(getenv("LV_SNAP_SEED"), "w");

		assert_int_equal(pread(fd, meta, s.hdr.mem_off, 0), (ssize_t)s.hdr.mem_off);
		if (f) {
			fwrite(meta, 1, s.hdr.mem_off, f);
			fclose(f);
		}
		free(meta);
	}
	lv_snap_free(&s);
	close(fd);
}

/* Load after changing bytes at off; expect rc and a message with word. */
static void bad(int fd, uint64_t off, const void *bytes, size_t n, int rc, const char *word)
{
	struct lv_snap s;
	uint8_t save[64];

	assert_true(n <= sizeof(save));
	assert_int_equal(pread(fd, save, n, (off_t)off), (ssize_t)n);
	assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
	err[0] = 0;
	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), rc);
	if (!strstr(err, word))
		fail_msg("message '%s' lacks '%s'", err, word);
	assert_null(s.pages);
	/* the shell's check (no memory) refuses all but memory faults too */
	if (!strstr(word, "memory checksum") && !strstr(word, "not listed"))
		assert_int_equal(lv_snap_load_head(fd, &s, err, sizeof(err)), rc);
	assert_int_equal(pwrite(fd, save, n, (off_t)off), (ssize_t)n);
}

/* Rewrite the metadata with a field changed and the checksum right. */
static void bad_field(int fd, size_t off, const void *v, size_t n, int rc, const char *word)
{
	struct lv_snap_hdr h;
	uint64_t moff, sum;
	uint8_t *meta;

	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	moff = h.mem_off;
	meta = calloc(1, moff);
	assert_int_equal(pread(fd, meta, moff, 0), (ssize_t)moff);
	memcpy(meta + off, v, n);
	memset(meta + offsetof(struct lv_snap_hdr, sum_meta), 0, 8);
	sum = lv_snap_sum(0, meta, offsetof(struct lv_snap_hdr, sum_meta));
	sum = lv_snap_sum(sum, meta + offsetof(struct lv_snap_hdr, sum_meta), 8);
	sum = lv_snap_sum(sum, meta + sizeof(h), moff - sizeof(h));
	memcpy(meta + offsetof(struct lv_snap_hdr, sum_meta), &sum, 8);
	{
		uint8_t *orig = malloc(moff);

		assert_int_equal(pread(fd, orig, moff, 0), (ssize_t)moff);
		assert_int_equal(pwrite(fd, meta, moff, 0), (ssize_t)moff);
		{
			struct lv_snap s;

			err[0] = 0;
			assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), rc);
			if (!strstr(err, word))
				fail_msg("message '%s' lacks '%s'", err, word);
		}
		assert_int_equal(pwrite(fd, orig, moff, 0), (ssize_t)moff);
		free(orig);
	}
	free(meta);
}

static void test_hostile(void **st)
{
	struct lv_snap_hdr h;
	struct lv_snap_cpu c;
	struct lv_snap s;
	int fd = make(&h, &c);
	uint32_t v32;
	uint64_t v64;
	uint8_t b = 0x5a;

	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), 0);
	lv_snap_free(&s);
	bad(fd, 0, "XXSNAP\r\n", 8, -EINVAL, "not a LightVM snapshot");
	v32 = 2;
	bad(fd, offsetof(struct lv_snap_hdr, version), &v32, 4, -EPROTONOSUPPORT, "version 2");
	v32 = 7;
	bad(fd, offsetof(struct lv_snap_hdr, platform), &v32, 4, -EPROTONOSUPPORT, "platform 7");
	v32 = LV_SNAP_PLAT_XEN_PV;
	bad(fd, offsetof(struct lv_snap_hdr, platform), &v32, 4, -EPROTONOSUPPORT, "a Xen snapshot");
	v32 = 7;
	bad(fd, offsetof(struct lv_snap_hdr, abi_version), &v32, 4, -EPROTONOSUPPORT, "ABI version 7");
	bad(fd, offsetof(struct lv_snap_hdr, name) + 3, &b, 1, -EBADMSG, "checksum");
	bad(fd, LV_SNAP_CPU_OFF + 5, &b, 1, -EBADMSG, "metadata checksum");
	bad(fd, h.mem_off + 256 * 4096 + 7, &b, 1, -EBADMSG, "memory checksum");
	bad(fd, h.mem_off + 700 * 4096 + 7, &b, 1, -EBADMSG, "not listed");
	/* fields changed with a valid checksum: the checks behind it */
	v64 = 3u << 20;
	bad_field(fd, offsetof(struct lv_snap_hdr, mem_size), &v64, 8, -EINVAL, "2 MiB");
	v64 = 1u << 30;
	bad_field(fd, offsetof(struct lv_snap_hdr, npages), &v64, 8, -EINVAL, "lists");
	v32 = 0x80;
	bad_field(fd, offsetof(struct lv_snap_hdr, flags), &v32, 4, -EINVAL, "unknown bits");
	v32 = 600;    /* list: 9 256 257 600 -> 9 256 600 600 */
	bad_field(fd, LV_SNAP_LIST_OFF + 8, &v32, 4, -EINVAL, "out of order");
	v32 = 5000;
	bad_field(fd, LV_SNAP_LIST_OFF + 12, &v32, 4, -EINVAL, "out of order or range");
	v64 = 0x202;  /* IF */
	bad_field(fd, LV_SNAP_CPU_OFF + offsetof(struct lv_snap_cpu, rflags), &v64, 8, -EINVAL, "rflags");
	v64 = 0x1000; /* a system page */
	bad_field(fd, LV_SNAP_CPU_OFF + offsetof(struct lv_snap_cpu, rip), &v64, 8, -EINVAL, "rip");
	v32 = 0x10000;
	bad_field(fd, LV_SNAP_CPU_OFF + offsetof(struct lv_snap_cpu, mxcsr), &v32, 4, -EINVAL, "mxcsr");
	bad_field(fd, offsetof(struct lv_snap_hdr, name), "../x", 5, -EINVAL, "name");
	/* truncated and grown */
	assert_int_equal(ftruncate(fd, (off_t)(h.file_size - 4096)), 0);
	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(ftruncate(fd, (off_t)(h.file_size + 1)), 0);
	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "grown"));
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too short"));
	close(fd);
}

static void test_not_regular(void **st)
{
	struct lv_snap s;
	int fd = open("/dev/null", O_RDONLY);

	assert_int_equal(lv_snap_load(fd, &s, true, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "regular"));
	close(fd);
}

/* the parser alone, over every prefix of a good file's metadata */
static void test_prefixes(void **st)
{
	struct lv_snap_hdr h;
	struct lv_snap_cpu c;
	struct lv_snap s;
	int fd = make(&h, &c);
	uint8_t *meta = malloc(h.mem_off);

	assert_int_equal(pread(fd, meta, h.mem_off, 0), (ssize_t)h.mem_off);
	for (size_t n = 0; n < h.mem_off; n += 97)
		assert_int_not_equal(lv_snap_parse(meta, n, h.file_size, &s, err, sizeof(err)), 0);
	assert_int_equal(lv_snap_parse(meta, h.mem_off, h.file_size, &s, err, sizeof(err)), 0);
	lv_snap_free(&s);
	free(meta);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_prefixes),
	};

	guest = calloc(1, MEM);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
