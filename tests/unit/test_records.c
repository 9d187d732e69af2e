/*
 * test_records.c - the agent's state records (agent/records.c, compiled
 * in here) against hostile input: values that carry newlines are escaped
 * and come back whole, duplicate keys, bad states, images and escapes
 * are refused, a console path other than STATEDIR/console/NAME.log sets
 * the record aside and the file it names is neither opened nor removed;
 * spare files are made full size; a record a spawn wrote into a spare
 * file is restored and named, a blank spare stays a spare, a cleared
 * record is dropped, and a destroyed VM's record is blanked before it
 * becomes a spare.  The core runs with a fake driver.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lv_internal.h"
#include "../../agent/records.c"
#include "../../agent/vmstate.c"   /* g_host, vm_ext: the leaf of the agent */

/* ---- what records.c takes from the rest of the agent */
void alog(enum lv_log_level lvl, const char *fmt, ...)
{
	(void)lvl;
	(void)fmt;
}

/* ---- a host with a fake driver (no attach: live VMs are "gone") */
static int f_open(struct lv_host *h, struct lv_driver **out) { *out = (void *)h; return 0; }
static void f_close(struct lv_driver *d) {}
static int f_start(struct lv_driver *d, struct lv_vm *vm, int fd) { return 0; }
static int f_nop(struct lv_driver *d, struct lv_vm *vm) { return 0; }
static int f_destroy(struct lv_driver *d, struct lv_vm *vm)
{
	lv__vm_released(vm);
	return 0;
}

static const struct lv_driver_ops fake_ops = {
	.name = "fake", .open = f_open, .close = f_close, .start = f_start,
	.pause = f_nop, .unpause = f_nop, .shutdown = f_nop, .destroy = f_destroy,
};

static int no_watch(void *c, int fd, lv_fd_cb cb, void *a) { return 0; }
static void no_unwatch(void *c, int fd) {}

static char dir[64];

static int setup(void **state)
{
	struct lv_host_config cfg = { 0 };
	static const char *dirs[2];

	snprintf(dir, sizeof(dir), "/tmp/lvrec.%d", (int)getpid());
	mkdir(dir, 0755);
	dirs[0] = dir;
	lv_test_ops = &fake_ops;
	cfg.driver = "fake";
	cfg.state_dir = dir;
	cfg.image_dirs = dirs;
	cfg.loop = (struct lv_loop){ NULL, no_watch, no_unwatch };
	assert_int_equal(lv_host_open(&cfg, &g_host), 0);
	assert_int_equal(records_init(dir), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	lv_host_close(g_host);
	close(dir_fd);
	dir_fd = -1;
	for (size_t k = 0; k < nspares; k++)
		if (spare_fds[k] >= 0)
			close(spare_fds[k]);
	nspares = spares_open = npending = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void fill(struct lv_vm_info *i, const char *name)
{
	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", name);
	i->id = 7;
	i->state = LV_ST_RUNNING;
	snprintf(i->image, sizeof(i->image), "noop");
	i->mem_bytes = 4 << 20;
	i->vcpus = 1;
	i->pid = 1234;
	snprintf(i->console_path, sizeof(i->console_path), "%s/console/%s.log", dir, name);
}

/* A reason full of record syntax stays one field and comes back whole. */
static void test_escaped_roundtrip(void **state)
{
	struct lv_vm_info in, out;
	char buf[RECORD_MAX];
	const char *why = NULL;

	fill(&in, "vm1");
	snprintf(in.reason, sizeof(in.reason),
		 "x\nconsole /etc/shadow\nstate booting\nend\n\\x41\t\x7f\x01");
	assert_true(record_format(&in, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "\nconsole /etc/shadow"));
	assert_int_equal(record_parse(buf, &out, &why), 0);
	assert_string_equal(out.reason, in.reason);
	assert_string_equal(out.console_path, in.console_path);
	assert_int_equal(out.state, LV_ST_RUNNING);
	assert_string_equal(out.name, "vm1");
}

/* issue 14: a restored VM in a new state keeps both across a restart;
 * a record without "restored" (older agents) is not one */
static void test_restored_states(void **state)
{
	struct lv_vm_info in, out;
	char buf[RECORD_MAX];
	const char *why = NULL;

	fill(&in, "vm1");
	in.restored = true;
	in.state = LV_ST_MIGRATING;
	assert_true(record_format(&in, buf, sizeof(buf)) > 0);
	assert_int_equal(record_parse(buf, &out, &why), 0);
	assert_true(out.restored);
	assert_int_equal(out.state, LV_ST_MIGRATING);
	in.restored = false;
	in.state = LV_ST_RESTORING;
	assert_true(record_format(&in, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "restored"));
	assert_int_equal(record_parse(buf, &out, &why), 0);
	assert_false(out.restored);
	assert_int_equal(out.state, LV_ST_RESTORING);
}

static int parse_text(const char *text, const char **why)
{
	char buf[RECORD_MAX];
	struct lv_vm_info i;

	snprintf(buf, sizeof(buf), "%s", text);
	return record_parse(buf, &i, why);
}

static void test_refused(void **state)
{
	char good[1024], bad[1200];
	const char *why;
	static const char *const extra[] = {
		"console /etc/shadow\n",            /* a second console line */
		"state booting\n",                  /* a second state line */
		"name other\n",
	};
	static const char *const repl[][2] = {
		{ "state running", "state off" },   /* aliases are for people */
		{ "state running", "state nonsense" },
		{ "image noop", "image ../../etc/x" },
		{ "image noop", "image /a/../../etc" },
		{ "image noop", "image no\\x0aop" },
		{ "image noop", "image bad\\q" },
		{ "pooled 0", "pooled yes" },
		{ "pooled 0", "pooled 0\nrestored yes" },
		{ "t 0 0 0 0 0 0", "t 0 0 0 0 0 -5" },
		{ "t 0 0 0 0 0 0", "t 0 0 0 0 0 0 0" },   /* 7: neither old nor new */
		{ "t 0 0 0 0 0 0", "t 0 0 0 0 0 0 0 0 0" },
		{ "reason ", "reason a\\x00b" },
	};

	snprintf(good, sizeof(good), "lightvm-vm 1\nname vm1\nid 7\nstate running\nimage noop\n"
		 "mem 4194304\nvcpus 1\npid 12\npooled 0\nexit 0\nt 0 0 0 0 0 0\nt_final 0\n"
		 "console %s/console/vm1.log\nreason \nend\n", dir);
	assert_int_equal(parse_text(good, &why), 0);
	for (size_t k = 0; k < sizeof(extra) / sizeof(extra[0]); k++) {
		char *end = strstr(good, "end\n");

		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(end - good), good, extra[k], end);
		why = NULL;
		assert_int_equal(parse_text(bad, &why), -1);
		assert_string_equal(why, "a key appears twice");
	}
	for (size_t k = 0; k < sizeof(repl) / sizeof(repl[0]); k++) {
		char *at = strstr(good, repl[k][0]);

		assert_non_null(at);
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(at - good), good, repl[k][1],
			 at + strlen(repl[k][0]));
		assert_int_equal(parse_text(bad, &why), -1);
	}
	/* any console path but STATEDIR/console/NAME.log */
	snprintf(bad, sizeof(bad), "lightvm-vm 1\nname vm1\nid 7\nstate running\nimage noop\n"
		 "mem 4194304\nvcpus 1\nconsole /etc/shadow\nend\n");
	assert_int_equal(parse_text(bad, &why), -1);
	assert_string_equal(why, "its console log is not STATEDIR/console/NAME.log");
	snprintf(bad, sizeof(bad), "lightvm-vm 1\nname vm1\nid 7\nstate running\nimage noop\n"
		 "mem 4194304\nvcpus 1\nconsole %s/console/../vms/vm1.log\nend\n", dir);
	assert_int_equal(parse_text(bad, &why), -1);
}

/* The flight recorder's times: a record from before the Linux phases
 * (six times, the last one ready) and one with all of them. */
static void test_phase_times(void **state)
{
	char buf[RECORD_MAX];
	struct lv_vm_info i;
	const char *why = NULL;
	static const char *const fmt = "lightvm-vm 1\nname vm1\nid 7\nstate running\nimage noop\n"
		"mem 4194304\nvcpus 1\npid 12\npooled 0\nexit 0\nt %s\nt_final 0\n"
		"console %s/console/vm1.log\nreason \nend\n";

	snprintf(buf, sizeof(buf), fmt, "1 2 3 4 5 9", dir);
	assert_int_equal(record_parse(buf, &i, &why), 0);
	assert_int_equal(i.t[LV_PH_STARTED], 5);
	assert_int_equal(i.t[LV_PH_KERNEL], 0);
	assert_int_equal(i.t[LV_PH_INIT], 0);
	assert_int_equal(i.t[LV_PH_READY], 9);
	snprintf(buf, sizeof(buf), fmt, "1 2 3 4 5 6 7 9", dir);
	assert_int_equal(record_parse(buf, &i, &why), 0);
	assert_int_equal(i.t[LV_PH_KERNEL], 6);
	assert_int_equal(i.t[LV_PH_INIT], 7);
	assert_int_equal(i.t[LV_PH_READY], 9);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A record naming another file as its console, for a VM whose shell is
 * gone in state booting (the path that removes the log): set aside, the
 * file untouched, nothing restored. */
static void test_restore_never_trusts_console(void **state)
{
	char victim[128], rec[160], text[1024];
	struct stat st;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_file(victim, "precious\n");
	snprintf(rec, sizeof(rec), "%s/vms/vm1.vm", dir);
	snprintf(text, sizeof(text), "lightvm-vm 1\nname vm1\nid 7\nstate booting\nimage noop\n"
		 "mem 4194304\nvcpus 1\npid 999999\nconsole %s\nend\n", victim);
	write_file(rec, text);
	records_restore();
	assert_int_equal(stat(victim, &st), 0);
	assert_null(lv_vm_lookup(g_host, "vm1"));
	strcat(rec, ".bad");
	assert_int_equal(stat(rec, &st), 0);
}

/* Spares are full size, so a record written into one needs no block. */
static void test_reserve_makes_full_spares(void **state)
{
	char path[160];
	struct stat st;

	assert_int_equal(records_reserve(3), 0);
	assert_true(nspares >= 3);
	snprintf(path, sizeof(path), "%s/vms/.spare-%u", dir, spares[0]);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, RECORD_SLOT);
	records_flush();
	assert_int_equal(spares_claimed, 0);
}

static void write_vms(const char *name, const char *text)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/vms/%s", dir, name);
	write_file(path, text);
}

static bool exists(const char *name)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/vms/%s", dir, name);
	return stat(path, &st) == 0;
}

static bool blank_file(const char *name)
{
	char path[160], buf[RECORD_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/vms/%s", dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return n > 0 && buf[strspn(buf, "\n")] == 0;
}

/* issue 17: a spawn writes a new VM's record into a spare file (no
 * rename before its guest starts); a restart finds it there. */
static void test_restore_from_spares(void **state)
{
	char pad[RECORD_SLOT + 1], rec[512];
	struct lv_vm *vm;
	bool found = false;

	memset(pad, '\n', RECORD_SLOT);
	pad[RECORD_SLOT] = 0;
	snprintf(rec, sizeof(rec), "lightvm-vm 1\nname vm2\nid 9\nstate shutoff\nimage noop\n"
		 "mem 4194304\nvcpus 1\npid -1\nend\n");
	write_vms(".spare-3", rec);          /* a record not named yet */
	write_vms(".spare-4", pad);          /* a spare */
	write_vms("vm3.vm", pad);            /* cleared as its VM went */
	write_vms(".spare-5", "lightvm-vm 1\nname vm5\n");   /* torn: set aside */
	write_vms(".spare-6", "");           /* made, never written */
	write_vms(".spare-7.bad", "x");      /* not a spare */
	records_restore();
	vm = lv_vm_lookup(g_host, "vm2");
	assert_non_null(vm);
	assert_int_equal(lv_vm_info(vm)->id, 9);
	assert_true(exists("vm2.vm"));
	assert_false(exists(".spare-3"));
	assert_true(exists(".spare-4"));
	for (size_t k = 0; k < nspares; k++)
		found |= spares[k] == 4;
	assert_true(found);
	assert_int_equal(nspares, 1);
	assert_false(exists("vm3.vm"));
	assert_true(exists(".spare-5.bad"));
	assert_false(exists(".spare-6"));
	assert_true(exists(".spare-7.bad"));
	assert_true(spare_seq >= 6);   /* a new spare takes no number in use */

	/* destroyed: blanked, then a spare (never a record for a restart) */
	records_vm_event(vm, LV_EV_DESTROYED);
	vm_ext_release(vm);   /* main.c's fan-out does it after every owner */
	assert_false(exists("vm2.vm"));
	assert_int_equal(nspares, 2);
	{
		char name[32];

		spare_name(spares[1], name, sizeof(name));
		assert_true(blank_file(name));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_escaped_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restored_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_never_trusts_console, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_makes_full_spares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_from_spares, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
