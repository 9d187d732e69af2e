/*
 * prom.c - the Prometheus text format of LightVM's metrics: the buffer,
 * label escaping, and the host, pool and per-VM families (prom.h).  Both
 * lightvmd and lvsh link it, so both print the same metrics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static const char *const prom_states[PROM_NSTATES] = {
	"prepared", "booting", "running", "paused", "shutting-down", "shutoff", "crashed",
	"saving", "saved", "restoring", "migrating",
};

static void grow(struct prom_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 65536;
	char *p;

	while (cap < b->len + need && cap < PROM_BUF_MAX)
		cap *= 2;
	if (cap < b->len + need || !(p = realloc(b->p, cap))) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

void prom_printf(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int tries = 0; tries < 2 && !b->oom; tries++) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		grow(b, (size_t)n + 1);
	}
}

void prom_label(struct prom_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->cap - b->len < 2 * n + 1)
		grow(b, 2 * n + 1);
	if (b->oom)
		return;
	for (; *s; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			b->p[b->len++] = '\\';
		b->p[b->len++] = *s == '\n' ? 'n' : *s;
	}
	b->p[b->len] = 0;
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

const double prom_spawn_le[PROM_SPAWN_NLE] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void prom_agent(struct prom_buf *b, const struct prom_agent *a)
{
	prom_family(b, "lightvm_agent_info", "gauge", "The agent: driver, platform and version (always 1).");
	prom_printf(b, "lightvm_agent_info{driver=\"");
	prom_label(b, a->driver ? a->driver : "");
	prom_printf(b, "\",platform=\"");
	prom_label(b, a->platform ? a->platform : "");
	prom_printf(b, "\",version=\"");
	prom_label(b, a->version ? a->version : "");
	prom_printf(b, "\"} 1\n");
	prom_family(b, "lightvm_agent_start_time_seconds", "gauge", "When the agent started, seconds since the epoch.");
	prom_printf(b, "lightvm_agent_start_time_seconds %lld\n", (long long)a->started);
	prom_family(b, "lightvm_agent_cpu_seconds_total", "counter", "CPU time of the agent process (user and system).");
	prom_printf(b, "lightvm_agent_cpu_seconds_total %.6f\n", a->cpu_s);
	prom_family(b, "lightvm_agent_max_resident_bytes", "gauge", "Peak resident memory of the agent process.");
	prom_printf(b, "lightvm_agent_max_resident_bytes %llu\n", (unsigned long long)a->max_rss);
	prom_family(b, "lightvm_metrics_scrapes_total", "counter", "Metrics requests answered.");
	prom_printf(b, "lightvm_metrics_scrapes_total %llu\n", (unsigned long long)a->scrapes);
	prom_family(b, "lightvm_metrics_refused_total", "counter",
		    "Metrics connections closed unanswered (too many clients, too slow, gone).");
	prom_printf(b, "lightvm_metrics_refused_total %llu\n", (unsigned long long)a->refused);
	prom_family(b, "lightvm_metrics_render_seconds", "gauge", "CPU time the previous metrics body took to make.");
	prom_printf(b, "lightvm_metrics_render_seconds %.6f\n", a->render_s);
}

void prom_events(struct prom_buf *b, const struct prom_agent *a)
{
	uint64_t cum = 0;

	prom_family(b, "lightvm_events_total", "counter", "VM events since the agent started, by kind.");
	for (unsigned e = 0; e < a->nevents; e++) {
		prom_printf(b, "lightvm_events_total{event=\"");
		prom_label(b, a->event_names[e] ? a->event_names[e] : "");
		prom_printf(b, "\"} %llu\n", (unsigned long long)a->events[e]);
	}
	prom_family(b, "lightvm_spawn_latency_seconds", "histogram",
		    "Spawn latency, request to guest ready, of the VMs ready since the agent started.");
	for (unsigned k = 0; k <= PROM_SPAWN_NLE; k++) {
		cum += a->spawn_bucket[k];
		if (k < PROM_SPAWN_NLE)
			prom_printf(b, "lightvm_spawn_latency_seconds_bucket{le=\"%g\"} %llu\n",
				    prom_spawn_le[k], (unsigned long long)cum);
		else
			prom_printf(b, "lightvm_spawn_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
				    (unsigned long long)cum);
	}
	prom_printf(b, "lightvm_spawn_latency_seconds_sum %.9f\n", a->spawn_sum);
	prom_printf(b, "lightvm_spawn_latency_seconds_count %llu\n", (unsigned long long)a->spawn_count);
}

void prom_host(struct prom_buf *b, const struct prom_host *h)
{
	prom_family(b, "lightvm_vms", "gauge", "VMs by state.");
	for (int s = 0; s < PROM_NSTATES; s++)
		prom_printf(b, "lightvm_vms{state=\"%s\"} %u\n", prom_states[s], h->by_state[s]);
	prom_family(b, "lightvm_host_cpus", "gauge", "Online CPUs of the host.");
	prom_printf(b, "lightvm_host_cpus %u\n", h->ncpus);
	prom_family(b, "lightvm_host_cpu_busy_ratio", "gauge",
		    "Host CPU busy over the last sample (1 = one CPU fully busy).");
	prom_printf(b, "lightvm_host_cpu_busy_ratio %.4f\n", h->cpu_pct / 100.0);
	prom_family(b, "lightvm_host_memory_bytes", "gauge", "Host memory (MemTotal).");
	prom_printf(b, "lightvm_host_memory_bytes %llu\n", (unsigned long long)h->mem_total);
	prom_family(b, "lightvm_host_memory_available_bytes", "gauge", "Host memory available (MemAvailable).");
	prom_printf(b, "lightvm_host_memory_available_bytes %llu\n", (unsigned long long)h->mem_available);
	prom_family(b, "lightvm_agent_resident_bytes", "gauge", "Resident memory of the agent process.");
	prom_printf(b, "lightvm_agent_resident_bytes %llu\n", (unsigned long long)h->agent_rss);
}

void prom_pools(struct prom_buf *b, const struct prom_pool *p, unsigned n)
{
	static const struct { const char *name, *type, *help; } f[] = {
		{ "lightvm_pool_target_shells", "gauge", "Shells the pool is kept at." },
		{ "lightvm_pool_ready_shells", "gauge", "Shells ready in the pool." },
		{ "lightvm_pool_preparing_shells", "gauge", "Shells being prepared for the pool." },
		{ "lightvm_pool_hits_total", "counter", "Spawns that found a shell in the pool." },
		{ "lightvm_pool_misses_total", "counter", "Spawns that had to create a shell." },
	};

	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		prom_family(b, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < n; i++) {
			uint64_t v[] = { p[i].target, p[i].ready, p[i].preparing, p[i].hits, p[i].misses };

			prom_printf(b, "%s{flavor=\"", f[k].name);
			prom_label(b, p[i].flavor);
			prom_printf(b, "\"} %llu\n", (unsigned long long)v[k]);
		}
	}
}

enum vm_metric { VM_STATE, VM_CPU, VM_MEM, VM_RSS, VM_CONSOLE, VM_SPAWN,
		 VM_RX, VM_TX, VM_RXP, VM_TXP, VM_RXD, VM_TXD, VM_NR };

static const struct { const char *name, *type, *help; } vm_fam[VM_NR] = {
	[VM_STATE]   = { "lightvm_vm_state", "gauge", "1 for the VM's state (and image)." },
	[VM_CPU]     = { "lightvm_vm_cpu_seconds_total", "counter", "CPU time of the VM (vCPU and its VMM)." },
	[VM_MEM]     = { "lightvm_vm_memory_bytes", "gauge", "Guest memory configured." },
	[VM_RSS]     = { "lightvm_vm_resident_bytes", "gauge", "Host memory resident for the VM." },
	[VM_CONSOLE] = { "lightvm_vm_console_bytes_total", "counter", "Console bytes the guest wrote." },
	[VM_SPAWN]   = { "lightvm_vm_spawn_seconds", "gauge", "Spawn latency of the VM, request to ready." },
	[VM_RX]      = { "lightvm_vm_network_receive_bytes_total", "counter", "Bytes the VM's NIC received." },
	[VM_TX]      = { "lightvm_vm_network_transmit_bytes_total", "counter", "Bytes the VM's NIC sent." },
	[VM_RXP]     = { "lightvm_vm_network_receive_packets_total", "counter", "Frames the VM's NIC received." },
	[VM_TXP]     = { "lightvm_vm_network_transmit_packets_total", "counter", "Frames the VM's NIC sent." },
	[VM_RXD]     = { "lightvm_vm_network_receive_drops_total", "counter",
			 "Frames for the VM dropped: no guest buffer (Xen; on KVM the tap's queue drops them)." },
	[VM_TXD]     = { "lightvm_vm_network_transmit_drops_total", "counter",
			 "Frames from the VM dropped: policed (rate, source MAC) or the tap full." },
};

static void vm_sample(struct prom_buf *b, enum vm_metric k, const struct prom_vm *v)
{
	uint64_t n;

	if ((k >= VM_RX && !v->has_nic) || (k == VM_SPAWN && !v->spawn_ns) ||
	    (k >= VM_RXD && !v->has_drops))
		return;
	prom_printf(b, "%s{name=\"", vm_fam[k].name);
	prom_label(b, v->name);
	switch (k) {
	case VM_STATE:
		prom_printf(b, "\",image=\"");
		prom_label(b, v->image);
		prom_printf(b, "\",state=\"");
		prom_label(b, v->state);
		prom_printf(b, "\"} 1\n");
		return;
	case VM_CPU:
		prom_printf(b, "\"} %.6f\n", (double)v->cpu_ns / 1e9);
		return;
	case VM_SPAWN:
		prom_printf(b, "\"} %.6f\n", (double)v->spawn_ns / 1e9);
		return;
	case VM_MEM: n = v->mem_bytes; break;
	case VM_RSS: n = v->rss_bytes; break;
	case VM_CONSOLE: n = v->console_bytes; break;
	case VM_RX: n = v->rx_bytes; break;
	case VM_TX: n = v->tx_bytes; break;
	case VM_RXP: n = v->rx_packets; break;
	case VM_TXP: n = v->tx_packets; break;
	case VM_RXD: n = v->rx_drops; break;
	default: n = v->tx_drops; break;
	}
	prom_printf(b, "\"} %llu\n", (unsigned long long)n);
}

void prom_vms(struct prom_buf *b, const struct prom_vm *v, unsigned n)
{
	for (int k = 0; k < VM_NR; k++) {
		prom_family(b, vm_fam[k].name, vm_fam[k].type, vm_fam[k].help);
		for (unsigned i = 0; i < n; i++)
			vm_sample(b, k, &v[i]);
	}
}
