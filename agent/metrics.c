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
 * no syscall per VM), and freed when sent; what it cost is itself a
 * metric (lightvm_metrics_render_seconds).  The host, pool and per-VM
 * families are written by proto/prom.c, which lvsh stats --prometheus
 * shares; the agent's own and the event families are written here.
 *
 * Also kept here, from the core's events: events by kind and the spawn
 * latency histogram (request to ready), counted since the agent started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
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
#include "prom.h"

#define METRICS_CONNS      8
#define METRICS_REQ_MAX    4096
#define METRICS_TIMEOUT_NS (10ll * 1000000000ll)
#define METRICS_VERSION    "0.1"  /* as HostInfo.version */

/* ---- what the events tell */

#define NLE PROM_SPAWN_NLE

_Static_assert(PROM_NSTATES == LV_ST_NR, "prom.c's state names and the core's states differ");

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
	for (k = 0; k < NLE && s > prom_spawn_le[k]; k++)
		;
	ms.spawn_bucket[k]++;
	ms.spawn_count++;
	ms.spawn_sum += s;
}

static const char *event_names[LV_EV_NR];

/* The agent's counters as prom.c takes them (names and counts point
 * into static storage). */
static void agent_counters(struct prom_agent *a)
{
	struct rusage ru;
	static char plat[160];

	getrusage(RUSAGE_SELF, &ru);
	for (int e = 0; e < LV_EV_NR; e++)
		event_names[e] = lv_event_name(e);
	*a = (struct prom_agent){
		.driver = lv_host_driver(g_host),
		.platform = lv_host_platform(g_host, plat, sizeof(plat)),
		.version = METRICS_VERSION, .started = ms.started,
		.cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
		.max_rss = (uint64_t)ru.ru_maxrss * 1024ull,
		.scrapes = ms.scrapes, .refused = ms.refused, .render_s = ms.render_s,
		.event_names = event_names, .events = ms.events, .nevents = LV_EV_NR,
		.spawn_count = ms.spawn_count, .spawn_sum = ms.spawn_sum,
	};
	memcpy(a->spawn_bucket, ms.spawn_bucket, sizeof(a->spawn_bucket));
}

void metrics_fill_host(Lightvm__HostInfo *hi)
{
	static Lightvm__AgentCounters ac;
	static Lightvm__EventCount ev[LV_EV_NR], *evp[LV_EV_NR];
	static uint64_t buckets[NLE + 1];
	struct prom_agent a;

	agent_counters(&a);
	lightvm__agent_counters__init(&ac);
	ac.has_started = ac.has_cpu_s = ac.has_max_rss = ac.has_scrapes = true;
	ac.has_refused = ac.has_render_s = ac.has_spawn_count = ac.has_spawn_sum = true;
	ac.started = a.started;
	ac.cpu_s = a.cpu_s;
	ac.max_rss = a.max_rss;
	ac.scrapes = a.scrapes;
	ac.refused = a.refused;
	ac.render_s = a.render_s;
	ac.spawn_count = a.spawn_count;
	ac.spawn_sum = a.spawn_sum;
	for (int e = 0; e < LV_EV_NR; e++) {
		lightvm__event_count__init(&ev[e]);
		ev[e].kind = (char *)event_names[e];
		ev[e].n = ms.events[e];
		evp[e] = &ev[e];
	}
	ac.n_events = LV_EV_NR;
	ac.events = evp;
	memcpy(buckets, a.spawn_bucket, sizeof(buckets));
	ac.n_spawn_bucket = NLE + 1;
	ac.spawn_bucket = buckets;
	hi->agent = &ac;
}

/* ---- the body */

static void render_host(struct prom_buf *b)
{
	Lightvm__HostInfo hi = LIGHTVM__HOST_INFO__INIT;
	unsigned by_state[LV_ST_NR];
	struct prom_host h = { 0 };

	stats_fill_host(&hi);
	lv_host_count(g_host, by_state);
	for (int s = 0; s < LV_ST_NR && s < PROM_NSTATES; s++)
		h.by_state[s] = by_state[s];
	h.ncpus = hi.ncpus;
	h.cpu_pct = hi.host_cpu_pct;
	h.mem_total = hi.mem_total;
	h.mem_available = hi.mem_available;
	h.agent_rss = hi.agent_rss;
	prom_host(b, &h);
}

static void render_pools(struct prom_buf *b)
{
	struct lv_pool_info p[32];
	struct prom_pool pp[32];
	char names[32][32];
	unsigned n = lv_pool_list(g_host, p, 32);

	if (n > 32)
		n = 32;
	for (unsigned i = 0; i < n; i++) {
		lv_flavor_name(names[i], sizeof(names[i]), p[i].mem_bytes, p[i].vcpus, p[i].kind);
		pp[i] = (struct prom_pool){ names[i], p[i].target, p[i].ready, p[i].preparing,
					    p[i].hits, p[i].misses };
	}
	prom_pools(b, pp, n);
}

static void vm_row(struct prom_vm *v, struct lv_vm *vm)
{
	const struct lv_vm_info *i = lv_vm_info(vm);
	struct lv_vm_stats st;

	lv_vm_stats(vm, &st);
	*v = (struct prom_vm){
		.name = i->name, .image = i->image, .state = lv_state_name(i->state),
		.cpu_ns = st.cpu_ns, .mem_bytes = i->mem_bytes, .rss_bytes = st.rss_bytes,
		.console_bytes = st.console_bytes, .has_nic = i->ipv4 != 0,
		.rx_bytes = st.net_rx_bytes, .tx_bytes = st.net_tx_bytes,
		.rx_packets = st.net_rx_packets, .tx_packets = st.net_tx_packets,
		.has_drops = true, .rx_drops = st.net_rx_drops, .tx_drops = st.net_tx_drops,
	};
	if (i->t[LV_PH_READY] && i->t[LV_PH_READY] > i->t[LV_PH_REQUEST])
		v->spawn_ns = (uint64_t)(i->t[LV_PH_READY] - i->t[LV_PH_REQUEST]);
}

static void render_vms(struct prom_buf *b)
{
	unsigned n = lv_host_count(g_host, NULL), got = 0;
	struct prom_vm *rows = calloc(n ? n : 1, sizeof(*rows));

	if (!rows) {
		b->oom = true;
		return;
	}
	for (struct lv_vm *vm = lv_vm_first(g_host); vm && got < n; vm = lv_vm_next(vm))
		vm_row(&rows[got++], vm);
	prom_vms(b, rows, got);
	free(rows);
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole body into b; 0 or -ENOMEM. */
static int metrics_render(struct prom_buf *b)
{
	double t0 = thread_cpu_s();
	struct prom_agent a;

	agent_counters(&a);
	prom_agent(b, &a);
	render_host(b);
	render_pools(b);
	prom_events(b, &a);
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
	struct prom_buf body;
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
	c->body = (struct prom_buf){ 0 };
	c->draining = true;
	if (shutdown(c->fd, SHUT_WR) < 0 || loop_mod(c->fd, EPOLLIN))
		conn_close(c, true);
}

static void conn_answer(struct mconn *c, int status, const char *why, bool head_only)
{
	int n;

	if (status != 200) {
		c->body.len = 0;
		prom_printf(&c->body, "%s\n", why);
	}
	n = snprintf(c->head, sizeof(c->head),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", status, why,
		     status == 200 ? PROM_CONTENT_TYPE : "text/plain; charset=utf-8", c->body.len);
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
	return netaddr_parse(a, ss, len);
}

/* An address others can reach: say so, the metrics name every VM. */
static void warn_exposed(const struct sockaddr_storage *ss, const char *addr)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

	if ((ss->ss_family == AF_INET && (ntohl(s4->sin_addr.s_addr) >> 24) != 127) ||
	    (ss->ss_family == AF_INET6 && !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)))
		alog(LV_LOG_WARN, "metrics: %s is not a loopback address: whoever reaches it reads every VM's name",
		     addr);
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
	warn_exposed(&ss, addr);
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
