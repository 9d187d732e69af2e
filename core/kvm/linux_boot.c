/*
 * linux_boot.c - booting Linux in a KVM shell (see linux.h): the PVH
 * entry (an ELF vmlinux with the Xen note XEN_ELFNOTE_PHYS32_ENTRY, as
 * Linux builds with CONFIG_PVH and QEMU -kernel and Firecracker boot it),
 * the initramfs, the command line, the hvm_start_info block with its
 * memory map, 32-bit flat protected mode at the entry, the exits of a
 * running kernel (the UART, the i8042 reset, a CMOS clock, the ports
 * and addresses Linux probes), and reboots in place.
 *
 * Guest-physical layout: boot GDT at 0x500, hvm_start_info 0x6000 (module
 * list 0x6040, memory map 0x6100), command line 0x7000 (all in the low
 * 64 KiB Linux keeps reserved), an MP table at 639 KiB (reserved), the
 * ACPI tables at 896 KiB (acpi.c; reserved), the kernel at its own physical addresses
 * (Linux: 16 MiB), the initramfs page-aligned at the top of memory.
 * Everything read from the image is bounds-checked against the file and
 * guest memory before one byte is copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/shell_int.h"
#include "kvm/linux.h"

#define GPA_GDT      0x500u
#define GPA_START    0x6000u
#define GPA_MODLIST  0x6040u
#define GPA_MEMMAP   0x6100u
#define GPA_CMDLINE  0x7000u
#define KERNEL_MIN   0x100000u          /* a kernel loads above 1 MiB */
#define MAX_PHDRS    64u
#define MAX_NOTES    (64u << 10)
#define PVH_NOTE     18u                /* XEN_ELFNOTE_PHYS32_ENTRY */
#define START_MAGIC  0x336ec578u        /* XEN_HVM_START_MAGIC_VALUE */
#define APIC_BASE_BSP 0xfee00900ull     /* xAPIC at its address, enabled, BSP */

/* Xen's public hvm_start_info (arch-x86/hvm/start_info.h), version 1 */
struct pvh_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct pvh_mod { uint64_t paddr, size, cmdline_paddr, reserved; };
struct pvh_memmap { uint64_t addr, size; uint32_t type, reserved; };

/* The device state of a fresh VM, put back at a reboot. */
struct linux_reset {
	struct kvm_lapic_state lapic;
	struct kvm_irqchip chip[3];         /* PIC master, slave, IOAPIC */
	struct kvm_pit_state2 pit;
};

/* ---- creating the VM (vmsetup.c calls these) */

int kvm_linux_vm_pre(int vm_fd, char *err, size_t errlen)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	const char *what = NULL;

	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		what = "KVM_SET_TSS_ADDR";
	else if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		what = "KVM_CREATE_IRQCHIP";
	else if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		what = "KVM_CREATE_PIT2";
	if (!what)
		return 0;
	snprintf(err, errlen, "Linux guest: %s: %s", what, strerror(errno));
	return -errno;
}

int kvm_linux_vcpu_post(int kvm_fd, int vcpu_fd, char *err, size_t errlen)
{
	struct kvm_cpuid2 *c = NULL;
	int rc = 0;

	for (unsigned n = 64; n <= 1024; n *= 2) {
		free(c);
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		rc = -errno;
		if (errno != E2BIG)
			break;
	}
	/* KVM reports no hypervisor bit (CPUID.1:ECX[31]): a VMM sets it, and
	 * without it the guest looks for no KVM leaves, so it has no
	 * kvm-clock; under nested virtualization its TSC calibration
	 * against the PIT failed too, which left it on the jiffies
	 * clocksource: no tickless idle, ~1000 timer exits a second */
	for (unsigned i = 0; c && !rc && i < c->nent; i++)
		if (c->entries[i].function == 1)
			c->entries[i].ecx |= 1u << 31;
	if (c && c->nent && ioctl(vcpu_fd, KVM_SET_CPUID2, c) == 0)
		rc = 0;
	else if (!rc)
		rc = -errno;
	free(c);
	if (rc)
		snprintf(err, errlen, "Linux guest: CPUID: %s", strerror(-rc));
	return rc;
}

int kvm_linux_save_reset(struct kvm_shell *s)
{
	struct linux_reset *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	for (int i = 0; i < 3; i++)
		r->chip[i].chip_id = (uint32_t)i;
	if (ioctl(s->vm.vcpu_fd, KVM_GET_LAPIC, &r->lapic) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_GET_IRQCHIP, &r->chip[0]) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_GET_IRQCHIP, &r->chip[1]) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_GET_IRQCHIP, &r->chip[2]) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_GET_PIT2, &r->pit) < 0) {
		int e = -errno;

		free(r);
		return e;
	}
	s->lx.reset_state = r;
	return 0;
}

/* ---- the kernel image */

struct elf64_hdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

static void put_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -ENOEXEC; } while (0)

/* The PVH entry from a PT_NOTE segment, 0 if none. */
static int find_pvh(int fd, const struct elf64_phdr *ph, uint64_t fsize, uint64_t *entry)
{
	static uint8_t buf[MAX_NOTES];
	uint64_t n = ph->filesz, at = 0;
	int rc;

	if (n > MAX_NOTES || ph->offset > fsize || n > fsize - ph->offset)
		return 0;
	rc = kvm_pread_full(fd, buf, n, ph->offset);
	if (rc)
		return rc;
	while (n - at >= 12) {
		uint32_t nsz, dsz, type;
		uint64_t name, desc, next;

		memcpy(&nsz, buf + at, 4);
		memcpy(&dsz, buf + at + 4, 4);
		memcpy(&type, buf + at + 8, 4);
		name = at + 12;
		desc = name + (((uint64_t)nsz + 3) & ~3ull);
		next = desc + (((uint64_t)dsz + 3) & ~3ull);
		if (next > n)
			return 0;
		if (type == PVH_NOTE && nsz == 4 && memcmp(buf + name, "Xen", 4) == 0 &&
		    (dsz == 4 || dsz == 8)) {
			uint64_t e = 0;

			memcpy(&e, buf + desc, dsz);
			*entry = e;
			return 0;
		}
		at = next;
	}
	return 0;
}

/* Check the ELF and every PT_LOAD against the file and memory [lo, hi);
 * copy them in if load.  *top: the end of the highest segment. */
static int kernel_load(struct kvm_shell *s, uint64_t hi, uint64_t *entry, uint64_t *top,
		       char *err, size_t errlen)
{
	struct elf64_hdr h;
	struct elf64_phdr ph[MAX_PHDRS];
	struct stat st;
	int fd = s->img_fd, rc;
	unsigned nload = 0;

	*entry = 0;
	*top = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		BAD("kernel is not a regular file");
	if ((uint64_t)st.st_size < sizeof(h) || kvm_pread_full(fd, &h, sizeof(h), 0))
		BAD("kernel: shorter than an ELF header");
	if (memcmp(h.ident, "\177ELF", 4) || h.ident[4] != 2 || h.ident[5] != 1 ||
	    h.machine != 62 || (h.type != 2 && h.type != 3))
		BAD("kernel: not an ELF64 x86-64 executable (a vmlinux with the PVH note; bzImage is not supported)");
	if (h.phentsize != sizeof(ph[0]) || h.phnum == 0 || h.phnum > MAX_PHDRS ||
	    h.phoff > (uint64_t)st.st_size || (uint64_t)h.phnum * sizeof(ph[0]) > (uint64_t)st.st_size - h.phoff)
		BAD("kernel: bad program header table");
	rc = kvm_pread_full(fd, ph, (uint64_t)h.phnum * sizeof(ph[0]), h.phoff);
	if (rc)
		BAD("kernel: reading program headers: %s", strerror(-rc));
	for (unsigned i = 0; i < h.phnum; i++)
		if (ph[i].type == 4 /* PT_NOTE */ && !*entry && (rc = find_pvh(fd, &ph[i], (uint64_t)st.st_size, entry)))
			BAD("kernel: reading notes: %s", strerror(-rc));
	if (!*entry)
		BAD("kernel: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY: build Linux with CONFIG_PVH)");
	for (unsigned i = 0; i < h.phnum; i++) {
		const struct elf64_phdr *p = &ph[i];

		if (p->type != 1 /* PT_LOAD */ || !p->memsz)
			continue;
		if (p->filesz > p->memsz || p->offset > (uint64_t)st.st_size ||
		    p->filesz > (uint64_t)st.st_size - p->offset)
			BAD("kernel: segment %u lies outside the file", i);
		if (p->paddr < KERNEL_MIN || p->paddr >= hi || p->memsz > hi - p->paddr)
			BAD("kernel: segment %u (0x%llx, %llu bytes) does not fit in %llu MiB of guest memory",
			    i, (unsigned long long)p->paddr, (unsigned long long)p->memsz,
			    (unsigned long long)(s->vm.mem_size >> 20));
		if (p->paddr + p->memsz > *top)
			*top = p->paddr + p->memsz;
		nload++;
	}
	if (!nload)
		BAD("kernel: nothing to load");
	if (*entry < KERNEL_MIN || *entry >= *top)
		BAD("kernel: PVH entry 0x%llx outside the kernel", (unsigned long long)*entry);
	for (unsigned i = 0; i < h.phnum; i++) {
		const struct elf64_phdr *p = &ph[i];

		if (p->type != 1 || !p->memsz)
			continue;
		rc = kvm_pread_full(fd, s->vm.mem + p->paddr, p->filesz, p->offset);
		if (rc)
			BAD("kernel: reading segment %u: %s", i, rc == -EIO ? "file truncated" : strerror(-rc));
		memset(s->vm.mem + p->paddr + p->filesz, 0, p->memsz - p->filesz);
	}
	return 0;
}

/* The initramfs, page-aligned at the top of memory, above the kernel. */
static int initrd_load(struct kvm_shell *s, uint64_t kernel_top, uint64_t *at, uint64_t *size,
		       char *err, size_t errlen)
{
	struct stat st;
	uint64_t n, room;
	int rc;

	*at = *size = 0;
	if (s->lx.initrd_fd < 0)
		return 0;
	if (fstat(s->lx.initrd_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "ramdisk is not a regular file");
		return -EINVAL;
	}
	n = (uint64_t)st.st_size;
	room = s->vm.mem_size - ((kernel_top + 0xfffu) & ~0xfffull);
	if (!n || n > room || s->vm.mem_size < kernel_top) {
		snprintf(err, errlen, "ramdisk of %llu bytes does not fit: %llu bytes of guest memory free above the kernel",
			 (unsigned long long)n, (unsigned long long)(kernel_top < s->vm.mem_size ? room : 0));
		return -E2BIG;
	}
	*at = (s->vm.mem_size - n) & ~0xfffull;
	*size = n;
	rc = kvm_pread_full(s->lx.initrd_fd, s->vm.mem + *at, n, 0);
	if (rc)
		snprintf(err, errlen, "reading the ramdisk: %s", rc == -EIO ? "file truncated" : strerror(-rc));
	return rc;
}

/* The user's words, then ours: console= last makes ttyS0 /dev/console. */
static void ip4(char *b, size_t n, uint32_t a)
{
	const uint8_t *p = (const uint8_t *)&a;   /* network byte order */

	snprintf(b, n, "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
}

/* The NIC: the virtio-mmio window, and the address in the syntax of the
 * kernel's ip= (Tinyx's init reads it too). */
static void cmdline_net(struct kvm_shell *s, char *b, size_t n)
{
	const struct kvm_vnet *v = &s->lx.vnet;
	char a[16], g[16], m[16];

	b[0] = 0;
	if (!v->present)
		return;
	ip4(a, sizeof(a), v->ipv4);
	ip4(g, sizeof(g), v->gateway);
	ip4(m, sizeof(m), v->netmask);
	snprintf(b, n, " virtio_mmio.device=4K@0x%llx:%u ip=%s::%s:%s::eth0:off",
		 (unsigned long long)KVM_VNET_GPA, KVM_VNET_IRQ, a, g, m);
}

static void cmdline_build(struct kvm_shell *s)
{
	char *c = (char *)s->vm.mem + GPA_CMDLINE, net[160];

	cmdline_net(s, net, sizeof(net));
	snprintf(c, KVM_LINUX_CMDLINE_MAX, "%s%sconsole=ttyS0 printk.time=1 8250.nr_uarts=1 pci=off%s",
		 s->lx.user_cmdline, s->lx.user_cmdline[0] ? " " : "", net);
}

/*
 * An MP table (Intel MP spec 1.4) at 639 KiB, where Linux looks: one CPU,
 * the ISA bus, the IOAPIC, ISA IRQ i on IOAPIC pin i (KVM's default
 * routing), ExtINT and NMI on the local APIC.  With it Linux routes the
 * timer and devices through the IOAPIC, the path Firecracker's guests
 * take, instead of the PIC's virtual wire.
 */
#define GPA_MP       0x9fc00u
#define MP_IRQS      16u

static uint8_t mp_sum(const uint8_t *p, size_t n)
{
	uint8_t c = 0;

	while (n--)
		c = (uint8_t)(c + *p++);
	return (uint8_t)(0 - c);
}

static void mp_table(struct kvm_shell *s)
{
	uint8_t *b = s->vm.mem + GPA_MP, *t = b + 16, *e;
	uint16_t len, count = 0;

	memset(b, 0, 1024);
	memcpy(b, "_MP_", 4);                        /* floating pointer */
	put_le32(b + 4, GPA_MP + 16);
	b[8] = 1;                                    /* 16 bytes */
	b[9] = 4;                                    /* spec 1.4 */
	memcpy(t, "PCMP", 4);                        /* configuration table */
	t[6] = 4;
	memcpy(t + 8, "LIGHTVM ", 8);
	memcpy(t + 16, "KVM SHELL   ", 12);
	put_le32(t + 36, 0xfee00000u);
	e = t + 44;
	e[0] = 0; e[1] = 0; e[2] = 0x14; e[3] = 3;   /* processor: enabled, BSP */
	put_le32(e + 4, 0x600); put_le32(e + 8, 0x201);
	e += 20; count++;
	e[0] = 1; e[1] = 0; memcpy(e + 2, "ISA   ", 6);  /* bus 0 */
	e += 8; count++;
	e[0] = 2; e[1] = 1; e[2] = 0x11; e[3] = 1;   /* IOAPIC 1, enabled */
	put_le32(e + 4, 0xfec00000u);
	e += 8; count++;
	for (unsigned i = 0; i < MP_IRQS; i++, e += 8, count++) {
		e[0] = 3; e[1] = 0; e[4] = 0; e[5] = (uint8_t)i; e[6] = 1; e[7] = (uint8_t)i;
	}
	e[0] = 4; e[1] = 3; e[4] = 0; e[5] = 0; e[6] = 0; e[7] = 0;      /* ExtINT -> LINT0 */
	e += 8; count++;
	e[0] = 4; e[1] = 1; e[4] = 0; e[5] = 0; e[6] = 0xff; e[7] = 1;   /* NMI -> LINT1 */
	e += 8; count++;
	len = (uint16_t)(e - t);
	memcpy(t + 4, &len, 2);
	memcpy(t + 34, &count, 2);
	t[7] = mp_sum(t, len);
	b[10] = mp_sum(b, 16);
}

static void start_info(struct kvm_shell *s, uint64_t rd_at, uint64_t rd_size)
{
	struct pvh_start_info si = {
		.magic = START_MAGIC, .version = 1, .nr_modules = rd_size ? 1 : 0,
		.modlist_paddr = GPA_MODLIST, .cmdline_paddr = GPA_CMDLINE,
		.memmap_paddr = GPA_MEMMAP, .memmap_entries = 4,
		.rsdp_paddr = kvm_acpi_tables(s->vm.mem, s->vm.mem_size),
	};
	struct pvh_mod m = { .paddr = rd_at, .size = rd_size };
	struct pvh_memmap mm[4] = {
		{ .addr = 0, .size = GPA_MP, .type = 1 },
		{ .addr = GPA_MP, .size = 0x400, .type = 2 },       /* the MP table */
		{ .addr = KVM_ACPI_GPA, .size = KVM_ACPI_SIZE, .type = 2 },   /* ACPI */
		{ .addr = KERNEL_MIN, .size = s->vm.mem_size - KERNEL_MIN, .type = 1 },
	};

	memcpy(s->vm.mem + GPA_START, &si, sizeof(si));
	memcpy(s->vm.mem + GPA_MODLIST, &m, sizeof(m));
	memcpy(s->vm.mem + GPA_MEMMAP, mm, sizeof(mm));
	mp_table(s);
}

static void seg32(struct kvm_segment *g, uint16_t sel, uint8_t type)
{
	*g = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
				   .present = 1, .db = 1, .s = 1, .g = 1 };
}

/* PVH entry state: 32-bit flat protected mode, paging off, ebx = start_info. */
static int entry_state(struct kvm_shell *s, uint64_t entry)
{
	struct kvm_sregs sr;
	struct kvm_regs r = { .rip = entry, .rbx = GPA_START, .rflags = 2 };
	uint64_t gdt[4] = { 0, 0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull };

	memcpy(s->vm.mem + GPA_GDT, gdt, sizeof(gdt));
	if (ioctl(s->vm.vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	seg32(&sr.cs, 0x10, 11);
	seg32(&sr.ds, 0x18, 3);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.tr = (struct kvm_segment){ .limit = 0x67, .selector = 0x20, .type = 11, .present = 1 };
	sr.ldt = (struct kvm_segment){ .type = 2, .present = 1, .unusable = 1 };
	sr.gdt.base = GPA_GDT;
	sr.gdt.limit = sizeof(gdt) - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = 0x11;      /* PE, ET */
	sr.cr3 = sr.cr4 = sr.cr8 = 0;
	sr.efer = 0;
	sr.apic_base = APIC_BASE_BSP;
	/* an interrupt queued for the last boot must not reach this one */
	memset(sr.interrupt_bitmap, 0, sizeof(sr.interrupt_bitmap));
	if (ioctl(s->vm.vcpu_fd, KVM_SET_SREGS, &sr) < 0 ||
	    ioctl(s->vm.vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

int kvm_linux_load(struct kvm_shell *s, char *err, size_t errlen)
{
	uint64_t entry, top, rd_at, rd_size;
	int rc;

	if (s->vm.mem_size < (32u << 20)) {
		snprintf(err, errlen, "a Linux guest needs at least 32 MiB of memory (it has %llu MiB)",
			 (unsigned long long)(s->vm.mem_size >> 20));
		return -EINVAL;
	}
	rc = kernel_load(s, s->vm.mem_size, &entry, &top, err, errlen);
	if (!rc)
		rc = initrd_load(s, top, &rd_at, &rd_size, err, errlen);
	if (rc)
		return rc;
	cmdline_build(s);
	start_info(s, rd_at, rd_size);
	rc = entry_state(s, entry);
	if (rc)
		snprintf(err, errlen, "setting the vCPU's entry state: %s", strerror(-rc));
	return rc;
}

/* ---- reboot */

static void reset_devices(struct kvm_shell *s)
{
	struct linux_reset *r = s->lx.reset_state;
	/* first the APIC back to xAPIC mode (the kernel may have turned on
	 * x2APIC), then the TSC deadline, kvmclock, async PF, steal time, PV
	 * EOI (guest pages KVM would go on writing into the next boot's
	 * memory); one at a time: KVM_SET_MSRS stops at the first it lacks */
	static const struct { uint32_t idx; uint64_t val; } msrs[] = {
		{ 0x1b, APIC_BASE_BSP }, { 0x6e0, 0 }, { 0x11, 0 }, { 0x12, 0 },
		{ 0x4b564d00, 0 }, { 0x4b564d01, 0 }, { 0x4b564d02, 0 }, { 0x4b564d03, 0 },
		{ 0x4b564d04, 0 },
	};
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_vcpu_events ev;

	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e;
		} m = { .h.nmsrs = 1, .e.index = msrs[i].idx, .e.data = msrs[i].val };

		ioctl(s->vm.vcpu_fd, KVM_SET_MSRS, &m);   /* best effort */
	}
	/* a vCPU stopped in HLT stays halted, and an interrupt or exception
	 * it had pending would hit the new kernel */
	memset(&ev, 0, sizeof(ev));
	if (ioctl(s->vm.vcpu_fd, KVM_SET_MP_STATE, &mp) < 0 ||
	    ioctl(s->vm.vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		kvm_shell_crash(s, "reboot: resetting the vCPU: %s", strerror(errno));
	if (!r)
		return;
	if (ioctl(s->vm.vcpu_fd, KVM_SET_LAPIC, &r->lapic) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_SET_IRQCHIP, &r->chip[0]) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_SET_IRQCHIP, &r->chip[1]) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_SET_IRQCHIP, &r->chip[2]) < 0 ||
	    ioctl(s->vm.vm_fd, KVM_SET_PIT2, &r->pit) < 0)
		kvm_shell_crash(s, "reboot: restoring the interrupt controllers: %s", strerror(errno));
	/* the PIT waits for the last boot's tick to be acknowledged before
	 * the next (reinject mode): switching reinjection off and on again
	 * forgets it */
	{
		struct kvm_reinject_control rc0 = { .pit_reinject = 0 }, rc1 = { .pit_reinject = 1 };

		ioctl(s->vm.vm_fd, KVM_REINJECT_CONTROL, &rc0);
		ioctl(s->vm.vm_fd, KVM_REINJECT_CONTROL, &rc1);
	}
}

void kvm_linux_reboot(struct kvm_shell *s, const char *why)
{
	char err[KVM_MSG_TEXT - 32];
	int64_t now = kvm_now(CLOCK_MONOTONIC);
	struct kvm_run *run = s->vm.run;

	if (now - s->lx.reboot_window > 10ll * 1000000000ll) {
		s->lx.reboot_window = now;
		s->lx.reboots = 0;
	}
	if (++s->lx.reboots > KVM_LINUX_REBOOTS)
		kvm_shell_crash(s, "reboot loop: %u reboots within 10 s (last: %s)", s->lx.reboots, why);
	kvm_uart_flush(s);
	{
		char note[96];
		int k = snprintf(note, sizeof(note), "[lightvm: reboot (%s)]\n", why);

		kvm_shell_log_write(s, note, (uint32_t)k);
	}
	/* complete a pending port access before the registers change */
	if (run->exit_reason == KVM_EXIT_IO) {
		run->immediate_exit = 1;
		ioctl(s->vm.vcpu_fd, KVM_RUN, 0);
		run->immediate_exit = 0;
	}
	if (madvise(s->vm.mem, s->vm.mem_size, MADV_REMOVE) < 0)
		memset(s->vm.mem, 0, s->vm.mem_size);
	reset_devices(s);
	kvm_uart_reset(s);
	kvm_acpi_reset(&s->lx.acpi);
	s->lx.off_deadline = 0;
	if (kvm_linux_load(s, err, sizeof(err)))
		kvm_shell_crash(s, "reboot failed: %s", err);
	s->lx.entered = s->lx.init_seen = false;
	kvm_vnet_reboot(s);
	/* the new boot must reach its ready line too */
	if (s->boot_timeout_ms)
		s->boot_deadline = kvm_now(CLOCK_MONOTONIC) + (int64_t)s->boot_timeout_ms * 1000000ll;
}

/* ---- exits */

uint64_t kvm_linux_rip(struct kvm_shell *s)
{
	struct kvm_regs r;

	return ioctl(s->vm.vcpu_fd, KVM_GET_REGS, &r) < 0 ? 0 : r.rip;
}

static uint8_t bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }

/* The MC146818 clock Linux reads once at boot: UTC, BCD, 24 h. */
static uint8_t cmos_read(struct kvm_shell *s)
{
	time_t t = (time_t)(kvm_now(CLOCK_REALTIME) / 1000000000ll);
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (s->lx.cmos_idx & 0x7f) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd(19 + tm.tm_year / 100);
	case 0x0a: return 0x26;   /* no update in progress */
	case 0x0b: return 0x02;   /* 24 h, BCD */
	case 0x0d: return 0x80;   /* battery good */
	default:   return 0;
	}
}

/* One byte (or word, dword) of port I/O; true if the guest was reset. */
static bool port_io(struct kvm_shell *s, uint16_t port, bool out, uint8_t *d, unsigned size)
{
	if (port >= 0x3f8 && port <= 0x3ff && size == 1) {
		kvm_uart_io(s, (uint16_t)(port - 0x3f8), out, d);
		return false;
	}
	if (port == 0x64 && out && size == 1 && *d == 0xfe) {
		kvm_linux_reboot(s, "keyboard controller reset");
		return true;
	}
	switch (kvm_acpi_io(&s->lx.acpi, port, out, d, size, kvm_now(CLOCK_MONOTONIC))) {
	case KVM_ACPI_DONE:
		return false;
	case KVM_ACPI_DO_RESET:
		kvm_linux_reboot(s, "ACPI reset register");
		return true;
	case KVM_ACPI_DO_POWEROFF:
		kvm_uart_flush(s);
		kvm_shell_exit(s, KVM_XK_POWEROFF, 0, "guest powered off (ACPI S5)");
	case KVM_ACPI_NOT_MINE:
		break;
	}
	if (port == 0x70 && out && size == 1) {
		s->lx.cmos_idx = *d;
		return false;
	}
	if (port == 0x71 && !out && size == 1) {
		*d = cmos_read(s);
		return false;
	}
	/* everything else Linux probes (PCI, other UARTs, the i8042, ...):
	 * absent, all ones */
	s->lx.io_unknown++;
	if (!out)
		memset(d, 0xff, size);
	return false;
}

static void linux_io(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;
	unsigned size = run->io.size;
	uint64_t len = (uint64_t)size * run->io.count;
	uint8_t *d = (uint8_t *)run + run->io.data_offset;

	/* KVM wrote these; still, never step outside kvm_run */
	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset > s->vm.run_size ||
	    len > s->vm.run_size - run->io.data_offset)
		kvm_shell_crash(s, "bad port I/O exit (port 0x%x, size %u, count %u)",
				run->io.port, size, run->io.count);
	for (uint32_t i = 0; i < run->io.count; i++, d += size)
		if (port_io(s, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, d, size))
			return;
}

static void linux_mmio(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;
	uint64_t a = run->mmio.phys_addr;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);

	if (s->lx.vnet.present && a >= KVM_VNET_GPA && a - KVM_VNET_GPA < KVM_VNET_SIZE &&
	    len <= KVM_VNET_SIZE - (a - KVM_VNET_GPA)) {
		kvm_vnet_mmio(s, a - KVM_VNET_GPA, run->mmio.is_write, run->mmio.data, len);
		return;
	}
	s->lx.mmio_unknown++;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
}

void kvm_linux_exit(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;

	if (!s->lx.entered && !s->t[KVM_T_KERNEL]) {   /* the first boot's */
		s->t[KVM_T_KERNEL] = kvm_now(CLOCK_MONOTONIC);
		kvm_shell_send(s, KVM_MSG_PHASE);
	}
	s->lx.entered = true;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		linux_io(s);
		return;
	case KVM_EXIT_MMIO:
		linux_mmio(s);
		return;
	case KVM_EXIT_SHUTDOWN:
		kvm_linux_reboot(s, "triple fault");
		return;
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_shell_crash(s, "KVM internal error (suberror %u)", run->internal.suberror);
	case KVM_EXIT_FAIL_ENTRY:
		kvm_shell_crash(s, "vCPU entry failed (hardware reason 0x%llx)",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_HLT:
		kvm_shell_crash(s, "Linux guest halted with no interrupt controller");
	default:
		kvm_shell_crash(s, "unexpected KVM exit %u", run->exit_reason);
	}
}
