/*
 * fuzz_vmcfg.c - libFuzzer target: a VM config file (proto/vmcfg.c,
 * compiled in), as `lvsh create` and the agent's autostart read it.
 * Whatever the bytes, parsing must not crash or read outside them; a
 * config that parses names something to run and keeps every field in
 * its bounds; a failed parse leaves at least one message, each a
 * terminated string that starts with the file's name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/vmcfg.c"

static void check_ok(const struct vmcfg *c)
{
	if (!c->image[0] || memchr(c->image, 0, sizeof(c->image)) == NULL ||
	    memchr(c->name, 0, sizeof(c->name)) == NULL ||
	    memchr(c->cmdline, 0, sizeof(c->cmdline)) == NULL ||
	    memchr(c->bridge, 0, sizeof(c->bridge)) == NULL ||
	    c->mem_bytes > ((uint64_t)VMCFG_MAX_MIB << 20) || c->vcpus > VMCFG_MAX_VCPUS ||
	    c->watchdog_s > VMCFG_MAX_WATCHDOG || c->nvifs < 0 || c->nvifs > 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmcfg_errs e;
	struct vmcfg c;
	char *copy = malloc(size ? size : 1);   /* exact size: ASan sees overreads */

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(&e, 0, sizeof(e));
	if (vmcfg_parse("f.cfg", copy, size, &c, &e) == 0) {
		if (e.n)
			abort();
		check_ok(&c);
	} else {
		if (e.n == 0)
			abort();
		for (unsigned i = 0; i < e.n; i++)
			if (memchr(e.msg[i], 0, sizeof(e.msg[i])) == NULL ||
			    strncmp(e.msg[i], "f.cfg", 5))
				abort();
	}
	free(copy);
	return 0;
}
