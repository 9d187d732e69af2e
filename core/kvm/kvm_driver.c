/*
 * kvm_driver.c - the KVM driver as the agent sees it: one shell process
 * per VM, created by the factory, driven over a SOCK_SEQPACKET control
 * channel (shell_msg.h).  A pooled shell is a slot of the core's pool
 * (pool.c): prepared ahead by the factory (kvm_prepare), warmed up, with
 * its console log made; a spawn claims one and sends it EXEC, so the
 * image-independent work is already done.
 * After an agent restart it re-attaches to running shells through their
 * sockets in STATEDIR/shells (attach, restore_done), and it reads each
 * shell's stats page (stats).
 *
 * A shell is the first thing an escaped guest owns, so nothing it sends
 * is trusted: every message must be exactly one struct kvm_msg of a known
 * type, allowed in the shell's state (HELLO only once, on a channel the
 * agent opened after a restart; PREPARED only from the factory's shell),
 * its strings NUL-terminated, names checked with the core's VM-name rule
 * and reasons stripped of control bytes.  A shell that breaks the rules
 * ends its VM crashed ("shell protocol violation") and is killed.  A live
 * shell no record claims (a torn or set-aside record) that says it runs a
 * guest under a free name and id is adopted, not destroyed.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lv_internal.h"
#include "hostnet.h"
#include "kvm/factory.h"
#include "kvm/shell_msg.h"
#include "kvm/snapshot_drv.h"

#define FACTORY_INFLIGHT 32     /* requests sent to the factory at once */
#define REFILL_INFLIGHT  4      /* of which refills: spawns never wait long */
#define REFILL_QUIET_NS  (20ll * 1000000)   /* spawns keep coming: refill only below */
#define REFILL_LOW_DIV   8                   /* ... an eighth of the target */
#define REFILL_HOLD_NS   (5ll * 1000000)     /* none while a claimed guest boots (pool.h) */
#define DESTROY_KILL_NS  (2ll * 1000000000)
#define SAVE_ANSWER_NS   (10ll * 1000000000)   /* a shell answers SAVE in ~1 ms */

struct kvm_shell {
	struct kvm_driver *d;
	struct lv_vm *vm;             /* NULL while pooled */
	struct lv_pool_slot slot;     /* the pool's while slot.fl is set */
	struct kvm_shell *tnext;      /* timed list (kill deadlines) */
	int fd;
	int logfd;                    /* pooled: console log made ahead, or -1 */
	bool log_pending;             /* the VM's log is still .pool-PID.log */
	int64_t log_since;            /* since when */
	struct kvm_shell *lprev, *lnext;  /* the list of those (log_head) */
	pid_t pid;
	bool prepared, exited, forced_off, timed;
	bool attaching;               /* connected after a restart, no HELLO yet */
	bool orphan;                  /* a shell no record claims: destroying it */
	bool hello_seen;              /* one HELLO per re-attached channel */
	bool bad;                     /* broke the protocol: being killed */
	int64_t kill_at;
	const struct kvm_stats_page *sp;  /* the shell's stats page, read-only */
	bool saving;                  /* SAVE sent, SAVED not heard (snapshot_drv.c) */
	bool slice_done;              /* its time slice is the kernel's again */
	bool placed;                  /* given one CPU until READY (shell_place) */
	bool burst;                   /* ... as one of a burst's shells */
	bool reset_owed;              /* booted in a burst: slice and CPUs back when
				       * its log is named (log_settle) */
	bool booting;                 /* claimed from the pool, not ready yet (lv__pool_booting) */
	int64_t pre_sent;             /* pooled: the last PRELOAD's token (0: none) */
	int64_t pre_token;            /* ... and the one the shell said it holds */
	int save_mode;                /* LV_SAVE_* */
	int save_fd, save_state;      /* the snapshot file, the shell's state memfd */
};

/* A request to the factory, queued until sent, then until answered. */
struct kvm_req {
	struct kvm_req *next;
	struct lv_vm *vm;             /* a spawn that missed the pool */
	struct lv_pool_flavor *fl;    /* or a refill */
	uint64_t mem;
	uint32_t vcpus;
	int image_fd;                 /* dup'ed for a spawn */
	struct kvm_boot *boot;        /* a Linux guest's, or NULL */
	bool linux_shell;             /* a refill of a Linux flavor */
};

/* A Linux guest's boot arguments, from lv_spawn, until its EXEC. */
struct kvm_boot {
	int ramdisk_fd;               /* -1: none */
	char cmdline[KVM_MSG_CMDLINE_MAX + 1];
};

/* A Linux boot is slower than a unikernel's (and emulated ring 0 on PVM
 * or in a TCG testbed much slower): at least this long to be ready. */
#define LINUX_BOOT_TIMEOUT_MS 120000u

struct kvm_driver {
	struct lv_host *h;
	int kvm_fd, fac_fd;
	pid_t fac_pid;
	struct kvm_req *unsent, *unsent_tail;  /* FIFO, spawns first */
	struct kvm_req *unsent_last_spawn;     /* refills queue after it */
	struct kvm_req *sent, *sent_tail;      /* FIFO, answered in order */
	unsigned inflight;
	struct kvm_shell *timed;
	char console_dir[256];
	uint32_t *free_logs;           /* .free-N.log files kept for reuse */
	size_t nfree, free_cap;
	uint32_t free_seq;
	char sock_dir[256];            /* shells listen here: PID.sock */
	uint64_t slice_ns;             /* a booting shell's time slice (factory.h), 0: none */
	struct kvm_sched_base sched;   /* the shells' class and nice (factory.h) */
	bool sched_known;              /* read (without sched_getattr the factory could
					* not set a slice either: none to reset) */
	struct kvm_spread *spread;     /* a burst's shells over the CPUs (factory.h), or NULL */
	char old_sock_dir[256];        /* STATE/shells when sock_dir is elsewhere:
					* an older agent's shells, re-attached */
	struct kvm_shell *adopting;    /* shell_adopt: kvm_attach takes it */
	bool sweep_logs;               /* after a restart: see sweep_logs() */
	struct old_log { pid_t pid; ino_t ino; } *old_logs;  /* .pool-PID.log of live
					 * shells at the start: a VM's not named yet? */
	size_t nold_logs;
	struct kvm_shell *log_head, *log_tail;  /* shells whose VM's log is to be
					 * named, oldest first */
	unsigned nlog_pending;
	int64_t last_busy;             /* the last EXEC or shell message */
	struct kvm_preload {           /* the image pooled unikernel shells hold
					* loaded (PRELOAD): the last a pooled
					* unikernel spawn started, or the one
					* the operator named (kvm_preload) */
		int mode;              /* enum lv_preload_mode */
		int fd;                /* -1: none yet */
		struct stat st;        /* what it is: device, inode, size, times */
		int64_t token;         /* names it to the shells, > 0 */
		bool stale;            /* ready shells still hold another (kvm_tick) */
		bool warned;           /* a shell could not load it: said once */
	} pre;
};

static void shell_cb(void *arg, int fd, uint32_t events);
static void factory_cb(void *arg, int fd, uint32_t events);
static void pump(struct kvm_driver *d);
static void pool_log_drop(struct kvm_shell *s);

/* ---- shells */

static int shell_send(struct kvm_shell *s, uint32_t type)
{
	struct kvm_msg m = { .type = type };
	ssize_t r;

	if (s->exited)
		return -ESRCH;
	r = kvm_sendmsg(s->fd, &m, sizeof(m), NULL, 0);
	return r < 0 ? (int)r : 0;
}

static void timed_add(struct kvm_shell *s, int64_t at)
{
	s->kill_at = at;
	if (!s->timed) {
		s->timed = true;
		s->tnext = s->d->timed;
		s->d->timed = s;
	}
}

static void timed_del(struct kvm_shell *s)
{
	if (!s->timed)
		return;
	for (struct kvm_shell **p = &s->d->timed; *p; p = &(*p)->tnext)
		if (*p == s) {
			*p = s->tnext;
			break;
		}
	s->timed = false;
}

static void sock_path_in(const char *dir, pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%d.sock", dir, (int)pid);
}

static void sock_path(const struct kvm_driver *d, pid_t pid, char *buf, size_t len)
{
	sock_path_in(d->sock_dir, pid, buf, len);
}

static void log_settle(struct kvm_shell *s);
static void log_adopt(struct kvm_shell *s, struct lv_vm *vm);
static void shell_reset(struct kvm_shell *s);

/* A claimed shell no longer holds refills back (pool.h,
 * lv__pool_booting): its guest is ready, or it is gone.  True if it
 * did. */
static bool boot_end(struct kvm_shell *s)
{
	if (!s->booting)
		return false;
	s->booting = false;
	lv__pool_booting(s->d->h, false);
	return true;
}

/* Free s; with unlink_sock its shell is gone for good (or going). */
static void shell_free(struct kvm_shell *s, bool unlink_sock)
{
	char path[300];

	boot_end(s);   /* gone before READY: refills need not wait for it */
	log_settle(s);
	if (unlink_sock && s->pid > 0) {
		sock_path(s->d, s->pid, path, sizeof(path));
		unlink(path);
	}
	if (s->sp)
		munmap((void *)s->sp, 4096);
	free(s);
}

/* Map the stats page a shell sent (sealed memfd: it cannot shrink). */
static void shell_map_stats(struct kvm_shell *s, int fd)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	void *p;

	if (s->sp || seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 ||
	    st.st_size < 4096)
		goto out;
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED && ((const struct kvm_stats_page *)p)->magic == KVM_STATS_MAGIC)
		s->sp = p;
	else if (p != MAP_FAILED)
		munmap(p, 4096);
out:
	close(fd);   /* the mapping keeps the page: no fd per VM */
}

/* A save of s's VM ends (the files closed; the core told). */
static void save_end(struct kvm_shell *s, int rc, const char *why, int mode)
{
	if (!s->saving)
		return;
	s->saving = false;
	close(s->save_fd);
	close(s->save_state);
	if (s->vm)
		lv__vm_save_done(s->vm, rc, why, mode);
}

/* The shell is gone (EOF): free it and tell the core. */
static void shell_gone(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;
	struct lv_vm *vm = s->vm;

	d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, s->fd);
	close(s->fd);
	timed_del(s);
	save_end(s, -ESRCH, "the shell died during the save", LV_SAVE_KEEP);
	lv__pool_gone(d->h, &s->slot);
	pool_log_drop(s);
	s->reset_owed = false;   /* its pid may be another process's soon */
	log_settle(s);   /* a crashed or stopped VM's log stays readable */
	if (vm) {
		vm->drv = NULL;
		if (!lv_state_is_final(vm->info.state) && !vm->destroying) {
			lv__log(d->h, LV_LOG_WARN, "%s: shell %d %s", vm->info.name, s->pid,
				s->attaching ? "went away before re-attaching" : "died without a word");
			lv__vm_state(vm, LV_ST_CRASHED, s->attaching ? "died while the agent was down" :
				     "shell process died unexpectedly");
		}
		lv__vm_released(vm);
	}
	shell_free(s, true);
	pump(d);
}

/* A NUL-terminated copy of a shell's string with control bytes made '?'. */
static void shell_text(char *out, const char *in, size_t len)
{
	memcpy(out, in, len);
	out[len - 1] = 0;
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* A VM name from a shell: the core's rule (letters, digits, "-_."). */
static bool shell_name_ok(const char *name)
{
	return strlen(name) < LV_VM_NAME_MAX - 8 && lv__name_chars_ok(name);
}

/* s broke the protocol: its VM ends crashed, the shell is killed. */
static void shell_violation(struct kvm_shell *s, const char *why)
{
	char reason[LV_REASON_MAX];

	if (s->bad)
		return;
	s->bad = true;
	snprintf(reason, sizeof(reason), "shell protocol violation: %s", why);
	lv__log(s->d->h, LV_LOG_WARN, "%s: shell %d: %s; killing it",
		s->vm ? s->vm->info.name : "(no VM)", s->pid, reason);
	if (s->vm && !lv_state_is_final(s->vm->info.state))
		lv__vm_state(s->vm, LV_ST_CRASHED, reason);
	shell_send(s, KVM_MSG_DESTROY);
	timed_add(s, lv_now_ns());   /* the next tick kills it */
}

static void shell_exit_msg(struct kvm_shell *s, const struct kvm_msg *m)
{
	struct lv_vm *vm = s->vm;
	char text[KVM_MSG_TEXT];
	struct kvm_msg ack = { .type = KVM_MSG_EXIT_ACK };

	if (!s->exited)   /* heard: the shell need not wait for another agent */
		kvm_sendmsg(s->fd, &ack, sizeof(ack), NULL, 0);
	s->exited = true;
	if (!vm)
		return;
	shell_text(text, m->text, sizeof(text));
	switch (m->kind) {
	case KVM_XK_POWEROFF:
		vm->info.exit_code = m->code;
		lv__vm_state(vm, LV_ST_SHUTOFF, text);
		break;
	case KVM_XK_CRASH:
		lv__log(s->d->h, LV_LOG_INFO, "%s: crashed: %s", vm->info.name, text);
		lv__vm_state(vm, LV_ST_CRASHED, text);
		break;
	case KVM_XK_ERROR:
		lv__vm_failed(vm, (int)m->code, text[0] ? text : NULL);
		break;
	case KVM_XK_DESTROYED:
		if (s->forced_off)
			lv__vm_state(vm, LV_ST_SHUTOFF, "forced off: the guest ignored the shutdown request");
		break;
	default:
		lv__vm_state(vm, LV_ST_CRASHED, "shell sent an unknown exit kind");
	}
	/* when it ended, not when we heard (a lingering shell, after a restart) */
	if (lv_state_is_final(vm->info.state) && m->wall_ns &&
	    (int64_t)m->wall_ns <= vm->info.t_final)
		vm->info.t_final = (int64_t)m->wall_ns;
}

/* Flight-recorder times from a shell: 0 (not reached) or in the past. */
/* The core's phase of a shell's flight-recorder slot (KVM_T_CLAIMED ..). */
static enum lv_phase kvm_phase(int i)
{
	static const enum lv_phase ph[KVM_T_NR] = {
		[KVM_T_PREPARED] = LV_PH_NR, [KVM_T_CLAIMED] = LV_PH_CLAIMED,
		[KVM_T_LOADED] = LV_PH_LOADED, [KVM_T_DEVICES] = LV_PH_DEVICES,
		[KVM_T_STARTED] = LV_PH_STARTED, [KVM_T_READY] = LV_PH_READY,
		[KVM_T_KERNEL] = LV_PH_KERNEL, [KVM_T_INIT] = LV_PH_INIT,
	};

	return i >= 0 && i < KVM_T_NR ? ph[i] : LV_PH_NR;
}

static bool times_ok(const struct kvm_msg *m)
{
	int64_t now = lv_now_ns();

	for (int i = 0; i < KVM_T_NR; i++)
		if (m->t[i] < 0 || m->t[i] > now)
			return false;
	return true;
}

/* A HELLO's fields: state, name (the core's rule), id, times. */
static bool hello_ok(const struct kvm_msg *m, const char *name)
{
	uint32_t st = m->kind & ~KVM_HS_READY_BIT;

	if (st > KVM_HS_EXITED || ((m->kind & KVM_HS_READY_BIT) && st != KVM_HS_PAUSED))
		return false;
	return shell_name_ok(name) && m->id != 0 && times_ok(m);
}

/* The shell of a VM with no record (torn, set aside, or never written)
 * says it runs a guest: adopt it under the name and id it gives, if both
 * are free, rather than destroy a live guest.  When the record was
 * written before the shell's pid was (lv_vm_restore kept it aside), the
 * VM gets back its image and address from there.  0 with s->vm set, or
 * -errno (the caller destroys it). */
static int shell_adopt(struct kvm_shell *s, const struct kvm_msg *m, const char *name)
{
	struct kvm_driver *d = s->d;
	uint32_t st = m->kind & ~KVM_HS_READY_BIT;
	struct lv_vm_info info;
	struct lv_vm *vm;
	bool recorded;
	int rc;

	if (st != KVM_HS_BOOTING && st != KVM_HS_RUNNING && st != KVM_HS_PAUSED)
		return -ENOENT;              /* no guest (prepared) or ended */
	if (m->code <= 0 || (uint64_t)m->code > (1ull << 40))
		return -EINVAL;              /* an older shell: memory unknown */
	if (lv_vm_lookup(d->h, name) || lv_vm_by_id(d->h, m->id))
		return -EEXIST;
	recorded = lv__vm_limbo_take(d->h, name, m->id, &info);
	if (!recorded) {
		memset(&info, 0, sizeof(info));
		snprintf(info.name, sizeof(info.name), "%s", name);
		info.id = m->id;
		snprintf(info.image, sizeof(info.image), "unknown");
		info.vcpus = 1;
	}
	info.state = LV_ST_BOOTING;
	info.mem_bytes = (uint64_t)m->code;   /* what the guest has */
	info.pid = s->pid;
	snprintf(info.console_path, sizeof(info.console_path), "%s/%s.log", d->console_dir, name);
	d->adopting = s;                 /* kvm_attach takes this channel */
	rc = lv_vm_restore(d->h, &info, &vm);
	d->adopting = NULL;
	if (rc)
		return rc;
	if (recorded)
		lv__log(d->h, LV_LOG_INFO, "%s: shell %d runs the guest of its record (written before the shell's pid): re-attached",
			name, s->pid);
	else
		lv__log(d->h, LV_LOG_WARN, "%s: shell %d has no record but runs a guest: adopted (image and address unknown)",
			name, s->pid);
	return 0;
}

/* No VM for this shell: destroy it (and the console log of its name). */
static void shell_orphan_destroy(struct kvm_shell *s, const char *name)
{
	s->orphan = true;
	lv__log(s->d->h, LV_LOG_WARN, "restart: destroying shell %d of half-created VM '%s' (no record)",
		s->pid, name);
	if (!lv_vm_lookup(s->d->h, name)) {   /* name checked by hello_ok */
		char path[400];

		snprintf(path, sizeof(path), "%s/%s.log", s->d->console_dir, name);
		unlink(path);
	}
	s->attaching = false;
	shell_send(s, KVM_MSG_DESTROY);
	timed_add(s, lv_now_ns() + DESTROY_KILL_NS);
}

/* A re-attached shell says who it is and where its guest is. */
static void shell_hello(struct kvm_shell *s, const struct kvm_msg *m)
{
	struct lv_vm *vm = s->vm;
	char name[KVM_MSG_NAME];
	uint32_t st = m->kind & ~KVM_HS_READY_BIT;

	if (!(s->attaching || s->orphan) || s->hello_seen) {
		shell_violation(s, "HELLO outside a re-attach");
		return;
	}
	s->hello_seen = true;
	shell_text(name, m->name, sizeof(name));
	if (!hello_ok(m, name)) {
		shell_violation(s, "malformed HELLO");
		return;
	}
	if (s->orphan || !vm || strcmp(name, vm->info.name) || m->id != vm->info.id) {
		if (vm) {             /* the pid now belongs to another shell */
			s->reset_owed = false;
			log_settle(s);
			lv__log(s->d->h, LV_LOG_WARN, "%s: pid %d is now the shell of '%s': the VM died while the agent was down",
				vm->info.name, s->pid, name);
			s->vm = NULL;
			vm->drv = NULL;
			lv__vm_state(vm, LV_ST_CRASHED, "died while the agent was down");
			lv__vm_released(vm);
		}
		if (shell_adopt(s, m, name)) {
			shell_orphan_destroy(s, name);
			return;
		}
		vm = s->vm;
	}
	s->attaching = false;
	timed_del(s);
	log_adopt(s, vm);
	if (st == KVM_HS_EXITED) {   /* its EXIT follows */
		lv__log(s->d->h, LV_LOG_INFO, "%s: ended while the agent was down; shell %d kept its exit",
			vm->info.name, s->pid);
		return;
	}
	for (int i = KVM_T_CLAIMED; i < KVM_T_NR; i++)
		if (m->t[i])
			lv__vm_phase(vm, kvm_phase(i), m->t[i]);
	/* The agent before may have died with this shell on one CPU and the
	 * boot slice (a burst's until its log was named, shell_booted): they
	 * come back now, or at READY if the guest still boots. */
	s->placed = s->d->spread != NULL;
	s->slice_done = false;
	if (st != KVM_HS_BOOTING)
		shell_reset(s);
	if (st == KVM_HS_PAUSED)
		lv__vm_state(vm, LV_ST_PAUSED, NULL);
	else if (st == KVM_HS_RUNNING && vm->info.state != LV_ST_SHUTTING_DOWN)
		lv__vm_state(vm, LV_ST_RUNNING, NULL);
	else if (st == KVM_HS_BOOTING && vm->info.state == LV_ST_PREPARED)
		lv__vm_state(vm, LV_ST_BOOTING, NULL);
	if (vm->info.state == LV_ST_SHUTTING_DOWN)   /* ask again, with a new deadline */
		if (shell_send(s, KVM_MSG_POWEROFF) == 0)
			timed_add(s, lv_now_ns() + (int64_t)s->d->h->cfg.shutdown_timeout_ms * 1000000);
	lv__log(s->d->h, LV_LOG_INFO, "%s: re-attached to shell %d (%s)", vm->info.name, s->pid,
		lv_state_name(vm->info.state));
	lv__vm_reattached(vm);
}

/* ---- preloads: pooled unikernel shells hold the last image a pooled
 * spawn started loaded in guest memory (shell_msg.h, PRELOAD), so that
 * the next spawn of it sends no image and the shell loads nothing: the
 * issue's "shells pooled per image with the image already loaded".  A
 * spawn of another image zeroes the preload in the shell that takes it
 * and loads its own, and becomes the image the pool preloads.  Ready
 * shells get it only while the agent is idle (kvm_tick, preload_some):
 * sent to each refill as it came, a PRELOAD and its answer were work on
 * the CPUs of claimed shells while spawns came one after the other (the
 * p99 of bench-p99 -b up to 4x the base's, and 69x in one round). */

/* The largest image file pooled shells preload: each ready shell holds
 * it in guest memory, so a pool of N costs up to N times this much
 * more.  LightVM's own images are 40-300 KiB. */
#define PRELOAD_MAX (1ll << 20)

/* PRELOAD the current image into s, a ready pooled unikernel shell
 * that has not been sent it.  Best effort: a shell without the preload
 * loads the image at its EXEC. */
static void preload_send(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;
	struct kvm_msg m = { .type = KVM_MSG_PRELOAD };

	if (d->pre.fd < 0 || s->vm || s->exited || s->bad || !s->slot.fl ||
	    s->pre_sent == d->pre.token || lv__pool_flavor_kind(s->slot.fl) != LV_KIND_UNIKERNEL)
		return;
	m.code = d->pre.token;
	if (kvm_sendmsg(s->fd, &m, sizeof(m), &d->pre.fd, 1) >= 0)
		s->pre_sent = d->pre.token;
}

/* PRELOADED: s holds the image its last PRELOAD named, or could not
 * load it.  Only a pooled shell's answer to its last PRELOAD counts (a
 * claimed shell's guest may have taken it over; an older PRELOAD's
 * answer is stale); a preload is only ever a shortcut. */
static void shell_preloaded(struct kvm_shell *s, const struct kvm_msg *m)
{
	struct kvm_driver *d = s->d;
	char why[LV_REASON_MAX];

	if (s->vm || !s->pre_sent || m->code != s->pre_sent)
		return;
	if (m->kind == 0) {
		s->pre_token = m->code;
		return;
	}
	if (m->code == d->pre.token && !d->pre.warned) {
		d->pre.warned = true;
		shell_text(why, m->text, sizeof(why) < sizeof(m->text) ? sizeof(why) : sizeof(m->text));
		lv__log(d->h, LV_LOG_WARN, "kvm: a pooled shell cannot hold the last spawned image "
			"loaded (each spawn of it loads it then): %s", why);
	}
}

/* A unikernel spawn of image_fd on shell s: PRE_HELD if s holds it
 * preloaded, PRE_SENT if s has been sent its PRELOAD and not answered
 * yet (the shell reads that first: it holds the image when it reads the
 * EXEC, or loads it from the fd the EXEC brings too), else PRE_NONE; an
 * image that is not the preloaded one becomes it. */
enum { PRE_NONE, PRE_HELD, PRE_SENT };

/* fd (st) becomes the image the pool preloads, under a new token. */
static void preload_take(struct kvm_driver *d, int fd, const struct stat *st)
{
	if (d->pre.fd >= 0)
		close(d->pre.fd);
	d->pre.fd = fd;
	d->pre.st = *st;
	d->pre.token++;
	d->pre.stale = true;
	d->pre.warned = false;
}

static int preload_hit(struct kvm_shell *s, int image_fd, const struct stat *known)
{
	struct kvm_driver *d = s->d;
	struct stat st;
	bool follows;
	int fd;

	if (known)
		st = *known;
	else if (fstat(image_fd, &st) < 0)
		return PRE_NONE;
	if (d->pre.fd >= 0 && lv__same_file(&st, &d->pre.st))
		return s->pre_token == d->pre.token ? PRE_HELD :
		       s->pre_sent == d->pre.token ? PRE_SENT : PRE_NONE;
	/* only "last" follows the spawns, and a named image its own file
	 * changed in place; the pool's memory: the image in every shell */
	follows = d->pre.mode == LV_PRELOAD_LAST ||
		  (d->pre.mode == LV_PRELOAD_IMAGE && d->pre.fd >= 0 &&
		   st.st_dev == d->pre.st.st_dev && st.st_ino == d->pre.st.st_ino);
	if (!follows || st.st_size > PRELOAD_MAX)
		return PRE_NONE;
	fd = fcntl(image_fd, F_DUPFD_CLOEXEC, 3);
	if (fd >= 0)
		preload_take(d, fd, &st);
	return PRE_NONE;
}

/* The pool's lv_pool_preload: an image (held until set again), "last"
 * (the next pooled spawn's image becomes it) or "off" (none; shells
 * that hold one keep it until their spawn zeroes it). */
static int kvm_preload(struct lv_driver *drv, int mode, int image_fd, const struct stat *st,
		       char *err, size_t errlen)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	int fd, rc;

	if (mode == LV_PRELOAD_IMAGE) {
		if (st->st_size > PRELOAD_MAX) {
			snprintf(err, errlen, "preload: the image is %lld KiB; pooled shells hold at most "
				 "%lld KiB (each one holds a copy)", (long long)st->st_size >> 10,
				 PRELOAD_MAX >> 10);
			return -EFBIG;
		}
		if (!(d->pre.fd >= 0 && lv__same_file(st, &d->pre.st))) {   /* already it: kept */
			fd = fcntl(image_fd, F_DUPFD_CLOEXEC, 3);
			if (fd < 0) {
				rc = -errno;
				snprintf(err, errlen, "preload: %s", strerror(-rc));
				return rc;
			}
			preload_take(d, fd, st);
		}
	} else if (mode == LV_PRELOAD_OFF && d->pre.fd >= 0) {
		close(d->pre.fd);
		d->pre.fd = -1;
		d->pre.stale = false;
	}
	d->pre.mode = mode;
	return 0;
}

static void shell_prepared(struct kvm_shell *s)
{
	s->prepared = true;
	/* not kept: the pool shrank while it prepared */
	if (s->slot.fl && !lv__pool_ready(s->d->h, s->slot.fl, &s->slot))
		shell_send(s, KVM_MSG_DESTROY);
	else if (s->slot.fl && s->d->pre.fd >= 0)
		s->d->pre.stale = true;   /* preloaded when the agent is idle */
}

/* SAVED: the shell holds its guest; write the file, then let it run on
 * (keep, or a failure) or stop it. */
static void shell_saved(struct kvm_shell *s, const struct kvm_msg *m)
{
	char err[LV_REASON_MAX] = "";
	int mode = s->save_mode;
	int rc;

	if (!s->saving || !s->vm || m->code > 0 || m->code < -4095) {
		shell_violation(s, "SAVED without a SAVE, or a bad code");
		return;
	}
	if (m->code < 0) {
		shell_text(err, m->text, sizeof(err) < sizeof(m->text) ? sizeof(err) : sizeof(m->text));
		save_end(s, (int)m->code, err, LV_SAVE_KEEP);
		return;
	}
	timed_del(s);              /* it answered (kvm_save's deadline) */
	lv__vm_save_paused(s->vm, lv_now_ns());
	rc = kvm_snap_write_from(s->pid, s->save_state, s->save_fd, &s->vm->info, err, sizeof(err));
	if (rc)
		mode = LV_SAVE_KEEP;   /* the guest runs on */
	if (mode == LV_SAVE_KEEP)
		shell_send(s, KVM_MSG_UNPAUSE);
	if (mode == LV_SAVE_STOP) {   /* killed if it does not exit (kvm_tick) */
		shell_send(s, KVM_MSG_DESTROY);
		s->forced_off = true;
		timed_add(s, lv_now_ns() + DESTROY_KILL_NS);
	}
	save_end(s, rc, err, mode);   /* LV_SAVE_HOLD: held until told */
}

/* The kernel's time slice and the agent's CPUs back for a booted shell
 * (factory.h).  Only for a live shell: its pid is not another's. */
static void shell_reset(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;

	s->reset_owed = false;
	if (d->slice_ns && d->sched_known && !s->slice_done) {
		s->slice_done = true;
		kvm_sched_default(s->pid, &d->sched);
	}
	if (s->placed) {
		s->placed = false;
		sched_setaffinity(s->pid, sizeof(d->spread->cpus), &d->spread->cpus);
	}
}

/* A shell's guest is ready: its slice and CPUs back, and refills may run
 * (pool.h).  A burst's shell gets them back with its log's naming, when
 * the agent is idle (log_settle_some): two scheduler calls of the
 * agent's per VM out of the burst. */
static void shell_booted(struct kvm_shell *s)
{
	if (s->burst && s->log_pending)
		s->reset_owed = true;
	else
		shell_reset(s);
	if (boot_end(s))
		lv__pool_refill(s->d->h);
}

/* The guest started (STARTED, or a READY that stands for it too). */
static void shell_started(struct lv_vm *vm, const struct kvm_msg *m)
{
	for (int i = KVM_T_CLAIMED; i <= KVM_T_STARTED; i++)
		lv__vm_phase(vm, kvm_phase(i), m->t[i]);
	lv__vm_state(vm, LV_ST_BOOTING, NULL);
}

static void shell_msg(struct kvm_shell *s, const struct kvm_msg *m)
{
	struct lv_vm *vm = s->vm;

	if (m->type == KVM_MSG_PREPARED) {
		if (s->prepared)
			shell_violation(s, "PREPARED twice or after a re-attach");
		else
			shell_prepared(s);
		return;
	}
	if (m->type == KVM_MSG_HELLO) {
		shell_hello(s, m);
		return;
	}
	if (m->type == KVM_MSG_EXIT) {
		shell_exit_msg(s, m);
		return;
	}
	if (m->type == KVM_MSG_SAVED) {
		shell_saved(s, m);
		return;
	}
	if (m->type == KVM_MSG_PRELOADED) {
		shell_preloaded(s, m);
		return;
	}
	if ((m->type < KVM_MSG_STARTED || m->type > KVM_MSG_UNPAUSED) && m->type != KVM_MSG_PHASE) {
		shell_violation(s, "unknown message type");
		return;
	}
	if (!times_ok(m)) {
		shell_violation(s, "times out of range");
		return;
	}
	if (!vm)
		return;
	switch (m->type) {
	case KVM_MSG_STARTED:
		shell_started(vm, m);
		break;
	case KVM_MSG_PHASE:   /* a Linux boot's: kernel entered, init started */
		for (int i = KVM_T_KERNEL; i <= KVM_T_INIT; i++)
			if (m->t[i] && !vm->info.t[kvm_phase(i)])
				lv__vm_phase(vm, kvm_phase(i), m->t[i]);
		break;
	case KVM_MSG_READY:
		if (!vm->info.t[LV_PH_STARTED] && vm->info.state == LV_ST_PREPARED)
			shell_started(vm, m);   /* a READY without STARTED says both */
		lv__vm_phase(vm, LV_PH_READY, m->t[KVM_T_READY]);
		if (lv_state_is_booting(vm->info.state))
			lv__vm_state(vm, LV_ST_RUNNING, NULL);
		shell_booted(s);
		break;
	case KVM_MSG_PAUSED:
		lv__vm_state(vm, LV_ST_PAUSED, NULL);
		break;
	case KVM_MSG_UNPAUSED:
		/* an unpause sent on the way to a shutdown keeps shutting-down */
		if (vm->info.state == LV_ST_PAUSED)
			lv__vm_state(vm, vm->info.t[LV_PH_READY] ? LV_ST_RUNNING : LV_ST_BOOTING, NULL);
		break;
	}
}

/* One message per call: the loop's epoll is level-triggered, so a shell
 * with more waiting is called again in the next turn.  Reading on until
 * EAGAIN cost a second recvmsg for almost every message (a boot sends
 * one: READY). */
static void shell_cb(void *arg, int fd, uint32_t events)
{
	struct kvm_shell *s = arg;
	struct kvm_msg m;
	int sfd = -1, n = 1;
	ssize_t r = kvm_recvmsg(fd, &m, sizeof(m), &sfd, &n);

	if (r == -EAGAIN)
		return;
	if (r <= 0) {
		shell_gone(s);
		return;
	}
	if (r != sizeof(m) || m.type != KVM_MSG_PRELOADED)   /* a preload is idle work */
		s->d->last_busy = lv_now_ns();
	if (r != sizeof(m) || s->bad) {
		if (n > 0)
			close(sfd);
		if (r != sizeof(m))
			shell_violation(s, "bad message size");
		return;
	}
	if (n > 0 && (m.type == KVM_MSG_PREPARED || m.type == KVM_MSG_HELLO))
		shell_map_stats(s, sfd);
	else if (n > 0)
		close(sfd);
	shell_msg(s, &m);
}

static struct kvm_shell *shell_new(struct kvm_driver *d, int fd, pid_t pid)
{
	struct kvm_shell *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->d = d;
	s->fd = fd;
	s->logfd = -1;
	s->pid = pid;
	if (d->h->cfg.loop.watch(d->h->cfg.loop.ctx, fd, shell_cb, s)) {
		free(s);
		return NULL;
	}
	return s;
}

static void pool_log_path(struct kvm_driver *d, pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/.pool-%d.log", d->console_dir, (int)pid);
}

/* Console logs of pooled shells are created when the shell joins the
 * pool: creating a file costs tens of microseconds on ext4, which the
 * spawn path should not pay.  At EXEC the file is renamed. */
#define FREE_LOGS_MAX 20000

static void free_log_path(struct kvm_driver *d, uint32_t k, char *buf, size_t len)
{
	snprintf(buf, len, "%s/.free-%u.log", d->console_dir, k);
}

static void pool_log_create(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;
	char path[512], old[512];

	pool_log_path(d, s->pid, path, sizeof(path));
	/* reuse a destroyed VM's file: a new ext4 inode can cost a
	 * millisecond once many have been deleted */
	while (d->nfree) {
		free_log_path(d, d->free_logs[--d->nfree], old, sizeof(old));
		if (rename(old, path) == 0)
			break;
	}
	s->logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
}

static void kvm_log_release(struct lv_driver *drv, const char *path)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	char name[512];

	if (d->nfree == d->free_cap && d->free_cap < FREE_LOGS_MAX) {
		size_t cap = d->free_cap ? d->free_cap * 2 : 256;
		uint32_t *p = realloc(d->free_logs, cap * sizeof(*p));

		if (p) {
			d->free_logs = p;
			d->free_cap = cap;
		}
	}
	if (d->nfree < d->free_cap) {
		free_log_path(d, ++d->free_seq, name, sizeof(name));
		if (truncate(path, 0) == 0 && rename(path, name) == 0) {
			d->free_logs[d->nfree++] = d->free_seq;
			return;
		}
	}
	unlink(path);
}

static void pool_log_drop(struct kvm_shell *s)
{
	char path[512];

	if (s->logfd < 0)
		return;
	close(s->logfd);
	s->logfd = -1;
	pool_log_path(s->d, s->pid, path, sizeof(path));
	unlink(path);
}

/*
 * A pooled shell's console log is named after its VM (NAME.log) when the
 * agent is idle, not as the VM starts (a rename in the console directory
 * cost ~30 µs, a third of the agent's time in `spawn 1000`), or at once
 * when someone opens the log (lv_vm_console_log), when the shell ends
 * (unless its VM is being destroyed: then the file is recycled as it is)
 * or when too many wait.  After a kill -9 of the agent, the next one
 * names it when it re-attaches the shell (log_adopt).
 */
#define LOG_PENDING_MAX 1024
#define LOG_PENDING_NS (200ll * 1000000)   /* named by then, busy or not */
#define LOG_QUIET_NS (10ll * 1000000)      /* idle: no EXEC, no shell message for this long */

static void log_pending_del(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;

	if (!s->log_pending)
		return;
	s->log_pending = false;
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		d->log_head = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	else
		d->log_tail = s->lprev;
	s->lprev = s->lnext = NULL;
	d->nlog_pending--;
}

static void log_pending_add(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;

	s->log_pending = true;
	s->log_since = lv_now_ns();
	s->lnext = NULL;
	s->lprev = d->log_tail;
	if (d->log_tail)
		d->log_tail->lnext = s;
	else
		d->log_head = s;
	d->log_tail = s;
	d->nlog_pending++;
}

/* Name s's VM's log NAME.log now (or recycle it: VM being destroyed),
 * and give a burst's booted shell its slice and CPUs back (shell_booted). */
static void log_settle(struct kvm_shell *s)
{
	struct kvm_driver *d = s->d;
	struct lv_vm *vm = s->vm;
	char old[512];

	if (s->reset_owed)
		shell_reset(s);
	if (!s->log_pending)
		return;
	log_pending_del(s);
	pool_log_path(d, s->pid, old, sizeof(old));
	if (!vm || !vm->info.console_path[0]) {
		unlink(old);
		return;
	}
	if (vm->destroying) {   /* kvm_log_release's work on the file as it is */
		vm->info.console_path[0] = 0;
		kvm_log_release((struct lv_driver *)d, old);
		return;
	}
	if (rename(old, vm->info.console_path) < 0) {
		lv__log(d->h, LV_LOG_WARN, "%s: console log %s: %s", vm->info.name,
			vm->info.console_path, strerror(errno));
		unlink(old);
		vm->info.console_path[0] = 0;
	}
}

static void kvm_log_settle(struct lv_driver *drv, struct lv_vm *vm)
{
	struct kvm_shell *s = vm->drv;

	if (s)
		log_settle(s);
}

/* Name pending logs: up to 64 when idle; when busy, those waiting too
 * long or beyond the cap (oldest first).  A burst of spawns
 * is busy until its guests are all ready. */
static void log_settle_some(struct kvm_driver *d, int64_t now)
{
	unsigned over = d->nlog_pending > LOG_PENDING_MAX ? d->nlog_pending - LOG_PENDING_MAX : 0;
	unsigned idle = now - d->last_busy < LOG_QUIET_NS ? 0 : 64;
	struct kvm_shell *s = d->log_head;

	while (s) {
		struct kvm_shell *p = s->lnext;

		if (over)
			over--;
		else if (idle)
			idle--;
		else if (now - s->log_since < LOG_PENDING_NS)
			break;
		log_settle(s);
		s = p;
	}
}

/* A re-attached shell's VM whose log the previous agent never named. */
static void log_adopt(struct kvm_shell *s, struct lv_vm *vm)
{
	char old[512];
	struct stat st;

	pool_log_path(s->d, s->pid, old, sizeof(old));
	if (!vm->info.console_path[0] || stat(old, &st) || !S_ISREG(st.st_mode))
		return;
	if (rename(old, vm->info.console_path) == 0)
		lv__log(s->d->h, LV_LOG_INFO, "%s: console log named after the restart (%s)",
			vm->info.name, vm->info.console_path);
}

/* The console log fd for vm: the shell's pre-created one (renamed to the
 * VM's name), else a new file.  Caller closes. */
static int open_console_log(struct kvm_shell *s, struct lv_vm *vm, bool *rename_pool_log)
{
	struct kvm_driver *d = s->d;
	int fd;

	snprintf(vm->info.console_path, sizeof(vm->info.console_path), "%s/%s.log",
		 d->console_dir, vm->info.name);
	if (s->logfd >= 0) {   /* renamed by shell_exec once EXEC is out */
		fd = s->logfd;
		s->logfd = -1;
		*rename_pool_log = true;
		return fd;
	}
	fd = open(vm->info.console_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = -errno;
		lv__log(d->h, LV_LOG_ERR, "%s: console log %s: %s", vm->info.name,
			vm->info.console_path, strerror(errno));
		vm->info.console_path[0] = 0;
		return e;
	}
	return fd;
}

/* The VM has a NIC (its address was given at spawn): fill the EXEC
 * message and return a tap for it (the caller closes it), or -errno. */
static int net_exec(struct kvm_driver *d, struct lv_vm *vm, struct kvm_msg *m)
{
	int tap = lv__net_tap(d->h, vm->info.mac);

	if (tap < 0) {
		lv__log(d->h, LV_LOG_ERR, "%s: no tap: %s", vm->info.name, strerror(-tap));
		return tap;
	}
	memcpy(m->net_mac, vm->info.mac, sizeof(m->net_mac));
	m->net_mtu = LV_NET_MTU;
	m->net_ipv4 = vm->info.ipv4;
	lv__net_guest_config(d->h, &m->net_netmask, &m->net_gateway);
	return tap;
}

/* A claimed shell gets one CPU until READY (factory.h, kvm_spread): a
 * burst's shell the next of the round robin, a single spawn's the
 * agent's own.  The agent sleeps right after the EXEC, and the kernel
 * then picks the short-slice shell over any other fair task there;
 * woken where the kernel chose, a single spawn's shell went to the other
 * CPU when the agent's had a second task, and waited there for the task
 * running on it to use up its slice (up to a 4 ms tick, ftrace of 1,000
 * single spawns with the other core busy) while the agent's CPU idled.
 * Best effort: a shell left where the kernel puts it still boots. */
static void shell_place(struct kvm_shell *s, bool burst)
{
	int self = sched_getcpu();
	int cpu = burst ? kvm_spread_next(s->d->spread, self) : self;
	cpu_set_t one;

	if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &s->d->spread->cpus))
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	s->placed = sched_setaffinity(s->pid, sizeof(one), &one) == 0;
	s->burst = burst;
}

/* Hand vm to shell s and send EXEC (boot: a Linux guest's arguments). */
static int shell_exec(struct kvm_shell *s, struct lv_vm *vm, int image_fd,
		      const struct kvm_boot *boot)
{
	struct kvm_driver *d = s->d;
	struct kvm_msg m = { .type = KVM_MSG_EXEC };
	struct timespec ts;
	int fds[4], logfd, nfds, tap = -1;
	bool rename_pool_log = false, burst;
	int pre;
	ssize_t r;

	logfd = open_console_log(s, vm, &rename_pool_log);
	if (logfd < 0)
		return logfd;
	clock_gettime(CLOCK_REALTIME, &ts);
	m.wall_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	m.id = vm->info.id;
	m.boot_timeout_ms = d->h->cfg.boot_timeout_ms;
	m.watchdog_s = vm->watchdog_s;
	m.kind = (vm->from_snapshot ? KVM_EXEC_SNAPSHOT : 0) | (vm->hold_start ? KVM_EXEC_HOLD : 0) |
		 (vm->snap_copy ? KVM_EXEC_COPY : 0);
	snprintf(m.name, sizeof(m.name), "%s", vm->info.name);
	/* a pooled shell holding the image loaded gets none (preload_hit) */
	pre = boot || vm->from_snapshot ? PRE_NONE : preload_hit(s, image_fd, vm->image_st);
	if (pre != PRE_NONE) {
		m.kind |= KVM_EXEC_PRELOADED;
		m.code = pre == PRE_HELD ? s->pre_token : s->pre_sent;
	}
	nfds = 0;
	if (pre != PRE_HELD)
		fds[nfds++] = image_fd;
	fds[nfds++] = logfd;
	if (vm->info.ipv4) {
		tap = fds[nfds++] = net_exec(d, vm, &m);
		if (tap < 0) {
			close(logfd);
			return tap;
		}
	}
	if (boot) {
		m.boot = KVM_BOOT_LINUX;
		m.cmdline_len = (uint32_t)strlen(boot->cmdline);
		if (m.boot_timeout_ms && m.boot_timeout_ms < LINUX_BOOT_TIMEOUT_MS)
			m.boot_timeout_ms = LINUX_BOOT_TIMEOUT_MS;
		if (boot->ramdisk_fd >= 0) {
			m.boot |= KVM_BOOT_INITRD;
			fds[nfds++] = boot->ramdisk_fd;
		}
	}
	/* a single Linux boot takes seconds: left to the kernel */
	burst = vm->spawn && vm->spawn->burst > 1;
	if (d->spread && !s->placed && (burst || !boot))
		shell_place(s, burst);
	r = kvm_sendmsg(s->fd, &m, sizeof(m), fds, nfds);
	/* the command line: the next packet, read right after EXEC */
	if (r >= 0 && m.cmdline_len)
		r = kvm_sendmsg(s->fd, boot->cmdline, m.cmdline_len, NULL, 0);
	close(logfd);
	if (tap >= 0)
		close(tap);
	d->last_busy = lv_now_ns();
	if (rename_pool_log && r < 0) {
		char old[512];

		pool_log_path(d, s->pid, old, sizeof(old));
		unlink(old);
		vm->info.console_path[0] = 0;
	}
	if (r < 0)
		return (int)r;
	if (rename_pool_log)     /* named later, off the spawn path */
		log_pending_add(s);
	s->vm = vm;
	vm->drv = s;
	vm->info.pid = s->pid;
	vm->info.preloaded = pre == PRE_HELD;
	return 0;
}

/* ---- factory */

static void boot_free(struct kvm_boot *b)
{
	if (b && b->ramdisk_fd >= 0)
		close(b->ramdisk_fd);
	free(b);
}

static void req_free(struct kvm_req *rq)
{
	if (rq->image_fd >= 0)
		close(rq->image_fd);
	boot_free(rq->boot);
	free(rq);
}

static void pump(struct kvm_driver *d)
{
	while (d->unsent && d->inflight < FACTORY_INFLIGHT) {
		struct kvm_req *rq = d->unsent;
		struct kvm_factory_req fr = { .magic = KVM_FACTORY_MAGIC,
					      .vcpus = rq->vcpus, .mem_bytes = rq->mem,
					      .flags = (rq->fl ? KVM_FACTORY_BACKGROUND : 0) |
						       (rq->boot || rq->linux_shell ?
							KVM_FACTORY_LINUX : 0) };
		ssize_t r = kvm_sendmsg(d->fac_fd, &fr, sizeof(fr), NULL, 0);

		if (r == -EAGAIN)
			return;
		d->unsent = rq->next;
		if (!d->unsent)
			d->unsent_tail = NULL;
		if (rq == d->unsent_last_spawn)
			d->unsent_last_spawn = NULL;
		rq->next = NULL;
		if (r < 0) {
			lv__log(d->h, LV_LOG_ERR, "shell factory: %s", strerror((int)-r));
			if (rq->vm)
				lv__vm_failed(rq->vm, (int)r, "the shell factory is gone");
			if (rq->fl)
				lv__pool_failed(d->h, rq->fl);
			req_free(rq);
			continue;
		}
		if (d->sent_tail)
			d->sent_tail->next = rq;
		else
			d->sent = rq;
		d->sent_tail = rq;
		d->inflight++;
	}
}

/* Spawns queue before every refill (in their own order): a spawn never
 * waits behind the pool's background work. */
static void queue_req(struct kvm_driver *d, struct kvm_req *rq)
{
	if (rq->vm) {
		struct kvm_req *after = d->unsent_last_spawn;

		if (after) {
			rq->next = after->next;
			after->next = rq;
		} else {
			rq->next = d->unsent;
			d->unsent = rq;
		}
		if (d->unsent_tail == after)
			d->unsent_tail = rq;
		d->unsent_last_spawn = rq;
	} else {
		rq->next = NULL;
		if (d->unsent_tail)
			d->unsent_tail->next = rq;
		else
			d->unsent = rq;
		d->unsent_tail = rq;
	}
	pump(d);
}

/* The pool's prepare: a background request to the factory (queued
 * after every spawn); the shell joins the pool when it says PREPARED. */
static int kvm_prepare(struct lv_driver *drv, struct lv_pool_flavor *fl, uint64_t mem,
		       uint32_t vcpus)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	struct kvm_req *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return -ENOMEM;
	rq->fl = fl;
	rq->mem = mem;
	rq->vcpus = vcpus;
	rq->image_fd = -1;
	rq->linux_shell = lv__pool_flavor_kind(fl) == LV_KIND_LINUX;
	queue_req(d, rq);
	return 0;
}

static void factory_reply(struct kvm_driver *d, const struct kvm_factory_rep *rep, int fd)
{
	struct kvm_req *rq = d->sent;
	struct kvm_shell *s = NULL;
	int rc = rep->err;

	d->sent = rq->next;
	if (!d->sent)
		d->sent_tail = NULL;
	d->inflight--;
	if (!rc && fd < 0)
		rc = -EBADMSG;
	if (!rc) {
		s = shell_new(d, fd, rep->pid);
		if (!s) {
			close(fd);
			kill(rep->pid, SIGKILL);
			rc = -ENOMEM;
		}
	} else if (fd >= 0) {
		close(fd);
	}
	if (rq->vm && (rq->vm->destroying || lv_state_is_final(rq->vm->info.state))) {
		/* destroyed while waiting for its shell */
		if (s)
			shell_send(s, KVM_MSG_DESTROY);
		if (!rq->vm->released)
			lv__vm_released(rq->vm);
	} else if (rq->vm) {
		if (!rc)
			rc = shell_exec(s, rq->vm, rq->image_fd, rq->boot);
		if (rc) {
			if (s)
				shell_send(s, KVM_MSG_DESTROY);
			lv__vm_failed(rq->vm, rc, "cannot create a shell");
			lv__vm_released(rq->vm);
		}
	} else if (rq->fl && !rc) {
		lv__pool_made(d->h, rq->fl, &s->slot);   /* preparing until PREPARED */
		pool_log_create(s);
	}
	if (rc) {
		lv__log(d->h, LV_LOG_ERR, "shell factory: cannot create a shell: %s%s", strerror(-rc),
			rc == -EAGAIN ? " (no process id left? see kernel.pid_max and kernel.threads-max)" : "");
		lv__pool_failed(d->h, rq->fl);   /* refills retry in 1 s */
	}
	req_free(rq);
}

static void factory_cb(void *arg, int fd, uint32_t events)
{
	struct kvm_driver *d = arg;

	for (;;) {
		struct kvm_factory_rep rep;
		int sfd = -1, n = 1;
		ssize_t r = kvm_recvmsg(fd, &rep, sizeof(rep), &sfd, &n);

		if (r == -EAGAIN)
			break;
		if (r <= 0 || !d->sent) {
			lv__log(d->h, LV_LOG_ERR, "shell factory died; no new VMs can be created");
			d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, fd);
			if (n > 0 && sfd >= 0)
				close(sfd);
			return;
		}
		if (r != sizeof(rep)) {
			if (n > 0 && sfd >= 0)
				close(sfd);
			rep.err = -EBADMSG;
			sfd = -1;
		}
		factory_reply(d, &rep, n > 0 ? sfd : -1);
	}
	lv__pool_refill(d->h);
	pump(d);
}

/* ---- ops */

static bool is_shell(pid_t pid);

/* Pre-created logs of a previous agent's pool shells (which exited with
 * it) are garbage; the log of a live shell may be a VM's the previous
 * agent had not named yet (log_adopt; sweep_logs removes the rest). */
static void remove_stale_pool_logs(struct kvm_driver *d)
{
	DIR *dir = opendir(d->console_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		pid_t pid = strncmp(de->d_name, ".pool-", 6) == 0 ? atoi(de->d_name + 6) : 0;

		if (pid > 0 && is_shell(pid)) {
			struct old_log *p = realloc(d->old_logs, (d->nold_logs + 1) * sizeof(*p));

			if (p) {
				d->old_logs = p;
				d->old_logs[d->nold_logs++] = (struct old_log){ pid, de->d_ino };
				continue;
			}
		}
		if (pid || strncmp(de->d_name, ".free-", 6) == 0)
			unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
}

/* Make dir (0700) or take the one there: a directory, not a link, ours,
 * writable by no one else (a restarted agent trusts the sockets in it to
 * be its shells').  NULL, or why not. */
static const char *own_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return strerror(errno);
	if (lstat(dir, &st))
		return strerror(errno);
	if (!S_ISDIR(st.st_mode))
		return "not a directory";
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		return "owned by another user or writable by others";
	return NULL;
}

/* The shells' sockets: in the agent's run directory (a tmpfs on a
 * standard host: binding a socket on ext4 cost a refill's shell ~0.7 ms
 * of kernel time that no spawn could preempt, the inode allocator
 * skipping recently deleted inodes), else in STATE/shells as before.  A
 * shell is at most a 7-digit pid: its path must fit a sockaddr_un. */
static int sock_dir_setup(struct kvm_driver *d)
{
	struct lv_host *h = d->h;
	const char *run = h->cfg.run_dir;
	char legacy[256];

	snprintf(legacy, sizeof(legacy), "%s/shells", h->state_dir);
	if (run && *run && strlen(run) + sizeof("/shells/4194304.sock") <= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		const char *why = own_dir(run);

		if (why)
			lv__log(h, LV_LOG_WARN, "kvm: run directory %s: %s; the shells listen in %s",
				run, why, legacy);
		else {
			snprintf(d->sock_dir, sizeof(d->sock_dir), "%s/shells", run);
			why = own_dir(d->sock_dir);
			if (!why) {
				struct stat st;

				/* an older agent's shells, if any, still listen there */
				if (stat(legacy, &st) == 0 && S_ISDIR(st.st_mode))
					snprintf(d->old_sock_dir, sizeof(d->old_sock_dir), "%s", legacy);
				return 0;
			}
			lv__log(h, LV_LOG_WARN, "kvm: %s: %s; the shells listen in %s", d->sock_dir,
				why, legacy);
		}
	}
	snprintf(d->sock_dir, sizeof(d->sock_dir), "%s", legacy);
	if (mkdir(d->sock_dir, 0700) && errno != EEXIST) {
		int rc = -errno;

		lv__log(h, LV_LOG_ERR, "kvm: %s: %s", d->sock_dir, strerror(errno));
		return rc;
	}
	return 0;
}

static int kvm_open(struct lv_host *h, struct lv_driver **out)
{
	struct kvm_driver *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->h = h;
	d->fac_fd = -1;
	d->pre.fd = -1;
	d->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (d->kvm_fd < 0) {
		rc = -errno;
		lv__log(h, LV_LOG_ERR, "kvm: /dev/kvm: %s", strerror(errno));
		goto err;
	}
	snprintf(d->console_dir, sizeof(d->console_dir), "%s/console", h->state_dir);
	if (mkdir(d->console_dir, 0750) && errno != EEXIST) {
		rc = -errno;
		lv__log(h, LV_LOG_ERR, "kvm: %s: %s", d->console_dir, strerror(errno));
		goto err;
	}
	remove_stale_pool_logs(d);
	rc = sock_dir_setup(d);
	if (rc)
		goto err;
	d->slice_ns = kvm_boot_slice_ns();
	d->sched_known = kvm_sched_base_read(&d->sched) == 0;   /* before the factory: theirs */
	d->spread = malloc(sizeof(*d->spread));
	if (d->spread && !kvm_spread_init(d->spread)) {
		free(d->spread);
		d->spread = NULL;
	}
	rc = kvm_factory_start(d->kvm_fd, d->sock_dir, d->slice_ns, &d->fac_fd, &d->fac_pid);
	if (rc) {
		lv__log(h, LV_LOG_ERR, "kvm: cannot start the shell factory: %s", strerror(-rc));
		goto err;
	}
	rc = h->cfg.loop.watch(h->cfg.loop.ctx, d->fac_fd, factory_cb, d);
	if (rc)
		goto err;
	*out = (struct lv_driver *)d;
	return 0;
err:
	if (d->fac_fd >= 0)
		close(d->fac_fd);
	if (d->kvm_fd >= 0)
		close(d->kvm_fd);
	free(d->spread);
	free(d);
	return rc;
}

static void kvm_close(struct lv_driver *drv)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;

	for (struct lv_vm *vm = d->h->first; vm; vm = vm->next) {
		struct kvm_shell *s = vm->drv;
		if (s) {      /* the shell keeps running; a new agent re-attaches */
			d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, s->fd);
			close(s->fd);
			timed_del(s);
			shell_free(s, false);
			vm->drv = NULL;
		}
	}
	for (struct kvm_shell *s = d->timed, *n; s; s = n) {   /* orphans */
		n = s->tnext;
		if (s->vm)
			continue;
		d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, s->fd);
		close(s->fd);
		shell_free(s, false);
	}
	for (struct kvm_req *rq = d->unsent, *n; rq; rq = n) {
		n = rq->next;
		req_free(rq);
	}
	for (struct kvm_req *rq = d->sent, *n; rq; rq = n) {
		n = rq->next;
		req_free(rq);
	}
	d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, d->fac_fd);
	close(d->fac_fd);
	close(d->kvm_fd);
	if (d->pre.fd >= 0)
		close(d->pre.fd);
	free(d->free_logs);
	free(d->old_logs);
	free(d->spread);
	free(d);
}

#define SLOT_SHELL(p) ((struct kvm_shell *)((char *)(p) - offsetof(struct kvm_shell, slot)))

/* A ready shell the pool no longer wants: it exits on EOF. */
static void kvm_discard(struct lv_driver *drv, struct lv_pool_slot *slot)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	struct kvm_shell *s = SLOT_SHELL(slot);

	d->h->cfg.loop.unwatch(d->h->cfg.loop.ctx, s->fd);
	close(s->fd);
	pool_log_drop(s);
	shell_free(s, true);
}

/* A Linux kernel's ramdisk and command line, from the spawn; a
 * unikernel takes neither (-EINVAL). */
static int boot_args(struct kvm_driver *d, struct lv_vm *vm, int image_fd, struct kvm_boot **out)
{
	const struct lv_spawn *sp = vm->spawn;
	struct kvm_boot *b;
	bool is_linux, wants_net;

	*out = NULL;
	if (sp)   /* lv_vm_spawn looked at the image already */
		is_linux = vm->image_linux;
	else if (lv__image_traits(image_fd, NULL, &is_linux, &wants_net))
		is_linux = false;
	if (!is_linux) {
		if (sp && (sp->ramdisk || sp->cmdline)) {
			lv__log(d->h, LV_LOG_ERR, "%s: ramdisk= and cmdline= are for Linux kernels; %s is a unikernel",
				vm->info.name, vm->info.image);
			return -EINVAL;
		}
		return 0;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ramdisk_fd = -1;
	if (sp && sp->cmdline && strlen(sp->cmdline) > KVM_MSG_CMDLINE_MAX) {
		free(b);
		return -E2BIG;
	}
	if (sp && sp->cmdline)
		snprintf(b->cmdline, sizeof(b->cmdline), "%s", sp->cmdline);
	if (sp && sp->ramdisk) {
		b->ramdisk_fd = lv__open_regular(sp->ramdisk);
		if (b->ramdisk_fd < 0) {
			int rc = b->ramdisk_fd;

			lv__log(d->h, LV_LOG_ERR, "%s: ramdisk %s: %s", vm->info.name, sp->ramdisk, strerror(-rc));
			free(b);
			return rc;
		}
	}
	*out = b;
	return 0;
}

static int kvm_start(struct lv_driver *drv, struct lv_vm *vm, int image_fd)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	struct lv_pool_slot *slot;
	struct kvm_req *rq;
	struct kvm_boot *boot;
	int brc = boot_args(d, vm, image_fd, &boot);

	if (brc)
		return brc;
	/* a Linux guest claims a shell prepared for Linux (IRQ chip, PIT,
	 * CPUID), a unikernel one prepared for unikernels */
	slot = lv__pool_claim_kind(d->h, vm->info.mem_bytes, vm->info.vcpus,
				   boot ? LV_KIND_LINUX : LV_KIND_UNIKERNEL);
	if (slot) {
		struct kvm_shell *s = SLOT_SHELL(slot);
		int rc = shell_exec(s, vm, image_fd, boot);

		boot_free(boot);
		if (rc) {
			shell_send(s, KVM_MSG_DESTROY);
			return rc;
		}
		vm->info.pooled = true;
		s->booting = true;   /* refills wait for its READY (pool.h) */
		lv__pool_booting(d->h, true);
		return 0;
	}
	rq = calloc(1, sizeof(*rq));
	if (!rq) {
		boot_free(boot);
		return -ENOMEM;
	}
	rq->vm = vm;
	rq->mem = vm->info.mem_bytes;
	rq->vcpus = vm->info.vcpus;
	rq->boot = boot;
	rq->image_fd = fcntl(image_fd, F_DUPFD_CLOEXEC, 3);
	if (rq->image_fd < 0) {
		req_free(rq);
		return -errno;
	}
	queue_req(d, rq);
	return 0;
}

#define SHELL_OF(vm) ((struct kvm_shell *)(vm)->drv)

static int kvm_simple(struct lv_vm *vm, uint32_t type)
{
	struct kvm_shell *s = SHELL_OF(vm);

	if (!s || s->exited)
		return -ESRCH;
	return shell_send(s, type);
}

static int kvm_pause(struct lv_driver *d, struct lv_vm *vm) { return kvm_simple(vm, KVM_MSG_PAUSE); }
static int kvm_unpause(struct lv_driver *d, struct lv_vm *vm) { return kvm_simple(vm, KVM_MSG_UNPAUSE); }
static int kvm_reboot(struct lv_driver *d, struct lv_vm *vm) { return kvm_simple(vm, KVM_MSG_REBOOT); }

/* Console input: KVM_MSG_CONSOLE_IN messages of up to KVM_MSG_TEXT bytes. */
static int kvm_console_input(struct lv_driver *d, struct lv_vm *vm, const void *buf, size_t len)
{
	struct kvm_shell *s = SHELL_OF(vm);
	const char *p = buf;

	if (!s || s->exited)
		return -ESRCH;
	while (len) {
		struct kvm_msg m = { .type = KVM_MSG_CONSOLE_IN };
		size_t n = len < sizeof(m.text) ? len : sizeof(m.text);
		ssize_t r;

		memcpy(m.text, p, n);
		m.code = (int64_t)n;
		r = kvm_sendmsg(s->fd, &m, sizeof(m), NULL, 0);
		if (r < 0)
			return (int)r;
		p += n;
		len -= n;
	}
	return 0;
}

static int kvm_save(struct lv_driver *drv, struct lv_vm *vm, int fd, int mode)
{
	struct kvm_shell *s = SHELL_OF(vm);
	struct kvm_msg m = { .type = KVM_MSG_SAVE };
	int st, out;
	ssize_t r;

	if (!s || s->exited || s->bad)
		return -ESRCH;
	if (s->saving)
		return -EBUSY;
	st = kvm_snap_state_fd(vm->info.mem_bytes);
	if (st < 0)
		return st;
	out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (out < 0) {
		close(st);
		return -errno;
	}
	r = kvm_sendmsg(s->fd, &m, sizeof(m), &st, 1);
	if (r < 0) {
		close(st);
		close(out);
		return (int)r;
	}
	s->saving = true;
	s->save_mode = mode;
	s->save_fd = out;
	s->save_state = st;
	timed_add(s, lv_now_ns() + SAVE_ANSWER_NS);   /* kvm_tick: no answer */
	return 0;
}

static int kvm_shutdown(struct lv_driver *drv, struct lv_vm *vm)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	struct kvm_shell *s = SHELL_OF(vm);
	int rc = kvm_simple(vm, vm->info.state == LV_ST_PAUSED ? KVM_MSG_UNPAUSE : KVM_MSG_POWEROFF);

	if (!rc && vm->info.state == LV_ST_PAUSED)
		rc = kvm_simple(vm, KVM_MSG_POWEROFF);
	if (!rc)
		timed_add(s, lv_now_ns() + (int64_t)d->h->cfg.shutdown_timeout_ms * 1000000);
	return rc;
}

static int kvm_destroy(struct lv_driver *drv, struct lv_vm *vm)
{
	struct kvm_shell *s = SHELL_OF(vm);

	if (!s)     /* still waiting for its shell: factory_reply finishes */
		return 0;
	if (!s->exited)
		shell_send(s, KVM_MSG_DESTROY);
	timed_add(s, lv_now_ns() + DESTROY_KILL_NS);
	return 0;
}

/* Is pid one of our shell processes (and not a recycled pid)? */
static bool is_shell(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (!(f = fopen(path, "r")))
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	return strcmp(comm, "lightvm-shell\n") == 0;
}

/* Shells of a restart that have not said who they are yet. */
static bool reattach_pending(struct kvm_driver *d)
{
	for (struct kvm_shell *s = d->timed; s; s = s->tnext)
		if ((s->attaching || s->orphan) && !s->hello_seen)
			return true;
	return false;
}

/*
 * After a restart, once every shell has said who it is: a console log
 * that no VM names is what a spawn the old agent never finished left (a
 * log named before the record was, a shell the factory never forked).
 * Its name is a VM name, or it is left alone.
 */
static void sweep_logs(struct kvm_driver *d)
{
	DIR *dir = opendir(d->console_dir);
	struct dirent *e;
	char name[LV_VM_NAME_MAX];

	while (dir && (e = readdir(dir))) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len < 5 || len - 4 >= sizeof(name) ||
		    strcmp(e->d_name + len - 4, ".log"))
			continue;
		memcpy(name, e->d_name, len - 4);
		name[len - 4] = 0;
		if (!lv__name_chars_ok(name) || lv_vm_lookup(d->h, name))
			continue;
		if (unlinkat(dirfd(dir), e->d_name, 0) == 0)
			lv__log(d->h, LV_LOG_INFO, "restart: console log of '%s', a spawn that never finished: removed",
				name);
	}
	if (dir)
		closedir(dir);
	/* a previous agent's pool shells' logs (not named by log_adopt) */
	for (size_t k = 0; k < d->nold_logs; k++) {
		char path[512];

		struct stat st;

		pool_log_path(d, d->old_logs[k].pid, path, sizeof(path));
		if (stat(path, &st) == 0 && st.st_ino == d->old_logs[k].ino)   /* not a new shell's */
			unlink(path);
	}
	free(d->old_logs);
	d->old_logs = NULL;
	d->nold_logs = 0;
}

struct preload_walk {
	struct kvm_driver *d;
	unsigned budget;
	bool left;
};

static void preload_one(void *arg, struct lv_pool_slot *slot)
{
	struct preload_walk *w = arg;
	struct kvm_shell *s = SLOT_SHELL(slot);

	if (s->pre_sent == w->d->pre.token || lv__pool_flavor_kind(slot->fl) != LV_KIND_UNIKERNEL)
		return;
	if (!w->budget) {
		w->left = true;
		return;
	}
	w->budget--;
	preload_send(s);
}

/* Idle (no EXEC, no shell message but PRELOADED, for PRELOAD_QUIET_NS):
 * the image to preload into up to 64 ready shells that hold another.
 * Longer than the 10 ms of the logs' naming: a gap of 10 ms between
 * single spawns (a client's own work, a busy CPU) is common, and a
 * preload then is work beside the next claimed shell. */
#define PRELOAD_QUIET_NS (100ll * 1000000)

static void preload_some(struct kvm_driver *d, int64_t now)
{
	struct preload_walk w = { .d = d, .budget = 64 };

	if (!d->pre.stale || now - d->last_busy < PRELOAD_QUIET_NS)
		return;
	lv__pool_walk(d->h, preload_one, &w);
	d->pre.stale = w.left;
}

static void kvm_tick(struct lv_driver *drv, int64_t now)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;

	if (d->sweep_logs && !reattach_pending(d)) {
		d->sweep_logs = false;
		sweep_logs(d);
	}
	log_settle_some(d, now);
	preload_some(d, now);
	for (struct kvm_shell *s = d->timed; s; s = s->tnext) {
		if (now < s->kill_at)
			continue;
		if (s->vm && !s->vm->destroying && s->vm->info.state == LV_ST_SHUTTING_DOWN &&
		    !s->forced_off) {
			s->forced_off = true;
			lv__log(d->h, LV_LOG_WARN, "%s: ignored the shutdown request; forcing it off",
				s->vm->info.name);
			shell_send(s, KVM_MSG_DESTROY);
			s->kill_at = now + DESTROY_KILL_NS;
		} else if (s->saving && !s->bad) {
			shell_violation(s, "no answer to SAVE");
		} else if (s->attaching || s->orphan) {
			lv__log(d->h, LV_LOG_WARN, "%s: shell %d does not answer after the restart; killing it",
				s->vm ? s->vm->info.name : "(no record)", s->pid);
			if (is_shell(s->pid))
				kill(s->pid, SIGKILL);
			s->kill_at = now + DESTROY_KILL_NS;
		} else if (s->bad || (s->vm && (s->vm->destroying || s->forced_off))) {
			lv__log(d->h, LV_LOG_WARN, "%s: shell %d does not exit; killing it",
				s->vm ? s->vm->info.name : "(no VM)", s->pid);
			kill(s->pid, SIGKILL);
			s->kill_at = now + DESTROY_KILL_NS;
		}
	}
}

/* ---- stats and restarts */

/* A shell busy since its stats page last said so for longer than this:
 * its CPU time is read from the kernel, not assumed (kvm_stats). */
#define BUSY_ASK_NS (1000ll * 1000000)

/* The shell process's CPU time, from the kernel. */
static bool shell_cpu_ns(pid_t pid, uint64_t *out)
{
	clockid_t cid;
	struct timespec ts;

	if (clock_getcpuclockid(pid, &cid) || clock_gettime(cid, &ts))
		return false;
	*out = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return true;
}

static void kvm_stats(struct lv_driver *drv, const struct lv_vm *vm, struct lv_vm_stats *out)
{
	const struct kvm_shell *s = SHELL_OF(vm);
	const struct kvm_stats_page *p = s ? s->sp : NULL;
	int64_t run = 0;
	uint32_t seq, flags = 0;
	int tries = 0;
	bool asked;

	if (!p) {
		out->console_bytes = lv_vm_console_bytes(vm);
		return;
	}
	do {                     /* seqlock read; a stuck writer is not waited for */
		seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		out->cpu_ns = p->cpu_ns;
		run = !p->idle && p->busy_since > 0 ? lv_now_ns() - p->busy_since : 0;
		out->rss_bytes = p->rss_bytes;
		flags = p->flags;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (((seq & 1) || seq != __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE)) && ++tries < 4);
	/* Busy since the page's last word: counted as busy all along (a
	 * unikernel's shell writes the page at its hypercalls), except for a
	 * guest that halts inside KVM_RUN (the shell says so on the page, so
	 * this holds for a VM re-attached after a restart too): its shell
	 * never says idle, and counting its whole uptime as CPU showed every
	 * idle Linux VM at 100 %; the kernel is asked instead.  The flag only
	 * chooses the kernel's count, which a shell cannot forge. */
	asked = run > BUSY_ASK_NS && (flags & KVM_STATS_HALTS_IN_RUN) &&
		shell_cpu_ns(s->pid, &out->cpu_ns);
	if (!asked && run > 0)
		out->cpu_ns += (uint64_t)run;
	out->console_bytes = __atomic_load_n(&p->console_bytes, __ATOMIC_RELAXED);
	out->net_rx_packets = p->net_rx_packets;
	out->net_rx_bytes = p->net_rx_bytes;
	out->net_tx_packets = p->net_tx_packets;
	out->net_tx_bytes = p->net_tx_bytes;
	out->net_tx_drops = __atomic_load_n(&p->net_tx_drops, __ATOMIC_RELAXED);
}

static int connect_path(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

/* Connect to a running shell's socket; the shell answers with HELLO.
 * One an older agent started may listen in STATE/shells. */
static int shell_connect(struct kvm_driver *d, pid_t pid, int *out)
{
	char path[300];
	int rc;

	sock_path(d, pid, path, sizeof(path));
	rc = connect_path(path, out);
	if (rc && d->old_sock_dir[0]) {
		sock_path_in(d->old_sock_dir, pid, path, sizeof(path));
		if (connect_path(path, out) == 0)
			return 0;
	}
	return rc;
}

static int kvm_attach(struct lv_driver *drv, struct lv_vm *vm)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	struct kvm_shell *s;
	int fd, rc;

	if (d->adopting && d->adopting->pid == vm->info.pid) {
		s = d->adopting;     /* shell_adopt: its channel is open already */
		s->vm = vm;
		s->orphan = false;
		vm->drv = s;
		return 0;
	}
	rc = shell_connect(d, vm->info.pid, &fd);
	if (rc) {
		char path[300];

		sock_path(d, vm->info.pid, path, sizeof(path));
		unlink(path);
		return -ESRCH;
	}
	s = shell_new(d, fd, vm->info.pid);
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->vm = vm;
	s->prepared = true;
	s->attaching = true;
	vm->drv = s;
	timed_add(s, lv_now_ns() + 5000000000ll);
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a < *(const pid_t *)b ? -1 : *(const pid_t *)a > *(const pid_t *)b;
}

/* Sockets no record claims in dir: stale ones are removed; a live one is
 * the shell of a half-created VM (EXEC sent, record not yet written),
 * which is destroyed when its HELLO arrives. */
static void restore_scan(struct kvm_driver *d, const char *dirname, const pid_t *claimed, size_t n)
{
	DIR *dir = opendir(dirname);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char *end, path[300];
		long pid = strtol(e->d_name, &end, 10);
		pid_t key = (pid_t)pid;
		struct kvm_shell *s;
		int fd;

		if (pid <= 0 || strcmp(end, ".sock"))
			continue;
		if (claimed && bsearch(&key, claimed, n, sizeof(*claimed), cmp_pid))
			continue;
		sock_path_in(dirname, key, path, sizeof(path));
		if (connect_path(path, &fd)) {
			unlink(path);
			continue;
		}
		s = shell_new(d, fd, key);
		if (!s) {
			close(fd);
			continue;
		}
		s->orphan = true;
		timed_add(s, lv_now_ns() + 5000000000ll);
	}
	closedir(dir);
}

static void kvm_restore_done(struct lv_driver *drv)
{
	struct kvm_driver *d = (struct kvm_driver *)drv;
	pid_t *claimed = calloc(d->h->count + 1, sizeof(*claimed));
	size_t n = 0;

	for (struct lv_vm *vm = d->h->first; claimed && vm; vm = vm->next)
		if (vm->drv)
			claimed[n++] = SHELL_OF(vm)->pid;
	if (claimed)
		qsort(claimed, n, sizeof(*claimed), cmp_pid);
	restore_scan(d, d->sock_dir, claimed, n);
	if (d->old_sock_dir[0])
		restore_scan(d, d->old_sock_dir, claimed, n);
	free(claimed);
	d->sweep_logs = true;
}

const struct lv_driver_ops lv_kvm_ops = {
	.name = "kvm",
	.watchdog = true,
	.boot_args = true,   /* Linux guests (kvm_start refuses them for unikernels) */
	.open = kvm_open,
	.close = kvm_close,
	.start = kvm_start,
	.pause = kvm_pause,
	.unpause = kvm_unpause,
	.shutdown = kvm_shutdown,
	.reboot = kvm_reboot,
	.console_input = kvm_console_input,
	.destroy = kvm_destroy,
	.tick = kvm_tick,
	.prepare = kvm_prepare,
	.pool_linux = true,
	.discard = kvm_discard,
	.pool_limits = { .max_inflight = REFILL_INFLIGHT, .quiet_ns = REFILL_QUIET_NS,
			 .low_div = REFILL_LOW_DIV, .hold_ns = REFILL_HOLD_NS },
	.log_release = kvm_log_release,
	.log_settle = kvm_log_settle,
	.stats = kvm_stats,
	.preload = kvm_preload,
	.stats_console = true,
	.attach = kvm_attach,
	.restore_done = kvm_restore_done,
	.adopts = true,
	.save = kvm_save,
};
