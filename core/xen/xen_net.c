/*
 * xen_net.c - the agent as netif backend of a Xen guest's NIC: a tap on
 * the host bridge per VM (core/hostnet.c), the guest's tx and rx rings
 * mapped with libxengnttab once the guest connects, frame data moved with
 * grant copies (no buffer is ever mapped).  Two handshakes, one data
 * path: LightVM's own guests (lightvm_abi.h, "Network device (Xen PV)")
 * say "connected" on their device page and share the VM's one event
 * channel; stock PV guests (Linux's xen-netfront, XenStore mode) go
 * through the standard XenStore handshake (below, "XenStore"), with a
 * channel of their own.  The tap belongs to the VM, not to the domain: it
 * outlives a reboot (new domain, new rings).
 *
 * Everything the guest writes is read once and checked: ring indexes
 * (io/ring.h overflow rule), request sizes and offsets, flags (no extra
 * info is offered; a stock frontend's frame may span up to 18 requests,
 * NETTXF_more_data), the XenStore values.  A violation ends the VM
 * crashed with the reason; a grant that does not copy is answered with
 * an error status and counted.  Tx is policed like on KVM
 * (lv__tx_police): own source MAC, rate limits.  A frame that finds no
 * posted rx buffer is dropped, as a full NIC would.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "xen/xen_drv.h"
#include "hostnet.h"
#include <xengnttab.h>
#include <xen/grant_table.h>
#include <xen/io/netif.h>
#include <xen/io/xenbus.h>

#define BATCH       64u                 /* frames per grant-copy call */
#define MAX_SLOTS   XEN_NETIF_NR_SLOTS_MIN  /* requests per tx frame (18, as netback) */
#define BATCH_SLOTS (BATCH * 4u)        /* requests per batch; a frame starts if MAX_SLOTS fit */
#define FRONT_BURST 64                  /* frontend state reports per VM: a burst of 64, */
#define FRONT_RATE  16                  /* then 16 a second */
#define RX_ROUNDS   4u                  /* batches per tap wake-up */
#define TX_ROUNDS   8u                  /* batches per event */

_Static_assert(__CONST_RING_SIZE(netif_tx, XC_PAGE_SIZE) == 256 &&
	       __CONST_RING_SIZE(netif_rx, XC_PAGE_SIZE) == 256, "the guest's ring size (guest/xen/xen_pv.h)");

struct xen_net {
	struct xen_driver *d;
	struct lv_vm *vm;
	int tap;
	bool xs;                          /* a stock netfront: the XenStore handshake */
	/* the current domain (0: none) and its rings */
	uint32_t domid;
	int local_port;                   /* where we notify: the VM's one channel (device
					   * page), or the frontend's, bound by us (XenStore) */
	volatile struct lv_dev *dev;      /* device page: our entry on the mapped page */
	unsigned gen;                     /* XenStore: the watch on this domain's frontend */
	int bstate;                       /* XenStore: the backend state written last */
	int64_t front_t;                  /* XenStore: the frontend's report budget, */
	int64_t front_tok;                /* tokens (ns) left at front_t */
	void *rings;                      /* tx page, rx page (mapped grants) */
	netif_tx_back_ring_t tx;
	netif_rx_back_ring_t rx;
	struct lv_tx_police police;
	uint64_t rx_pkts, rx_bytes, rx_drop, tx_pkts, tx_bytes, tx_drop, copy_err;
};

/* scratch for one batch (the agent's loop is single threaded) */
struct tx_frame {
	unsigned slot, nslots;       /* its requests in txq[] */
	unsigned seg, nseg;          /* its grant copies in segs[] */
	uint16_t len;
	bool csum, big;              /* NETTXF_csum_blank; larger than our MTU */
};
static uint8_t frames[BATCH][2048];
static xengnttab_grant_copy_segment_t segs[BATCH_SLOTS];
static union { netif_tx_request_t tx; netif_rx_request_t rx; } reqs[BATCH];
static netif_tx_request_t txq[BATCH_SLOTS];
static struct tx_frame fr[BATCH];

static void fault(struct xen_net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fault(struct xen_net *n, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	xen_vm_fault(n->d, n->vm, why);   /* frees n */
}

/* ---- host -> guest: frames from the tap into posted rx buffers */

static void tap_cb(void *arg, int fd, uint32_t events)
{
	struct xen_net *n = arg;
	bool notify = false;

	for (unsigned round = 0; round < RX_ROUNDS; round++) {
		RING_IDX prod, avail;
		unsigned k = 0;
		int notify_now = 0;

		if (!n->rings) {              /* not connected: a NIC without buffers */
			if (read(fd, frames[0], sizeof(frames[0])) > 0) {
				n->rx_drop++;
				continue;
			}
			break;
		}
		prod = __atomic_load_n(&n->rx.sring->req_prod, __ATOMIC_ACQUIRE);
		if (RING_REQUEST_PROD_OVERFLOW(&n->rx, prod)) {
			fault(n, "net: rx ring corrupt (req_prod %u, backend at %u)", prod, n->rx.rsp_prod_pvt);
			return;
		}
		avail = prod - n->rx.req_cons;
		while (k < BATCH) {
			ssize_t m = read(fd, frames[k], sizeof(frames[k]));

			if (m <= 0)
				break;
			if (m < 14 || m > LV_NET_FRAME_MAX || !avail) {
				n->rx_drop++;
				continue;
			}
			RING_COPY_REQUEST(&n->rx, n->rx.req_cons, &reqs[k].rx);
			n->rx.req_cons++;
			avail--;
			segs[k] = (xengnttab_grant_copy_segment_t){
				.source.virt = frames[k],
				.dest.foreign = { .ref = reqs[k].rx.gref, .offset = 0, .domid = (uint16_t)n->domid },
				.len = (uint16_t)m, .flags = GNTCOPY_dest_gref };
			k++;
		}
		if (!k)
			break;
		if (xengnttab_grant_copy(n->d->xgt, k, segs))
			for (unsigned i = 0; i < k; i++)
				segs[i].status = GNTST_general_error;
		for (unsigned i = 0; i < k; i++) {
			netif_rx_response_t *rsp = RING_GET_RESPONSE(&n->rx, n->rx.rsp_prod_pvt);

			rsp->id = reqs[i].rx.id;
			rsp->offset = 0;
			rsp->flags = 0;
			if (segs[i].status == GNTST_okay) {
				rsp->status = (int16_t)segs[i].len;
				n->rx_pkts++;
				n->rx_bytes += segs[i].len;
			} else {
				rsp->status = NETIF_RSP_ERROR;
				n->copy_err++;
			}
			n->rx.rsp_prod_pvt++;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&n->rx, notify_now);
		notify |= notify_now;
		if (k < BATCH)
			break;
	}
	if (notify)
		xenevtchn_notify(n->d->xce, (evtchn_port_t)n->local_port);
}

/* ---- guest -> host: the tx ring */

/* NETTXF_csum_blank (Linux's CHECKSUM_PARTIAL): the guest left the TCP
 * or UDP checksum of an IPv4 packet to the backend.  Filled in here from
 * the headers (the pseudo-header sum the guest may have put there is not
 * trusted); false for anything else (no checksum to fill: dropped). */
static bool csum_fill(uint8_t *f, unsigned len)
{
	const uint8_t *ip = f + 14;
	unsigned ihl, tot, l4, at;
	uint8_t *p;
	uint32_t s;

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4)
		return false;
	ihl = (ip[0] & 0xfu) * 4;
	tot = (unsigned)ip[2] << 8 | ip[3];
	if (ihl < 20 || tot < ihl || 14 + tot > len || (ip[6] & 0x3f) || ip[7])
		return false;              /* a fragment has no checksum of its own */
	l4 = tot - ihl;
	p = f + 14 + ihl;
	if (ip[9] == 6 && l4 >= 20)
		at = 16;
	else if (ip[9] == 17 && l4 >= 8)
		at = 6;
	else
		return false;
	p[at] = p[at + 1] = 0;
	s = (uint32_t)ip[9] + l4;
	for (unsigned i = 12; i < 20; i += 2)
		s += (uint32_t)ip[i] << 8 | ip[i + 1];
	for (unsigned i = 0; i < l4; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < l4 ? p[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	s = ~s & 0xffff;
	if (ip[9] == 17 && !s)
		s = 0xffff;
	p[at] = (uint8_t)(s >> 8);
	p[at + 1] = (uint8_t)s;
	return true;
}

/* Take one frame's requests off the tx ring into q[]: the first request
 * and those its NETTXF_more_data flags chain to (stock netfront only;
 * the first carries the frame's size, the others their own).  Returns
 * the number of requests, 0 if the chain is not all posted yet (nothing
 * taken), -EPROTO if the guest broke the protocol (it has been crashed). */
static int tx_chain(struct xen_net *n, RING_IDX prod, netif_tx_request_t *q)
{
	RING_IDX avail = prod - n->tx.req_cons;
	unsigned m = 0, rest = 0;

	do {
		if (m == avail)
			return 0;
		if (m == MAX_SLOTS) {
			fault(n, "net: a tx frame of more than %u requests", MAX_SLOTS);
			return -EPROTO;
		}
		RING_COPY_REQUEST(&n->tx, n->tx.req_cons + m, &q[m]);
		if ((q[m].flags & NETTXF_extra_info) || (!n->xs && (q[m].flags & NETTXF_more_data))) {
			fault(n, "net: tx request %u has %s (flags 0x%x): not offered", q[m].id,
			      q[m].flags & NETTXF_extra_info ? "extra info" : "fragments", q[m].flags);
			return -EPROTO;
		}
		if (q[m].offset + (unsigned)q[m].size > XC_PAGE_SIZE) {
			fault(n, "net: bad tx request %u: %u bytes at offset %u (past its page)",
			      q[m].id, q[m].size, q[m].offset);
			return -EPROTO;
		}
		if (m)
			rest += q[m].size;
	} while (q[m++].flags & NETTXF_more_data);
	if (rest > q[0].size || q[0].size < LV_NET_FRAME_MIN) {
		fault(n, "net: bad tx request %u: a frame of %u bytes in %u requests carrying %u more "
		      "(frames are %u..%u bytes)", q[0].id, q[0].size, m, rest, LV_NET_FRAME_MIN,
		      LV_NET_FRAME_MAX);
		return -EPROTO;
	}
	if (!n->xs && q[0].size > LV_NET_FRAME_MAX) {
		fault(n, "net: bad tx request %u: %u bytes at offset %u (frames are %u..%u bytes inside one page)",
		      q[0].id, q[0].size, q[0].offset, LV_NET_FRAME_MIN, LV_NET_FRAME_MAX);
		return -EPROTO;
	}
	n->tx.req_cons += m;
	return (int)m;
}

static int tx_run(struct xen_net *n)
{
	bool notify = false;

	for (unsigned round = 0; round < TX_ROUNDS; round++) {
		RING_IDX prod = __atomic_load_n(&n->tx.sring->req_prod, __ATOMIC_ACQUIRE);
		unsigned k = 0, ns = 0, nseg = 0;
		int more = 0, notify_now = 0;

		if (RING_REQUEST_PROD_OVERFLOW(&n->tx, prod)) {
			fault(n, "net: tx ring corrupt (req_prod %u, backend at %u)", prod, n->tx.rsp_prod_pvt);
			return -EPROTO;
		}
		while (n->tx.req_cons != prod && k < BATCH && ns + MAX_SLOTS <= BATCH_SLOTS) {
			netif_tx_request_t *q = &txq[ns];
			int m = tx_chain(n, prod, q);
			unsigned off = 0, rest = 0;

			if (m < 0)
				return m;
			if (!m)
				break;                /* the rest of the chain comes later */
			for (int i = 1; i < m; i++)
				rest += q[i].size;
			fr[k] = (struct tx_frame){ .slot = ns, .nslots = (unsigned)m, .seg = nseg,
						   .len = q[0].size, .csum = (q[0].flags & NETTXF_csum_blank) != 0,
						   .big = q[0].size > LV_NET_FRAME_MAX };
			for (int i = 0; i < m && !fr[k].big; i++) {
				unsigned len = i ? q[i].size : q[0].size - rest;

				if (!len)
					continue;
				segs[nseg++] = (xengnttab_grant_copy_segment_t){
					.source.foreign = { .ref = q[i].gref, .offset = q[i].offset,
							    .domid = (uint16_t)n->domid },
					.dest.virt = frames[k] + off, .len = (uint16_t)len,
					.flags = GNTCOPY_source_gref };
				off += len;
			}
			fr[k].nseg = nseg - fr[k].seg;
			ns += (unsigned)m;
			k++;
		}
		if (!k) {
			RING_FINAL_CHECK_FOR_REQUESTS(&n->tx, more);
			if (more && n->tx.req_cons != prod)
				break;                /* a chain not all posted: its last part notifies */
			if (more)
				continue;
			break;
		}
		if (nseg && xengnttab_grant_copy(n->d->xgt, nseg, segs))
			for (unsigned i = 0; i < nseg; i++)
				segs[i].status = GNTST_general_error;
		lv__tx_police_refill(&n->police);
		for (unsigned i = 0; i < k; i++) {
			int16_t st = NETIF_RSP_OKAY;
			bool copied = true;

			for (unsigned j = 0; j < fr[i].nseg; j++)
				copied &= segs[fr[i].seg + j].status == GNTST_okay;
			if (fr[i].big) {             /* a guest MTU above ours */
				st = NETIF_RSP_ERROR;
				n->tx_drop++;
			} else if (!copied) {
				st = NETIF_RSP_ERROR;
				n->copy_err++;
			} else if ((fr[i].csum && !csum_fill(frames[i], fr[i].len)) ||
				   !lv__tx_police_allow(&n->police, frames[i], fr[i].len) ||
				   write(n->tap, frames[i], fr[i].len) != fr[i].len) {
				st = NETIF_RSP_DROPPED;
				n->tx_drop++;
			} else {
				n->tx_pkts++;
				n->tx_bytes += fr[i].len;
			}
			for (unsigned j = 0; j < fr[i].nslots; j++) {
				netif_tx_response_t *rsp = RING_GET_RESPONSE(&n->tx, n->tx.rsp_prod_pvt);

				rsp->id = txq[fr[i].slot + j].id;
				rsp->status = st;
				n->tx.rsp_prod_pvt++;
			}
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&n->tx, notify_now);
		notify |= notify_now;
	}
	if (notify)
		xenevtchn_notify(n->d->xce, (evtchn_port_t)n->local_port);
	return 0;
}

/* ---- the connection */

static int connect_rings(struct xen_net *n, uint32_t tx_ref, uint32_t rx_ref)
{
	uint32_t refs[2] = { tx_ref, rx_ref };
	netif_tx_sring_t *txs;
	netif_rx_sring_t *rxs;

	n->rings = xengnttab_map_domain_grant_refs(n->d->xgt, 2, n->domid, refs,
						   PROT_READ | PROT_WRITE);
	if (!n->rings) {
		fault(n, "net: cannot map the guest's rings (grant refs %u, %u): %s",
		      refs[0], refs[1], strerror(errno));
		return -EPROTO;
	}
	txs = n->rings;
	rxs = (netif_rx_sring_t *)((uint8_t *)n->rings + XC_PAGE_SIZE);
	/* from where the rings are: 0 for a new guest, the last responses
	 * for one a restarted agent finds running */
	BACK_RING_ATTACH(&n->tx, txs, txs->rsp_prod, XC_PAGE_SIZE);
	BACK_RING_ATTACH(&n->rx, rxs, rxs->rsp_prod, XC_PAGE_SIZE);
	lv__log(n->d->h, LV_LOG_DEBUG, "%s: net: connected (domain %u, rings %u/%u%s)",
		n->vm->info.name, n->domid, refs[0], refs[1], n->xs ? ", XenStore" : "");
	return 0;
}

int xen_net_event(struct xen_net *n)
{
	if (!n)
		return 0;
	if (!n->rings) {
		if (n->xs || !n->dev ||
		    __atomic_load_n(&n->dev->u.net.state, __ATOMIC_ACQUIRE) != LV_XNET_CONNECTED)
			return 0;
		if (connect_rings(n, n->dev->u.net.tx_ref, n->dev->u.net.rx_ref))
			return -EPROTO;
	}
	return tx_run(n);
}

/* ---- XenStore: a stock netfront (Linux's xen-netfront)
 *
 * The entries are written with the domain's (xen_store_add): the
 * frontend's device/vif/0 (backend, backend-id, handle, mac, state) and
 * our backend directory, already in InitWait with what we offer:
 * feature-rx-copy (the only receive mode), feature-sg (tx frames in
 * several requests: Linux needs them anyway, a frame's head may cross a
 * page), nothing else (no GSO, no split channels, no queues, no
 * multicast control).  The XenStore thread (xen_store.c) watches the
 * frontend's state and reads what it wrote; here, on the agent's loop,
 * those strings are checked and the rings mapped, the frontend's
 * channel bound, the backend state moved on (written by the thread). */

/* A decimal number of at most 10 digits, <= max. */
static int parse_u32(const char *v, uint32_t max, uint32_t *out)
{
	uint64_t x = 0;
	unsigned i;

	for (i = 0; v[i]; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (!i || x > max)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

int xen_netfront_parse(const struct xen_netfront *f, struct xen_netfront_vals *v,
		       char *err, size_t errlen)
{
	static const char *const key[XEN_NF_KEYS] = {
		"state", "tx-ring-ref", "rx-ring-ref", "event-channel", "request-rx-copy" };
	static const uint32_t max[XEN_NF_KEYS] = {
		XenbusStateReconfigured, XEN_NF_MAX_GREF, XEN_NF_MAX_GREF, XEN_NF_MAX_PORT, 1 };
	uint32_t x[XEN_NF_KEYS] = { 0 };

	memset(v, 0, sizeof(*v));
	for (unsigned i = 0; i < XEN_NF_KEYS; i++) {
		if (!(f->have & (1u << i)))
			continue;
		if ((f->toolong & (1u << i)) || memchr(f->val[i], 0, sizeof(f->val[i])) == NULL ||
		    parse_u32(f->val[i], max[i], &x[i])) {
			char shown[sizeof(f->val[0]) + 1];
			unsigned j;

			for (j = 0; j < sizeof(f->val[i]) && f->val[i][j]; j++)
				shown[j] = f->val[i][j] >= 0x20 && f->val[i][j] < 0x7f ? f->val[i][j] : '?';
			shown[j] = 0;
			snprintf(err, errlen, "%s '%s%s' is not a number up to %u", key[i], shown,
				 (f->toolong & (1u << i)) ? "..." : "", max[i]);
			return -EINVAL;
		}
	}
	v->state = f->have & 1u ? (int)x[0] : -1;
	v->tx_ref = x[1];
	v->rx_ref = x[2];
	v->evtchn = x[3];
	v->rx_copy = x[4] == 1;
	v->have_rings = (f->have & 0xeu) == 0xeu;
	v->unoffered = f->unoffered;
	return 0;
}

static void set_state(struct xen_net *n, int state)
{
	n->bstate = state;
	xen_vifw_state(n->d, n->domid, n->gen, state);
}

/* The frontend's rings and channel go (it closes, starts over, or the
 * domain goes). */
static void disconnect(struct xen_net *n)
{
	if (n->rings)
		xengnttab_unmap(n->d->xgt, n->rings, 2);
	n->rings = NULL;
	if (n->xs && n->local_port >= 0) {
		xen_vm_port(n->d, n->vm, n->local_port, false);
		xenevtchn_unbind(n->d->xce, (evtchn_port_t)n->local_port);
		n->local_port = -1;
	}
}

int xen_net_front(struct xen_net *n, const struct xen_netfront *f)
{
	struct xen_netfront_vals v;
	int64_t now = lv_now_ns();
	char why[160];
	int port;

	if (!n || !n->xs || !n->domid || f->domid != n->domid || f->gen != n->gen)
		return 0;                     /* an old domain's, or an old watch's */
	/* a token bucket of reports (each a few XenStore reads for the
	 * vif thread): FRONT_BURST, refilled at FRONT_RATE a second */
	n->front_tok += (now - n->front_t) * FRONT_RATE;
	if (n->front_tok > FRONT_BURST * 1000000000ll)
		n->front_tok = FRONT_BURST * 1000000000ll;
	n->front_t = now;
	n->front_tok -= 1000000000ll;
	if (n->front_tok < 0) {
		fault(n, "netfront: more than %d state changes at over %d a second", FRONT_BURST, FRONT_RATE);
		return -EPROTO;
	}
	if (xen_netfront_parse(f, &v, why, sizeof(why))) {
		fault(n, "netfront: device/vif/0/%s", why);
		return -EPROTO;
	}
	switch (v.state) {
	case XenbusStateInitialising:        /* a (new) driver starts */
		disconnect(n);
		if (n->bstate != XenbusStateInitWait)
			set_state(n, XenbusStateInitWait);
		return 0;
	case XenbusStateInitialised:
	case XenbusStateConnected:
		if (n->rings)
			return 0;
		if (!v.have_rings) {
			fault(n, "netfront: state %d without tx-ring-ref, rx-ring-ref and event-channel",
			      v.state);
			return -EPROTO;
		}
		if (!v.rx_copy || v.unoffered) {
			fault(n, "netfront: %s", !v.rx_copy ? "no request-rx-copy (the only receive mode offered)" :
			      "split event channels or several queues: not offered");
			return -EPROTO;
		}
		port = xenevtchn_bind_interdomain(n->d->xce, n->domid, v.evtchn);
		if (port < 0) {
			fault(n, "netfront: cannot bind its event channel %u: %s", v.evtchn, strerror(errno));
			return -EPROTO;
		}
		n->local_port = port;
		if (xen_vm_port(n->d, n->vm, port, true)) {
			fault(n, "netfront: out of memory for event channel %d", port);
			return -EPROTO;
		}
		if (connect_rings(n, v.tx_ref, v.rx_ref))
			return -EPROTO;
		set_state(n, XenbusStateConnected);
		return tx_run(n);
	case XenbusStateClosing:
	case XenbusStateClosed:
		disconnect(n);
		if (n->bstate != XenbusStateClosed)
			set_state(n, XenbusStateClosed);
		return 0;
	default:        /* unknown (gone), InitWait, Reconfiguring: nothing offered leads there */
		return 0;
	}
}

bool xen_net_xs(const struct xen_net *n)
{
	return n && n->xs;
}

/* ---- life */

struct xen_net *xen_net_new(struct xen_driver *d, struct lv_vm *vm, bool xs, char *err, size_t errlen)
{
	struct xen_net *n;
	int rc;

	if (!d->xgt) {
		snprintf(err, errlen, "no grant device (xen-gntdev): Xen guests cannot have a NIC here");
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->d = d;
	n->vm = vm;
	n->xs = xs;
	n->local_port = -1;
	n->tap = lv__net_tap(d->h, vm->info.mac);
	if (n->tap < 0) {
		snprintf(err, errlen, "no tap: %s", strerror(-n->tap));
		free(n);
		return NULL;
	}
	rc = d->h->cfg.loop.watch(d->h->cfg.loop.ctx, n->tap, tap_cb, n);
	if (rc) {
		snprintf(err, errlen, "watching the tap: %s", strerror(-rc));
		close(n->tap);
		free(n);
		return NULL;
	}
	lv__tx_police_init(&n->police, vm->info.mac, vm->info.ipv4);
	return n;
}

void xen_net_devpage(const struct xen_net *n, struct lv_devpage *dp, uint32_t guest_port)
{
	struct lv_dev *e;

	if (!n || n->xs || dp->ndevs >= LV_MAX_DEVS)
		return;
	e = &dp->devs[dp->ndevs++];
	*e = (struct lv_dev){ .type = LV_DEV_NET, .flags = LV_DEVF_XEN };
	memcpy(e->u.net.mac, n->vm->info.mac, sizeof(e->u.net.mac));
	e->u.net.mtu = LV_NET_MTU;
	e->u.net.ipv4 = n->vm->info.ipv4;
	lv__net_guest_config(n->d->h, &e->u.net.netmask, &e->u.net.gateway);
	e->u.net.evtchn = guest_port;
	e->u.net.backend = 0;            /* the agent runs in Dom0 */
	e->u.net.state = LV_XNET_INIT;
}

void xen_net_bind(struct xen_net *n, uint32_t domid, int local_port, struct lv_devpage *dp)
{
	if (!n)
		return;
	xen_net_unbind(n);
	n->domid = domid;
	if (n->xs) {          /* the frontend's channel comes with its handshake */
		n->gen++;
		n->bstate = XenbusStateInitWait;   /* as xen_store_add writes it */
		n->front_t = lv_now_ns();
		n->front_tok = FRONT_BURST * 1000000000ll;
		xen_vifw_watch(n->d, domid, n->gen, true);
		return;
	}
	n->local_port = local_port;
	/* the entry this driver wrote (the guest may scribble on the rest) */
	for (unsigned i = 0; i < LV_MAX_DEVS && dp; i++)
		if (dp->devs[i].type == LV_DEV_NET && (dp->devs[i].flags & LV_DEVF_XEN)) {
			n->dev = &dp->devs[i];
			break;
		}
}

void xen_net_unbind(struct xen_net *n)
{
	if (!n)
		return;
	disconnect(n);
	if (n->xs && n->domid)
		xen_vifw_watch(n->d, n->domid, n->gen, false);
	n->dev = NULL;
	n->domid = 0;
	n->local_port = -1;
}

void xen_net_free(struct xen_net *n)
{
	if (!n)
		return;
	xen_net_unbind(n);
	n->d->h->cfg.loop.unwatch(n->d->h->cfg.loop.ctx, n->tap);
	close(n->tap);
	free(n);
}

void xen_net_stats(const struct xen_net *n, struct lv_vm_stats *out)
{
	if (!n)
		return;
	out->net_rx_packets = n->rx_pkts;
	out->net_rx_bytes = n->rx_bytes;
	out->net_tx_packets = n->tx_pkts;
	out->net_tx_bytes = n->tx_bytes;
	out->net_rx_drops = n->rx_drop;
	out->net_tx_drops = n->tx_drop;
}
