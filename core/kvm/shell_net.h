/*
 * shell_net.h - private to the shell process: the backend of the guest's
 * paravirtual NIC (lightvm_abi.h, "Network device").  It moves frames
 * between the guest's two rings and a tap fd handed over with EXEC, and
 * validates every descriptor: a bad one crashes the guest, never the shell.
 */
#ifndef KVM_SHELL_NET_H
#define KVM_SHELL_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "hostnet.h"

struct kvm_shell;
struct kvm_msg;

struct kvm_net {
	int fd;                  /* tap (O_NONBLOCK), -1: the VM has no NIC */
	uint32_t tx_used, rx_used; /* the host's own copies of the used indexes */
	struct lv_tx_police police; /* own MAC only, rate limits */
	uint64_t rx_pkts, rx_bytes, rx_drop, tx_pkts, tx_bytes, tx_drop;
};

/* EXEC: adopt tap_fd (or -1) and describe the NIC on the device page. */
void kvm_net_setup(struct kvm_shell *s, int tap_fd, const struct kvm_msg *m);
/* Reboot: forget the rings (the guest posts new buffers). */
void kvm_net_reset(struct kvm_shell *s);
/* Send what the guest queued on its tx ring (every hypercall). */
void kvm_net_tx(struct kvm_shell *s);
/* Move frames from the tap into posted rx buffers; LV_WAKE_NET if any. */
uint32_t kvm_net_rx(struct kvm_shell *s);
/* Is the tap worth polling (a NIC with at least one posted rx buffer)? */
bool kvm_net_pollable(struct kvm_shell *s);

#endif
