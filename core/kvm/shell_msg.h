/*
 * shell_msg.h - messages between the KVM driver (in lightvmd) and one
 * shell process (one VM).  Private to core/kvm.  The channel is a
 * SOCK_SEQPACKET socketpair, so one send is one message; every message is
 * exactly one struct kvm_msg.  File descriptors ride along as SCM_RIGHTS.
 *
 * Life of a shell:
 *   factory forks -> shell prepares the VM (KVM VM, memory, vCPU, page
 *   tables, GDT/TSS/IDT, device page skeleton) -> sends PREPARED (or EXIT
 *   with kind ERROR) -> waits for EXEC -> loads the image, finishes the
 *   device page, starts the vCPU -> STARTED -> guest calls LV_HC_READY ->
 *   READY -> ... -> EXIT (always the last message; then the shell exits).
 * If the control channel reaches EOF (agent gone) the shell keeps running
 * its guest (a paused guest stays paused).  A shell with a guest listens
 * on SOCKDIR/PID.sock (bound as root before privileges are dropped, so
 * only root can connect): a new agent connects there, the shell answers
 * with HELLO and the new channel replaces the old one (the newest wins).
 *
 * Stats: the shell creates one memfd page (struct kvm_stats_page), sends
 * it with PREPARED and HELLO, and updates it as it works; the agent maps
 * it read-only and reads it without a syscall.
 */
#ifndef KVM_SHELL_MSG_H
#define KVM_SHELL_MSG_H

#include <stdbool.h>
#include <stdint.h>

enum kvm_msg_type {
	/* agent -> shell */
	KVM_MSG_EXEC     = 1,  /* fds: image (O_RDONLY), console log (append),
				* [tap (O_NONBLOCK): the VM has a NIC, net_* set],
				* [ramdisk: boot has KVM_BOOT_INITRD]; with
				* cmdline_len > 0 one more packet follows: the
				* command line (cmdline_len bytes, no NUL) */
	KVM_MSG_PAUSE    = 2,
	KVM_MSG_UNPAUSE  = 3,
	KVM_MSG_POWEROFF = 4,  /* ask the guest (sysctl host_req) */
	KVM_MSG_REBOOT   = 5,  /* ask the guest (sysctl host_req) */
	KVM_MSG_DESTROY  = 6,  /* stop now; EXIT kind DESTROYED follows */
	KVM_MSG_CONSOLE_IN = 7, /* console input: code bytes (<= KVM_MSG_TEXT) in
				 * text, for the ring's in side; wakes an idle
				 * guest with LV_WAKE_CONSOLE */
	KVM_MSG_EXIT_ACK = 8,  /* the EXIT was heard: the shell may go (else,
				* on EOF, it waits for the next agent) */
	KVM_MSG_SAVE     = 9,  /* fd: a memfd for struct kvm_snap_state
				* (snapshot.h); the shell holds the guest and
				* answers SAVED, then waits for UNPAUSE
				* (the guest runs on) or DESTROY */
	KVM_MSG_PRELOAD  = 10, /* to a pooled unikernel shell: fd: an image
				* (O_RDONLY), code = a token > 0.  The shell
				* loads it into guest memory now, replacing
				* an earlier preload, and answers PRELOADED.
				* An EXEC with KVM_EXEC_PRELOADED and that
				* token in code brings no image fd; any other
				* EXEC zeroes the preloaded image first */
	/* shell -> agent */
	KVM_MSG_PREPARED = 32, /* t[KVM_T_PREPARED] */
	KVM_MSG_STARTED  = 33, /* t[KVM_T_CLAIMED .. KVM_T_STARTED]; a
				* unikernel's is sent at the guest's first
				* exit, and not at all if that exit says
				* ready: its READY then stands for both */
	KVM_MSG_READY    = 34, /* t[KVM_T_READY] (and STARTED's, above) */
	KVM_MSG_PAUSED   = 35,
	KVM_MSG_UNPAUSED = 36,
	KVM_MSG_EXIT     = 37, /* kind in code_kind, code, text = reason */
	KVM_MSG_HELLO    = 38, /* on a re-attached channel: name, id, t[],
				* kind = enum kvm_hello_state, code = guest
				* memory bytes; fd: stats page */
	KVM_MSG_SAVED    = 39, /* code 0: the state is in the SAVE memfd and
				* the guest is held; or -errno, text = why */
	KVM_MSG_PHASE    = 40, /* a Linux boot reached t[KVM_T_KERNEL] and/or
				* t[KVM_T_INIT] (0: not yet); first boot only */
	KVM_MSG_PRELOADED = 41, /* code = PRELOAD's token; kind 0: the image
				 * is in; or an errno, text = why: nothing is */
};

/* EXEC's kind: the image fd is a snapshot (snapshot.h) to map, not an ELF */
#define KVM_EXEC_SNAPSHOT 1u
#define KVM_EXEC_HOLD     2u   /* with SNAPSHOT: PAUSED once loaded, until UNPAUSE */
#define KVM_EXEC_COPY     4u   /* with SNAPSHOT: copy its pages in, do not map the file */
#define KVM_EXEC_PRELOADED 8u  /* the image PRELOAD (token in code) put in: no image
				* fd; or the image too (PRELOADED not heard
				* yet), which the shell loads if that PRELOAD failed */

enum kvm_hello_state {
	KVM_HS_PREPARED = 0,   /* no guest yet */
	KVM_HS_BOOTING  = 1,
	KVM_HS_RUNNING  = 2,   /* READY seen */
	KVM_HS_PAUSED   = 3,   /* | KVM_HS_READY_BIT if READY was seen */
	KVM_HS_EXITED   = 4,   /* the guest ended while no agent was there:
				* the EXIT follows, then EOF */
};
#define KVM_HS_READY_BIT 0x100u

/* The shell's stats page (one memfd page, shared).  Written only by the
 * shell under a sequence count (odd while writing); the agent retries
 * a read that saw an odd or changed count. */
#define KVM_STATS_MAGIC 0x5453564cu   /* "LVST" */
struct kvm_stats_page {
	uint32_t magic;
	uint32_t version;        /* 1 */
	uint32_t seq;            /* sequence count */
	uint32_t idle;           /* 1 while the vCPU is idle or paused */
	uint64_t cpu_ns;         /* process CPU time at the last update */
	int64_t  busy_since;     /* CLOCK_MONOTONIC ns the vCPU last left idle */
	uint64_t rss_bytes;      /* resident memory of the shell process */
	uint64_t console_bytes;  /* console bytes from the guest (incl. dropped) */
	uint64_t hcalls;         /* hypercalls served */
	uint64_t net_rx_packets, net_rx_bytes, net_tx_packets, net_tx_bytes;
	uint64_t net_tx_drops;   /* frames the NIC did not send (policed, tap full) */
	uint32_t flags;          /* KVM_STATS_*, set once before the guest runs */
	uint32_t pad;
};
/* The guest halts inside KVM_RUN (a Linux guest: the interrupt controller
 * is in the kernel), so the shell never says idle and busy_since tells
 * nothing about its CPU: the agent asks the kernel instead. */
#define KVM_STATS_HALTS_IN_RUN 0x1u

/* Flight-recorder slots, CLOCK_MONOTONIC ns (0 = not reached). */
enum kvm_msg_time {
	KVM_T_PREPARED = 0, /* shell had VM, memory, vCPU, tables */
	KVM_T_CLAIMED  = 1, /* EXEC received */
	KVM_T_LOADED   = 2, /* image copied into guest memory */
	KVM_T_DEVICES  = 3, /* device page finished */
	KVM_T_STARTED  = 4, /* just before the first KVM_RUN */
	KVM_T_READY    = 5, /* guest called LV_HC_READY */
	KVM_T_KERNEL   = 6, /* Linux: the vCPU's first exit to the shell */
	KVM_T_INIT     = 7, /* Linux: "Run /init as init process", or the
			     * first console line that is not the kernel's */
	KVM_T_NR       = 8
};

enum kvm_exit_kind {
	KVM_XK_POWEROFF  = 1, /* guest powered off: code = its exit code */
	KVM_XK_CRASH     = 2, /* guest crashed: text says why */
	KVM_XK_ERROR     = 3, /* shell could not prepare/start: code = -errno */
	KVM_XK_DESTROYED = 4, /* KVM_MSG_DESTROY honoured */
};

#define KVM_MSG_NAME 64
#define KVM_MSG_TEXT 192

struct kvm_msg {
	uint32_t type;          /* enum kvm_msg_type */
	uint32_t kind;          /* EXIT: enum kvm_exit_kind; EXEC: KVM_EXEC_*;
				 * PRELOADED: 0 or an errno */
	int64_t  code;          /* EXIT: exit code or -errno; PRELOAD, PRELOADED,
				 * EXEC with KVM_EXEC_PRELOADED: the token */
	int64_t  t[KVM_T_NR];   /* see enum kvm_msg_time */
	uint64_t wall_ns;       /* EXEC: host wall clock for the guest;
				 * EXIT: CLOCK_MONOTONIC ns the guest ended */
	uint32_t id;            /* EXEC: VM id */
	uint32_t boot_timeout_ms; /* EXEC: crash if not READY by then (0: none) */
	uint32_t watchdog_s;    /* EXEC: crash after this many seconds without a
				 * hypercall (0: never; a busy guest runs on) */
	char     name[KVM_MSG_NAME]; /* EXEC: VM name, NUL terminated */
	char     text[KVM_MSG_TEXT]; /* EXIT: reason, NUL terminated */
	uint8_t  net_mac[6];    /* EXEC with a tap: the NIC (lightvm_abi.h) */
	uint16_t net_mtu;
	uint32_t net_ipv4, net_netmask, net_gateway; /* network byte order */
	uint32_t boot;          /* EXEC: KVM_BOOT_* */
	uint32_t cmdline_len;   /* EXEC: <= KVM_MSG_CMDLINE_MAX */
};

/* EXEC's boot: a Linux kernel (PVH entry; the shell must have been
 * prepared with kvm_shell_args.linux), with a ramdisk fd. */
#define KVM_BOOT_LINUX  0x1u
#define KVM_BOOT_INITRD 0x2u
#define KVM_MSG_CMDLINE_MAX 1024u

/* What the factory hands a new shell. */
struct kvm_shell_args {
	int      kvm_fd;        /* open /dev/kvm, inherited */
	int      ctl_fd;        /* our end of the socketpair */
	uint64_t mem_bytes;     /* LV_GUEST_MIN_MEM .. LV_GUEST_MAX_MEM, 2 MiB multiple */
	uint32_t vcpus;         /* 1 for now */
	bool     background;    /* pool refill: prepare at SCHED_IDLE */
	bool     linux_guest;         /* for a Linux guest: IRQ chip, PIT, CPUID */
	const char *sock_dir;   /* listen on SOCK_DIR/PID.sock (NULL: no) */
};

/* Entry point of a shell process (core/kvm/shell.c).  Never returns:
 * exits the process with 0 after sending EXIT. */
void kvm_shell_main(const struct kvm_shell_args *a) __attribute__((noreturn));

#endif
