/*
 * test_limits.c - the protocol's limits (proto/lv_limits.h) are the
 * core's rules: the numbers agree, and for every memory size and vCPU
 * count tried (hostile ones too) lvsh's checks accept exactly what
 * lv_flavor_normalize and lv_flavor_check accept; lvsh's flavor syntax
 * reads what the agent's config reads ("4M" is 4M/1 for both).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lightvm.h"
#include "lightvm_abi.h"
#include "lv_limits.h"
#include "fmt.h"

static void test_numbers(void **state)
{
	assert_int_equal(LV_PROTO_MEM_DEFAULT, LV_MEM_DEFAULT);
	assert_int_equal(LV_PROTO_MEM_STEP, LV_MEM_STEP);
	assert_int_equal(LV_PROTO_MEM_MIN, LV_GUEST_MIN_MEM);
	assert_int_equal(LV_PROTO_MEM_MAX, LV_GUEST_MAX_MEM);
	assert_string_equal(lv_proto_flavor_rule(),
			    "memory 2M to 1G in 2M steps (default 4M), 1 vCPU");
	assert_string_equal(lv_proto_pool_rule(), "2M to 1G in 2M steps, 1 vCPU");
}

static const uint64_t mems[] = {
	0, 1, 4095, 1u << 20, (2u << 20) - 1, 2u << 20, (2u << 20) + 1, 3u << 20, 4u << 20,
	(1024u << 20) - 1, 1024u << 20, (1024u << 20) + 1, 1026u << 20, 1ull << 40,
	UINT64_MAX - (1u << 20), UINT64_MAX,
};
static const uint32_t cpus[] = { 0, 1, 2, 64, 1024, UINT32_MAX };

static void test_spawn_rule_agrees(void **state)
{
	char why[160];

	for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
		for (size_t k = 0; k < sizeof(cpus) / sizeof(cpus[0]); k++) {
			uint64_t m = mems[i];
			uint32_t n = cpus[k];
			int core = lv_flavor_normalize(&m, &n);
			int proto = lv_proto_spawn_flavor_check(mems[i], cpus[k], why, sizeof(why));

			if ((core == 0) != (proto == 0))
				fail_msg("mem %llu vcpus %u: core %d, lvsh %d (%s)",
					 (unsigned long long)mems[i], cpus[k], core, proto, why);
			if (proto)
				assert_true(strlen(why) > 0);
		}
}

static void test_pool_rule_agrees(void **state)
{
	char why[160];

	for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
		for (size_t k = 0; k < sizeof(cpus) / sizeof(cpus[0]); k++) {
			int core = lv_flavor_check(mems[i], cpus[k]);
			int proto = lv_proto_pool_flavor_check(mems[i], cpus[k], why, sizeof(why));

			if ((core == 0) != (proto == 0))
				fail_msg("pool mem %llu vcpus %u: core %d, lvsh %d (%s)",
					 (unsigned long long)mems[i], cpus[k], core, proto, why);
		}
}

/* the same words read the same flavor in lvsh and in the agent's config */
static void test_flavor_syntax_agrees(void **state)
{
	static const char *ok[] = { "4M/1", "4M", "2M", "1G/1", "6m/1", "4096K" };
	static const char *bad[] = { "", "/1", "4M/", "M/1", "4M/x", "4X", "-4M", "4M/1/1" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t m1, m2;
		uint32_t n1, n2;

		assert_int_equal(lvsh_parse_flavor(ok[i], &m1, &n1), 0);
		assert_int_equal(lv_flavor_parse(ok[i], &m2, &n2), 0);
		assert_true(m1 == m2 && n1 == n2);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t m;
		uint32_t n;

		if (lvsh_parse_flavor(bad[i], &m, &n) == 0)
			fail_msg("lvsh read flavor '%s'", bad[i]);
		if (lv_flavor_parse(bad[i], &m, &n) == 0)
			fail_msg("the core read flavor '%s'", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_spawn_rule_agrees),
		cmocka_unit_test(test_pool_rule_agrees),
		cmocka_unit_test(test_flavor_syntax_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
