/*
 * xen_store.c - XenStore mode, for stock PV guests (Linux, Mini-OS) and
 * for measuring what the store costs: the entries a PV guest expects
 * under /local/domain/DOMID (name, domid, memory, console, control, data,
 * device), in one transaction, then the domain introduced to xenstored
 * with its store page and channel.  The console stays served by the agent
 * (console/type is "lightvmd", so xenconsoled leaves it alone).  Never
 * used in noxs mode.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xenstore.h>

#include "xen/xen_drv.h"

int xen_store_open(struct xen_driver *d)
{
	d->xs = xs_open(0);
	return d->xs ? 0 : -errno;
}

void xen_store_close(struct xen_driver *d)
{
	xs_close(d->xs);
	d->xs = NULL;
}

static bool put(struct xs_handle *xs, xs_transaction_t t, const char *dom, const char *key,
		const char *val, struct xs_permissions *perms, unsigned nperms)
{
	char path[128];

	snprintf(path, sizeof(path), "%s%s%s", dom, *key ? "/" : "", key);
	return xs_write(xs, t, path, val, (unsigned)strlen(val)) &&
	       xs_set_permissions(xs, t, path, perms, nperms);
}

int xen_store_add(struct xen_driver *d, const struct xen_dom *xd, const char *name,
		  char *err, size_t errlen)
{
	struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { xd->domid, XS_PERM_READ } };
	struct xs_permissions rw[1] = { { xd->domid, XS_PERM_NONE } };
	char dom[64], v[3][32];
	xs_transaction_t t;
	bool ok;

	snprintf(dom, sizeof(dom), "/local/domain/%u", xd->domid);
	snprintf(v[0], sizeof(v[0]), "%u", xd->domid);
	snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)(xd->mem >> 10));
	for (int tries = 0; tries < 16; tries++) {
		t = xs_transaction_start(d->xs);
		if (t == XBT_NULL)
			break;
		ok = put(d->xs, t, dom, "", "", ro, 2) &&
		     put(d->xs, t, dom, "name", name, ro, 2) &&
		     put(d->xs, t, dom, "domid", v[0], ro, 2) &&
		     put(d->xs, t, dom, "memory", "", ro, 2) &&
		     put(d->xs, t, dom, "memory/target", v[1], ro, 2) &&
		     put(d->xs, t, dom, "memory/static-max", v[1], ro, 2) &&
		     put(d->xs, t, dom, "console", "", ro, 2) &&
		     put(d->xs, t, dom, "console/type", "lightvmd", ro, 2) &&
		     (snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)xd->console_mfn), 1) &&
		     put(d->xs, t, dom, "console/ring-ref", v[2], ro, 2) &&
		     (snprintf(v[2], sizeof(v[2]), "%u", xd->remote_port), 1) &&
		     put(d->xs, t, dom, "console/port", v[2], ro, 2) &&
		     put(d->xs, t, dom, "control", "", ro, 2) &&
		     put(d->xs, t, dom, "control/shutdown", "", rw, 1) &&
		     put(d->xs, t, dom, "data", "", rw, 1) &&
		     put(d->xs, t, dom, "device", "", ro, 2);
		if (!ok) {
			xs_transaction_end(d->xs, t, true);
			break;
		}
		if (xs_transaction_end(d->xs, t, false))
			goto introduce;
		if (errno != EAGAIN)
			break;
	}
	snprintf(err, errlen, "writing %s to XenStore: %s", dom, strerror(errno));
	return -EIO;
introduce:
	if (!xs_introduce_domain(d->xs, xd->domid, xd->store_mfn, xd->store_port)) {
		snprintf(err, errlen, "xs_introduce_domain %u: %s", xd->domid, strerror(errno));
		return -EIO;
	}
	return 0;
}

void xen_store_remove(struct xen_driver *d, uint32_t domid)
{
	char dom[64];

	if (!d->xs)
		return;
	snprintf(dom, sizeof(dom), "/local/domain/%u", domid);
	xs_rm(d->xs, XBT_NULL, dom);
}
