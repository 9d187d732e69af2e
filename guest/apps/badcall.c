/* badcall - issues an unknown hypercall: the shell must call it a crash. */
#include "rt.h"

int app_main(void)
{
	lv_hcall(9999, 0, 0);
	return 1;
}
