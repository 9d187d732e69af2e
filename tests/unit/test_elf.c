/* test_elf.c - core/elf.c: the guest ELF parser accepts a good image and
 * rejects each kind of bad one with the right errno and message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "elf.h"

/* core/elf.h shadows <elf.h>: our own copies of the two headers */
struct eh {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct ph {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

#define LO 0x100000ull
#define HI 0x3f0000ull
#define FSIZE 0x4000ull

static uint8_t img[4096];
static struct lv_elf_info info;
static char err[200];

static struct eh *ehdr(void) { return (struct eh *)img; }
static struct ph *phdr(unsigned i) { return (struct ph *)(img + 64 + i * 56); }

/* A good image: text R-X at 0x100000 (0x1000 bytes from file 0x1000), data
 * RW- at 0x102000 (0x100 bytes from file 0x2000, 0x2000 in memory). */
static void good(void)
{
	memset(img, 0, sizeof(img));
	memcpy(ehdr()->ident, "\x7f" "ELF\x02\x01\x01", 7);
	ehdr()->type = 2;
	ehdr()->machine = 62;
	ehdr()->version = 1;
	ehdr()->entry = 0x100000;
	ehdr()->phoff = 64;
	ehdr()->ehsize = 64;
	ehdr()->phentsize = 56;
	ehdr()->phnum = 3;
	*phdr(0) = (struct ph){ .type = 1, .flags = 5, .offset = 0x1000, .vaddr = 0x100000,
				.filesz = 0x1000, .memsz = 0x1000, .align = 0x1000 };
	*phdr(1) = (struct ph){ .type = 0x6474e551 /* GNU_STACK */, .flags = 6 };
	*phdr(2) = (struct ph){ .type = 1, .flags = 6, .offset = 0x2000, .vaddr = 0x102000,
				.filesz = 0x100, .memsz = 0x2000, .align = 0x1000 };
}

static int parse(size_t len)
{
	return lv_elf_parse(img, len, FSIZE, LO, HI, &info, err, sizeof(err));
}

static void expect(int rc, const char *needle)
{
	assert_int_equal(parse(sizeof(img)), rc);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_good(void **st)
{
	good();
	assert_int_equal(parse(sizeof(img)), 0);
	assert_string_equal(err, "");
	assert_int_equal(info.entry, 0x100000);
	assert_int_equal(info.nseg, 2);
	assert_int_equal(info.seg[0].vaddr, 0x100000);
	assert_int_equal(info.seg[0].flags, 5);
	assert_int_equal(info.seg[1].off, 0x2000);
	assert_int_equal(info.seg[1].filesz, 0x100);
	assert_int_equal(info.seg[1].memsz, 0x2000);
}

static void test_bad_magic(void **st)
{
	good();
	img[1] = 'X';
	expect(-ENOEXEC, "not an ELF file (bad magic)");
	assert_int_equal(lv_elf_parse(img, 2, FSIZE, LO, HI, &info, err, sizeof(err)), -ENOEXEC);
}

static void test_32bit(void **st)
{
	good();
	img[4] = 1;
	expect(-ENOEXEC, "not a 64-bit ELF");
}

static void test_big_endian(void **st)
{
	good();
	img[5] = 2;
	expect(-ENOEXEC, "little-endian");
}

static void test_machine(void **st)
{
	good();
	ehdr()->machine = 183; /* aarch64 */
	expect(-ENOEXEC, "not an x86-64 ELF file (machine 183)");
}

static void test_not_exec(void **st)
{
	good();
	ehdr()->type = 3; /* ET_DYN */
	expect(-ENOEXEC, "ET_EXEC");
}

static void test_truncated(void **st)
{
	good();
	assert_int_equal(parse(40), -EINVAL);
	assert_non_null(strstr(err, "truncated ELF header"));
	/* program headers end at 64 + 3*56 = 232 */
	assert_int_equal(parse(231), -EINVAL);
	assert_non_null(strstr(err, "program headers"));
	assert_int_equal(parse(232), 0);
	ehdr()->phoff = UINT64_MAX - 10; /* overflowing phoff */
	expect(-EINVAL, "program headers");
	good();
	ehdr()->phentsize = 32;
	expect(-EINVAL, "program header size");
}

static void test_outside(void **st)
{
	good();
	phdr(2)->vaddr = 0x3f0000 - 0x1000; /* ends 0x1000 past HI */
	expect(-E2BIG, "segment 2 [0x3ef000,0x3f1000) outside guest memory [0x100000,0x3f0000)");
	good();
	phdr(0)->vaddr = 0x1000;
	ehdr()->entry = 0x1000;
	expect(-E2BIG, "outside guest memory");
}

static void test_filesz(void **st)
{
	good();
	phdr(2)->filesz = 0x3000;
	expect(-EINVAL, "larger than memory size");
}

static void test_overflow(void **st)
{
	good();
	phdr(2)->offset = UINT64_MAX - 0x10;
	expect(-EINVAL, "overflows");
	good();
	phdr(2)->offset = 0x3f01; /* 0x3f01 + 0x100 > FSIZE */
	expect(-EINVAL, "beyond the end of the file");
	good();
	phdr(2)->vaddr = UINT64_MAX - 0x100;
	expect(-EINVAL, "overflows");
	good();
	phdr(2)->memsz = UINT64_MAX;
	phdr(2)->filesz = 0;
	expect(-EINVAL, "overflows");
}

static void test_entry(void **st)
{
	good();
	ehdr()->entry = 0x102000; /* in the data segment: not executable */
	expect(-EINVAL, "entry point 0x102000 not inside an executable loaded segment");
	good();
	ehdr()->entry = 0x200000;
	expect(-EINVAL, "entry point");
}

static void test_overlap(void **st)
{
	good();
	phdr(2)->vaddr = 0x100800;
	expect(-EINVAL, "overlap");
}

static void test_no_load(void **st)
{
	good();
	phdr(0)->type = 4;
	phdr(2)->type = 4;
	expect(-EINVAL, "no loadable");
	good();
	ehdr()->phnum = 0;
	expect(-EINVAL, "no program headers");
}

static void test_too_many(void **st)
{
	good();
	ehdr()->phnum = 9;
	for (unsigned i = 0; i < 9; i++)
		*phdr(i) = (struct ph){ .type = 1, .flags = 5, .offset = 0x1000,
					.vaddr = 0x100000 + i * 0x1000, .filesz = 0x10, .memsz = 0x10 };
	expect(-EINVAL, "more than 8 loadable segments");
	ehdr()->phnum = 8;
	assert_int_equal(parse(sizeof(img)), 0);
	assert_int_equal(info.nseg, 8);
}

static void test_len_beyond_file(void **st)
{
	good();
	assert_int_equal(lv_elf_parse(img, sizeof(img), 100, LO, HI, &info, err, sizeof(err)), -EINVAL);
	assert_int_equal(lv_elf_parse(img, sizeof(img), FSIZE, HI, LO, &info, err, sizeof(err)), -E2BIG);
	/* a tiny error buffer is still NUL terminated */
	img[0] = 0;
	assert_int_equal(lv_elf_parse(img, sizeof(img), FSIZE, LO, HI, &info, err, 5), -ENOEXEC);
	assert_int_equal(strlen(err), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_32bit),
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_machine),
		cmocka_unit_test(test_not_exec),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_outside),
		cmocka_unit_test(test_filesz),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_entry),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_no_load),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_len_beyond_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
