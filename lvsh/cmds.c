/*
 * cmds.c - the one command table, and everything driven by it: prefix
 * lookup, option parsing, usage errors, `help`, and the command language
 * (';' and newline separated commands, '#' comments, quoting) shared by
 * -c, -f, standard input and the REPL.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "json.h"

const struct lvsh_cmd *const lvsh_cmds[] = {
	&lvsh_cmd_spawn,
	&lvsh_cmd_create,
	&lvsh_cmd_list,
	&lvsh_cmd_inspect,
	&lvsh_cmd_pause,
	&lvsh_cmd_unpause,
	&lvsh_cmd_shutdown,
	&lvsh_cmd_reboot,
	&lvsh_cmd_destroy,
	&lvsh_cmd_save,
	&lvsh_cmd_restore,
	&lvsh_cmd_clone,
	&lvsh_cmd_migrate,
	&lvsh_cmd_log,
	&lvsh_cmd_console,
	&lvsh_cmd_top,
	&lvsh_cmd_pool,
	&lvsh_cmd_host,
	&lvsh_cmd_stats,
	&lvsh_cmd_events,
	&lvsh_cmd_wait,
	&lvsh_cmd_help,
	&lvsh_cmd_quit,
	NULL,
};

const struct lvsh_cmd *lvsh_cmd_find(const char *word, char *err,
				     size_t errlen)
{
	const struct lvsh_cmd *const *c, *found = NULL;
	size_t len = strlen(word), off;
	const char *sep;
	int n = 0;

	for (c = lvsh_cmds; *c != NULL; c++) {
		if (strcmp((*c)->name, word) == 0)
			return *c;
		if (len > 0 && strncmp((*c)->name, word, len) == 0) {
			found = *c;
			n++;
		}
	}
	if (n == 1)
		return found;
	if (n == 0) {
		snprintf(err, errlen, "unknown command (try help)");
		return NULL;
	}
	off = (size_t)snprintf(err, errlen, "ambiguous command, could be:");
	sep = " ";
	for (c = lvsh_cmds; *c != NULL && off < errlen; c++) {
		if (strncmp((*c)->name, word, len) != 0)
			continue;
		off += (size_t)snprintf(err + off, errlen - off, "%s%s", sep,
					(*c)->name);
		sep = ", ";
	}
	return NULL;
}

int lvsh_opt_index(const struct lvsh_cmd *cmd, const char *name)
{
	int i;

	for (i = 0; cmd->opts != NULL && cmd->opts[i].name != NULL; i++)
		if (strcmp(cmd->opts[i].name, name) == 0)
			return i;
	return -1;
}

/* key=VALUE with a key made of [a-z_]: an option word. */
static int is_kv_word(const char *w)
{
	const char *p = w;

	while (islower((unsigned char)*p) || *p == '_')
		p++;
	return p > w && *p == '=';
}

static int usage_msg(const struct lvsh_cmd *cmd, char *err, size_t errlen)
{
	snprintf(err, errlen, "usage: %s%s%s", cmd->name,
		 *cmd->usage ? " " : "", cmd->usage);
	return -1;
}

int lvsh_args_parse(const struct lvsh_cmd *cmd, int argc, char **argv,
		    struct lvsh_args *a, char *err, size_t errlen)
{
	int i, idx, only_args = 0;
	char key[32];
	size_t klen;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < argc; i++) {
		const char *w = argv[i];

		if (!only_args && strcmp(w, "--") == 0) {
			only_args = 1;
			continue;
		}
		if (!only_args && w[0] == '-' && w[1] == '-') {
			idx = lvsh_opt_index(cmd, w);
			if (idx < 0 || cmd->opts[idx].kind != LVSH_OPT_FLAG)
				goto unknown;
			a->opt[idx] = "";
			continue;
		}
		if (!only_args && cmd->opts != NULL && is_kv_word(w)) {
			klen = (size_t)(strchr(w, '=') - w);
			if (klen >= sizeof(key))
				goto unknown;
			memcpy(key, w, klen);
			key[klen] = '\0';
			idx = lvsh_opt_index(cmd, key);
			if (idx < 0 || cmd->opts[idx].kind != LVSH_OPT_KV)
				goto unknown;
			a->opt[idx] = w + klen + 1;
			continue;
		}
		if (a->argc == LVSH_MAX_ARGS || a->argc == cmd->max_args)
			return usage_msg(cmd, err, errlen);
		a->argv[a->argc++] = argv[i];
	}
	if (a->argc < cmd->min_args)
		return usage_msg(cmd, err, errlen);
	return 0;
unknown:
	snprintf(err, errlen, "unknown option %s; usage: %s%s%s", argv[i],
		 cmd->name, *cmd->usage ? " " : "", cmd->usage);
	return -1;
}

int lvsh_usage(const struct lvsh_cmd *cmd)
{
	char err[256];

	usage_msg(cmd, err, sizeof(err));
	lvsh_err(cmd->name, "%s", err);
	return LVSH_EXIT_USAGE;
}

int lvsh_run_argv(struct lvsh *sh, int argc, char **argv)
{
	const struct lvsh_cmd *cmd;
	struct lvsh_args a;
	char err[256];

	cmd = lvsh_cmd_find(argv[0], err, sizeof(err));
	if (cmd == NULL) {
		lvsh_err(argv[0], "%s", err);
		return LVSH_EXIT_USAGE;
	}
	if (lvsh_args_parse(cmd, argc - 1, argv + 1, &a, err,
			    sizeof(err)) < 0) {
		lvsh_err(cmd->name, "%s", err);
		return LVSH_EXIT_USAGE;
	}
	return cmd->fn(sh, cmd, &a);
}

/* ---- the command language */

/* Cut the next command out of *pp into words (stored in buf, which has
 * room for the whole text).  Returns 1 if more text follows, 0 at the end,
 * -1 on a syntax error (message in err). */
static int next_command(const char **pp, char *buf, char **argv, int *argcp,
			char *err, size_t errlen)
{
	const char *p = *pp;
	char *o = buf;
	int argc = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '#')
			while (*p != '\0' && *p != '\n')
				p++;
		if (*p == '\0' || *p == ';' || *p == '\n')
			break;
		if (argc == LVSH_MAX_ARGS) {
			snprintf(err, errlen, "too many words in a command");
			return -1;
		}
		argv[argc++] = o;
		while (*p != '\0' && strchr(" \t\r\n;", *p) == NULL) {
			char q = *p;

			if (q == '\'' || q == '"') {
				for (p++; *p != '\0' && *p != q; p++) {
					if (q == '"' && *p == '\\' &&
					    p[1] != '\0')
						p++;
					*o++ = *p;
				}
				if (*p == '\0') {
					snprintf(err, errlen,
						 "unterminated %c quote", q);
					return -1;
				}
				p++;
			} else if (q == '\\' && p[1] != '\0') {
				*o++ = p[1];
				p += 2;
			} else {
				*o++ = *p++;
			}
		}
		*o++ = '\0';
	}
	argv[argc] = NULL;
	*argcp = argc;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	*pp = p + 1;
	return 1;
}

int lvsh_run_text(struct lvsh *sh, const char *text, const char *where,
		  int stop_on_error, int *worst)
{
	char *argv[LVSH_MAX_ARGS + 1], err[128], *buf;
	const char *p = text;
	int argc, more, rc = LVSH_EXIT_OK;

	buf = malloc(strlen(text) + 1);
	if (buf == NULL) {
		lvsh_err(where, "out of memory");
		*worst = *worst > LVSH_EXIT_FAIL ? *worst : LVSH_EXIT_FAIL;
		return LVSH_EXIT_FAIL;
	}
	do {
		more = next_command(&p, buf, argv, &argc, err, sizeof(err));
		if (more < 0) {
			lvsh_err(where, "%s", err);
			rc = LVSH_EXIT_USAGE;
		} else if (argc > 0) {
			rc = lvsh_run_argv(sh, argc, argv);
		} else {
			continue;
		}
		if (rc > *worst)
			*worst = rc;
		if (more < 0 || (stop_on_error && rc != LVSH_EXIT_OK))
			break;
	} while (more > 0 && !sh->quit);
	free(buf);
	return rc;
}

/* ---- help and quit: commands about the console itself */

#define HELP_COL 26		/* where the one-line help starts */

static void help_json(struct lvsh *sh, const struct lvsh_cmd *only)
{
	const struct lvsh_cmd *const *c;
	const struct lvsh_opt *o;
	struct json j;

	json_begin(&j, sh->out);
	json_obj(&j);
	json_key(&j, "commands");
	json_arr(&j);
	for (c = lvsh_cmds; *c != NULL; c++) {
		if (only != NULL && *c != only)
			continue;
		json_obj(&j);
		json_kstr(&j, "name", (*c)->name);
		json_kstr(&j, "usage", (*c)->usage);
		json_kstr(&j, "help", (*c)->help);
		json_key(&j, "options");
		json_arr(&j);
		for (o = (*c)->opts; o != NULL && o->name != NULL; o++) {
			json_obj(&j);
			json_kstr(&j, "name", o->name);
			json_kstr(&j, "arg", o->arg);
			json_kstr(&j, "help", o->help);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	json_end(&j);
}

static void help_one(struct lvsh *sh, const struct lvsh_cmd *cmd)
{
	const struct lvsh_opt *o;
	char name[64];

	fprintf(sh->out, "usage: %s%s%s\n%s\n", cmd->name,
		*cmd->usage ? " " : "", cmd->usage, cmd->help);
	if (cmd->opts == NULL)
		return;
	fprintf(sh->out, "options:\n");
	for (o = cmd->opts; o->name != NULL; o++) {
		snprintf(name, sizeof(name), "%s%s%s", o->name,
			 o->kind == LVSH_OPT_KV ? "=" : "",
			 o->arg ? o->arg : "");
		fprintf(sh->out, "  %-16s %s\n", name, o->help);
	}
}

static int cmd_help(struct lvsh *sh, const struct lvsh_cmd *self,
		    const struct lvsh_args *a)
{
	const struct lvsh_cmd *const *c, *cmd = NULL;
	char line[128], err[256];

	if (a->argc == 1) {
		cmd = lvsh_cmd_find(a->argv[0], err, sizeof(err));
		if (cmd == NULL) {
			lvsh_err(self->name, "%s: %s", a->argv[0], err);
			return LVSH_EXIT_USAGE;
		}
	}
	if (sh->json) {
		help_json(sh, cmd);
	} else if (cmd != NULL) {
		help_one(sh, cmd);
	} else {
		for (c = lvsh_cmds; *c != NULL; c++) {
			snprintf(line, sizeof(line), "%s %s", (*c)->name,
				 (*c)->usage);
			/* a long usage gets a line of its own */
			if (strlen(line) > HELP_COL)
				fprintf(sh->out, "%s\n%-*s %s\n", line,
					HELP_COL, "", (*c)->help);
			else
				fprintf(sh->out, "%-*s %s\n", HELP_COL, line,
					(*c)->help);
		}
		fprintf(sh->out, "Commands match on a unique prefix; "
			"`help CMD` shows a command's options.\n");
	}
	fflush(sh->out);
	return LVSH_EXIT_OK;
}

static int cmd_quit(struct lvsh *sh, const struct lvsh_cmd *self,
		    const struct lvsh_args *a)
{
	sh->quit = 1;
	return LVSH_EXIT_OK;
}

const struct lvsh_cmd lvsh_cmd_help = {
	.name = "help", .usage = "[CMD]",
	.help = "list the commands, or show one command's usage and options",
	.fn = cmd_help, .min_args = 0, .max_args = 1,
};

const struct lvsh_cmd lvsh_cmd_quit = {
	.name = "quit", .usage = "",
	.help = "stop reading commands",
	.fn = cmd_quit, .min_args = 0, .max_args = 0,
};
