/*
 * lvsh.c - the console's shared state (struct lvsh) and error reporting.
 * Kept apart from main.c so the tests link everything but main().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "lvsh.h"

volatile sig_atomic_t lvsh_interrupted;
int lvsh_err_quiet;

void lvsh_init(struct lvsh *sh)
{
	const char *v = getenv("LVSH_VERBOSE");

	memset(sh, 0, sizeof(*sh));   /* every option off unless set below */
	sh->sock_path = LVSH_DEFAULT_SOCKET;
	sh->autostart = 1;
	sh->verbose = v != NULL && *v != '\0';
	sh->out = stdout;
	sh->client.fd = -1;
}

void lvsh_fini(struct lvsh *sh)
{
	lvsh_client_close(sh);
	fflush(sh->out);
}

void lvsh_err(const char *what, const char *fmt, ...)
{
	char msg[1024];
	size_t n = strlen(what);
	const char *m = msg;
	va_list ap;

	if (lvsh_err_quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the agent names the command in some messages: say it once */
	if (strncmp(msg, what, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		m = msg + n + 2;
	fflush(stdout);		/* keep stdout and stderr in order */
	fprintf(stderr, "lvsh: %s: %s\n", what, m);
}
