/*
 * shell.c - one shell process = one VM (see shell_msg.h).  Owns the shell's
 * life: prepare the VM, drop privileges, wait for EXEC, load the image and
 * device page, then hand over to the run loop (shell_run.c).  Also owns
 * the control channel (messages both ways, PAUSE/UNPAUSE, power requests,
 * DESTROY) and the watchdogs (boot timeout; a guest without a hypercall
 * for watchdog_s, when its spawn asked for one).
 */
#include <errno.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "kvm/factory.h"
#include "kvm/shell_int.h"
#include "kvm/shell_jail.h"

volatile sig_atomic_t kvm_sig_pending;
static volatile sig_atomic_t kvm_sig_io;   /* a SIGIO since the last accept */
static struct kvm_run *volatile kvm_sig_run;

int64_t kvm_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ---- messages */

static void send_msg(struct kvm_shell *s, struct kvm_msg *m)
{
	memcpy(m->t, s->t, sizeof(m->t));
	if (s->ctl_fd < 0)
		return;
	while (send(s->ctl_fd, m, sizeof(*m), MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

void kvm_shell_send(struct kvm_shell *s, uint32_t type)
{
	struct kvm_msg m = { .type = type };

	send_msg(s, &m);
}

/* A message carrying the stats page (PREPARED, HELLO). */
static void send_with_stats(struct kvm_shell *s, struct kvm_msg *m)
{
	memcpy(m->t, s->t, sizeof(m->t));
	if (s->ctl_fd >= 0)
		kvm_sendmsg(s->ctl_fd, m, sizeof(*m), &s->stats_fd, s->stats_fd >= 0 ? 1 : 0);
}

/* ---- the stats page (shell_msg.h) */

static struct kvm_stats_page stats_dummy;
static uint64_t self_rss(struct kvm_shell *s);

static void stats_setup(struct kvm_shell *s)
{
	void *p;

	s->stats = &stats_dummy;
	s->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	s->stats_fd = memfd_create("lightvm-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->stats_fd < 0)
		return;
	/* sealed, so the agent's mapping can never SIGBUS */
	if (ftruncate(s->stats_fd, 4096) < 0 ||
	    fcntl(s->stats_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    (p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s->stats_fd, 0)) == MAP_FAILED) {
		close(s->stats_fd);
		s->stats_fd = -1;
		return;
	}
	s->stats = p;
	s->stats->magic = KVM_STATS_MAGIC;
	s->stats->version = 1;
	s->stats->idle = 1;
	s->stats->rss_bytes = self_rss(s);
}

static uint64_t self_rss(struct kvm_shell *s)
{
	char buf[128];
	unsigned long pages = 0, res = 0;
	ssize_t n;

	if (s->statm_fd < 0)
		return 0;
	n = pread(s->statm_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "%lu %lu", &pages, &res) != 2)
		return 0;
	return (uint64_t)res * 4096u;
}

/* cpu: read the process's CPU time (a system call, not a vDSO read);
 * without it the page keeps the last reading and the agent counts the
 * time since busy_since as busy on top of it */
static void stats_write(struct kvm_shell *s, bool idle, int64_t now, bool cpu)
{
	struct kvm_stats_page *p = s->stats;
	bool rss = now - s->stats_t >= 1000000000ll;

	__atomic_store_n(&p->seq, p->seq + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (cpu)
		p->cpu_ns = (uint64_t)kvm_now(CLOCK_PROCESS_CPUTIME_ID);
	p->idle = idle;
	if (!idle)
		p->busy_since = now;
	if (rss)
		p->rss_bytes = self_rss(s);
	p->console_bytes = s->log_bytes + s->log_dropped;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&p->seq, p->seq + 1, __ATOMIC_RELEASE);
	s->stats_t = now;
}

void kvm_shell_stats_mark(struct kvm_shell *s, bool idle, int64_t now)
{
	stats_write(s, idle, now, true);
}

/* ---- the listening socket for a restarted agent */

static void listen_setup(struct kvm_shell *s, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!dir || snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock", dir,
			     (int)getpid()) >= (int)sizeof(sa.sun_path))
		return;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	unlink(sa.sun_path);      /* a dead shell's, with our pid */
	/* bound as root with mode 0600: only root can connect */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0600) < 0 ||
	    listen(fd, 4) < 0) {
		close(fd);
		return;
	}
	s->listen_fd = fd;
}

static uint32_t hello_state(const struct kvm_shell *s)
{
	uint32_t ready = s->ready_sent ? KVM_HS_READY_BIT : 0;

	if (!s->started)
		return KVM_HS_PREPARED;
	if (s->paused)
		return KVM_HS_PAUSED | ready;
	return ready ? KVM_HS_RUNNING : KVM_HS_BOOTING;
}

static int ctl_async(struct kvm_shell *s);
static int fd_own(int fd);

void kvm_shell_accept(struct kvm_shell *s)
{
	struct kvm_msg m = { .type = KVM_MSG_HELLO };
	int fd;

	/* only when there may be a connection: a SIGIO (the listening
	 * socket is O_ASYNC once started) or a poll that saw one */
	if (s->listen_fd < 0 || !s->started || !(s->accept_due || kvm_sig_io))
		return;
	s->accept_due = false;
	kvm_sig_io = 0;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);    /* the newest agent wins */
	s->ctl_fd = fd;
	fd_own(fd);
	ctl_async(s);
	m.kind = hello_state(s);
	m.id = s->id;
	m.code = (int64_t)s->vm.mem_size;   /* lets an agent adopt a record-less VM */
	memcpy(m.name, s->name, sizeof(m.name) < sizeof(s->name) ? sizeof(m.name) : sizeof(s->name));
	m.name[sizeof(m.name) - 1] = 0;
	send_with_stats(s, &m);
}

static void log_note(struct kvm_shell *s)
{
	char note[96];
	int n;

	if (s->log_fd < 0 || !s->log_dropped)
		return;
	n = snprintf(note, sizeof(note), "\n[lightvm: console log capped at %u bytes, %llu bytes dropped]\n",
		     KVM_LOG_CAP, (unsigned long long)s->log_dropped);
	if (write(s->log_fd, note, (size_t)n) < 0)
		return;
}

/*
 * The guest ended while no agent was connected (it was killed or is
 * restarting), or the agent died before it acknowledged the EXIT: keep
 * listening for KVM_LINGER_NS, without the guest's memory, vCPU or tap,
 * so that a new agent still hears how it ended (HELLO with KVM_HS_EXITED,
 * then the EXIT).  No file is written: the common path (an agent hears
 * the EXIT) costs one EXIT_ACK message, nothing on the file system, and no
 * stale word can outlive the shell.  After the deadline a new agent
 * reports the VM as "died while the agent was down".
 */
static void linger(struct kvm_shell *s, const struct kvm_msg *exit_msg)
{
	struct kvm_msg hello = { .type = KVM_MSG_HELLO, .kind = KVM_HS_EXITED, .id = s->id };
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	int64_t until = kvm_now(CLOCK_MONOTONIC) + KVM_LINGER_NS;

	if (s->listen_fd < 0 || !s->started)
		return;
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	s->ctl_fd = -1;
	timer_settime(s->timer, 0, &off, NULL);
	kvm_sig_run = NULL;        /* the signal handler must not touch kvm_run */
	munmap(s->vm.run, s->vm.run_size);
	munmap(s->vm.mem, s->vm.mem_size);
	close(s->vm.vcpu_fd);
	close(s->vm.vm_fd);
	if (s->net.fd >= 0)
		close(s->net.fd);
	memcpy(hello.name, s->name, sizeof(hello.name) < sizeof(s->name) ? sizeof(hello.name) :
	       sizeof(s->name));
	hello.name[sizeof(hello.name) - 1] = 0;
	for (;;) {
		int64_t left = until - kvm_now(CLOCK_MONOTONIC);
		struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
		int r;

		if (left <= 0)
			return;
		r = poll(&p, 1, (int)(left / 1000000) + 1);
		if (r < 0 && errno != EINTR)
			return;
		if (r <= 0)
			continue;
		s->ctl_fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (s->ctl_fd < 0)
			continue;
		send_with_stats(s, &hello);
		while (send(s->ctl_fd, exit_msg, sizeof(*exit_msg), MSG_NOSIGNAL) < 0 &&
		       errno == EINTR)
			;
		return;
	}
}

static ssize_t recv_msg(int fd, struct kvm_msg *m, int *fds, int max, int *nfds, int flags);

/* Did the agent hear the EXIT?  It answers EXIT_ACK; EOF first means it
 * died with the EXIT unread (0: heard, or no word within KVM_LINGER_NS). */
static int wait_ack(struct kvm_shell *s)
{
	int64_t until = kvm_now(CLOCK_MONOTONIC) + KVM_LINGER_NS;

	for (;;) {
		int64_t left = until - kvm_now(CLOCK_MONOTONIC);
		struct pollfd p = { .fd = s->ctl_fd, .events = POLLIN };
		struct kvm_msg m;
		int fds[3], nfds;
		ssize_t n;

		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
			continue;    /* EINTR (SIGIO, SIGALRM) or timeout */
		n = recv_msg(s->ctl_fd, &m, fds, 3, &nfds, MSG_DONTWAIT);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			return -1;
		if (m.type == KVM_MSG_EXIT_ACK)
			return 0;
	}
}

void kvm_shell_exit(struct kvm_shell *s, uint32_t kind, int64_t code, const char *fmt, ...)
{
	struct kvm_msg m = { .type = KVM_MSG_EXIT, .kind = kind, .code = code };
	ssize_t r = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	log_note(s);
	m.wall_ns = (uint64_t)kvm_now(CLOCK_MONOTONIC);   /* when it ended */
	memcpy(m.t, s->t, sizeof(m.t));
	while (s->ctl_fd >= 0 && (r = send(s->ctl_fd, &m, sizeof(m), MSG_NOSIGNAL)) < 0 &&
	       errno == EINTR)
		;
	if (kind != KVM_XK_DESTROYED && s->started && s->listen_fd >= 0 &&
	    (r < 0 || wait_ack(s) < 0))   /* no agent heard it: wait for the next */
		linger(s, &m);
	_exit(0);
}

/* ---- signals: SIGIO (control message) and SIGALRM (watchdog) kick the
 * vCPU out of KVM_RUN. */

static void on_signal(int sig)
{
	struct kvm_run *r = kvm_sig_run;

	kvm_sig_pending = 1;
	if (sig == SIGIO)
		kvm_sig_io = 1;
	if (r)
		r->immediate_exit = 1;
}

static int setup_signals(struct kvm_shell *s)
{
	struct sigaction sa = { .sa_handler = on_signal };  /* no SA_RESTART */
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };

	sigemptyset(&sa.sa_mask);
	signal(SIGPIPE, SIG_IGN);
	if (sigaction(SIGIO, &sa, NULL) < 0 || sigaction(SIGALRM, &sa, NULL) < 0)
		return -errno;
	if (timer_create(CLOCK_MONOTONIC, &ev, &s->timer) < 0)
		return -errno;
	return 0;
}

static int fd_own(int fd)
{
	return fd < 0 || fcntl(fd, F_SETOWN, getpid()) == 0 ? 0 : -errno;
}

/* F_SETFL replaces every flag it can change, so the caller says which
 * it wants besides O_ASYNC: one system call, not a F_GETFL first */
static int fd_async(int fd, int flags)
{
	return fcntl(fd, F_SETFL, flags | O_ASYNC) < 0 ? -errno : 0;
}

/* SIGIO for control messages and for a new agent connecting: the
 * listening socket's owner was set at prepare, a control socket's at
 * prepare or when accepted (kvm_shell_accept).  The listening socket is
 * non-blocking (listen_setup); a control socket blocks (the factory's
 * socket pair, or accept4 without SOCK_NONBLOCK). */
static int ctl_async(struct kvm_shell *s)
{
	if (s->listen_fd >= 0)
		fd_async(s->listen_fd, O_NONBLOCK);
	return fd_async(s->ctl_fd, 0);
}

/* ---- watchdogs */

static void arm(struct kvm_shell *s, int64_t deadline)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = deadline / 1000000000ll, .tv_nsec = deadline % 1000000000ll },
	};

	if (timer_settime(s->timer, TIMER_ABSTIME, &its, NULL) == 0)
		s->armed = deadline;
}

void kvm_shell_watchdog(struct kvm_shell *s)
{
	int64_t now = kvm_now(CLOCK_MONOTONIC), want;

	if (s->armed && s->armed <= now)
		s->armed = 0;   /* fired (or about to) */
	if (s->boot_deadline && now >= s->boot_deadline && s->linux_guest)
		kvm_shell_crash(s, "no ready line on the console within %u ms (Linux; %s, rip 0x%llx)",
				s->boot_timeout_ms, s->lx.entered ? "kernel entered" : "no exit yet",
				(unsigned long long)kvm_linux_rip(s));
	if (s->boot_deadline && now >= s->boot_deadline)
		kvm_shell_crash(s, "no ready signal within %u ms", s->boot_timeout_ms);
	if (s->spin_ns && now - s->last_hcall >= s->spin_ns)
		kvm_shell_crash(s, "watchdog: no hypercall for %lld s",
				(long long)(s->spin_ns / 1000000000ll));
	if (s->linux_guest && s->lx.off_deadline && now >= s->lx.off_deadline) {
		kvm_uart_flush(s);
		kvm_shell_exit(s, KVM_XK_POWEROFF, 0,
			       "guest powered off (Linux console line; its ACPI S5 write never came)");
	}
	want = s->spin_ns ? s->last_hcall + s->spin_ns : 0;
	if (s->boot_deadline && (!want || s->boot_deadline < want))
		want = s->boot_deadline;
	if (s->linux_guest && s->lx.off_deadline && (!want || s->lx.off_deadline < want))
		want = s->lx.off_deadline;
	if (s->linux_guest && s->lx.uart.out_len) {   /* a prompt reaches the log */
		int64_t f = s->lx.uart.out_since + KVM_UART_FLUSH_NS;

		if (now >= f)
			kvm_uart_flush(s);
		else if (!want || f < want)
			want = f;
	}
	/* A timer that fires early is harmless (we re-arm); one that would
	 * fire late is not. */
	if (want && (!s->armed || s->armed > want))
		arm(s, want);
}

/* ---- control channel */

/* Receive one message with up to max fds.  Returns bytes, 0 on EOF, or
 * -errno.  Fds beyond max, or of a truncated message, are closed. */
static ssize_t recv_msg(int fd, struct kvm_msg *m, int *fds, int max, int *nfds, int flags)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	int got = 0;

	*nfds = 0;
	memset(m, 0, sizeof(*m));
	n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < max && !(mh.msg_flags & MSG_TRUNC))
				fds[got++] = f;
			else
				close(f);
		}
	}
	*nfds = got;
	if (n > 0 && (n != (ssize_t)sizeof(*m) || (mh.msg_flags & MSG_TRUNC))) {
		for (int i = 0; i < got; i++)
			close(fds[i]);
		*nfds = 0;
		return -EBADMSG;
	}
	return n;
}

static void ctl_eof(struct kvm_shell *s)
{
	close(s->ctl_fd);
	s->ctl_fd = -1;
	if (s->listen_fd < 0)
		s->paused = false;  /* nobody can come back to unpause us */
}

static void power_request(struct kvm_shell *s, uint32_t req)
{
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);

	/* devs[1] is the inline sysctl device (set up by prepare) */
	__atomic_store_n(&dp->devs[1].u.sysctl.host_req, req, __ATOMIC_SEQ_CST);
	s->sysctl_wake = true;
}

/* KVM_MSG_CONSOLE_IN: into the ring's in side, as much as fits. */
static void console_in(struct kvm_shell *s, const struct kvm_msg *m)
{
	struct lv_console_ring *r = (struct lv_console_ring *)(s->vm.mem + LV_GPA_CONSOLE);
	uint32_t prod = r->in_prod, cons = __atomic_load_n(&r->in_cons, __ATOMIC_ACQUIRE);
	uint64_t n = m->code > 0 && (uint64_t)m->code <= sizeof(m->text) ? (uint64_t)m->code : 0;

	for (uint64_t k = 0; k < n && prod - cons < LV_CONSOLE_IN_SIZE; k++)
		r->in[prod++ & (LV_CONSOLE_IN_SIZE - 1)] = m->text[k];
	__atomic_store_n(&r->in_prod, prod, __ATOMIC_RELEASE);
	s->console_wake = true;
}

/* Handle one message.  Returns LV_WAKE_* bits. */
static uint32_t handle_ctl(struct kvm_shell *s, const struct kvm_msg *m)
{
	switch (m->type) {
	case KVM_MSG_PAUSE:
		s->paused = true;
		kvm_shell_send(s, KVM_MSG_PAUSED);
		return 0;
	case KVM_MSG_UNPAUSE:
		s->paused = false;
		kvm_shell_send(s, KVM_MSG_UNPAUSED);
		return 0;
	case KVM_MSG_POWEROFF:
		if (s->linux_guest && s->started) {   /* no ACPI button to press (linux.h) */
			kvm_uart_flush(s);
			kvm_shell_exit(s, KVM_XK_POWEROFF, 0, "Linux guest stopped by the host (no ACPI power button)");
		}
		power_request(s, LV_REQ_POWEROFF);
		return LV_WAKE_SYSCTL;
	case KVM_MSG_REBOOT:
		if (s->linux_guest && s->started) {   /* a reset, as the button does */
			kvm_linux_reboot(s, "host request");
			return 0;
		}
		power_request(s, LV_REQ_REBOOT);
		return LV_WAKE_SYSCTL;
	case KVM_MSG_CONSOLE_IN:
		if (s->linux_guest) {
			kvm_uart_input(s, m->text, m->code > 0 && (uint64_t)m->code <= sizeof(m->text) ?
				       (size_t)m->code : 0);
			return 0;
		}
		console_in(s, m);
		return LV_WAKE_CONSOLE;
	case KVM_MSG_DESTROY:
		kvm_shell_exit(s, KVM_XK_DESTROYED, 0, "destroyed");
	default:
		return 0;   /* EXEC twice, unknown: ignored */
	}
}

/* One message; blocking or not.  Returns wake bits, or -1 if nothing. */
static int64_t ctl_one(struct kvm_shell *s, int flags)
{
	struct kvm_msg m;
	int fds[2], nfds = 0;
	ssize_t n;

	if (s->ctl_fd < 0)
		return -1;
	n = recv_msg(s->ctl_fd, &m, fds, 2, &nfds, flags);
	if (n == (ssize_t)sizeof(m) && m.type == KVM_MSG_SAVE)   /* snapshot_shell.c */
		kvm_snap_shell_save(s, nfds == 1 ? fds[0] : -1);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n == -EAGAIN || n == -EINTR || n == -EBADMSG)
		return n == -EBADMSG ? 0 : -1;
	if (n <= 0) {       /* EOF or a dead socket: the agent is gone */
		ctl_eof(s);
		return -1;
	}
	return handle_ctl(s, &m);
}

static void wait_unpause(struct kvm_shell *s)
{
	int64_t t0 = kvm_now(CLOCK_MONOTONIC), d;

	kvm_shell_stats_mark(s, true, t0);
	while (s->paused && (s->ctl_fd >= 0 || s->listen_fd >= 0)) {
		struct pollfd p[2] = { { .fd = s->ctl_fd, .events = POLLIN },
				       { .fd = s->listen_fd, .events = POLLIN } };

		/* a negative fd is ignored by poll */
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			s->accept_due = true;
		kvm_shell_accept(s);
		if (s->ctl_fd >= 0)
			ctl_one(s, MSG_DONTWAIT);
	}
	kvm_shell_stats_mark(s, false, kvm_now(CLOCK_MONOTONIC));
	d = kvm_now(CLOCK_MONOTONIC) - t0;
	s->last_hcall += d;     /* time paused is not time spinning */
	if (s->boot_deadline)
		s->boot_deadline += d;
	s->armed = 0;
}

uint32_t kvm_shell_serve_ctl(struct kvm_shell *s)
{
	uint32_t wake = 0;
	int64_t r;

	kvm_sig_pending = 0;
	kvm_shell_accept(s);
	while ((r = ctl_one(s, MSG_DONTWAIT)) >= 0) {
		wake |= (uint32_t)r;
		if (s->paused)
			wait_unpause(s);
	}
	return wake;
}

/* ---- prepare */

static void prefault(struct kvm_vm *vm)
{
	volatile uint8_t *m = vm->mem;

	/* write faults, keeping the contents: the system pages are built */
	for (uint64_t a = LV_GPA_DEVPAGE; a < LV_GPA_STACK0; a += 4096)
		m[a] = m[a];
	for (uint64_t a = LV_GPA_IMAGE; a < LV_GPA_IMAGE + (64u << 10); a += 4096)
		m[a] = m[a];
	m[vm->mem_size - 1] = m[vm->mem_size - 1];
}

extern const uint8_t kvm_warmup_code[], kvm_warmup_end[], kvm_park_slots[];

/* warmup.S's slots, read by the parked vCPU before it jumps to rip */
struct kvm_park {
	uint64_t rip, rsp, rdi, rflags;
};

_Static_assert(LV_GPA_PARK >= LV_GPA_CONSOLE + 2 * 4096 && LV_GPA_PARK + 4096 <= LV_GPA_STACK0 - 4096,
	       "the park page is a user page of its own");

static struct kvm_park *park_slots(struct kvm_vm *vm)
{
	return (struct kvm_park *)(vm->mem + LV_GPA_PARK + (size_t)(kvm_park_slots - kvm_warmup_code));
}

/* Run warmup.S once (see there): best effort, errors only cost speed.
 * True if it ran to its `out` and the vCPU is parked after it: the
 * guest's load then writes the park slots instead of the registers
 * (kvm_shell_load).  Its segment state is the one the guest boots with
 * (warmup.S touches no segment). */
static bool warm_up(struct kvm_vm *vm)
{
	size_t n = (size_t)(kvm_warmup_end - kvm_warmup_code);
	bool ran = false;
	int r;

	if (vm->mem_size < LV_GPA_IMAGE + (1u << 20) || n > 4096)
		return false;
	memcpy(vm->mem + LV_GPA_PARK, kvm_warmup_code, n);
	if (kvm_vm_set_entry(vm, LV_GPA_PARK, vm->mem_size, 0))
		goto out;
	do
		r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	while (r < 0 && errno == EINTR && !vm->run->immediate_exit);
	if (r == 0 && vm->run->exit_reason == KVM_EXIT_IO) {
		/* complete the pending out: the vCPU stops right after it */
		vm->run->immediate_exit = 1;
		r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
		vm->run->immediate_exit = 0;
		ran = r == 0 || errno == EINTR;
	}
out:
	if (!ran)
		memset(vm->mem + LV_GPA_PARK, 0, n);
	return ran;
}

static void devpage_init(struct kvm_shell *s)
{
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);

	memset(dp, 0, sizeof(*dp));
	dp->magic = LV_ABI_MAGIC;
	dp->version = LV_ABI_VERSION;
	dp->size = sizeof(*dp);
	dp->mem_size = s->vm.mem_size;
	dp->tsc_khz = kvm_vm_tsc_khz(&s->vm);
	dp->ndevs = 2;
	dp->devs[0] = (struct lv_dev){ .type = LV_DEV_CONSOLE, .id = 0,
		.addr = LV_GPA_CONSOLE, .size = sizeof(struct lv_console_ring) };
	dp->devs[1] = (struct lv_dev){ .type = LV_DEV_SYSCTL, .id = 0 };
}

static void prepare(struct kvm_shell *s, const struct kvm_shell_args *a)
{
	char err[KVM_MSG_TEXT];
	int rc;

	s->linux_guest = a->linux_guest;
	rc = kvm_vm_create_kind(&s->vm, a->kvm_fd, a->mem_bytes, a->vcpus, a->linux_guest, err, sizeof(err));
	if (rc)
		kvm_shell_exit(s, KVM_XK_ERROR, rc, "%s", err);
	kvm_sig_run = s->vm.run;
	if (a->linux_guest) {
		rc = kvm_linux_save_reset(s);
		if (rc)
			kvm_shell_exit(s, KVM_XK_ERROR, rc, "Linux guest: saving the reset state: %s",
				       strerror(-rc));
	} else {
		kvm_vm_tsc_calibrate(&s->vm);
		devpage_init(s);
		prefault(&s->vm);
		s->warm = warm_up(&s->vm);
	}
	rc = setup_signals(s);
	if (rc)
		kvm_shell_exit(s, KVM_XK_ERROR, rc, "signals/timer: %s", strerror(-rc));
	stats_setup(s);
	s->stats->flags = s->linux_guest ? KVM_STATS_HALTS_IN_RUN : 0;
	listen_setup(s, a->sock_dir);
	/* SIGIO's owner now, O_ASYNC at start (ctl_async) */
	fd_own(s->ctl_fd);
	fd_own(s->listen_fd);
	/* a pool refill prepared at SCHED_IDLE (below): back to the normal
	 * class before it waits in the pool, while still root (the jail's
	 * seccomp filter has no sched_setscheduler).  A claimed shell left
	 * at SCHED_IDLE waited up to 20 ms for a CPU whenever the other core
	 * was busy: an idle-class task runs only when no other task wants
	 * the CPU (weight 3 against 1024). */
	if (a->background) {
		struct sched_param sp = { 0 };

		sched_setscheduler(0, SCHED_OTHER, &sp);
	}
	if (!a->linux_guest)   /* the second sample, some time after the first */
		kvm_vm_tsc_calibrate(&s->vm);
	rc = kvm_jail_enter(a->kvm_fd, a->sock_dir);   /* shell_jail.c */
	if (rc)
		kvm_shell_exit(s, KVM_XK_ERROR, rc, "entering the jail: %s", strerror(-rc));
	s->t[KVM_T_PREPARED] = kvm_now(CLOCK_MONOTONIC);
	{
		struct kvm_msg m = { .type = KVM_MSG_PREPARED };
		send_with_stats(s, &m);
	}
}

/* ---- EXEC */

static void exec_bad(struct kvm_shell *s, int *fds, int nfds, const char *why)
{
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	kvm_shell_exit(s, KVM_XK_ERROR, -EINVAL, "bad EXEC message: %s", why);
}

/* The rest of a Linux EXEC: the ramdisk fd, the command line packet. */
static void exec_linux(struct kvm_shell *s, const struct kvm_msg *m, int *fds, int nfds)
{
	char *c = s->lx.user_cmdline;
	const char *mk;
	ssize_t n = 0;

	s->lx.initrd_fd = (m->boot & KVM_BOOT_INITRD) ? fds[nfds - 1] : -1;
	if (m->cmdline_len) {
		do
			n = recv(s->ctl_fd, c, KVM_LINUX_CMDLINE_USER, MSG_TRUNC);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)m->cmdline_len)
			exec_bad(s, fds, nfds, "command line packet missing or of the wrong length");
	}
	c[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			exec_bad(s, fds, nfds, "command line: a control character");
	/* lv.ready=WORD: the console line that means ready (linux.h) */
	mk = strstr(c, "lv.ready=");
	if (mk && (mk == c || mk[-1] == ' ')) {
		size_t k = strcspn(mk + 9, " ");

		if (k >= sizeof(s->lx.marker))
			k = sizeof(s->lx.marker) - 1;
		memcpy(s->lx.marker, mk + 9, k);
		s->lx.marker[k] = 0;
	}
}

static void preload(struct kvm_shell *s, const struct kvm_msg *m, int *fds, int nfds);
static void preload_drop(struct kvm_shell *s);

static void wait_exec(struct kvm_shell *s)
{
	struct kvm_msg m;
	int fds[5], nfds, want;   /* one more: a preloaded image's */
	bool pre;
	ssize_t n;

	for (;;) {
		n = recv_msg(s->ctl_fd, &m, fds, 4, &nfds, 0);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n == 0)
			_exit(0);   /* agent gone before we had a guest */
		if (n < 0)
			kvm_shell_exit(s, KVM_XK_ERROR, n, "control channel: %s", strerror((int)-n));
		if (m.type == KVM_MSG_EXEC)
			break;
		if (m.type == KVM_MSG_PRELOAD) {
			preload(s, &m, fds, nfds);
			continue;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (m.type == KVM_MSG_DESTROY)
			kvm_shell_exit(s, KVM_XK_DESTROYED, 0, "destroyed before start");
	}
	s->t[KVM_T_CLAIMED] = kvm_now(CLOCK_MONOTONIC);
	/* the preloaded image stands for the first fd; an EXEC sent right
	 * after its PRELOAD brings the image too, for a preload that failed */
	want = 2 + (m.net_ipv4 != 0) + ((m.boot & KVM_BOOT_INITRD) != 0);
	pre = (m.kind & KVM_EXEC_PRELOADED) && s->preloaded && m.code == s->pre_token &&
	      !(m.kind & KVM_EXEC_SNAPSHOT);
	if ((m.kind & KVM_EXEC_PRELOADED) && !pre && nfds != want)
		exec_bad(s, fds, nfds, "no image preloaded under that token, and none sent");
	if (!pre)
		preload_drop(s);
	if (pre && nfds == want) {   /* the image again: the preload stands */
		close(fds[0]);
		fds[0] = s->img_fd;
	} else if (pre && nfds >= 0 && nfds < 5) {
		memmove(fds + 1, fds, (size_t)nfds * sizeof(*fds));
		fds[0] = s->img_fd;
		nfds++;
	}
	if (nfds != want)
		exec_bad(s, fds, nfds, "wrong number of fds (image, console log, [tap], [ramdisk])");
	if (!memchr(m.name, '\0', sizeof(m.name)))
		exec_bad(s, fds, nfds, "name not NUL terminated");
	if ((m.boot & ~(KVM_BOOT_LINUX | KVM_BOOT_INITRD)) ||
	    ((m.boot & KVM_BOOT_INITRD) && !(m.boot & KVM_BOOT_LINUX)) ||
	    (m.cmdline_len && !(m.boot & KVM_BOOT_LINUX)) || m.cmdline_len > KVM_MSG_CMDLINE_MAX)
		exec_bad(s, fds, nfds, "bad boot flags or command line length");
	if (!(m.boot & KVM_BOOT_LINUX) != !s->linux_guest)
		exec_bad(s, fds, nfds, s->linux_guest ? "a unikernel for a shell prepared for Linux" :
			 "a Linux kernel for a shell prepared for a unikernel");
	if (s->linux_guest)
		exec_linux(s, &m, fds, nfds);
	s->img_fd = fds[0];
	s->log_fd = fds[1];
	if (s->linux_guest) {
		s->lx.vnet.ipv4 = m.net_ipv4;
		s->lx.vnet.netmask = m.net_netmask;
		s->lx.vnet.gateway = m.net_gateway;
		kvm_vnet_setup(s, m.net_ipv4 ? fds[2] : -1, &m);
	} else {
		kvm_net_setup(s, nfds > 2 ? fds[2] : -1, &m);
	}
	memcpy(s->name, m.name, sizeof(s->name) < sizeof(m.name) ? sizeof(s->name) : sizeof(m.name));
	s->name[sizeof(s->name) - 1] = '\0';
	s->wall_ns = m.wall_ns;
	s->boot_timeout_ms = m.boot_timeout_ms;
	/* the hypercall watchdog means nothing to a kernel that idles in
	 * HLT and makes no hypercalls; its boot timeout still holds */
	s->spin_ns = s->linux_guest ? 0 : (int64_t)m.watchdog_s * 1000000000ll;
	s->id = m.id;
	s->restore = (m.kind & KVM_EXEC_SNAPSHOT) != 0;
	s->hold = s->restore && (m.kind & KVM_EXEC_HOLD);
	s->snap_copy = s->restore && (m.kind & KVM_EXEC_COPY);
}

/* ---- load */

int kvm_pread_full(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t n = pread(fd, p, chunk, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int parse_image(struct kvm_shell *s, char *err, size_t errlen)
{
	uint8_t hdr[4096];
	struct stat st;
	ssize_t n;

	if (fstat(s->img_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "image is not a regular file");
		return -EINVAL;
	}
	do
		n = pread(s->img_fd, hdr, sizeof(hdr), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int rc = -errno;

		snprintf(err, errlen, "reading the image: %s", strerror(errno));
		return rc;
	}
	return lv_elf_parse(hdr, (size_t)n, (uint64_t)st.st_size, LV_GPA_IMAGE,
			    s->vm.mem_size - KVM_STACK_RESERVE, &s->elf, err, errlen);
}

/* The parsed image's segments into guest memory (lv_elf_parse checked
 * each [vaddr, vaddr+memsz) lies within it). */
static int load_segments(struct kvm_shell *s, char *err, size_t errlen)
{
	int rc = 0;

	for (unsigned i = 0; !rc && i < s->elf.nseg; i++) {
		const struct lv_elf_seg *g = &s->elf.seg[i];

		rc = kvm_pread_full(s->img_fd, s->vm.mem + g->vaddr, g->filesz, g->off);
		if (rc)
			snprintf(err, errlen, "reading segment %u of the image: %s", i,
				 rc == -EIO ? "file truncated" : strerror(-rc));
		else
			memset(s->vm.mem + g->vaddr + g->filesz, 0, g->memsz - g->filesz);
	}
	return rc;
}

/* The vCPU to the image's entry: the park slots of a vCPU parked by
 * warm_up (its first instructions read them), else its registers. */
static int load_entry(struct kvm_shell *s, bool warm, char *err, size_t errlen)
{
	int rc;

	if (warm) {
		struct kvm_park *pk = park_slots(&s->vm);

		pk->rip = s->elf.entry;
		pk->rsp = s->vm.mem_size;
		pk->rdi = LV_GPA_DEVPAGE;
		return 0;
	}
	rc = kvm_vm_set_entry(&s->vm, s->elf.entry, s->vm.mem_size, LV_GPA_DEVPAGE);
	if (rc)
		snprintf(err, errlen, "setting vCPU registers: %s", strerror(-rc));
	return rc;
}

int kvm_shell_load(struct kvm_shell *s, char *err, size_t errlen)
{
	bool warm;
	int rc;

	if (s->linux_guest)
		return kvm_linux_load(s, err, errlen);
	if (s->preloaded) {   /* by PRELOAD; the EXEC named its token (wait_exec) */
		s->preloaded = false;
		s->warm = false;
		return 0;
	}
	rc = parse_image(s, err, errlen);
	warm = s->warm;
	s->warm = false;   /* a reboot's load runs after the guest did */
	if (!rc)
		rc = load_segments(s, err, errlen);
	return rc ? rc : load_entry(s, warm, err, errlen);
}

/* Zero what a preload (or a failed one) wrote: the pooled guest's memory
 * is as prepared again, whatever image the EXEC brings. */
static void wipe_segments(struct kvm_shell *s)
{
	for (unsigned i = 0; i < s->elf.nseg && i < LV_ELF_MAX_SEG; i++) {
		const struct lv_elf_seg *g = &s->elf.seg[i];

		if (g->vaddr < s->vm.mem_size && g->memsz <= s->vm.mem_size - g->vaddr)
			memset(s->vm.mem + g->vaddr, 0, g->memsz);
	}
	s->elf.nseg = 0;
}

/* An EXEC of another image (or a snapshot): the preloaded one goes. */
static void preload_drop(struct kvm_shell *s)
{
	if (!s->preloaded)
		return;
	wipe_segments(s);
	s->preloaded = false;
	close(s->img_fd);
	s->img_fd = -1;
}

/* PRELOAD (a pooled unikernel shell): the image into guest memory now,
 * so that an EXEC with KVM_EXEC_PRELOADED and the same token starts the
 * guest without a load.  The vCPU has not run since warm_up: it stays
 * parked.  Answered with PRELOADED: code = the token, kind = 0, or an
 * errno and text = why (nothing is preloaded then). */
static void preload(struct kvm_shell *s, const struct kvm_msg *m, int *fds, int nfds)
{
	struct kvm_msg r = { .type = KVM_MSG_PRELOADED, .code = m->code };
	char err[KVM_MSG_TEXT] = "";
	int rc;

	preload_drop(s);
	if (s->linux_guest || nfds != 1 || m->code <= 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		r.kind = EINVAL;
		snprintf(r.text, sizeof(r.text), "bad PRELOAD message: %s",
			 s->linux_guest ? "a shell prepared for Linux" :
			 nfds != 1 ? "not one fd (the image)" : "token not positive");
		send_msg(s, &r);
		return;
	}
	s->img_fd = fds[0];
	rc = parse_image(s, err, sizeof(err));
	if (rc)
		s->elf.nseg = 0;
	else if ((rc = load_segments(s, err, sizeof(err))) == 0)
		rc = load_entry(s, s->warm, err, sizeof(err));
	if (rc) {
		wipe_segments(s);
		close(s->img_fd);
		s->img_fd = -1;
		r.kind = (uint32_t)-rc;
		snprintf(r.text, sizeof(r.text), "%s", err);
	} else {
		s->preloaded = true;
		s->pre_token = m->code;
	}
	send_msg(s, &r);
}

static void devpage_exec(struct kvm_shell *s)
{
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);

	if (s->restore)          /* snapshot_shell.c has written it */
		return;
	memcpy(dp->name, s->name, sizeof(dp->name));
	dp->wall_ns = s->wall_ns;
	dp->devs[1].u.sysctl.host_req = LV_REQ_NONE;
	dp->devs[1].u.sysctl.guest_state = LV_GST_BOOTING;
	dp->boot_tsc = kvm_vm_guest_tsc(&s->vm);
}

static void start(struct kvm_shell *s)
{
	char err[KVM_MSG_TEXT];
	int rc = s->restore ? kvm_snap_shell_restore(s, err, sizeof(err)) :
		 kvm_shell_load(s, err, sizeof(err));

	if (rc)
		kvm_shell_exit(s, KVM_XK_ERROR, rc, "%s", err);
	s->t[KVM_T_LOADED] = kvm_now(CLOCK_MONOTONIC);
	if (!s->linux_guest)
		devpage_exec(s);
	s->t[KVM_T_DEVICES] = kvm_now(CLOCK_MONOTONIC);
	rc = ctl_async(s);
	if (rc)
		kvm_shell_exit(s, KVM_XK_ERROR, rc, "control socket O_ASYNC: %s", strerror(-rc));
	s->t[KVM_T_STARTED] = kvm_now(CLOCK_MONOTONIC);
	s->started = true;
	s->stats_t = s->t[KVM_T_STARTED];   /* the RSS read at prepare stands for now */
	/* busy from now; the CPU time read at prepare stands until the
	 * first IDLE (what the claim cost is not counted: tens of µs) */
	stats_write(s, false, s->t[KVM_T_STARTED], false);
	s->last_hcall = s->t[KVM_T_STARTED];
	if (s->boot_timeout_ms)
		s->boot_deadline = s->t[KVM_T_STARTED] + (int64_t)s->boot_timeout_ms * 1000000ll;
	/* A unikernel's STARTED waits for the guest's first exit: noop's
	 * first exit says ready, and its READY then tells the agent both
	 * (shell_msg.h) - one message and one wake-up of the agent fewer
	 * per boot.  A restore or a Linux boot says it now. */
	if (s->linux_guest || s->restore)
		kvm_shell_send(s, KVM_MSG_STARTED);
	else
		s->started_owed = true;
	if (s->hold) {              /* a migration's restore: held until UNPAUSE */
		s->paused = true;
		kvm_shell_send(s, KVM_MSG_PAUSED);
		wait_unpause(s);
	}
}

/* Write the stack pages the spawn path will use, while pooled.  The
 * shell is forked from the factory, whose stack pages it shares
 * copy-on-write: the first deep call after EXEC (the image header is
 * 4 KiB of stack) otherwise took a write fault and a TLB shootdown IPI
 * to the other CPU, ~5 µs of a claimed shell's time in a burst.  8 KiB
 * is enough (no user page fault in a claimed shell from EXEC to ready);
 * a running shell's private dirty memory grows by one page, 4 KiB. */
static __attribute__((noinline)) void stack_touch(void)
{
	volatile uint8_t pad[8192];

	for (size_t i = 0; i < sizeof(pad); i += 4096)
		pad[i] = 0;
}

void kvm_shell_main(const struct kvm_shell_args *a)
{
	static struct kvm_shell s;

	s = (struct kvm_shell){ .ctl_fd = a->ctl_fd, .img_fd = -1, .log_fd = -1,
				.listen_fd = -1, .stats_fd = -1, .statm_fd = -1,
				.stats = &stats_dummy };
	s.vm.vm_fd = s.vm.vcpu_fd = -1;
	s.net.fd = -1;
	s.lx.initrd_fd = -1;
	prctl(PR_SET_NAME, "lightvm-shell");
	/* a pool refill's preparation (VM creation, memory, the warm-up)
	 * takes the CPU only when nothing else wants it: spawns and the
	 * agent come first, so a burst right after a burst is not slowed by
	 * the refill it started */
	if (a->background) {
		struct sched_param sp = { 0 };

		sched_setscheduler(0, SCHED_IDLE, &sp);
	}
	prepare(&s, a);
	stack_touch();
	wait_exec(&s);
	start(&s);
	kvm_shell_run(&s);
}
