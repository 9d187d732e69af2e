/*
 * test_vmcfg.c - the VM config parser (proto/vmcfg.c): good files, each
 * kind of error with its file:line[:col], hostile inputs (sizes, lines,
 * nesting, quoting, overflowing numbers, control bytes), directories.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "complete.h"
#include "vmcfg.h"

static struct vmcfg c;
static struct vmcfg_errs e;

static int parse(const char *text)
{
	memset(&e, 0, sizeof(e));
	return vmcfg_parse("t.cfg", text, strlen(text), &c, &e);
}

/* The one error of a failed parse must contain want. */
static void expect_err(const char *text, const char *want)
{
	int rc = parse(text);

	if (rc != -EINVAL || e.n != 1 || !strstr(e.msg[0], want))
		fail_msg("for <<%s>> want one error with '%s', got rc %d, %u errors, first '%s'",
			 text, want, rc, e.n, e.n ? e.msg[0] : "");
}

static void test_good(void **state)
{
	assert_int_equal(parse(
		"# a daytime server\n"
		"name = \"dt\"\n"
		"image = 'daytime'   # from the catalog\n"
		"memory = 8\n"
		"vcpus = 1; maxvcpus = 1\n"
		"maxmem = 8\n"
		"vif = [ 'bridge=lvbr0', ]\n"
		"on_poweroff = \"preserve\"\n"
		"on_reboot = 'restart'\n"
		"on_crash = 'preserve'\n"
		"type = \"pv\"\n"
		"mode = \"noxs\"\n"
		"watchdog = 0x3c\n"), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(c.name, "dt");
	assert_string_equal(c.image, "daytime");
	assert_int_equal(c.mem_bytes, 8u << 20);
	assert_int_equal(c.vcpus, 1);
	assert_int_equal(c.nvifs, 1);
	assert_string_equal(c.bridge, "lvbr0");
	assert_string_equal(c.mode, "noxs");
	assert_true(c.has_watchdog);
	assert_int_equal(c.watchdog_s, 60);
	assert_string_equal(c.cmdline, "");
	assert_false(c.destroy_on_poweroff);
	assert_false(c.destroy_on_crash);
	assert_int_equal(parse("image=noop\non_poweroff='destroy'\non_crash=\"destroy\"\n"), 0);
	assert_true(c.destroy_on_poweroff);
	assert_true(c.destroy_on_crash);
}

static void test_linux(void **state)
{
	assert_int_equal(parse(
		"kernel = \"/boot/vmlinuz\"\r\n"
		"ramdisk = \"/boot/initrd.img\"\r\n"
		"root = \"/dev/ram0\"\r\n"
		"extra = \"console=hvc0 quiet \\\"x\\\"\"\r\n"
		"vif = [\n  '',\n]\n"
		"flavor = '64M/2'"), 0);
	assert_string_equal(c.image, "/boot/vmlinuz");
	assert_string_equal(c.ramdisk, "/boot/initrd.img");
	assert_string_equal(c.cmdline, "root=/dev/ram0 console=hvc0 quiet \"x\"");
	assert_int_equal(c.mem_bytes, 64u << 20);
	assert_int_equal(c.vcpus, 2);
	assert_int_equal(c.nvifs, 1);
	assert_string_equal(c.bridge, "");
	assert_int_equal(parse("image='noop'\ncmdline='a b'\n"), 0);
	assert_string_equal(c.cmdline, "a b");
	assert_int_equal(parse("image='noop'\nvif=[]\n"), 0);
	assert_int_equal(c.nvifs, 0);
	assert_int_equal(parse("image=noop"), 0);   /* a bare word, no newline */
}

static void test_key_errors(void **state)
{
	expect_err("image='noop'\n\ndisk = [ 'phy:/dev/vg/x,xvda,w' ]\n",
		   "t.cfg:3: key 'disk': not supported: lightvm guests have no block devices");
	expect_err("image='noop'\nfrobnicate = 1\n", "t.cfg:2: key 'frobnicate': unknown key");
	expect_err("image='noop'\nmemory = 0\n", "t.cfg:2: key 'memory'");
	expect_err("image='noop'\nmemory = 18446744073709551617\n", "key 'memory': '18446744073709551617' is not");
	expect_err("image='noop'\nmemory = 99999999999999999999999\n", "t.cfg:2: key 'memory'");
	expect_err("image='noop'\nmemory = '16M'\n", "key 'memory': '16M' is not a memory size in MiB");
	expect_err("image='noop'\nvcpus = 1025\n", "key 'vcpus'");
	expect_err("image='noop'\nmemory=8\nmaxmem=16\n", "t.cfg:3: key 'maxmem': must equal 'memory'");
	expect_err("image='noop'\nvcpus=2\nmaxvcpus=4\n", "t.cfg:3: key 'maxvcpus'");
	expect_err("image='noop'\nvif=['mac=00:16:3e:00:00:01']\n", "t.cfg:2: key 'vif': mac= is not supported");
	expect_err("image='noop'\nvif=['ip=10.0.0.2']\n", "key 'vif': ip= is not supported");
	expect_err("image='noop'\nvif=['script=vif-bridge']\n", "key 'vif': script= is not supported");
	expect_err("image='noop'\nvif=['bridge=a;b']\n", "bridge 'a;b' is not an interface name");
	expect_err("image='noop'\nvif=['','']\n", "key 'vif': 2 vifs");
	expect_err("image='noop'\nvif='bridge=x'\n", "key 'vif': expected a list");
	expect_err("image='noop'\non_crash='restart'\n", "t.cfg:2: key 'on_crash': 'restart' is not supported");
	expect_err("image='noop'\non_poweroff='rename-restart'\n", "key 'on_poweroff': 'rename-restart' is not supported");
	expect_err("image='noop'\non_reboot='destroy'\n", "key 'on_reboot'");
	expect_err("image='noop'\nmode='classic'\n", "key 'mode'");
	expect_err("image='noop'\ntype='hvm'\n", "key 'type'");
	expect_err("image='noop'\nwatchdog=86401\n", "key 'watchdog'");
	expect_err("image='noop'\nname='a b'\n", "key 'name'");
	expect_err("image='noop'\nname=''\n", "key 'name': must not be empty");
	expect_err("image='noop'\nname=['x']\n", "key 'name': expected one value, not a list");
	expect_err("image='noop'\nmemory=8\nmemory=8\n", "t.cfg:3: key 'memory': set twice (first on line 2)");
	expect_err("kernel='a'\nimage='b'\n", "t.cfg:2: key 'image': kernel and image both");
	expect_err("image='noop'\nflavor='16M'\n", "key 'flavor'");
	expect_err("image='noop'\nflavor='16M/1'\nmemory=8\n", "key 'flavor': memory differs");
	expect_err("image='noop'\ncmdline='a'\nextra='b'\n", "key 'cmdline': excludes");
	expect_err("memory = 8\n", "t.cfg: no 'kernel' or 'image'");
}

static void test_all_key_errors(void **state)
{
	/* every unsupported key is named, not just the first */
	assert_int_equal(parse("name='x'\nimage='noop'\ndisk=[]\nuuid='u'\n"
			       "cpus='0-1'\nvif=['mac=1,ip=2']\n"), -EINVAL);
	assert_int_equal(e.n, 5);
	assert_non_null(strstr(e.msg[0], "t.cfg:3: key 'disk'"));
	assert_non_null(strstr(e.msg[1], "t.cfg:4: key 'uuid'"));
	assert_non_null(strstr(e.msg[2], "t.cfg:5: key 'cpus'"));
	assert_non_null(strstr(e.msg[3], "t.cfg:6: key 'vif': mac="));
	assert_non_null(strstr(e.msg[4], "t.cfg:6: key 'vif': ip="));
}

static void test_syntax_errors(void **state)
{
	expect_err("image='noop'\nmemory 8\n", "t.cfg:2:8: syntax error: expected '=' after 'memory'");
	expect_err("image='noop\n", "t.cfg:1:7: syntax error: string not closed");
	expect_err("image='noop'\nvif = [ [ 'a' ] ]\n", "t.cfg:2:9: syntax error: lists do not nest");
	expect_err("image='noop'\nvif = [ 'a'\n", "t.cfg:3:1: syntax error: list not closed");
	expect_err("image='noop'\nvif = [ 'a' 'b' ]\n", "t.cfg:2:13: syntax error: expected ',' or ']'");
	expect_err("image='noop'\nvif += [ 'a' ]\n", "t.cfg:2:5: syntax error: '+=' is not supported");
	expect_err("image='noop' memory=8\n", "t.cfg:1:14: syntax error: expected the end of the line");
	expect_err("= 3\n", "t.cfg:1:1: syntax error: expected a key");
	expect_err("image='noop'\nmemory =\n", "t.cfg:2:9: syntax error: expected a value");
	expect_err("image='a\\nb'\n", "t.cfg:1:10: syntax error: unsupported escape");
	expect_err("image='a\tb'\n", "t.cfg:1:9: syntax error: control character 0x09");
	expect_err("image=$x\n", "t.cfg:1:7: syntax error: unexpected '$'");
	expect_err("  123 = 4\n", "t.cfg:1:3: syntax error: expected a key");
	/* a key error before a syntax error is kept too */
	assert_int_equal(parse("disk=[]\nmemory 8\n"), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_non_null(strstr(e.msg[1], "t.cfg:2:8: syntax error"));
}

static void test_hostile(void **state)
{
	static char big[VMCFG_MAX_FILE + 2];
	char buf[64];
	size_t n;
	int rc;

	/* a NUL byte in the text */
	memset(&e, 0, sizeof(e));
	rc = vmcfg_parse("t.cfg", "image='noop'\n\0x=1\n", 18, &c, &e);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(e.msg[0], "t.cfg:2:1: syntax error: unexpected byte 0x00"));
	/* a line over the cap */
	memset(big, 'a', VMCFG_MAX_LINE + 10);
	big[VMCFG_MAX_LINE + 10] = 0;
	memcpy(big, "image='", 7);
	expect_err(big, "t.cfg:1:4097: syntax error: line longer than 4096 bytes");
	/* a file over the cap */
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	expect_err(big, "t.cfg: larger than 65536 bytes");
	/* a string over the cap */
	snprintf(big, sizeof(big), "image='");
	memset(big + 7, 'x', 2000);
	snprintf(big + 2007, 10, "'\n");
	expect_err(big, "t.cfg:1:7: syntax error: string longer than 1024 bytes");
	/* a long key */
	memset(big, 'k', 100);
	snprintf(big + 100, 10, " = 1\n");
	expect_err(big, "t.cfg:1:1: syntax error: word longer than 64 bytes");
	/* too many items */
	snprintf(big, sizeof(big), "image='noop'\nvif=[");
	for (int i = 0; i < 20; i++)
		strcat(big, "'',");
	strcat(big, "]\n");
	expect_err(big, "t.cfg:2:54: syntax error: more than 16 items");
	/* a path that does not fit */
	snprintf(big, sizeof(big), "image='");
	memset(big + 7, 'p', 300);
	snprintf(big + 307, 10, "'\n");
	expect_err(big, "key 'image': longer than 255 bytes");
	/* a command line that does not fit once root= is added */
	snprintf(big, sizeof(big), "image='noop'\nroot='r'\nextra='");
	n = strlen(big);
	memset(big + n, 'e', 899);
	memcpy(big + n + 899, "'\n", 3);
	expect_err(big, "t.cfg:3: key 'extra': root and extra make a command line longer");
	/* many errors: kept up to the cap, the rest counted */
	big[0] = 0;
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "k%d = 1\n", i);
		strcat(big, buf);
	}
	assert_int_equal(parse(big), -EINVAL);
	assert_int_equal(e.n, VMCFG_MAX_ERRS);
	assert_int_equal(e.dropped, 40 + 1 - VMCFG_MAX_ERRS);
	/* values in messages are clipped and made printable */
	expect_err("image='noop'\nmemory='\xff\xfe 123456789012345678901234567890123456789012345'\n",
		   "'?? 1234567890123456789012345678901234567...' is not");
}

static void test_files(void **state)
{
	char dir[] = "/tmp/test_vmcfg.XXXXXX", p[256], **paths;
	size_t n;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/b.cfg", dir);
	f = fopen(p, "w");
	fputs("image = 'noop'\nname = 'b'\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/a.cfg", dir);
	f = fopen(p, "w");
	fputs("image = 'noop'\ndisk = []\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/.hidden.cfg", dir);
	f = fopen(p, "w");
	fclose(f);
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	f = fopen(p, "w");
	fclose(f);
	assert_int_equal(vmcfg_list_dir(dir, &paths, &n, e.msg[0], sizeof(e.msg[0])), 0);
	assert_int_equal(n, 2);
	assert_non_null(strstr(paths[0], "/a.cfg"));
	assert_non_null(strstr(paths[1], "/b.cfg"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(vmcfg_load(paths[0], &c, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "a.cfg:2: key 'disk'"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(vmcfg_load(paths[1], &c, &e), 0);
	assert_string_equal(c.name, "b");
	memset(&e, 0, sizeof(e));
	assert_int_equal(vmcfg_load(dir, &c, &e), -EINVAL);   /* a directory */
	assert_non_null(strstr(e.msg[0], "not a regular file"));
	/* a file over the cap is refused before it is read */
	snprintf(p, sizeof(p), "%s/big.cfg", dir);
	f = fopen(p, "w");
	for (int i = 0; i < 70000; i++)
		fputc('\n', f);
	fclose(f);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vmcfg_load(p, &c, &e), -EFBIG);
	for (size_t i = 0; i < n; i++)
		unlink(paths[i]);
	unlink(p);
	snprintf(p, sizeof(p), "%s/.hidden.cfg", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	unlink(p);
	vmcfg_free_list(paths, n);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(vmcfg_list_dir(dir, &paths, &n, e.msg[0], sizeof(e.msg[0])), -ENOENT);
}

/* lvsh create FILE: completion offers file names (directories with '/');
 * pool's two forms */
static void test_complete_file(void **state)
{
	char dir[] = "/tmp/test_vmcfg.XXXXXX", p[256], line[300];
	struct lvsh_completion cand;
	struct lvsh sh;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/web.cfg", dir);
	assert_non_null(f = fopen(p, "w"));
	fclose(f);
	snprintf(p, sizeof(p), "%s/vms", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	lvsh_init(&sh);
	snprintf(line, sizeof(line), "create %s/w", dir);
	assert_int_equal(lvsh_complete(&sh, line, strlen(line), &cand), 0);
	assert_int_equal(cand.n, 1);
	snprintf(p, sizeof(p), "%s/web.cfg", dir);
	assert_string_equal(cand.words[0], p);
	assert_false(cand.no_space);
	lvsh_completion_free(&cand);
	/* the snapshot commands: save's and restore's FILE, migrate's SOCKET */
	snprintf(line, sizeof(line), "restore %s/w", dir);
	assert_int_equal(lvsh_complete(&sh, line, strlen(line), &cand), 0);
	assert_int_equal(cand.n, 1);
	lvsh_completion_free(&cand);
	snprintf(line, sizeof(line), "save all %s/w", dir);
	assert_int_equal(lvsh_complete(&sh, line, strlen(line), &cand), 0);
	assert_int_equal(cand.n, 1);
	lvsh_completion_free(&cand);
	snprintf(line, sizeof(line), "migrate vm1 %s/w", dir);
	assert_int_equal(lvsh_complete(&sh, line, strlen(line), &cand), 0);
	assert_int_equal(cand.n, 1);
	snprintf(p, sizeof(p), "%s/web.cfg", dir);
	assert_string_equal(cand.words[0], p);
	lvsh_completion_free(&cand);
	snprintf(line, sizeof(line), "cr %s/v", dir);
	assert_int_equal(lvsh_complete(&sh, line, strlen(line), &cand), 0);
	assert_int_equal(cand.n, 1);
	snprintf(p, sizeof(p), "%s/vms/", dir);
	assert_string_equal(cand.words[0], p);
	assert_true(cand.no_space);
	lvsh_completion_free(&cand);
	/* a usage of two forms: pool [set FLAVOR N | preload IMAGE|last|off] */
	assert_int_equal(lvsh_complete(&sh, "pool ", 5, &cand), 0);
	assert_int_equal(cand.n, 2);
	assert_string_equal(cand.words[0], "preload");
	assert_string_equal(cand.words[1], "set");
	lvsh_completion_free(&cand);
	assert_int_equal(lvsh_complete(&sh, "pool preload l", 14, &cand), 0);
	assert_int_equal(cand.n, 1);
	assert_string_equal(cand.words[0], "last");
	lvsh_completion_free(&cand);
	assert_int_equal(lvsh_complete(&sh, "pool set l", 10, &cand), 0);
	assert_int_equal(cand.n, 0);   /* set's FLAVOR: nothing to offer */
	lvsh_completion_free(&cand);
	assert_int_equal(lvsh_complete(&sh, "pool preload last ", 18, &cand), 0);
	assert_int_equal(cand.n, 0);
	lvsh_completion_free(&cand);
	lvsh_fini(&sh);
	snprintf(p, sizeof(p), "%s/web.cfg", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/vms", dir);
	rmdir(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_linux),
		cmocka_unit_test(test_key_errors),
		cmocka_unit_test(test_all_key_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_complete_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
