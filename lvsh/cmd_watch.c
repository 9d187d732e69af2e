/*
 * cmd_watch.c - the commands that follow the agent: stats (a snapshot,
 * or one every interval), events (the lifecycle stream, until Ctrl-C or
 * count=N) and wait (until VMs reach a state).  stats and events use a
 * connection of their own (a subscription lives as long as its
 * connection); wait is an ordinary call.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "fmt.h"
#include "json.h"
#include "stats_prom.h"

/* Index of HostInfo.by_state, as in proto/lightvm.proto. */
static const char *const state_names[] = {
	"prepared", "booting", "running", "paused", "shutting-down",
	"shutoff", "crashed", "saving", "saved", "restoring", "migrating",
};

/* Subscribe on a new connection.  Returns an LVSH_EXIT_* value; *fd is
 * the connection on success. */
static int subscribe(struct lvsh *sh, const char *what, const Lightvm__SubscribeReq *sr,
		     int *fd)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__Reply *r;
	Lightvm__Notify *n;
	uint32_t seq;
	int rc;

	rc = lvsh_conn_open(sh, what, fd);
	if (rc != LVSH_EXIT_OK)
		return rc;
	req.op_case = LIGHTVM__REQUEST__OP_SUBSCRIBE;
	req.subscribe = (Lightvm__SubscribeReq *)sr;
	rc = lvsh_conn_send(*fd, 1, &req);
	if (rc == 0)
		rc = lvsh_conn_recv(*fd, &seq, &r, &n);
	if (rc < 0) {
		lvsh_err(what, "lost connection to agent: %s", strerror(-rc));
		close(*fd);
		return LVSH_EXIT_UNREACH;
	}
	if (n != NULL || r == NULL || (r->has_err && r->err)) {
		lvsh_err(what, "%s", r && r->message ? r->message : "protocol error: no reply to subscribe");
		if (r)
			lightvm__reply__free_unpacked(r, NULL);
		if (n)
			lightvm__notify__free_unpacked(n, NULL);
		close(*fd);
		return LVSH_EXIT_FAIL;
	}
	lightvm__reply__free_unpacked(r, NULL);
	return LVSH_EXIT_OK;
}

/* Next notification; NULL at the end (error reported, *rc set). */
static Lightvm__Notify *next_notify(struct lvsh *sh, const char *what, int fd, int *rc)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		Lightvm__Reply *r;
		Lightvm__Notify *n;
		uint32_t seq;
		int e;

		if (lvsh_interrupted) {
			*rc = LVSH_EXIT_OK;   /* Ctrl-C in the REPL: stop following */
			return NULL;
		}
		if (poll(&p, 1, 500) <= 0)
			continue;
		e = lvsh_conn_recv(fd, &seq, &r, &n);
		if (e < 0) {
			lvsh_err(what, "lost connection to agent: %s", strerror(-e));
			*rc = LVSH_EXIT_UNREACH;
			return NULL;
		}
		if (r) {
			lightvm__reply__free_unpacked(r, NULL);
			continue;
		}
		return n;
	}
}

/* ---- stats */

static void host_text(struct lvsh *sh, const Lightvm__HostInfo *h)
{
	char mt[16], ma[16], ar[16];
	const char *sep = " (";

	lvsh_fmt_size(mt, sizeof(mt), h->mem_total);
	lvsh_fmt_size(ma, sizeof(ma), h->mem_available);
	lvsh_fmt_size(ar, sizeof(ar), h->agent_rss);
	fprintf(sh->out, "host: cpu %.1f%% of %u cores, mem %s available of %s; agent cpu %.2f%%, rss %s\n",
		h->host_cpu_pct, h->ncpus, ma, mt, h->agent_cpu_pct, ar);
	fprintf(sh->out, "vms: %u", h->vms);
	for (size_t i = 0; i < h->n_by_state && i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (!h->by_state[i])
			continue;
		fprintf(sh->out, "%s%s %u", sep, state_names[i], h->by_state[i]);
		sep = ", ";
	}
	fprintf(sh->out, "%s\n", *sep == ',' ? ")" : "");
	for (size_t i = 0; i < h->n_pools; i++)
		fprintf(sh->out, "pool %s: %u/%u ready, %u preparing, %llu hits, %llu misses\n",
			h->pools[i]->flavor, h->pools[i]->ready, h->pools[i]->target,
			h->pools[i]->preparing, (unsigned long long)h->pools[i]->hits,
			(unsigned long long)h->pools[i]->misses);
}

static void stats_text(struct lvsh *sh, const Lightvm__Stats *st, int host_only)
{
	static const char *const head[] = { "NAME", "STATE", "CPU%", "CPU", "UPTIME",
		"RSS", "CONSOLE", "NET-RX", "NET-TX" };
	char c[8][24];
	const char *row[9] = { NULL, NULL, c[0], c[1], c[2], c[3], c[4], c[5], c[6] };
	struct lvsh_table t;

	if (st->host)
		host_text(sh, st->host);
	if (host_only || lvsh_table_init(&t, 9, head) < 0)
		return;
	for (size_t i = 0; i < st->n_vms; i++) {
		const Lightvm__VmInfo *vm = st->vms[i];

		row[0] = vm->name;
		row[1] = vm->state;
		snprintf(c[0], sizeof(c[0]), "%.1f", vm->cpu_pct);
		lvsh_fmt_uptime(c[1], sizeof(c[1]), vm->cpu_ns);
		if (vm->has_uptime_ns)
			lvsh_fmt_uptime(c[2], sizeof(c[2]), vm->uptime_ns);
		else
			strcpy(c[2], "-");
		lvsh_fmt_size(c[3], sizeof(c[3]), vm->rss_bytes);
		snprintf(c[4], sizeof(c[4]), "%llu", (unsigned long long)vm->console_bytes);
		snprintf(c[5], sizeof(c[5]), "%llu", (unsigned long long)vm->net_rx_bytes);
		snprintf(c[6], sizeof(c[6]), "%llu", (unsigned long long)vm->net_tx_bytes);
		if (lvsh_table_add(&t, row) < 0)
			break;
	}
	lvsh_table_print(&t, sh->out);
	lvsh_table_free(&t);
}

static void host_json(struct json *j, const Lightvm__HostInfo *h)
{
	json_obj(j);
	json_kstr(j, "driver", h->driver);
	json_ku64(j, "vms", h->vms);
	json_key(j, "by_state");
	json_obj(j);
	for (size_t i = 0; i < h->n_by_state && i < 7; i++)
		json_ku64(j, state_names[i], h->by_state[i]);
	json_obj_end(j);
	json_ku64(j, "ncpus", h->ncpus);
	json_kdouble(j, "host_cpu_pct", h->host_cpu_pct);
	json_ku64(j, "mem_total", h->mem_total);
	json_ku64(j, "mem_available", h->mem_available);
	json_kdouble(j, "agent_cpu_pct", h->agent_cpu_pct);
	json_ku64(j, "agent_rss", h->agent_rss);
	json_key(j, "pools");
	json_arr(j);
	for (size_t i = 0; i < h->n_pools; i++) {
		json_obj(j);
		json_kstr(j, "flavor", h->pools[i]->flavor);
		json_ku64(j, "target", h->pools[i]->target);
		json_ku64(j, "ready", h->pools[i]->ready);
		json_ku64(j, "preparing", h->pools[i]->preparing);
		json_ku64(j, "hits", h->pools[i]->hits);
		json_ku64(j, "misses", h->pools[i]->misses);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

static void stats_json(struct lvsh *sh, const Lightvm__Stats *st, int host_only)
{
	struct json j;

	json_begin(&j, sh->out);
	json_obj(&j);
	if (st->host) {
		json_key(&j, "host");
		host_json(&j, st->host);
	}
	json_key(&j, "vms");
	json_arr(&j);
	for (size_t i = 0; i < st->n_vms && !host_only; i++) {
		const Lightvm__VmInfo *vm = st->vms[i];

		json_obj(&j);
		json_kstr(&j, "name", vm->name);
		json_ku64(&j, "id", vm->id);
		json_kstr(&j, "state", vm->state);
		if (vm->has_uptime_ns)
			json_ku64(&j, "uptime_ns", vm->uptime_ns);
		json_ku64(&j, "cpu_ns", vm->cpu_ns);
		json_kdouble(&j, "cpu_pct", vm->cpu_pct);
		json_ku64(&j, "mem_bytes", vm->mem_bytes);
		json_ku64(&j, "rss_bytes", vm->rss_bytes);
		json_ku64(&j, "console_bytes", vm->console_bytes);
		json_ku64(&j, "net_rx_packets", vm->net_rx_packets);
		json_ku64(&j, "net_rx_bytes", vm->net_rx_bytes);
		json_ku64(&j, "net_tx_packets", vm->net_tx_packets);
		json_ku64(&j, "net_tx_bytes", vm->net_tx_bytes);
		if (vm->has_spawn_ns)
			json_ku64(&j, "spawn_ns", vm->spawn_ns);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	json_end(&j);
}

enum { ST_INTERVAL, ST_COUNT, ST_HOST, ST_PROM };

/* A report for an exact VM name that lists no VM: that VM does not exist
 * (as list says).  A glob or "all" may match nothing. */
static int stats_missing(const char *sel, const Lightvm__Stats *st)
{
	return sel && *sel && strcmp(sel, "all") && !strpbrk(sel, "*?[") && st->n_vms == 0;
}

static const struct lvsh_opt stats_opts[] = {
	[ST_INTERVAL] = { "interval", LVSH_OPT_KV, "SECS", "follow: new stats every SECS (0.1 or more)" },
	[ST_COUNT] = { "count", LVSH_OPT_KV, "N", "stop after N reports" },
	[ST_HOST] = { "--host", LVSH_OPT_FLAG, NULL, "only the host, pools and agent, no VM rows" },
	[ST_PROM] = { "--prometheus", LVSH_OPT_FLAG, NULL, "in the Prometheus text format, as lightvmd's metrics" },
	{ NULL, 0, NULL, NULL },
};

static int cmd_stats(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__SubscribeReq sr = LIGHTVM__SUBSCRIBE_REQ__INIT;
	uint32_t iv = 1000, count = 1, got = 0;
	int fd, rc, host_only = a->opt[ST_HOST] != NULL;

	if (a->opt[ST_INTERVAL]) {
		if (lvsh_parse_secs(a->opt[ST_INTERVAL], 86400000, &iv) < 0 || iv < 100) {
			lvsh_err(cmd->name, "interval=%s: seconds, 0.1 or more", a->opt[ST_INTERVAL]);
			return LVSH_EXIT_USAGE;
		}
		count = 0;   /* follow */
	}
	if (a->opt[ST_COUNT] && lvsh_parse_u32(a->opt[ST_COUNT], 1, 1000000000, &count) < 0) {
		lvsh_err(cmd->name, "count=%s: a number, 1 or more", a->opt[ST_COUNT]);
		return LVSH_EXIT_USAGE;
	}
	sr.has_interval_ms = 1;
	sr.interval_ms = iv;
	sr.selector = a->argc ? a->argv[0] : NULL;
	rc = subscribe(sh, cmd->name, &sr, &fd);
	if (rc != LVSH_EXIT_OK)
		return rc;
	while (count == 0 || got < count) {
		Lightvm__Notify *n = next_notify(sh, cmd->name, fd, &rc);

		if (!n)
			break;
		if (n->stats && stats_missing(sr.selector, n->stats)) {
			lvsh_err(cmd->name, "no VM named '%s'", sr.selector);
			lightvm__notify__free_unpacked(n, NULL);
			rc = LVSH_EXIT_FAIL;
			break;
		}
		if (n->stats) {
			if (a->opt[ST_PROM])
				lvsh_stats_prom(sh->out, n->stats, host_only);
			else if (sh->json)
				stats_json(sh, n->stats, host_only);
			else
				stats_text(sh, n->stats, host_only);
			if (!sh->json && !a->opt[ST_PROM] && (count == 0 || got + 1 < count))
				fputc('\n', sh->out);
			fflush(sh->out);
			got++;
		}
		lightvm__notify__free_unpacked(n, NULL);
	}
	close(fd);
	return rc;
}

/* ---- events */

enum { EV_COUNT };

static const struct lvsh_opt events_opts[] = {
	[EV_COUNT] = { "count", LVSH_OPT_KV, "N", "stop after N events" },
	{ NULL, 0, NULL, NULL },
};

static void event_print(struct lvsh *sh, const Lightvm__Event *e)
{
	if (sh->json) {
		struct json j;

		json_begin(&j, sh->out);
		json_obj(&j);
		json_ku64(&j, "seq", e->seq);
		json_kstr(&j, "kind", e->kind);
		if (e->vm)
			json_kstr(&j, "vm", e->vm);
		if (e->detail)
			json_kstr(&j, "detail", e->detail);
		if (e->has_t_ns)
			json_ki64(&j, "t_ns", e->t_ns);
		json_obj_end(&j);
		json_end(&j);
	} else {
		time_t secs = (time_t)(e->t_ns / 1000000000);
		struct tm tm;
		char t[32];

		localtime_r(&secs, &tm);
		strftime(t, sizeof(t), "%H:%M:%S", &tm);
		fprintf(sh->out, "%llu %s.%03lld %s %s%s%s\n", (unsigned long long)e->seq, t,
			(long long)(e->t_ns / 1000000 % 1000), e->kind, e->vm ? e->vm : "-",
			e->detail ? " " : "", e->detail ? e->detail : "");
		fflush(sh->out);
	}
}

static int cmd_events(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__SubscribeReq sr = LIGHTVM__SUBSCRIBE_REQ__INIT;
	uint32_t count = 0, got = 0;
	int fd, rc;

	if (a->opt[EV_COUNT] && lvsh_parse_u32(a->opt[EV_COUNT], 1, 1000000000, &count) < 0) {
		lvsh_err(cmd->name, "count=%s: a number, 1 or more", a->opt[EV_COUNT]);
		return LVSH_EXIT_USAGE;
	}
	sr.has_events = 1;
	sr.events = 1;
	sr.selector = a->argc ? a->argv[0] : NULL;
	rc = subscribe(sh, cmd->name, &sr, &fd);
	if (rc != LVSH_EXIT_OK)
		return rc;
	while (count == 0 || got < count) {
		Lightvm__Notify *n = next_notify(sh, cmd->name, fd, &rc);

		if (!n)
			break;
		if (n->event) {
			event_print(sh, n->event);
			got++;
		}
		lightvm__notify__free_unpacked(n, NULL);
	}
	close(fd);
	return rc;
}

/* ---- wait */

static int cmd_wait(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__WaitReq wr = LIGHTVM__WAIT_REQ__INIT;
	Lightvm__Reply *r;
	int rc;

	wr.selector = a->argv[0];
	wr.state = a->argv[1];
	if (a->argc == 3) {
		if (lvsh_parse_secs(a->argv[2], 86400000, &wr.timeout_ms) < 0) {
			lvsh_err(cmd->name, "%s: a timeout in seconds", a->argv[2]);
			return LVSH_EXIT_USAGE;
		}
		wr.has_timeout_ms = 1;
	}
	req.op_case = LIGHTVM__REQUEST__OP_WAIT;
	req.wait = &wr;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->json) {
		struct json j;

		json_begin(&j, sh->out);
		json_obj(&j);
		json_ku64(&j, "vms", r->affected);
		json_kstr(&j, "state", wr.state);
		json_obj_end(&j);
		json_end(&j);
	} else {
		fprintf(sh->out, "%u VM%s %s\n", r->affected, r->affected == 1 ? "" : "s", wr.state);
	}
	fflush(sh->out);
	lightvm__reply__free_unpacked(r, NULL);
	return LVSH_EXIT_OK;
}

const struct lvsh_cmd lvsh_cmd_stats = {
	.name = "stats", .usage = "[SELECTOR] [interval=SECS] [count=N] [--host] [--prometheus]",
	.help = "live stats of the host, pools, agent and VMs (once, or every interval)",
	.fn = cmd_stats, .min_args = 0, .max_args = 1, .opts = stats_opts,
};

const struct lvsh_cmd lvsh_cmd_events = {
	.name = "events", .usage = "[SELECTOR] [count=N]",
	.help = "follow lifecycle events (until Ctrl-C, or N events)",
	.fn = cmd_events, .min_args = 0, .max_args = 1, .opts = events_opts,
};

const struct lvsh_cmd lvsh_cmd_wait = {
	.name = "wait", .usage = "SELECTOR STATE [TIMEOUT]",
	.help = "wait until every matching VM is in STATE (exit 1 on timeout)",
	.fn = cmd_wait, .min_args = 2, .max_args = 3,
};
