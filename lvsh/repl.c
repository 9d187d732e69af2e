/*
 * repl.c - the interactive console: a libedit prompt showing the host and
 * its VM count, history in ~/.lvsh_history, tab completion (complete.c),
 * and Ctrl-C that cancels the running command rather than lvsh.
 * Lines go through the same command language as -c and -f (cmds.c).
 */
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "complete.h"

#define HISTORY_FILE ".lvsh_history"
#define HISTORY_SIZE 1000

struct repl {
	struct lvsh *sh;
	EditLine    *el;
	History     *hist;
	char         prompt[128];
	char         hist_path[PATH_MAX];
};

static void on_sigint(int sig)
{
	(void)sig;
	lvsh_interrupted = 1;
}

/* "lvsh HOST:N> ", or "lvsh (no agent)> " when nothing answers. */
static void refresh_prompt(struct repl *r)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__HostReq hr = LIGHTVM__HOST_REQ__INIT;
	Lightvm__Reply *rep = NULL;
	int json = r->sh->json, rc;

	req.op_case = LIGHTVM__REQUEST__OP_HOST;
	req.host = &hr;
	lvsh_err_quiet = 1;
	r->sh->json = 0;
	rc = lvsh_call(r->sh, "prompt", &req, &rep);
	r->sh->json = json;
	lvsh_err_quiet = 0;
	if (rc == LVSH_EXIT_OK && rep->host != NULL)
		snprintf(r->prompt, sizeof(r->prompt), "lvsh %.60s:%u> ",
			 rep->host->hostname, rep->host->vms);
	else
		snprintf(r->prompt, sizeof(r->prompt), "lvsh (no agent)> ");
	if (rep != NULL)
		lightvm__reply__free_unpacked(rep, NULL);
}

static char *prompt_fn(EditLine *el)
{
	struct repl *r;

	el_get(el, EL_CLIENTDATA, &r);
	return r->prompt;
}

/* Print the candidates below the line, in columns. */
static void list_candidates(const struct lvsh_completion *c)
{
	size_t i, w = 0, cols, shown = c->n > 200 ? 200 : c->n;

	for (i = 0; i < shown; i++)
		if (strlen(c->words[i]) > w)
			w = strlen(c->words[i]);
	cols = 78 / (w + 2);
	if (cols == 0)
		cols = 1;
	fputc('\n', stdout);
	for (i = 0; i < shown; i++)
		printf("%-*s%s", (int)w + 2, c->words[i],
		       (i + 1) % cols == 0 || i + 1 == shown ? "\n" : "");
	if (shown < c->n)
		printf("... and %zu more\n", c->n - shown);
	fflush(stdout);
}

static unsigned char complete_fn(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);
	struct lvsh_completion c;
	struct repl *r;
	size_t typed, common;
	unsigned char ret = CC_REFRESH;
	char ins[512];

	(void)ch;
	el_get(el, EL_CLIENTDATA, &r);
	if (lvsh_complete(r->sh, li->buffer, (size_t)(li->cursor - li->buffer),
			  &c) < 0 || c.n == 0)
		return CC_REFRESH_BEEP;
	typed = (size_t)(li->cursor - li->buffer) - c.start;
	common = lvsh_completion_common(&c);
	if (common > typed || c.n == 1) {
		size_t n = common - typed;

		if (n >= sizeof(ins) - 1)
			n = sizeof(ins) - 2;
		memcpy(ins, c.words[0] + typed, n);
		ins[n] = '\0';
		if (c.n == 1 && !c.no_space)
			strcat(ins, " ");
		if (ins[0] != '\0' && el_insertstr(el, ins) < 0)
			ret = CC_ERROR;
	} else {
		list_candidates(&c);
		ret = CC_REDISPLAY;
	}
	lvsh_completion_free(&c);
	return ret;
}

static int repl_open(struct repl *r, struct lvsh *sh)
{
	const char *home = getenv("HOME");
	HistEvent ev;

	memset(r, 0, sizeof(*r));
	r->sh = sh;
	r->el = el_init("lvsh", stdin, stdout, stderr);
	r->hist = history_init();
	if (r->el == NULL || r->hist == NULL)
		return -1;
	history(r->hist, &ev, H_SETSIZE, HISTORY_SIZE);
	history(r->hist, &ev, H_SETUNIQUE, 1);
	if (home != NULL && *home != '\0') {
		snprintf(r->hist_path, sizeof(r->hist_path), "%s/%s", home,
			 HISTORY_FILE);
		history(r->hist, &ev, H_LOAD, r->hist_path);
	}
	el_set(r->el, EL_CLIENTDATA, r);
	el_set(r->el, EL_EDITOR, "emacs");
	el_set(r->el, EL_PROMPT, prompt_fn);
	el_set(r->el, EL_HIST, history, r->hist);
	el_set(r->el, EL_ADDFN, "lvsh-complete",
	       "complete commands, options, VM and image names", complete_fn);
	el_set(r->el, EL_BIND, "^I", "lvsh-complete", NULL);
	el_source(r->el, NULL);		/* ~/.editrc, if any */
	return 0;
}

static void repl_close(struct repl *r)
{
	HistEvent ev;

	if (r->hist != NULL && r->hist_path[0] != '\0')
		history(r->hist, &ev, H_SAVE, r->hist_path);
	if (r->el != NULL)
		el_end(r->el);
	if (r->hist != NULL)
		history_end(r->hist);
}

/* Keep the line in the history unless it is blank. */
static void remember(struct repl *r, const char *line)
{
	const char *p = line;
	HistEvent ev;
	char *copy;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '\n')
		return;
	copy = strdup(line);
	if (copy == NULL)
		return;
	n = strlen(copy);
	if (n > 0 && copy[n - 1] == '\n')
		copy[n - 1] = '\0';
	history(r->hist, &ev, H_ENTER, copy);
	free(copy);
}

int lvsh_repl(struct lvsh *sh)
{
	struct sigaction sa, old_int;
	const char *line;
	struct repl r;
	int n, worst = LVSH_EXIT_OK;

	if (repl_open(&r, sh) < 0) {
		lvsh_err("lvsh", "cannot start the line editor");
		repl_close(&r);
		return LVSH_EXIT_FAIL;
	}
	sh->interactive = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;	/* no SA_RESTART: blocking calls end */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	while (!sh->quit) {
		fflush(stdout);
		fflush(stderr);		/* errors above the prompt, never after */
		lvsh_interrupted = 0;
		refresh_prompt(&r);
		line = el_gets(r.el, &n);
		if (line == NULL) {
			if (lvsh_interrupted || (n < 0 && errno == EINTR)) {
				/* Ctrl-C at the prompt: a fresh line */
				fputs("^C\n", stdout);
				el_reset(r.el);
				continue;
			}
			fputc('\n', stdout);	/* Ctrl-D */
			break;
		}
		remember(&r, line);
		lvsh_interrupted = 0;
		lvsh_run_text(sh, line, "lvsh", 0, &worst);
		lvsh_complete_invalidate();
	}
	sigaction(SIGINT, &old_int, NULL);
	repl_close(&r);
	return LVSH_EXIT_OK;
}
