/*
 * prom.h - LightVM's metrics in the Prometheus text format (version
 * 0.0.4), written by one set of functions for both sides: lightvmd serves
 * them over HTTP (agent/metrics.c, from the core) and `lvsh stats
 * --prometheus` prints them (from a stats report).  So the two print the
 * same names, HELP and TYPE lines and labels.  Plain C, no protobuf: each
 * side fills the structs below from what it has.
 */
#ifndef LV_PROM_H
#define LV_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_NSTATES 11  /* prepared ... migrating, as HostInfo.by_state */

/* A growing buffer; oom is set (and the text cut) when it cannot grow
 * or would pass PROM_BUF_MAX.  The caller frees p. */
#define PROM_BUF_MAX (512u << 20)
struct prom_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void prom_printf(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A label value, escaped (backslash, double quote, newline). */
void prom_label(struct prom_buf *b, const char *s);
/* The # HELP and # TYPE lines of one metric family. */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);

struct prom_host {
	uint32_t by_state[PROM_NSTATES];
	uint32_t ncpus;
	double   cpu_pct;            /* 100 = one CPU busy */
	uint64_t mem_total, mem_available, agent_rss;
};

struct prom_pool {
	const char *flavor;          /* "4M/1" */
	uint64_t target, ready, preparing, hits, misses;
};

struct prom_vm {
	const char *name, *image, *state;
	uint64_t cpu_ns, mem_bytes, rss_bytes, console_bytes;
	uint64_t spawn_ns;           /* request to ready; 0: not (yet) ready */
	bool     has_nic;            /* network series only for a VM with a NIC */
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	bool     has_drops;          /* the drops are known (not in a stats report) */
	uint64_t rx_drops, tx_drops;
};

/* The agent's own families: what it is, its CPU and memory, its metrics
 * listener's counters, the VM events since it started and the spawn
 * latency histogram (buckets at prom_spawn_le, the last one +Inf). */
#define PROM_SPAWN_NLE 14
extern const double prom_spawn_le[PROM_SPAWN_NLE];
struct prom_agent {
	const char *driver, *platform, *version;
	int64_t  started;            /* seconds since the epoch */
	double   cpu_s;              /* user + system */
	uint64_t max_rss;            /* bytes */
	uint64_t scrapes, refused;
	double   render_s;
	const char *const *event_names;
	const uint64_t *events;
	unsigned nevents;
	uint64_t spawn_bucket[PROM_SPAWN_NLE + 1];   /* per bucket, not cumulative */
	uint64_t spawn_count;
	double   spawn_sum;
};
void prom_agent(struct prom_buf *b, const struct prom_agent *a);
void prom_events(struct prom_buf *b, const struct prom_agent *a);
void prom_host(struct prom_buf *b, const struct prom_host *h);
void prom_pools(struct prom_buf *b, const struct prom_pool *p, unsigned n);
/* Per VM: family after family, each a pass over v[0..n). */
void prom_vms(struct prom_buf *b, const struct prom_vm *v, unsigned n);

#endif
