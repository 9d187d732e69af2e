/*
 * metrics.c - the agent's metrics in Prometheus text format (version
 * 0.0.4), served over HTTP/1.x on an address the operator opts into
 * (lightvmd.conf "metrics = 127.0.0.1:9477", "[::1]:9477" or a UNIX
 * socket path; --metrics).  GET or HEAD /metrics; nothing else.
 *
 * Every client is hostile: at most METRICS_CONNS connections (more are
 * closed at accept), a request head of at most METRICS_REQ_MAX bytes,
 * METRICS_TIMEOUT_NS for the whole exchange, one request per connection.
 * The body is made when the request is complete, in one pass over the
 * VMs (the counters come from the core; on KVM the shells' stats pages,
 * no syscall per VM), and freed when sent.  What it cost is itself a
 * metric (lightvm_metrics_render_seconds).
 *
 * Also kept here, from the core's events: events by kind and the spawn
 * latency histogram (request to ready), counted since the agent started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "agent.h"

#define METRICS_CONNS      8
#define METRICS_REQ_MAX    4096
#define METRICS_TIMEOUT_NS (10ll * 1000000000ll)
#define METRICS_BODY_MAX   (512u << 20)
#define METRICS_VERSION    "0.1"  /* as HostInfo.version */

/* ---- a growing output buffer */

struct mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void mb_grow(struct mbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 65536;
	char *p;

	while (cap < b->len + need && cap < METRICS_BODY_MAX)
		cap *= 2;
	if (cap < b->len + need || !(p = realloc(b->p, cap))) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_printf(struct mbuf *b, const char *fmt, ...)
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
		mb_grow(b, (size_t)n + 1);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static void mb_label(struct mbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->cap - b->len < 2 * n + 1)
		mb_grow(b, 2 * n + 1);
	if (b->oom)
		return;
	for (; *s; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			b->p[b->len++] = '\\';
		b->p[b->len++] = *s == '\n' ? 'n' : *s;
	}
	b->p[b->len] = 0;
}

static void family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- what the events tell */

static const double spawn_le[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define NLE (sizeof(spawn_le) / sizeof(spawn_le[0]))

static struct {
	uint64_t events[LV_EV_NR];
	uint64_t spawn_bucket[NLE + 1];	/* the last one: +Inf */
	uint64_t spawn_count;
	double   spawn_sum;
	uint64_t scrapes, refused;
	double   render_s;		/* CPU time of the last body */
	time_t   started;
} ms;

void metrics_vm_event(struct lv_vm *vm, enum lv_event ev)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	double s;
	size_t k;

	if (ev >= LV_EV_NR)
		return;
	ms.events[ev]++;
	if (ev != LV_EV_READY || !i->t[LV_PH_READY] || !i->t[LV_PH_REQUEST] ||
	    i->t[LV_PH_READY] < i->t[LV_PH_REQUEST])
		return;
	s = (double)(i->t[LV_PH_READY] - i->t[LV_PH_REQUEST]) / 1e9;
	for (k = 0; k < NLE && s > spawn_le[k]; k++)
		;
	ms.spawn_bucket[k]++;
	ms.spawn_count++;
	ms.spawn_sum += s;
}

/* ---- the body */

static void render_agent(struct mbuf *b)
{
	struct rusage ru;
	char plat[160];

	getrusage(RUSAGE_SELF, &ru);
	family(b, "lightvm_agent_info", "gauge", "The agent: driver, platform and version (always 1).");
	mb_printf(b, "lightvm_agent_info{driver=\"");
	mb_label(b, lv_host_driver(g_host));
	mb_printf(b, "\",platform=\"");
	mb_label(b, lv_host_platform(g_host, plat, sizeof(plat)));
	mb_printf(b, "\",version=\"%s\"} 1\n", METRICS_VERSION);
	family(b, "lightvm_agent_start_time_seconds", "gauge", "When the agent started, seconds since the epoch.");
	mb_printf(b, "lightvm_agent_start_time_seconds %lld\n", (long long)ms.started);
	family(b, "lightvm_agent_cpu_seconds_total", "counter", "CPU time of the agent process (user and system).");
	mb_printf(b, "lightvm_agent_cpu_seconds_total %.6f\n",
		  (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	family(b, "lightvm_agent_max_resident_bytes", "gauge", "Peak resident memory of the agent process.");
	mb_printf(b, "lightvm_agent_max_resident_bytes %llu\n", (unsigned long long)ru.ru_maxrss * 1024ull);
	family(b, "lightvm_metrics_scrapes_total", "counter", "Metrics requests answered.");
	mb_printf(b, "lightvm_metrics_scrapes_total %llu\n", (unsigned long long)ms.scrapes);
	family(b, "lightvm_metrics_refused_total", "counter",
	       "Metrics connections closed unanswered (too many, too slow, too large, bad request).");
	mb_printf(b, "lightvm_metrics_refused_total %llu\n", (unsigned long long)ms.refused);
	family(b, "lightvm_metrics_render_seconds", "gauge", "CPU time the previous metrics body took to make.");
	mb_printf(b, "lightvm_metrics_render_seconds %.6f\n", ms.render_s);
}

static void render_host(struct mbuf *b)
{
	Lightvm__HostInfo hi = LIGHTVM__HOST_INFO__INIT;
	unsigned by_state[LV_ST_NR];

	stats_fill_host(&hi);
	lv_host_count(g_host, by_state);
	family(b, "lightvm_vms", "gauge", "VMs by state.");
	for (int s = 0; s < LV_ST_NR; s++)
		mb_printf(b, "lightvm_vms{state=\"%s\"} %u\n", lv_state_name(s), by_state[s]);
	family(b, "lightvm_host_cpus", "gauge", "Online CPUs of the host.");
	mb_printf(b, "lightvm_host_cpus %u\n", hi.ncpus);
	family(b, "lightvm_host_cpu_busy_ratio", "gauge",
	       "Host CPU busy over the last sample (1 = one CPU fully busy).");
	mb_printf(b, "lightvm_host_cpu_busy_ratio %.4f\n", hi.host_cpu_pct / 100.0);
	family(b, "lightvm_host_memory_bytes", "gauge", "Host memory (MemTotal).");
	mb_printf(b, "lightvm_host_memory_bytes %llu\n", (unsigned long long)hi.mem_total);
	family(b, "lightvm_host_memory_available_bytes", "gauge", "Host memory available (MemAvailable).");
	mb_printf(b, "lightvm_host_memory_available_bytes %llu\n", (unsigned long long)hi.mem_available);
	family(b, "lightvm_agent_resident_bytes", "gauge", "Resident memory of the agent process.");
	mb_printf(b, "lightvm_agent_resident_bytes %llu\n", (unsigned long long)hi.agent_rss);
}

static void render_pools(struct mbuf *b)
{
	static const struct { const char *name, *type, *help; } f[] = {
		{ "lightvm_pool_target_shells", "gauge", "Shells the pool is kept at." },
		{ "lightvm_pool_ready_shells", "gauge", "Shells ready in the pool." },
		{ "lightvm_pool_preparing_shells", "gauge", "Shells being prepared for the pool." },
		{ "lightvm_pool_hits_total", "counter", "Spawns that found a shell in the pool." },
		{ "lightvm_pool_misses_total", "counter", "Spawns that had to create a shell." },
	};
	struct lv_pool_info p[32];
	unsigned n = lv_pool_list(g_host, p, 32);

	if (n > 32)
		n = 32;
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		family(b, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < n; i++) {
			uint64_t v[] = { p[i].target, p[i].ready, p[i].preparing, p[i].hits, p[i].misses };

			mb_printf(b, "%s{flavor=\"%lluM/%u\"} %llu\n", f[k].name,
				  (unsigned long long)(p[i].mem_bytes >> 20), p[i].vcpus,
				  (unsigned long long)v[k]);
		}
	}
}

static void render_events(struct mbuf *b)
{
	uint64_t cum = 0;

	family(b, "lightvm_events_total", "counter", "VM events since the agent started, by kind.");
	for (int e = 0; e < LV_EV_NR; e++)
		mb_printf(b, "lightvm_events_total{event=\"%s\"} %llu\n", lv_event_name(e),
			  (unsigned long long)ms.events[e]);
	family(b, "lightvm_spawn_latency_seconds", "histogram",
	       "Spawn latency, request to guest ready, of the VMs ready since the agent started.");
	for (size_t k = 0; k <= NLE; k++) {
		cum += ms.spawn_bucket[k];
		if (k < NLE)
			mb_printf(b, "lightvm_spawn_latency_seconds_bucket{le=\"%g\"} %llu\n",
				  spawn_le[k], (unsigned long long)cum);
		else
			mb_printf(b, "lightvm_spawn_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
				  (unsigned long long)cum);
	}
	mb_printf(b, "lightvm_spawn_latency_seconds_sum %.9f\n", ms.spawn_sum);
	mb_printf(b, "lightvm_spawn_latency_seconds_count %llu\n", (unsigned long long)ms.spawn_count);
}

/* Per VM: one family after the other, each a pass over the sampled VMs. */
struct vmrow {
	const struct lv_vm_info *i;
	struct lv_vm_stats st;
};

enum vm_metric { VM_STATE, VM_CPU, VM_MEM, VM_RSS, VM_CONSOLE, VM_SPAWN,
		 VM_RX, VM_TX, VM_RXP, VM_TXP, VM_NR };

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
};

static void vm_sample(struct mbuf *b, enum vm_metric k, const struct vmrow *r)
{
	const struct lv_vm_info *i = r->i;

	if (k >= VM_RX && !i->ipv4)
		return;		/* no NIC, no network series */
	if (k == VM_SPAWN && (!i->t[LV_PH_READY] || i->t[LV_PH_READY] < i->t[LV_PH_REQUEST]))
		return;
	mb_printf(b, "%s{name=\"", vm_fam[k].name);
	mb_label(b, i->name);
	switch (k) {
	case VM_STATE:
		mb_printf(b, "\",image=\"");
		mb_label(b, i->image);
		mb_printf(b, "\",state=\"%s\"} 1\n", lv_state_name(i->state));
		break;
	case VM_CPU: mb_printf(b, "\"} %.6f\n", (double)r->st.cpu_ns / 1e9); break;
	case VM_MEM: mb_printf(b, "\"} %llu\n", (unsigned long long)i->mem_bytes); break;
	case VM_RSS: mb_printf(b, "\"} %llu\n", (unsigned long long)r->st.rss_bytes); break;
	case VM_CONSOLE: mb_printf(b, "\"} %llu\n", (unsigned long long)r->st.console_bytes); break;
	case VM_SPAWN:
		mb_printf(b, "\"} %.6f\n", (double)(i->t[LV_PH_READY] - i->t[LV_PH_REQUEST]) / 1e9);
		break;
	case VM_RX: mb_printf(b, "\"} %llu\n", (unsigned long long)r->st.net_rx_bytes); break;
	case VM_TX: mb_printf(b, "\"} %llu\n", (unsigned long long)r->st.net_tx_bytes); break;
	case VM_RXP: mb_printf(b, "\"} %llu\n", (unsigned long long)r->st.net_rx_packets); break;
	case VM_TXP: mb_printf(b, "\"} %llu\n", (unsigned long long)r->st.net_tx_packets); break;
	default: break;
	}
}

static void render_vms(struct mbuf *b)
{
	unsigned n = lv_host_count(g_host, NULL), got = 0;
	struct vmrow *rows = calloc(n ? n : 1, sizeof(*rows));

	if (!rows) {
		b->oom = true;
		return;
	}
	for (struct lv_vm *vm = lv_vm_first(g_host); vm && got < n; vm = lv_vm_next(vm)) {
		rows[got].i = lv_vm_info(vm);
		lv_vm_stats(vm, &rows[got].st);
		got++;
	}
	for (int k = 0; k < VM_NR; k++) {
		family(b, vm_fam[k].name, vm_fam[k].type, vm_fam[k].help);
		for (unsigned r = 0; r < got; r++)
			vm_sample(b, k, &rows[r]);
	}
	free(rows);
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole body into b; 0 or -ENOMEM. */
static int metrics_render(struct mbuf *b)
{
	double t0 = thread_cpu_s();

	render_agent(b);
	render_host(b);
	render_pools(b);
	render_events(b);
	render_vms(b);
	ms.render_s = thread_cpu_s() - t0;
	return b->oom ? -ENOMEM : 0;
}

/* ---- HTTP */

struct mconn {
	int fd;
	int64_t deadline;
	char req[METRICS_REQ_MAX + 1];
	size_t rlen;
	char head[256];
	size_t hlen;
	struct mbuf body;
	size_t off;             /* bytes of head + body sent */
	bool writing;
	bool draining;          /* all sent: read until the client closes */
};

static struct mconn *conns[METRICS_CONNS];
static int listen_fd = -1;
static char unix_path[108];

static void conn_close(struct mconn *c, bool answered)
{
	for (int k = 0; k < METRICS_CONNS; k++)
		if (conns[k] == c)
			conns[k] = NULL;
	if (!answered)
		ms.refused++;
	loop_del(c->fd);
	close(c->fd);
	free(c->body.p);
	free(c);
}

static void conn_flush(struct mconn *c)
{
	while (c->off < c->hlen + c->body.len) {
		struct iovec v[2];
		int nv = 0;
		ssize_t w;

		if (c->off < c->hlen)
			v[nv++] = (struct iovec){ c->head + c->off, c->hlen - c->off };
		if (c->body.len)
			v[nv++] = (struct iovec){
				c->body.p + (c->off > c->hlen ? c->off - c->hlen : 0),
				c->body.len - (c->off > c->hlen ? c->off - c->hlen : 0) };
		w = writev(c->fd, v, nv);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w <= 0) {
			conn_close(c, false);
			return;
		}
		c->off += (size_t)w;
	}
	/* A lingering close: closing with unread input would reset the
	 * connection and could lose the answer (a 431 to a client still
	 * sending); the deadline bounds the wait. */
	free(c->body.p);
	c->body = (struct mbuf){ 0 };
	c->draining = true;
	if (shutdown(c->fd, SHUT_WR) < 0 || loop_mod(c->fd, EPOLLIN))
		conn_close(c, true);
}

static void conn_answer(struct mconn *c, int status, const char *why, bool head_only)
{
	static const char ctype[] = "text/plain; version=0.0.4; charset=utf-8";
	int n;

	if (status != 200) {
		c->body.len = 0;
		mb_printf(&c->body, "%s\n", why);
	}
	n = snprintf(c->head, sizeof(c->head),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", status, why,
		     status == 200 ? ctype : "text/plain; charset=utf-8", c->body.len);
	c->hlen = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
	if (head_only)
		c->body.len = 0;
	c->writing = true;
	if (loop_mod(c->fd, EPOLLOUT)) {
		conn_close(c, false);
		return;
	}
	conn_flush(c);
}

/* A complete request head in c->req: answer it. */
static void conn_request(struct mconn *c)
{
	char *sp1 = strchr(c->req, ' '), *sp2, *q;
	bool head;

	if (!sp1 || !(sp2 = strchr(sp1 + 1, ' ')) || strncmp(sp2 + 1, "HTTP/1.", 7)) {
		conn_answer(c, 400, "Bad Request", false);
		return;
	}
	*sp1 = *sp2 = 0;
	head = strcmp(c->req, "HEAD") == 0;
	if (!head && strcmp(c->req, "GET")) {
		conn_answer(c, 405, "Method Not Allowed", false);
		return;
	}
	if ((q = strchr(sp1 + 1, '?')))
		*q = 0;         /* a query string is ignored */
	if (strcmp(sp1 + 1, "/metrics")) {
		conn_answer(c, 404, "Not Found (try /metrics)", head);
		return;
	}
	if (metrics_render(&c->body)) {
		conn_answer(c, 503, "Service Unavailable (out of memory)", head);
		return;
	}
	ms.scrapes++;
	conn_answer(c, 200, "OK", head);
}

static void conn_cb(void *arg, int fd, uint32_t events)
{
	struct mconn *c = arg;
	ssize_t n;

	if (c->draining) {
		n = read(fd, c->req, METRICS_REQ_MAX);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c, true);
		return;
	}
	if (c->writing) {
		conn_flush(c);
		return;
	}
	n = read(fd, c->req + c->rlen, METRICS_REQ_MAX - c->rlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, false);
		return;
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = 0;
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		conn_request(c);
	else if (c->rlen >= METRICS_REQ_MAX)
		conn_answer(c, 431, "Request Header Fields Too Large", false);
}

static void accept_cb(void *arg, int fd, uint32_t events)
{
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), k;
		struct mconn *c;

		if (cfd < 0)
			return;
		for (k = 0; k < METRICS_CONNS && conns[k]; k++)
			;
		c = k < METRICS_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c || loop_add(cfd, EPOLLIN, conn_cb, c)) {
			ms.refused++;
			close(cfd);
			free(c);
			continue;
		}
		c->fd = cfd;
		c->deadline = lv_now_ns() + METRICS_TIMEOUT_NS;
		conns[k] = c;
	}
}

void metrics_tick(void)
{
	int64_t now;

	if (listen_fd < 0)
		return;
	now = lv_now_ns();
	for (int k = 0; k < METRICS_CONNS; k++)
		if (conns[k] && now >= conns[k]->deadline)
			conn_close(conns[k], conns[k]->draining);
}

/* ---- the listening socket */

/* "HOST:PORT" with an IPv4 address, "[IPv6]:PORT", or "/path". */
static int parse_addr(const char *a, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (a[0] == '/') {
		struct sockaddr_un *su = (struct sockaddr_un *)ss;

		if (strlen(a) >= sizeof(su->sun_path))
			return -ENAMETOOLONG;
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, a);
		*len = sizeof(*su);
		return 0;
	}
	colon = strrchr(a, ':');
	if (!colon || colon == a || (size_t)(colon - a) >= sizeof(host))
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == 0 || port == 0 || port > 65535)
		return -EINVAL;
	if (a[0] == '[' && colon[-1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		snprintf(host, sizeof(host), "%.*s", (int)(colon - a - 2), a + 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		snprintf(host, sizeof(host), "%.*s", (int)(colon - a), a);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
	}
}

/* A UNIX socket: readable by root and group (the agent's read group). */
static void unix_perms(const char *path, const char *group)
{
	struct group *g = group ? getgrnam(group) : NULL;

	if (g && chown(path, (uid_t)-1, g->gr_gid) == 0)
		chmod(path, 0660);
	else
		chmod(path, 0600);
}

int metrics_start(const char *addr, const char *group, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, rc;

	ms.started = time(NULL);
	if (!addr || !*addr)
		return 0;
	if (parse_addr(addr, &ss, &len)) {
		snprintf(err, errlen, "metrics '%s': not 127.0.0.1:PORT, [::1]:PORT or /path", addr);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ss.ss_family == AF_UNIX) {
		struct stat st;

		if (lstat(addr, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(addr);    /* a previous agent's */
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		snprintf(err, errlen, "metrics %s: %s", addr, strerror(errno));
		close(fd);
		return rc;
	}
	if (ss.ss_family == AF_UNIX) {
		unix_perms(addr, group);
		snprintf(unix_path, sizeof(unix_path), "%s", addr);
	}
	rc = loop_add(fd, EPOLLIN, accept_cb, NULL);
	if (rc) {
		close(fd);
		return rc;
	}
	listen_fd = fd;
	alog(LV_LOG_INFO, "metrics: Prometheus text format on %s%s/metrics",
	     ss.ss_family == AF_UNIX ? "unix:" : "http://", addr);
	return 0;
}

void metrics_close(void)
{
	for (int k = 0; k < METRICS_CONNS; k++)
		if (conns[k])
			conn_close(conns[k], false);
	if (listen_fd < 0)
		return;
	loop_del(listen_fd);
	close(listen_fd);
	if (unix_path[0])
		unlink(unix_path);
	listen_fd = -1;
}
