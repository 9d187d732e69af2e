/*
 * top.h - the live view (`top`, `lvsh -t`): what its files share.
 *
 *   top_model.c  the rows: a vector plus an id -> row hash, refreshed by
 *                mark and sweep; the sort order (insertion sort, because
 *                order barely changes between refreshes); the filter and
 *                the summary of the filtered set.  No I/O, no curses.
 *   top_feed.c   where the rows come from: a connection of its own to the
 *                agent; a stats subscription when the agent has one, else
 *                `list` + `host` (+ `pool`) polled at the refresh interval.
 *   top_draw.c   curses output: header, table, footer, tiles, panels; only
 *                the visible rows are formatted and only changed lines are
 *                handed to curses.  Also the plain-text frame format.
 *   top_plain.c  plain-text frames: batch output on a pipe, and a terminal
 *                curses cannot drive (TERM=dumb) with its keys.
 *   top.c        the command, the terminal (set-up, restore on exit and on
 *                signals), the loop, the key table and the actions.
 */
#ifndef LVSH_TOP_H
#define LVSH_TOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lightvm.pb-c.h"
#include "lvsh.h"

/* ---- columns */

enum top_col {
	TC_NAME, TC_ID, TC_STATE, TC_IMAGE, TC_CPU, TC_MEM, TC_UPTIME,
	TC_CONSOLE, TC_RX, TC_TX, TC_SPAWN, TC_NR
};

struct top_column {
	const char *title;
	int         width;	/* characters; NAME takes what is left */
	int         right;	/* right-aligned */
	int         key;	/* sort key */
	const char *help;
};
extern const struct top_column top_columns[TC_NR];

/* VM states, in the order of HostInfo.by_state, plus "other". */
enum { TOP_ST_NR = 11, TOP_ST_OTHER = 11 };
extern const char *const top_state_names[TOP_ST_NR];
int top_state_index(const char *name);	/* TOP_ST_OTHER if unknown */

/* ---- rows */

#define TOP_NAME_MAX  64
#define TOP_IMAGE_MAX 32

struct top_row {
	uint32_t id;
	uint32_t seen;		/* generation of the last refresh that had it */
	int32_t  hnext;		/* id hash chain: next row index, -1 */
	uint8_t  state;		/* top_state_index() */
	bool     has_cpu, has_rss, has_net, has_up, has_con, has_spawn;
	char     name[TOP_NAME_MAX];
	char     image[TOP_IMAGE_MAX];
	double   cpu;		/* % of one core */
	uint64_t mem_bytes, rss;
	uint32_t vcpus;
	int32_t  pid;
	uint64_t uptime_ns, console, rx, tx, spawn_ns;
};

struct top_filter {
	int  state;		/* -1: any */
	char image[TOP_IMAGE_MAX];	/* "": any */
	char name[128];		/* substring, or glob if it has * ? [ */
	bool glob;
};

struct top_summary {
	uint32_t n, by_state[TOP_ST_NR + 1];
	double   cpu;
	uint64_t mem, console, rx, tx;
	bool     has_cpu, has_net;
};

struct top_host {
	bool     valid;
	char     hostname[64], driver[16];
	uint32_t vms, by_state[TOP_ST_NR];
	uint32_t ncpus;
	bool     has_cpu, has_mem, has_agent;
	double   cpu, agent_cpu;
	uint64_t mem_total, mem_avail, agent_rss;
	char     pools[160];	/* "4M/1 8/8" ... */
	struct { char flavor[16]; uint32_t ready, target; } pool[8];
	uint32_t npools;	/* in pool[], for the JSON frames */
};

struct top_model {
	struct top_row *rows;
	uint32_t n, cap;
	int32_t *buckets;	/* id hash, power-of-two size */
	uint32_t nbuckets;
	uint32_t gen;
	uint32_t added;		/* rows added since the last sort */
	uint32_t *order;	/* every row index, sorted */
	uint32_t norder;
	uint32_t *shown;	/* the filtered part of order */
	uint32_t nshown;
	int      sort;		/* enum top_col */
	bool     reverse;
	bool     resort;	/* sort column changed: full sort */
	char     filter_text[128];
	struct top_filter filter;
	struct top_summary sum;
	struct top_host host;
};

void top_model_init(struct top_model *m);
void top_model_free(struct top_model *m);
/* A refresh: begin, update every VM seen, end.  end() with sweep drops
 * the rows not seen since begin (a full list); then sorts and filters. */
void top_model_begin(struct top_model *m);
int  top_model_update(struct top_model *m, const Lightvm__VmInfo *vm);
void top_model_end(struct top_model *m, bool sweep);
void top_model_host(struct top_model *m, const Lightvm__HostInfo *h);
void top_model_pools(struct top_model *m, Lightvm__PoolInfo **p, size_t n);
struct top_row *top_model_find(struct top_model *m, uint32_t id);
/* Sort by column (same column again: no-op), then rebuild the view. */
void top_model_set_sort(struct top_model *m, int col, bool reverse);
/* "state:running image:noop web-*".  0, or -1 with a message in err. */
int  top_model_set_filter(struct top_model *m, const char *text, char *err,
			  size_t errlen);
/* Rebuild order (sorted) and shown (filtered) and the summary. */
void top_model_view(struct top_model *m);
int  top_filter_parse(const char *text, struct top_filter *f, char *err,
		      size_t errlen);
bool top_filter_match(const struct top_filter *f, const struct top_row *r);

/* ---- the feed */

enum top_feed_mode { FEED_PROBE, FEED_POLL, FEED_SUB };

struct top_feed {
	int      fd;
	uint32_t seq;
	enum top_feed_mode mode;
	uint32_t interval_ms;
	int64_t  next_poll;	/* monotonic ns */
	uint32_t seq_sub, seq_list, seq_host, seq_pool;
	int      pending;	/* replies outstanding in this round */
	bool     list_ok;	/* the round's list reply arrived */
	bool     need_pools;	/* HostInfo carries no pools: ask `pool` */
	uint64_t frames;	/* frames read */
	uint64_t rounds;	/* complete refreshes (list or stats) */
	char     err[160];	/* last error, "" if none */
};

int64_t top_now_ns(void);
int  top_feed_open(struct top_feed *f, struct lvsh *sh, uint32_t interval_ms);
void top_feed_close(struct top_feed *f);
/* Send the next round of requests if it is due.  0 or -errno. */
int  top_feed_tick(struct top_feed *f, struct top_model *m);
/* Read one frame (fd is readable) and apply it.  Returns 1 if the model
 * changed, 0 if not, -errno if the connection broke. */
int  top_feed_read(struct top_feed *f, struct top_model *m);
/* ms until the next round is due (for poll), >= 0. */
int  top_feed_timeout(const struct top_feed *f);
void top_feed_set_interval(struct top_feed *f, uint32_t ms);

/* ---- the screen */

enum top_view { VIEW_TABLE, VIEW_TILES };
enum top_tilemode { TILE_STATE, TILE_CPU };

struct top_ui {
	enum top_view view;
	enum top_tilemode tilemode;
	uint32_t sel_id;	/* selected VM (follows it when rows move) */
	uint32_t sel;		/* index in m->shown */
	uint32_t top;		/* first visible index (table or tile row) */
	bool     color, utf8;
	bool     help;		/* help panel open */
	bool     inspect;	/* inspect panel open */
	char    *inspect_text;	/* the panel's lines (malloc'ed) */
	bool     bulk;		/* 'a' pressed: next action key applies to
				 * every VM of the filter */
	char     status[256];	/* message line (errors, confirmations) */
	char     prompt[160];	/* line being typed after '/' ("" if none) */
	bool     typing;
	int      confirm;	/* pending action key awaiting y/n, 0: none */
	bool     full_redraw;
};

/* Rows of the table area and tile grid size for the current screen. */
int  top_draw_table_rows(void);
void top_draw_tile_grid(int *cols, int *rows);
void top_draw_init(struct top_ui *ui);
void top_draw_fini(void);
void top_draw(struct top_model *m, struct top_feed *f, struct top_ui *ui);
/* Screen lines handed to curses so far (the measurements use it). */
unsigned long top_draw_lines_drawn(void);
/* Plain text: header, summary and up to max_rows rows (0: all), each
 * line cut to cols characters (0: not cut). */
void top_print(FILE *out, struct top_model *m, struct top_feed *f,
	       uint32_t max_rows, uint32_t cols);
/* Plain-text frames (top_plain.c): on a pipe, count frames (0: until
 * *stop); on a terminal curses cannot drive (TERM=dumb), also the keys
 * q and Escape (leave), / (filter) and Enter.  Returns an LVSH_EXIT_*. */
int  top_plain(struct lvsh *sh, struct top_model *m, struct top_feed *f,
	       uint32_t count, volatile sig_atomic_t *stop);

/* JSON: one object per frame on one line, {"host", "vms" (the filtered
 * rows in view order, field names as in `list --json`), "summary"}. */
void top_print_json(FILE *out, struct top_model *m);
/* Column by name ("name", "cpu", "net-rx" ...; case ignored), or -1. */
int  top_column_by_name(const char *name);

/* Formatting shared by the table and the batch output. */
void top_format_row(const struct top_row *r, char *buf, size_t n,
		    int name_w);
void top_format_header(char *buf, size_t n, int name_w, int sort,
		       bool reverse);

/* ---- keys (top.c): one table feeds dispatch, the footer, the help
 * panel and the man-page test. */
struct top_key {
	const char *label;	/* as the man page and the help show it */
	const char *footer;	/* short, for the footer; NULL: help only */
	const char *help;
	int         codes[3];	/* key codes; 0-terminated */
	int       (*fn)(struct lvsh *sh, struct top_model *m,
			struct top_feed *f, struct top_ui *ui, int key);
};
extern const struct top_key top_keys[];

/* Console attach (cmd_console.c), also used by the view's `c` key. */
int lvsh_console_attach(struct lvsh *sh, const char *name);

#endif
