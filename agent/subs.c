/*
 * subs.c - what clients follow: subscriptions (lifecycle events in order
 * with a sequence number, and stats every interval).
 *
 * Stats are never queued: a subscriber whose previous frame is still
 * unsent skips this period and gets the latest values next time.  Events
 * are queued in order; a subscriber that lets more than EVENT_BACKLOG
 * bytes pile up is dropped (logged) rather than growing without bound.
 * Each client may hold max-subscriptions subscriptions (budget.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "budget.h"
#include "stats_enc.h"

#define MIN_INTERVAL_MS 100
#define EVENT_BACKLOG   (8u << 20)

struct sub {
	struct sub *next;
	struct client *c;
	uint32_t interval_ms;    /* 0: no stats */
	bool events;
	char *selector;          /* NULL: all */
	int64_t next_due;
};

static struct sub *subs;
static uint64_t event_seq;

/*
 * Sequence numbers go on across agent restarts: STATEDIR/events.seq holds
 * a number no event has gone beyond.  Before event_seq passes it, the
 * agent writes a mark SEQ_STEP further (one small pwrite in place, no
 * fsync, like the records), so even after kill -9 the next agent starts
 * above every number sent; a clean stop writes the exact last number.
 */
#define SEQ_STEP 1024
static int seq_fd = -1;
static uint64_t seq_mark;        /* what events.seq says */
static char seq_path[PATH_MAX];

static void seq_store(uint64_t v)
{
	static bool warned;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%020llu\n", (unsigned long long)v);

	if (seq_fd >= 0 && pwrite(seq_fd, buf, (size_t)n, 0) == n) {
		seq_mark = v;
		return;
	}
	if (!warned)
		alog(LV_LOG_WARN, "events: cannot write %s: %s; sequence numbers restart with the agent",
		     seq_path, seq_fd < 0 ? "not open" : strerror(errno));
	warned = true;
}

void subs_init(const char *state_dir)
{
	char buf[32], *end;
	ssize_t n;
	unsigned long long v;

	snprintf(seq_path, sizeof(seq_path), "%s/events.seq", state_dir);
	seq_fd = open(seq_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (seq_fd < 0) {
		alog(LV_LOG_WARN, "events: %s: %s; sequence numbers start at 1", seq_path,
		     strerror(errno));
		return;
	}
	n = pread(seq_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return;      /* new: from 1 */
	buf[n] = 0;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n')) {
		alog(LV_LOG_WARN, "events: %s is corrupt; sequence numbers start at 1", seq_path);
		return;
	}
	event_seq = seq_mark = v;
}

static struct stats_enc enc;      /* stats frames' body (below) */

void subs_close(void)
{
	stats_enc_free(&enc);
	if (seq_fd < 0)
		return;
	seq_store(event_seq);
	close(seq_fd);
	seq_fd = -1;
}

static bool sel_match(const char *sel, const char *name)
{
	return !sel || !*sel || lv_selector_match(sel, name);
}

void subs_subscribe(struct client *c, uint32_t seq, const Lightvm__SubscribeReq *r)
{
	Lightvm__Reply rep = LIGHTVM__REPLY__INIT;
	struct sub *s;
	uint32_t iv = r->has_interval_ms ? r->interval_ms : 0;

	if (iv && iv < MIN_INTERVAL_MS)
		iv = MIN_INTERVAL_MS;
	if (!iv && !(r->has_events && r->events)) {
		client_reply_err(c, seq, EINVAL, "subscribe: neither stats (interval) nor events asked for");
		return;
	}
	if (client_budget_take(c, CB_SUB, seq))
		return;
	s = calloc(1, sizeof(*s));
	if (!s || (r->selector && *r->selector && !(s->selector = strdup(r->selector)))) {
		free(s);
		client_budget_put(c, CB_SUB);
		client_reply_err(c, seq, ENOMEM, "subscribe: out of memory");
		return;
	}
	s->c = c;
	client_ref(c);
	s->interval_ms = iv;
	s->events = r->has_events && r->events;
	s->next_due = lv_now_ns();   /* first stats right after the reply */
	s->next = subs;
	subs = s;
	alog(LV_LOG_DEBUG, "subscribe: uid %d, stats every %u ms, events %s, selector %s",
	     (int)client_uid(c), iv, s->events ? "yes" : "no", s->selector ? s->selector : "all");
	client_reply(c, seq, &rep);
}

static void sub_free(struct sub *s)
{
	client_budget_put(s->c, CB_SUB);
	client_unref(s->c);
	free(s->selector);
	free(s);
}

/* ---- events */

static void send_event(const char *kind, const char *vm, const char *detail)
{
	Lightvm__Notify n = LIGHTVM__NOTIFY__INIT;
	Lightvm__Event e = LIGHTVM__EVENT__INIT;
	struct timespec ts;

	e.seq = ++event_seq;
	if (event_seq > seq_mark)
		seq_store(event_seq + SEQ_STEP - 1);
	if (!subs)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	e.kind = (char *)kind;
	e.vm = (char *)vm;
	e.detail = detail && *detail ? (char *)detail : NULL;
	e.has_t_ns = true;
	e.t_ns = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
	n.event = &e;
	for (struct sub *s = subs; s; s = s->next) {
		if (!s->events || !client_alive(s->c) || (vm && !sel_match(s->selector, vm)))
			continue;
		if (client_pending(s->c) > EVENT_BACKLOG) {
			client_drop(s->c, "event subscriber too slow (backlog over 8 MiB)");
			continue;
		}
		client_notify(s->c, &n);
	}
}

void subs_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	struct vm_ext *e = lv_vm_user(vm);
	char detail[320] = "";

	if (e) {             /* state, reason, pid...: re-pack its stats entry */
		e->pk.stale = true;
		if (ev == LV_EV_DESTROYED) {
			free(e->pk.buf);
			e->pk.buf = NULL;
		}
	}
	switch (ev) {
	case LV_EV_SHUTOFF:
		snprintf(detail, sizeof(detail), "%s (exit code %lld)", i->reason,
			 (long long)i->exit_code);
		break;
	case LV_EV_CRASHED:
	case LV_EV_FAILED:
		snprintf(detail, sizeof(detail), "%s", i->reason);
		break;
	case LV_EV_SPAWNED:
		snprintf(detail, sizeof(detail), "%s", i->image);
		break;
	default:
		break;
	}
	send_event(lv_event_name(ev), i->name, detail);
}

void subs_pool_event(uint64_t mem, uint32_t vcpus, int kind, bool empty)
{
	char flavor[32];

	lv_flavor_name(flavor, sizeof(flavor), mem, vcpus, (enum lv_kind)kind);
	alog(LV_LOG_DEBUG, "pool %s %s", flavor, empty ? "empty" : "refilled");
	send_event(empty ? "pool-empty" : "pool-refilled", NULL, flavor);
}

/* ---- stats */

/* A stats frame is assembled from per-VM entries packed once and kept
 * (vm_ext.pk): an entry is re-packed only when the VM's counters, CPU %
 * or state changed (an idle VM's never do), and uptime_ns, which always
 * changes, is appended to the cached bytes (protobuf fields may come in
 * any order).  At 10,000 idle VMs a frame is then mostly memcpy, where
 * protobuf-c's generic packer cost more than everything else.  The
 * wire format of the frame is proto/stats_enc.c's; enc (above) is the
 * frame body, kept between frames. */

/* vm's entry, re-packed if it changed; false if out of memory. */
static bool put_vm(struct lv_vm *vm, int64_t now)
{
	struct vm_ext *e = vm_ext(vm);
	struct lv_vm_stats st;
	struct pbvm pb;
	uint64_t up = 0;
	bool has_up;
	double pct;
	size_t elen;

	stats_sample(vm, now, &st, &pct);
	has_up = pb_uptime(vm, now, &up);
	if (!e || !e->pk.buf || e->pk.stale || pct != e->pk.pct ||
	    memcmp(&st, &e->pk.st, sizeof(st))) {
		pb_fill_vm_base(&pb, vm, false);
		stats_put(&pb.m, &st, pct);
		if (!e) {            /* no memory for the cache: as it is */
			pb.m.has_uptime_ns = has_up;
			pb.m.uptime_ns = up;
			return stats_enc_vm(&enc, &pb.m);
		}
		elen = lightvm__vm_info__get_packed_size(&pb.m);
		if (elen > e->pk.cap) {
			uint8_t *p = realloc(e->pk.buf, elen);

			if (!p)
				return false;
			e->pk.buf = p;
			e->pk.cap = (uint32_t)elen;
		}
		e->pk.len = (uint32_t)lightvm__vm_info__pack(&pb.m, e->pk.buf);
		e->pk.st = st;
		e->pk.pct = pct;
		e->pk.stale = false;
	}
	return stats_enc_vm_packed(&enc, e->pk.buf, e->pk.len, has_up, up);
}

static void send_stats(struct sub *s)
{
	Lightvm__HostInfo hi = LIGHTVM__HOST_INFO__INIT;
	unsigned by[LV_ST_NR], cnt;
	uint32_t bys[LV_ST_NR];
	struct lv_vm **v;
	int64_t now = lv_now_ns();
	const uint8_t *body;
	size_t len;

	stats_enc_begin(&enc);
	cnt = select_vms(s->selector, &v);
	for (unsigned k = 0; k < cnt; k++)
		if (!put_vm(v[k], now)) {
			free(v);
			return;      /* try again next period */
		}
	free(v);
	hi.driver = (char *)lv_host_driver(g_host);
	hi.hostname = (char *)"";
	hi.vms = lv_host_count(g_host, by);
	for (int k = 0; k < LV_ST_NR; k++)
		bys[k] = by[k];
	hi.n_by_state = LV_ST_NR;
	hi.by_state = bys;
	stats_fill_host(&hi);
	if (!stats_enc_host(&enc, &hi))
		return;
	body = stats_enc_finish(&enc, &len);
	client_notify_packed(s->c, body, len);
}

static void stats_tick(int64_t now)
{
	for (struct sub **p = &subs, *s; (s = *p);) {
		if (!client_alive(s->c)) {
			*p = s->next;
			sub_free(s);
			continue;
		}
		p = &s->next;
		if (!s->interval_ms || now < s->next_due)
			continue;
		s->next_due += (int64_t)s->interval_ms * 1000000;
		if (s->next_due < now)
			s->next_due = now + (int64_t)s->interval_ms * 1000000;
		/* the previous frame is not out yet: skip, the next one carries
		 * the latest values (merged, never queued) */
		if (client_pending(s->c))
			continue;
		send_stats(s);
	}
}

void subs_tick(void)
{
	static int64_t host_t;
	int64_t now = lv_now_ns();

	if (now - host_t >= 1000000000ll) {   /* keep host/agent CPU % warm */
		Lightvm__HostInfo hi = LIGHTVM__HOST_INFO__INIT;
		stats_fill_host(&hi);
		host_t = now;
	}

	stats_tick(now);
}
