/*
 * pidroom.c - process ids for the VMs.  On KVM each VM is a shell
 * process and a kernel worker thread (a Linux guest has a PIT thread
 * more), so 16,000 VMs need some 32,000 ids: more than a default
 * kernel.pid_max of 32768 leaves.  Before a spawn or a pool target that
 * would pass what is left, the agent raises kernel.pid_max and
 * kernel.threads-max (root may; it logs what it changed); where it
 * cannot (a container, /proc/sys read-only), the request is refused
 * with the numbers, not left to fail shell by shell with EAGAIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define PIDS_PER_VM   3u          /* shell, KVM's worker, a PIT thread */
#define PIDS_MARGIN   4096u       /* for the rest of the host */
#define PID_MAX_LIMIT 4194304u    /* the kernel's ceiling on 64-bit */

/* A small /proc file into buf (NUL-terminated); 0 or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	return 0;
}

static int read_num(const char *path, unsigned long *v)
{
	char buf[64];
	int rc = read_small(path, buf, sizeof(buf));

	if (!rc)
		*v = strtoul(buf, NULL, 10);
	return rc;
}

static int write_num(const char *path, unsigned long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), n, rc = 0;

	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%lu\n", v);
	if (write(fd, buf, (size_t)n) != n)
		rc = -errno;
	close(fd);
	return rc;
}

/* Threads alive on the host: /proc/loadavg's "running/total". */
static int threads_now(unsigned long *n)
{
	char buf[128], *slash;
	int rc = read_small("/proc/loadavg", buf, sizeof(buf));

	if (rc)
		return rc;
	slash = strchr(buf, '/');
	if (!slash)
		return -EIO;
	*n = strtoul(slash + 1, NULL, 10);
	return 0;
}

/* Make sysctl at path at least want (raised with room to spare); 0, or
 * -errno with why. */
static int raise_to(const char *path, const char *name, unsigned long want, unsigned long ceiling,
		    unsigned long *now, char *why, size_t whylen)
{
	unsigned long cur = 0, set;
	int rc = read_num(path, &cur);

	if (rc) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	*now = cur;
	if (cur >= want)
		return 0;
	if (want > ceiling) {
		snprintf(why, whylen, "%s would have to be %lu, above the kernel's %lu", name, want, ceiling);
		return -ERANGE;
	}
	set = want + want / 4 < ceiling ? want + want / 4 : ceiling;
	rc = write_num(path, set);
	if (rc) {
		snprintf(why, whylen, "%s is %lu and could not be raised to %lu: %s", name, cur, set,
			 strerror(-rc));
		return rc;
	}
	alog(LV_LOG_INFO, "raised %s from %lu to %lu for the VMs' processes", name, cur, set);
	*now = set;
	return 0;
}

/* Up to this many VMs (the last check's count plus the room it found)
 * no check is needed: the spawn path reads nothing. */
static unsigned long ok_until;

int pidroom_admit(unsigned have, unsigned more, char *why, size_t whylen)
{
	unsigned long now = 0, want, pid_max = 0, threads_max = 0, room;
	int rc;

	if (!more || (unsigned long)have + more <= ok_until || strcmp(lv_host_driver(g_host), "kvm"))
		return 0;   /* room known; or Xen, whose VMs are domains, not processes */
	rc = threads_now(&now);
	if (rc) {
		snprintf(why, whylen, "cannot read /proc/loadavg: %s", strerror(-rc));
		return rc;
	}
	want = now + (unsigned long)more * PIDS_PER_VM + PIDS_MARGIN;
	rc = raise_to("/proc/sys/kernel/pid_max", "kernel.pid_max", want, PID_MAX_LIMIT, &pid_max,
		      why, whylen);
	if (!rc)
		rc = raise_to("/proc/sys/kernel/threads-max", "kernel.threads-max", want, 0x3fffffffUL,
			      &threads_max, why, whylen);
	if (rc) {
		ok_until = 0;
		return rc;
	}
	room = (pid_max < threads_max ? pid_max : threads_max) - want;
	ok_until = (unsigned long)have + more + room / PIDS_PER_VM;
	return 0;
}
