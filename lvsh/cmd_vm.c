/*
 * cmd_vm.c - the commands about VMs: spawn, list, inspect, the power
 * actions (pause, unpause, shutdown, reboot, destroy) and log.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmds.h"
#include "fmt.h"
#include "json.h"
#include "lv_limits.h"

#define SPAWN_MAX_TIMEOUT (24u * 3600u * 1000u)	/* ms */

enum { SPAWN_MEM, SPAWN_VCPUS, SPAWN_NAME, SPAWN_TIMEOUT, SPAWN_RAMDISK,
       SPAWN_CMDLINE, SPAWN_WATCHDOG, SPAWN_WAIT, SPAWN_NOWAIT };
#define SPAWN_MAX_WATCHDOG 86400u	/* s, as LV_WATCHDOG_MAX */

static const struct lvsh_opt spawn_opts[] = {
	[SPAWN_MEM]     = { "mem", LVSH_OPT_KV, "SIZE",
			    "guest memory: bytes, or with K, M, G (default "
			    LV_PROTO_STR(LV_PROTO_MEM_DEFAULT_MIB) "M)" },
	[SPAWN_VCPUS]   = { "vcpus", LVSH_OPT_KV, "N",
			    "virtual CPUs (default 1, at most "
			    LV_PROTO_STR(LV_PROTO_VCPUS_MAX_N) ")" },
	[SPAWN_NAME]    = { "name", LVSH_OPT_KV, "PREFIX",
			    "name VMs PREFIX-1, PREFIX-2, ... (default: image name)" },
	[SPAWN_TIMEOUT] = { "timeout", LVSH_OPT_KV, "SEC",
			    "how long to wait for ready (default 30)" },
	[SPAWN_RAMDISK] = { "ramdisk", LVSH_OPT_KV, "PATH",
			    "Xen: a ramdisk for the kernel (a path the agent opens)" },
	[SPAWN_CMDLINE] = { "cmdline", LVSH_OPT_KV, "ARGS",
			    "Xen: appended to the kernel command line (quote it)" },
	[SPAWN_WATCHDOG] = { "watchdog", LVSH_OPT_KV, "SEC",
			    "KVM: crash a guest with no hypercall for SEC s (0: none; default: the agent's)" },
	[SPAWN_WAIT]    = { "--wait", LVSH_OPT_FLAG, NULL,
			    "reply once every VM is ready (the default)" },
	[SPAWN_NOWAIT]  = { "--nowait", LVSH_OPT_FLAG, NULL,
			    "reply once every VM is started" },
	{ NULL, 0, NULL, NULL },
};

/* A KEY=TEXT option that, when given, must not be empty. */
static int text_opt(const char *v, const char *key, char **out, char *err, size_t errlen)
{
	if (v == NULL)
		return 0;
	if (*v == '\0') {
		snprintf(err, errlen, "%s= must not be empty", key);
		return -1;
	}
	*out = (char *)v;
	return 0;
}

int lvsh_spawn_parse(const struct lvsh_args *a, Lightvm__SpawnReq *req,
		     char *err, size_t errlen)
{
	const char *const *o = a->opt;

	lightvm__spawn_req__init(req);
	if (lvsh_parse_u32(a->argv[0], 1, LV_PROTO_SPAWN_MAX, &req->count) < 0) {
		snprintf(err, errlen, "N must be a number from 1 to %u, not '%s'",
			 LV_PROTO_SPAWN_MAX, a->argv[0]);
		return -1;
	}
	req->image = a->argv[1];
	if (*req->image == '\0') {
		snprintf(err, errlen, "IMAGE must not be empty");
		return -1;
	}
	if (o[SPAWN_MEM] != NULL) {
		if (lvsh_parse_size(o[SPAWN_MEM], &req->mem_bytes) < 0) {
			snprintf(err, errlen, "mem=%s: not a size like 4M, "
				 "512K, 1G or 4194304", o[SPAWN_MEM]);
			return -1;
		}
		req->has_mem_bytes = 1;
	}
	if (o[SPAWN_VCPUS] != NULL) {
		if (lvsh_parse_u32(o[SPAWN_VCPUS], 1, UINT32_MAX,
				   &req->vcpus) < 0) {
			snprintf(err, errlen, "vcpus=%s: not a number of vCPUs "
				 "(%s)", o[SPAWN_VCPUS], lv_proto_flavor_rule());
			return -1;
		}
		req->has_vcpus = 1;
	}
	if (req->has_mem_bytes || req->has_vcpus) {	/* the protocol's rule */
		char why[128];

		if (lv_proto_spawn_flavor_check(req->mem_bytes, req->vcpus,
						why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s (%s)", why,
				 lv_proto_flavor_rule());
			return -1;
		}
	}
	if (text_opt(o[SPAWN_NAME], "name", &req->name_prefix, err, errlen) < 0)
		return -1;
	if (o[SPAWN_TIMEOUT] != NULL) {
		if (lvsh_parse_secs(o[SPAWN_TIMEOUT], SPAWN_MAX_TIMEOUT,
				    &req->timeout_ms) < 0) {
			snprintf(err, errlen, "timeout=%s: must be seconds, "
				 "0.001 to %u", o[SPAWN_TIMEOUT],
				 SPAWN_MAX_TIMEOUT / 1000);
			return -1;
		}
		req->has_timeout_ms = 1;
	}
	if (text_opt(o[SPAWN_RAMDISK], "ramdisk", &req->ramdisk, err, errlen) < 0)
		return -1;
	if (text_opt(o[SPAWN_CMDLINE], "cmdline", &req->cmdline, err, errlen) < 0)
		return -1;
	if (o[SPAWN_WATCHDOG] != NULL) {
		if (lvsh_parse_u32(o[SPAWN_WATCHDOG], 0, SPAWN_MAX_WATCHDOG,
				   &req->watchdog_s) < 0) {
			snprintf(err, errlen, "watchdog=%s: must be whole seconds, "
				 "0 (none) to %u", o[SPAWN_WATCHDOG], SPAWN_MAX_WATCHDOG);
			return -1;
		}
		req->has_watchdog_s = 1;
	}
	if (o[SPAWN_WAIT] != NULL && o[SPAWN_NOWAIT] != NULL) {
		snprintf(err, errlen, "--wait and --nowait exclude each other");
		return -1;
	}
	req->has_wait_ready = 1;
	req->wait_ready = o[SPAWN_NOWAIT] == NULL;
	return 0;
}

/* ---- output */

static void json_vm(struct json *j, const Lightvm__VmInfo *vm)
{
	size_t i;

	json_obj(j);
	json_kstr(j, "name", vm->name);
	json_ku64(j, "id", vm->id);
	json_kstr(j, "state", vm->state);
	json_kstr(j, "image", vm->image);
	json_ku64(j, "mem_bytes", vm->mem_bytes);
	json_ku64(j, "vcpus", vm->vcpus);
	if (vm->has_pid)
		json_ki64(j, "pid", vm->pid);
	if (vm->reason != NULL)
		json_kstr(j, "reason", vm->reason);
	if (vm->has_exit_code)
		json_ki64(j, "exit_code", vm->exit_code);
	if (vm->has_uptime_ns)
		json_ku64(j, "uptime_ns", vm->uptime_ns);
	if (vm->has_pooled)
		json_kbool(j, "pooled", vm->pooled);
	if (vm->has_preloaded && vm->preloaded)
		json_kbool(j, "preloaded", 1);
	if (vm->has_restored && vm->restored)
		json_kbool(j, "restored", 1);
	if (vm->ipv4 != NULL)
		json_kstr(j, "ipv4", vm->ipv4);
	if (vm->mac != NULL)
		json_kstr(j, "mac", vm->mac);
	json_key(j, "phases");
	json_arr(j);
	for (i = 0; i < vm->n_phases; i++) {
		json_obj(j);
		json_kstr(j, "name", vm->phases[i]->name);
		json_ki64(j, "t_ns", vm->phases[i]->t_ns);
		json_obj_end(j);
	}
	json_arr_end(j);
	if (vm->has_console_bytes)
		json_ku64(j, "console_bytes", vm->console_bytes);
	if (vm->has_spawn_ns)
		json_ku64(j, "spawn_ns", vm->spawn_ns);
	json_obj_end(j);
}

static void json_vms(struct json *j, const Lightvm__Reply *r)
{
	size_t i;

	json_key(j, "vms");
	json_arr(j);
	for (i = 0; i < r->n_vms; i++)
		json_vm(j, r->vms[i]);
	json_arr_end(j);
}

static void json_failures(struct json *j, const Lightvm__Reply *r)
{
	size_t i;

	json_key(j, "failures");
	json_arr(j);
	for (i = 0; i < r->n_failures; i++) {
		json_obj(j);
		json_kstr(j, "name", r->failures[i]->name);
		json_ki64(j, "err", r->failures[i]->err);
		json_kstr(j, "message", r->failures[i]->message);
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* Failures one per line on stderr (in the REPL, the first few and a
 * count); LVSH_EXIT_FAIL if there were any. */
static int report_failures(struct lvsh *sh, const char *what,
			   const Lightvm__Reply *r)
{
	const Lightvm__Failure *f;
	size_t i;

	for (i = 0; i < r->n_failures; i++) {
		if (sh->interactive && i == LVSH_REPL_MAX_FAILURES) {
			lvsh_err(what, "... and %zu more failures (use --json "
				 "for all)", r->n_failures - i);
			break;
		}
		f = r->failures[i];
		lvsh_err(what, "%s: %s", f->name,
			 f->message && *f->message ? f->message :
			 strerror(f->err));
	}
	return r->n_failures ? LVSH_EXIT_FAIL : LVSH_EXIT_OK;
}

static void print_vm_table(FILE *out, const Lightvm__Reply *r)
{
	static const char *const head[] = { "NAME", "ID", "STATE", "IMAGE",
		"MEM", "VCPUS", "PID", "CPU", "RSS", "UPTIME", "SPAWN", "IPV4" };
	char id[16], mem[16], vcpus[16], pid[16], cpu[16], rss[16], up[16], sp[16];
	struct lvsh_table t;
	size_t i;

	if (lvsh_table_init(&t, 12, head) < 0)
		goto out;
	for (i = 0; i < r->n_vms; i++) {
		const Lightvm__VmInfo *vm = r->vms[i];
		const char *row[12] = { vm->name, id, vm->state, vm->image,
			mem, vcpus, vm->has_pid ? pid : NULL,
			vm->has_cpu_ns ? cpu : NULL,
			vm->has_rss_bytes && vm->rss_bytes ? rss : NULL,
			vm->has_uptime_ns ? up : NULL,
			vm->has_spawn_ns ? sp : NULL, vm->ipv4 };

		snprintf(id, sizeof(id), "%u", vm->id);
		lvsh_fmt_size(mem, sizeof(mem), vm->mem_bytes);
		snprintf(vcpus, sizeof(vcpus), "%u", vm->vcpus);
		snprintf(pid, sizeof(pid), "%d", vm->pid);
		lvsh_fmt_uptime(cpu, sizeof(cpu), vm->cpu_ns);
		lvsh_fmt_size(rss, sizeof(rss), vm->rss_bytes);
		lvsh_fmt_uptime(up, sizeof(up), vm->uptime_ns);
		lvsh_fmt_spawn(sp, sizeof(sp), vm->spawn_ns);
		if (lvsh_table_add(&t, row) < 0)
			break;
	}
	lvsh_table_print(&t, out);
out:
	lvsh_table_free(&t);
}

static void print_phases(FILE *out, const Lightvm__VmInfo *vm)
{
	int64_t t0;
	size_t i;

	if (vm->n_phases == 0)
		return;
	t0 = vm->phases[0]->t_ns;
	for (i = 0; i < vm->n_phases; i++)
		if (strcmp(vm->phases[i]->name, "request") == 0)
			t0 = vm->phases[i]->t_ns;
	fprintf(out, "phases:\n");
	for (i = 0; i < vm->n_phases; i++)
		fprintf(out, "  %-10s %10lld µs\n", vm->phases[i]->name,
			(long long)(vm->phases[i]->t_ns - t0) / 1000);
}

static void print_vm(FILE *out, const Lightvm__VmInfo *vm)
{
	char buf[32];

	fprintf(out, "name: %s\nid: %u\nstate: %s\nimage: %s\n", vm->name,
		vm->id, vm->state, vm->image);
	lvsh_fmt_size(buf, sizeof(buf), vm->mem_bytes);
	fprintf(out, "mem: %s\nvcpus: %u\n", buf, vm->vcpus);
	if (vm->has_pid)
		fprintf(out, "pid: %d\n", vm->pid);
	if (vm->has_uptime_ns) {
		lvsh_fmt_uptime(buf, sizeof(buf), vm->uptime_ns);
		fprintf(out, "uptime: %s\n", buf);
	}
	if (vm->reason != NULL && *vm->reason)
		fprintf(out, "reason: %s\n", vm->reason);
	if (vm->has_exit_code)
		fprintf(out, "exit_code: %lld\n", (long long)vm->exit_code);
	if (vm->has_console_bytes)
		fprintf(out, "console_bytes: %llu\n",
			(unsigned long long)vm->console_bytes);
	fprintf(out, "pooled: %s\n", vm->has_pooled && vm->pooled ?
		vm->has_preloaded && vm->preloaded ? "yes (its image was preloaded)" : "yes" : "no");
	if (vm->has_restored && vm->restored)
		fprintf(out, "restored: yes (from a snapshot)\n");
	if (vm->ipv4 != NULL)
		fprintf(out, "ipv4: %s\nmac: %s\n", vm->ipv4, vm->mac ? vm->mac : "-");
	if (vm->has_spawn_ns) {
		lvsh_fmt_spawn(buf, sizeof(buf), vm->spawn_ns);
		fprintf(out, "spawn: %s\n", buf);
	}
	print_phases(out, vm);
}

/* ---- handlers */

int lvsh_spawn_send(struct lvsh *sh, const char *what, Lightvm__SpawnReq *sp)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__Reply *r;
	struct json j;
	int rc;

	req.op_case = LIGHTVM__REQUEST__OP_SPAWN;
	req.spawn = sp;
	rc = lvsh_call(sh, what, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->json) {
		json_begin(&j, sh->out);
		json_obj(&j);
		json_vms(&j, r);
		json_failures(&j, r);
		json_obj_end(&j);
		json_end(&j);
	} else if (r->n_vms == 0) {
		fprintf(sh->out, "spawned 0 VMs\n");
	} else if (r->n_vms == 1) {
		fprintf(sh->out, "spawned 1 VM (%s)\n", r->vms[0]->name);
	} else {
		fprintf(sh->out, "spawned %zu VMs (%s .. %s)\n", r->n_vms,
			r->vms[0]->name, r->vms[r->n_vms - 1]->name);
	}
	fflush(sh->out);
	rc = report_failures(sh, what, r);
	lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

static int cmd_spawn(struct lvsh *sh, const struct lvsh_cmd *cmd,
		     const struct lvsh_args *a)
{
	Lightvm__SpawnReq sp;
	char err[256];

	if (lvsh_spawn_parse(a, &sp, err, sizeof(err)) < 0) {
		lvsh_err(cmd->name, "%s", err);
		return LVSH_EXIT_USAGE;
	}
	return lvsh_spawn_send(sh, cmd->name, &sp);
}

/* list and inspect: one SelectReq, two ways to print. */
static int select_cmd(struct lvsh *sh, const struct lvsh_cmd *cmd,
		      const struct lvsh_args *a, int inspect)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *r;
	struct json j;
	size_t i;
	int rc;

	sel.selector = a->argc > 0 ? a->argv[0] : NULL;
	req.op_case = inspect ? LIGHTVM__REQUEST__OP_INSPECT :
				LIGHTVM__REQUEST__OP_LIST;
	if (inspect)
		req.inspect = &sel;
	else
		req.list = &sel;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->json) {
		json_begin(&j, sh->out);
		json_obj(&j);
		json_vms(&j, r);
		json_obj_end(&j);
		json_end(&j);
	} else if (!inspect) {
		print_vm_table(sh->out, r);
	} else {
		for (i = 0; i < r->n_vms; i++) {
			if (i > 0)
				fputc('\n', sh->out);
			print_vm(sh->out, r->vms[i]);
		}
	}
	fflush(sh->out);
	if (inspect && r->n_vms == 0) {
		lvsh_err(cmd->name, "%s: no such VM", a->argv[0]);
		rc = LVSH_EXIT_FAIL;
	}
	lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

static int cmd_list(struct lvsh *sh, const struct lvsh_cmd *cmd,
		    const struct lvsh_args *a)
{
	return select_cmd(sh, cmd, a, 0);
}

static int cmd_inspect(struct lvsh *sh, const struct lvsh_cmd *cmd,
		       const struct lvsh_args *a)
{
	return select_cmd(sh, cmd, a, 1);
}

static const struct {
	const char    *name;
	Lightvm__Action action;
	const char    *done;
} actions[] = {
	{ "pause",    LIGHTVM__ACTION__PAUSE,    "paused" },
	{ "unpause",  LIGHTVM__ACTION__UNPAUSE,  "unpaused" },
	{ "shutdown", LIGHTVM__ACTION__SHUTDOWN, "shut down" },
	{ "reboot",   LIGHTVM__ACTION__REBOOT,   "rebooted" },
	{ "destroy",  LIGHTVM__ACTION__DESTROY,  "destroyed" },
};

static int cmd_action(struct lvsh *sh, const struct lvsh_cmd *cmd,
		      const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__ActionReq act = LIGHTVM__ACTION_REQ__INIT;
	Lightvm__Reply *r;
	struct json j;
	size_t i;
	int rc;

	for (i = 0; strcmp(actions[i].name, cmd->name) != 0; i++)
		;
	if (*a->argv[0] == '\0') {
		lvsh_err(cmd->name, "SELECTOR must not be empty");
		return LVSH_EXIT_USAGE;
	}
	act.action = actions[i].action;
	act.selector = a->argv[0];
	req.op_case = LIGHTVM__REQUEST__OP_ACTION;
	req.action = &act;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->json) {
		json_begin(&j, sh->out);
		json_obj(&j);
		json_kstr(&j, "action", cmd->name);
		json_kstr(&j, "selector", act.selector);
		json_ku64(&j, "affected", r->affected);
		json_failures(&j, r);
		json_obj_end(&j);
		json_end(&j);
	} else {
		fprintf(sh->out, "%s %u VM%s\n", actions[i].done, r->affected,
			r->affected == 1 ? "" : "s");
	}
	fflush(sh->out);
	rc = report_failures(sh, cmd->name, r);
	lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

/* Length of a well-formed UTF-8 sequence at p (2..4 bytes, not a C1
 * control), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 :
		     p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;

	if (!len || len > n || (p[0] == 0xc2 && p[1] < 0xa0))   /* C1: U+0080..U+009F */
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/*
 * A guest's console output on the operator's terminal: text, newlines,
 * tabs and well-formed UTF-8 pass; other control bytes are shown as
 * ^X (ESC as ^[, DEL as ^?), CR before LF is dropped, and bytes that are
 * not UTF-8 as \xHH, so no guest can move the cursor, retitle the
 * window or answer on the operator's behalf.
 */
static void write_guest_text(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		size_t u;

		if ((b >= 0x20 && b < 0x7f) || b == '\n' || b == '\t')
			fputc(b, out);
		else if (b == '\r' && i + 1 < n && p[i + 1] == '\n')
			;
		else if (b < 0x20 || b == 0x7f)
			fprintf(out, "^%c", b == 0x7f ? '?' : b + 0x40);
		else if ((u = utf8_len(p + i, n - i))) {
			fwrite(p + i, 1, u, out);
			i += u - 1;
		} else
			fprintf(out, "\\x%02x", b);
	}
}

static int cmd_log(struct lvsh *sh, const struct lvsh_cmd *cmd,
		   const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__LogReq lr = LIGHTVM__LOG_REQ__INIT;
	Lightvm__Reply *r;
	struct json j;
	int rc;

	lr.name = a->argv[0];
	req.op_case = LIGHTVM__REQUEST__OP_LOG;
	req.log = &lr;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->json) {
		json_begin(&j, sh->out);
		json_obj(&j);
		json_kstr(&j, "name", lr.name);
		json_key(&j, "log");
		json_strn(&j, r->log.data, r->log.len);
		json_obj_end(&j);
		json_end(&j);
	} else if (r->log.len > 0) {
		write_guest_text(sh->out, r->log.data, r->log.len);
	}
	fflush(sh->out);
	lightvm__reply__free_unpacked(r, NULL);
	return LVSH_EXIT_OK;
}

/* ---- table entries */

const struct lvsh_cmd lvsh_cmd_spawn = {
	.name = "spawn",
	.usage = "N IMAGE [mem=SIZE] [vcpus=N] [name=PREFIX] [timeout=SEC] "
		 "[watchdog=SEC] [--wait|--nowait]",
	.help = "start N VMs of IMAGE (by default, wait until they are ready)",
	.fn = cmd_spawn, .min_args = 2, .max_args = 2, .opts = spawn_opts,
};

const struct lvsh_cmd lvsh_cmd_list = {
	.name = "list", .usage = "[SELECTOR]",
	.help = "list VMs (all, or those SELECTOR matches)",
	.fn = cmd_list, .min_args = 0, .max_args = 1,
};

const struct lvsh_cmd lvsh_cmd_inspect = {
	.name = "inspect", .usage = "VM",
	.help = "show one VM in detail, with its flight recorder",
	.fn = cmd_inspect, .min_args = 1, .max_args = 1,
};

#define ACTION_CMD(var, verb, text)					\
	const struct lvsh_cmd var = {					\
		.name = verb, .usage = "SELECTOR", .help = text,	\
		.fn = cmd_action, .min_args = 1, .max_args = 1,		\
	}

ACTION_CMD(lvsh_cmd_pause, "pause", "pause the selected VMs");
ACTION_CMD(lvsh_cmd_unpause, "unpause", "resume the selected paused VMs");
ACTION_CMD(lvsh_cmd_shutdown, "shutdown",
	   "ask the selected VMs to shut down cleanly");
ACTION_CMD(lvsh_cmd_reboot, "reboot", "reboot the selected VMs");
ACTION_CMD(lvsh_cmd_destroy, "destroy",
	   "stop the selected VMs at once and free them");

const struct lvsh_cmd lvsh_cmd_log = {
	.name = "log", .usage = "VM",
	.help = "print the tail of a VM's console output",
	.fn = cmd_log, .min_args = 1, .max_args = 1,
};
