/*
 * migrate.c - `lvsh migrate VM DEST` (issue 14): a VM moves to another
 * agent on this machine (DEST: its control socket), in four steps, each
 * recorded in a journal STATEDIR/migrate/NAME before the next starts:
 *   1 held      the VM is saved into STATEDIR/snapshots and held here
 *               (lv_vm_save_hold: not running, state migrating);
 *   2 prepared  the destination restored it held (RestoreReq.hold) and
 *               says it is paused there (WaitReq paused);
 *   3 commit    from now on the copy here never runs again: the
 *               destination is told to let it run (ActionReq unpause)
 *               and once it says running or booting, the copy here is
 *               destroyed and journal and file removed.
 * A failure before step 3 resumes the VM here (and destroys a held copy
 * at the destination).  In step 3 the unpause is retried every second
 * while the destination does not answer; if its copy is gone or broken,
 * the VM resumes here.  An agent killed midway finds its journals at its
 * first tick and does the same (step 1 or 2: destroy there, resume here;
 * step 3: commit), so a VM is never lost and never runs in two places.  The destination is
 * asked synchronously, with a time limit per request (default 10 s):
 * the agent's loop waits for those few milliseconds.
 * LIGHTVMD_MIGRATE_STALL_MS (tests only) pauses after each step so that
 * a test can kill either agent there.
 * The flight recorder (lv_vm_migrate_phase; inspect shows it while it
 * moves, the reply carries it): request, held here, sent (held there),
 * running there, ended here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <libgen.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "frame.h"
#include "migrate_net.h"

#define STEP_TIMEOUT_MS 10000u
#define MIGRATIONS_MAX  16u      /* under way at once (each holds a guest and a file) */

struct mig {
	struct mig *next;
	struct client *c;           /* NULL: recovered from a journal */
	uint32_t seq, id;
	char name[LV_VM_NAME_MAX];
	char dest[108];
	char file[PATH_MAX];
	int step;                   /* 1..3 as above; -1: resume here pending */
	uint32_t timeout_ms;
	int64_t retry_at;
	int64_t give_up;            /* resume pending: until then */
	int64_t t_held;             /* CLOCK_MONOTONIC: the guest held here */
	int64_t t_ph[LV_MPH_NR];    /* the flight recorder, kept past the VM here */
};

static struct mig *migs;
static bool recovered;

static void dir_of(char *out, size_t len, const char *sub)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", records_dir());
	snprintf(out, len, "%s/%s", dirname(tmp), sub);
}

static void journal_path(const struct mig *m, char *out, size_t len)
{
	char dir[PATH_MAX];

	dir_of(dir, sizeof(dir), "migrate");
	if ((size_t)snprintf(out, len, "%s/%.63s", dir, m->name) >= len)
		out[0] = 0;
}

/* The journal: one small file per migration, replaced atomically
 * (rename).  Not fsync'ed: it guards against the agent being killed,
 * whose writes the page cache keeps; a crash of the machine takes the
 * VMs with it.  (An fsync per step cost milliseconds of downtime.) */
static int journal_write(struct mig *m, int step)
{
	char path[PATH_MAX + 8], tmp[PATH_MAX + 16], dir[PATH_MAX];
	FILE *f;

	m->step = step;
	dir_of(dir, sizeof(dir), "migrate");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	journal_path(m, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "step %d\ndest %s\nfile %s\n", step, m->dest, m->file);
	if (fflush(f) || fclose(f)) {
		unlink(tmp);
		return -EIO;
	}
	return rename(tmp, path) < 0 ? -errno : 0;
}

static void journal_remove(struct mig *m)
{
	char path[PATH_MAX + 8];

	journal_path(m, path, sizeof(path));
	unlink(path);
}

static void stall(int step)
{
	const char *s = getenv("LIGHTVMD_MIGRATE_STALL_MS");

	alog(LV_LOG_INFO, "migrate: step %d done", step);
	if (s && atoi(s) > 0)
		usleep((useconds_t)atoi(s) * 1000u);
}

/* ---- the destination, one request at a time */

static int dest_call(const struct mig *m, Lightvm__Request *rq, Lightvm__Reply **out,
		     char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint32_t ms = m->timeout_ms ? m->timeout_ms : STEP_TIMEOUT_MS;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct lv_frame_hdr hdr;
	size_t len = lightvm__request__get_packed_size(rq);
	uint8_t *buf = malloc(len ? len : 1), *body = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	*out = NULL;
	if (migrate_net_is_addr(m->dest)) {   /* another machine: migrate_net.c */
		free(buf);
		if (fd >= 0)
			close(fd);
		return migrate_net_call(m->dest, ms, rq, out, err, errlen);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->dest);
	if (!buf || fd < 0) {
		rc = -ENOMEM;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "destination %s: %s", m->dest, strerror(errno));
		goto out;
	}
	lightvm__request__pack(rq, buf);
	rc = lv_frame_write(fd, LV_FRAME_REQUEST, 1, buf, (uint32_t)len);
	while (!rc) {               /* skip any event frame */
		rc = lv_frame_read(fd, &hdr, &body);
		if (rc)
			break;
		if (hdr.type == LV_FRAME_REPLY) {
			*out = lightvm__reply__unpack(NULL, hdr.len, body);
			free(body);
			rc = *out ? 0 : -EBADMSG;
			break;
		}
		free(body);
	}
	if (rc && !*err)
		snprintf(err, errlen, "destination %s: %s", m->dest, strerror(-rc));
	if (!rc && (*out)->has_err && (*out)->err) {
		rc = -(*out)->err;
		snprintf(err, errlen, "destination: %s", (*out)->message ? (*out)->message : strerror(-rc));
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static int dest_restore(struct mig *m, char *err, size_t errlen)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__RestoreReq rs = LIGHTVM__RESTORE_REQ__INIT;
	Lightvm__WaitReq w = LIGHTVM__WAIT_REQ__INIT;
	Lightvm__Reply *r;
	int rc;

	rs.path = m->file;
	rs.name = m->name;
	rs.has_hold = rs.hold = true;
	rs.has_wait_ready = true;
	rs.wait_ready = false;
	rq.op_case = LIGHTVM__REQUEST__OP_RESTORE;
	rq.restore = &rs;
	rc = dest_call(m, &rq, &r, err, errlen);
	if (r)
		lightvm__reply__free_unpacked(r, NULL);
	if (rc)
		return rc;
	/* loaded and held there, not merely requested */
	w.selector = m->name;
	w.state = "paused";
	w.has_timeout_ms = true;
	w.timeout_ms = m->timeout_ms ? m->timeout_ms : STEP_TIMEOUT_MS;
	rq.op_case = LIGHTVM__REQUEST__OP_WAIT;
	rq.wait = &w;
	rc = dest_call(m, &rq, &r, err, errlen);
	if (r)
		lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

static int dest_action(struct mig *m, Lightvm__Action a, char *err, size_t errlen)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__ActionReq ac = LIGHTVM__ACTION_REQ__INIT;
	char *names[1] = { m->name };
	Lightvm__Reply *r;
	int rc;

	ac.action = a;
	ac.selector = "";
	ac.n_names = 1;
	ac.names = names;
	rq.op_case = LIGHTVM__REQUEST__OP_ACTION;
	rq.action = &ac;
	rc = dest_call(m, &rq, &r, err, errlen);
	if (!rc && r && r->n_failures) {
		rc = -(r->failures[0]->err ? r->failures[0]->err : EIO);
		snprintf(err, errlen, "destination: %s: %s", r->failures[0]->name,
			 r->failures[0]->message);
	}
	if (r)
		lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

/* ---- the steps */

static void mig_free(struct mig *m)
{
	for (struct mig **p = &migs; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	if (m->c)
		client_unref(m->c);
	free(m);
}

static void reply(struct mig *m, int err, const char *msg)
{
	struct lv_vm *vm;

	if (!m->c || !client_alive(m->c))
		return;
	if (err) {
		client_reply_err(m->c, m->seq, err, "migrate: %s: %s", m->name, msg);
		return;
	}
	vm = lv_vm_lookup(g_host, m->name);   /* gone here: an empty list */
	reply_vms(m->c, m->seq, vm ? &vm : NULL, vm ? 1 : 0, false, NULL, 0, 1);
}

/* Resume the VM here: held by this agent, or paused (a former agent
 * held it; the shell says paused once re-attached).  true when done
 * (or nothing is left to resume). */
static bool resume_here(struct mig *m)
{
	struct lv_vm *vm = lv_vm_lookup(g_host, m->name);
	enum lv_state st;

	if (!vm || lv_vm_destroying(vm))
		return true;
	if (lv_vm_hold_release(vm) == 0)
		return true;
	st = lv_vm_info(vm)->state;
	if (st == LV_ST_PAUSED)
		return lv_vm_unpause(vm) == 0;
	/* re-attaching: wait */
	return st != LV_ST_SAVING && st != LV_ST_MIGRATING && st != LV_ST_PREPARED;
}

/* Before step 3: the VM runs on here; a held copy there goes. */
static void undo(struct mig *m, int err, const char *why)
{
	char e2[256] = "";

	if (m->step >= 2 && dest_action(m, LIGHTVM__ACTION__DESTROY, e2, sizeof(e2)))
		alog(LV_LOG_WARN, "migrate: %s: a held copy at %s may stay (paused): %s",
		     m->name, m->dest, e2);
	alog(LV_LOG_WARN, "migrate: %s to %s failed (%s): it runs here", m->name, m->dest, why);
	unlink(m->file);
	journal_remove(m);
	reply(m, -err, why);
	if (m->c) {
		client_unref(m->c);
		m->c = NULL;
	}
	m->step = -1;
	m->give_up = lv_now_ns() + 15000000000ll;
	if (resume_here(m))
		mig_free(m);
}

static void phase(struct mig *m, enum lv_migrate_phase ph)
{
	struct lv_vm *vm = lv_vm_lookup(g_host, m->name);

	m->t_ph[ph] = ph == LV_MPH_HELD && m->t_held ? m->t_held : lv_now_ns();
	if (vm && lv_vm_info(vm)->id == m->id)
		lv_vm_migrate_phase(vm, ph, m->t_ph[ph]);
}

/* The source's phases after the destination's own in v (the reply). */
static void reply_with_phases(struct mig *m, Lightvm__Reply *r, Lightvm__VmInfo *v)
{
	Lightvm__Phase ph[LV_MPH_NR], **all, **old = v->phases;
	size_t n = v->n_phases;

	all = calloc(n + LV_MPH_NR, sizeof(*all));
	if (!all) {
		client_reply(m->c, m->seq, r);
		return;
	}
	memcpy(all, old, n * sizeof(*all));
	for (int k = 0; k < LV_MPH_NR; k++) {
		if (!m->t_ph[k])
			continue;
		lightvm__phase__init(&ph[k]);
		ph[k].name = (char *)lv_migrate_phase_name((enum lv_migrate_phase)k);
		ph[k].t_ns = m->t_ph[k];
		all[v->n_phases++] = &ph[k];
	}
	v->phases = all;
	client_reply(m->c, m->seq, r);
	v->phases = old;
	v->n_phases = n;
	free(all);
}

/* The reply once it runs there: the destination's VmInfo, with the
 * downtime: held here -> ready there when both agents share a machine
 * (one monotonic clock); to another machine (ADDR:PORT) its clock is
 * not ours, so held here -> its wait for "running" answered here, an
 * upper bound (it includes the last round trip). */
static void reply_moved(struct mig *m)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__WaitReq w = LIGHTVM__WAIT_REQ__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *r = NULL;
	char err[256] = "";

	if (!m->c || !client_alive(m->c))
		return;
	w.selector = m->name;
	w.state = "running";
	w.has_timeout_ms = true;
	w.timeout_ms = m->timeout_ms ? m->timeout_ms : STEP_TIMEOUT_MS;
	rq.op_case = LIGHTVM__REQUEST__OP_WAIT;
	rq.wait = &w;
	if (dest_call(m, &rq, &r, err, sizeof(err)) == 0) {
		int64_t t_seen = lv_now_ns();
		bool remote = migrate_net_is_addr(m->dest);

		lightvm__reply__free_unpacked(r, NULL);
		sel.selector = m->name;
		rq.op_case = LIGHTVM__REQUEST__OP_INSPECT;
		rq.inspect = &sel;
		if (dest_call(m, &rq, &r, err, sizeof(err)) == 0 && r->n_vms == 1) {
			Lightvm__VmInfo *v = r->vms[0];

			for (size_t i = 0; !remote && i < v->n_phases; i++)
				if (!strcmp(v->phases[i]->name, "ready") && m->t_held &&
				    v->phases[i]->t_ns > m->t_held) {
					v->has_migrate_downtime_ns = true;
					v->migrate_downtime_ns = (uint64_t)(v->phases[i]->t_ns - m->t_held);
				}
			if (remote && m->t_held && t_seen > m->t_held) {
				v->has_migrate_downtime_ns = true;
				v->migrate_downtime_ns = (uint64_t)(t_seen - m->t_held);
			}
			if (v->has_migrate_downtime_ns)
				alog(LV_LOG_INFO, "migrate: %s: downtime %.3f ms (%s)", m->name,
				     v->migrate_downtime_ns / 1e6,
				     remote ? "held here -> running there, as seen from here" : "held here -> ready there");
			reply_with_phases(m, r, v);
			lightvm__reply__free_unpacked(r, NULL);
			return;
		}
		if (r)
			lightvm__reply__free_unpacked(r, NULL);
	}
	reply(m, 0, NULL);
}

/* Its state at the destination into st ("none" if it has no such VM);
 * 0, or -errno if the destination did not answer. */
static int dest_state(struct mig *m, char *st, size_t len)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *r = NULL;
	char err[256] = "";
	int rc;

	sel.selector = m->name;
	rq.op_case = LIGHTVM__REQUEST__OP_LIST;
	rq.list = &sel;
	rc = dest_call(m, &rq, &r, err, sizeof(err));
	if (rc == -ESRCH || (!rc && r->n_vms == 0))
		snprintf(st, len, "none");
	else if (!rc)
		snprintf(st, len, "%s", r->vms[0]->state);
	if (r)
		lightvm__reply__free_unpacked(r, NULL);
	return rc == -ESRCH ? 0 : rc;
}

/* Step 3: let it run there, then destroy the held copy here.  Until the
 * destination says it runs, the copy here stays (held): if the copy
 * there is gone or broken, the VM resumes here; if the destination does
 * not answer, this is retried each second.  The copy here never runs
 * again once the journal says step 3. */
static void commit(struct mig *m)
{
	char err[256] = "", st[32] = "";
	int rc = dest_action(m, LIGHTVM__ACTION__UNPAUSE, err, sizeof(err));
	struct lv_vm *vm;

	if (rc == 0 || rc == -EINVAL || rc == -ESRCH)   /* EINVAL: not paused (any more) */
		rc = dest_state(m, st, sizeof(st));
	if (!rc && (!strcmp(st, "running") || !strcmp(st, "booting") || !strcmp(st, "restoring"))) {
		phase(m, LV_MPH_RUNNING);
		vm = lv_vm_lookup(g_host, m->name);
		if (vm && !lv_vm_destroying(vm) && lv_vm_destroy(vm))
			alog(LV_LOG_WARN, "migrate: %s: cannot destroy the copy here", m->name);
		phase(m, LV_MPH_ENDED);
		alog(LV_LOG_INFO, "migrate: %s: runs at %s", m->name, m->dest);
		unlink(m->file);
		journal_remove(m);
		reply_moved(m);
		mig_free(m);
		return;
	}
	if (!rc && strcmp(st, "paused")) {   /* gone or broken there: back here */
		snprintf(err, sizeof(err), "its copy at the destination is %s", st);
		undo(m, -EIO, err);
		return;
	}
	if (!m->retry_at)
		alog(LV_LOG_WARN, "migrate: %s: the destination did not start it yet (%s): retrying",
		     m->name, rc ? err : "still paused");
	m->retry_at = lv_now_ns() + 1000000000ll;
	if (m->c && client_alive(m->c)) {
		client_reply_err(m->c, m->seq, rc ? -rc : EAGAIN, "migrate: %s: %s has not started it yet (%s); this agent retries",
				 m->name, m->dest, rc ? err : "still paused");
		client_unref(m->c);
		m->c = NULL;
	}
}

/* The VM is saved and held here (step 1): the rest. */
static void go_on(struct mig *m)
{
	struct lv_vm *vm = lv_vm_lookup(g_host, m->name);
	char err[256] = "";
	int rc;

	if (journal_write(m, 1)) {
		undo(m, -EIO, "cannot write the migration journal");
		return;
	}
	stall(1);
	rc = dest_restore(m, err, sizeof(err));
	if (rc) {
		m->step = 2;          /* a copy may exist there: destroy it */
		undo(m, rc, err);
		return;
	}
	phase(m, LV_MPH_SENT);
	if (journal_write(m, 2)) {
		undo(m, -EIO, "cannot write the migration journal");
		return;
	}
	stall(2);
	vm = lv_vm_lookup(g_host, m->name);
	if (!vm || lv_vm_destroying(vm)) {
		undo(m, -ESRCH, "the VM went away here");
		return;
	}
	if (journal_write(m, 3)) {   /* from here on the copy here never runs */
		undo(m, -EIO, "cannot write the migration journal");
		return;
	}
	stall(3);
	commit(m);
}

void migrate_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	const struct lv_vm_info *in = lv_vm_info(vm);

	for (struct mig *m = migs, *next; m; m = next) {
		next = m->next;
		if (m->id != in->id || m->step != 0 || !m->c)
			continue;
		if (ev == LV_EV_SAVED && in->state == LV_ST_MIGRATING) {
			m->t_held = in->t_save[1];
			phase(m, LV_MPH_HELD);
			go_on(m);
		} else if (ev == LV_EV_SAVE_FAILED || lv_state_is_final(in->state) ||
			   ev == LV_EV_DESTROYED) {
			const char *msg = NULL;

			lv_vm_save_error(vm, &msg);
			unlink(m->file);
			reply(m, EIO, msg && *msg ? msg : "the save failed");
			mig_free(m);
		}
	}
}

void migrate_request(struct client *c, uint32_t seq, const Lightvm__MigrateReq *rq)
{
	struct lv_vm *vm = lv_vm_lookup(g_host, rq->name);
	char dir[PATH_MAX];
	struct stat st;
	struct mig *m;
	unsigned n;
	int fd, rc;

	if (!vm || lv_vm_destroying(vm)) {
		client_reply_err(c, seq, ESRCH, "migrate: no VM '%s'", rq->name);
		return;
	}
	if (lv_vm_info(vm)->state != LV_ST_RUNNING) {
		client_reply_err(c, seq, EINVAL, "migrate: %s is %s, not running", rq->name,
				 lv_state_name(lv_vm_info(vm)->state));
		return;
	}
	if (!migrate_net_is_addr(rq->dest) &&
	    (rq->dest[0] != '/' || strlen(rq->dest) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	     stat(rq->dest, &st) < 0 || !S_ISSOCK(st.st_mode))) {
		client_reply_err(c, seq, EINVAL, "migrate: '%s': neither the absolute path of an agent's socket nor ADDR:PORT",
				 rq->dest);
		return;
	}
	n = 0;
	for (m = migs; m; m = m->next, n++)
		if (!strcmp(m->name, rq->name)) {
			client_reply_err(c, seq, EBUSY, "migrate: %s is being migrated", rq->name);
			return;
		}
	if (n >= MIGRATIONS_MAX) {
		client_reply_err(c, seq, EBUSY, "migrate: %u migrations under way already", n);
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		client_reply_err(c, seq, ENOMEM, "migrate: out of memory");
		return;
	}
	m->c = c;
	client_ref(c);
	m->seq = seq;
	m->id = lv_vm_info(vm)->id;
	m->timeout_ms = rq->has_timeout_ms ? rq->timeout_ms : 0;
	snprintf(m->name, sizeof(m->name), "%s", rq->name);
	snprintf(m->dest, sizeof(m->dest), "%s", rq->dest);
	dir_of(dir, sizeof(dir), "snapshots");
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (size_t)snprintf(m->file, sizeof(m->file), "%s/migrate-%s.lvsnap", dir, m->name) >= sizeof(m->file)) {
		client_reply_err(c, seq, EIO, "migrate: %s: cannot use %s", rq->name, dir);
		client_unref(c);
		free(m);
		return;
	}
	m->t_ph[LV_MPH_REQUEST] = lv_now_ns();
	lv_vm_migrate_phase(vm, LV_MPH_REQUEST, m->t_ph[LV_MPH_REQUEST]);
	unlink(m->file);          /* a former attempt's */
	fd = open(m->file, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : lv_vm_save_hold(vm, fd);
	if (fd >= 0)
		close(fd);
	if (rc) {
		unlink(m->file);
		client_reply_err(c, seq, -rc, "migrate: %s: cannot save it: %s", rq->name, strerror(-rc));
		client_unref(c);
		free(m);
		return;
	}
	m->next = migs;
	migs = m;
	alog(LV_LOG_INFO, "migrate: %s to %s", m->name, m->dest);
}

/* ---- a former agent's journals */

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static void recover_one(const char *dir, const char *name)
{
	char path[PATH_MAX * 2], line[PATH_MAX + 16];
	struct mig *m = calloc(1, sizeof(*m));
	FILE *f;

	if (!m)
		return;
	if (strlen(name) >= sizeof(m->name)) {
		free(m);
		return;
	}
	memcpy(m->name, name, strlen(name) + 1);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	m->step = -1;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "step ", 5))
			m->step = atoi(line + 5);
		else if (!strncmp(line, "dest ", 5) && strlen(line + 5) < sizeof(m->dest))
			memcpy(m->dest, line + 5, strlen(line + 5) + 1);
		else if (!strncmp(line, "file ", 5) && strlen(line + 5) < sizeof(m->file))
			memcpy(m->file, line + 5, strlen(line + 5) + 1);
	}
	if (f)
		fclose(f);
	if (m->step < 1 || m->step > 3 || !*m->dest || !*m->file || !name_ok(m->name)) {
		alog(LV_LOG_WARN, "migrate: journal %s is not valid: removed", path);
		unlink(path);
		free(m);
		return;
	}
	m->next = migs;
	migs = m;
	alog(LV_LOG_WARN, "migrate: %s: a former agent stopped at step %d of its move to %s: %s",
	     m->name, m->step, m->dest, m->step < 3 ? "resuming it here" : "starting it there");
	if (m->step < 3)
		undo(m, -EINTR, "the agent was stopped during the migration");
	else
		commit(m);
}

void migrate_tick(void)
{
	int64_t now = lv_now_ns();

	if (!recovered) {
		char dir[PATH_MAX];
		DIR *d;
		struct dirent *e;

		recovered = true;
		dir_of(dir, sizeof(dir), "migrate");
		d = opendir(dir);
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.' && !strstr(e->d_name, ".tmp"))
				recover_one(dir, e->d_name);
		if (d)
			closedir(d);
	}
	for (struct mig *m = migs, *next; m; m = next) {
		next = m->next;
		if (m->step == 3 && m->retry_at && now >= m->retry_at) {
			commit(m);
		} else if (m->step == -1 && (resume_here(m) || now > m->give_up)) {
			if (now > m->give_up)
				alog(LV_LOG_WARN, "migrate: %s: could not resume it here (it stays as it is)",
				     m->name);
			mig_free(m);
		}
	}
}
