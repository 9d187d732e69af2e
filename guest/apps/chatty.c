/* chatty - a test image: signals ready, then writes console output as
 * fast as it can, forever (it honours shutdown requests), so the host's
 * console log cap is what stops the bytes reaching the disk. */
#include "rt.h"

int app_main(void)
{
	unsigned long long i = 0;

	lv_ready();
	for (;;) {
		lv_printf("chatty line %llu: the quick brown fox jumps over the lazy dog\n", i++);
		if ((i & 63) == 0) {
			lv_flush();
			lv_power_check();
		}
	}
}
