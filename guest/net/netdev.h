/*
 * netdev.h - the one interface between the guest network stack and a
 * NIC driver.  The KVM paravirtual ring pair (netdev_kvm.c) is the first
 * driver, the Xen netif frontend (netdev_xen.c) the second.
 * Frames are whole Ethernet frames without FCS.
 */
#ifndef LV_NETDEV_H
#define LV_NETDEV_H

#include <stdint.h>
#include "lightvm_abi.h"

struct lv_netdev {
	uint8_t  mac[6];
	uint16_t mtu;
	uint32_t ip, mask, gw;   /* network byte order */
	/* The next received frame, or NULL; valid until rx_done. */
	uint8_t *(*rx_next)(struct lv_netdev *nd, uint32_t *len);
	void (*rx_done)(struct lv_netdev *nd);
	/* A buffer of LV_NET_FRAME_MAX bytes for the next outgoing frame
	 * (NULL: the device is full even after a kick); tx_commit queues it.
	 * A buffer that is not committed is simply reused. */
	uint8_t *(*tx_alloc)(struct lv_netdev *nd);
	void (*tx_commit)(struct lv_netdev *nd, uint32_t len);
	/* Hand queued frames to the host now (one exit for the batch).
	 * Idling hands them over too, for free. */
	void (*kick)(struct lv_netdev *nd);
	void *priv;
};

/* A driver's open: nd = its operations (ops) and the configuration of
 * the device entry d (MAC, MTU, IPv4). */
static inline void lv_netdev_init(struct lv_netdev *nd, volatile const struct lv_dev *d,
				  const struct lv_netdev *ops)
{
	*nd = *ops;
	for (unsigned i = 0; i < 6; i++)
		nd->mac[i] = d->u.net.mac[i];
	nd->mtu = d->u.net.mtu;
	nd->ip = d->u.net.ipv4;
	nd->mask = d->u.net.netmask;
	nd->gw = d->u.net.gateway;
}

/* The platform's NIC from the device page: the KVM ring pair
 * (netdev_kvm.c) or the Xen netif frontend (netdev_xen.c); each image
 * links one.  0, or -1 if there is none. */
int lv_netdev_open(struct lv_netdev *nd);

#endif
