/*
 * lv_internal.h - what the core's files and its drivers share: the host
 * and VM structs, the driver ops table, and the calls a driver makes to
 * report progress.  Never included by the agent or the console.
 */
#ifndef LV_INTERNAL_H
#define LV_INTERNAL_H

#include <stdarg.h>
#include "lightvm.h"
#include "pool.h"

struct lv_driver;

/* A driver: one per hypervisor.  Creation is asynchronous; the driver
 * reports with lv__vm_phase / lv__vm_state / lv__vm_released. */
struct lv_driver_ops {
	const char *name;
	int  (*open)(struct lv_host *h, struct lv_driver **out);
	void (*close)(struct lv_driver *d);
	/* Start creating and booting vm with the (borrowed) image fd;
	 * vm->spawn is the request, during start() only. */
	int  (*start)(struct lv_driver *d, struct lv_vm *vm, int image_fd);
	/* start() honours lv_spawn's ramdisk and cmdline */
	bool boot_args;
	/* start() honours lv_spawn's watchdog_s */
	bool watchdog;
	int  (*pause)(struct lv_driver *d, struct lv_vm *vm);
	int  (*unpause)(struct lv_driver *d, struct lv_vm *vm);
	int  (*shutdown)(struct lv_driver *d, struct lv_vm *vm);
	int  (*reboot)(struct lv_driver *d, struct lv_vm *vm);
	/* Optional.  Bytes for the guest's console input. */
	int  (*console_input)(struct lv_driver *d, struct lv_vm *vm,
			      const void *buf, size_t len);
	/* Stop the VM now; must end with lv__vm_released(vm). */
	int  (*destroy)(struct lv_driver *d, struct lv_vm *vm);
	void (*tick)(struct lv_driver *d, int64_t now);
	/* Pools (pool.c; optional: without them lv_pool_set is
	 * -EOPNOTSUPP).  prepare: start preparing one slot of flavor fl,
	 * reported with lv__pool_made/ready/failed (within the call or
	 * later); 0, or -errno if nothing was started.  discard: a ready
	 * slot the pool no longer wants (already off its lists).  start()
	 * claims its slot with lv__pool_claim. */
	int  (*prepare)(struct lv_driver *d, struct lv_pool_flavor *fl, uint64_t mem,
			uint32_t vcpus);
	void (*discard)(struct lv_driver *d, struct lv_pool_slot *slot);
	/* prepare() makes shells for Linux kernels too
	 * (lv__pool_flavor_kind); without it LV_KIND_LINUX pools are
	 * -EOPNOTSUPP */
	bool pool_linux;
	struct lv_pool_limits pool_limits;
	/* A destroyed VM's console log: the driver may keep the file to
	 * reuse its inode (NULL: the core unlinks it). */
	void (*log_release)(struct lv_driver *d, const char *path);
	/* Optional.  vm's console log may still be under another name (a
	 * pooled shell's, renamed when the agent is idle): name it now. */
	void (*log_settle)(struct lv_driver *d, struct lv_vm *vm);
	/* Optional.  Fill the live counters of vm. */
	void (*stats)(struct lv_driver *d, const struct lv_vm *vm, struct lv_vm_stats *out);
	/* stats() always fills console_bytes (0 is a real 0: no stat()
	 * of the console log per VM per stats frame) */
	bool stats_console;
	/* Optional.  Re-attach to a restored VM that should still run (info
	 * is from its record); -ESRCH if it is gone.  Completion is reported
	 * with lv__vm_reattached() or a state change. */
	int  (*attach)(struct lv_driver *d, struct lv_vm *vm);
	/* Optional.  Clean up what no restored VM claimed. */
	void (*restore_done)(struct lv_driver *d);
	/* Optional.  Save vm into fd (dup it to keep it); report with
	 * lv__vm_save_paused and lv__vm_save_done.  start() of a VM with
	 * from_snapshot set gets the snapshot as its image. */
	int  (*save)(struct lv_driver *d, struct lv_vm *vm, int fd, int mode);
	/* A live guest whose record has no pid yet may report in after
	 * restore_done (lv__vm_limbo_take): lv_vm_restore keeps the record */
	bool adopts;
	/* Optional.  The image pooled unikernel shells hold loaded
	 * (lv_pool_preload): image_fd, a unikernel lv_image_open_st checked
	 * (dup it to keep it), and its stat st; or -1 and NULL with
	 * LV_PRELOAD_LAST or LV_PRELOAD_OFF.  0, or -errno with err set. */
	int  (*preload)(struct lv_driver *d, int mode, int image_fd, const struct stat *st,
			char *err, size_t errlen);
};

struct lv_vm {
	struct lv_vm_info info;
	struct lv_host *host;
	struct lv_vm *prev, *next;   /* creation order */
	struct lv_vm *hnext;         /* name hash chain */
	struct lv_vm *inext;         /* id hash chain */
	void *drv;                   /* driver's per-VM state */
	void *user;                  /* embedding program's slot */
	const struct lv_spawn *spawn; /* the request, during ops->start only */
	uint32_t watchdog_s;         /* lv_spawn's, for a driver that starts later */
	bool destroying;
	bool released;
	bool from_snapshot;          /* start() from a snapshot (lv_spawn.snapshot) */
	bool hold_start;             /* ... and held until unpaused (lv_spawn.hold) */
	bool snap_copy;              /* ... copied, not mapped (lv_spawn.snapshot_copy) */
	const struct stat *image_st; /* while start() runs: its image fd's stat, or NULL */
	bool image_linux;            /* the image is a Linux kernel (lv__image_traits), set by lv_vm_spawn (not for a VM re-attached after a restart; the KVM stats page says it for those) */
	bool held;                   /* saved by lv_vm_save_hold, still held */
	enum lv_state save_from;     /* the state a save returns to */
	int save_err;
	char save_msg[LV_REASON_MAX];
	int64_t t_destroy;
	int64_t t_shutdown;
};

struct lv_prefix;
struct lv_net;

struct lv_host {
	struct lv_host_config cfg;
	char *state_dir;
	char **image_dirs;
	const struct lv_driver_ops *ops;
	struct lv_driver *drv;
	struct lv_vm *first, *last;
	struct lv_vm **names;        /* hash buckets, power of two */
	struct lv_vm **ids;
	unsigned nbuckets;
	unsigned count;
	unsigned by_state[LV_ST_NR];
	uint32_t next_id;
	struct lv_prefix **prefixes; /* prefix -> next number */
	unsigned nprefix_buckets;
	struct lv_net *net;          /* core/hostnet.c */
	struct lv_pool *pool;        /* core/pool.c, from the first lv_pool_set */
	char preload[256];           /* lv_pool_preload's image, "" = "last" */
	int preload_mode;            /* enum lv_preload_mode */
	/* records of half-created VMs with no shell in them (the agent
	 * stopped between writing the record and the shell's pid): their
	 * addresses stay reserved until limbo_until, for a shell that says
	 * it runs that guest (lv__vm_limbo_take) */
	struct lv_vm *limbo;         /* chained by next */
	int64_t limbo_until;
};

/* What lies under the hypervisor (platform.c): "" on bare metal, else
 * "nested under SIG" or "emulated: QEMU TCG"; self_is_xen: we run in a
 * Xen domain whose own signature is not nesting.  Returns buf. */
const char *lv__platform_outer(char *buf, size_t len, int self_is_xen);

/* Is the open image a Linux kernel with the PVH entry note (catalog.c)? */
bool lv__image_is_linux(int fd);
/* Both of an image's traits (Linux kernel; asks for a NIC), from a small
 * cache by file identity: one fstat when the file was looked at before,
 * none when known is its stat already (catalog.c).  0 or -errno. */
int lv__image_traits(int fd, const struct stat *known, bool *is_linux, bool *wants_net);
/* The same file, unchanged: device, inode, size, modification and
 * change times (catalog.c; the image caches and the KVM preload). */
struct stat;
bool lv__same_file(const struct stat *a, const struct stat *b);
/* Only letters, digits, '-', '_' and '.' (VM names, image names). */
bool lv__name_chars_ok(const char *s);
/* Open an admin-given path (image, ramdisk) for reading, only if it is a
 * regular file: it is opened with O_PATH first (opening a FIFO or device
 * node would block or have effects), checked with fstat, and the same
 * inode is reopened through /proc/self/fd, so nothing can swap it in
 * between.  An O_RDONLY|O_CLOEXEC fd, or -errno (-EINVAL: not a regular
 * file). */
int lv__open_regular(const char *path);
void lv__log(struct lv_host *h, enum lv_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lv__vm_phase(struct lv_vm *vm, enum lv_phase ph, int64_t t);
/* After a restart: the record of the half-created VM name with this id,
 * if lv_vm_restore kept one (its address is released: the caller
 * restores it under the shell's pid).  true with *info filled, or false. */
bool lv__vm_limbo_take(struct lv_host *h, const char *name, uint32_t id,
		       struct lv_vm_info *info);
/* Change state (emits the matching event).  reason may be NULL. */
void lv__vm_state(struct lv_vm *vm, enum lv_state st, const char *reason);
/* Creation failed before the guest ran: state crashed, LV_EV_FAILED. */
void lv__vm_failed(struct lv_vm *vm, int err, const char *reason);
/* The driver holds nothing for vm any more.  If a destroy was asked, the
 * VM record is freed (after LV_EV_DESTROYED). */
void lv__vm_released(struct lv_vm *vm);
/* A save: the guest is held and its state taken (phase time t). */
void lv__vm_save_paused(struct lv_vm *vm, int64_t t);
/* A save ended: 0 (keep: the guest runs on; else the VM is saved and
 * the driver stops it), or -errno with msg. */
void lv__vm_save_done(struct lv_vm *vm, int err, const char *msg, int mode);
/* lv_driver_ops.save's mode */
enum { LV_SAVE_STOP = 0, LV_SAVE_KEEP = 1, LV_SAVE_HOLD = 2 };
/* A restored VM has its control channel back (LV_EV_REATTACHED). */
void lv__vm_reattached(struct lv_vm *vm);

extern const struct lv_driver_ops lv_kvm_ops;
extern const struct lv_driver_ops lv_xen_ops;   /* only with LV_HAVE_XEN */
extern const struct lv_driver_ops *lv_test_ops; /* set by unit tests */

#endif
