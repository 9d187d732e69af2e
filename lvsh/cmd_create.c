/*
 * cmd_create.c - `create FILE|DIR [N]`: VMs from config files in xl.cfg(5)
 * syntax (lightvm.cfg(5), VM CONFIG).  Every file is parsed first
 * (proto/vmcfg.c, the parser lightvmd's autostart uses); if any has an
 * error, all errors are printed and nothing is started.  Then each file
 * becomes one spawn request of N VMs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "cmds.h"
#include "fmt.h"
#include "vmcfg.h"

#define CREATE_MAX_COUNT 100000u

enum { CREATE_NOWAIT };

static const struct lvsh_opt create_opts[] = {
	[CREATE_NOWAIT] = { "--nowait", LVSH_OPT_FLAG, NULL,
			    "reply once every VM is started (a guest that never "
			    "signals ready: a stock Linux)" },
	{ NULL, 0, NULL, NULL },
};

/* The files named by path: itself, or the config files of a directory. */
static int create_files(const char *what, const char *path, char ***paths, size_t *n)
{
	char err[320];
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (vmcfg_list_dir(path, paths, n, err, sizeof(err)) < 0) {
			lvsh_err(what, "%s", err);
			return -1;
		}
		if (*n == 0) {
			lvsh_err(what, "%.200s: no config files (NAME.cfg) in it", path);
			vmcfg_free_list(*paths, 0);
			return -1;
		}
		return 0;
	}
	*paths = calloc(1, sizeof(**paths));
	if (*paths && ((*paths)[0] = strdup(path)) != NULL) {
		*n = 1;
		return 0;
	}
	free(*paths);
	lvsh_err(what, "out of memory");
	return -1;
}

/* Parse every file; print every error.  Returns the number of files with
 * errors. */
static unsigned create_parse(const char *what, char **paths, size_t n,
			     struct vmcfg *cfgs, struct vmcfg_errs *e)
{
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		memset(e, 0, sizeof(*e));
		if (vmcfg_load(paths[i], &cfgs[i], e) == 0)
			continue;
		bad++;
		for (unsigned k = 0; k < e->n; k++)
			lvsh_err(what, "%s", e->msg[k]);
		if (e->dropped)
			lvsh_err(what, "%.200s: %u more errors", paths[i], e->dropped);
	}
	return bad;
}

/* The spawn request of one config; strings point into c. */
static void create_req(const struct vmcfg *c, uint32_t count, int wait,
		       Lightvm__SpawnReq *sp)
{
	lightvm__spawn_req__init(sp);
	sp->count = count;
	sp->image = (char *)c->image;
	if (c->name[0] && count == 1)
		sp->name = (char *)c->name;
	else if (c->name[0])
		sp->name_prefix = (char *)c->name;
	sp->has_mem_bytes = c->mem_bytes != 0;
	sp->mem_bytes = c->mem_bytes;
	sp->has_vcpus = c->vcpus != 0;
	sp->vcpus = c->vcpus;
	sp->ramdisk = c->ramdisk[0] ? (char *)c->ramdisk : NULL;
	sp->cmdline = c->cmdline[0] ? (char *)c->cmdline : NULL;
	sp->has_watchdog_s = c->has_watchdog != 0;
	sp->watchdog_s = c->watchdog_s;
	sp->mode = c->mode[0] ? (char *)c->mode : NULL;
	sp->net_bridge = c->nvifs && c->bridge[0] ? (char *)c->bridge : NULL;
	sp->has_destroy_on_poweroff = sp->destroy_on_poweroff = c->destroy_on_poweroff != 0;
	sp->has_destroy_on_crash = sp->destroy_on_crash = c->destroy_on_crash != 0;
	sp->has_wait_ready = 1;
	sp->wait_ready = wait != 0;
}

static int cmd_create(struct lvsh *sh, const struct lvsh_cmd *cmd,
		      const struct lvsh_args *a)
{
	struct vmcfg_errs *e = NULL;
	struct vmcfg *cfgs = NULL;
	Lightvm__SpawnReq sp;
	char **paths = NULL;
	uint32_t count = 1;
	size_t n = 0;
	int rc = LVSH_EXIT_USAGE, r;

	if (a->argc > 1 && lvsh_parse_u32(a->argv[1], 1, CREATE_MAX_COUNT, &count) < 0) {
		lvsh_err(cmd->name, "N must be a number from 1 to %u, not '%s'",
			 CREATE_MAX_COUNT, a->argv[1]);
		return LVSH_EXIT_USAGE;
	}
	if (create_files(cmd->name, a->argv[0], &paths, &n) < 0)
		return LVSH_EXIT_USAGE;
	cfgs = calloc(n, sizeof(*cfgs));
	e = malloc(sizeof(*e));
	if (!cfgs || !e) {
		lvsh_err(cmd->name, "out of memory");
		goto out;
	}
	r = (int)create_parse(cmd->name, paths, n, cfgs, e);
	if (r) {
		lvsh_err(cmd->name, "nothing started: %d of %zu config files have errors", r, n);
		goto out;
	}
	rc = LVSH_EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		create_req(&cfgs[i], count, a->opt[CREATE_NOWAIT] == NULL, &sp);
		r = lvsh_spawn_send(sh, cmd->name, &sp);
		if (r > rc)
			rc = r;
		if (r == LVSH_EXIT_UNREACH)
			break;
	}
out:
	vmcfg_free_list(paths, n);
	free(cfgs);
	free(e);
	return rc;
}

const struct lvsh_cmd lvsh_cmd_create = {
	.name = "create", .usage = "FILE [N] [--nowait]",
	.help = "start N VMs (default 1) from a VM config file, or from each one in a directory",
	.fn = cmd_create, .min_args = 1, .max_args = 2, .opts = create_opts,
};
