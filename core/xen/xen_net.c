/*
 * xen_net.c - the agent as netif backend of a Xen guest's NIC
 * (lightvm_abi.h, "Network device (Xen PV)"): a tap on the host bridge
 * per VM (core/hostnet.c), the guest's tx and rx rings mapped with
 * libxengnttab once the guest says "connected" on its device page, frame
 * data moved with grant copies (no buffer is ever mapped), the VM's one
 * event channel in both directions.  The tap belongs to the VM, not to
 * the domain: it outlives a reboot (new domain, new rings).
 *
 * Everything the guest writes is read once and checked: ring indexes
 * (io/ring.h overflow rule), request sizes and offsets, flags (no
 * fragments or extra info are offered).  A violation ends the VM crashed
 * with the reason; a grant that does not copy is answered with an error
 * status and counted.  Tx is policed like on KVM (lv__tx_police): own
 * source MAC, rate limits.  A frame that finds no posted rx buffer is
 * dropped, as a full NIC would.
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

#define BATCH       64u                 /* frames per grant-copy call */
#define RX_ROUNDS   4u                  /* batches per tap wake-up */
#define TX_ROUNDS   8u                  /* batches per event */

_Static_assert(__CONST_RING_SIZE(netif_tx, XC_PAGE_SIZE) == 256 &&
	       __CONST_RING_SIZE(netif_rx, XC_PAGE_SIZE) == 256, "the guest's ring size (guest/xen/xen_pv.h)");

struct xen_net {
	struct xen_driver *d;
	struct lv_vm *vm;
	int tap;
	/* the current domain (0: none) and its rings */
	uint32_t domid;
	int local_port;
	volatile struct lv_dev *dev;      /* our entry on the mapped device page */
	void *rings;                      /* tx page, rx page (mapped grants) */
	netif_tx_back_ring_t tx;
	netif_rx_back_ring_t rx;
	struct lv_tx_police police;
	uint64_t rx_pkts, rx_bytes, rx_drop, tx_pkts, tx_bytes, tx_drop, copy_err;
};

/* scratch for one batch (the agent is single threaded) */
static uint8_t frames[BATCH][2048];
static xengnttab_grant_copy_segment_t segs[BATCH];
static union { netif_tx_request_t tx; netif_rx_request_t rx; } reqs[BATCH];

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

static int tx_run(struct xen_net *n)
{
	bool notify = false;

	for (unsigned round = 0; round < TX_ROUNDS; round++) {
		RING_IDX prod = __atomic_load_n(&n->tx.sring->req_prod, __ATOMIC_ACQUIRE);
		unsigned k = 0;
		int more = 0, notify_now = 0;

		if (RING_REQUEST_PROD_OVERFLOW(&n->tx, prod)) {
			fault(n, "net: tx ring corrupt (req_prod %u, backend at %u)", prod, n->tx.rsp_prod_pvt);
			return -EPROTO;
		}
		while (n->tx.req_cons != prod && k < BATCH) {
			netif_tx_request_t *q = &reqs[k].tx;

			RING_COPY_REQUEST(&n->tx, n->tx.req_cons, q);
			n->tx.req_cons++;
			if (q->flags & (NETTXF_more_data | NETTXF_extra_info)) {
				fault(n, "net: tx request %u has fragments or extra info (flags 0x%x): not offered",
				      q->id, q->flags);
				return -EPROTO;
			}
			if (q->size < LV_NET_FRAME_MIN || q->size > LV_NET_FRAME_MAX ||
			    q->offset + (unsigned)q->size > XC_PAGE_SIZE) {
				fault(n, "net: bad tx request %u: %u bytes at offset %u (frames are %u..%u bytes inside one page)",
				      q->id, q->size, q->offset, LV_NET_FRAME_MIN, LV_NET_FRAME_MAX);
				return -EPROTO;
			}
			segs[k] = (xengnttab_grant_copy_segment_t){
				.source.foreign = { .ref = q->gref, .offset = q->offset, .domid = (uint16_t)n->domid },
				.dest.virt = frames[k], .len = q->size, .flags = GNTCOPY_source_gref };
			k++;
		}
		if (!k) {
			RING_FINAL_CHECK_FOR_REQUESTS(&n->tx, more);
			if (more)
				continue;
			break;
		}
		if (xengnttab_grant_copy(n->d->xgt, k, segs))
			for (unsigned i = 0; i < k; i++)
				segs[i].status = GNTST_general_error;
		lv__tx_police_refill(&n->police);
		for (unsigned i = 0; i < k; i++) {
			netif_tx_response_t *rsp = RING_GET_RESPONSE(&n->tx, n->tx.rsp_prod_pvt);
			int16_t st = NETIF_RSP_OKAY;

			if (segs[i].status != GNTST_okay) {
				st = NETIF_RSP_ERROR;
				n->copy_err++;
			} else if (!lv__tx_police_allow(&n->police, frames[i], segs[i].len) ||
				   write(n->tap, frames[i], segs[i].len) != segs[i].len) {
				st = NETIF_RSP_DROPPED;
				n->tx_drop++;
			} else {
				n->tx_pkts++;
				n->tx_bytes += segs[i].len;
			}
			rsp->id = reqs[i].tx.id;
			rsp->status = st;
			n->tx.rsp_prod_pvt++;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&n->tx, notify_now);
		notify |= notify_now;
	}
	if (notify)
		xenevtchn_notify(n->d->xce, (evtchn_port_t)n->local_port);
	return 0;
}

/* ---- the connection */

static int connect_rings(struct xen_net *n)
{
	uint32_t refs[2] = { n->dev->u.net.tx_ref, n->dev->u.net.rx_ref };
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
	lv__log(n->d->h, LV_LOG_DEBUG, "%s: net: connected (domain %u, rings %u/%u)",
		n->vm->info.name, n->domid, refs[0], refs[1]);
	return 0;
}

int xen_net_event(struct xen_net *n)
{
	if (!n || !n->dev)
		return 0;
	if (!n->rings) {
		if (__atomic_load_n(&n->dev->u.net.state, __ATOMIC_ACQUIRE) != LV_XNET_CONNECTED)
			return 0;
		if (connect_rings(n))
			return -EPROTO;
	}
	return tx_run(n);
}

/* ---- life */

struct xen_net *xen_net_new(struct xen_driver *d, struct lv_vm *vm, char *err, size_t errlen)
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

	if (!n || dp->ndevs >= LV_MAX_DEVS)
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
	if (n->rings)
		xengnttab_unmap(n->d->xgt, n->rings, 2);
	n->rings = NULL;
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
