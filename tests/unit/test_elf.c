/* test_elf.c - core/elf.c: the guest ELF parser accepts a good image and
 * rejects each kind of bad one with the right errno and message; the
 * note reader (lv_elf_note_segs, lv_elf_note_find) finds the LightVM NIC
 * note and survives hostile note segments and notes. */
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

/* ---- notes */

static struct lv_elf_note_seg nseg[LV_ELF_MAX_NOTE_SEG];

/* good() plus a PT_NOTE (program header 1) at file offset 0x800 */
static void with_note(uint64_t size)
{
	good();
	*phdr(1) = (struct ph){ .type = 4, .flags = 4, .offset = 0x800, .filesz = size, .align = 4 };
}

static int segs(void)
{
	return lv_elf_note_segs(img, sizeof(img), FSIZE, nseg, LV_ELF_MAX_NOTE_SEG, err, sizeof(err));
}

/* a note at p: namesz, descsz, type, name (padded), desc (padded); with
 * hostile sizes (name and desc over 128 bytes) only the header */
static size_t put_note(uint8_t *p, uint32_t nsz, uint32_t dsz, uint32_t type, const char *name)
{
	size_t nal = ((size_t)nsz + 3) & ~(size_t)3, dal = ((size_t)dsz + 3) & ~(size_t)3;

	memcpy(p, &nsz, 4);
	memcpy(p + 4, &dsz, 4);
	memcpy(p + 8, &type, 4);
	if (nal + dal > 128)
		return 12;
	memset(p + 12, 0, nal + dal);
	if (name)
		memcpy(p + 12, name, strlen(name) + 1 < nsz ? strlen(name) + 1 : nsz);
	return 12 + nal + dal;
}

static void test_note_segs(void **st)
{
	with_note(0x20);
	assert_int_equal(segs(), 1);
	assert_int_equal(nseg[0].off, 0x800);
	assert_int_equal(nseg[0].size, 0x20);
	good();                                   /* none */
	assert_int_equal(segs(), 0);
	with_note(0);                             /* empty: skipped */
	assert_int_equal(segs(), 0);
	/* the headers are checked as for loading */
	with_note(0x20);
	img[1] = 'X';
	assert_int_equal(segs(), -ENOEXEC);
	with_note(0x20);
	ehdr()->phoff = 4090;
	assert_int_equal(segs(), -EINVAL);
}

static void test_note_segs_hostile(void **st)
{
	with_note(FSIZE);                          /* beyond the end of the file */
	assert_int_equal(segs(), -EINVAL);
	assert_non_null(strstr(err, "beyond the end of the file"));
	with_note(0x20);
	phdr(1)->offset = UINT64_MAX - 4;          /* offset + size overflows */
	assert_int_equal(segs(), -EINVAL);
	with_note(UINT64_MAX);
	assert_int_equal(segs(), -EINVAL);
	/* more note segments than the caller takes */
	good();
	ehdr()->phnum = 20;
	for (unsigned i = 3; i < 20; i++)
		*phdr(i) = (struct ph){ .type = 4, .offset = 0x800, .filesz = 12 };
	assert_int_equal(lv_elf_note_segs(img, sizeof(img), FSIZE, nseg, 4, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 4 note segments"));
	/* header bytes claimed beyond the file */
	with_note(0x20);
	assert_int_equal(lv_elf_note_segs(img, sizeof(img), 100, nseg, 4, err, sizeof(err)), -EINVAL);
}

static void test_note_find(void **st)
{
	uint8_t a[256];
	size_t n = 0;

	n += put_note(a + n, 4, 16, 3, "GNU");               /* another vendor's note */
	n += put_note(a + n, 8, 4, 2, "LightVM");            /* ours, another type */
	assert_int_equal(lv_elf_note_find(a, n, "LightVM", 1), 0);
	n += put_note(a + n, 8, 0, 1, "LightVM");            /* the NIC note */
	assert_int_equal(lv_elf_note_find(a, n, "LightVM", 1), 1);
	assert_int_equal(lv_elf_note_find(a, n, "LightVM", 2), 1);
	assert_int_equal(lv_elf_note_find(a, n, "Light", 1), 0);
	assert_int_equal(lv_elf_note_find(a, 0, "LightVM", 1), 0);
	/* the name is compared with its NUL: no prefix, no longer name */
	n = put_note(a, 7, 0, 1, "LightVM");
	assert_int_equal(lv_elf_note_find(a, n, "LightVM", 1), 0);
	n = put_note(a, 9, 0, 1, "LightVMX");
	assert_int_equal(lv_elf_note_find(a, n, "LightVM", 1), 0);
}

static void test_note_find_hostile(void **st)
{
	uint8_t a[256];
	size_t n;

	/* sizes that run past the area, up to the largest 32-bit values */
	n = put_note(a, 8, 4, 1, "LightVM");
	assert_int_equal(lv_elf_note_find(a, n - 1, "LightVM", 1), -EINVAL);
	put_note(a, 0xffffffffu, 0, 1, NULL);
	assert_int_equal(lv_elf_note_find(a, 64, "LightVM", 1), -EINVAL);
	put_note(a, 8, 0xffffffffu, 1, "LightVM");
	assert_int_equal(lv_elf_note_find(a, 64, "LightVM", 2), -EINVAL);
	put_note(a, 0xfffffffdu, 0xfffffffdu, 1, NULL);
	assert_int_equal(lv_elf_note_find(a, sizeof(a), "LightVM", 1), -EINVAL);
	/* a header cut short after a good note */
	n = put_note(a, 4, 0, 3, "GNU");
	assert_int_equal(lv_elf_note_find(a, n + 5, "LightVM", 1), -EINVAL);
	/* a matching note after a hostile one is not reached */
	n = put_note(a, 200, 0, 9, NULL);
	assert_int_equal(lv_elf_note_find(a, 100, "LightVM", 1), -EINVAL);
	/* zero-sized notes advance by their header and end */
	memset(a, 0, sizeof(a));
	assert_int_equal(lv_elf_note_find(a, 240, "LightVM", 1), 0);
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
		cmocka_unit_test(test_note_segs),
		cmocka_unit_test(test_note_segs_hostile),
		cmocka_unit_test(test_note_find),
		cmocka_unit_test(test_note_find_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
