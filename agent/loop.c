/*
 * loop.c - lightvmd's one event loop: epoll plus a callback table
 * indexed by fd.  The core reaches it through loop_for_core.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "agent.h"

struct slot {
	loop_cb cb;
	void *arg;
};

static int epfd = -1;
static struct slot *slots;
static int nslots;

int loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

static int grow(int fd)
{
	int n = nslots ? nslots : 1024;
	struct slot *s;

	while (n <= fd)
		n *= 2;
	s = realloc(slots, (size_t)n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + nslots, 0, (size_t)(n - nslots) * sizeof(*s));
	slots = s;
	nslots = n;
	return 0;
}

int loop_add(int fd, uint32_t events, loop_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (fd < 0)
		return -EBADF;
	if (fd >= nslots && grow(fd))
		return -ENOMEM;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	slots[fd].cb = cb;
	slots[fd].arg = arg;
	return 0;
}

int loop_mod(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del(int fd)
{
	if (fd < 0 || fd >= nslots)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	slots[fd].cb = NULL;
	slots[fd].arg = NULL;
}

int loop_run_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(epfd, evs, 256, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;

		/* a callback earlier in this batch may have closed fd */
		if (fd < nslots && slots[fd].cb)
			slots[fd].cb(slots[fd].arg, fd, evs[i].events);
	}
	return 0;
}

static int core_watch(void *ctx, int fd, lv_fd_cb cb, void *arg)
{
	return loop_add(fd, EPOLLIN, cb, arg);
}

static void core_unwatch(void *ctx, int fd)
{
	loop_del(fd);
}

const struct lv_loop loop_for_core = {
	.ctx = NULL, .watch = core_watch, .unwatch = core_unwatch,
};
