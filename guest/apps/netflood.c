/* netflood - a test image that floods its NIC: broadcast and unicast
 * frames as fast as it can queue them, one doorbell per full ring.  The
 * shell polices it (tx token buckets), so it slows only itself. */
#include "rt.h"
#include "net.h"

int app_main(void)
{
	uint64_t n = 0;

	if (net_init())
		return 1;
	lv_ready();
	for (;;) {
		uint8_t *f = net_dev.tx_alloc(&net_dev);

		if (!f)
			continue;   /* tx_alloc kicked already */
		for (int i = 0; i < 6; i++)
			f[i] = (n & 1) ? 0xff : (uint8_t)(0x02 + i);
		for (int i = 0; i < 6; i++)
			f[6 + i] = net_dev.mac[i];
		f[12] = 0x88;
		f[13] = 0xb5;       /* local experimental ethertype */
		memset(f + 14, (int)n, 46);
		net_dev.tx_commit(&net_dev, 60);
		n++;
	}
}
