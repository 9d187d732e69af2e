/*
 * lv-fakeshell - a hostile stand-in for a KVM shell after an agent
 * restart, for tests/integration/t_hostile_shell.sh.  It listens on
 * SOCKDIR/PID.sock as a real shell does; when the agent connects it
 * sends HELLO with the given name, id, state and memory, then (with
 * "twice") a second HELLO, and waits until the agent hangs up or sends
 * DESTROY, printing what it got ("destroy", "eof" or "timeout").
 *   lv-fakeshell SOCKDIR NAME ID STATE MEM [twice]
 * STATE: prepared | booting | running | paused | exited.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "kvm/shell_msg.h"

static uint32_t state_of(const char *s)
{
	static const char *const names[] = { "prepared", "booting", "running", "paused", "exited" };

	for (uint32_t i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	fprintf(stderr, "lv-fakeshell: unknown state %s\n", s);
	exit(2);
}

static int listen_on(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock", dir, (int)getpid());
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		perror("lv-fakeshell: listen");
		exit(1);
	}
	return fd;
}

/* Wait for DESTROY or EOF on fd, up to 10 s times LV_TIME_SCALE (the
 * testbeds stretch every test's limits by it). */
static const char *wait_end(int fd)
{
	const char *ts = getenv("LV_TIME_SCALE");
	int scale = ts ? atoi(ts) : 1;

	if (scale < 1 || scale > 100)
		scale = 1;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct kvm_msg m;
		ssize_t r;

		if (poll(&p, 1, 10000 * scale) <= 0)
			return "timeout";
		r = recv(fd, &m, sizeof(m), 0);
		if (r <= 0)
			return "eof";
		if (r == sizeof(m) && m.type == KVM_MSG_DESTROY)
			return "destroy";
	}
}

int main(int argc, char **argv)
{
	struct kvm_msg m = { .type = KVM_MSG_HELLO };
	int lfd, fd;

	if (argc < 6) {
		fprintf(stderr, "usage: lv-fakeshell SOCKDIR NAME ID STATE MEM [twice]\n");
		return 2;
	}
	lfd = listen_on(argv[1]);
	printf("%d\n", (int)getpid());
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return 1;
	memcpy(m.name, argv[2], strlen(argv[2]) < sizeof(m.name) ? strlen(argv[2]) : sizeof(m.name));
	m.id = (uint32_t)strtoul(argv[3], NULL, 10);
	m.kind = state_of(argv[4]);
	m.code = strtoll(argv[5], NULL, 10);
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
		return 1;
	if (argc > 6 && strcmp(argv[6], "twice") == 0) {
		usleep(300000);
		send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	}
	printf("%s\n", wait_end(fd));
	return 0;
}
