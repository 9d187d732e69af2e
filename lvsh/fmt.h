/*
 * fmt.h - parsing and printing of the console's small values: sizes
 * ("4M"), counts, durations, and aligned text tables.
 */
#ifndef LVSH_FMT_H
#define LVSH_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "4096", "512K", "4M", "1G" (K/M/G are powers of 1024, either case).
 * Returns 0, or -1 if empty, malformed, zero or too large. */
int lvsh_parse_size(const char *s, uint64_t *out);

/* Decimal digits only, min <= value <= max.  Returns 0 or -1. */
int lvsh_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* Seconds, possibly fractional ("30", "0.5"), as milliseconds in
 * 1 .. max_ms.  Returns 0 or -1. */
int lvsh_parse_secs(const char *s, uint32_t max_ms, uint32_t *out_ms);

/* "FLAVOR" is SIZE or SIZE/VCPUS, e.g. "4M/1" or "4M" (one vCPU); the
 * syntax only (the rule: lv_proto_pool_flavor_check).  Returns 0 or -1. */
int lvsh_parse_flavor(const char *s, uint64_t *mem, uint32_t *vcpus);

void lvsh_fmt_size(char *buf, size_t n, uint64_t bytes);	/* 4M, 1.5G */
void lvsh_fmt_uptime(char *buf, size_t n, uint64_t ns);	/* 3.2s, 5m03s */
void lvsh_fmt_spawn(char *buf, size_t n, uint64_t ns);	/* 850µs, 2.31ms */

/* An aligned text table; cells are copied.  Widths count characters,
 * not bytes, so "µs" lines up. */
#define LVSH_TABLE_MAXCOLS 16

struct lvsh_table {
	int     ncols;
	char  **cells;		/* nrows * ncols, row-major; row 0 = header */
	size_t  nrows, cap;
};

int lvsh_table_init(struct lvsh_table *t, int ncols,
		    const char *const *header);
/* Append one row of ncols strings (NULL prints "-").  0 or -ENOMEM. */
int lvsh_table_add(struct lvsh_table *t, const char *const *row);
void lvsh_table_print(const struct lvsh_table *t, FILE *f);
void lvsh_table_free(struct lvsh_table *t);

#endif
