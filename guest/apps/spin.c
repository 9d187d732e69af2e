/* spin - signals ready, then spins forever without a hypercall: the
 * shell's watchdog must end it. */
#include "rt.h"

int app_main(void)
{
	lv_ready();
	for (;;)
		__asm__ volatile("pause");
}
