/* badring - corrupts the console ring (producer 100000 bytes ahead of the
 * consumer) and rings the doorbell: the shell must call it a crash. */
#include "rt.h"

int app_main(void)
{
	volatile struct lv_console_ring *r =
		(volatile struct lv_console_ring *)(uintptr_t)LV_GPA_CONSOLE;

	r->out_prod = r->out_cons + 100000;
	lv_hcall(LV_HC_CONSOLE, 0, 0);
	return 1;
}
