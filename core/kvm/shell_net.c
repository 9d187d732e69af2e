/*
 * shell_net.c - the NIC backend inside a shell (see shell_net.h and the
 * "Network device" section of lightvm_abi.h).  Single threaded, no
 * interrupts: tx is taken at every hypercall, rx is filled when the guest
 * idles or rings LV_HC_NET.  Every descriptor is copied out of guest
 * memory once and checked (index, length, address) before use.  Tx is
 * policed (lv__tx_police, core/net_police.c), so a guest that floods its ring
 * burns its own exits and loses its own frames; and a guest may only send
 * with the MAC it was given.  The counters go to the shell's stats page.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kvm/shell_int.h"

#define NET_RX_BATCH  LV_NET_SLOTS /* frames per rx fill */

static struct lv_net_shared *shared(struct kvm_shell *s)
{
	return (struct lv_net_shared *)(s->vm.mem + LV_GPA_NET);
}

void kvm_net_setup(struct kvm_shell *s, int tap_fd, const struct kvm_msg *m)
{
	struct kvm_net *n = &s->net;
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);
	struct lv_dev *d;

	n->fd = tap_fd;
	if (tap_fd < 0 || dp->ndevs >= LV_MAX_DEVS)
		return;
	lv__tx_police_init(&n->police, m->net_mac, m->net_ipv4);
	d = &dp->devs[dp->ndevs++];
	*d = (struct lv_dev){ .type = LV_DEV_NET, .id = 0, .addr = LV_GPA_NET,
			      .size = LV_GPA_IMAGE - LV_GPA_NET };
	memcpy(d->u.net.mac, m->net_mac, sizeof(d->u.net.mac));
	d->u.net.mtu = m->net_mtu;
	d->u.net.ipv4 = m->net_ipv4;
	d->u.net.netmask = m->net_netmask;
	d->u.net.gateway = m->net_gateway;
	kvm_net_reset(s);
}

void kvm_net_reset(struct kvm_shell *s)
{
	struct kvm_net *n = &s->net;

	if (n->fd < 0)
		return;
	memset(shared(s), 0, sizeof(struct lv_net_shared));
	n->tx_used = n->rx_used = 0;
	lv__tx_police_init(&n->police, n->police.mac, n->police.ipv4);
}

/* Copy slot i of ring r out of guest memory and check it.  Crashes the
 * guest on a bad descriptor. */
static struct lv_net_desc take(struct kvm_shell *s, struct lv_net_ring *r, uint32_t i,
			       const char *ring, uint32_t minlen, uint32_t maxlen)
{
	struct lv_net_desc d;
	uint64_t lo = LV_GPA_NET + sizeof(struct lv_net_shared);

	memcpy(&d, (const void *)&r->slot[i % LV_NET_SLOTS], sizeof(d));
	if (d.len < minlen || d.len > maxlen)
		kvm_shell_crash(s, "net: bad %s descriptor %u: length %u (%u..%u)",
				ring, i % LV_NET_SLOTS, d.len, minlen, maxlen);
	if (d.addr < lo || d.addr > s->vm.mem_size || s->vm.mem_size - d.addr < d.len)
		kvm_shell_crash(s, "net: bad %s descriptor %u: buffer [0x%llx,+%u) not in guest memory [0x%llx,0x%llx)",
				ring, i % LV_NET_SLOTS, (unsigned long long)d.addr, d.len,
				(unsigned long long)lo, (unsigned long long)s->vm.mem_size);
	return d;
}

/* Pending slots of ring r (guest's avail vs our used); crash if corrupt. */
static uint32_t pending(struct kvm_shell *s, struct lv_net_ring *r, uint32_t used,
			const char *ring)
{
	uint32_t avail = __atomic_load_n(&r->avail, __ATOMIC_ACQUIRE);

	if (avail - used > LV_NET_SLOTS)
		kvm_shell_crash(s, "net: %s ring corrupt (avail %u, used %u, size %u)",
				ring, avail, used, LV_NET_SLOTS);
	return avail - used;
}

void kvm_net_tx(struct kvm_shell *s)
{
	struct kvm_net *n = &s->net;
	struct lv_net_ring *r;
	uint32_t k;

	if (n->fd < 0)
		return;
	r = &shared(s)->tx;
	k = pending(s, r, n->tx_used, "tx");
	if (!k)
		return;
	lv__tx_police_refill(&n->police);
	for (; k; k--, n->tx_used++) {
		struct lv_net_desc d = take(s, r, n->tx_used, "tx", LV_NET_FRAME_MIN, LV_NET_FRAME_MAX);
		const uint8_t *f = s->vm.mem + d.addr;
		ssize_t w;

		if (!lv__tx_police_allow(&n->police, f, d.len)) {
			n->tx_drop++;
			continue;
		}
		/* The guest may change the buffer while we write: it can only
		 * garble its own frame. */
		w = write(n->fd, f, d.len);
		if (w == (ssize_t)d.len) {
			n->tx_pkts++;
			n->tx_bytes += d.len;
		} else {
			n->tx_drop++;
		}
	}
	__atomic_store_n(&r->used, n->tx_used, __ATOMIC_RELEASE);
	__atomic_store_n(&s->stats->net_tx_packets, n->tx_pkts, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_tx_bytes, n->tx_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_tx_drops, n->tx_drop, __ATOMIC_RELAXED);
}

bool kvm_net_pollable(struct kvm_shell *s)
{
	struct kvm_net *n = &s->net;

	return n->fd >= 0 && pending(s, &shared(s)->rx, n->rx_used, "rx") > 0;
}

uint32_t kvm_net_rx(struct kvm_shell *s)
{
	struct kvm_net *n = &s->net;
	struct lv_net_ring *r;
	uint32_t k, got = 0;

	if (n->fd < 0)
		return 0;
	r = &shared(s)->rx;
	k = pending(s, r, n->rx_used, "rx");
	if (k > NET_RX_BATCH)
		k = NET_RX_BATCH;
	while (got < k) {
		struct lv_net_desc d = take(s, r, n->rx_used, "rx", LV_NET_FRAME_MAX, UINT32_MAX);
		ssize_t m;

		/* read() never writes more than d.len: checked in guest memory */
		m = read(n->fd, s->vm.mem + d.addr, d.len);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			break;
		__atomic_store_n(&r->slot[n->rx_used % LV_NET_SLOTS].len, (uint32_t)m, __ATOMIC_RELAXED);
		n->rx_used++;
		n->rx_pkts++;
		n->rx_bytes += (uint64_t)m;
		got++;
	}
	if (!got)
		return 0;
	__atomic_store_n(&r->used, n->rx_used, __ATOMIC_RELEASE);
	__atomic_store_n(&s->stats->net_rx_packets, n->rx_pkts, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_rx_bytes, n->rx_bytes, __ATOMIC_RELAXED);
	return LV_WAKE_NET;
}
