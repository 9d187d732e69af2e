/*
 * linux.h - private to the shell process: Linux guests on KVM.  A shell
 * prepared for Linux (kvm_shell_args.linux) has an in-kernel IRQ chip
 * (PIC, IOAPIC, LAPIC) and PIT, and the host's supported CPUID; EXEC then
 * loads a kernel through its PVH entry (the Xen ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH) with an initramfs and a command
 * line (linux_boot.c), and the guest talks to an 8250 UART on 0x3f8
 * (uart.c) whose output goes to the same console log as a unikernel's.
 *
 * Power: ACPI tables (acpi.c): a kernel with CONFIG_ACPI powers off by
 * writing SLP_EN with the \_S5 type to PM1a control and resets through
 * the FADT's reset register.  For a kernel without ACPI (Tinyx) the shell
 * reads the kernel's own words on its console: "reboot: Power down" or
 * "reboot: System halted" ends the VM powered off; once the guest has
 * touched the PM1 block, "Power down" only starts a 5 s wait for the S5
 * write (the kernel prints the line first).  "Kernel panic - not
 * syncing" ends it crashed, and a reset (the FADT's reset register, the
 * i8042 pulse, or a triple fault) reboots it in place.  Only kernel
 * lines (printk.time=1 prefixes them with "[ seconds]") count.  A guest
 * can fake them, and ends only itself.
 */
#ifndef KVM_LINUX_H
#define KVM_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/acpi.h"

struct kvm_shell;

#define KVM_LINUX_CMDLINE_USER 1024u   /* from EXEC (lv_spawn's cmdline) */
#define KVM_LINUX_CMDLINE_MAX  2048u   /* Linux/x86's COMMAND_LINE_SIZE */
#define KVM_UART_RX            1024u   /* console input queued for the guest */
#define KVM_UART_LINE          256u    /* a console line, for the markers */
#define KVM_UART_OUT           4096u   /* output batched before the log */
#define KVM_UART_FLUSH_NS      (20ll * 1000000)  /* a prompt reaches the log */
#define KVM_LINUX_REBOOTS      10u     /* more within 10 s: crashed */
#define KVM_LINUX_OFF_WAIT_NS  (5ll * 1000000000)  /* "Power down" to the S5 write */

struct kvm_uart {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri;                /* THR-empty interrupt pending */
	bool irq;                 /* the level last put on IRQ 4 */
	uint8_t rx[KVM_UART_RX];
	uint32_t rx_head, rx_tail;  /* free-running */
	char line[KVM_UART_LINE];
	uint32_t line_len;
	bool line_long;           /* the line overflowed: not a marker */
	char out[KVM_UART_OUT];
	uint32_t out_len;
	int64_t out_since;        /* monotonic ns of the oldest unflushed byte */
};

/* virtio-net over MMIO (virtio_net.c) */
#define KVM_VNET_GPA    0xd0000000ull  /* above any guest's memory */
#define KVM_VNET_SIZE   0x1000u
#define KVM_VNET_IRQ    5u
#define KVM_VQ_MAX      256u           /* queue size offered */
#define KVM_VQ_MAX_SEGS 64u            /* longest chain taken */

struct kvm_vq {
	uint32_t num;             /* queue size the driver chose */
	bool ready;
	uint64_t desc, avail, used;  /* guest-physical */
	uint16_t last_avail;      /* next avail entry to take */
	uint16_t used_idx;        /* ours; the guest's copy is only written */
};
struct kvm_vq_seg { uint64_t gpa; uint32_t len; };

struct kvm_vnet {
	bool present;             /* the VM has a tap */
	uint8_t mac[6];
	uint32_t ipv4, netmask, gateway;   /* for the command line */
	uint32_t status, dev_feat_sel, drv_feat_sel, queue_sel, isr;
	uint64_t drv_features;
	bool irq_level;
	struct kvm_vq q[2];       /* 0: rx, 1: tx */
};

struct kvm_linux {
	struct kvm_uart uart;
	struct kvm_vnet vnet;
	int initrd_fd;            /* -1: none */
	char user_cmdline[KVM_LINUX_CMDLINE_USER + 1];
	char marker[64];          /* lv.ready=...: the ready line; "": any line */
	bool entered;             /* first exit seen */
	bool init_seen;           /* a line that is not the kernel's */
	uint8_t cmos_idx;
	struct kvm_acpi acpi;     /* its PM registers (acpi.c) */
	int64_t off_deadline;     /* "Power down" said with ACPI in use: the S5
				   * write is due by then (monotonic ns; 0: none) */
	uint32_t reboots;
	int64_t reboot_window;
	uint64_t io_unknown, mmio_unknown;
	void *reset_state;        /* vCPU/irqchip state at prepare, for reboots */
};

/* vmsetup.c, for a Linux shell: IRQ chip, PIT, TSS address (before the
 * vCPU exists) and CPUID (after). */
int kvm_linux_vm_pre(int vm_fd, char *err, size_t errlen);
int kvm_linux_vcpu_post(int kvm_fd, int vcpu_fd, char *err, size_t errlen);

/* linux_boot.c */
/* Save the freshly created VM's device state (prepare, before the jail). */
int kvm_linux_save_reset(struct kvm_shell *s);
/* Load kernel, initramfs, boot information; set the PVH entry state.
 * Also used at every reboot (memory is cleared first). */
int kvm_linux_load(struct kvm_shell *s, char *err, size_t errlen);
/* Handle one KVM exit of a Linux guest. */
void kvm_linux_exit(struct kvm_shell *s);
/* The vCPU's rip, for a report (0 if unreadable). */
uint64_t kvm_linux_rip(struct kvm_shell *s);
/* A reset (i8042 pulse, triple fault, lvsh reboot): boot again. */
void kvm_linux_reboot(struct kvm_shell *s, const char *why);

/* virtio_net.c */
struct kvm_msg;
/* EXEC: adopt tap_fd (or -1), SIGIO on its frames. */
void kvm_vnet_setup(struct kvm_shell *s, int tap_fd, const struct kvm_msg *m);
/* An MMIO access in the device's window (off from KVM_VNET_GPA). */
void kvm_vnet_mmio(struct kvm_shell *s, uint64_t off, bool write, uint8_t *data, uint32_t len);
/* Frames waiting on the tap into the guest's rx buffers. */
void kvm_vnet_rx(struct kvm_shell *s);
/* A reboot: the device back to its reset state. */
void kvm_vnet_reboot(struct kvm_shell *s);

/* uart.c */
void kvm_uart_io(struct kvm_shell *s, uint16_t off, bool out, uint8_t *val);
/* Console input (KVM_MSG_CONSOLE_IN): queued, IRQ 4 raised. */
void kvm_uart_input(struct kvm_shell *s, const void *buf, size_t len);
/* Write the batched output to the log (and scan complete lines). */
void kvm_uart_flush(struct kvm_shell *s);
/* Raise or lower IRQ 4 to match the UART's state. */
void kvm_uart_update_irq(struct kvm_shell *s);
void kvm_uart_reset(struct kvm_shell *s);

#endif
