/*
 * handlers.c - one function per request type: validate, call the core,
 * reply (VMs converted by vmstate.c).  Replies that depend on VM events
 * (spawn waiting for ready, destroy waiting for the shells to go) park a
 * waiter (waiters.c) that VM events count down.  The request table at
 * the end has one line per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "agent.h"
#include "autostart.h"
#include "budget.h"
#include "lv_limits.h"

/* the protocol's limits are the core's rules */
_Static_assert(LV_MEM_DEFAULT == LV_PROTO_MEM_DEFAULT, "default memory: core and protocol differ");
_Static_assert(LV_MEM_STEP == LV_PROTO_MEM_STEP, "memory step: core and protocol differ");

#define FD_RESERVE      64

/* From the fd limit, read at most once a second (not a system call per
 * spawn request). */
static unsigned vm_limit(void)
{
	static unsigned limit;
	static int64_t read_at;
	int64_t now = lv_now_ns();
	struct rlimit rl;

	if (read_at && now - read_at < 1000000000ll)
		return limit;
	read_at = now;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		limit = 100000;
	else
		limit = rl.rlim_cur > FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 0;
	return limit;
}

/* ---- requests */

static void do_spawn(struct client *c, uint32_t seq, const Lightvm__SpawnReq *sp)
{
	char err[512], rd[512], cl[LV_SPAWN_CMDLINE_MAX + 1];
	int64_t t0 = lv_now_ns();
	uint64_t mem = sp->has_mem_bytes ? sp->mem_bytes : 0;
	uint32_t vcpus = sp->has_vcpus ? sp->vcpus : 0;
	unsigned count = sp->count, limit = vm_limit(), have = lv_host_count(g_host, NULL);
	bool wait = !sp->has_wait_ready || sp->wait_ready;
	int64_t timeout_ns;
	struct waiter *w;
	struct lv_vm **vms;
	struct stat image_st;
	int fd, rc;

	if (count == 0 || count > LV_PROTO_SPAWN_MAX) {
		client_reply_err(c, seq, EINVAL, "spawn: count %u out of range (1 .. %u)", count,
				 LV_PROTO_SPAWN_MAX);
		return;
	}
	if (have + count > limit) {
		client_reply_err(c, seq, ENOSPC, "spawn: %u more VMs would exceed this host's limit of %u (open-file limit)",
				 count, limit);
		return;
	}
	if (pidroom_admit(have, count, err, sizeof(err))) {
		client_reply_err(c, seq, EAGAIN, "spawn: no process ids for %u more VMs: %s", count, err);
		return;
	}
	if (sp->name_prefix && !*sp->name_prefix) {
		client_reply_err(c, seq, EINVAL, "spawn: empty name prefix");
		return;
	}
	if ((sp->ramdisk && !*sp->ramdisk) || (sp->cmdline && !*sp->cmdline)) {
		client_reply_err(c, seq, EINVAL, "spawn: empty %s", sp->ramdisk && !*sp->ramdisk ? "ramdisk" : "cmdline");
		return;
	}
	if (sp->name && (!*sp->name || count != 1)) {   /* from a config file */
		client_reply_err(c, seq, EINVAL, "spawn: a VM name needs count 1 (else a name prefix)");
		return;
	}
	if (vmcfg_env_check(sp->mode, sp->net_bridge, err, sizeof(err))) {
		client_reply_err(c, seq, EINVAL, "spawn: %s", err);
		return;
	}
	/* the core's flavor rules (default, rounding); memory out of
	 * range is lv_image_open's error, which names the image */
	if (lv_flavor_normalize(&mem, &vcpus) == -EINVAL) {
		client_reply_err(c, seq, EINVAL, "spawn: vcpus=%u: %s", vcpus, lv_proto_flavor_rule());
		return;
	}
	fd = lv_image_open_st(g_host, sp->image, mem, &image_st, err, sizeof(err));
	if (fd < 0) {
		client_reply_err(c, seq, -fd, "%s", err);
		return;
	}
	rc = lv_image_extras(g_host, sp->image, rd, sizeof(rd), cl, sizeof(cl), err, sizeof(err));
	if (rc) {   /* an image directory's initrd and cmdline (Xen) */
		close(fd);
		client_reply_err(c, seq, -rc, "spawn: %s", err);
		return;
	}
	rc = records_reserve(count);
	if (rc) {   /* no VM a client hears of may lack its record */
		close(fd);
		client_reply_err(c, seq, -rc, "spawn: cannot write state records in %s: %s",
				 records_dir(), strerror(-rc));
		return;
	}
	timeout_ns = sp->has_timeout_ms && sp->timeout_ms ? (int64_t)sp->timeout_ms * 1000000
		: 30000000000ll + (int64_t)count * 10000000;
	w = waiter_new(c, seq, W_SPAWN, count, timeout_ns);
	vms = calloc(count, sizeof(*vms));
	if (!w || !vms) {
		close(fd);
		free(vms);
		if (w)
			waiter_drop(w);
		client_reply_err(c, seq, ENOMEM, "spawn: out of memory");
		return;
	}
	for (unsigned k = 0; k < count; k++) {
		struct lv_spawn s = {
			.image = sp->image, .prefix = sp->name_prefix, .name = sp->name, .mem_bytes = mem,
			.vcpus = vcpus, .t_request = t0, .image_fd = fd, .image_st = &image_st,
			.ramdisk = sp->ramdisk ? sp->ramdisk : *rd ? rd : NULL,
			.cmdline = sp->cmdline ? sp->cmdline : *cl ? cl : NULL,
			.watchdog_s = sp->has_watchdog_s ? sp->watchdog_s : g_watchdog_s,
			.burst = count,
		};
		struct lv_vm *vm;

		rc = lv_vm_spawn(g_host, &s, &vm, err, sizeof(err));

		if (rc) {
			if (k == 0) {       /* nothing started: a plain error */
				close(fd);
				free(vms);
				waiter_drop(w);
				client_reply_err(c, seq, -rc, "spawn: %s", err);
				return;
			}
			waiter_fail(w, "-", -rc, err);
			break;
		}
		vms[k] = vm;
		vmcfg_mark(vm, (sp->destroy_on_poweroff ? VMCFG_DESTROY_POWEROFF : 0) |
			   (sp->destroy_on_crash ? VMCFG_DESTROY_CRASH : 0));
		spawn_wait(w, vm);
	}
	close(fd);
	alog(LV_LOG_INFO, "spawn: %u x %s", w->n, sp->image);
	if (!wait) {
		reply_vms(c, seq, vms, w->n, false, w->fails, w->nfails, 0);
		waiter_drop(w);
	} else {
		waiter_done_one(w);   /* drop the guard */
	}
	free(vms);
}

static void do_list(struct client *c, uint32_t seq, const Lightvm__SelectReq *s, bool inspect)
{
	struct lv_vm **v;
	unsigned n;

	if (inspect && (!s->selector || !*s->selector)) {
		client_reply_err(c, seq, EINVAL, "inspect: which VM?");
		return;
	}
	n = select_vms(s->selector, &v);
	if (n == 0 && s->selector && *s->selector && !lv_selector_is_pattern(s->selector)) {
		free(v);
		client_reply_err(c, seq, ENOENT, "no VM named '%s'", s->selector);
		return;
	}
	reply_vms(c, seq, v, n, inspect, NULL, 0, 0);
	free(v);
}

static const char *action_name(Lightvm__Action a)
{
	switch (a) {
	case LIGHTVM__ACTION__PAUSE: return "pause";
	case LIGHTVM__ACTION__UNPAUSE: return "unpause";
	case LIGHTVM__ACTION__SHUTDOWN: return "shutdown";
	case LIGHTVM__ACTION__DESTROY: return "destroy";
	case LIGHTVM__ACTION__REBOOT: return "reboot";
	default: return "?";
	}
}

/* Does the action apply to a VM in this state (for patterns)? */
static bool action_applies(Lightvm__Action a, enum lv_state st)
{
	switch (a) {
	case LIGHTVM__ACTION__PAUSE: return st == LV_ST_RUNNING || st == LV_ST_BOOTING;
	case LIGHTVM__ACTION__UNPAUSE: return st == LV_ST_PAUSED;
	case LIGHTVM__ACTION__SHUTDOWN: return !lv_state_is_final(st) && st != LV_ST_SHUTTING_DOWN;
	case LIGHTVM__ACTION__REBOOT: return st == LV_ST_RUNNING;
	case LIGHTVM__ACTION__DESTROY: return true;
	default: return false;
	}
}

static int apply(Lightvm__Action a, struct lv_vm *vm)
{
	switch (a) {
	case LIGHTVM__ACTION__PAUSE: return lv_vm_pause(vm);
	case LIGHTVM__ACTION__UNPAUSE: return lv_vm_unpause(vm);
	case LIGHTVM__ACTION__SHUTDOWN: return lv_vm_shutdown(vm);
	case LIGHTVM__ACTION__REBOOT: return lv_vm_reboot(vm);
	case LIGHTVM__ACTION__DESTROY: return lv_vm_destroy(vm);
	default: return -EINVAL;
	}
}

/* How long a bulk action's reply waits for its n VMs: a destroy 15 s,
 * pause/unpause 5 s, plus 10 ms per VM (8,000 VMs go on a loaded host). */
static int64_t action_deadline(enum wkind wk, unsigned n)
{
	return (wk == W_DESTROY ? 15000000000ll : 5000000000ll) + (int64_t)n * 10000000ll;
}

/* ActionReq.names: exactly these VMs, one waiter for all of them; the
 * reply comes when every VM reached the action's state (or the timeout)
 * and lists a failure per VM that is unknown, refused or went elsewhere. */
static void do_action_names(struct client *c, uint32_t seq, const Lightvm__ActionReq *a)
{
	const char *an = action_name(a->action);
	enum wkind wk = a->action == LIGHTVM__ACTION__DESTROY ? W_DESTROY :
		a->action == LIGHTVM__ACTION__PAUSE ? W_PAUSE :
		a->action == LIGHTVM__ACTION__UNPAUSE ? W_UNPAUSE : W_NOW;
	struct waiter *w;
	unsigned done = 0;

	w = waiter_new(c, seq, wk, (unsigned)a->n_names, action_deadline(wk, (unsigned)a->n_names));
	if (!w) {
		client_reply_err(c, seq, ENOMEM, "%s: out of memory", an);
		return;
	}
	w->strict = true;
	for (size_t k = 0; k < a->n_names; k++) {
		const char *name = a->names[k];
		struct lv_vm *vm = lv_vm_lookup(g_host, name);
		const struct lv_vm_info *i;
		struct vm_ext *e;
		enum lv_state st;
		uint32_t id;
		int rc;

		if (!vm || lv_vm_destroying(vm)) {
			waiter_fail(w, name, ENOENT, "no such VM");
			continue;
		}
		e = vm_ext(vm);
		if (!e) {
			waiter_fail(w, name, ENOMEM, NULL);
			continue;
		}
		if (e->wait.act_w == w)
			continue;   /* named twice */
		i = lv_vm_info(vm);
		st = i->state;
		id = i->id;
		if (action_changes(wk, st)) {
			act_wait(w, e, i->name, id);
		}
		rc = apply(a->action, vm);   /* may free vm (destroy) */
		if (rc) {
			struct lv_vm *still = lv_vm_by_id(g_host, id);
			struct vm_ext *se = still ? lv_vm_user(still) : NULL;
			char msg[64];

			if (se && se->wait.act_w == w) {
				se->wait.act_w = NULL;
				w->remaining--;
			}
			if (rc == -EINVAL)
				snprintf(msg, sizeof(msg), "is %s", lv_state_name(st));
			else
				snprintf(msg, sizeof(msg), "%s", strerror(-rc));
			waiter_fail(w, name, -rc, msg);
			continue;
		}
		done++;
	}
	alog(LV_LOG_INFO, "%s %zu named VMs: %u, %u failed", an, a->n_names, done, w->nfails);
	w->affected = done;
	waiter_done_one(w);   /* drop the guard */
}

static void do_action(struct client *c, uint32_t seq, const Lightvm__ActionReq *a)
{
	bool pattern = lv_selector_is_pattern(a->selector);
	const char *an = action_name(a->action);
	struct waiter *w = NULL;
	struct lv_vm **v;
	unsigned n, done = 0;

	if (a->n_names) {
		do_action_names(c, seq, a);
		return;
	}
	if (!*a->selector) {
		client_reply_err(c, seq, EINVAL, "%s: which VMs? (a name, a glob, or all)", an);
		return;
	}
	n = select_vms(a->selector, &v);
	if (n == 0) {
		free(v);
		if (pattern) {
			Lightvm__Reply r = LIGHTVM__REPLY__INIT;
			r.has_affected = true;
			client_reply(c, seq, &r);
		} else {
			client_reply_err(c, seq, ENOENT, "%s: no VM named '%s'", an, a->selector);
		}
		return;
	}
	/* destroy, pause and unpause reply once done, not once asked */
	if (a->action == LIGHTVM__ACTION__DESTROY || a->action == LIGHTVM__ACTION__PAUSE ||
	    a->action == LIGHTVM__ACTION__UNPAUSE) {
		enum wkind wk = a->action == LIGHTVM__ACTION__DESTROY ? W_DESTROY :
			a->action == LIGHTVM__ACTION__PAUSE ? W_PAUSE : W_UNPAUSE;

		w = waiter_new(c, seq, wk, n, action_deadline(wk, n));
		if (!w) {
			free(v);
			client_reply_err(c, seq, ENOMEM, "%s: out of memory", an);
			return;
		}
	}
	for (unsigned k = 0; k < n; k++) {
		const struct lv_vm_info *i = lv_vm_info(v[k]);
		enum lv_state st = i->state;
		uint32_t id = i->id;
		int rc;

		if (pattern && !action_applies(a->action, st))
			continue;
		if (w && action_changes(w->kind, st)) {
			struct vm_ext *e = vm_ext(v[k]);

			if (e)
				act_wait(w, e, i->name, id);
			else
				waiter_fail(w, i->name, ENOMEM, "out of memory: not waited for");
		}
		rc = apply(a->action, v[k]);   /* may free v[k] (destroy) */
		if (rc) {
			struct lv_vm *still = lv_vm_by_id(g_host, id);
			struct vm_ext *se = still ? lv_vm_user(still) : NULL;

			if (w && se && se->wait.act_w == w) {
				se->wait.act_w = NULL;
				w->remaining--;
			}
			if (!pattern) {
				free(v);
				if (w)
					waiter_drop(w);
				if (rc == -EINVAL)
					client_reply_err(c, seq, EINVAL, "%s: %s is %s", an,
							 a->selector, lv_state_name(st));
				else
					client_reply_err(c, seq, -rc, "%s: %s: %s", an,
							 a->selector, strerror(-rc));
				return;
			}
			continue;
		}
		done++;
	}
	free(v);
	alog(LV_LOG_INFO, "%s %s: %u VMs", an, a->selector, done);
	if (w) {
		w->affected = done;
		waiter_done_one(w);   /* drop the guard */
		return;
	}
	{
		Lightvm__Reply r = LIGHTVM__REPLY__INIT;
		r.has_affected = true;
		r.affected = done;
		client_reply(c, seq, &r);
	}
}

static void do_log(struct client *c, uint32_t seq, const Lightvm__LogReq *l)
{
	struct lv_vm *vm = lv_vm_lookup(g_host, l->name);
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	size_t max = l->has_max_bytes && l->max_bytes ? l->max_bytes : 65536;
	const char *path;
	uint8_t *buf;
	off_t size;
	ssize_t n;
	int fd;

	if (!vm) {
		client_reply_err(c, seq, ENOENT, "log: no VM named '%s'", l->name);
		return;
	}
	if (max > (1u << 20))
		max = 1u << 20;
	path = lv_vm_console_log(vm);
	r.has_log = true;
	if (!*path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		client_reply(c, seq, &r);   /* no output yet */
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	buf = malloc(max);
	if (!buf) {
		close(fd);
		client_reply_err(c, seq, ENOMEM, "log: out of memory");
		return;
	}
	n = pread(fd, buf, max, size > (off_t)max ? size - (off_t)max : 0);
	close(fd);
	r.log.data = buf;
	r.log.len = n > 0 ? (size_t)n : 0;
	client_reply(c, seq, &r);
	free(buf);
}

static void do_pool(struct client *c, uint32_t seq, const Lightvm__PoolReq *p)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	Lightvm__PoolInfo pi[32], *pp[32];
	char names[32][32];
	unsigned n;

	if (p->flavor && *p->flavor) {
		uint64_t mem;
		uint32_t vcpus;
		enum lv_kind kind;
		char why[256];
		int rc;

		if (!p->has_target) {
			client_reply_err(c, seq, EINVAL, "pool: a flavor needs a target size");
			return;
		}
		if (lv_flavor_parse_kind(p->flavor, &mem, &vcpus, &kind)) {
			client_reply_err(c, seq, EINVAL, "pool: bad flavor '%s' (MEM or MEM/VCPUS, then /linux "
					 "for Linux shells: %s)", p->flavor, lv_proto_pool_rule());
			return;
		}
		if (pidroom_admit(lv_host_count(g_host, NULL), p->target, why, sizeof(why))) {
			client_reply_err(c, seq, EAGAIN, "pool: no process ids for %u shells: %s",
					 p->target, why);
			return;
		}
		rc = lv_pool_set_kind(g_host, mem, vcpus, kind, p->target);
		if (rc) {
			if (rc == -EINVAL)
				client_reply_err(c, seq, EINVAL, "pool: cannot set %s to %u (%s; target 0 .. %u)",
						 p->flavor, p->target, lv_proto_pool_rule(),
						 LV_PROTO_POOL_TARGET_MAX);
			else
				client_reply_err(c, seq, -rc, "pool: cannot set %s to %u: %s", p->flavor,
						 p->target, strerror(-rc));
			return;
		}
		alog(LV_LOG_INFO, "pool %s: target %u", p->flavor, p->target);
	}
	if (p->preload) {
		char err[512];
		int rc = lv_pool_preload(g_host, p->preload, err, sizeof(err));

		if (rc) {
			client_reply_err(c, seq, -rc, "pool: %s", err);
			return;
		}
		alog(LV_LOG_INFO, "pool: preload %s", p->preload);
	}
	r.preload = (char *)lv_pool_preload_name(g_host);
	n = stats_pools(pi, pp, names, 32);
	r.n_pools = n;
	r.pools = pp;
	client_reply(c, seq, &r);
}

/* lv_image_list callback: collect catalog names for HostInfo.images. */
struct name_list {
	char **v;
	size_t n, cap;
};

static void add_image_name(void *arg, const char *name)
{
	struct name_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(name)))
		l->n++;
}

static void do_host(struct client *c, uint32_t seq)
{
	struct name_list images = { 0 };
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	Lightvm__HostInfo hi = LIGHTVM__HOST_INFO__INIT;
	unsigned by[LV_ST_NR];
	uint32_t bys[LV_ST_NR];
	char hostname[256] = "", platform[96];

	gethostname(hostname, sizeof(hostname) - 1);
	hi.driver = (char *)lv_host_driver(g_host);
	hi.platform = (char *)lv_host_platform(g_host, platform, sizeof(platform));
	hi.hostname = hostname;
	hi.vms = lv_host_count(g_host, by);
	for (int k = 0; k < LV_ST_NR; k++)
		bys[k] = by[k];
	hi.n_by_state = LV_ST_NR;
	hi.by_state = bys;
	hi.has_agent_pid = true;
	hi.agent_pid = getpid();
	hi.version = (char *)"0.1";
	stats_fill_host(&hi);
	lv_image_list(g_host, add_image_name, &images);
	hi.n_images = images.n;
	hi.images = images.v;
	r.host = &hi;
	client_reply(c, seq, &r);
	for (size_t k = 0; k < images.n; k++)
		free(images.v[k]);
	free(images.v);
}

void handle_request(struct client *c, uint32_t seq, const Lightvm__Request *rq)
{
	switch (rq->op_case) {
	case LIGHTVM__REQUEST__OP_SPAWN: do_spawn(c, seq, rq->spawn); break;
	case LIGHTVM__REQUEST__OP_LIST: do_list(c, seq, rq->list, false); break;
	case LIGHTVM__REQUEST__OP_INSPECT: do_list(c, seq, rq->inspect, true); break;
	case LIGHTVM__REQUEST__OP_ACTION: do_action(c, seq, rq->action); break;
	case LIGHTVM__REQUEST__OP_LOG: do_log(c, seq, rq->log); break;
	case LIGHTVM__REQUEST__OP_POOL: do_pool(c, seq, rq->pool); break;
	case LIGHTVM__REQUEST__OP_HOST: do_host(c, seq); break;
	case LIGHTVM__REQUEST__OP_CONSOLE: console_request(c, seq, rq->console); break;
	case LIGHTVM__REQUEST__OP_SUBSCRIBE: subs_subscribe(c, seq, rq->subscribe); break;
	case LIGHTVM__REQUEST__OP_WAIT: wait_request(c, seq, rq->wait); break;
	case LIGHTVM__REQUEST__OP_SAVE: snapreq_save(c, seq, rq->save); break;
	case LIGHTVM__REQUEST__OP_RESTORE: snapreq_restore(c, seq, rq->restore); break;
	case LIGHTVM__REQUEST__OP_CLONE: snapreq_clone(c, seq, rq->clone); break;
	case LIGHTVM__REQUEST__OP_MIGRATE: migrate_request(c, seq, rq->migrate); break;
	default:
		client_reply_err(c, seq, EOPNOTSUPP, "unknown request");
	}
}

void handlers_destroy_all_sync(int timeout_ms)
{
	int64_t end = lv_now_ns() + (int64_t)timeout_ms * 1000000;

	for (struct lv_vm *vm = lv_vm_first(g_host), *n; vm; vm = n) {
		n = lv_vm_next(vm);
		if (lv_vm_destroy(vm))
			continue;
	}
	while (lv_host_count(g_host, NULL) && lv_now_ns() < end) {
		loop_run_once(50);
		lv_host_tick(g_host);
	}
}
