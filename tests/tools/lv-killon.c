/*
 * lv-killon - kill a process the moment a file appears: for tests that
 * must kill an agent at one point of a protocol, not "some time after"
 * (a shell loop that polls a directory misses a file that lives less
 * than one turn of the loop).
 *
 *   lv-killon DIR PREFIX PID [SECONDS]
 *
 * Watches DIR (inotify: created or moved in) and sends SIGKILL to PID as
 * soon as a file whose name starts with PREFIX is there (one already
 * there counts too), then prints that name.  Exit 0 once PID is killed,
 * 1 on a timeout (default 300 s) or an error, 2 on bad arguments.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/types.h>

static int prefixed(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* A file of PREFIX already in DIR: its name into out.  1 if found. */
static int present(const char *dir, const char *prefix, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)))
		if (prefixed(e->d_name, prefix)) {
			snprintf(out, len, "%s", e->d_name);
			found = 1;
		}
	closedir(d);
	return found;
}

static int hit(pid_t pid, const char *name)
{
	if (kill(pid, SIGKILL) < 0) {
		fprintf(stderr, "lv-killon: kill %d: %s\n", (int)pid, strerror(errno));
		return 1;
	}
	printf("%s\n", name);
	return 0;
}

int main(int argc, char **argv)
{
	char name[256], *end;
	long pid, secs = 300;
	time_t until;
	int fd;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: lv-killon DIR PREFIX PID [SECONDS]\n");
		return 2;
	}
	pid = strtol(argv[3], &end, 10);
	if (*end || pid <= 1) {
		fprintf(stderr, "lv-killon: bad pid '%s'\n", argv[3]);
		return 2;
	}
	if (argc == 5 && ((secs = strtol(argv[4], &end, 10)) <= 0 || *end)) {
		fprintf(stderr, "lv-killon: bad seconds '%s'\n", argv[4]);
		return 2;
	}
	fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, argv[1], IN_CREATE | IN_MOVED_TO) < 0) {
		fprintf(stderr, "lv-killon: watching %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* after the watch: a file made in between is seen one way or the other */
	if (present(argv[1], argv[2], name, sizeof(name)))
		return hit((pid_t)pid, name);
	until = time(NULL) + secs;
	for (;;) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int left = (int)(until - time(NULL));

		if (left <= 0 || poll(&p, 1, left * 1000) == 0) {
			fprintf(stderr, "lv-killon: no %s* in %s within %ld s\n", argv[2], argv[1], secs);
			return 1;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "lv-killon: reading inotify: %s\n", strerror(errno));
			return 1;
		}
		for (char *q = buf; q < buf + n; ) {
			const struct inotify_event *ev = (const struct inotify_event *)q;

			if (ev->len && prefixed(ev->name, argv[2])) {
				snprintf(name, sizeof(name), "%s", ev->name);
				return hit((pid_t)pid, name);
			}
			q += sizeof(*ev) + ev->len;
		}
	}
}
