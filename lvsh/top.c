/*
 * top.c - the live view: the `top` command (also `lvsh -t`), the terminal
 * (curses set-up; restored on exit, on SIGINT/SIGTERM/SIGHUP/SIGQUIT and
 * by atexit), the loop (keys first, so a key shows at once; then agent
 * frames; then the next refresh), the key table and the actions on the
 * selected VM or on every VM of the filter.  Without a usable terminal
 * (TERM unset or dumb, output not a terminal, --batch) top_plain.c
 * prints plain text frames instead, like `top -b`.
 */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "fmt.h"
#include "top.h"

#define TOP_MIN_MS 100u
#define TOP_MAX_MS 60000u

static volatile sig_atomic_t top_stop;
static bool curses_on;

static void on_stop_signal(int sig)
{
	top_stop = sig;
}

static void curses_off(void)
{
	if (!curses_on)
		return;
	curses_on = false;
	curs_set(1);
	endwin();
}

/* ---- selection */

static void sel_fix(struct top_model *m, struct top_ui *ui)
{
	uint32_t i;

	if (m->nshown == 0) {
		ui->sel = ui->top = 0;
		return;
	}
	/* follow the selected VM if it is still shown */
	if (ui->sel >= m->nshown ||
	    m->rows[m->shown[ui->sel]].id != ui->sel_id) {
		for (i = 0; i < m->nshown; i++)
			if (m->rows[m->shown[i]].id == ui->sel_id)
				break;
		if (i < m->nshown)
			ui->sel = i;
		else if (ui->sel >= m->nshown)
			ui->sel = m->nshown - 1;
	}
	ui->sel_id = m->rows[m->shown[ui->sel]].id;
}

/* Keep the selection on screen. */
static void scroll_fix(struct top_model *m, struct top_ui *ui)
{
	uint32_t rows = (uint32_t)top_draw_table_rows(), line;
	int gc, gr;

	if (ui->view == VIEW_TILES) {
		top_draw_tile_grid(&gc, &gr);
		line = ui->sel / (uint32_t)gc;
		if (line < ui->top)
			ui->top = line;
		else if (line >= ui->top + (uint32_t)gr)
			ui->top = line - (uint32_t)gr + 1;
		return;
	}
	if (ui->sel < ui->top)
		ui->top = ui->sel;
	else if (ui->sel >= ui->top + rows)
		ui->top = ui->sel - rows + 1;
	if (m->nshown > rows && ui->top > m->nshown - rows)
		ui->top = m->nshown - rows;
	if (m->nshown <= rows)
		ui->top = 0;
}

static void sel_move(struct top_model *m, struct top_ui *ui, long delta)
{
	long s = (long)ui->sel + delta;

	if (m->nshown == 0)
		return;
	if (s < 0)
		s = 0;
	if (s >= (long)m->nshown)
		s = (long)m->nshown - 1;
	ui->sel = (uint32_t)s;
	ui->sel_id = m->rows[m->shown[ui->sel]].id;
	scroll_fix(m, ui);
}

static const struct top_row *selected(struct top_model *m, struct top_ui *ui)
{
	return m->nshown && ui->sel < m->nshown ? &m->rows[m->shown[ui->sel]] :
		NULL;
}

/* ---- key handlers */

typedef int key_fn(struct lvsh *, struct top_model *, struct top_feed *,
		   struct top_ui *, int);

static int k_quit(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		  struct top_ui *ui, int key)
{
	return 1;
}

static int k_move(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		  struct top_ui *ui, int key)
{
	long page = top_draw_table_rows(), w = 1;
	int gc, gr;

	if (ui->view == VIEW_TILES) {
		top_draw_tile_grid(&gc, &gr);
		w = gc;
		page = (long)gc * gr;
	}
	switch (key) {
	case KEY_UP:    sel_move(m, ui, -w); break;
	case KEY_DOWN:  sel_move(m, ui, w); break;
	case KEY_LEFT:  sel_move(m, ui, -1); break;
	case KEY_RIGHT: sel_move(m, ui, 1); break;
	case KEY_PPAGE: sel_move(m, ui, -page); break;
	case KEY_NPAGE: sel_move(m, ui, page); break;
	case KEY_HOME:  sel_move(m, ui, -(long)m->nshown); break;
	case KEY_END:   sel_move(m, ui, (long)m->nshown); break;
	}
	return 0;
}

static int k_sort(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		  struct top_ui *ui, int key)
{
	int c;

	for (c = 0; c < TC_NR; c++)
		if (top_columns[c].key == key)
			break;
	if (c == TC_NR)
		return 0;
	/* numbers read best largest first; names and states A to Z */
	top_model_set_sort(m, c, c == TC_CPU || c == TC_MEM ||
			   c == TC_CONSOLE || c == TC_RX || c == TC_TX ||
			   c == TC_SPAWN || c == TC_UPTIME);
	sel_fix(m, ui);
	scroll_fix(m, ui);
	return 0;
}

static int k_reverse(struct lvsh *sh, struct top_model *m,
		     struct top_feed *f, struct top_ui *ui, int key)
{
	top_model_set_sort(m, m->sort, !m->reverse);
	sel_fix(m, ui);
	scroll_fix(m, ui);
	return 0;
}

static int k_filter(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		    struct top_ui *ui, int key)
{
	ui->typing = true;
	snprintf(ui->prompt, sizeof(ui->prompt), "%s", m->filter_text);
	ui->status[0] = '\0';
	return 0;
}

static int k_escape(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		    struct top_ui *ui, int key)
{
	char err[8];

	if (ui->bulk || ui->status[0]) {
		ui->bulk = false;
		ui->status[0] = '\0';
		return 0;
	}
	top_model_set_filter(m, "", err, sizeof(err));
	sel_fix(m, ui);
	scroll_fix(m, ui);
	return 0;
}

static int k_tiles(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		   struct top_ui *ui, int key)
{
	ui->view = ui->view == VIEW_TILES ? VIEW_TABLE : VIEW_TILES;
	ui->top = 0;
	scroll_fix(m, ui);
	return 0;
}

static int k_tilemode(struct lvsh *sh, struct top_model *m,
		      struct top_feed *f, struct top_ui *ui, int key)
{
	ui->tilemode = ui->tilemode == TILE_STATE ? TILE_CPU : TILE_STATE;
	return 0;
}

static const uint32_t intervals[] = { 200, 500, 1000, 2000, 5000, 10000,
				      30000, 60000 };

static int k_interval(struct lvsh *sh, struct top_model *m,
		      struct top_feed *f, struct top_ui *ui, int key)
{
	size_t i, n = sizeof(intervals) / sizeof(intervals[0]);
	uint32_t ms = f->interval_ms;

	if (key == '+') {
		for (i = 0; i < n && intervals[i] <= ms; i++)
			;
		ms = i < n ? intervals[i] : TOP_MAX_MS;
	} else {
		for (i = n; i > 0 && intervals[i - 1] >= ms; i--)
			;
		ms = i > 0 ? intervals[i - 1] : TOP_MIN_MS;
	}
	top_feed_set_interval(f, ms);
	snprintf(ui->status, sizeof(ui->status), "refresh every %.1fs",
		 ms / 1000.0);
	return 0;
}

static int k_help(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		  struct top_ui *ui, int key)
{
	ui->help = true;
	return 0;
}

static int k_redraw(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		    struct top_ui *ui, int key)
{
	ui->full_redraw = true;
	return 0;
}

/* ---- inspect panel */

static int quiet_call(struct lvsh *sh, Lightvm__Request *req,
		      Lightvm__Reply **r)
{
	int rc;

	lvsh_err_quiet = 1;
	rc = lvsh_call(sh, "top", req, r);
	lvsh_err_quiet = 0;
	return rc;
}

struct sbuf {
	char  *b;
	size_t n, cap;
};

static void sb_printf(struct sbuf *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int w;

	for (;;) {
		if (s->cap - s->n < 256) {
			size_t cap = s->cap ? s->cap * 2 : 4096;
			char *b = realloc(s->b, cap);

			if (b == NULL)
				return;
			s->b = b;
			s->cap = cap;
		}
		va_start(ap, fmt);
		w = vsnprintf(s->b + s->n, s->cap - s->n, fmt, ap);
		va_end(ap);
		if (w < 0)
			return;
		if ((size_t)w < s->cap - s->n) {
			s->n += (size_t)w;
			return;
		}
		s->cap = s->n + (size_t)w + 256 > s->cap * 2 ?
			 s->n + (size_t)w + 256 : s->cap;
		{
			char *b = realloc(s->b, s->cap * 2);

			if (b == NULL)
				return;
			s->b = b;
			s->cap *= 2;
		}
	}
}

static void inspect_vm(struct sbuf *s, const Lightvm__VmInfo *vm)
{
	char mem[16], up[16];
	int64_t t0;
	size_t i;

	lvsh_fmt_size(mem, sizeof(mem), vm->mem_bytes);
	sb_printf(s, "config\n  name %s  id %u  state %s  image %s  mem %s  "
		  "vcpus %u\n", vm->name, vm->id, vm->state, vm->image, mem,
		  vm->vcpus);
	sb_printf(s, "  pid %d  pooled %s", vm->has_pid ? vm->pid : -1,
		  vm->has_pooled && vm->pooled ? "yes" : "no");
	if (vm->has_uptime_ns) {
		lvsh_fmt_uptime(up, sizeof(up), vm->uptime_ns);
		sb_printf(s, "  uptime %s", up);
	}
	if (vm->has_console_bytes)
		sb_printf(s, "  console %llu bytes",
			  (unsigned long long)vm->console_bytes);
	if (vm->has_cpu_pct)
		sb_printf(s, "  cpu %.1f%%", vm->cpu_pct);
	if (vm->has_rss_bytes)
		sb_printf(s, "  rss %llu", (unsigned long long)vm->rss_bytes);
	if (vm->has_net_rx_bytes)
		sb_printf(s, "  rx %llu tx %llu",
			  (unsigned long long)vm->net_rx_bytes,
			  (unsigned long long)vm->net_tx_bytes);
	sb_printf(s, "\n");
	if (vm->reason != NULL && *vm->reason)
		sb_printf(s, "  reason: %s\n", vm->reason);
	if (vm->has_exit_code)
		sb_printf(s, "  exit code %lld\n", (long long)vm->exit_code);
	sb_printf(s, "flight recorder (us after the request)\n ");
	t0 = vm->n_phases ? vm->phases[0]->t_ns : 0;
	for (i = 0; i < vm->n_phases; i++)
		sb_printf(s, " %s %lld", vm->phases[i]->name,
			  (long long)(vm->phases[i]->t_ns - t0) / 1000);
	sb_printf(s, "\n");
}

/* The last `lines` lines of the console log, unprintable bytes as '.'. */
static void inspect_log(struct sbuf *s, const ProtobufCBinaryData *log,
			int lines)
{
	size_t i = log->len, start;
	int n = 0;

	while (i > 0 && n <= lines)
		if (log->data[--i] == '\n' && i + 1 < log->len)
			n++;
	start = n > lines ? i + 1 : 0;
	sb_printf(s, "console (last %d lines)\n", lines);
	for (i = start; i < log->len; i++) {
		char c = (char)log->data[i];

		if (c == '\n' || (c >= 32 && c < 127))
			sb_printf(s, "%c", c);
		else
			sb_printf(s, ".");
	}
	if (log->len > 0 && log->data[log->len - 1] != '\n')
		sb_printf(s, "\n");
}

static int k_inspect(struct lvsh *sh, struct top_model *m,
		     struct top_feed *f, struct top_ui *ui, int key)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__LogReq lr = LIGHTVM__LOG_REQ__INIT;
	const struct top_row *r = selected(m, ui);
	Lightvm__Reply *rep;
	struct sbuf s = { 0 };
	char name[TOP_NAME_MAX];

	if (ui->view == VIEW_TILES) {	/* drill down to the row */
		ui->view = VIEW_TABLE;
		ui->top = 0;
		scroll_fix(m, ui);
		return 0;
	}
	if (r == NULL)
		return 0;
	snprintf(name, sizeof(name), "%s", r->name);
	sb_printf(&s, "inspect %s - Esc, q or Enter closes\n", name);
	sel.selector = name;
	req.op_case = LIGHTVM__REQUEST__OP_INSPECT;
	req.inspect = &sel;
	if (quiet_call(sh, &req, &rep) == LVSH_EXIT_OK) {
		if (rep->n_vms > 0)
			inspect_vm(&s, rep->vms[0]);
		lightvm__reply__free_unpacked(rep, NULL);
	} else {
		sb_printf(&s, "%s: gone?\n", name);
	}
	lr.name = name;
	lr.has_max_bytes = 1;
	lr.max_bytes = 8192;
	req.op_case = LIGHTVM__REQUEST__OP_LOG;
	req.log = &lr;
	if (quiet_call(sh, &req, &rep) == LVSH_EXIT_OK) {
		inspect_log(&s, &rep->log, top_draw_table_rows() - 7);
		lightvm__reply__free_unpacked(rep, NULL);
	}
	free(ui->inspect_text);
	ui->inspect_text = s.b;
	ui->inspect = true;
	return 0;
}

/* ---- actions */

static const struct {
	int key;
	const char *verb, *done;
	Lightvm__Action action;
	bool ask_one, ask_bulk;
} actions[] = {
	{ 'p', "pause", "paused", LIGHTVM__ACTION__PAUSE, false, true },
	{ 'u', "unpause", "unpaused", LIGHTVM__ACTION__UNPAUSE, false, false },
	{ 'd', "destroy", "destroyed", LIGHTVM__ACTION__DESTROY, true, true },
};

static int action_index(int key)
{
	size_t i;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (actions[i].key == key)
			return (int)i;
	return -1;
}

static int act_one(struct lvsh *sh, Lightvm__Action a, const char *sel,
		   uint32_t *affected)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__ActionReq ar = LIGHTVM__ACTION_REQ__INIT;
	Lightvm__Reply *rep;
	int rc;

	ar.action = a;
	ar.selector = (char *)sel;
	req.op_case = LIGHTVM__REQUEST__OP_ACTION;
	req.action = &ar;
	rc = quiet_call(sh, &req, &rep);
	if (rc == LVSH_EXIT_OK) {
		*affected += rep->affected;
		lightvm__reply__free_unpacked(rep, NULL);
	}
	return rc;
}

/* Bulk action on the filtered set: one request naming every VM
 * (ActionReq.names); the agent replies when all of them got there.
 * Returns LVSH_EXIT_OK, LVSH_EXIT_FAIL if the agent refused the request
 * as a whole (an agent without the names field sees an empty selector),
 * or LVSH_EXIT_UNREACH. */
static int act_names(struct lvsh *sh, Lightvm__Action a, char **names,
		     size_t n, uint32_t *affected, uint32_t *failed,
		     char *first, size_t firstlen)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__ActionReq ar = LIGHTVM__ACTION_REQ__INIT;
	Lightvm__Reply *rep;
	int rc;

	ar.action = a;
	ar.selector = "";
	ar.names = names;
	ar.n_names = n;
	req.op_case = LIGHTVM__REQUEST__OP_ACTION;
	req.action = &ar;
	rc = quiet_call(sh, &req, &rep);
	if (rc != LVSH_EXIT_OK)
		return rc;
	*affected += rep->affected;
	*failed += (uint32_t)rep->n_failures;
	if (rep->n_failures > 0)
		snprintf(first, firstlen, "%s: %s", rep->failures[0]->name,
			 rep->failures[0]->message);
	lightvm__reply__free_unpacked(rep, NULL);
	return LVSH_EXIT_OK;
}

static void run_action(struct lvsh *sh, struct top_model *m,
		       struct top_feed *f, struct top_ui *ui, int idx,
		       bool bulk)
{
	const struct top_row *r = selected(m, ui);
	uint32_t affected = 0, failed = 0, i, n;
	char first[128] = "";
	char **names;
	int rc;

	if (!bulk) {
		if (r == NULL)
			return;
		if (act_one(sh, actions[idx].action, r->name, &affected))
			failed++;
	} else if (m->filter_text[0] == '\0') {
		if (act_one(sh, actions[idx].action, "all", &affected))
			failed++;
	} else {
		/* the model does not change until this returns */
		n = m->nshown;
		names = calloc(n ? n : 1, sizeof(*names));
		if (names == NULL) {
			snprintf(ui->status, sizeof(ui->status), "%s: out of "
				 "memory", actions[idx].verb);
			return;
		}
		for (i = 0; i < n; i++)
			names[i] = m->rows[m->shown[i]].name;
		snprintf(ui->status, sizeof(ui->status), "%s %u VMs ...",
			 actions[idx].verb, n);
		top_draw(m, f, ui);
		rc = n > 0 ? act_names(sh, actions[idx].action, names, n,
				       &affected, &failed, first, sizeof(first)) :
			     LVSH_EXIT_OK;
		if (rc == LVSH_EXIT_UNREACH) {
			failed = n;
		} else if (rc != LVSH_EXIT_OK) {
			/* an older agent: one request per VM */
			for (i = 0; i < n && !top_stop; i++)
				if (act_one(sh, actions[idx].action, names[i],
					    &affected))
					failed++;
		}
		free(names);
	}
	if (failed && first[0] != '\0')
		snprintf(ui->status, sizeof(ui->status), "%s %u VMs, %u failed "
			 "(%s)", actions[idx].done, affected, failed, first);
	else if (failed)
		snprintf(ui->status, sizeof(ui->status), "%s %u VMs, %u failed "
			 "(run `lvsh %s` for the errors)", actions[idx].done,
			 affected, failed, actions[idx].verb);
	else
		snprintf(ui->status, sizeof(ui->status), "%s %u VM%s",
			 actions[idx].done, affected, affected == 1 ? "" : "s");
	f->next_poll = 0;	/* show the result now */
	f->list_ok = false;
}

static int k_action(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		    struct top_ui *ui, int key)
{
	int idx = action_index(key);
	const struct top_row *r = selected(m, ui);
	bool bulk = ui->bulk;

	ui->bulk = false;
	if (idx < 0 || (!bulk && r == NULL))
		return 0;
	if (bulk ? actions[idx].ask_bulk : actions[idx].ask_one) {
		ui->confirm = bulk ? -key : key;
		if (bulk)
			snprintf(ui->status, sizeof(ui->status), "%s all %u VMs "
				 "of the filter? (y/N)", actions[idx].verb,
				 m->nshown);
		else
			snprintf(ui->status, sizeof(ui->status), "%s %s? (y/N)",
				 actions[idx].verb, r->name);
		return 0;
	}
	run_action(sh, m, f, ui, idx, bulk);
	return 0;
}

static int k_bulk(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		  struct top_ui *ui, int key)
{
	ui->bulk = true;
	return 0;
}

static int k_console(struct lvsh *sh, struct top_model *m,
		     struct top_feed *f, struct top_ui *ui, int key)
{
	const struct top_row *r = selected(m, ui);
	char name[TOP_NAME_MAX];

	if (r == NULL)
		return 0;
	snprintf(name, sizeof(name), "%s", r->name);
	def_prog_mode();
	endwin();
	lvsh_console_attach(sh, name);
	reset_prog_mode();
	ui->full_redraw = true;
	snprintf(ui->status, sizeof(ui->status), "console of %s closed", name);
	return 0;
}

const struct top_key top_keys[] = {
	{ "q", "quit", "leave the view (also F10, Ctrl-C)",
	  { 'q', KEY_F(10), 0 }, k_quit },
	{ "Up", NULL, "select the VM above (tiles: one row up)",
	  { KEY_UP, 'k', 0 }, k_move },
	{ "Down", NULL, "select the VM below (tiles: one row down)",
	  { KEY_DOWN, 'j', 0 }, k_move },
	{ "Left", NULL, "tiles: the previous VM", { KEY_LEFT, 0 }, k_move },
	{ "Right", NULL, "tiles: the next VM", { KEY_RIGHT, 0 }, k_move },
	{ "PgUp", NULL, "one screen up", { KEY_PPAGE, 0 }, k_move },
	{ "PgDn", NULL, "one screen down", { KEY_NPAGE, 0 }, k_move },
	{ "Home", NULL, "the first VM", { KEY_HOME, 'g', 0 }, k_move },
	{ "End", NULL, "the last VM", { KEY_END, 0 }, k_move },
	{ "r", NULL, "reverse the sort order", { 'r', 0 }, k_reverse },
	{ "/", "filter", "filter: words of name substring or glob, "
	  "state:STATE, image:IMAGE; Enter applies, Esc cancels",
	  { '/', 0 }, k_filter },
	{ "Esc", NULL, "clear the filter, a message or a pending 'a'",
	  { 27, 0 }, k_escape },
	{ "Enter", "inspect", "inspect panel: config, flight recorder, "
	  "console tail (tiles: go to the VM's row)",
	  { '\n', KEY_ENTER, '\r' }, k_inspect },
	{ "t", "tiles", "switch between the table and the tiles",
	  { 't', 0 }, k_tiles },
	{ "v", NULL, "tiles: colour by state or by CPU", { 'v', 0 },
	  k_tilemode },
	{ "p", "pause", "pause the selected VM", { 'p', 0 }, k_action },
	{ "u", "unpause", "unpause the selected VM", { 'u', 0 }, k_action },
	{ "d", "destroy", "destroy the selected VM (asks first)",
	  { 'd', 0 }, k_action },
	{ "c", "console", "attach to the selected VM's console "
	  "(Ctrl-] comes back)", { 'c', 0 }, k_console },
	{ "a", "all", "the next p, u or d acts on every VM of the filter "
	  "(pause and destroy ask first)", { 'a', 0 }, k_bulk },
	{ "+", NULL, "refresh less often", { '+', 0 }, k_interval },
	{ "-", NULL, "refresh more often", { '-', 0 }, k_interval },
	{ "?", "help", "this help (also h)", { '?', 'h', 0 }, k_help },
	{ "Ctrl-L", NULL, "redraw the screen", { 12, 0 }, k_redraw },
	{ NULL, NULL, NULL, { 0 }, NULL },
};

/* ---- input */

static void filter_key(struct top_model *m, struct top_ui *ui, int key)
{
	size_t n = strlen(ui->prompt);
	char err[200];

	if (key == 27) {
		ui->typing = false;
	} else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		ui->typing = false;
		if (top_model_set_filter(m, ui->prompt, err, sizeof(err)) < 0)
			snprintf(ui->status, sizeof(ui->status), "filter: %s",
				 err);
		ui->top = 0;
		sel_fix(m, ui);
		scroll_fix(m, ui);
	} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		if (n > 0)
			ui->prompt[n - 1] = '\0';
	} else if (key >= 32 && key < 127 && n + 1 < sizeof(ui->prompt)) {
		ui->prompt[n] = (char)key;
		ui->prompt[n + 1] = '\0';
	}
}

/* Returns 1 to leave the view. */
static int handle_key(struct lvsh *sh, struct top_model *m,
		      struct top_feed *f, struct top_ui *ui, int key)
{
	const struct top_key *k;
	int i;

	if (key == KEY_RESIZE) {
		ui->full_redraw = true;
		scroll_fix(m, ui);
		return 0;
	}
	if (ui->typing) {
		filter_key(m, ui, key);
		return 0;
	}
	if (ui->confirm != 0) {
		int c = ui->confirm;

		ui->confirm = 0;
		ui->status[0] = '\0';
		if (key == 'y' || key == 'Y')
			run_action(sh, m, f, ui, action_index(c < 0 ? -c : c),
				   c < 0);
		return 0;
	}
	if (ui->help || ui->inspect) {
		if (ui->help || key == 27 || key == 'q' || key == '\n' ||
		    key == '\r' || key == KEY_ENTER) {
			ui->help = ui->inspect = false;
			return 0;
		}
	}
	if (ui->status[0] != '\0' && key != 27)
		ui->status[0] = '\0';
	for (k = top_keys; k->label != NULL; k++)
		for (i = 0; i < 3 && k->codes[i] != 0; i++)
			if (k->codes[i] == key)
				return k->fn(sh, m, f, ui, key);
	return k_sort(sh, m, f, ui, key);
}

/* ---- the loop */

static int trace_fd = -1;	/* LVSH_TOP_TRACE: key latency log */

static void trace_key(int key, int64_t t0)
{
	char line[64];
	int n;

	if (trace_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "key %d %lld us\n", key,
		     (long long)(top_now_ns() - t0) / 1000);
	if (write(trace_fd, line, (size_t)n) < 0)
		return;
}

static void trace_end(const struct top_feed *f)
{
	struct rusage ru;
	char line[160];
	int n;

	if (trace_fd < 0)
		return;
	getrusage(RUSAGE_SELF, &ru);
	n = snprintf(line, sizeof(line), "cpu %ld.%06ld user %ld.%06ld sys "
		     "rounds %llu lines %lu\n", (long)ru.ru_utime.tv_sec,
		     (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
		     (long)ru.ru_stime.tv_usec,
		     (unsigned long long)f->rounds, top_draw_lines_drawn());
	if (write(trace_fd, line, (size_t)n) < 0)
		return;
}

static int top_loop(struct lvsh *sh, struct top_model *m, struct top_feed *f,
		    struct top_ui *ui)
{
	struct pollfd p[2];
	bool dirty = true;
	int key, n, rc = LVSH_EXIT_OK;
	int64_t t_key = 0, reconnect = 0;

	while (!top_stop) {
		if (dirty) {
			sel_fix(m, ui);
			scroll_fix(m, ui);
			top_draw(m, f, ui);
			if (t_key)
				trace_key(0, t_key);
			dirty = false;
			t_key = 0;
		}
		p[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = f->fd, .events = POLLIN };
		n = poll(p, f->fd >= 0 ? 2 : 1,
			 f->fd >= 0 ? top_feed_timeout(f) : 500);
		if (n < 0 && errno != EINTR)
			break;
		/* keys first: a key press is on screen before the next frame
		 * of the agent is even read */
		while ((key = getch()) != ERR) {
			if (!t_key)
				t_key = top_now_ns();
			if (handle_key(sh, m, f, ui, key))
				return rc;
			dirty = true;
		}
		if (t_key)
			continue;	/* draw the key's effect before anything */
		if (f->fd >= 0 && n > 0 && (p[1].revents & (POLLIN | POLLHUP))) {
			int r = top_feed_read(f, m);

			if (r < 0) {
				top_feed_close(f);
				reconnect = top_now_ns() + 2000000000ll;
			}
			dirty |= r != 0;
		}
		if (f->fd < 0 && top_now_ns() >= reconnect) {
			uint32_t ms = f->interval_ms;

			lvsh_err_quiet = 1;
			if (top_feed_open(f, sh, ms) != LVSH_EXIT_OK) {
				top_feed_close(f);
				snprintf(f->err, sizeof(f->err), "no agent at %s; "
					 "retrying", sh->sock_path);
				reconnect = top_now_ns() + 2000000000ll;
			}
			lvsh_err_quiet = 0;
			dirty = true;
		}
		if (f->fd >= 0 && top_feed_tick(f, m) < 0)
			dirty = true;
	}
	return rc;
}

/* ---- the command */

static bool terminal_usable(void)
{
	const char *term = getenv("TERM");

	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) &&
	       term != NULL && *term != '\0' && strcmp(term, "dumb") != 0;
}

static int top_screen(struct lvsh *sh, struct top_model *m,
		      struct top_feed *f)
{
	const char *nc = getenv("NO_COLOR");
	struct sigaction sa, old[4];
	static const int sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct top_ui ui;
	SCREEN *scr;
	int i, rc;

	scr = newterm(NULL, stdout, stdin);
	if (scr == NULL)
		return -1;
	set_term(scr);
	curses_on = true;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	memset(&ui, 0, sizeof(ui));
	ui.color = nc == NULL || *nc == '\0';
	ui.full_redraw = true;
	top_draw_init(&ui);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	atexit(curses_off);
	rc = top_loop(sh, m, f, &ui);
	curses_off();
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	delscreen(scr);
	top_draw_fini();
	free(ui.inspect_text);
	return rc;
}

enum { TOP_INTERVAL, TOP_COUNT, TOP_BATCH, TOP_FILTER, TOP_SORT,
       TOP_REVERSE };

static const struct lvsh_opt top_opts[] = {
	[TOP_INTERVAL] = { "interval", LVSH_OPT_KV, "SEC",
			   "refresh period, 0.1 to 60 (default 1)" },
	[TOP_COUNT]    = { "count", LVSH_OPT_KV, "N",
			   "plain text or JSON: stop after N frames (default: "
			   "until interrupted)" },
	[TOP_BATCH]    = { "--batch", LVSH_OPT_FLAG, NULL,
			   "plain text frames even on a terminal" },
	[TOP_FILTER]   = { "filter", LVSH_OPT_KV, "TEXT",
			   "start with this filter, as typed after /" },
	[TOP_SORT]     = { "sort", LVSH_OPT_KV, "COLUMN",
			   "start sorted by this column (name, id, state, "
			   "image, cpu, mem, uptime, console, net-rx, net-tx, "
			   "spawn)" },
	[TOP_REVERSE]  = { "--reverse", LVSH_OPT_FLAG, NULL,
			   "reverse the sort order" },
	{ NULL, 0, NULL, NULL },
};

static int cmd_top(struct lvsh *sh, const struct lvsh_cmd *cmd,
		   const struct lvsh_args *a)
{
	uint32_t ms = 1000, count = 0;
	struct top_model m;
	struct top_feed f;
	const char *trace = getenv("LVSH_TOP_TRACE");
	int rc;

	if (a->opt[TOP_INTERVAL] != NULL &&
	    (lvsh_parse_secs(a->opt[TOP_INTERVAL], TOP_MAX_MS, &ms) < 0 ||
	     ms < TOP_MIN_MS)) {
		lvsh_err(cmd->name, "interval=%s: must be 0.1 to 60 seconds",
			 a->opt[TOP_INTERVAL]);
		return LVSH_EXIT_USAGE;
	}
	if (a->opt[TOP_COUNT] != NULL &&
	    lvsh_parse_u32(a->opt[TOP_COUNT], 1, 1000000, &count) < 0) {
		lvsh_err(cmd->name, "count=%s: must be 1 to 1000000",
			 a->opt[TOP_COUNT]);
		return LVSH_EXIT_USAGE;
	}
	top_model_init(&m);
	if (a->opt[TOP_SORT] != NULL || a->opt[TOP_REVERSE] != NULL) {
		int c = a->opt[TOP_SORT] != NULL ?
			top_column_by_name(a->opt[TOP_SORT]) : m.sort;
		bool desc;

		if (c < 0) {
			lvsh_err(cmd->name, "sort=%s: not a column (name, id, "
				 "state, image, cpu, mem, uptime, console, "
				 "net-rx, net-tx, spawn)", a->opt[TOP_SORT]);
			top_model_free(&m);
			return LVSH_EXIT_USAGE;
		}
		/* like the sort keys: numbers largest first */
		desc = a->opt[TOP_SORT] != NULL && c != TC_NAME && c != TC_ID &&
		       c != TC_STATE && c != TC_IMAGE;
		top_model_set_sort(&m, c, desc != (a->opt[TOP_REVERSE] != NULL));
	}
	if (a->opt[TOP_FILTER] != NULL) {
		char err[160];

		if (top_model_set_filter(&m, a->opt[TOP_FILTER], err,
					 sizeof(err)) < 0) {
			lvsh_err(cmd->name, "filter=%s: %s", a->opt[TOP_FILTER],
				 err);
			top_model_free(&m);
			return LVSH_EXIT_USAGE;
		}
	}
	rc = top_feed_open(&f, sh, ms);
	if (rc != LVSH_EXIT_OK) {
		top_feed_close(&f);
		return rc;
	}
	if (trace != NULL && *trace != '\0')
		trace_fd = open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				0644);
	top_stop = 0;
	rc = -1;
	if (a->opt[TOP_BATCH] == NULL && count == 0 && !sh->json &&
	    terminal_usable())
		rc = top_screen(sh, &m, &f);
	if (rc < 0) {
		struct sigaction sa, old;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old);
		rc = top_plain(sh, &m, &f, count, &top_stop);
		sigaction(SIGINT, &old, NULL);
	}
	trace_end(&f);
	if (trace_fd >= 0)
		close(trace_fd);
	trace_fd = -1;
	top_feed_close(&f);
	top_model_free(&m);
	return rc;
}

const struct lvsh_cmd lvsh_cmd_top = {
	.name = "top", .usage = "[interval=SEC] [count=N] [filter=TEXT] "
		 "[sort=COLUMN] [--reverse] [--batch]",
	.help = "live view of the host and its VMs (keys: ? in the view)",
	.fn = cmd_top, .min_args = 0, .max_args = 0, .opts = top_opts,
};
