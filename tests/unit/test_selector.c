/*
 * test_selector.c - selectors, sizes, flavors and state names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lightvm.h"

static void test_selectors(void **state)
{
	assert_true(lv_selector_match("all", "noop-1"));
	assert_true(lv_selector_match("", "noop-1"));
	assert_true(lv_selector_match("noop-1", "noop-1"));
	assert_false(lv_selector_match("noop-1", "noop-10"));
	assert_true(lv_selector_match("hello-*", "hello-3"));
	assert_false(lv_selector_match("hello-*", "noop-3"));
	assert_true(lv_selector_match("noop-?", "noop-7"));
	assert_false(lv_selector_match("noop-?", "noop-17"));
	assert_true(lv_selector_match("noop-[12]", "noop-2"));
	assert_true(lv_selector_is_pattern("all"));
	assert_true(lv_selector_is_pattern("a*"));
	assert_false(lv_selector_is_pattern("noop-1"));
}

static void test_sizes(void **state)
{
	uint64_t v;

	assert_int_equal(lv_size_parse("4M", &v), 0);
	assert_int_equal(v, 4u << 20);
	assert_int_equal(lv_size_parse("512k", &v), 0);
	assert_int_equal(v, 512u << 10);
	assert_int_equal(lv_size_parse("1GiB", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(lv_size_parse("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(lv_size_parse("", &v), -EINVAL);
	assert_int_equal(lv_size_parse("-4M", &v), -EINVAL);
	assert_int_equal(lv_size_parse("4X", &v), -EINVAL);
	assert_int_equal(lv_size_parse("4MM", &v), -EINVAL);
	assert_int_equal(lv_size_parse("99999999999999999999", &v), -EINVAL);
	assert_int_equal(lv_size_parse("99999999999999G", &v), -ERANGE);
}

static void test_flavors(void **state)
{
	uint64_t m;
	uint32_t c;

	assert_int_equal(lv_flavor_parse("4M/1", &m, &c), 0);
	assert_int_equal(m, 4u << 20);
	assert_int_equal(c, 1);
	assert_int_equal(lv_flavor_parse("8M", &m, &c), 0);
	assert_int_equal(c, 1);
	assert_int_equal(lv_flavor_parse("4M/0", &m, &c), -EINVAL);
	assert_int_equal(lv_flavor_parse("4M/", &m, &c), -EINVAL);
	assert_int_equal(lv_flavor_parse("4M/x", &m, &c), -EINVAL);
	assert_int_equal(lv_flavor_parse("/1", &m, &c), -EINVAL);
}

/* lv_flavor_normalize: the one owner of the memory and vCPU rules */
static int norm(uint64_t m, uint32_t c, uint64_t *mo, uint32_t *co)
{
	int rc = lv_flavor_normalize(&m, &c);

	*mo = m;
	*co = c;
	return rc;
}

static void test_flavor_rules(void **state)
{
	uint64_t m;
	uint32_t c;

	assert_int_equal(norm(0, 0, &m, &c), 0);                  /* defaults */
	assert_int_equal(m, LV_MEM_DEFAULT);
	assert_int_equal(c, 1);
	assert_int_equal(norm(1, 1, &m, &c), 0);                  /* rounded up */
	assert_int_equal(m, 2u << 20);
	assert_int_equal(norm((4u << 20) + 1, 1, &m, &c), 0);
	assert_int_equal(m, 6u << 20);
	assert_int_equal(norm(1024u << 20, 1, &m, &c), 0);
	assert_int_equal(norm((1024u << 20) + 1, 1, &m, &c), -ERANGE);
	assert_int_equal(norm(UINT64_MAX, 1, &m, &c), -ERANGE);  /* no wrap */
	assert_true(m == UINT64_MAX);
	assert_int_equal(norm(0, 2, &m, &c), -EINVAL);
	assert_int_equal(norm(8ull << 30, 4, &m, &c), -EINVAL);   /* vCPUs first */
	/* a pool's flavor: valid and normal already */
	assert_int_equal(lv_flavor_check(4u << 20, 1), 0);
	assert_int_equal(lv_flavor_check(3u << 20, 1), -EINVAL);
	assert_int_equal(lv_flavor_check(0, 1), -EINVAL);
	assert_int_equal(lv_flavor_check(4u << 20, 0), -EINVAL);
	assert_int_equal(lv_flavor_check(2048u << 20, 1), -EINVAL);
}

static void test_states(void **state)
{
	for (int s = 0; s < LV_ST_NR; s++)
		assert_int_equal(lv_state_parse(lv_state_name((enum lv_state)s)), s);
	assert_int_equal(lv_state_parse("nonsense"), -1);
	assert_string_equal(lv_state_name(LV_ST_SHUTTING_DOWN), "shutting-down");
	assert_string_equal(lv_phase_name(LV_PH_READY), "ready");
	assert_true(lv_state_is_final(LV_ST_CRASHED));
	assert_false(lv_state_is_final(LV_ST_PAUSED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_flavors),
		cmocka_unit_test(test_flavor_rules),
		cmocka_unit_test(test_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
