/*
 * platform.c - owns what the core can tell about the machine under the
 * hypervisor it drives: bare metal, nested under another hypervisor, or
 * emulated (QEMU's TCG).  Drivers add their own kind (kvm-vmx, kvm-svm,
 * kvm-pvm, xen) in front; `lvsh host` and the benchmarks print the
 * result, so that no emulated number passes for a real one.
 *
 * The hints are CPUID's: the "hypervisor present" bit (leaf 1, ECX bit
 * 31), the signature at leaf 0x40000000 ("KVMKVMKVM", "TCGTCGTCGTCG",
 * "XenVMMXenVMM", ...) and the brand string QEMU gives its generic CPU
 * models.  A Xen Dom0 sees Xen's own signature; that is not nesting.
 */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

#include "lv_internal.h"

static void hv_signature(char sig[13])
{
	unsigned a, b, c, d;

	__cpuid(0x40000000, a, b, c, d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	for (int i = 0; i < 12; i++)
		if (sig[i] && (sig[i] < 0x20 || sig[i] > 0x7e))
			sig[i] = '?';
}

static int hv_present(void)
{
	unsigned a, b, c, d;

	__cpuid(1, a, b, c, d);
	return (c >> 31) & 1;
}

static int qemu_cpu_model(void)
{
	unsigned r[12];
	char brand[49];

	if (__get_cpuid_max(0x80000000, NULL) < 0x80000004)
		return 0;
	for (unsigned i = 0; i < 3; i++)
		__cpuid(0x80000002 + i, r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]);
	memcpy(brand, r, 48);
	brand[48] = 0;
	return strstr(brand, "QEMU Virtual CPU") != NULL;
}

const char *lv__platform_outer(char *buf, size_t len, int self_is_xen)
{
	char sig[13];

	buf[0] = 0;
	if (!hv_present())
		return buf;
	hv_signature(sig);
	if (strcmp(sig, "TCGTCGTCGTCG") == 0)
		snprintf(buf, len, "emulated: QEMU TCG");
	else if (self_is_xen && strncmp(sig, "XenVMM", 6) == 0)
		snprintf(buf, len, qemu_cpu_model() ? "emulated? QEMU CPU model" : "");
	else if (sig[0] == 0 && qemu_cpu_model())
		snprintf(buf, len, "emulated? QEMU CPU model, no signature");
	else
		snprintf(buf, len, "nested under %s", sig[0] ? sig : "a hypervisor");
	return buf;
}
