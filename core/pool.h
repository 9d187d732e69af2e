/*
 * pool.h - the pools of prepared slots (pool.c) as the core and the
 * drivers see them.  A slot is the driver's: a prepared shell process
 * (KVM), a pre-created domain (Xen); the driver embeds a struct
 * lv_pool_slot in it and keeps only the narrow ops of lv_driver_ops
 * (prepare, discard) and the claim in its start.  The pool owns the
 * counting: per flavor the target, ready slots, slots being prepared,
 * hits, misses, the refill rate, the pool-empty and refilled events, and
 * the one refill policy (struct lv_pool_limits holds a driver's limits).
 */
#ifndef LV_POOL_H
#define LV_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "lightvm.h"

struct lv_host;
struct lv_pool;
struct lv_pool_flavor;

/* Embedded in the driver's slot.  fl is set while the slot is the
 * pool's (being prepared, or ready); NULL otherwise. */
struct lv_pool_slot {
	struct lv_pool_slot *next;    /* ready list of fl */
	struct lv_pool_flavor *fl;
	bool ready;
};

/* How a driver's refills may run.  A refill runs from the tick, from
 * lv_pool_set and when the driver asks (lv__pool_refill), never within
 * a second of a failed prepare; within quiet_ns of a claim (spawns are
 * coming) it fills a flavor only up to target / low_div (0: not at all),
 * so that a run of spawns drains the pool without refills competing for
 * the CPU until it runs low; it asks for slots until every flavor is at
 * that mark, max_inflight prepares are unanswered (0: no cap), or
 * budget_ns has gone by (0: no budget).  LIGHTVM_POOL_QUIET_MS in the
 * environment replaces quiet_ns (0: refill at once after each claim). */
struct lv_pool_limits {
	unsigned max_inflight;
	int64_t budget_ns;
	int64_t quiet_ns;
	unsigned low_div;
	/* While a claimed slot's guest boots (lv__pool_booting), no refill
	 * starts, for at most hold_ns after the last claim (0: no hold). */
	int64_t hold_ns;
};

/* A ready slot of this flavor for a spawn (or a reboot), or NULL (a
 * miss); counts the hit or the miss and reports a pool that ran empty.
 * The slot is the caller's from then on. */
struct lv_pool_slot *lv__pool_claim(struct lv_host *h, uint64_t mem, uint32_t vcpus);
/* The same for a shell of another kind (lightvm.h: enum lv_kind). */
struct lv_pool_slot *lv__pool_claim_kind(struct lv_host *h, uint64_t mem, uint32_t vcpus,
					 enum lv_kind kind);
/* The sum of every flavor's target (hostnet.c keeps a tap per slot). */
unsigned lv__pool_targets(const struct lv_host *h);
/* The kind of shell a flavor's prepare() must make. */
enum lv_kind lv__pool_flavor_kind(const struct lv_pool_flavor *fl);

/* Reports of a prepare() (fl is the one prepare() was given):
 * made: the slot exists and is still being prepared (asynchronous
 * drivers); it counts in "preparing" until ready or gone. */
void lv__pool_made(struct lv_host *h, struct lv_pool_flavor *fl, struct lv_pool_slot *s);
/* ready: the slot can be claimed.  false if the pool no longer wants it
 * (it shrank meanwhile): the slot is the driver's again, to dispose of. */
bool lv__pool_ready(struct lv_host *h, struct lv_pool_flavor *fl, struct lv_pool_slot *s);
/* failed: no slot was made (fl NULL: a spawn's own slot failed, which
 * backs refills off too). */
void lv__pool_failed(struct lv_host *h, struct lv_pool_flavor *fl);
/* A slot of the pool (made or ready) went away by itself. */
void lv__pool_gone(struct lv_host *h, struct lv_pool_slot *s);

/* A claimed slot's guest starts booting (begin) or is done booting
 * (ready, gone).  A refill's work (a fork, a VM made, the agent's files
 * for it) competed for the CPU with the claimed shell it came after:
 * ftrace put every slow spawn of 1,000 with the other core busy on a
 * refill that started at the claim.  So refills wait while a claimed
 * guest boots, up to lv_pool_limits.hold_ns. */
void lv__pool_booting(struct lv_host *h, bool begin);

/* Refill now if the policy allows (a driver, after a claim or a reply). */
void lv__pool_refill(struct lv_host *h);
/* From lv_host_tick: the refill rates, then a refill. */
void lv__pool_tick(struct lv_host *h, int64_t now);
/* fn for every ready slot. */
void lv__pool_walk(struct lv_host *h, void (*fn)(void *arg, struct lv_pool_slot *s), void *arg);
/* From lv_host_close, before the driver closes: every ready slot
 * discarded, the pool freed. */
void lv__pool_close(struct lv_host *h);

#endif
