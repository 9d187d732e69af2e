/*
 * test_sched.c - a booting KVM shell's time slice (core/kvm/factory.c):
 * LIGHTVM_KVM_SLICE_US read and clamped to the kernel's range, and
 * kvm_sched_slice setting and clearing a fair task's slice (checked
 * where the kernel reports custom slices back, Linux 6.12 and later).
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice_env),
		cmocka_unit_test(test_slice_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
