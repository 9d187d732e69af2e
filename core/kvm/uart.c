/*
 * uart.c - the 8250/16550A UART of a Linux guest on port 0x3f8, IRQ 4.
 * Output is batched and written to the VM's console log (the one `lvsh
 * log` and `lvsh console` read), at a newline, when the batch is full, or
 * KVM_UART_FLUSH_NS after its first byte (so a prompt shows).  Input comes
 * from KVM_MSG_CONSOLE_IN into a queue the guest reads through RBR.
 * Complete lines are scanned for what the shell acts on (linux.h): the
 * first line of the init (init started, ready unless a marker is set),
 * the ready marker, the kernel's power-off and panic lines.
 * The guest only ever hands this file one byte at a time (an 8-bit port
 * access), so there is nothing to validate but the register offset.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/shell_int.h"
#include "kvm/linux.h"

#define UART_IRQ 4

#define IER_RDI  0x01
#define IER_THRI 0x02
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_FIFO 0xc0
#define FCR_FIFO 0x01

static struct kvm_uart *U(struct kvm_shell *s) { return &s->lx.uart; }

void kvm_uart_reset(struct kvm_shell *s)
{
	struct kvm_uart *u = U(s);

	kvm_uart_flush(s);
	u->ier = u->lcr = u->mcr = u->scr = u->dll = u->dlm = u->fcr = 0;
	u->thri = false;
	u->rx_head = u->rx_tail = 0;
	u->line_len = 0;
	u->line_long = false;
	kvm_uart_update_irq(s);
}

void kvm_uart_update_irq(struct kvm_shell *s)
{
	struct kvm_uart *u = U(s);
	bool lvl = ((u->ier & IER_RDI) && u->rx_head != u->rx_tail) ||
		   ((u->ier & IER_THRI) && u->thri);
	struct kvm_irq_level il = { .irq = UART_IRQ, .level = lvl };

	if (lvl == u->irq)
		return;
	u->irq = lvl;
	if (ioctl(s->vm.vm_fd, KVM_IRQ_LINE, &il) < 0)
		kvm_shell_crash(s, "uart: KVM_IRQ_LINE: %s", strerror(errno));
}

/* "[    1.234567] " at the start: a kernel line (printk.time=1). */
static const char *kernel_text(const char *l)
{
	const char *p = l;

	if (*p++ != '[')
		return NULL;
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return NULL;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	if (*p++ != ']')
		return NULL;
	return *p == ' ' ? p + 1 : p;
}

static void ready(struct kvm_shell *s)
{
	s->boot_deadline = 0;      /* also after a reboot (kvm_linux_reboot) */
	if (s->ready_sent)
		return;
	s->ready_sent = true;
	s->boot_deadline = 0;
	s->t[KVM_T_READY] = kvm_now(CLOCK_MONOTONIC);
	kvm_shell_send(s, KVM_MSG_READY);
}

/* Init started (the first boot's): noted once. */
static void init_started(struct kvm_shell *s)
{
	s->lx.init_seen = true;
	if (s->t[KVM_T_INIT])
		return;
	s->t[KVM_T_INIT] = kvm_now(CLOCK_MONOTONIC);
	kvm_shell_send(s, KVM_MSG_PHASE);
}

/* The kernel's "Run /init as init process" (KERN_INFO: quiet hides it). */
static bool run_init_line(const char *k)
{
	const char *as = strstr(k, " as init process");

	return strncmp(k, "Run /", 5) == 0 && as && !as[16];
}

static void line_done(struct kvm_shell *s)
{
	struct kvm_uart *u = U(s);
	const char *k;

	u->line[u->line_len] = 0;
	if (u->line_len && u->line[u->line_len - 1] == '\r')
		u->line[u->line_len - 1] = 0;
	k = kernel_text(u->line);
	if (k) {
		/* without ACPI, Linux turns a power-off into a halt; with it,
		 * it says "Power down" before writing S5 (acpi.c) */
		if (strncmp(k, "reboot: Power down", 18) == 0 && s->lx.acpi.used) {
			if (!s->lx.off_deadline)
				s->lx.off_deadline = kvm_now(CLOCK_MONOTONIC) + KVM_LINUX_OFF_WAIT_NS;
		} else if (strncmp(k, "reboot: Power down", 18) == 0 ||
			   strncmp(k, "reboot: System halted", 21) == 0) {
			kvm_uart_flush(s);
			kvm_shell_exit(s, KVM_XK_POWEROFF, 0, "guest powered off (Linux console line, no ACPI)");
		}
		if (strncmp(k, "Kernel panic - not syncing", 26) == 0) {
			kvm_uart_flush(s);
			kvm_shell_crash(s, "Linux: %.150s", k);
		}
		if (!s->lx.init_seen && run_init_line(k))
			init_started(s);
	} else if (u->line[0] && !u->line_long) {
		if (!s->lx.init_seen)
			init_started(s);
		if (!s->lx.marker[0] || strstr(u->line, s->lx.marker))
			ready(s);
	}
	u->line_len = 0;
	u->line_long = false;
}

static void out_byte(struct kvm_shell *s, uint8_t c)
{
	struct kvm_uart *u = U(s);

	if (!u->out_len)
		u->out_since = kvm_now(CLOCK_MONOTONIC);
	if (c == '\n' && u->out_len && u->out[u->out_len - 1] == '\r')
		u->out_len--;      /* the tty's CR LF: a plain LF in the log */
	u->out[u->out_len++] = (char)c;
	if (c == '\n') {
		line_done(s);
	} else if (u->line_len < KVM_UART_LINE - 1) {
		u->line[u->line_len++] = (char)c;
	} else {
		u->line_long = true;
	}
	if (u->out_len == KVM_UART_OUT || c == '\n')
		kvm_uart_flush(s);
}

void kvm_uart_flush(struct kvm_shell *s)
{
	struct kvm_uart *u = U(s);

	if (!u->out_len)
		return;
	kvm_shell_log_write(s, u->out, u->out_len);
	u->out_len = 0;
	u->out_since = 0;
	__atomic_store_n(&s->stats->console_bytes, s->log_bytes + s->log_dropped, __ATOMIC_RELAXED);
}

void kvm_uart_input(struct kvm_shell *s, const void *buf, size_t len)
{
	struct kvm_uart *u = U(s);
	const uint8_t *b = buf;

	for (size_t i = 0; i < len && u->rx_head - u->rx_tail < KVM_UART_RX; i++)
		u->rx[u->rx_head++ % KVM_UART_RX] = b[i];
	kvm_uart_update_irq(s);
}

static uint8_t msr(const struct kvm_uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return 0xb0;   /* DCD, DSR, CTS */
	return (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
			 ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4));
}

static uint8_t uart_read(struct kvm_shell *s, uint16_t off)
{
	struct kvm_uart *u = U(s);
	uint8_t v = 0;

	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (u->rx_head != u->rx_tail)
			v = u->rx[u->rx_tail++ % KVM_UART_RX];
		break;
	case 1:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case 2:
		v = (u->fcr & FCR_FIFO) ? IIR_FIFO : 0;
		if ((u->ier & IER_RDI) && u->rx_head != u->rx_tail) {
			v |= IIR_RDI;
		} else if ((u->ier & IER_THRI) && u->thri) {
			v |= IIR_THRI;
			u->thri = false;   /* reading IIR clears it */
		} else {
			v |= IIR_NONE;
		}
		break;
	case 3:
		return u->lcr;
	case 4:
		return u->mcr;
	case 5:
		return LSR_THRE | LSR_TEMT | (u->rx_head != u->rx_tail ? LSR_DR : 0);
	case 6:
		return msr(u);
	default:
		return u->scr;
	}
	kvm_uart_update_irq(s);
	return v;
}

static void uart_write(struct kvm_shell *s, uint16_t off, uint8_t v)
{
	struct kvm_uart *u = U(s);

	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			return;
		}
		if (!(u->mcr & MCR_LOOP))
			out_byte(s, v);
		else if (u->rx_head - u->rx_tail < KVM_UART_RX)
			u->rx[u->rx_head++ % KVM_UART_RX] = v;
		u->thri = true;   /* sent at once: THR empty again */
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			return;
		}
		if (!(u->ier & IER_THRI) && (v & IER_THRI))
			u->thri = true;
		u->ier = v & 0x0f;
		break;
	case 2:
		u->fcr = v;
		if (v & 0x02)      /* clear the receive FIFO */
			u->rx_tail = u->rx_head;
		break;
	case 3:
		u->lcr = v;
		return;
	case 4:
		u->mcr = v & 0x1f;
		return;
	case 7:
		u->scr = v;
		return;
	default:
		return;            /* LSR, MSR: read-only */
	}
	kvm_uart_update_irq(s);
}

void kvm_uart_io(struct kvm_shell *s, uint16_t off, bool out, uint8_t *val)
{
	if (out)
		uart_write(s, off, *val);
	else
		*val = uart_read(s, off);
}
