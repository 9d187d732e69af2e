/*
 * shell_run.c - the running guest: the KVM_RUN loop and every exit.  Owns
 * the hypercall ABI (struct lv_hcall, one copy per call), the console ring
 * drain into the log fd, LV_HC_IDLE (poll on the control fd), reboot, and
 * the decoding of crashes (ring-0 exception stubs, triple faults, stray
 * I/O or MMIO).  Everything the guest supplies is bounds-checked.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm/shell_int.h"

#define MS_NS 1000000ull

/* ---- console */

void kvm_shell_log_write(struct kvm_shell *s, const char *p, uint32_t n)
{
	uint64_t room = s->log_bytes < KVM_LOG_CAP ? KVM_LOG_CAP - s->log_bytes : 0;
	uint32_t keep = n < room ? n : (uint32_t)room;

	s->log_dropped += n - keep;
	while (keep && s->log_fd >= 0) {
		ssize_t w = write(s->log_fd, p, keep);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->log_dropped += keep;
			return;
		}
		s->log_bytes += (uint64_t)w;
		p += w;
		keep -= (uint32_t)w;
	}
}

static void console_drain(struct kvm_shell *s)
{
	struct lv_console_ring *r = (struct lv_console_ring *)(s->vm.mem + LV_GPA_CONSOLE);
	uint32_t prod = __atomic_load_n(&r->out_prod, __ATOMIC_ACQUIRE);
	uint32_t cons = __atomic_load_n(&r->out_cons, __ATOMIC_RELAXED);
	uint32_t n = prod - cons, at = cons & (LV_CONSOLE_OUT_SIZE - 1);
	uint32_t first = LV_CONSOLE_OUT_SIZE - at;

	if (n > LV_CONSOLE_OUT_SIZE)
		kvm_shell_crash(s, "console ring corrupt (out_prod %u, out_cons %u, size %u)",
				prod, cons, LV_CONSOLE_OUT_SIZE);
	if (!n)
		return;
	if (first > n)
		first = n;
	kvm_shell_log_write(s, r->out + at, first);
	if (n > first)
		kvm_shell_log_write(s, r->out, n - first);
	__atomic_store_n(&r->out_cons, prod, __ATOMIC_RELEASE);
	__atomic_store_n(&s->stats->console_bytes, s->log_bytes + s->log_dropped, __ATOMIC_RELAXED);
}

/* ---- hypercalls */

static int poll_ms(uint64_t timeout_ns, int64_t deadline, bool forever)
{
	int64_t left;

	if (forever)
		return -1;
	left = deadline - kvm_now(CLOCK_MONOTONIC);
	if (left <= 0)
		return 0;
	if ((uint64_t)left / MS_NS >= INT_MAX)
		return INT_MAX;
	return (int)(((uint64_t)left + MS_NS - 1) / MS_NS);
}

/* LV_HC_IDLE: block on the control fd until a wake reason or the timeout. */
static int64_t hc_idle(struct kvm_shell *s, uint64_t timeout_ns)
{
	bool forever = timeout_ns == UINT64_MAX;
	int64_t now = kvm_now(CLOCK_MONOTONIC), deadline = now;
	uint32_t wake = 0;

	if (!forever)
		deadline = timeout_ns > (uint64_t)(INT64_MAX - now) ? INT64_MAX : now + (int64_t)timeout_ns;
	/* A message that came while the guest ran raised SIGIO
	 * (kvm_sig_pending); without one, an IDLE that may sleep leaves the
	 * control sockets to its poll, which returns at once if a message
	 * waits: two system calls fewer on every IDLE after a quiet run. */
	bool serve = !forever || kvm_sig_pending;

	kvm_shell_stats_mark(s, true, now);
	s->in_idle = true;      /* a save inside notes it (snapshot_shell.c) */
	for (;;) {
		struct pollfd pfd[3] = { { .fd = s->ctl_fd, .events = POLLIN },
					 { .fd = s->listen_fd, .events = POLLIN },
					 { .fd = kvm_net_pollable(s) ? s->net.fd : -1, .events = POLLIN } };
		int ms, n;

		if (serve)
			wake |= kvm_shell_serve_ctl(s);
		serve = true;
		wake |= kvm_net_rx(s);
		if (s->sysctl_wake) {
			s->sysctl_wake = false;
			wake |= LV_WAKE_SYSCTL;
		}
		if (s->console_wake) {
			s->console_wake = false;
			wake |= LV_WAKE_CONSOLE;
		}
		if (s->restore_wake) {
			s->restore_wake = false;
			wake |= LV_WAKE_RESTORED;
		}
		ms = wake ? 0 : poll_ms(timeout_ns, deadline, forever);
		if (ms == 0) {
			s->in_idle = false;
			s->last_hcall = kvm_now(CLOCK_MONOTONIC);  /* idle is not spinning */
			kvm_shell_stats_mark(s, false, s->last_hcall);
			return wake;
		}
		/* Only the boot watchdog runs while idle: an idle guest is
		 * not spinning. */
		s->last_hcall = kvm_now(CLOCK_MONOTONIC);
		if (s->boot_deadline)
			kvm_shell_watchdog(s);
		n = poll(pfd, 3, ms);   /* negative fds are ignored */
		if (n < 0 && errno != EINTR)
			kvm_shell_crash(s, "idle: poll: %s", strerror(errno));
		if (n > 0 && (pfd[1].revents & POLLIN))
			s->accept_due = true;
	}
}

static void hc_reboot(struct kvm_shell *s)
{
	char err[KVM_MSG_TEXT - 32];
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);

	if (s->restore) {   /* its image is the snapshot: back to it (snapshot_shell.c) */
		if (kvm_snap_shell_restore(s, err, sizeof(err)))
			kvm_shell_crash(s, "reboot failed: %s", err);
		s->sysctl_wake = false;
		return;
	}
	if (kvm_shell_load(s, err, sizeof(err)))
		kvm_shell_crash(s, "reboot failed: %s", err);
	dp->devs[1].u.sysctl.host_req = LV_REQ_NONE;
	dp->devs[1].u.sysctl.guest_state = LV_GST_BOOTING;
	dp->boot_tsc = kvm_vm_guest_tsc(&s->vm);
	s->sysctl_wake = false;
	kvm_net_reset(s);
}

static void hc_clock(struct kvm_shell *s, struct lv_hcall *hc)
{
	hc->arg[0] = (uint64_t)kvm_now(CLOCK_REALTIME);
	hc->arg[1] = (uint64_t)(kvm_now(CLOCK_MONOTONIC) - s->t[KVM_T_STARTED]);
	memcpy(s->vm.mem + LV_GPA_HCALL + offsetof(struct lv_hcall, arg), hc->arg,
	       2 * sizeof(hc->arg[0]));
}

static void hc_ready(struct kvm_shell *s)
{
	if (!s->ready_sent) {
		s->ready_sent = true;
		s->started_owed = false;   /* this READY says it (shell_msg.h) */
		s->boot_deadline = 0;
		s->t[KVM_T_READY] = kvm_now(CLOCK_MONOTONIC);
		kvm_shell_send(s, KVM_MSG_READY);
	}
}

/* Does this hypercall say ready (LV_HC_READY, or LV_HCF_READY folded
 * into another; the other flag bits mean nothing and are ignored)? */
static bool hc_says_ready(const struct lv_hcall *hc)
{
	return hc->nr == LV_HC_READY || (hc->arg[3] & LV_HCF_READY);
}

/* Is this exit a 4-byte out to port (the doorbells: LV_PORT_HCALL,
 * LV_PORT_CRASH)? */
static bool exit_is_out4(const struct kvm_run *run, uint16_t port)
{
	return run->exit_reason == KVM_EXIT_IO && run->io.port == port &&
	       run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 && run->io.count == 1;
}

/* Returns true if the vCPU was reset (no ret to write back). */
static bool hypercall(struct kvm_shell *s)
{
	struct lv_hcall hc;
	int64_t ret = 0;

	memcpy(&hc, s->vm.mem + LV_GPA_HCALL, sizeof(hc));  /* read once */
	s->last_hcall = kvm_now(CLOCK_MONOTONIC);
	__atomic_store_n(&s->stats->hcalls, s->stats->hcalls + 1, __ATOMIC_RELAXED);
	if (s->last_hcall - s->stats_t >= 1000000000ll)   /* re-anchor CPU time */
		kvm_shell_stats_mark(s, false, s->last_hcall);
	console_drain(s);
	kvm_net_tx(s);
	if (hc_says_ready(&hc))
		hc_ready(s);
	switch (hc.nr) {
	case LV_HC_CONSOLE:
	case LV_HC_READY:
		break;
	case LV_HC_IDLE:
		ret = hc_idle(s, hc.arg[0]);
		break;
	case LV_HC_POWEROFF:
		kvm_shell_exit(s, KVM_XK_POWEROFF, (int64_t)hc.arg[0],
			       "guest powered off (code %lld)", (long long)hc.arg[0]);
	case LV_HC_REBOOT:
		hc_reboot(s);
		return true;
	case LV_HC_CLOCK:
		hc_clock(s, &hc);
		break;
	case LV_HC_NET:
		ret = kvm_net_rx(s);
		break;
	default:
		kvm_shell_crash(s, "bad hypercall nr %llu", (unsigned long long)hc.nr);
	}
	memcpy(s->vm.mem + LV_GPA_HCALL + offsetof(struct lv_hcall, ret), &ret, sizeof(ret));
	return false;
}

/* ---- crashes */

static void crash_exception(struct kvm_shell *s, uint32_t vec)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	uint64_t f[6] = { 0 };  /* [error], rip, cs, rflags, rsp, ss */
	bool has_err = vec < 32 && kvm_vector_has_error(vec);
	size_t need = (has_err ? 6 : 5) * sizeof(uint64_t);
	unsigned long long rip, err;

	if (vec >= 32)
		kvm_shell_crash(s, "guest exception report with bad vector %u", vec);
	if (ioctl(s->vm.vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(s->vm.vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		kvm_shell_crash(s, "guest exception %s (vector %u); registers unreadable: %s",
				kvm_vector_name(vec), vec, strerror(errno));
	/* the frame must lie on the ring-0 stack page, below LV_GPA_STACK0 */
	if (r.rsp < LV_GPA_STACK0 - 4096 || r.rsp > LV_GPA_STACK0 || LV_GPA_STACK0 - r.rsp < need)
		kvm_shell_crash(s, "guest exception %s (vector %u), exception frame unreadable (rsp 0x%llx)",
				kvm_vector_name(vec), vec, (unsigned long long)r.rsp);
	memcpy(f, s->vm.mem + r.rsp, need);
	rip = has_err ? f[1] : f[0];
	err = has_err ? f[0] : 0;
	if (vec == 14)
		kvm_shell_crash(s, "guest exception #PF (vector 14) at rip 0x%llx, cr2 0x%llx, error 0x%llx",
				rip, (unsigned long long)sr.cr2, err);
	if (has_err)
		kvm_shell_crash(s, "guest exception %s (vector %u) at rip 0x%llx, error 0x%llx",
				kvm_vector_name(vec), vec, rip, err);
	kvm_shell_crash(s, "guest exception %s (vector %u) at rip 0x%llx",
			kvm_vector_name(vec), vec, rip);
}

static uint64_t guest_rip(struct kvm_shell *s)
{
	struct kvm_regs r;

	return ioctl(s->vm.vcpu_fd, KVM_GET_REGS, &r) < 0 ? 0 : r.rip;
}

static uint32_t io_value(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;
	uint32_t v = 0;

	if (run->io.data_offset <= s->vm.run_size - 4)
		memcpy(&v, (uint8_t *)run + run->io.data_offset, run->io.size <= 4 ? run->io.size : 4);
	return v;
}

/* Returns true if the vCPU was reset. */
static bool exit_io(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	if (exit_is_out4(run, LV_PORT_HCALL))
		return hypercall(s);
	if (exit_is_out4(run, LV_PORT_CRASH))
		crash_exception(s, io_value(s));
	kvm_shell_crash(s, "unexpected I/O: %s port 0x%x size %u count %u at rip 0x%llx",
			out ? "out" : "in", run->io.port, run->io.size, run->io.count,
			(unsigned long long)guest_rip(s));
}

static bool handle_exit(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return exit_io(s);
	case KVM_EXIT_MMIO:
		kvm_shell_crash(s, "guest access to unbacked memory at 0x%llx (%s, %u bytes) at rip 0x%llx",
				(unsigned long long)run->mmio.phys_addr,
				run->mmio.is_write ? "write" : "read", run->mmio.len,
				(unsigned long long)guest_rip(s));
	case KVM_EXIT_SHUTDOWN:
		kvm_shell_crash(s, "triple fault (guest shut down) at rip 0x%llx",
				(unsigned long long)guest_rip(s));
	case KVM_EXIT_HLT:
		kvm_shell_crash(s, "guest halted at rip 0x%llx", (unsigned long long)guest_rip(s));
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_shell_crash(s, "KVM internal error (suberror %u) at rip 0x%llx",
				run->internal.suberror, (unsigned long long)guest_rip(s));
	case KVM_EXIT_FAIL_ENTRY:
		kvm_shell_crash(s, "vCPU entry failed (hardware reason 0x%llx)",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	default:
		kvm_shell_crash(s, "unexpected KVM exit %u at rip 0x%llx", run->exit_reason,
				(unsigned long long)guest_rip(s));
	}
}

/* Is this exit the hypercall that says ready? */
static bool exit_says_ready(struct kvm_shell *s)
{
	struct lv_hcall hc;

	if (!exit_is_out4(s->vm.run, LV_PORT_HCALL))
		return false;
	memcpy(&hc, s->vm.mem + LV_GPA_HCALL, sizeof(hc));
	return hc_says_ready(&hc);
}

/* The guest's first exit (or a signal before it): STARTED now, before
 * any other message, unless this exit's READY says it.  errno (of a
 * KVM_RUN that failed) is the caller's still. */
static void started_due(struct kvm_shell *s, bool exited)
{
	int e = errno;

	s->started_owed = false;
	if (!exited || !exit_says_ready(s))
		kvm_shell_send(s, KVM_MSG_STARTED);
	errno = e;
}

void kvm_shell_run(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;

	for (;;) {
		run->immediate_exit = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (kvm_sig_pending) {
			kvm_shell_serve_ctl(s);
			if (s->linux_guest)   /* SIGIO: maybe a frame on the tap */
				kvm_vnet_rx(s);
		}
		kvm_shell_watchdog(s);
		if (ioctl(s->vm.vcpu_fd, KVM_RUN, 0) < 0) {
			if (s->started_owed)
				started_due(s, false);
			if (errno == EINTR || errno == EAGAIN) {
				kvm_shell_serve_ctl(s);
				if (s->linux_guest)
					kvm_vnet_rx(s);
				continue;
			}
			kvm_shell_crash(s, "KVM_RUN: %s", strerror(errno));
		}
		if (s->started_owed)
			started_due(s, true);
		if (s->linux_guest)
			kvm_linux_exit(s);
		else
			handle_exit(s);
	}
}
