/*
 * factory.c - the shell factory process (see factory.h).  The factory reaps its shells and removes their cgroups
 * (cgroup.c).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kvm/cgroup.h"
#include "kvm/factory.h"
#include "kvm/vmsetup.h"
#include "kvm/shell_jail.h"
#include "kvm/shell_msg.h"

static const char *factory_sock_dir;
static char factory_cg[300];   /* the shells' cgroup subtree, "" if none */
static sigset_t factory_mask;  /* as the factory started: the shells' */
static sigset_t factory_wait;  /* the same with SIGCHLD open: pselect's */
static int factory_nshells;    /* forked and not yet reaped */
static int factory_foreign;    /* live cgroups of shells not ours (adopted) */

/* In a new shell, as root, before its VM exists: its own cgroup. */
static void shell_cgroup(uint64_t mem_bytes)
{
	int rc;

	if (!factory_cg[0])
		return;
	rc = kvm_cgroup_enter(factory_cg, mem_bytes);
	if (rc)
		dprintf(2, "lightvm-shell %d: no cgroup of its own in %s (no memory or pids limit): %s\n",
			(int)getpid(), factory_cg, strerror(-rc));
}

static void factory_fork_shell(int sock, int kvm_fd, const struct kvm_factory_req *rq)
{
	struct kvm_factory_rep rep = { 0 };
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rep.err = -errno;
		kvm_sendmsg(sock, &rep, sizeof(rep), NULL, 0);
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct kvm_shell_args a = {
			.kvm_fd = kvm_fd, .ctl_fd = sv[1],
			.mem_bytes = rq->mem_bytes, .vcpus = rq->vcpus,
			.background = (rq->flags & KVM_FACTORY_BACKGROUND) != 0,
			.linux_guest = (rq->flags & KVM_FACTORY_LINUX) != 0,
			.sock_dir = factory_sock_dir,
		};

		close(sock);
		close(sv[0]);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &factory_mask, NULL);
		setsid();            /* a terminal's ^C must not reach guests */
		shell_cgroup(rq->mem_bytes);
		kvm_shell_main(&a);
	}
	close(sv[1]);
	if (pid < 0) {
		rep.err = -errno;
		kvm_sendmsg(sock, &rep, sizeof(rep), NULL, 0);
	} else {
		rep.pid = pid;
		factory_nshells++;
		kvm_sendmsg(sock, &rep, sizeof(rep), &sv[0], 1);
	}
	close(sv[0]);
}

static void on_sigchld(int sig)
{
	(void)sig;                       /* only interrupts pselect */
}

/* Reap the shells that ended and remove their cgroups; nonzero while
 * some removal waits for a retry. */
static int reap(void)
{
	pid_t p;

	while ((p = waitpid(-1, NULL, WNOHANG)) > 0) {
		factory_nshells--;
		if (factory_cg[0])
			kvm_cgroup_remove(factory_cg, p);
	}
	return factory_cg[0] ? kvm_cgroup_retry(factory_cg) : 0;
}

/* The shells a former agent left are not our children: while some live,
 * sweep for their cgroups every KVM_CG_SWEEP_S. */
static void sweep_foreign(struct timespec *next)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (factory_foreign <= 0 || now.tv_sec < next->tv_sec)
		return;
	factory_foreign = kvm_cgroup_sweep(factory_cg) - factory_nshells;
	next->tv_sec = now.tv_sec + KVM_CG_SWEEP_S;
}

/* Once, as root: the shells' cgroup subtree, or one line saying why not. */
static void factory_cgroups(void)
{
	char why[400];

	if (kvm_cgroup_setup(factory_cg, sizeof(factory_cg), why, sizeof(why)) == 0) {
		dprintf(2, "lightvm-factory: per-VM cgroups in %s (memory.max = guest memory + %llu MiB + 1/128, pids.max = %s)\n",
			factory_cg, KVM_CG_OVERHEAD >> 20, KVM_CG_PIDS);
		factory_foreign = kvm_cgroup_sweep(factory_cg);
		return;
	}
	factory_cg[0] = '\0';
	dprintf(2, "lightvm-factory: no per-VM cgroups (no memory or pids limits for the shells): %s\n", why);
}

static void __attribute__((noreturn)) factory_main(int sock, int kvm_fd)
{
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP };
	struct kvm_factory_req rq;
	struct timespec next_sweep = { 0, 0 };
	sigset_t chld;
	ssize_t r;

	/* known before the jail: a shell chroots, and /sys is outside it */
	(void)kvm_platform();
	/* forked or exec'd, its two descriptors are kept from any exec */
	fcntl(sock, F_SETFD, FD_CLOEXEC);
	fcntl(kvm_fd, F_SETFD, FD_CLOEXEC);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &factory_mask); /* open only in pselect */
	factory_wait = factory_mask;
	sigdelset(&factory_wait, SIGCHLD);
	sigaction(SIGCHLD, &sa, NULL);   /* shells are reaped in reap() */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_NAME, "lightvm-factory");
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* an orphan factory is useless */
	if (geteuid() == 0 && (r = kvm_jail_factory(factory_sock_dir)) < 0)
		dprintf(2, "lightvm-factory: the shells' jail is incomplete (no empty network namespace or jail dir): %s\n",
			strerror((int)-r));
	if (geteuid() == 0)
		factory_cgroups();
	for (int busy = 0;;) {
		struct timespec retry = { 0, KVM_CG_RETRY_MS * 1000000L };
		fd_set rf;
		int n;

		FD_ZERO(&rf);
		FD_SET(sock, &rf);
		if (!busy && factory_foreign > 0)
			retry = (struct timespec){ KVM_CG_SWEEP_S, 0 };
		n = pselect(sock + 1, &rf, NULL, NULL, busy || factory_foreign > 0 ? &retry : NULL,
			    &factory_wait);
		if (n < 0 && errno != EINTR)
			_exit(1);
		busy = reap();
		sweep_foreign(&next_sweep);
		if (n <= 0)
			continue;
		r = kvm_recvmsg(sock, &rq, sizeof(rq), NULL, NULL);
		if (r == 0)
			_exit(0);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r < 0)
			_exit(1);
		if (r != sizeof(rq) || rq.magic != KVM_FACTORY_MAGIC) {
			struct kvm_factory_rep rep = { .err = -EBADMSG };
			kvm_sendmsg(sock, &rep, sizeof(rep), NULL, 0);
			continue;
		}
		factory_fork_shell(sock, kvm_fd, &rq);
	}
}

/* The factory's own binary, lightvm-factory, next to the running agent
 * (the build tree) or in LIBDIR/lightvm beside its sbin: *path is ""
 * when there is none (the factory then runs forked, in the agent's
 * image). */
static void factory_binary(char *path, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	static const char *const rel[] = { "/lightvm-factory", "/../lib/lightvm/lightvm-factory" };

	path[0] = '\0';
	if (n <= 0 || getenv("LIGHTVM_KVM_FACTORY_FORK"))   /* the old way, for A/B runs */
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		struct stat st;

		if ((size_t)snprintf(path, len, "%s%s", exe, rel[i]) < len && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode) && (st.st_mode & 0111) && st.st_uid == geteuid() &&
		    !(st.st_mode & 022))
			return;
	}
	path[0] = '\0';
}

/* lightvm-factory's main(): started by kvm_factory_start with the
 * socket at fd 3 and /dev/kvm at fd 4.  argv: FACTORY_ARGV0,
 * FACTORY_PROTO, the shells' socket directory ("-": none). */
int kvm_factory_exec_main(int argc, char **argv)
{
	static char dir[PATH_MAX];
	struct stat s3, s4;

	if (argc != 3 || strcmp(argv[1], FACTORY_PROTO) != 0) {
		dprintf(2, "lightvm-factory: started by lightvmd only (protocol %s, fds 3 and 4); "
			   "this one has protocol %s\n", FACTORY_PROTO, argc > 1 ? argv[1] : "none");
		return 2;
	}
	if (fstat(3, &s3) < 0 || !S_ISSOCK(s3.st_mode) || fstat(4, &s4) < 0 || !S_ISCHR(s4.st_mode)) {
		dprintf(2, "lightvm-factory: fd 3 must be lightvmd's socket and fd 4 /dev/kvm "
			   "(started by lightvmd only)\n");
		return 2;
	}
	if (strcmp(argv[2], "-") != 0) {
		if (strlen(argv[2]) >= sizeof(dir) || argv[2][0] != '/') {
			dprintf(2, "lightvm-factory: the shells' socket directory must be an absolute path "
				   "shorter than %d bytes, or -\n", PATH_MAX);
			return 2;
		}
		strcpy(dir, argv[2]);
		factory_sock_dir = dir;
	}
	factory_main(3, 4);
}

/* sched_setattr(2)'s argument, its first version (no glibc wrapper) */
struct kvm_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

/* The fair classes, whose slice is ours to set; a real-time class
 * someone chose is not ours to change. */
static bool fair_policy(uint32_t policy)
{
	return policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE;
}

uint64_t kvm_boot_slice_ns(void)
{
	const char *e = getenv("LIGHTVM_KVM_SLICE_US");
	char *end;
	unsigned long us;

	if (!e || *e < '0' || *e > '9')   /* unset, empty, a sign: the default */
		return KVM_BOOT_SLICE_US * 1000ull;
	errno = 0;
	us = strtoul(e, &end, 10);
	if (errno || *end)
		return KVM_BOOT_SLICE_US * 1000ull;
	if (us == 0)
		return 0;
	/* the kernel's range: 0.1 .. 100 ms */
	return (us < 100 ? 100 : us > 100000 ? 100000 : us) * 1000ull;
}

int kvm_sched_slice(pid_t pid, uint64_t ns)
{
	struct kvm_sched_attr a = { 0 };

	if (syscall(SYS_sched_getattr, pid, &a, sizeof(a), 0) < 0)
		return -errno;
	if (!fair_policy(a.policy))
		return 0;
	a.size = sizeof(a);
	a.flags = 0;
	a.runtime = ns;
	a.deadline = a.period = 0;
	return syscall(SYS_sched_setattr, pid, &a, 0) < 0 ? -errno : 0;
}

int kvm_sched_base_read(struct kvm_sched_base *b)
{
	struct kvm_sched_attr a = { 0 };

	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
		return -errno;
	b->policy = a.policy;
	b->nice = a.nice;
	b->fair = fair_policy(a.policy);
	return 0;
}

int kvm_sched_default(pid_t pid, const struct kvm_sched_base *b)
{
	struct kvm_sched_attr a = { .size = sizeof(a), .policy = b->policy, .nice = b->nice };

	if (!b->fair)
		return 0;
	return syscall(SYS_sched_setattr, pid, &a, 0) < 0 ? -errno : 0;
}

bool kvm_spread_init(struct kvm_spread *sp)
{
	sp->n = sp->seq = 0;
	if (sched_getaffinity(0, sizeof(sp->cpus), &sp->cpus) < 0)
		return false;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &sp->cpus))
			sp->list[sp->n++] = (uint16_t)c;
	return sp->n > 1;
}

int kvm_spread_next(struct kvm_spread *sp, int self)
{
	unsigned slots = 0, k;

	for (unsigned i = 0; i < sp->n; i++)
		slots += sp->list[i] == self ? 1 : 2;
	if (!slots)
		return -1;
	k = sp->seq++ % slots;
	for (unsigned i = 0; i < sp->n; i++) {
		unsigned w = sp->list[i] == self ? 1 : 2;

		if (k < w)
			return sp->list[i];
		k -= w;
	}
	return -1;
}

int kvm_factory_start(int kvm_fd, const char *sock_dir, uint64_t slice_ns, int *sock, pid_t *pid)
{
	char bin[PATH_MAX];
	int sv[2];
	pid_t p;

	factory_binary(bin, sizeof(bin));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	p = fork();
	if (p < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (p == 0) {
		int devnull = open("/dev/null", O_RDWR);

		/* keep only stderr, /dev/kvm and our socket */
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		if (dup2(sv[1], 3) < 0 || dup2(kvm_fd, 4) < 0)
			_exit(1);
		syscall(SYS_close_range, 5, ~0U, 0);
		if (slice_ns)   /* inherited by every shell, until its guest is ready */
			kvm_sched_slice(0, slice_ns);
		if (bin[0]) {   /* a small image of its own: what every shell inherits */
			char *const argv[] = { FACTORY_ARGV0, FACTORY_PROTO,
					       (char *)(sock_dir ? sock_dir : "-"), NULL };

			execv(bin, argv);
			dprintf(2, "lightvm-factory: cannot run %s (%s); forked from the agent instead\n",
				bin, strerror(errno));
		}
		factory_sock_dir = sock_dir;   /* our copy of the agent's memory */
		factory_main(3, 4);
	}
	close(sv[1]);
	*sock = sv[0];
	*pid = p;
	return 0;
}
