/*
 * vm.c - the host and the VM registry: records, the lifecycle state
 * machine, unique names (PREFIX-N) and O(1) lookups by name and id.
 * Drivers report progress through the lv__vm_* calls at the bottom.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lv_internal.h"
#include "hostnet.h"
#include "kvm/vmsetup.h"

const struct lv_driver_ops *lv_test_ops;

struct lv_prefix {
	struct lv_prefix *next;
	unsigned long next_n;
	char name[LV_VM_NAME_MAX];
};

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

void lv__log(struct lv_host *h, enum lv_log_level lvl, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!h->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	h->cfg.log(h->cfg.cb_ctx, lvl, buf);
}

static void limbo_expire(struct lv_host *h, bool all);

static void emit(struct lv_vm *vm, enum lv_event ev)
{
	struct lv_host *h = vm->host;

	if (h->cfg.event)
		h->cfg.event(h->cfg.cb_ctx, vm, ev);
}

/* ---- hash tables (names, ids), grown at load factor 1 */

static int table_grow(struct lv_host *h)
{
	unsigned n = h->nbuckets ? h->nbuckets * 2 : 1024;
	struct lv_vm **names = calloc(n, sizeof(*names));
	struct lv_vm **ids = calloc(n, sizeof(*ids));

	if (!names || !ids) {
		free(names);
		free(ids);
		return -ENOMEM;
	}
	for (struct lv_vm *vm = h->first; vm; vm = vm->next) {
		uint32_t b = hash_str(vm->info.name) & (n - 1);

		vm->hnext = names[b];
		names[b] = vm;
		b = vm->info.id & (n - 1);
		vm->inext = ids[b];
		ids[b] = vm;
	}
	free(h->names);
	free(h->ids);
	h->names = names;
	h->ids = ids;
	h->nbuckets = n;
	return 0;
}

struct lv_vm *lv_vm_lookup(struct lv_host *h, const char *name)
{
	if (!h->nbuckets || !name)
		return NULL;
	for (struct lv_vm *vm = h->names[hash_str(name) & (h->nbuckets - 1)];
	     vm; vm = vm->hnext)
		if (strcmp(vm->info.name, name) == 0)
			return vm;
	return NULL;
}

struct lv_vm *lv_vm_by_id(struct lv_host *h, uint32_t id)
{
	if (!h->nbuckets)
		return NULL;
	for (struct lv_vm *vm = h->ids[id & (h->nbuckets - 1)]; vm; vm = vm->inext)
		if (vm->info.id == id)
			return vm;
	return NULL;
}

static void unlink_chain(struct lv_vm **head, struct lv_vm *vm, bool by_name)
{
	for (struct lv_vm **p = head; *p; p = by_name ? &(*p)->hnext : &(*p)->inext)
		if (*p == vm) {
			*p = by_name ? vm->hnext : vm->inext;
			return;
		}
}

static int vm_insert(struct lv_host *h, struct lv_vm *vm)
{
	uint32_t b;

	if (h->count + 1 > h->nbuckets) {
		int rc = table_grow(h);
		if (rc)
			return rc;
	}
	b = hash_str(vm->info.name) & (h->nbuckets - 1);
	vm->hnext = h->names[b];
	h->names[b] = vm;
	b = vm->info.id & (h->nbuckets - 1);
	vm->inext = h->ids[b];
	h->ids[b] = vm;
	vm->prev = h->last;
	if (h->last)
		h->last->next = vm;
	else
		h->first = vm;
	h->last = vm;
	h->count++;
	h->by_state[vm->info.state]++;
	return 0;
}

static void vm_remove(struct lv_host *h, struct lv_vm *vm)
{
	unlink_chain(&h->names[hash_str(vm->info.name) & (h->nbuckets - 1)], vm, true);
	unlink_chain(&h->ids[vm->info.id & (h->nbuckets - 1)], vm, false);
	if (vm->prev)
		vm->prev->next = vm->next;
	else
		h->first = vm->next;
	if (vm->next)
		vm->next->prev = vm->prev;
	else
		h->last = vm->prev;
	h->count--;
	h->by_state[vm->info.state]--;
}

/* ---- names: PREFIX-N with a per-prefix counter, so naming is O(1) */

static struct lv_prefix *prefix_get(struct lv_host *h, const char *prefix)
{
	uint32_t b;
	struct lv_prefix *p;

	if (!h->prefixes) {
		h->nprefix_buckets = 256;
		h->prefixes = calloc(h->nprefix_buckets, sizeof(*h->prefixes));
		if (!h->prefixes)
			return NULL;
	}
	b = hash_str(prefix) & (h->nprefix_buckets - 1);
	for (p = h->prefixes[b]; p; p = p->next)
		if (strcmp(p->name, prefix) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", prefix);
	p->next_n = 1;
	p->next = h->prefixes[b];
	h->prefixes[b] = p;
	return p;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	return n < LV_VM_NAME_MAX - 8 && lv__name_chars_ok(s);
}

static int pick_name(struct lv_host *h, const struct lv_spawn *sp, char *out,
		     char *err, size_t errlen)
{
	char base[LV_VM_NAME_MAX];
	const char *prefix = sp->prefix;
	struct lv_prefix *p;

	if (sp->name) {
		if (!name_valid(sp->name)) {
			snprintf(err, errlen, "invalid VM name '%s' (letters, digits, '-', '_', '.'; up to %d)",
				 sp->name, LV_VM_NAME_MAX - 9);
			return -EINVAL;
		}
		if (lv_vm_lookup(h, sp->name)) {
			snprintf(err, errlen, "a VM named '%s' exists", sp->name);
			return -EEXIST;
		}
		strcpy(out, sp->name);
		return 0;
	}
	if (!prefix) {
		const char *slash = strrchr(sp->image, '/');
		snprintf(base, sizeof(base), "%s", slash ? slash + 1 : sp->image);
		base[strcspn(base, ".")] = 0;
		prefix = base;
	}
	if (!name_valid(prefix)) {
		snprintf(err, errlen, "invalid name prefix '%s' (letters, digits, '-', '_', '.'; up to %d)",
			 prefix, LV_VM_NAME_MAX - 9);
		return -EINVAL;
	}
	p = prefix_get(h, prefix);
	if (!p)
		return -ENOMEM;
	do {
		char buf[LV_VM_NAME_MAX + 32];

		snprintf(buf, sizeof(buf), "%s-%lu", prefix, p->next_n++);
		if (strlen(buf) >= LV_VM_NAME_MAX) {
			snprintf(err, errlen, "name prefix '%s' too long", prefix);
			return -ENAMETOOLONG;
		}
		strcpy(out, buf);
	} while (lv_vm_lookup(h, out));
	return 0;
}

/* ---- host */

static const struct lv_driver_ops *xen_driver(char *why, size_t len)
{
#ifdef LV_HAVE_XEN
	(void)why;
	(void)len;
	return &lv_xen_ops;
#else
	snprintf(why, len, "this build has no xen driver (the libxen headers were missing at build time)");
	return NULL;
#endif
}

/* /dev/kvm usable?  Else why not, in words an operator can act on. */
static const struct lv_driver_ops *kvm_driver(int asked, char *why, size_t len)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return &lv_kvm_ops;
	if (errno == ENOENT)
		snprintf(why, len, "no /dev/kvm: this machine has no KVM%s (load kvm_intel or "
			 "kvm_amd; inside a VM, enable nested virtualization; on Xen, run "
			 "lightvmd in Dom0)", asked ? "" : " and is not a Xen Dom0");
	else if (errno == EACCES || errno == EPERM)
		snprintf(why, len, "/dev/kvm: %s (lightvmd runs as root, or as a user "
			 "allowed to open /dev/kvm)", strerror(errno));
	else
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
	return NULL;
}

static const struct lv_driver_ops *pick_driver(const char *name, char *why, size_t len)
{
	if (lv_test_ops && (!name || strcmp(name, lv_test_ops->name) == 0))
		return lv_test_ops;
	if (!name || strcmp(name, "auto") == 0) {
		FILE *f = fopen("/proc/xen/capabilities", "r");
		char cap[64] = "";

		if (f) {
			if (!fgets(cap, sizeof(cap), f))
				cap[0] = 0;
			fclose(f);
		}
		if (strstr(cap, "control_d"))
			return xen_driver(why, len);
		return kvm_driver(0, why, len);
	}
	if (strcmp(name, "kvm") == 0)
		return kvm_driver(1, why, len);
	if (strcmp(name, "xen") == 0)
		return xen_driver(why, len);
	snprintf(why, len, "unknown driver '%s' (auto, kvm, xen)", name);
	return NULL;
}

int lv_host_open(const struct lv_host_config *cfg, struct lv_host **out)
{
	struct lv_host *h;
	char why[160] = "";
	unsigned n = 0;
	int rc = -ENOMEM;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->ops = pick_driver(cfg->driver, why, sizeof(why));
	if (!h->ops) {
		lv__log(h, LV_LOG_ERR, "%s", why);
		free(h);
		return -ENODEV;
	}
	h->state_dir = strdup(cfg->state_dir ? cfg->state_dir : "/var/lib/lightvm");
	while (cfg->image_dirs && cfg->image_dirs[n])
		n++;
	h->image_dirs = calloc(n + 1, sizeof(char *));
	if (!h->state_dir || !h->image_dirs)
		goto out;
	for (unsigned i = 0; i < n; i++)
		if (!(h->image_dirs[i] = strdup(cfg->image_dirs[i])))
			goto out;
	h->cfg.state_dir = h->state_dir;
	h->cfg.image_dirs = (const char *const *)h->image_dirs;
	if (!h->cfg.boot_timeout_ms)
		h->cfg.boot_timeout_ms = 10000;
	if (!h->cfg.shutdown_timeout_ms)
		h->cfg.shutdown_timeout_ms = 10000;
	h->next_id = 1;
	rc = lv__net_open(h, why, sizeof(why));
	if (rc) {
		lv__log(h, LV_LOG_ERR, "%s", why);
		goto out;
	}
	rc = h->ops->open(h, &h->drv);
	if (rc)
		goto out;
	*out = h;
	return 0;
out:
	lv__net_close(h);
	for (unsigned i = 0; h->image_dirs && h->image_dirs[i]; i++)
		free(h->image_dirs[i]);
	free(h->image_dirs);
	free(h->state_dir);
	free(h);
	return rc;
}

void lv_host_close(struct lv_host *h)
{
	struct lv_vm *vm, *next;

	if (!h)
		return;
	lv__pool_close(h);
	h->ops->close(h->drv);
	limbo_expire(h, true);
	lv__net_close(h);
	for (vm = h->first; vm; vm = next) {
		next = vm->next;
		free(vm);
	}
	for (unsigned b = 0; b < h->nprefix_buckets; b++)
		for (struct lv_prefix *p = h->prefixes[b], *pn; p; p = pn) {
			pn = p->next;
			free(p);
		}
	free(h->prefixes);
	free(h->names);
	free(h->ids);
	for (unsigned i = 0; h->image_dirs[i]; i++)
		free(h->image_dirs[i]);
	free(h->image_dirs);
	free(h->state_dir);
	free(h);
}

const char *lv_host_driver(const struct lv_host *h)
{
	return h->ops->name;
}

const char *lv_host_platform(const struct lv_host *h, char *buf, size_t len)
{
	char outer[64];

	if (h->ops == &lv_kvm_ops)
		return kvm_platform_name(buf, len);
	if (strcmp(h->ops->name, "xen") == 0 && lv__platform_outer(outer, sizeof(outer), 1)[0])
		snprintf(buf, len, "xen (%s)", outer);
	else
		snprintf(buf, len, "%s", h->ops->name);
	return buf;
}

unsigned lv_host_count(const struct lv_host *h, unsigned by_state[LV_ST_NR])
{
	if (by_state)
		memcpy(by_state, h->by_state, sizeof(h->by_state));
	return h->count;
}

void lv_host_tick(struct lv_host *h)
{
	int64_t now = lv_now_ns();

	if (h->ops->tick)
		h->ops->tick(h->drv, now);
	lv__pool_tick(h, now);
	lv__net_tick(h);
	limbo_expire(h, false);
}

/* ---- VMs */

/* A restore's NIC: the snapshot's address if asked and free, else a new
 * one.  true on failure (*rc, err set). */
static bool snapshot_net(struct lv_vm *vm, const struct lv_spawn *sp, char *err, size_t errlen,
			 int *rc)
{
	*rc = 0;
	if (!sp->snapshot->net)
		return false;
	if (sp->keep_addr && sp->snapshot->ipv4) {
		vm->info.ipv4 = sp->snapshot->ipv4;
		memcpy(vm->info.mac, sp->snapshot->mac, sizeof(vm->info.mac));
		if (lv__net_vm_restore(vm) == 0 && vm->info.ipv4)
			return false;
		vm->info.ipv4 = 0;       /* taken or outside the subnet: a new one */
		memset(vm->info.mac, 0, sizeof(vm->info.mac));
		vm->info.mac_str[0] = vm->info.ipv4_str[0] = 0;
	}
	*rc = lv__net_vm_attach(vm, err, errlen);
	return *rc != 0;
}

/* A unikernel asks for a NIC with its ELF note; on KVM a Linux kernel
 * always gets one (virtio-net, core/kvm/virtio_net.c). */
static bool image_wants_net(struct lv_host *h, bool is_linux, bool wants_net)
{
	return wants_net || (strcmp(h->ops->name, "kvm") == 0 && is_linux);
}

int lv_vm_spawn(struct lv_host *h, const struct lv_spawn *sp,
		struct lv_vm **out, char *err, size_t errlen)
{
	struct lv_vm *vm;
	char dummy[8];
	int fd = sp->image_fd, rc;
	bool is_linux, wants_net;
	struct stat own_st;
	const struct stat *image_st = sp->image_fd >= 0 ? sp->image_st : NULL;

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = 0;
	if (!sp->image || !*sp->image) {
		snprintf(err, errlen, "no image given");
		return -EINVAL;
	}
	if (sp->snapshot && (sp->image_fd < 0 || !h->ops->save)) {
		snprintf(err, errlen, "the %s driver cannot restore snapshots", h->ops->name);
		return -EOPNOTSUPP;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->host = h;
	vm->info.state = LV_ST_PREPARED;
	vm->info.pid = -1;
	vm->info.mem_bytes = sp->snapshot ? sp->snapshot->mem_bytes : sp->mem_bytes;
	vm->info.vcpus = sp->vcpus;
	vm->from_snapshot = vm->info.restored = sp->snapshot != NULL;
	vm->hold_start = sp->snapshot && sp->hold;
	vm->snap_copy = sp->snapshot && sp->snapshot_copy;
	/* memory out of range (-ERANGE) is reported where the image is
	 * opened, with its name (lv_image_open) */
	if (lv_flavor_normalize(&vm->info.mem_bytes, &vm->info.vcpus) == -EINVAL) {
		snprintf(err, errlen, "vcpus=%u: only 1 vCPU per VM is supported for now", vm->info.vcpus);
		rc = -EINVAL;
		goto fail;
	}
	if ((sp->ramdisk || sp->cmdline) && !h->ops->boot_args) {
		snprintf(err, errlen, "%s is for the Xen driver: %s guests take no ramdisk or extra kernel arguments",
			 sp->ramdisk ? "ramdisk=" : "cmdline=", h->ops->name);
		rc = -EINVAL;
		goto fail;
	}
	if (sp->watchdog_s && !h->ops->watchdog) {
		snprintf(err, errlen, "watchdog=: the %s driver has no watchdog", h->ops->name);
		rc = -EINVAL;
		goto fail;
	}
	if (sp->watchdog_s > LV_WATCHDOG_MAX) {
		snprintf(err, errlen, "watchdog=%u: at most %u seconds", sp->watchdog_s, LV_WATCHDOG_MAX);
		rc = -EINVAL;
		goto fail;
	}
	if (sp->cmdline && strlen(sp->cmdline) > LV_SPAWN_CMDLINE_MAX) {
		snprintf(err, errlen, "cmdline= longer than %u bytes", LV_SPAWN_CMDLINE_MAX);
		rc = -EINVAL;
		goto fail;
	}
	if (sp->ramdisk) {   /* a clear error now; the driver opens it again */
		rc = lv__open_regular(sp->ramdisk);
		if (rc < 0) {
			snprintf(err, errlen, "ramdisk '%s': %s", sp->ramdisk,
				 rc == -EINVAL ? "not a regular file" : strerror(-rc));
			goto fail;
		}
		close(rc);
	}
	snprintf(vm->info.image, sizeof(vm->info.image), "%s", sp->image);
	vm->info.t[LV_PH_REQUEST] = sp->t_request ? sp->t_request : lv_now_ns();
	rc = pick_name(h, sp, vm->info.name, err, errlen);
	if (rc)
		goto fail;
	if (fd < 0) {
		fd = lv_image_open_st(h, sp->image, vm->info.mem_bytes, &own_st, err, errlen);
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		image_st = &own_st;
	}
	if (sp->snapshot || lv__image_traits(fd, image_st, &is_linux, &wants_net))
		is_linux = wants_net = false;   /* a snapshot says itself (snapshot_net) */
	if ((sp->ramdisk || sp->cmdline) && strcmp(h->ops->name, "kvm") == 0 && !is_linux) {
		snprintf(err, errlen, "%s is for Linux kernels (and the Xen driver): %s is a LightVM unikernel",
			 sp->ramdisk ? "ramdisk=" : "cmdline=", sp->image);
		rc = -EINVAL;
		goto fail;
	}
	if (sp->snapshot ? snapshot_net(vm, sp, err, errlen, &rc) :
	    image_wants_net(h, is_linux, wants_net) && (rc = lv__net_vm_attach(vm, err, errlen)) != 0)
		goto fail;
	vm->info.id = h->next_id++;
	rc = vm_insert(h, vm);
	if (rc)
		goto fail;
	vm->spawn = sp;
	vm->image_st = sp->snapshot ? NULL : image_st;
	vm->image_linux = is_linux;   /* the driver asks no second time */
	vm->watchdog_s = sp->watchdog_s;
	if (h->cfg.prestart)
		h->cfg.prestart(h->cfg.cb_ctx, vm, false);
	rc = h->ops->start(h->drv, vm, fd);
	vm->spawn = NULL;
	vm->image_st = NULL;
	if (fd != sp->image_fd)
		close(fd);
	fd = -1;
	if (rc) {
		if (h->cfg.prestart)
			h->cfg.prestart(h->cfg.cb_ctx, vm, true);
		vm_remove(h, vm);
		snprintf(err, errlen, "%s: cannot start: %s", vm->info.name, strerror(-rc));
		goto fail;
	}
	emit(vm, LV_EV_SPAWNED);
	if (vm->from_snapshot)
		emit(vm, LV_EV_RESTORING);
	if (out)
		*out = vm;
	return 0;
fail:
	if (fd >= 0 && fd != sp->image_fd)
		close(fd);
	lv__net_vm_detach(vm);
	free(vm);
	return rc;
}

static int act(struct lv_vm *vm, int (*op)(struct lv_driver *, struct lv_vm *))
{
	if (vm->destroying)
		return -ESRCH;
	if (!op)
		return -EOPNOTSUPP;
	return op(vm->host->drv, vm);
}

int lv_vm_pause(struct lv_vm *vm)
{
	if (vm->info.state == LV_ST_PAUSED)
		return 0;
	if (vm->info.state != LV_ST_RUNNING && !lv_state_is_booting(vm->info.state))
		return -EINVAL;
	return act(vm, vm->host->ops->pause);
}

int lv_vm_unpause(struct lv_vm *vm)
{
	if (vm->info.state != LV_ST_PAUSED)
		return vm->info.state == LV_ST_RUNNING ? 0 : -EINVAL;
	return act(vm, vm->host->ops->unpause);
}

int lv_vm_shutdown(struct lv_vm *vm)
{
	int rc;

	if (lv_state_is_final(vm->info.state))
		return 0;
	if (vm->info.state == LV_ST_SHUTTING_DOWN)
		return 0;
	rc = act(vm, vm->host->ops->shutdown);
	if (rc == 0) {
		vm->t_shutdown = lv_now_ns();
		lv__vm_state(vm, LV_ST_SHUTTING_DOWN, NULL);
	}
	return rc;
}

int lv_vm_reboot(struct lv_vm *vm)
{
	if (vm->info.state != LV_ST_RUNNING)
		return -EINVAL;
	return act(vm, vm->host->ops->reboot);
}

int lv_vm_destroy(struct lv_vm *vm)
{
	int rc;

	if (vm->destroying)
		return 0;
	vm->destroying = true;
	vm->t_destroy = lv_now_ns();
	if (vm->released) {
		lv__vm_released(vm);
		return 0;
	}
	rc = vm->host->ops->destroy(vm->host->drv, vm);
	if (rc)
		vm->destroying = false;
	return rc;
}

static int save(struct lv_vm *vm, int fd, int mode)
{
	int rc;

	if (vm->info.state == LV_ST_SAVING || vm->info.state == LV_ST_MIGRATING)
		return -EBUSY;
	if (vm->info.state != LV_ST_RUNNING)
		return -EINVAL;
	if (vm->destroying)
		return -ESRCH;
	if (!vm->host->ops->save)
		return -EOPNOTSUPP;
	memset(vm->info.t_save, 0, sizeof(vm->info.t_save));
	vm->info.t_save[0] = lv_now_ns();
	vm->save_err = 0;
	vm->save_msg[0] = 0;
	rc = vm->host->ops->save(vm->host->drv, vm, fd, mode);
	if (rc)
		return rc;
	vm->save_from = vm->info.state;
	lv__vm_state(vm, mode == LV_SAVE_HOLD ? LV_ST_MIGRATING : LV_ST_SAVING, NULL);
	return 0;
}

int lv_vm_save(struct lv_vm *vm, int fd, bool keep)
{
	return save(vm, fd, keep ? LV_SAVE_KEEP : LV_SAVE_STOP);
}

int lv_vm_save_hold(struct lv_vm *vm, int fd)
{
	return save(vm, fd, LV_SAVE_HOLD);
}

int lv_vm_hold_release(struct lv_vm *vm)
{
	int rc;

	if (!vm->held || vm->info.state != LV_ST_MIGRATING || vm->destroying)
		return -EINVAL;
	rc = act(vm, vm->host->ops->unpause);
	if (rc)
		return rc;
	vm->held = false;
	vm->info.t_save[3] = lv_now_ns();
	lv__vm_state(vm, vm->save_from, NULL);
	return 0;
}

int lv_vm_save_error(const struct lv_vm *vm, const char **msg)
{
	if (msg)
		*msg = vm->save_msg;
	return vm->save_err;
}

void lv_vm_migrate_phase(struct lv_vm *vm, enum lv_migrate_phase ph, int64_t t)
{
	if ((unsigned)ph >= LV_MPH_NR)
		return;
	if (ph == LV_MPH_REQUEST)
		memset(vm->info.t_migrate, 0, sizeof(vm->info.t_migrate));
	vm->info.t_migrate[ph] = t ? t : lv_now_ns();
}

void lv__vm_save_paused(struct lv_vm *vm, int64_t t)
{
	vm->info.t_save[1] = t;
}

void lv__vm_save_done(struct lv_vm *vm, int err, const char *msg, int mode)
{
	bool keep = mode == LV_SAVE_KEEP;

	vm->info.t_save[2] = lv_now_ns();
	vm->save_err = err;
	snprintf(vm->save_msg, sizeof(vm->save_msg), "%s", msg && *msg ? msg : err ? strerror(-err) : "");
	if (vm->info.state != (mode == LV_SAVE_HOLD ? LV_ST_MIGRATING : LV_ST_SAVING))
		return;        /* it ended (crashed, destroyed) meanwhile */
	if (!err && mode == LV_SAVE_HOLD) {   /* held for a migration */
		vm->held = true;
		emit(vm, LV_EV_SAVED);
		return;
	}
	vm->info.t_save[3] = lv_now_ns();     /* resumed, or ended saved */
	if (!err && !keep) {
		lv__vm_state(vm, LV_ST_SAVED, "saved");
		return;
	}
	lv__vm_state(vm, vm->save_from, NULL);
	emit(vm, err ? LV_EV_SAVE_FAILED : LV_EV_SAVED);
}

bool lv_vm_destroying(const struct lv_vm *vm)
{
	return vm->destroying;
}

const struct lv_vm_info *lv_vm_info(const struct lv_vm *vm)
{
	return &vm->info;
}

struct lv_vm *lv_vm_first(struct lv_host *h)
{
	return h->first;
}

struct lv_vm *lv_vm_next(struct lv_vm *vm)
{
	return vm->next;
}

void lv_vm_set_user(struct lv_vm *vm, void *p)
{
	vm->user = p;
}

void *lv_vm_user(const struct lv_vm *vm)
{
	return vm->user;
}

const char *lv_vm_console_log(struct lv_vm *vm)
{
	if (vm->drv && vm->host->ops->log_settle)
		vm->host->ops->log_settle(vm->host->drv, vm);
	return vm->info.console_path;
}

uint64_t lv_vm_console_bytes(const struct lv_vm *vm)
{
	struct stat st;

	if (!vm->info.console_path[0] || stat(vm->info.console_path, &st))
		return 0;
	return (uint64_t)st.st_size;
}

int lv_vm_console_input(struct lv_vm *vm, const void *buf, size_t len)
{
	struct lv_host *h = vm->host;

	if (!h->ops->console_input)
		return -ENOTSUP;
	if (vm->destroying || lv_state_is_final(vm->info.state))
		return -ESRCH;
	return len ? h->ops->console_input(h->drv, vm, buf, len) : 0;
}

/* ---- driver reports */

void lv__vm_phase(struct lv_vm *vm, enum lv_phase ph, int64_t t)
{
	if ((unsigned)ph < LV_PH_NR)
		vm->info.t[ph] = t;
}

static enum lv_event event_for(enum lv_state from, enum lv_state to)
{
	switch (to) {
	case LV_ST_BOOTING: return LV_EV_STARTED;
	case LV_ST_RESTORING: return LV_EV_STARTED;  /* restoring was said at spawn */
	case LV_ST_RUNNING:
		if (from == LV_ST_SAVING)
			return LV_EV_NR;     /* lv__vm_save_done says saved or save-failed */
		/* a migration's hold released: it runs here again */
		return from == LV_ST_PAUSED || from == LV_ST_MIGRATING ? LV_EV_UNPAUSED : LV_EV_READY;
	case LV_ST_PAUSED: return LV_EV_PAUSED;
	case LV_ST_SAVING: return LV_EV_SAVING;
	case LV_ST_MIGRATING: return LV_EV_MIGRATING;
	case LV_ST_SAVED: return LV_EV_SAVED;
	case LV_ST_SHUTOFF: return LV_EV_SHUTOFF;
	case LV_ST_CRASHED: return LV_EV_CRASHED;
	default: return LV_EV_NR;
	}
}

void lv__vm_state(struct lv_vm *vm, enum lv_state st, const char *reason)
{
	enum lv_state from = vm->info.state;
	enum lv_event ev;

	if (st == LV_ST_BOOTING && (vm->from_snapshot || vm->info.restored))
		st = LV_ST_RESTORING;  /* a restore boots as "restoring" */
	if (from == st || lv_state_is_final(from))
		return;
	if (reason)
		snprintf(vm->info.reason, sizeof(vm->info.reason), "%s", reason);
	vm->host->by_state[from]--;
	vm->host->by_state[st]++;
	vm->info.state = st;
	if (lv_state_is_final(st))
		vm->info.t_final = lv_now_ns();
	ev = event_for(from, st);
	if (ev != LV_EV_NR)
		emit(vm, ev);
}

void lv__vm_failed(struct lv_vm *vm, int err, const char *reason)
{
	enum lv_state from = vm->info.state;

	if (lv_state_is_final(from))
		return;
	snprintf(vm->info.reason, sizeof(vm->info.reason), "%s", reason ? reason : strerror(-err));
	vm->info.exit_code = err;
	vm->host->by_state[from]--;
	vm->host->by_state[LV_ST_CRASHED]++;
	vm->info.state = LV_ST_CRASHED;
	vm->info.t_final = lv_now_ns();
	emit(vm, LV_EV_FAILED);
}

void lv__vm_released(struct lv_vm *vm)
{
	struct lv_host *h = vm->host;

	vm->released = true;
	vm->info.pid = -1;
	if (!vm->destroying)
		return;
	emit(vm, LV_EV_DESTROYED);
	vm_remove(h, vm);
	if (vm->info.console_path[0]) {
		if (h->ops->log_release)
			h->ops->log_release(h->drv, vm->info.console_path);
		else
			unlink(vm->info.console_path);
	}
	lv__net_vm_detach(vm);
	free(vm);
}

/* ---- stats and restarts */

void lv_vm_stats(const struct lv_vm *vm, struct lv_vm_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (vm->host->ops->stats && vm->drv)
		vm->host->ops->stats(vm->host->drv, vm, out);
	if (!out->console_bytes && !(vm->drv && vm->host->ops->stats_console))
		out->console_bytes = lv_vm_console_bytes(vm);
	/* the backend's own drops, and the tap's (the guest took nothing) */
	if (vm->info.ipv4 && !lv_state_is_final(vm->info.state))
		out->net_rx_drops += lv__net_rx_drops(vm->host, vm->info.ipv4);
}

void lv__vm_reattached(struct lv_vm *vm)
{
	emit(vm, LV_EV_REATTACHED);
}

int lv_vm_restore(struct lv_host *h, const struct lv_vm_info *info, struct lv_vm **out)
{
	enum lv_state st = info->state;
	struct lv_vm *vm;
	int rc;

	if ((unsigned)st >= LV_ST_NR || !name_valid(info->name) || info->id == 0)
		return -EINVAL;
	if (lv_vm_lookup(h, info->name) || lv_vm_by_id(h, info->id))
		return -EEXIST;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->host = h;
	vm->info = *info;
	vm->info.name[sizeof(vm->info.name) - 1] = 0;
	vm->info.image[sizeof(vm->info.image) - 1] = 0;
	vm->info.reason[sizeof(vm->info.reason) - 1] = 0;
	vm->info.console_path[sizeof(vm->info.console_path) - 1] = 0;
	rc = vm_insert(h, vm);
	if (rc) {
		free(vm);
		return rc;
	}
	if (info->id >= h->next_id)
		h->next_id = info->id + 1;
	/* its address and MAC are its own again before any new spawn; they
	 * go back when the record is freed, as for any VM */
	lv__net_vm_restore(vm);
	if (lv_state_is_final(st)) {
		vm->released = true;
		vm->info.pid = -1;
		goto done;
	}
	if (vm->info.pid <= 0 && (st == LV_ST_PREPARED || lv_state_is_booting(st)) &&
	    h->ops->adopts) {
		vm_remove(h, vm);   /* its shell may still say HELLO */
		vm->next = h->limbo;
		h->limbo = vm;
		return -EINPROGRESS;
	}
	rc = vm->info.pid > 0 && h->ops->attach ? h->ops->attach(h->drv, vm) : -ESRCH;
	if (rc == 0)
		goto done;
	if (st == LV_ST_PREPARED || lv_state_is_booting(st)) {
		vm_remove(h, vm);   /* half-created: the caller drops the record */
		lv__net_vm_detach(vm);
		free(vm);
		return -ESRCH;
	}
	lv__log(h, LV_LOG_WARN, "%s: shell %d is gone: the VM %s while the agent was down",
		vm->info.name, vm->info.pid, st == LV_ST_SHUTTING_DOWN ? "shut off" : "died");
	vm->released = true;
	vm->info.pid = -1;
	if (st == LV_ST_SHUTTING_DOWN)
		lv__vm_state(vm, LV_ST_SHUTOFF, "shut off while the agent was down");
	else
		lv__vm_state(vm, LV_ST_CRASHED, "died while the agent was down");
done:
	if (out)
		*out = vm;
	return 0;
}

bool lv__vm_limbo_take(struct lv_host *h, const char *name, uint32_t id,
		       struct lv_vm_info *info)
{
	for (struct lv_vm **pp = &h->limbo, *vm; (vm = *pp); pp = &vm->next) {
		if (vm->info.id != id || strcmp(vm->info.name, name))
			continue;
		*pp = vm->next;
		*info = vm->info;
		lv__net_vm_detach(vm);  /* lv_vm_restore reserves it again */
		free(vm);
		return true;
	}
	return false;
}

/* Limbo records whose shell did not come: their addresses go back. */
static void limbo_expire(struct lv_host *h, bool all)
{
	if (!h->limbo || (!all && lv_now_ns() < h->limbo_until))
		return;
	for (struct lv_vm *vm = h->limbo, *next; vm; vm = next) {
		next = vm->next;
		if (!all)
			lv__log(h, LV_LOG_INFO, "%s: half-created when the agent stopped, and no shell reported it: cleaned up",
				vm->info.name);
		lv__net_vm_detach(vm);
		free(vm);
	}
	h->limbo = NULL;
}

void lv_host_restore_done(struct lv_host *h)
{
	/* a shell says HELLO within 5 s of restore_done or is killed */
	h->limbo_until = lv_now_ns() + 10 * 1000000000ll;
	lv__net_restore_done(h);
	if (h->ops->restore_done)
		h->ops->restore_done(h->drv);
}
