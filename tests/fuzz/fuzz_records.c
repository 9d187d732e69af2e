/*
 * fuzz_records.c - libFuzzer target: a state record as read back at a
 * restart (agent/records.c, compiled in).  Whatever the bytes, parsing
 * must not crash; a record that parses must survive being written and
 * read again unchanged (escaping round-trips), and keep its console log
 * at STATEDIR/console/NAME.log.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/records.c"

struct lv_host *g_host;

void alog(enum lv_log_level lvl, const char *fmt, ...)
{
	(void)lvl;
	(void)fmt;
}

struct vm_ext *vm_ext(struct lv_vm *vm)
{
	(void)vm;
	return NULL;
}

void vm_ext_release(struct lv_vm *vm)
{
	(void)vm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[RECORD_MAX], out[RECORD_MAX];
	struct lv_vm_info a, b;
	const char *why = NULL;

	if (size >= RECORD_MAX)
		return 0;
	snprintf(console_dir, sizeof(console_dir), "/state/console");
	memcpy(buf, data, size);
	buf[size] = 0;
	if (strlen(buf) != size || record_parse(buf, &a, &why))
		return 0;
	if (a.console_path[0] && strncmp(a.console_path, "/state/console/", 15))
		abort();
	if (record_format(&a, out, sizeof(out)) < 0)
		return 0;
	if (record_parse(out, &b, &why) || strcmp(a.name, b.name) || strcmp(a.reason, b.reason) ||
	    strcmp(a.image, b.image) || strcmp(a.console_path, b.console_path) || a.id != b.id ||
	    a.state != b.state || a.mem_bytes != b.mem_bytes)
		abort();
	return 0;
}
