/*
 * complete.c - tab completion from the command table (see complete.h).
 * Knows nothing about libedit: repl.c asks for the candidates of the word
 * before the cursor and inserts or lists them.  Agent lookups are quiet:
 * a completion never prints an error in the middle of the line.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "cmds.h"
#include "complete.h"

/* ---- names cached from the agent */

struct name_cache {
	char    **names;
	size_t    n;
	long long at;		/* CLOCK_MONOTONIC ns of the fetch, 0: none */
};

static struct name_cache vm_cache, image_cache;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void cache_clear(struct name_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->n = 0;
	c->at = 0;
}

void lvsh_complete_invalidate(void)
{
	vm_cache.at = 0;
}

static void cache_set(struct name_cache *c, char **names, size_t n)
{
	char **copy = calloc(n ? n : 1, sizeof(*copy));
	size_t i, k = 0;

	cache_clear(c);
	if (copy == NULL)
		return;
	for (i = 0; i < n; i++)
		if ((copy[k] = strdup(names[i])) != NULL)
			k++;
	c->names = copy;
	c->n = k;
	c->at = now_ns();
}

/* One quiet call to the agent; NULL if it failed. */
static Lightvm__Reply *quiet_call(struct lvsh *sh, Lightvm__Request *req)
{
	Lightvm__Reply *r = NULL;
	int json = sh->json;

	lvsh_err_quiet = 1;
	sh->json = 0;		/* no {"err"} document on stdout either */
	if (lvsh_call(sh, "complete", req, &r) != LVSH_EXIT_OK)
		r = NULL;
	sh->json = json;
	lvsh_err_quiet = 0;
	return r;
}

static const struct name_cache *vm_names(struct lvsh *sh)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *r;
	char **names;
	size_t i;

	if (vm_cache.at && now_ns() - vm_cache.at < LVSH_VM_CACHE_NS)
		return &vm_cache;
	req.op_case = LIGHTVM__REQUEST__OP_LIST;
	req.list = &sel;
	r = quiet_call(sh, &req);
	if (r == NULL)
		return &vm_cache;	/* stale is better than nothing */
	names = calloc(r->n_vms ? r->n_vms : 1, sizeof(*names));
	if (names != NULL) {
		for (i = 0; i < r->n_vms; i++)
			names[i] = r->vms[i]->name;
		cache_set(&vm_cache, names, r->n_vms);
		free(names);
	}
	lightvm__reply__free_unpacked(r, NULL);
	return &vm_cache;
}

static const struct name_cache *image_names(struct lvsh *sh)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__HostReq hr = LIGHTVM__HOST_REQ__INIT;
	Lightvm__Reply *r;

	if (image_cache.at && now_ns() - image_cache.at < LVSH_IMAGE_CACHE_NS)
		return &image_cache;
	req.op_case = LIGHTVM__REQUEST__OP_HOST;
	req.host = &hr;
	r = quiet_call(sh, &req);
	if (r == NULL)
		return &image_cache;
	if (r->host != NULL)
		cache_set(&image_cache, r->host->images, r->host->n_images);
	lightvm__reply__free_unpacked(r, NULL);
	return &image_cache;
}

/* ---- the candidate list */

static int add(struct lvsh_completion *c, const char *w, const char *prefix)
{
	char **p;

	if (strncmp(w, prefix, strlen(prefix)) != 0)
		return 0;
	p = realloc(c->words, (c->n + 1) * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	c->words = p;
	if ((c->words[c->n] = strdup(w)) == NULL)
		return -ENOMEM;
	c->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sort_unique(struct lvsh_completion *c)
{
	size_t i, k = 0;

	if (c->n == 0)
		return;
	qsort(c->words, c->n, sizeof(*c->words), cmp_str);
	for (i = 1; i < c->n; i++) {
		if (strcmp(c->words[i], c->words[k]) == 0)
			free(c->words[i]);
		else
			c->words[++k] = c->words[i];
	}
	c->n = k + 1;
}

const char *lvsh_usage_word(const char *usage, int pos, char *buf,
			    size_t len)
{
	const char *p = usage;
	size_t n;
	int k = 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == '[' || *p == ']')
			p++;
		n = strcspn(p, " []");
		if (n == 0)
			break;
		/* options are not positional words (a form has no " | ":
		 * lvsh_usage_forms split them) */
		if (memchr(p, '=', n) == NULL && p[0] != '-') {
			if (k++ == pos) {
				if (n >= len)
					return NULL;
				memcpy(buf, p, n);
				buf[n] = '\0';
				return buf;
			}
		}
		p += n;
	}
	return NULL;
}

size_t lvsh_usage_forms(const char *usage, char forms[][128], size_t max)
{
	const char *p = usage, *bar;
	size_t n = 0, l;

	while (n < max) {
		bar = strstr(p, " | ");
		l = bar ? (size_t)(bar - p) : strlen(p);
		if (l >= sizeof(forms[0]))
			l = sizeof(forms[0]) - 1;
		memcpy(forms[n], p, l);
		forms[n++][l] = '\0';
		if (!bar)
			break;
		p = bar + 3;
	}
	return n;
}

static int is_option_word(const struct lvsh_cmd *cmd, const char *w)
{
	const char *eq = strchr(w, '=');

	if (w[0] == '-' && w[1] == '-')
		return 1;
	return cmd->opts != NULL && eq != NULL && eq > w;
}

static int add_names(struct lvsh_completion *c, const struct name_cache *nc,
		     const char *prefix)
{
	size_t i;
	int rc;

	for (i = 0; i < nc->n; i++)
		if ((rc = add(c, nc->names[i], prefix)) < 0)
			return rc;
	return 0;
}

static int add_commands(struct lvsh_completion *c, const char *prefix)
{
	const struct lvsh_cmd *const *cmd;
	int rc;

	for (cmd = lvsh_cmds; *cmd != NULL; cmd++)
		if ((rc = add(c, (*cmd)->name, prefix)) < 0)
			return rc;
	return 0;
}

static int add_options(struct lvsh_completion *c, const struct lvsh_cmd *cmd,
		       const char *prefix)
{
	const struct lvsh_opt *o;
	char w[64];
	int rc;

	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		snprintf(w, sizeof(w), "%s%s", o->name,
			 o->kind == LVSH_OPT_KV ? "=" : "");
		if ((rc = add(c, w, prefix)) < 0)
			return rc;
	}
	return 0;
}

#define MAX_FILES 1024		/* entries looked at per completion */

/* FILE: the entries of the prefix's directory (a directory with a '/'). */
static int add_files(struct lvsh_completion *c, const char *prefix)
{
	const char *slash = strrchr(prefix, '/');
	char dir[1024], w[1280];
	struct dirent *de;
	unsigned seen = 0;
	int rc = 0;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - prefix + 1) : 1,
		     slash ? prefix : ".") >= (int)sizeof(dir) || !(d = opendir(dir)))
		return 0;
	while (rc == 0 && seen++ < MAX_FILES && (de = readdir(d)) != NULL) {
		const char *base = slash ? slash + 1 : prefix;

		if ((de->d_name[0] == '.' && base[0] != '.') ||
		    strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(w, sizeof(w), "%s%s%s", slash ? dir : "", de->d_name,
			 de->d_type == DT_DIR ? "/" : "");
		rc = add(c, w, prefix);
	}
	closedir(d);
	return rc;
}

/* Candidates of one kind of word: "VM", "SELECTOR", "IMAGE", "CMD",
 * "FILE", "SOCKET", or a literal such as "set". */
static int add_kind(struct lvsh *sh, struct lvsh_completion *c,
		    const char *kind, const char *prefix)
{
	int rc;

	if (strcmp(kind, "VM") == 0 || strcmp(kind, "SELECTOR") == 0) {
		if (strcmp(kind, "SELECTOR") == 0 && (rc = add(c, "all", prefix)))
			return rc;
		return add_names(c, vm_names(sh), prefix);
	}
	if (strcmp(kind, "IMAGE") == 0)
		return add_names(c, image_names(sh), prefix);
	if (strcmp(kind, "CMD") == 0)
		return add_commands(c, prefix);
	/* files; an agent's socket (migrate's SOCKET|HOST:PORT) is a file too */
	if (strcmp(kind, "FILE") == 0 || strcmp(kind, "SOCKET") == 0)
		return add_files(c, prefix);
	if (islower((unsigned char)kind[0]))
		return add(c, kind, prefix);
	return 0;
}

/* Candidates for positional word pos of cmd, after the positional word
 * first (NULL at pos 0).  A usage of several forms ("[set FLAVOR N |
 * preload IMAGE|last|off]") offers every form's first word, then only
 * the words of the form whose first word was typed; a word of the form
 * "IMAGE|last|off" offers each of its kinds. */
static int add_positional(struct lvsh *sh, struct lvsh_completion *c,
			  const struct lvsh_cmd *cmd, const char *first,
			  int pos, const char *prefix)
{
	char forms[8][128], word[64], head[64], *alt, *save;
	size_t nf = lvsh_usage_forms(cmd->usage, forms, 8);
	int rc = 0;

	for (size_t f = 0; f < nf && rc == 0; f++) {
		if (nf > 1 && pos > 0 &&
		    (lvsh_usage_word(forms[f], 0, head, sizeof(head)) == NULL ||
		     first == NULL || strcmp(head, first) != 0))
			continue;
		if (lvsh_usage_word(forms[f], pos, word, sizeof(word)) == NULL)
			continue;
		for (alt = strtok_r(word, "|", &save); alt != NULL && rc == 0;
		     alt = strtok_r(NULL, "|", &save))
			rc = add_kind(sh, c, alt, prefix);
	}
	return rc;
}

#define MAX_WORDS 64

int lvsh_complete(struct lvsh *sh, const char *line, size_t len,
		  struct lvsh_completion *c)
{
	char buf[1024], pre[256], *words[MAX_WORDS], *prefix, *p;
	const struct lvsh_cmd *cmd;
	const char *first = NULL;
	size_t start = 0, i;
	int n = 0, pos = 0, rc;
	char err[256];

	memset(c, 0, sizeof(*c));
	/* only the last command of the line matters */
	for (i = 0; i < len; i++)
		if (line[i] == ';')
			start = i + 1;
	if (len - start >= sizeof(buf))
		return 0;
	memcpy(buf, line + start, len - start);
	buf[len - start] = '\0';
	/* the word under the cursor starts after the last blank */
	p = buf + strlen(buf);
	while (p > buf && p[-1] != ' ' && p[-1] != '\t')
		p--;
	prefix = p;
	c->start = start + (size_t)(prefix - buf);
	*prefix = '\0';
	for (p = strtok(buf, " \t"); p != NULL && n < MAX_WORDS;
	     p = strtok(NULL, " \t"))
		words[n++] = p;
	if (len - c->start >= sizeof(pre))
		return 0;
	memcpy(pre, line + c->start, len - c->start);
	pre[len - c->start] = '\0';
	prefix = pre;
	if (n == 0) {
		rc = add_commands(c, prefix);
		goto out;
	}
	cmd = lvsh_cmd_find(words[0], err, sizeof(err));
	if (cmd == NULL)
		return 0;
	for (i = 1; i < (size_t)n; i++)
		if (!is_option_word(cmd, words[i]) && pos++ == 0)
			first = words[i];
	if (strchr(prefix, '=') != NULL)
		return 0;		/* a value: nothing to offer */
	rc = 0;
	if (prefix[0] != '-')
		rc = add_positional(sh, c, cmd, first, pos, prefix);
	if (rc == 0 && (prefix[0] != '\0' || c->n == 0))
		rc = add_options(c, cmd, prefix);
out:
	if (rc < 0) {
		lvsh_completion_free(c);
		return rc;
	}
	sort_unique(c);
	c->no_space = c->n == 1 &&
		(c->words[0][strlen(c->words[0]) - 1] == '=' ||
		 c->words[0][strlen(c->words[0]) - 1] == '/');
	return 0;
}

size_t lvsh_completion_common(const struct lvsh_completion *c)
{
	size_t n, i, k;

	if (c->n == 0)
		return 0;
	n = strlen(c->words[0]);
	for (i = 1; i < c->n; i++) {
		for (k = 0; k < n && c->words[i][k] == c->words[0][k]; k++)
			;
		n = k;
	}
	return n;
}

void lvsh_completion_free(struct lvsh_completion *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->words[i]);
	free(c->words);
	c->words = NULL;
	c->n = 0;
}
