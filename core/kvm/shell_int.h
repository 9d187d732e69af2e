/*
 * shell_int.h - private to the shell process (shell.c, shell_run.c): the
 * state of one shell and the functions the two files share.
 */
#ifndef KVM_SHELL_INT_H
#define KVM_SHELL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "elf.h"
#include "lightvm_abi.h"
#include "kvm/shell_msg.h"
#include "kvm/vmsetup.h"
#include "kvm/shell_net.h"
#include "kvm/linux.h"

#define KVM_LOG_CAP       (1u << 20)             /* console log bytes per VM */
#define KVM_STACK_RESERVE (64u << 10)            /* top of memory kept for the stack */
#define KVM_LINGER_NS     (60ll * 1000000000ll)  /* an ended guest waits for an agent */

struct kvm_shell {
	struct kvm_vm vm;
	int ctl_fd;             /* control socket; -1 after EOF */
	int img_fd, log_fd;
	int64_t t[KVM_T_NR];    /* flight recorder */
	struct lv_elf_info elf;
	char name[LV_NAME_MAX];
	uint64_t wall_ns;
	uint32_t id;            /* VM id (EXEC) */
	int64_t boot_deadline;  /* monotonic ns, 0: none (READY seen or no timeout) */
	uint32_t boot_timeout_ms;
	int64_t spin_ns;        /* watchdog: no hypercall for this long crashes
				 * the guest; 0: none (EXEC's watchdog_s) */
	int64_t last_hcall;     /* monotonic ns of the last hypercall/resume */
	int64_t armed;          /* watchdog timer deadline armed, 0: none */
	timer_t timer;
	bool paused, ready_sent;
	bool sysctl_wake;       /* host_req written since the last IDLE */
	bool console_wake;      /* console input queued since the last IDLE */
	bool started;           /* EXEC done: the guest runs */
	uint64_t log_bytes, log_dropped;
	struct kvm_net net;     /* the NIC backend (shell_net.c) */
	int listen_fd;          /* SOCK_DIR/PID.sock for a new agent; -1: none */
	int stats_fd;           /* memfd of the stats page */
	int statm_fd;           /* /proc/self/statm, opened before dropping privileges */
	struct kvm_stats_page *stats;  /* mapped stats_fd, or a private dummy */
	int64_t stats_t;        /* when cpu_ns was last refreshed */
	bool restore;           /* EXEC of a snapshot (snapshot_shell.c) */
	bool hold;              /* ... held (paused) once loaded: a migration */
	bool snap_copy;         /* ... its pages copied in, not mapped (snapshot_shell.c) */
	bool in_idle;           /* inside LV_HC_IDLE (a save notes it) */
	bool restore_wake;      /* restored: the next IDLE returns LV_WAKE_RESTORED */
	bool linux_guest;       /* prepared for Linux (linux.h) */
	bool warm;              /* parked by warm_up: the first load starts it there */
	bool preloaded;         /* PRELOAD put img_fd's image in memory (pooled) */
	int64_t pre_token;      /* ... under this token (an EXEC names it) */
	bool accept_due;        /* the listening socket polled readable (kvm_shell_accept) */
	bool started_owed;      /* STARTED not sent yet: at the first exit (shell_run.c) */
	struct kvm_linux lx;    /* its devices and boot arguments */
};

int64_t kvm_now(clockid_t c);
/* Messages to the agent; silently dropped after control EOF. */
void kvm_shell_send(struct kvm_shell *s, uint32_t type);
void kvm_shell_exit(struct kvm_shell *s, uint32_t kind, int64_t code,
		    const char *fmt, ...) __attribute__((noreturn, format(printf, 4, 5)));
#define kvm_shell_crash(s, ...) kvm_shell_exit((s), KVM_XK_CRASH, 0, __VA_ARGS__)

/* Append guest console output to the log (capped at KVM_LOG_CAP). */
void kvm_shell_log_write(struct kvm_shell *s, const char *p, uint32_t n);
/* Control: serve every pending message without blocking.  Returns a
 * LV_WAKE_* mask for an idle guest.  Blocks while paused. */
uint32_t kvm_shell_serve_ctl(struct kvm_shell *s);
/* Check the watchdogs (crash if one expired) and (re)arm the timer. */
void kvm_shell_watchdog(struct kvm_shell *s);
/* Stats page: the vCPU goes idle (true) or busy; refreshes CPU time. */
void kvm_shell_stats_mark(struct kvm_shell *s, bool idle, int64_t now);
/* Accept a new agent on listen_fd, if one is waiting. */
void kvm_shell_accept(struct kvm_shell *s);
/* Load the image into guest memory and reset the vCPU to its entry. */
int kvm_shell_load(struct kvm_shell *s, char *err, size_t errlen);

/* snapshot_shell.c: KVM_MSG_SAVE (fd: the agent's memfd; the guest is
 * held on success), and the restore that replaces kvm_shell_load. */
void kvm_snap_shell_save(struct kvm_shell *s, int fd);
int kvm_snap_shell_restore(struct kvm_shell *s, char *err, size_t errlen);

/* shell_run.c */
void kvm_shell_run(struct kvm_shell *s) __attribute__((noreturn));

/* len bytes of fd at off into buf (short reads and EINTR retried):
 * 0, -errno, or -EIO at the end of the file. */
int kvm_pread_full(int fd, void *buf, uint64_t len, uint64_t off);

/* Set from signal handlers */
extern volatile sig_atomic_t kvm_sig_pending;

#endif
