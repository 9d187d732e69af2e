/*
 * cmd_host.c - the commands about the host and the agent: pool (show the
 * shell pools, set a pool's target size or its preloaded image) and host.
 */
#include <string.h>

#include "client.h"
#include "cmds.h"
#include "fmt.h"
#include "json.h"
#include "lv_limits.h"

/* Index of HostInfo.by_state, as in proto/lightvm.proto. */
static const char *const state_names[] = {
	"prepared", "booting", "running", "paused", "shutting-down",
	"shutoff", "crashed", "saving", "saved", "restoring", "migrating",
};

static void print_pools(struct lvsh *sh, const Lightvm__Reply *r)
{
	static const char *const head[] = { "FLAVOR", "TARGET", "READY",
		"PREPARING", "HITS", "MISSES", "REFILL/S" };
	char c[6][24];
	const char *row[7] = { NULL, c[0], c[1], c[2], c[3], c[4], c[5] };
	struct lvsh_table t;
	size_t i;

	if (lvsh_table_init(&t, 7, head) < 0)
		goto out;
	for (i = 0; i < r->n_pools; i++) {
		const Lightvm__PoolInfo *p = r->pools[i];

		row[0] = p->flavor;
		snprintf(c[0], sizeof(c[0]), "%u", p->target);
		snprintf(c[1], sizeof(c[1]), "%u", p->ready);
		snprintf(c[2], sizeof(c[2]), "%u", p->preparing);
		snprintf(c[3], sizeof(c[3]), "%llu",
			 (unsigned long long)p->hits);
		snprintf(c[4], sizeof(c[4]), "%llu",
			 (unsigned long long)p->misses);
		snprintf(c[5], sizeof(c[5]), "%.1f", p->refill_per_s);
		if (lvsh_table_add(&t, row) < 0)
			break;
	}
	lvsh_table_print(&t, sh->out);
	if (r->preload)
		fprintf(sh->out, "preload: %s\n", r->preload);
out:
	lvsh_table_free(&t);
}

static void json_pools(struct lvsh *sh, const Lightvm__Reply *r)
{
	struct json j;
	size_t i;

	json_begin(&j, sh->out);
	json_obj(&j);
	json_key(&j, "pools");
	json_arr(&j);
	for (i = 0; i < r->n_pools; i++) {
		const Lightvm__PoolInfo *p = r->pools[i];

		json_obj(&j);
		json_kstr(&j, "flavor", p->flavor);
		json_ku64(&j, "target", p->target);
		json_ku64(&j, "ready", p->ready);
		json_ku64(&j, "preparing", p->preparing);
		json_ku64(&j, "hits", p->hits);
		json_ku64(&j, "misses", p->misses);
		json_ku64(&j, "refill_per_s", (uint64_t)(p->refill_per_s + 0.5));
		json_obj_end(&j);
	}
	json_arr_end(&j);
	if (r->preload)
		json_kstr(&j, "preload", r->preload);
	json_obj_end(&j);
	json_end(&j);
}

/* `pool`, `pool set FLAVOR N` or `pool preload IMAGE|last|off`. */
static int cmd_pool(struct lvsh *sh, const struct lvsh_cmd *cmd,
		    const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__PoolReq pr = LIGHTVM__POOL_REQ__INIT;
	Lightvm__Reply *r;
	uint64_t mem;
	uint32_t vcpus;
	int rc;

	if (a->argc == 2 && strcmp(a->argv[0], "preload") == 0) {
		pr.preload = a->argv[1];   /* the agent checks the image */
	} else if (a->argc != 0) {
		if (a->argc != 3 || strcmp(a->argv[0], "set") != 0)
			return lvsh_usage(cmd);
		char why[160], fl[32];
		size_t n = strlen(a->argv[1]);

		/* MEM[/VCPUS][/linux]: the agent reads the kind */
		if (n > 6 && strcmp(a->argv[1] + n - 6, "/linux") == 0)
			n -= 6;
		snprintf(fl, sizeof(fl), "%.*s", (int)n, a->argv[1]);
		if (n >= sizeof(fl) || lvsh_parse_flavor(fl, &mem, &vcpus) < 0) {
			lvsh_err(cmd->name, "%s: not a flavor MEM or MEM/VCPUS, "
				 "then /linux for Linux shells (%s)", a->argv[1],
				 lv_proto_pool_rule());
			return LVSH_EXIT_USAGE;
		}
		if (lv_proto_pool_flavor_check(mem, vcpus, why,
					       sizeof(why)) < 0) {
			lvsh_err(cmd->name, "%s: %s", a->argv[1], why);
			return LVSH_EXIT_USAGE;
		}
		if (lvsh_parse_u32(a->argv[2], 0, LV_PROTO_POOL_TARGET_MAX,
				   &pr.target) < 0) {
			lvsh_err(cmd->name, "%s: target must be 0 to %u",
				 a->argv[2], LV_PROTO_POOL_TARGET_MAX);
			return LVSH_EXIT_USAGE;
		}
		pr.flavor = a->argv[1];
		pr.has_target = 1;
	}
	req.op_case = LIGHTVM__REQUEST__OP_POOL;
	req.pool = &pr;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->json)
		json_pools(sh, r);
	else if (pr.has_target)
		fprintf(sh->out, "pool %s: target %u\n", pr.flavor, pr.target);
	else if (pr.preload)
		fprintf(sh->out, "pool: preload %s\n", r->preload ? r->preload : pr.preload);
	else
		print_pools(sh, r);
	fflush(sh->out);
	lightvm__reply__free_unpacked(r, NULL);
	return LVSH_EXIT_OK;
}

static void json_host(struct lvsh *sh, const Lightvm__HostInfo *h)
{
	struct json j;
	size_t i;

	json_begin(&j, sh->out);
	json_obj(&j);
	json_kstr(&j, "driver", h->driver);
	if (h->platform != NULL)
		json_kstr(&j, "platform", h->platform);
	json_kstr(&j, "hostname", h->hostname);
	json_ku64(&j, "vms", h->vms);
	json_key(&j, "by_state");
	json_arr(&j);
	for (i = 0; i < h->n_by_state; i++)
		json_u64(&j, h->by_state[i]);
	json_arr_end(&j);
	if (h->has_agent_pid)
		json_ki64(&j, "agent_pid", h->agent_pid);
	if (h->version != NULL)
		json_kstr(&j, "version", h->version);
	json_kstr(&j, "socket", sh->sock_path);
	json_obj_end(&j);
	json_end(&j);
}

static void print_host(struct lvsh *sh, const Lightvm__HostInfo *h)
{
	FILE *out = sh->out;
	const char *sep = " (";
	size_t i;

	fprintf(out, "hostname: %s\ndriver: %s\n", h->hostname, h->driver);
	if (h->platform != NULL)
		fprintf(out, "platform: %s\n", h->platform);
	fprintf(out, "vms: %u", h->vms);
	for (i = 0; i < h->n_by_state; i++) {
		if (h->by_state[i] == 0)
			continue;
		if (i < sizeof(state_names) / sizeof(state_names[0]))
			fprintf(out, "%s%s %u", sep, state_names[i],
				h->by_state[i]);
		else
			fprintf(out, "%sstate%zu %u", sep, i, h->by_state[i]);
		sep = ", ";
	}
	fprintf(out, "%s\n", *sep == ',' ? ")" : "");
	if (h->has_agent_pid)
		fprintf(out, "agent_pid: %d\n", h->agent_pid);
	if (h->version != NULL)
		fprintf(out, "version: %s\n", h->version);
	fprintf(out, "socket: %s\n", sh->sock_path);
}

static int cmd_host(struct lvsh *sh, const struct lvsh_cmd *cmd,
		    const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__HostReq hr = LIGHTVM__HOST_REQ__INIT;
	Lightvm__Reply *r;
	int rc;

	req.op_case = LIGHTVM__REQUEST__OP_HOST;
	req.host = &hr;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (r->host == NULL) {
		lvsh_err(cmd->name, "protocol error: reply without host info");
		rc = LVSH_EXIT_FAIL;
	} else if (sh->json) {
		json_host(sh, r->host);
	} else {
		print_host(sh, r->host);
	}
	fflush(sh->out);
	lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

const struct lvsh_cmd lvsh_cmd_pool = {
	.name = "pool", .usage = "[set FLAVOR N | preload IMAGE|last|off]",
	.help = "show the shell pools, set the target size of one, or name the image pooled shells hold loaded",
	.fn = cmd_pool, .min_args = 0, .max_args = 3,
};

const struct lvsh_cmd lvsh_cmd_host = {
	.name = "host", .usage = "",
	.help = "show the host and the agent",
	.fn = cmd_host, .min_args = 0, .max_args = 0,
};
