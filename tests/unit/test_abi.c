/* test_abi.c - the guest/host ABI (lightvm_abi.h): struct layouts with
 * offsetof, a non-overlapping page layout, power-of-two ring sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lightvm_abi.h"

static void test_hcall(void **st)
{
	assert_int_equal(offsetof(struct lv_hcall, nr), 0);
	assert_int_equal(offsetof(struct lv_hcall, arg), 8);
	assert_int_equal(offsetof(struct lv_hcall, ret), 40);
	assert_int_equal(sizeof(struct lv_hcall), 48);
}

static void test_dev(void **st)
{
	assert_int_equal(offsetof(struct lv_dev, type), 0);
	assert_int_equal(offsetof(struct lv_dev, id), 2);
	assert_int_equal(offsetof(struct lv_dev, flags), 4);
	assert_int_equal(offsetof(struct lv_dev, addr), 8);
	assert_int_equal(offsetof(struct lv_dev, size), 16);
	assert_int_equal(offsetof(struct lv_dev, u), 24);
	assert_int_equal(offsetof(struct lv_dev, u.sysctl.host_req), 24);
	assert_int_equal(offsetof(struct lv_dev, u.sysctl.guest_state), 28);
	assert_int_equal(offsetof(struct lv_dev, u.net.mtu), 30);
	assert_int_equal(offsetof(struct lv_dev, u.net.ipv4), 32);
	assert_int_equal(sizeof(struct lv_dev), 64);
}

static void test_devpage(void **st)
{
	assert_int_equal(offsetof(struct lv_devpage, magic), 0);
	assert_int_equal(offsetof(struct lv_devpage, version), 4);
	assert_int_equal(offsetof(struct lv_devpage, size), 8);
	assert_int_equal(offsetof(struct lv_devpage, ndevs), 12);
	assert_int_equal(offsetof(struct lv_devpage, name), 16);
	assert_int_equal(offsetof(struct lv_devpage, mem_size), 80);
	assert_int_equal(offsetof(struct lv_devpage, tsc_khz), 88);
	assert_int_equal(offsetof(struct lv_devpage, boot_tsc), 96);
	assert_int_equal(offsetof(struct lv_devpage, wall_ns), 104);
	assert_int_equal(offsetof(struct lv_devpage, devs), 144);
	assert_int_equal(sizeof(struct lv_devpage), 144 + 16 * 64);
	assert_true(sizeof(struct lv_devpage) <= 4096);
	assert_int_equal(LV_ABI_MAGIC, 0x4d56564c);
}

static void test_ring(void **st)
{
	assert_int_equal(offsetof(struct lv_console_ring, out_prod), 0);
	assert_int_equal(offsetof(struct lv_console_ring, out_cons), 4);
	assert_int_equal(offsetof(struct lv_console_ring, in_prod), 8);
	assert_int_equal(offsetof(struct lv_console_ring, in_cons), 12);
	assert_int_equal(offsetof(struct lv_console_ring, out), 64);
	assert_int_equal(offsetof(struct lv_console_ring, in), 64 + LV_CONSOLE_OUT_SIZE);
	assert_int_equal(LV_CONSOLE_OUT_SIZE & (LV_CONSOLE_OUT_SIZE - 1), 0);
	assert_int_equal(LV_CONSOLE_IN_SIZE & (LV_CONSOLE_IN_SIZE - 1), 0);
	assert_true(LV_CONSOLE_OUT_SIZE > 0 && LV_CONSOLE_IN_SIZE > 0);
}

/* Every system area is page aligned, below the image, and no two overlap. */
static void test_layout(void **st)
{
	struct { uint64_t lo, hi; } a[] = {
		{ LV_GPA_GDT, LV_GPA_GDT + 0x1000 },
		{ LV_GPA_IDT, LV_GPA_IDT + 0x1000 },
		{ LV_GPA_TSS, LV_GPA_TSS + 0x1000 },
		{ LV_GPA_STUBS, LV_GPA_STUBS + 0x1000 },
		{ LV_GPA_PML4, LV_GPA_PML4 + 0x1000 },
		{ LV_GPA_PDPT, LV_GPA_PDPT + 0x1000 },
		{ LV_GPA_PD, LV_GPA_PD + 0x1000 },
		{ LV_GPA_PT0, LV_GPA_PT0 + 0x1000 },
		{ LV_GPA_DEVPAGE, LV_GPA_DEVPAGE + 0x1000 },
		{ LV_GPA_HCALL, LV_GPA_HCALL + 0x1000 },
		{ LV_GPA_CONSOLE, LV_GPA_CONSOLE + sizeof(struct lv_console_ring) },
		{ LV_GPA_STACK0 - 0x1000, LV_GPA_STACK0 },
	};
	size_t n = sizeof(a) / sizeof(a[0]);

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].lo % 0x1000, 0);
		assert_true(a[i].lo >= 0x1000);          /* page 0 is the null guard */
		assert_true(a[i].hi <= LV_GPA_IMAGE);
		for (size_t j = i + 1; j < n; j++)
			if (a[i].lo < a[j].hi && a[j].lo < a[i].hi)
				fail_msg("areas %zu [0x%llx,0x%llx) and %zu [0x%llx,0x%llx) overlap",
					 i, (unsigned long long)a[i].lo, (unsigned long long)a[i].hi,
					 j, (unsigned long long)a[j].lo, (unsigned long long)a[j].hi);
	}
	/* system pages are supervisor, shared pages start at the device page */
	assert_true(LV_GPA_PT0 < LV_GPA_DEVPAGE && LV_GPA_DEVPAGE < LV_GPA_HCALL);
	assert_true(32 * 16 <= 0x1000);                   /* IDT: 32 gates */
	assert_int_equal(LV_GUEST_MIN_MEM % (2u << 20), 0);
	assert_int_equal(LV_GUEST_MAX_MEM % (2u << 20), 0);
	assert_true(LV_GUEST_MAX_MEM <= (1ull << 30));    /* one page directory */
	assert_int_equal(LV_GPA_IMAGE % (2u << 20), LV_GPA_IMAGE); /* inside the 4K-mapped 2 MiB */
}

static void test_selectors_ports(void **st)
{
	assert_int_equal(LV_SEL_UDATA & 3, 3);
	assert_int_equal(LV_SEL_UCODE & 3, 3);
	assert_int_equal(LV_SEL_KCODE & 3, 0);
	assert_int_equal(LV_SEL_TSS % 8, 0);
	assert_int_equal(LV_PORT_HCALL % 4, 0);           /* 4 bitmap bits */
	assert_true(LV_PORT_CRASH >= LV_PORT_HCALL + 4);  /* stays closed to ring 3 */
	assert_int_equal(LV_HC_CLOCK, 6);                 /* numbers are ABI: never renumber */
	assert_true(LV_HC_MAX > LV_HC_CLOCK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hcall),
		cmocka_unit_test(test_dev),
		cmocka_unit_test(test_devpage),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_selectors_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
