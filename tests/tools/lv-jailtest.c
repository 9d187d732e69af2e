/*
 * lv-jailtest - an escaped shell, for tests/integration/t_hostile_jail.sh.
 * It does what the factory and a shell do (core/kvm/shell_jail.c: the
 * empty network namespace and jail dir, then a KVM VM, then
 * kvm_jail_enter) and then, in place of the vCPU loop, runs hostile code:
 * signal another VM's shell, open files outside the jail and /dev/kvm,
 * look for a /dev/kvm fd, reach the network, fork, exec.  One line per
 * attempt ("kill: denied (Operation not permitted)", "kill: ALLOWED");
 * the jailed process's /proc status lines last.
 *   lv-jailtest SOCKDIR VICTIM_PID
 * Exit 0 when every attempt was denied, 1 otherwise, 2 on set-up errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "kvm/shell_jail.h"
#include "kvm/vmsetup.h"

static int out_fd;
static int allowed;

static void report(const char *what, int rc)
{
	char line[160];
	int n;

	if (rc >= 0)
		allowed++;
	n = snprintf(line, sizeof(line), "%s: %s%s%s\n", what, rc >= 0 ? "ALLOWED" : "denied (",
		     rc >= 0 ? "" : strerror(-rc), rc >= 0 ? "" : ")");
	if (write(out_fd, line, (size_t)n) < 0)
		_exit(2);
}

static int sys(int r)
{
	return r < 0 ? -errno : r;
}

/* Does any open fd refer to the /dev/kvm device (rdev)? */
static int kvm_fd_open(dev_t kvm_rdev)
{
	for (int fd = 0; fd < 1024; fd++) {
		struct stat st;

		if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == kvm_rdev)
			return fd;
	}
	return -ENOENT;
}

static int fd2_is_null(void)
{
	struct stat st;

	return fstat(2, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static void hostile(pid_t victim, dev_t kvm_rdev)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(22) };
	int s;

	report("signal another VM's shell", sys(kill(victim, SIGKILL)));
	report("open /etc/passwd", sys(open("/etc/passwd", O_RDONLY)));
	report("open /dev/kvm", sys(open("/dev/kvm", O_RDWR)));
	report("open ../../../../etc/passwd", sys(open("../../../../etc/passwd", O_RDONLY)));
	report("a /dev/kvm fd left open", kvm_fd_open(kvm_rdev));
	s = sys(socket(AF_INET, SOCK_STREAM, 0));
	report("socket(AF_INET)", s);
	if (s >= 0) {
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		report("connect 127.0.0.1:22", sys(connect(s, (struct sockaddr *)&sa, sizeof(sa))));
	}
	report("socket(AF_UNIX)", sys(socket(AF_UNIX, SOCK_STREAM, 0)));
	report("fork", sys(fork()));
	report("execve /bin/sh", sys(execl("/bin/sh", "sh", "-c", "true", (char *)NULL)));
	report("write to the agent's log (fd 2 is not /dev/null)", fd2_is_null() ? -EBADF : 0);
}

static void child(const char *sock_dir, pid_t victim, int wfd)
{
	struct kvm_vm vm = { .vm_fd = -1, .vcpu_fd = -1 };
	struct timespec ts = { 3, 0 };
	struct stat st;
	char err[160];
	int kvm_fd, rc;

	out_fd = wfd;
	rc = kvm_jail_factory(sock_dir);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (rc || kvm_fd < 0 || fstat(kvm_fd, &st) < 0 ||
	    kvm_vm_create(&vm, kvm_fd, 4u << 20, 1, err, sizeof(err))) {
		dprintf(wfd, "set-up failed: %s\n", rc ? strerror(-rc) : err);
		_exit(2);
	}
	rc = kvm_jail_enter(kvm_fd, sock_dir);
	if (rc) {
		dprintf(wfd, "kvm_jail_enter: %s\n", strerror(-rc));
		_exit(2);
	}
	hostile(victim, st.st_rdev);
	if (write(wfd, "done\n", 5) < 0)
		_exit(2);
	nanosleep(&ts, NULL);   /* the parent reads /proc/PID/status meanwhile */
	_exit(allowed ? 1 : 0);
}

static void show_status(pid_t pid)
{
	char path[64], line[256];
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Seccomp:", 8) ||
		    !strncmp(line, "NoNewPrivs:", 11))
			fputs(line, stdout);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	n = readlink(path, line, sizeof(line) - 1);
	if (n > 0) {
		line[n] = 0;
		printf("root: %s\n", line);
	}
}

int main(int argc, char **argv)
{
	int p[2], st;
	char buf[4096];
	ssize_t n;
	pid_t pid;

	if (argc != 3 || pipe(p) < 0)
		return 2;
	memset(buf, 0, sizeof(buf));
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(argv[1], (pid_t)atoi(argv[2]), p[1]);
	}
	close(p[1]);
	for (size_t got = 0; (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0;) {
		got += (size_t)n;
		if (strstr(buf, "done\n") || strstr(buf, "failed") || strstr(buf, "kvm_jail_enter"))
			break;
	}
	fputs(buf, stdout);
	show_status(pid);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}
