/* badtx - a test image that queues, through its NIC driver, a frame
 * longer than any NIC carries (3000 bytes): the backend (the KVM shell or
 * the agent on Xen) must end it crashed with the reason, and nothing
 * else.  Built for both platforms. */
#include "rt.h"
#include "net.h"

int app_main(void)
{
	uint8_t *f;

	if (net_init())
		return 1;
	lv_ready();
	f = net_dev.tx_alloc(&net_dev);
	if (!f)
		return 2;
	memset(f, 0xff, 64);
	net_dev.tx_commit(&net_dev, 3000);
	net_dev.kick(&net_dev);
	lv_idle(2000000000ull);     /* time for the backend to act */
	lv_printf("badtx: still alive after a bad frame\n");
	return 0;
}
