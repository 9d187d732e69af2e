/*
 * net.h - the guest's small TCP/IP stack: Ethernet, ARP (answers and a
 * cache), IPv4 (no fragments), ICMP echo, UDP and a passive-open TCP.
 * Single threaded and event driven: net_run() processes frames, runs
 * the timers and idles until the next frame or deadline (LV_HC_IDLE);
 * there are no interrupts.  Addresses are in network byte order.
 */
#ifndef LV_NET_NET_H
#define LV_NET_NET_H

#include <stdint.h>
#include "netdev.h"

/* Find the NIC and configure the stack.  0, or -1 without a NIC. */
int net_init(void);
/* Serve forever (honours poweroff/reboot requests). */
void net_run(void) __attribute__((noreturn));
/* Monotonic ns since boot (TSC based, no exit). */
uint64_t net_now(void);
extern struct lv_netdev net_dev;

/* UDP: one handler per local port. */
typedef void (*udp_fn)(uint32_t src, uint16_t sport, uint16_t dport,
		       const uint8_t *data, uint32_t len);
int udp_bind(uint16_t port, udp_fn fn);      /* 0 or -1 (table full) */
int udp_send(uint32_t dst, uint16_t sport, uint16_t dport,
	     const void *data, uint32_t len);   /* 0 or -1 */

/* TCP (tcp.c): passive open only. */
struct tcp_conn;
typedef void (*tcp_accept_fn)(struct tcp_conn *c);
/* len 0: the peer closed its side */
typedef void (*tcp_recv_fn)(struct tcp_conn *c, const uint8_t *data, uint32_t len);
int tcp_listen(uint16_t port, tcp_accept_fn on_accept, tcp_recv_fn on_recv);
/* Queue data; returns the bytes accepted (the send buffer is small). */
uint32_t tcp_send(struct tcp_conn *c, const void *data, uint32_t len);
/* Send FIN after the queued data. */
void tcp_close(struct tcp_conn *c);

/* Counters (for logs and tests). */
struct net_stats {
	uint64_t rx, tx, rx_bad, arp_rx, icmp_echo, udp_rx, tcp_rx,
		 tcp_bad, tcp_accepts, tcp_rst_tx, tcp_rexmit, tcp_syn_evict, tcp_oow;
};
extern struct net_stats net_stats;

/* ---- shared between the stack's files */
uint16_t net_csum(uint32_t sum, const void *p, uint32_t n);
uint32_t net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len);
/* An IPv4 packet to dst: a buffer for the L4 payload (NULL: no route or
 * device full; an ARP request may have been sent). */
uint8_t *ip_alloc(uint32_t dst);
void ip_send(uint32_t dst, uint8_t proto, uint32_t l4len);
void tcp_input(uint32_t src, uint32_t dst, const uint8_t *seg, uint32_t len);
void tcp_timers(uint64_t now);
uint64_t tcp_deadline(void);   /* 0: none */
void tcp_restored(void);        /* restored from a snapshot: connections gone */

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
/* addresses stay in network byte order: copy bytes */
static inline uint32_t get_addr(const uint8_t *p) { uint32_t a; __builtin_memcpy(&a, p, 4); return a; }
static inline void put_addr(uint8_t *p, uint32_t a) { __builtin_memcpy(p, &a, 4); }

#endif
