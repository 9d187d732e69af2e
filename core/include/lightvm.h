/*
 * lightvm.h - liblightvm, the toolstack core: the hypervisor-independent VM
 * model and lifecycle, the image catalog, selectors, pools, and the drivers
 * behind one ops table.  The core never touches sockets, protobuf or
 * terminals; it is driven by the embedding program's event loop through
 * struct lv_loop and reports through callbacks.
 *
 * Conventions: functions return 0 or -errno, results in out-parameters;
 * the core never exits; every allocation names who frees it.
 */
#ifndef LIGHTVM_H
#define LIGHTVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define LV_WUR __attribute__((warn_unused_result))
#define LV_VM_NAME_MAX 64   /* including NUL; matches LV_NAME_MAX */
#define LV_REASON_MAX  192

struct lv_host;
struct lv_vm;

enum lv_state {
	LV_ST_PREPARED = 0,
	LV_ST_BOOTING,
	LV_ST_RUNNING,
	LV_ST_PAUSED,
	LV_ST_SHUTTING_DOWN,
	LV_ST_SHUTOFF,
	LV_ST_CRASHED,
	LV_ST_SAVING,       /* a save holds the guest paused (lv_vm_save) */
	LV_ST_SAVED,        /* saved and stopped (final; lvsh save without --keep) */
	LV_ST_RESTORING,    /* a restore's booting: mapped from a snapshot, not ready yet */
	LV_ST_MIGRATING,    /* held here while a migration moves it (lv_vm_save_hold) */
	LV_ST_NR
};
const char *lv_state_name(enum lv_state st);
/* Parse a state name ("running", "shutoff", "shut-off" ...); -1 if none. */
int lv_state_parse(const char *s);
static inline bool lv_state_is_final(enum lv_state st)
{
	return st == LV_ST_SHUTOFF || st == LV_ST_CRASHED || st == LV_ST_SAVED;
}
/* Started, not ready yet: booting, or restoring (a VM from a snapshot). */
static inline bool lv_state_is_booting(enum lv_state st)
{
	return st == LV_ST_BOOTING || st == LV_ST_RESTORING;
}

/* Flight recorder phases (CLOCK_MONOTONIC ns, 0 = not reached). */
enum lv_phase {
	LV_PH_REQUEST = 0, /* request received by the agent */
	LV_PH_CLAIMED,     /* shell claimed from the pool, or created */
	LV_PH_LOADED,      /* image in guest memory */
	LV_PH_DEVICES,     /* device page written */
	LV_PH_STARTED,     /* vCPU started */
	LV_PH_KERNEL,      /* Linux: kernel entered (its first exit to the VMM) */
	LV_PH_INIT,        /* Linux: init started (the kernel's "Run /init"
			    * line, or the first line that is not the kernel's) */
	LV_PH_READY,       /* guest signalled ready */
	LV_PH_NR
};
const char *lv_phase_name(enum lv_phase ph);
/* The save's phases as the flight recorder names them (t_save[k]):
 * "save-request", "save-held", "save-written", then "save-resumed", or
 * "save-ended" for a VM that ended saved; NULL past the last. */
const char *lv_save_phase_name(int k, bool ended);

/* A migration's phases at its source (noted by the embedding program,
 * which runs the migration, with lv_vm_migrate_phase). */
enum lv_migrate_phase {
	LV_MPH_REQUEST = 0, /* migrate request received */
	LV_MPH_HELD,        /* the guest held here, its state taken */
	LV_MPH_SENT,        /* the destination has it loaded (and held) */
	LV_MPH_RUNNING,     /* the destination says it runs */
	LV_MPH_ENDED,       /* the copy here ended */
	LV_MPH_NR
};
/* "migrate-request", "migrate-held", "migrate-sent", "migrate-running",
 * "migrate-ended" */
const char *lv_migrate_phase_name(enum lv_migrate_phase ph);

/* Live, read-only view of a VM, owned by the core. */
struct lv_vm_info {
	char     name[LV_VM_NAME_MAX];
	uint32_t id;
	enum lv_state state;
	char     image[256];     /* as requested (catalog name or path) */
	uint64_t mem_bytes;
	uint32_t vcpus;
	int      pid;            /* shell pid (KVM), domid (Xen), -1 if none */
	bool     pooled;         /* came from a pre-created shell */
	bool     preloaded;      /* ... which held the image loaded (KVM) */
	char     reason[LV_REASON_MAX]; /* why it stopped, crashed or failed */
	int64_t  exit_code;
	int64_t  t[LV_PH_NR];
	int64_t  t_final;        /* when it reached shutoff/crashed */
	char     console_path[512]; /* console log file ("" if none) */
	uint8_t  mac[6];         /* the guest's NIC, if it has one */
	uint32_t ipv4;           /* network byte order; 0: no NIC */
	char     mac_str[18], ipv4_str[16]; /* the same as text ("" if none) */
	/* the last save's flight recorder (CLOCK_MONOTONIC ns, 0: not
	 * reached): request, guest paused and state taken, file written,
	 * guest resumed or ended (a migration's hold: when released) */
	int64_t  t_save[4];
	/* the last migration away from here (lv_vm_migrate_phase) */
	int64_t  t_migrate[LV_MPH_NR];
	bool     restored;       /* started from a snapshot (restore, clone) */
};

enum lv_event {
	LV_EV_SPAWNED = 0, /* record created, creation under way */
	LV_EV_STARTED,     /* vCPU running, guest booting */
	LV_EV_READY,       /* guest ready: state running */
	LV_EV_PAUSED,
	LV_EV_UNPAUSED,
	LV_EV_SHUTOFF,     /* powered off (reason, exit_code) */
	LV_EV_CRASHED,     /* crashed (reason) */
	LV_EV_FAILED,      /* could not be created/started (reason); final */
	LV_EV_DESTROYED,   /* about to be freed: last event for this VM */
	LV_EV_REATTACHED,  /* a restarted agent has its control channel back */
	LV_EV_SAVING,      /* a save started: the guest is held */
	LV_EV_SAVED,       /* the snapshot is written (state running or saved) */
	LV_EV_SAVE_FAILED, /* the save failed (reason in lv_vm_save_error) */
	LV_EV_RESTORING,   /* after spawned: this VM starts from a snapshot */
	LV_EV_MIGRATING,   /* a migration holds it here (state migrating) */
	LV_EV_NR
};
const char *lv_event_name(enum lv_event ev);

enum lv_log_level { LV_LOG_ERR, LV_LOG_WARN, LV_LOG_INFO, LV_LOG_DEBUG };

typedef void (*lv_fd_cb)(void *arg, int fd, uint32_t events);

/* How the core reaches the embedding program's event loop. */
struct lv_loop {
	void *ctx;
	/* watch fd for readability (EPOLLIN); cb gets the epoll events */
	int  (*watch)(void *ctx, int fd, lv_fd_cb cb, void *arg);
	void (*unwatch)(void *ctx, int fd);
};

struct lv_host_config {
	const char *driver;      /* "kvm", "xen", "auto" or "fake" (tests) */
	const char *state_dir;   /* console logs live below it */
	/* This agent's own directory for runtime files that die with the
	 * host (KVM: the shells' listening sockets), on a tmpfs such as /run;
	 * created 0700 if missing.  NULL, or too long for a socket path:
	 * state_dir is used. */
	const char *run_dir;
	const char *const *image_dirs; /* NULL-terminated search path */
	struct lv_loop loop;
	void (*log)(void *ctx, enum lv_log_level lvl, const char *msg);
	void (*event)(void *ctx, struct lv_vm *vm, enum lv_event ev);
	void *cb_ctx;
	unsigned boot_timeout_ms;     /* 0: default 10000 */
	unsigned shutdown_timeout_ms; /* 0: default 10000 */
	const char *net_bridge;  /* NULL: "lvbr0" (created on first use) */
	const char *net_subnet;  /* NULL: "10.77.0.0/16"; the host is .1 */
	/* a pool ran empty (empty) or is back at its target (!empty) */
	void (*pool_event)(void *ctx, uint64_t mem_bytes, uint32_t vcpus, int kind, bool empty);
	/* Called with a new VM (name, id, image, address set; state prepared)
	 * right before the driver starts its guest, so that its owner can
	 * make it durable first: a pooled KVM shell runs its guest at once,
	 * and an agent killed before its batched record write would leave a
	 * guest no record names.  Called again with undo when the start
	 * failed (the VM is then freed without events).  Optional. */
	void (*prestart)(void *ctx, struct lv_vm *vm, bool undo);
};

/* Must be called before the program creates threads or grows: on KVM it
 * forks the shell factory.  *out is freed by lv_host_close(). */
int lv_host_open(const struct lv_host_config *cfg, struct lv_host **out) LV_WUR;
/* Closes the control channels; running VMs keep running (KVM shells). */
void lv_host_close(struct lv_host *h);
const char *lv_host_driver(const struct lv_host *h);
/* The platform, into buf: "kvm-vmx", "kvm-svm", "kvm-pvm" or "xen", then
 * in parentheses what lies under it when the core can tell ("nested
 * under KVMKVMKVM", "emulated: QEMU TCG").  Returns buf. */
const char *lv_host_platform(const struct lv_host *h, char *buf, size_t len);
/* Call periodically (every ~100 ms): timeouts. */
void lv_host_tick(struct lv_host *h);
/* Count VMs; by_state (optional) gets counts per state. */
unsigned lv_host_count(const struct lv_host *h, unsigned by_state[LV_ST_NR]);

struct lv_spawn {
	const char *image;       /* catalog name or path */
	const char *name;        /* NULL: next free "<prefix>-N" */
	const char *prefix;      /* NULL: the image's base name */
	uint64_t mem_bytes;      /* 0: LV_MEM_DEFAULT */
	uint32_t vcpus;          /* 0: 1 */
	int64_t  t_request;      /* CLOCK_MONOTONIC ns; 0: now */
	int      image_fd;       /* -1, or an fd from lv_image_open (borrowed) */
	/* image_fd's stat from lv_image_open_st, or NULL: spares a spawn of
	 * N VMs its fstat calls (one per VM in the core, one in the driver) */
	const struct stat *image_st;
	/* Xen only (other drivers refuse them): a ramdisk file (path) and
	 * arguments appended to the kernel command line; NULL: none */
	const char *ramdisk;
	const char *cmdline;
	/* KVM: crash the guest after this many seconds without a hypercall
	 * (<= LV_WATCHDOG_MAX); 0: no watchdog, a busy guest runs on */
	uint32_t watchdog_s;
	/* how many VMs the request that makes this one starts at once (a
	 * `spawn N`): above 1, the KVM driver spreads their shells over the
	 * host's CPUs while they boot; 0 or 1: one VM */
	uint32_t burst;
	/* A restore: image_fd is a snapshot from lv_snapshot_open and this
	 * its description (memory, NIC come from it); NULL: an image.
	 * keep_addr: try the snapshot's address first (restore; a clone
	 * gets a new one) */
	const struct lv_snapshot_desc *snapshot;
	bool keep_addr;
	/* a restore for a migration: the guest is mapped and loaded but
	 * held (state paused) until lv_vm_unpause */
	bool hold;
	/* a restore (not a clone): the snapshot's pages are copied into the
	 * pooled shell's memory, whose pages the pool warmed up, instead of
	 * mapped from the file (shared: what clones need) */
	bool snapshot_copy;
};
#define LV_WATCHDOG_MAX 86400u
#define LV_SPAWN_CMDLINE_MAX 900u

/* Starts creating a VM; returns once the request is on its way (the VM is
 * in LV_ST_PREPARED or LV_ST_BOOTING; events report progress).  On error
 * nothing is created and err (if non-NULL) gets a one-line message. */
int lv_vm_spawn(struct lv_host *h, const struct lv_spawn *sp,
		struct lv_vm **out, char *err, size_t errlen) LV_WUR;
int lv_vm_pause(struct lv_vm *vm) LV_WUR;
int lv_vm_unpause(struct lv_vm *vm) LV_WUR;
int lv_vm_shutdown(struct lv_vm *vm) LV_WUR;  /* ask the guest */
int lv_vm_reboot(struct lv_vm *vm) LV_WUR;    /* ask the guest */
/* Stop the VM and forget it.  LV_EV_DESTROYED follows (maybe later). */
int lv_vm_destroy(struct lv_vm *vm) LV_WUR;
bool lv_vm_destroying(const struct lv_vm *vm);

const struct lv_vm_info *lv_vm_info(const struct lv_vm *vm);
struct lv_vm *lv_vm_lookup(struct lv_host *h, const char *name);
struct lv_vm *lv_vm_by_id(struct lv_host *h, uint32_t id);
/* Iterate in creation order. */
struct lv_vm *lv_vm_first(struct lv_host *h);
struct lv_vm *lv_vm_next(struct lv_vm *vm);
/* Opaque per-VM slot for the embedding program. */
void  lv_vm_set_user(struct lv_vm *vm, void *p);
void *lv_vm_user(const struct lv_vm *vm);
uint64_t lv_vm_console_bytes(const struct lv_vm *vm);
/* vm's console log file (info.console_path), made sure to exist under
 * that name before the caller opens it; "" if it has none. */
const char *lv_vm_console_log(struct lv_vm *vm);
/* Send bytes to the guest's console input (the `in` side of its console
 * ring; the guest reads them with lv_console_read).  Returns 0, -ENOTSUP if
 * the driver has no console input, -ESRCH if the VM has no running guest.
 * Bytes beyond what the ring holds are dropped. */
int lv_vm_console_input(struct lv_vm *vm, const void *buf, size_t len) LV_WUR;

/* Live counters of a VM, read cheaply (KVM: the shell's stats page, no
 * syscall).  Zero where unknown. */
struct lv_vm_stats {
	uint64_t cpu_ns;         /* CPU time of the VM (vCPU + its VMM) */
	uint64_t rss_bytes;      /* resident host memory of the VM's process */
	uint64_t console_bytes;
	uint64_t net_rx_packets, net_rx_bytes, net_tx_packets, net_tx_bytes;
	/* frames dropped: rx (no guest buffer; Xen), tx (policed or the tap
	 * full) */
	uint64_t net_rx_drops, net_tx_drops;
};
void lv_vm_stats(const struct lv_vm *vm, struct lv_vm_stats *out);

/* Restart: re-create a VM from its record (info as saved by the agent;
 * id and name must be unused).  A VM in a final state is only listed.
 * Otherwise the driver re-attaches to its running shell (LV_EV_REATTACHED
 * follows, or the VM ends crashed "died while the agent was down").
 * Returns -ESRCH, creating nothing, if the VM had not finished booting
 * and its process is gone (a half-created VM: the caller drops the
 * record), -EINPROGRESS (KVM) if it had not finished booting and no shell was
 * recorded yet: the record is kept aside, its address reserved, for a
 * shell that reports this guest within a few seconds of
 * lv_host_restore_done (the driver adopts it with the record's image and
 * address); the caller may remove the file, keeps the console log.
 * *out (optional) gets the VM. */
int lv_vm_restore(struct lv_host *h, const struct lv_vm_info *info,
		  struct lv_vm **out) LV_WUR;
/* After the last lv_vm_restore: the driver cleans up what no record
 * claims (shells of half-created VMs, stale sockets). */
void lv_host_restore_done(struct lv_host *h);

/* Snapshots (KVM; snapshot.h has the format).  Save vm (running) into
 * fd (an empty regular file opened for writing, borrowed: the driver
 * keeps a dup until the save ends): LV_EV_SAVING, then LV_EV_SAVED (vm
 * running again with keep, else final in LV_ST_SAVED) or
 * LV_EV_SAVE_FAILED (vm back to running; lv_vm_save_error says why).
 * -EINVAL if vm is not running, -EBUSY if a save is under way,
 * -EOPNOTSUPP without driver support. */
int lv_vm_save(struct lv_vm *vm, int fd, bool keep) LV_WUR;
/* A save for a migration: as lv_vm_save, but the guest stays held
 * (state migrating, event migrating instead of saving) after
 * LV_EV_SAVED, until lv_vm_hold_release resumes it
 * or lv_vm_destroy ends it. */
int lv_vm_save_hold(struct lv_vm *vm, int fd) LV_WUR;
/* Resume a guest held by lv_vm_save_hold (state running again);
 * -EINVAL if it is not held. */
int lv_vm_hold_release(struct lv_vm *vm) LV_WUR;
/* Note a migration phase of vm at t (CLOCK_MONOTONIC ns; 0: now).
 * LV_MPH_REQUEST clears the others. */
void lv_vm_migrate_phase(struct lv_vm *vm, enum lv_migrate_phase ph, int64_t t);
/* The last save's error (0) and its message ("" if none). */
int lv_vm_save_error(const struct lv_vm *vm, const char **msg);

/* What a snapshot says about the VM in it. */
struct lv_snapshot_desc {
	uint64_t mem_bytes;
	bool     net;            /* it has a NIC */
	uint8_t  mac[6];
	uint32_t ipv4;           /* network byte order; its address at the save */
	char     name[LV_VM_NAME_MAX];
	char     image[256];
	uint64_t file_bytes;     /* the file's size (sparse: less on disk) */
	uint64_t pages;          /* guest pages it holds */
};
/* Open a snapshot file (a path from an admin: a regular file, opened as
 * lv__open_regular does) and check all of it, memory included.  Returns
 * the fd (the caller closes it) with *d filled, or -errno and err. */
int lv_snapshot_open(struct lv_host *h, const char *path, struct lv_snapshot_desc *d,
		     char *err, size_t errlen) LV_WUR;

/* Image catalog: resolve a name (or a path containing '/') and open it
 * validated as a guest ELF.  Returns an fd (caller closes) or -errno with
 * a message in err. */
int lv_image_open(struct lv_host *h, const char *image, uint64_t mem_bytes,
		  char *err, size_t errlen) LV_WUR;
/* The same, with the open file's stat (as fstat would give it) in *st. */
int lv_image_open_st(struct lv_host *h, const char *image, uint64_t mem_bytes,
		     struct stat *st, char *err, size_t errlen) LV_WUR;
/* Xen: what an image directory of the catalog (NAME/ holding kernel,
 * initrd, cmdline; scripts/tinyx) adds to a spawn that names no ramdisk or
 * command line: ramdisk gets the initrd's path, cmdline the cmdline file's
 * line ("" for none, and for any other image).  Returns 0, or -errno with
 * a message in err (a cmdline file too long or not one line of text). */
int lv_image_extras(struct lv_host *h, const char *image, char *ramdisk, size_t rlen,
		    char *cmdline, size_t clen, char *err, size_t errlen) LV_WUR;
/* Names of the images in the catalog; calls fn for each. */
void lv_image_list(struct lv_host *h, void (*fn)(void *arg, const char *name),
		   void *arg);

/* Selectors: a name, a glob (fnmatch), or "all". */
bool lv_selector_match(const char *sel, const char *name);
bool lv_selector_is_pattern(const char *sel);

/* Pools of pre-created shells, per flavor (memory, vCPUs, kind).  The
 * kind is what the shell is prepared for: a LightVM unikernel, or a
 * Linux kernel (KVM: in-kernel IRQ chip, PIT, the host's CPUID); a spawn
 * claims a shell of its image's kind.  Drivers without Linux pools
 * (Xen: a domain is a domain) refuse LV_KIND_LINUX with -EOPNOTSUPP. */
enum lv_kind { LV_KIND_UNIKERNEL = 0, LV_KIND_LINUX, LV_KIND_NR };
struct lv_pool_info {
	uint64_t mem_bytes;
	uint32_t vcpus;
	unsigned target, ready, preparing;
	uint64_t hits, misses;
	double refill_per_s;     /* shells prepared per second, last second */
	enum lv_kind kind;
};
/* lv_pool_set_kind with LV_KIND_UNIKERNEL. */
int lv_pool_set(struct lv_host *h, uint64_t mem_bytes, uint32_t vcpus,
		unsigned target) LV_WUR;
int lv_pool_set_kind(struct lv_host *h, uint64_t mem_bytes, uint32_t vcpus,
		     enum lv_kind kind, unsigned target) LV_WUR;
/* The image pooled unikernel shells hold loaded, so that a spawn of it
 * copies nothing (KVM; -EOPNOTSUPP elsewhere).  image: a catalog name or
 * a path, checked as a spawn's (a unikernel for this host; the driver
 * may refuse a large one), held until set again; "last" (the default):
 * the last image a pooled spawn started; "off": none.  0, or -errno
 * with err set (the setting is then unchanged). */
enum lv_preload_mode { LV_PRELOAD_LAST = 0, LV_PRELOAD_IMAGE = 1, LV_PRELOAD_OFF = 2 };
int lv_pool_preload(struct lv_host *h, const char *image, char *err, size_t errlen) LV_WUR;
/* What lv_pool_preload set: "last", "off" or the image as it was given;
 * NULL for a driver without preloads. */
const char *lv_pool_preload_name(const struct lv_host *h);
/* Fills up to max entries; returns the number of flavors. */
unsigned lv_pool_list(struct lv_host *h, struct lv_pool_info *out, unsigned max);
/* "4M/1" <-> flavor */
int lv_flavor_parse(const char *s, uint64_t *mem_bytes, uint32_t *vcpus) LV_WUR;
/* The same with the kind: "MEM[/VCPUS][/linux]" ("128M/linux",
 * "128M/1/linux"); no suffix is LV_KIND_UNIKERNEL. */
int lv_flavor_parse_kind(const char *s, uint64_t *mem_bytes, uint32_t *vcpus,
			 enum lv_kind *kind) LV_WUR;
/* "4M/1", "128M/1/linux" into buf (32 bytes are enough); returns buf. */
const char *lv_flavor_name(char *buf, size_t len, uint64_t mem_bytes, uint32_t vcpus,
			   enum lv_kind kind);
/* The flavor rules, owned by lv_flavor_normalize: memory 0 is
 * LV_MEM_DEFAULT, rounded up to LV_MEM_STEP (guest memory is mapped with
 * 2 MiB pages), within 2 MiB .. 1 GiB (lightvm_abi.h: LV_GUEST_MIN_MEM,
 * LV_GUEST_MAX_MEM); vCPUs 0 is 1, and a VM has one vCPU.  Both values
 * are normalized in place; returns 0, -EINVAL (vCPUs), or else -ERANGE
 * (memory). */
#define LV_MEM_DEFAULT (4u << 20)
#define LV_MEM_STEP    (2u << 20)
int lv_flavor_normalize(uint64_t *mem_bytes, uint32_t *vcpus) LV_WUR;
/* 0 if the flavor is valid and normal already (no default, no rounding:
 * what a pool's flavor must be), else -EINVAL. */
int lv_flavor_check(uint64_t mem_bytes, uint32_t vcpus) LV_WUR;
int lv_size_parse(const char *s, uint64_t *out) LV_WUR;

int64_t lv_now_ns(void);

#endif
