/*
 * xen_dom.c - one PV domain, the lean way: xc_domain_create, one event
 * channel, memory (populated ahead of time for a pool), then libxenguest's
 * xc_dom_* builder to load the image and write start info, with two hooks:
 * one allocates the LightVM device page next to the console page (so it
 * is inside the boot mapping), one hands over pre-populated memory.
 * No XenStore and no scripts anywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "xen/xen_drv.h"
#include <xenguest.h>
#include "lightvm_abi.h"

#define SUPERPAGE_SHIFT 9          /* 2 MiB in 4 KiB pages */
#define SUPERPAGE_PAGES (1ul << SUPERPAGE_SHIFT)

/* The build in progress (the agent is single threaded). */
static struct {
	struct xen_dom *xd;
	xen_pfn_t devpage_pfn;
} cur;
static struct xc_dom_arch hooks;
static const struct xc_dom_arch *orig_hooks;

static int populate(xc_interface *xch, uint32_t domid, unsigned long nr_pages,
		    xen_pfn_t *p2m)
{
	unsigned long nsuper = nr_pages >> SUPERPAGE_SHIFT, pfn, j;
	xen_pfn_t *ext;
	int rc;

	for (pfn = 0; pfn < nr_pages; pfn++)
		p2m[pfn] = pfn;
	if (nsuper) {
		ext = calloc(nsuper, sizeof(*ext));
		if (!ext)
			return -ENOMEM;
		for (j = 0; j < nsuper; j++)
			ext[j] = j << SUPERPAGE_SHIFT;
		rc = xc_domain_populate_physmap(xch, domid, nsuper, SUPERPAGE_SHIFT, 0, ext);
		if (rc < 0)
			rc = 0;
		for (j = 0; j < (unsigned long)rc; j++)
			for (unsigned long k = 0; k < SUPERPAGE_PAGES; k++)
				p2m[(j << SUPERPAGE_SHIFT) + k] = ext[j] + k;
		free(ext);
		pfn = (unsigned long)rc << SUPERPAGE_SHIFT;
	} else {
		pfn = 0;
	}
	if (pfn < nr_pages &&
	    xc_domain_populate_physmap_exact(xch, domid, nr_pages - pfn, 0, 0, &p2m[pfn]))
		return -errno ? -errno : -ENOMEM;
	return 0;
}

/* meminit hook: a pooled domain's memory is already there */
static int meminit_hook(struct xc_dom_image *dom)
{
	struct xen_dom *xd = cur.xd;

	if (!xd || !xd->p2m)
		return orig_hooks->meminit(dom);
	if (dom->total_pages != xd->nr_pages)
		return -EINVAL;
	dom->p2m_size = xd->nr_pages;
	dom->pv_p2m = xc_dom_malloc(dom, sizeof(xen_pfn_t) * xd->nr_pages);
	if (!dom->pv_p2m)
		return -ENOMEM;
	memcpy(dom->pv_p2m, xd->p2m, sizeof(xen_pfn_t) * xd->nr_pages);
	return 0;
}

/* alloc_magic_pages hook: start info, xenstore, console, then our page */
static int magic_hook(struct xc_dom_image *dom)
{
	int rc = orig_hooks->alloc_magic_pages(dom);

	if (rc)
		return rc;
	cur.devpage_pfn = xc_dom_alloc_page(dom, "lightvm devpage");
	return cur.devpage_pfn == (xen_pfn_t)-1 ? -ENOMEM : 0;
}

static void set_hooks(struct xc_dom_image *dom)
{
	if (!orig_hooks) {
		orig_hooks = dom->arch_hooks;
		hooks = *orig_hooks;
		hooks.meminit = meminit_hook;
		hooks.alloc_magic_pages = magic_hook;
		hooks.next = NULL;
	}
	dom->arch_hooks = &hooks;
}

int xen_dom_create(struct xen_driver *d, uint64_t mem, bool populate_now,
		   struct xen_dom *xd, char *err, size_t errlen)
{
	struct xen_domctl_createdomain cfg = {
		.flags = 0,                      /* PV */
		.max_vcpus = 1,
		.max_evtchn_port = 63,
		.max_grant_frames = 1,
		.max_maptrack_frames = 0,
		.grant_opts = XEN_DOMCTL_GRANT_version(1),
	};
	uint32_t domid = 0;
	int port, rc;

	if (d->xs) {   /* stock guests (Linux) want libxl's defaults */
		cfg.max_evtchn_port = 1023;
		cfg.max_grant_frames = -1;
		cfg.max_maptrack_frames = -1;
	}
	memset(xd, 0, sizeof(*xd));
	xd->local_port = -1;
	xd->mem = mem;
	xd->nr_pages = (unsigned long)(mem >> 12);
	if (getrandom(xd->handle, sizeof(xd->handle), GRND_NONBLOCK) != sizeof(xd->handle))
		for (unsigned i = 0; i < sizeof(xd->handle); i++)
			xd->handle[i] = (uint8_t)(lv_now_ns() >> (i % 8 * 8)) ^ (uint8_t)i;
	memcpy(cfg.handle, xd->handle, sizeof(cfg.handle));
	if (xc_domain_create(d->xch, &domid, &cfg)) {
		rc = -errno;
		snprintf(err, errlen, "xc_domain_create: %s", strerror(errno));
		return rc;
	}
	xd->domid = domid;
	/* 4.17 still creates the vCPUs here (max_vcpus must match cfg) */
	if (xc_domain_max_vcpus(d->xch, domid, 1)) {
		rc = -errno;
		snprintf(err, errlen, "xc_domain_max_vcpus: %s", strerror(errno));
		goto fail;
	}
	if (xc_domain_setmaxmem(d->xch, domid, mem >> 10)) {
		rc = -errno;
		snprintf(err, errlen, "xc_domain_setmaxmem: %s", strerror(errno));
		goto fail;
	}
	port = xc_evtchn_alloc_unbound(d->xch, domid, 0);
	if (port < 0) {
		rc = -errno;
		snprintf(err, errlen, "xc_evtchn_alloc_unbound: %s", strerror(errno));
		goto fail;
	}
	xd->remote_port = (uint32_t)port;
	port = xenevtchn_bind_interdomain(d->xce, domid, xd->remote_port);
	if (port < 0) {
		rc = -errno;
		snprintf(err, errlen, "xenevtchn_bind_interdomain: %s", strerror(errno));
		goto fail;
	}
	xd->local_port = port;
	if (populate_now) {
		xd->p2m = calloc(xd->nr_pages, sizeof(*xd->p2m));
		if (!xd->p2m) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = populate(d->xch, domid, xd->nr_pages, xd->p2m);
		if (rc) {
			snprintf(err, errlen, "populating %lu pages: %s", xd->nr_pages, strerror(-rc));
			goto fail;
		}
	}
	return 0;
fail:
	xen_dom_destroy(d, xd);
	return rc;
}

/* ---- the domain file: what a restarted agent needs to re-attach */

static void dom_path(struct xen_driver *d, uint32_t domid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u", d->dom_dir, domid);
}

/* Strings on one line: backslash and newline escaped. */
static void put_str(FILE *f, const char *key, const char *v)
{
	if (!v)
		return;
	fprintf(f, "%s ", key);
	for (; *v; v++)
		if (*v == '\\' || *v == '\n')
			fprintf(f, "\\%c", *v == '\n' ? 'n' : '\\');
		else
			fputc(*v, f);
	fputc('\n', f);
}

static char *get_str(const char *v)
{
	char *s = malloc(strlen(v) + 1), *o = s;

	if (!s)
		return NULL;
	for (; *v && *v != '\n'; v++)
		*o++ = *v == '\\' && v[1] ? (*++v == 'n' ? '\n' : *v) : *v;
	*o = 0;
	return s;
}

void xen_boot_free(struct xen_boot *b)
{
	free(b->ramdisk);
	free(b->cmdline);
	b->ramdisk = b->cmdline = NULL;
}

int xen_dom_save(struct xen_driver *d, const struct xen_dom *xd, const struct xen_boot *b)
{
	char path[300], tmp[310], hex[33];
	FILE *f;

	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", xd->handle[i]);
	dom_path(d, xd->domid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "lightvm-xen 2 %u %s %llu %u %llu %llu %llx %u\n", xd->domid, hex,
		(unsigned long long)xd->mem, xd->remote_port,
		(unsigned long long)xd->console_mfn, (unsigned long long)xd->devpage_mfn,
		(unsigned long long)xd->devpage_gpa, xd->vm_id);
	if (b) {
		put_str(f, "ramdisk", b->ramdisk);
		put_str(f, "cmdline", b->cmdline);
		if (b->vif_xs)
			fputs("vif xenstore\n", f);
	}
	if (fclose(f) || rename(tmp, path)) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

/* Version 1 (no VM id, no boot strings) is what agents before reboot
 * support wrote. */
int xen_dom_load(struct xen_driver *d, uint32_t domid, struct xen_dom *xd, struct xen_boot *b)
{
	char path[300], hex[40], *line = NULL;
	unsigned long long mem, cmfn, dmfn, gpa;
	unsigned id, port, ver, vm_id = 0;
	size_t cap = 0;
	FILE *f;
	int n, rc = -EINVAL;

	if (b) {
		b->ramdisk = b->cmdline = NULL;
		b->vif_xs = false;
	}
	dom_path(d, domid, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (getline(&line, &cap, f) <= 0)
		goto out;
	n = sscanf(line, "lightvm-xen %u %u %32s %llu %u %llu %llu %llx %u", &ver, &id, hex, &mem,
		   &port, &cmfn, &dmfn, &gpa, &vm_id);
	if (n < 8 || (ver == 1 && n != 8) || (ver == 2 && n != 9) || ver < 1 || ver > 2 ||
	    id != domid || strlen(hex) != 32)
		goto out;
	memset(xd, 0, sizeof(*xd));
	xd->domid = domid;
	xd->local_port = -1;
	xd->mem = mem;
	xd->nr_pages = (unsigned long)(mem >> 12);
	xd->remote_port = port;
	xd->console_mfn = cmfn;
	xd->devpage_mfn = dmfn;
	xd->devpage_gpa = gpa;
	xd->vm_id = vm_id;
	for (unsigned i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			goto out;
		xd->handle[i] = (uint8_t)v;
	}
	rc = 0;
	while (b && getline(&line, &cap, f) > 0) {
		char **dst = strncmp(line, "ramdisk ", 8) == 0 ? &b->ramdisk :
			     strncmp(line, "cmdline ", 8) == 0 ? &b->cmdline : NULL;

		if (strcmp(line, "vif xenstore\n") == 0)
			b->vif_xs = true;

		if (dst && !*dst && !(*dst = get_str(line + 8)))
			rc = -ENOMEM;
	}
	if (rc && b)
		xen_boot_free(b);
out:
	free(line);
	fclose(f);
	return rc;
}

/* Does domid exist with our handle?  1 yes, 0 no; *flags gets its flags. */
int xen_dom_check(struct xen_driver *d, const struct xen_dom *xd, uint32_t *flags)
{
	xc_domaininfo_t info;

	if (xc_domain_getinfolist(d->xch, xd->domid, 1, &info) != 1 || info.domain != xd->domid ||
	    memcmp(info.handle, xd->handle, sizeof(info.handle)))
		return 0;
	*flags = info.flags;
	return 1;
}

void xen_dom_forget(struct xen_driver *d, uint32_t domid)
{
	char path[300];

	dom_path(d, domid, path, sizeof(path));
	unlink(path);
}

void xen_dom_destroy(struct xen_driver *d, struct xen_dom *xd)
{
	if (xd->local_port >= 0)
		xenevtchn_unbind(d->xce, (evtchn_port_t)xd->local_port);
	if (xd->domid) {
		xc_domain_destroy(d->xch, xd->domid);
		xen_dom_forget(d, xd->domid);
		xen_names_forget(d, xd->domid);
	}
	free(xd->p2m);
	memset(xd, 0, sizeof(*xd));
	xd->local_port = -1;
}

static void *read_image(int fd, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;

	if (fstat(fd, &st) || st.st_size <= 0 || st.st_size > (256 << 20))
		return NULL;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return NULL;
	while (off < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);

		if (r <= 0) {
			free(buf);
			return NULL;
		}
		off += (size_t)r;
	}
	*len = off;
	return buf;
}

int xen_dom_build(struct xen_driver *d, struct xen_dom *xd, int image_fd,
		  const char *ramdisk, const char *extra,
		  void (*fill)(void *arg, struct lv_devpage *dp, const struct xen_dom *xd),
		  void *arg, char *err, size_t errlen)
{
	struct xc_dom_image *dom = NULL;
	const char *step = "xc_dom_allocate";
	char cmdline[176 + LV_SPAWN_CMDLINE_MAX];   /* ours, ip= (a stock NIC), the spawn's */
	void *image, *page;
	size_t len = 0;
	int64_t t00 = lv_now_ns(), t[4] = { 0 };
	int rc = -EIO;

	image = read_image(image_fd, &len);
	if (!image) {
		snprintf(err, errlen, "cannot read the image");
		return -EIO;
	}
	dom = xc_dom_allocate(d->xch, "", NULL);
	if (!dom)
		goto out;
	dom->container_type = XC_DOM_PV_CONTAINER;
	dom->console_evtchn = xd->remote_port;
	dom->console_domid = 0;
	dom->xenstore_domid = 0;
	dom->xenstore_evtchn = 0;
	if (xd->store) {
		int port = xc_evtchn_alloc_unbound(d->xch, xd->domid, 0);

		if (port < 0) {
			snprintf(err, errlen, "store channel: %s", strerror(errno));
			goto out_err;
		}
		xd->store_port = (uint32_t)port;
		dom->xenstore_evtchn = xd->store_port;
	}
	cur.xd = xd;
	cur.devpage_pfn = (xen_pfn_t)-1;
	step = "xc_dom_kernel_mem";
	if (xc_dom_kernel_mem(dom, image, len))
		goto out;
	step = "xc_dom_module_file (the ramdisk)";
	if (ramdisk) {   /* the regular file checked, by its fd: no race */
		char proc[64];
		int rfd = lv__open_regular(ramdisk);

		if (rfd < 0) {
			snprintf(err, errlen, "ramdisk %s: %s", ramdisk,
				 rfd == -EINVAL ? "not a regular file" : strerror(-rfd));
			rc = rfd;
			goto out_err;
		}
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", rfd);
		if (xc_dom_module_file(dom, proc, NULL)) {   /* maps it now */
			close(rfd);
			goto out;
		}
		close(rfd);
	}
	step = "xc_dom_boot_xen_init";
	if (xc_dom_boot_xen_init(dom, d->xch, xd->domid))
		goto out;
	step = "xc_dom_parse_image (not a Xen PV image?)";
	if (xc_dom_parse_image(dom))
		goto out;
	step = "xc_dom_mem_init";
	if (xc_dom_mem_init(dom, (unsigned)(xd->mem >> 20)))
		goto out;
	set_hooks(dom);
	t[0] = lv_now_ns();
	step = "xc_dom_boot_mem_init";
	if (xc_dom_boot_mem_init(dom))
		goto out;
	t[1] = lv_now_ns();
	step = "xc_dom_build_image";
	if (xc_dom_build_image(dom) || cur.devpage_pfn == (xen_pfn_t)-1)
		goto out;
	t[2] = lv_now_ns();
	xd->devpage_gpa = (uint64_t)cur.devpage_pfn << 12;
	xd->console_mfn = xc_dom_p2m(dom, dom->console_pfn);
	xd->store_mfn = xc_dom_p2m(dom, dom->xenstore_pfn);
	xd->devpage_mfn = xc_dom_p2m(dom, cur.devpage_pfn);
	step = "mapping the device page";
	page = xc_dom_pfn_to_ptr(dom, cur.devpage_pfn, 1);
	if (!page)
		goto out;
	memset(page, 0, 4096);
	fill(arg, page, xd);
	/* console=hvc0 for stock Linux guests; ours only read lv.devpage */
	snprintf(cmdline, sizeof(cmdline), "console=hvc0 " LV_XEN_DEVPAGE_ARG "0x%llx%s%s",
		 (unsigned long long)xd->devpage_gpa, extra ? " " : "", extra ? extra : "");
	dom->cmdline = cmdline;
	step = "xc_dom_boot_image";
	if (xc_dom_boot_image(dom))
		goto out;
	step = "xc_dom_gnttab_init";
	if (xd->store && xc_dom_gnttab_init(dom))
		goto out;
	t[3] = lv_now_ns();
	dom->cmdline = NULL;
	rc = 0;
	lv__log(d->h, LV_LOG_DEBUG, "xen: domain %u built: setup %.3f meminit %.3f build %.3f boot %.3f ms",
		xd->domid, (double)(t[0] - t00) / 1e6, (double)(t[1] - t[0]) / 1e6,
		(double)(t[2] - t[1]) / 1e6, (double)(t[3] - t[2]) / 1e6);
out:
	if (rc)
		snprintf(err, errlen, "%s failed%s%s", step, errno ? ": " : "",
			 errno ? strerror(errno) : "");
out_err:
	if (dom) {
		dom->cmdline = NULL;
		xc_dom_release(dom);
	}
	cur.xd = NULL;
	free(image);
	/* a pooled domain's memory now belongs to the guest */
	free(xd->p2m);
	xd->p2m = NULL;
	return rc;
}
