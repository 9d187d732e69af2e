/*
 * vmsetup.h - private to core/kvm: building a KVM VM for a LightVM guest
 * (VM, memory, one vCPU, system pages, long-mode ring-3 registers).
 * Used by the shell (shell.c); see lightvm_abi.h for the layout.
 */
#ifndef KVM_VMSETUP_H
#define KVM_VMSETUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

struct kvm_vm {
	int vm_fd, vcpu_fd;
	uint8_t *mem;           /* guest memory, GPA 0 .. mem_size */
	uint64_t mem_size;
	struct kvm_run *run;
	size_t run_size;
	struct kvm_sregs sregs; /* the ring-3 long-mode state, for resets */
	uint64_t tsc_khz;       /* cached by kvm_vm_tsc_khz (0: not asked yet) */
	enum { KVM_TSC_UNKNOWN, KVM_TSC_ONE, KVM_TSC_OFFSET, KVM_TSC_IOCTL } tsc_state;
	int64_t tsc_off;        /* guest TSC - host TSC (KVM_TSC_ONE, _OFFSET) */
	uint64_t tsc_width;     /* host ticks around the first sample */
};

/* host TSC ticks two samples of the offset may differ by beyond their
 * own uncertainty (a few hundred ns at any rate in use) */
#define KVM_TSC_SLACK 1000u

/* Create the VM, its memory and vCPU, build the system pages (GDT, IDT,
 * stubs, TSS, page tables) and load the 64-bit ring-3 segment state.
 * Returns 0 or -errno with a reason in err. */
int kvm_vm_create(struct kvm_vm *vm, int kvm_fd, uint64_t mem_size,
		  uint32_t vcpus, char *err, size_t errlen);

/* The same for a Linux guest when linux_guest: in-kernel IRQ chip and PIT,
 * the host's CPUID, no LightVM system pages (linux.h). */
int kvm_vm_create_kind(struct kvm_vm *vm, int kvm_fd, uint64_t mem_size,
		       uint32_t vcpus, bool linux_guest, char *err, size_t errlen);

/* (Re)load the ring-3 segment state and set rip/rsp/rdi, rflags = 2. */
int kvm_vm_set_entry(struct kvm_vm *vm, uint64_t rip, uint64_t rsp, uint64_t rdi);

/* Is the host kernel's clocksource the TSC now?  Not once it found the
 * TSC unstable: KVM then moves a guest's TSC offset at every vCPU load,
 * and no offset measured once holds (kvm_vm_tsc_calibrate).  Reads /sys:
 * false inside a shell's jail. */
bool kvm_host_tsc_stable(void);
/* Guest TSC frequency (kHz) and current guest TSC; 0 if unknown. */
uint64_t kvm_vm_tsc_khz(struct kvm_vm *vm);
uint64_t kvm_vm_guest_tsc(struct kvm_vm *vm);

/* Call twice, some time apart, before the guest's TSC is read on a hot
 * path: if the offset to the host's TSC held, kvm_vm_guest_tsc reads it
 * with rdtsc, without a vCPU ioctl (vmsetup.c). */
void kvm_vm_tsc_calibrate(struct kvm_vm *vm);

/* Which KVM /dev/kvm is (kvm_platform.c); detected once, cached. */
enum kvm_platform {
	KVM_PLAT_NONE,          /* not detected yet */
	KVM_PLAT_UNKNOWN,
	KVM_PLAT_VMX,           /* Intel VT-x: VM entry wants a busy TSS */
	KVM_PLAT_SVM,           /* AMD-V, also nested in QEMU TCG */
	KVM_PLAT_PVM,           /* kvm_pvm: software nested virtualization */
};
enum kvm_platform kvm_platform(void);
/* "kvm-svm", "kvm-pvm (nested under KVMKVMKVM)", ... into buf. */
const char *kvm_platform_name(char *buf, size_t len);

/* Does vector v push an error code? */
int kvm_vector_has_error(unsigned v);
const char *kvm_vector_name(unsigned v);

#endif
