/*
 * test_pool.c - the core's pools (core/pool.c) through a fake driver
 * that prepares slots at once (like Xen) or later (like KVM's factory
 * and shells): target, ready, preparing, hits, misses, the refill rate,
 * the pool-empty and refilled events, and the refill policy's limits
 * (in-flight cap, quiet time after a claim, back-off after a failure,
 * shrinking discards).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lv_internal.h"

#define MEM4 (4ull << 20)

/* ---- the fake driver */
static struct {
	bool async;                   /* prepare only queues; the test answers */
	int fail;                     /* prepare fails this many times */
	bool fail_inside;             /* prepare reports the failure itself */
	int prepares, discards, slots;
	struct lv_pool_flavor *queued[32];
	int nqueued;
	int empties, refills;         /* pool events */
	int linux_prepares, linux_events;
} fk;

static int f_open(struct lv_host *h, struct lv_driver **out) { *out = (void *)h; return 0; }
static void f_close(struct lv_driver *d) {}
static int f_start(struct lv_driver *d, struct lv_vm *vm, int fd) { return 0; }
static int f_nop(struct lv_driver *d, struct lv_vm *vm) { return 0; }

static struct lv_pool_slot *slot_new(void)
{
	struct lv_pool_slot *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	fk.slots++;
	return s;
}

static void slot_free(struct lv_pool_slot *s)
{
	free(s);
	fk.slots--;
}

static int f_prepare(struct lv_driver *d, struct lv_pool_flavor *fl, uint64_t mem, uint32_t vcpus)
{
	struct lv_pool_slot *s;

	fk.prepares++;
	if (lv__pool_flavor_kind(fl) == LV_KIND_LINUX)
		fk.linux_prepares++;
	if (fk.fail) {
		fk.fail--;
		return -EIO;
	}
	if (fk.fail_inside) {         /* like a send that fails in prepare() */
		lv__pool_failed((struct lv_host *)d, fl);
		return 0;
	}
	if (fk.async) {
		assert_true(fk.nqueued < 32);
		fk.queued[fk.nqueued++] = fl;
		return 0;
	}
	s = slot_new();
	if (!lv__pool_ready((struct lv_host *)d, fl, s))
		slot_free(s);
	return 0;
}

static void f_discard(struct lv_driver *d, struct lv_pool_slot *s)
{
	fk.discards++;
	slot_free(s);
}

static struct lv_driver_ops fake_ops = {
	.name = "fake", .open = f_open, .close = f_close, .start = f_start,
	.pause = f_nop, .unpause = f_nop, .shutdown = f_nop, .destroy = f_nop,
	.prepare = f_prepare, .discard = f_discard,
};

static void on_pool(void *ctx, uint64_t mem, uint32_t vcpus, int kind, bool empty)
{
	assert_int_equal(mem, MEM4);
	if (kind == LV_KIND_LINUX)
		fk.linux_events++;
	if (empty)
		fk.empties++;
	else
		fk.refills++;
}

static int no_watch(void *c, int fd, lv_fd_cb cb, void *a) { return 0; }
static void no_unwatch(void *c, int fd) {}

static struct lv_host *host_open(struct lv_pool_limits lim)
{
	static const char *dirs[] = { "/nonexistent", NULL };
	struct lv_host_config cfg = { 0 };
	struct lv_host *h;

	memset(&fk, 0, sizeof(fk));
	fake_ops.pool_limits = lim;
	lv_test_ops = &fake_ops;
	cfg.driver = "fake";
	cfg.state_dir = "/nonexistent";
	cfg.image_dirs = dirs;
	cfg.loop = (struct lv_loop){ NULL, no_watch, no_unwatch };
	cfg.pool_event = on_pool;
	assert_int_equal(lv_host_open(&cfg, &h), 0);
	return h;
}

/* Close: every ready slot discarded, none leaked. */
static void host_close(struct lv_host *h)
{
	lv_host_close(h);
	assert_int_equal(fk.slots, 0);
}

static struct lv_pool_info info(struct lv_host *h)
{
	struct lv_pool_info pi;

	assert_int_equal(lv_pool_list(h, &pi, 1), 1);
	return pi;
}

/* An async prepare answered: the slot made, then ready (or not kept). */
static struct lv_pool_slot *answer(struct lv_host *h, bool ready)
{
	struct lv_pool_flavor *fl = fk.queued[0];
	struct lv_pool_slot *s = slot_new();

	assert_true(fk.nqueued > 0);
	memmove(fk.queued, fk.queued + 1, --fk.nqueued * sizeof(fk.queued[0]));
	lv__pool_made(h, fl, s);
	if (ready && !lv__pool_ready(h, fl, s)) {
		slot_free(s);
		return NULL;
	}
	return s;
}

/* ---- tests */

static void test_accounting(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ 0 });
	struct lv_pool_slot *a, *b;
	struct lv_pool_info pi;

	assert_int_equal(lv_pool_list(h, &pi, 1), 0);
	assert_null(lv__pool_claim(h, MEM4, 1));        /* no pool: no miss counted */
	assert_int_equal(lv_pool_set(h, MEM4, 1, 3), 0);
	pi = info(h);
	assert_int_equal(pi.target, 3);
	assert_int_equal(pi.ready, 3);
	assert_int_equal(pi.preparing, 0);
	a = lv__pool_claim(h, MEM4, 1);
	b = lv__pool_claim(h, MEM4, 1);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_null(a->fl);                              /* the caller's now */
	assert_null(lv__pool_claim(h, 6ull << 20, 1));  /* another flavor: no pool */
	pi = info(h);
	assert_int_equal(pi.ready, 1);
	assert_int_equal(pi.hits, 2);
	assert_int_equal(pi.misses, 0);
	slot_free(a);
	slot_free(b);
	assert_int_equal(lv_pool_set(h, 3ull << 20, 1, 1), -EINVAL);
	assert_int_equal(lv_pool_set(h, MEM4, 2, 1), -EINVAL);
	assert_int_equal(lv_pool_set(h, MEM4, 1, 20001), -EINVAL);
	host_close(h);
}

/* Linux shells are a flavor of their own: the same memory, another
 * kind; a claim of one kind never takes the other's; a driver without
 * Linux pools refuses them; flavors parse and print with /linux. */
static void test_kinds(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ 0 });
	struct lv_pool_info pi[2];
	struct lv_pool_slot *s;
	enum lv_kind k;
	uint64_t mem;
	uint32_t vcpus;
	char buf[32];

	assert_int_equal(lv_pool_set_kind(h, MEM4, 1, LV_KIND_LINUX, 1), -EOPNOTSUPP);
	assert_int_equal(lv_pool_set_kind(h, MEM4, 1, (enum lv_kind)7, 1), -EINVAL);
	fake_ops.pool_linux = true;
	assert_int_equal(lv_pool_set_kind(h, MEM4, 1, LV_KIND_LINUX, 2), 0);
	assert_int_equal(lv_pool_set(h, MEM4, 1, 1), 0);
	assert_int_equal(fk.linux_prepares, 2);
	assert_int_equal(lv_pool_list(h, pi, 2), 2);
	assert_int_not_equal(pi[0].kind, pi[1].kind);
	s = lv__pool_claim_kind(h, MEM4, 1, LV_KIND_LINUX);
	assert_non_null(s);
	slot_free(s);
	slot_free(lv__pool_claim(h, MEM4, 1));
	assert_null(lv__pool_claim(h, MEM4, 1));         /* its own pool is empty */
	s = lv__pool_claim_kind(h, MEM4, 1, LV_KIND_LINUX);
	assert_non_null(s);                              /* the Linux one is not */
	slot_free(s);
	assert_int_equal(fk.linux_events, 1);            /* the Linux pool ran empty */
	fake_ops.pool_linux = false;
	host_close(h);

	assert_int_equal(lv_flavor_parse_kind("128M/1/linux", &mem, &vcpus, &k), 0);
	assert_int_equal(mem, 128ull << 20);
	assert_int_equal(vcpus, 1);
	assert_int_equal(k, LV_KIND_LINUX);
	assert_int_equal(lv_flavor_parse_kind("64M/linux", &mem, &vcpus, &k), 0);
	assert_int_equal(k, LV_KIND_LINUX);
	assert_int_equal(lv_flavor_parse_kind("64M", &mem, &vcpus, &k), 0);
	assert_int_equal(k, LV_KIND_UNIKERNEL);
	assert_int_equal(lv_flavor_parse("64M/linux", &mem, &vcpus), -EINVAL);
	assert_int_not_equal(lv_flavor_parse_kind("/linux", &mem, &vcpus, &k), 0);
	assert_int_not_equal(lv_flavor_parse_kind("64M/linux/linux", &mem, &vcpus, &k), 0);
	assert_int_not_equal(lv_flavor_parse_kind("64M/1/Linux", &mem, &vcpus, &k), 0);
	assert_string_equal(lv_flavor_name(buf, sizeof(buf), 128ull << 20, 1, LV_KIND_LINUX),
			    "128M/1/linux");
	assert_string_equal(lv_flavor_name(buf, sizeof(buf), MEM4, 1, LV_KIND_UNIKERNEL), "4M/1");
}

static void test_events(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ 0 });

	assert_int_equal(lv_pool_set(h, MEM4, 1, 2), 0);
	slot_free(lv__pool_claim(h, MEM4, 1));
	assert_int_equal(fk.empties, 0);
	slot_free(lv__pool_claim(h, MEM4, 1));
	assert_int_equal(fk.empties, 1);                 /* the last one went */
	assert_null(lv__pool_claim(h, MEM4, 1));
	assert_int_equal(fk.empties, 1);                 /* said once */
	assert_int_equal(info(h).misses, 1);
	assert_int_equal(fk.refills, 0);
	lv_host_tick(h);                                 /* refills to the target */
	assert_int_equal(info(h).ready, 2);
	assert_int_equal(fk.refills, 1);
	lv_host_tick(h);
	assert_int_equal(fk.refills, 1);
	host_close(h);
}

static void test_async_inflight_cap(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ .max_inflight = 2 });
	struct lv_pool_slot *s;

	fk.async = true;
	assert_int_equal(lv_pool_set(h, MEM4, 1, 5), 0);
	assert_int_equal(fk.prepares, 2);                /* the cap */
	assert_int_equal(info(h).preparing, 2);
	s = answer(h, false);                            /* made, still preparing */
	lv__pool_refill(h);
	assert_int_equal(fk.prepares, 3);
	assert_int_equal(info(h).preparing, 3);
	assert_true(lv__pool_ready(h, s->fl, s));
	assert_int_equal(info(h).ready, 1);
	assert_int_equal(info(h).preparing, 2);
	s = answer(h, false);
	lv__pool_gone(h, s);                             /* died while preparing */
	slot_free(s);
	assert_int_equal(info(h).preparing, 1);
	lv__pool_refill(h);
	assert_int_equal(fk.prepares, 4);                /* one unanswered: cap again */
	assert_int_equal(info(h).preparing, 2);
	host_close(h);
}

static void first_slot(void *arg, struct lv_pool_slot *s)
{
	struct lv_pool_slot **out = arg;

	if (!*out)
		*out = s;
}

static void test_shrink(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ 0 });
	struct lv_pool_slot *s;

	assert_int_equal(lv_pool_set(h, MEM4, 1, 4), 0);
	assert_int_equal(lv_pool_set(h, MEM4, 1, 1), 0);
	assert_int_equal(fk.discards, 3);
	assert_int_equal(info(h).ready, 1);
	/* a slot that gets ready after the pool shrank is not kept */
	fk.async = true;
	assert_int_equal(lv_pool_set(h, MEM4, 1, 2), 0);
	assert_int_equal(info(h).preparing, 1);
	assert_int_equal(lv_pool_set(h, MEM4, 1, 1), 0);
	assert_null(answer(h, true));
	assert_int_equal(info(h).preparing, 0);
	assert_int_equal(info(h).ready, 1);
	/* a ready slot that goes away by itself */
	s = NULL;
	lv__pool_walk(h, first_slot, &s);
	assert_non_null(s);
	lv__pool_gone(h, s);
	assert_null(s->fl);
	slot_free(s);
	assert_int_equal(info(h).ready, 0);
	assert_int_equal(fk.empties, 0);                 /* no claim failed */
	host_close(h);
}

static void test_failure_backs_off(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ 0 });

	fk.fail = 1;
	assert_int_equal(lv_pool_set(h, MEM4, 1, 3), 0);
	assert_int_equal(fk.prepares, 1);
	assert_int_equal(info(h).preparing, 0);
	lv_host_tick(h);                                 /* within the second */
	assert_int_equal(fk.prepares, 1);
	assert_int_equal(info(h).ready, 0);
	/* an async failure (the factory said no) backs off as well */
	host_close(h);
	h = host_open((struct lv_pool_limits){ 0 });
	fk.async = true;
	assert_int_equal(lv_pool_set(h, MEM4, 1, 2), 0);
	assert_int_equal(fk.prepares, 2);
	fk.nqueued = 0;
	lv__pool_failed(h, fk.queued[0]);
	lv__pool_failed(h, fk.queued[1]);
	assert_int_equal(info(h).preparing, 0);
	lv__pool_refill(h);
	assert_int_equal(fk.prepares, 2);
	host_close(h);
	/* a failure reported within prepare() ends the refill */
	h = host_open((struct lv_pool_limits){ 0 });
	fk.fail_inside = true;
	assert_int_equal(lv_pool_set(h, MEM4, 1, 100), 0);
	assert_int_equal(fk.prepares, 1);
	assert_int_equal(info(h).preparing, 0);
	host_close(h);
}

/* A quiet time longer than any monotonic clock's age (~32 years): a
 * pool with no claim yet must still fill to its target at once, however
 * young the host's clock (a CI machine's is minutes old). */
#define QUIET_LONG (1000000000ll * 1000000000)

static void test_quiet_after_claim(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ .quiet_ns = QUIET_LONG });

	assert_int_equal(lv_pool_set(h, MEM4, 1, 2), 0);
	assert_int_equal(info(h).ready, 2);
	slot_free(lv__pool_claim(h, MEM4, 1));
	lv_host_tick(h);                                 /* a burst may go on */
	assert_int_equal(info(h).ready, 1);
	assert_int_equal(fk.prepares, 2);
	host_close(h);
}

/* Within the quiet time, a flavor is refilled only below target /
 * low_div: a run of spawns drains the pool, refills start when it runs
 * low.  LIGHTVM_POOL_QUIET_MS=0 refills at once after each claim. */
static void test_low_mark(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ .quiet_ns = QUIET_LONG, .low_div = 8 });
	unsigned before;

	assert_int_equal(lv_pool_set(h, MEM4, 1, 16), 0);
	assert_int_equal(info(h).ready, 16);
	for (int i = 0; i < 13; i++)
		slot_free(lv__pool_claim(h, MEM4, 1));
	before = fk.prepares;
	lv_host_tick(h);                                 /* 3 left, the mark is 2 */
	assert_int_equal(info(h).ready, 3);
	assert_int_equal(fk.prepares, before);
	slot_free(lv__pool_claim(h, MEM4, 1));
	slot_free(lv__pool_claim(h, MEM4, 1));
	lv_host_tick(h);                                 /* 1 left: up to the mark */
	assert_int_equal(info(h).ready, 2);
	assert_int_equal(fk.prepares, before + 1);
	host_close(h);

	setenv("LIGHTVM_POOL_QUIET_MS", "0", 1);
	h = host_open((struct lv_pool_limits){ .quiet_ns = QUIET_LONG, .low_div = 8 });
	assert_int_equal(lv_pool_set(h, MEM4, 1, 16), 0);
	slot_free(lv__pool_claim(h, MEM4, 1));
	lv_host_tick(h);                                 /* no quiet time: refilled */
	assert_int_equal(info(h).ready, 16);
	host_close(h);
	setenv("LIGHTVM_POOL_QUIET_MS", "x1", 1);        /* not a number: the driver's */
	h = host_open((struct lv_pool_limits){ .quiet_ns = QUIET_LONG });
	assert_int_equal(lv_pool_set(h, MEM4, 1, 2), 0);
	slot_free(lv__pool_claim(h, MEM4, 1));
	lv_host_tick(h);
	assert_int_equal(info(h).ready, 1);
	host_close(h);
	unsetenv("LIGHTVM_POOL_QUIET_MS");
}

static void test_refill_rate(void **state)
{
	struct lv_host *h = host_open((struct lv_pool_limits){ 0 });
	const int64_t s = 1000000000;

	assert_int_equal(lv_pool_set(h, MEM4, 1, 4), 0);
	lv__pool_tick(h, 10 * s);                        /* starts the window */
	assert_true(info(h).refill_per_s == 0);
	slot_free(lv__pool_claim(h, MEM4, 1));
	slot_free(lv__pool_claim(h, MEM4, 1));
	lv__pool_tick(h, 10 * s + s / 2);                /* refills 2, window open */
	assert_int_equal(info(h).ready, 4);
	lv__pool_tick(h, 12 * s);                        /* 2 in 2 s */
	assert_true(info(h).refill_per_s > 0.99 && info(h).refill_per_s < 1.01);
	lv__pool_tick(h, 13 * s);
	assert_true(info(h).refill_per_s == 0);
	host_close(h);
}

static void test_no_pool_ops(void **state)
{
	struct lv_host *h;

	fake_ops.prepare = NULL;
	h = host_open((struct lv_pool_limits){ 0 });
	assert_int_equal(lv_pool_set(h, MEM4, 1, 1), -EOPNOTSUPP);
	assert_null(lv__pool_claim(h, MEM4, 1));
	lv_host_tick(h);
	host_close(h);
	fake_ops.prepare = f_prepare;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_async_inflight_cap),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_failure_backs_off),
		cmocka_unit_test(test_quiet_after_claim),
		cmocka_unit_test(test_low_mark),
		cmocka_unit_test(test_refill_rate),
		cmocka_unit_test(test_no_pool_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
