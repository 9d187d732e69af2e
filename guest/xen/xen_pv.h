/*
 * xen_pv.h - the few pieces of Xen's public guest ABI (xen/include/public,
 * x86-64 PV) that the LightVM Xen platform uses, written out so that the
 * guest builds without the Xen headers.  Layouts are Xen's, unchanged.
 */
#ifndef LV_XEN_PV_H
#define LV_XEN_PV_H

#include <stdint.h>

/* hypercall numbers (xen.h) */
#define __HYPERVISOR_update_va_mapping 14
#define __HYPERVISOR_console_io        18
#define __HYPERVISOR_sched_op          29
#define __HYPERVISOR_event_channel_op  32

#define SCHEDOP_yield    0
#define SCHEDOP_block    1
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll     3
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot   1
#define SHUTDOWN_crash    3

#define EVTCHNOP_send    4
#define UVMF_INVLPG      2
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
	/* struct arch_shared_info follows; unused */
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

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct vcpu_info) == 64, "vcpu_info");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_pending) == 2048, "shared_info");
_Static_assert(__builtin_offsetof(struct start_info, cmd_line) == 128, "start_info");
_Static_assert(sizeof(struct xencons_interface) == 3088, "xencons");
#endif

#endif
