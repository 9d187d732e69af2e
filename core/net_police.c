/*
 * net_police.c - what a guest may send through its NIC (issue 12): frames
 * from its own MAC, ARP and IPv4 from its own address, within a rate and
 * a broadcast budget.  The KVM shell runs it on every frame the guest
 * transmits and the Xen netback on every request; it is on its own (not
 * in hostnet.c) so that the shell factory's binary links without the
 * host's network code.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lv_internal.h"
#include "hostnet.h"

/* ---- tx policing */

void lv__tx_police_init(struct lv_tx_police *p, const uint8_t *mac, uint32_t ipv4)
{
	memmove(p->mac, mac, sizeof(p->mac));
	p->ipv4 = ipv4;
	p->tok = LV_NET_TX_BURST;
	p->btok = LV_NET_BC_BURST;
	p->tok_t = lv_now_ns();
}

void lv__tx_police_refill(struct lv_tx_police *p)
{
	int64_t now = lv_now_ns(), dt = now - p->tok_t;

	if (dt < 1000000)       /* 1 ms granularity */
		return;
	p->tok_t = now;
	p->tok += dt * LV_NET_TX_RATE / 1000000000ll;
	if (p->tok > LV_NET_TX_BURST)
		p->tok = LV_NET_TX_BURST;
	p->btok += dt * LV_NET_BC_RATE / 1000000000ll;
	if (p->btok > LV_NET_BC_BURST)
		p->btok = LV_NET_BC_BURST;
}

/* ARP (Ethernet/IPv4) from the VM's own MAC and address, or a probe
 * (sender address 0.0.0.0). */
static bool arp_ok(const struct lv_tx_police *p, const uint8_t *f, size_t len)
{
	static const uint8_t eth_ipv4[6] = { 0, 1, 8, 0, 6, 4 };
	uint32_t spa;

	if (len < 14 + 28 || memcmp(f + 14, eth_ipv4, 6) || memcmp(f + 22, p->mac, 6))
		return false;
	memcpy(&spa, f + 28, 4);
	return spa == p->ipv4 || spa == 0;
}

/* IPv4 from the VM's own address. */
static bool ipv4_ok(const struct lv_tx_police *p, const uint8_t *f, size_t len)
{
	uint32_t src;

	if (len < 14 + 20 || (f[14] >> 4) != 4)
		return false;
	memcpy(&src, f + 26, 4);
	return src == p->ipv4;
}

bool lv__tx_police_allow(struct lv_tx_police *p, const uint8_t *f, size_t len)
{
	uint16_t type;

	if (len < 14 || memcmp(f + 6, p->mac, 6) != 0 || p->tok <= 0)
		return false;
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (!(type == 0x0806 && arp_ok(p, f, len)) && !(type == 0x0800 && ipv4_ok(p, f, len)))
		return false;
	if (f[0] & 1) {         /* group address: broadcast or multicast */
		if (p->btok <= 0)
			return false;
		p->btok--;
	}
	p->tok--;
	return true;
}
