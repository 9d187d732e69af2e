/*
 * test_config.c - lightvmd.conf (agent/config.c and the limit keys of
 * agent/budget.c, compiled in here): defaults from the protocol's
 * limits, every key, pool flavors read by the same rule as lvsh and the
 * core ("4M" is 4M/1), and hostile files: unknown keys, missing '=',
 * empty values, lines too long, NUL bytes, out-of-range numbers, too many
 * pools, a missing file.  Every error names the file and line.
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
#include <cmocka.h>

#include "../../agent/config.c"
#include "../../agent/budget.c"

static char path[64];
static char err[512];

static void write_conf(const char *text, size_t len)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/lv-test-config-%d.conf", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* load text as a config file into a fresh config; the rc */
static int load_text(struct agent_config *c, const char *text)
{
	config_init(c);
	write_conf(text, strlen(text));
	err[0] = 0;
	return config_load(c, path, err, sizeof(err));
}

static void expect_rc(int rc, const char *text, const char *needle)
{
	struct agent_config c;

	assert_int_equal(load_text(&c, text), rc);
	if (!strstr(err, needle) || !strstr(err, path))
		fail_msg("config '%s': error '%s' lacks '%s' or the file name", text, err, needle);
	config_free(&c);
}

static void expect_err(const char *text, const char *needle)
{
	expect_rc(-EINVAL, text, needle);
}

static void test_defaults(void **state)
{
	struct agent_config c;

	unsetenv("LIGHTVM_SOCKET");
	config_init(&c);
	assert_string_equal(c.socket, LV_PROTO_DEFAULT_SOCKET);
	assert_string_equal(c.state_dir, LV_PROTO_DEFAULT_STATE_DIR);
	assert_int_equal(c.npools, 1);
	assert_string_equal(c.pools[0].flavor, "4M/1");
	assert_int_equal(c.pools[0].mem, LV_PROTO_MEM_DEFAULT);
	assert_int_equal(c.pools[0].vcpus, 1);
	config_free(&c);
}

static void test_keys(void **state)
{
	struct agent_config c;

	assert_int_equal(load_text(&c,
		"# a comment\n"
		"  socket = /tmp/x.sock   # trailing comment\n"
		"state-dir = /tmp/state\n"
		"driver = kvm\n"
		"image-dir = /img\n"
		"group = g\nadmin-group = ag\n"
		"stop-vms = yes\n"
		"metrics = 127.0.0.1:9100\n"
		"net-bridge = br9\nnet-subnet = 10.9.0.0/16\n"
		"watchdog = 30\nboot-timeout = 5000\n"
		"max-waits = 5\n"
		"pool 4M/1 = 8\n"
		"pool 8M = 2\n"
		"pool-preload = daytime\n"), 0);
	assert_string_equal(c.socket, "/tmp/x.sock");
	assert_string_equal(c.pool_preload, "daytime");
	assert_string_equal(c.state_dir, "/tmp/state");
	assert_string_equal(c.driver, "kvm");
	assert_string_equal(c.image_dirs[0], "/img");
	assert_string_equal(c.group, "g");
	assert_string_equal(c.admin_group, "ag");
	assert_true(c.stop_vms);
	assert_string_equal(c.metrics, "127.0.0.1:9100");
	assert_string_equal(c.net_bridge, "br9");
	assert_int_equal(c.watchdog_s, 30);
	assert_int_equal(c.boot_timeout_ms, 5000);
	assert_int_equal(g_limits.max_waits, 5);
	assert_int_equal(c.npools, 2);
	assert_int_equal(c.pools[0].target, 8);
	assert_int_equal(c.pools[1].mem, 8u << 20);
	assert_int_equal(c.pools[1].vcpus, 1);
	config_free(&c);
}

/* "4M" and "4M/1" are one pool, as for lvsh and the core */
static void test_pool_flavors(void **state)
{
	struct agent_config c;

	assert_int_equal(load_text(&c, "pool 4M = 3\n"), 0);
	assert_int_equal(c.npools, 1);
	assert_int_equal(c.pools[0].target, 3);
	config_free(&c);
	assert_int_equal(load_text(&c, "pool 1G/1 = 0\npool 2M = 20000\n"), 0);
	assert_int_equal(c.npools, 3);
	config_free(&c);
	/* a pool of Linux shells is another pool than the unikernels' */
	assert_int_equal(load_text(&c, "pool 64M/linux = 2\npool 64M = 1\npool 64M/1/linux = 3\n"), 0);
	assert_int_equal(c.npools, 3);
	assert_int_equal(c.pools[1].kind, LV_KIND_LINUX);
	assert_int_equal(c.pools[1].target, 3);
	assert_int_equal(c.pools[2].kind, LV_KIND_UNIKERNEL);
	config_free(&c);
	expect_err("pool 64M/lnx = 1\n", "bad pool flavor");
	expect_err("pool 64M/linux/linux = 1\n", "bad pool flavor");
	expect_err("pool 3M = 1\n", "2M to 1G in 2M steps");
	expect_err("pool 2G = 1\n", "bad pool flavor");
	expect_err("pool 4M/2 = 1\n", "1 vCPU");
	expect_err("pool 0 = 1\n", "bad pool flavor");
	expect_err("pool x = 1\n", "bad pool flavor");
	expect_err("pool 4M = 20001\n", "0 .. 20000");
	expect_err("pool 4M = -1\n", "bad pool size");
	expect_err("pool 4M = 99999999999999999999999\n", "bad pool size");
}

static void test_hostile(void **state)
{
	struct agent_config c;
	char big[2100];

	expect_err("nonsense = 1\n", "unknown key 'nonsense'");
	expect_err("socket\n", "expected 'key = value'");
	expect_err("socket =   \n", "'socket' has no value");
	expect_err("stop-vms = maybe\n", "stop-vms is yes or no");
	expect_err("watchdog = 86401\n", "bad watchdog");
	expect_err("watchdog = 1x\n", "bad watchdog");
	expect_err("boot-timeout = 600001\n", "bad boot-timeout");
	expect_err("max-waits = 1Q\n", "bad max-waits");
	expect_err("\n\n\nbogus = 2\n", ":4:");        /* the line is named */
	memset(big, 'a', sizeof(big) - 2);             /* a line over 1 KiB */
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = 0;
	expect_err(big, "line too long");
	memcpy(big, "pool-preload = ", 15);             /* a value over 255 bytes */
	big[400] = '\n';
	big[401] = 0;
	expect_err(big, "pool-preload is longer than 255 bytes");
	/* a NUL byte ends the line for the parser: "socket" without '=' */
	config_init(&c);
	write_conf("socket\0= /x\n", 12);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -EINVAL);
	config_free(&c);
	/* more pools than the agent keeps */
	{
		char text[2048] = "";
		size_t off = 0;

		for (unsigned i = 1; i <= LV_MAX_POOLS + 1; i++)
			off += (size_t)snprintf(text + off, sizeof(text) - off, "pool %uM = 1\n", 2 * i);
		expect_rc(-E2BIG, text, "too many pools");
	}
}

static void test_missing_and_cli(void **state)
{
	struct agent_config c;

	config_init(&c);
	assert_int_equal(config_load(&c, "/nonexistent/lightvmd.conf", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/lightvmd.conf"));
	config_free(&c);
	/* the command line wins over the file */
	config_init(&c);
	c.socket = "/cli.sock";
	c.cli_socket = true;
	write_conf("socket = /file.sock\n", 20);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.socket, "/cli.sock");
	/* SIGHUP: only pools are read again */
	write_conf("socket = /other.sock\npool 6M = 4\n", 32);
	assert_int_equal(config_reload_pools(&c, err, sizeof(err)), 0);
	assert_string_equal(c.socket, "/cli.sock");
	assert_int_equal(c.npools, 2);
	config_free(&c);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_pool_flavors),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_missing_and_cli),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
