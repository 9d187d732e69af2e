/*
 * waiters.c - replies that wait for VMs, one mechanism for all of them:
 * a spawn that waits until its VMs are ready, a destroy until they are
 * gone, a pause or unpause until they changed state, and WaitReq (any
 * VMs until a state).  Every waiter has its client, its VMs by id and a
 * deadline, and replies once.  Action and spawn waiters count down one
 * per VM (and one guard while their request is being issued) as VM
 * events arrive; state waiters (W_STATE) are re-evaluated once per loop
 * iteration after VM events (and once a second), not per event, so a
 * wait on 10,000 VMs costs O(N) per iteration.  A client may hold
 * max-waits state waiters (budget.h); a wait without a timeout ends at
 * wait-timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "budget.h"

static struct waiter *waiters;
static bool states_dirty;       /* a VM event since the state waiters' last look */

/* Reply with the given VMs (NULL entries skipped). */
void reply_vms(struct client *c, uint32_t seq, struct lv_vm **vms, unsigned n,
		      bool phases, Lightvm__Failure **fails, unsigned nfails, unsigned affected)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	struct pbvm *pb = calloc(n ? n : 1, sizeof(*pb));
	Lightvm__VmInfo **pp = calloc(n ? n : 1, sizeof(*pp));
	unsigned k = 0;

	if (!pb || !pp) {
		free(pb);
		free(pp);
		client_reply_err(c, seq, ENOMEM, "out of memory building the reply");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!vms[i])
			continue;
		pb_fill_vm(&pb[k], vms[i], phases);
		pp[k] = &pb[k].m;
		k++;
	}
	r.n_vms = k;
	r.vms = pp;
	r.n_failures = nfails;
	r.failures = fails;
	if (affected) {
		r.has_affected = true;
		r.affected = affected;
	}
	client_reply(c, seq, &r);
	free(pb);
	free(pp);
}

void waiter_fail(struct waiter *w, const char *name, int err, const char *msg)
{
	Lightvm__Failure *f = calloc(1, sizeof(*f));
	Lightvm__Failure **a = realloc(w->fails, (w->nfails + 1) * sizeof(*a));

	if (!f || !a) {
		free(f);
		if (a)
			w->fails = a;
		return;
	}
	w->fails = a;
	lightvm__failure__init(f);
	f->name = strdup(name);
	f->err = err;
	f->message = strdup(msg && *msg ? msg : strerror(err));
	w->fails[w->nfails++] = f;
}

/* Unlink and free w without replying. */
void waiter_drop(struct waiter *w)
{
	for (struct waiter **p = &waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	/* forget the waiter in VMs that still point at it (timeouts) */
	for (unsigned i = 0; i < w->n; i++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, w->ids[i]);
		struct vm_ext *e = vm ? lv_vm_user(vm) : NULL;

		if (e && e->wait.spawn_w == w)
			e->wait.spawn_w = NULL;
		if (e && e->wait.act_w == w)
			e->wait.act_w = NULL;
	}
	for (unsigned i = 0; i < w->nfails; i++) {
		free(w->fails[i]->name);
		free(w->fails[i]->message);
		free(w->fails[i]);
	}
	free(w->fails);
	if (w->kind == W_STATE)
		client_budget_put(w->c, CB_WAIT);
	client_unref(w->c);
	free(w->ids);
	free(w);
}

static void waiter_reply(struct waiter *w)
{
	if (!client_alive(w->c))
		return;
	if (w->kind == W_SPAWN) {
		struct lv_vm **vms = calloc(w->n ? w->n : 1, sizeof(*vms));

		if (!vms) {
			client_reply_err(w->c, w->seq, ENOMEM, "out of memory building the reply");
			return;
		}
		for (unsigned i = 0; i < w->n; i++)
			vms[i] = lv_vm_by_id(g_host, w->ids[i]);
		reply_vms(w->c, w->seq, vms, w->n, false, w->fails, w->nfails, 0);
		free(vms);
	} else {
		Lightvm__Reply r = LIGHTVM__REPLY__INIT;

		r.has_affected = true;
		r.affected = w->affected;
		r.n_failures = w->nfails;
		r.failures = w->fails;
		client_reply(w->c, w->seq, &r);
	}
}

static void waiter_finish(struct waiter *w)
{
	waiter_reply(w);
	waiter_drop(w);
}

struct waiter *waiter_new(struct client *c, uint32_t seq, enum wkind kind,
				 unsigned cap, int64_t timeout_ns)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->ids = calloc(cap ? cap : 1, sizeof(*w->ids));
	if (!w->ids) {
		free(w);
		return NULL;
	}
	w->c = c;
	client_ref(c);
	w->seq = seq;
	w->kind = kind;
	w->deadline = lv_now_ns() + timeout_ns;
	w->remaining = 1;   /* guard, dropped when the request is fully issued */
	w->next = waiters;
	waiters = w;
	return w;
}

void waiter_done_one(struct waiter *w)
{
	if (w->remaining && --w->remaining == 0)
		waiter_finish(w);
}

/* w waits for the action on this VM (name, id): a newer action
 * supersedes an older one, whose waiter is told so. */
void act_wait(struct waiter *w, struct vm_ext *e, const char *name, uint32_t id)
{
	if (e->wait.act_w) {
		waiter_fail(e->wait.act_w, name, ECANCELED, "superseded by another action");
		waiter_done_one(e->wait.act_w);
	}
	e->wait.act_w = w;
	w->ids[w->n++] = id;
	w->remaining++;
}

/* w lists the new VM vm and, unless it has ended already, waits for it
 * to be ready. */
void spawn_wait(struct waiter *w, struct lv_vm *vm)
{
	struct vm_ext *e;

	w->ids[w->n++] = lv_vm_info(vm)->id;
	if (lv_state_is_final(lv_vm_info(vm)->state))
		return;
	if (!(e = vm_ext(vm))) {
		waiter_fail(w, lv_vm_info(vm)->name, ENOMEM, "out of memory: not waited for");
		return;
	}
	e->wait.spawn_w = w;
	w->remaining++;
}

/* Does an action of this kind change a VM in state st (so a reply must
 * wait for it)? */
bool action_changes(enum wkind k, enum lv_state st)
{
	switch (k) {
	case W_PAUSE: return st == LV_ST_RUNNING || st == LV_ST_BOOTING;
	case W_UNPAUSE: return st == LV_ST_PAUSED;
	case W_NOW: return false;
	default: return true;
	}
}

/* Is an action of this kind complete after event ev? */
static bool action_done(enum wkind k, enum lv_event ev)
{
	if (ev == LV_EV_DESTROYED)
		return true;
	switch (k) {
	case W_PAUSE:
		return ev == LV_EV_PAUSED || ev == LV_EV_SHUTOFF || ev == LV_EV_CRASHED ||
		       ev == LV_EV_FAILED;
	case W_UNPAUSE:
		return ev == LV_EV_UNPAUSED || ev == LV_EV_READY || ev == LV_EV_STARTED ||
		       ev == LV_EV_SHUTOFF || ev == LV_EV_CRASHED || ev == LV_EV_FAILED;
	default:
		return false;
	}
}

/* Did event ev bring a VM where an action of this kind sends it? */
static bool action_reached(enum wkind k, enum lv_event ev)
{
	switch (k) {
	case W_PAUSE: return ev == LV_EV_PAUSED;
	case W_UNPAUSE: return ev == LV_EV_UNPAUSED || ev == LV_EV_READY || ev == LV_EV_STARTED;
	default: return ev == LV_EV_DESTROYED;
	}
}

void waiters_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	struct vm_ext *e = lv_vm_user(vm);

	states_dirty = true;
	if (!e)
		return;
	if (e->wait.spawn_w && (ev == LV_EV_READY || ev == LV_EV_SHUTOFF || ev == LV_EV_CRASHED ||
				ev == LV_EV_FAILED || ev == LV_EV_DESTROYED)) {
		struct waiter *w = e->wait.spawn_w;

		e->wait.spawn_w = NULL;
		if (ev == LV_EV_CRASHED || ev == LV_EV_FAILED)
			waiter_fail(w, i->name, ev == LV_EV_FAILED && i->exit_code < 0 ?
				    (int)-i->exit_code : EIO, i->reason);
		else if (ev == LV_EV_DESTROYED)
			waiter_fail(w, i->name, ECANCELED, "destroyed before it was ready");
		waiter_done_one(w);
	}
	if (e->wait.act_w && action_done(e->wait.act_w->kind, ev)) {
		struct waiter *w = e->wait.act_w;

		e->wait.act_w = NULL;
		if (w->strict && !action_reached(w->kind, ev))
			waiter_fail(w, i->name, ev == LV_EV_DESTROYED ? ECANCELED : EIO,
				    ev == LV_EV_DESTROYED ? "destroyed before it changed state" :
				    *i->reason ? i->reason : lv_event_name(ev));
		waiter_done_one(w);
	}
}

/* ---- W_STATE: WaitReq */

/* Reply if every VM is in the target state, or cannot reach it any more,
 * or time is up.  Returns true if w replied (or its client is gone). */
static bool state_eval(struct waiter *w, int64_t now)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	const char *tname = lv_state_name(w->target);
	unsigned ok = 0, hopeless = 0, nf = 0;
	Lightvm__Failure *f, **fp;
	char msg[512];
	size_t off;
	bool timeout = now >= w->deadline;

	for (unsigned k = 0; k < w->n; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, w->ids[k]);
		enum lv_state st = vm ? lv_vm_info(vm)->state : LV_ST_NR;

		if (st == w->target)
			ok++;
		else if (!vm || lv_vm_destroying(vm) || lv_state_is_final(st))
			hopeless++;
	}
	if (!client_alive(w->c))
		return true;
	if (ok == w->n) {
		r.has_affected = true;
		r.affected = ok;
		client_reply(w->c, w->seq, &r);
		return true;
	}
	if (!timeout && ok + hopeless < w->n)
		return false;
	f = calloc(w->n - ok, sizeof(*f));
	fp = calloc(w->n - ok, sizeof(*fp));
	off = (size_t)snprintf(msg, sizeof(msg), "wait: %u of %u VMs %s %s%s:", w->n - ok, w->n,
			       timeout ? "not" : "can no longer become", tname,
			       timeout ? " before the timeout" : "");
	for (unsigned k = 0; k < w->n && f && fp; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, w->ids[k]);
		const char *name = vm ? lv_vm_info(vm)->name : "(destroyed)";
		const char *now_st = !vm ? "destroyed" : lv_vm_destroying(vm) ? "destroying" :
			lv_state_name(lv_vm_info(vm)->state);

		if (vm && lv_vm_info(vm)->state == w->target)
			continue;
		lightvm__failure__init(&f[nf]);
		f[nf].name = (char *)name;
		f[nf].err = timeout ? ETIMEDOUT : ECANCELED;
		f[nf].message = (char *)now_st;
		fp[nf] = &f[nf];
		nf++;
		if (off < sizeof(msg) - 1)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s %s (%s)",
						nf > 1 ? "," : "", name, now_st);
	}
	if (off >= sizeof(msg) - 1)
		strcpy(msg + sizeof(msg) - 5, "...");
	r.has_err = true;
	r.err = timeout ? ETIMEDOUT : ECANCELED;
	r.message = msg;
	r.n_failures = nf;
	r.failures = fp;
	client_reply(w->c, w->seq, &r);
	free(f);
	free(fp);
	return true;
}

void wait_request(struct client *c, uint32_t seq, const Lightvm__WaitReq *r)
{
	int st = lv_state_parse(r->state);
	struct waiter *w;
	struct lv_vm **v;
	unsigned n;

	if (st < 0) {
		client_reply_err(c, seq, EINVAL, "wait: unknown state '%s' (prepared, booting, running, paused, shutting-down, shutoff, crashed)",
				 r->state);
		return;
	}
	n = select_vms(r->selector, &v);
	if (n == 0 && r->selector && *r->selector && !lv_selector_is_pattern(r->selector)) {
		free(v);
		client_reply_err(c, seq, ENOENT, "wait: no VM named '%s'", r->selector);
		return;
	}
	if (client_budget_take(c, CB_WAIT, seq)) {
		free(v);
		return;
	}
	/* every wait ends: without a timeout, at wait-timeout */
	w = waiter_new(c, seq, W_STATE, n, (int64_t)(r->has_timeout_ms && r->timeout_ms ?
						     r->timeout_ms : g_limits.wait_timeout_ms) * 1000000);
	if (!w) {
		free(v);
		client_budget_put(c, CB_WAIT);
		client_reply_err(c, seq, ENOMEM, "wait: out of memory");
		return;
	}
	for (unsigned k = 0; k < n; k++)
		w->ids[k] = lv_vm_info(v[k])->id;
	free(v);
	w->n = n;
	w->target = (enum lv_state)st;
	if (state_eval(w, lv_now_ns()))
		waiter_drop(w);
}

/* ---- deadlines and state waiters, once per loop iteration */

static void deadline_passed(struct waiter *w)
{
	for (unsigned k = 0; k < w->n; k++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, w->ids[k]);
		struct vm_ext *e = vm ? lv_vm_user(vm) : NULL;

		if (e && (e->wait.spawn_w == w || e->wait.act_w == w))
			waiter_fail(w, lv_vm_info(vm)->name, ETIMEDOUT,
				    w->kind == W_SPAWN ? "not ready before the timeout" :
				    w->kind == W_DESTROY ? "not gone before the timeout" :
				    "did not change state before the timeout");
	}
	waiter_finish(w);
}

void waiters_tick(void)
{
	static int64_t last;
	int64_t now = lv_now_ns();
	bool all = states_dirty || now - last >= 1000000000ll;

	states_dirty = false;
	if (all)
		last = now;
	for (struct waiter *w = waiters, *n; w; w = n) {
		n = w->next;
		if (w->kind == W_STATE) {
			if ((all || now >= w->deadline) && state_eval(w, now))
				waiter_drop(w);
		} else if (now >= w->deadline) {
			deadline_passed(w);
		}
	}
}
