/*
 * snapshot.h - LightVM's own snapshot file (KVM, x86-64): what `lvsh
 * save` writes and `lvsh restore`/`clone` map.  Private to the core and
 * the shell; the writer runs in the agent (kvm_driver.c), the loader in
 * the agent (full check) and in the shell (header and state again, since
 * the file could change in between).
 *
 * Layout (little endian, x86-64 only):
 *   0       struct lv_snap_hdr, zero padded to LV_SNAP_HDR_SIZE
 *   4096    struct lv_snap_cpu (the vCPU), zero padded to 4 KiB
 *   8192    the page list: npages uint32 guest page numbers, strictly
 *           increasing (the pages the guest touched that are not zero)
 *   ...     zeros up to mem_off (page aligned)
 *   mem_off guest memory, mem_size bytes, as it lies in the guest; only
 *           the listed pages are written, the rest are holes (a sparse
 *           file), so restore and clone can mmap it MAP_PRIVATE.
 * Two checksums: sum_pages over the listed pages in list order, sum_meta
 * over [0, mem_off) with the sum_meta field zero.  The loader refuses a
 * file of another format version, platform or guest ABI, one whose sizes
 * or offsets do not add up (truncated, grown), a corrupt checksum, a page
 * list out of order or out of range, a vCPU state a ring-3 LightVM guest
 * cannot have, and data outside the listed pages.
 */
#ifndef KVM_SNAPSHOT_H
#define KVM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LV_SNAP_MAGIC      "LVSNAP\r\n"   /* 8 bytes, no NUL */
#define LV_SNAP_VERSION    1u
#define LV_SNAP_PLAT_KVM_X86_64 1u        /* LightVM KVM guest, lightvm_abi.h */
#define LV_SNAP_PLAT_XEN_PV     2u        /* a LightVM guest as a Xen PV domain (core/xen/xen_save.h) */
#define LV_SNAP_PAGE       4096u
#define LV_SNAP_HDR_SIZE   4096u
#define LV_SNAP_CPU_OFF    4096u
#define LV_SNAP_LIST_OFF   8192u
/* the most a page list can need: every page of the largest guest */
#define LV_SNAP_META_MAX   (LV_SNAP_LIST_OFF + (1024ull << 20) / LV_SNAP_PAGE * 4u + LV_SNAP_PAGE)

/* lv_snap_hdr.flags */
#define LV_SNAP_F_NET      0x1u   /* the guest has a NIC (mac, ipv4 set) */
#define LV_SNAP_F_IDLE     0x2u   /* saved inside LV_HC_IDLE: the restored
				   * guest returns from it (LV_WAKE_RESTORED) */
#define LV_SNAP_F_READY    0x4u   /* the guest had signalled ready */
#define LV_SNAP_F_ALL      0x7u

struct lv_snap_cpu {
	uint64_t gpr[16];        /* rax rbx rcx rdx rsi rdi rsp rbp r8..r15 */
	uint64_t rip, rflags;
	uint8_t  fpr[8][16];     /* x87, as KVM_GET_FPU */
	uint16_t fcw, fsw;
	uint8_t  ftwx, pad0;
	uint16_t last_opcode;
	uint64_t last_ip, last_dp;
	uint8_t  xmm[16][16];
	uint32_t mxcsr, pad1;
	uint64_t tsc;            /* guest TSC at the save */
	uint64_t boot_tsc;       /* the device page's boot_tsc then */
};

struct lv_snap_hdr {
	char     magic[8];
	uint32_t version;        /* LV_SNAP_VERSION */
	uint32_t hdr_size;       /* sizeof(struct lv_snap_hdr) */
	uint32_t platform;       /* LV_SNAP_PLAT_* */
	uint32_t abi_version;    /* LV_ABI_VERSION of the guest */
	uint32_t page_size;      /* LV_SNAP_PAGE */
	uint32_t flags;          /* LV_SNAP_F_* */
	uint32_t cpu_size;       /* sizeof(struct lv_snap_cpu) */
	uint32_t ipv4;           /* network byte order (LV_SNAP_F_NET) */
	uint64_t mem_size;       /* guest memory bytes */
	uint64_t npages;         /* entries in the page list */
	uint64_t mem_off;        /* file offset of guest memory */
	uint64_t file_size;      /* mem_off + mem_size */
	uint64_t tsc_khz;        /* the guest's TSC frequency */
	int64_t  saved_ns;       /* CLOCK_REALTIME of the save */
	uint8_t  mac[6];
	uint16_t pad;
	char     name[64];       /* the VM's name, NUL terminated */
	char     image[256];     /* its image as requested, NUL terminated */
	uint64_t sum_pages;      /* lv_snap_sum over the listed pages */
	uint64_t sum_meta;       /* lv_snap_sum over [0, mem_off), this field 0 */
};

/* A loaded snapshot: the header, the vCPU and the page list. */
struct lv_snap {
	struct lv_snap_hdr hdr;
	struct lv_snap_cpu cpu;
	uint32_t *pages;         /* malloc'ed; lv_snap_free */
};

/* The checksum (64-bit, not cryptographic: it catches corruption, not an
 * attacker, who could as well write a valid file). */
uint64_t lv_snap_sum(uint64_t seed, const void *p, size_t n);

/* Check the metadata in buf ([0, len) of a file of file_size bytes; len
 * must reach mem_off, see lv_snap_meta_len) and fill s (s->pages is
 * malloc'ed).  0, or -errno with the reason in err: -EINVAL (not a
 * snapshot, a bad field), -EPROTONOSUPPORT (another version, platform or
 * ABI), -EBADMSG (checksum), -ENOMEM. */
int lv_snap_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		  struct lv_snap *s, char *err, size_t errlen);
/* The same checks without the page list (s->pages stays NULL). */
int lv_snap_parse_head(const uint8_t *buf, size_t len, uint64_t file_size,
		       struct lv_snap *s, char *err, size_t errlen);
/* How many bytes of the file lv_snap_parse needs, from the header in buf
 * (at least sizeof(struct lv_snap_hdr) bytes); 0 if the header is not
 * one (lv_snap_parse then says why). */
uint64_t lv_snap_meta_len(const uint8_t *buf, size_t len);

/* Open-coded loaders: read the metadata of the snapshot in fd (a regular
 * file) and check it; with verify_mem, also the listed pages against
 * sum_pages and that no other page holds data.  0 or -errno (see
 * lv_snap_parse; -EIO for a short read) with err. */
int lv_snap_load(int fd, struct lv_snap *s, bool verify_mem, char *err, size_t errlen);
void lv_snap_free(struct lv_snap *s);
/* A header string (name or image) of at most n bytes: NUL-terminated,
 * not empty; a name only of letters, digits, '-', '_', '.', an image of
 * printable bytes.  Shared with the Xen driver's file (xen_save.c). */
bool lv_snap_str_ok(const char *s, size_t n, bool name);
/* The fields every platform's header starts with: magic, version,
 * header and page size, platform, ABI version. */
void lv_snap_hdr_stamp(struct lv_snap_hdr *h, uint32_t platform);
struct lv_snapshot_desc;
/* What a checked header says about its VM (pages: 0, the caller's). */
void lv_snap_describe(const struct lv_snap_hdr *h, struct lv_snapshot_desc *d);
struct lv_vm_info;
/* Its inverse at a save: the VM's name, image, memory size and the time
 * into h; flags as given, plus LV_SNAP_F_NET with its address when net
 * and the VM has one. */
void lv_snap_from_vm(struct lv_snap_hdr *h, const struct lv_vm_info *vi, uint32_t flags, bool net);
/* What a restoring shell checks again: lv_snap_load without the memory
 * and without allocating (the metadata is read through a mapping). */
int lv_snap_load_head(int fd, struct lv_snap *s, char *err, size_t errlen);

/* Write a snapshot to fd (an empty regular file).  hdr: every field but
 * magic, version, sizes, offsets, npages and sums (filled here); touched:
 * a bitmap of candidate pages (mem_size / 4096 bits); read(arg, gpa, buf,
 * len) copies guest memory (0 or -errno).  Pages that read as zero are
 * left out.  0 or -errno with err. */
int lv_snap_write(int fd, struct lv_snap_hdr *hdr, const struct lv_snap_cpu *cpu,
		  const uint8_t *touched,
		  int (*read)(void *arg, uint64_t gpa, void *buf, size_t len), void *arg,
		  char *err, size_t errlen);

/* What a shell writes into the memfd of KVM_MSG_SAVE (shell_msg.h):
 * this struct at 0, then at KVM_SNAP_BITMAP_OFF one bit per guest page,
 * set for the pages it has resident (mincore): the candidates the agent
 * reads with process_vm_readv from mem_hva.  The memfd is the agent's,
 * sized before it is sent; nothing in it is trusted. */
#define KVM_SNAP_STATE_MAGIC 0x5453534cu   /* "LSST" */
#define KVM_SNAP_BITMAP_OFF  4096u
struct kvm_snap_state {
	uint32_t magic;
	uint32_t flags;          /* LV_SNAP_F_* */
	uint64_t mem_hva;        /* guest memory in the shell's address space */
	uint64_t mem_size;
	uint64_t tsc_khz;
	struct lv_snap_cpu cpu;
};
#define KVM_SNAP_STATE_SIZE(mem) (KVM_SNAP_BITMAP_OFF + (mem) / LV_SNAP_PAGE / 8u)

#endif
