/* badnic - a test image that hands its NIC a descriptor pointing outside
 * guest memory; the shell must end it crashed, and nothing else. */
#include "rt.h"
#include "net.h"

int app_main(void)
{
	volatile struct lv_net_shared *sh = (volatile struct lv_net_shared *)(uintptr_t)LV_GPA_NET;
	uint32_t a;

	if (net_init())
		return 1;
	lv_ready();
	a = sh->tx.avail;
	sh->tx.slot[a % LV_NET_SLOTS].addr = lv_dp->mem_size - 16;
	sh->tx.slot[a % LV_NET_SLOTS].len = 1000;
	sh->tx.avail = a + 1;
	net_dev.kick(&net_dev);
	lv_printf("badnic: still alive after a bad descriptor\n");
	return 0;
}
