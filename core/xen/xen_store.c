/*
 * xen_store.c - XenStore mode, for stock PV guests (Linux, Mini-OS) and
 * for measuring what the store costs: the entries a PV guest expects
 * under /local/domain/DOMID (name, domid, memory, console, control, data,
 * device), in one transaction, then the domain introduced to xenstored
 * with its store page and channel.  The console stays served by the agent
 * (console/type is "lightvmd", so xenconsoled leaves it alone).
 *
 * In noxs mode only the names (xen_names_*), when a xenstored runs:
 * /local/domain/DOMID/name and nothing else, so that libxenstat (which
 * skips domains without a name) lists our domains and `xl list` shows
 * them by name.  Nothing here is on the spawn path: the driver queues
 * names and removals, its tick hands them to the names thread below,
 * which writes them in batches; the stats thread takes the libxenstat
 * samples (both modes).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <xenstat.h>
#include <xenstore.h>

#include "xen/xen_drv.h"

int xen_store_open(struct xen_driver *d)
{
	d->xs = xs_open(0);
	return d->xs ? 0 : -errno;
}

void xen_store_close(struct xen_driver *d)
{
	xs_close(d->xs);
	d->xs = NULL;
}

static bool put(struct xs_handle *xs, xs_transaction_t t, const char *dom, const char *key,
		const char *val, struct xs_permissions *perms, unsigned nperms)
{
	char path[128];

	snprintf(path, sizeof(path), "%s%s%s", dom, *key ? "/" : "", key);
	return xs_write(xs, t, path, val, (unsigned)strlen(val)) &&
	       xs_set_permissions(xs, t, path, perms, nperms);
}

/* A stock NIC's entries (Linux's xenbus and netfront read these): the
 * frontend's directory, the guest's to write (state, ring refs, channel),
 * and the backend's, ours, readable by the guest, in InitWait already
 * with what xen_net.c offers. */
static bool put_vif(struct xs_handle *xs, xs_transaction_t t, const struct xen_dom *xd,
		    const uint8_t *mac)
{
	struct xs_permissions fe[2] = { { xd->domid, XS_PERM_NONE }, { 0, XS_PERM_READ } };
	struct xs_permissions be[2] = { { 0, XS_PERM_NONE }, { xd->domid, XS_PERM_READ } };
	char f[80], b[80], id[16], m[24];

	snprintf(f, sizeof(f), "/local/domain/%u/device/vif/0", xd->domid);
	snprintf(b, sizeof(b), "/local/domain/0/backend/vif/%u/0", xd->domid);
	snprintf(id, sizeof(id), "%u", xd->domid);
	snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return put(xs, t, f, "", "", fe, 2) &&
	       put(xs, t, f, "backend", b, fe, 2) &&
	       put(xs, t, f, "backend-id", "0", fe, 2) &&
	       put(xs, t, f, "handle", "0", fe, 2) &&
	       put(xs, t, f, "mac", m, fe, 2) &&
	       put(xs, t, f, "state", "1", fe, 2) &&
	       put(xs, t, b, "", "", be, 2) &&
	       put(xs, t, b, "frontend", f, be, 2) &&
	       put(xs, t, b, "frontend-id", id, be, 2) &&
	       put(xs, t, b, "online", "1", be, 2) &&
	       put(xs, t, b, "handle", "0", be, 2) &&
	       put(xs, t, b, "mac", m, be, 2) &&
	       put(xs, t, b, "type", "vif", be, 2) &&
	       put(xs, t, b, "feature-rx-copy", "1", be, 2) &&
	       put(xs, t, b, "feature-rx-flip", "0", be, 2) &&
	       put(xs, t, b, "feature-sg", "1", be, 2) &&
	       put(xs, t, b, "state", "2", be, 2);
}

int xen_store_add(struct xen_driver *d, const struct xen_dom *xd, const char *name,
		  const uint8_t *mac, char *err, size_t errlen)
{
	struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { xd->domid, XS_PERM_READ } };
	struct xs_permissions rw[1] = { { xd->domid, XS_PERM_NONE } };
	char dom[64], v[3][32];
	xs_transaction_t t;
	bool ok;

	snprintf(dom, sizeof(dom), "/local/domain/%u", xd->domid);
	snprintf(v[0], sizeof(v[0]), "%u", xd->domid);
	snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)(xd->mem >> 10));
	for (int tries = 0; tries < 16; tries++) {
		t = xs_transaction_start(d->xs);
		if (t == XBT_NULL)
			break;
		ok = put(d->xs, t, dom, "", "", ro, 2) &&
		     put(d->xs, t, dom, "name", name, ro, 2) &&
		     put(d->xs, t, dom, "domid", v[0], ro, 2) &&
		     put(d->xs, t, dom, "memory", "", ro, 2) &&
		     put(d->xs, t, dom, "memory/target", v[1], ro, 2) &&
		     put(d->xs, t, dom, "memory/static-max", v[1], ro, 2) &&
		     put(d->xs, t, dom, "console", "", ro, 2) &&
		     put(d->xs, t, dom, "console/type", "lightvmd", ro, 2) &&
		     (snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)xd->console_mfn), 1) &&
		     put(d->xs, t, dom, "console/ring-ref", v[2], ro, 2) &&
		     (snprintf(v[2], sizeof(v[2]), "%u", xd->remote_port), 1) &&
		     put(d->xs, t, dom, "console/port", v[2], ro, 2) &&
		     put(d->xs, t, dom, "control", "", ro, 2) &&
		     put(d->xs, t, dom, "control/shutdown", "", rw, 1) &&
		     put(d->xs, t, dom, "data", "", rw, 1) &&
		     put(d->xs, t, dom, "device", "", ro, 2) &&
		     (!mac || put_vif(d->xs, t, xd, mac));
		if (!ok) {
			xs_transaction_end(d->xs, t, true);
			break;
		}
		if (xs_transaction_end(d->xs, t, false))
			goto introduce;
		if (errno != EAGAIN)
			break;
	}
	snprintf(err, errlen, "writing %s to XenStore: %s", dom, strerror(errno));
	return -EIO;
introduce:
	if (!xs_introduce_domain(d->xs, xd->domid, xd->store_mfn, xd->store_port)) {
		snprintf(err, errlen, "xs_introduce_domain %u: %s", xd->domid, strerror(errno));
		return -EIO;
	}
	if (xd->domid < XEN_MAX_DOMID)
		d->named[xd->domid] = 1;
	return 0;
}

void xen_store_remove(struct xen_driver *d, uint32_t domid)
{
	char dom[64];

	if (!d->xs)
		return;
	if (domid < XEN_MAX_DOMID)
		d->named[domid] = 0;
	snprintf(dom, sizeof(dom), "/local/domain/%u", domid);
	xs_rm(d->xs, XBT_NULL, dom);
	snprintf(dom, sizeof(dom), "/local/domain/0/backend/vif/%u", domid);
	xs_rm(d->xs, XBT_NULL, dom);   /* a stock NIC's backend, if it had one */
}

/* ---- the XenStore threads: names (noxs mode) and libxenstat samples
 *
 * Under load a XenStore round trip is slow (1-15 ms each in the QEMU/TCG
 * testbed, and libxenstat makes one per domain per sample): the agent's
 * loop never waits for one.  The driver queues names and removals (main
 * thread only), its tick hands the queue to the names thread when no
 * spawn burst is on, and takes back what was written (d->named).  Stats
 * ask the stats thread for a sample and take the last finished one.  Two
 * threads, not one: libxenstat's listing loops for as long as 256
 * domains in a row have no name (it restarts at "domains named so far"),
 * and domains are created while a sample runs; the names thread goes on
 * writing the names that end such a loop.  The threads never log and
 * never touch the driver's VMs: everything crosses under xt->mu. */

#define NAMES_PER_TXN 16u

struct xen_name_op {
	uint32_t domid;
	bool ok;                        /* written (set by the thread) */
	char name[LV_VM_NAME_MAX];      /* "": remove /local/domain/DOMID */
};

struct xen_xst {
	pthread_t names_tid, stats_tid;
	bool names_on;                  /* the names thread runs */
	pthread_mutex_t mu;
	pthread_cond_t names_cv, stats_cv;
	bool stop;
	struct xs_handle *xs;           /* names (noxs), or NULL; the thread's */
	/* names: handed over by the tick (todo), written (done) */
	struct xen_name_op *todo, *done;
	unsigned ntodo, captodo, ndone, capdone;
	int err;                        /* errno of the last failed batch */
	/* libxenstat */
	bool want, init_failed;
	xenstat_handle *xst;
	struct xen_stat *res;           /* the last sample, not taken yet */
	unsigned nres, ndoms;
	int64_t taken, cost;            /* when it started, how long it took */
};

static bool names_op(struct xs_handle *xs, xs_transaction_t t, const struct xen_name_op *op)
{
	char path[64];

	if (!op->name[0]) {
		snprintf(path, sizeof(path), "/local/domain/%u", op->domid);
		return xs_rm(xs, t, path) || errno == ENOENT;
	}
	snprintf(path, sizeof(path), "/local/domain/%u/name", op->domid);
	return xs_write(xs, t, path, op->name, (unsigned)strlen(op->name));
}

/* ops[0..n) in queue order, in one transaction (one op: none needed). */
static bool names_batch(struct xs_handle *xs, const struct xen_name_op *ops, unsigned n)
{
	if (n == 1)
		return names_op(xs, XBT_NULL, ops);
	for (int tries = 0; tries < 8; tries++) {
		xs_transaction_t t = xs_transaction_start(xs);
		bool ok = t != XBT_NULL;

		for (unsigned i = 0; ok && i < n; i++)
			ok = names_op(xs, t, &ops[i]);
		if (!ok) {
			int e = errno;

			if (t != XBT_NULL)
				xs_transaction_end(xs, t, true);
			errno = e;
			return false;
		}
		if (xs_transaction_end(xs, t, false))
			return true;
		if (errno != EAGAIN)
			return false;
	}
	return false;
}

static bool grow(void **v, unsigned *cap, unsigned need, size_t size)
{
	unsigned c = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return true;
	while (c < need)
		c *= 2;
	p = realloc(*v, (size_t)c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static void xst_names(struct xen_xst *t)
{
	struct xen_name_op *ops = t->todo;
	unsigned n = t->ntodo;
	int err = 0;

	t->todo = NULL;                 /* ours now; the tick starts a new one */
	t->ntodo = t->captodo = 0;
	pthread_mutex_unlock(&t->mu);
	for (unsigned k = 0; k < n; k += NAMES_PER_TXN) {
		unsigned m = n - k < NAMES_PER_TXN ? n - k : NAMES_PER_TXN;
		bool ok = names_batch(t->xs, ops + k, m);

		if (!ok)
			err = errno ? errno : EIO;
		for (unsigned i = 0; i < m; i++)
			ops[k + i].ok = ok;
	}
	pthread_mutex_lock(&t->mu);
	if (err)
		t->err = err;
	if (grow((void **)&t->done, &t->capdone, t->ndone + n, sizeof(*ops))) {
		memcpy(t->done + t->ndone, ops, n * sizeof(*ops));
		t->ndone += n;
	}
	free(ops);
}

static void xst_sample(struct xen_xst *t)
{
	struct xen_stat *res = NULL;
	unsigned n = 0, nd = 0;
	int64_t t0 = lv_now_ns();
	xenstat_node *node;

	t->want = false;
	pthread_mutex_unlock(&t->mu);
	if (!t->xst)
		t->xst = xenstat_init();
	node = t->xst ? xenstat_get_node(t->xst, 0) : NULL;
	if (node) {
		nd = xenstat_node_num_domains(node);
		res = calloc(nd ? nd : 1, sizeof(*res));
		for (unsigned i = 0; res && i < nd; i++) {
			xenstat_domain *dom = xenstat_node_domain_by_index(node, i);

			if (!dom)
				continue;
			res[n].domid = xenstat_domain_id(dom);
			res[n].cpu_ns = xenstat_domain_cpu_ns(dom);
			res[n].pages = xenstat_domain_cur_mem(dom) / XC_PAGE_SIZE;
			n++;
		}
		xenstat_free_node(node);
	}
	pthread_mutex_lock(&t->mu);
	t->init_failed = !t->xst;
	if (res) {
		free(t->res);
		t->res = res;
		t->nres = n;
		t->ndoms = nd;
		t->taken = t0;
		t->cost = lv_now_ns() - t0;
	}
}

static void *names_main(void *arg)
{
	struct xen_xst *t = arg;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		if (t->ntodo)
			xst_names(t);   /* even when stopping: the last names */
		else if (t->stop)
			break;
		else
			pthread_cond_wait(&t->names_cv, &t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static void *stats_main(void *arg)
{
	struct xen_xst *t = arg;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		if (t->stop)
			break;
		else if (t->want)
			xst_sample(t);
		else
			pthread_cond_wait(&t->stats_cv, &t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int xen_xst_start(struct xen_driver *d, bool names)
{
	struct xen_xst *t = calloc(1, sizeof(*t));
	sigset_t all, old;
	int rc;

	if (!t)
		return -ENOMEM;
	if (names) {
		errno = 0;
		t->xs = xs_open(0);
		if (!t->xs) {
			rc = errno ? -errno : -EIO;
			free(t);
			return rc;
		}
	}
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->names_cv, NULL);
	pthread_cond_init(&t->stats_cv, NULL);
	sigfillset(&all);                 /* signals stay the loop's */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&t->stats_tid, NULL, stats_main, t);
	if (!rc && names) {
		rc = -pthread_create(&t->names_tid, NULL, names_main, t);
		if (rc) {
			pthread_mutex_lock(&t->mu);
			t->stop = true;
			pthread_cond_signal(&t->stats_cv);
			pthread_mutex_unlock(&t->mu);
			pthread_join(t->stats_tid, NULL);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		if (t->xs)
			xs_close(t->xs);
		free(t);
		return rc;
	}
	t->names_on = names;
	d->xt = t;
	d->names = names;
	return 0;
}

/* What the thread wrote: names in d->named; failures in the log. */
static void names_done(struct xen_driver *d)
{
	struct xen_xst *t = d->xt;
	struct xen_name_op *done;
	unsigned n, failed = 0;
	int err;

	pthread_mutex_lock(&t->mu);
	done = t->done;
	n = t->ndone;
	err = t->err;
	t->done = NULL;
	t->ndone = t->capdone = 0;
	pthread_mutex_unlock(&t->mu);
	for (unsigned i = 0; i < n; i++) {
		if (done[i].ok)
			d->named[done[i].domid] = done[i].name[0] != 0;
		else
			failed++;
	}
	free(done);
	if (n > failed)
		lv__log(d->h, LV_LOG_DEBUG, "xen: %u domain names written to (or removed from) XenStore",
			n - failed);
	/* those domains stay nameless: their stats come from the domain scan */
	if (failed && (!d->names_warned || lv_now_ns() - d->names_warned >= 10000000000ll)) {
		d->names_warned = lv_now_ns();
		lv__log(d->h, LV_LOG_WARN, "xen: %u domain names not written to XenStore: %s",
			failed, strerror(err));
	}
}

void xen_names_tick(struct xen_driver *d, bool go)
{
	struct xen_xst *t = d->xt;

	if (!t || !d->names)
		return;
	names_done(d);
	if (!go || !d->names_n)
		return;
	pthread_mutex_lock(&t->mu);
	if (grow((void **)&t->todo, &t->captodo, t->ntodo + d->names_n, sizeof(*t->todo))) {
		memcpy(t->todo + t->ntodo, d->names_q, d->names_n * sizeof(*d->names_q));
		t->ntodo += d->names_n;
		d->names_n = 0;
		pthread_cond_signal(&t->names_cv);
	}
	pthread_mutex_unlock(&t->mu);
}

static void names_queue(struct xen_driver *d, uint32_t domid, const char *name)
{
	struct xen_name_op *op;

	if (!d->names || !domid || domid >= XEN_MAX_DOMID)
		return;
	if (!grow((void **)&d->names_q, &d->names_cap, d->names_n + 1, sizeof(*op)))
		return;   /* no name: its stats come from the domain scan */
	if (!d->names_n)
		d->names_since = lv_now_ns();
	op = &d->names_q[d->names_n++];
	op->domid = domid;
	op->ok = false;
	snprintf(op->name, sizeof(op->name), "%s", name);
}

void xen_names_set(struct xen_driver *d, uint32_t domid, const char *name)
{
	names_queue(d, domid, *name ? name : "?");
}

void xen_names_forget(struct xen_driver *d, uint32_t domid)
{
	if (domid < XEN_MAX_DOMID)
		d->named[domid] = 0;
	names_queue(d, domid, "");
}

struct xen_stat *xen_xst_poll(struct xen_driver *d, bool want, unsigned *n, unsigned *ndoms,
			      int64_t *taken, int64_t *cost, bool *init_failed)
{
	struct xen_xst *t = d->xt;
	struct xen_stat *res;

	if (!t)
		return NULL;
	pthread_mutex_lock(&t->mu);
	res = t->res;
	*n = t->nres;
	*ndoms = t->ndoms;
	*taken = t->taken;
	*cost = t->cost;
	*init_failed = t->init_failed;
	t->res = NULL;
	if (want && !t->want) {
		t->want = true;
		pthread_cond_signal(&t->stats_cv);
	}
	pthread_mutex_unlock(&t->mu);
	return res;
}

void xen_xst_stop(struct xen_driver *d)
{
	struct xen_xst *t = d->xt;
	struct timespec until;

	if (!t)
		return;
	xen_names_tick(d, true);        /* the last names are written before it ends */
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->names_cv);
	pthread_cond_signal(&t->stats_cv);
	pthread_mutex_unlock(&t->mu);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if ((t->names_on && pthread_timedjoin_np(t->names_tid, NULL, &until)) ||
	    pthread_timedjoin_np(t->stats_tid, NULL, &until)) {
		/* xenstored does not answer: leave the threads behind (the
		 * agent is ending; a new one names its VMs again) */
		lv__log(d->h, LV_LOG_WARN, "xen: the XenStore threads did not end within 5 s (xenstored stuck?)");
		d->xt = NULL;
		d->names = false;
		return;
	}
	if (d->names)
		names_done(d);
	if (t->xs)
		xs_close(t->xs);
	if (t->xst)
		xenstat_uninit(t->xst);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->names_cv);
	pthread_cond_destroy(&t->stats_cv);
	free(t->todo);
	free(t->done);
	free(t->res);
	free(t);
	d->xt = NULL;
	d->names = false;
	free(d->names_q);
	d->names_q = NULL;
	d->names_n = d->names_cap = 0;
}

/* ---- the vif thread (XenStore mode): stock netfronts' handshakes
 *
 * One watch per stock NIC, on its frontend's state node (token
 * "lv-vif:DOMID:GEN").  When it fires the thread reads what the frontend
 * wrote (xen_netfront: bounded strings, nothing interpreted) and reports
 * it through an eventfd the agent's loop watches; the loop checks the
 * values and connects (xen_net_front).  Backend states are written here,
 * in the order they were asked for, and only while the backend's
 * directory exists (a destroyed domain's is not brought back).  The
 * thread never logs and never touches the driver's VMs. */

enum { VIF_WATCH, VIF_UNWATCH, VIF_STATE };

struct vif_op {
	int what;
	uint32_t domid;
	unsigned gen;
	int state;
};

struct xen_vifw {
	pthread_t tid;
	pthread_mutex_t mu;
	bool stop;
	struct xs_handle *xs;           /* the thread's */
	int wake;                       /* eventfd: work queued */
	int ready;                      /* eventfd: reports (the agent's loop watches it) */
	struct vif_op *ops;             /* queued by the loop */
	unsigned nops, capops;
	struct xen_netfront *rep;       /* reports, not taken yet */
	unsigned nrep, caprep;
	uint64_t dropped;               /* reports lost to a full queue (then read again) */
};

#define VIF_REPORTS_MAX 4096u       /* reports not taken yet; more wait for the next change */

static void poke(int fd)                /* an eventfd's counter full: it is readable anyway */
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));

	(void)r;
}

static void drain(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));

	(void)r;
}

static void vif_path(char *buf, size_t len, uint32_t domid, const char *key)
{
	snprintf(buf, len, "/local/domain/%u/device/vif/0/%s", domid, key);
}

static void vif_read(struct xs_handle *xs, struct xen_netfront *f)
{
	static const char *const key[XEN_NF_KEYS] = {
		"state", "tx-ring-ref", "rx-ring-ref", "event-channel", "request-rx-copy" };
	static const char *const unoffered[] = { "event-channel-tx", "multi-queue-num-queues" };
	char path[96];

	for (unsigned i = 0; i < XEN_NF_KEYS; i++) {
		unsigned len = 0;
		char *v;

		vif_path(path, sizeof(path), f->domid, key[i]);
		v = xs_read(xs, XBT_NULL, path, &len);
		if (!v)
			continue;
		f->have |= 1u << i;
		if (len >= sizeof(f->val[i]) || memchr(v, 0, len))
			f->toolong |= 1u << i;
		else
			memcpy(f->val[i], v, len);   /* val[i] is zeroed: terminated */
		free(v);
		if (i == 0 && strcmp(f->val[0], "3") && strcmp(f->val[0], "4"))
			return;                 /* the rest matters only to connect */
	}
	for (unsigned i = 0; i < sizeof(unoffered) / sizeof(unoffered[0]); i++) {
		unsigned len;
		char *v;

		vif_path(path, sizeof(path), f->domid, unoffered[i]);
		v = xs_read(xs, XBT_NULL, path, &len);
		f->unoffered |= v != NULL;
		free(v);
	}
}

static void vif_state(struct xs_handle *xs, uint32_t domid, int state)
{
	char path[96], v[8];

	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/0/state", domid);
	snprintf(v, sizeof(v), "%d", state);
	for (int tries = 0; tries < 8; tries++) {
		xs_transaction_t t = xs_transaction_start(xs);
		unsigned len;
		char *old;

		if (t == XBT_NULL)
			return;
		old = xs_read(xs, t, path, &len);
		if (!old) {             /* the domain is gone */
			xs_transaction_end(xs, t, true);
			return;
		}
		free(old);
		if (!xs_write(xs, t, path, v, (unsigned)strlen(v))) {
			xs_transaction_end(xs, t, true);
			return;
		}
		if (xs_transaction_end(xs, t, false) || errno != EAGAIN)
			return;
	}
}

static void vif_op_run(struct xen_vifw *w, const struct vif_op *op)
{
	char path[96], token[48];

	vif_path(path, sizeof(path), op->domid, "state");
	snprintf(token, sizeof(token), "lv-vif:%u:%u", op->domid, op->gen);
	switch (op->what) {
	case VIF_WATCH:     /* it fires once at once: the state as it is */
		xs_watch(w->xs, path, token);
		break;
	case VIF_UNWATCH:
		xs_unwatch(w->xs, path, token);
		break;
	case VIF_STATE:
		vif_state(w->xs, op->domid, op->state);
		break;
	}
}

static void vif_report(struct xen_vifw *w, uint32_t domid, unsigned gen)
{
	struct xen_netfront f = { .domid = domid, .gen = gen };

	vif_read(w->xs, &f);
	pthread_mutex_lock(&w->mu);
	if (w->nrep < VIF_REPORTS_MAX &&
	    grow((void **)&w->rep, &w->caprep, w->nrep + 1, sizeof(*w->rep)))
		w->rep[w->nrep++] = f;
	else
		w->dropped++;
	pthread_mutex_unlock(&w->mu);
	poke(w->ready);
}

static void *vif_main(void *arg)
{
	struct xen_vifw *w = arg;
	struct pollfd p[2] = { { .fd = w->wake, .events = POLLIN },
			       { .fd = xs_fileno(w->xs), .events = POLLIN } };

	for (;;) {
		struct vif_op *ops;
		unsigned n;
		bool stop;
		char **ev;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			drain(w->wake);
		pthread_mutex_lock(&w->mu);
		ops = w->ops;
		n = w->nops;
		stop = w->stop;
		w->ops = NULL;
		w->nops = w->capops = 0;
		pthread_mutex_unlock(&w->mu);
		for (unsigned i = 0; i < n; i++)
			vif_op_run(w, &ops[i]);
		free(ops);
		if (stop)
			break;
		while ((ev = xs_check_watch(w->xs))) {
			unsigned domid, gen;
			char end;

			if (sscanf(ev[XS_WATCH_TOKEN], "lv-vif:%u:%u%c", &domid, &gen, &end) == 2 &&
			    domid && domid < XEN_MAX_DOMID)
				vif_report(w, domid, gen);
			free(ev);
		}
	}
	return NULL;
}

int xen_vifw_start(struct xen_driver *d)
{
	struct xen_vifw *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int rc = -ENOMEM;

	if (!w)
		return rc;
	w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->ready = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	errno = 0;
	w->xs = xs_open(0);
	if (w->wake < 0 || w->ready < 0 || !w->xs || xs_fileno(w->xs) < 0) {
		rc = errno ? -errno : -EIO;
		goto fail;
	}
	pthread_mutex_init(&w->mu, NULL);
	sigfillset(&all);                 /* signals stay the loop's */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&w->tid, NULL, vif_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	d->vw = w;
	return 0;
fail:
	if (w->xs)
		xs_close(w->xs);
	if (w->wake >= 0)
		close(w->wake);
	if (w->ready >= 0)
		close(w->ready);
	free(w);
	return rc;
}

int xen_vifw_fd(struct xen_driver *d)
{
	return d->vw ? d->vw->ready : -1;
}

static void vif_queue(struct xen_driver *d, const struct vif_op *op)
{
	struct xen_vifw *w = d->vw;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	if (grow((void **)&w->ops, &w->capops, w->nops + 1, sizeof(*op)))
		w->ops[w->nops++] = *op;
	pthread_mutex_unlock(&w->mu);
	poke(w->wake);
}

void xen_vifw_watch(struct xen_driver *d, uint32_t domid, unsigned gen, bool on)
{
	vif_queue(d, &(struct vif_op){ on ? VIF_WATCH : VIF_UNWATCH, domid, gen, 0 });
}

void xen_vifw_state(struct xen_driver *d, uint32_t domid, unsigned gen, int state)
{
	vif_queue(d, &(struct vif_op){ VIF_STATE, domid, gen, state });
}

struct xen_netfront *xen_vifw_take(struct xen_driver *d, unsigned *n)
{
	struct xen_vifw *w = d->vw;
	struct xen_netfront *r;

	*n = 0;
	if (!w)
		return NULL;
	drain(w->ready);
	pthread_mutex_lock(&w->mu);
	r = w->rep;
	*n = w->nrep;
	w->rep = NULL;
	w->nrep = w->caprep = 0;
	pthread_mutex_unlock(&w->mu);
	return r;
}

void xen_vifw_stop(struct xen_driver *d)
{
	struct xen_vifw *w = d->vw;
	struct timespec until;

	if (!w)
		return;
	d->vw = NULL;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_mutex_unlock(&w->mu);
	poke(w->wake);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_timedjoin_np(w->tid, NULL, &until)) {
		lv__log(d->h, LV_LOG_WARN, "xen: the vif thread did not end within 5 s (xenstored stuck?)");
		return;                 /* left behind: the agent is ending */
	}
	xs_close(w->xs);
	close(w->wake);
	close(w->ready);
	pthread_mutex_destroy(&w->mu);
	free(w->ops);
	free(w->rep);
	free(w);
}
