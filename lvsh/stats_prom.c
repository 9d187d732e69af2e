/*
 * stats_prom.c - a stats report (Lightvm__Stats) as Prometheus text: the
 * families of proto/prom.c, filled from the protocol's HostInfo (with
 * the agent's own counters: its CPU, the event counters, the spawn
 * latency histogram) and VmInfo, in the order lightvmd's metrics
 * listener writes them.
 */
#include <errno.h>
#include <stdlib.h>

#include "prom.h"
#include "stats_prom.h"

/* The agent's counters from hi->agent; false if the agent sent none. */
static bool agent_prom(struct prom_agent *a, const char **names, uint64_t *counts, size_t max,
		       const Lightvm__HostInfo *hi)
{
	const Lightvm__AgentCounters *c = hi->agent;
	size_t n;

	if (!c)
		return false;
	n = c->n_events < max ? c->n_events : max;
	for (size_t e = 0; e < n; e++) {
		names[e] = c->events[e]->kind;
		counts[e] = c->events[e]->n;
	}
	*a = (struct prom_agent){
		.driver = hi->driver, .platform = hi->platform, .version = hi->version,
		.started = c->started, .cpu_s = c->cpu_s, .max_rss = c->max_rss,
		.scrapes = c->scrapes, .refused = c->refused, .render_s = c->render_s,
		.event_names = names, .events = counts, .nevents = (unsigned)n,
		.spawn_count = c->spawn_count, .spawn_sum = c->spawn_sum,
	};
	for (size_t k = 0; k < c->n_spawn_bucket && k <= PROM_SPAWN_NLE; k++)
		a->spawn_bucket[k] = c->spawn_bucket[k];
	return true;
}

/* The agent's, the host's and the pools' families, then the events and
 * the histogram: the listener's order up to the VMs. */
static void host_prom(struct prom_buf *b, const Lightvm__HostInfo *hi)
{
	struct prom_host h = {
		.ncpus = hi->ncpus, .cpu_pct = hi->host_cpu_pct, .mem_total = hi->mem_total,
		.mem_available = hi->mem_available, .agent_rss = hi->agent_rss,
	};
	struct prom_pool p[32];
	struct prom_agent a;
	const char *names[64];
	uint64_t counts[64];
	size_t n = hi->n_pools < 32 ? hi->n_pools : 32;
	bool have_agent = agent_prom(&a, names, counts, 64, hi);

	if (have_agent)
		prom_agent(b, &a);
	for (size_t i = 0; i < hi->n_by_state && i < PROM_NSTATES; i++)
		h.by_state[i] = hi->by_state[i];
	prom_host(b, &h);
	for (size_t i = 0; i < n; i++)
		p[i] = (struct prom_pool){ hi->pools[i]->flavor, hi->pools[i]->target,
					   hi->pools[i]->ready, hi->pools[i]->preparing,
					   hi->pools[i]->hits, hi->pools[i]->misses };
	prom_pools(b, p, (unsigned)n);
	if (have_agent)
		prom_events(b, &a);
}

static void vm_prom(struct prom_vm *v, const Lightvm__VmInfo *m)
{
	*v = (struct prom_vm){
		.name = m->name, .image = m->image, .state = m->state, .cpu_ns = m->cpu_ns,
		.mem_bytes = m->mem_bytes, .rss_bytes = m->rss_bytes,
		.console_bytes = m->console_bytes, .spawn_ns = m->has_spawn_ns ? m->spawn_ns : 0,
		.has_nic = m->ipv4 && *m->ipv4,
		.rx_bytes = m->net_rx_bytes, .tx_bytes = m->net_tx_bytes,
		.rx_packets = m->net_rx_packets, .tx_packets = m->net_tx_packets,
		.has_drops = true, .rx_drops = m->net_rx_drops, .tx_drops = m->net_tx_drops,
	};
}

int lvsh_stats_prom(FILE *out, const Lightvm__Stats *st, int host_only)
{
	struct prom_buf b = { 0 };
	struct prom_vm *v = NULL;

	if (st->host)
		host_prom(&b, st->host);
	if (!host_only) {
		v = calloc(st->n_vms ? st->n_vms : 1, sizeof(*v));
		if (!v) {
			free(b.p);
			return -ENOMEM;
		}
		for (size_t i = 0; i < st->n_vms; i++)
			vm_prom(&v[i], st->vms[i]);
		prom_vms(&b, v, (unsigned)st->n_vms);
	}
	if (!b.oom && b.len)
		fwrite(b.p, 1, b.len, out);
	free(v);
	free(b.p);
	return b.oom ? -ENOMEM : 0;
}
