/*
 * lv-netfuzz - throw malformed and hostile frames at one guest through the
 * host bridge (AF_PACKET on IFNAME; the bridge forwards them down the
 * guest's tap): truncated Ethernet/ARP/IP/TCP/UDP/ICMP headers, lengths
 * that lie, bad checksums, fragments, bad TCP header lengths and options,
 * a SYN flood of COUNT SYNs from made-up addresses, segments outside the
 * window (data, RST, ACK, SYN+FIN) and random garbage.  The test then
 * checks that the guest still serves and that its shell and the agent
 * are unaffected.  Sources are made-up addresses (10.77.200.0/24 by
 * default) with the bridge's own MAC, so the guest's answers end at the
 * host and nothing floods the other ports.
 *   usage: lv-netfuzz IFNAME GUEST_MAC GUEST_IP [COUNT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

static int fd, ifindex, sent;
static uint8_t dmac[6], smac[6];
static uint32_t dip, sip_base;

static uint16_t csum(uint32_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; n -= 2, p += 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static void tx(const uint8_t *f, size_t len)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };

	memcpy(sa.sll_addr, dmac, 6);
	if (sendto(fd, f, len, 0, (struct sockaddr *)&sa, sizeof(sa)) >= 0)
		sent++;
}

/* Ethernet + IPv4 header for proto, l4len bytes of payload; returns the
 * total frame length.  src is in host byte order. */
static size_t ip_frame(uint8_t *f, uint32_t src, uint8_t proto, size_t l4len)
{
	uint8_t *ip = f + 14;

	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4len));
	put16(ip + 4, (uint16_t)rand());
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	memcpy(ip + 16, &dip, 4);
	put16(ip + 10, csum(0, ip, 20));
	return 14 + 20 + l4len;
}

static uint32_t pseudo(const uint8_t *ip, uint8_t proto, size_t len)
{
	uint32_t s = 0;

	for (int i = 12; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	return s + proto + (uint32_t)len;
}

static size_t tcp_frame(uint8_t *f, uint32_t src, uint16_t sport, uint32_t seq, uint32_t ack,
			uint8_t flags, const char *data, int good_csum)
{
	size_t dl = data ? strlen(data) : 0, len = ip_frame(f, src, 6, 20 + dl);
	uint8_t *t = f + 34;

	memset(t, 0, 20);
	put16(t, sport);
	put16(t + 2, 13);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	memcpy(t + 20, data ? data : "", dl);
	put16(t + 16, csum(pseudo(f + 14, 6, 20 + dl), t, 20 + dl));
	if (!good_csum)
		t[16] ^= 0x55;
	return len;
}

static void malformed(void)
{
	uint8_t f[1600];
	size_t n;

	/* Ethernet: runts of every length up to the header, unknown type */
	for (size_t l = 1; l <= 14; l++) {
		memset(f, 0, sizeof(f));
		memcpy(f, dmac, 6);
		tx(f, l);
	}
	memcpy(f + 6, smac, 6);
	put16(f + 12, 0x1234);
	tx(f, 60);
	/* ARP: truncated, wrong sizes, for us with a zero sender */
	put16(f + 12, 0x0806);
	for (size_t l = 15; l < 42; l += 3)
		tx(f, l);
	memset(f + 14, 0, 28);
	put16(f + 14, 1); put16(f + 16, 0x0800); f[18] = 6; f[19] = 4; put16(f + 20, 1);
	memcpy(f + 38, &dip, 4);
	tx(f, 60);          /* sender 0.0.0.0 */
	f[18] = 200;
	tx(f, 60);          /* hlen 200 */
	/* IPv4: truncated, bad version, IHL, lengths, checksum, fragments */
	n = ip_frame(f, sip_base + 1, 1, 8);
	for (size_t l = 15; l < 34; l += 2)
		tx(f, l);
	f[14] = 0x65; tx(f, n); f[14] = 0x45;
	f[14] = 0x41; tx(f, n); f[14] = 0x4f; tx(f, n); f[14] = 0x45;
	put16(f + 16, 1500); tx(f, n);      /* total length > frame */
	put16(f + 16, 10); tx(f, n);        /* total length < header */
	ip_frame(f, sip_base + 1, 1, 8);
	f[24] ^= 1; tx(f, n);               /* bad header checksum */
	ip_frame(f, sip_base + 1, 17, 8);
	put16(f + 20, 0x2000); put16(f + 24, 0); put16(f + 24, csum(0, f + 14, 20)); tx(f, n); /* MF */
	/* ICMP: truncated, bad checksum, huge echo that lies about its size */
	n = ip_frame(f, sip_base + 1, 1, 4);
	tx(f, n);
	n = ip_frame(f, sip_base + 1, 1, 64);
	memset(f + 34, 0, 64); f[34] = 8; put16(f + 36, 0x1234); tx(f, n);
	/* UDP: truncated, length lies, bad checksum */
	n = ip_frame(f, sip_base + 1, 17, 4);
	tx(f, n);
	n = ip_frame(f, sip_base + 1, 17, 12);
	put16(f + 34, 999); put16(f + 36, 13); put16(f + 38, 400); put16(f + 40, 0); tx(f, n);
	put16(f + 38, 3); tx(f, n);
	put16(f + 38, 12); put16(f + 40, 0xbeef); tx(f, n);
	/* TCP: truncated, data offset < 5 and > length, bad checksum, bad options */
	n = ip_frame(f, sip_base + 1, 6, 10);
	tx(f, n);
	n = tcp_frame(f, sip_base + 1, 4000, 1, 0, 0x02, NULL, 1);
	f[46] = 2 << 4; put16(f + 50, 0); put16(f + 50, csum(pseudo(f + 14, 6, 20), f + 34, 20)); tx(f, n);
	f[46] = 15 << 4; put16(f + 50, 0); put16(f + 50, csum(pseudo(f + 14, 6, 20), f + 34, 20)); tx(f, n);
	n = tcp_frame(f, sip_base + 1, 4001, 1, 0, 0x02, NULL, 0);
	tx(f, n);
	n = ip_frame(f, sip_base + 2, 6, 28);
	memset(f + 34, 0, 28);
	put16(f + 34, 4002); put16(f + 36, 13); put32(f + 38, 7); f[46] = 7 << 4; f[47] = 0x02;
	f[54] = 2; f[55] = 0; f[56] = 2; f[57] = 255; f[58] = 3;   /* option lengths 0 and 255 */
	put16(f + 50, csum(pseudo(f + 14, 6, 28), f + 34, 28));
	tx(f, n);
	/* random garbage addressed to the guest */
	for (int i = 0; i < 500; i++) {
		size_t l = 14 + (size_t)rand() % 1500;

		for (size_t k = 0; k < l; k++)
			f[k] = (uint8_t)rand();
		memcpy(f, dmac, 6);
		memcpy(f + 6, smac, 6);
		put16(f + 12, i & 1 ? 0x0800 : 0x0806);
		tx(f, l);
	}
}

static void syn_flood(int count)
{
	uint8_t f[128];

	for (int i = 0; i < count; i++) {
		size_t n = tcp_frame(f, sip_base + 10 + (uint32_t)(i % 200), (uint16_t)(1024 + i),
				     (uint32_t)rand(), 0, 0x02, NULL, 1);
		tx(f, n);
	}
}

static void out_of_window(void)
{
	uint8_t f[128];

	for (int i = 0; i < 200; i++) {
		uint32_t seq = (uint32_t)rand();
		uint16_t sport = (uint16_t)(30000 + i % 7);
		static const uint8_t fl[] = { 0x10, 0x18, 0x04, 0x14, 0x03, 0x01, 0x11 };

		tx(f, tcp_frame(f, sip_base + 250, sport, seq, (uint32_t)rand(), fl[i % 7],
				i % 2 ? "out of window data" : NULL, 1));
	}
}

static int parse_mac(const char *s, uint8_t *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct ifreq ifr = { 0 };
	int count = argc > 4 ? atoi(argv[4]) : 2000;

	if (argc < 4 || parse_mac(argv[2], dmac) || inet_pton(AF_INET, argv[3], &dip) != 1) {
		fprintf(stderr, "usage: lv-netfuzz IFNAME GUEST_MAC GUEST_IP [COUNT]\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (fd < 0 || ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror("lv-netfuzz");
		return 1;
	}
	ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("lv-netfuzz: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	sip_base = (ntohl(dip) & 0xffff0000u) | 0xc800;   /* x.y.200.0 */
	srand(42);
	malformed();
	syn_flood(count);
	out_of_window();
	printf("lv-netfuzz: %d frames sent to %s\n", sent, argv[3]);
	return 0;
}
