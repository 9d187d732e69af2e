/*
 * vmsetup.c - owns the VM-independent part of a LightVM KVM guest: the
 * KVM VM, guest memory and vCPU, and the system pages of lightvm_abi.h
 * (GDT, IDT, ring-0 exception stubs, TSS with I/O bitmap, identity page
 * tables), plus the long-mode CPL3 register state that lets the guest
 * start directly in ring 3 with no ring-0 code on the boot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lightvm_abi.h"
#include "kvm/vmsetup.h"
#include "kvm/linux.h"

#define PTE_P   0x001ull
#define PTE_RW  0x002ull
#define PTE_U   0x004ull
#define PTE_PS  0x080ull
#define MIB2    (2ull << 20)

#define CR0_PE  0x00000001ull
#define CR0_MP  0x00000002ull
#define CR0_ET  0x00000010ull
#define CR0_NE  0x00000020ull
#define CR0_WP  0x00010000ull
#define CR0_PG  0x80000000ull
#define CR4_PAE 0x00000020ull
#define CR4_OSFXSR 0x00000200ull
#define CR4_OSXMMEXCPT 0x00000400ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

#define NVEC        32u
#define STUB_SIZE   16u
#define TSS_BASE_SZ 104u
#define IOPB_PORTS  0x800u                      /* ports covered by the bitmap */
#define IOPB_BYTES  (IOPB_PORTS / 8u + 1u)     /* + the trailing 0xff byte */
#define TSS_LIMIT   (TSS_BASE_SZ + IOPB_BYTES - 1u)
#define GDT_ENTRIES 7u                          /* null, kcode, kdata, udata, ucode, tss(2) */

_Static_assert(LV_PORT_HCALL + 4 <= IOPB_PORTS, "hcall port in the I/O bitmap");
_Static_assert(TSS_BASE_SZ + IOPB_BYTES <= 4096, "TSS fits its page");
_Static_assert(NVEC * STUB_SIZE <= 4096, "stubs fit their page");

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static void build_gdt(uint8_t *mem)
{
	uint8_t *g = mem + LV_GPA_GDT;
	uint64_t tb = LV_GPA_TSS, lim = TSS_LIMIT;

	put64(g + 0x00, 0);
	put64(g + LV_SEL_KCODE, 0x00af9b000000ffffull);        /* 64-bit code, DPL0 */
	put64(g + LV_SEL_KDATA, 0x00cf93000000ffffull);        /* data, DPL0 */
	put64(g + (LV_SEL_UDATA & ~3u), 0x00cff3000000ffffull); /* data, DPL3 */
	put64(g + (LV_SEL_UCODE & ~3u), 0x00affb000000ffffull); /* 64-bit code, DPL3 */
	put64(g + LV_SEL_TSS, (lim & 0xffff) | ((tb & 0xffffff) << 16) | (0x89ull << 40) |
	      (((lim >> 16) & 0xf) << 48) | (((tb >> 24) & 0xff) << 56));
	put64(g + LV_SEL_TSS + 8, tb >> 32);
}

/* Each stub: mov $vec,%eax; mov $LV_PORT_CRASH,%dx; out %eax,%dx; 1: hlt; jmp 1b */
static void build_idt_stubs(uint8_t *mem)
{
	for (unsigned v = 0; v < NVEC; v++) {
		uint8_t *s = mem + LV_GPA_STUBS + v * STUB_SIZE;
		uint8_t *d = mem + LV_GPA_IDT + v * 16;
		uint64_t off = LV_GPA_STUBS + v * STUB_SIZE;

		memset(s, 0xcc, STUB_SIZE);
		s[0] = 0xb8;
		put32(s + 1, v);
		s[5] = 0x66; s[6] = 0xba;
		put16(s + 7, LV_PORT_CRASH);
		s[9] = 0xef;
		s[10] = 0xf4;
		s[11] = 0xeb; s[12] = 0xfd;

		put64(d, (off & 0xffff) | ((uint64_t)LV_SEL_KCODE << 16) | (0x8eull << 40) |
		      (((off >> 16) & 0xffff) << 48));
		put64(d + 8, off >> 32);
	}
}

static void build_tss(uint8_t *mem)
{
	uint8_t *t = mem + LV_GPA_TSS;

	memset(t, 0, TSS_BASE_SZ);
	put64(t + 4, LV_GPA_STACK0);             /* RSP0 */
	put16(t + 102, TSS_BASE_SZ);             /* I/O map base */
	memset(t + TSS_BASE_SZ, 0xff, IOPB_BYTES);
	for (unsigned p = LV_PORT_HCALL; p < LV_PORT_HCALL + 4; p++)
		t[TSS_BASE_SZ + p / 8] &= (uint8_t)~(1u << (p % 8));
}

static void build_page_tables(uint8_t *mem, uint64_t mem_size)
{
	uint8_t *pml4 = mem + LV_GPA_PML4, *pdpt = mem + LV_GPA_PDPT;
	uint8_t *pd = mem + LV_GPA_PD, *pt = mem + LV_GPA_PT0;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	memset(pd, 0, 4096);
	put64(pml4, LV_GPA_PDPT | PTE_P | PTE_RW | PTE_U);
	put64(pdpt, LV_GPA_PD | PTE_P | PTE_RW | PTE_U);
	put64(pd, LV_GPA_PT0 | PTE_P | PTE_RW | PTE_U);
	for (uint64_t i = 1; i < mem_size / MIB2; i++)
		put64(pd + i * 8, i * MIB2 | PTE_P | PTE_RW | PTE_U | PTE_PS);
	put64(pt, 0);                            /* page 0: null guard */
	for (uint64_t i = 1; i < 512; i++) {
		uint64_t a = i << 12;

		put64(pt + i * 8, a | PTE_P | PTE_RW | (a >= LV_GPA_DEVPAGE ? PTE_U : 0));
	}
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t dpl,
		uint8_t l, uint8_t db)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = dpl, .db = db, .s = 1, .l = l, .g = 1,
	};
}

/*
 * The task register's type.  Intel's VM entry accepts only a busy 64-bit
 * TSS (11) in long mode, and PVM has always run with 11.  AMD's VMRUN
 * does not check the type, but QEMU's TCG, which runs the SVM of a
 * nested test machine, honours the TSS I/O bitmap only for an available
 * TSS (9): with 11 the guest's `out` to its hypercall port takes #GP
 * there.  So: 9 on SVM, 11 everywhere else.  A doorbell without a TSS
 * (an MMIO write) would work everywhere too, but costs an instruction-
 * emulation round trip per hypercall under PVM.
 */
static uint8_t tr_type(void)
{
	const char *o = getenv("LIGHTVM_KVM_TR_TYPE");   /* scripts/bench-tr */

	if (o && (strcmp(o, "9") == 0 || strcmp(o, "11") == 0))
		return (uint8_t)atoi(o);
	return kvm_platform() == KVM_PLAT_SVM ? 9 : 11;
}

static int load_sregs(struct kvm_vm *vm)
{
	struct kvm_sregs *sr = &vm->sregs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, sr) < 0)
		return -errno;
	sr->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr->cr3 = LV_GPA_PML4;
	sr->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sr->efer = EFER_LME | EFER_LMA;
	seg(&sr->cs, LV_SEL_UCODE, 11, 3, 1, 0);
	seg(&sr->ss, LV_SEL_UDATA, 3, 3, 0, 1);
	sr->ds = sr->es = sr->fs = sr->gs = sr->ss;
	sr->tr = (struct kvm_segment){
		.base = LV_GPA_TSS, .limit = TSS_LIMIT, .selector = LV_SEL_TSS,
		.type = tr_type(), .present = 1, .s = 0,
	};
	sr->ldt = (struct kvm_segment){ .type = 2, .present = 1, .unusable = 1 };
	sr->gdt.base = LV_GPA_GDT;
	sr->gdt.limit = GDT_ENTRIES * 8 - 1;
	sr->idt.base = LV_GPA_IDT;
	sr->idt.limit = NVEC * 16 - 1;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, sr) < 0)
		return -errno;
	return 0;
}

int kvm_vm_set_entry(struct kvm_vm *vm, uint64_t rip, uint64_t rsp, uint64_t rdi)
{
	struct kvm_regs r = { .rip = rip, .rsp = rsp, .rdi = rdi, .rflags = 2 };

	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &vm->sregs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

static int fail(int rc, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-rc));
	return rc;
}

static int map_memory(struct kvm_vm *vm, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0 };

	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return fail(-errno, err, errlen, "mmap guest memory");
	}
	r.memory_size = vm->mem_size;
	r.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail(-errno, err, errlen, "KVM_SET_USER_MEMORY_REGION");
	return 0;
}

static int create_vcpu(struct kvm_vm *vm, int kvm_fd, char *err, size_t errlen)
{
	int sz;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return fail(-errno, err, errlen, "KVM_CREATE_VCPU");
	sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		return fail(sz < 0 ? -errno : -EINVAL, err, errlen, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return fail(-errno, err, errlen, "mmap kvm_run");
	}
	vm->run_size = (size_t)sz;
	return 0;
}

int kvm_vm_create(struct kvm_vm *vm, int kvm_fd, uint64_t mem_size,
		  uint32_t vcpus, char *err, size_t errlen)
{
	return kvm_vm_create_kind(vm, kvm_fd, mem_size, vcpus, false, err, errlen);
}

int kvm_vm_create_kind(struct kvm_vm *vm, int kvm_fd, uint64_t mem_size,
		       uint32_t vcpus, bool linux_guest, char *err, size_t errlen)
{
	int rc;

	*vm = (struct kvm_vm){ .vm_fd = -1, .vcpu_fd = -1, .mem_size = mem_size };
	if (vcpus != 1) {
		snprintf(err, errlen, "%u vCPUs requested; only 1 is supported", vcpus);
		return -EINVAL;
	}
	if (mem_size < LV_GUEST_MIN_MEM || mem_size > LV_GUEST_MAX_MEM || mem_size % MIB2) {
		snprintf(err, errlen, "guest memory %llu bytes: need a multiple of 2 MiB in %u..%u MiB",
			 (unsigned long long)mem_size, LV_GUEST_MIN_MEM >> 20, LV_GUEST_MAX_MEM >> 20);
		return -EINVAL;
	}
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return fail(-errno, err, errlen, "KVM_CREATE_VM");
	rc = map_memory(vm, err, errlen);
	if (!rc && linux_guest)
		rc = kvm_linux_vm_pre(vm->vm_fd, err, errlen);
	if (!rc)
		rc = create_vcpu(vm, kvm_fd, err, errlen);
	if (!rc && linux_guest)
		rc = kvm_linux_vcpu_post(kvm_fd, vm->vcpu_fd, err, errlen);
	if (rc || linux_guest)   /* Linux builds its own entry state (linux_boot.c) */
		return rc;
	build_gdt(vm->mem);
	build_idt_stubs(vm->mem);
	build_tss(vm->mem);
	build_page_tables(vm->mem, mem_size);
	rc = load_sregs(vm);
	if (rc)
		return fail(rc, err, errlen, "KVM_SET_SREGS");
	return 0;
}

/* The rate never changes for a vCPU (nothing here sets it): asked once,
 * at the shell's preparation, not again on a restore's path (every vCPU
 * ioctl loads the vCPU, ~7 us under PVM). */
uint64_t kvm_vm_tsc_khz(struct kvm_vm *vm)
{
	int khz;

	if (vm->tsc_khz)
		return vm->tsc_khz;
	khz = ioctl(vm->vcpu_fd, KVM_GET_TSC_KHZ, 0);
	vm->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	return vm->tsc_khz;
}

static uint64_t msr_tsc(struct kvm_vm *vm)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = 0x10 /* IA32_TIME_STAMP_COUNTER */ };

	if (ioctl(vm->vcpu_fd, KVM_GET_MSRS, &m) != 1)
		return 0;
	return m.e.data;
}

bool kvm_host_tsc_stable(void)
{
	char buf[16] = "";
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n >= 3 && strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

/*
 * Called twice while a shell prepares, before its jail (/sys).
 * The guest's TSC is the host's plus an offset that KVM sets when the
 * vCPU is created and nothing here changes (no KVM_SET_TSC_KHZ, no TSC
 * write): measured twice while the shell prepares, each time as the
 * guest's TSC read by the ioctl against the host's rdtsc right after it,
 * so that the estimate is never ahead of the guest (a boot TSC in the
 * guest's future, seen in the KVM testbed when the middle of the two
 * rdtsc was used).  If the two agree within their own uncertainty, the
 * guest's TSC is read later as rdtsc + offset, without loading the vCPU
 * (a KVM_GET_MSRS is ~5 us under PVM, on every spawn's path).  If not (a
 * scaled rate), or if the host kernel found its TSC unstable (KVM then
 * moves the offset at each vCPU load: kvm_host_tsc_stable), every read
 * stays an ioctl.
 */
void kvm_vm_tsc_calibrate(struct kvm_vm *vm)
{
	uint64_t a = __builtin_ia32_rdtsc(), g = msr_tsc(vm), b = __builtin_ia32_rdtsc();
	int64_t off = (int64_t)(g - b), d;

	if (!g || b < a) {
		vm->tsc_state = KVM_TSC_IOCTL;
		return;
	}
	switch (vm->tsc_state) {
	case KVM_TSC_UNKNOWN:
		vm->tsc_off = off;
		vm->tsc_width = b - a;
		vm->tsc_state = KVM_TSC_ONE;
		break;
	case KVM_TSC_ONE:   /* the second sample decides: one read of /sys */
		d = off - vm->tsc_off;
		if (d < 0)
			d = -d;
		vm->tsc_state = (uint64_t)d <= (vm->tsc_width + (b - a)) / 2 + KVM_TSC_SLACK &&
				kvm_host_tsc_stable() ? KVM_TSC_OFFSET : KVM_TSC_IOCTL;
		break;
	default:
		break;
	}
}

uint64_t kvm_vm_guest_tsc(struct kvm_vm *vm)
{
	if (vm->tsc_state == KVM_TSC_OFFSET)
		return __builtin_ia32_rdtsc() + (uint64_t)vm->tsc_off;
	return msr_tsc(vm);
}

int kvm_vector_has_error(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

const char *kvm_vector_name(unsigned v)
{
	static const char *const n[NVEC] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
		"#DF", "#MF(9)", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
		"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
		"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
	};

	return v < NVEC ? n[v] : "#??";
}
