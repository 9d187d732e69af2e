/*
 * top_model.c - the live view's rows (see top.h).  htop's habits: a
 * vector of rows plus an id -> row hash; each refresh marks the rows it
 * sees and sweeps the others; the sort order is kept between refreshes
 * and repaired by insertion sort (a few rows move per second), with a
 * full sort only when the column changes or many rows arrive; the filter
 * runs only when the display list is rebuilt.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

const char *const top_state_names[TOP_ST_NR] = {
	"prepared", "booting", "running", "paused", "shutting-down",
	"shutoff", "crashed", "saving", "saved", "restoring", "migrating",
};

int top_state_index(const char *name)
{
	int i;

	for (i = 0; i < TOP_ST_NR; i++)
		if (strcmp(name, top_state_names[i]) == 0)
			return i;
	return TOP_ST_OTHER;
}

/* ---- the vector and the hash */

static uint32_t hash_id(uint32_t id)
{
	id ^= id >> 16;
	id *= 0x45d9f3bu;
	id ^= id >> 16;
	return id;
}

void top_model_init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
	m->sort = TC_ID;
	m->filter.state = -1;
}

void top_model_free(struct top_model *m)
{
	free(m->rows);
	free(m->buckets);
	free(m->order);
	free(m->shown);
	memset(m, 0, sizeof(*m));
}

static void rehash(struct top_model *m)
{
	uint32_t i, b;

	for (i = 0; i < m->nbuckets; i++)
		m->buckets[i] = -1;
	for (i = 0; i < m->n; i++) {
		b = hash_id(m->rows[i].id) & (m->nbuckets - 1);
		m->rows[i].hnext = m->buckets[b];
		m->buckets[b] = (int32_t)i;
	}
}

static int grow(struct top_model *m)
{
	uint32_t cap = m->cap ? m->cap * 2 : 1024, nb;
	struct top_row *rows;
	uint32_t *order, *shown;
	int32_t *buckets;

	rows = realloc(m->rows, cap * sizeof(*rows));
	if (rows == NULL)
		return -ENOMEM;
	m->rows = rows;
	order = realloc(m->order, cap * sizeof(*order));
	if (order == NULL)
		return -ENOMEM;
	m->order = order;
	shown = realloc(m->shown, cap * sizeof(*shown));
	if (shown == NULL)
		return -ENOMEM;
	m->shown = shown;
	nb = cap * 2;		/* load factor <= 1/2 */
	buckets = realloc(m->buckets, nb * sizeof(*buckets));
	if (buckets == NULL)
		return -ENOMEM;
	m->buckets = buckets;
	m->nbuckets = nb;
	m->cap = cap;
	rehash(m);
	return 0;
}

struct top_row *top_model_find(struct top_model *m, uint32_t id)
{
	int32_t i;

	if (m->nbuckets == 0)
		return NULL;
	for (i = m->buckets[hash_id(id) & (m->nbuckets - 1)]; i >= 0;
	     i = m->rows[i].hnext)
		if (m->rows[i].id == id)
			return &m->rows[i];
	return NULL;
}

/* ---- refresh: mark and sweep */

void top_model_begin(struct top_model *m)
{
	m->gen++;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src != NULL ? src : "");
}

int top_model_update(struct top_model *m, const Lightvm__VmInfo *vm)
{
	struct top_row *r = top_model_find(m, vm->id);
	uint32_t b;

	if (r == NULL) {
		if (m->n == m->cap && grow(m) < 0)
			return -ENOMEM;
		r = &m->rows[m->n];
		memset(r, 0, sizeof(*r));
		r->id = vm->id;
		b = hash_id(r->id) & (m->nbuckets - 1);
		r->hnext = m->buckets[b];
		m->buckets[b] = (int32_t)m->n;
		m->order[m->norder++] = m->n;
		m->n++;
		m->added++;
	}
	r->seen = m->gen;
	copy_str(r->name, sizeof(r->name), vm->name);
	copy_str(r->image, sizeof(r->image), vm->image);
	r->state = (uint8_t)top_state_index(vm->state);
	r->mem_bytes = vm->mem_bytes;
	r->vcpus = vm->vcpus;
	r->pid = vm->has_pid ? vm->pid : -1;
	r->has_cpu = vm->has_cpu_pct;
	r->cpu = vm->cpu_pct;
	r->has_rss = vm->has_rss_bytes;
	r->rss = vm->rss_bytes;
	r->has_net = vm->has_net_rx_bytes || vm->has_net_tx_bytes;
	r->rx = vm->net_rx_bytes;
	r->tx = vm->net_tx_bytes;
	r->has_up = vm->has_uptime_ns;
	r->uptime_ns = vm->uptime_ns;
	r->has_con = vm->has_console_bytes;
	r->console = vm->console_bytes;
	r->has_spawn = vm->has_spawn_ns;
	r->spawn_ns = vm->spawn_ns;
	return 0;
}

/* Drop the rows not seen in this generation; keep order's relative
 * order by renumbering through a map. */
static void sweep(struct top_model *m)
{
	uint32_t i, k = 0, *map;

	for (i = 0; i < m->n && m->rows[i].seen == m->gen; i++)
		;
	if (i == m->n)
		return;
	map = malloc(m->n * sizeof(*map));
	if (map == NULL)
		return;		/* keep stale rows rather than fail */
	for (i = 0; i < m->n; i++) {
		if (m->rows[i].seen != m->gen) {
			map[i] = UINT32_MAX;
			continue;
		}
		map[i] = k;
		if (k != i)
			m->rows[k] = m->rows[i];
		k++;
	}
	m->n = k;
	for (i = 0, k = 0; i < m->norder; i++)
		if (map[m->order[i]] != UINT32_MAX)
			m->order[k++] = map[m->order[i]];
	m->norder = k;
	free(map);
	rehash(m);
}

void top_model_end(struct top_model *m, bool sweep_unseen)
{
	if (sweep_unseen)
		sweep(m);
	top_model_view(m);
}

/* ---- host */

void top_model_host(struct top_model *m, const Lightvm__HostInfo *h)
{
	struct top_host *t = &m->host;
	size_t i;

	t->valid = true;
	/* stats notifications may leave out what does not change */
	if (h->hostname != NULL && *h->hostname)
		copy_str(t->hostname, sizeof(t->hostname), h->hostname);
	if (h->driver != NULL && *h->driver)
		copy_str(t->driver, sizeof(t->driver), h->driver);
	t->vms = h->vms;
	memset(t->by_state, 0, sizeof(t->by_state));
	for (i = 0; i < h->n_by_state && i < TOP_ST_NR; i++)
		t->by_state[i] = h->by_state[i];
	t->ncpus = h->has_ncpus ? h->ncpus : 0;
	t->has_cpu = h->has_host_cpu_pct;
	t->cpu = h->host_cpu_pct;
	t->has_mem = h->has_mem_total;
	t->mem_total = h->mem_total;
	t->mem_avail = h->mem_available;
	t->has_agent = h->has_agent_cpu_pct;
	t->agent_cpu = h->agent_cpu_pct;
	t->agent_rss = h->agent_rss;
	if (h->n_pools > 0)
		top_model_pools(m, h->pools, h->n_pools);
}

void top_model_pools(struct top_model *m, Lightvm__PoolInfo **p, size_t n)
{
	char *o = m->host.pools;
	size_t i, left = sizeof(m->host.pools);
	int w;

	o[0] = '\0';
	m->host.npools = 0;
	for (i = 0; i < n && m->host.npools < 8; i++) {
		copy_str(m->host.pool[m->host.npools].flavor,
			 sizeof(m->host.pool[0].flavor), p[i]->flavor);
		m->host.pool[m->host.npools].ready = p[i]->ready;
		m->host.pool[m->host.npools].target = p[i]->target;
		m->host.npools++;
	}
	for (i = 0; i < n && left > 1; i++) {
		w = snprintf(o, left, "%s%s %u/%u", i ? ", " : "",
			     p[i]->flavor, p[i]->ready, p[i]->target);
		if (w < 0 || (size_t)w >= left)
			break;
		o += w;
		left -= (size_t)w;
	}
}

/* ---- sorting */

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* Rows without a value sort before rows with one. */
static int cmp_rows(const struct top_row *a, const struct top_row *b,
		    int col)
{
	int c = 0;

	switch (col) {
	case TC_NAME:    c = strcmp(a->name, b->name); break;
	case TC_ID:      break;
	case TC_STATE:   c = (int)a->state - (int)b->state; break;
	case TC_IMAGE:   c = strcmp(a->image, b->image); break;
	case TC_CPU:
		c = a->has_cpu != b->has_cpu ? (int)a->has_cpu - (int)b->has_cpu :
		    (a->cpu < b->cpu ? -1 : a->cpu > b->cpu);
		break;
	case TC_MEM:
		c = cmp_u64(a->has_rss ? a->rss : a->mem_bytes,
			    b->has_rss ? b->rss : b->mem_bytes);
		break;
	case TC_UPTIME:  c = cmp_u64(a->uptime_ns, b->uptime_ns); break;
	case TC_CONSOLE: c = cmp_u64(a->console, b->console); break;
	case TC_RX:      c = cmp_u64(a->rx, b->rx); break;
	case TC_TX:      c = cmp_u64(a->tx, b->tx); break;
	case TC_SPAWN:
		c = a->has_spawn != b->has_spawn ?
		    (int)a->has_spawn - (int)b->has_spawn :
		    cmp_u64(a->spawn_ns, b->spawn_ns);
		break;
	}
	if (c == 0)
		c = cmp_u64(a->id, b->id);	/* a total order */
	return c;
}

static const struct top_model *qsort_model;

static int cmp_idx(const void *pa, const void *pb)
{
	const struct top_model *m = qsort_model;
	int c = cmp_rows(&m->rows[*(const uint32_t *)pa],
			 &m->rows[*(const uint32_t *)pb], m->sort);

	return m->reverse ? -c : c;
}

static void insertion_sort(struct top_model *m)
{
	uint32_t i, j, v;

	for (i = 1; i < m->norder; i++) {
		v = m->order[i];
		for (j = i; j > 0; j--) {
			int c = cmp_rows(&m->rows[m->order[j - 1]],
					 &m->rows[v], m->sort);

			if ((m->reverse ? -c : c) <= 0)
				break;
			m->order[j] = m->order[j - 1];
		}
		m->order[j] = v;
	}
}

static void sort_rows(struct top_model *m)
{
	/* Insertion sort is O(n + moves): right after a refresh, where few
	 * rows moved.  Many new rows or a new column: a full sort. */
	if (m->norder == 0)
		return;		/* a sort set before the first rows */
	if (m->resort || m->added > 64) {
		qsort_model = m;
		qsort(m->order, m->norder, sizeof(*m->order), cmp_idx);
	} else {
		insertion_sort(m);
	}
	m->resort = false;
	m->added = 0;
}

void top_model_set_sort(struct top_model *m, int col, bool reverse)
{
	if (col == m->sort && reverse == m->reverse)
		return;
	m->sort = col;
	m->reverse = reverse;
	m->resort = true;
	top_model_view(m);
}

/* ---- filter */

int top_filter_parse(const char *text, struct top_filter *f, char *err,
		     size_t errlen)
{
	char buf[256], *w, *save = NULL;
	int st, i, hits;

	memset(f, 0, sizeof(*f));
	f->state = -1;
	snprintf(buf, sizeof(buf), "%s", text);
	for (w = strtok_r(buf, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (strncmp(w, "state:", 6) == 0) {
			/* a unique prefix of a state name: state:crash */
			for (i = 0, hits = 0, st = -1; i < TOP_ST_NR; i++)
				if (strncmp(top_state_names[i], w + 6,
					    strlen(w + 6)) == 0) {
					hits++;
					st = i;
					if (strcmp(top_state_names[i], w + 6) == 0) {
						hits = 1;
						break;
					}
				}
			if (hits != 1 || w[6] == '\0') {
				snprintf(err, errlen, "%s: not a state (prepared, "
					 "booting, running, paused, shutting-down, "
					 "shutoff, crashed, saving, saved, restoring, "
					 "migrating)", w);
				return -1;
			}
			f->state = st;
		} else if (strncmp(w, "image:", 6) == 0) {
			snprintf(f->image, sizeof(f->image), "%s", w + 6);
		} else {
			snprintf(f->name, sizeof(f->name), "%s", w);
			f->glob = strpbrk(w, "*?[") != NULL;
		}
	}
	return 0;
}

bool top_filter_match(const struct top_filter *f, const struct top_row *r)
{
	if (f->state >= 0 && r->state != f->state)
		return false;
	if (f->image[0] != '\0' && strcmp(f->image, r->image) != 0)
		return false;
	if (f->name[0] == '\0')
		return true;
	if (f->glob)
		return fnmatch(f->name, r->name, 0) == 0;
	return strstr(r->name, f->name) != NULL;
}

int top_model_set_filter(struct top_model *m, const char *text, char *err,
			 size_t errlen)
{
	struct top_filter f;

	if (top_filter_parse(text, &f, err, errlen) < 0)
		return -1;
	m->filter = f;
	snprintf(m->filter_text, sizeof(m->filter_text), "%s", text);
	top_model_view(m);
	return 0;
}

/* ---- the display list and its summary */

void top_model_view(struct top_model *m)
{
	const bool all = m->filter.state < 0 && m->filter.image[0] == '\0' &&
			 m->filter.name[0] == '\0';
	struct top_summary *s = &m->sum;
	const struct top_row *r;
	uint32_t i;

	sort_rows(m);
	memset(s, 0, sizeof(*s));
	m->nshown = 0;
	for (i = 0; i < m->norder; i++) {
		r = &m->rows[m->order[i]];
		if (!all && !top_filter_match(&m->filter, r))
			continue;
		m->shown[m->nshown++] = m->order[i];
		s->by_state[r->state]++;
		s->cpu += r->has_cpu ? r->cpu : 0;
		s->has_cpu |= r->has_cpu;
		s->mem += r->has_rss ? r->rss : r->mem_bytes;
		s->console += r->console;
		s->rx += r->rx;
		s->tx += r->tx;
		s->has_net |= r->has_net;
	}
	s->n = m->nshown;
}
