/* crash - crashes on purpose with a page fault on a null pointer (address
 * 0x10 on the non-present page 0). */
#include "rt.h"

int app_main(void)
{
	volatile int *volatile p = (volatile int *)(uintptr_t)0x10;

	lv_puts("crashing on purpose\n");
	lv_ready();
	return *p;
}
