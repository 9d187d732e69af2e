/*
 * acpi.c - minimal ACPI for Linux guests of a KVM shell (see acpi.h).
 * The tables are the least a Linux kernel needs to power off and reset
 * through ACPI: the RSDP (found through hvm_start_info.rsdp_paddr, PVH),
 * XSDT and RSDT naming the FADT and the MADT, the FACS the FADT points
 * to, the MADT with the one local APIC and the IOAPIC (identity ISA
 * routing, as KVM's in-kernel IOAPIC and the MP table have it), and a
 * DSDT holding Name (_S5, Package () { 5, 5, 0, 0 }).  Layout at
 * KVM_ACPI_GPA: RSDP +0x0, XSDT +0x40, RSDT +0x80, FACS +0xc0, FADT
 * +0x100, MADT +0x280, DSDT +0x300.
 */
#include <string.h>

#include "kvm/acpi.h"

#define OFF_RSDP 0x000u
#define OFF_XSDT 0x040u
#define OFF_RSDT 0x080u
#define OFF_FACS 0x0c0u
#define OFF_FADT 0x100u
#define OFF_MADT 0x280u
#define OFF_DSDT 0x300u
#define FADT_LEN 276u              /* ACPI 6.x */
#define PM_TMR_HZ 3579545ull

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t sum(const uint8_t *p, uint32_t n)
{
	uint8_t c = 0;

	while (n--)
		c = (uint8_t)(c + *p++);
	return (uint8_t)(0 - c);
}

/* The common 36-byte header; the checksum is set by finish(). */
static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memset(t, 0, len);
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "LIGHTV", 6);
	memcpy(t + 16, "KVMSHELL", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "LVM ", 4);
	put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = sum(t, len);
}

/* A Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint16_t port)
{
	g[0] = 1;          /* system I/O */
	g[1] = bits;
	g[2] = 0;
	g[3] = access;     /* 1 byte, 2 word, 3 dword */
	put64(g + 4, port);
}

static void fadt(uint8_t *t, uint32_t facs, uint32_t dsdt)
{
	header(t, "FACP", FADT_LEN, 6);
	put32(t + 36, facs);
	put32(t + 40, dsdt);
	put16(t + 46, KVM_ACPI_SCI);
	/* SMI_CMD 0: always in ACPI mode, nothing to switch */
	put32(t + 56, KVM_ACPI_PM1_EVT);
	put32(t + 64, KVM_ACPI_PM1_CNT);
	put32(t + 76, KVM_ACPI_PM_TMR);
	t[88] = 4;         /* PM1_EVT_LEN */
	t[89] = 2;         /* PM1_CNT_LEN */
	t[91] = 4;         /* PM_TMR_LEN */
	put16(t + 96, 101);    /* no C2 */
	put16(t + 98, 1001);   /* no C3 */
	put16(t + 109, 0x0004);   /* IAPC_BOOT_ARCH: no VGA; no 8042, no legacy devices */
	/* WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON as control methods
	 * (none: no buttons), RESET_REG_SUP */
	put32(t + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 10));
	gas_io(t + 116, 8, 1, KVM_ACPI_RESET);
	t[128] = KVM_ACPI_RESET_VALUE;
	t[131] = 0;        /* minor version */
	put64(t + 132, facs);
	put64(t + 140, dsdt);
	gas_io(t + 148, 32, 2, KVM_ACPI_PM1_EVT);
	gas_io(t + 172, 16, 2, KVM_ACPI_PM1_CNT);
	gas_io(t + 208, 32, 3, KVM_ACPI_PM_TMR);
	finish(t, FADT_LEN);
}

static void madt(uint8_t *t)
{
	uint8_t *e = t + 44;
	uint32_t len;

	header(t, "APIC", 0x80, 4);
	put32(t + 36, 0xfee00000u);
	put32(t + 40, 1);                         /* PCAT_COMPAT: 8259s present */
	e[0] = 0; e[1] = 8; e[2] = 0; e[3] = 0;   /* local APIC: UID 0, ID 0 */
	put32(e + 4, 1);                          /* enabled */
	e += 8;
	e[0] = 1; e[1] = 12; e[2] = 1; e[3] = 0;  /* IOAPIC 1 */
	put32(e + 4, 0xfec00000u);
	put32(e + 8, 0);                          /* GSI base */
	e += 12;
	e[0] = 4; e[1] = 6; e[2] = 0xff;          /* NMI on LINT1 of every CPU */
	put16(e + 3, 0);
	e[5] = 1;
	e += 6;
	len = (uint32_t)(e - t);
	put32(t + 4, len);
	finish(t, len);
}

/* DefinitionBlock with Name (_S5, Package (4) { 5, 5, 0, 0 }) in \ */
static void dsdt(uint8_t *t)
{
	static const uint8_t aml[] = {
		0x08, '_', 'S', '5', '_',          /* NameOp "_S5_" */
		0x12, 0x08, 0x04,                  /* PackageOp, PkgLength 8, 4 elements */
		0x0a, KVM_ACPI_S5_TYPE,            /* BytePrefix 5: SLP_TYPa */
		0x0a, KVM_ACPI_S5_TYPE,            /* SLP_TYPb */
		0x00, 0x00,                        /* Zero, Zero */
	};
	uint32_t len = 36 + (uint32_t)sizeof(aml);

	header(t, "DSDT", len, 2);
	memcpy(t + 36, aml, sizeof(aml));
	finish(t, len);
}

uint64_t kvm_acpi_tables(uint8_t *mem, uint64_t mem_size)
{
	uint8_t *b = mem + KVM_ACPI_GPA, *r = b + OFF_RSDP;

	if (mem_size < KVM_ACPI_GPA + KVM_ACPI_SIZE)
		return 0;
	memset(b, 0, 0x400);
	/* FACS: no firmware waking vector, no global lock */
	memcpy(b + OFF_FACS, "FACS", 4);
	put32(b + OFF_FACS + 4, 64);
	b[OFF_FACS + 32] = 2;   /* version */
	fadt(b + OFF_FADT, KVM_ACPI_GPA + OFF_FACS, KVM_ACPI_GPA + OFF_DSDT);
	madt(b + OFF_MADT);
	dsdt(b + OFF_DSDT);
	header(b + OFF_XSDT, "XSDT", 36 + 16, 1);
	put64(b + OFF_XSDT + 36, KVM_ACPI_GPA + OFF_FADT);
	put64(b + OFF_XSDT + 44, KVM_ACPI_GPA + OFF_MADT);
	finish(b + OFF_XSDT, 36 + 16);
	header(b + OFF_RSDT, "RSDT", 36 + 8, 1);
	put32(b + OFF_RSDT + 36, KVM_ACPI_GPA + OFF_FADT);
	put32(b + OFF_RSDT + 40, KVM_ACPI_GPA + OFF_MADT);
	finish(b + OFF_RSDT, 36 + 8);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "LIGHTV", 6);
	r[15] = 2;                                  /* ACPI 2.0+ */
	put32(r + 16, KVM_ACPI_GPA + OFF_RSDT);
	put32(r + 20, 36);
	put64(r + 24, KVM_ACPI_GPA + OFF_XSDT);
	r[8] = sum(r, 20);
	r[32] = sum(r, 36);
	return KVM_ACPI_GPA + OFF_RSDP;
}

void kvm_acpi_reset(struct kvm_acpi *a)
{
	*a = (struct kvm_acpi){ .pm1_cnt = KVM_ACPI_SCI_EN };
}

/* Status bits a guest may clear (none is ever set but these exist):
 * TMR_STS, BM_STS, GBL_STS, PWRBTN_STS, SLPBTN_STS, RTC_STS, WAK_STS. */
#define PM1_STS_MASK 0x8f31u
#define PM1_EN_MASK  0x0521u   /* TMR_EN, GBL_EN, PWRBTN_EN, RTC_EN */
#define PM1_CNT_MASK 0x3c07u   /* SCI_EN, BM_RLD, GBL_RLS, SLP_TYP, SLP_EN */

static uint8_t byte_of(uint32_t v, unsigned i) { return (uint8_t)(v >> (8 * i)); }

/* One byte at port p; returns what the write asks for. */
static enum kvm_acpi_io io_byte(struct kvm_acpi *a, uint16_t p, bool out, uint8_t *d,
				int64_t now_ns)
{
	unsigned i = p & 1u;

	switch (p) {
	case KVM_ACPI_PM1_EVT: case KVM_ACPI_PM1_EVT + 1:
		a->used = true;
		if (out)
			a->pm1_sts &= (uint16_t)~(((unsigned)*d << (8 * i)) & PM1_STS_MASK);
		else
			*d = byte_of(a->pm1_sts, i);
		return KVM_ACPI_DONE;
	case KVM_ACPI_PM1_EVT + 2: case KVM_ACPI_PM1_EVT + 3:
		a->used = true;
		if (out)
			a->pm1_en = (uint16_t)((a->pm1_en & ~(0xffu << (8 * i))) |
					       (((unsigned)*d << (8 * i)) & PM1_EN_MASK));
		else
			*d = byte_of(a->pm1_en, i);
		return KVM_ACPI_DONE;
	case KVM_ACPI_PM1_CNT: case KVM_ACPI_PM1_CNT + 1: {
		uint16_t v;

		a->used = true;
		if (!out) {    /* SLP_EN reads as 0; always in ACPI mode */
			*d = byte_of((a->pm1_cnt & ~KVM_ACPI_SLP_EN) | KVM_ACPI_SCI_EN, i);
			return KVM_ACPI_DONE;
		}
		v = (uint16_t)((a->pm1_cnt & ~(0xffu << (8 * i))) |
			       (((unsigned)*d << (8 * i)) & PM1_CNT_MASK));
		a->pm1_cnt = (uint16_t)((v & ~KVM_ACPI_SLP_EN) | KVM_ACPI_SCI_EN);
		if (!(v & KVM_ACPI_SLP_EN))
			return KVM_ACPI_DONE;
		if (KVM_ACPI_SLP_TYP(v) == KVM_ACPI_S5_TYPE)
			return KVM_ACPI_DO_POWEROFF;
		a->bad_sleeps++;   /* a sleep state we do not offer: keeps running */
		return KVM_ACPI_DONE;
	}
	case KVM_ACPI_PM_TMR: case KVM_ACPI_PM_TMR + 1:
	case KVM_ACPI_PM_TMR + 2: case KVM_ACPI_PM_TMR + 3:
		if (!out) {
			uint64_t ticks = (uint64_t)((unsigned __int128)(uint64_t)(now_ns > 0 ? now_ns : 0) *
						    PM_TMR_HZ / 1000000000ull);

			*d = byte_of((uint32_t)(ticks & 0xffffffu), p - KVM_ACPI_PM_TMR);
		}
		return KVM_ACPI_DONE;
	case KVM_ACPI_RESET:
		if (!out) {
			*d = 0;
			return KVM_ACPI_DONE;
		}
		/* bit 2 starts the reset (Linux writes 0x06, or 0x02 then 0x06) */
		return (*d & 0x04) ? KVM_ACPI_DO_RESET : KVM_ACPI_DONE;
	default:
		return KVM_ACPI_NOT_MINE;
	}
}

enum kvm_acpi_io kvm_acpi_io(struct kvm_acpi *a, uint16_t port, bool out, uint8_t *d,
			     unsigned size, int64_t now_ns)
{
	enum kvm_acpi_io want = KVM_ACPI_NOT_MINE;

	if (port != KVM_ACPI_RESET &&
	    (port < KVM_ACPI_PM1_EVT || port >= KVM_ACPI_PM_TMR + 4))
		return KVM_ACPI_NOT_MINE;
	if ((size != 1 && size != 2 && size != 4) || (port == KVM_ACPI_RESET && size != 1))
		return KVM_ACPI_NOT_MINE;
	for (unsigned i = 0; i < size; i++) {
		enum kvm_acpi_io r = io_byte(a, (uint16_t)(port + i), out, d + i, now_ns);

		if (r == KVM_ACPI_NOT_MINE) {   /* a gap (0x606, 0x607) or past the end */
			if (!out)
				d[i] = 0xff;
			r = KVM_ACPI_DONE;
		}
		if (r > want)
			want = r;
	}
	return want;
}
