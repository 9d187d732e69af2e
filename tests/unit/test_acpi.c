/*
 * test_acpi.c - the ACPI tables a Linux guest's shell writes
 * (core/kvm/acpi.c): signatures, lengths, checksums, the pointers
 * between them, \_S5 in the DSDT; and the PM registers under polite and
 * hostile port accesses: S5 by a 16-bit write and by two byte writes,
 * other sleep types ignored, reserved bits dropped, status
 * write-1-to-clear, odd sizes and gaps, the reset register.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kvm/acpi.h"

#define MEM (2u << 20)

static uint8_t *mem;

static uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t sum(const uint8_t *p, uint32_t n)
{
	uint8_t c = 0;

	while (n--)
		c = (uint8_t)(c + *p++);
	return c;
}

/* A table at gpa: its signature, and a length inside the ACPI range
 * whose bytes sum to 0. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= KVM_ACPI_GPA && gpa < KVM_ACPI_GPA + KVM_ACPI_SIZE);
	t = mem + gpa;
	assert_memory_equal(t, sig, 4);
	len = le32(t + 4);
	assert_true(len >= 36 && gpa + len <= KVM_ACPI_GPA + KVM_ACPI_SIZE);
	assert_int_equal(sum(t, len), 0);
	return t;
}

static void test_tables(void **state)
{
	uint64_t rsdp;
	const uint8_t *r, *x, *f, *d, *m;

	mem = calloc(1, MEM);
	assert_non_null(mem);
	assert_int_equal(kvm_acpi_tables(mem, KVM_ACPI_GPA + 4096), 0);   /* too small */
	rsdp = kvm_acpi_tables(mem, MEM);
	assert_int_equal(rsdp, KVM_ACPI_GPA);
	r = mem + rsdp;
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(le32(r + 20), 36);
	assert_int_equal(sum(r, 36), 0);
	x = table(le64(r + 24), "XSDT");
	table(le32(r + 16), "RSDT");
	assert_int_equal(le32(x + 4), 36 + 16);
	f = table(le64(x + 36), "FACP");
	m = table(le64(x + 44), "APIC");
	assert_int_equal(le32(f + 4), 276);
	d = table(le64(f + 140), "DSDT");
	assert_int_equal(le32(f + 40), le64(f + 140));
	assert_memory_equal(mem + le64(f + 132), "FACS", 4);
	/* the PM1 blocks, the timer and the reset register */
	assert_int_equal(le32(f + 56), KVM_ACPI_PM1_EVT);
	assert_int_equal(le32(f + 64), KVM_ACPI_PM1_CNT);
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(le64(f + 172 + 4), KVM_ACPI_PM1_CNT);
	assert_true(le32(f + 112) & (1u << 10));          /* RESET_REG_SUP */
	assert_int_equal(f[116], 1);                       /* system I/O */
	assert_int_equal(le64(f + 120), KVM_ACPI_RESET);
	assert_int_equal(f[128], KVM_ACPI_RESET_VALUE);
	/* \_S5 = Package { 5, 5, 0, 0 } */
	assert_non_null(memmem(d + 36, le32(d + 4) - 36, "\x08_S5_\x12\x08\x04\x0a\x05\x0a\x05", 12));
	/* MADT: one enabled local APIC, the IOAPIC at its address */
	assert_int_equal(m[44], 0);
	assert_int_equal(le32(m + 48) & 1, 1);
	assert_int_equal(m[52], 1);
	assert_int_equal(le32(m + 56), 0xfec00000u);
	free(mem);
}

static enum kvm_acpi_io io16(struct kvm_acpi *a, uint16_t port, bool out, uint16_t *v)
{
	uint8_t d[2];
	enum kvm_acpi_io r;

	memcpy(d, v, 2);
	r = kvm_acpi_io(a, port, out, d, 2, 1000);
	memcpy(v, d, 2);
	return r;
}

static void test_poweroff(void **state)
{
	struct kvm_acpi a;
	uint16_t v;
	uint8_t b;

	kvm_acpi_reset(&a);
	assert_false(a.used);
	/* what Linux does: SLP_TYP first, then SLP_TYP | SLP_EN */
	v = (uint16_t)(KVM_ACPI_S5_TYPE << 10);
	assert_int_equal(io16(&a, KVM_ACPI_PM1_CNT, true, &v), KVM_ACPI_DONE);
	assert_true(a.used);
	v = 0;
	assert_int_equal(io16(&a, KVM_ACPI_PM1_CNT, false, &v), KVM_ACPI_DONE);
	assert_int_equal(v, (KVM_ACPI_S5_TYPE << 10) | KVM_ACPI_SCI_EN);
	v = (uint16_t)((KVM_ACPI_S5_TYPE << 10) | KVM_ACPI_SLP_EN);
	assert_int_equal(io16(&a, KVM_ACPI_PM1_CNT, true, &v), KVM_ACPI_DO_POWEROFF);
	/* the same in two byte writes */
	kvm_acpi_reset(&a);
	b = 0;
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_PM1_CNT, true, &b, 1, 0), KVM_ACPI_DONE);
	b = (uint8_t)(((KVM_ACPI_S5_TYPE << 10) | KVM_ACPI_SLP_EN) >> 8);
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_PM1_CNT + 1, true, &b, 1, 0), KVM_ACPI_DO_POWEROFF);
	/* another sleep type (S3 = 3 on a PC): not offered, the guest runs on */
	kvm_acpi_reset(&a);
	v = (uint16_t)((3 << 10) | KVM_ACPI_SLP_EN);
	assert_int_equal(io16(&a, KVM_ACPI_PM1_CNT, true, &v), KVM_ACPI_DONE);
	assert_int_equal(a.bad_sleeps, 1);
	/* every bit set: type 7, not S5; SLP_EN never reads back, reserved bits dropped */
	v = 0xffff;
	assert_int_equal(io16(&a, KVM_ACPI_PM1_CNT, true, &v), KVM_ACPI_DONE);
	v = 0;
	io16(&a, KVM_ACPI_PM1_CNT, false, &v);
	assert_int_equal(v & KVM_ACPI_SLP_EN, 0);
	assert_int_equal(v & ~0x3c07u, 0);
}

static void test_registers(void **state)
{
	struct kvm_acpi a;
	uint16_t v;
	uint8_t d[4] = { 0 };
	uint32_t t0, t1;

	kvm_acpi_reset(&a);
	/* status: write 1 to clear (a set bit stays set on a 0 write) */
	a.pm1_sts = 0x0100;
	v = 0;
	io16(&a, KVM_ACPI_PM1_EVT, true, &v);
	assert_int_equal(a.pm1_sts, 0x0100);
	v = 0xffff;
	io16(&a, KVM_ACPI_PM1_EVT, true, &v);
	assert_int_equal(a.pm1_sts, 0);
	/* enable: only the defined bits */
	v = 0xffff;
	io16(&a, KVM_ACPI_PM1_EVT + 2, true, &v);
	assert_int_equal(a.pm1_en, 0x0521);
	/* the PM timer counts at 3.579545 MHz, 24 bits */
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_PM_TMR, false, d, 4, 1000000000ll), KVM_ACPI_DONE);
	t0 = le32(d);
	assert_int_equal(t0, 3579545u & 0xffffffu);
	kvm_acpi_io(&a, KVM_ACPI_PM_TMR, false, d, 4, 1001000000ll);
	t1 = le32(d);
	assert_int_equal((t1 - t0) & 0xffffffu, 3579);
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_PM_TMR, false, d, 4, INT64_MAX), KVM_ACPI_DONE);
	assert_int_equal(d[3], 0);
	/* the gap at 0x606: all ones; odd sizes and other ports: not ours */
	kvm_acpi_io(&a, KVM_ACPI_PM1_CNT + 2, false, d, 2, 0);
	assert_int_equal(d[0], 0xff);
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_PM1_CNT, true, d, 3, 0), KVM_ACPI_NOT_MINE);
	assert_int_equal(kvm_acpi_io(&a, 0x5ff, false, d, 1, 0), KVM_ACPI_NOT_MINE);
	assert_int_equal(kvm_acpi_io(&a, 0x60c, false, d, 1, 0), KVM_ACPI_NOT_MINE);
	/* a 4-byte write over the end of the timer is taken whole, harmlessly */
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_PM_TMR + 2, true, d, 4, 0), KVM_ACPI_DONE);
	/* the reset register: bit 2 resets; 0x02 alone does not; words are not ours */
	d[0] = 0x02;
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_RESET, true, d, 1, 0), KVM_ACPI_DONE);
	d[0] = KVM_ACPI_RESET_VALUE;
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_RESET, true, d, 1, 0), KVM_ACPI_DO_RESET);
	assert_int_equal(kvm_acpi_io(&a, KVM_ACPI_RESET, true, d, 2, 0), KVM_ACPI_NOT_MINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_poweroff),
		cmocka_unit_test(test_registers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
