/*
 * xen_drv.h - what the Xen driver's files share: the driver (hypervisor
 * handles, event channels, pools) and one domain as xen_dom.c builds it.
 */
#ifndef LV_XEN_DRV_H
#define LV_XEN_DRV_H

#include <stdbool.h>
#include <stdint.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>

#include "lv_internal.h"
#include "lightvm_abi.h"

#define XEN_MAX_DOMID 32768u

/* One domain we own: a pooled shell, or the domain of a VM. */
struct xen_dom {
	uint32_t domid;             /* 0: none */
	uint64_t mem;
	uint32_t remote_port;       /* guest's end of its one event channel */
	int local_port;             /* ours (bound interdomain), -1 if none */
	xen_pfn_t *p2m;             /* pre-populated memory (pool), or NULL */
	unsigned long nr_pages;
	/* after xen_dom_build */
	xen_pfn_t console_mfn, devpage_mfn;
	uint64_t devpage_gpa;
	uint8_t handle[16];         /* random, checked when re-attaching */
	uint32_t vm_id;             /* the VM built in it (lv_vm_info.id), 0: none */
	/* XenStore mode only */
	bool store;
	uint32_t store_port;        /* guest's end of the store channel */
	xen_pfn_t store_mfn;
};

struct xen_driver;
struct xs_handle;
struct xen_xst;
struct xen_vifw;
struct xen_name_op;
struct xen_image;
struct xen_dom_ref;

/* Create a paused PV domain of mem bytes with its event channel bound;
 * with populate, its memory is allocated now (pool).  Undo with
 * xen_dom_destroy. */
int xen_dom_create(struct xen_driver *d, uint64_t mem, bool populate,
		   struct xen_dom *xd, char *err, size_t errlen);
/* Load the image (fd borrowed) and the ramdisk (a path, or NULL), lay
 * out start info, console and the device page (filled by fill(arg,
 * page)), set up the vCPU; extra (or NULL) ends the command line.  The
 * domain stays paused. */
int xen_dom_build(struct xen_driver *d, struct xen_dom *xd, int image_fd,
		  const char *ramdisk, const char *extra,
		  void (*fill)(void *arg, struct lv_devpage *dp, const struct xen_dom *xd),
		  void *arg, char *err, size_t errlen);
/* Destroy the domain (if any), unbind its channel, forget its file and
 * its name (noxs names, below); xd becomes empty. */
void xen_dom_destroy(struct xen_driver *d, struct xen_dom *xd);

/* What a VM's domain is built from besides the image, kept for reboots
 * and in the domain file (a restarted agent can reboot the VM too). */
struct xen_boot {
	char *ramdisk;              /* a path, or NULL */
	char *cmdline;              /* extra kernel arguments, or NULL */
	bool vif_xs;                /* its NIC is a stock netfront (XenStore) */
};
void xen_boot_free(struct xen_boot *b);

/* XenStore mode (xen_store.c) */
int xen_store_open(struct xen_driver *d);
void xen_store_close(struct xen_driver *d);
/* mac: the VM's stock NIC (the vif entries, frontend and backend), or NULL */
int xen_store_add(struct xen_driver *d, const struct xen_dom *xd, const char *name,
		  const uint8_t *mac, char *err, size_t errlen);
void xen_store_remove(struct xen_driver *d, uint32_t domid);

/* The XenStore threads (xen_store.c): in noxs mode, when a xenstored
 * runs, one writes /local/domain/DOMID/name (nothing else) so that
 * libxenstat lists our domains and `xl list` shows their names; in both
 * modes the other takes the libxenstat samples.  The agent's loop never
 * waits for xenstored on their account.  names: noxs names on. */
int xen_xst_start(struct xen_driver *d, bool names);   /* 0 or -errno */
void xen_xst_stop(struct xen_driver *d);               /* queued names written first */
/* Queue a name or its removal (main thread; nothing is written yet). */
void xen_names_set(struct xen_driver *d, uint32_t domid, const char *name);
void xen_names_forget(struct xen_driver *d, uint32_t domid);
/* From the tick: take back what was written (d->named); with go, hand
 * the queue over to be written. */
void xen_names_tick(struct xen_driver *d, bool go);
/* One domain in a libxenstat sample. */
struct xen_stat {
	uint32_t domid;
	uint64_t cpu_ns, pages;
};
/* The last finished sample (to free; NULL: none since the last call;
 * *n entries, *ndoms domains listed, *taken when it started, *cost how
 * long it took), and with want another one asked for. */
struct xen_stat *xen_xst_poll(struct xen_driver *d, bool want, unsigned *n, unsigned *ndoms,
			      int64_t *taken, int64_t *cost, bool *init_failed);

/* The domain file STATEDIR/xen/DOMID (written atomically): what a
 * restarted agent needs to re-attach (handle, channel, page frames, the
 * VM's id) and to reboot the VM (b: ramdisk, cmdline; NULL: none).  load
 * fills b (if not NULL) with strings to free with xen_boot_free. */
int xen_dom_save(struct xen_driver *d, const struct xen_dom *xd, const struct xen_boot *b);
int xen_dom_load(struct xen_driver *d, uint32_t domid, struct xen_dom *xd, struct xen_boot *b);
void xen_dom_forget(struct xen_driver *d, uint32_t domid);
/* 1 if domid exists with xd's handle (*flags: XEN_DOMINF_*), else 0 */
int xen_dom_check(struct xen_driver *d, const struct xen_dom *xd, uint32_t *flags);

/* The network backend (xen_net.c): one per VM with a NIC, lives as long
 * as the VM (its tap), bound to the VM's current domain. */
struct xen_net;
/* xs: a stock netfront (XenStore handshake), else LightVM's device page */
struct xen_net *xen_net_new(struct xen_driver *d, struct lv_vm *vm, bool xs, char *err, size_t errlen);
bool xen_net_xs(const struct xen_net *n);
/* Append the NIC's entry to a device page being built. */
void xen_net_devpage(const struct xen_net *n, struct lv_devpage *dp, uint32_t guest_port);
/* The domain now behind the NIC, with its mapped device page. */
void xen_net_bind(struct xen_net *n, uint32_t domid, int local_port, struct lv_devpage *dp);
/* An event from the guest: connect when it says so, send its tx.  0, or
 * -EPROTO if the guest broke the protocol: then it has been crashed
 * (xen_vm_fault) and n and the VM's driver state are gone. */
int xen_net_event(struct xen_net *n);
/* Unmap the rings: before the domain is destroyed (or rebuilt). */
void xen_net_unbind(struct xen_net *n);
void xen_net_free(struct xen_net *n);           /* unbind, close the tap */
void xen_net_stats(const struct xen_net *n, struct lv_vm_stats *out);

/* What a stock netfront wrote under /local/domain/DOMID/device/vif/0, as
 * the XenStore thread read it after a change of its state: strings, not
 * trusted, checked by xen_netfront_parse on the agent's loop. */
#define XEN_NF_KEYS 5           /* state, tx-ring-ref, rx-ring-ref, event-channel, request-rx-copy */
#define XEN_NF_MAX_GREF ((1u << 24) - 1)
#define XEN_NF_MAX_PORT 1023u   /* the domain's max_evtchn_port in XenStore mode */
struct xen_netfront {
	uint32_t domid;
	unsigned gen;               /* the watch's (xen_net's) generation */
	unsigned have;              /* bit i: key i exists */
	unsigned toolong;           /* bit i: key i's value did not fit val[i] */
	bool unoffered;             /* event-channel-tx or multi-queue-num-queues written */
	char val[XEN_NF_KEYS][16];
};
struct xen_netfront_vals {
	int state;                  /* XenbusState, -1: no state node */
	uint32_t tx_ref, rx_ref, evtchn;
	bool rx_copy, have_rings, unoffered;
};
/* 0, or -EINVAL with err naming the key and its value. */
int xen_netfront_parse(const struct xen_netfront *f, struct xen_netfront_vals *v,
		       char *err, size_t errlen);
/* A report of the frontend's: connect, disconnect, move the backend's
 * state.  0, or -EPROTO: the VM has been crashed (n is gone). */
int xen_net_front(struct xen_net *n, const struct xen_netfront *f);

/* The vif thread (xen_store.c, XenStore mode): watches each stock
 * frontend's state, reads what it wrote, writes the backend's state; the
 * agent's loop hands it work and takes its reports, never waiting for
 * xenstored. */
int xen_vifw_start(struct xen_driver *d);               /* 0 or -errno */
void xen_vifw_stop(struct xen_driver *d);
void xen_vifw_watch(struct xen_driver *d, uint32_t domid, unsigned gen, bool on);
void xen_vifw_state(struct xen_driver *d, uint32_t domid, unsigned gen, int state);
/* The reports so far (to free), *n of them. */
struct xen_netfront *xen_vifw_take(struct xen_driver *d, unsigned *n);
int xen_vifw_fd(struct xen_driver *d);                  /* readable: reports */
/* Events on port (bound by a backend) go to vm's backends (on), or no
 * longer (off).  0 or -ENOMEM. */
int xen_vm_port(struct xen_driver *d, struct lv_vm *vm, int port, bool on);

/* End vm crashed with why (a guest broke a device protocol) and release
 * its domain and backends. */
void xen_vm_fault(struct xen_driver *d, struct lv_vm *vm, const char *why);

struct xen_driver {
	struct lv_host *h;
	xc_interface *xch;
	xenevtchn_handle *xce;
	xenforeignmemory_handle *fmem;
	xengnttab_handle *xgt;      /* NIC rings and grant copies; NULL: no gntdev */
	int evfd;
	int virq_port;              /* VIRQ_DOM_EXC, -1: poll domain states */
	struct xen_vm **by_port;    /* local port -> VM */
	unsigned nports;
	struct xen_vm **by_domid;   /* [XEN_MAX_DOMID] */
	struct xen_vm *pending;     /* started, not yet reported */
	struct xen_vm *timed;       /* shutdown deadlines */
	xc_domaininfo_t *info;      /* scratch for xc_domain_getinfolist */
	struct xs_handle *xs;       /* XenStore mode (LIGHTVM_XEN_MODE=xenstore) */
	struct xen_xst *xt;         /* the XenStore threads, or NULL (no xenstored) */
	struct xen_vifw *vw;        /* the vif thread (XenStore mode with gntdev), or NULL */
	bool names;                 /* noxs mode with a xenstored: domains get names */
	struct xen_name_op *names_q;    /* names and removals not handed over yet */
	unsigned names_n, names_cap;
	int64_t names_since;        /* when the oldest of them was queued */
	int64_t names_warned;       /* last warning about names not written */
	uint8_t *named;             /* [XEN_MAX_DOMID]: a domain of ours has a name in XenStore */
	bool xst_off;               /* xenstat_init failed */
	bool xst_live;              /* stats come from libxenstat (a sample was taken) */
	bool xst_said;              /* the agent log says where stats come from */
	int64_t xst_next;           /* next libxenstat sample to ask for */
	int64_t xst_ask_t;          /* when the last one was asked for */
	bool xst_pending;           /* and it is not in yet */
	int64_t xst_t, xst_fresh;   /* when the last one was taken, for how long it is fresh */
	int64_t xst_interest;       /* when stats were last asked for */
	int64_t xst_work_t;         /* when xen_stats last looked at libxenstat */
	uint64_t xst_seq;           /* samples taken */
	struct xen_image *images;   /* image files of the VMs, kept for reboots */
	struct xen_dom_ref *dom_index;  /* restart: VM id -> domain, from the domain files */
	unsigned dom_index_n;
	bool dom_indexed;
	char console_dir[256];
	char dom_dir[256];          /* STATEDIR/xen: one file per domain */
	int64_t next_poll;
	int64_t last_scan;             /* when scan_domains last ran (guest-asked scans wait SCAN_MIN_NS) */
	int64_t last_spawn;          /* names and samples wait for a quiet moment */
	/* saves and restores (xen_save.c): threads, finished jobs back
	 * through a pipe the loop watches */
	int job_pipe[2];
	bool job_pipe_on;
	unsigned jobs;               /* running */
};

#endif
