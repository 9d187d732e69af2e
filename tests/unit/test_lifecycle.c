/*
 * test_lifecycle.c - the core's VM model and lifecycle against a fake
 * driver behind the ops table: naming, lookups, state transitions and
 * their events, destroy, spawns on pooled slots (prepare/discard; the
 * pool's own accounting is test_pool.c's), image validation errors,
 * restarts (records of half-created VMs kept for a shell that reports).
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

/* ---- the fake driver */
static struct lv_vm *fake_vms[64];
static int fake_n, fake_destroys, fake_slots;
static int events[LV_EV_NR];
static enum lv_event last_ev;

static int f_open(struct lv_host *h, struct lv_driver **out) { *out = (void *)h; return 0; }
static void f_close(struct lv_driver *d) {}
/* A spawn on a ready slot of its flavor, or without one. */
static int f_start(struct lv_driver *d, struct lv_vm *vm, int fd)
{
	struct lv_pool_slot *slot = lv__pool_claim(vm->host, vm->info.mem_bytes, vm->info.vcpus);

	vm->info.pooled = slot != NULL;
	if (slot) {
		free(slot);
		fake_slots--;
	}
	fake_vms[fake_n++] = vm;
	return 0;
}
static int f_pause(struct lv_driver *d, struct lv_vm *vm) { lv__vm_state(vm, LV_ST_PAUSED, NULL); return 0; }
static int f_unpause(struct lv_driver *d, struct lv_vm *vm) { lv__vm_state(vm, LV_ST_RUNNING, NULL); return 0; }
static int f_shutdown(struct lv_driver *d, struct lv_vm *vm) { return 0; }
static int f_destroy(struct lv_driver *d, struct lv_vm *vm)
{
	fake_destroys++;
	lv__vm_released(vm);
	return 0;
}
/* Slots are prepared at once (d is the host: see f_open). */
static int f_prepare(struct lv_driver *d, struct lv_pool_flavor *fl, uint64_t m, uint32_t v)
{
	struct lv_pool_slot *slot = calloc(1, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	fake_slots++;
	if (!lv__pool_ready((struct lv_host *)d, fl, slot)) {
		free(slot);
		fake_slots--;
	}
	return 0;
}
static void f_discard(struct lv_driver *d, struct lv_pool_slot *slot)
{
	free(slot);
	fake_slots--;
}

static const struct lv_driver_ops fake_ops = {
	.name = "fake", .open = f_open, .close = f_close, .start = f_start,
	.pause = f_pause, .unpause = f_unpause, .shutdown = f_shutdown,
	.destroy = f_destroy, .prepare = f_prepare, .discard = f_discard,
};

/* lv_pool_preload's driver side: records what it was handed */
static struct { int calls, mode, fd_valid, st_ok; off_t size; } fpre;
static int f_preload(struct lv_driver *d, int mode, int fd, const struct stat *known,
		     char *err, size_t len)
{
	struct stat st;

	fpre.calls++;
	fpre.mode = mode;
	fpre.fd_valid = fd >= 0 && fstat(fd, &st) == 0;
	fpre.size = fpre.fd_valid ? st.st_size : -1;
	fpre.st_ok = fpre.fd_valid ? known && known->st_ino == st.st_ino && known->st_size == st.st_size
				   : known == NULL;
	return 0;
}
static const struct lv_driver_ops preload_ops = {
	.name = "fake", .open = f_open, .close = f_close, .start = f_start,
	.pause = f_pause, .unpause = f_unpause, .shutdown = f_shutdown,
	.destroy = f_destroy, .prepare = f_prepare, .discard = f_discard,
	.preload = f_preload,
};

static int f_attach(struct lv_driver *d, struct lv_vm *vm) { return -ESRCH; }
/* A driver whose live shells may report in after a restart. */
static const struct lv_driver_ops adopt_ops = {
	.name = "fake", .open = f_open, .close = f_close, .start = f_start,
	.pause = f_pause, .unpause = f_unpause, .shutdown = f_shutdown,
	.destroy = f_destroy, .attach = f_attach, .adopts = true,
};

static void on_event(void *ctx, struct lv_vm *vm, enum lv_event ev)
{
	events[ev]++;
	last_ev = ev;
}

static int no_watch(void *c, int fd, lv_fd_cb cb, void *a) { return 0; }
static void no_unwatch(void *c, int fd) {}

static char imgdir[64];
static const char *dirs[2];

/* A minimal valid guest ELF: one PT_LOAD at 1 MiB holding the entry. */
static void write_image(const char *path)
{
	uint8_t buf[256] = { 0 };
	FILE *f;

	memcpy(buf, "\177ELF", 4);
	buf[4] = 2; buf[5] = 1; buf[6] = 1;
	*(uint16_t *)(buf + 16) = 2;            /* ET_EXEC */
	*(uint16_t *)(buf + 18) = 62;           /* EM_X86_64 */
	*(uint32_t *)(buf + 20) = 1;
	*(uint64_t *)(buf + 24) = 0x100000;     /* entry */
	*(uint64_t *)(buf + 32) = 64;           /* phoff */
	*(uint16_t *)(buf + 52) = 64;
	*(uint16_t *)(buf + 54) = 56;
	*(uint16_t *)(buf + 56) = 1;
	*(uint32_t *)(buf + 64) = 1;            /* PT_LOAD */
	*(uint32_t *)(buf + 68) = 5;            /* R+X */
	*(uint64_t *)(buf + 72) = 0;
	*(uint64_t *)(buf + 80) = 0x100000;
	*(uint64_t *)(buf + 88) = 0x100000;
	*(uint64_t *)(buf + 96) = 256;
	*(uint64_t *)(buf + 104) = 256;
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
	fclose(f);
}

static int setup(void **state)
{
	struct lv_host_config cfg = { 0 };
	struct lv_host *h;
	char path[128];

	snprintf(imgdir, sizeof(imgdir), "/tmp/lvunit.%d", (int)getpid());
	mkdir(imgdir, 0755);
	snprintf(path, sizeof(path), "%s/noop", imgdir);
	write_image(path);
	snprintf(path, sizeof(path), "%s/junk", imgdir);
	FILE *f = fopen(path, "w");
	fputs("not an elf at all", f);
	fclose(f);
	dirs[0] = imgdir;
	dirs[1] = NULL;
	lv_test_ops = &fake_ops;
	cfg.driver = "fake";
	cfg.state_dir = imgdir;
	cfg.image_dirs = dirs;
	cfg.loop = (struct lv_loop){ NULL, no_watch, no_unwatch };
	cfg.event = on_event;
	assert_int_equal(lv_host_open(&cfg, &h), 0);
	memset(events, 0, sizeof(events));
	fake_n = fake_destroys = fake_slots = 0;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	lv_host_close(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", imgdir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static struct lv_vm *spawn(struct lv_host *h, const char *img, const char *prefix)
{
	struct lv_spawn sp = { .image = img, .prefix = prefix, .image_fd = -1 };
	struct lv_vm *vm = NULL;
	char err[256];

	assert_int_equal(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)), 0);
	return vm;
}

static void test_names_unique(void **state)
{
	struct lv_host *h = *state;
	struct lv_vm *a = spawn(h, "noop", NULL), *b = spawn(h, "noop", NULL);
	struct lv_vm *c = spawn(h, "noop", "web");

	assert_string_equal(lv_vm_info(a)->name, "noop-1");
	assert_string_equal(lv_vm_info(b)->name, "noop-2");
	assert_string_equal(lv_vm_info(c)->name, "web-1");
	assert_ptr_equal(lv_vm_lookup(h, "noop-2"), b);
	assert_ptr_equal(lv_vm_by_id(h, lv_vm_info(c)->id), c);
	assert_null(lv_vm_lookup(h, "noop-3"));
	assert_int_equal(lv_host_count(h, NULL), 3);
	assert_int_equal(events[LV_EV_SPAWNED], 3);
	assert_int_equal(lv_vm_info(a)->mem_bytes, 4u << 20);
}

static void test_lifecycle_events(void **state)
{
	struct lv_host *h = *state;
	struct lv_vm *vm = spawn(h, "noop", NULL);
	unsigned by[LV_ST_NR];

	assert_int_equal(lv_vm_info(vm)->state, LV_ST_PREPARED);
	lv__vm_state(vm, LV_ST_BOOTING, NULL);
	assert_int_equal(last_ev, LV_EV_STARTED);
	/* pausing a VM that is not running is refused before the driver */
	lv__vm_state(vm, LV_ST_RUNNING, NULL);
	assert_int_equal(last_ev, LV_EV_READY);
	assert_int_equal(lv_vm_pause(vm), 0);
	assert_int_equal(lv_vm_info(vm)->state, LV_ST_PAUSED);
	assert_int_equal(last_ev, LV_EV_PAUSED);
	assert_int_equal(lv_vm_unpause(vm), 0);
	assert_int_equal(last_ev, LV_EV_UNPAUSED);
	assert_int_equal(lv_vm_shutdown(vm), 0);
	assert_int_equal(lv_vm_info(vm)->state, LV_ST_SHUTTING_DOWN);
	lv__vm_state(vm, LV_ST_SHUTOFF, "guest powered off (code 0)");
	assert_int_equal(last_ev, LV_EV_SHUTOFF);
	assert_string_equal(lv_vm_info(vm)->reason, "guest powered off (code 0)");
	/* final states are final */
	lv__vm_state(vm, LV_ST_RUNNING, NULL);
	assert_int_equal(lv_vm_info(vm)->state, LV_ST_SHUTOFF);
	assert_int_equal(lv_vm_pause(vm), -EINVAL);
	lv_host_count(h, by);
	assert_int_equal(by[LV_ST_SHUTOFF], 1);
	assert_int_equal(by[LV_ST_RUNNING], 0);
}

static void test_destroy_frees(void **state)
{
	struct lv_host *h = *state;
	struct lv_vm *vm = spawn(h, "noop", NULL);

	assert_int_equal(lv_vm_destroy(vm), 0);
	assert_int_equal(fake_destroys, 1);
	assert_int_equal(events[LV_EV_DESTROYED], 1);
	assert_null(lv_vm_lookup(h, "noop-1"));
	assert_int_equal(lv_host_count(h, NULL), 0);
	/* the name counter does not go back: names are not reused at once */
	vm = spawn(h, "noop", NULL);
	assert_string_equal(lv_vm_info(vm)->name, "noop-2");
}

static void test_failed_and_crashed(void **state)
{
	struct lv_host *h = *state;
	struct lv_vm *vm = spawn(h, "noop", NULL);

	lv__vm_failed(vm, -ENOEXEC, "image is bad");
	assert_int_equal(lv_vm_info(vm)->state, LV_ST_CRASHED);
	assert_int_equal(last_ev, LV_EV_FAILED);
	vm = spawn(h, "noop", NULL);
	lv__vm_state(vm, LV_ST_BOOTING, NULL);
	lv__vm_state(vm, LV_ST_CRASHED, "triple fault");
	assert_int_equal(last_ev, LV_EV_CRASHED);
	assert_string_equal(lv_vm_info(vm)->reason, "triple fault");
}

static void test_spawn_errors(void **state)
{
	struct lv_host *h = *state;
	struct lv_spawn sp = { .image = "nosuch", .image_fd = -1 };
	struct lv_vm *vm = NULL;
	char err[256];

	assert_int_equal(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "unknown image 'nosuch'"));
	sp.image = "junk";
	assert_int_equal(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)), -ENOEXEC);
	sp.image = "../etc/passwd";
	assert_true(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)) < 0);
	sp.image = "noop";
	sp.name = "bad name!";
	assert_int_equal(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)), -EINVAL);
	sp.name = "x";
	sp.vcpus = 4;
	assert_int_equal(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)), -EINVAL);
	sp.vcpus = 1;
	sp.mem_bytes = 8ull << 30;
	assert_int_equal(lv_vm_spawn(h, &sp, &vm, err, sizeof(err)), -ERANGE);
	assert_int_equal(lv_host_count(h, NULL), 0);
	assert_int_equal(fake_n, 0);
}

static void test_pooled_spawns(void **state)
{
	struct lv_host *h = *state;
	struct lv_pool_info pi;

	assert_int_equal(lv_pool_set(h, 4u << 20, 1, 2), 0);
	assert_int_equal(fake_slots, 2);
	assert_true(lv_vm_info(spawn(h, "noop", NULL))->pooled);
	assert_true(lv_vm_info(spawn(h, "noop", NULL))->pooled);
	assert_false(lv_vm_info(spawn(h, "noop", NULL))->pooled);
	assert_int_equal(lv_pool_list(h, &pi, 1), 1);
	assert_int_equal(pi.hits, 2);
	assert_int_equal(pi.misses, 1);
	assert_int_equal(lv_pool_set(h, 3u << 20, 1, 1), -EINVAL);
	assert_int_equal(lv_pool_set(h, 4u << 20, 2, 1), -EINVAL);
	lv_host_tick(h);                  /* refills the two claimed slots */
	assert_int_equal(fake_slots, 2);
}

static struct lv_vm_info half_created(const char *name, uint32_t id)
{
	struct lv_vm_info i = { .id = id, .state = LV_ST_BOOTING, .pid = -1,
				.mem_bytes = 4u << 20, .vcpus = 1 };

	snprintf(i.name, sizeof(i.name), "%s", name);
	snprintf(i.image, sizeof(i.image), "noop");
	return i;
}

/* A record written before its shell's pid: dropped where the driver
 * cannot adopt, else kept aside for the shell that reports that name
 * and id (once), and freed by lv_host_close if none did. */
/* issue 14: a VM from a snapshot boots as "restoring" (its own state,
 * counted apart, pausable as booting), then runs; migration phases */
static void test_restoring_state(void **state)
{
	struct lv_host *h = *state;
	struct lv_vm *vm = spawn(h, "noop", NULL);
	unsigned by[LV_ST_NR];

	vm->from_snapshot = true;
	lv__vm_state(vm, LV_ST_BOOTING, NULL);
	assert_int_equal(lv_vm_info(vm)->state, LV_ST_RESTORING);
	assert_int_equal(last_ev, LV_EV_STARTED);
	assert_true(lv_state_is_booting(LV_ST_RESTORING));
	lv_host_count(h, by);
	assert_int_equal(by[LV_ST_RESTORING], 1);
	assert_int_equal(by[LV_ST_BOOTING], 0);
	lv__vm_state(vm, LV_ST_RUNNING, NULL);
	assert_int_equal(last_ev, LV_EV_READY);
	assert_string_equal(lv_state_name(LV_ST_RESTORING), "restoring");
	assert_string_equal(lv_state_name(LV_ST_MIGRATING), "migrating");
	assert_int_equal(lv_state_parse("migrating"), LV_ST_MIGRATING);
	assert_string_equal(lv_event_name(LV_EV_MIGRATING), "migrating");
	lv_vm_migrate_phase(vm, LV_MPH_HELD, 5);
	lv_vm_migrate_phase(vm, LV_MPH_REQUEST, 3);
	assert_int_equal(lv_vm_info(vm)->t_migrate[LV_MPH_HELD], 0);
	assert_int_equal(lv_vm_info(vm)->t_migrate[LV_MPH_REQUEST], 3);
	assert_string_equal(lv_migrate_phase_name(LV_MPH_ENDED), "migrate-ended");
	assert_string_equal(lv_save_phase_name(3, true), "save-ended");
	assert_null(lv_save_phase_name(4, false));
}

static void test_restore_half_created(void **state)
{
	struct lv_host *h = *state;
	struct lv_vm_info i = half_created("web-1", 7), got;
	struct lv_vm *vm = NULL;

	assert_int_equal(lv_vm_restore(h, &i, &vm), -ESRCH);
	h->ops = &adopt_ops;
	assert_int_equal(lv_vm_restore(h, &i, &vm), -EINPROGRESS);
	i = half_created("web-2", 8);
	assert_int_equal(lv_vm_restore(h, &i, &vm), -EINPROGRESS);
	assert_null(lv_vm_lookup(h, "web-1"));
	assert_int_equal(lv_host_count(h, NULL), 0);
	lv_host_restore_done(h);
	assert_false(lv__vm_limbo_take(h, "web-1", 8, &got));   /* name and id */
	assert_false(lv__vm_limbo_take(h, "web-3", 7, &got));
	assert_true(lv__vm_limbo_take(h, "web-1", 7, &got));
	assert_string_equal(got.image, "noop");
	assert_int_equal(got.mem_bytes, 4u << 20);
	assert_false(lv__vm_limbo_take(h, "web-1", 7, &got));   /* once */
	h->ops = &fake_ops;   /* web-2 stays for lv_host_close (ASan: no leak) */
}

/* lv_image_extras after lv_image_open: a regular file has no extras; an
 * image directory has its own, whatever its name (one named "kernel"
 * opens as DIR/kernel/kernel). */
/* lv_pool_preload: an image checked as a spawn's reaches the driver
 * open; "last" and "off" reach it as modes; bad names are refused by
 * name and leave the setting as it was; a driver without preloads says
 * so. */
static void test_pool_preload(void **state)
{
	struct lv_host *h = *state;
	char err[512], big[300];

	assert_null(lv_pool_preload_name(h));
	assert_int_equal(lv_pool_preload(h, "noop", err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "hold no image"));
	h->ops = &preload_ops;
	assert_string_equal(lv_pool_preload_name(h), "last");
	memset(&fpre, 0, sizeof(fpre));
	assert_int_equal(lv_pool_preload(h, "noop", err, sizeof(err)), 0);
	assert_int_equal(fpre.mode, LV_PRELOAD_IMAGE);
	assert_true(fpre.fd_valid);
	assert_int_equal(fpre.size, 256);
	assert_true(fpre.st_ok);   /* the open's stat comes along */
	assert_string_equal(lv_pool_preload_name(h), "noop");
	/* refused: the setting stays noop, the driver is not called */
	fpre.calls = 0;
	assert_int_equal(lv_pool_preload(h, "nosuch", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nosuch"));
	assert_int_equal(lv_pool_preload(h, "junk", err, sizeof(err)), -ENOEXEC);
	assert_int_equal(lv_pool_preload(h, "no\033[2Jpe", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control character (0x1b)"));
	assert_int_equal(lv_pool_preload(h, "", err, sizeof(err)), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(lv_pool_preload(h, big, err, sizeof(err)), -EINVAL);
	assert_int_equal(fpre.calls, 0);
	assert_string_equal(lv_pool_preload_name(h), "noop");
	assert_int_equal(lv_pool_preload(h, "off", err, sizeof(err)), 0);
	assert_int_equal(fpre.mode, LV_PRELOAD_OFF);
	assert_false(fpre.fd_valid);
	assert_true(fpre.st_ok);
	assert_string_equal(lv_pool_preload_name(h), "off");
	assert_int_equal(lv_pool_preload(h, "last", err, sizeof(err)), 0);
	assert_int_equal(fpre.mode, LV_PRELOAD_LAST);
	assert_string_equal(lv_pool_preload_name(h), "last");
	h->ops = &fake_ops;
}

static void test_image_extras(void **state)
{
	struct lv_host *h = *state;
	char path[160], rd[256], cl[256], err[256];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/kernel", imgdir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/kernel/kernel", imgdir);
	write_image(path);
	snprintf(path, sizeof(path), "%s/kernel/cmdline", imgdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("console=hvc0\n", f);
	fclose(f);
	for (int round = 0; round < 2; round++) {   /* the second: kept images */
		fd = lv_image_open(h, "noop", 4u << 20, err, sizeof(err));
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(lv_image_extras(h, "noop", rd, sizeof(rd), cl, sizeof(cl), err, sizeof(err)), 0);
		assert_string_equal(cl, "");
		fd = lv_image_open(h, "kernel", 4u << 20, err, sizeof(err));
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(lv_image_extras(h, "kernel", rd, sizeof(rd), cl, sizeof(cl), err, sizeof(err)), 0);
		assert_string_equal(cl, "console=hvc0");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_and_crashed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pooled_spawns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_half_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restoring_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_extras, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_preload, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
