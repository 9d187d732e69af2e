/*
 * lvsh.h - the console's shared state and conventions.
 *
 * One struct lvsh lives for the whole run (script or REPL).  Every
 * command returns one of the LVSH_EXIT_* values, which are also the
 * program's exit statuses (see man/lvsh.1, EXIT STATUS).
 */
#ifndef LVSH_H
#define LVSH_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "lv_limits.h"	/* proto/: the default socket */

#define LVSH_VERSION        "0.1.0"
#define LVSH_DEFAULT_SOCKET LV_PROTO_DEFAULT_SOCKET

enum lvsh_exit {
	LVSH_EXIT_OK      = 0,	/* success */
	LVSH_EXIT_FAIL    = 1,	/* the agent said no, or some VMs failed */
	LVSH_EXIT_USAGE   = 2,	/* bad command line or command */
	LVSH_EXIT_UNREACH = 3,	/* no agent to talk to */
};

struct lvsh_client {
	int         fd;		/* -1 until the first agent command */
	uint32_t    seq;	/* last sequence number used */
};

struct lvsh {
	const char *sock_path;
	const char *state_dir;	/* -D, passed to an auto-started agent */
	int         json;	/* --json: one JSON document per command */
	int         timing;	/* -T: each request's round trip on stderr */
	int         autostart;	/* start lightvmd if nothing listens */
	int         verbose;	/* LVSH_VERBOSE set: notes on stderr */
	int         quit;	/* set by `quit`: stop reading commands */
	int         interactive; /* the REPL runs: Ctrl-C cancels, long
				  * failure lists are cut short */
	FILE       *out;	/* command output (stdout) */
	struct lvsh_client client;
};

void lvsh_init(struct lvsh *sh);
void lvsh_fini(struct lvsh *sh);

/* "lvsh: <what>: <message>" on stderr, one line. */
void lvsh_err(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set by the REPL's SIGINT handler: the running command gives up (a call
 * waiting for the agent drops its connection) and the prompt returns. */
extern volatile sig_atomic_t lvsh_interrupted;
/* While set, lvsh_err() prints nothing (completion, prompt refresh). */
extern int lvsh_err_quiet;

/* How many failure lines a command prints in the REPL before it sums up
 * the rest ("... and 990 more"), so the prompt stays in sight. */
#define LVSH_REPL_MAX_FAILURES 8

/* The interactive prompt, the REPL (lvsh/repl.c); returns an exit status. */
int lvsh_repl(struct lvsh *sh);

#endif
