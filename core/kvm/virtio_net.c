/*
 * virtio_net.c - virtio-net for Linux guests: the virtio 1.x MMIO
 * transport (one 4 KiB window at KVM_VNET_GPA, IRQ KVM_VNET_IRQ,
 * announced on the kernel command line as virtio_mmio.device=...), split
 * virtqueues (0: rx, 1: tx), and the frames, on the VM's tap, through the
 * same tx policing and rate limits as the unikernels' NIC (lv__tx_police:
 * own MAC only, 20k frames/s, 200/s broadcast).
 *
 * Handled in the shell, no ioeventfd/irqfd: a queue notification is an
 * MMIO exit served at once; frames from the tap arrive as SIGIO (the tap
 * is O_ASYNC), which kicks the vCPU out of KVM_RUN; the interrupt is
 * KVM_IRQ_LINE on the in-kernel PIC.
 *
 * Hostile drivers: every index, descriptor and address is copied out of
 * guest memory once, then checked: queue areas inside guest memory,
 * avail index at most a queue ahead, a chain at most a queue long (so a
 * loop ends), each buffer inside guest memory, the direction right (tx
 * read-only, rx write-only), no indirect descriptors (not offered), a tx
 * frame 14..1514 bytes after its header.  Anything else ends the VM
 * crashed with the reason; the shell never touches memory outside the
 * guest's.  A feature the device did not offer, or a register access of
 * the wrong size, is the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm/shell_int.h"
#include "kvm/linux.h"

#define VIRTIO_MAGIC      0x74726976u   /* "virt" */
#define VIRTIO_VENDOR     0x4d564c00u   /* "\0LVM" */
#define VIRTIO_ID_NET     1u
#define F_NET_MAC         (1ull << 5)
#define F_VERSION_1       (1ull << 32)
#define DEV_FEATURES      (F_NET_MAC | F_VERSION_1)
#define ST_FAILED         0x80u
#define ST_FEATURES_OK    0x08u
#define ST_DRIVER_OK      0x04u
#define VRING_DESC_F_NEXT     1u
#define VRING_DESC_F_WRITE    2u
#define VRING_DESC_F_INDIRECT 4u
#define NET_HDR           12u           /* struct virtio_net_hdr_v1 */
#define FRAME_MIN         14u
#define FRAME_MAX         1514u
#define RX_BATCH          64u

struct vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

#define vnet_crash(s, ...) kvm_shell_crash((s), "virtio-net: " __VA_ARGS__)

static const char *qname(unsigned q) { return q ? "tx" : "rx"; }

/* Is [gpa, gpa+len) inside guest memory? */
static bool in_mem(const struct kvm_shell *s, uint64_t gpa, uint64_t len)
{
	return gpa <= s->vm.mem_size && len <= s->vm.mem_size - gpa;
}

static void vnet_irq(struct kvm_shell *s)
{
	struct kvm_vnet *v = &s->lx.vnet;
	bool lvl = v->isr != 0;
	struct kvm_irq_level il = { .irq = KVM_VNET_IRQ, .level = lvl };

	if (lvl == v->irq_level)
		return;
	v->irq_level = lvl;
	if (s->vm.vm_fd >= 0)
		ioctl(s->vm.vm_fd, KVM_IRQ_LINE, &il);
}

/* ---- virtqueues */

static int vq_check(struct kvm_shell *s, unsigned q)
{
	const struct kvm_vq *vq = &s->lx.vnet.q[q];
	uint64_t n = vq->num;

	if (!vq->ready)
		return -1;
	if (!in_mem(s, vq->desc, 16 * n) || !in_mem(s, vq->avail, 6 + 2 * n) ||
	    !in_mem(s, vq->used, 6 + 8 * n) || (vq->desc & 15) || (vq->avail & 1) || (vq->used & 3))
		vnet_crash(s, "%s queue areas outside guest memory or misaligned (desc 0x%llx, avail 0x%llx, used 0x%llx)",
			   qname(q), (unsigned long long)vq->desc, (unsigned long long)vq->avail,
			   (unsigned long long)vq->used);
	return 0;
}

/* Entries the driver made available and we have not taken. */
static uint16_t vq_pending(struct kvm_shell *s, unsigned q)
{
	struct kvm_vq *vq = &s->lx.vnet.q[q];
	uint16_t idx;

	memcpy(&idx, s->vm.mem + vq->avail + 2, 2);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if ((uint16_t)(idx - vq->last_avail) > vq->num)
		vnet_crash(s, "%s avail index %u is more than a queue (%u) ahead of %u", qname(q),
			   idx, vq->num, vq->last_avail);
	return (uint16_t)(idx - vq->last_avail);
}

/* Walk the chain of the next available entry into segs (copied out and
 * checked); returns its head and the bytes in *total. */
static uint16_t vq_chain(struct kvm_shell *s, unsigned q, bool write, struct kvm_vq_seg *segs,
			 unsigned *nseg, uint32_t *total)
{
	struct kvm_vq *vq = &s->lx.vnet.q[q];
	uint16_t head, i;
	uint64_t sum = 0;
	unsigned n = 0;

	memcpy(&head, s->vm.mem + vq->avail + 4 + 2 * (vq->last_avail % vq->num), 2);
	vq->last_avail++;
	if (head >= vq->num)
		vnet_crash(s, "%s avail entry names descriptor %u of %u", qname(q), head, vq->num);
	for (i = head;; ) {
		struct vring_desc d;

		if (n == vq->num || n == KVM_VQ_MAX_SEGS)
			vnet_crash(s, "%s chain from descriptor %u longer than %u (a loop?)", qname(q),
				   head, n);
		memcpy(&d, s->vm.mem + vq->desc + 16u * i, sizeof(d));   /* once */
		if (d.flags & VRING_DESC_F_INDIRECT)
			vnet_crash(s, "%s descriptor %u is indirect (not offered)", qname(q), i);
		if (!!(d.flags & VRING_DESC_F_WRITE) != write)
			vnet_crash(s, "%s descriptor %u has the wrong direction", qname(q), i);
		if (!in_mem(s, d.addr, d.len))
			vnet_crash(s, "%s buffer at 0x%llx (+%llu) outside guest memory", qname(q),
				   (unsigned long long)d.addr, (unsigned long long)d.len);
		segs[n].gpa = d.addr;
		segs[n].len = d.len;
		sum += d.len;
		n++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->num)
			vnet_crash(s, "%s descriptor %u: next %u out of the table", qname(q), i, d.next);
		i = d.next;
	}
	*nseg = n;
	*total = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
	return head;
}

static void vq_used(struct kvm_shell *s, unsigned q, uint16_t head, uint32_t len)
{
	struct kvm_vq *vq = &s->lx.vnet.q[q];
	uint32_t e[2] = { head, len };

	memcpy(s->vm.mem + vq->used + 4 + 8 * (vq->used_idx % vq->num), e, sizeof(e));
	vq->used_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(s->vm.mem + vq->used + 2, &vq->used_idx, 2);
}

/* ---- frames */

static void stats_out(struct kvm_shell *s)
{
	struct kvm_net *n = &s->net;

	__atomic_store_n(&s->stats->net_tx_packets, n->tx_pkts, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_tx_bytes, n->tx_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_tx_drops, n->tx_drop, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_rx_packets, n->rx_pkts, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stats->net_rx_bytes, n->rx_bytes, __ATOMIC_RELAXED);
}

static void vnet_tx(struct kvm_shell *s)
{
	struct kvm_net *n = &s->net;
	struct kvm_vq_seg seg[KVM_VQ_MAX_SEGS];
	uint8_t buf[NET_HDR + FRAME_MAX];
	uint16_t k;
	bool any = false;

	if (vq_check(s, 1))
		return;
	lv__tx_police_refill(&n->police);
	for (k = vq_pending(s, 1); k; k--) {
		unsigned ns, at = 0;
		uint32_t total;
		uint16_t head = vq_chain(s, 1, false, seg, &ns, &total);

		if (total < NET_HDR + FRAME_MIN || total > NET_HDR + FRAME_MAX)
			vnet_crash(s, "tx chain of %u bytes: a header of %u and a frame of %u..%u bytes expected",
				   total, NET_HDR, FRAME_MIN, FRAME_MAX);
		for (unsigned i = 0; i < ns; i++) {   /* one copy, then only ours is read */
			memcpy(buf + at, s->vm.mem + seg[i].gpa, seg[i].len);
			at += seg[i].len;
		}
		if (n->fd >= 0 && lv__tx_police_allow(&n->police, buf + NET_HDR, total - NET_HDR) &&
		    write(n->fd, buf + NET_HDR, total - NET_HDR) == (ssize_t)(total - NET_HDR)) {
			n->tx_pkts++;
			n->tx_bytes += total - NET_HDR;
		} else {
			n->tx_drop++;
		}
		vq_used(s, 1, head, 0);
		any = true;
	}
	if (any) {
		s->lx.vnet.isr |= 1;
		vnet_irq(s);
		stats_out(s);
	}
}

/* Frames from the tap into posted rx buffers (SIGIO, rx notify). */
void kvm_vnet_rx(struct kvm_shell *s)
{
	struct kvm_vnet *v = &s->lx.vnet;
	struct kvm_net *n = &s->net;
	struct kvm_vq_seg seg[KVM_VQ_MAX_SEGS];
	uint8_t buf[NET_HDR + 65536];
	unsigned got = 0;

	if (!v->present || n->fd < 0 || !(v->status & ST_DRIVER_OK) || vq_check(s, 0))
		return;
	while (got < RX_BATCH && vq_pending(s, 0)) {
		unsigned ns, at = 0;
		uint32_t total, left;
		uint16_t head;
		ssize_t m = read(n->fd, buf + NET_HDR, sizeof(buf) - NET_HDR);

		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			break;
		head = vq_chain(s, 0, true, seg, &ns, &total);
		memset(buf, 0, NET_HDR);
		buf[10] = 1;                   /* num_buffers */
		left = (uint32_t)m + NET_HDR;
		if (left > total) {            /* does not fit the posted buffer */
			n->rx_drop++;
			left = 0;
		}
		for (unsigned i = 0; i < ns && at < left; i++) {
			uint32_t c = seg[i].len < left - at ? seg[i].len : left - at;

			memcpy(s->vm.mem + seg[i].gpa, buf + at, c);
			at += c;
		}
		vq_used(s, 0, head, at);
		if (at) {
			n->rx_pkts++;
			n->rx_bytes += (uint64_t)m;
		}
		got++;
	}
	if (got) {
		v->isr |= 1;
		vnet_irq(s);
		stats_out(s);
	}
}

/* ---- the MMIO transport */

static void vnet_reset(struct kvm_shell *s)
{
	struct kvm_vnet *v = &s->lx.vnet;

	v->status = v->dev_feat_sel = v->drv_feat_sel = v->queue_sel = v->isr = 0;
	v->drv_features = 0;
	memset(v->q, 0, sizeof(v->q));
	vnet_irq(s);
}

void kvm_vnet_setup(struct kvm_shell *s, int tap_fd, const struct kvm_msg *m)
{
	struct kvm_vnet *v = &s->lx.vnet;
	int fl;

	s->net.fd = tap_fd;
	v->present = tap_fd >= 0;
	if (!v->present)
		return;
	memcpy(v->mac, m->net_mac, sizeof(v->mac));
	lv__tx_police_init(&s->net.police, m->net_mac, m->net_ipv4);
	/* SIGIO when a frame arrives: it kicks the vCPU out of KVM_RUN */
	fl = fcntl(tap_fd, F_GETFL);
	if (fl >= 0 && fcntl(tap_fd, F_SETOWN, getpid()) == 0)
		fcntl(tap_fd, F_SETFL, fl | O_ASYNC);
}

void kvm_vnet_reboot(struct kvm_shell *s)
{
	if (s->lx.vnet.present)
		vnet_reset(s);
}

static uint32_t reg_read(struct kvm_shell *s, uint32_t off)
{
	struct kvm_vnet *v = &s->lx.vnet;
	struct kvm_vq *vq = &v->q[v->queue_sel < 2 ? v->queue_sel : 0];

	switch (off) {
	case 0x000: return VIRTIO_MAGIC;
	case 0x004: return 2;
	case 0x008: return VIRTIO_ID_NET;
	case 0x00c: return VIRTIO_VENDOR;
	case 0x010: return v->dev_feat_sel == 0 ? (uint32_t)DEV_FEATURES :
			   v->dev_feat_sel == 1 ? (uint32_t)(DEV_FEATURES >> 32) : 0;
	case 0x034: return v->queue_sel < 2 ? KVM_VQ_MAX : 0;
	case 0x044: return v->queue_sel < 2 && vq->ready;
	case 0x060: return v->isr;
	case 0x070: return v->status;
	case 0x0fc: return 0;    /* config generation: the config never changes */
	default:    return 0;
	}
}

static void queue_ready(struct kvm_shell *s, uint32_t val)
{
	struct kvm_vnet *v = &s->lx.vnet;
	struct kvm_vq *vq;

	if (v->queue_sel >= 2)
		return;
	vq = &v->q[v->queue_sel];
	if (val && (vq->num == 0 || vq->num > KVM_VQ_MAX || (vq->num & (vq->num - 1))))
		vnet_crash(s, "%s queue size %u (a power of two up to %u)", qname(v->queue_sel),
			   vq->num, KVM_VQ_MAX);
	vq->ready = val != 0;
	if (vq->ready)
		vq_check(s, v->queue_sel);
}

static void set64(uint64_t *p, uint32_t val, bool high)
{
	*p = high ? (*p & 0xffffffffull) | ((uint64_t)val << 32) : (*p & ~0xffffffffull) | val;
}

static void reg_write(struct kvm_shell *s, uint32_t off, uint32_t val)
{
	struct kvm_vnet *v = &s->lx.vnet;
	struct kvm_vq *vq = &v->q[v->queue_sel < 2 ? v->queue_sel : 0];
	bool live = v->queue_sel < 2 && !vq->ready;   /* a queue's set-up: only while not ready */

	switch (off) {
	case 0x014: v->dev_feat_sel = val; return;
	case 0x020:
		if (v->drv_feat_sel < 2)
			set64(&v->drv_features, val, v->drv_feat_sel == 1);
		return;
	case 0x024: v->drv_feat_sel = val; return;
	case 0x030: v->queue_sel = val; return;
	case 0x038: if (live) vq->num = val; return;
	case 0x044: queue_ready(s, val); return;
	case 0x050:
		if (val == 1)
			vnet_tx(s);
		else if (val == 0)
			kvm_vnet_rx(s);
		return;
	case 0x064:
		v->isr &= ~val;
		vnet_irq(s);
		return;
	case 0x070:
		if (val == 0) {
			vnet_reset(s);
			return;
		}
		if ((val & ST_FEATURES_OK) && (v->drv_features & ~DEV_FEATURES))
			vnet_crash(s, "the driver took features 0x%llx, offered 0x%llx",
				   (unsigned long long)v->drv_features, (unsigned long long)DEV_FEATURES);
		v->status = val & 0xff;
		if (val & ST_DRIVER_OK)
			kvm_vnet_rx(s);
		return;
	case 0x080: if (live) set64(&vq->desc, val, false); return;
	case 0x084: if (live) set64(&vq->desc, val, true); return;
	case 0x090: if (live) set64(&vq->avail, val, false); return;
	case 0x094: if (live) set64(&vq->avail, val, true); return;
	case 0x0a0: if (live) set64(&vq->used, val, false); return;
	case 0x0a4: if (live) set64(&vq->used, val, true); return;
	default:    return;   /* read-only or reserved: ignored, as the spec asks */
	}
}

void kvm_vnet_mmio(struct kvm_shell *s, uint64_t off, bool write, uint8_t *data, uint32_t len)
{
	struct kvm_vnet *v = &s->lx.vnet;

	if (off >= 0x100) {       /* config: mac[6], then nothing */
		uint8_t cfg[8] = { 0 };

		memcpy(cfg, v->mac, 6);
		if (write)
			return;
		memset(data, 0, len);
		if (off - 0x100 < sizeof(cfg) && len <= sizeof(cfg) - (off - 0x100))
			memcpy(data, cfg + (off - 0x100), len);
		return;
	}
	if (len != 4 || (off & 3))
		vnet_crash(s, "%u-byte access to register 0x%llx", len, (unsigned long long)off);
	if (write) {
		uint32_t val;

		memcpy(&val, data, 4);    /* copied once from the exit */
		reg_write(s, (uint32_t)off, val);
	} else {
		uint32_t val = reg_read(s, (uint32_t)off);

		memcpy(data, &val, 4);
	}
}
