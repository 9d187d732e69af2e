/*
 * snapshot_shell.c - the shell's half of save and restore (snapshot.h).
 *
 * Save (KVM_MSG_SAVE): the vCPU is out of KVM_RUN whenever a control
 * message is served; a pending `out` is completed first (KVM_RUN with
 * immediate_exit), so rip is past the hypercall.  The registers, the FPU
 * and the guest TSC go into the agent's memfd with a bitmap of the guest
 * pages this process has resident (mincore); the agent copies those pages
 * itself (process_vm_readv), so the jailed shell writes no file and needs
 * no file-size allowance.  The guest stays held until UNPAUSE or DESTROY.
 *
 * Restore (EXEC of kind KVM_EXEC_SNAPSHOT): the snapshot's header and
 * vCPU are checked again (the agent checked the whole file; it could
 * have changed since), guest memory is replaced by a MAP_PRIVATE mapping
 * of the file at the same address (KVM's memory slot follows the
 * mapping), so every VM restored from one file shares its page cache
 * until it writes.  A change of the file after the check can only change
 * guest memory, which the guest controls anyway.  The device page gets
 * the new name and NIC, `restored` + 1, and boot_tsc moved so that the
 * guest's clock goes on from where it was saved; the guest learns it was
 * restored from LV_WAKE_RESTORED.
 *
 * A restore that is not a clone (EXEC kind KVM_EXEC_COPY) copies the
 * listed pages into the pooled shell's own memory instead and zeroes the
 * other pages this process has resident (mincore): the pool's warm-up
 * already paid the first touches of the pages a guest uses (under PVM a
 * shadow-MMU fault each), which a new mapping would throw away, and the
 * restored guest's first instructions then find them mapped (measured in
 * scripts/bench-snapshot; LIGHTVM_KVM_SNAP_COPY=0 maps instead, for an
 * A/B run).  Clones map: they share the file's pages.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "kvm/shell_int.h"
#include "kvm/snapshot.h"

static uint8_t resident[LV_GUEST_MAX_MEM / LV_SNAP_PAGE];   /* mincore's vector */

static void cpu_from_kvm(struct lv_snap_cpu *c, const struct kvm_regs *r, const struct kvm_fpu *f)
{
	const uint64_t g[16] = { r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
				 r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15 };

	memcpy(c->gpr, g, sizeof(g));
	c->rip = r->rip;
	c->rflags = r->rflags;
	memcpy(c->fpr, f->fpr, sizeof(c->fpr));
	c->fcw = f->fcw;
	c->fsw = f->fsw;
	c->ftwx = f->ftwx;
	c->last_opcode = f->last_opcode;
	c->last_ip = f->last_ip;
	c->last_dp = f->last_dp;
	memcpy(c->xmm, f->xmm, sizeof(c->xmm));
	c->mxcsr = f->mxcsr;
}

static void cpu_to_kvm(const struct lv_snap_cpu *c, struct kvm_regs *r, struct kvm_fpu *f)
{
	const uint64_t *g = c->gpr;

	*r = (struct kvm_regs){ .rax = g[0], .rbx = g[1], .rcx = g[2], .rdx = g[3],
		.rsi = g[4], .rdi = g[5], .rsp = g[6], .rbp = g[7], .r8 = g[8], .r9 = g[9],
		.r10 = g[10], .r11 = g[11], .r12 = g[12], .r13 = g[13], .r14 = g[14], .r15 = g[15],
		.rip = c->rip, .rflags = c->rflags };
	memset(f, 0, sizeof(*f));
	memcpy(f->fpr, c->fpr, sizeof(f->fpr));
	f->fcw = c->fcw;
	f->fsw = c->fsw;
	f->ftwx = c->ftwx;
	f->last_opcode = c->last_opcode;
	f->last_ip = c->last_ip;
	f->last_dp = c->last_dp;
	memcpy(f->xmm, c->xmm, sizeof(f->xmm));
	f->mxcsr = c->mxcsr;
}

/* Finish an `out` KVM still holds (rip moves past it; no guest code runs). */
static void complete_io(struct kvm_shell *s)
{
	struct kvm_run *run = s->vm.run;

	run->immediate_exit = 1;
	(void)ioctl(s->vm.vcpu_fd, KVM_RUN, 0);    /* -EINTR at once */
	run->immediate_exit = 0;
}

static int capture(struct kvm_shell *s, int fd, char *err, size_t errlen)
{
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);
	struct kvm_snap_state st = { .magic = KVM_SNAP_STATE_MAGIC };
	uint64_t npg = s->vm.mem_size / LV_SNAP_PAGE;
	uint8_t bits[4096];
	struct kvm_regs r;
	struct kvm_fpu f;

	if (s->linux_guest) {   /* a snapshot holds a unikernel's state only */
		snprintf(err, errlen, "a Linux guest cannot be saved: its interrupt controllers, timers and MSRs are not in a LightVM snapshot");
		return -EOPNOTSUPP;
	}
	if (!s->started || !s->ready_sent) {
		snprintf(err, errlen, "the guest is not running yet");
		return -EINVAL;
	}
	complete_io(s);
	if (ioctl(s->vm.vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(s->vm.vcpu_fd, KVM_GET_FPU, &f) < 0) {
		snprintf(err, errlen, "reading the vCPU: %s", strerror(errno));
		return -errno;
	}
	cpu_from_kvm(&st.cpu, &r, &f);
	st.cpu.tsc = kvm_vm_guest_tsc(&s->vm);
	st.cpu.boot_tsc = dp->boot_tsc;
	st.mem_hva = (uint64_t)(uintptr_t)s->vm.mem;
	st.mem_size = s->vm.mem_size;
	st.tsc_khz = kvm_vm_tsc_khz(&s->vm);
	st.flags = LV_SNAP_F_READY | (s->in_idle ? LV_SNAP_F_IDLE : 0) |
		   (s->net.fd >= 0 ? LV_SNAP_F_NET : 0);
	if (mincore(s->vm.mem, s->vm.mem_size, resident) < 0) {
		snprintf(err, errlen, "mincore: %s", strerror(errno));
		return -errno;
	}
	if (pwrite(fd, &st, sizeof(st), 0) != (ssize_t)sizeof(st)) {
		snprintf(err, errlen, "writing the state: %s", strerror(errno));
		return -EIO;
	}
	for (uint64_t base = 0; base < npg; base += sizeof(bits) * 8) {
		uint64_t n = npg - base < sizeof(bits) * 8 ? npg - base : sizeof(bits) * 8;

		memset(bits, 0, sizeof(bits));
		for (uint64_t i = 0; i < n; i++)
			if (resident[base + i] & 1)
				bits[i / 8] |= (uint8_t)(1u << (i % 8));
		if (pwrite(fd, bits, (n + 7) / 8, (off_t)(KVM_SNAP_BITMAP_OFF + base / 8)) !=
		    (ssize_t)((n + 7) / 8)) {
			snprintf(err, errlen, "writing the page map: %s", strerror(errno));
			return -EIO;
		}
	}
	return 0;
}

void kvm_snap_shell_save(struct kvm_shell *s, int fd)
{
	struct kvm_msg m = { .type = KVM_MSG_SAVED };
	char err[KVM_MSG_TEXT];
	int rc = fd < 0 ? -EINVAL : capture(s, fd, err, sizeof(err));

	if (fd < 0)
		snprintf(err, sizeof(err), "SAVE without its memfd");
	m.code = rc;
	if (rc)
		snprintf(m.text, sizeof(m.text), "%s", err);
	memcpy(m.t, s->t, sizeof(m.t));
	if (s->ctl_fd >= 0)
		while (send(s->ctl_fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
	if (!rc)
		s->paused = true;   /* held until UNPAUSE (or DESTROY) */
}

/* ---- restore */

static struct lv_dev *net_dev(struct lv_devpage *dp)
{
	uint32_t n = dp->ndevs < LV_MAX_DEVS ? dp->ndevs : LV_MAX_DEVS;

	for (uint32_t i = 0; i < n; i++)
		if (dp->devs[i].type == LV_DEV_NET)
			return &dp->devs[i];
	return NULL;
}

/* The device page of the restored guest: name, NIC, clock, `restored`. */
static int devpage_restore(struct kvm_shell *s, const struct lv_snap *snap,
			   const struct lv_dev *fresh, char *err, size_t errlen)
{
	struct lv_devpage *dp = (struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE);
	uint64_t khz = kvm_vm_tsc_khz(&s->vm), now = kvm_vm_guest_tsc(&s->vm);
	uint64_t ran = snap->cpu.tsc - snap->cpu.boot_tsc;   /* guest ticks since its boot */
	struct lv_dev *nd = net_dev(dp);

	if (dp->magic != LV_ABI_MAGIC || dp->version != LV_ABI_VERSION || dp->size != sizeof(*dp)) {
		snprintf(err, errlen, "the snapshot's device page is not a LightVM one");
		return -EINVAL;
	}
	if (s->net.fd >= 0 && !nd) {
		snprintf(err, errlen, "the snapshot's guest has no NIC to configure");
		return -EINVAL;
	}
	memcpy(dp->name, s->name, sizeof(dp->name));
	dp->restored++;
	if (khz && khz != snap->hdr.tsc_khz)       /* the same time at another rate */
		ran = (uint64_t)((unsigned __int128)ran * khz / snap->hdr.tsc_khz);
	dp->tsc_khz = khz ? khz : dp->tsc_khz;
	dp->boot_tsc = now - ran;
	if (dp->ndevs >= 2 && dp->devs[1].type == LV_DEV_SYSCTL)
		dp->devs[1].u.sysctl.host_req = LV_REQ_NONE;
	if (nd && s->net.fd >= 0) {
		struct lv_net_shared *sh = (struct lv_net_shared *)(s->vm.mem + LV_GPA_NET);

		memcpy(nd->u.net.mac, fresh->u.net.mac, sizeof(nd->u.net.mac));
		nd->u.net.mtu = fresh->u.net.mtu;
		nd->u.net.ipv4 = fresh->u.net.ipv4;
		nd->u.net.netmask = fresh->u.net.netmask;
		nd->u.net.gateway = fresh->u.net.gateway;
		/* the rings go on where the saved guest left them */
		s->net.tx_used = sh->tx.used;
		s->net.rx_used = sh->rx.used;
	}
	return 0;
}

/* Guest memory = the snapshot's pages, copied in (see the top): the
 * listed pages read from the file, every other resident page zeroed.
 * The list is checked again (order, range): the file could have changed
 * since the agent's check. */
static int copy_in(struct kvm_shell *s, const struct lv_snap *snap, char *err, size_t errlen)
{
	uint64_t npg = s->vm.mem_size / LV_SNAP_PAGE, n = snap->hdr.npages, k = 0;
	size_t len = LV_SNAP_LIST_OFF + (size_t)n * 4;
	const uint32_t *list;
	void *m;
	int rc = 0;

	if (npg > sizeof(resident))
		return -EINVAL;
	if (mincore(s->vm.mem, s->vm.mem_size, resident) < 0) {
		snprintf(err, errlen, "restoring memory: mincore: %s", strerror(errno));
		return -errno;
	}
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, s->img_fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "mapping the page list: %s", strerror(errno));
		return -errno;
	}
	list = (const uint32_t *)((const uint8_t *)m + LV_SNAP_LIST_OFF);
	for (uint64_t p = 0; p < npg; p++) {
		if (k < n && list[k] == p) {
			k++;
			continue;
		}
		if (resident[p] & 1)
			memset(s->vm.mem + p * LV_SNAP_PAGE, 0, LV_SNAP_PAGE);
	}
	if (k != n) {
		snprintf(err, errlen, "the snapshot's page list changed: out of order or range");
		rc = -EINVAL;
	}
	for (uint64_t i = 0, j; !rc && i < n; i = j) {
		for (j = i + 1; j < n && list[j] == list[j - 1] + 1; j++)
			;
		rc = kvm_pread_full(s->img_fd, s->vm.mem + (uint64_t)list[i] * LV_SNAP_PAGE,
				    (j - i) * LV_SNAP_PAGE,
				    snap->hdr.mem_off + (uint64_t)list[i] * LV_SNAP_PAGE);
		if (rc)
			snprintf(err, errlen, "reading the snapshot's pages: %s", strerror(-rc));
	}
	munmap(m, len);
	return rc;
}

static bool copy_wanted(const struct kvm_shell *s)
{
	const char *e = getenv("LIGHTVM_KVM_SNAP_COPY");

	return s->snap_copy && !(e && !strcmp(e, "0"));
}

int kvm_snap_shell_restore(struct kvm_shell *s, char *err, size_t errlen)
{
	struct lv_dev fresh = { 0 }, *nd;
	struct lv_snap snap;
	struct kvm_regs r;
	struct kvm_fpu f;
	void *p;
	int rc = lv_snap_load_head(s->img_fd, &snap, err, errlen);

	if (rc)
		return rc;
	/* the NIC as EXEC configured it, on the page about to be replaced */
	nd = net_dev((struct lv_devpage *)(s->vm.mem + LV_GPA_DEVPAGE));
	if (nd)
		fresh = *nd;
	if (snap.hdr.mem_size != s->vm.mem_size) {
		snprintf(err, errlen, "snapshot of %llu MiB in a shell of %llu MiB",
			 (unsigned long long)(snap.hdr.mem_size >> 20),
			 (unsigned long long)(s->vm.mem_size >> 20));
		rc = -EINVAL;
		goto out;
	}
	if (!(snap.hdr.flags & LV_SNAP_F_NET) != (s->net.fd < 0)) {
		snprintf(err, errlen, "snapshot %s a NIC, the VM %s", snap.hdr.flags & LV_SNAP_F_NET ?
			 "has" : "has no", s->net.fd >= 0 ? "has one" : "has none");
		rc = -EINVAL;
		goto out;
	}
	if (copy_wanted(s)) {
		rc = copy_in(s, &snap, err, errlen);
		if (rc)
			goto out;
	} else {
		p = mmap(s->vm.mem, s->vm.mem_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, s->img_fd, (off_t)snap.hdr.mem_off);
		if (p == MAP_FAILED) {
			rc = -errno;
			snprintf(err, errlen, "mapping the snapshot: %s", strerror(errno));
			goto out;
		}
	}
	cpu_to_kvm(&snap.cpu, &r, &f);
	if (ioctl(s->vm.vcpu_fd, KVM_SET_SREGS, &s->vm.sregs) < 0 ||
	    ioctl(s->vm.vcpu_fd, KVM_SET_REGS, &r) < 0 || ioctl(s->vm.vcpu_fd, KVM_SET_FPU, &f) < 0) {
		rc = -errno;
		snprintf(err, errlen, "loading the vCPU: %s", strerror(errno));
		goto out;
	}
	rc = devpage_restore(s, &snap, &fresh, err, errlen);
	if (rc)
		goto out;
	if (snap.hdr.flags & LV_SNAP_F_IDLE) {   /* it returns from its IDLE now */
		int64_t wake = LV_WAKE_RESTORED;

		memcpy(s->vm.mem + LV_GPA_HCALL + offsetof(struct lv_hcall, ret), &wake, sizeof(wake));
	} else {
		s->restore_wake = true;
	}
out:
	lv_snap_free(&snap);
	return rc;
}
