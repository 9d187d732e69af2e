/*
 * vmstate.c - the agent's view of its VMs: the host handle, the per-VM
 * agent state (struct vm_ext, hung on lv_vm_user), selection by name or
 * pattern, and the conversion of VM records to protobuf at this edge.
 * Every other agent file reads VMs through here; this file calls no
 * other agent file but stats.c (live counters in a VmInfo) and
 * control.c (replies).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct lv_host *g_host;

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

void pb_fill_vm(struct pbvm *p, struct lv_vm *vm, bool phases)
{
	pb_fill_vm_base(p, vm, phases);
	p->m.has_uptime_ns = pb_uptime(vm, lv_now_ns(), &p->m.uptime_ns);
	stats_fill_vm(&p->m, vm);
}

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
	if (i->ipv4) {
		p->m.mac = (char *)i->mac_str;
		p->m.ipv4 = (char *)i->ipv4_str;
	}
	if (i->t[LV_PH_READY] && i->t[LV_PH_READY] >= i->t[LV_PH_REQUEST]) {
		p->m.has_spawn_ns = true;
		p->m.spawn_ns = (uint64_t)(i->t[LV_PH_READY] - i->t[LV_PH_REQUEST]);
	}
	if (phases) {
		size_t n = 0;

		for (int k = 0; k < LV_PH_NR; k++) {
			if (!i->t[k])
				continue;
			lightvm__phase__init(&p->ph[n]);
			p->ph[n].name = (char *)lv_phase_name((enum lv_phase)k);
			p->ph[n].t_ns = i->t[k];
			p->php[n] = &p->ph[n];
			n++;
		}
		p->m.n_phases = n;
		p->m.phases = p->php;
	}
}

/* Reply with the given VMs (NULL entries skipped). */
void reply_vms(struct client *c, uint32_t seq, struct lv_vm **vms, unsigned n,
		      bool phases, Lightvm__Failure **fails, unsigned nfails, unsigned affected)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	struct pbvm *pb = calloc(n ? n : 1, sizeof(*pb));
	Lightvm__VmInfo **pp = calloc(n ? n : 1, sizeof(*pp));
	unsigned k = 0;

	if (!pb || !pp) {
		free(pb);
		free(pp);
		client_reply_err(c, seq, ENOMEM, "out of memory building the reply");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!vms[i])
			continue;
		pb_fill_vm(&pb[k], vms[i], phases);
		pp[k] = &pb[k].m;
		k++;
	}
	r.n_vms = k;
	r.vms = pp;
	r.n_failures = nfails;
	r.failures = fails;
	if (affected) {
		r.has_affected = true;
		r.affected = affected;
	}
	client_reply(c, seq, &r);
	free(pb);
	free(pp);
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
