/*
 * lv-fakeagent - a stand-in for lightvmd that answers list, host, pool,
 * inspect and log for N synthetic VMs whose CPU, memory and console
 * counters change at every list, and refuses everything else
 * (EOPNOTSUPP, like an agent without stats subscriptions).  It measures
 * lvsh's live view alone: scripts/measure-top runs `lvsh top` against it
 * with 10,000 VMs.
 *
 *   lv-fakeagent SOCKET NVMS
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "lightvm.pb-c.h"

#define MAX_CLIENTS 16

static unsigned nvms;
static Lightvm__VmInfo *vms;
static Lightvm__VmInfo **vmp;
static char (*names)[32];
static unsigned tick;

static void make_vms(void)
{
	vms = calloc(nvms, sizeof(*vms));
	vmp = calloc(nvms, sizeof(*vmp));
	names = calloc(nvms, sizeof(*names));
	if (!vms || !vmp || !names)
		exit(1);
	for (unsigned i = 0; i < nvms; i++) {
		lightvm__vm_info__init(&vms[i]);
		snprintf(names[i], sizeof(names[i]), "noop-%u", i + 1);
		vms[i].name = names[i];
		vms[i].id = i + 1;
		vms[i].state = (char *)(i % 97 == 0 ? "paused" : i % 389 == 0 ? "crashed" : "running");
		vms[i].image = (char *)"noop";
		vms[i].mem_bytes = 4u << 20;
		vms[i].vcpus = 1;
		vms[i].has_uptime_ns = vms[i].has_spawn_ns = vms[i].has_cpu_pct = 1;
		vms[i].has_rss_bytes = vms[i].has_console_bytes = 1;
		vms[i].spawn_ns = 300000 + (i * 7919u) % 500000;
		vmp[i] = &vms[i];
	}
}

/* Every list: a few percent of the VMs change CPU, all age. */
static void churn(void)
{
	tick++;
	for (unsigned i = 0; i < nvms; i++) {
		vms[i].uptime_ns = (uint64_t)tick * 1000000000ull + i;
		if ((i + tick) % 23 == 0)
			vms[i].cpu_pct = (double)((i * 31u + tick * 17u) % 1000) / 10.0;
		vms[i].rss_bytes = (1600u << 10) + ((i + tick) % 50) * 4096u;
		vms[i].console_bytes = i % 5 ? 0 : tick * 10u;
	}
}

static void reply(int fd, uint32_t seq, Lightvm__Reply *r)
{
	size_t len = lightvm__reply__get_packed_size(r);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		exit(1);
	lightvm__reply__pack(r, buf);
	if (lv_frame_write(fd, LV_FRAME_REPLY, seq, buf, (uint32_t)len))
		fprintf(stderr, "lv-fakeagent: write failed\n");
	free(buf);
}

static void serve(int fd, uint32_t seq, const Lightvm__Request *rq)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	Lightvm__HostInfo hi = LIGHTVM__HOST_INFO__INIT;
	Lightvm__PoolInfo pi = LIGHTVM__POOL_INFO__INIT, *pp = &pi;
	uint32_t by[7] = { 0 };

	switch (rq->op_case) {
	case LIGHTVM__REQUEST__OP_LIST:
		churn();
		r.n_vms = nvms;
		r.vms = vmp;
		break;
	case LIGHTVM__REQUEST__OP_INSPECT:
		r.n_vms = 1;
		r.vms = vmp;
		break;
	case LIGHTVM__REQUEST__OP_LOG:
		r.has_log = 1;
		break;
	case LIGHTVM__REQUEST__OP_HOST:
		for (unsigned i = 0; i < nvms; i++)
			by[vms[i].state[0] == 'p' ? 3 : vms[i].state[0] == 'c' ? 6 : 2]++;
		hi.driver = (char *)"fake";
		hi.hostname = (char *)"fakehost";
		hi.vms = nvms;
		hi.n_by_state = 7;
		hi.by_state = by;
		hi.has_host_cpu_pct = hi.has_mem_total = hi.has_agent_cpu_pct = 1;
		hi.host_cpu_pct = 12.5;
		hi.mem_total = 24ull << 30;
		hi.mem_available = 16ull << 30;
		hi.agent_cpu_pct = 0.4;
		hi.agent_rss = 20u << 20;
		pi.flavor = (char *)"4M/1";
		pi.target = pi.ready = 64;
		hi.n_pools = 1;
		hi.pools = &pp;
		r.host = &hi;
		break;
	default:
		r.has_err = 1;
		r.err = EOPNOTSUPP;
		r.message = (char *)"unknown request";
	}
	reply(fd, seq, &r);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd p[MAX_CLIENTS + 1];
	int n = 1, lfd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: lv-fakeagent SOCKET NVMS\n");
		return 2;
	}
	nvms = (unsigned)atoi(argv[2]);
	make_vms();
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16)) {
		perror("lv-fakeagent");
		return 1;
	}
	p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 1;
		if ((p[0].revents & POLLIN) && n <= MAX_CLIENTS) {
			int c = accept(lfd, NULL, NULL);

			if (c >= 0)
				p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
		for (int i = 1; i < n; i++) {
			struct lv_frame_hdr h;
			Lightvm__Request *rq;
			uint8_t *body;

			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (lv_frame_read(p[i].fd, &h, &body)) {
				close(p[i].fd);
				p[i--] = p[--n];
				continue;
			}
			rq = lightvm__request__unpack(NULL, h.len, body);
			free(body);
			if (rq) {
				serve(p[i].fd, h.seq, rq);
				lightvm__request__free_unpacked(rq, NULL);
			}
		}
	}
}
