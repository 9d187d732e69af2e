/*
 * netdev_kvm.c - the guest side of the KVM paravirtual NIC (lightvm_abi.h,
 * "Network device"): two descriptor rings in the device's area at
 * LV_GPA_NET, followed by this driver's fixed buffers.  No interrupts:
 * frames arrive when the guest idles (LV_WAKE_NET) or kicks; queued frames
 * leave at the next hypercall.
 */
#include "rt.h"
#include "netdev.h"

#define NTX      64u     /* tx buffers (< LV_NET_SLOTS) */
#define NRX      64u     /* rx buffers posted */
#define BUFSZ    2048u
#define BUF_BASE (LV_GPA_NET + 0x2000u)

_Static_assert(sizeof(struct lv_net_shared) <= 0x2000, "rings before buffers");
_Static_assert(BUF_BASE + (NTX + NRX) * BUFSZ <= LV_GPA_IMAGE, "buffers fit the area");
_Static_assert(BUFSZ >= LV_NET_FRAME_MAX, "buffer holds a frame");

static volatile struct lv_net_shared *sh;
static uint32_t rx_seen;

static uint8_t *buf(uint32_t i)
{
	return (uint8_t *)(uintptr_t)(BUF_BASE + i * BUFSZ);
}

static uint8_t *rx_next(struct lv_netdev *nd, uint32_t *len)
{
	volatile struct lv_net_desc *d;

	if (rx_seen == __atomic_load_n(&sh->rx.used, __ATOMIC_ACQUIRE))
		return NULL;
	d = &sh->rx.slot[rx_seen % LV_NET_SLOTS];
	*len = d->len;
	return (uint8_t *)(uintptr_t)d->addr;
}

static void rx_done(struct lv_netdev *nd)
{
	volatile struct lv_net_desc *d = &sh->rx.slot[rx_seen % LV_NET_SLOTS];
	uint64_t addr = d->addr;
	uint32_t a = sh->rx.avail;

	/* repost the same buffer at the end of the ring */
	sh->rx.slot[a % LV_NET_SLOTS].addr = addr;
	sh->rx.slot[a % LV_NET_SLOTS].len = BUFSZ;
	sh->rx.slot[a % LV_NET_SLOTS].flags = 0;
	__atomic_store_n(&sh->rx.avail, a + 1, __ATOMIC_RELEASE);
	rx_seen++;
}

static void kick(struct lv_netdev *nd)
{
	lv_hcall(LV_HC_NET, 0, 0);
}

static uint8_t *tx_alloc(struct lv_netdev *nd)
{
	uint32_t a = sh->tx.avail;

	if (a - __atomic_load_n(&sh->tx.used, __ATOMIC_ACQUIRE) >= NTX) {
		kick(nd);   /* the host takes the whole ring at once */
		if (a - __atomic_load_n(&sh->tx.used, __ATOMIC_ACQUIRE) >= NTX)
			return NULL;
	}
	return buf(a % NTX);
}

static void tx_commit(struct lv_netdev *nd, uint32_t len)
{
	uint32_t a = sh->tx.avail;

	sh->tx.slot[a % LV_NET_SLOTS].addr = (uint64_t)(uintptr_t)buf(a % NTX);
	sh->tx.slot[a % LV_NET_SLOTS].len = len;
	sh->tx.slot[a % LV_NET_SLOTS].flags = 0;
	__atomic_store_n(&sh->tx.avail, a + 1, __ATOMIC_RELEASE);
}

static const struct lv_netdev ops = {
	.rx_next = rx_next, .rx_done = rx_done, .tx_alloc = tx_alloc,
	.tx_commit = tx_commit, .kick = kick,
};

int lv_netdev_open(struct lv_netdev *nd)
{
	volatile struct lv_dev *d = lv_find_dev(LV_DEV_NET);

	if (!d || d->addr != LV_GPA_NET || d->size < BUF_BASE + (NTX + NRX) * BUFSZ - LV_GPA_NET)
		return -1;
	sh = (volatile struct lv_net_shared *)(uintptr_t)d->addr;
	lv_netdev_init(nd, d, &ops);
	rx_seen = sh->rx.used;
	for (uint32_t i = 0; i < NRX; i++) {
		uint32_t a = sh->rx.avail;

		sh->rx.slot[a % LV_NET_SLOTS].addr = (uint64_t)(uintptr_t)buf(NTX + i);
		sh->rx.slot[a % LV_NET_SLOTS].len = BUFSZ;
		__atomic_store_n(&sh->rx.avail, a + 1, __ATOMIC_RELEASE);
	}
	return 0;
}
