/*
 * autostart.c - VM config files (lightvm.cfg(5), VM CONFIG) on the
 * agent's side: the checks a config's mode and vif bridge get against
 * this agent, for `lvsh create` requests and autostart alike, and
 * `autostart = DIR` (lightvmd.conf): one VM per config file at start,
 * parsed by the parser lvsh uses (proto/vmcfg.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "autostart.h"
#include "vmcfg.h"

static const char *bridge_name = "lvbr0";

void autostart_setup(const char *net_bridge)
{
	if (net_bridge && *net_bridge)
		bridge_name = net_bridge;
}

/* The mode this agent's VMs run in: Xen's LIGHTVM_XEN_MODE, else noxs
 * (KVM guests read device pages; there is no XenStore). */
static const char *agent_mode(void)
{
	const char *m = getenv("LIGHTVM_XEN_MODE");

	if (strcmp(lv_host_driver(g_host), "xen") == 0 && m && strcmp(m, "xenstore") == 0)
		return "xenstore";
	return "noxs";
}

int vmcfg_env_check(const char *mode, const char *bridge, char *err, size_t errlen)
{
	if (mode && *mode && strcmp(mode, agent_mode())) {
		snprintf(err, errlen, "mode %.16s: this agent's VMs run in %s mode (driver %s)",
			 mode, agent_mode(), lv_host_driver(g_host));
		return -EINVAL;
	}
	if (bridge && *bridge && strcmp(bridge, bridge_name)) {
		snprintf(err, errlen, "vif bridge %.16s: this agent's bridge is %s (lightvmd.conf net-bridge)",
			 bridge, bridge_name);
		return -EINVAL;
	}
	return 0;
}

/* ---- on_poweroff / on_crash = destroy */

static uint32_t *doomed;      /* ids of VMs to destroy at the next tick */
static size_t ndoomed, capdoomed;

static void doom(struct lv_vm *vm)
{
	uint32_t *n;

	if (lv_vm_destroying(vm))
		return;
	if (ndoomed == capdoomed) {
		size_t cap = capdoomed ? capdoomed * 2 : 64;

		n = realloc(doomed, cap * sizeof(*n));
		if (!n) {
			alog(LV_LOG_WARN, "%s: out of memory: not destroyed as its config asks",
			     lv_vm_info(vm)->name);
			return;
		}
		doomed = n;
		capdoomed = cap;
	}
	doomed[ndoomed++] = lv_vm_info(vm)->id;
}

void vmcfg_mark(struct lv_vm *vm, unsigned destroy_on)
{
	enum lv_state st = lv_vm_info(vm)->state;
	struct vm_ext *e;

	if (!destroy_on)
		return;
	e = vm_ext(vm);
	if (!e) {
		alog(LV_LOG_WARN, "%s: out of memory: on_poweroff/on_crash ignored",
		     lv_vm_info(vm)->name);
		return;
	}
	e->destroy_on = (uint8_t)destroy_on;
	/* it may have ended already, before its mark */
	if ((st == LV_ST_SHUTOFF && (destroy_on & VMCFG_DESTROY_POWEROFF)) ||
	    (st == LV_ST_CRASHED && (destroy_on & VMCFG_DESTROY_CRASH)))
		doom(vm);
}

void vmcfg_vm_event(struct lv_vm *vm, enum lv_event ev, unsigned destroy_on)
{
	if ((ev == LV_EV_SHUTOFF && (destroy_on & VMCFG_DESTROY_POWEROFF)) ||
	    ((ev == LV_EV_CRASHED || ev == LV_EV_FAILED) && (destroy_on & VMCFG_DESTROY_CRASH)))
		doom(vm);
}

void vmcfg_tick(void)
{
	uint32_t *ids = doomed;
	size_t n = ndoomed;

	if (!n)
		return;
	doomed = NULL;          /* destroying may mark others: a fresh list */
	ndoomed = capdoomed = 0;
	for (size_t i = 0; i < n; i++) {
		struct lv_vm *vm = lv_vm_by_id(g_host, ids[i]);
		int rc;

		if (!vm || lv_vm_destroying(vm))
			continue;
		alog(LV_LOG_INFO, "%s: %s: destroyed, as its config asks", lv_vm_info(vm)->name,
		     lv_state_name(lv_vm_info(vm)->state));
		if ((rc = lv_vm_destroy(vm)))
			alog(LV_LOG_WARN, "%s: destroy: %s", lv_vm_info(vm)->name, strerror(-rc));
	}
	free(ids);
}

/* ---- autostart */

static void log_errs(const char *path, const struct vmcfg_errs *e)
{
	for (unsigned i = 0; i < e->n; i++)
		alog(LV_LOG_ERR, "autostart: %s", e->msg[i]);
	if (e->dropped)
		alog(LV_LOG_ERR, "autostart: %.200s: %u more errors", path, e->dropped);
}

/* One VM of config c (from path): 0 or -errno, logged. */
static int start_one(const char *path, const struct vmcfg *c)
{
	uint64_t mem = c->mem_bytes;
	uint32_t vcpus = c->vcpus;

	/* the core's rule (default, rounding); a flavor it refuses is
	 * refused again, with its message, by the spawn below */
	if (lv_flavor_normalize(&mem, &vcpus))
		mem = c->mem_bytes ? c->mem_bytes : LV_MEM_DEFAULT;
	struct lv_spawn s = {
		.image = c->image, .name = c->name[0] ? c->name : NULL, .mem_bytes = mem,
		.vcpus = c->vcpus ? c->vcpus : 1, .image_fd = -1,
		.ramdisk = c->ramdisk[0] ? c->ramdisk : NULL,
		.cmdline = c->cmdline[0] ? c->cmdline : NULL,
		.watchdog_s = c->has_watchdog ? c->watchdog_s : g_watchdog_s,
	};
	char err[512], rd[512], cl[LV_SPAWN_CMDLINE_MAX + 1];
	struct lv_vm *vm;
	int rc;

	if (s.name && lv_vm_lookup(g_host, s.name)) {
		alog(LV_LOG_INFO, "autostart: %.200s: %s exists (restored), not started again",
		     path, s.name);
		return 0;
	}
	rc = vmcfg_env_check(c->mode, c->bridge, err, sizeof(err));
	if (!rc) {
		rc = lv_image_open(g_host, c->image, mem,
				   err, sizeof(err));
		s.image_fd = rc;
	}
	if (rc >= 0 && (rc = lv_image_extras(g_host, c->image, rd, sizeof(rd), cl, sizeof(cl),
					     err, sizeof(err))) == 0) {
		s.ramdisk = s.ramdisk ? s.ramdisk : *rd ? rd : NULL;
		s.cmdline = s.cmdline ? s.cmdline : *cl ? cl : NULL;
	}
	if (rc >= 0 && (rc = records_reserve(1)) < 0)
		snprintf(err, sizeof(err), "cannot write state records in %s: %s",
			 records_dir(), strerror(-rc));
	if (rc >= 0) {
		s.t_request = lv_now_ns();
		rc = lv_vm_spawn(g_host, &s, &vm, err, sizeof(err));
	}
	if (s.image_fd >= 0)
		close(s.image_fd);
	if (rc < 0) {
		alog(LV_LOG_ERR, "autostart: %.200s: %s", path, err);
		return rc;
	}
	alog(LV_LOG_INFO, "autostart: %.200s: %s", path, lv_vm_info(vm)->name);
	vmcfg_mark(vm, (c->destroy_on_poweroff ? VMCFG_DESTROY_POWEROFF : 0) |
		   (c->destroy_on_crash ? VMCFG_DESTROY_CRASH : 0));
	return 0;
}

void autostart_run(const char *dir)
{
	struct vmcfg_errs *e = malloc(sizeof(*e));
	struct vmcfg c;
	char err[512], **paths;
	size_t n, ok = 0;

	if (!dir || !e) {
		free(e);
		return;
	}
	if (vmcfg_list_dir(dir, &paths, &n, err, sizeof(err)) < 0) {
		alog(LV_LOG_ERR, "autostart: %s", err);
		free(e);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		memset(e, 0, sizeof(*e));
		if (vmcfg_load(paths[i], &c, e) < 0)
			log_errs(paths[i], e);
		else if (start_one(paths[i], &c) == 0)
			ok++;
	}
	alog(LV_LOG_INFO, "autostart: %s: %zu of %zu config files started", dir, ok, n);
	vmcfg_free_list(paths, n);
	free(e);
}
