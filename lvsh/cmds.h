/*
 * cmds.h - the command table and the command language.
 *
 * Each command group (cmd_vm.c, cmd_host.c, cmds.c itself) exports one
 * const struct lvsh_cmd per command; cmds.c collects them in the one table
 * that feeds dispatch, `help`, usage errors, the man-page test and
 * completion.  Options are declared in the entry and parsed here, so a
 * handler only sees validated words.
 */
#ifndef LVSH_CMDS_H
#define LVSH_CMDS_H

#include <stddef.h>

#include "lvsh.h"

#define LVSH_MAX_OPTS 12
#define LVSH_MAX_ARGS 64

enum lvsh_opt_kind {
	LVSH_OPT_KV,		/* key=VALUE */
	LVSH_OPT_FLAG,		/* --flag */
};

struct lvsh_opt {
	const char         *name;	/* "mem", or "--wait" for a flag */
	enum lvsh_opt_kind  kind;
	const char         *arg;	/* "SIZE" for key=VALUE, else NULL */
	const char         *help;
};

/* A command line after option parsing.  Strings point into the caller's
 * argv; nothing here is allocated. */
struct lvsh_args {
	int          argc;			/* positional words */
	char        *argv[LVSH_MAX_ARGS];
	const char  *opt[LVSH_MAX_OPTS];	/* by index in cmd->opts;
						 * NULL = not given, "" = flag set */
};

struct lvsh_cmd;
typedef int (*lvsh_cmd_fn)(struct lvsh *sh, const struct lvsh_cmd *cmd,
			   const struct lvsh_args *a);

struct lvsh_cmd {
	const char            *name;
	const char            *usage;	/* arguments only: "N IMAGE [mem=SIZE]" */
	const char            *help;	/* one line */
	lvsh_cmd_fn            fn;
	int                    min_args;	/* positional words */
	int                    max_args;
	const struct lvsh_opt *opts;	/* NULL-name terminated, or NULL */
};

/* The table, NULL terminated. */
extern const struct lvsh_cmd *const lvsh_cmds[];

/* Find a command by its name or a unique prefix.  On failure returns NULL
 * and writes "unknown command" or "ambiguous command: a, b" into err. */
const struct lvsh_cmd *lvsh_cmd_find(const char *word, char *err,
				     size_t errlen);

/* Split argv (words after the command name) into positionals and the
 * command's options, and check the counts.  Returns 0 or -1 with a message
 * in err. */
int lvsh_args_parse(const struct lvsh_cmd *cmd, int argc, char **argv,
		    struct lvsh_args *a, char *err, size_t errlen);

/* Index of option `name` in cmd->opts, or -1. */
int lvsh_opt_index(const struct lvsh_cmd *cmd, const char *name);

/* Run one command (argv[0] is its name, possibly a prefix).  Returns an
 * LVSH_EXIT_* value; errors are already reported on stderr. */
int lvsh_run_argv(struct lvsh *sh, int argc, char **argv);

/* Run a chunk of the command language: commands separated by ';' or
 * newlines, '#' comments, '...' and "..." quoting.  `where` names the
 * source for parse errors ("-c", "FILE:12").  *worst is raised to the
 * worst status seen; with stop_on_error the first failure stops.
 * Returns the status of the last command, or LVSH_EXIT_USAGE on a parse
 * error. */
int lvsh_run_text(struct lvsh *sh, const char *text, const char *where,
		  int stop_on_error, int *worst);

/* Usage error for cmd: "lvsh: NAME: usage: NAME USAGE". */
int lvsh_usage(const struct lvsh_cmd *cmd);

/* ---- command entries (one per command) */
extern const struct lvsh_cmd lvsh_cmd_spawn, lvsh_cmd_list, lvsh_cmd_inspect,
	lvsh_cmd_pause, lvsh_cmd_unpause, lvsh_cmd_shutdown, lvsh_cmd_reboot,
	lvsh_cmd_destroy, lvsh_cmd_log, lvsh_cmd_pool, lvsh_cmd_host,
	lvsh_cmd_help, lvsh_cmd_quit, lvsh_cmd_console, lvsh_cmd_top;
/* cmd_watch.c */
extern const struct lvsh_cmd lvsh_cmd_stats, lvsh_cmd_events, lvsh_cmd_wait;
/* cmd_create.c */
extern const struct lvsh_cmd lvsh_cmd_create;
/* cmd_snapshot.c */
extern const struct lvsh_cmd lvsh_cmd_save, lvsh_cmd_restore, lvsh_cmd_clone,
	lvsh_cmd_migrate;

/* ---- argument parsers shared with the tests */
struct Lightvm__SpawnReq;
/* Fill req from parsed spawn arguments; string fields point into a.
 * Returns 0 or -1 with a message in err. */
int lvsh_spawn_parse(const struct lvsh_args *a, struct Lightvm__SpawnReq *req,
		     char *err, size_t errlen);
/* Send a spawn request and print the reply as `spawn` does (cmd_vm.c,
 * used by create too); returns an LVSH_EXIT_* value. */
int lvsh_spawn_send(struct lvsh *sh, const char *what, struct Lightvm__SpawnReq *sp);

#endif
