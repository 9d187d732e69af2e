/*
 * dev.c - the device page as the guest sees it, on every platform: the
 * pointer the platform's boot code sets, and the lookup of a device by
 * type (bounded by LV_MAX_DEVS whatever ndevs says).
 */
#include "rt.h"

volatile struct lv_devpage *lv_dp;

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
