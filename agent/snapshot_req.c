/*
 * snapshot_req.c - the snapshot requests (issue 14): SaveReq, RestoreReq,
 * CloneReq.  Owns the paths a client names (absolute; a new file created
 * with O_EXCL|O_NOFOLLOW in a directory opened first, so an existing file
 * or a symlink in its place is refused, never followed; disk space for
 * the guest's memory checked before), the pending saves (replied to on
 * the VM's saved / save-failed event, or at their deadline), and a clone:
 * a save with keep into STATEDIR/snapshots, then restores of that file,
 * removed as soon as the restores hold it open.  A restore or a clone's
 * copies are spawns (the spawn waiter replies).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "agent.h"
#include "lv_limits.h"

#define SAVE_TIMEOUT_NS  30000000000ll
#define SAVES_MAX        256u          /* saves under way at once, all clients */

struct snapreq {
	struct snapreq *next;
	struct client *c;
	uint32_t seq;
	int64_t deadline;
	unsigned n, remaining;
	uint32_t *ids;              /* the VMs being saved */
	bool *done;                 /* ... whose save ended */
	char **paths;               /* their files, removed if the save fails */
	Lightvm__Failure **fails;
	unsigned nfails;
	/* a clone: restore count copies once the save is done */
	bool clone;
	unsigned count;
	char *prefix;
	bool wait;
	uint32_t timeout_ms;
	int64_t t_request;          /* the clone's request: its copies' first phase */
};

static struct snapreq *pending;
static unsigned saves_inflight;

static void add_fail(struct snapreq *r, const char *name, int err, const char *msg)
{
	Lightvm__Failure *f = calloc(1, sizeof(*f));
	Lightvm__Failure **a = realloc(r->fails, (r->nfails + 1) * sizeof(*a));

	if (a)
		r->fails = a;
	if (!f || !a) {
		free(f);
		return;
	}
	lightvm__failure__init(f);
	f->name = strdup(name);
	f->err = err;
	f->message = strdup(msg && *msg ? msg : strerror(err));
	r->fails[r->nfails++] = f;
}

static void req_free(struct snapreq *r)
{
	for (unsigned i = 0; i < r->nfails; i++) {
		free(r->fails[i]->name);
		free(r->fails[i]->message);
		free(r->fails[i]);
	}
	for (unsigned i = 0; i < r->n; i++)
		free(r->paths[i]);
	free(r->fails);
	free(r->paths);
	free(r->ids);
	free(r->done);
	free(r->prefix);
	client_unref(r->c);
	free(r);
}

/* ---- paths */

/* Create path for writing: absolute, a new regular file (O_EXCL, the
 * last component never a symlink), with room for mem bytes on its file
 * system.  The fd, or -errno with err. */
static int create_file(const char *path, uint64_t mem, char *err, size_t errlen)
{
	char dbuf[PATH_MAX], bbuf[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	struct statvfs vf;
	int dfd, fd;

	if (path[0] != '/' || strlen(path) >= PATH_MAX) {
		snprintf(err, errlen, "'%s': the path must be absolute and shorter than %d bytes",
			 path, PATH_MAX);
		return -EINVAL;
	}
	snprintf(dbuf, sizeof(dbuf), "%s", path);
	snprintf(bbuf, sizeof(bbuf), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(dbuf));
	snprintf(base, sizeof(base), "%s", basename(bbuf));
	if (!*base || !strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, "..")) {
		snprintf(err, errlen, "'%s': not a file name", path);
		return -EINVAL;
	}
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int rc = -errno;

		snprintf(err, errlen, "directory '%s': %s", dir, strerror(errno));
		return rc;
	}
	if (fstatvfs(dfd, &vf) == 0 && (uint64_t)vf.f_bavail * vf.f_frsize < mem + (1u << 20)) {
		close(dfd);
		snprintf(err, errlen, "'%s': less than %llu MiB free there (the guest's memory)",
			 dir, (unsigned long long)(mem >> 20) + 1);
		return -ENOSPC;
	}
	fd = openat(dfd, base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		int rc = -errno;

		snprintf(err, errlen, "'%s': %s", path, errno == EEXIST ?
			 "exists (a snapshot is never written over a file)" : strerror(errno));
		close(dfd);
		return rc;
	}
	close(dfd);
	return fd;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- replies */

static void reply_saves(struct snapreq *r)
{
	struct lv_vm **vms = calloc(r->n ? r->n : 1, sizeof(*vms));
	Lightvm__Reply rep = LIGHTVM__REPLY__INIT;
	struct pbvm *pb = calloc(r->n ? r->n : 1, sizeof(*pb));
	Lightvm__VmInfo **pp = calloc(r->n ? r->n : 1, sizeof(*pp));
	unsigned k = 0;

	if (!vms || !pb || !pp) {
		client_reply_err(r->c, r->seq, ENOMEM, "save: out of memory building the reply");
		goto out;
	}
	for (unsigned i = 0; i < r->n; i++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, r->ids[i]);
		const struct lv_vm_info *in;

		if (!vm)
			continue;
		in = lv_vm_info(vm);
		if (lv_vm_save_error(vm, NULL) || !in->t_save[2])
			continue;        /* listed as a failure */
		pb_fill_vm(&pb[k], vm, false);
		pb[k].m.has_save_ns = true;
		pb[k].m.save_ns = (uint64_t)(in->t_save[2] - in->t_save[0]);
		if (in->t_save[1]) {
			pb[k].m.has_save_held_ns = true;
			pb[k].m.save_held_ns = (uint64_t)(in->t_save[1] - in->t_save[0]);
		}
		pp[k] = &pb[k].m;
		k++;
	}
	rep.n_vms = k;
	rep.vms = pp;
	rep.n_failures = r->nfails;
	rep.failures = r->fails;
	if (r->nfails && !k) {
		rep.has_err = true;
		rep.err = r->fails[0]->err;
		rep.message = r->fails[0]->message;
	}
	client_reply(r->c, r->seq, &rep);
out:
	free(vms);
	free(pb);
	free(pp);
}

static void clone_go(struct snapreq *r, const char *path);

/* All saves of r ended: reply (or go on with the clone) and free r. */
static void req_finish(struct snapreq *r)
{
	for (struct snapreq **p = &pending; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	for (unsigned i = 0; i < r->n; i++)
		if (r->paths[i] && (r->clone || r->nfails)) {
			struct lv_vm *vm = lv_vm_by_id(g_host, r->ids[i]);

			/* a failed save leaves no half file; a clone's goes
			 * once its copies hold it */
			if (r->clone && vm && !lv_vm_save_error(vm, NULL) && client_alive(r->c)) {
				clone_go(r, r->paths[i]);
				unlink(r->paths[i]);
				req_free(r);
				return;
			}
			if (r->clone || !vm || lv_vm_save_error(vm, NULL))
				unlink(r->paths[i]);
		}
	if (client_alive(r->c)) {
		if (r->clone && r->nfails)
			client_reply_err(r->c, r->seq, r->fails[0]->err, "clone: %s",
					 r->fails[0]->message);
		else if (r->clone)
			client_reply_err(r->c, r->seq, ECANCELED, "clone: the VM's save did not finish");
		else
			reply_saves(r);
	}
	req_free(r);
}

/* One VM of r is done (its save ended, or it went). */
static void save_ended(struct snapreq *r, struct lv_vm *vm, unsigned i, const char *why)
{
	const char *msg = NULL;
	int e = vm ? lv_vm_save_error(vm, &msg) : 0;

	if (r->done[i])
		return;
	r->done[i] = true;
	if (why || e)
		add_fail(r, vm ? lv_vm_info(vm)->name : "-", e ? -e : ESRCH, e ? msg : why);
	saves_inflight--;
	if (--r->remaining == 0)
		req_finish(r);
}

void snapreq_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	uint32_t id = lv_vm_info(vm)->id;
	const char *why = NULL;

	switch (ev) {
	case LV_EV_SAVED:
	case LV_EV_SAVE_FAILED:
		break;
	case LV_EV_CRASHED:
	case LV_EV_SHUTOFF:
	case LV_EV_DESTROYED:
		why = "the VM ended during the save";
		break;
	default:
		return;
	}
	for (struct snapreq *r = pending, *next; r; r = next) {
		next = r->next;
		for (unsigned i = 0; i < r->n; i++)
			if (r->ids[i] == id && !r->done[i]) {
				/* saved (final) also comes as LV_EV_SAVED */
				save_ended(r, ev == LV_EV_DESTROYED ? NULL : vm, i,
					   ev == LV_EV_SAVED || ev == LV_EV_SAVE_FAILED ? NULL : why);
				break;
			}
	}
}

void snapreq_tick(void)
{
	int64_t now = lv_now_ns();

	for (struct snapreq *r = pending, *next; r; r = next) {
		next = r->next;
		if (now < r->deadline)
			continue;
		add_fail(r, "-", ETIMEDOUT, "the save did not finish before the timeout");
		saves_inflight -= r->remaining;
		r->remaining = 0;
		req_finish(r);
	}
}

/* ---- save */

static struct snapreq *req_new(struct client *c, uint32_t seq, unsigned n, uint32_t timeout_ms)
{
	struct snapreq *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ids = calloc(n ? n : 1, sizeof(*r->ids));
	r->paths = calloc(n ? n : 1, sizeof(*r->paths));
	r->done = calloc(n ? n : 1, sizeof(*r->done));
	if (!r->ids || !r->paths || !r->done) {
		free(r->ids);
		free(r->paths);
		free(r->done);
		free(r);
		return NULL;
	}
	r->c = c;
	client_ref(c);
	r->seq = seq;
	r->deadline = lv_now_ns() + (timeout_ms ? (int64_t)timeout_ms * 1000000 : SAVE_TIMEOUT_NS);
	r->remaining = 1;        /* guard while issuing */
	return r;
}

/* Start saving vm into path for r; a path the client named (as_client)
 * is created with the client's rights and belongs to the client. */
static void save_one(struct snapreq *r, struct lv_vm *vm, const char *path, bool keep,
		     bool as_client)
{
	const struct lv_vm_info *in = lv_vm_info(vm);
	char err[PATH_MAX + 128];
	int fd, rc;

	if (saves_inflight >= SAVES_MAX) {
		add_fail(r, in->name, EBUSY, "too many saves under way");
		return;
	}
	if (in->state != LV_ST_RUNNING) {
		snprintf(err, sizeof(err), "%s, not running", lv_state_name(in->state));
		add_fail(r, in->name, EINVAL, err);
		return;
	}
	rc = as_client ? client_fs_enter(r->c) : 0;
	if (rc) {
		add_fail(r, in->name, -rc, "cannot take the client's file rights");
		return;
	}
	fd = create_file(path, in->mem_bytes, err, sizeof(err));
	if (as_client)
		client_fs_leave();
	if (fd < 0) {
		add_fail(r, in->name, -fd, err);
		return;
	}
	rc = lv_vm_save(vm, fd, keep);
	close(fd);
	if (rc) {
		unlink(path);
		add_fail(r, in->name, -rc, rc == -EOPNOTSUPP ? "this driver cannot save VMs" :
			 rc == -EBUSY ? "a save of it is under way" : strerror(-rc));
		return;
	}
	r->ids[r->n] = in->id;
	r->paths[r->n] = strdup(path);
	r->n++;
	r->remaining++;
	saves_inflight++;
}

static void req_issued(struct snapreq *r)
{
	r->next = pending;
	pending = r;
	if (--r->remaining == 0)
		req_finish(r);
}

void snapreq_save(struct client *c, uint32_t seq, const Lightvm__SaveReq *rq)
{
	bool many = lv_selector_is_pattern(rq->selector);
	struct lv_vm **vms = NULL;
	struct snapreq *r;
	unsigned n;

	if (!*rq->selector || !*rq->path) {
		client_reply_err(c, seq, EINVAL, "save: a VM (or pattern) and a path are needed");
		return;
	}
	if (many && (rq->path[0] != '/' || !is_dir(rq->path))) {
		client_reply_err(c, seq, EINVAL, "save: '%s': a pattern saves into a directory (absolute path)",
				 rq->path);
		return;
	}
	n = select_vms(rq->selector, &vms);
	if (!n) {
		free(vms);
		client_reply_err(c, seq, ESRCH, "save: no VM matches '%s'", rq->selector);
		return;
	}
	r = req_new(c, seq, n, rq->has_timeout_ms ? rq->timeout_ms : 0);
	if (!r) {
		free(vms);
		client_reply_err(c, seq, ENOMEM, "save: out of memory");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (many && (size_t)snprintf(path, sizeof(path), "%s/%s.lvsnap", rq->path,
					     lv_vm_info(vms[i])->name) >= sizeof(path)) {
			add_fail(r, lv_vm_info(vms[i])->name, ENAMETOOLONG, "path too long");
			continue;
		}
		save_one(r, vms[i], many ? path : rq->path, rq->has_keep && rq->keep, true);
	}
	free(vms);
	alog(LV_LOG_INFO, "save: %u VM(s) into %s%s", r->n, rq->path, rq->keep ? " (keep)" : "");
	req_issued(r);
}

/* ---- restore */

/* Spawn count VMs from the snapshot fd (desc d); the spawn waiter
 * replies.  prefix/name as in lv_spawn; t0: when the request came (the
 * flight recorder's first phase: the snapshot's check, and a clone's
 * save, count). */
static void restore_spawn(struct client *c, uint32_t seq, int fd, const struct lv_snapshot_desc *d,
			  unsigned count, const char *name, const char *prefix, bool keep_addr,
			  bool hold, bool wait, uint32_t timeout_ms, const char *what, int64_t t0)
{
	int64_t timeout_ns;
	char err[512];
	struct lv_vm **vms = calloc(count, sizeof(*vms));
	struct waiter *w;
	int rc = records_reserve(count);

	if (rc) {
		free(vms);
		client_reply_err(c, seq, -rc, "%s: cannot write state records in %s: %s", what,
				 records_dir(), strerror(-rc));
		return;
	}
	timeout_ns = timeout_ms ? (int64_t)timeout_ms * 1000000 : 30000000000ll + (int64_t)count * 10000000;
	w = waiter_new(c, seq, W_SPAWN, count, timeout_ns);
	if (!w || !vms) {
		free(vms);
		if (w)
			waiter_drop(w);
		client_reply_err(c, seq, ENOMEM, "%s: out of memory", what);
		return;
	}
	for (unsigned k = 0; k < count; k++) {
		struct lv_spawn s = {
			.image = d->image, .name = name, .prefix = prefix, .t_request = t0,
			.image_fd = fd, .snapshot = d, .keep_addr = keep_addr, .hold = hold,
			.snapshot_copy = count == 1 && !prefix,   /* a restore, not clones */
			.watchdog_s = g_watchdog_s,
		};
		struct lv_vm *vm;

		rc = lv_vm_spawn(g_host, &s, &vm, err, sizeof(err));
		if (rc) {
			if (k == 0) {
				free(vms);
				waiter_drop(w);
				client_reply_err(c, seq, -rc, "%s: %s", what, err);
				return;
			}
			waiter_fail(w, "-", -rc, err);
			break;
		}
		vms[k] = vm;
		spawn_wait(w, vm);
	}
	alog(LV_LOG_INFO, "%s: %u x %s (%s)", what, w->n, d->name, d->image);
	if (!wait) {
		reply_vms(c, seq, vms, w->n, false, w->fails, w->nfails, 0);
		waiter_drop(w);
	} else {
		waiter_done_one(w);
	}
	free(vms);
}

void snapreq_restore(struct client *c, uint32_t seq, const Lightvm__RestoreReq *rq)
{
	struct lv_snapshot_desc d;
	char err[PATH_MAX + 256];
	const char *name = rq->name && *rq->name ? rq->name : NULL;
	int64_t t0 = lv_now_ns();
	int fd;

	if (rq->path[0] != '/') {
		client_reply_err(c, seq, EINVAL, "restore: '%s': the path must be absolute", rq->path);
		return;
	}
	fd = client_fs_enter(c);   /* a file the client may read, only */
	if (fd == 0) {
		fd = lv_snapshot_open(g_host, rq->path, &d, err, sizeof(err));
		client_fs_leave();
	} else {
		snprintf(err, sizeof(err), "cannot take the client's file rights: %s", strerror(-fd));
	}
	if (fd < 0) {
		client_reply_err(c, seq, -fd, "restore: %s", err);
		return;
	}
	if (!name && !lv_vm_lookup(g_host, d.name))
		name = d.name;          /* its own name, if free */
	restore_spawn(c, seq, fd, &d, 1, name, NULL, true, rq->has_hold && rq->hold,
		      (!rq->has_wait_ready || rq->wait_ready) && !(rq->has_hold && rq->hold),
		      rq->has_timeout_ms ? rq->timeout_ms : 0, "restore", t0);
	close(fd);
}

/* ---- clone */

static void clone_go(struct snapreq *r, const char *path)
{
	struct lv_snapshot_desc d;
	char err[PATH_MAX + 256];
	int fd = lv_snapshot_open(g_host, path, &d, err, sizeof(err));

	if (fd < 0) {
		client_reply_err(r->c, r->seq, -fd, "clone: %s", err);
		return;
	}
	restore_spawn(r->c, r->seq, fd, &d, r->count, NULL, r->prefix, false, false, r->wait,
		      r->timeout_ms, "clone", r->t_request);
	close(fd);
}

void snapreq_clone(struct client *c, uint32_t seq, const Lightvm__CloneReq *rq)
{
	static unsigned nclone;
	struct lv_vm *vm = lv_vm_lookup(g_host, rq->name);
	char dir[PATH_MAX], path[PATH_MAX];
	struct snapreq *r;

	if (!vm || lv_vm_destroying(vm)) {
		client_reply_err(c, seq, ESRCH, "clone: no VM '%s'", rq->name);
		return;
	}
	if (rq->count == 0 || rq->count > LV_PROTO_SPAWN_MAX) {
		client_reply_err(c, seq, EINVAL, "clone: count %u out of range (1 .. %u)", rq->count,
				 LV_PROTO_SPAWN_MAX);
		return;
	}
	if (rq->name_prefix && (!*rq->name_prefix || strlen(rq->name_prefix) > 40)) {
		client_reply_err(c, seq, EINVAL, "clone: a name prefix of 1 to 40 characters");
		return;
	}
	snprintf(path, sizeof(path), "%s", records_dir());
	snprintf(dir, sizeof(dir), "%s/snapshots", dirname(path));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		client_reply_err(c, seq, errno, "clone: %s: %s", dir, strerror(errno));
		return;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/clone-%u-%d-%u.lvsnap", dir, lv_vm_info(vm)->id,
			     (int)getpid(), ++nclone) >= sizeof(path)) {
		client_reply_err(c, seq, ENAMETOOLONG, "clone: %s: path too long", dir);
		return;
	}
	r = req_new(c, seq, 1, rq->has_timeout_ms ? rq->timeout_ms : 0);
	if (!r || (rq->name_prefix && !(r->prefix = strdup(rq->name_prefix)))) {
		if (r)
			req_free(r);
		client_reply_err(c, seq, ENOMEM, "clone: out of memory");
		return;
	}
	r->clone = true;
	r->t_request = lv_now_ns();
	r->count = rq->count;
	r->wait = !rq->has_wait_ready || rq->wait_ready;
	r->timeout_ms = rq->has_timeout_ms ? rq->timeout_ms : 0;
	unlink(path);            /* a dead agent's, with our pid */
	save_one(r, vm, path, true, false);   /* the agent's own directory */
	req_issued(r);
}
