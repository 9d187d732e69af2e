/*
 * test_cmdtable.c - lvsh's command table (lvsh/cmds.c): prefix lookup,
 * option parsing, spawn's argument checks, the command language, and that
 * man/lvsh.1 documents every command and option in the table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmds.h"
#include "top.h"
#include "fmt.h"
#include "lightvm.pb-c.h"

static void test_find_unique_prefix(void **state)
{
	char err[256];

	assert_ptr_equal(lvsh_cmd_find("spawn", err, sizeof(err)),
			 &lvsh_cmd_spawn);
	assert_ptr_equal(lvsh_cmd_find("sp", err, sizeof(err)),
			 &lvsh_cmd_spawn);
	assert_ptr_equal(lvsh_cmd_find("d", err, sizeof(err)),
			 &lvsh_cmd_destroy);
	assert_ptr_equal(lvsh_cmd_find("po", err, sizeof(err)),
			 &lvsh_cmd_pool);
	assert_ptr_equal(lvsh_cmd_find("pa", err, sizeof(err)),
			 &lvsh_cmd_pause);
	assert_ptr_equal(lvsh_cmd_find("sh", err, sizeof(err)),
			 &lvsh_cmd_shutdown);
}

static void test_find_ambiguous(void **state)
{
	char err[256];

	assert_null(lvsh_cmd_find("p", err, sizeof(err)));
	assert_non_null(strstr(err, "ambiguous"));
	assert_non_null(strstr(err, "pause"));
	assert_non_null(strstr(err, "pool"));
	assert_null(strstr(err, "spawn"));
	assert_null(lvsh_cmd_find("s", err, sizeof(err)));
	assert_non_null(strstr(err, "spawn, shutdown"));
	/* the message is cut, not overrun, in a small buffer */
	assert_null(lvsh_cmd_find("", err, 8));
	assert_int_equal(strlen(err), 7);
}

static void test_find_unknown(void **state)
{
	char err[256];

	assert_null(lvsh_cmd_find("frobnicate", err, sizeof(err)));
	assert_non_null(strstr(err, "unknown command"));
	assert_null(lvsh_cmd_find("spawnx", err, sizeof(err)));
	assert_null(lvsh_cmd_find("", err, sizeof(err)));
}

static void test_every_name_unique(void **state)
{
	const struct lvsh_cmd *const *a, *const *b;
	char err[256];

	for (a = lvsh_cmds; *a != NULL; a++) {
		assert_ptr_equal(lvsh_cmd_find((*a)->name, err, sizeof(err)),
				 *a);
		assert_non_null((*a)->fn);
		assert_non_null((*a)->usage);
		assert_non_null((*a)->help);
		assert_true((*a)->min_args <= (*a)->max_args);
		for (b = a + 1; *b != NULL; b++)
			assert_string_not_equal((*a)->name, (*b)->name);
	}
}

/* Parse "spawn ..." words; 0 or -1 like the parsers.  req points into a
 * static buffer, valid until the next call. */
static int parse_spawn(const char *line, Lightvm__SpawnReq *req, char *err,
		       size_t errlen)
{
	static char buf[512];
	char *argv[LVSH_MAX_ARGS], *w;
	struct lvsh_args a;
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (w = strtok(buf, " "); w != NULL; w = strtok(NULL, " "))
		argv[argc++] = w;
	if (lvsh_args_parse(&lvsh_cmd_spawn, argc, argv, &a, err,
			    errlen) < 0)
		return -1;
	return lvsh_spawn_parse(&a, req, err, errlen);
}

static void test_spawn_defaults(void **state)
{
	Lightvm__SpawnReq r;
	char err[256];

	assert_int_equal(parse_spawn("10 noop", &r, err, sizeof(err)), 0);
	assert_int_equal(r.count, 10);
	assert_string_equal(r.image, "noop");
	assert_false(r.has_mem_bytes);
	assert_false(r.has_vcpus);
	assert_null(r.name_prefix);
	assert_false(r.has_timeout_ms);
	assert_true(r.has_wait_ready);
	assert_true(r.wait_ready);
}

static void test_spawn_options(void **state)
{
	Lightvm__SpawnReq r;
	char err[256];

	assert_int_equal(parse_spawn("3 /img/hello mem=512K vcpus=1 name=web "
				     "timeout=1.5 --nowait", &r, err,
				     sizeof(err)), 0);
	assert_int_equal(r.count, 3);
	assert_string_equal(r.image, "/img/hello");
	assert_true(r.has_mem_bytes);
	assert_int_equal(r.mem_bytes, 512 * 1024);
	assert_int_equal(r.vcpus, 1);
	assert_string_equal(r.name_prefix, "web");
	assert_int_equal(r.timeout_ms, 1500);
	assert_false(r.wait_ready);
	/* options may come first, and --wait is explicit */
	assert_int_equal(parse_spawn("mem=1G --wait 100000 noop", &r, err,
				     sizeof(err)), 0);
	assert_int_equal(r.mem_bytes, 1ull << 30);
	assert_int_equal(r.count, 100000);
	assert_true(r.wait_ready);
	assert_int_equal(parse_spawn("1 noop mem=4194304", &r, err,
				     sizeof(err)), 0);
	assert_int_equal(r.mem_bytes, 4u << 20);
	assert_int_equal(parse_spawn("1 noop mem=4m", &r, err,
				     sizeof(err)), 0);
	assert_int_equal(r.mem_bytes, 4u << 20);
	/* the protocol's rule (lv_limits.h): one vCPU, at most 1G */
	assert_int_equal(parse_spawn("1 noop vcpus=2", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 vCPU"));
	assert_int_equal(parse_spawn("1 noop mem=2G", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 1G"));
	assert_int_equal(parse_spawn("1 noop mem=1G", &r, err, sizeof(err)), 0);
}

static void test_spawn_bad(void **state)
{
	static const char *const bad[] = {
		"0 noop", "100001 noop", "-1 noop", "ten noop", "10x noop",
		"4294967297 noop", "10", "", "10 noop extra",
		"10 noop mem=", "10 noop mem=0", "10 noop mem=4X",
		"10 noop mem=M", "10 noop mem=-4M", "10 noop mem=4MB",
		"10 noop mem=99999999999999999999",
		"10 noop mem=17179869184G",
		"10 noop vcpus=0", "10 noop vcpus=x", "10 noop vcpus=1025",
		"10 noop name=", "10 noop timeout=0", "10 noop timeout=x",
		"10 noop timeout=-1", "10 noop timeout=100000000",
		"10 noop --wait --nowait", "10 noop --fast", "10 noop color=red",
	};
	Lightvm__SpawnReq r;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_spawn(bad[i], &r, err, sizeof(err)) == 0)
			fail_msg("accepted: spawn %s", bad[i]);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(parse_spawn("0 noop", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1 to 100000"));
	assert_int_equal(parse_spawn("10", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "usage: spawn N IMAGE"));
	assert_int_equal(parse_spawn("1 a --fast", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown option --fast"));
}

static void test_sizes(void **state)
{
	uint64_t v;
	uint32_t u;
	char buf[32];

	assert_int_equal(lvsh_parse_size("1", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(lvsh_parse_size("2g", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(lvsh_parse_size("17179869184G", &v), -1);
	assert_int_equal(lvsh_parse_size(" 4M", &v), -1);
	assert_int_equal(lvsh_parse_flavor("4M/1", &v, &u), 0);
	assert_int_equal(v, 4u << 20);
	assert_int_equal(u, 1);
	assert_int_equal(lvsh_parse_flavor("4M", &v, &u), 0);   /* as lightvmd.conf */
	assert_int_equal(u, 1);
	assert_int_equal(lvsh_parse_flavor("/1", &v, &u), -1);
	assert_int_equal(lvsh_parse_flavor("4M/0", &v, &u), -1);
	lvsh_fmt_size(buf, sizeof(buf), 4u << 20);
	assert_string_equal(buf, "4M");
	lvsh_fmt_size(buf, sizeof(buf), 512u << 10);
	assert_string_equal(buf, "512K");
	lvsh_fmt_size(buf, sizeof(buf), 1000);
	assert_string_equal(buf, "1000");
	lvsh_fmt_size(buf, sizeof(buf), 3u << 29);
	assert_string_equal(buf, "1.5G");
	lvsh_fmt_uptime(buf, sizeof(buf), 3200000000ull);
	assert_string_equal(buf, "3.2s");
	lvsh_fmt_uptime(buf, sizeof(buf), 303000000000ull);
	assert_string_equal(buf, "5m03s");
	lvsh_fmt_spawn(buf, sizeof(buf), 850000);
	assert_string_equal(buf, "850µs");
	lvsh_fmt_spawn(buf, sizeof(buf), 2310000);
	assert_string_equal(buf, "2.31ms");
}

static void test_selector_required(void **state)
{
	const struct lvsh_cmd *const acts[] = { &lvsh_cmd_pause,
		&lvsh_cmd_unpause, &lvsh_cmd_shutdown, &lvsh_cmd_reboot,
		&lvsh_cmd_destroy };
	char *argv[] = { (char *)"hello-*", (char *)"extra" };
	struct lvsh_args a;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		assert_int_equal(lvsh_args_parse(acts[i], 0, argv, &a, err,
						 sizeof(err)), -1);
		assert_non_null(strstr(err, "usage:"));
		assert_int_equal(lvsh_args_parse(acts[i], 1, argv, &a, err,
						 sizeof(err)), 0);
		assert_string_equal(a.argv[0], "hello-*");
		assert_int_equal(lvsh_args_parse(acts[i], 2, argv, &a, err,
						 sizeof(err)), -1);
	}
}

/* The language: commands run through lvsh_run_text, which needs no agent
 * for `help` and usage errors. */
static void test_language(void **state)
{
	struct lvsh sh;
	int worst = 0;

	lvsh_init(&sh);
	sh.out = fopen("/dev/null", "w");
	assert_non_null(sh.out);
	sh.autostart = 0;
	sh.sock_path = "/nonexistent/lvsh-test.sock";
	assert_int_equal(lvsh_run_text(&sh, "help; he sp # comment; destroy",
				       "-c", 0, &worst), LVSH_EXIT_OK);
	assert_int_equal(worst, LVSH_EXIT_OK);
	assert_int_equal(lvsh_run_text(&sh, "help\ndestroy\nhelp", "-c", 0,
				       &worst), LVSH_EXIT_OK);
	assert_int_equal(worst, LVSH_EXIT_USAGE);
	worst = 0;
	assert_int_equal(lvsh_run_text(&sh, "destroy; help", "-c", 1,
				       &worst), LVSH_EXIT_USAGE);
	worst = 0;
	assert_int_equal(lvsh_run_text(&sh, "help 'sp", "-c", 0, &worst),
			 LVSH_EXIT_USAGE);
	worst = 0;
	assert_int_equal(lvsh_run_text(&sh, "list; help", "-c", 1, &worst),
			 LVSH_EXIT_UNREACH);
	worst = 0;
	assert_int_equal(lvsh_run_text(&sh, "quit; destroy", "-c", 0, &worst),
			 LVSH_EXIT_OK);
	assert_true(sh.quit);
	assert_int_equal(worst, LVSH_EXIT_OK);
	fclose(sh.out);
	sh.out = stdout;
	lvsh_fini(&sh);
}

/* ---- the man page documents every command and option */

static char *read_man(void)
{
	const char *path = getenv("LVSH_MAN");
	char *buf;
	FILE *f;
	long n;

	if (path == NULL || *path == '\0')
		path = "man/lvsh.1";
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s (run from the repository root or "
			 "set LVSH_MAN): %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = calloc(1, (size_t)n + 2);
	assert_non_null(buf);
	buf[0] = '\n';		/* so every line starts after a '\n' */
	assert_int_equal(fread(buf + 1, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Does some line of man start with prefix, followed by end-of-word? */
static int has_line(const char *man, const char *prefix)
{
	char pat[128];
	const char *p = man;
	size_t n;

	n = (size_t)snprintf(pat, sizeof(pat), "\n%s", prefix);
	while ((p = strstr(p, pat)) != NULL) {
		if (p[n] == ' ' || p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static void test_man_documents_table(void **state)
{
	const struct lvsh_cmd *const *c;
	const struct lvsh_opt *o;
	char want[128];
	char *man = read_man();

	for (c = lvsh_cmds; *c != NULL; c++) {
		snprintf(want, sizeof(want), ".It Ic %s", (*c)->name);
		if (!has_line(man, want))
			fail_msg("man/lvsh.1 lacks '%s'", want);
		for (o = (*c)->opts; o != NULL && o->name != NULL; o++) {
			if (o->kind == LVSH_OPT_KV)
				snprintf(want, sizeof(want),
					 ".It Cm %s Ns = Ns Ar %s", o->name,
					 o->arg);
			else
				snprintf(want, sizeof(want), ".It Fl \\%s",
					 o->name + 1);
			if (!has_line(man, want))
				fail_msg("man/lvsh.1 lacks '%s' (%s option)",
					 want, (*c)->name);
		}
	}
	free(man);
}

/* Every key of the live view (its key table and the sort keys of its
 * columns) has a ".It Cm KEY" line in the man page's Keys list. */
static int has_key_line(const char *man, const char *label)
{
	char want[64];

	snprintf(want, sizeof(want), ".It Cm %s", label);
	if (has_line(man, want))
		return 1;
	snprintf(want, sizeof(want), ".It Cm \\&%s", label);
	return has_line(man, want);
}

static void test_man_documents_top_keys(void **state)
{
	const struct top_key *k;
	char *man = read_man(), key[4];
	int c;

	for (k = top_keys; k->label != NULL; k++)
		if (!has_key_line(man, k->label))
			fail_msg("man/lvsh.1 lacks '.It Cm %s' (top key)", k->label);
	for (c = 0; c < TC_NR; c++) {
		snprintf(key, sizeof(key), "%c", top_columns[c].key);
		if (!has_key_line(man, key))
			fail_msg("man/lvsh.1 lacks '.It Cm %s' (sort key of %s)",
				 key, top_columns[c].title);
	}
	free(man);
}

/* Sort keys and action keys must not collide. */
static void test_top_keys_unique(void **state)
{
	const struct top_key *k, *o;
	int i, j, c;

	for (k = top_keys; k->label != NULL; k++)
		for (i = 0; i < 3 && k->codes[i]; i++) {
			for (c = 0; c < TC_NR; c++)
				assert_int_not_equal(k->codes[i], top_columns[c].key);
			for (o = k + 1; o->label != NULL; o++)
				for (j = 0; j < 3 && o->codes[j]; j++)
					if (o->codes[j] == k->codes[i] &&
					    o->fn != k->fn)
						fail_msg("key %s and %s share a code",
							 k->label, o->label);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_unique_prefix),
		cmocka_unit_test(test_find_ambiguous),
		cmocka_unit_test(test_find_unknown),
		cmocka_unit_test(test_every_name_unique),
		cmocka_unit_test(test_spawn_defaults),
		cmocka_unit_test(test_spawn_options),
		cmocka_unit_test(test_spawn_bad),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_selector_required),
		cmocka_unit_test(test_language),
		cmocka_unit_test(test_man_documents_table),
		cmocka_unit_test(test_man_documents_top_keys),
		cmocka_unit_test(test_top_keys_unique),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
