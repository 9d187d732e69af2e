/*
 * hostnet.h - private to the core: host networking for guests with a NIC.
 * One bridge per host (created on first use, with the host's address on
 * the configured subnet), one tap per VM attached to it, and a unique
 * IPv4 address and MAC per VM.  All over rtnetlink and TUNSETIFF: no
 * `ip` subprocesses, no scripts.  Taps are non-persistent: the shell holds
 * the only fd, so a tap vanishes with its VM.
 */
#ifndef LV_HOSTNET_H
#define LV_HOSTNET_H

#include <stdbool.h>
#include <stdint.h>

struct lv_host;
struct lv_vm;

#define LV_NET_DEFAULT_BRIDGE "lvbr0"
#define LV_NET_DEFAULT_SUBNET "10.77.0.0/16"
#define LV_NET_MTU 1500

/* Parse h->cfg.net_* (nothing touches the system yet).  0 or -EINVAL. */
int lv__net_open(struct lv_host *h, char *err, size_t errlen);
/* Close the pooled taps and the netlink socket; the bridge stays. */
void lv__net_close(struct lv_host *h);

/* Does the image behind fd carry the LV_NOTE_NET note (lightvm_abi.h)? */
bool lv__image_wants_net(int fd);

/* Give vm an IPv4 address and a MAC (vm->info.ipv4/mac), creating the
 * bridge on first use.  0, or -errno with a one-line reason in err. */
int lv__net_vm_attach(struct lv_vm *vm, char *err, size_t errlen);
/* Give vm's address back (the record is going away).  Idempotent. */
void lv__net_vm_detach(struct lv_vm *vm);

/* After a restart, for a restored VM with vm->info.ipv4 set (from its
 * record): reserve that address and its MAC again, set up the bridge if
 * this is the first, re-add the neighbour entry.  0; -ERANGE (outside
 * the subnet: kept, not reserved) or -EEXIST (claimed twice: dropped
 * from vm), logged. */
int lv__net_vm_restore(struct lv_vm *vm);
/* After the last restored VM: if the bridge exists, set it up now; hold
 * the addresses of live guest taps no record claims until they go;
 * remove permanent neighbour entries of addresses nobody uses. */
void lv__net_restore_done(struct lv_host *h);

/* A tap on the bridge, up, O_NONBLOCK, with mac as its static FDB entry:
 * from the pool or made now.  Returns the fd (the caller closes it once
 * handed over) or -errno. */
int lv__net_tap(struct lv_host *h, const uint8_t *mac);
/* Keep a few taps ready once networking is in use (call from the tick). */
void lv__net_tick(struct lv_host *h);

/* Frames the host dropped on their way into the guest at ipv4 (network
 * byte order): its tap's queue was full.  The taps' counters are read
 * from the kernel when asked, at most once a second, with one
 * RTM_GETSTATS dump for all links; each guest's tap is noted when it is
 * handed out (after a restart: one FDB dump).  0 without networking. */
uint64_t lv__net_rx_drops(struct lv_host *h, uint32_t ipv4);

/* The NIC configuration a driver hands the guest (network byte order). */
void lv__net_guest_config(const struct lv_host *h, uint32_t *netmask, uint32_t *gateway);

/* Tx policing of one guest NIC (both drivers' backends): a frame leaves
 * only with the VM's own source MAC, at most LV_NET_TX_RATE frames/s
 * (bursts of LV_NET_TX_BURST), of which LV_NET_BC_RATE/s (bursts of
 * LV_NET_BC_BURST) broadcast or multicast.  A guest that floods spends
 * its own time and loses its own frames.  Only ARP and IPv4 leave (no
 * VLAN tags): an ARP frame's sender must be the VM's own MAC and IPv4
 * address (0.0.0.0 for a probe), an IPv4 packet's source its address,
 * so no guest can take another's address or the gateway's. */
#define LV_NET_TX_RATE  20000
#define LV_NET_TX_BURST 512
#define LV_NET_BC_RATE  200
#define LV_NET_BC_BURST 64
struct lv_tx_police {
	uint8_t mac[6];
	uint32_t ipv4;           /* network byte order */
	int64_t tok, btok;       /* all frames / broadcast+multicast frames */
	int64_t tok_t;           /* last refill */
};
void lv__tx_police_init(struct lv_tx_police *p, const uint8_t *mac, uint32_t ipv4);
/* Add the tokens earned since the last refill (once per batch). */
void lv__tx_police_refill(struct lv_tx_police *p);
/* May this frame of len (>= 14) bytes leave?  Takes its tokens if so. */
bool lv__tx_police_allow(struct lv_tx_police *p, const uint8_t *frame, size_t len);

#endif
