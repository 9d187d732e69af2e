/*
 * acpi.h - the ACPI a Linux guest of a KVM shell sees (acpi.c): tables
 * built by the shell in guest memory (RSDP, XSDT, RSDT, FACS, FADT, MADT,
 * and a DSDT whose only object is \_S5) and the fixed registers the FADT
 * names, emulated on I/O ports: the PM1a event block (status, enable),
 * the PM1a control block (SLP_TYP, SLP_EN), the PM timer and the reset
 * register.  A kernel with CONFIG_ACPI powers off by writing SLP_EN with
 * the \_S5 sleep type to PM1a control, and resets through the reset
 * register; one without ACPI never reads the tables (the MP table and the
 * console-line rules in uart.c serve it).
 *
 * Pure functions over a memory buffer and a register state, so that the
 * unit tests can check the tables and every guest write without a VM.
 */
#ifndef KVM_ACPI_H
#define KVM_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define KVM_ACPI_GPA     0xe0000u   /* the tables, in a reserved range */
#define KVM_ACPI_SIZE    0x20000u   /* up to 1 MiB: reserved in the memory map */
#define KVM_ACPI_PM1_EVT 0x600u     /* status (2 bytes), enable (2 bytes) */
#define KVM_ACPI_PM1_CNT 0x604u     /* control (2 bytes) */
#define KVM_ACPI_PM_TMR  0x608u     /* 24-bit timer at 3.579545 MHz (4 bytes) */
#define KVM_ACPI_RESET   0xcf9u     /* the reset register (and Linux's reboot=pci port) */
#define KVM_ACPI_RESET_VALUE 0x06u
#define KVM_ACPI_S5_TYPE 5u         /* SLP_TYP of \_S5 in the DSDT */
#define KVM_ACPI_SCI     9u

/* PM1 control bits */
#define KVM_ACPI_SCI_EN  0x0001u
#define KVM_ACPI_SLP_EN  0x2000u
#define KVM_ACPI_SLP_TYP(v) (((v) >> 10) & 7u)

struct kvm_acpi {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	bool used;                  /* the guest touched the PM1 block */
	uint64_t bad_sleeps;        /* SLP_EN with a type not offered: ignored */
};

enum kvm_acpi_io {
	KVM_ACPI_NOT_MINE = 0,      /* not an ACPI port */
	KVM_ACPI_DONE,              /* served */
	KVM_ACPI_DO_RESET,          /* the reset register was written */
	KVM_ACPI_DO_POWEROFF,       /* SLP_EN with the S5 type */
};

/* Write the tables at KVM_ACPI_GPA of mem (mem_size bytes, at least
 * 1 MiB); returns the RSDP's guest-physical address (for
 * hvm_start_info.rsdp_paddr), 0 if memory is too small. */
uint64_t kvm_acpi_tables(uint8_t *mem, uint64_t mem_size);

/* One port access of size 1, 2 or 4 at port, data in d (filled on a
 * read); now_ns: CLOCK_MONOTONIC for the PM timer.  Every byte the guest
 * writes is taken on its own: reserved bits are dropped, status bits
 * are write-1-to-clear, a sleep type other than S5 is ignored. */
enum kvm_acpi_io kvm_acpi_io(struct kvm_acpi *a, uint16_t port, bool out, uint8_t *d,
			     unsigned size, int64_t now_ns);

/* A reboot: the registers back to their reset state. */
void kvm_acpi_reset(struct kvm_acpi *a);

#endif
