/*
 * net.c - the lower half of the guest stack: Ethernet, ARP (answers, a
 * small cache, requests on demand), IPv4 (checked, no fragments), ICMP
 * echo, UDP, and the event loop.  Every length and checksum of a received
 * frame is checked before a field is used; anything odd is dropped and
 * counted.  TCP lives in tcp.c.
 */
#include "rt.h"
#include "net.h"

#define ETH_HDR   14
#define IP_HDR    20
#define ETH_IP    0x0800
#define ETH_ARP   0x0806
#define ARP_SLOTS 32
#define ARP_RETRY_NS 500000000ull
#define UDP_PORTS 8
#define RX_BATCH  128   /* frames per loop turn, then timers run */

/* The note that asks the toolstack for a NIC: in every image that links
 * the stack (net_init pulls this file in), whatever its platform. */
static const struct {
	uint32_t namesz, descsz, type;
	char name[8];
	uint32_t desc;
} lv_note_net __attribute__((section(".note.lightvm"), aligned(4), used)) = {
	sizeof(LV_NOTE_NAME), 4, LV_NOTE_NET, LV_NOTE_NAME, 1,
};

struct lv_netdev net_dev;
struct net_stats net_stats;

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint16_t ip_id;

/* ---- time */

uint64_t net_now(void)
{
	uint64_t khz = lv_dp->tsc_khz, c = lv_rdtsc() - lv_dp->boot_tsc;
	struct lv_time t;

	if (!khz)
		return lv_clock(&t) ? 0 : t.mono_ns;
	return c / khz * 1000000ull + c % khz * 1000000ull / khz;
}

/* ---- checksums */

static uint32_t csum_add(uint32_t sum, const void *p, uint32_t n)
{
	const uint8_t *b = p;

	for (; n > 1; n -= 2, b += 2)
		sum += (uint32_t)(b[0] << 8 | b[1]);
	if (n)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

/* One's complement checksum of p (continuing sum), folded and inverted. */
uint16_t net_csum(uint32_t sum, const void *p, uint32_t n)
{
	sum = csum_add(sum, p, n);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
	uint32_t sum = csum_add(0, &src, 4);

	sum = csum_add(sum, &dst, 4);
	return sum + proto + len;
}

/* ---- ARP */

struct arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint64_t used, asked;   /* last use, last request (ns) */
	int valid;
};
static struct arp_entry arp[ARP_SLOTS];

static struct arp_entry *arp_slot(uint32_t ip, int create)
{
	struct arp_entry *old = &arp[0];

	for (unsigned i = 0; i < ARP_SLOTS; i++) {
		if (arp[i].ip == ip && (arp[i].valid || arp[i].asked))
			return &arp[i];
		if (arp[i].used < old->used)
			old = &arp[i];
	}
	if (!create)
		return NULL;
	*old = (struct arp_entry){ .ip = ip, .used = net_now() };
	return old;
}

static void arp_learn(uint32_t ip, const uint8_t *mac)
{
	struct arp_entry *e;

	if (!ip || ((ip ^ net_dev.ip) & net_dev.mask) || (mac[0] & 1))
		return;    /* only unicast neighbours on our subnet */
	e = arp_slot(ip, 1);
	__builtin_memcpy(e->mac, mac, 6);
	e->valid = 1;
	e->used = net_now();
}

static void arp_send(uint16_t op, const uint8_t *tha, uint32_t tip)
{
	uint8_t *f = net_dev.tx_alloc(&net_dev);

	if (!f)
		return;
	__builtin_memcpy(f, op == 1 ? bcast : tha, 6);
	__builtin_memcpy(f + 6, net_dev.mac, 6);
	put16(f + 12, ETH_ARP);
	put16(f + 14, 1);
	put16(f + 16, ETH_IP);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	__builtin_memcpy(f + 22, net_dev.mac, 6);
	put_addr(f + 28, net_dev.ip);
	__builtin_memset(f + 32, 0, 6);
	if (op == 2)
		__builtin_memcpy(f + 32, tha, 6);
	put_addr(f + 38, tip);
	__builtin_memset(f + 42, 0, 18);    /* pad to the 60-byte minimum */
	net_dev.tx_commit(&net_dev, 60);
	net_stats.tx++;
}

static void arp_input(const uint8_t *f, uint32_t len)
{
	uint32_t sip, tip;
	uint16_t op;

	if (len < ETH_HDR + 28 || get16(f + 14) != 1 || get16(f + 16) != ETH_IP ||
	    f[18] != 6 || f[19] != 4) {
		net_stats.rx_bad++;
		return;
	}
	net_stats.arp_rx++;
	op = get16(f + 20);
	sip = get_addr(f + 28);
	tip = get_addr(f + 38);
	if (tip != net_dev.ip)
		return;
	arp_learn(sip, f + 22);
	if (op == 1 && sip)
		arp_send(2, f + 22, sip);
}

/* MAC of the next hop to dst, or NULL (a request went out, rate limited). */
static const uint8_t *arp_resolve(uint32_t dst)
{
	uint32_t hop = ((dst ^ net_dev.ip) & net_dev.mask) ? net_dev.gw : dst;
	struct arp_entry *e;
	uint64_t now;

	if (dst == 0xffffffffu)
		return bcast;
	if (!hop)
		return NULL;
	e = arp_slot(hop, 1);
	now = net_now();
	if (e->valid) {
		e->used = now;
		return e->mac;
	}
	if (!e->asked || now - e->asked > ARP_RETRY_NS) {
		e->asked = now ? now : 1;
		arp_send(1, bcast, hop);
	}
	return NULL;
}

/* ---- IPv4 */

static uint8_t *tx_frame;
static const uint8_t *tx_mac;

uint8_t *ip_alloc(uint32_t dst)
{
	tx_mac = arp_resolve(dst);
	if (!tx_mac)
		return NULL;
	tx_frame = net_dev.tx_alloc(&net_dev);
	return tx_frame ? tx_frame + ETH_HDR + IP_HDR : NULL;
}

void ip_send(uint32_t dst, uint8_t proto, uint32_t l4len)
{
	uint8_t *f = tx_frame, *ip = f + ETH_HDR;
	uint32_t len = ETH_HDR + IP_HDR + l4len;

	__builtin_memcpy(f, tx_mac, 6);
	__builtin_memcpy(f + 6, net_dev.mac, 6);
	put16(f + 12, ETH_IP);
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(IP_HDR + l4len));
	put16(ip + 4, ip_id++);
	put16(ip + 6, 0x4000);      /* DF */
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 10, 0);
	put_addr(ip + 12, net_dev.ip);
	put_addr(ip + 16, dst);
	put16(ip + 10, net_csum(0, ip, IP_HDR));
	if (len < 60) {
		__builtin_memset(f + len, 0, 60 - len);
		len = 60;
	}
	net_dev.tx_commit(&net_dev, len);
	net_stats.tx++;
	tx_frame = NULL;
}

static void icmp_input(uint32_t src, const uint8_t *p, uint32_t len)
{
	uint8_t *o;

	if (len < 8 || net_csum(0, p, len) != 0) {
		net_stats.rx_bad++;
		return;
	}
	if (p[0] != 8 || p[1] != 0)     /* echo request only */
		return;
	if (len > (uint32_t)net_dev.mtu - IP_HDR || !(o = ip_alloc(src)))
		return;
	net_stats.icmp_echo++;
	__builtin_memcpy(o, p, len);
	o[0] = 0;
	put16(o + 2, 0);
	put16(o + 2, net_csum(0, o, len));
	ip_send(src, 1, len);
}

/* ---- UDP */

static struct { uint16_t port; udp_fn fn; } udp_tab[UDP_PORTS];

int udp_bind(uint16_t port, udp_fn fn)
{
	for (unsigned i = 0; i < UDP_PORTS; i++)
		if (!udp_tab[i].fn) {
			udp_tab[i].port = port;
			udp_tab[i].fn = fn;
			return 0;
		}
	return -1;
}

int udp_send(uint32_t dst, uint16_t sport, uint16_t dport, const void *data, uint32_t len)
{
	uint8_t *u;
	uint16_t c;

	if (len > (uint32_t)net_dev.mtu - IP_HDR - 8 || !(u = ip_alloc(dst)))
		return -1;
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + len));
	put16(u + 6, 0);
	__builtin_memcpy(u + 8, data, len);
	c = net_csum(net_csum_pseudo(net_dev.ip, dst, 17, 8 + len), u, 8 + len);
	put16(u + 6, c ? c : 0xffff);
	ip_send(dst, 17, 8 + len);
	return 0;
}

static void udp_input(uint32_t src, uint32_t dst, const uint8_t *u, uint32_t len)
{
	uint16_t ulen, dport;

	if (len < 8 || (ulen = get16(u + 4)) < 8 || ulen > len ||
	    (get16(u + 6) && net_csum(net_csum_pseudo(src, dst, 17, ulen), u, ulen) != 0)) {
		net_stats.rx_bad++;
		return;
	}
	net_stats.udp_rx++;
	dport = get16(u + 2);
	for (unsigned i = 0; i < UDP_PORTS; i++)
		if (udp_tab[i].fn && udp_tab[i].port == dport) {
			udp_tab[i].fn(src, get16(u), dport, u + 8, ulen - 8u);
			return;
		}
}

static void ip_input(const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + ETH_HDR;
	uint32_t hl, tl, src, dst;

	if (len < ETH_HDR + IP_HDR || (ip[0] >> 4) != 4)
		goto bad;
	hl = (ip[0] & 15u) * 4u;
	tl = get16(ip + 2);
	if (hl < IP_HDR || tl < hl || tl > len - ETH_HDR || net_csum(0, ip, hl) != 0)
		goto bad;
	if (get16(ip + 6) & 0x3fff)     /* MF or an offset: no reassembly */
		return;
	src = get_addr(ip + 12);
	dst = get_addr(ip + 16);
	if (dst != net_dev.ip && !(ip[9] == 17 && (dst == 0xffffffffu ||
	    dst == (net_dev.ip | ~net_dev.mask))))
		return;
	if (src == 0xffffffffu || (get_addr(ip + 12) & 0xf0) == 0xe0)
		return;                     /* broadcast/multicast sources */
	if (!((src ^ net_dev.ip) & net_dev.mask))
		arp_learn(src, f + 6);      /* glean the sender's MAC */
	switch (ip[9]) {
	case 1:  icmp_input(src, ip + hl, tl - hl); break;
	case 6:  tcp_input(src, dst, ip + hl, tl - hl); break;
	case 17: udp_input(src, dst, ip + hl, tl - hl); break;
	}
	return;
bad:
	net_stats.rx_bad++;
}

static void eth_input(const uint8_t *f, uint32_t len)
{
	net_stats.rx++;
	if (len < ETH_HDR) {
		net_stats.rx_bad++;
		return;
	}
	if (__builtin_memcmp(f, net_dev.mac, 6) != 0 && __builtin_memcmp(f, bcast, 6) != 0)
		return;
	switch (get16(f + 12)) {
	case ETH_ARP: arp_input(f, len); break;
	case ETH_IP:  ip_input(f, len); break;
	}
}

/* ---- the loop */

/* Restored from a snapshot or cloned (lv_restore_hook): the device
 * page may carry a new MAC and address; ARP entries and connections
 * belong to the saved guest. */
static void net_restored(void)
{
	volatile struct lv_dev *d = lv_find_dev(LV_DEV_NET);

	if (d) {
		for (unsigned i = 0; i < 6; i++)
			net_dev.mac[i] = d->u.net.mac[i];
		net_dev.ip = d->u.net.ipv4;
		net_dev.mask = d->u.net.netmask;
		net_dev.gw = d->u.net.gateway;
	}
	for (unsigned i = 0; i < ARP_SLOTS; i++)
		if (arp[i].valid || arp[i].asked)   /* untouched slots stay shared */
			arp[i] = (struct arp_entry){ 0 };
	ip_id = (uint16_t)lv_rdtsc();
	tcp_restored();
}

int net_init(void)
{
	if (lv_netdev_open(&net_dev))
		return -1;
	lv_restore_hook = net_restored;
	ip_id = (uint16_t)lv_rdtsc();
	return 0;
}

void net_run(void)
{
	for (;;) {
		uint8_t *f;
		uint32_t len, n = 0;
		uint64_t now, dl;

		while (n++ < RX_BATCH && (f = net_dev.rx_next(&net_dev, &len))) {
			eth_input(f, len <= LV_NET_FRAME_MAX ? len : 0);
			net_dev.rx_done(&net_dev);
		}
		now = net_now();
		tcp_timers(now);
		lv_power_check();
		if (n > RX_BATCH) {         /* more waiting: flush and go on */
			net_dev.kick(&net_dev);
			continue;
		}
		dl = tcp_deadline();
		lv_idle(dl ? (dl > now ? dl - now : 0) : UINT64_MAX);
	}
}
