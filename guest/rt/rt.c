/*
 * rt.c - guest runtime core: boot (device page check, app_main), power
 * (ready, idle, poweroff, reboot, serve_forever) and the clock.
 *
 * Boot path to app_main: _start (1 call) + lv_rt_main (rdtsc, store the
 * device page pointer, 4 checks) - a couple of dozen ring-3 instructions,
 * no ring-0 code and no exit to the host.
 */
#include "rt.h"

uint64_t lv_start_tsc;

static int devpage_ok(volatile struct lv_devpage *dp)
{
	return dp == (volatile struct lv_devpage *)(uintptr_t)LV_GPA_DEVPAGE &&
	       dp->magic == LV_ABI_MAGIC && dp->version == LV_ABI_VERSION &&
	       dp->size == sizeof(struct lv_devpage);
}

static void LV_NORETURN bad_devpage(volatile struct lv_devpage *dp)
{
	if (dp != (volatile struct lv_devpage *)(uintptr_t)LV_GPA_DEVPAGE)
		lv_printf("lightvm: device page at %p, expected %p\n",
			  (void *)dp, (void *)(uintptr_t)LV_GPA_DEVPAGE);
	else
		lv_printf("lightvm: bad device page: magic 0x%x version %u size %u "
			  "(runtime expects 0x%x version %u size %u)\n",
			  dp->magic, dp->version, dp->size, LV_ABI_MAGIC,
			  LV_ABI_VERSION, (unsigned)sizeof(struct lv_devpage));
	lv_dp = NULL;
	lv_poweroff(255);
}

void lv_rt_main(volatile struct lv_devpage *dp)
{
	lv_start_tsc = lv_rdtsc();
	if (__builtin_expect(!devpage_ok(dp), 0))
		bad_devpage(dp);
	lv_dp = dp;
	lv_poweroff(app_main());
}

static void set_state(uint32_t st)
{
	volatile struct lv_dev *d = lv_find_dev(LV_DEV_SYSCTL);

	if (d)
		d->u.sysctl.guest_state = st;
}

void lv_ready(void)
{
	set_state(LV_GST_READY);
	lv_hcall(LV_HC_READY, 0, 0);
}

uint32_t lv_ready_owed;

/* Ready, said by the next hypercall (LV_HCF_READY) instead of an exit of
 * its own: for a guest whose next step is a hypercall anyway, as noop's
 * IDLE.  The host stamps ready at that exit, which comes at once. */
void lv_ready_next(void)
{
	set_state(LV_GST_READY);
	lv_ready_owed = LV_HCF_READY;
}

uint32_t lv_idle(uint64_t timeout_ns)
{
	int64_t r = lv_hcall(LV_HC_IDLE, timeout_ns, 0);
	uint32_t w = r < 0 ? 0 : (uint32_t)r;
	volatile struct lv_dev *sys;

	if (w & LV_WAKE_RESTORED) {
		if (lv_restore_hook)
			lv_restore_hook();
		sys = lv_find_dev(LV_DEV_SYSCTL);
		/* ready again, to the new shell: on the next hypercall (the
		 * IDLE the caller goes back to), not an exit of its own */
		if (sys && sys->u.sysctl.guest_state == LV_GST_READY)
			lv_ready_owed = LV_HCF_READY;
	}
	return w;
}

void lv_poweroff(int code)
{
	set_state(LV_GST_DOWN);
	for (;;)
		lv_hcall(LV_HC_POWEROFF, (uint64_t)(int64_t)code, 0);
}

void lv_reboot(void)
{
	for (;;)
		lv_hcall(LV_HC_REBOOT, 0, 0);
}

int lv_clock(struct lv_time *t)
{
	volatile struct lv_hcall *hc = (volatile struct lv_hcall *)(uintptr_t)LV_GPA_HCALL;
	int64_t r = lv_hcall(LV_HC_CLOCK, 0, 0);

	if (r < 0)
		return (int)r;
	t->wall_ns = hc->arg[0];
	t->mono_ns = hc->arg[1];
	return 0;
}
