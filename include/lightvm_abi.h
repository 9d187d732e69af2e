/*
 * lightvm_abi.h - the guest/host ABI of LightVM, shared by the toolstack
 * (core/kvm shell) and the guest runtime (guest/rt).  Self-contained, C99,
 * no other dependency.  Bump LV_ABI_VERSION on any incompatible change.
 *
 * KVM platform contract
 * ---------------------
 * The shell (VMM) builds everything a 64-bit guest needs before the first
 * instruction: identity-mapped page tables (VA == GPA), a GDT with user
 * segments, a TSS whose I/O bitmap opens LV_PORT_HCALL, an IDT whose
 * ring-0 stubs report exceptions on LV_PORT_CRASH.  The guest is entered
 * directly in 64-bit ring 3 at its ELF entry point with
 *     rdi = LV_GPA_DEVPAGE (the device page),  rsp = top of guest memory,
 *     rflags = 0x2 (interrupts off: there are none),
 * every other general register 0 (a pooled vCPU gets there from a few
 * ring-3 instructions of the host's at LV_GPA_PARK).
 * The guest never runs ring-0 code of its own.
 *
 * Hypercalls: fill struct lv_hcall at LV_GPA_HCALL, then execute
 *     mov $LV_PORT_HCALL, %dx ; out %eax, %dx   (4-byte out, eax = nr)
 * On return, lv_hcall.ret holds the result (>= 0, or -errno).  Every
 * hypercall also drains the console ring, so console output is batched
 * until the next hypercall (LV_HC_CONSOLE is a pure doorbell).
 *
 * Xen PV platform contract (stock Xen, no hypervisor patch)
 * --------------------------------------------------------
 * The image is a PV ELF with the Xen notes (guest/xen/notes.S), linked at
 * LV_GPA_IMAGE with VIRT_BASE 0, so VA == pseudo-physical address; it is
 * entered as any x86-64 PV kernel (rsi = start_info).  No hypercall
 * doorbell and no LV_GPA_* fixed pages except the image address: the
 * device page is a page of guest memory chosen by the toolstack, whose
 * pseudo-physical address reaches the guest on the kernel command line as
 *     lv.devpage=0x<address>
 * (no XenStore on the spawn path).  Devices carry LV_DEVF_XEN:
 *   - LV_DEV_CONSOLE: the standard Xen PV console ring (struct
 *     xencons_interface, not struct lv_console_ring) at addr, event
 *     channel u.xen.evtchn (the same as start_info's console.domU);
 *   - LV_DEV_SYSCTL: host_req/guest_state as on KVM; the guest notifies
 *     u.sysctl.evtchn after changing guest_state, and the host notifies
 *     it after writing host_req (the guest blocks in SCHEDOP_poll on it).
 *     The guest stores its exit code in u.sysctl.exit_code before
 *     SCHEDOP_shutdown(poweroff).
 * On Xen the console and the sysctl share one event channel.  A guest
 * started without lv.devpage (xl create) still has the console.
 *
 * Save and restore on Xen (libxenguest's xc_domain_save/restore): the
 * host writes LV_REQ_SUSPEND in host_req and notifies; the guest clears
 * it and suspends as any PV guest does for a save -- start info's
 * console.domU.mfn as a guest page number, and store_mfn as the device
 * page's page number (no XenStore: the restore hands the host the
 * device page's new frame in its place), shared info and grant table
 * unmapped, SCHEDOP_shutdown(SHUTDOWN_suspend) with the start info's
 * MFN as the third argument.  The guest keeps shared info's
 * arch.max_pfn and pfn_to_mfn_frame_list_list set (the save reads its
 * p2m from them).  The call returns 1 if the domain runs on (a copy
 * was taken, or the save failed), 0 in a restored domain, where the
 * host has rewritten the device page for the new domain (name, event
 * channel, NIC, restored + 1, guest_state booting): the guest maps its
 * pages again, grants again under the same references, reconnects its
 * NIC, drops its connections, and says ready again.  Started by xl (no
 * lv.devpage), the guest gives xl a suspend event channel in XenStore
 * (device/suspend/event-channel) and suspends when it fires.
 */
#ifndef LIGHTVM_ABI_H
#define LIGHTVM_ABI_H

#include <stdint.h>

#define LV_ABI_MAGIC    0x4d56564cu /* "LVVM" little endian */
#define LV_ABI_VERSION  1u

/* Guest physical layout (KVM).  Pages 0x0000-0x8fff are supervisor-only
 * (U=0) except where noted; page 0 is not present (null guard). */
#define LV_GPA_GDT      0x1000u  /* GDT, see LV_SEL_* */
#define LV_GPA_IDT      0x2000u  /* 32 gates, all to LV_GPA_STUBS */
#define LV_GPA_TSS      0x3000u  /* 64-bit TSS + I/O bitmap */
#define LV_GPA_STUBS    0x4000u  /* ring-0 exception stubs (16 bytes each) */
#define LV_GPA_PML4     0x5000u
#define LV_GPA_PDPT     0x6000u
#define LV_GPA_PD       0x7000u
#define LV_GPA_PT0      0x8000u  /* 4 KiB mappings of the first 2 MiB */
#define LV_GPA_DEVPAGE  0x9000u  /* struct lv_devpage, user RW */
#define LV_GPA_HCALL    0xa000u  /* struct lv_hcall, user RW */
#define LV_GPA_CONSOLE  0xb000u  /* struct lv_console_ring, user RW, 2 pages */
#define LV_GPA_PARK     0xd000u  /* the host's: where a pooled vCPU waits for its
                                  * guest (ring-3 code that jumps to the entry);
                                  * the guest may reuse it, never rely on it */
#define LV_GPA_STACK0   0xf000u  /* top of the ring-0 stack page (TSS.RSP0) */
#define LV_GPA_NET      0x10000u /* network device area, user RW, up to LV_GPA_IMAGE:
                                  * struct lv_net_shared, then the guest's buffers */
#define LV_GPA_IMAGE    0x100000u /* lowest address an image may load at */
#define LV_GUEST_MIN_MEM (2u << 20)
#define LV_GUEST_MAX_MEM (1024u << 20)

/* GDT selectors */
#define LV_SEL_KCODE    0x08u
#define LV_SEL_KDATA    0x10u
#define LV_SEL_UDATA    0x1bu   /* 0x18 | RPL 3 */
#define LV_SEL_UCODE    0x23u   /* 0x20 | RPL 3 */
#define LV_SEL_TSS      0x28u   /* 16-byte descriptor */

/* I/O ports */
#define LV_PORT_HCALL   0x500u  /* ring 3 doorbell, 4-byte out */
#define LV_PORT_CRASH   0x510u  /* ring-0 exception stubs: eax = vector */

/* Hypercall numbers (struct lv_hcall.nr) */
enum lv_hc {
	LV_HC_CONSOLE  = 1, /* doorbell: console ring has output.  ret = 0 */
	LV_HC_READY    = 2, /* the guest is up and serving.  ret = 0 */
	LV_HC_IDLE     = 3, /* arg[0] = timeout in ns (UINT64_MAX: forever).
	                     * Blocks until work or timeout.  ret = LV_WAKE_*
	                     * bit mask (0: timeout). */
	LV_HC_POWEROFF = 4, /* arg[0] = exit code.  Does not return. */
	LV_HC_REBOOT   = 5, /* restart the image from its entry.  No return. */
	LV_HC_CLOCK    = 6, /* ret = 0; arg[0] = wall clock ns since the Unix
	                     * epoch (UTC), arg[1] = monotonic ns since boot */
	LV_HC_NET      = 7, /* network doorbell: the host takes the tx ring and
	                     * fills the rx ring now, without blocking.
	                     * ret = LV_WAKE_NET if frames arrived, else 0 */
	LV_HC_MAX
};

/* LV_HC_IDLE wake reasons */
#define LV_WAKE_SYSCTL   0x1u  /* sysctl.host_req changed */
#define LV_WAKE_CONSOLE  0x2u  /* console input arrived */
#define LV_WAKE_NET      0x4u  /* frames in the network rx ring */
#define LV_WAKE_RESTORED 0x8u  /* this guest was restored from a snapshot
                                * (or is a clone): its name, MAC and IPv4
                                * on the device page may be new, its
                                * connections are gone; devpage.restored
                                * counts restores */

/* struct lv_hcall.arg[3] flags, on any hypercall but LV_HC_READY */
#define LV_HCF_READY     0x1u  /* the guest is ready: LV_HC_READY folded into
                                * this exit (a restored guest says it on its
                                * next one, the IDLE it goes back to) */

struct lv_hcall {
	uint64_t nr;
	uint64_t arg[4];
	int64_t  ret;
};

/* Device types on the device page */
enum lv_dev_type {
	LV_DEV_NONE    = 0,
	LV_DEV_CONSOLE = 1,
	LV_DEV_SYSCTL  = 2,
	LV_DEV_NET     = 3, /* paravirtual NIC: see "Network device" below */
};

/* Power requests, written by the host in sysctl.host_req */
enum lv_power_req {
	LV_REQ_NONE     = 0,
	LV_REQ_POWEROFF = 1,
	LV_REQ_REBOOT   = 2,
	LV_REQ_SUSPEND  = 3, /* Xen: suspend for a save (see the top); KVM:
	                      * unused (its shell holds the vCPU itself) */
};

/* Guest states, written by the guest in sysctl.guest_state */
enum lv_guest_state {
	LV_GST_BOOTING = 0,
	LV_GST_READY   = 1,
	LV_GST_DOWN    = 2,
};

#define LV_CONSOLE_OUT_SIZE 4096u /* power of two */
#define LV_CONSOLE_IN_SIZE  2048u /* power of two */

/* Console ring (Xen console style): producers and consumers are free
 * running uint32 indexes; (prod - cons) <= size always, anything else is a
 * corrupt ring.  out: guest produces, host consumes; in: the reverse. */
struct lv_console_ring {
	uint32_t out_prod, out_cons;
	uint32_t in_prod, in_cons;
	uint8_t  pad[48];
	char out[LV_CONSOLE_OUT_SIZE];
	char in[LV_CONSOLE_IN_SIZE];
};

struct lv_dev {
	uint16_t type;   /* enum lv_dev_type */
	uint16_t id;
	uint32_t flags;
	uint64_t addr;   /* GPA of the device's shared area (0: inline) */
	uint64_t size;   /* bytes at addr */
	union {
		struct {
			uint32_t host_req;    /* enum lv_power_req, host writes */
			uint32_t guest_state; /* enum lv_guest_state, guest writes */
			uint32_t evtchn;      /* Xen: guest's event channel (LV_DEVF_XEN) */
			int32_t  exit_code;   /* Xen: written by the guest before poweroff */
		} sysctl;
		struct {
			uint32_t evtchn;      /* guest's event channel port */
		} xen;
		struct {
			uint8_t  mac[6];
			uint16_t mtu;
			uint32_t ipv4, netmask, gateway; /* network byte order */
			/* Xen (LV_DEVF_XEN): a netif ring pair, see below */
			uint32_t evtchn;      /* host writes: guest's event channel */
			uint32_t tx_ref, rx_ref; /* guest writes: grants of its rings */
			uint16_t backend;     /* host writes: the backend's domid */
			uint16_t state;       /* guest writes: LV_XNET_* */
		} net;
		uint8_t raw[40];
	} u;
};

/* struct lv_dev.flags */
#define LV_DEVF_XEN     0x1u /* Xen PV flavour of the device: see the top */

/* Xen PV: the kernel command line argument naming the device page */
#define LV_XEN_DEVPAGE_ARG "lv.devpage="

#define LV_MAX_DEVS     16u
#define LV_NAME_MAX     64u  /* including the terminating NUL */

struct lv_devpage {
	uint32_t magic;        /* LV_ABI_MAGIC */
	uint32_t version;      /* LV_ABI_VERSION */
	uint32_t size;         /* sizeof(struct lv_devpage) */
	uint32_t ndevs;        /* used entries in devs[] */
	char     name[LV_NAME_MAX]; /* VM name, NUL terminated */
	uint64_t mem_size;     /* bytes of guest memory, from GPA 0 */
	uint64_t tsc_khz;      /* guest TSC frequency, 0 if unknown */
	uint64_t boot_tsc;     /* guest TSC when the vCPU was started */
	uint64_t wall_ns;      /* host wall clock (UTC ns) at boot_tsc */
	uint32_t restored;     /* host writes: +1 at each restore (KVM) */
	uint32_t reserved0;
	uint64_t reserved[3];
	struct lv_dev devs[LV_MAX_DEVS];
};

/*
 * Network device (KVM).  LV_DEV_NET: addr = LV_GPA_NET, size = bytes the
 * guest may use from there (shared rings, then its frame buffers), u.net =
 * MAC, MTU and the IPv4 configuration.  Two rings of LV_NET_SLOTS
 * descriptors at addr; indexes are free running uint32 and
 * (avail - used) <= LV_NET_SLOTS always, anything else is a corrupt ring.
 *   tx: the guest writes a frame to a buffer of its own, fills
 *       slot[avail % LV_NET_SLOTS] = {addr, len} and bumps avail; the host
 *       sends it and bumps used (the buffer is free again).
 *   rx: the guest posts empty buffers the same way (len = capacity, at
 *       least LV_NET_FRAME_MAX); the host writes a frame into the buffer,
 *       sets the slot's len to the frame's length and bumps used.
 * Every hypercall takes the tx ring (as it drains the console), so a guest
 * that queues its replies and then idles pays no extra exit; LV_HC_NET is
 * the explicit doorbell.  The host fills the rx ring when the guest idles
 * (LV_HC_IDLE returns LV_WAKE_NET) or rings LV_HC_NET; frames that find
 * no posted buffer are dropped.  A buffer must lie in guest memory above
 * the shared rings; a bad descriptor crashes the guest.
 */
#define LV_NET_SLOTS     128u   /* power of two */
#define LV_NET_FRAME_MAX 1514u  /* Ethernet header + MTU 1500, no FCS */
#define LV_NET_FRAME_MIN 14u

struct lv_net_desc {
	uint64_t addr;   /* GPA of the buffer */
	uint32_t len;    /* tx: frame length; rx: capacity, then frame length */
	uint32_t flags;  /* 0 */
};

struct lv_net_ring {
	uint32_t avail;  /* guest writes */
	uint32_t used;   /* host writes */
	uint32_t pad[14];
	struct lv_net_desc slot[LV_NET_SLOTS];
};

struct lv_net_shared {
	struct lv_net_ring tx, rx;
};

/*
 * Network device (Xen PV, LV_DEVF_XEN set).  The frontend speaks Xen's
 * netif protocol (xen/include/public/io/netif.h: one tx and one rx shared
 * ring of 256 entries, one page each, requests carry grant references of
 * whole pages, no fragments, no offloads), but the handshake is on the
 * device page instead of XenStore: the host fills mac/mtu/IPv4, evtchn
 * and backend; the guest grants its two ring pages (and every buffer) to
 * `backend`, writes tx_ref/rx_ref, then state = LV_XNET_CONNECTED and
 * notifies.  The backend maps the two rings and moves frame data with
 * grant copies.  A bad ring or ref crashes the guest.
 */
#define LV_XNET_INIT      0u
#define LV_XNET_CONNECTED 1u

/* An image that wants a NIC carries an ELF note (PT_NOTE) with name
 * LV_NOTE_NAME and type LV_NOTE_NET; images without it get none. */
#define LV_NOTE_NAME    "LightVM"
#define LV_NOTE_NET     1u

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct lv_net_shared) == 2 * (64 + 16 * LV_NET_SLOTS), "net rings");
_Static_assert(LV_GPA_NET + sizeof(struct lv_net_shared) < LV_GPA_IMAGE, "net area");
_Static_assert(sizeof(struct lv_hcall) == 48, "lv_hcall layout");
_Static_assert(sizeof(struct lv_dev) == 64, "lv_dev layout");
_Static_assert(sizeof(struct lv_devpage) == 1168, "lv_devpage layout");
_Static_assert(sizeof(struct lv_devpage) <= 4096, "devpage fits a page");
_Static_assert(sizeof(struct lv_console_ring) == 64 + 4096 + 2048, "ring");
_Static_assert(LV_GPA_CONSOLE + sizeof(struct lv_console_ring) <= LV_GPA_STACK0 - 0x1000, "ring fits");
#endif

#endif /* LIGHTVM_ABI_H */
