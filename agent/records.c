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
 * three quarters of the agent's time in `spawn 1000`), nor renamed before
 * the guest starts (a rename ~20 µs, a third of the agent's time between
 * request and EXEC).  A new VM's record is written into a spare file
 * (".spare-N", made ahead and kept open when the agent is idle) and
 * renamed NAME.vm when the agent is idle again; a restart reads a spare
 * that holds a record as that record (padding only: a spare).  A
 * destroyed VM's record is overwritten with padding, then becomes a
 * spare again, so that no spare brings a destroyed VM back.
 * There is no fsync: the records only matter while the VMs' processes
 * live, and those do not survive a host crash.  Records are written in
 * batches (once per loop iteration for the VMs that changed, and before
 * any reply leaves, so no VM a client heard of is unrecorded), which
 * keeps the file system off the spawn path.  A corrupt, truncated or
 * wrong-version record is reported, renamed to NAME.vm.bad and skipped.
 *
 * Nothing in a record is trusted: a shell's EXIT text and an image name
 * are escaped when written (backslash, \xHH for control bytes), a key
 * may appear once, and at restore every value is checked: the state by
 * its exact name, the image as a catalog name or an absolute path, and
 * the console log must be exactly STATEDIR/console/NAME.log (a record
 * that names any other file is set aside, never opened or unlinked).
 * Spare files are written full size (RECORD_SLOT bytes) when made, so a
 * record written into one never needs a new block: with the state disk
 * full, records_reserve() fails before a spawn starts (ENOSPC) instead
 * of a VM being reported with an empty record.
 */
#include <arpa/inet.h>
#include <ctype.h>
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
#define RECORD_SLOT (RECORD_MAX / 2)  /* bytes a record may occupy on disk */

static char vms_dir[PATH_MAX];
static char console_dir[PATH_MAX];  /* where a VM's console log must be */
static size_t spares_claimed;       /* reserved for records not yet written */
static uint32_t *dirty;            /* VM ids */
static size_t ndirty, dirty_cap;
static int dir_fd = -1;
static uint32_t *spares;           /* numbers of the .spare-N files */
static int *spare_fds;             /* each one's open fd, or -1 */
static size_t nspares, spares_cap, spares_open;
#define SPARE_FDS_MAX 2048         /* spares kept open (when idle): an open
				    * costs 8-40 µs on the spawn path */
static uint32_t spare_seq;
static uint32_t *lazy;             /* VM ids: written when the agent is quiet */
static size_t nlazy, lazy_cap;
#define LAZY_MAX 4096              /* ... or when more than this many wait */
static bool lazy_added;            /* a lazy event this loop turn: the agent is busy */
static int64_t last_busy;          /* the last flush that wrote records */
#define QUIET_NS (10ll * 1000000)  /* idle: no record written for this long */

static void spare_name(uint32_t k, char *buf, size_t len)
{
	snprintf(buf, len, ".spare-%u", k);
}

static size_t spares_open_wanted(void);

/* Keep spare k (fd: open on it, or -1; closed if not kept).  0, or
 * -ENOMEM. */
static int spare_push_fd(uint32_t k, int fd)
{
	if (nspares == spares_cap) {
		size_t cap = spares_cap ? spares_cap * 2 : 256;
		uint32_t *p = realloc(spares, cap * sizeof(*p));
		int *f = p ? realloc(spare_fds, cap * sizeof(*f)) : NULL;

		if (p)
			spares = p;
		if (!f) {
			if (fd >= 0)
				close(fd);
			return -ENOMEM;
		}
		spare_fds = f;
		spares_cap = cap;
	}
	if (fd >= 0 && spares_open >= spares_open_wanted()) {
		close(fd);
		fd = -1;
	}
	spares_open += fd >= 0;
	spare_fds[nspares] = fd;
	spares[nspares++] = k;
	return 0;
}

static int spare_push(uint32_t k)
{
	return spare_push_fd(k, -1);
}

/* The pools' targets (as many VMs as could start at once), at most
 * SPARE_FDS_MAX. */
static size_t spares_open_wanted(void)
{
	struct lv_pool_info pi[16];
	unsigned n = lv_pool_list(g_host, pi, 16);
	size_t want = 0;

	for (unsigned k = 0; k < n && k < 16; k++)
		want += pi[k].target;
	return want < SPARE_FDS_MAX ? want : SPARE_FDS_MAX;
}

/* Open up to n of the spares next in line (when idle), so that a spawn
 * takes an open file: the last `want` of the list (spare_claim takes
 * from its end; a destroyed VM's record comes back there closed), as
 * many as the pools could use at once; open ones before them are closed
 * while more than that are open. */
static void spares_open_some(unsigned n)
{
	size_t want = spares_open_wanted(), from = nspares > want ? nspares - want : 0;
	char name[32];

	for (size_t i = nspares; i-- > from && n; ) {
		if (spare_fds[i] >= 0)
			continue;
		spare_name(spares[i], name, sizeof(name));
		spare_fds[i] = openat(dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		spares_open += spare_fds[i] >= 0;
		n--;
	}
	for (size_t i = 0; i < from && spares_open > want; i++)
		if (spare_fds[i] >= 0) {
			close(spare_fds[i]);
			spare_fds[i] = -1;
			spares_open--;
		}
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

/* One spare, written full size so that a record never needs a new block
 * on disk.  0, or -errno (ENOSPC: the state disk is full). */
static int spare_make_one(void)
{
	char name[32], pad[RECORD_SLOT];
	int fd, rc = 0;

	spare_name(++spare_seq, name, sizeof(name));
	fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	memset(pad, '\n', sizeof(pad));
	if (pwrite(fd, pad, sizeof(pad), 0) != (ssize_t)sizeof(pad))
		rc = errno ? -errno : -ENOSPC;
	if (rc == 0) {
		rc = spare_push_fd(spare_seq, fd);   /* closed if not kept */
	} else {
		close(fd);
	}
	if (rc)
		unlinkat(dir_fd, name, 0);
	return rc;
}

/* Make up to n spares (when the agent has nothing else to do). */
static void spares_make(unsigned n)
{
	size_t want = spares_wanted();

	while (n-- && nspares < want)
		if (spare_make_one())
			return;
}

int records_reserve(unsigned n)
{
	if (dir_fd < 0)
		return 0;
	while (nspares < spares_claimed + n) {
		int rc = spare_make_one();

		if (rc) {
			alog(LV_LOG_ERR, "state records: cannot make room for %u more in %s: %s",
			     n, vms_dir, strerror(-rc));
			return rc;
		}
	}
	spares_claimed += n;
	return 0;
}

const char *records_dir(void)
{
	return vms_dir;
}

int records_init(const char *state_dir)
{
	snprintf(vms_dir, sizeof(vms_dir), "%s/vms", state_dir);
	snprintf(console_dir, sizeof(console_dir), "%s/console", state_dir);
	if (mkdir(vms_dir, 0750) && errno != EEXIST) {
		alog(LV_LOG_ERR, "state records: %s: %s", vms_dir, strerror(errno));
		return -errno;
	}
	dir_fd = open(vms_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dir_fd < 0 ? -errno : 0;
}

/* Append v to buf at *off with backslash, and bytes below 0x20 or from
 * 0x7f, as \\xHH: a value is one line whatever it holds. */
static void put_escaped(char *buf, size_t len, size_t *off, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p && *off < len; p++) {
		if (*p == '\\' || *p < 0x20 || *p >= 0x7f)
			*off += (size_t)snprintf(buf + *off, len - *off, "\\x%02x", *p);
		else
			buf[(*off)++] = (char)*p;
	}
}

static void put_field(char *buf, size_t len, size_t *off, const char *key, const char *v)
{
	if (*off < len)
		*off += (size_t)snprintf(buf + *off, len - *off, "\n%s ", key);
	put_escaped(buf, len, off, v);
}

static int record_format(const struct lv_vm_info *i, char *buf, size_t len)
{
	size_t off;

	off = (size_t)snprintf(buf, len, RECORD_MAGIC " %d", RECORD_VERSION);
	put_field(buf, len, &off, "name", i->name);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "\nid %u\nstate %s",
					i->id, lv_state_name(i->state));
	put_field(buf, len, &off, "image", i->image);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off,
			"\nmem %llu\nvcpus %u\npid %d\npooled %d\nexit %lld\nt",
			(unsigned long long)i->mem_bytes, i->vcpus, i->pid, i->pooled ? 1 : 0,
			(long long)i->exit_code);
	for (int k = 0; k < LV_PH_NR && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, " %lld", (long long)i->t[k]);
	if (off < len && i->ipv4)      /* re-reserved by the next agent */
		off += (size_t)snprintf(buf + off, len - off, "\nipv4 %s\nmac %s",
					i->ipv4_str, i->mac_str);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "\nt_final %lld",
					(long long)i->t_final);
	if (off < len && i->restored)   /* from a snapshot; absent in older records */
		off += (size_t)snprintf(buf + off, len - off, "\nrestored 1");
	put_field(buf, len, &off, "console", i->console_path);
	put_field(buf, len, &off, "reason", i->reason);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "\nend\n");
	return off < len ? (int)off : -ENOSPC;
}

static void pending_push(uint32_t id);
static void lazy_write(size_t max);

/* Take a spare for vm's new record: open it (kept open until the record
 * is renamed NAME.vm, off the spawn path).  0, or -errno (none left). */
static int spare_claim(struct vm_ext *e)
{
	char name[32];

	while (nspares) {
		uint32_t k = spares[--nspares];
		int fd = spare_fds[nspares];

		if (fd >= 0) {
			spares_open--;
		} else {
			spare_name(k, name, sizeof(name));
			fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		}
		if (fd < 0)
			continue;
		e->rec.fd = fd;
		e->rec.spare = k;
		e->rec.in_spare = true;
		return 0;
	}
	return -ENOENT;
}

static void record_write(struct lv_vm *vm)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	char buf[RECORD_MAX], final[LV_VM_NAME_MAX + 8];
	int n = record_format(i, buf, sizeof(buf) - 1), fd = -1, flags = O_WRONLY | O_CLOEXEC;
	struct vm_ext *e = vm_ext(vm);
	size_t len;

	snprintf(final, sizeof(final), "%s.vm", i->name);
	if (n < 0 || (size_t)n >= RECORD_MAX / 2)
		return;
	if (e)
		e->rec.lazy = false;   /* an entry in the lazy list finds nothing */
	len = (size_t)n <= RECORD_PAD ? RECORD_PAD : RECORD_MAX / 2;
	memset(buf + n, '\n', len - (size_t)n);
	/* a new VM's record goes into a spare file, which a restarted agent
	 * reads as a record: no rename before the guest starts */
	if (e && !e->rec.on_disk && !e->rec.in_spare && spare_claim(e) == 0)
		pending_push(i->id);
	if (e && e->rec.in_spare) {
		if (pwrite(e->rec.fd, buf, len, 0) != (ssize_t)len)
			alog(LV_LOG_ERR, "%s: writing its state record %s/.spare-%u: %s", i->name,
			     vms_dir, e->rec.spare, strerror(errno));
		return;
	}
	if (e && !e->rec.on_disk)
		flags |= O_CREAT;
	fd = openat(dir_fd, final, flags, 0640);
	if (fd < 0 && errno == ENOENT)
		fd = openat(dir_fd, final, flags | O_CREAT, 0640);
	if (fd < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len) {
		alog(LV_LOG_ERR, "%s: writing its state record %s/%s: %s", i->name, vms_dir,
		     final, strerror(errno));
	} else if (e) {
		e->rec.on_disk = true;
	}
	if (fd >= 0)
		close(fd);
}

/* VMs whose record is still in a spare file, to be renamed NAME.vm when
 * the agent is idle (or when too many are waiting: each holds an fd). */
#define PENDING_MAX 1024
static uint32_t *pending;
static size_t npending, pending_cap;

/* Append id to a list of VM ids (dirty, pending, lazy) that grows by
 * doubling; false when there is no memory for it. */
static bool id_push(uint32_t **list, size_t *n, size_t *cap, uint32_t id)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint32_t *p = realloc(*list, c * sizeof(*p));

		if (!p)
			return false;
		*list = p;
		*cap = c;
	}
	(*list)[(*n)++] = id;
	return true;
}

static void pending_push(uint32_t id)
{
	/* without memory: renamed at the next idle flush's scan */
	id_push(&pending, &npending, &pending_cap, id);
}

/* Give vm's record its name, NAME.vm (the spare's inode becomes it). */
static void record_name(struct lv_vm *vm, struct vm_ext *e)
{
	char name[32], final[LV_VM_NAME_MAX + 8];

	if (!e->rec.in_spare)
		return;
	spare_name(e->rec.spare, name, sizeof(name));
	snprintf(final, sizeof(final), "%s.vm", lv_vm_info(vm)->name);
	if (renameat(dir_fd, name, dir_fd, final) < 0) {
		bool gone = errno == ENOENT;

		alog(LV_LOG_WARN, "%s: naming its state record %s/%s: %s (%s)",
		     lv_vm_info(vm)->name, vms_dir, final, strerror(errno),
		     gone ? "written anew" : "kept where it is");
		if (!gone)
			return;   /* still a record where it is; tried again later */
		close(e->rec.fd);   /* the spare was removed: NAME.vm made anew */
		e->rec.fd = -1;
		e->rec.in_spare = false;
		e->rec.on_disk = true;   /* record_write: open, else create */
		record_write(vm);
		return;
	}
	close(e->rec.fd);
	e->rec.fd = -1;
	e->rec.in_spare = false;
	e->rec.on_disk = true;
}

/* Rename up to max pending records (from the oldest). */
static void pending_name(size_t max)
{
	size_t k = 0, o = 0;

	for (; k < npending && max; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, pending[k]);
		struct vm_ext *e = vm ? lv_vm_user(vm) : NULL;

		if (!e || !e->rec.in_spare)
			continue;
		record_name(vm, e);
		if (e->rec.in_spare)
			pending[o++] = pending[k];
		max--;
	}
	if (k < npending)   /* the rest, not looked at */
		memmove(pending + o, pending + k, (npending - k) * sizeof(*pending));
	npending = o + npending - k;
}

void records_name_all(void)
{
	if (dir_fd < 0)
		return;
	lazy_write(SIZE_MAX);
	pending_name(SIZE_MAX);
}

/* Overwrite a record with padding: a spare again, never read as a VM.
 * 0, or -errno. */
static int blank(int fd)
{
	char pad[RECORD_SLOT];

	memset(pad, '\n', sizeof(pad));
	return pwrite(fd, pad, sizeof(pad), 0) == (ssize_t)sizeof(pad) ? 0 : errno ? -errno : -ENOSPC;
}

/* vm's record is gone: a record still in its spare is blanked and the
 * spare kept; true if so (else the caller handles NAME.vm). */
static bool spare_release(struct lv_vm *vm)
{
	struct vm_ext *e = vm_ext(vm);
	char name[32];
	bool ok;

	if (!e || !e->rec.in_spare)
		return false;
	ok = blank(e->rec.fd) == 0;
	e->rec.in_spare = false;
	spare_name(e->rec.spare, name, sizeof(name));
	if (!ok) {
		close(e->rec.fd);
		unlinkat(dir_fd, name, 0);
	} else if (spare_push_fd(e->rec.spare, e->rec.fd)) {
		unlinkat(dir_fd, name, 0);
	}
	e->rec.fd = -1;
	return true;
}

static void mark_dirty(struct lv_vm *vm)
{
	struct vm_ext *e = vm_ext(vm);

	if (!e || e->rec.dirty)
		return;
	if (!id_push(&dirty, &ndirty, &dirty_cap, lv_vm_info(vm)->id)) {
		record_write(vm);   /* no memory for the batch: now */
		return;
	}
	e->rec.dirty = true;
}

/* A change a restarted agent learns from the shell anyway: a VM with a
 * record on its way through its boot (spawned, booting, running: the
 * shell's HELLO has its state and flight recorder, its pid is the
 * shell's own).  Written when the agent is quiet, not once per step:
 * in a `spawn 1000` that was two of every VM's three record writes.
 * Any other change writes it at the end of the loop turn (mark_dirty). */
static bool lazy_event(struct lv_vm *vm, enum lv_event ev)
{
	struct vm_ext *e = lv_vm_user(vm);

	if (ev != LV_EV_SPAWNED && ev != LV_EV_STARTED && ev != LV_EV_READY)
		return false;
	return e && (e->rec.in_spare || e->rec.on_disk);
}

static void mark_lazy(struct lv_vm *vm)
{
	struct vm_ext *e = vm_ext(vm);

	lazy_added = true;   /* the agent is busy: no idle work this turn */
	if (!e || e->rec.dirty || e->rec.lazy)
		return;
	if (!id_push(&lazy, &nlazy, &lazy_cap, lv_vm_info(vm)->id)) {
		mark_dirty(vm);   /* no memory for the list: this turn */
		return;
	}
	e->rec.lazy = true;
}

/* Write up to max lazy records (from the oldest). */
static void lazy_write(size_t max)
{
	size_t k = 0;

	if (!nlazy)
		return;   /* and lazy may be NULL: no memmove from it */
	for (; k < nlazy && max; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, lazy[k]);
		struct vm_ext *e = vm ? lv_vm_user(vm) : NULL;

		if (!e || !e->rec.lazy)
			continue;   /* written since, or gone */
		e->rec.lazy = false;
		if (lv_vm_destroying(vm))
			continue;   /* its DESTROYED event handles the record */
		record_write(vm);
		max--;
	}
	memmove(lazy, lazy + k, (nlazy - k) * sizeof(*lazy));
	nlazy -= k;
}

/* Remove vm's record file (final: its name in the records directory). */
static void record_unlink(struct lv_vm *vm, const char *final)
{
	if (unlinkat(dir_fd, final, 0) < 0 && errno != ENOENT)
		alog(LV_LOG_WARN, "%s: removing its state record: %s", lv_vm_info(vm)->name,
		     strerror(errno));
}

void records_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	char final[LV_VM_NAME_MAX + 8];

	if (dir_fd < 0)
		return;
	if (ev != LV_EV_DESTROYED) {
		if (lazy_event(vm, ev))
			mark_lazy(vm);
		else
			mark_dirty(vm);
		return;
	}
	if (spare_release(vm))
		goto out;
	snprintf(final, sizeof(final), "%s.vm", lv_vm_info(vm)->name);
	if (nspares < spares_wanted() + SPARES_HIGH) {  /* keep the inode for the next VM */
		char name[32];
		int fd = openat(dir_fd, final, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

		/* blanked first: a spare never holds a VM's record that a
		 * restarted agent would bring back */
		if (fd >= 0 && blank(fd) == 0) {
			close(fd);
			spare_name(++spare_seq, name, sizeof(name));
			if (renameat(dir_fd, final, dir_fd, name) == 0) {
				if (spare_push(spare_seq))
					unlinkat(dir_fd, name, 0);
				goto out;
			}
		} else if (fd >= 0) {
			close(fd);
		}
	}
	record_unlink(vm, final);
out:
	if (vm_ext(vm))
		vm_ext(vm)->rec.dirty = false;   /* the id in the list finds nothing */
}

/* Before the driver starts vm's guest: its record now, not at the end of
 * the loop iteration (a pooled shell runs the guest at once; after a
 * kill -9 in between, the next agent would find a guest no record
 * names).  It lacks the shell's pid: a restart keeps such a record aside
 * until its shell reports in (lv_vm_restore, -EINPROGRESS).  undo: the
 * start failed, the record goes. */
void records_prestart(struct lv_vm *vm, bool undo)
{
	char final[LV_VM_NAME_MAX + 8];

	if (dir_fd < 0)
		return;
	if (!undo) {
		record_write(vm);
		return;
	}
	if (!spare_release(vm)) {
		snprintf(final, sizeof(final), "%s.vm", lv_vm_info(vm)->name);
		record_unlink(vm, final);
	}
	vm_ext_release(vm);
}

void records_flush(void)
{
	for (size_t k = 0; k < ndirty; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, dirty[k]);
		struct vm_ext *e = vm ? lv_vm_user(vm) : NULL;

		if (!vm || lv_vm_destroying(vm) || !e || !e->rec.dirty)
			continue;
		e->rec.dirty = false;
		record_write(vm);
	}
	if (ndirty || lazy_added)
		last_busy = lv_now_ns();
	lazy_added = false;
	if (!ndirty && lv_now_ns() - last_busy >= QUIET_NS) {
		lazy_write(64);    /* idle: write lazy records, name records, */
		pending_name(64);  /* make spare files */
		spares_make(32);
		spares_open_some(64);
	} else {
		if (nlazy > LAZY_MAX)
			lazy_write(nlazy - LAZY_MAX);
		if (npending > PENDING_MAX)
			pending_name(npending - PENDING_MAX);
	}
	ndirty = 0;
	spares_claimed = 0;       /* every reserved record is written */
}

/* ---- reading them back */

static int parse_i64(const char *v, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno || end == v || *end ? -1 : 0;
}

/* Undo put_escaped in place; -1 on a malformed escape or a NUL byte. */
static int unescape(char *v)
{
	char *o = v;

	for (char *p = v; *p; p++) {
		unsigned x;

		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		if (p[1] != 'x' || !isxdigit((unsigned char)p[2]) || !isxdigit((unsigned char)p[3]) ||
		    sscanf(p + 2, "%2x", &x) != 1 || x == 0)
			return -1;
		*o++ = (char)x;
		p += 3;
	}
	*o = 0;
	return 0;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* An image is a catalog name (the VM-name characters) or an absolute
 * path; no control bytes, no "..". */
static bool image_ok(const char *s)
{
	if (!*s || has_control(s))
		return false;
	if (s[0] == '/') {
		size_t n = strlen(s);

		return !strstr(s, "/../") && !(n >= 3 && strcmp(s + n - 3, "/..") == 0);
	}
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return false;
	return strcmp(s, ".") && strcmp(s, "..");
}

static const char *const record_keys[] = {
	"name", "id", "state", "image", "mem", "vcpus", "pid", "pooled", "exit",
	"t", "t_final", "ipv4", "mac", "console", "reason", "restored",
};
enum { K_NAME, K_ID, K_STATE, K_IMAGE, K_MEM, K_VCPUS, K_PID, K_POOLED, K_EXIT,
       K_T, K_TFINAL, K_IPV4, K_MAC, K_CONSOLE, K_REASON, K_RESTORED, K_NR };

static int key_index(const char *k)
{
	for (int i = 0; i < K_NR; i++)
		if (strcmp(k, record_keys[i]) == 0)
			return i;
	return -1;
}

/* Copy an escaped string value into out (size len); -1 if it does not fit. */
static int put_str(char *out, size_t len, char *val)
{
	if (unescape(val) || strlen(val) >= len)
		return -1;
	memcpy(out, val, strlen(val) + 1);
	return 0;
}

/* One key's value into i; -1 if it is malformed. */
static int parse_value(int k, char *val, struct lv_vm_info *i)
{
	long long v;
	int st;

	switch (k) {
	case K_NAME: return put_str(i->name, sizeof(i->name), val);
	case K_IMAGE: return put_str(i->image, sizeof(i->image), val) || !image_ok(i->image) ? -1 : 0;
	case K_CONSOLE: return put_str(i->console_path, sizeof(i->console_path), val);
	case K_REASON: return put_str(i->reason, sizeof(i->reason), val);
	case K_STATE:
		st = lv_state_parse(val);
		if (st < 0 || strcmp(val, lv_state_name((enum lv_state)st)))
			return -1;
		i->state = (enum lv_state)st;
		return 0;
	case K_POOLED:
		if (strcmp(val, "0") && strcmp(val, "1"))
			return -1;
		i->pooled = val[0] == '1';
		return 0;
	case K_RESTORED:
		if (strcmp(val, "0") && strcmp(val, "1"))
			return -1;
		i->restored = val[0] == '1';
		return 0;
	case K_T: {
		/* LV_PH_NR times, or the 6 of a record written before the
		 * Linux phases (kernel, init) were added before ready */
		int64_t t[LV_PH_NR];
		int n;

		for (n = 0; n < LV_PH_NR && *val; n++) {
			char *e;

			errno = 0;
			t[n] = strtoll(val, &e, 10);
			if (e == val || errno || t[n] < 0)
				return -1;
			val = e;
		}
		if (*val || (n != LV_PH_NR && n != LV_PH_KERNEL + 1))
			return -1;
		memset(i->t, 0, sizeof(i->t));
		memcpy(i->t, t, (size_t)(n == LV_PH_NR ? LV_PH_NR : LV_PH_KERNEL) * sizeof(t[0]));
		i->t[LV_PH_READY] = t[n - 1];
		return 0;
	}
	case K_IPV4: {
		struct in_addr a;

		if (inet_pton(AF_INET, val, &a) != 1 || !a.s_addr)
			return -1;
		i->ipv4 = a.s_addr;   /* the MAC is derived from it again */
		return 0;
	}
	case K_MAC: return 0;         /* written for people; see ipv4 */
	}
	if (parse_i64(val, &v))
		return -1;
	switch (k) {
	case K_ID:
		if (v <= 0 || v > UINT32_MAX)
			return -1;
		i->id = (uint32_t)v;
		return 0;
	case K_MEM:
		if (v <= 0)
			return -1;
		i->mem_bytes = (uint64_t)v;
		return 0;
	case K_VCPUS:
		if (v <= 0 || v > 1024)
			return -1;
		i->vcpus = (uint32_t)v;
		return 0;
	case K_PID:
		if (v < -1 || v > INT_MAX)
			return -1;
		i->pid = (int)v;
		return 0;
	case K_EXIT: i->exit_code = v; return 0;
	case K_TFINAL: i->t_final = v; return v < 0 ? -1 : 0;
	}
	return -1;
}

/* The record's fields agree with where the agent keeps things. */
static int record_check(const struct lv_vm_info *i, const char **why)
{
	char want[PATH_MAX + LV_VM_NAME_MAX + 8];

	if (!i->image[0]) {
		*why = "the image is missing";
		return -1;
	}
	if (i->console_path[0]) {
		snprintf(want, sizeof(want), "%s/%s.log", console_dir, i->name);
		if (strcmp(i->console_path, want)) {
			*why = "its console log is not STATEDIR/console/NAME.log";
			return -1;
		}
	}
	return 0;
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
		int k;

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
		k = key_index(line);
		if (k < 0)
			continue;     /* unknown keys: written by a newer agent, ignored */
		if (seen & (1u << k)) {
			*why = "a key appears twice";
			return -1;
		}
		seen |= 1u << k;
		if (parse_value(k, val, i)) {
			*why = "a field has a bad value";
			return -1;
		}
	}
	if (!end) {
		*why = "truncated (no end line)";
		return -1;
	}
	if ((seen & 0x37) != 0x37) {   /* name, id, state, mem, vcpus */
		*why = "a required field (name, id, state, mem, vcpus) is missing";
		return -1;
	}
	return record_check(i, why);
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

/* A record found at restore and the file it was read from: NAME.vm, or a
 * spare a spawn wrote it into (renamed NAME.vm once restored). */
struct found {
	struct lv_vm_info info;
	char fname[NAME_MAX + 1];
	bool spare;
};

static int cmp_id(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return x->info.id < y->info.id ? -1 : x->info.id > y->info.id;
}

/* Only padding: a spare, or a record cleared when its VM went. */
static bool is_blank(const char *buf)
{
	return buf[strspn(buf, "\n")] == 0;
}

/* A spare file's number (".spare-N", N > 0), or 0. */
static uint32_t spare_number(const char *name)
{
	unsigned long k;
	char *end;

	if (strncmp(name, ".spare-", 7) || !isdigit((unsigned char)name[7]))
		return 0;
	errno = 0;
	k = strtoul(name + 7, &end, 10);
	return errno || *end || k > UINT32_MAX ? 0 : (uint32_t)k;
}

void records_restore(void)
{
	DIR *d = fdopendir(dup(dir_fd));
	struct found *v = NULL;
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
		uint32_t k = spare_number(e->d_name);
		int rc;

		if (e->d_name[0] == '.' && len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
			unlinkat(dir_fd, e->d_name, 0);   /* an older agent's write */
			continue;
		}
		if (!k && (len < 4 || strcmp(e->d_name + len - 3, ".vm") != 0))
			continue;
		rc = read_record(e->d_name, buf, sizeof(buf));
		if (k && rc == 0 && is_blank(buf)) {   /* a spare */
			if (k > spare_seq)
				spare_seq = k;
			if (!buf[0] || spare_push(k))   /* empty: made, never written */
				unlinkat(dir_fd, e->d_name, 0);
			continue;
		}
		if (!k && rc == 0 && is_blank(buf)) {  /* cleared as its VM went */
			unlinkat(dir_fd, e->d_name, 0);
			continue;
		}
		if (k > spare_seq)
			spare_seq = k;   /* a record in a spare keeps its number */
		if (rc) {
			set_aside(e->d_name, rc == -EFBIG ? "too large" : rc == -EBADMSG ?
				  "garbage (binary data)" : strerror(-rc));
			continue;
		}
		if (record_parse(buf, &info, &why)) {
			set_aside(e->d_name, why);
			continue;
		}
		if (!k && (strlen(info.name) + 3 != len || strncmp(info.name, e->d_name, len - 3))) {
			set_aside(e->d_name, "the name inside does not match the file name");
			continue;
		}
		if (n == cap) {
			struct found *p = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
			if (!p)
				break;
			v = p;
		}
		v[n].info = info;
		v[n].spare = k != 0;
		snprintf(v[n].fname, sizeof(v[n].fname), "%s", e->d_name);
		n++;
	}
	closedir(d);
	if (n)   /* v is NULL without records: qsort's argument must not be */
		qsort(v, n, sizeof(*v), cmp_id);   /* creation order */
	for (size_t k = 0; k < n; k++) {
		const struct lv_vm_info *i = &v[k].info;
		const char *fname = v[k].fname;
		struct lv_vm *vm;
		int rc = lv_vm_restore(g_host, i, &vm);

		if (rc)
			v[k].spare = false;   /* not renamed below */
		if (rc == -EINPROGRESS) {
			/* adopted with this record's image and address if
			 * its shell reports in; the file is written anew */
			alog(LV_LOG_INFO, "%s: half-created when the agent stopped (no shell recorded): waiting for its shell",
			     i->name);
			unlinkat(dir_fd, fname, 0);
			dropped++;
		} else if (rc == -ESRCH) {
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
				x->rec.on_disk = true;
			if (lv_state_is_final(lv_vm_info(vm)->state))
				dead++;
			else
				live++;
		}
	}
	/* records found in spares get their names, after every conflicting
	 * NAME.vm was set aside */
	for (size_t k = 0; k < n; k++) {
		char final[LV_VM_NAME_MAX + 8];

		if (!v[k].spare)
			continue;
		snprintf(final, sizeof(final), "%s.vm", v[k].info.name);
		if (renameat(dir_fd, v[k].fname, dir_fd, final) < 0)
			alog(LV_LOG_WARN, "%s: naming its state record %s/%s: %s", v[k].info.name,
			     vms_dir, final, strerror(errno));
	}
	free(v);
	lv_host_restore_done(g_host);
	if (n)
		alog(LV_LOG_INFO, "restart: %u VMs re-attaching, %u stopped or died, %u half-created cleaned up",
		     live, dead, dropped);
}
