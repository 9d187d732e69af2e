/*
 * console_attach.c - `lvsh console VM`: ConsoleReq.  An attach answers
 * with the tail of the console log so far and remembers the log's size;
 * from then on, new bytes of the log (STATEDIR/console/NAME.log, written
 * by the VM's shell) go to the client as Notify{console_vm, console}
 * frames: at once when inotify says the file grew, else on the loop's
 * tick.  The log is the only source, so a client sees exactly what the
 * log holds, once.  Input bytes go to the guest (lv_vm_console_input).
 * An attach ends when the client goes, detaches, or the VM stops or is
 * destroyed (a last Notify with an event says which).  Each attach holds
 * an fd: a client may have max-attaches of them (budget.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>

#include "agent.h"
#include "budget.h"

#define TAIL_MAX    65536          /* log shown at attach */
#define CHUNK_MAX   65536          /* bytes per Notify */
#define BACKLOG_MAX (1u << 20)     /* client output queue before we wait */

struct attach {
	struct attach *next;
	struct client *c;
	uint32_t id;
	char name[LV_VM_NAME_MAX];
	int fd;                    /* the log, O_RDONLY; -1 until it exists */
	off_t off;                 /* next byte to send */
	int wd;                    /* inotify watch, -1 */
};

static struct attach *attaches;
static int ino_fd = -1;

static void notify_bytes(struct attach *a, const uint8_t *p, size_t n)
{
	Lightvm__Notify msg = LIGHTVM__NOTIFY__INIT;

	msg.console_vm = a->name;
	msg.has_console = true;
	msg.console.data = (uint8_t *)p;
	msg.console.len = n;
	client_notify(a->c, &msg);
}

static void notify_end(struct attach *a, const char *kind, const char *detail)
{
	Lightvm__Notify msg = LIGHTVM__NOTIFY__INIT;
	Lightvm__Event ev = LIGHTVM__EVENT__INIT;

	ev.kind = (char *)kind;
	ev.vm = a->name;
	ev.detail = (char *)detail;
	msg.console_vm = a->name;
	msg.event = &ev;
	client_notify(a->c, &msg);
}

/* Send what the log gained since a->off. */
static void pump(struct attach *a)
{
	uint8_t buf[CHUNK_MAX];
	ssize_t n;

	while (a->fd >= 0 && client_alive(a->c) && client_pending(a->c) < BACKLOG_MAX) {
		n = pread(a->fd, buf, sizeof(buf), a->off);
		if (n <= 0)
			return;
		a->off += n;
		notify_bytes(a, buf, (size_t)n);
	}
}

static void ino_cb(void *arg, int fd, uint32_t events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			for (struct attach *a = attaches; a; a = a->next)
				if (a->wd == ev->wd)
					pump(a);
			p += sizeof(*ev) + ev->len;
		}
}

static void watch(struct attach *a, const char *path)
{
	if (ino_fd < 0) {
		ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ino_fd >= 0 && loop_add(ino_fd, EPOLLIN, ino_cb, NULL)) {
			close(ino_fd);
			ino_fd = -1;
		}
	}
	a->wd = ino_fd >= 0 ? inotify_add_watch(ino_fd, path, IN_MODIFY) : -1;
}

/* Open the log (it may not exist yet: a VM still being created). */
static void open_log(struct attach *a, struct lv_vm *vm)
{
	const char *path;

	if (a->fd >= 0)
		return;
	path = lv_vm_console_log(vm);
	if (!*path)
		return;
	a->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (a->fd >= 0)
		watch(a, path);
}

static void drop(struct attach *a)
{
	for (struct attach **p = &attaches; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	if (a->wd >= 0) {
		bool shared = false;

		for (struct attach *o = attaches; o; o = o->next)
			shared |= o->wd == a->wd;
		if (!shared)
			inotify_rm_watch(ino_fd, a->wd);
	}
	if (a->fd >= 0)
		close(a->fd);
	client_budget_put(a->c, CB_ATTACH);
	client_unref(a->c);
	free(a);
}

/* The reply to an attach: the tail of the log before a->off. */
static void reply_tail(struct client *c, uint32_t seq, struct attach *a)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	off_t from = a->off > TAIL_MAX ? a->off - TAIL_MAX : 0;
	uint8_t *buf = malloc(TAIL_MAX);
	ssize_t n = 0;

	if (buf && a->fd >= 0)
		n = pread(a->fd, buf, (size_t)(a->off - from), from);
	r.has_log = true;
	r.log.data = buf;
	r.log.len = n > 0 ? (size_t)n : 0;
	client_reply(c, seq, &r);
	free(buf);
}

static void do_attach(struct client *c, uint32_t seq, struct lv_vm *vm)
{
	struct attach *a;

	if (client_budget_take(c, CB_ATTACH, seq))   /* each holds an fd */
		return;
	a = calloc(1, sizeof(*a));
	if (!a) {
		client_budget_put(c, CB_ATTACH);
		client_reply_err(c, seq, ENOMEM, "console: out of memory");
		return;
	}
	a->c = c;
	a->id = lv_vm_info(vm)->id;
	a->fd = a->wd = -1;
	snprintf(a->name, sizeof(a->name), "%s", lv_vm_info(vm)->name);
	open_log(a, vm);
	a->off = a->fd >= 0 ? lseek(a->fd, 0, SEEK_END) : 0;
	if (a->off < 0)
		a->off = 0;
	client_ref(c);
	a->next = attaches;
	attaches = a;
	reply_tail(c, seq, a);
	alog(LV_LOG_DEBUG, "%s: console attached", a->name);
}

void console_request(struct client *c, uint32_t seq, const Lightvm__ConsoleReq *r)
{
	struct lv_vm *vm = lv_vm_lookup(g_host, r->name);
	Lightvm__Reply ok = LIGHTVM__REPLY__INIT;
	int rc;

	if (!vm || lv_vm_destroying(vm)) {
		client_reply_err(c, seq, ENOENT, "no VM named '%s'", r->name);
		return;
	}
	if (r->has_detach && r->detach) {
		for (struct attach *a = attaches, *n; a; a = n) {
			n = a->next;
			if (a->c == c && a->id == lv_vm_info(vm)->id)
				drop(a);
		}
		client_reply(c, seq, &ok);
		return;
	}
	if (r->has_input && r->input.len) {
		rc = lv_vm_console_input(vm, r->input.data, r->input.len);
		if (rc) {
			client_reply_err(c, seq, -rc, "%s: input: %s", r->name,
					 rc == -ESRCH ? "the VM is not running" :
					 rc == -ENOTSUP ? "this driver has no console input" :
					 strerror(-rc));
			return;
		}
	}
	if (r->has_attach && r->attach) {
		do_attach(c, seq, vm);
		return;
	}
	client_reply(c, seq, &ok);
}

/* Every loop tick: output inotify missed, clients gone, VMs stopped. */
void console_tick(void)
{
	char why[LV_REASON_MAX + 64];

	for (struct attach *a = attaches, *n; a; a = n) {
		struct lv_vm *vm = lv_vm_by_id(g_host, a->id);

		n = a->next;
		if (!client_alive(a->c)) {
			drop(a);
			continue;
		}
		if (vm)
			open_log(a, vm);
		pump(a);
		if (!vm || lv_vm_destroying(vm)) {
			notify_end(a, "destroyed", "destroyed");
			drop(a);
		} else if (lv_state_is_final(lv_vm_info(vm)->state)) {
			const struct lv_vm_info *i = lv_vm_info(vm);

			if (client_pending(a->c) >= BACKLOG_MAX)
				continue;       /* the rest of the log first */
			snprintf(why, sizeof(why), "%s%s%s", lv_state_name(i->state),
				 i->reason[0] ? ": " : "", i->reason);
			notify_end(a, lv_state_name(i->state), why);
			drop(a);
		}
	}
}
