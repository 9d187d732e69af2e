/*
 * cmd_snapshot.c - save, restore and clone (issue 14): SaveReq,
 * RestoreReq and CloneReq.  Paths are made absolute here (the agent's
 * working directory is not the user's); the agent opens them.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "json.h"
#include "lv_limits.h"

/* path as the agent must see it: absolute (relative to our cwd). */
static int abs_path(const char *what, const char *path, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		if (strlen(path) >= len)
			goto long_;
		snprintf(out, len, "%s", path);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd))) {
		lvsh_err(what, "cannot tell the current directory: %s", strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(out, len, "%s/%s", cwd, path) < len)
		return 0;
long_:
	lvsh_err(what, "%s: path too long", path);
	return -1;
}

static void json_reply(struct lvsh *sh, const Lightvm__Reply *r)
{
	struct json j;

	json_begin(&j, sh->out);
	json_obj(&j);
	json_key(&j, "vms");
	json_arr(&j);
	for (size_t i = 0; i < r->n_vms; i++) {
		const Lightvm__VmInfo *v = r->vms[i];

		json_obj(&j);
		json_kstr(&j, "name", v->name);
		json_ku64(&j, "id", v->id);
		json_kstr(&j, "state", v->state);
		json_kstr(&j, "image", v->image);
		if (v->ipv4)
			json_kstr(&j, "ipv4", v->ipv4);
		if (v->has_save_ns)
			json_ku64(&j, "save_ns", v->save_ns);
		if (v->has_save_held_ns)
			json_ku64(&j, "save_held_ns", v->save_held_ns);
		if (v->has_spawn_ns)
			json_ku64(&j, "spawn_ns", v->spawn_ns);
		json_kbool(&j, "restored", v->has_restored && v->restored);
		if (v->has_migrate_downtime_ns)
			json_ku64(&j, "migrate_downtime_ns", v->migrate_downtime_ns);
		json_key(&j, "phases");
		json_arr(&j);
		for (size_t k = 0; k < v->n_phases; k++) {
			json_obj(&j);
			json_kstr(&j, "name", v->phases[k]->name);
			json_ki64(&j, "t_ns", v->phases[k]->t_ns);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "failures");
	json_arr(&j);
	for (size_t i = 0; i < r->n_failures; i++) {
		json_obj(&j);
		json_kstr(&j, "name", r->failures[i]->name);
		json_ki64(&j, "err", r->failures[i]->err);
		json_kstr(&j, "message", r->failures[i]->message);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	json_end(&j);
}

static int finish(struct lvsh *sh, const char *what, Lightvm__Reply *r, const char *verb,
		  bool lines)
{
	int rc = r->n_failures ? LVSH_EXIT_FAIL : LVSH_EXIT_OK;

	if (sh->json) {
		json_reply(sh, r);
	} else if (lines) {
		for (size_t i = 0; i < r->n_vms; i++) {
			const Lightvm__VmInfo *v = r->vms[i];

			if (v->has_save_ns)
				fprintf(sh->out, "%s %s: %s (%.3f ms, guest held after %.3f ms)\n", verb,
					v->name, v->state, v->save_ns / 1e6,
					v->has_save_held_ns ? v->save_held_ns / 1e6 : 0.0);
			else
				fprintf(sh->out, "%s %s%s%s\n", verb, v->name,
					v->ipv4 && *v->ipv4 ? " at " : "", v->ipv4 ? v->ipv4 : "");
		}
		fflush(sh->out);
	}
	for (size_t i = 0; i < r->n_failures; i++)
		lvsh_err(what, "%s: %s", r->failures[i]->name,
			 r->failures[i]->message && *r->failures[i]->message ?
			 r->failures[i]->message : strerror(r->failures[i]->err));
	lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

static int opt_timeout(const char *what, const char *s, uint32_t *ms)
{
	char *e;
	unsigned long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &e, 10);
	if (errno || e == s || *e || v == 0 || v > 86400) {
		lvsh_err(what, "timeout=%s: seconds, 1 .. 86400", s);
		return -1;
	}
	*ms = (uint32_t)(v * 1000);
	return 0;
}

/* ---- save VM|PATTERN PATH [--keep] [timeout=SEC] */

static const struct lvsh_opt save_opts[] = {
	{ "--keep", LVSH_OPT_FLAG, NULL, "the VM runs on after a consistent copy" },
	{ "timeout", LVSH_OPT_KV, "SEC", "give up after SEC seconds (default 30)" },
	{ NULL, 0, NULL, NULL },
};

static int cmd_save(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SaveReq sv = LIGHTVM__SAVE_REQ__INIT;
	char path[PATH_MAX];
	Lightvm__Reply *r;
	uint32_t ms = 0;
	int rc;

	if (abs_path(cmd->name, a->argv[1], path, sizeof(path)) ||
	    opt_timeout(cmd->name, a->opt[1], &ms))
		return LVSH_EXIT_USAGE;
	sv.selector = a->argv[0];
	sv.path = path;
	sv.has_keep = a->opt[0] != NULL;
	sv.keep = sv.has_keep;
	sv.has_timeout_ms = ms != 0;
	sv.timeout_ms = ms;
	req.op_case = LIGHTVM__REQUEST__OP_SAVE;
	req.save = &sv;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	return finish(sh, cmd->name, r, "saved", true);
}

/* ---- restore FILE [name=NAME] [--nowait] [timeout=SEC] */

static const struct lvsh_opt restore_opts[] = {
	{ "name", LVSH_OPT_KV, "NAME", "the VM's name (default: the saved one, if free)" },
	{ "--nowait", LVSH_OPT_FLAG, NULL, "reply once started, not when ready" },
	{ "timeout", LVSH_OPT_KV, "SEC", "wait at most SEC seconds (default 30)" },
	{ NULL, 0, NULL, NULL },
};

static int cmd_restore(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__RestoreReq rs = LIGHTVM__RESTORE_REQ__INIT;
	char path[PATH_MAX];
	Lightvm__Reply *r;
	uint32_t ms = 0;
	int rc;

	if (abs_path(cmd->name, a->argv[0], path, sizeof(path)) ||
	    opt_timeout(cmd->name, a->opt[2], &ms))
		return LVSH_EXIT_USAGE;
	rs.path = path;
	rs.name = (char *)a->opt[0];
	rs.has_wait_ready = a->opt[1] != NULL;
	rs.wait_ready = a->opt[1] == NULL;
	rs.has_timeout_ms = ms != 0;
	rs.timeout_ms = ms;
	req.op_case = LIGHTVM__REQUEST__OP_RESTORE;
	req.restore = &rs;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	return finish(sh, cmd->name, r, "restored", true);
}

/* ---- clone VM N [name=PREFIX] [--nowait] [timeout=SEC] */

static const struct lvsh_opt clone_opts[] = {
	{ "name", LVSH_OPT_KV, "PREFIX", "the copies are PREFIX-N (default: the image's name)" },
	{ "--nowait", LVSH_OPT_FLAG, NULL, "reply once started, not when ready" },
	{ "timeout", LVSH_OPT_KV, "SEC", "wait at most SEC seconds" },
	{ NULL, 0, NULL, NULL },
};

static int cmd_clone(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__CloneReq cl = LIGHTVM__CLONE_REQ__INIT;
	Lightvm__Reply *r;
	unsigned long n;
	uint32_t ms = 0;
	char *e;
	int rc;

	errno = 0;
	n = strtoul(a->argv[1], &e, 10);
	if (errno || e == a->argv[1] || *e || n == 0 || n > LV_PROTO_SPAWN_MAX) {
		lvsh_err(cmd->name, "N=%s: a count of 1 .. %u", a->argv[1], LV_PROTO_SPAWN_MAX);
		return LVSH_EXIT_USAGE;
	}
	if (opt_timeout(cmd->name, a->opt[2], &ms))
		return LVSH_EXIT_USAGE;
	cl.name = a->argv[0];
	cl.count = (uint32_t)n;
	cl.name_prefix = (char *)a->opt[0];
	cl.has_wait_ready = a->opt[1] != NULL;
	cl.wait_ready = a->opt[1] == NULL;
	cl.has_timeout_ms = ms != 0;
	cl.timeout_ms = ms;
	req.op_case = LIGHTVM__REQUEST__OP_CLONE;
	req.clone = &cl;
	rc = lvsh_call(sh, cmd->name, &req, &r);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (!sh->json && r->n_vms > 1)
		fprintf(sh->out, "cloned %s: %zu VMs (%s .. %s)\n", a->argv[0], r->n_vms,
			r->vms[0]->name, r->vms[r->n_vms - 1]->name);
	return finish(sh, cmd->name, r, "cloned", r->n_vms <= 1);
}

/* ---- migrate VM DEST [timeout=SEC] */

static const struct lvsh_opt migrate_opts[] = {
	{ "timeout", LVSH_OPT_KV, "SEC", "time limit per step at the destination (default 10)" },
	{ NULL, 0, NULL, NULL },
};

/* "ADDR:PORT" or "[ADDR6]:PORT" (the agent checks the address): no
 * slash, digits after the last colon. */
static bool is_host_port(const char *s)
{
	const char *c = strrchr(s, ':');

	if (strchr(s, '/') || !c || c == s || !c[1])
		return false;
	for (c++; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

/* The source's phases, in microseconds after its request. */
static void print_migrate_phases(FILE *out, const Lightvm__VmInfo *v)
{
	int64_t t0 = 0;

	for (size_t k = 0; k < v->n_phases; k++) {
		const char *n = v->phases[k]->name;

		if (strncmp(n, "migrate-", 8))
			continue;
		if (!t0) {
			t0 = v->phases[k]->t_ns;
			fprintf(out, "flight recorder (us after the request):");
		}
		fprintf(out, " %s %lld", n + 8, (long long)(v->phases[k]->t_ns - t0) / 1000);
	}
	if (t0)
		fprintf(out, "\n");
}

/* One VM to dest; its reply in *r (NULL on failure, said already). */
static int migrate_one(struct lvsh *sh, const char *what, const char *name, const char *dest,
		       uint32_t ms, Lightvm__Reply **r)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__MigrateReq mg = LIGHTVM__MIGRATE_REQ__INIT;
	int rc;

	mg.name = (char *)name;
	mg.dest = (char *)dest;
	mg.has_timeout_ms = ms != 0;
	mg.timeout_ms = ms;
	req.op_case = LIGHTVM__REQUEST__OP_MIGRATE;
	req.migrate = &mg;
	*r = NULL;
	rc = lvsh_call(sh, what, &req, r);
	if (rc != LVSH_EXIT_OK || sh->json)
		return rc;
	if ((*r)->n_vms == 1 && (*r)->vms[0]->has_migrate_downtime_ns)
		fprintf(sh->out, "migrated %s to %s (downtime %.3f ms: held here -> %s)\n",
			name, dest, (*r)->vms[0]->migrate_downtime_ns / 1e6,
			dest[0] == '/' ? "ready there" : "running there, as seen here");
	else
		fprintf(sh->out, "migrated %s to %s\n", name, dest);
	if ((*r)->n_vms == 1)
		print_migrate_phases(sh->out, (*r)->vms[0]);
	return rc;
}

/* The running VMs a pattern selects, one after the other (a name: that
 * one); --json: one reply listing the VMs that moved. */
static int cmd_migrate(struct lvsh *sh, const struct lvsh_cmd *cmd, const struct lvsh_args *a)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *list = NULL, **moved = NULL, agg = LIGHTVM__REPLY__INIT;
	Lightvm__VmInfo **vms = NULL;
	char dest[PATH_MAX];
	uint32_t ms = 0;
	size_t n = 0;
	int rc, worst = LVSH_EXIT_OK;

	if (is_host_port(a->argv[1]))   /* another machine's agent: as given */
		snprintf(dest, sizeof(dest), "%s", a->argv[1]);
	else if (abs_path(cmd->name, a->argv[1], dest, sizeof(dest)))
		return LVSH_EXIT_USAGE;
	if (opt_timeout(cmd->name, a->opt[0], &ms))
		return LVSH_EXIT_USAGE;
	if (!strpbrk(a->argv[0], "*?[") && strcmp(a->argv[0], "all")) {
		Lightvm__Reply *r;

		rc = migrate_one(sh, cmd->name, a->argv[0], dest, ms, &r);
		if (rc != LVSH_EXIT_OK)
			return rc;
		return finish(sh, cmd->name, r, "migrated", false);
	}
	sel.selector = a->argv[0];
	req.op_case = LIGHTVM__REQUEST__OP_LIST;
	req.list = &sel;
	rc = lvsh_call(sh, cmd->name, &req, &list);
	if (rc != LVSH_EXIT_OK)
		return rc;
	moved = calloc(list->n_vms + 1, sizeof(*moved));
	vms = calloc(list->n_vms + 1, sizeof(*vms));
	if (!moved || !vms) {
		lvsh_err(cmd->name, "out of memory");
		worst = LVSH_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < list->n_vms; i++) {
		if (strcmp(list->vms[i]->state, "running"))
			continue;
		rc = migrate_one(sh, cmd->name, list->vms[i]->name, dest, ms, &moved[n]);
		if (rc != LVSH_EXIT_OK) {
			worst = rc;
			continue;
		}
		if (moved[n]->n_vms == 1)
			vms[agg.n_vms++] = moved[n]->vms[0];
		n++;
	}
	if (sh->json) {
		agg.vms = vms;
		json_reply(sh, &agg);
	}
	if (n == 0 && worst == LVSH_EXIT_OK) {
		lvsh_err(cmd->name, "%s: no running VM matches", a->argv[0]);
		worst = LVSH_EXIT_FAIL;
	}
out:
	for (size_t i = 0; moved && i < n; i++)
		lightvm__reply__free_unpacked(moved[i], NULL);
	free(moved);
	free(vms);
	lightvm__reply__free_unpacked(list, NULL);
	return worst;
}

const struct lvsh_cmd lvsh_cmd_migrate = {
	.name = "migrate", .usage = "SELECTOR SOCKET|HOST:PORT [timeout=SEC]",
	.help = "move running VMs to another agent (its socket, or its migrate-listen address)",
	.fn = cmd_migrate, .min_args = 2, .max_args = 2, .opts = migrate_opts,
};

const struct lvsh_cmd lvsh_cmd_save = {
	.name = "save", .usage = "SELECTOR FILE [--keep] [timeout=SEC]",
	.help = "save VMs into snapshot files (a pattern: into the directory FILE)",
	.fn = cmd_save, .min_args = 2, .max_args = 2, .opts = save_opts,
};

const struct lvsh_cmd lvsh_cmd_restore = {
	.name = "restore", .usage = "FILE [name=NAME] [--nowait] [timeout=SEC]",
	.help = "start a VM from a snapshot file",
	.fn = cmd_restore, .min_args = 1, .max_args = 1, .opts = restore_opts,
};

const struct lvsh_cmd lvsh_cmd_clone = {
	.name = "clone", .usage = "VM N [name=PREFIX] [--nowait] [timeout=SEC]",
	.help = "start N running copies of a running VM (memory shared copy-on-write)",
	.fn = cmd_clone, .min_args = 2, .max_args = 2, .opts = clone_opts,
};
