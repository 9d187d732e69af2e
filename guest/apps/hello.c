/* hello - greets with the VM's name, reports its boot time in TSC cycles
 * (from the device page's boot_tsc; a line more if that is missing or in
 * the future, counted from its own start then),
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
	lv_printf("booted in %llu cycles\n",
		  (unsigned long long)(boot && boot < now ? now - boot : now - lv_start_tsc));
	if (!boot || boot >= now)   /* missing, or not of this guest's TSC */
		lv_printf("bad boot TSC %llu (now %llu)\n", (unsigned long long)boot,
			  (unsigned long long)now);
	lv_ready();
	return 0;
}
