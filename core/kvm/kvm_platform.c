/*
 * kvm_platform.c - owns which KVM this is: Intel VMX, AMD SVM or PVM
 * (software nested virtualization), and the one guest-state choice that
 * depends on it, the type of the task register (see vmsetup.c).
 *
 * /dev/kvm belongs to one vendor module; its directory in /sys/module
 * tells which (kvm_pvm is checked first: it may sit beside kvm_intel or
 * kvm_amd).  Without sysfs, CPUID's vmx/svm bits decide.
 */
#include <cpuid.h>
#include <stdio.h>
#include <unistd.h>

#include "lv_internal.h"
#include "kvm/vmsetup.h"

static enum kvm_platform detect(void)
{
	unsigned a, b, c, d;

	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return KVM_PLAT_PVM;
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return KVM_PLAT_VMX;
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return KVM_PLAT_SVM;
	__cpuid(1, a, b, c, d);
	if (c & (1u << 5))
		return KVM_PLAT_VMX;
	if (__get_cpuid_max(0x80000000, NULL) >= 0x80000001) {
		__cpuid(0x80000001, a, b, c, d);
		if (c & (1u << 2))
			return KVM_PLAT_SVM;
	}
	return KVM_PLAT_UNKNOWN;
}

enum kvm_platform kvm_platform(void)
{
	static enum kvm_platform p = KVM_PLAT_NONE;

	if (p == KVM_PLAT_NONE)
		p = detect();
	return p;
}

const char *kvm_platform_name(char *buf, size_t len)
{
	static const char *const kind[] = {
		[KVM_PLAT_UNKNOWN] = "kvm", [KVM_PLAT_VMX] = "kvm-vmx",
		[KVM_PLAT_SVM] = "kvm-svm", [KVM_PLAT_PVM] = "kvm-pvm",
	};
	char outer[64];

	lv__platform_outer(outer, sizeof(outer), 0);
	if (outer[0])
		snprintf(buf, len, "%s (%s)", kind[kvm_platform()], outer);
	else
		snprintf(buf, len, "%s", kind[kvm_platform()]);
	return buf;
}
