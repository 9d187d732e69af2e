/*
 * lv-shellrun - run one guest image in one KVM shell, without the agent.
 * A debugging and test tool for core/kvm/shell.c: forks a shell
 * (kvm_shell_main) on a SOCK_SEQPACKET socketpair, waits for PREPARED,
 * sends EXEC with the image and a console log fd, prints every message
 * with its flight-recorder times, and can send PAUSE/UNPAUSE/POWEROFF/
 * REBOOT/DESTROY at given times.  ^C once: POWEROFF request; twice:
 * DESTROY and quit.
 *
 * Exit status: 0 guest powered off with code 0, 1 with another code,
 * 2 crashed, 3 shell error, 4 destroyed, 5 shell died without EXIT,
 * 64 usage, 130 interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kvm/shell_msg.h"

#define MAX_EV 16

struct ev {
	int64_t at_ms;  /* after EXEC */
	uint32_t type;
	bool done;
};

static volatile sig_atomic_t interrupts;

static void on_int(int sig)
{
	interrupts++;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static const char *msg_name(uint32_t t)
{
	switch (t) {
	case KVM_MSG_PREPARED: return "PREPARED";
	case KVM_MSG_STARTED:  return "STARTED";
	case KVM_MSG_READY:    return "READY";
	case KVM_MSG_PAUSED:   return "PAUSED";
	case KVM_MSG_UNPAUSED: return "UNPAUSED";
	case KVM_MSG_EXIT:     return "EXIT";
	case KVM_MSG_PAUSE:    return "PAUSE";
	case KVM_MSG_UNPAUSE:  return "UNPAUSE";
	case KVM_MSG_POWEROFF: return "POWEROFF";
	case KVM_MSG_REBOOT:   return "REBOOT";
	case KVM_MSG_DESTROY:  return "DESTROY";
	default:               return "?";
	}
}

static const char *kind_name(uint32_t k)
{
	static const char *const n[] = { "?", "POWEROFF", "CRASH", "ERROR", "DESTROYED" };

	return k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static void usage(void)
{
	fprintf(stderr,
		"usage: lv-shellrun [-m MiB] [-c vcpus] [-n name] [-l logfile] [-t boot_timeout_ms]\n"
		"                   [-P ms] [-U ms] [-O ms] [-R ms] [-D ms] image\n"
		"  -P/-U/-O/-R/-D ms  send PAUSE/UNPAUSE/POWEROFF/REBOOT/DESTROY ms after EXEC\n"
		"  console output goes to logfile (default: stdout); messages to stderr\n");
	exit(64);
}

static int send_msg(int sock, struct kvm_msg *m, int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void send_simple(int sock, uint32_t type, int64_t t0)
{
	struct kvm_msg m = { .type = type };
	int rc = send_msg(sock, &m, NULL, 0);

	fprintf(stderr, "[%9.3f ms] -> %s%s%s\n", (now_ns() - t0) / 1e6, msg_name(type),
		rc ? ": " : "", rc ? strerror(-rc) : "");
}

static void print_msg(const struct kvm_msg *m, int64_t t0)
{
	const int64_t *t = m->t;

	fprintf(stderr, "[%9.3f ms] <- %s", (now_ns() - t0) / 1e6, msg_name(m->type));
	switch (m->type) {
	case KVM_MSG_PREPARED:
		fprintf(stderr, " (prepared %.3f ms after fork)", (t[KVM_T_PREPARED] - t0) / 1e6);
		break;
	case KVM_MSG_STARTED:
		fprintf(stderr, " claimed->loaded %.1f us, ->devices %.1f us, ->started %.1f us",
			(t[KVM_T_LOADED] - t[KVM_T_CLAIMED]) / 1e3,
			(t[KVM_T_DEVICES] - t[KVM_T_CLAIMED]) / 1e3,
			(t[KVM_T_STARTED] - t[KVM_T_CLAIMED]) / 1e3);
		break;
	case KVM_MSG_READY:
		fprintf(stderr, " EXEC->READY %.1f us (started->ready %.1f us)",
			(t[KVM_T_READY] - t[KVM_T_CLAIMED]) / 1e3,
			(t[KVM_T_READY] - t[KVM_T_STARTED]) / 1e3);
		break;
	case KVM_MSG_EXIT:
		fprintf(stderr, " kind %s code %lld: %.*s", kind_name(m->kind),
			(long long)m->code, (int)sizeof(m->text), m->text);
		break;
	}
	fputc('\n', stderr);
}

static int exit_status(const struct kvm_msg *m)
{
	switch (m->kind) {
	case KVM_XK_POWEROFF:  return m->code == 0 ? 0 : 1;
	case KVM_XK_CRASH:     return 2;
	case KVM_XK_ERROR:     return 3;
	case KVM_XK_DESTROYED: return 4;
	default:               return 5;
	}
}

static int add_ev(struct ev *ev, int *nev, uint32_t type, const char *arg)
{
	if (*nev == MAX_EV)
		usage();
	ev[*nev] = (struct ev){ .at_ms = atoll(arg), .type = type };
	(*nev)++;
	return 0;
}

static pid_t spawn_shell(int kvm_fd, uint64_t mem, uint32_t vcpus, int *sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(3);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(3);
	}
	if (pid == 0) {
		struct kvm_shell_args a = { .kvm_fd = kvm_fd, .ctl_fd = sv[1],
					    .mem_bytes = mem, .vcpus = vcpus };

		close(sv[0]);
		signal(SIGINT, SIG_IGN);
		kvm_shell_main(&a);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

/* Next event timeout in ms from now, -1 if none. */
static int next_timeout(struct ev *ev, int nev, int64_t t_exec)
{
	int64_t best = -1, now = now_ns();

	for (int i = 0; i < nev; i++) {
		int64_t due = t_exec + ev[i].at_ms * 1000000ll - now;

		if (ev[i].done)
			continue;
		due = due < 0 ? 0 : (due + 999999) / 1000000;
		if (best < 0 || due < best)
			best = due;
	}
	return (int)best;
}

static void fire_events(int sock, struct ev *ev, int nev, int64_t t_exec, int64_t t0)
{
	for (int i = 0; i < nev; i++) {
		if (!ev[i].done && now_ns() >= t_exec + ev[i].at_ms * 1000000ll) {
			ev[i].done = true;
			send_simple(sock, ev[i].type, t0);
		}
	}
}

static int run(int sock, pid_t pid, struct ev *ev, int nev, int64_t t0, int64_t t_exec)
{
	int sent_int = 0;

	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		struct kvm_msg m;
		ssize_t n;

		if (interrupts > sent_int) {
			sent_int = interrupts;
			if (sent_int >= 2) {
				send_simple(sock, KVM_MSG_DESTROY, t0);
				usleep(100000);
				kill(pid, SIGKILL);
				return 130;
			}
			send_simple(sock, KVM_MSG_POWEROFF, t0);
		}
		if (poll(&p, 1, next_timeout(ev, nev, t_exec)) < 0 && errno != EINTR)
			return 5;
		fire_events(sock, ev, nev, t_exec, t0);
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		n = recv(sock, &m, sizeof(m), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m)) {
			fprintf(stderr, "[%9.3f ms] shell closed the channel without EXIT\n",
				(now_ns() - t0) / 1e6);
			return 5;
		}
		print_msg(&m, t0);
		if (m.type == KVM_MSG_EXIT)
			return exit_status(&m);
	}
}

int main(int argc, char **argv)
{
	struct ev ev[MAX_EV];
	int nev = 0, c, sock, fds[2], kvm_fd, st, rc;
	uint64_t mem_mib = 4;
	uint32_t boot_timeout = 0, vcpus = 1;
	const char *name = "shellrun", *logpath = NULL, *image;
	struct kvm_msg m = { 0 };
	struct sigaction sa = { .sa_handler = on_int };
	int64_t t0, t_exec;
	pid_t pid;

	while ((c = getopt(argc, argv, "m:c:n:l:t:P:U:O:R:D:h")) != -1) {
		switch (c) {
		case 'm': mem_mib = strtoull(optarg, NULL, 0); break;
		case 'c': vcpus = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': name = optarg; break;
		case 'l': logpath = optarg; break;
		case 't': boot_timeout = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'P': add_ev(ev, &nev, KVM_MSG_PAUSE, optarg); break;
		case 'U': add_ev(ev, &nev, KVM_MSG_UNPAUSE, optarg); break;
		case 'O': add_ev(ev, &nev, KVM_MSG_POWEROFF, optarg); break;
		case 'R': add_ev(ev, &nev, KVM_MSG_REBOOT, optarg); break;
		case 'D': add_ev(ev, &nev, KVM_MSG_DESTROY, optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || strlen(name) >= KVM_MSG_NAME)
		usage();
	image = argv[optind];
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		perror("/dev/kvm");
		return 3;
	}
	fds[0] = open(image, O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0) {
		perror(image);
		return 3;
	}
	fds[1] = logpath ? open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644)
			 : dup(STDOUT_FILENO);
	if (fds[1] < 0) {
		perror(logpath ? logpath : "stdout");
		return 3;
	}

	t0 = now_ns();
	pid = spawn_shell(kvm_fd, mem_mib << 20, vcpus, &sock);
	rc = recv(sock, &m, sizeof(m), 0) == (ssize_t)sizeof(m) ? 0 : -1;
	if (rc)
		return fprintf(stderr, "shell died before PREPARED\n"), 5;
	print_msg(&m, t0);
	if (m.type == KVM_MSG_EXIT)
		return exit_status(&m);

	memset(&m, 0, sizeof(m));
	m.type = KVM_MSG_EXEC;
	m.id = 1;
	m.boot_timeout_ms = boot_timeout;
	m.wall_ns = (uint64_t)time(NULL) * 1000000000ull;
	snprintf(m.name, sizeof(m.name), "%s", name);
	t_exec = now_ns();
	if ((rc = send_msg(sock, &m, fds, 2)) < 0)
		return fprintf(stderr, "send EXEC: %s\n", strerror(-rc)), 5;
	fprintf(stderr, "[%9.3f ms] -> EXEC %s as '%s'\n", (t_exec - t0) / 1e6, image, name);
	rc = run(sock, pid, ev, nev, t0, t_exec);
	close(sock);
	if (rc != 130)
		waitpid(pid, &st, 0);
	return rc;
}
