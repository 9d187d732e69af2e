/*
 * netdev_xen.c - the guest side of the Xen PV NIC (lightvm_abi.h,
 * "Network device (Xen PV)"): a netif frontend.  One tx and one rx
 * shared ring (a page each) and fixed page-sized buffers, all granted to
 * the backend once at boot; the handshake is on the device page (ring
 * refs, then state = connected), not XenStore.  No interrupts, as on KVM:
 * frames arrive while the guest idles in SCHEDOP_poll on the VM's one
 * event channel, which the backend signals after filling rx buffers; tx
 * requests leave at the next kick or idle (both notify the channel).
 */
#include "rt.h"
#include "netdev.h"
#include "../xen/xen_pv.h"
#include "../xen/xrt.h"

#define NTX 32u      /* tx buffers (pages) */
#define NRX 32u      /* rx buffers posted */

_Static_assert(NTX <= NETIF_RING_SIZE && NRX <= NETIF_RING_SIZE, "buffers fit the rings");
_Static_assert(LV_NET_FRAME_MAX <= 4096, "a page holds a frame");

static union { struct netif_tx_sring s; uint8_t page[4096]; } txp __attribute__((aligned(4096)));
static union { struct netif_rx_sring s; uint8_t page[4096]; } rxp __attribute__((aligned(4096)));
static uint8_t txbuf[NTX][4096] __attribute__((aligned(4096)));
static uint8_t rxbuf[NRX][4096] __attribute__((aligned(4096)));
static uint32_t txref[NTX], rxref[NRX];

#define TX (&txp.s)
#define RX (&rxp.s)

static uint32_t tx_prod, tx_cons;      /* our request producer, response consumer */
static uint32_t rx_prod, rx_cons;
static uint16_t tx_free[NTX], ntx_free;
static int tx_cur = -1;                /* the buffer tx_alloc handed out */
static int rx_cur = -1;                /* the buffer rx_next handed out */
static uint32_t port;
static uint32_t ring_ref[2];           /* tx, rx */

static uint32_t load_acq(volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store_rel(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static void rx_post(uint16_t id)
{
	volatile struct netif_rx_request *r = &RX->ring[rx_prod % NETIF_RING_SIZE].req;

	r->id = id;
	r->gref = rxref[id];
	store_rel(&RX->h.req_prod, ++rx_prod);
}

static uint8_t *rx_next(struct lv_netdev *nd, uint32_t *len)
{
	(void)nd;
	for (;;) {
		volatile struct netif_rx_response *r;
		uint16_t id, off;
		int16_t st;

		if (rx_cons == load_acq(&RX->h.rsp_prod)) {
			/* io/ring.h's final check: ask for an event, look again */
			RX->h.rsp_event = rx_cons + 1;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (rx_cons == load_acq(&RX->h.rsp_prod))
				return NULL;
		}
		r = &RX->ring[rx_cons % NETIF_RING_SIZE].rsp;
		id = r->id;
		off = r->offset;
		st = r->status;
		if (id >= NRX) {          /* not ours: skip it */
			rx_cons++;
			continue;
		}
		rx_cur = id;
		*len = st > 0 && off + (uint32_t)st <= 4096 ? (uint32_t)st : 0;
		return rxbuf[id] + (*len ? off : 0);
	}
}

static void rx_done(struct lv_netdev *nd)
{
	(void)nd;
	rx_cons++;
	if (rx_cur >= 0)
		rx_post((uint16_t)rx_cur);
	rx_cur = -1;
}

static void kick(struct lv_netdev *nd)
{
	(void)nd;
	lv_xen_notify(port);
}

static void tx_reclaim(void)
{
	uint32_t p = load_acq(&TX->h.rsp_prod);

	while (tx_cons != p) {
		uint16_t id = TX->ring[tx_cons % NETIF_RING_SIZE].rsp.id;

		if (id < NTX && ntx_free < NTX)
			tx_free[ntx_free++] = id;
		tx_cons++;
	}
}

static uint8_t *tx_alloc(struct lv_netdev *nd)
{
	if (tx_cur >= 0)
		return txbuf[tx_cur];
	tx_reclaim();
	if (!ntx_free) {
		kick(nd);         /* the backend answers asynchronously */
		return NULL;
	}
	tx_cur = tx_free[--ntx_free];
	return txbuf[tx_cur];
}

static void tx_commit(struct lv_netdev *nd, uint32_t len)
{
	volatile struct netif_tx_request *r;

	(void)nd;
	if (tx_cur < 0)
		return;
	r = &TX->ring[tx_prod % NETIF_RING_SIZE].req;
	r->gref = txref[tx_cur];
	r->offset = 0;
	r->flags = 0;
	r->id = (uint16_t)tx_cur;
	r->size = (uint16_t)len;
	store_rel(&TX->h.req_prod, ++tx_prod);
	tx_cur = -1;
}

/* A restored domain (lv_xen_resume_hook): the grants are back under the
 * same references, the backend is new and waits for the handshake on
 * the rewritten device page.  Rings start empty; what was in flight is
 * lost (TCP retransmits). */
static void net_resume(void)
{
	volatile struct lv_dev *d = lv_find_dev(LV_DEV_NET);
	volatile uint8_t *t = txp.page, *r = rxp.page;

	if (!d || !(d->flags & LV_DEVF_XEN))
		return;
	for (unsigned i = 0; i < 4096; i++)
		t[i] = r[i] = 0;
	TX->h.req_event = TX->h.rsp_event = 1;
	RX->h.req_event = RX->h.rsp_event = 1;
	tx_prod = tx_cons = rx_prod = rx_cons = 0;
	tx_cur = rx_cur = -1;
	ntx_free = 0;
	for (uint32_t i = 0; i < NTX; i++)
		tx_free[ntx_free++] = (uint16_t)(NTX - 1 - i);
	for (uint32_t i = 0; i < NRX; i++)
		rx_post((uint16_t)i);
	port = d->u.net.evtchn;
	d->u.net.tx_ref = ring_ref[0];
	d->u.net.rx_ref = ring_ref[1];
	__asm__ volatile("" ::: "memory");
	d->u.net.state = LV_XNET_CONNECTED;
	lv_xen_notify(port);
}

static const struct lv_netdev ops = {
	.rx_next = rx_next, .rx_done = rx_done, .tx_alloc = tx_alloc,
	.tx_commit = tx_commit, .kick = kick,
};

int lv_netdev_open(struct lv_netdev *nd)
{
	volatile struct lv_dev *d = lv_find_dev(LV_DEV_NET);
	uint16_t be;
	int tr, rr;

	if (!d || !(d->flags & LV_DEVF_XEN))
		return -1;
	be = d->u.net.backend;
	port = d->u.net.evtchn;
	/* SHARED_RING_INIT: indexes 0, events wanted from the first entry */
	TX->h.req_event = TX->h.rsp_event = 1;
	RX->h.req_event = RX->h.rsp_event = 1;
	tr = lv_xen_grant(TX, be, 0);
	rr = lv_xen_grant(RX, be, 0);
	if (tr < 0 || rr < 0)
		return -1;
	for (uint32_t i = 0; i < NTX; i++) {
		int g = lv_xen_grant(txbuf[i], be, 1);

		if (g < 0)
			return -1;
		txref[i] = (uint32_t)g;
		tx_free[ntx_free++] = (uint16_t)(NTX - 1 - i);
	}
	for (uint32_t i = 0; i < NRX; i++) {
		int g = lv_xen_grant(rxbuf[i], be, 0);

		if (g < 0)
			return -1;
		rxref[i] = (uint32_t)g;
		rx_post((uint16_t)i);
	}
	lv_netdev_init(nd, d, &ops);
	ring_ref[0] = (uint32_t)tr;
	ring_ref[1] = (uint32_t)rr;
	lv_xen_resume_hook = net_resume;
	d->u.net.tx_ref = (uint32_t)tr;
	d->u.net.rx_ref = (uint32_t)rr;
	__asm__ volatile("" ::: "memory");
	d->u.net.state = LV_XNET_CONNECTED;
	lv_xen_notify(port);
	return 0;
}
