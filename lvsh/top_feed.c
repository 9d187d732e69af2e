/*
 * top_feed.c - where the live view's rows come from (see top.h).  The view
 * has a connection of its own, so its refreshes never wait behind (or
 * block) a command.  It first asks for a stats subscription; an agent that
 * does not know the request (EOPNOTSUPP) is polled instead: `list` and
 * `host` (and `pool` if the host info carries no pools) once per refresh
 * interval, pipelined, with the next round sent only when the previous
 * one is answered, so a slow agent is never flooded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "top.h"

int64_t top_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static uint32_t next_seq(struct top_feed *f)
{
	if (++f->seq == 0)
		++f->seq;
	return f->seq;
}

static int send_req(struct top_feed *f, Lightvm__Request *req, uint32_t *seq)
{
	int rc;

	*seq = next_seq(f);
	rc = lvsh_conn_send(f->fd, *seq, req);
	if (rc < 0)
		snprintf(f->err, sizeof(f->err), "agent: %s", strerror(-rc));
	return rc;
}

static int send_subscribe(struct top_feed *f)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SubscribeReq sub = LIGHTVM__SUBSCRIBE_REQ__INIT;

	sub.has_interval_ms = 1;
	sub.interval_ms = f->interval_ms;
	sub.has_events = 1;
	sub.events = 1;
	req.op_case = LIGHTVM__REQUEST__OP_SUBSCRIBE;
	req.subscribe = &sub;
	return send_req(f, &req, &f->seq_sub);
}

/* One polling round: list + host (+ pool). */
static int send_round(struct top_feed *f)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__HostReq hr = LIGHTVM__HOST_REQ__INIT;
	Lightvm__PoolReq pr = LIGHTVM__POOL_REQ__INIT;
	int rc;

	req.op_case = LIGHTVM__REQUEST__OP_LIST;
	req.list = &sel;
	if ((rc = send_req(f, &req, &f->seq_list)) < 0)
		return rc;
	req.op_case = LIGHTVM__REQUEST__OP_HOST;
	req.host = &hr;
	if ((rc = send_req(f, &req, &f->seq_host)) < 0)
		return rc;
	f->pending = 2;
	f->seq_pool = 0;
	if (f->need_pools) {
		req.op_case = LIGHTVM__REQUEST__OP_POOL;
		req.pool = &pr;
		if ((rc = send_req(f, &req, &f->seq_pool)) < 0)
			return rc;
		f->pending++;
	}
	f->list_ok = false;
	return 0;
}

int top_feed_open(struct top_feed *f, struct lvsh *sh, uint32_t interval_ms)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->interval_ms = interval_ms;
	f->need_pools = true;
	rc = lvsh_conn_open(sh, "top", &f->fd);
	if (rc != LVSH_EXIT_OK)
		return rc;
	f->mode = FEED_PROBE;
	if (send_subscribe(f) < 0 || send_round(f) < 0)
		return LVSH_EXIT_UNREACH;
	f->next_poll = top_now_ns() + (int64_t)interval_ms * 1000000;
	return LVSH_EXIT_OK;
}

void top_feed_close(struct top_feed *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

void top_feed_set_interval(struct top_feed *f, uint32_t ms)
{
	f->interval_ms = ms;
	f->next_poll = top_now_ns() + (int64_t)ms * 1000000;
	if (f->mode == FEED_SUB)
		send_subscribe(f);	/* the agent takes the new period */
}

int top_feed_timeout(const struct top_feed *f)
{
	int64_t left = f->next_poll - top_now_ns();

	if (f->mode == FEED_SUB && f->pending == 0)
		return 1000;	/* nothing to send; notifications wake us */
	if (left <= 0)
		return 0;
	return (int)(left / 1000000) + 1;
}

int top_feed_tick(struct top_feed *f, struct top_model *m)
{
	int64_t now = top_now_ns();

	(void)m;
	if (f->pending > 0 || now < f->next_poll)
		return 0;
	f->next_poll = now + (int64_t)f->interval_ms * 1000000;
	/* With a subscription a full list is still fetched when events
	 * asked for one (next_poll moved up), not every period. */
	if (f->mode == FEED_SUB && !f->list_ok)
		return send_round(f);
	if (f->mode == FEED_SUB)
		return 0;
	return send_round(f);
}

static void apply_list(struct top_feed *f, struct top_model *m,
		       Lightvm__VmInfo **vms, size_t n, bool full)
{
	size_t i;

	top_model_begin(m);
	for (i = 0; i < n; i++)
		top_model_update(m, vms[i]);
	top_model_end(m, full);
	(void)f;
}

static int on_reply(struct top_feed *f, struct top_model *m, uint32_t seq,
		    Lightvm__Reply *r)
{
	bool err = r->has_err && r->err != 0;

	if (seq == f->seq_sub) {
		f->seq_sub = 0;
		if (err) {
			f->mode = FEED_POLL;	/* EOPNOTSUPP today */
			return 0;
		}
		f->mode = FEED_SUB;
		return 0;
	}
	if (seq != f->seq_list && seq != f->seq_host && seq != f->seq_pool)
		return 0;		/* a stale reply */
	if (f->pending > 0)
		f->pending--;
	if (err) {
		snprintf(f->err, sizeof(f->err), "agent: %s",
			 r->message ? r->message : strerror(r->err));
		return 0;
	}
	f->err[0] = '\0';
	if (seq == f->seq_list) {
		apply_list(f, m, r->vms, r->n_vms, true);
		f->list_ok = true;
		f->rounds++;
	} else if (seq == f->seq_host && r->host != NULL) {
		top_model_host(m, r->host);
		f->need_pools = r->host->n_pools == 0;
	} else if (seq == f->seq_pool) {
		top_model_pools(m, r->pools, r->n_pools);
	}
	return 1;
}

static int on_notify(struct top_feed *f, struct top_model *m,
		     Lightvm__Notify *n)
{
	Lightvm__Stats *st = n->stats;
	bool full;

	if (n->event != NULL) {
		/* states change, VMs come and go: a full list soon (one per
		 * burst of events), since events carry names, not rows */
		f->list_ok = false;
		if (f->next_poll > top_now_ns() + 200000000ll)
			f->next_poll = top_now_ns() + 200000000ll;
	}
	if (st == NULL)
		return 0;
	/* A snapshot of every VM, or only the changed ones? When the host
	 * count matches, it is all of them and the others are gone. */
	full = st->host != NULL && st->n_vms == st->host->vms;
	apply_list(f, m, st->vms, st->n_vms, full);
	f->rounds++;
	if (st->host != NULL)
		top_model_host(m, st->host);
	return 1;
}

int top_feed_read(struct top_feed *f, struct top_model *m)
{
	Lightvm__Reply *r;
	Lightvm__Notify *n;
	uint32_t seq;
	int rc;

	rc = lvsh_conn_recv(f->fd, &seq, &r, &n);
	if (rc < 0) {
		snprintf(f->err, sizeof(f->err), "lost the agent: %s",
			 strerror(-rc));
		return rc;
	}
	f->frames++;
	if (r != NULL) {
		rc = on_reply(f, m, seq, r);
		lightvm__reply__free_unpacked(r, NULL);
	} else {
		rc = on_notify(f, m, n);
		lightvm__notify__free_unpacked(n, NULL);
	}
	return rc;
}
