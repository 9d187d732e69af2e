/* hello - greets with the VM's name, reports its boot time in TSC cycles
 * (from the device page's boot_tsc, which must lie in the past),
 * signals ready and powers off with code 0. */
#include "rt.h"

int app_main(void)
{
	char name[LV_NAME_MAX];
	uint64_t now = lv_rdtsc(), boot = lv_dp->boot_tsc;

	for (unsigned i = 0; i < LV_NAME_MAX; i++)
		name[i] = lv_dp->name[i];
	name[LV_NAME_MAX - 1] = '\0';
	lv_printf("hello from %s\n", name);
	if (boot && boot < now)
		lv_printf("booted in %llu cycles\n", (unsigned long long)(now - boot));
	else   /* the host's boot TSC is missing or in the future */
		lv_printf("booted in %llu cycles (bad boot TSC %llu)\n",
			  (unsigned long long)(now - lv_start_tsc), (unsigned long long)boot);
	lv_ready();
	return 0;
}
