/*
 * agent.h - what lightvmd's files share: the event loop, the clients of
 * the control socket, the request handlers and the waiters that let a
 * reply wait for VM events (spawn --wait, destroy).
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "lightvm.h"
#include "lightvm.pb-c.h"

/* ---- loop.c: epoll with a callback per fd */
typedef void (*loop_cb)(void *arg, int fd, uint32_t events);
int  loop_init(void);
int  loop_add(int fd, uint32_t events, loop_cb cb, void *arg);
int  loop_mod(int fd, uint32_t events);
void loop_del(int fd);
/* Wait up to timeout_ms and dispatch; returns -errno on failure. */
int  loop_run_once(int timeout_ms);
extern const struct lv_loop loop_for_core;

/* ---- log.c */
void alog(enum lv_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void alog_setup(bool debug, bool use_syslog);
/* alog, at most burst (0: 20) messages per 10 s per limiter, then a count. */
struct alog_limit { unsigned burst; int64_t t0; unsigned n, held; };
void alog_limited(struct alog_limit *l, enum lv_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The first error logged since start ("" if none). */
const char *alog_first_error(void);

/* ---- control.c: the control socket */
struct client;
int  control_listen(const char *path, char *err, size_t errlen);
/* the directory PATH (a socket) lives in, made 0755 if missing: 0 or -errno */
int  control_mkdir_parent(const char *path);
/* Serve fd, a listening socket systemd made (notify_listen_fd). */
int  control_adopt(int fd);
void control_close(void);
/* Queue a reply frame for c (takes nothing; packs msg). */
void client_reply(struct client *c, uint32_t seq, const Lightvm__Reply *msg);
void client_reply_err(struct client *c, uint32_t seq, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool client_alive(const struct client *c);
void client_ref(struct client *c);
void client_unref(struct client *c);
/* An EVENT frame (sequence 0) carrying n. */
void client_notify(struct client *c, const Lightvm__Notify *n);
/* A Notify frame whose body is already packed. */
void client_notify_packed(struct client *c, const uint8_t *body, size_t len);
/* Bytes queued for c and not yet sent. */
size_t client_pending(const struct client *c);
/* Hang up on c (logged with why). */
void client_drop(struct client *c, const char *why);
uid_t client_uid(const struct client *c);
/* Files opened from here to client_fs_leave are opened with c's rights
 * (acl_fs_enter): 0 or -errno. */
int  client_fs_enter(const struct client *c);
void client_fs_leave(void);

/* ---- vmstate.c: the host, each VM's agent state, selection, protobuf */
extern struct lv_host *g_host;

/* Per-VM state of the agent (lv_vm_user), created on demand by vm_ext()
 * and freed by vm_ext_release() at LV_EV_DESTROYED, after every owner
 * saw the event (main.c's event fan-out).  Each part has one owner, the
 * only file that reads or writes it. */
struct waiter;
struct vm_ext {
	struct {                          /* waiters.c */
		struct waiter *spawn_w;   /* spawn --wait */
		struct waiter *act_w;     /* destroy, pause, unpause */
	} wait;
	struct {                          /* stats.c: CPU sample for cpu_pct */
		uint64_t cpu_prev;
		int64_t  t_prev;
		double   cpu_pct;
	} cpu;
	struct {                          /* records.c */
		bool dirty;               /* in the dirty list */
		bool lazy;                /* in the lazy list (records.c) */
		bool on_disk;             /* NAME.vm exists */
		bool in_spare;            /* the record is in .spare-SPARE (open
					   * as fd), not yet renamed NAME.vm */
		int fd;                   /* valid while in_spare */
		uint32_t spare;
	} rec;
	uint8_t destroy_on;               /* autostart.c: VMCFG_DESTROY_* (config file) */
	struct {                          /* subs.c: this VM's VmInfo in stats
					   * frames, packed without uptime_ns,
					   * and what it was packed from */
		uint8_t *buf;
		uint32_t len, cap;
		bool     stale;           /* a VM event since */
		struct lv_vm_stats st;
		double   pct;
	} pk;
};
/* vm's agent state, created if need be; NULL if out of memory (every
 * caller checks). */
struct vm_ext *vm_ext(struct lv_vm *vm);
/* Free vm's agent state (each owner released what its part holds). */
void vm_ext_release(struct lv_vm *vm);

/* A spawn's watchdog when its request names none (lightvmd.conf
 * watchdog = SEC, set by main.c); 0: none. */
extern unsigned g_watchdog_s;

/* A VmInfo and the storage it points into. */
/* the flight recorder: creation (or restore), the last save, the last
 * migration away */
#define PB_PHASES_MAX (LV_PH_NR + 4 + LV_MPH_NR)
struct pbvm {
	Lightvm__VmInfo m;
	Lightvm__Phase ph[PB_PHASES_MAX];
	Lightvm__Phase *php[PB_PHASES_MAX];
};
/* All but the live counters and uptime_ns (see pb_uptime). */
void pb_fill_vm_base(struct pbvm *p, struct lv_vm *vm, bool phases);
/* uptime_ns of vm at now; false if it has none. */
bool pb_uptime(const struct lv_vm *vm, int64_t now, uint64_t *out);
/* The VMs matching sel (not being destroyed).  *out is malloc'ed. */
unsigned select_vms(const char *sel, struct lv_vm ***out);

/* ---- waiters.c: replies that wait for VM events */
/* W_NOW: an action by names that replies once issued (shutdown, reboot);
 * W_STATE: WaitReq, VMs until a state */
enum wkind { W_SPAWN, W_DESTROY, W_PAUSE, W_UNPAUSE, W_NOW, W_STATE };
struct waiter {
	struct waiter *next;
	struct client *c;
	uint32_t seq;
	enum wkind kind;
	unsigned remaining;  /* VMs still awaited, + 1 guard while issuing */
	unsigned n;
	uint32_t *ids;       /* the VMs, for the reply */
	int64_t deadline;
	unsigned affected;
	Lightvm__Failure **fails;
	unsigned nfails;
	bool strict;         /* by names: a VM that ends elsewhere is a failure */
	enum lv_state target;   /* W_STATE */
};
/* Reply with the given VMs (NULL entries skipped), failures and an
 * affected count (0: none); takes nothing. */
void reply_vms(struct client *c, uint32_t seq, struct lv_vm **vms, unsigned n,
	       bool phases, Lightvm__Failure **fails, unsigned nfails, unsigned affected);
/* A waiter for up to cap VMs, with its guard (drop it with
 * waiter_done_one once the request is issued); NULL if out of memory. */
struct waiter *waiter_new(struct client *c, uint32_t seq, enum wkind kind,
			  unsigned cap, int64_t timeout_ns);
/* Unlink and free w without replying. */
void waiter_drop(struct waiter *w);
/* One VM (or the guard) done; the last one replies and frees w. */
void waiter_done_one(struct waiter *w);
/* Add a failure for the reply (msg NULL or "": strerror(err)). */
void waiter_fail(struct waiter *w, const char *name, int err, const char *msg);
/* w waits for the action on this VM (a newer action supersedes an
 * older one, whose waiter is told so). */
void act_wait(struct waiter *w, struct vm_ext *e, const char *name, uint32_t id);
/* w lists the new VM vm and waits for it to be ready (not if it ended). */
void spawn_wait(struct waiter *w, struct lv_vm *vm);
/* Does an action of this kind change a VM in state st? */
bool action_changes(enum wkind k, enum lv_state st);
/* WaitReq: reply when the VMs are in a state (or cannot get there). */
void wait_request(struct client *c, uint32_t seq, const Lightvm__WaitReq *r);
void waiters_vm_event(struct lv_vm *vm, enum lv_event ev);

/* ---- snapshot_req.c: save, restore, clone (issue 14) */
void snapreq_save(struct client *c, uint32_t seq, const Lightvm__SaveReq *rq);
void snapreq_restore(struct client *c, uint32_t seq, const Lightvm__RestoreReq *rq);
void snapreq_clone(struct client *c, uint32_t seq, const Lightvm__CloneReq *rq);
void snapreq_vm_event(struct lv_vm *vm, enum lv_event ev);
void snapreq_tick(void);       /* deadlines */
/* ---- migrate.c: lvsh migrate (issue 14) */
void migrate_request(struct client *c, uint32_t seq, const Lightvm__MigrateReq *rq);
void migrate_vm_event(struct lv_vm *vm, enum lv_event ev);
void migrate_tick(void);       /* journal recovery, retries */
void waiters_tick(void);       /* deadlines, state waiters */

/* ---- handlers.c: one function per request */
void handle_request(struct client *c, uint32_t seq, const Lightvm__Request *rq);
/* Destroy every VM and wait (bounded) until they are gone. */
void handlers_destroy_all_sync(int timeout_ms);

/* ---- console_attach.c: ConsoleReq (attach, input, detach) */
void console_request(struct client *c, uint32_t seq, const Lightvm__ConsoleReq *r);
void console_tick(void);       /* every loop tick */

/* ---- stats.c: live counters, cheap to read */
/* A VM's VmInfo with its live counters and uptime. */
void pb_fill_vm(struct pbvm *p, struct lv_vm *vm, bool phases);
void stats_fill_vm(Lightvm__VmInfo *m, struct lv_vm *vm);
/* The same in two steps: read the counters and update the CPU % sample
 * (pct -1: unknown), then put them into m. */
void stats_sample(struct lv_vm *vm, int64_t now, struct lv_vm_stats *st, double *pct);
void stats_put(Lightvm__VmInfo *m, const struct lv_vm_stats *st, double pct);
/* Host load, memory, agent CPU/RSS and pools; points into static storage
 * valid until the next call. */
unsigned stats_pools(Lightvm__PoolInfo *pi, Lightvm__PoolInfo **pp, char (*names)[32],
		     unsigned max);
void stats_fill_host(Lightvm__HostInfo *hi);

/* ---- subs.c: subscriptions (events, stats) */
void subs_subscribe(struct client *c, uint32_t seq, const Lightvm__SubscribeReq *r);
void subs_vm_event(struct lv_vm *vm, enum lv_event ev);
void subs_pool_event(uint64_t mem, uint32_t vcpus, int kind, bool empty);
void subs_tick(void);          /* every loop iteration */
/* Sequence numbers from STATEDIR/events.seq (before any event); the exact
 * last one back at a clean stop. */
void subs_init(const char *state_dir);
void subs_close(void);

/* ---- records.c: one record per VM in STATEDIR/vms, for restarts */
int  records_init(const char *state_dir);
/* Re-create the VMs of the records (at start, after lv_host_open). */
void records_restore(void);
void records_vm_event(struct lv_vm *vm, enum lv_event ev);
void records_prestart(struct lv_vm *vm, bool undo);  /* see lv_host_config.prestart */
/* Write the dirty records (every loop iteration, and before replies). */
void records_flush(void);
void records_name_all(void);   /* at a clean stop: every record as NAME.vm */
/* Make sure n more records can be written (spare files made full size
 * now if need be); 0, or -errno (-ENOSPC: the state disk is full).
 * Call before creating n VMs; the claim ends at the next flush. */
int  records_reserve(unsigned n);
const char *records_dir(void);   /* STATEDIR/vms */

/* ---- notify.c: systemd's readiness notification and socket activation */
int  notify_send(const char *state);
void notify_tick(void);        /* every loop iteration: WATCHDOG=1 if asked */
int  notify_listen_fd(char *path, size_t pathlen);

/* ---- netaddr.c: "IPV4:PORT" or "[IPV6]:PORT" (numbers only) into ss;
 * 0 or -EINVAL */
int netaddr_parse(const char *a, struct sockaddr_storage *ss, socklen_t *len);

/* ---- pidroom.c: process ids for have + more KVM VMs (kernel.pid_max
 * and threads-max raised where needed); 0, or -errno with why */
int pidroom_admit(unsigned have, unsigned more, char *why, size_t whylen);

/* ---- metrics.c: Prometheus text format over HTTP, opt-in (metrics=) */
int  metrics_start(const char *addr, const char *group, char *err, size_t errlen);
void metrics_vm_event(struct lv_vm *vm, enum lv_event ev);
void metrics_tick(void);      /* every loop iteration: deadlines */
/* hi->agent: the agent's own counters (static storage, valid until the
 * next call), so that `lvsh stats --prometheus` prints what the listener
 * serves. */
void metrics_fill_host(Lightvm__HostInfo *hi);
void metrics_close(void);

/* ---- acl.c: who may do what (SO_PEERCRED + groups) */
enum acl_role { ACL_NONE, ACL_READ, ACL_ADMIN };
int  acl_setup(const char *sock_path, const char *group, const char *admin_group);
enum acl_role acl_role_of(int fd, uid_t uid, gid_t gid);
/* 0 if role may do rq, else -EACCES with why (the reply's text). */
int  acl_check(enum acl_role role, uid_t uid, const Lightvm__Request *rq, char *why, size_t len);
/* The calling thread opens files as the peer of peer_fd (uid): its
 * fsuid, fsgid and groups, until acl_fs_leave.  0 (nothing to do for
 * root) or -errno. */
int  acl_fs_enter(int peer_fd, uid_t uid);
void acl_fs_leave(void);

#endif
