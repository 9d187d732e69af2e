/*
 * cgroup.c - one cgroup v2 per shell: the "lightvm" subtree with the
 * memory and pids controllers, a vm-PID cgroup per shell (guest memory
 * plus a VMM overhead; two tasks: the shell, which never forks nor starts
 * a thread, and KVM's per-VM worker), removed once the shell is reaped.  The factory sets it up and
 * the new shell moves itself in as root, before it creates its VM, so all
 * of the guest's memory is charged there; the jailed shell (its own uid)
 * cannot write to the root-owned cgroup files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "kvm/cgroup.h"

static int write_str(const char *path, const char *s)
{
	size_t n = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, s, n);
	if (w < 0)
		rc = -errno;
	else if ((size_t)w != n)
		rc = -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		return -errno;
	buf[r] = '\0';
	return 0;
}

static int write_at(const char *dir, const char *file, const char *s)
{
	char path[512];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -ENAMETOOLONG;
	return write_str(path, s);
}

/* Is word one of the space-separated words of list? */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return 1;
	return 0;
}

static const char *cg2_mount(void)
{
	static const char *const cand[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs st;

	for (unsigned i = 0; i < 2; i++)
		if (statfs(cand[i], &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
			return cand[i];
	return NULL;
}

/* Our cgroup v2 path ("/..." from /proc/self/cgroup's "0::" line). */
static int own_path(char *buf, size_t len)
{
	char all[4096], *p;
	int rc = read_str("/proc/self/cgroup", all, sizeof(all));

	if (rc)
		return rc;
	if (!strncmp(all, "0::", 3))
		p = all + 3;
	else if ((p = strstr(all, "\n0::")))
		p += 4;
	else
		return -ENOENT;
	p[strcspn(p, "\n")] = '\0';
	if (*p != '/' || strstr(p, "/..") || (size_t)snprintf(buf, len, "%s", p) >= len)
		return -EINVAL;
	return 0;
}

/* cgroup v2's "no internal processes": a cgroup that delegates
 * controllers holds no process, so the agent and the factory move to a
 * leaf next to the subtree (the root cgroup is exempt). */
static int leave_for_leaf(const char *own, char *why, size_t wlen)
{
	char leaf[512], pid[16];
	int rc;

	if ((size_t)snprintf(leaf, sizeof(leaf), "%s/agent", own) >= sizeof(leaf))
		return -ENAMETOOLONG;
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		rc = -errno;
	else {
		snprintf(pid, sizeof(pid), "%d", (int)getppid());
		rc = write_at(leaf, "cgroup.procs", pid);
		if (!rc)
			rc = write_at(leaf, "cgroup.procs", "0");
	}
	if (rc)
		snprintf(why, wlen, "cannot move the agent into %s: %s", leaf, strerror(-rc));
	return rc;
}

/* vm-PID of a live process stays: a shell (perhaps of another agent)
 * between its mkdir and its move in is not yet in it. */
static int alive(const char *name)
{
	char *end;
	long pid = strtol(name + 3, &end, 10);

	return pid > 0 && !*end && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int kvm_cgroup_sweep(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	int busy = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vm-", 3) &&
		    (alive(e->d_name) || unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0))
			busy++;
	closedir(d);
	return busy;
}

static int delegate(const char *dir, char *why, size_t wlen)
{
	int rc = write_at(dir, "cgroup.subtree_control", "+memory +pids");

	if (rc)
		snprintf(why, wlen, "cannot enable +memory +pids in %s/cgroup.subtree_control: %s%s",
			 dir, strerror(-rc),
			 rc == -EBUSY ? " (other processes share the agent's cgroup; give lightvmd its own, e.g. systemd Delegate=yes)" : "");
	return rc;
}

int kvm_cgroup_setup(char *base, size_t len, char *why, size_t wlen)
{
	const char *mnt = cg2_mount();
	char path[256], own[512], ctl[512];
	int rc, in_leaf;

	if (!mnt) {
		snprintf(why, wlen, "no cgroup2 file system at /sys/fs/cgroup or /sys/fs/cgroup/unified");
		return -ENOENT;
	}
	if ((rc = own_path(path, sizeof(path)))) {
		snprintf(why, wlen, "no cgroup v2 line in /proc/self/cgroup: %s", strerror(-rc));
		return rc;
	}
	in_leaf = strlen(path) > 6 && !strcmp(path + strlen(path) - 6, "/agent");
	if (in_leaf)              /* an agent started from a former one's leaf */
		path[strlen(path) - 6] = '\0';
	snprintf(own, sizeof(own), "%s%s", mnt, path[0] && strcmp(path, "/") ? path : "");
	if ((size_t)snprintf(ctl, sizeof(ctl), "%s/cgroup.controllers", own) >= sizeof(ctl) ||
	    (rc = read_str(ctl, ctl, sizeof(ctl)))) {
		snprintf(why, wlen, "cannot read %s/cgroup.controllers", own);
		return rc ? rc : -ENAMETOOLONG;
	}
	if (!has_word(ctl, "memory") || !has_word(ctl, "pids")) {
		snprintf(why, wlen, "the memory and pids controllers are not available in the cgroup v2 of %s (bound to cgroup v1?)", own);
		return -EOPNOTSUPP;
	}
	if (path[0] && strcmp(path, "/") && !in_leaf && (rc = leave_for_leaf(own, why, wlen)))
		return rc;
	if ((rc = delegate(own, why, wlen)))
		return rc;
	if ((size_t)snprintf(base, len, "%s/%s", own, KVM_CG_SUBTREE) >= len)
		return -ENAMETOOLONG;
	if (mkdir(base, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, wlen, "cannot create %s: %s", base, strerror(-rc));
		return rc;
	}
	if ((rc = delegate(base, why, wlen)))
		return rc;
	kvm_cgroup_sweep(base);
	return 0;
}

static uint64_t mem_max(uint64_t mem_bytes)
{
	/* KVM's rmaps, dirty bitmaps and shadow/nested page tables grow with
	 * guest memory (about 1/256 of it: 1/128 leaves room); the rest (the shell's own pages,
	 * vCPU state, socket buffers, the console log's page cache) is fixed */
	return mem_bytes + mem_bytes / 128 + KVM_CG_OVERHEAD;
}

int kvm_cgroup_enter(const char *base, uint64_t mem_bytes)
{
	char dir[512], v[32];
	int rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/vm-%d", base, (int)getpid()) >= sizeof(dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(v, sizeof(v), "%" PRIu64, mem_max(mem_bytes));
	rc = write_at(dir, "memory.max", v);
	if (!rc)
		rc = write_at(dir, "pids.max", KVM_CG_PIDS);
	if (!rc)
		rc = write_at(dir, "cgroup.procs", "0");
	if (rc)
		rmdir(dir);
	return rc;
}

static struct { pid_t pid; int tries; } pending[64];
static int npending;

static int cg_rmdir(const char *base, pid_t pid)
{
	char dir[512];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/vm-%d", base, (int)pid) >= sizeof(dir))
		return -ENAMETOOLONG;
	return rmdir(dir) < 0 ? -errno : 0;
}

int kvm_cgroup_remove(const char *base, pid_t pid)
{
	int rc = cg_rmdir(base, pid);

	if (rc == -EBUSY && npending < (int)(sizeof(pending) / sizeof(pending[0]))) {
		pending[npending].pid = pid;
		pending[npending++].tries = 0;
	}
	return rc;
}

int kvm_cgroup_retry(const char *base)
{
	int k = 0;

	for (int i = 0; i < npending; i++)
		if (cg_rmdir(base, pending[i].pid) == -EBUSY && ++pending[i].tries < KVM_CG_RETRIES)
			pending[k++] = pending[i];
	npending = k;
	return npending;
}
