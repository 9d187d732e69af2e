/*
 * vmcfg.c - the VM config parser (xl.cfg(5) syntax, lightvm.cfg(5) VM
 * CONFIG), shared by lvsh `create` and lightvmd `autostart`.
 *
 * Three small layers: a lexer over a bounded buffer that tracks line and
 * column, a statement parser (KEY = VALUE, VALUE a string, a number or a
 * flat list), and a key table that applies each setting to a struct vmcfg
 * or refuses it with a reason.  Parsing stops at the first syntax error;
 * key errors are collected so a user sees them all at once.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcfg.h"

#define VMCFG_MAX_STR   1024u	/* bytes of one string or word */
#define VMCFG_MAX_KEY   64u

enum tok { T_EOF, T_NL, T_SEMI, T_EQ, T_LBR, T_RBR, T_COMMA, T_WORD, T_STR,
	   T_ERR };

struct atom {
	char     text[VMCFG_MAX_STR + 1];
	unsigned line, col;
};

struct value {
	int         is_list;
	unsigned    n;
	struct atom a[VMCFG_MAX_LIST];
};

struct parser {
	const char        *file;
	const char        *p, *end;
	unsigned           line, col;
	struct vmcfg_errs *e;
	struct vmcfg      *c;
	/* the current token */
	enum tok           t;
	unsigned           tline, tcol;
	char               text[VMCFG_MAX_STR + 1];
	/* what the file set */
	unsigned           set_line[32];	/* by key index; 0: not set */
	char               root[VMCFG_MAX_STR + 1], extra[VMCFG_MAX_STR + 1];
	uint64_t           maxmem_mib, flavor_mem;
	uint32_t           maxvcpus, flavor_vcpus;
	struct value       v;
};

/* ---- messages */

static void add_msg(struct vmcfg_errs *e, const char *fmt, va_list ap)
{
	if (e->n >= VMCFG_MAX_ERRS) {
		e->dropped++;
		return;
	}
	vsnprintf(e->msg[e->n++], sizeof(e->msg[0]), fmt, ap);
}

static void msg(struct vmcfg_errs *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void msg(struct vmcfg_errs *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_msg(e, fmt, ap);
	va_end(ap);
}

/* "FILE:LINE: key 'KEY': ..." */
static void key_err(struct parser *P, unsigned line, const char *key,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void key_err(struct parser *P, unsigned line, const char *key,
		    const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	msg(P->e, "%.120s:%u: key '%s': %s", P->file, line, key, m);
}

/* "FILE:LINE:COL: syntax error: ..." ; the token becomes T_ERR. */
static void syn_err(struct parser *P, unsigned line, unsigned col,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void syn_err(struct parser *P, unsigned line, unsigned col,
		    const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	msg(P->e, "%.120s:%u:%u: syntax error: %s", P->file, line, col, m);
	P->t = T_ERR;
}

/* A value for a message: printable ASCII, at most 40 bytes. */
static const char *show(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; *s && i + 4 < len && i < 40; s++)
		buf[i++] = isprint((unsigned char)*s) ? *s : '?';
	if (*s && i + 4 < len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = 0;
	return buf;
}

/* Copy with truncation (callers check lengths where it matters). */
static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- lexer */

static int peek(const struct parser *P)
{
	return P->p < P->end ? (unsigned char)*P->p : -1;
}

static void advance(struct parser *P)
{
	if (*P->p == '\n') {
		P->line++;
		P->col = 1;
	} else {
		P->col++;
	}
	P->p++;
}

static int word_char(int ch)
{
	return ch >= 0 && (isalnum(ch) || ch == '_' || ch == '.' || ch == '-');
}

static void lex_word(struct parser *P)
{
	size_t n = 0;

	while (word_char(peek(P))) {
		if (n >= VMCFG_MAX_KEY) {
			syn_err(P, P->tline, P->tcol, "word longer than %u bytes",
				VMCFG_MAX_KEY);
			return;
		}
		P->text[n++] = *P->p;
		advance(P);
	}
	P->text[n] = 0;
	P->t = T_WORD;
}

static int lex_escape(struct parser *P, char *out)
{
	int ch;

	advance(P);	/* the backslash */
	ch = peek(P);
	if (ch != '\\' && ch != '"' && ch != '\'') {
		syn_err(P, P->line, P->col, "unsupported escape in a string "
			"(only \\\\, \\\" and \\')");
		return -1;
	}
	*out = (char)ch;
	advance(P);
	return 0;
}

static void lex_string(struct parser *P)
{
	int q = peek(P), ch;
	size_t n = 0;
	char c;

	advance(P);
	for (;;) {
		ch = peek(P);
		if (ch < 0 || ch == '\n') {
			syn_err(P, P->tline, P->tcol, "string not closed on its line");
			return;
		}
		if (ch == q) {
			advance(P);
			break;
		}
		if (ch < 0x20 || ch == 0x7f) {
			syn_err(P, P->line, P->col, "control character 0x%02x in a string", ch);
			return;
		}
		if (ch == '\\') {
			if (lex_escape(P, &c) < 0)
				return;
		} else {
			c = (char)ch;
			advance(P);
		}
		if (n >= VMCFG_MAX_STR) {
			syn_err(P, P->tline, P->tcol, "string longer than %u bytes",
				VMCFG_MAX_STR);
			return;
		}
		P->text[n++] = c;
	}
	P->text[n] = 0;
	P->t = T_STR;
}

static void skip_blank(struct parser *P)
{
	int ch;

	for (;;) {
		ch = peek(P);
		if (ch == ' ' || ch == '\t' || ch == '\r') {
			advance(P);
		} else if (ch == '#') {
			while (peek(P) >= 0 && peek(P) != '\n')
				advance(P);
		} else {
			return;
		}
	}
}

static enum tok next(struct parser *P)
{
	static const char punct[] = "\n;=[],";
	static const enum tok ptok[] = { T_NL, T_SEMI, T_EQ, T_LBR, T_RBR, T_COMMA };
	const char *s;
	int ch;

	skip_blank(P);
	P->tline = P->line;
	P->tcol = P->col;
	P->text[0] = 0;
	ch = peek(P);
	if (ch < 0)
		return P->t = T_EOF;
	if (ch != 0 && (s = strchr(punct, ch)) != NULL) {
		advance(P);
		return P->t = ptok[s - punct];
	}
	if (ch == '"' || ch == '\'')
		lex_string(P);
	else if (word_char(ch) && ch != '.' && ch != '-')
		lex_word(P);
	else if (ch == '+')
		syn_err(P, P->line, P->col, "'+=' is not supported");
	else if (isprint(ch))
		syn_err(P, P->line, P->col, "unexpected '%c'", ch);
	else
		syn_err(P, P->line, P->col, "unexpected byte 0x%02x", ch);
	return P->t;
}

/* Lines longer than VMCFG_MAX_LINE: checked once over the whole text. */
static int check_lines(struct parser *P)
{
	const char *s = P->p, *nl;
	unsigned line = 1;

	while (s < P->end) {
		nl = memchr(s, '\n', (size_t)(P->end - s));
		if ((size_t)((nl ? nl : P->end) - s) > VMCFG_MAX_LINE) {
			msg(P->e, "%.120s:%u:%u: syntax error: line longer than %u bytes",
			    P->file, line, VMCFG_MAX_LINE + 1, VMCFG_MAX_LINE);
			return -1;
		}
		if (!nl)
			break;
		s = nl + 1;
		line++;
	}
	return 0;
}

/* ---- values */

static int take_atom(struct parser *P, struct atom *a)
{
	if (P->t != T_STR && P->t != T_WORD) {
		if (P->t != T_ERR)
			syn_err(P, P->tline, P->tcol, "expected a value");
		return -1;
	}
	memcpy(a->text, P->text, sizeof(a->text));
	a->line = P->tline;
	a->col = P->tcol;
	return 0;
}

static enum tok next_in_list(struct parser *P)
{
	while (next(P) == T_NL)
		;
	return P->t;
}

static int parse_list(struct parser *P, struct value *v)
{
	v->is_list = 1;
	for (;;) {
		next_in_list(P);
		if (P->t == T_RBR)
			return 0;
		if (P->t == T_LBR) {
			syn_err(P, P->tline, P->tcol, "lists do not nest");
			return -1;
		}
		if (P->t == T_EOF) {
			syn_err(P, P->tline, P->tcol, "list not closed (missing ']')");
			return -1;
		}
		if (v->n >= VMCFG_MAX_LIST) {
			syn_err(P, P->tline, P->tcol, "more than %u items in a list",
				VMCFG_MAX_LIST);
			return -1;
		}
		if (take_atom(P, &v->a[v->n++]) < 0)
			return -1;
		next_in_list(P);
		if (P->t == T_RBR)
			return 0;
		if (P->t == T_EOF) {
			syn_err(P, P->tline, P->tcol, "list not closed (missing ']')");
			return -1;
		}
		if (P->t != T_COMMA) {
			if (P->t != T_ERR)
				syn_err(P, P->tline, P->tcol, "expected ',' or ']' in a list");
			return -1;
		}
	}
}

static int parse_value(struct parser *P, struct value *v)
{
	v->is_list = 0;
	v->n = 0;
	next(P);
	if (P->t == T_LBR)
		return parse_list(P, v);
	v->n = 1;
	return take_atom(P, &v->a[0]);
}

/* ---- typed values */

/* A whole number, decimal or 0x hex, at most max. */
static int num(const char *s, uint64_t max, uint64_t *out)
{
	int base = 10, d;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			d = *s - '0';
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			return -1;
		if (v > (max - (uint64_t)d) / (uint64_t)base)
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

static const char *one(struct parser *P, const char *key, unsigned line)
{
	if (P->v.is_list) {
		key_err(P, line, key, "expected one value, not a list");
		return NULL;
	}
	return P->v.a[0].text;
}

static int get_num(struct parser *P, const char *key, unsigned line, uint64_t lo,
		   uint64_t hi, const char *what, uint64_t *out)
{
	const char *s = one(P, key, line);
	char b[64];

	if (!s)
		return -1;
	if (num(s, hi, out) < 0 || *out < lo) {
		key_err(P, line, key, "'%s' is not %s, %llu to %llu", show(s, b, sizeof(b)),
			what, (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	return 0;
}

static int get_str(struct parser *P, const char *key, unsigned line,
		   char *out, size_t size)
{
	const char *s = one(P, key, line);

	if (!s)
		return -1;
	if (!*s) {
		key_err(P, line, key, "must not be empty");
		return -1;
	}
	if (strlen(s) >= size) {
		key_err(P, line, key, "longer than %zu bytes", size - 1);
		return -1;
	}
	snprintf(out, size, "%s", s);
	return 0;
}

/* A size: bytes, or a number with K, M or G. */
static int size_bytes(const char *s, uint64_t *out)
{
	char digits[24];
	size_t n = strspn(s, "0123456789");
	unsigned shift = 0;
	uint64_t v;

	if (n == 0 || n >= sizeof(digits))
		return -1;
	if (s[n]) {
		if (s[n + 1])
			return -1;
		switch (toupper((unsigned char)s[n])) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		default: return -1;
		}
	}
	memcpy(digits, s, n);
	digits[n] = 0;
	if (num(digits, ((uint64_t)VMCFG_MAX_MIB << 20) >> shift, &v) < 0)
		return -1;
	*out = v << shift;
	return 0;
}

/* ---- keys */

struct key {
	const char *name;
	int (*set)(struct parser *P, const char *key, unsigned line);
};

static int name_ok(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

static int set_name(struct parser *P, const char *key, unsigned line)
{
	if (get_str(P, key, line, P->c->name, 49) < 0)
		return -1;
	if (!name_ok(P->c->name)) {
		key_err(P, line, key, "use letters, digits, '_', '-' and '.', "
			"starting with a letter or digit");
		return -1;
	}
	return 0;
}

static int set_image(struct parser *P, const char *key, unsigned line)
{
	if (P->c->image[0]) {
		key_err(P, line, key, "kernel and image both say what to run: keep one");
		return -1;
	}
	return get_str(P, key, line, P->c->image, sizeof(P->c->image));
}

static int set_ramdisk(struct parser *P, const char *key, unsigned line)
{
	return get_str(P, key, line, P->c->ramdisk, sizeof(P->c->ramdisk));
}

static int set_text(struct parser *P, const char *key, unsigned line, char *out)
{
	return get_str(P, key, line, out, VMCFG_CMDLINE_MAX + 1);
}

static int set_cmdline(struct parser *P, const char *key, unsigned line)
{
	return set_text(P, key, line, P->c->cmdline);
}

static int set_extra(struct parser *P, const char *key, unsigned line)
{
	return set_text(P, key, line, P->extra);
}

static int set_root(struct parser *P, const char *key, unsigned line)
{
	return set_text(P, key, line, P->root);
}

static int set_memory(struct parser *P, const char *key, unsigned line)
{
	uint64_t mib;

	if (get_num(P, key, line, 1, VMCFG_MAX_MIB, "a memory size in MiB", &mib) < 0)
		return -1;
	P->c->mem_bytes = mib << 20;
	return 0;
}

static int set_maxmem(struct parser *P, const char *key, unsigned line)
{
	return get_num(P, key, line, 1, VMCFG_MAX_MIB, "a memory size in MiB",
		       &P->maxmem_mib);
}

static int set_vcpus(struct parser *P, const char *key, unsigned line)
{
	uint64_t n;

	if (get_num(P, key, line, 1, VMCFG_MAX_VCPUS, "a number of vCPUs", &n) < 0)
		return -1;
	P->c->vcpus = (uint32_t)n;
	return 0;
}

static int set_maxvcpus(struct parser *P, const char *key, unsigned line)
{
	uint64_t n;

	if (get_num(P, key, line, 1, VMCFG_MAX_VCPUS, "a number of vCPUs", &n) < 0)
		return -1;
	P->maxvcpus = (uint32_t)n;
	return 0;
}

static int set_watchdog(struct parser *P, const char *key, unsigned line)
{
	uint64_t s;

	if (get_num(P, key, line, 0, VMCFG_MAX_WATCHDOG, "whole seconds (0: none)", &s) < 0)
		return -1;
	P->c->has_watchdog = 1;
	P->c->watchdog_s = (uint32_t)s;
	return 0;
}

static int set_flavor(struct parser *P, const char *key, unsigned line)
{
	const char *s = one(P, key, line), *slash;
	char mem[32], b[64];
	uint64_t m, n;

	if (!s)
		return -1;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(mem))
		goto bad;
	memcpy(mem, s, (size_t)(slash - s));
	mem[slash - s] = 0;
	if (size_bytes(mem, &m) < 0 || m < (1u << 20) || num(slash + 1, VMCFG_MAX_VCPUS, &n) < 0 || n == 0)
		goto bad;
	P->flavor_mem = m;
	P->flavor_vcpus = (uint32_t)n;
	return 0;
bad:
	key_err(P, line, key, "'%s' is not a flavor like \"16M/1\" (memory/vCPUs)",
		show(s, b, sizeof(b)));
	return -1;
}

static int set_choice(struct parser *P, const char *key, unsigned line,
		      const char *const *ok, const char *why)
{
	const char *s = one(P, key, line);
	char b[64];

	if (!s)
		return -1;
	for (; *ok; ok++)
		if (strcmp(s, *ok) == 0)
			return 0;
	key_err(P, line, key, "'%s' is not supported: %s", show(s, b, sizeof(b)), why);
	return -1;
}

/* on_poweroff, on_crash: the VM is kept ('preserve') or destroyed */
static int set_keep(struct parser *P, const char *key, unsigned line,
		    const char *what, int *destroy)
{
	static const char *const ok[] = { "preserve", "destroy", NULL };
	char why[96];

	snprintf(why, sizeof(why), "%s is kept ('preserve') or destroyed ('destroy')", what);
	if (set_choice(P, key, line, ok, why) < 0)
		return -1;
	*destroy = strcmp(P->v.a[0].text, "destroy") == 0;
	return 0;
}

static int set_on_poweroff(struct parser *P, const char *key, unsigned line)
{
	return set_keep(P, key, line, "a VM that powers off", &P->c->destroy_on_poweroff);
}

static int set_on_crash(struct parser *P, const char *key, unsigned line)
{
	return set_keep(P, key, line, "a crashed VM", &P->c->destroy_on_crash);
}

static int set_on_reboot(struct parser *P, const char *key, unsigned line)
{
	static const char *const ok[] = { "restart", NULL };

	return set_choice(P, key, line, ok, "lightvm restarts a guest that "
			  "reboots (use 'restart')");
}

static int set_type(struct parser *P, const char *key, unsigned line)
{
	static const char *const ok[] = { "pv", NULL };

	return set_choice(P, key, line, ok, "lightvm makes paravirtualized "
			  "guests only (use 'pv')");
}

static int set_mode(struct parser *P, const char *key, unsigned line)
{
	static const char *const ok[] = { "noxs", "xenstore", NULL };

	if (set_choice(P, key, line, ok, "the modes are 'noxs' and 'xenstore'") < 0)
		return -1;
	copy(P->c->mode, sizeof(P->c->mode), P->v.a[0].text);
	return 0;
}

static int bridge_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

/* One vif spec, "bridge=lvbr0,mac=...": only bridge= applies. */
static int vif_spec(struct parser *P, const struct atom *a)
{
	char spec[VMCFG_MAX_STR + 1], b[64], *tok, *save = NULL, *eq;
	int rc = 0;

	snprintf(spec, sizeof(spec), "%s", a->text);
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		eq = strchr(tok, '=');
		if (eq)
			*eq = 0;
		if (!eq) {
			key_err(P, a->line, "vif", "'%s' is not KEY=VALUE", show(tok, b, sizeof(b)));
			rc = -1;
		} else if (strcmp(tok, "bridge") == 0) {
			if (bridge_ok(eq + 1)) {
				snprintf(P->c->bridge, sizeof(P->c->bridge), "%s", eq + 1);
				continue;
			}
			key_err(P, a->line, "vif", "bridge '%s' is not an interface name",
				show(eq + 1, b, sizeof(b)));
			rc = -1;
		} else if (strcmp(tok, "mac") == 0) {
			key_err(P, a->line, "vif", "mac= is not supported: the agent "
				"gives each VM its own MAC (02:4c:56:...)");
			rc = -1;
		} else if (strcmp(tok, "ip") == 0) {
			key_err(P, a->line, "vif", "ip= is not supported: the agent "
				"gives each VM an address of its net-subnet");
			rc = -1;
		} else {
			key_err(P, a->line, "vif", "%s= is not supported (only bridge=)",
				show(tok, b, sizeof(b)));
			rc = -1;
		}
	}
	return rc;
}

static int set_vif(struct parser *P, const char *key, unsigned line)
{
	if (!P->v.is_list) {
		key_err(P, line, key, "expected a list: vif = [ 'bridge=lvbr0' ]");
		return -1;
	}
	if (P->v.n > 1) {
		key_err(P, line, key, "%u vifs: lightvm guests have one NIC", P->v.n);
		return -1;
	}
	P->c->nvifs = (int)P->v.n;
	return P->v.n ? vif_spec(P, &P->v.a[0]) : 0;
}

static const struct key keys[] = {
	{ "name", set_name },		{ "kernel", set_image },
	{ "image", set_image },		{ "ramdisk", set_ramdisk },
	{ "cmdline", set_cmdline },	{ "extra", set_extra },
	{ "root", set_root },		{ "memory", set_memory },
	{ "maxmem", set_maxmem },	{ "vcpus", set_vcpus },
	{ "maxvcpus", set_maxvcpus },	{ "flavor", set_flavor },
	{ "vif", set_vif },		{ "on_poweroff", set_on_poweroff },
	{ "on_reboot", set_on_reboot },	{ "on_crash", set_on_crash },
	{ "type", set_type },		{ "mode", set_mode },
	{ "watchdog", set_watchdog },
	{ NULL, NULL },
};

/* xl keys with a known reason; any other key is "unknown". */
static const struct { const char *key, *why; } refused[] = {
	{ "disk", "lightvm guests have no block devices" },
	{ "uuid", "the agent names and numbers its VMs itself" },
	{ "cpus", "no vCPU pinning" },
	{ "cpus_soft", "no vCPU pinning" },
	{ "cpu_weight", "no scheduler parameters" },
	{ "cap", "no scheduler parameters" },
	{ "pool", "no Xen CPU pools (lightvm's pools are 'flavor')" },
	{ "bootloader", "lightvm loads the kernel itself" },
	{ "builder", "use type = 'pv'" },
	{ "pci", "no PCI passthrough" },
	{ "usb", "no USB devices" },
	{ "usbctrl", "no USB devices" },
	{ "usbdev", "no USB devices" },
	{ "vfb", "no framebuffer" },
	{ "vkb", "no keyboard device" },
	{ "vnc", "no framebuffer" },
	{ "sdl", "no framebuffer" },
	{ "serial", "the console is the agent's (lvsh console)" },
	{ "channel", "no channels" },
	{ "vtpm", "no TPM" },
	{ "p9", "no 9p shares" },
	{ "vdispl", "no display devices" },
	{ "vsnd", "no sound devices" },
	{ "on_watchdog", "no watchdog device (lightvm's key is 'watchdog')" },
	{ "on_soft_reset", "no soft reset" },
	{ "localtime", "guests keep UTC" },
	{ "seclabel", "no XSM labels" },
	{ "device_model_version", "no device model" },
	{ "device_model_override", "no device model" },
	{ "max_grant_frames", "grant tables are sized by the agent" },
	{ "max_maptrack_frames", "grant tables are sized by the agent" },
	{ NULL, NULL },
};

static void apply(struct parser *P, const char *key, unsigned line)
{
	unsigned i;

	for (i = 0; keys[i].name; i++)
		if (strcmp(keys[i].name, key) == 0)
			break;
	if (!keys[i].name) {
		for (i = 0; refused[i].key; i++)
			if (strcmp(refused[i].key, key) == 0) {
				key_err(P, line, key, "not supported: %s", refused[i].why);
				return;
			}
		key_err(P, line, key, "unknown key, not supported by lightvm");
		return;
	}
	if (P->set_line[i]) {
		key_err(P, line, key, "set twice (first on line %u)", P->set_line[i]);
		return;
	}
	P->set_line[i] = line;
	(void)keys[i].set(P, key, line);
}

/* ---- statements and the whole file */

static int statement(struct parser *P)
{
	char key[VMCFG_MAX_KEY + 1];
	unsigned line = P->tline;

	if (P->t != T_WORD || !(isalpha((unsigned char)P->text[0]) || P->text[0] == '_')) {
		if (P->t != T_ERR)
			syn_err(P, P->tline, P->tcol, "expected a key");
		return -1;
	}
	copy(key, sizeof(key), P->text);
	if (next(P) != T_EQ) {
		if (P->t != T_ERR)
			syn_err(P, P->tline, P->tcol, "expected '=' after '%s'", key);
		return -1;
	}
	if (parse_value(P, &P->v) < 0)
		return -1;
	next(P);
	if (P->t != T_NL && P->t != T_SEMI && P->t != T_EOF) {
		if (P->t != T_ERR)
			syn_err(P, P->tline, P->tcol, "expected the end of the line after "
				"the value of '%s'", key);
		return -1;
	}
	apply(P, key, line);
	return 0;
}

static unsigned key_line(const struct parser *P, const char *name)
{
	unsigned i;

	for (i = 0; keys[i].name; i++)
		if (strcmp(keys[i].name, name) == 0)
			return P->set_line[i];
	return 0;
}

/* root= and extra= make the command line, as xl does; cmdline excludes both. */
static void finish_cmdline(struct parser *P)
{
	struct vmcfg *c = P->c;
	unsigned l = key_line(P, "cmdline");

	if (l && (P->root[0] || P->extra[0])) {
		key_err(P, l, "cmdline", "excludes 'root' and 'extra' (xl ignores them): keep one");
		return;
	}
	if (l)
		return;
	if ((size_t)snprintf(c->cmdline, sizeof(c->cmdline), "%s%s%s%s",
			     P->root[0] ? "root=" : "", P->root,
			     P->root[0] && P->extra[0] ? " " : "", P->extra)
	    >= sizeof(c->cmdline))
		key_err(P, key_line(P, P->extra[0] ? "extra" : "root"), P->extra[0] ? "extra" : "root",
			"root and extra make a command "
			"line longer than %u bytes", VMCFG_CMDLINE_MAX);
}

static void finish_flavor(struct parser *P)
{
	struct vmcfg *c = P->c;
	unsigned l = key_line(P, "flavor");

	if (!l)
		return;
	if (c->mem_bytes && c->mem_bytes != P->flavor_mem)
		key_err(P, l, "flavor", "memory differs from 'memory' (line %u)",
			key_line(P, "memory"));
	else if (c->vcpus && c->vcpus != P->flavor_vcpus)
		key_err(P, l, "flavor", "vCPUs differ from 'vcpus' (line %u)",
			key_line(P, "vcpus"));
	c->mem_bytes = P->flavor_mem;
	c->vcpus = P->flavor_vcpus;
}

static void finish(struct parser *P)
{
	struct vmcfg *c = P->c;
	unsigned l;

	finish_cmdline(P);
	finish_flavor(P);
	l = key_line(P, "maxmem");
	if (l && P->maxmem_mib << 20 != (c->mem_bytes ? c->mem_bytes : 4u << 20))
		key_err(P, l, "maxmem", "must equal 'memory': no ballooning");
	l = key_line(P, "maxvcpus");
	if (l && P->maxvcpus != (c->vcpus ? c->vcpus : 1))
		key_err(P, l, "maxvcpus", "must equal 'vcpus': no vCPU hotplug");
	if (!c->image[0] && !key_line(P, "kernel") && !key_line(P, "image"))
		msg(P->e, "%.120s: no 'kernel' or 'image': the file must say what to run",
		    P->file);
}

int vmcfg_parse(const char *file, const char *text, size_t len,
		struct vmcfg *c, struct vmcfg_errs *e)
{
	struct parser *P = calloc(1, sizeof(*P));
	unsigned before = e->n + e->dropped;
	int rc;

	if (!P) {
		msg(e, "%.120s: out of memory", file);
		return -ENOMEM;
	}
	memset(c, 0, sizeof(*c));
	*P = (struct parser){ .file = file, .p = text, .end = text + len,
			      .line = 1, .col = 1, .e = e, .c = c };
	if (len > VMCFG_MAX_FILE)
		msg(e, "%.120s: larger than %u bytes", file, VMCFG_MAX_FILE);
	else if (check_lines(P) == 0) {
		while (next(P) != T_EOF && P->t != T_ERR) {
			if (P->t == T_NL || P->t == T_SEMI)
				continue;
			if (statement(P) < 0)
				break;
		}
		if (P->t != T_ERR)
			finish(P);
	}
	rc = e->n + e->dropped > before ? -EINVAL : 0;
	free(P);
	return rc;
}

/* ---- files */

int vmcfg_load(const char *path, struct vmcfg *c, struct vmcfg_errs *e)
{
	char *buf = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		msg(e, "%.200s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		msg(e, "%.200s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)VMCFG_MAX_FILE) {
		rc = -EFBIG;
		msg(e, "%.200s: larger than %u bytes", path, VMCFG_MAX_FILE);
		goto out;
	}
	rc = -ENOMEM;
	buf = malloc(VMCFG_MAX_FILE + 1);
	if (!buf) {
		msg(e, "%.200s: out of memory", path);
		goto out;
	}
	/* read one byte more than allowed: the file may have grown */
	while (got <= VMCFG_MAX_FILE &&
	       (r = read(fd, buf + got, VMCFG_MAX_FILE + 1 - got)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			msg(e, "%.200s: %s", path, strerror(-rc));
			goto out;
		}
		got += (size_t)r;
	}
	rc = vmcfg_parse(path, buf, got, c, e);
out:
	free(buf);
	close(fd);
	return rc;
}

static int cfg_name(const char *n)
{
	size_t len = strlen(n);

	return n[0] != '.' && len > 4 && strcmp(n + len - 4, ".cfg") == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void vmcfg_free_list(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int vmcfg_list_dir(const char *dir, char ***paths, size_t *n,
		   char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de = NULL;
	char **v = NULL;
	size_t k = 0;
	int rc = 0;

	*paths = NULL;
	*n = 0;
	if (!d) {
		rc = -errno;
		snprintf(err, errlen, "%.200s: %s", dir, strerror(-rc));
		return rc;
	}
	v = calloc(VMCFG_MAX_DIR, sizeof(*v));
	while (v && (de = readdir(d)) != NULL) {
		if (!cfg_name(de->d_name))
			continue;
		if (k == VMCFG_MAX_DIR) {
			rc = -E2BIG;
			snprintf(err, errlen, "%.200s: more than %u config files", dir,
				 VMCFG_MAX_DIR);
			break;
		}
		if (asprintf(&v[k], "%s/%s", dir, de->d_name) < 0) {
			v[k] = NULL;
			break;
		}
		k++;
	}
	closedir(d);
	if (!v || (de != NULL && rc == 0)) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%.200s: out of memory", dir);
	}
	if (rc) {
		vmcfg_free_list(v, k);
		return rc;
	}
	qsort(v, k, sizeof(*v), cmp_str);
	*paths = v;
	*n = k;
	return 0;
}
