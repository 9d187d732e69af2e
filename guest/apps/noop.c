/* noop - the no-op unikernel: signal ready, then block in LV_HC_IDLE
 * forever (zero host CPU) and honour power requests.  Ready rides on the
 * first IDLE (lv_ready_next): one exit to boot, not two. */
#include "rt.h"

int app_main(void)
{
	lv_ready_next();
	lv_serve_forever();
}
