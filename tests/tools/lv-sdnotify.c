/*
 * lv-sdnotify - stands in for systemd's notification socket in tests:
 * binds an AF_UNIX datagram socket at PATH, prints every message it gets
 * (one line per state line), and exits 0 at the first line equal to
 * STATE (default READY=1), or 1 after TIMEOUT seconds (default 10)
 * without one.
 *   usage: lv-sdnotify PATH [TIMEOUT [STATE]]
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int timeout_ms = (argc > 2 ? atoi(argv[2]) : 10) * 1000;
	const char *want = argc > 3 ? argv[3] : "READY=1";
	char buf[4096];
	int fd;

	if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: lv-sdnotify PATH [TIMEOUT [STATE]]\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(argv[1]);
		return 2;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0) {
			fprintf(stderr, "lv-sdnotify: no %s within %d s\n", want, timeout_ms / 1000);
			return 1;
		}
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			return 2;
		buf[n] = 0;
		printf("%s\n", buf);
		fflush(stdout);
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			if (strcmp(l, want) == 0)
				return 0;
	}
}
