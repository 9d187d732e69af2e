/*
 * dev.c - the device page as the guest sees it, on every platform: the
 * pointer the platform's boot code sets, and the lookup of a device by
 * type (bounded by LV_MAX_DEVS whatever ndevs says), and the sysctl
 * device's power requests.
 */
#include "rt.h"

volatile struct lv_devpage *lv_dp;
void (*lv_restore_hook)(void);   /* rt.h; set by the network stack */

volatile struct lv_dev *lv_find_dev(uint16_t type)
{
	uint32_t n;

	if (!lv_dp)
		return NULL;
	n = lv_dp->ndevs;
	if (n > LV_MAX_DEVS)
		n = LV_MAX_DEVS;
	for (uint32_t i = 0; i < n; i++)
		if (lv_dp->devs[i].type == type)
			return &lv_dp->devs[i];
	return NULL;
}

void lv_power_check(void)
{
	volatile struct lv_dev *sys = lv_find_dev(LV_DEV_SYSCTL);
	uint32_t req = sys ? sys->u.sysctl.host_req : LV_REQ_NONE;

	if (req == LV_REQ_POWEROFF)
		lv_poweroff(0);
	if (req == LV_REQ_REBOOT)
		lv_reboot();
}

void lv_serve_forever(void)
{
	for (;;) {
		lv_power_check();
		lv_idle(UINT64_MAX);
	}
}
