/*
 * test_net_police.c - a guest NIC's tx policing (core/hostnet.c,
 * lv__tx_police_*): only ARP and IPv4 frames leave, from the VM's own
 * MAC and IPv4 address; a guest cannot claim another address, answer
 * for the gateway, tag a VLAN, or send frames too short to check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lv_internal.h"
#include "hostnet.h"

static const uint8_t mac[6] = { 0x02, 0x4c, 0x56, 0x00, 0x00, 0x02 };
static const uint8_t other[6] = { 0x02, 0x4c, 0x56, 0x00, 0x00, 0x03 };

static uint32_t ip(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* An ARP frame: sender (sha, spa), opcode reply. */
static size_t arp(uint8_t *f, const uint8_t *src, const uint8_t *sha, uint32_t spa)
{
	static const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 2 };

	memset(f, 0, 64);
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	memcpy(f + 14, hdr, 8);
	memcpy(f + 22, sha, 6);
	memcpy(f + 28, &spa, 4);
	return 60;
}

static size_t ipv4(uint8_t *f, const uint8_t *src, uint32_t saddr)
{
	memset(f, 0, 64);
	memcpy(f, other, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	f[14] = 0x45;
	memcpy(f + 26, &saddr, 4);
	return 60;
}

static void test_own_frames_leave(void **state)
{
	struct lv_tx_police p;
	uint8_t f[64];

	lv__tx_police_init(&p, mac, ip("10.77.0.2"));
	assert_true(lv__tx_police_allow(&p, f, arp(f, mac, mac, ip("10.77.0.2"))));
	assert_true(lv__tx_police_allow(&p, f, arp(f, mac, mac, 0)));   /* a probe */
	assert_true(lv__tx_police_allow(&p, f, ipv4(f, mac, ip("10.77.0.2"))));
}

static void test_spoofs_dropped(void **state)
{
	struct lv_tx_police p;
	uint8_t f[64];
	size_t n;

	lv__tx_police_init(&p, mac, ip("10.77.0.2"));
	/* the gateway's address, another guest's, another MAC inside ARP */
	assert_false(lv__tx_police_allow(&p, f, arp(f, mac, mac, ip("10.77.0.1"))));
	assert_false(lv__tx_police_allow(&p, f, arp(f, mac, mac, ip("10.77.0.3"))));
	assert_false(lv__tx_police_allow(&p, f, arp(f, mac, other, ip("10.77.0.2"))));
	assert_false(lv__tx_police_allow(&p, f, arp(f, other, mac, ip("10.77.0.2"))));
	assert_false(lv__tx_police_allow(&p, f, ipv4(f, mac, ip("10.77.0.3"))));
	assert_false(lv__tx_police_allow(&p, f, ipv4(f, mac, ip("8.8.8.8"))));
	/* too short to check, not IPv4 inside, VLAN tags, IPv6, other types */
	n = arp(f, mac, mac, ip("10.77.0.2"));
	assert_false(lv__tx_police_allow(&p, f, 14 + 20));
	n = ipv4(f, mac, ip("10.77.0.2"));
	f[14] = 0x65;
	assert_false(lv__tx_police_allow(&p, f, n));
	ipv4(f, mac, ip("10.77.0.2"));
	assert_false(lv__tx_police_allow(&p, f, 14 + 19));
	f[12] = 0x81;
	f[13] = 0x00;
	assert_false(lv__tx_police_allow(&p, f, n));
	f[12] = 0x86;
	f[13] = 0xdd;
	assert_false(lv__tx_police_allow(&p, f, n));
	f[12] = 0x88;
	f[13] = 0xb5;
	assert_false(lv__tx_police_allow(&p, f, n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_frames_leave),
		cmocka_unit_test(test_spoofs_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
