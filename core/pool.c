/*
 * pool.c - the pools of prepared slots, one per flavor (memory, vCPUs,
 * kind: unikernel or Linux shells),
 * for every driver: the target, the ready slots, the slots being
 * prepared, hits, misses, the refill rate, the pool-empty and refilled
 * events, and the one refill policy (pool.h).  The driver prepares and
 * discards slots (lv_driver_ops prepare, discard) and claims one in its
 * start; everything counted is counted here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lightvm_abi.h"
#include "lv_internal.h"
#include "pool.h"

#define BACKOFF_NS   1000000000ll   /* no refill this long after a failure */
#define RATE_NS      1000000000ll   /* the refill rate's window */
#define TARGET_MAX   20000u

struct lv_pool_flavor {
	struct lv_pool_flavor *next;
	uint64_t mem;
	uint32_t vcpus;
	enum lv_kind kind;
	unsigned target, ready, preparing;
	uint64_t hits, misses;
	uint64_t refilled, rate_n0;   /* slots that joined the pool */
	int64_t rate_t0;
	double rate;                  /* slots per second, last ~1 s */
	bool empty;                   /* pool-empty reported, refilled not yet */
	struct lv_pool_slot *ready_head;
};

struct lv_pool {
	struct lv_pool_flavor *flavors;
	unsigned inflight;            /* prepares not answered yet */
	int64_t last_claim;           /* none yet: far in the past, not 0 (the
	                               * monotonic clock may be young: a host
	                               * booted less than quiet_ns ago) */
	int64_t refill_after;
	int64_t quiet_ns;             /* the driver's, or LIGHTVM_POOL_QUIET_MS */
	unsigned booting;             /* claimed slots whose guests boot (lv__pool_booting) */
};

static struct lv_pool_flavor *flavor_get(struct lv_pool *p, uint64_t mem, uint32_t vcpus,
					 enum lv_kind kind, bool create)
{
	struct lv_pool_flavor *f;

	for (f = p ? p->flavors : NULL; f; f = f->next)
		if (f->mem == mem && f->vcpus == vcpus && f->kind == kind)
			return f;
	if (!p || !create || !(f = calloc(1, sizeof(*f))))
		return NULL;
	f->mem = mem;
	f->vcpus = vcpus;
	f->kind = kind;
	f->next = p->flavors;
	p->flavors = f;
	return f;
}

static void pool_event(struct lv_host *h, const struct lv_pool_flavor *f, bool empty)
{
	if (h->cfg.pool_event)
		h->cfg.pool_event(h->cfg.cb_ctx, f->mem, f->vcpus, (int)f->kind, empty);
}

static void mark_empty(struct lv_host *h, struct lv_pool_flavor *f)
{
	if (f->ready == 0 && f->target && !f->empty) {
		f->empty = true;
		pool_event(h, f, true);
	}
}

/* Take s off f's ready list; it is nobody's slot until someone keeps it. */
static void ready_unlink(struct lv_pool_flavor *f, struct lv_pool_slot *s)
{
	for (struct lv_pool_slot **pp = &f->ready_head; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	f->ready--;
	s->next = NULL;
	s->fl = NULL;
	s->ready = false;
}

struct lv_pool_slot *lv__pool_claim(struct lv_host *h, uint64_t mem, uint32_t vcpus)
{
	return lv__pool_claim_kind(h, mem, vcpus, LV_KIND_UNIKERNEL);
}

struct lv_pool_slot *lv__pool_claim_kind(struct lv_host *h, uint64_t mem, uint32_t vcpus,
					 enum lv_kind kind)
{
	struct lv_pool_flavor *f = flavor_get(h->pool, mem, vcpus, kind, false);
	struct lv_pool_slot *s;

	if (h->pool)
		h->pool->last_claim = lv_now_ns();
	if (!f)
		return NULL;
	s = f->ready_head;
	if (s) {
		ready_unlink(f, s);
		f->hits++;
	} else {
		f->misses++;
	}
	mark_empty(h, f);
	return s;
}

void lv__pool_made(struct lv_host *h, struct lv_pool_flavor *fl, struct lv_pool_slot *s)
{
	h->pool->inflight--;
	s->fl = fl;
	s->ready = false;
}

bool lv__pool_ready(struct lv_host *h, struct lv_pool_flavor *fl, struct lv_pool_slot *s)
{
	if (!s->fl)                   /* not reported made: answered now */
		h->pool->inflight--;
	fl->preparing--;
	s->fl = NULL;
	if (fl->ready >= fl->target)  /* the pool shrank while it prepared */
		return false;
	s->fl = fl;
	s->ready = true;
	s->next = fl->ready_head;
	fl->ready_head = s;
	fl->ready++;
	fl->refilled++;
	if (fl->empty && fl->ready >= fl->target) {
		fl->empty = false;
		pool_event(h, fl, false);
	}
	return true;
}

void lv__pool_failed(struct lv_host *h, struct lv_pool_flavor *fl)
{
	if (fl) {
		h->pool->inflight--;
		fl->preparing--;
	}
	if (h->pool)
		h->pool->refill_after = lv_now_ns() + BACKOFF_NS;
}

void lv__pool_gone(struct lv_host *h, struct lv_pool_slot *s)
{
	if (!s->fl)
		return;
	if (s->ready) {
		ready_unlink(s->fl, s);
	} else {
		s->fl->preparing--;
		s->fl = NULL;
	}
}

/* The policy's gate: not too soon after a failure, and not while a
 * claimed guest boots (up to hold_ns after the last claim). */
static bool refill_allowed(const struct lv_host *h, int64_t now)
{
	const struct lv_pool *p = h->pool;
	int64_t hold = h->ops->pool_limits.hold_ns;

	if (!p || !h->ops->prepare || now < p->refill_after)
		return false;
	return !p->booting || !hold || now - p->last_claim >= hold;
}

void lv__pool_booting(struct lv_host *h, bool begin)
{
	struct lv_pool *p = h->pool;

	if (!p)
		return;
	if (begin)
		p->booting++;
	else if (p->booting)
		p->booting--;
}

/* How many slots a flavor should hold (ready or preparing) now: its
 * target once spawns have been quiet for quiet_ns, else the low mark. */
static unsigned fill_mark(const struct lv_host *h, const struct lv_pool_flavor *f, int64_t now)
{
	const struct lv_pool_limits *lim = &h->ops->pool_limits;

	if (now - h->pool->last_claim >= h->pool->quiet_ns)
		return f->target;
	return lim->low_div ? f->target / lim->low_div : 0;
}

void lv__pool_refill(struct lv_host *h)
{
	const struct lv_pool_limits *lim = &h->ops->pool_limits;
	int64_t now = lv_now_ns(), until = now + lim->budget_ns;
	struct lv_pool *p = h->pool;

	if (!refill_allowed(h, now))
		return;
	for (struct lv_pool_flavor *f = p->flavors; f; f = f->next)
		while (f->ready + f->preparing < fill_mark(h, f, now)) {
			int rc;

			now = lv_now_ns();   /* a failure reported within prepare() stops it too */
			if ((lim->max_inflight && p->inflight >= lim->max_inflight) ||
			    (lim->budget_ns && now >= until) || now < p->refill_after)
				return;
			f->preparing++;
			p->inflight++;
			rc = h->ops->prepare(h->drv, f, f->mem, f->vcpus);
			if (rc) {
				lv__pool_failed(h, f);
				return;
			}
		}
}

void lv__pool_tick(struct lv_host *h, int64_t now)
{
	if (!h->pool)
		return;
	for (struct lv_pool_flavor *f = h->pool->flavors; f; f = f->next)
		if (now - f->rate_t0 >= RATE_NS) {
			f->rate = f->rate_t0 ? (double)(f->refilled - f->rate_n0) * 1e9 /
				(double)(now - f->rate_t0) : 0;
			f->rate_t0 = now;
			f->rate_n0 = f->refilled;
		}
	lv__pool_refill(h);
}

void lv__pool_walk(struct lv_host *h, void (*fn)(void *arg, struct lv_pool_slot *s), void *arg)
{
	for (struct lv_pool_flavor *f = h->pool ? h->pool->flavors : NULL; f; f = f->next)
		for (struct lv_pool_slot *s = f->ready_head, *n; s; s = n) {
			n = s->next;
			fn(arg, s);
		}
}

/* Discard ready slots of f down to keep. */
static void shrink(struct lv_host *h, struct lv_pool_flavor *f, unsigned keep)
{
	while (f->ready > keep && f->ready_head) {
		struct lv_pool_slot *s = f->ready_head;

		ready_unlink(f, s);
		h->ops->discard(h->drv, s);
	}
}

void lv__pool_close(struct lv_host *h)
{
	struct lv_pool *p = h->pool;

	if (!p)
		return;
	for (struct lv_pool_flavor *f = p->flavors, *n; f; f = n) {
		n = f->next;
		shrink(h, f, 0);
		free(f);
	}
	free(p);
	h->pool = NULL;
}

enum lv_kind lv__pool_flavor_kind(const struct lv_pool_flavor *fl)
{
	return fl->kind;
}

int lv_pool_set(struct lv_host *h, uint64_t mem_bytes, uint32_t vcpus, unsigned target)
{
	return lv_pool_set_kind(h, mem_bytes, vcpus, LV_KIND_UNIKERNEL, target);
}

int lv_pool_set_kind(struct lv_host *h, uint64_t mem_bytes, uint32_t vcpus,
		     enum lv_kind kind, unsigned target)
{
	struct lv_pool_flavor *f;

	if (!h->ops->prepare || !h->ops->discard)
		return -EOPNOTSUPP;
	if ((unsigned)kind >= LV_KIND_NR)
		return -EINVAL;
	if (kind == LV_KIND_LINUX && !h->ops->pool_linux)
		return -EOPNOTSUPP;
	/* a pool's flavor is one a spawn can have, exactly */
	if (lv_flavor_check(mem_bytes, vcpus) || target > TARGET_MAX)
		return -EINVAL;
	if (!h->pool) {
		const char *q = getenv("LIGHTVM_POOL_QUIET_MS");

		if (!(h->pool = calloc(1, sizeof(*h->pool))))
			return -ENOMEM;
		h->pool->last_claim = INT64_MIN / 2;
		h->pool->quiet_ns = h->ops->pool_limits.quiet_ns;
		if (q && *q && strspn(q, "0123456789") == strlen(q) && strlen(q) <= 6)
			h->pool->quiet_ns = atoll(q) * 1000000ll;
	}
	f = flavor_get(h->pool, mem_bytes, vcpus, kind, true);
	if (!f)
		return -ENOMEM;
	f->target = target;
	shrink(h, f, target);
	lv__pool_refill(h);
	return 0;
}

unsigned lv__pool_targets(const struct lv_host *h)
{
	unsigned t = 0;

	for (const struct lv_pool_flavor *f = h->pool ? h->pool->flavors : NULL; f; f = f->next)
		t += f->target;
	return t;
}

unsigned lv_pool_list(struct lv_host *h, struct lv_pool_info *out, unsigned max)
{
	unsigned n = 0;

	for (struct lv_pool_flavor *f = h->pool ? h->pool->flavors : NULL; f; f = f->next, n++)
		if (n < max)
			out[n] = (struct lv_pool_info){ f->mem, f->vcpus, f->target, f->ready,
							f->preparing, f->hits, f->misses, f->rate,
							f->kind };
	return n;
}

/* ---- the image pooled shells hold loaded (lv_pool_preload) */

int lv_pool_preload(struct lv_host *h, const char *image, char *err, size_t errlen)
{
	int mode, fd = -1, rc;
	bool is_linux = false, wants_net;
	struct stat st;

	if (!h->ops->preload) {
		snprintf(err, errlen, "preload: the %s driver's pooled shells hold no image", h->ops->name);
		return -EOPNOTSUPP;
	}
	if (!image || !*image || strlen(image) >= sizeof(h->preload)) {
		snprintf(err, errlen, "preload: an image (a name or a path of at most %zu bytes), "
			 "'last' or 'off'", sizeof(h->preload) - 1);
		return -EINVAL;
	}
	for (const char *c = image; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(err, errlen, "preload: a control character (0x%02x) in the image name",
				 (unsigned char)*c);
			return -EINVAL;
		}
	if (strcmp(image, "last") == 0) {
		mode = LV_PRELOAD_LAST;
	} else if (strcmp(image, "off") == 0) {
		mode = LV_PRELOAD_OFF;
	} else {
		mode = LV_PRELOAD_IMAGE;
		/* checked as a spawn's, at the largest memory (the shells that
		 * cannot hold it say so, and load it at their spawn) */
		fd = lv_image_open_st(h, image, LV_GUEST_MAX_MEM, &st, err, errlen);
		if (fd < 0)
			return fd;
		if (lv__image_traits(fd, &st, &is_linux, &wants_net) == 0 && is_linux) {
			snprintf(err, errlen, "preload: '%s' is a Linux kernel: only unikernels are "
				 "preloaded (a Linux shell boots its kernel at the spawn)", image);
			close(fd);
			return -EINVAL;
		}
	}
	rc = h->ops->preload(h->drv, mode, fd, fd >= 0 ? &st : NULL, err, errlen);
	if (fd >= 0)
		close(fd);
	if (rc)
		return rc;
	h->preload_mode = mode;
	snprintf(h->preload, sizeof(h->preload), "%s", mode == LV_PRELOAD_IMAGE ? image : "");
	return 0;
}

const char *lv_pool_preload_name(const struct lv_host *h)
{
	if (!h->ops->preload)
		return NULL;
	return h->preload_mode == LV_PRELOAD_OFF ? "off" :
	       h->preload_mode == LV_PRELOAD_IMAGE ? h->preload : "last";
}
