/* noop - the no-op unikernel: signal ready, then block in LV_HC_IDLE
 * forever (zero host CPU) and honour power requests. */
#include "rt.h"

int app_main(void)
{
	lv_ready();
	lv_serve_forever();
}
