/*
 * stats.c - live counters for replies and stats notifications.  Per VM
 * they come from the core (on KVM: the shell's shared stats page, no
 * syscall per VM); CPU % is the CPU time over the time since the previous
 * sample of that VM (at least 0.5 s apart, else the last value).  Host
 * numbers come from /proc/stat and /proc/meminfo, the agent's own from
 * getrusage and /proc/self/statm, sampled at most every 0.5 s.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "agent.h"

#define SAMPLE_NS 500000000ll

/* Read vm's counters and update its CPU % sample (now: the caller's
 * clock, read once per frame). */
void stats_sample(struct lv_vm *vm, int64_t now, struct lv_vm_stats *st, double *pct)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	struct vm_ext *e = vm_ext(vm);

	lv_vm_stats(vm, st);
	*pct = -1;
	if (!e)
		return;
	if (lv_state_is_final(i->state) || i->pid <= 0) {
		e->cpu.cpu_pct = 0;
	} else if (!e->cpu.t_prev) {
		/* first look: the average since the vCPU started */
		int64_t up = i->t[LV_PH_STARTED] ? now - i->t[LV_PH_STARTED] : 0;
		e->cpu.cpu_pct = up > 0 ? 100.0 * (double)st->cpu_ns / (double)up : 0;
		e->cpu.cpu_prev = st->cpu_ns;
		e->cpu.t_prev = now;
	} else if (now - e->cpu.t_prev >= SAMPLE_NS) {
		uint64_t d = st->cpu_ns > e->cpu.cpu_prev ? st->cpu_ns - e->cpu.cpu_prev : 0;
		e->cpu.cpu_pct = 100.0 * (double)d / (double)(now - e->cpu.t_prev);
		e->cpu.cpu_prev = st->cpu_ns;
		e->cpu.t_prev = now;
	}
	if (e->cpu.cpu_pct > 100.0 * i->vcpus + 5)   /* an estimate for a busy vCPU */
		e->cpu.cpu_pct = 100.0 * i->vcpus;
	*pct = e->cpu.cpu_pct;
}

/* The counters into m (pct < 0: unknown). */
void stats_put(Lightvm__VmInfo *m, const struct lv_vm_stats *st, double pct)
{
	m->has_cpu_ns = m->has_rss_bytes = m->has_console_bytes = true;
	m->cpu_ns = st->cpu_ns;
	m->rss_bytes = st->rss_bytes;
	m->console_bytes = st->console_bytes;
	/* absent while zero: smaller frames at 10,000 VMs */
	m->has_net_rx_packets = m->has_net_rx_bytes = st->net_rx_packets != 0;
	m->has_net_tx_packets = m->has_net_tx_bytes = st->net_tx_packets != 0;
	m->net_rx_packets = st->net_rx_packets;
	m->net_rx_bytes = st->net_rx_bytes;
	m->net_tx_packets = st->net_tx_packets;
	m->net_tx_bytes = st->net_tx_bytes;
	m->has_net_rx_drops = st->net_rx_drops != 0;
	m->has_net_tx_drops = st->net_tx_drops != 0;
	m->net_rx_drops = st->net_rx_drops;
	m->net_tx_drops = st->net_tx_drops;
	m->has_cpu_pct = pct >= 0;
	m->cpu_pct = pct >= 0 ? pct : 0;
}

void stats_fill_vm(Lightvm__VmInfo *m, struct lv_vm *vm)
{
	struct lv_vm_stats st;
	double pct;

	stats_sample(vm, lv_now_ns(), &st, &pct);
	stats_put(m, &st, pct);
}

/* ---- host */

struct host_sample {
	int64_t t;
	unsigned long long busy, total;   /* /proc/stat jiffies */
	uint64_t agent_cpu_ns;
	double host_pct, agent_pct;
	uint64_t mem_total, mem_avail, agent_rss;
	unsigned ncpus;
};

static struct host_sample hs;

static void read_proc_stat(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");

	*busy = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int k = 0; k < 8; k++)
			*total += v[k];
		*busy = *total - v[3] - v[4];   /* minus idle and iowait */
	}
	fclose(f);
}

static void read_meminfo(uint64_t *total, uint64_t *avail)
{
	char line[128];
	unsigned long long kb;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			*total = kb * 1024;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			*avail = kb * 1024;
	}
	fclose(f);
}

static uint64_t agent_rss(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void host_sample(void)
{
	int64_t now = lv_now_ns();
	unsigned long long busy, total;
	struct rusage ru;
	uint64_t cpu = 0;

	if (hs.t && now - hs.t < SAMPLE_NS)
		return;
	read_proc_stat(&busy, &total);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
		      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
	hs.ncpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (hs.t) {
		/* 100 = one core busy, as the protocol says */
		if (total > hs.total)
			hs.host_pct = 100.0 * hs.ncpus * (double)(busy - hs.busy) /
				      (double)(total - hs.total);
		hs.agent_pct = 100.0 * (double)(cpu - hs.agent_cpu_ns) / (double)(now - hs.t);
	}
	hs.busy = busy;
	hs.total = total;
	hs.agent_cpu_ns = cpu;
	read_meminfo(&hs.mem_total, &hs.mem_avail);
	hs.agent_rss = agent_rss();
	hs.t = now;
}

/* The pools as protobuf (the agent's edge); pi, pp and names are the
 * caller's storage for up to max flavors.  Returns how many were filled. */
unsigned stats_pools(Lightvm__PoolInfo *pi, Lightvm__PoolInfo **pp, char (*names)[32],
		     unsigned max)
{
	struct lv_pool_info info[32];
	unsigned n = lv_pool_list(g_host, info, 32);

	if (n > 32)
		n = 32;
	if (n > max)
		n = max;
	for (unsigned k = 0; k < n; k++) {
		lightvm__pool_info__init(&pi[k]);
		lv_flavor_name(names[k], 32, info[k].mem_bytes, info[k].vcpus, info[k].kind);
		pi[k].flavor = names[k];
		pi[k].target = info[k].target;
		pi[k].ready = info[k].ready;
		pi[k].preparing = info[k].preparing;
		pi[k].hits = info[k].hits;
		pi[k].misses = info[k].misses;
		pi[k].has_refill_per_s = true;
		pi[k].refill_per_s = info[k].refill_per_s;
		pp[k] = &pi[k];
	}
	return n;
}

void stats_fill_host(Lightvm__HostInfo *hi)
{
	static Lightvm__PoolInfo pi[32], *pp[32];
	static char names[32][32];
	unsigned n;

	host_sample();
	hi->has_ncpus = hi->has_host_cpu_pct = hi->has_mem_total = true;
	hi->has_mem_available = hi->has_agent_cpu_pct = hi->has_agent_rss = true;
	hi->ncpus = hs.ncpus;
	hi->host_cpu_pct = hs.host_pct;
	hi->mem_total = hs.mem_total;
	hi->mem_available = hs.mem_avail;
	hi->agent_cpu_pct = hs.agent_pct;
	hi->agent_rss = hs.agent_rss;
	n = stats_pools(pi, pp, names, 32);
	hi->n_pools = n;
	hi->pools = pp;
	metrics_fill_host(hi);
}

void pb_fill_vm(struct pbvm *p, struct lv_vm *vm, bool phases)
{
	pb_fill_vm_base(p, vm, phases);
	p->m.has_uptime_ns = pb_uptime(vm, lv_now_ns(), &p->m.uptime_ns);
	stats_fill_vm(&p->m, vm);
}
