/*
 * xrt.c - the LightVM guest runtime on Xen PV: the rt.h API (boot, power,
 * idle, clock, console, printf) over hypercalls, event channels and the
 * PV console ring, so that the same apps (guest/apps) link unchanged.
 *
 * Boot: map shared info (events stay masked: no upcalls, no callbacks),
 * unmap page 0 (null guard; there is no trap table, so any fault crashes),
 * find the console page through the M2P table, the device page through
 * "lv.devpage=" on the command line, then app_main.  Idle is SCHEDOP_poll
 * on the one event channel that the console and sysctl share.
 */
#include "rt.h"
#include "xen_pv.h"
#include "xrt.h"

extern char hypercall_page[];
extern char lv_xen_shared_info[];
extern char lv_xen_grant_table[];
extern char lv_xen_p2m_fll[], lv_xen_p2m_fl[];
extern char lv_xen_image_start[], lv_xen_image_end[];
extern unsigned long lv_xen_boot_rsp;

uint64_t lv_start_tsc;

static struct start_info *si;
static volatile struct shared_info *shared;
static volatile struct xencons_interface *cons;
static uint32_t cons_port;        /* console (and sysctl) event channel */
static volatile struct lv_dev *sysdev;
static struct lv_devpage fallback_dp; /* no lv.devpage: started by xl */
static int was_ready;             /* lv_ready was called: say it again after a restore */
void (*lv_xen_resume_hook)(void); /* xrt.h */

long lv_xen_hcall(unsigned nr, unsigned long a1, unsigned long a2, unsigned long a3)
{
	register unsigned long r10 __asm__("r10") = 0;
	long ret;
	void *fn = hypercall_page + nr * 32;

	__asm__ volatile("call *%[fn]"
			 : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10)
			 : [fn] "r"(fn)
			 : "rcx", "r11", "r8", "r9", "memory");
	return ret;
}

#define hcall lv_xen_hcall

void lv_xen_notify(uint32_t port)
{
	uint32_t p = port;

	hcall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (unsigned long)&p, 0);
}
#define notify lv_xen_notify

/* ---- grants: the first frame of our grant table (v1), mapped on first
 * use over a page of the image; refs from GNTTAB_NR_RESERVED up, never
 * revoked (a driver grants its rings and buffers once, at boot). */

#define GNT_MAX (4096 / sizeof(struct grant_entry_v1))
static volatile struct grant_entry_v1 *gnttab;
static uint32_t gnttab_next = GNTTAB_NR_RESERVED;
/* what each reference grants, to grant it again in a restored domain
 * (its frames are new, its grant table empty) */
static struct { uint32_t pfn; uint16_t domid, flags; } granted[GNT_MAX];

static int gnttab_map(void)
{
	unsigned long frame = 0;
	struct gnttab_setup_table st = { .dom = DOMID_SELF, .nr_frames = 1, .frame_list = &frame };

	if (hcall(__HYPERVISOR_grant_table_op, GNTTABOP_setup_table, (unsigned long)&st, 1) ||
	    st.status || hcall(__HYPERVISOR_update_va_mapping, (unsigned long)lv_xen_grant_table,
			       (frame << 12) | 7, UVMF_INVLPG))
		return -1;
	gnttab = (volatile struct grant_entry_v1 *)lv_xen_grant_table;
	return 0;
}

int lv_xen_grant(const void *va, uint16_t domid, int readonly)
{
	const unsigned long *p2m = (const unsigned long *)si->mfn_list;
	unsigned long pfn = (unsigned long)(uintptr_t)va >> 12;
	volatile struct grant_entry_v1 *e;

	if (!gnttab && gnttab_map())
		return -1;
	if (gnttab_next >= GNT_MAX || ((uintptr_t)va & 4095) || pfn >= si->nr_pages)
		return -1;
	e = &gnttab[gnttab_next];
	granted[gnttab_next].pfn = (uint32_t)pfn;
	granted[gnttab_next].domid = domid;
	granted[gnttab_next].flags = (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0));
	e->domid = domid;
	e->frame = (uint32_t)p2m[pfn];
	__asm__ volatile("" ::: "memory");   /* x86: stores stay in order */
	e->flags = granted[gnttab_next].flags;
	return (int)gnttab_next++;
}

/* ---- save and restore (the toolstack's xc_domain_save/restore) */

static uint64_t system_ns(void);

/* Started by xl (no device page, XenStore there): a suspend event
 * channel for xl save, its port written to device/suspend/event-channel
 * (libxl makes that node ours to write, binds the port and signals it
 * to ask for a suspend).  One XS_WRITE on the store ring, waited for by
 * polling the store channel; nothing else of XenStore is spoken. */
static uint32_t susp_port;        /* 0: none */

static void xs_put(volatile struct xenstore_domain_interface *x, const void *p, uint32_t n)
{
	const char *c = p;

	for (uint32_t i = 0; i < n; i++) {
		while (x->req_prod - x->req_cons >= sizeof(x->req))
			hcall(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
		x->req[x->req_prod % sizeof(x->req)] = c[i];
		__asm__ volatile("" ::: "memory");
		x->req_prod++;
	}
}

static void xl_suspend_channel(void)
{
	const unsigned long *m2p = (const unsigned long *)XEN_M2P_VIRT_START;
	static const char path[] = "device/suspend/event-channel";
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = 0 };
	volatile struct xenstore_domain_interface *x;
	struct xsd_sockmsg m = { .type = XS_WRITE, .req_id = 1 };
	uint32_t store_port = si->store_evtchn;
	char val[12];
	unsigned n = 0;
	uint32_t v;
	uint64_t until;

	susp_port = 0;
	if (!si->store_mfn || !shared ||
	    hcall(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, (unsigned long)&a, 0))
		return;
	x = (volatile struct xenstore_domain_interface *)(m2p[si->store_mfn] << 12);
	v = a.port;
	do
		val[sizeof(val) - 1 - n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(val));
	m.len = (uint32_t)sizeof(path) + n;
	x->rsp_cons = x->rsp_prod;      /* nothing of ours is outstanding */
	xs_put(x, &m, sizeof(m));
	xs_put(x, path, sizeof(path));
	xs_put(x, val + sizeof(val) - n, n);
	notify(store_port);
	until = system_ns() + 5000000000ull;
	while (x->rsp_prod - x->rsp_cons < sizeof(m) && system_ns() < until) {
		struct sched_poll p = { .ports = &store_port, .nr_ports = 1, .timeout = system_ns() + 10000000 };

		hcall(__HYPERVISOR_sched_op, SCHEDOP_poll, (unsigned long)&p, 0);
		__atomic_and_fetch(&shared->evtchn_pending[store_port / 64], ~(1ul << (store_port % 64)),
				   __ATOMIC_SEQ_CST);
	}
	x->rsp_cons = x->rsp_prod;      /* the answer (OK or an error) is not read */
	notify(store_port);
	susp_port = a.port;
}

/* Where a save finds our p2m (shared info's arch part): the frame list
 * (the MFNs of the p2m's pages) and its list (the MFN of that page).
 * Written at boot and again in each restored domain, whose frames are
 * new. */
static void p2m_frames(void)
{
	const unsigned long *p2m = (const unsigned long *)si->mfn_list;
	unsigned long *fl = (unsigned long *)lv_xen_p2m_fl, *fll = (unsigned long *)lv_xen_p2m_fll;
	unsigned long first = si->mfn_list >> 12, n = (si->nr_pages + 511) / 512;

	if (!shared || n > 512 || (si->mfn_list & 4095))
		return;       /* over 1 GiB, or a p2m off a page: not saveable */
	for (unsigned long i = 0; i < n; i++)
		fl[i] = p2m[first + i];
	fll[0] = p2m[(uintptr_t)lv_xen_p2m_fl >> 12];
	shared->arch.max_pfn = si->nr_pages;
	__asm__ volatile("" ::: "memory");
	shared->arch.pfn_to_mfn_frame_list_list = p2m[(uintptr_t)lv_xen_p2m_fll >> 12];
}

static void shared_map(void)
{
	if (hcall(__HYPERVISOR_update_va_mapping, (unsigned long)lv_xen_shared_info,
		  si->shared_info | 7, UVMF_INVLPG) == 0) {
		shared = (volatile struct shared_info *)lv_xen_shared_info;
		shared->vcpu_info[0].evtchn_upcall_mask = 1;
	}
}

/* ---- balloon: a save streams only the pages this runtime uses.
 * Everything it uses lies in one run of frames from the image's first
 * page to the last frame the domain builder put after it (p2m list,
 * start info, console, XenStore or device page, page tables, Xen's boot
 * stack); it has no heap.  The frames below the image and above that
 * run are never touched, so before the first suspend they go back to
 * Xen: each is unmapped (a multicall of update_va_mapping), released
 * (XENMEM_decrease_reservation) and marked absent in the p2m, where
 * xc_domain_save skips it.  A restored domain gets only the frames the
 * stream had; the next save finds the rest already absent. */
#define BALLOON_BATCH 32

static unsigned long pfn_of(unsigned long va)
{
	return va >> 12;
}

static int pfn_used(unsigned long pfn, unsigned long top)
{
	unsigned long first = pfn_of((uintptr_t)lv_xen_image_start);

	return pfn >= first && pfn < top;
}

static void balloon_flush(unsigned long *p2m, const unsigned long *pfns, unsigned long *mfns,
			  struct multicall_entry *mc, unsigned n)
{
	struct xen_memory_reservation r = { .extent_start = mfns, .domid = DOMID_SELF };
	unsigned long out[BALLOON_BATCH], keep = 0;
	long done;

	mc[n - 1].args[2] = UVMF_TLB_FLUSH;
	if (hcall(__HYPERVISOR_multicall, (unsigned long)mc, n, 0))
		return;
	/* a frame with no mapping (-EINVAL: no page table there) is as free */
	for (unsigned i = 0; i < n; i++)
		if (mc[i].result == 0 || (long)mc[i].result == -22)
			out[keep++] = i;
	for (unsigned long i = 0; i < keep; i++)
		mfns[i] = p2m[pfns[out[i]]];
	r.nr_extents = keep;
	done = hcall(__HYPERVISOR_memory_op, XENMEM_decrease_reservation, (unsigned long)&r, 0);
	for (long i = 0; i < done; i++)
		p2m[pfns[out[i]]] = INVALID_P2M_ENTRY;
}

static void balloon_unused(void)
{
	unsigned long *p2m = (unsigned long *)si->mfn_list;
	unsigned long top = pfn_of((uintptr_t)lv_xen_image_end + 4095);
	unsigned long ends[] = {
		pfn_of(si->mfn_list + si->nr_pages * sizeof(long) + 4095),
		pfn_of((uintptr_t)si) + 1,
		pfn_of(si->pt_base) + si->nr_pt_frames,
		pfn_of(lv_xen_boot_rsp - 1) + 1,
		(uintptr_t)lv_dp != (uintptr_t)&fallback_dp ? pfn_of((uintptr_t)lv_dp) + 1 : 0,
		pfn_of((uintptr_t)cons) + 1,
		si->store_mfn ? ((const unsigned long *)XEN_M2P_VIRT_START)[si->store_mfn] + 1 : 0,
	};
	struct multicall_entry mc[BALLOON_BATCH];
	unsigned long pfns[BALLOON_BATCH], mfns[BALLOON_BATCH];
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (ends[i] > top)
			top = ends[i];
	if (top > si->nr_pages)
		return;
	for (unsigned long pfn = 0; pfn < si->nr_pages; pfn++) {
		if (pfn_used(pfn, top) || p2m[pfn] == INVALID_P2M_ENTRY)
			continue;
		mc[n] = (struct multicall_entry){ .op = __HYPERVISOR_update_va_mapping,
						  .args = { pfn << 12, 0, 0 } };
		pfns[n++] = pfn;
		if (n == BALLOON_BATCH) {
			balloon_flush(p2m, pfns, mfns, mc, n);
			n = 0;
		}
	}
	if (n)
		balloon_flush(p2m, pfns, mfns, mc, n);
}

/* SCHEDOP_shutdown(suspend), as a PV guest must for xc_domain_save: the
 * start info's console (and store) frames given as guest page numbers,
 * no page of Xen's mapped (shared info, grant table), the start info's
 * MFN in the third argument.  Without XenStore (lv.devpage), the store
 * frame names the device page: the restore turns it into the device
 * page's new MFN, which is how the agent finds it in the new domain.
 * Returns 1 in a new domain (restored), 0 if the save let this domain
 * run on (cancelled: `lvsh save --keep`, or a failed save). */
static int xen_suspend(void)
{
	const unsigned long *p2m = (const unsigned long *)si->mfn_list;
	const unsigned long *m2p = (const unsigned long *)XEN_M2P_VIRT_START;
	unsigned long si_mfn = p2m[(uintptr_t)si >> 12];
	unsigned long store = si->store_mfn, con = si->console.domU.mfn;
	unsigned r = SHUTDOWN_suspend;
	long rc;

	lv_flush();
	balloon_unused();
	si->store_mfn = lv_dp != &fallback_dp ? (uintptr_t)lv_dp >> 12 : store ? m2p[store] : 0;
	si->console.domU.mfn = m2p[con];
	hcall(__HYPERVISOR_update_va_mapping, (unsigned long)lv_xen_shared_info, 0, UVMF_INVLPG);
	if (gnttab)
		hcall(__HYPERVISOR_update_va_mapping, (unsigned long)lv_xen_grant_table, 0, UVMF_INVLPG);
	shared = NULL;
	rc = hcall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (unsigned long)&r, si_mfn);
	if (rc) {            /* the same domain: its frames as they were */
		si->store_mfn = store;
		si->console.domU.mfn = con;
	}
	shared_map();
	if (gnttab) {
		gnttab = NULL;
		if (gnttab_map() == 0 && !rc)
			for (uint32_t i = GNTTAB_NR_RESERVED; i < gnttab_next; i++) {
				gnttab[i].domid = granted[i].domid;
				gnttab[i].frame = (uint32_t)p2m[granted[i].pfn];
				__asm__ volatile("" ::: "memory");
				gnttab[i].flags = granted[i].flags;
			}
	}
	cons = (volatile struct xencons_interface *)(m2p[si->console.domU.mfn] << 12);
	cons_port = si->console.domU.evtchn;
	if (!rc)
		p2m_frames();
	return rc == 0;
}

static void LV_NORETURN xen_shutdown(unsigned reason)
{
	unsigned r = reason;

	for (;;)
		hcall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (unsigned long)&r, 0);
}

/* ---- boot */

static uint64_t parse_hex(const char *s)
{
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (;; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else
			return v;
		v = v * 16 + d;
	}
}

static volatile struct lv_devpage *find_devpage(void)
{
	const char *cl = (const char *)si->cmd_line, *arg = LV_XEN_DEVPAGE_ARG;
	size_t n = strlen(arg);

	for (unsigned i = 0; i < MAX_GUEST_CMDLINE && cl[i]; i++)
		if ((i == 0 || cl[i - 1] == ' ') && strncmp(cl + i, arg, n) == 0) {
			uint64_t a = parse_hex(cl + i + n);
			volatile struct lv_devpage *dp = (volatile struct lv_devpage *)(uintptr_t)a;

			if (a && !(a & 4095) && a < si->nr_pages * 4096ul &&
			    dp->magic == LV_ABI_MAGIC && dp->version == LV_ABI_VERSION &&
			    dp->size == sizeof(struct lv_devpage))
				return dp;
			return NULL;
		}
	return NULL;
}

void lv_xen_main(struct start_info *start) LV_NORETURN;
void lv_xen_main(struct start_info *start)
{
	const unsigned long *m2p = (const unsigned long *)XEN_M2P_VIRT_START;

	lv_start_tsc = lv_rdtsc();
	si = start;
	shared_map();
	p2m_frames();
	/* page 0 is a null guard, as on KVM: a null access faults, and a
	 * fault without a trap table makes Xen crash the domain */
	hcall(__HYPERVISOR_update_va_mapping, 0, 0, UVMF_INVLPG);
	cons = (volatile struct xencons_interface *)(m2p[si->console.domU.mfn] << 12);
	cons_port = si->console.domU.evtchn;
	lv_dp = find_devpage();
	if (!lv_dp) {
		fallback_dp.magic = LV_ABI_MAGIC;
		fallback_dp.version = LV_ABI_VERSION;
		fallback_dp.size = sizeof(fallback_dp);
		memcpy(fallback_dp.name, "xen-guest", 10);
		fallback_dp.mem_size = si->nr_pages * 4096ul;
		lv_dp = &fallback_dp;
		xl_suspend_channel();
	}
	sysdev = lv_find_dev(LV_DEV_SYSCTL);
	lv_poweroff(app_main());
}

/* ---- power */

static void set_state(uint32_t st)
{
	if (!sysdev)
		return;
	sysdev->u.sysctl.guest_state = st;
	__asm__ volatile("" ::: "memory");
	notify(sysdev->u.sysctl.evtchn);
}

void lv_ready(void)
{
	was_ready = 1;
	lv_flush();
	set_state(LV_GST_READY);
}

/* A notification costs no exit of its own here: the same as lv_ready. */
void lv_ready_next(void)
{
	lv_ready();
}

void lv_poweroff(int code)
{
	lv_flush();
	if (sysdev)
		sysdev->u.sysctl.exit_code = code;
	set_state(LV_GST_DOWN);
	xen_shutdown(SHUTDOWN_poweroff);
}

void lv_reboot(void)
{
	lv_flush();
	xen_shutdown(SHUTDOWN_reboot);
}

/* Xen system time (ns since the domain's boot) from the vCPU time info. */
static uint64_t system_ns(void)
{
	volatile struct vcpu_time_info *t;
	uint32_t v;
	uint64_t ns, d;

	if (!shared)
		return 0;
	t = &shared->vcpu_info[0].time;
	do {
		v = t->version;
		__asm__ volatile("" ::: "memory");
		d = lv_rdtsc() - t->tsc_timestamp;
		if (t->tsc_shift >= 0)
			d <<= t->tsc_shift;
		else
			d >>= -t->tsc_shift;
		ns = t->system_time + (uint64_t)(((unsigned __int128)d * t->tsc_to_system_mul) >> 32);
		__asm__ volatile("" ::: "memory");
	} while ((v & 1) || v != t->version);
	return ns;
}

/* The host asked for a suspend (sysctl LV_REQ_SUSPEND): a save.  In a
 * restored domain the host has rewritten the device page (new channel,
 * maybe a new name and address): the drivers connect again, the network
 * stack forgets what belonged to the saved guest, and ready is said
 * again. */
static uint32_t suspend_now(void)
{
	sysdev->u.sysctl.host_req = LV_REQ_NONE;
	__asm__ volatile("" ::: "memory");
	if (!xen_suspend())
		return 0;
	sysdev = lv_find_dev(LV_DEV_SYSCTL);
	if (lv_xen_resume_hook)
		lv_xen_resume_hook();
	if (lv_restore_hook)
		lv_restore_hook();
	if (was_ready)
		set_state(LV_GST_READY);
	return LV_WAKE_RESTORED;
}

static int suspend_asked(void)
{
	return sysdev && sysdev->u.sysctl.host_req == LV_REQ_SUSPEND;
}

/* Started by xl: its suspend channel fired (xl save). */
static uint32_t xl_suspend(void)
{
	if (!xen_suspend())
		return 0;
	xl_suspend_channel();     /* a new domain: a new channel for the next save */
	return LV_WAKE_RESTORED;
}

uint32_t lv_idle(uint64_t timeout_ns)
{
	uint32_t ports[2] = { sysdev ? sysdev->u.sysctl.evtchn : cons_port, susp_port };
	uint32_t port = ports[0];
	struct sched_poll p = { .ports = ports, .nr_ports = !sysdev && susp_port ? 2 : 1 };
	volatile unsigned long *pend;
	uint32_t wake = 0;

	lv_flush();
	if (suspend_asked())
		return suspend_now();
	if (!shared)
		return 0;
	if (p.nr_ports == 2) {
		pend = &shared->evtchn_pending[susp_port / 64];
		if (*pend & (1ul << (susp_port % 64))) {
			__atomic_and_fetch(pend, ~(1ul << (susp_port % 64)), __ATOMIC_SEQ_CST);
			return xl_suspend();
		}
	}
	pend = &shared->evtchn_pending[port / 64];
	if (timeout_ns != UINT64_MAX)
		p.timeout = system_ns() + timeout_ns;
	if (!(*pend & (1ul << (port % 64)))) {
		hcall(__HYPERVISOR_sched_op, SCHEDOP_poll, (unsigned long)&p, 0);
		if (p.nr_ports == 2 && shared &&
		    (shared->evtchn_pending[susp_port / 64] & (1ul << (susp_port % 64)))) {
			__atomic_and_fetch(&shared->evtchn_pending[susp_port / 64],
					   ~(1ul << (susp_port % 64)), __ATOMIC_SEQ_CST);
			return xl_suspend();
		}
	}
	if (*pend & (1ul << (port % 64))) {
		__atomic_and_fetch(pend, ~(1ul << (port % 64)), __ATOMIC_SEQ_CST);
		wake = LV_WAKE_SYSCTL;
	}
	if (suspend_asked())
		return suspend_now();
	return wake;
}

int lv_clock(struct lv_time *t)
{
	uint64_t mono = system_ns();
	uint32_t v;

	if (!shared)
		return -38;  /* ENOSYS */
	do {
		v = shared->wc_version;
		__asm__ volatile("" ::: "memory");
		t->wall_ns = (((uint64_t)shared->wc_sec_hi << 32) | shared->wc_sec) * 1000000000ull +
			     shared->wc_nsec + mono;
		__asm__ volatile("" ::: "memory");
	} while ((v & 1) || v != shared->wc_version);
	t->mono_ns = mono;
	return 0;
}

/* ---- console: the PV console ring, flushed with an event */

void lv_flush(void)
{
	if (cons)
		notify(cons_port);
}

void lv_write(const char *s, size_t n)
{
	uint32_t prod;

	if (!cons)
		return;
	prod = cons->out_prod;
	while (n) {
		if (prod - cons->out_cons >= sizeof(cons->out)) {
			cons->out_prod = prod;
			notify(cons_port);
			hcall(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
			continue;
		}
		cons->out[prod % sizeof(cons->out)] = *s++;
		prod++;
		n--;
	}
	__asm__ volatile("" ::: "memory");
	cons->out_prod = prod;
}

void lv_puts(const char *s)
{
	lv_write(s, strlen(s));
}

/* Console input: what the agent put in the ring's in side, at most n
 * bytes; never blocks (lv_idle wakes on the channel the agent signals). */
size_t lv_console_read(char *buf, size_t n)
{
	uint32_t prod, c;
	size_t k = 0;

	if (!cons)
		return 0;
	prod = cons->in_prod;
	c = cons->in_cons;
	__asm__ volatile("" ::: "memory");
	if (prod - c > sizeof(cons->in))    /* corrupt: skip to the end */
		c = prod;
	while (c != prod && k < n)
		buf[k++] = cons->in[c++ % sizeof(cons->in)];
	__asm__ volatile("" ::: "memory");
	cons->in_cons = c;
	if (k)
		notify(cons_port);   /* room again for the agent */
	return k;
}
