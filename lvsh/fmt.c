/*
 * fmt.c - small value parsers and printers for the console (see fmt.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

int lvsh_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0':             break;
	case 'k': case 'K':    mult = 1ull << 10; p++; break;
	case 'm': case 'M':    mult = 1ull << 20; p++; break;
	case 'g': case 'G':    mult = 1ull << 30; p++; break;
	default:               return -1;
	}
	if (*p != '\0' || v == 0 || v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int lvsh_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (*p != '\0' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int lvsh_parse_secs(const char *s, uint32_t max_ms, uint32_t *out_ms)
{
	char *end;
	double v;

	if (!isdigit((unsigned char)*s) && *s != '.')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s)
		return -1;
	v *= 1000.0;
	if (!(v >= 1.0) || v > (double)max_ms)
		return -1;
	*out_ms = (uint32_t)(v + 0.5);
	return 0;
}

int lvsh_parse_flavor(const char *s, uint64_t *mem, uint32_t *vcpus)
{
	const char *slash = strchr(s, '/');
	char buf[32];
	size_t n;

	if (slash == NULL) {	/* "4M": one vCPU, as the agent reads it */
		*vcpus = 1;
		return lvsh_parse_size(s, mem);
	}
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (lvsh_parse_size(buf, mem) < 0)
		return -1;
	return lvsh_parse_u32(slash + 1, 1, UINT32_MAX, vcpus);
}

void lvsh_fmt_size(char *buf, size_t n, uint64_t b)
{
	static const char units[] = "KMGT";
	int i = -1;
	uint64_t unit = 1;

	while (i < 3 && b >= unit * 1024) {
		unit *= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, n, "%llu", (unsigned long long)b);
	else if (b % unit == 0)
		snprintf(buf, n, "%llu%c", (unsigned long long)(b / unit),
			 units[i]);
	else
		snprintf(buf, n, "%.1f%c", (double)b / (double)unit, units[i]);
}

void lvsh_fmt_uptime(char *buf, size_t n, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	if (s < 60)
		snprintf(buf, n, "%.1fs", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
	else
		snprintf(buf, n, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s / 3600 % 24));
}

void lvsh_fmt_spawn(char *buf, size_t n, uint64_t ns)
{
	if (ns < 1000000ull)
		snprintf(buf, n, "%lluµs", (unsigned long long)(ns / 1000));
	else if (ns < 1000000000ull)
		snprintf(buf, n, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.2fs", (double)ns / 1e9);
}

/* Characters in a UTF-8 string (continuation bytes do not count). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

int lvsh_table_init(struct lvsh_table *t, int ncols,
		    const char *const *header)
{
	t->ncols = ncols;
	t->cells = NULL;
	t->nrows = t->cap = 0;
	if (ncols < 1 || ncols > LVSH_TABLE_MAXCOLS)
		return -EINVAL;
	return lvsh_table_add(t, header);
}

int lvsh_table_add(struct lvsh_table *t, const char *const *row)
{
	size_t base;
	int i;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * (size_t)t->ncols *
					     sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	base = t->nrows * (size_t)t->ncols;
	for (i = 0; i < t->ncols; i++) {
		t->cells[base + (size_t)i] = strdup(row[i] ? row[i] : "-");
		if (t->cells[base + (size_t)i] == NULL) {
			while (i-- > 0)
				free(t->cells[base + (size_t)i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

void lvsh_table_print(const struct lvsh_table *t, FILE *f)
{
	size_t w[LVSH_TABLE_MAXCOLS] = { 0 }, r, cw;
	int c;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			cw = width(t->cells[r * (size_t)t->ncols + (size_t)c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];

			fputs(s, f);
			if (c + 1 == t->ncols)
				break;
			for (cw = width(s); cw < w[c] + 2; cw++)
				fputc(' ', f);
		}
		fputc('\n', f);
	}
}

void lvsh_table_free(struct lvsh_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}
