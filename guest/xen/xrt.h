/*
 * xrt.h - what the Xen PV platform of the guest runtime offers beyond
 * rt.h, for Xen drivers (guest/net/netdev_xen.c): hypercalls, events,
 * and grants of the guest's own pages.
 */
#ifndef LV_XRT_H
#define LV_XRT_H

#include <stdint.h>

long lv_xen_hcall(unsigned nr, unsigned long a1, unsigned long a2, unsigned long a3);
void lv_xen_notify(uint32_t port);
/* Grant domid access to the page at va (page aligned, in the image).
 * Returns the grant reference, or -1 (no grant table, or it is full). */
int lv_xen_grant(const void *va, uint16_t domid, int readonly);

/* Set by a driver whose device the host re-creates after a restore
 * (the NIC): called once the guest runs in its new domain, its grants
 * re-issued under the same references, the device page rewritten. */
extern void (*lv_xen_resume_hook)(void);

#endif
