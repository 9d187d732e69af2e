/* ballast - noop with 256 KiB of non-zero initialised data in its image:
 * what a test preloads (lightvmd(8), "Preloaded images") before it
 * spawns memscan, which must find none of it.  Ready, then idle. */
#include "rt.h"

#define BALLAST (256u << 10)

/* the bytes are in the file, not bss */
static volatile uint8_t ballast[BALLAST] = { [0 ... BALLAST - 1] = 0x5a };

int app_main(void)
{
	lv_printf("ballast: %u bytes of 0x%x\n", BALLAST, ballast[BALLAST / 2]);
	lv_ready_next();
	lv_serve_forever();
}
