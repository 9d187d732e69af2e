/*
 * shell_jail.c - the per-VM shell's jail, after Firecracker's jailer,
 * OpenBSD vmd and crosvm's minijail, within what Linux gives without new
 * dependencies.  A shell is the first thing an escaped guest owns; once
 * its VM exists the shell gives up everything the vCPU loop does not
 * need: /dev/kvm (no more VMs), its view of the file system (an empty,
 * root-owned directory as root), its uid (one per VM, so it cannot signal
 * another VM's shell), the network (an empty namespace made once by the
 * factory: the tap fd is all it has), the agent's log on fd 2, and all
 * but a short list of system calls (a hand-written seccomp BPF filter;
 * ioctl only with the KVM type).  The listening socket, the stats page
 * and /proc/self/statm are set up before, as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kvm/shell_jail.h"

#define KVMIO_TYPE 0xAEu        /* _IO(KVMIO, ...): bits 8..15 of the request */
#define JAIL_NOFILE 64
#define JAIL_FSIZE  (2u << 20)  /* the console log is capped at 1 MiB */

int kvm_jail_factory(const char *sock_dir)
{
	char dir[300];
	int rc = 0;

	if (sock_dir) {
		snprintf(dir, sizeof(dir), "%s/%s", sock_dir, KVM_JAIL_DIR);
		if (mkdir(dir, 0555) < 0 && errno != EEXIST)
			rc = -errno;
	}
	if (unshare(CLONE_NEWNET) < 0)
		rc = -errno;
	return rc;
}

/* The system calls a shell makes once prepared: the vCPU loop, control
 * messages (and the fds of EXEC), the listening socket, timers, the
 * console log and tap, the image at a reboot, exit. */
static const int allowed[] = {
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64,
	SYS_close, SYS_fstat, SYS_newfstatat, SYS_lseek, SYS_fcntl,
	SYS_poll, SYS_ppoll, SYS_accept4, SYS_accept, SYS_recvmsg, SYS_sendmsg,
	SYS_recvfrom, SYS_sendto,
	SYS_mmap, SYS_munmap, SYS_mprotect, SYS_madvise, SYS_brk, SYS_mincore,
	SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_rt_sigaction, SYS_sigaltstack,
	SYS_restart_syscall, SYS_timer_settime, SYS_timer_gettime,
	SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep, SYS_futex,
	SYS_sched_yield, SYS_getpid, SYS_gettid, SYS_tgkill, SYS_getrandom,
	SYS_exit, SYS_exit_group,
};
#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))

static int seccomp_load(void)
{
	/* arch check (3), nr and x32 check (2), ioctl? (1), the list, jump to
	 * deny (1), ioctl's type check (3), deny, allow */
	struct sock_filter f[6 + NALLOWED + 1 + 3 + 2];
	struct sock_fprog prog = { .len = 0, .filter = f };
	unsigned n = 0, ioctl = 6 + NALLOWED + 1, deny = ioctl + 3, allow = deny + 1;

	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, (uint8_t)(deny - n - 1), 0);
	n++;
	/* ioctl (KVM_RUN: the hot one) first, its type check at the end */
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, (uint8_t)(ioctl - n - 1), 0);
	n++;
	for (unsigned k = 0; k < NALLOWED; k++, n++)
		f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)allowed[k],
						    (uint8_t)(allow - n - 1), 0);
	f[n] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA | BPF_K, deny - n - 1);
	n++;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00u);
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVMIO_TYPE << 8, 1, 0);
	n++;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)n;
	/* SPEC_ALLOW: no speculation mitigations forced on the shell for
	 * being filtered (IBPB at every switch to it costs a trapped MSR
	 * write each under nested virtualization; Firecracker does the same:
	 * the guest runs in its own VM, not in the shell's address space) */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) < 0 &&
	    (errno != EINVAL || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0))
		return -errno;
	return 0;
}

static int limits_set(void)
{
	static const struct { int res; rlim_t v; } lim[] = {
		{ RLIMIT_NOFILE, JAIL_NOFILE }, { RLIMIT_NPROC, 0 }, { RLIMIT_CORE, 0 },
		{ RLIMIT_FSIZE, JAIL_FSIZE }, { RLIMIT_MEMLOCK, 0 }, { RLIMIT_MSGQUEUE, 0 },
	};

	for (unsigned i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		struct rlimit r = { lim[i].v, lim[i].v };

		if (setrlimit(lim[i].res, &r) < 0)
			return -errno;
	}
	return 0;
}

static int become_own_uid(void)
{
	uid_t id = (uid_t)(KVM_JAIL_ID_BASE + (unsigned)getpid());

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(id, id, id) < 0 || setresuid(id, id, id) < 0)
		return -errno;
	return 0;
}

int kvm_jail_enter(int kvm_fd, const char *sock_dir)
{
	char dir[300];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	if (kvm_fd >= 0)
		close(kvm_fd);          /* the VM and vCPU fds are all it needs */
	if (null >= 0) {            /* not the agent's log */
		dup2(null, 2);
		close(null);
	}
	if (geteuid() != 0)         /* tests without root: nothing to give up */
		return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : seccomp_load();
	if (sock_dir) {
		snprintf(dir, sizeof(dir), "%s/%s", sock_dir, KVM_JAIL_DIR);
		if (chroot(dir) < 0 || chdir("/") < 0)
			return -errno;
	}
	signal(SIGXFSZ, SIG_IGN);   /* a write past the size limit fails, no more */
	rc = become_own_uid();
	if (!rc)
		rc = limits_set();
	if (!rc)
		rc = seccomp_load();
	return rc;
}
