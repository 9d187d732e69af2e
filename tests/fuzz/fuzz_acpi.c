/*
 * fuzz_acpi.c - libFuzzer target: the ACPI registers of a Linux guest's
 * shell (core/kvm/acpi.c) as a hostile kernel may drive them.  The input
 * is a list of port accesses (a port near the PM blocks or the reset
 * register, size 0..7, direction, four bytes of value, a clock); after
 * each the registers must keep only their defined bits (SLP_EN never
 * stored, SCI_EN always read), a power-off must come only from a write
 * that set SLP_EN with the S5 type, and nothing may touch memory outside
 * the access (ASan).  The tables are written once into a buffer that
 * ends where the ACPI range does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/acpi.h"

#define OP 8u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	struct kvm_acpi a;

	if (!mem) {
		mem = malloc(KVM_ACPI_GPA + KVM_ACPI_SIZE);
		if (!mem || kvm_acpi_tables(mem, KVM_ACPI_GPA + KVM_ACPI_SIZE) != KVM_ACPI_GPA)
			abort();
	}
	kvm_acpi_reset(&a);
	for (size_t at = 0; at + OP <= size; at += OP) {
		const uint8_t *op = data + at;
		uint16_t port = (op[0] & 0x80) ? (uint16_t)(KVM_ACPI_RESET - 2 + (op[0] & 3)) :
			(uint16_t)(KVM_ACPI_PM1_EVT - 2 + (op[0] & 0x0f));
		unsigned n = op[1] & 7u;
		bool out = op[2] & 1;
		uint8_t *d = malloc(n ? n : 1);   /* exactly the access: ASan sees past it */
		uint16_t cnt_before = a.pm1_cnt;
		enum kvm_acpi_io r;

		if (!d)
			abort();
		memcpy(d, op + 3, n < 4 ? n : 4);
		if (n > 4)
			memset(d + 4, op[7], n - 4);
		r = kvm_acpi_io(&a, port, out, d, n, (int64_t)op[7] << 40);
		if (r == KVM_ACPI_DO_POWEROFF) {
			/* only a write covering PM1 control's high byte with SLP_EN, type 5 */
			unsigned hi = KVM_ACPI_PM1_CNT + 1u;
			unsigned lo = KVM_ACPI_PM1_CNT;
			uint16_t v;

			if (!out || port > hi || port + n <= hi)
				abort();
			v = (uint16_t)((port <= lo ? d[lo - port] : cnt_before & 0xff) |
				       (d[hi - port] << 8));
			if (!(v & KVM_ACPI_SLP_EN) || KVM_ACPI_SLP_TYP(v) != KVM_ACPI_S5_TYPE)
				abort();
		}
		if (r == KVM_ACPI_DO_RESET && (!out || port != KVM_ACPI_RESET || n != 1 || !(d[0] & 4)))
			abort();
		if ((a.pm1_cnt & KVM_ACPI_SLP_EN) || (a.pm1_cnt & ~0x3c07u) ||
		    (a.pm1_en & ~0x0521u) || (a.pm1_sts & ~0x8f31u))
			abort();
		free(d);
	}
	return 0;
}
