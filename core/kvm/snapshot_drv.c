/*
 * snapshot_drv.c - the KVM driver's half of a save (snapshot.h): the
 * memfd a shell reports its vCPU and resident pages into, and the file
 * written from it, with the guest's pages copied out of the held shell
 * by process_vm_readv.  Nothing the shell wrote is trusted: the state's
 * magic and memory size must match, the bitmap only chooses which pages
 * of [mem_hva, mem_hva + mem_size) of the shell's own address space are
 * read, and the vCPU must pass the loader's checks before it is written.
 * The agent's loop waits while the file is written (~1 ms for the
 * 200 KiB a daytime guest touches; at most the guest's memory size).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "lightvm_abi.h"
#include "lv_internal.h"
#include "kvm/snapshot.h"
#include "kvm/snapshot_drv.h"
#ifdef LV_HAVE_XEN
#include "xen/xen_save.h"
#endif

int kvm_snap_state_fd(uint64_t mem_size)
{
	int fd = memfd_create("lightvm-save", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, KVM_SNAP_STATE_SIZE(mem_size)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

struct reader {
	pid_t pid;
	uint64_t hva;
};

static int read_shell(void *arg, uint64_t gpa, void *buf, size_t len)
{
	const struct reader *r = arg;
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)(r->hva + gpa), .iov_len = len };
	ssize_t n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int kvm_snap_write_from(pid_t pid, int state_fd, int out_fd, const struct lv_vm_info *vi,
			char *err, size_t errlen)
{
	uint64_t bmlen = vi->mem_bytes / LV_SNAP_PAGE / 8;
	struct kvm_snap_state st;
	struct lv_snap_hdr h;
	struct reader rd;
	uint8_t *bm = NULL;
	int rc;

	if (pread(state_fd, &st, sizeof(st), 0) != (ssize_t)sizeof(st)) {
		snprintf(err, errlen, "reading the shell's state: short read");
		return -EIO;
	}
	if (st.magic != KVM_SNAP_STATE_MAGIC || st.mem_size != vi->mem_bytes ||
	    (st.flags & ~LV_SNAP_F_ALL) || !st.tsc_khz) {
		snprintf(err, errlen, "the shell's state is not valid (magic, memory size, flags or TSC)");
		return -EBADMSG;
	}
	if (!(st.cpu.rflags & 0x2) || st.cpu.rip < LV_GPA_IMAGE || st.cpu.rip >= vi->mem_bytes) {
		snprintf(err, errlen, "the shell's vCPU state is not a running guest's (rip 0x%llx)",
			 (unsigned long long)st.cpu.rip);
		return -EBADMSG;
	}
	bm = malloc(bmlen);
	if (!bm)
		return -ENOMEM;
	if (pread(state_fd, bm, bmlen, KVM_SNAP_BITMAP_OFF) != (ssize_t)bmlen) {
		snprintf(err, errlen, "reading the shell's page map: short read");
		free(bm);
		return -EIO;
	}
	memset(&h, 0, sizeof(h));
	lv_snap_from_vm(&h, vi, st.flags & (LV_SNAP_F_IDLE | LV_SNAP_F_READY),
			(st.flags & LV_SNAP_F_NET) != 0);
	h.tsc_khz = st.tsc_khz;
	rd.pid = pid;
	rd.hva = st.mem_hva;
	st.cpu.rflags &= 0x40cd7ull;       /* the loader's rule: no IF, TF, IOPL ... */
	st.cpu.mxcsr &= 0xffffu;
	rc = lv_snap_write(out_fd, &h, &st.cpu, bm, read_shell, &rd, err, errlen);
	free(bm);
	return rc;
}

/* ---- lightvm.h: open a snapshot for a restore */

void lv_snap_from_vm(struct lv_snap_hdr *h, const struct lv_vm_info *vi, uint32_t flags, bool net)
{
	struct timespec ts;

	h->flags = flags;
	if (net && vi->ipv4) {
		h->flags |= LV_SNAP_F_NET;
		h->ipv4 = vi->ipv4;
		memcpy(h->mac, vi->mac, sizeof(h->mac));
	}
	h->mem_size = vi->mem_bytes;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->saved_ns = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
	snprintf(h->name, sizeof(h->name), "%s", vi->name);
	snprintf(h->image, sizeof(h->image), "%s", vi->image[0] ? vi->image : "?");
}

void lv_snap_describe(const struct lv_snap_hdr *h, struct lv_snapshot_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->mem_bytes = h->mem_size;
	d->net = (h->flags & LV_SNAP_F_NET) != 0;
	memcpy(d->mac, h->mac, sizeof(d->mac));
	d->ipv4 = h->ipv4;
	snprintf(d->name, sizeof(d->name), "%s", h->name);
	snprintf(d->image, sizeof(d->image), "%s", h->image);
	d->file_bytes = h->file_size;
}

int lv_snapshot_open(struct lv_host *h, const char *path, struct lv_snapshot_desc *d,
		     char *err, size_t errlen)
{
	struct lv_snap s;
	int fd, rc;

	if (!h->ops->save) {
		snprintf(err, errlen, "the %s driver cannot restore snapshots", h->ops->name);
		return -EOPNOTSUPP;
	}
	fd = lv__open_regular(path);
	if (fd < 0) {
		snprintf(err, errlen, "snapshot '%s': %s", path,
			 fd == -EINVAL ? "not a regular file" : strerror(-fd));
		return fd;
	}
#ifdef LV_HAVE_XEN
	if (h->ops == &lv_xen_ops)   /* its own file (core/xen/xen_save.c) */
		return xen_snapshot_open(fd, d, err, errlen);
#endif
	rc = lv_snap_load(fd, &s, true, err, errlen);
	if (rc) {
		close(fd);
		return rc;
	}
	lv_snap_describe(&s.hdr, d);
	d->pages = s.hdr.npages;
	lv_snap_free(&s);
	return fd;
}
