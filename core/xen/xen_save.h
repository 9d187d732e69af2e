/*
 * xen_save.h - the Xen driver's snapshots (xen_save.c): the file's Xen
 * part and the save/restore jobs that run libxenguest off the agent's
 * loop.  The file starts with the snapshot header every platform shares
 * (core/kvm/snapshot.h: magic, version, platform, ABI, memory size,
 * name, image, address, checksums), so a Xen file given to the KVM
 * driver, or a KVM file given to this one, is refused by its platform
 * before anything starts.
 */
#ifndef LV_XEN_SAVE_H
#define LV_XEN_SAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/snapshot.h"

#define XEN_SNAP_EXT_OFF      2048u         /* struct xen_snap_ext in the header page */
#define XEN_SNAP_STREAM_OFF   4096u         /* libxenguest's stream from here */
#define XEN_SNAP_EXT_MAGIC    "LVXENPV\0"
#define XEN_JOBS_MAX          64u           /* saves and restores at once */

struct xen_snap_ext {
	char     magic[8];        /* XEN_SNAP_EXT_MAGIC */
	uint32_t ext_size;        /* sizeof(struct xen_snap_ext) */
	uint32_t restored;        /* the device page's restore count at the save */
	uint64_t devpage_gpa;     /* the device page in the guest */
	uint64_t stream_len;      /* bytes of stream at XEN_SNAP_STREAM_OFF */
	uint64_t sum_stream;      /* lv_snap_sum chained over 64 KiB pieces */
};

struct xen_snap {
	struct lv_snap_hdr hdr;
	struct xen_snap_ext ext;
};

/* Check a Xen snapshot (fd: a regular file): header, sizes, platform
 * (clear words for a KVM file), checksums (the stream's with
 * verify_stream).  0, or -errno with err. */
int xen_snap_check(int fd, struct xen_snap *s, bool verify_stream, char *err, size_t errlen);

struct lv_snapshot_desc;
/* lv_snapshot_open for the Xen driver: check all of the file in fd
 * (closed on error) and describe it.  fd, or -errno with err. */
int xen_snapshot_open(int fd, struct lv_snapshot_desc *d, char *err, size_t errlen);

enum { XEN_JOB_SAVE = 1, XEN_JOB_RESTORE = 2 };

struct xen_driver;

/* One save or restore, run by a thread of its own. */
struct xen_job {
	struct xen_driver *d;
	int kind;                 /* XEN_JOB_* */
	void *owner;              /* the driver's VM; NULL once it went */
	uint32_t domid;
	int fd;                   /* the job's own (a dup); closed with it */
	/* save */
	bool keep;                /* resume the domain after the stream is written */
	bool hold;                /* keep it suspended (LV_SAVE_HOLD: a migration) */
	struct lv_snap_hdr hdr;   /* filled but for sizes and sums */
	struct xen_snap_ext ext;
	bool suspended, resume_failed;
	/* restore */
	uint32_t console_port;    /* the guest's end of its channel in the new domain */
	unsigned long console_mfn, devpage_mfn;
	/* results */
	int rc;
	char err[200];
	int64_t t_start, t_paused, t_done;
};

/* Start j (malloc'ed, fd set) in a thread; 0 or -errno (then the caller
 * still owns j).  The loop gets it back in xen_job_done (xen_driver.c),
 * then frees it. */
int xen_job_run(struct xen_driver *d, struct xen_job *j);
void xen_job_done(struct xen_driver *d, struct xen_job *j);
void xen_job_free(struct xen_job *j);
/* xc_domain_resume(domid, fast): a held domain runs on.  0 or -errno. */
struct xc_interface_core;
int xen_dom_resume(struct xc_interface_core *xch, uint32_t domid);
/* Wait for every job (at close). */
void xen_jobs_close(struct xen_driver *d);

#endif
