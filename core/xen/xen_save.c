/*
 * xen_save.c - save and restore of LightVM's own PV domains (noxs mode)
 * through libxenguest: xc_domain_save writes the domain's stream, which
 * we wrap in LightVM's snapshot header (core/kvm/snapshot.h's struct
 * lv_snap_hdr with platform LV_SNAP_PLAT_XEN_PV, and a Xen part after
 * it: xen_save.h), and xc_domain_restore reads it into a new domain.
 * Both run in a thread of their own (a 4-8 MiB domain takes about a
 * second under TCG), with their own libxenctrl handle; a pipe watched
 * by the agent's loop hands each finished job back to xen_driver.c
 * (xen_job_done), which owns the VM.  A job never touches the VM: it
 * has a copy of what it needs, and a VM that goes while its job runs
 * only forgets it (owner NULL).
 *
 * The file:   [0, 4096)  struct lv_snap_hdr, then at XEN_SNAP_EXT_OFF
 *                        struct xen_snap_ext; sum_meta over the page
 *             [4096, ..) libxenguest's stream (sum_stream over it)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "xen/xen_drv.h"
#include "xen/xen_save.h"
#include <xenguest.h>

#define SUSPEND_WAIT_NS (10ll * 1000000000)   /* the guest must suspend within this */
#define SUM_CHUNK       (64u << 10)

static const char *plat_name(uint32_t p)
{
	return p == LV_SNAP_PLAT_KVM_X86_64 ? "kvm-x86_64" : p == LV_SNAP_PLAT_XEN_PV ? "xen-pv" : "unknown";
}

/* The stream's checksum: lv_snap_sum chained over SUM_CHUNK pieces. */
static int stream_sum(int fd, uint64_t len, uint64_t *out)
{
	uint8_t *buf = malloc(SUM_CHUNK);
	uint64_t sum = 0, at = 0;

	if (!buf)
		return -ENOMEM;
	while (at < len) {
		size_t n = len - at < SUM_CHUNK ? (size_t)(len - at) : SUM_CHUNK;
		ssize_t r = pread(fd, buf, n, (off_t)(XEN_SNAP_STREAM_OFF + at));

		if (r != (ssize_t)n) {
			free(buf);
			return r < 0 ? -errno : -EIO;
		}
		sum = lv_snap_sum(sum, buf, n);
		at += n;
	}
	free(buf);
	*out = sum;
	return 0;
}

static uint64_t meta_sum(const uint8_t *page)
{
	uint8_t copy[XEN_SNAP_STREAM_OFF];
	struct lv_snap_hdr *h = (struct lv_snap_hdr *)copy;

	memcpy(copy, page, sizeof(copy));
	h->sum_meta = 0;
	return lv_snap_sum(0, copy, sizeof(copy));
}

int xen_snap_check(int fd, struct xen_snap *s, bool verify_stream, char *err, size_t errlen)
{
	uint8_t page[XEN_SNAP_STREAM_OFF];
	const struct lv_snap_hdr *h = (const struct lv_snap_hdr *)page;
	const struct xen_snap_ext *x = (const struct xen_snap_ext *)(page + XEN_SNAP_EXT_OFF);
	struct stat st;
	uint64_t sum;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	n = pread(fd, page, sizeof(page), 0);
	if (n < (ssize_t)sizeof(*h) || memcmp(h->magic, LV_SNAP_MAGIC, 8)) {
		snprintf(err, errlen, "not a LightVM snapshot (%s)", n < (ssize_t)sizeof(*h) ? "too short" : "bad magic");
		return -EINVAL;
	}
	if (h->version != LV_SNAP_VERSION) {
		snprintf(err, errlen, "snapshot format version %u; this LightVM reads version %u",
			 h->version, LV_SNAP_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h->platform != LV_SNAP_PLAT_XEN_PV) {
		snprintf(err, errlen, "a snapshot of platform %s (%u); the Xen driver restores xen-pv (%u) only",
			 plat_name(h->platform), h->platform, LV_SNAP_PLAT_XEN_PV);
		return -EPROTONOSUPPORT;
	}
	if (h->abi_version != LV_ABI_VERSION) {
		snprintf(err, errlen, "snapshot of a guest of ABI version %u; this LightVM has %u",
			 h->abi_version, LV_ABI_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (n != (ssize_t)sizeof(page)) {
		snprintf(err, errlen, "truncated: %zd of the header's %zu bytes", n, sizeof(page));
		return -EINVAL;
	}
	if (h->sum_meta != meta_sum(page)) {
		snprintf(err, errlen, "header checksum mismatch (corrupt)");
		return -EBADMSG;
	}
	if (h->hdr_size != sizeof(*h) || h->page_size != LV_SNAP_PAGE || h->cpu_size || h->npages ||
	    memcmp(x->magic, XEN_SNAP_EXT_MAGIC, 8) || x->ext_size != sizeof(*x)) {
		snprintf(err, errlen, "snapshot header sizes or Xen part are not this format's");
		return -EINVAL;
	}
	if (h->mem_size < LV_GUEST_MIN_MEM || h->mem_size > LV_GUEST_MAX_MEM || h->mem_size % LV_SNAP_PAGE) {
		snprintf(err, errlen, "memory size %llu is out of range", (unsigned long long)h->mem_size);
		return -EINVAL;
	}
	if ((h->flags & ~(LV_SNAP_F_NET | LV_SNAP_F_READY)) || !lv_snap_str_ok(h->name, sizeof(h->name), true) ||
	    !lv_snap_str_ok(h->image, sizeof(h->image), false)) {
		snprintf(err, errlen, "snapshot flags, name or image are not valid");
		return -EINVAL;
	}
	if (!x->devpage_gpa || x->devpage_gpa % LV_SNAP_PAGE || x->devpage_gpa >= h->mem_size) {
		snprintf(err, errlen, "device page address 0x%llx is not in guest memory",
			 (unsigned long long)x->devpage_gpa);
		return -EINVAL;
	}
	if (h->mem_off != XEN_SNAP_STREAM_OFF || x->stream_len == 0 || x->stream_len > 2 * h->mem_size + (16u << 20) ||
	    h->file_size != XEN_SNAP_STREAM_OFF + x->stream_len) {
		snprintf(err, errlen, "stream offset or length do not add up");
		return -EINVAL;
	}
	if ((uint64_t)st.st_size != h->file_size) {
		snprintf(err, errlen, "%s: the file has %llu bytes, its header says %llu",
			 (uint64_t)st.st_size < h->file_size ? "truncated" : "grown",
			 (unsigned long long)st.st_size, (unsigned long long)h->file_size);
		return -EINVAL;
	}
	if (verify_stream) {
		rc = stream_sum(fd, x->stream_len, &sum);
		if (rc) {
			snprintf(err, errlen, "reading the stream: %s", strerror(-rc));
			return rc;
		}
		if (sum != x->sum_stream) {
			snprintf(err, errlen, "stream checksum mismatch (corrupt)");
			return -EBADMSG;
		}
	}
	s->hdr = *h;
	s->ext = *x;
	return 0;
}

int xen_snapshot_open(int fd, struct lv_snapshot_desc *d, char *err, size_t errlen)
{
	struct xen_snap s;
	int rc = xen_snap_check(fd, &s, true, err, errlen);

	if (rc) {
		close(fd);
		return rc;
	}
	lv_snap_describe(&s.hdr, d);   /* pages: libxenguest's stream, not counted here */
	return fd;
}

/* ---- the jobs' thread */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

struct save_cb_arg {
	xc_interface *xch;
	struct xen_job *job;
};

/* xc_domain_save's suspend: the agent has asked the guest
 * (LV_REQ_SUSPEND on the sysctl device); wait until the domain is shut
 * down for suspend.  1 on success (libxenguest's convention). */
static int wait_suspended(void *data)
{
	struct save_cb_arg *a = data;
	int64_t until = now_ns() + SUSPEND_WAIT_NS;

	for (;;) {
		xc_domaininfo_t info;
		struct timespec ts = { 0, 1000000 };

		if (xc_domain_getinfolist(a->xch, a->job->domid, 1, &info) != 1 ||
		    info.domain != a->job->domid) {
			snprintf(a->job->err, sizeof(a->job->err), "the domain went during the save");
			return 0;
		}
		if (info.flags & XEN_DOMINF_shutdown) {
			unsigned why = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;

			if (why == SHUTDOWN_suspend) {
				a->job->t_paused = now_ns();
				a->job->suspended = true;
				return 1;
			}
			snprintf(a->job->err, sizeof(a->job->err), "the guest shut down (reason %u) instead of suspending", why);
			return 0;
		}
		if (now_ns() > until) {
			snprintf(a->job->err, sizeof(a->job->err),
				 "the guest did not suspend within %lld s (not a LightVM guest of this version?)",
				 SUSPEND_WAIT_NS / 1000000000);
			return 0;
		}
		nanosleep(&ts, NULL);
	}
}

static void run_save(xc_interface *xch, struct xen_job *j)
{
	struct save_cb_arg a = { xch, j };
	struct save_callbacks cb = { .suspend = wait_suspended, .data = &a };
	uint8_t page[XEN_SNAP_STREAM_OFF];
	struct lv_snap_hdr *h = (struct lv_snap_hdr *)page;
	off_t end;
	int rc;

	if (lseek(j->fd, XEN_SNAP_STREAM_OFF, SEEK_SET) < 0) {
		j->rc = -errno;
		snprintf(j->err, sizeof(j->err), "seek: %s", strerror(errno));
		return;
	}
	if (xc_domain_save(xch, j->fd, j->domid, 0, &cb, XC_STREAM_PLAIN, -1)) {
		j->rc = errno ? -errno : -EIO;
		if (!j->err[0])
			snprintf(j->err, sizeof(j->err), "xc_domain_save failed: %s (the agent's log has libxenguest's words)",
				 strerror(-j->rc));
		goto resume;
	}
	end = lseek(j->fd, 0, SEEK_CUR);
	if (end <= XEN_SNAP_STREAM_OFF) {
		j->rc = -EIO;
		snprintf(j->err, sizeof(j->err), "xc_domain_save wrote nothing");
		goto resume;
	}
	j->ext.stream_len = (uint64_t)end - XEN_SNAP_STREAM_OFF;
	rc = stream_sum(j->fd, j->ext.stream_len, &j->ext.sum_stream);
	if (rc) {
		j->rc = rc;
		snprintf(j->err, sizeof(j->err), "reading the stream back: %s", strerror(-rc));
		goto resume;
	}
	memset(page, 0, sizeof(page));
	j->hdr.mem_off = XEN_SNAP_STREAM_OFF;
	j->hdr.file_size = XEN_SNAP_STREAM_OFF + j->ext.stream_len;
	*h = j->hdr;
	memcpy(page + XEN_SNAP_EXT_OFF, &j->ext, sizeof(j->ext));
	h->sum_meta = meta_sum(page);
	if (pwrite(j->fd, page, sizeof(page), 0) != (ssize_t)sizeof(page)) {
		j->rc = -EIO;
		snprintf(j->err, sizeof(j->err), "writing the header: %s", strerror(errno));
		goto resume;
	}
	if (!j->keep)
		return;          /* the driver destroys the suspended domain */
resume:
	/* a copy kept (--keep) or a failed save: the guest runs on in this
	 * domain, its suspend call returning 1 (cancelled) */
	if (j->suspended && xc_domain_resume(xch, j->domid, 1)) {
		j->resume_failed = true;
		if (!j->rc) {
			j->rc = -errno;
			snprintf(j->err, sizeof(j->err), "xc_domain_resume: %s", strerror(errno));
		}
	}
}

/* Resume a domain shut down for suspend in place (cooperative: the
 * guest's suspend call returns 1): a held save released.  0 or -errno. */
int xen_dom_resume(xc_interface *xch, uint32_t domid)
{
	return xc_domain_resume(xch, domid, 1) ? (errno ? -errno : -EIO) : 0;
}

static void run_restore(xc_interface *xch, struct xen_job *j)
{
	struct restore_callbacks cb = { 0 };
	unsigned long store = 0, console = 0;

	if (lseek(j->fd, XEN_SNAP_STREAM_OFF, SEEK_SET) < 0) {
		j->rc = -errno;
		snprintf(j->err, sizeof(j->err), "seek: %s", strerror(errno));
		return;
	}
	/* no XenStore: the "store" frame is the device page (the guest
	 * names it so before suspending: guest/xen/xrt.c) */
	if (xc_domain_restore(xch, j->fd, j->domid, 0, &store, 0, j->console_port, &console, 0,
			      XC_STREAM_PLAIN, &cb, -1)) {
		j->rc = errno ? -errno : -EIO;
		snprintf(j->err, sizeof(j->err), "xc_domain_restore failed: %s (the agent's log has libxenguest's words)",
			 strerror(-j->rc));
		return;
	}
	j->console_mfn = console;
	j->devpage_mfn = store;
}

static void *job_thread(void *arg)
{
	struct xen_job *j = arg;
	xc_interface *xch = xc_interface_open(NULL, NULL, 0);

	j->t_start = now_ns();
	if (!xch) {
		j->rc = errno ? -errno : -EIO;
		snprintf(j->err, sizeof(j->err), "xc_interface_open: %s", strerror(-j->rc));
	} else if (j->kind == XEN_JOB_SAVE) {
		run_save(xch, j);
	} else {
		run_restore(xch, j);
	}
	if (xch)
		xc_interface_close(xch);
	j->t_done = now_ns();
	/* the loop frees it: a pointer fits the pipe's atomic write */
	if (write(j->d->job_pipe[1], &j, sizeof(j)) != (ssize_t)sizeof(j))
		abort();         /* a lost job would hold its VM in saving forever */
	return NULL;
}

static void job_cb(void *arg, int fd, uint32_t events)
{
	struct xen_driver *d = arg;
	struct xen_job *j;

	(void)events;
	while (read(fd, &j, sizeof(j)) == (ssize_t)sizeof(j)) {
		d->jobs--;
		xen_job_done(d, j);
		xen_job_free(j);
	}
}

int xen_job_run(struct xen_driver *d, struct xen_job *j)
{
	pthread_attr_t at;
	pthread_t t;
	int rc;

	if (!d->job_pipe_on) {
		if (pipe2(d->job_pipe, O_CLOEXEC))
			return -errno;
		if (fcntl(d->job_pipe[0], F_SETFL, O_NONBLOCK) ||
		    (rc = d->h->cfg.loop.watch(d->h->cfg.loop.ctx, d->job_pipe[0], job_cb, d))) {
			rc = -errno;
			close(d->job_pipe[0]);
			close(d->job_pipe[1]);
			return rc ? rc : -EIO;
		}
		d->job_pipe_on = true;
	}
	if (d->jobs >= XEN_JOBS_MAX)
		return -EAGAIN;
	j->d = d;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&t, &at, job_thread, j);
	pthread_attr_destroy(&at);
	if (!rc)
		d->jobs++;
	return rc;
}

void xen_job_free(struct xen_job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

/* The driver is closing: wait for the threads (they hold domains and
 * fds), then drop the pipe. */
void xen_jobs_close(struct xen_driver *d)
{
	if (!d->job_pipe_on)
		return;
	while (d->jobs) {
		struct xen_job *j;

		if (read(d->job_pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j)) {
			d->jobs--;
			xen_job_done(d, j);
			xen_job_free(j);
		} else {
			struct timespec ts = { 0, 5000000 };

			nanosleep(&ts, NULL);
		}
	}
	d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, d->job_pipe[0]);
	close(d->job_pipe[0]);
	close(d->job_pipe[1]);
	d->job_pipe_on = false;
}
