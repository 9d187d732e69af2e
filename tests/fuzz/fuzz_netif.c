/*
 * fuzz_netif.c - libFuzzer target: a Xen guest's netif rings as a
 * hostile guest may leave them (core/xen/xen_net.c, compiled in; the
 * grant copy and event calls are stand-ins).  The input is the tx and rx
 * shared ring pages; the backend takes tx requests (grant-copying from a
 * fake guest page) and answers rx requests with frames from a socket
 * standing in for the tap.  A bad request must end in the VM's fault
 * (caught here); no copy may reach past a page, no read past the rings.
 * The first byte picks the handshake: LightVM's device page (one request
 * per frame) or a stock netfront's (XenStore: chains of requests,
 * checksums to fill); the bytes after the rings are what a netfront
 * wrote in XenStore (xen_netfront_parse must refuse or bound them).
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define xen_vm_fault fuzz_vm_fault   /* the real ones are in xen_driver.c, */
#define xen_vm_port fuzz_vm_port
#define xen_vifw_state fuzz_vifw_state   /* xen_store.c */
#define xen_vifw_watch fuzz_vifw_watch
#include "../../core/xen/xen_net.c"

static jmp_buf faulted;
static uint8_t guest_page[XC_PAGE_SIZE];

void fuzz_vm_fault(struct xen_driver *d, struct lv_vm *vm, const char *why)
{
	longjmp(faulted, 1);
}

/* Grant copies between our buffers and "the guest's" page: refs below
 * 16 copy, others fail; every copy must stay inside one page. */
int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count, xengnttab_grant_copy_segment_t *segs)
{
	for (uint32_t i = 0; i < count; i++) {
		xengnttab_grant_copy_segment_t *g = &segs[i];
		int from_guest = g->flags & GNTCOPY_source_gref;
		uint32_t ref = from_guest ? g->source.foreign.ref : g->dest.foreign.ref;
		uint16_t off = from_guest ? g->source.foreign.offset : g->dest.foreign.offset;

		if ((uint32_t)off + g->len > XC_PAGE_SIZE)
			abort();   /* the backend let a copy cross a page */
		g->status = ref < 16 ? GNTST_okay : GNTST_bad_gntref;
		if (g->status != GNTST_okay)
			continue;
		if (from_guest)
			memcpy(g->dest.virt, guest_page + off, g->len);
		else
			memcpy(guest_page + off, g->source.virt, g->len);
	}
	return 0;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

/* the driver's and the vif thread's side, not under test here */
void fuzz_vifw_state(struct xen_driver *d, uint32_t domid, unsigned gen, int state)
{
}

void fuzz_vifw_watch(struct xen_driver *d, uint32_t domid, unsigned gen, bool on)
{
}

int fuzz_vm_port(struct xen_driver *d, struct lv_vm *vm, int port, bool on)
{
	return 0;
}

/* XenStore values as a netfront may write them: any bytes */
static void front_values(const uint8_t *data, size_t size)
{
	struct xen_netfront f = { .domid = 1 };
	struct xen_netfront_vals v;
	char err[160] = "";

	if (!size)
		return;
	f.have = data[0] & 0x1f;
	f.toolong = size > 1 ? data[1] & 0x1f : 0;
	f.unoffered = size > 2 && (data[2] & 1);
	for (unsigned i = 0; i < XEN_NF_KEYS; i++) {
		size_t off = 3 + i * sizeof(f.val[i]);

		if (off < size)
			memcpy(f.val[i], data + off, size - off < sizeof(f.val[i]) ? size - off : sizeof(f.val[i]));
	}
	if (xen_netfront_parse(&f, &v, err, sizeof(err)) == 0 &&
	    (v.state > XenbusStateReconfigured || v.evtchn > XEN_NF_MAX_PORT ||
	     v.tx_ref > XEN_NF_MAX_GREF || v.rx_ref > XEN_NF_MAX_GREF))
		abort();            /* a value past its bound got through */
	else if (strnlen(err, sizeof(err)) == sizeof(err))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0x4c, 0x56, 0, 0, 2 };
	static uint8_t *pages;
	static int sv[2] = { -1, -1 };
	static struct xen_driver d;
	struct xen_net *n;
	uint8_t frame[60] = { 0 };
	char sink[2048];

	if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (!pages)
		pages = aligned_alloc(XC_PAGE_SIZE, 2 * XC_PAGE_SIZE);
	memset(pages, 0, 2 * XC_PAGE_SIZE);
	if (size > 2 * XC_PAGE_SIZE + 1)
		front_values(data + 2 * XC_PAGE_SIZE + 1, size - 2 * XC_PAGE_SIZE - 1);
	memcpy(pages, data + (size > 0), size > 2 * XC_PAGE_SIZE ? 2 * XC_PAGE_SIZE : size - (size > 0));
	memset(guest_page, 0x5a, sizeof(guest_page));
	memcpy(guest_page, mac, 6);
	n = calloc(1, sizeof(*n));   /* a fault "frees" it: kept here */
	n->d = &d;
	n->xs = size > 0 && (data[0] & 1);
	n->tap = sv[0];
	n->domid = 1;
	n->rings = pages;
	lv__tx_police_init(&n->police, mac, 0x02004d0a);
	BACK_RING_ATTACH(&n->tx, (netif_tx_sring_t *)pages, 0, XC_PAGE_SIZE);
	BACK_RING_ATTACH(&n->rx, (netif_rx_sring_t *)(pages + XC_PAGE_SIZE), 0, XC_PAGE_SIZE);
	if (!setjmp(faulted))
		tx_run(n);
	memcpy(frame, mac, 6);
	for (int i = 0; i < 3; i++)
		if (write(sv[1], frame, sizeof(frame)) < 0)
			break;
	if (!setjmp(faulted))
		tap_cb(n, sv[0], 0);
	while (read(sv[1], sink, sizeof(sink)) > 0 || read(sv[0], sink, sizeof(sink)) > 0)
		;
	free(n);
	return 0;
}
