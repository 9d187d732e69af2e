/*
 * test_sched.c - a booting KVM shell's time slice (core/kvm/factory.c):
 * LIGHTVM_KVM_SLICE_US read and clamped to the kernel's range, and
 * kvm_sched_slice setting and clearing a fair task's slice (checked
 * where the kernel reports custom slices back, Linux 6.12 and later);
 * kvm_spread's weighted round robin over a burst's CPUs.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "kvm/factory.h"

static void test_slice_env(void **state)
{
	static const struct { const char *v; uint64_t ns; } c[] = {
		{ NULL, KVM_BOOT_SLICE_US * 1000ull },   /* unset: the default */
		{ "", KVM_BOOT_SLICE_US * 1000ull },
		{ "0", 0 },                              /* the kernel's throughout */
		{ "250", 250000 },
		{ "50", 100000 },                        /* below 0.1 ms: 0.1 ms */
		{ "200000", 100000000 },                 /* above 100 ms: 100 ms */
		{ "12x", KVM_BOOT_SLICE_US * 1000ull },  /* not a number: the default */
		{ "-5", KVM_BOOT_SLICE_US * 1000ull },
		{ "99999999999999999999999", KVM_BOOT_SLICE_US * 1000ull },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (c[i].v)
			setenv("LIGHTVM_KVM_SLICE_US", c[i].v, 1);
		else
			unsetenv("LIGHTVM_KVM_SLICE_US");
		assert_int_equal(kvm_boot_slice_ns(), c[i].ns);
	}
	unsetenv("LIGHTVM_KVM_SLICE_US");
}

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static uint64_t my_runtime(void)
{
	struct attr a = { 0 };

	assert_int_equal(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0), 0);
	return a.runtime;
}

static void test_slice_set(void **state)
{
	struct attr a = { 0 };

	(void)state;
	assert_int_equal(kvm_sched_slice(0, 250000), 0);
	if (my_runtime() != 250000) {
		printf("note: this kernel does not report a custom slice back; only the calls were checked\n");
		assert_int_equal(kvm_sched_slice(0, 0), 0);
		return;
	}
	assert_int_equal(kvm_sched_slice(0, 0), 0);
	assert_int_not_equal(my_runtime(), 250000);   /* the kernel's default again */
	/* policy and nice are kept */
	assert_int_equal(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0), 0);
	assert_int_equal(a.policy, SCHED_OTHER);
	assert_int_equal(a.nice, (int32_t)getpriority(PRIO_PROCESS, 0));
	/* a task that is not there: an error, not a crash */
	assert_int_equal(kvm_sched_slice(0x3fffffff, 100000), -ESRCH);
}

/* kvm_sched_default: the base read once, then one call per shell that
 * clears the slice and sets the base's class and nice. */
static void test_sched_default(void **state)
{
	struct kvm_sched_base b, rt = { .policy = SCHED_FIFO, .nice = 0, .fair = false };
	struct attr a = { 0 };
	int nice0 = getpriority(PRIO_PROCESS, 0);

	(void)state;
	assert_int_equal(kvm_sched_base_read(&b), 0);
	assert_true(b.fair);
	assert_int_equal(b.nice, nice0);
	assert_int_equal(kvm_sched_slice(0, 250000), 0);
	if (geteuid() == 0)   /* changed since (lowering it again needs root) */
		assert_int_equal(setpriority(PRIO_PROCESS, 0, nice0 + 1), 0);
	assert_int_equal(kvm_sched_default(0, &b), 0);
	assert_int_equal(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0), 0);
	assert_int_equal(a.policy, b.policy);
	assert_int_equal(a.nice, nice0);
	assert_int_not_equal(a.runtime, 250000);
	/* a real-time base: nothing is changed */
	assert_int_equal(kvm_sched_default(0, &rt), 0);
	assert_int_equal(kvm_sched_default(0x3fffffff, &b), -ESRCH);
}

/* A set of CPUs, as kvm_spread_init leaves it (the list, in order). */
static void spread_of(struct kvm_spread *sp, const int *cpus, unsigned n)
{
	memset(sp, 0, sizeof(*sp));
	for (unsigned i = 0; i < n; i++) {
		CPU_SET(cpus[i], &sp->cpus);
		sp->list[sp->n++] = (uint16_t)cpus[i];
	}
}

static void test_spread(void **state)
{
	static const int two[] = { 0, 1 }, four[] = { 2, 3, 5, 7 };
	struct kvm_spread sp;
	unsigned hits[8] = { 0 };

	(void)state;
	/* two CPUs, the agent on 0: 0 once in every 3, 1 twice */
	spread_of(&sp, two, 2);
	for (int i = 0; i < 300; i++)
		hits[kvm_spread_next(&sp, 0)]++;
	assert_int_equal(hits[0], 100);
	assert_int_equal(hits[1], 200);
	/* the agent on a CPU outside the set: every CPU the same */
	memset(hits, 0, sizeof(hits));
	spread_of(&sp, four, 4);
	for (int i = 0; i < 400; i++) {
		int c = kvm_spread_next(&sp, 0);

		assert_in_range(c, 2, 7);
		hits[c]++;
	}
	assert_int_equal(hits[2], 100);
	assert_int_equal(hits[3], 100);
	assert_int_equal(hits[5], 100);
	assert_int_equal(hits[7], 100);
	assert_int_equal(hits[4] + hits[6], 0);
	/* the agent on 5: 5 gets 1 in 7, the others 2 in 7 each */
	memset(hits, 0, sizeof(hits));
	for (int i = 0; i < 700; i++)
		hits[kvm_spread_next(&sp, 5)]++;
	assert_int_equal(hits[5], 100);
	assert_int_equal(hits[2], 200);
	assert_int_equal(hits[7], 200);
	/* no CPUs: -1; the caller's own set has at least one */
	spread_of(&sp, two, 0);
	assert_int_equal(kvm_spread_next(&sp, 0), -1);
	assert_true(kvm_spread_init(&sp) == (sp.n > 1));
	assert_true(sp.n >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice_env),
		cmocka_unit_test(test_slice_set),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_sched_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
