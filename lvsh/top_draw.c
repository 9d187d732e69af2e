/*
 * top_draw.c - the live view on screen (see top.h).  Every screen line is
 * built as an array of chtype (characters with their attributes) and
 * compared with what was drawn there last time: only lines that differ
 * reach curses, and only the visible rows are formatted at all, so a
 * refresh of 10,000 VMs costs one pass over the display list plus a
 * screenful of formatting.  The same formatting feeds the plain-text
 * (batch) output used for TERM=dumb and pipes.
 */
#include <ctype.h>
#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fmt.h"
#include "json.h"
#include "top.h"

const struct top_column top_columns[TC_NR] = {
	[TC_NAME]    = { "NAME",    0, 0, 'N', "VM name" },
	[TC_ID]      = { "ID",      6, 1, 'I', "VM id" },
	[TC_STATE]   = { "STATE",   8, 0, 'S', "state" },
	[TC_IMAGE]   = { "IMAGE",  10, 0, 'G', "image" },
	[TC_CPU]     = { "CPU%",    6, 1, 'C', "vCPU use, % of one core" },
	[TC_MEM]     = { "MEM",     7, 1, 'M', "host memory (guest memory "
					       "until the agent measures it)" },
	[TC_UPTIME]  = { "UPTIME",  8, 1, 'T', "time since the vCPU started" },
	[TC_CONSOLE] = { "CONSOLE", 8, 1, 'O', "console bytes written" },
	[TC_RX]      = { "NET-RX",  7, 1, 'R', "network bytes received" },
	[TC_TX]      = { "NET-TX",  7, 1, 'X', "network bytes sent" },
	[TC_SPAWN]   = { "SPAWN",   8, 1, 'L', "spawn latency, request to "
					       "ready" },
};

/* State names as shown (the table's column is 8 wide). */
static const char *const state_short[TOP_ST_NR + 1] = {
	"prepared", "booting", "running", "paused", "stopping", "shutoff",
	"crashed", "saving", "saved", "restorng", "migratng", "?",
};
/* One letter per state for the tiles. */
static const char state_letter[TOP_ST_NR + 1] = {
	'.', 'b', 'R', 'P', 's', 'o', 'X', 'v', 'S', 'r', 'm', '?',
};

#define HEADER_LINES 4		/* host, host stats, filter+summary, titles */
#define FOOTER_LINES 2		/* status, keys */
#define NAME_MIN     12
#define NAME_WIDE    32		/* wider screens: room on the right */

/* ---- colour */

enum {
	PAIR_STATE = 1,		/* + state: foreground colour */
	PAIR_TILE = 20,		/* + state: background colour */
	PAIR_HEAT = 40,		/* + 0..4: CPU heat background */
	PAIR_TITLE = 50,
	PAIR_BAR = 51,
};

static bool use_color;

static const short state_color[TOP_ST_NR + 1] = {
	COLOR_CYAN, COLOR_CYAN, COLOR_GREEN, COLOR_YELLOW, COLOR_MAGENTA,
	COLOR_WHITE, COLOR_RED, COLOR_BLUE, COLOR_BLUE, COLOR_CYAN,
	COLOR_BLUE, COLOR_WHITE,
};

static const short heat_color[5] = {
	COLOR_BLUE, COLOR_CYAN, COLOR_GREEN, COLOR_YELLOW, COLOR_RED,
};

void top_draw_init(struct top_ui *ui)
{
	int i;

	use_color = ui->color && has_colors();
	if (!use_color)
		return;
	start_color();
	use_default_colors();
	for (i = 0; i <= TOP_ST_NR; i++) {
		init_pair((short)(PAIR_STATE + i), state_color[i], -1);
		init_pair((short)(PAIR_TILE + i), COLOR_BLACK, state_color[i]);
	}
	for (i = 0; i < 5; i++)
		init_pair((short)(PAIR_HEAT + i), COLOR_BLACK, heat_color[i]);
	init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_BAR, COLOR_BLACK, COLOR_GREEN);
}

static chtype pair(int n)
{
	return use_color ? (chtype)COLOR_PAIR(n) : 0;
}

/* ---- the line cache: draw a line only if it differs */

static chtype **cache;
static int cache_lines, cache_cols;
static chtype *linebuf;

static void cache_free(void)
{
	int i;

	for (i = 0; i < cache_lines; i++)
		free(cache[i]);
	free(cache);
	free(linebuf);
	cache = NULL;
	linebuf = NULL;
	cache_lines = cache_cols = 0;
}

void top_draw_fini(void)
{
	cache_free();
}

static int cache_fit(int lines, int cols)
{
	int i;

	if (lines == cache_lines && cols == cache_cols)
		return 0;
	cache_free();
	cache = calloc((size_t)lines, sizeof(*cache));
	linebuf = calloc((size_t)cols + 1, sizeof(*linebuf));
	if (cache == NULL || linebuf == NULL)
		return -1;
	for (i = 0; i < lines; i++)
		if ((cache[i] = calloc((size_t)cols + 1, sizeof(**cache))) ==
		    NULL)
			return -1;
	cache_lines = lines;
	cache_cols = cols;
	return 0;
}

/* Fill linebuf from text with attribute attr, padded to the width. */
static void line_set(const char *text, chtype attr)
{
	int i = 0;

	for (; text != NULL && text[i] != '\0' && i < cache_cols; i++)
		linebuf[i] = (chtype)(unsigned char)text[i] | attr;
	for (; i < cache_cols; i++)
		linebuf[i] = ' ' | attr;
}

/* Re-attribute columns [from, from+n) of linebuf. */
static void line_attr(int from, int n, chtype attr)
{
	int i;

	for (i = from; i < from + n && i < cache_cols; i++)
		linebuf[i] = (linebuf[i] & A_CHARTEXT) | attr;
}

static unsigned long lines_drawn;	/* for the measurements */

static void line_put(int y)
{
	if (y < 0 || y >= cache_lines)
		return;
	if (memcmp(cache[y], linebuf, (size_t)cache_cols * sizeof(chtype)) == 0)
		return;
	memcpy(cache[y], linebuf, (size_t)cache_cols * sizeof(chtype));
	mvaddchnstr(y, 0, linebuf, cache_cols);
	lines_drawn++;
}

static void text_put(int y, const char *text, chtype attr)
{
	line_set(text, attr);
	line_put(y);
}

/* ---- formatting */

static void fmt_bytes(char *b, size_t n, bool has, uint64_t v)
{
	if (!has)
		snprintf(b, n, "-");
	else if (v < 1024)
		snprintf(b, n, "%lluB", (unsigned long long)v);
	else
		lvsh_fmt_size(b, n, v);
}

static void fmt_ms(char *b, size_t n, bool has, uint64_t ns)
{
	double ms = (double)ns / 1e6;

	if (!has)
		snprintf(b, n, "-");
	else if (ms < 10)
		snprintf(b, n, "%.2fms", ms);
	else if (ms < 1000)
		snprintf(b, n, "%.1fms", ms);
	else
		snprintf(b, n, "%.2fs", ms / 1000);
}

static int name_width(int cols)
{
	int i, w = cols;

	for (i = 1; i < TC_NR; i++)
		w -= top_columns[i].width + 1;
	return w < NAME_MIN ? NAME_MIN : w > NAME_WIDE ? NAME_WIDE : w;
}

static int col_x(int col, int name_w)
{
	int i, x = 0;

	for (i = 0; i < col; i++)
		x += (i == 0 ? name_w : top_columns[i].width) + 1;
	return x;
}

/* A running VM that used 90% or more of a core over the last sample is
 * shown busy: it computes (a guest has no watchdog unless its spawn asked
 * for one), it is not stuck.  Filters and sorting still see "running". */
#define TOP_BUSY_PCT 90.0

static const char *row_state(const struct top_row *r)
{
	if (r->state == 2 && r->has_cpu && r->cpu >= TOP_BUSY_PCT)
		return "busy";
	return state_short[r->state];
}

void top_format_row(const struct top_row *r, char *buf, size_t n,
		    int name_w)
{
	char cpu[16], mem[16], up[16], con[16], rx[16], tx[16], sp[16];

	if (r->has_cpu)
		snprintf(cpu, sizeof(cpu), "%.1f", r->cpu);
	else
		snprintf(cpu, sizeof(cpu), "-");
	fmt_bytes(mem, sizeof(mem), true, r->has_rss ? r->rss : r->mem_bytes);
	if (r->has_up)
		lvsh_fmt_uptime(up, sizeof(up), r->uptime_ns);
	else
		snprintf(up, sizeof(up), "-");
	fmt_bytes(con, sizeof(con), r->has_con, r->console);
	fmt_bytes(rx, sizeof(rx), r->has_net, r->rx);
	fmt_bytes(tx, sizeof(tx), r->has_net, r->tx);
	fmt_ms(sp, sizeof(sp), r->has_spawn, r->spawn_ns);
	snprintf(buf, n, "%-*.*s %6u %-8s %-10.10s %6s %7s %8s %8s %7s %7s %8s",
		 name_w, name_w, r->name, r->id, row_state(r),
		 r->image, cpu, mem, up, con, rx, tx, sp);
}

void top_format_header(char *buf, size_t n, int name_w, int sort,
		       bool reverse)
{
	char t[TC_NR][24];
	int i;

	for (i = 0; i < TC_NR; i++)
		snprintf(t[i], sizeof(t[i]), "%s%s", top_columns[i].title,
			 i == sort ? (reverse ? "v" : "^") : "");
	snprintf(buf, n, "%-*s %6s %-8s %-10s %6s %7s %8s %8s %7s %7s %8s",
		 name_w, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8],
		 t[9], t[10]);
}

/* " 3 running 5 shutoff": the nonzero counts, in state order.  Both
 * summary lines use it, so they name the same states the same way. */
static void fmt_states(char *b, size_t n, const uint32_t *by_state)
{
	char *o = b;
	size_t left = n;
	int i, w;

	b[0] = '\0';
	for (i = 0; i < TOP_ST_NR; i++) {
		if (by_state[i] == 0)
			continue;
		w = snprintf(o, left, " %u %s", by_state[i],
			     top_state_names[i]);
		if (w < 0 || (size_t)w >= left)
			break;
		o += w;
		left -= (size_t)w;
	}
}

static void fmt_host(const struct top_model *m, const struct top_feed *f,
		     char *l1, char *l2, size_t n)
{
	const struct top_host *h = &m->host;
	char states[160] = "", mt[16], ma[16], ar[16];

	if (h->valid)
		fmt_states(states, sizeof(states), h->by_state);
	snprintf(l1, n, "lvsh top - %s (%s) - %u VMs:%s - every %.1fs (%s)%s%s",
		 h->valid ? h->hostname : "?", h->valid ? h->driver : "?",
		 h->valid ? h->vms : m->n, states, f->interval_ms / 1000.0,
		 f->mode == FEED_SUB ? "subscribed" : "polling",
		 f->err[0] ? " - " : "", f->err);
	lvsh_fmt_size(mt, sizeof(mt), h->mem_total);
	lvsh_fmt_size(ma, sizeof(ma), h->mem_total - h->mem_avail);
	lvsh_fmt_size(ar, sizeof(ar), h->agent_rss);
	{
		char cpu[48] = "host CPU -", mem[48] = "mem -",
		     agent[64] = "agent CPU -";

		if (h->has_cpu)
			snprintf(cpu, sizeof(cpu), "host CPU %.1f%%%s", h->cpu,
				 h->ncpus ? "" : "");
		if (h->has_mem)
			snprintf(mem, sizeof(mem), "mem %s/%s", ma, mt);
		if (h->has_agent)
			snprintf(agent, sizeof(agent), "agent CPU %.1f%% RSS %s",
				 h->agent_cpu, ar);
		snprintf(l2, n, "pools: %s - %s - %s - %s",
			 h->pools[0] ? h->pools : "-", cpu, mem, agent);
	}
}

static void fmt_summary(const struct top_model *m, const struct top_ui *ui,
			char *b, size_t n)
{
	const struct top_summary *s = &m->sum;
	char mem[16], con[16], rx[16], tx[16], cpu[16], states[160];

	lvsh_fmt_size(mem, sizeof(mem), s->mem);
	fmt_bytes(con, sizeof(con), true, s->console);
	fmt_bytes(rx, sizeof(rx), s->has_net, s->rx);
	fmt_bytes(tx, sizeof(tx), s->has_net, s->tx);
	if (s->has_cpu)
		snprintf(cpu, sizeof(cpu), "%.1f%%", s->cpu);
	else
		snprintf(cpu, sizeof(cpu), "-");
	fmt_states(states, sizeof(states), s->by_state);
	snprintf(b, n, "%s%s%s%u of %u VMs:%s - "
		 "CPU %s MEM %s CONSOLE %s RX %s TX %s",
		 m->filter_text[0] ? "filter '" : "",
		 m->filter_text, m->filter_text[0] ? "' - " : "", s->n, m->n,
		 s->n ? states : " none", cpu, mem, con, rx, tx);
	(void)ui;
}

/* ---- screen parts */

int top_draw_table_rows(void)
{
	int n = LINES - HEADER_LINES - FOOTER_LINES;

	return n > 1 ? n : 1;
}

void top_draw_tile_grid(int *cols, int *rows)
{
	*cols = COLS > 0 ? COLS : 1;
	*rows = top_draw_table_rows();
}

static void draw_header(struct top_model *m, struct top_feed *f,
			struct top_ui *ui)
{
	char l1[512], l2[512];

	fmt_host(m, f, l1, l2, sizeof(l1));
	text_put(0, l1, A_BOLD);
	text_put(1, l2, 0);
	fmt_summary(m, ui, l1, sizeof(l1));
	text_put(2, l1, 0);
}

static void draw_table(struct top_model *m, struct top_ui *ui)
{
	int rows = top_draw_table_rows(), y, nw = name_width(COLS);
	int sx = col_x(TC_STATE, nw);
	char buf[512];
	uint32_t i;

	top_format_header(buf, sizeof(buf), nw, m->sort, m->reverse);
	text_put(3, buf, A_REVERSE | A_BOLD);
	for (y = 0; y < rows; y++) {
		i = ui->top + (uint32_t)y;
		if (i >= m->nshown) {
			text_put(HEADER_LINES + y, "", 0);
			continue;
		}
		{
			const struct top_row *r = &m->rows[m->shown[i]];

			top_format_row(r, buf, sizeof(buf), nw);
			line_set(buf, i == ui->sel ? A_REVERSE : 0);
			if (i != ui->sel)
				line_attr(sx, 8, pair(PAIR_STATE + r->state) |
					  (r->state == 6 ? A_BOLD : 0));
			line_put(HEADER_LINES + y);
		}
	}
}

static chtype tile_cell(const struct top_row *r, enum top_tilemode mode)
{
	int heat;

	if (mode == TILE_STATE)
		return (chtype)state_letter[r->state] |
		       pair(PAIR_TILE + r->state);
	if (!r->has_cpu)
		return '-' | pair(PAIR_HEAT);
	heat = r->cpu >= 100 ? 4 : (int)(r->cpu / 20);
	return (chtype)(r->cpu >= 100 ? '#' : '0' + (int)(r->cpu / 10)) |
	       pair(PAIR_HEAT + heat);
}

static void draw_tiles(struct top_model *m, struct top_ui *ui)
{
	int cols, rows, y, x;
	uint32_t i;
	char buf[256];

	top_draw_tile_grid(&cols, &rows);
	snprintf(buf, sizeof(buf), "tiles by %s: %s - one cell per VM, %d per "
		 "screen; v: by %s, Enter: that VM's row",
		 ui->tilemode == TILE_STATE ? "state" : "CPU",
		 ui->tilemode == TILE_STATE ?
		 ". prepared b booting R running P paused s stopping "
		 "o shutoff X crashed" : "0-9 CPU/10%, # 100%, - unknown",
		 cols * rows, ui->tilemode == TILE_STATE ? "CPU" : "state");
	text_put(3, buf, A_REVERSE | A_BOLD);
	for (y = 0; y < rows; y++) {
		for (x = 0; x < cols; x++) {
			i = (ui->top + (uint32_t)y) * (uint32_t)cols +
			    (uint32_t)x;
			if (i >= m->nshown) {
				linebuf[x] = ' ';
				continue;
			}
			linebuf[x] = tile_cell(&m->rows[m->shown[i]],
					       ui->tilemode);
			if (i == ui->sel)
				linebuf[x] = (linebuf[x] & A_CHARTEXT) |
					     A_REVERSE | A_BOLD;
		}
		line_put(HEADER_LINES + y);
	}
}

/* A panel (help, inspect) over the table area: its text, line by line. */
static void draw_panel(const char *text)
{
	int rows = top_draw_table_rows(), y = 0;
	const char *p = text, *nl;
	char buf[512];
	size_t len;

	text_put(3, "", A_REVERSE);
	while (y < rows && p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, p, len);
		buf[len] = '\0';
		text_put(HEADER_LINES + y++, buf, 0);
		p = nl ? nl + 1 : NULL;
	}
	while (y < rows)
		text_put(HEADER_LINES + y++, "", 0);
}

/* Append " KEY text" to the footer being built. */
static void foot_add(char **o, size_t *left, const char *key,
		     const char *text)
{
	int n = snprintf(*o, *left, " %s %s ", key, text);

	if (n < 0 || (size_t)n >= *left)
		return;
	*o += n;
	*left -= (size_t)n;
}

static void draw_footer(struct top_model *m, struct top_ui *ui)
{
	const struct top_key *k;
	char buf[512], key[4], title[16], *o = buf;
	size_t left = sizeof(buf), i;
	int c;

	/* line 1: what is going on, or the action keys */
	if (ui->typing) {
		snprintf(buf, sizeof(buf), "filter: %s_", ui->prompt);
		text_put(LINES - 2, buf, A_BOLD);
	} else if (ui->status[0] != '\0') {
		text_put(LINES - 2, ui->status, A_BOLD);
	} else if (ui->bulk) {
		snprintf(buf, sizeof(buf), "all %u VMs of the filter: p pause  "
			 "u unpause  d destroy  Esc cancel", m->nshown);
		text_put(LINES - 2, buf, A_BOLD);
	} else if (ui->view == VIEW_TILES && m->nshown > 0 &&
		   ui->sel < m->nshown) {
		const struct top_row *r = &m->rows[m->shown[ui->sel]];

		top_format_row(r, buf, sizeof(buf), (int)strlen(r->name));
		text_put(LINES - 2, buf, A_BOLD);
	} else {
		buf[0] = '\0';
		for (k = top_keys; k->label != NULL; k++)
			if (k->footer != NULL)
				foot_add(&o, &left, k->label, k->footer);
		text_put(LINES - 2, buf, 0);
	}
	/* line 2: the sort keys */
	o = buf;
	left = sizeof(buf);
	c = snprintf(o, left, "Sort:");
	o += c;
	left -= (size_t)c;
	for (c = 0; c < TC_NR; c++) {
		snprintf(key, sizeof(key), "%c", top_columns[c].key);
		for (i = 0; top_columns[c].title[i] && i + 1 < sizeof(title); i++)
			title[i] = (char)tolower((unsigned char)
						 top_columns[c].title[i]);
		title[i] = '\0';
		foot_add(&o, &left, key, title);
	}
	foot_add(&o, &left, "r", m->reverse ? "reverse (on)" : "reverse");
	text_put(LINES - 1, buf, A_REVERSE);
}

static char *help_text(void)
{
	const struct top_key *k;
	size_t cap = 8192, off = 0;
	char *t = malloc(cap);
	int i;

	if (t == NULL)
		return NULL;
	off += (size_t)snprintf(t + off, cap - off,
				"Keys (any key closes this help)\n");
	for (i = 0; i < TC_NR && off < cap; i++)
		off += (size_t)snprintf(t + off, cap - off,
					"  %-8c sort by %s (%s)\n",
					top_columns[i].key, top_columns[i].title,
					top_columns[i].help);
	for (k = top_keys; k->label != NULL && off < cap; k++)
		off += (size_t)snprintf(t + off, cap - off, "  %-8s %s\n",
					k->label, k->help);
	return t;
}

void top_draw(struct top_model *m, struct top_feed *f, struct top_ui *ui)
{
	static char *help;

	if (cache_fit(LINES, COLS) < 0)
		return;
	if (ui->full_redraw) {
		int y;

		for (y = 0; y < cache_lines; y++)
			memset(cache[y], 0xff, (size_t)cache_cols * sizeof(chtype));
		clearok(curscr, TRUE);
		ui->full_redraw = false;
	}
	draw_header(m, f, ui);
	if (ui->help) {
		if (help == NULL)
			help = help_text();
		draw_panel(help ? help : "");
	} else if (ui->inspect) {
		draw_panel(ui->inspect_text ? ui->inspect_text : "");
	} else if (ui->view == VIEW_TILES) {
		draw_tiles(m, ui);
	} else {
		draw_table(m, ui);
	}
	draw_footer(m, ui);
	if (ui->typing)
		move(LINES - 2, 8 + (int)strlen(ui->prompt));
	else
		move(LINES - 1, COLS - 1);
	wnoutrefresh(stdscr);
	doupdate();
}

/* ---- plain text */

/* One line, cut to cols characters (0: as is). */
static void print_cut(FILE *out, const char *line, uint32_t cols)
{
	if (cols > 0 && strlen(line) > cols)
		fprintf(out, "%.*s\n", (int)cols, line);
	else
		fprintf(out, "%s\n", line);
}

void top_print(FILE *out, struct top_model *m, struct top_feed *f,
	       uint32_t max_rows, uint32_t cols)
{
	char l1[512], l2[512];
	uint32_t i;
	int nw = cols > 0 ? name_width((int)cols) : 20;
	struct top_ui ui;

	if (cols > 0 && nw > 20)
		nw = 20;
	memset(&ui, 0, sizeof(ui));
	fmt_host(m, f, l1, l2, sizeof(l1));
	print_cut(out, l1, cols);
	print_cut(out, l2, cols);
	fmt_summary(m, &ui, l1, sizeof(l1));
	print_cut(out, l1, cols);
	top_format_header(l1, sizeof(l1), nw, m->sort, m->reverse);
	print_cut(out, l1, cols);
	for (i = 0; i < m->nshown && (max_rows == 0 || i < max_rows); i++) {
		top_format_row(&m->rows[m->shown[i]], l1, sizeof(l1), nw);
		print_cut(out, l1, cols);
	}
	if (i < m->nshown)
		fprintf(out, "... %u more\n", m->nshown - i);
	fputc('\n', out);
	fflush(out);
}

/* ---- JSON frames */

int top_column_by_name(const char *name)
{
	char t[16];
	int c;
	size_t k;

	if (strcasecmp(name, "rx") == 0)
		return TC_RX;
	if (strcasecmp(name, "tx") == 0)
		return TC_TX;
	for (c = 0; c < TC_NR; c++) {
		for (k = 0; top_columns[c].title[k] != '\0' &&
			    top_columns[c].title[k] != '%' && k + 1 < sizeof(t); k++)
			t[k] = top_columns[c].title[k];
		t[k] = '\0';
		if (strcasecmp(name, t) == 0)
			return c;
	}
	return -1;
}

static void json_by_state(struct json *j, const uint32_t *by_state)
{
	int i;

	json_key(j, "by_state");
	json_obj(j);
	for (i = 0; i < TOP_ST_NR; i++)
		json_ku64(j, top_state_names[i], by_state[i]);
	json_obj_end(j);
}

static void json_row(struct json *j, const struct top_row *r)
{
	json_obj(j);
	json_kstr(j, "name", r->name);
	json_ku64(j, "id", r->id);
	json_kstr(j, "state", r->state < TOP_ST_NR ?
		  top_state_names[r->state] : "unknown");
	json_kstr(j, "image", r->image);
	json_ku64(j, "mem_bytes", r->mem_bytes);
	json_ku64(j, "vcpus", r->vcpus);
	if (r->pid >= 0)
		json_ki64(j, "pid", r->pid);
	if (r->has_up)
		json_ku64(j, "uptime_ns", r->uptime_ns);
	if (r->has_con)
		json_ku64(j, "console_bytes", r->console);
	if (r->has_spawn)
		json_ku64(j, "spawn_ns", r->spawn_ns);
	if (r->has_cpu)
		json_kdouble(j, "cpu_pct", r->cpu);
	if (r->has_rss)
		json_ku64(j, "rss_bytes", r->rss);
	if (r->has_net) {
		json_ku64(j, "net_rx_bytes", r->rx);
		json_ku64(j, "net_tx_bytes", r->tx);
	}
	json_obj_end(j);
}

void top_print_json(FILE *out, struct top_model *m)
{
	const struct top_host *h = &m->host;
	const struct top_summary *s = &m->sum;
	char col[16];
	struct json j;
	uint32_t i;
	size_t k;

	json_begin(&j, out);
	json_obj(&j);
	json_key(&j, "host");
	json_obj(&j);
	if (h->valid) {
		json_kstr(&j, "hostname", h->hostname);
		json_kstr(&j, "driver", h->driver);
		json_ku64(&j, "vms", h->vms);
		json_by_state(&j, h->by_state);
		if (h->ncpus)
			json_ku64(&j, "ncpus", h->ncpus);
		if (h->has_cpu)
			json_kdouble(&j, "host_cpu_pct", h->cpu);
		if (h->has_mem) {
			json_ku64(&j, "mem_total", h->mem_total);
			json_ku64(&j, "mem_available", h->mem_avail);
		}
		if (h->has_agent) {
			json_kdouble(&j, "agent_cpu_pct", h->agent_cpu);
			json_ku64(&j, "agent_rss", h->agent_rss);
		}
		json_key(&j, "pools");
		json_arr(&j);
		for (i = 0; i < h->npools; i++) {
			json_obj(&j);
			json_kstr(&j, "flavor", h->pool[i].flavor);
			json_ku64(&j, "target", h->pool[i].target);
			json_ku64(&j, "ready", h->pool[i].ready);
			json_obj_end(&j);
		}
		json_arr_end(&j);
	}
	json_obj_end(&j);
	json_key(&j, "vms");
	json_arr(&j);
	for (i = 0; i < m->nshown; i++)
		json_row(&j, &m->rows[m->shown[i]]);
	json_arr_end(&j);
	json_key(&j, "summary");
	json_obj(&j);
	json_ku64(&j, "vms", s->n);
	json_ku64(&j, "total", m->n);
	json_by_state(&j, s->by_state);
	if (s->has_cpu)
		json_kdouble(&j, "cpu_pct", s->cpu);
	json_ku64(&j, "mem_bytes", s->mem);
	json_ku64(&j, "console_bytes", s->console);
	if (s->has_net) {
		json_ku64(&j, "net_rx_bytes", s->rx);
		json_ku64(&j, "net_tx_bytes", s->tx);
	}
	json_kstr(&j, "filter", m->filter_text);
	for (k = 0; top_columns[m->sort].title[k] != '\0' &&
		    top_columns[m->sort].title[k] != '%' && k + 1 < sizeof(col); k++)
		col[k] = (char)tolower((unsigned char)top_columns[m->sort].title[k]);
	col[k] = '\0';
	json_kstr(&j, "sort", col);
	json_kbool(&j, "reverse", m->reverse);
	json_obj_end(&j);
	json_obj_end(&j);
	json_end(&j);
}

unsigned long top_draw_lines_drawn(void)
{
	return lines_drawn;
}
