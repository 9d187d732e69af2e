/* echo - says what it reads on its console: a test image for `lvsh
 * console`.  Signals ready, then idles until console input (LV_WAKE_CONSOLE)
 * or a power request arrives.  A carriage return (Enter on a raw
 * terminal) is echoed as a newline. */
#include "rt.h"

int app_main(void)
{
	char buf[256];
	size_t n;

	lv_puts("echo: ready, type something\n");
	lv_ready();
	for (;;) {
		lv_power_check();
		n = lv_console_read(buf, sizeof(buf));
		if (n == 0) {
			lv_idle(UINT64_MAX);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (buf[i] == '\r')
				buf[i] = '\n';
		lv_write(buf, n);
		lv_flush();
	}
}
