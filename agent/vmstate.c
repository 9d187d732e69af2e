/*
 * vmstate.c - the agent's view of its VMs: the host handle, the per-VM
 * agent state (struct vm_ext, hung on lv_vm_user), selection by name or
 * pattern, and the conversion of VM records to protobuf at this edge.
 * Every other agent file reads VMs through here; this file calls no
 * other agent file (the leaf of the agent's tree).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct lv_host *g_host;
unsigned g_watchdog_s;

struct vm_ext *vm_ext(struct lv_vm *vm)
{
	struct vm_ext *e = lv_vm_user(vm);

	if (!e) {
		e = calloc(1, sizeof(*e));
		lv_vm_set_user(vm, e);
	}
	return e;
}

void vm_ext_release(struct lv_vm *vm)
{
	free(lv_vm_user(vm));
	lv_vm_set_user(vm, NULL);
}

/* ---- core -> protobuf */

bool pb_uptime(const struct lv_vm *vm, int64_t now, uint64_t *out)
{
	const struct lv_vm_info *i = lv_vm_info((struct lv_vm *)vm);
	int64_t end = lv_state_is_final(i->state) && i->t_final ? i->t_final : now;

	if (!i->t[LV_PH_STARTED])
		return false;
	*out = (uint64_t)(end > i->t[LV_PH_STARTED] ? end - i->t[LV_PH_STARTED] : 0);
	return true;
}

static void pb_fill_phases(struct pbvm *p, const struct lv_vm_info *i);

void pb_fill_vm_base(struct pbvm *p, struct lv_vm *vm, bool phases)
{
	const struct lv_vm_info *i = lv_vm_info(vm);

	lightvm__vm_info__init(&p->m);
	p->m.name = (char *)i->name;
	p->m.id = i->id;
	p->m.state = (char *)lv_state_name(i->state);
	p->m.image = (char *)i->image;
	p->m.mem_bytes = i->mem_bytes;
	p->m.vcpus = i->vcpus;
	if (i->pid > 0) {
		p->m.has_pid = true;
		p->m.pid = i->pid;
	}
	if (i->reason[0])
		p->m.reason = (char *)i->reason;
	if (lv_state_is_final(i->state)) {
		p->m.has_exit_code = true;
		p->m.exit_code = i->exit_code;
	}
	p->m.has_pooled = true;
	p->m.pooled = i->pooled;
	if (i->preloaded) {
		p->m.has_preloaded = true;
		p->m.preloaded = true;
	}
	if (i->ipv4) {
		p->m.mac = (char *)i->mac_str;
		p->m.ipv4 = (char *)i->ipv4_str;
	}
	if (i->t[LV_PH_READY] && i->t[LV_PH_READY] >= i->t[LV_PH_REQUEST]) {
		p->m.has_spawn_ns = true;
		p->m.spawn_ns = (uint64_t)(i->t[LV_PH_READY] - i->t[LV_PH_REQUEST]);
	}
	p->m.has_restored = p->m.restored = i->restored;   /* snapshot_req.c */
	if (phases)
		pb_fill_phases(p, i);
}

static void pb_phase(struct pbvm *p, size_t *n, const char *name, int64_t t)
{
	if (!t || *n >= PB_PHASES_MAX)
		return;
	lightvm__phase__init(&p->ph[*n]);
	p->ph[*n].name = (char *)name;
	p->ph[*n].t_ns = t;
	p->php[*n] = &p->ph[*n];
	(*n)++;
}

/* Creation's phases (a restore's "loaded" is "mapped": guest memory
 * mapped from the snapshot), then the last save's, then the last
 * migration's away from here. */
static void pb_fill_phases(struct pbvm *p, const struct lv_vm_info *i)
{
	size_t n = 0;

	for (int k = 0; k < LV_PH_NR; k++)
		pb_phase(p, &n, k == LV_PH_LOADED && i->restored ? "mapped" :
			 lv_phase_name((enum lv_phase)k), i->t[k]);
	for (int k = 0; k < 4; k++)
		pb_phase(p, &n, lv_save_phase_name(k, i->state == LV_ST_SAVED), i->t_save[k]);
	for (int k = 0; k < LV_MPH_NR; k++)
		pb_phase(p, &n, lv_migrate_phase_name((enum lv_migrate_phase)k), i->t_migrate[k]);
	p->m.n_phases = n;
	p->m.phases = p->php;
}

/* Collect the VMs matching sel.  *out is malloc'ed (caller frees). */
unsigned select_vms(const char *sel, struct lv_vm ***out)
{
	unsigned n = 0, cap = lv_host_count(g_host, NULL);
	struct lv_vm **v;

	*out = NULL;
	if (sel && *sel && !lv_selector_is_pattern(sel)) {
		struct lv_vm *vm = lv_vm_lookup(g_host, sel);

		if (!vm || lv_vm_destroying(vm))
			return 0;
		*out = malloc(sizeof(**out));
		if (!*out)
			return 0;
		(*out)[0] = vm;
		return 1;
	}
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (!v)
		return 0;
	for (struct lv_vm *vm = lv_vm_first(g_host); vm; vm = lv_vm_next(vm))
		if (!lv_vm_destroying(vm) && lv_selector_match(sel, lv_vm_info(vm)->name) && n < cap)
			v[n++] = vm;
	*out = v;
	return n;
}
