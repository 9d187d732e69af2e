/*
 * fuzz_shellmsg.c - libFuzzer target: messages from a KVM shell as a
 * guest that escaped into it may send them (core/kvm/kvm_driver.c,
 * compiled in), on a channel in each state the driver knows (a pooled
 * shell that was sent a PRELOAD, a VM's shell, one re-attaching after a
 * restart, an orphan).
 * No crash or leak; a HELLO with a name outside the VM-name rule never
 * touches a file (the console dir does not exist here anyway).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/kvm/kvm_driver.c"

static int f_open(struct lv_host *h, struct lv_driver **out) { *out = (void *)h; return 0; }
static void f_close(struct lv_driver *drv) {}
static int f_start(struct lv_driver *drv, struct lv_vm *vm, int fd) { return 0; }
static int f_nop(struct lv_driver *drv, struct lv_vm *vm) { return 0; }
static int f_destroy(struct lv_driver *drv, struct lv_vm *vm)
{
	lv__vm_released(vm);
	return 0;
}

/* the core's attach goes to the KVM driver under test (an adopted or
 * re-attached shell takes the channel in d->adopting) */
static struct kvm_driver *gd;
static int f_attach(struct lv_driver *drv, struct lv_vm *vm)
{
	return kvm_attach((struct lv_driver *)gd, vm);
}

static const struct lv_driver_ops fake_ops = {
	.name = "fake", .open = f_open, .close = f_close, .start = f_start,
	.pause = f_nop, .unpause = f_nop, .shutdown = f_nop, .destroy = f_destroy,
	.attach = f_attach,
};

static int no_watch(void *c, int fd, lv_fd_cb cb, void *a) { return 0; }
static void no_unwatch(void *c, int fd) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *dirs[] = { "/nonexistent", NULL };
	struct lv_host_config cfg = { 0 };
	struct kvm_driver d = { 0 };
	struct kvm_shell *s;
	struct lv_host *h;
	struct lv_vm *vm = NULL;

	if (size < 1)
		return 0;
	lv_test_ops = &fake_ops;
	cfg.driver = "fake";
	cfg.state_dir = "/nonexistent";
	cfg.image_dirs = dirs;
	cfg.loop = (struct lv_loop){ NULL, no_watch, no_unwatch };
	if (lv_host_open(&cfg, &h))
		abort();
	d.h = h;
	gd = &d;
	snprintf(d.console_dir, sizeof(d.console_dir), "/nonexistent/console");
	snprintf(d.sock_dir, sizeof(d.sock_dir), "/nonexistent/shells");
	d.pre.fd = -1;
	d.pre.token = 1;   /* a pooled shell was sent PRELOAD 1: its PRELOADED */
	s = calloc(1, sizeof(*s));
	s->d = &d;
	s->fd = -1;
	s->logfd = -1;
	s->pid = 999999999;
	switch (data[0] % 4) {
	case 0: s->pre_sent = 1; break;      /* a pooled shell */
	case 1: s->attaching = true; /* fall through */
	case 2: {                            /* a VM's shell */
		struct lv_vm_info i = { .name = "vm1", .id = 7, .state = LV_ST_PAUSED,
					.mem_bytes = 4 << 20, .vcpus = 1, .pid = 999999999 };

		d.adopting = s;
		if (lv_vm_restore(h, &i, &vm))
			abort();
		d.adopting = NULL;
		s->orphan = false;
		s->prepared = true;
		break;
	}
	case 3: s->orphan = true; s->prepared = true; break;
	}
	for (size_t off = 1; off + sizeof(struct kvm_msg) <= size && !s->bad;
	     off += sizeof(struct kvm_msg)) {
		struct kvm_msg m;

		memcpy(&m, data + off, sizeof(m));
		shell_msg(s, &m);
	}
	if (s->vm)
		s->vm->drv = NULL;
	free(s);
	lv_host_close(h);
	return 0;
}
