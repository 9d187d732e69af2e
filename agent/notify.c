/*
 * notify.c - lightvmd under systemd, without libsystemd: the readiness
 * notification (sd_notify's protocol: one datagram, "READY=1" and the
 * like, to the AF_UNIX socket named by $NOTIFY_SOCKET; a leading '@'
 * names an abstract socket) and socket activation (sd_listen_fds'
 * protocol: $LISTEN_PID is our pid and $LISTEN_FDS counts the sockets
 * passed from fd 3 up), and the service watchdog (WatchdogSec=: while
 * $WATCHDOG_USEC is set for our pid, "WATCHDOG=1" at half that period
 * from the event loop, so a loop that hangs gets the agent restarted).
 * The variables are unset once read, so that nothing the agent starts
 * inherits them.  Outside systemd every call here does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "agent.h"

#define LISTEN_FDS_START 3

static struct sockaddr_un notify_sa;
static socklen_t notify_len;	/* 0: no $NOTIFY_SOCKET */
static int64_t wd_period_ns;	/* half of $WATCHDOG_USEC; 0: no watchdog */
static int64_t wd_next;

/* $WATCHDOG_USEC (and $WATCHDOG_PID, if set, must be ours). */
static void notify_watchdog_init(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long v = us ? strtoll(us, NULL, 10) : 0;

	if (v > 0 && (!pid || strtol(pid, NULL, 10) == (long)getpid()))
		wd_period_ns = v * 1000 / 2;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* Read $NOTIFY_SOCKET once; later calls use what it said. */
static void notify_init(void)
{
	static bool done;
	const char *e;
	size_t n;

	if (done)
		return;
	done = true;
	notify_watchdog_init();
	e = getenv("NOTIFY_SOCKET");
	if (!e || (e[0] != '/' && e[0] != '@'))
		goto out;
	n = strlen(e);
	if (n < 2 || n >= sizeof(notify_sa.sun_path))
		goto out;
	notify_sa.sun_family = AF_UNIX;
	memcpy(notify_sa.sun_path, e, n);
	if (e[0] == '@')
		notify_sa.sun_path[0] = 0;	/* abstract: no NUL at the end */
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				 (e[0] == '/'));
out:
	unsetenv("NOTIFY_SOCKET");
}

/* Send one state line ("READY=1", "STOPPING=1", "STATUS=...").  Returns
 * 0 (also when there is no one to tell) or -errno. */
int notify_send(const char *state)
{
	char msg[512];
	int fd, n, rc = 0;

	notify_init();
	if (!notify_len)
		return 0;
	n = snprintf(msg, sizeof(msg), "%s\nMAINPID=%ld", state, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EMSGSIZE;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&notify_sa,
		   notify_len) < 0)
		rc = -errno;
	close(fd);
	if (rc)
		alog(LV_LOG_WARN, "systemd notification '%s': %s", state, strerror(-rc));
	return rc;
}

/* Every loop iteration: keep systemd's watchdog fed. */
void notify_tick(void)
{
	int64_t now;

	if (!wd_period_ns || !notify_len)
		return;
	now = lv_now_ns();
	if (now < wd_next)
		return;
	wd_next = now + wd_period_ns;
	notify_send("WATCHDOG=1");
}

/* A listening AF_UNIX stream socket passed by systemd: its fd (made
 * non-blocking and close-on-exec) and its path in path; -1 if none was
 * passed; -errno (logged) if what was passed is not such a socket.
 * Only the first of several sockets is used. */
int notify_listen_fd(char *path, size_t pathlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	int type = 0, acc = 0, fd = LISTEN_FDS_START;
	socklen_t ol = sizeof(int);
	long n = fds ? strtol(fds, NULL, 10) : 0;

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!pid || strtol(pid, NULL, 10) != (long)getpid() || n < 1)
		return -1;
	if (n > 1)
		alog(LV_LOG_WARN, "systemd passed %ld sockets; using the first", n);
	memset(&sa, 0, sizeof(sa));
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &ol) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 ||
	    sa.sun_family != AF_UNIX || type != SOCK_STREAM || !acc ||
	    sa.sun_path[0] != '/') {
		alog(LV_LOG_ERR, "systemd's socket (fd %d) is not a listening UNIX stream socket with a path",
		     fd);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	snprintf(path, pathlen, "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
	return fd;
}
