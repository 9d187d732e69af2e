/*
 * xen_pv.h - the few pieces of Xen's public guest ABI (xen/include/public,
 * x86-64 PV) that the LightVM Xen platform uses, written out so that the
 * guest builds without the Xen headers.  Layouts are Xen's, unchanged.
 */
#ifndef LV_XEN_PV_H
#define LV_XEN_PV_H

#include <stdint.h>

/* hypercall numbers (xen.h) */
#define __HYPERVISOR_memory_op         12
#define __HYPERVISOR_multicall         13
#define __HYPERVISOR_update_va_mapping 14
#define __HYPERVISOR_console_io        18
#define __HYPERVISOR_grant_table_op    20
#define __HYPERVISOR_sched_op          29
#define __HYPERVISOR_event_channel_op  32

#define SCHEDOP_yield    0
#define SCHEDOP_block    1
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll     3
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot   1
#define SHUTDOWN_suspend  2
#define SHUTDOWN_crash    3

#define EVTCHNOP_send    4
#define EVTCHNOP_alloc_unbound 6

struct evtchn_alloc_unbound {
	uint16_t dom, remote_dom;
	uint32_t port;               /* out */
};

/* XenStore's ring (io/xs_wire.h): what a guest started by xl needs to
 * say where its suspend channel is */
#define XS_WRITE 11
struct xsd_sockmsg {
	uint32_t type, req_id, tx_id, len;
};
struct xenstore_domain_interface {
	char req[1024];
	char rsp[1024];
	uint32_t req_cons, req_prod;
	uint32_t rsp_cons, rsp_prod;
};
#define UVMF_TLB_FLUSH   1
#define UVMF_INVLPG      2

/* xen.h: one call of a __HYPERVISOR_multicall batch */
struct multicall_entry {
	unsigned long op, result;
	unsigned long args[6];
};

/* memory.h: giving pages back (a balloon) */
#define XENMEM_decrease_reservation 1
struct xen_memory_reservation {
	unsigned long *extent_start; /* PV: machine frame numbers */
	unsigned long nr_extents;
	uint32_t extent_order;
	uint32_t mem_flags;
	uint16_t domid;
};
#define INVALID_P2M_ENTRY (~0ul)
#define CONSOLEIO_write  0

/* read-only machine-to-phys table mapped into every 64-bit PV guest */
#define XEN_M2P_VIRT_START 0xFFFF800000000000ul

#define MAX_GUEST_CMDLINE 1024

struct start_info {
	char magic[32];
	unsigned long nr_pages;
	unsigned long shared_info;   /* machine address */
	uint32_t flags;
	unsigned long store_mfn;
	uint32_t store_evtchn;
	union {
		struct { unsigned long mfn; uint32_t evtchn; } domU;
		struct { uint32_t info_off, info_size; } dom0;
	} console;
	unsigned long pt_base;
	unsigned long nr_pt_frames;
	unsigned long mfn_list;
	unsigned long mod_start;
	unsigned long mod_len;
	int8_t cmd_line[MAX_GUEST_CMDLINE];
	unsigned long first_p2m_pfn;
	unsigned long nr_p2m_frames;
};

struct vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t   tsc_shift;
	int8_t   flags;
	uint8_t  pad1[2];
};

struct vcpu_info {
	uint8_t evtchn_upcall_pending;
	uint8_t evtchn_upcall_mask;
	unsigned long evtchn_pending_sel;
	unsigned long cr2, pad;          /* struct arch_vcpu_info */
	struct vcpu_time_info time;
};

struct shared_info {
	struct vcpu_info vcpu_info[32];
	unsigned long evtchn_pending[64];
	unsigned long evtchn_mask[64];
	uint32_t wc_version;
	uint32_t wc_sec;
	uint32_t wc_nsec;
	uint32_t wc_sec_hi;
	struct {                         /* struct arch_shared_info (x86-64) */
		unsigned long max_pfn;   /* pages in the p2m */
		unsigned long pfn_to_mfn_frame_list_list;  /* MFN: where a save finds the p2m */
		unsigned long nmi_reason;
		uint64_t p2m_cr3, p2m_vaddr, p2m_generation;
	} arch;
};

struct xencons_interface {
	char in[1024];
	char out[2048];
	uint32_t in_cons, in_prod;
	uint32_t out_cons, out_prod;
};

struct sched_poll {
	uint32_t *ports;
	unsigned int nr_ports;
	uint64_t timeout;
};

/* grant tables, version 1 (grant_table.h) */
#define GNTTABOP_setup_table 2
#define DOMID_SELF           0x7FF0u
#define GTF_permit_access    1u
#define GTF_readonly         (1u << 2)
#define GNTTAB_NR_RESERVED   8u     /* refs 0..7: console, xenstore, ... */

struct gnttab_setup_table {
	uint16_t dom;
	uint32_t nr_frames;
	int16_t  status;
	unsigned long *frame_list;   /* XEN_GUEST_HANDLE(xen_pfn_t) */
};

struct grant_entry_v1 {
	uint16_t flags;
	uint16_t domid;
	uint32_t frame;
};

/* the netif protocol (io/netif.h) on io/ring.h shared rings */
#define NETIF_RING_SIZE 256u
#define NETIF_RSP_ERROR (-1)

struct netif_tx_request {
	uint32_t gref;
	uint16_t offset, flags, id, size;
};
struct netif_tx_response {
	uint16_t id;
	int16_t  status;
};
struct netif_rx_request {
	uint16_t id, pad;
	uint32_t gref;
};
struct netif_rx_response {
	uint16_t id, offset, flags;
	int16_t  status;
};

struct xen_sring_hdr {
	uint32_t req_prod, req_event;
	uint32_t rsp_prod, rsp_event;
	uint8_t  pad[48];
};

struct netif_tx_sring {
	struct xen_sring_hdr h;
	union {
		struct netif_tx_request req;
		struct netif_tx_response rsp;
	} ring[NETIF_RING_SIZE];
};

struct netif_rx_sring {
	struct xen_sring_hdr h;
	union {
		struct netif_rx_request req;
		struct netif_rx_response rsp;
	} ring[NETIF_RING_SIZE];
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct vcpu_info) == 64, "vcpu_info");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_pending) == 2048, "shared_info");
_Static_assert(__builtin_offsetof(struct start_info, cmd_line) == 128, "start_info");
_Static_assert(sizeof(struct multicall_entry) == 64, "multicall_entry");
_Static_assert(sizeof(struct xen_memory_reservation) == 32 &&
	       __builtin_offsetof(struct xen_memory_reservation, domid) == 24, "xen_memory_reservation");
_Static_assert(__builtin_offsetof(struct shared_info, arch) == 3088, "arch_shared_info");
_Static_assert(sizeof(struct xencons_interface) == 3088, "xencons");
_Static_assert(__builtin_offsetof(struct gnttab_setup_table, frame_list) == 16, "setup_table");
_Static_assert(sizeof(struct netif_tx_request) == 12 && sizeof(struct netif_rx_response) == 8, "netif");
_Static_assert(sizeof(struct netif_tx_sring) <= 4096 && sizeof(struct netif_rx_sring) <= 4096, "rings");
/* io/ring.h: the largest power of two entries that fit a page */
_Static_assert((4096 - 64) / 12 < 2 * NETIF_RING_SIZE && (4096 - 64) / 8 < 2 * NETIF_RING_SIZE, "ring size");
#endif

#endif
