/*
 * records.c - the state directory's record of every VM (STATEDIR/vms/
 * NAME.vm), so that a restarted agent loses nothing.
 *
 * A record is a small versioned text file ("lightvm-vm 1" ... "end"),
 * padded with newlines to a fixed size and written in place with one
 * pwrite (a killed agent cannot interrupt the copy into the page cache, so
 * it leaves the old or the new record, never half of one; the padding
 * means a shorter record never leaves a tail of the longer one).  Files
 * are never created or deleted on the spawn path: creating an ext4 inode
 * costs tens of microseconds and grows with recently deleted ones (it was
 * three quarters of the agent's time in `spawn 1000`).  A new VM's record
 * takes over a spare file (".spare-N", made ahead when the agent is idle),
 * and a destroyed VM's record becomes a spare again.
 * There is no fsync: the records only matter while the VMs' processes
 * live, and those do not survive a host crash.  Records are written in
 * batches (once per loop iteration for the VMs that changed, and before
 * any reply leaves, so no VM a client heard of is unrecorded), which
 * keeps the file system off the spawn path.  A corrupt, truncated or
 * wrong-version record is reported, renamed to NAME.vm.bad and skipped.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "agent.h"

#define RECORD_MAGIC "lightvm-vm"
#define RECORD_VERSION 1
#define RECORD_MAX 8192
#define RECORD_PAD 2048          /* records are padded to this, or to MAX */
#define SPARES_LOW 64            /* spares kept beyond the pools' targets */
#define SPARES_HIGH 512          /* unlink records beyond this many spares */

static char vms_dir[PATH_MAX];
static uint32_t *dirty;            /* VM ids */
static size_t ndirty, dirty_cap;
static int dir_fd = -1;
static uint32_t *spares;           /* numbers of the .spare-N files */
static size_t nspares, spares_cap;
static uint32_t spare_seq;

static void spare_name(uint32_t k, char *buf, size_t len)
{
	snprintf(buf, len, ".spare-%u", k);
}

static int spare_push(uint32_t k)
{
	if (nspares == spares_cap) {
		size_t cap = spares_cap ? spares_cap * 2 : 256;
		uint32_t *p = realloc(spares, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		spares = p;
		spares_cap = cap;
	}
	spares[nspares++] = k;
	return 0;
}

/* Give final the inode of a spare; 0, or -errno (no spare: create it). */
static int spare_take(const char *final)
{
	char name[32];

	while (nspares) {
		spare_name(spares[--nspares], name, sizeof(name));
		if (renameat(dir_fd, name, dir_fd, final) == 0)
			return 0;
	}
	return -ENOENT;
}

/* As many spares as the pools could hand out at once, plus a margin. */
static size_t spares_wanted(void)
{
	struct lv_pool_info pi[16];
	unsigned n = lv_pool_list(g_host, pi, 16);
	size_t want = SPARES_LOW;

	for (unsigned k = 0; k < n && k < 16; k++)
		want += pi[k].target;
	return want < SPARES_HIGH * 40 ? want : SPARES_HIGH * 40;
}

/* Make up to n spares (when the agent has nothing else to do). */
static void spares_make(unsigned n)
{
	size_t want = spares_wanted();
	char name[32];

	while (n-- && nspares < want) {
		int fd;

		spare_name(++spare_seq, name, sizeof(name));
		fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd < 0)
			return;
		close(fd);
		if (spare_push(spare_seq)) {
			unlinkat(dir_fd, name, 0);
			return;
		}
	}
}

int records_init(const char *state_dir)
{
	snprintf(vms_dir, sizeof(vms_dir), "%s/vms", state_dir);
	if (mkdir(vms_dir, 0750) && errno != EEXIST) {
		alog(LV_LOG_ERR, "state records: %s: %s", vms_dir, strerror(errno));
		return -errno;
	}
	dir_fd = open(vms_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dir_fd < 0 ? -errno : 0;
}

static int record_format(const struct lv_vm_info *i, char *buf, size_t len)
{
	size_t off;

	off = (size_t)snprintf(buf, len,
		RECORD_MAGIC " %d\nname %s\nid %u\nstate %s\nimage %s\nmem %llu\nvcpus %u\n"
		"pid %d\npooled %d\nexit %lld\nt",
		RECORD_VERSION, i->name, i->id, lv_state_name(i->state), i->image,
		(unsigned long long)i->mem_bytes, i->vcpus, i->pid, i->pooled ? 1 : 0,
		(long long)i->exit_code);
	for (int k = 0; k < LV_PH_NR && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, " %lld", (long long)i->t[k]);
	if (off < len && i->ipv4)      /* re-reserved by the next agent */
		off += (size_t)snprintf(buf + off, len - off, "\nipv4 %s\nmac %s",
					i->ipv4_str, i->mac_str);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off,
					"\nt_final %lld\nconsole %s\nreason %s\nend\n",
					(long long)i->t_final, i->console_path, i->reason);
	return off < len ? (int)off : -ENOSPC;
}

static void record_write(struct lv_vm *vm)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	char buf[RECORD_MAX], final[LV_VM_NAME_MAX + 8];
	int n = record_format(i, buf, sizeof(buf) - 1), fd, flags = O_WRONLY | O_CLOEXEC;
	struct vm_ext *e = vm_ext(vm);
	size_t len;

	snprintf(final, sizeof(final), "%s.vm", i->name);
	if (n < 0 || (size_t)n >= RECORD_MAX / 2)
		return;
	len = (size_t)n <= RECORD_PAD ? RECORD_PAD : RECORD_MAX / 2;
	memset(buf + n, '\n', len - (size_t)n);
	if (e && !e->record_on_disk && spare_take(final) < 0)
		flags |= O_CREAT;
	fd = openat(dir_fd, final, flags, 0640);
	if (fd < 0 && errno == ENOENT)
		fd = openat(dir_fd, final, flags | O_CREAT, 0640);
	if (fd < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len) {
		alog(LV_LOG_ERR, "%s: writing its state record %s/%s: %s", i->name, vms_dir,
		     final, strerror(errno));
	} else if (e) {
		e->record_on_disk = true;
	}
	if (fd >= 0)
		close(fd);
}

static void mark_dirty(struct lv_vm *vm)
{
	struct vm_ext *e = vm_ext(vm);

	if (!e || e->record_dirty)
		return;
	if (ndirty == dirty_cap) {
		size_t cap = dirty_cap ? dirty_cap * 2 : 256;
		uint32_t *p = realloc(dirty, cap * sizeof(*p));

		if (!p) {
			record_write(vm);   /* no memory for the batch: now */
			return;
		}
		dirty = p;
		dirty_cap = cap;
	}
	e->record_dirty = true;
	dirty[ndirty++] = lv_vm_info(vm)->id;
}

void records_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	char final[LV_VM_NAME_MAX + 8];

	if (dir_fd < 0)
		return;
	if (ev != LV_EV_DESTROYED) {
		mark_dirty(vm);
		return;
	}
	snprintf(final, sizeof(final), "%s.vm", lv_vm_info(vm)->name);
	if (nspares < spares_wanted() + SPARES_HIGH) {  /* keep the inode for the next VM */
		char name[32];

		spare_name(++spare_seq, name, sizeof(name));
		if (renameat(dir_fd, final, dir_fd, name) == 0) {
			if (spare_push(spare_seq))
				unlinkat(dir_fd, name, 0);
			goto out;
		}
	}
	if (unlinkat(dir_fd, final, 0) < 0 && errno != ENOENT)
		alog(LV_LOG_WARN, "%s: removing its state record: %s", lv_vm_info(vm)->name,
		     strerror(errno));
out:
	if (vm_ext(vm))
		vm_ext(vm)->record_dirty = false;   /* the id in the list finds nothing */
}

void records_flush(void)
{
	for (size_t k = 0; k < ndirty; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, dirty[k]);
		struct vm_ext *e = vm ? lv_vm_user(vm) : NULL;

		if (!vm || lv_vm_destroying(vm) || !e || !e->record_dirty)
			continue;
		e->record_dirty = false;
		record_write(vm);
	}
	if (ndirty == 0)
		spares_make(32);  /* idle: prepare files for the next spawns */
	ndirty = 0;
}

/* ---- reading them back */

static int parse_i64(const char *v, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno || end == v || *end ? -1 : 0;
}

/* Parse one record.  Returns 0, or -1 with why set. */
static int record_parse(char *buf, struct lv_vm_info *i, const char **why)
{
	char *line, *save = NULL;
	bool end = false, first = true;
	unsigned seen = 0;
	long long v;

	memset(i, 0, sizeof(*i));
	i->pid = -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');

		if (end) {
			*why = "data after the end line";
			return -1;
		}
		if (first) {
			first = false;
			if (strncmp(line, RECORD_MAGIC " ", sizeof(RECORD_MAGIC)) != 0) {
				*why = "not a VM record (bad first line)";
				return -1;
			}
			if (parse_i64(line + sizeof(RECORD_MAGIC), &v) || v != RECORD_VERSION) {
				*why = "unsupported record version";
				return -1;
			}
			continue;
		}
		if (strcmp(line, "end") == 0) {
			end = true;
			continue;
		}
		if (!val) {
			*why = "line without a value";
			return -1;
		}
		*val++ = 0;
		if (strcmp(line, "name") == 0) {
			snprintf(i->name, sizeof(i->name), "%s", val);
			seen |= 1;
		} else if (strcmp(line, "id") == 0) {
			if (parse_i64(val, &v) || v <= 0 || v > UINT32_MAX)
				goto bad;
			i->id = (uint32_t)v;
			seen |= 2;
		} else if (strcmp(line, "state") == 0) {
			int st = lv_state_parse(val);
			if (st < 0)
				goto bad;
			i->state = (enum lv_state)st;
			seen |= 4;
		} else if (strcmp(line, "image") == 0) {
			snprintf(i->image, sizeof(i->image), "%s", val);
		} else if (strcmp(line, "mem") == 0) {
			if (parse_i64(val, &v) || v <= 0)
				goto bad;
			i->mem_bytes = (uint64_t)v;
		} else if (strcmp(line, "vcpus") == 0) {
			if (parse_i64(val, &v) || v <= 0 || v > 1024)
				goto bad;
			i->vcpus = (uint32_t)v;
		} else if (strcmp(line, "pid") == 0) {
			if (parse_i64(val, &v) || v < -1 || v > INT_MAX)
				goto bad;
			i->pid = (int)v;
		} else if (strcmp(line, "pooled") == 0) {
			i->pooled = strcmp(val, "1") == 0;
		} else if (strcmp(line, "exit") == 0) {
			if (parse_i64(val, &v))
				goto bad;
			i->exit_code = v;
		} else if (strcmp(line, "t") == 0) {
			char *p = val;
			for (int k = 0; k < LV_PH_NR; k++) {
				char *e;
				i->t[k] = strtoll(p, &e, 10);
				if (e == p)
					goto bad;
				p = e;
			}
		} else if (strcmp(line, "t_final") == 0) {
			if (parse_i64(val, &v))
				goto bad;
			i->t_final = v;
		} else if (strcmp(line, "ipv4") == 0) {
			struct in_addr a;
			if (inet_pton(AF_INET, val, &a) != 1 || !a.s_addr)
				goto bad;
			i->ipv4 = a.s_addr;   /* the MAC is derived from it again */
		} else if (strcmp(line, "mac") == 0) {
			;                     /* written for people; see ipv4 */
		} else if (strcmp(line, "console") == 0) {
			snprintf(i->console_path, sizeof(i->console_path), "%s", val);
		} else if (strcmp(line, "reason") == 0) {
			snprintf(i->reason, sizeof(i->reason), "%s", val);
		}   /* unknown keys: written by a newer agent, ignored */
	}
	if (!end) {
		*why = "truncated (no end line)";
		return -1;
	}
	if (seen != 7 || !i->mem_bytes || !i->vcpus) {
		*why = "a required field (name, id, state, mem, vcpus) is missing";
		return -1;
	}
	return 0;
bad:
	*why = "a field has a bad value";
	return -1;
}

static int read_record(const char *fname, char *buf, size_t len)
{
	int fd = openat(dir_fd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	if ((size_t)n == len - 1)
		return -EFBIG;
	buf[n] = 0;
	if (strlen(buf) != (size_t)n)
		return -EBADMSG;   /* NUL bytes: garbage */
	return 0;
}

static void set_aside(const char *fname, const char *why)
{
	char bad[NAME_MAX + 8];

	alog(LV_LOG_WARN, "state record %s/%s: %s; skipped (kept as %s.bad)", vms_dir, fname,
	     why, fname);
	snprintf(bad, sizeof(bad), "%s.bad", fname);
	renameat(dir_fd, fname, dir_fd, bad);
}

static int cmp_id(const void *a, const void *b)
{
	const struct lv_vm_info *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

void records_restore(void)
{
	DIR *d = fdopendir(dup(dir_fd));
	struct lv_vm_info *v = NULL;
	size_t n = 0, cap = 0;
	unsigned live = 0, dead = 0, dropped = 0;
	struct dirent *e;
	char buf[RECORD_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		const char *why = NULL;
		struct lv_vm_info info;
		int rc;

		if (e->d_name[0] == '.' && len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
			unlinkat(dir_fd, e->d_name, 0);   /* an older agent's write */
			continue;
		}
		if (strncmp(e->d_name, ".spare-", 7) == 0) {
			unsigned long k = strtoul(e->d_name + 7, NULL, 10);

			if (k > spare_seq)
				spare_seq = (uint32_t)k;
			if (k == 0 || k > UINT32_MAX || spare_push((uint32_t)k))
				unlinkat(dir_fd, e->d_name, 0);
			continue;
		}
		if (len < 4 || strcmp(e->d_name + len - 3, ".vm") != 0)
			continue;
		rc = read_record(e->d_name, buf, sizeof(buf));
		if (rc) {
			set_aside(e->d_name, rc == -EFBIG ? "too large" : rc == -EBADMSG ?
				  "garbage (binary data)" : strerror(-rc));
			continue;
		}
		if (record_parse(buf, &info, &why)) {
			set_aside(e->d_name, why);
			continue;
		}
		if (strlen(info.name) + 3 != len || strncmp(info.name, e->d_name, len - 3)) {
			set_aside(e->d_name, "the name inside does not match the file name");
			continue;
		}
		if (n == cap) {
			struct lv_vm_info *p = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
			if (!p)
				break;
			v = p;
		}
		v[n++] = info;
	}
	closedir(d);
	if (n)   /* v is NULL without records: qsort's argument must not be */
		qsort(v, n, sizeof(*v), cmp_id);   /* creation order */
	for (size_t k = 0; k < n; k++) {
		const struct lv_vm_info *i = &v[k];
		char fname[LV_VM_NAME_MAX + 8];
		struct lv_vm *vm;
		int rc = lv_vm_restore(g_host, i, &vm);

		snprintf(fname, sizeof(fname), "%s.vm", i->name);
		if (rc == -ESRCH) {
			alog(LV_LOG_INFO, "%s: half-created when the agent stopped (shell %d gone): cleaned up",
			     i->name, i->pid);
			unlinkat(dir_fd, fname, 0);
			if (i->console_path[0])
				unlink(i->console_path);
			dropped++;
		} else if (rc) {
			set_aside(fname, rc == -EEXIST ? "a VM with this name or id exists already" :
				  strerror(-rc));
		} else {
			struct vm_ext *x = vm_ext(vm);

			if (x)
				x->record_on_disk = true;
			if (lv_state_is_final(lv_vm_info(vm)->state))
				dead++;
			else
				live++;
		}
	}
	free(v);
	lv_host_restore_done(g_host);
	if (n)
		alog(LV_LOG_INFO, "restart: %u VMs re-attaching, %u stopped or died, %u half-created cleaned up",
		     live, dead, dropped);
}
