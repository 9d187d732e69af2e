/*
 * xen_driver.c - the Xen driver as the core sees it (noxs mode): VMs are
 * PV domains built by xen_dom.c; the agent is the backend of their
 * console (PV console ring mapped with libxenforeignmemory, drained into
 * STATEDIR/console/NAME.log) and of their sysctl device (host_req and
 * guest_state on the device page), with one event channel per VM.  Domain
 * deaths come from VIRQ_DOM_EXC, or, when xenstored holds that VIRQ, from
 * a domain-state poll every tick.  A pooled domain is a slot of the
 * core's pool (pool.c): created, with its memory populated and its
 * channel bound, within a time budget per tick (xen_prepare).  With a xenstored
 * running, the domains get their names in XenStore off the spawn path
 * (xen_store.c), so live stats come from libxenstat in noxs mode too.  A
 * guest's reboot rebuilds the VM in a fresh domain (vm_rebuild).
 * Guests are not trusted: a console log stops at XEN_LOG_CAP bytes (with
 * a note), and the domain scans a guest can ask for (guest_state down)
 * run at most every SCAN_MIN_NS however many events it sends.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "xen/xen_drv.h"
#include "xen/xen_save.h"
#include "hostnet.h"
#include <xen/io/console.h>
#include <xen/sched.h>
#include "lightvm_abi.h"

#define SHUTDOWN_FORCE_NS   (10ll * 1000000000)
#define REFILL_BUDGET_NS    (20ll * 1000000)    /* per tick */
#define REFILL_QUIET_NS     (50ll * 1000000)    /* no refill, names, samples this soon after a spawn */
#define POLL_NS             (100ll * 1000000)
#define INFO_BATCH          256u
#define XENSTAT_NS          (400ll * 1000000)
#define XENSTAT_SHARE       10                  /* sample at most every 10x its cost, */
#define XENSTAT_MAX_NS      (5000ll * 1000000)  /* but at least every 5 s */
#define XENSTAT_MAX_NAMELESS 200u
#define NAMES_AGE_NS        (10000ll * 1000000) /* names wait for a quiet tick, or this long */
#define XENSTAT_STALE_NS    (5000ll * 1000000)  /* a sample this late: the scan's numbers */
#define XENSTAT_INTEREST_NS (2000ll * 1000000)  /* sampling goes on this long after stats were asked */
#define REBOOT_MAX          10u                 /* reboots within REBOOT_WINDOW_NS... */
#define REBOOT_WINDOW_NS    (10ll * 1000000000) /* ...and the next one is a crash */
#define XEN_LOG_CAP         (1u << 20)          /* console log bytes per VM, as on KVM */
#define SCAN_MIN_NS         (20ll * 1000000)    /* guest-asked domain scans, at most this often */

struct xen_vm {
	struct xen_driver *d;
	struct lv_vm *vm;
	struct xen_dom dom;
	struct xencons_interface *cons;
	struct lv_devpage *dp;
	struct xen_net *net;           /* the NIC's backend (xen_net.c), or NULL */
	int logfd;
	uint64_t log_bytes, log_dropped;  /* the log's size; what the cap dropped */
	bool started_reported, gone;
	struct xen_vm *pnext;          /* pending "started" list */
	struct xen_vm *tnext;          /* shutdown deadline list */
	bool timed;
	int64_t deadline;
	uint64_t cpu_ns, pages;        /* from the last domain scan or libxenstat */
	uint64_t cpu_base;             /* CPU time of the VM's earlier domains */
	uint64_t xst_seq;              /* the libxenstat sample that gave cpu_ns, pages */
	int64_t dom_t;                 /* when the VM got its domain */
	/* for reboots: the image (NULL after an agent restart: opened by
	 * name then), ramdisk and command line */
	struct xen_image *img;
	struct xen_boot boot;
	int64_t reboots[REBOOT_MAX];   /* when it last rebooted (a ring) */
	unsigned reboot_i;
	struct xen_vm *rnext;          /* reboots found by a domain scan */
	struct xen_job *job;           /* a save or restore running (xen_save.c) */
	bool restoring;                /* the agent closes during its restore */
	uint32_t restored;             /* restores so far (the device page's count) */
	/* its domain is shut down for suspend and kept so: a migration's
	 * held save (LV_SAVE_HOLD), or found so by a restarted agent; an
	 * unpause resumes it (xc_domain_resume, cooperative), a destroy
	 * ends it */
	bool held;
};

/* An image file, open once however many VMs run it (a dup of the first
 * spawn's fd): reboots rebuild from the very file the VM was spawned
 * from, and the agent's fd budget stays about one per VM. */
struct xen_image {
	struct xen_image *next;
	dev_t dev;
	ino_t ino;
	int fd;
	unsigned refs;
};

/* A pooled domain: a slot of the core's pool. */
struct xen_shell {
	struct lv_pool_slot slot;
	struct xen_dom dom;
};

#define SLOT_SHELL(p) ((struct xen_shell *)((char *)(p) - offsetof(struct xen_shell, slot)))

/* ---- maps: local port and domid -> VM */

static int port_set(struct xen_driver *d, int port, struct xen_vm *xv)
{
	if (port < 0)
		return -EINVAL;
	if ((unsigned)port >= d->nports) {
		unsigned n = d->nports ? d->nports : 256;
		struct xen_vm **p;

		while (n <= (unsigned)port)
			n *= 2;
		p = realloc(d->by_port, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + d->nports, 0, (n - d->nports) * sizeof(*p));
		d->by_port = p;
		d->nports = n;
	}
	d->by_port[port] = xv;
	return 0;
}

static struct xen_vm *port_get(struct xen_driver *d, int port)
{
	return port >= 0 && (unsigned)port < d->nports ? d->by_port[port] : NULL;
}

int xen_vm_port(struct xen_driver *d, struct lv_vm *vm, int port, bool on)
{
	if (!on)
		return port_get(d, port) == vm->drv ? port_set(d, port, NULL) : 0;
	return port_set(d, port, vm->drv);
}

/* ---- console */

/* The log's size when it is opened (appended to across reboots and
 * agent restarts): the cap counts from there. */
static void console_log_opened(struct xen_vm *xv)
{
	struct stat st;

	xv->log_bytes = xv->logfd >= 0 && fstat(xv->logfd, &st) == 0 ? (uint64_t)st.st_size : 0;
	xv->log_dropped = 0;
}

/* Guest output into the log, up to XEN_LOG_CAP bytes; the rest is
 * counted, and a note says so once (a chatty guest cannot fill Dom0's
 * disk). */
static void console_log(struct xen_vm *xv, const char *buf, size_t n)
{
	uint64_t room = xv->log_bytes < XEN_LOG_CAP ? XEN_LOG_CAP - xv->log_bytes : 0;
	size_t w = n < room ? n : (size_t)room;
	char note[96];
	int len;

	if (xv->logfd < 0)
		return;
	if (w && write(xv->logfd, buf, w) < 0)
		lv__log(xv->d->h, LV_LOG_WARN, "%s: console log: %s", xv->vm->info.name, strerror(errno));
	xv->log_bytes += w;
	if (w == n)
		return;
	if (xv->log_dropped == 0) {
		len = snprintf(note, sizeof(note), "\n[lightvm: console log capped at %u bytes; the rest is dropped]\n",
			       XEN_LOG_CAP);
		if (write(xv->logfd, note, (size_t)len) < 0)
			xv->log_dropped = 0;
	}
	xv->log_dropped += n - w;
}

static void console_drain(struct xen_vm *xv)
{
	struct xencons_interface *c = xv->cons;
	XENCONS_RING_IDX cons, prod;
	char buf[sizeof(c->out)];
	size_t n = 0;

	if (!c)
		return;
	cons = c->out_cons;
	prod = c->out_prod;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (prod - cons > sizeof(c->out)) {
		lv__log(xv->d->h, LV_LOG_WARN, "%s: corrupt console ring (prod %u cons %u); reset",
			xv->vm->info.name, prod, cons);
		c->out_cons = prod;
		return;
	}
	while (cons != prod)
		buf[n++] = c->out[MASK_XENCONS_IDX(cons++, c->out)];
	__atomic_thread_fence(__ATOMIC_RELEASE);
	c->out_cons = cons;
	if (n)
		console_log(xv, buf, n);
	if (n)
		xenevtchn_notify(xv->d->xce, (evtchn_port_t)xv->dom.local_port);
}

static int open_console_log(struct xen_driver *d, struct lv_vm *vm)
{
	int fd;

	snprintf(vm->info.console_path, sizeof(vm->info.console_path), "%s/%s.log",
		 d->console_dir, vm->info.name);
	fd = open(vm->info.console_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		lv__log(d->h, LV_LOG_ERR, "%s: console log %s: %s", vm->info.name,
			vm->info.console_path, strerror(errno));
		vm->info.console_path[0] = 0;
	}
	return fd;
}

/* ---- VM life */

static void report_started(struct xen_vm *xv)
{
	if (xv->started_reported || !xv->vm)
		return;
	xv->started_reported = true;
	if (xv->vm->info.state == LV_ST_PREPARED)
		lv__vm_state(xv->vm, LV_ST_BOOTING, NULL);
}

static void flush_pending(struct xen_driver *d)
{
	while (d->pending) {
		struct xen_vm *xv = d->pending;

		d->pending = xv->pnext;
		xv->pnext = NULL;
		report_started(xv);
	}
}

static void timed_del(struct xen_vm *xv)
{
	if (!xv->timed)
		return;
	for (struct xen_vm **p = &xv->d->timed; *p; p = &(*p)->tnext)
		if (*p == xv) {
			*p = xv->tnext;
			break;
		}
	xv->timed = false;
}

static void pending_del(struct xen_vm *xv)
{
	for (struct xen_vm **p = &xv->d->pending; *p; p = &(*p)->pnext)
		if (*p == xv) {
			*p = xv->pnext;
			break;
		}
}

/* ---- image files (struct xen_image) */

static struct xen_image *image_get(struct xen_driver *d, int fd)
{
	struct xen_image *im;
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		return NULL;
	for (im = d->images; im; im = im->next)
		if (im->dev == st.st_dev && im->ino == st.st_ino) {
			im->refs++;
			return im;
		}
	im = calloc(1, sizeof(*im));
	if (!im)
		return NULL;
	im->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (im->fd < 0) {
		free(im);
		return NULL;
	}
	im->dev = st.st_dev;
	im->ino = st.st_ino;
	im->refs = 1;
	im->next = d->images;
	d->images = im;
	return im;
}

static void image_put(struct xen_driver *d, struct xen_image *im)
{
	if (!im || --im->refs)
		return;
	for (struct xen_image **p = &d->images; *p; p = &(*p)->next)
		if (*p == im) {
			*p = im->next;
			break;
		}
	close(im->fd);
	free(im);
}

/* Undo what vm_build set up for the VM's current domain, then destroy
 * the domain: console drained, pages unmapped, channel and maps cleared,
 * XenStore entries (XenStore mode) or name (noxs) removed, domain file
 * forgotten.  What belongs to the VM (record, console log, the copies
 * for reboots) stays: vm_release and vm_rebuild go on from here. */
static void vm_detach(struct xen_vm *xv)
{
	struct xen_driver *d = xv->d;

	console_drain(xv);
	/* Per-VM device backends: here they let go of this domain (its
	 * grant maps, ...) before it is destroyed, on destroy and on
	 * reboot alike; what they keep per VM (a tap) is freed by
	 * vm_release only. */
	xen_net_unbind(xv->net);
	if (xv->cons)
		xenforeignmemory_unmap(d->fmem, xv->cons, 1);
	if (xv->dp)
		xenforeignmemory_unmap(d->fmem, xv->dp, 1);
	xv->cons = NULL;
	xv->dp = NULL;
	if (xv->dom.local_port >= 0)
		port_set(d, xv->dom.local_port, NULL);
	if (xv->dom.domid && xv->dom.domid < XEN_MAX_DOMID)
		d->by_domid[xv->dom.domid] = NULL;
	if (xv->dom.store)
		xen_store_remove(d, xv->dom.domid);
	xen_dom_destroy(d, &xv->dom);
}

/* Free the driver's VM state (no domain left: vm_detach first). */
static void vm_free(struct xen_vm *xv)
{
	if (xv->logfd >= 0)
		close(xv->logfd);
	image_put(xv->d, xv->img);
	xen_boot_free(&xv->boot);
	xv->vm->drv = NULL;
	free(xv);
}

/* Tear the domain down and tell the core the driver holds nothing more. */
static void vm_release(struct xen_vm *xv)
{
	struct lv_vm *vm = xv->vm;

	if (xv->job)                 /* it finishes on its own, for nobody */
		xv->job->owner = NULL;
	xv->job = NULL;
	timed_del(xv);
	pending_del(xv);
	xen_net_free(xv->net);      /* its grant maps go before the domain */
	xv->net = NULL;
	vm_detach(xv);
	vm_free(xv);
	lv__vm_released(vm);
}

/* An event from the guest.  false if it broke a device protocol and
 * has been crashed (xv is gone). */
static bool vm_event(struct xen_vm *xv)
{
	struct lv_vm *vm = xv->vm;

	report_started(xv);
	console_drain(xv);
	if (xen_net_event(xv->net))
		return false;
	if (xv->dp && xv->dp->devs[1].u.sysctl.guest_state == LV_GST_READY &&
	    !vm->info.t[LV_PH_READY]) {
		lv__vm_phase(vm, LV_PH_READY, lv_now_ns());
		if (lv_state_is_booting(vm->info.state))
			lv__vm_state(vm, LV_ST_RUNNING, NULL);
	}
	return true;
}

void xen_vm_fault(struct xen_driver *d, struct lv_vm *vm, const char *why)
{
	struct xen_vm *xv = vm->drv;

	if (!xv)
		return;
	lv__log(d->h, LV_LOG_WARN, "%s: %s: crashing it", vm->info.name, why);
	console_drain(xv);
	lv__vm_state(vm, LV_ST_CRASHED, why);
	vm_release(xv);
}

static void vm_rebuild(struct xen_vm *xv);

/* The domain has shut down (or vanished): final state, then release; or
 * the guest asked for a reboot: a new domain. */
static void vm_dead(struct xen_vm *xv, unsigned reason, bool vanished)
{
	struct lv_vm *vm = xv->vm;
	char why[96];

	report_started(xv);
	console_drain(xv);
	if (vanished) {
		lv__vm_state(vm, LV_ST_CRASHED, "the domain vanished (destroyed behind our back?)");
	} else if (reason == SHUTDOWN_poweroff) {
		int code = xv->dp ? xv->dp->devs[1].u.sysctl.exit_code : 0;

		vm->info.exit_code = code;
		snprintf(why, sizeof(why), "powered off (exit code %d)", code);
		lv__vm_state(vm, LV_ST_SHUTOFF, why);
	} else if (reason == SHUTDOWN_crash) {
		lv__vm_state(vm, LV_ST_CRASHED, "the guest crashed (Xen shut the domain down: crash)");
	} else if (reason == SHUTDOWN_reboot) {
		vm_rebuild(xv);
		return;
	} else {
		snprintf(why, sizeof(why), "domain shut down (reason %u)", reason);
		lv__vm_state(vm, LV_ST_SHUTOFF, why);
	}
	vm_release(xv);
}

/* Look at every domain of ours: one hypercall per INFO_BATCH domains.
 * Reboots wait for the end of the scan (their new domains are not in
 * it). */
static void scan_domains(struct xen_driver *d)
{
	static uint8_t seen[XEN_MAX_DOMID];
	struct xen_vm *reboots = NULL;
	bool fresh = d->xst_live && lv_now_ns() - d->xst_t <= d->xst_fresh;
	uint32_t first = 1;
	int n;

	d->last_scan = lv_now_ns();
	memset(seen, 0, sizeof(seen));
	while ((n = xc_domain_getinfolist(d->xch, first, INFO_BATCH, d->info)) > 0) {
		for (int i = 0; i < n; i++) {
			xc_domaininfo_t *in = &d->info[i];
			struct xen_vm *xv;
			unsigned why;

			if (in->domain >= XEN_MAX_DOMID)
				continue;
			seen[in->domain] = 1;
			xv = d->by_domid[in->domain];
			/* else libxenstat's (its fresh last sample listed it) */
			if (xv && !(fresh && xv->xst_seq == d->xst_seq)) {
				xv->cpu_ns = in->cpu_time;
				xv->pages = in->tot_pages;
			}
			/* a save's domain shuts down for suspend; a restore's is
			 * being filled: their jobs say how it went */
			if (!xv || xv->job || xv->held || !(in->flags & XEN_DOMINF_shutdown))
				continue;
			why = (in->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
			if (why == SHUTDOWN_reboot) {
				xv->rnext = reboots;
				reboots = xv;
			} else {
				vm_dead(xv, why, false);
			}
		}
		first = d->info[n - 1].domain + 1;
		if ((unsigned)n < INFO_BATCH)
			break;
	}
	for (struct lv_vm *vm = d->h->first, *next; n >= 0 && vm; vm = next) {
		struct xen_vm *xv = vm->drv;

		next = vm->next;
		if (xv && xv->dom.domid && !seen[xv->dom.domid])
			vm_dead(xv, 0, true);
	}
	while (reboots) {
		struct xen_vm *xv = reboots;

		reboots = xv->rnext;
		vm_dead(xv, SHUTDOWN_reboot, false);
	}
}

static void evtchn_cb(void *arg, int fd, uint32_t events)
{
	struct xen_driver *d = arg;
	bool scan = false, virq = false;

	flush_pending(d);
	for (int i = 0; i < 1024; i++) {
		xenevtchn_port_or_error_t port = xenevtchn_pending(d->xce);
		struct xen_vm *xv;

		if (port < 0)
			break;
		xenevtchn_unmask(d->xce, (evtchn_port_t)port);
		if (port == d->virq_port) {
			virq = true;     /* from Xen: a domain died */
			continue;
		}
		xv = port_get(d, port);
		if (xv && vm_event(xv)) {
			if (xv->dp && xv->dp->devs[1].u.sysctl.guest_state == LV_GST_DOWN)
				scan = true;
		}
	}
	if (virq || (scan && lv_now_ns() - d->last_scan >= SCAN_MIN_NS))
		scan_domains(d);
	else if (scan && d->next_poll > d->last_scan + SCAN_MIN_NS)
		d->next_poll = d->last_scan + SCAN_MIN_NS;   /* asked again soon: the tick scans */
}

/* Stock netfronts' reports from the vif thread (XenStore mode). */
static void vif_cb(void *arg, int fd, uint32_t events)
{
	struct xen_driver *d = arg;
	unsigned n;
	struct xen_netfront *r = xen_vifw_take(d, &n);

	for (unsigned i = 0; i < n; i++) {
		struct xen_vm *xv = r[i].domid < XEN_MAX_DOMID ? d->by_domid[r[i].domid] : NULL;

		if (xv && xv->net)
			xen_net_front(xv->net, &r[i]);   /* may crash the VM: xv gone */
	}
	free(r);
}

/* ---- the device page */

static void fill_devpage(void *arg, struct lv_devpage *dp, const struct xen_dom *xd)
{
	struct lv_vm *vm = arg;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	dp->magic = LV_ABI_MAGIC;
	dp->version = LV_ABI_VERSION;
	dp->size = sizeof(*dp);
	snprintf(dp->name, sizeof(dp->name), "%s", vm->info.name);
	dp->mem_size = xd->mem;
	dp->wall_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	dp->ndevs = 2;
	dp->devs[0].type = LV_DEV_CONSOLE;
	dp->devs[0].flags = LV_DEVF_XEN;
	dp->devs[0].size = 4096;
	dp->devs[0].u.xen.evtchn = xd->remote_port;
	dp->devs[1].type = LV_DEV_SYSCTL;
	dp->devs[1].flags = LV_DEVF_XEN;
	dp->devs[1].u.sysctl.evtchn = xd->remote_port;
	if (vm->drv)
		xen_net_devpage(((struct xen_vm *)vm->drv)->net, dp, xd->remote_port);
}

/* ---- pools */

/* The pool's prepare, synchronous: a domain of mem bytes, its memory
 * populated and its file written, ready before the call returns. */
static int xen_prepare(struct lv_driver *drv, struct lv_pool_flavor *fl, uint64_t mem,
		       uint32_t vcpus)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	struct xen_shell *s = calloc(1, sizeof(*s));
	int64_t t0 = lv_now_ns();
	char err[160];
	int rc;

	if (!s)
		return -ENOMEM;
	rc = xen_dom_create(d, mem, true, &s->dom, err, sizeof(err));
	if (!rc && (rc = xen_dom_save(d, &s->dom, NULL))) {
		snprintf(err, sizeof(err), "%.100s/%u: %s", d->dom_dir, s->dom.domid, strerror(-rc));
		xen_dom_destroy(d, &s->dom);
	}
	if (rc) {
		lv__log(d->h, LV_LOG_ERR, "xen: pool %lluM: %s", (unsigned long long)(mem >> 20), err);
		free(s);
		return rc;
	}
	lv__log(d->h, LV_LOG_DEBUG, "xen: pool %lluM: domain %u prepared in %.3f ms",
		(unsigned long long)(mem >> 20), s->dom.domid, (double)(lv_now_ns() - t0) / 1e6);
	if (d->names) {      /* a name, for libxenstat and xl list */
		char name[32];

		snprintf(name, sizeof(name), "lv-pool-%u", s->dom.domid);
		xen_names_set(d, s->dom.domid, name);
	}
	if (!lv__pool_ready(d->h, fl, &s->slot)) {
		xen_dom_destroy(d, &s->dom);
		free(s);
	}
	return 0;
}

/* A ready domain the pool no longer wants. */
static void xen_discard(struct lv_driver *drv, struct lv_pool_slot *slot)
{
	struct xen_shell *s = SLOT_SHELL(slot);

	xen_dom_destroy((struct xen_driver *)drv, &s->dom);
	free(s);
}

/* A domain for vm: a pooled one of its flavor if one is ready, else a
 * new one (*pooled says which). */
static int dom_claim(struct xen_driver *d, struct lv_vm *vm, struct xen_dom *xd, bool *pooled,
		     char *err, size_t errlen)
{
	struct lv_pool_slot *slot = lv__pool_claim(d->h, vm->info.mem_bytes, vm->info.vcpus);

	*pooled = slot != NULL;
	if (slot) {
		struct xen_shell *s = SLOT_SHELL(slot);

		*xd = s->dom;
		free(s);
		return 0;
	}
	return xen_dom_create(d, vm->info.mem_bytes, false, xd, err, errlen);
}

/* ---- building a VM in its domain: spawn (xen_start) and reboot */

/* Build the VM into xv->dom (claimed: pooled or created), bind the
 * backends to it, write the domain file and let the guest run (unless
 * the VM is paused).  first: the spawn (flight-recorder phases, the
 * console log created) rather than a reboot.  On error the caller undoes
 * with vm_detach. */
static int vm_build(struct xen_vm *xv, int image_fd, bool first, char *err, size_t errlen)
{
	struct xen_driver *d = xv->d;
	struct lv_vm *vm = xv->vm;
	int rc;

	xv->dom.store = d->xs != NULL;
	xv->dom.vm_id = vm->info.id;
	xv->dom_t = lv_now_ns();     /* older libxenstat samples are not its */
	xv->xst_seq = 0;
	vm->info.pid = (int)xv->dom.domid;
	d->by_domid[xv->dom.domid] = xv;
	port_set(d, xv->dom.local_port, xv);
	if (xen_net_xs(xv->net)) {   /* a stock guest's address: ip= (scripts/tinyx's init) */
		uint32_t mask, gw;
		char extra[LV_SPAWN_CMDLINE_MAX + 80];
		const uint8_t *a = (const uint8_t *)&vm->info.ipv4, *m = (const uint8_t *)&mask,
			      *g = (const uint8_t *)&gw;

		lv__net_guest_config(d->h, &mask, &gw);
		snprintf(extra, sizeof(extra), "ip=%u.%u.%u.%u::%u.%u.%u.%u:%u.%u.%u.%u::eth0:off%s%s",
			 a[0], a[1], a[2], a[3], g[0], g[1], g[2], g[3], m[0], m[1], m[2], m[3],
			 xv->boot.cmdline ? " " : "", xv->boot.cmdline ? xv->boot.cmdline : "");
		rc = xen_dom_build(d, &xv->dom, image_fd, xv->boot.ramdisk, extra,
				   fill_devpage, vm, err, errlen);
	} else {
		rc = xen_dom_build(d, &xv->dom, image_fd, xv->boot.ramdisk, xv->boot.cmdline,
				   fill_devpage, vm, err, errlen);
	}
	if (rc)
		return rc;
	if (first)
		lv__vm_phase(vm, LV_PH_LOADED, lv_now_ns());
	xv->cons = xenforeignmemory_map(d->fmem, xv->dom.domid, PROT_READ | PROT_WRITE, 1,
					&xv->dom.console_mfn, NULL);
	xv->dp = xenforeignmemory_map(d->fmem, xv->dom.domid, PROT_READ | PROT_WRITE, 1,
				      &xv->dom.devpage_mfn, NULL);
	if (!xv->cons || !xv->dp) {
		rc = -errno;
		snprintf(err, errlen, "mapping the console and device pages: %s", strerror(errno));
		return rc ? rc : -EIO;
	}
	/* Per-VM device backends: bound to this domain here, at spawn and
	 * at each reboot (vm_detach lets go of the old one). */
	xen_net_bind(xv->net, xv->dom.domid, xv->dom.local_port, xv->dp);
	if (first) {
		xv->logfd = open_console_log(d, vm);
		console_log_opened(xv);
	}
	if (xv->dom.store && (rc = xen_store_add(d, &xv->dom, vm->info.name,
						 xen_net_xs(xv->net) ? vm->info.mac : NULL, err, errlen)))
		return rc;
	if (d->names)                /* noxs: written by the names thread */
		xen_names_set(d, xv->dom.domid, vm->info.name);
	rc = xen_dom_save(d, &xv->dom, &xv->boot);
	if (rc) {
		snprintf(err, errlen, "%.120s/%u: %s", d->dom_dir, xv->dom.domid, strerror(-rc));
		return rc;
	}
	if (first)
		lv__vm_phase(vm, LV_PH_DEVICES, lv_now_ns());
	if (xv->timed)               /* a shutdown asked before a reboot still holds */
		xv->dp->devs[1].u.sysctl.host_req = LV_REQ_POWEROFF;
	xv->dp->boot_tsc = __builtin_ia32_rdtsc();
	if (vm->info.state != LV_ST_PAUSED && xc_domain_unpause(d->xch, xv->dom.domid)) {
		rc = -errno;
		snprintf(err, errlen, "xc_domain_unpause: %s", strerror(errno));
		return rc ? rc : -EIO;
	}
	if (first)
		lv__vm_phase(vm, LV_PH_STARTED, lv_now_ns());
	return 0;
}

/* The guest asked for a reboot (SCHEDOP_shutdown, reason reboot): the
 * same VM -- record, name, id, console log (appended), address -- in a
 * fresh domain (pooled if one is ready) built from the same image,
 * ramdisk and command line.  As on KVM, where the shell reloads the
 * image in place, the VM's state does not change (a running VM stays
 * running; no event); its pid becomes the new domid, and the domain file
 * moves with it (the VM's id in it lets a restarted agent find it even
 * if the record still names the old domid).  More than REBOOT_MAX
 * reboots within REBOOT_WINDOW_NS end the VM crashed. */
static void vm_rebuild(struct xen_vm *xv)
{
	struct xen_driver *d = xv->d;
	struct lv_vm *vm = xv->vm;
	int64_t t0 = lv_now_ns(), oldest = xv->reboots[xv->reboot_i];
	uint32_t old = xv->dom.domid;
	char err[200], why[300];
	xc_domaininfo_t info;
	bool pooled = false;
	int fd = -1, rc;

	if (oldest && t0 - oldest < REBOOT_WINDOW_NS) {
		snprintf(why, sizeof(why), "reboot loop: %u reboots within %lld s",
			 REBOOT_MAX + 1, REBOOT_WINDOW_NS / 1000000000);
		lv__log(d->h, LV_LOG_WARN, "%s: %s: crashing it", vm->info.name, why);
		lv__vm_state(vm, LV_ST_CRASHED, why);
		vm_release(xv);
		return;
	}
	xv->reboots[xv->reboot_i] = t0;
	xv->reboot_i = (xv->reboot_i + 1) % REBOOT_MAX;
	if (xc_domain_getinfolist(d->xch, old, 1, &info) == 1 && info.domain == old)
		xv->cpu_base += info.cpu_time;
	xv->cpu_ns = 0;
	if (!xv->img) {              /* re-attached by a restarted agent: by name */
		fd = lv_image_open(d->h, vm->info.image, vm->info.mem_bytes, err, sizeof(err));
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		xv->img = image_get(d, fd);
	}
	/* Per-VM device backends, on reboot: vm_detach has them let go of
	 * the old domain; they keep what is the VM's (tap, address, MAC),
	 * and vm_build binds them to the new domain. */
	vm_detach(xv);
	d->last_spawn = t0;          /* no names or samples in a burst of reboots */
	rc = dom_claim(d, vm, &xv->dom, &pooled, err, sizeof(err));
	if (!rc)
		rc = vm_build(xv, xv->img ? xv->img->fd : fd, false, err, sizeof(err));
	if (fd >= 0)
		close(fd);
	if (rc)
		goto fail;
	lv__log(d->h, LV_LOG_INFO, "%s: rebooted: domain %u -> %u (%s) in %.3f ms", vm->info.name,
		old, xv->dom.domid, pooled ? "pooled" : "created", (double)(lv_now_ns() - t0) / 1e6);
	return;
fail:
	snprintf(why, sizeof(why), "reboot failed: %s", err);
	lv__log(d->h, LV_LOG_ERR, "%s: %s", vm->info.name, why);
	lv__vm_state(vm, LV_ST_CRASHED, why);
	vm_release(xv);
}

/* ---- ops */

/* Is the image one of LightVM's own guests (Xen ELF note GUEST_OS =
 * "LightVM", guest/xen/notes.S)?  Anything else -- Linux as an ELF or a
 * bzImage -- is a stock PV guest.  Bounded reads of the program headers
 * and of at most 4 KiB of each note segment. */
static bool image_is_ours(int fd)
{
	uint8_t h[64], ph[56], notes[4096];
	uint64_t phoff;
	uint16_t phnum;

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, "\177ELF", 4) || h[4] != 2)
		return false;
	memcpy(&phoff, h + 32, 8);
	memcpy(&phnum, h + 56, 2);
	for (unsigned i = 0; i < phnum && i < 64; i++) {
		uint32_t type;
		uint64_t off, sz;
		ssize_t n;

		if (phoff > (1ull << 30) ||
		    pread(fd, ph, sizeof(ph), (off_t)(phoff + (uint64_t)i * 56)) != (ssize_t)sizeof(ph))
			return false;
		memcpy(&type, ph, 4);
		memcpy(&off, ph + 8, 8);
		memcpy(&sz, ph + 32, 8);
		if (type != 4 || off > (1ull << 30))
			continue;
		n = pread(fd, notes, sz < sizeof(notes) ? (size_t)sz : sizeof(notes), (off_t)off);
		for (size_t at = 0; n > 0 && at + 12 <= (size_t)n;) {
			uint32_t nsz, dsz, nt;
			size_t desc, next;

			memcpy(&nsz, notes + at, 4);
			memcpy(&dsz, notes + at + 4, 4);
			memcpy(&nt, notes + at + 8, 4);
			if (nsz > sizeof(notes) || dsz > sizeof(notes))
				break;
			desc = at + 12 + ((nsz + 3u) & ~3u);
			next = desc + ((dsz + 3u) & ~3u);
			if (next > (size_t)n)
				break;
			if (nt == 6 && nsz == 4 && memcmp(notes + at + 12, "Xen", 4) == 0 &&
			    dsz >= 8 && memcmp(notes + desc, "LightVM", 8) == 0)
				return true;
			at = next;
		}
	}
	return false;
}

static int vm_restore_start(struct xen_vm *xv, int fd, char *err, size_t errlen);

static int xen_start(struct lv_driver *drv, struct lv_vm *vm, int image_fd)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	const struct lv_spawn *sp = vm->spawn;
	struct xen_vm *xv = calloc(1, sizeof(*xv));
	char err[200];
	bool pooled;
	int rc;

	if (!xv)
		return -ENOMEM;
	xv->d = d;
	xv->vm = vm;
	xv->logfd = -1;
	d->last_spawn = lv_now_ns();
	if ((sp && sp->ramdisk && !(xv->boot.ramdisk = strdup(sp->ramdisk))) ||
	    (sp && sp->cmdline && !(xv->boot.cmdline = strdup(sp->cmdline)))) {
		xen_boot_free(&xv->boot);
		free(xv);
		return -ENOMEM;
	}
	/* In XenStore mode a stock guest (Linux: no LightVM note) gets a
	 * NIC, its netfront served through XenStore; ours ask for one with
	 * their net note (the core gave them an address) and connect on
	 * the device page. */
	if (d->xs && d->vw && !vm->info.ipv4 && !image_is_ours(image_fd) &&
	    (rc = lv__net_vm_attach(vm, err, sizeof(err))) && rc != -ENOTSUP) {
		lv__log(d->h, LV_LOG_ERR, "%s: NIC: %s", vm->info.name, err);
		xen_boot_free(&xv->boot);
		free(xv);
		return rc;   /* (-ENOTSUP: no networking configured, no NIC) */
	}
	xv->boot.vif_xs = vm->info.ipv4 && d->xs && !image_is_ours(image_fd);
	if (xv->boot.vif_xs && !d->vw) {
		lv__log(d->h, LV_LOG_ERR, "%s: NIC: no vif thread (see the agent's start): stock guests get no NIC",
			vm->info.name);
		xen_boot_free(&xv->boot);
		free(xv);
		return -ENODEV;
	}
	if (vm->info.ipv4 && !(xv->net = xen_net_new(d, vm, xv->boot.vif_xs, err, sizeof(err)))) {
		lv__log(d->h, LV_LOG_ERR, "%s: NIC: %s", vm->info.name, err);
		xen_boot_free(&xv->boot);
		free(xv);
		return -ENODEV;
	}
	if (vm->from_snapshot) {
		vm->drv = xv;
		xv->dom.local_port = -1;
		rc = vm_restore_start(xv, image_fd, err, sizeof(err));
		if (rc) {
			lv__log(d->h, LV_LOG_ERR, "%s: restore: %s", vm->info.name, err);
			xen_net_free(xv->net);
			xv->net = NULL;
			vm_detach(xv);
			vm_free(xv);
			vm->info.pid = -1;
		}
		return rc;
	}
	rc = dom_claim(d, vm, &xv->dom, &pooled, err, sizeof(err));
	if (rc) {
		lv__log(d->h, LV_LOG_ERR, "%s: %s", vm->info.name, err);
		xen_net_free(xv->net);
		xen_boot_free(&xv->boot);
		free(xv);
		return rc;
	}
	vm->info.pooled = pooled;
	lv__vm_phase(vm, LV_PH_CLAIMED, lv_now_ns());
	vm->drv = xv;
	xv->img = image_get(d, image_fd);    /* for reboots (NULL: by name then) */
	rc = vm_build(xv, image_fd, true, err, sizeof(err));
	if (rc) {
		lv__log(d->h, LV_LOG_ERR, "%s: %s", vm->info.name, err);
		xen_net_free(xv->net);
		xv->net = NULL;
		vm_detach(xv);
		vm_free(xv);
		vm->info.pid = -1;
		return rc;
	}
	xv->pnext = d->pending;      /* "started" once spawn has returned */
	d->pending = xv;
	return 0;                    /* the pool refills on the next tick */
}

#define XV(vm) ((struct xen_vm *)(vm)->drv)

/* Console input: into the ring's in side, then an event wakes the guest. */
static int xen_console_input(struct lv_driver *drv, struct lv_vm *vm, const void *buf, size_t len)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	struct xencons_interface *c = XV(vm) ? XV(vm)->cons : NULL;
	const char *p = buf;
	XENCONS_RING_IDX prod;
	size_t n = 0;

	if (!c)
		return -ESRCH;
	prod = c->in_prod;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	while (n < len && prod - c->in_cons < sizeof(c->in))
		c->in[MASK_XENCONS_IDX(prod++, c->in)] = p[n++];
	__atomic_thread_fence(__ATOMIC_RELEASE);
	c->in_prod = prod;
	xenevtchn_notify(d->xce, (evtchn_port_t)XV(vm)->dom.local_port);
	return n == len ? 0 : -EAGAIN;
}

static int xen_pause(struct lv_driver *drv, struct lv_vm *vm)
{
	struct xen_driver *d = (struct xen_driver *)drv;

	if (!XV(vm))
		return -ESRCH;
	report_started(XV(vm));
	if (xc_domain_pause(d->xch, XV(vm)->dom.domid))
		return -errno;
	lv__vm_state(vm, LV_ST_PAUSED, NULL);
	return 0;
}

static int xen_unpause(struct lv_driver *drv, struct lv_vm *vm)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	struct xen_vm *xv = XV(vm);

	if (!xv)
		return -ESRCH;
	if (xv->held) {
		/* held after a migration's save (or found suspended): the
		 * suspend is cancelled, the guest's SCHEDOP_shutdown returns 1
		 * and it runs on in this domain (guest/xen/xrt.c) */
		int rc = xen_dom_resume(d->xch, xv->dom.domid);

		if (rc)
			return rc;
		xv->held = false;
		if (xv->dp && xv->dp->devs[1].u.sysctl.host_req == LV_REQ_SUSPEND)
			xv->dp->devs[1].u.sysctl.host_req = LV_REQ_NONE;
		lv__log(d->h, LV_LOG_INFO, "%s: held domain %u resumed", vm->info.name, xv->dom.domid);
	} else if (xc_domain_unpause(d->xch, xv->dom.domid)) {
		return -errno;
	}
	if (vm->hold_start && !vm->info.t[LV_PH_STARTED])   /* a held restore's first run */
		lv__vm_phase(vm, LV_PH_STARTED, lv_now_ns());
	lv__vm_state(vm, vm->info.t[LV_PH_READY] ? LV_ST_RUNNING : LV_ST_BOOTING, NULL);
	return 0;
}

/* A power request on the sysctl device, and an event that wakes the
 * guest (guest/xen/xrt.c lv_serve_forever acts on it). */
static int power_request(struct xen_driver *d, struct xen_vm *xv, uint32_t req)
{
	if (!xv || !xv->dp)
		return -ESRCH;
	xv->dp->devs[1].u.sysctl.host_req = req;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	xenevtchn_notify(d->xce, (evtchn_port_t)xv->dom.local_port);
	return 0;
}

static int xen_shutdown(struct lv_driver *drv, struct lv_vm *vm)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	struct xen_vm *xv = XV(vm);
	int rc = power_request(d, xv, LV_REQ_POWEROFF);

	if (rc)
		return rc;
	if (vm->info.state == LV_ST_PAUSED && xc_domain_unpause(d->xch, xv->dom.domid))
		return -errno;
	xv->deadline = lv_now_ns() + (int64_t)d->h->cfg.shutdown_timeout_ms * 1000000;
	if (!xv->timed) {
		xv->timed = true;
		xv->tnext = d->timed;
		d->timed = xv;
	}
	return 0;
}

/* The guest reboots itself (SCHEDOP_shutdown, reboot); the domain scan
 * sees it and vm_rebuild makes the new domain. */
static int xen_reboot(struct lv_driver *drv, struct lv_vm *vm)
{
	return power_request((struct xen_driver *)drv, XV(vm), LV_REQ_REBOOT);
}

static int xen_destroy(struct lv_driver *drv, struct lv_vm *vm)
{
	if (XV(vm))
		vm_release(XV(vm));
	else if (!vm->released)
		lv__vm_released(vm);
	return 0;
}


/* ---- save and restore (xen_save.c runs libxenguest in threads) */

/* Save: the guest is asked to suspend (LV_REQ_SUSPEND on its sysctl
 * device; guest/xen/xrt.c), the job's thread waits for the domain to
 * shut down for suspend and runs xc_domain_save into fd after our
 * header; xen_job_done ends it.  noxs mode only: in XenStore mode the
 * restored domain would need its XenStore entries and introduction
 * again (not built). */
static int xen_save(struct lv_driver *drv, struct lv_vm *vm, int fd, int mode)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	struct xen_vm *xv = XV(vm);
	struct xen_job *j;
	int rc;

	if (!xv || !xv->dp)
		return -ESRCH;
	if (xv->job)
		return -EBUSY;
	if (xv->held)
		return -EBUSY;
	if (xv->dom.store || xv->boot.vif_xs || !xv->dom.devpage_gpa) {
		lv__log(d->h, LV_LOG_WARN, "%s: save: %s", vm->info.name,
			!xv->dom.devpage_gpa ? "no device page known for its domain" :
			"only LightVM guests in noxs mode are saved on Xen");
		return -EOPNOTSUPP;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->kind = XEN_JOB_SAVE;
	j->owner = xv;
	j->domid = xv->dom.domid;
	j->keep = mode == LV_SAVE_KEEP;
	j->hold = mode == LV_SAVE_HOLD;   /* the domain stays suspended */
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (j->fd < 0) {
		rc = -errno;
		free(j);
		return rc;
	}
	lv_snap_hdr_stamp(&j->hdr, LV_SNAP_PLAT_XEN_PV);
	lv_snap_from_vm(&j->hdr, &vm->info, vm->info.t[LV_PH_READY] ? LV_SNAP_F_READY : 0, xv->net != NULL);
	memcpy(j->ext.magic, XEN_SNAP_EXT_MAGIC, 8);
	j->ext.ext_size = sizeof(j->ext);
	j->ext.restored = xv->dp->restored;
	j->ext.devpage_gpa = xv->dom.devpage_gpa;
	console_drain(xv);
	rc = power_request(d, xv, LV_REQ_SUSPEND);
	if (!rc)
		rc = xen_job_run(d, j);
	if (rc) {
		xv->dp->devs[1].u.sysctl.host_req = LV_REQ_NONE;
		xen_job_free(j);
		return rc;
	}
	xv->job = j;
	return 0;
}

static void save_done(struct xen_vm *xv, struct xen_job *j)
{
	struct xen_driver *d = xv->d;
	struct lv_vm *vm = xv->vm;
	int64_t t0;

	lv__vm_save_paused(vm, j->t_paused ? j->t_paused : j->t_done);
	if (j->rc) {
		if (xv->dp && xv->dp->devs[1].u.sysctl.host_req == LV_REQ_SUSPEND)
			xv->dp->devs[1].u.sysctl.host_req = LV_REQ_NONE;
		lv__log(d->h, LV_LOG_WARN, "%s: save failed: %s", vm->info.name, j->err);
		lv__vm_save_done(vm, j->rc, j->err, j->hold ? LV_SAVE_HOLD : LV_SAVE_KEEP);
		if (j->resume_failed && vm->drv == xv)
			xen_vm_fault(d, vm, "the save failed and the domain did not resume");
		return;
	}
	lv__log(d->h, LV_LOG_INFO, "%s: saved domain %u: %llu bytes of stream in %.1f ms (suspend %.1f ms)%s",
		vm->info.name, j->domid, (unsigned long long)j->ext.stream_len,
		(double)(j->t_done - j->t_start) / 1e6, (double)(j->t_paused - j->t_start) / 1e6,
		j->keep ? ", running on" : j->hold ? ", held" : "");
	if (j->hold) {               /* a migration's: until unpause or destroy */
		xv->held = true;
		lv__vm_save_done(vm, 0, NULL, LV_SAVE_HOLD);
		return;
	}
	if (j->keep) {
		lv__vm_save_done(vm, 0, NULL, LV_SAVE_KEEP);
		return;
	}
	/* the domain first (the state change may end the VM at once) */
	t0 = lv_now_ns();
	lv__log(d->h, LV_LOG_DEBUG, "%s: releasing domain %u", vm->info.name, j->domid);
	vm_release(xv);
	lv__log(d->h, LV_LOG_DEBUG, "domain %u released in %.1f ms", j->domid, (double)(lv_now_ns() - t0) / 1e6);
	lv__vm_save_done(vm, 0, NULL, LV_SAVE_STOP);
}

/* Restore: a domain of the snapshot's size (a pooled one gives its
 * memory back first: the stream brings the guest's), filled by
 * xc_domain_restore in the job's thread with our channel as its console
 * channel; restore_done maps console and device page and starts it. */
static int vm_restore_start(struct xen_vm *xv, int fd, char *err, size_t errlen)
{
	struct xen_driver *d = xv->d;
	struct lv_vm *vm = xv->vm;
	struct xen_snap s;
	struct xen_job *j;
	char path[64];
	bool pooled = false;
	int rc;

	if (d->xs) {
		snprintf(err, errlen, "snapshots are restored in noxs mode only (LIGHTVM_XEN_MODE=xenstore)");
		return -EOPNOTSUPP;
	}
	rc = xen_snap_check(fd, &s, false, err, errlen);   /* again: the file is the admin's */
	if (rc)
		return rc;
	if (s.hdr.mem_size != vm->info.mem_bytes) {
		snprintf(err, errlen, "the snapshot changed (memory size)");
		return -EINVAL;
	}
	rc = dom_claim(d, vm, &xv->dom, &pooled, err, errlen);
	if (rc)
		return rc;
	vm->info.pid = (int)xv->dom.domid;
	d->by_domid[xv->dom.domid] = xv;
	port_set(d, xv->dom.local_port, xv);
	if (xv->dom.p2m) {   /* pooled, its memory populated: the stream brings its own */
		if (xc_domain_decrease_reservation_exact(d->xch, xv->dom.domid, xv->dom.nr_pages, 0,
							 xv->dom.p2m)) {
			rc = -errno;
			snprintf(err, errlen, "giving back the pooled domain's memory: %s", strerror(errno));
			return rc ? rc : -EIO;
		}
		free(xv->dom.p2m);
		xv->dom.p2m = NULL;
	}
	vm->info.pooled = pooled;
	lv__vm_phase(vm, LV_PH_CLAIMED, lv_now_ns());
	xv->dom.devpage_gpa = s.ext.devpage_gpa;
	xv->dom.vm_id = vm->info.id;
	xv->restored = s.ext.restored;
	xv->dom_t = lv_now_ns();
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->kind = XEN_JOB_RESTORE;
	j->owner = xv;
	j->domid = xv->dom.domid;
	j->console_port = xv->dom.remote_port;
	/* a file description of its own (not a dup: restores of one file
	 * run at once, a clone's, and each thread seeks) */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	j->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (j->fd < 0 || (rc = xen_job_run(d, j))) {
		rc = j->fd < 0 ? -errno : rc;
		snprintf(err, errlen, "starting the restore: %s", strerror(-rc));
		xen_job_free(j);
		return rc;
	}
	xv->job = j;
	return 0;
}

static void restore_done(struct xen_vm *xv, struct xen_job *j)
{
	struct xen_driver *d = xv->d;
	struct lv_vm *vm = xv->vm;
	char err[300];
	uint32_t restored;
	int rc = j->rc;

	if (rc) {
		snprintf(err, sizeof(err), "%s", j->err);
		goto fail;
	}
	lv__vm_phase(vm, LV_PH_LOADED, lv_now_ns());
	xv->dom.console_mfn = j->console_mfn;
	xv->dom.devpage_mfn = j->devpage_mfn;
	xv->cons = xenforeignmemory_map(d->fmem, xv->dom.domid, PROT_READ | PROT_WRITE, 1,
					&xv->dom.console_mfn, NULL);
	xv->dp = xenforeignmemory_map(d->fmem, xv->dom.domid, PROT_READ | PROT_WRITE, 1,
				      &xv->dom.devpage_mfn, NULL);
	if (!xv->cons || !xv->dp) {
		rc = -EIO;
		snprintf(err, sizeof(err), "mapping the restored console and device pages: %s", strerror(errno));
		goto fail;
	}
	/* the guest's page, as the stream had it: nothing in it is trusted;
	 * it is written anew for this domain (channel, name, NIC) */
	if (xv->dp->magic != LV_ABI_MAGIC || xv->dp->version != LV_ABI_VERSION ||
	    xv->dp->size != sizeof(struct lv_devpage)) {
		rc = -EPROTO;
		snprintf(err, sizeof(err), "the restored guest has no LightVM device page where the snapshot says");
		goto fail;
	}
	restored = xv->dp->restored;
	memset(xv->dp, 0, 4096);
	fill_devpage(vm, xv->dp, &xv->dom);
	xv->dp->restored = restored + 1;
	xv->restored = restored + 1;
	xen_net_bind(xv->net, xv->dom.domid, xv->dom.local_port, xv->dp);
	xv->logfd = open_console_log(d, vm);
	console_log_opened(xv);
	if (d->names)
		xen_names_set(d, xv->dom.domid, vm->info.name);
	rc = xen_dom_save(d, &xv->dom, &xv->boot);
	if (rc) {
		snprintf(err, sizeof(err), "%.120s/%u: %s", d->dom_dir, xv->dom.domid, strerror(-rc));
		goto fail;
	}
	lv__vm_phase(vm, LV_PH_DEVICES, lv_now_ns());
	if (vm->hold_start) {        /* a migration's copy: paused until told */
		lv__log(d->h, LV_LOG_INFO, "%s: restored into domain %u (%s) in %.1f ms, held", vm->info.name,
			xv->dom.domid, vm->info.pooled ? "pooled" : "created", (double)(j->t_done - j->t_start) / 1e6);
		report_started(xv);
		lv__vm_state(vm, LV_ST_PAUSED, NULL);
		return;
	}
	if (xc_domain_unpause(d->xch, xv->dom.domid)) {
		rc = -errno;
		snprintf(err, sizeof(err), "xc_domain_unpause: %s", strerror(errno));
		goto fail;
	}
	lv__vm_phase(vm, LV_PH_STARTED, lv_now_ns());
	lv__log(d->h, LV_LOG_INFO, "%s: restored into domain %u (%s) in %.1f ms", vm->info.name,
		xv->dom.domid, vm->info.pooled ? "pooled" : "created", (double)(j->t_done - j->t_start) / 1e6);
	report_started(xv);
	return;
fail:
	lv__log(d->h, LV_LOG_ERR, "%s: restore failed: %s", vm->info.name, err);
	vm_release(xv);
	lv__vm_failed(vm, rc ? rc : -EIO, err);
}

void xen_job_done(struct xen_driver *d, struct xen_job *j)
{
	struct xen_vm *xv = j->owner;

	(void)d;
	if (!xv)
		return;          /* its VM went; vm_release destroyed the domain */
	xv->job = NULL;
	if (j->kind == XEN_JOB_SAVE)
		save_done(xv, j);
	else
		restore_done(xv, j);
}

static void xenstat_work(struct xen_driver *d, int64_t now);

static void xen_tick(struct lv_driver *drv, int64_t now)
{
	struct xen_driver *d = (struct xen_driver *)drv;

	flush_pending(d);
	if (now >= d->next_poll) {   /* deaths (without the VIRQ) and stats */
		d->next_poll = now + POLL_NS;
		scan_domains(d);
	}
	for (struct xen_vm *xv = d->timed, *n; xv; xv = n) {
		n = xv->tnext;
		if (now >= xv->deadline) {
			lv__log(d->h, LV_LOG_WARN, "%s: ignored the shutdown request; forcing it off",
				xv->vm->info.name);
			lv__vm_state(xv->vm, LV_ST_SHUTOFF, "forced off: the guest ignored the shutdown request");
			vm_release(xv);
		}
	}
	/* names (noxs, with a xenstored): written by the names thread,
	 * handed over like the pool's refills when no burst of spawns is on (its
	 * writes, and xenstored's work, would compete with the spawns for
	 * Dom0's CPUs), but not later than NAMES_AGE_NS after they were
	 * queued */
	xen_names_tick(d, now - d->last_spawn >= REFILL_QUIET_NS ||
		       now - d->names_since >= NAMES_AGE_NS);
	xenstat_work(d, now);        /* libxenstat: samples in, the next asked for */
}

static void xen_close(struct lv_driver *drv)
{
	struct xen_driver *d = (struct xen_driver *)drv;

	/* saves and restores under way end first, for nobody: a saved
	 * guest whose save finished runs on (as if --keep), a half
	 * restored domain is destroyed */
	for (struct lv_vm *vm = d->h->first; vm; vm = vm->next) {
		struct xen_vm *xv = vm->drv;

		if (xv && xv->job) {
			xv->restoring = xv->job->kind == XEN_JOB_RESTORE;
			xv->job->owner = NULL;
			xv->job->keep = true;
			xv->job = NULL;
		}
	}
	xen_jobs_close(d);
	/* VMs keep running; their pages and channels go with our handles */
	for (struct lv_vm *vm = d->h->first; vm; vm = vm->next) {
		struct xen_vm *xv = vm->drv;

		if (!xv)
			continue;
		console_drain(xv);
		xen_net_free(xv->net);   /* the guest's NIC is down until the next agent */
		xv->net = NULL;
		if (xv->restoring)       /* half restored: nobody could run it */
			vm_detach(xv);
		vm_free(xv);
	}
	xen_xst_stop(d);             /* the VMs' names stay, the pool's went */
	if (d->vw)
		d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, xen_vifw_fd(d));
	xen_vifw_stop(d);
	d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, d->evfd);
	if (d->xs)
		xen_store_close(d);
	if (d->xgt)
		xengnttab_close(d->xgt);
	xenforeignmemory_close(d->fmem);
	xenevtchn_close(d->xce);
	xc_interface_close(d->xch);
	free(d->by_port);
	free(d->by_domid);
	free(d->named);
	free(d->dom_index);
	free(d->info);
	free(d);
}

static int xen_open(struct lv_host *h, struct lv_driver **out)
{
	struct xen_driver *d = calloc(1, sizeof(*d));
	const char *mode;
	int rc = -ENODEV;

	if (!d)
		return -ENOMEM;
	d->h = h;
	d->virq_port = -1;
	d->xch = xc_interface_open(NULL, NULL, 0);
	d->xce = xenevtchn_open(NULL, 0);
	d->fmem = xenforeignmemory_open(NULL, 0);
	d->by_domid = calloc(XEN_MAX_DOMID, sizeof(*d->by_domid));
	d->named = calloc(XEN_MAX_DOMID, sizeof(*d->named));
	d->info = calloc(INFO_BATCH, sizeof(*d->info));
	if (!d->xch || !d->xce || !d->fmem) {
		lv__log(h, LV_LOG_ERR, "xen: cannot open the hypervisor interfaces (%s): is this a Xen Dom0 with privcmd and evtchn?",
			strerror(errno));
		goto err;
	}
	if (!d->by_domid || !d->named || !d->info) {
		rc = -ENOMEM;
		goto err;
	}
	d->xgt = xengnttab_open(NULL, 0);
	if (!d->xgt)
		lv__log(h, LV_LOG_WARN, "xen: no grant device (%s; is xen-gntdev loaded?): guests get no NIC",
			strerror(errno));
	snprintf(d->console_dir, sizeof(d->console_dir), "%s/console", h->state_dir);
	snprintf(d->dom_dir, sizeof(d->dom_dir), "%s/xen", h->state_dir);
	if ((mkdir(d->console_dir, 0750) && errno != EEXIST) ||
	    (mkdir(d->dom_dir, 0750) && errno != EEXIST)) {
		rc = -errno;
		lv__log(h, LV_LOG_ERR, "xen: %s: %s", h->state_dir, strerror(errno));
		goto err;
	}
	mode = getenv("LIGHTVM_XEN_MODE");
	if (mode && strcmp(mode, "xenstore") == 0) {
		rc = xen_store_open(d);
		if (rc) {
			lv__log(h, LV_LOG_ERR, "xen: XenStore mode, but no xenstored: %s", strerror(-rc));
			goto err;
		}
		lv__log(h, LV_LOG_INFO, "xen: XenStore mode (entries and xs_introduce_domain per VM)");
	} else if (mode && strcmp(mode, "noxs") != 0) {
		lv__log(h, LV_LOG_ERR, "xen: LIGHTVM_XEN_MODE=%s: noxs or xenstore", mode);
		rc = -EINVAL;
		goto err;
	}
	d->virq_port = xenevtchn_bind_virq(d->xce, VIRQ_DOM_EXC);
	if (d->virq_port < 0)
		lv__log(h, LV_LOG_INFO, "xen: VIRQ_DOM_EXC is taken (xenstored?): polling domain states every %lld ms",
			POLL_NS / 1000000);
	/* The XenStore threads: libxenstat samples, and in noxs mode the
	 * names, if a xenstored runs (it holds VIRQ_DOM_EXC: without one,
	 * xs_open could still open the kernel's xenbus device, and a
	 * request there would wait forever). */
	if (d->xs && (rc = xen_xst_start(d, false)))
		lv__log(h, LV_LOG_WARN, "xen: no XenStore threads (%s): live stats from the domain scan",
			strerror(-rc));
	else if (d->xs)
		;
	else if (d->virq_port >= 0)
		lv__log(h, LV_LOG_INFO, "xen: noxs mode, no xenstored (VIRQ_DOM_EXC is free): domains have no name in XenStore, live stats from the domain scan every %lld ms",
			POLL_NS / 1000000);
	else if ((rc = xen_xst_start(d, true)))
		lv__log(h, LV_LOG_INFO, "xen: noxs mode, no XenStore connection or thread (%s): domains have no name in XenStore, live stats from the domain scan every %lld ms",
			strerror(-rc), POLL_NS / 1000000);
	else
		lv__log(h, LV_LOG_INFO, "xen: noxs mode; xenstored runs: domain names written to XenStore by a thread, off the spawn path (libxenstat lists the domains, xl list shows their names)");
	d->evfd = xenevtchn_fd(d->xce);
	/* xenevtchn_pending() reads the fd: it must not block the loop */
	if (fcntl(d->evfd, F_SETFL, fcntl(d->evfd, F_GETFL) | O_NONBLOCK)) {
		rc = -errno;
		goto err;
	}
	rc = h->cfg.loop.watch(h->cfg.loop.ctx, d->evfd, evtchn_cb, d);
	if (rc)
		goto err;
	/* stock guests' NICs: the netif handshake through XenStore */
	if (d->xs && d->xgt) {
		rc = xen_vifw_start(d);
		if (!rc && (rc = h->cfg.loop.watch(h->cfg.loop.ctx, xen_vifw_fd(d), vif_cb, d)))
			xen_vifw_stop(d);
		if (rc)
			lv__log(h, LV_LOG_WARN, "xen: no vif thread (%s): stock guests get no NIC",
				strerror(-rc));
		else
			lv__log(h, LV_LOG_INFO, "xen: stock guests' NICs: netif backend through XenStore (vif thread)");
	}
	*out = (struct lv_driver *)d;
	return 0;
err:
	xen_xst_stop(d);
	if (d->xs)
		xen_store_close(d);
	if (d->xgt)
		xengnttab_close(d->xgt);
	if (d->fmem)
		xenforeignmemory_close(d->fmem);
	if (d->xce)
		xenevtchn_close(d->xce);
	if (d->xch)
		xc_interface_close(d->xch);
	free(d->by_domid);
	free(d->named);
	free(d->info);
	free(d);
	return rc;
}

struct nameless {
	const struct xen_driver *d;
	unsigned n;
};

static void count_slot(void *arg, struct lv_pool_slot *slot)
{
	struct nameless *c = arg;

	c->n += !c->d->named[SLOT_SHELL(slot)->dom.domid];
}

/* Domains of ours without a name in XenStore (pool shells in XenStore
 * mode, names not written yet or failed in noxs mode). */
static unsigned count_nameless(struct xen_driver *d)
{
	struct nameless c = { d, 0 };
	unsigned n;

	lv__pool_walk(d->h, count_slot, &c);
	n = c.n;
	for (struct lv_vm *vm = d->h->first; vm; vm = vm->next) {
		const struct xen_vm *xv = vm->drv;

		n += xv && xv->dom.domid && !d->named[xv->dom.domid];
	}
	return n;
}

/* Live stats from libxenstat: all domains in one xenstat_get_node (CPU
 * time, current memory), taken by the stats thread while stats are
 * being asked for (and XENSTAT_INTEREST_NS after: the agent samples CPU %
 * every 0.5 s, lvsh top asks every second), at most every XENSTAT_NS,
 * XENSTAT_SHARE times its cost apart (it reads each domain's name from
 * XenStore, one round trip per domain) up to XENSTAT_MAX_NS, and like
 * the names not while spawns come in (xenstored's work would compete
 * with them for Dom0's CPUs) unless the last one is NAMES_AGE_NS old.
 * The tick takes finished samples in.  A domain's numbers are the last
 * sample's if it listed the domain, began after the VM got the domain,
 * and is fresh (xst_fresh: until the next one is due and in); else (no
 * xenstored, a name not written yet or not at all, a spawn burst, no
 * stats asked for lately) those of the 100 ms domain scan, the same
 * hypercall.  libxenstat lists only domains with a name in XenStore:
 * XenStore mode writes one per VM; noxs mode, when a xenstored runs,
 * one per domain (xen_names_*).  Its chunked listing restarts at
 * "domains named so far", so it loops while 256 domains in a row are
 * nameless: no sample is asked for while XENSTAT_MAX_NAMELESS of ours
 * are (XenStore mode's pool shells, a burst of names not written yet).
 * No vbd/net: these guests have none. */
static void xenstat_work(struct xen_driver *d, int64_t now)
{
	int64_t taken, cost, every;
	unsigned n, ndoms, ours = 0;
	struct xen_stat *res;
	bool want = false, init_failed;

	if (!d->xt || d->xst_off)
		return;
	if (now - d->xst_interest < XENSTAT_INTEREST_NS && now >= d->xst_next &&
	    (now - d->last_spawn >= REFILL_QUIET_NS || now - d->xst_ask_t >= NAMES_AGE_NS)) {
		unsigned nameless = count_nameless(d);

		d->xst_next = now + XENSTAT_NS;
		want = nameless < XENSTAT_MAX_NAMELESS;
		if (!want && (d->xst_live || !d->xst_said))
			lv__log(d->h, LV_LOG_INFO, "xen: live stats from the domain scan while %u domains of ours have no name in XenStore (libxenstat would not list them)",
				nameless);
		if (!want)
			d->xst_live = false;
		else if (!d->xst_pending)
			d->xst_ask_t = now;
		d->xst_pending |= want;
		d->xst_said = true;
	}
	res = xen_xst_poll(d, want, &n, &ndoms, &taken, &cost, &init_failed);
	if (init_failed) {
		lv__log(d->h, LV_LOG_WARN, "xen: xenstat_init failed: live stats from the domain scan");
		d->xst_off = true;
		d->xst_live = false;
		free(res);
		return;
	}
	if (!res) {
		if (d->xst_live && d->xst_pending && now - d->xst_ask_t > XENSTAT_STALE_NS) {
			lv__log(d->h, LV_LOG_WARN, "xen: no libxenstat sample for %lld ms: live stats from the domain scan meanwhile",
				(long long)((now - d->xst_ask_t) / 1000000));
			d->xst_live = false;
		}
		return;
	}
	d->xst_pending = false;
	every = cost * XENSTAT_SHARE > XENSTAT_NS ? cost * XENSTAT_SHARE : XENSTAT_NS;
	every = every < XENSTAT_MAX_NS ? every : XENSTAT_MAX_NS;
	if (d->xst_next < d->xst_ask_t + every)
		d->xst_next = d->xst_ask_t + every;
	d->xst_t = taken;
	d->xst_fresh = every + cost + 200000000ll;
	d->xst_seq++;
	for (unsigned i = 0; i < n && now - taken <= d->xst_fresh; i++) {
		struct xen_vm *xv = res[i].domid && res[i].domid < XEN_MAX_DOMID ?
				    d->by_domid[res[i].domid] : NULL;

		if (!xv || xv->dom_t > taken)   /* then a pool's, or another VM's */
			continue;
		xv->cpu_ns = res[i].cpu_ns;
		xv->pages = res[i].pages;
		xv->xst_seq = d->xst_seq;
		ours++;
	}
	free(res);
	if (!d->xst_live)
		lv__log(d->h, LV_LOG_INFO, "xen: live stats from libxenstat (%s mode): %u domains listed, %u of them ours, in %.3f ms (stats thread); a sample every %lld ms at most",
			d->xs ? "XenStore" : "noxs", ndoms, ours, (double)cost / 1e6,
			(long long)(every / 1000000));
	else
		lv__log(d->h, LV_LOG_DEBUG, "xen: libxenstat: %u domains, %u ours, in %.3f ms",
			ndoms, ours, (double)cost / 1e6);
	d->xst_live = true;
	d->xst_said = true;
}

static void xen_stats(struct lv_driver *drv, const struct lv_vm *vm, struct lv_vm_stats *out)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	const struct xen_vm *xv = vm->drv;
	int64_t now = lv_now_ns();

	d->xst_interest = now;       /* the tick samples on for a while */
	if (now - d->xst_work_t > 1000000) {   /* once per stats frame, not per VM */
		d->xst_work_t = now;
		xenstat_work(d, now);
	}
	if (!xv)
		return;
	out->cpu_ns = xv->cpu_base + xv->cpu_ns;
	out->rss_bytes = xv->pages * 4096;
	xen_net_stats(xv->net, out);
}

struct xen_dom_ref {
	uint32_t vm_id, domid;
};

/* After a restart: the domain of VM vm_id when its record's pid is not
 * (a reboot since the VM's last event moved it; reboots change no
 * state).  The domain files name their VM: all read once, at the first
 * miss; 0 if none.  The index goes at restore_done. */
static uint32_t dom_of_vm(struct xen_driver *d, uint32_t vm_id)
{
	if (!d->dom_indexed) {
		DIR *dir = opendir(d->dom_dir);
		struct dirent *de;

		d->dom_indexed = true;
		while (dir && (de = readdir(dir))) {
			char *end;
			unsigned long id = strtoul(de->d_name, &end, 10);
			struct xen_dom_ref *p = d->dom_index;
			struct xen_dom xd;

			if (*end || !id || id >= XEN_MAX_DOMID ||
			    xen_dom_load(d, (uint32_t)id, &xd, NULL) || !xd.vm_id)
				continue;
			if (d->dom_index_n % 64 == 0 &&
			    !(p = realloc(d->dom_index, (d->dom_index_n + 64) * sizeof(*p))))
				break;
			d->dom_index = p;
			d->dom_index[d->dom_index_n++] = (struct xen_dom_ref){ xd.vm_id, (uint32_t)id };
		}
		if (dir)
			closedir(dir);
	}
	for (unsigned i = 0; i < d->dom_index_n; i++)
		if (d->dom_index[i].vm_id == vm_id)
			return d->dom_index[i].domid;
	return 0;
}

/* After an agent restart: the VM's domain file says where its pages and
 * channel are; the handle proves the domid is still the same domain. */
static int xen_attach(struct lv_driver *drv, struct lv_vm *vm)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	uint32_t flags = 0, domid = 0;
	struct xen_vm *xv;
	int port;

	if (vm->info.pid > 0 && (unsigned)vm->info.pid < XEN_MAX_DOMID)
		domid = (uint32_t)vm->info.pid;
	xv = calloc(1, sizeof(*xv));
	if (!xv)
		return -ENOMEM;
	xv->d = d;
	xv->vm = vm;
	xv->logfd = -1;
	xv->started_reported = true;
	if (!domid || xen_dom_load(d, domid, &xv->dom, &xv->boot) ||
	    (xv->dom.vm_id && xv->dom.vm_id != vm->info.id)) {
		xen_boot_free(&xv->boot);
		domid = dom_of_vm(d, vm->info.id);
		if (!domid || xen_dom_load(d, domid, &xv->dom, &xv->boot)) {
			free(xv);
			return -ESRCH;
		}
	}
	if (!xen_dom_check(d, &xv->dom, &flags) || !xv->dom.console_mfn) {
		xen_boot_free(&xv->boot);
		free(xv);
		return -ESRCH;
	}
	if ((int)domid != vm->info.pid) {
		lv__log(d->h, LV_LOG_INFO, "%s: its record says domain %d; rebooted since into domain %u",
			vm->info.name, vm->info.pid, domid);
		vm->info.pid = (int)domid;   /* the record follows (reattached event) */
	}
	port = xenevtchn_bind_interdomain(d->xce, xv->dom.domid, xv->dom.remote_port);
	xv->cons = xenforeignmemory_map(d->fmem, xv->dom.domid, PROT_READ | PROT_WRITE, 1,
					&xv->dom.console_mfn, NULL);
	xv->dp = xenforeignmemory_map(d->fmem, xv->dom.domid, PROT_READ | PROT_WRITE, 1,
				      &xv->dom.devpage_mfn, NULL);
	if (port < 0 || !xv->cons || !xv->dp) {
		lv__log(d->h, LV_LOG_WARN, "%s: cannot re-attach to domain %u: %s", vm->info.name,
			xv->dom.domid, strerror(errno));
		if (port >= 0)
			xenevtchn_unbind(d->xce, (evtchn_port_t)port);
		if (xv->cons)
			xenforeignmemory_unmap(d->fmem, xv->cons, 1);
		if (xv->dp)
			xenforeignmemory_unmap(d->fmem, xv->dp, 1);
		xen_boot_free(&xv->boot);
		free(xv);
		return -ESRCH;
	}
	xv->dom.local_port = port;
	xv->dom_t = lv_now_ns();
	xv->dom.store = d->xs != NULL;
	if (d->xs)                   /* its entries are in XenStore already */
		d->named[domid] = 1;
	else if (d->names)           /* in case the old agent had not written it */
		xen_names_set(d, domid, vm->info.name);
	if (vm->info.ipv4) {        /* a new tap; the guest's rings are mapped again */
		char err[160];

		xv->net = xv->boot.vif_xs && !d->vw ? NULL :
			  xen_net_new(d, vm, xv->boot.vif_xs, err, sizeof(err));
		if (!xv->net && xv->boot.vif_xs && !d->vw)
			snprintf(err, sizeof(err), "no vif thread");
		if (!xv->net)
			lv__log(d->h, LV_LOG_WARN, "%s: NIC not re-attached: %s", vm->info.name, err);
		xen_net_bind(xv->net, xv->dom.domid, port, xv->dp);
	}
	if (vm->info.console_path[0])
		xv->logfd = open(vm->info.console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	console_log_opened(xv);
	vm->drv = xv;
	d->by_domid[xv->dom.domid] = xv;
	port_set(d, port, xv);
	lv__log(d->h, LV_LOG_INFO, "%s: re-attached to domain %u", vm->info.name, xv->dom.domid);
	lv__vm_reattached(vm);
	if ((flags & XEN_DOMINF_shutdown) &&
	    ((flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask) == SHUTDOWN_suspend) {
		/* suspended by a former agent's save (a migration's hold, or
		 * killed in the middle of a save): kept, paused; an unpause
		 * resumes it where it was, a destroy ends it */
		xv->held = true;
		lv__log(d->h, LV_LOG_WARN, "%s: domain %u is suspended (a save of a former agent): paused",
			vm->info.name, xv->dom.domid);
		lv__vm_state(vm, LV_ST_PAUSED, NULL);
		return 0;
	}
	if (flags & XEN_DOMINF_shutdown) {
		vm_dead(xv, (flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask, false);
		return 0;
	}
	if (vm->info.state == LV_ST_PAUSED && !(flags & XEN_DOMINF_paused))
		lv__vm_state(vm, LV_ST_RUNNING, NULL);
	else if (vm->info.state != LV_ST_PAUSED && (flags & XEN_DOMINF_paused))
		lv__vm_state(vm, LV_ST_PAUSED, NULL);
	vm_event(xv);
	return 0;
}

/* Domains with a file but no VM: pool shells and half-created VMs of a
 * previous agent.  Destroyed if they are still ours (same handle). */
static void xen_restore_done(struct lv_driver *drv)
{
	struct xen_driver *d = (struct xen_driver *)drv;
	DIR *dir = opendir(d->dom_dir);
	struct dirent *de;

	free(d->dom_index);          /* every restored VM is attached by now */
	d->dom_index = NULL;
	d->dom_index_n = 0;
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char *end;
		unsigned long id = strtoul(de->d_name, &end, 10);
		struct xen_dom xd;
		uint32_t flags;

		if (*end || !id || id >= XEN_MAX_DOMID || d->by_domid[id])
			continue;
		if (!xen_dom_load(d, (uint32_t)id, &xd, NULL) && xen_dom_check(d, &xd, &flags)) {
			lv__log(d->h, LV_LOG_INFO, "xen: destroying domain %lu (no VM claims it)", id);
			xen_dom_destroy(d, &xd);
		} else {
			xen_dom_forget(d, (uint32_t)id);
		}
	}
	closedir(dir);
}

const struct lv_driver_ops lv_xen_ops = {
	.name = "xen",
	.open = xen_open,
	.close = xen_close,
	.start = xen_start,
	.boot_args = true,
	.pause = xen_pause,
	.unpause = xen_unpause,
	.shutdown = xen_shutdown,
	.reboot = xen_reboot,
	.console_input = xen_console_input,
	.destroy = xen_destroy,
	.tick = xen_tick,
	.prepare = xen_prepare,
	.discard = xen_discard,
	.pool_limits = { .budget_ns = REFILL_BUDGET_NS, .quiet_ns = REFILL_QUIET_NS },
	.stats = xen_stats,
	.attach = xen_attach,
	.restore_done = xen_restore_done,
	.save = xen_save,
};
