/*
 * control.c - the control socket: accepts clients, reads frames
 * (header validated before the body is read, body size bounded by
 * LV_FRAME_MAX), unpacks requests and queues replies.  A malformed frame
 * gets an error reply and the connection is closed; the agent carries on.
 *
 * What a client may cost is bounded before the work is done (budget.h,
 * lightvmd(8) LIMITS): the frame header's type and length are checked
 * against the client's role (a read-only client cannot send a large
 * body), the body buffer grows only as bytes arrive, the operation's
 * tag and length (the body's first bytes) are checked against the
 * frame's size as soon as they arrive, and the complete body's
 * top-level field is checked against the role before protobuf unpacks
 * anything (admit.c reads those fields).  Replies apply back-pressure: past
 * pause_pending queued bytes the agent stops reading the client's
 * requests until it reads its replies; past max_pending it is dropped.
 * A frame must complete within read-timeout; a connection that asks
 * nothing and holds nothing is closed after idle-timeout.  Connections
 * are capped per uid and in all (root is exempt); at the fd limit accept
 * backs off for a tick with one log line per 10 s, and a spare fd lets
 * the waiting peer be told (closed) rather than left hanging.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "budget.h"
#include "frame.h"

#define BODY_CHUNK 4096u            /* first body allocation */
#define IN_BUF 256u                 /* read at a frame's start: its header and a
				     * small body in one recv (client_read) */
#define ACCEPT_BACKOFF_NS 100000000ll

struct client {
	struct client *next, *prev;   /* live clients (control_tick) */
	int fd;
	int refs;
	bool closing;      /* close once the output is flushed */
	bool dead;         /* fd closed; kept for waiters holding a ref */
	uint32_t ev;       /* epoll events asked for */
	uint8_t hdr[LV_FRAME_HDR];
	size_t hdr_got;
	struct lv_frame_hdr h;
	uint8_t *body;
	size_t body_got, body_cap;
	uint8_t *out;      /* pending output */
	size_t out_len, out_off, out_cap;
	int64_t t_frame;   /* first byte of a partial frame */
	int64_t t_active;  /* last request read or output sent */
	bool op_checked;   /* the body's first field was checked (body_peek) */
	uint8_t in[IN_BUF]; /* bytes read at a frame's start, not yet taken */
	uint16_t in_off, in_len;
	unsigned budget[CB_NR];
	pid_t pid;
	uid_t uid;
	enum acl_role role;   /* acl.c, decided at accept */
};

static int listen_fd = -1;
static char sock_path[108];
static unsigned nclients;
static struct client *clients;
static int spare_fd = -1;             /* given up to tell a peer at EMFILE */
static int64_t accept_resume;         /* accept paused until (0: not) */

/* ---- per-uid connection counts: one entry per uid connected now */
struct uid_count { uid_t uid; unsigned n; unsigned budget[CB_NR]; };
static struct uid_count *uids;
static size_t nuids, uids_cap;

static struct uid_count *uid_find(uid_t uid)
{
	for (size_t i = 0; i < nuids; i++)
		if (uids[i].uid == uid)
			return &uids[i];
	return NULL;
}

static struct uid_count *uid_add(uid_t uid)
{
	struct uid_count *u = uid_find(uid);

	if (u)
		return u;
	if (nuids == uids_cap) {
		size_t cap = uids_cap ? uids_cap * 2 : 16;

		u = realloc(uids, cap * sizeof(*u));
		if (!u)
			return NULL;
		uids = u;
		uids_cap = cap;
	}
	uids[nuids] = (struct uid_count){ .uid = uid };
	return &uids[nuids++];
}

/* Forget u once it has no connection and holds no budget. */
static void uid_release(struct uid_count *u)
{
	for (int b = 0; b < CB_NR; b++)
		if (u->budget[b])
			return;
	if (u->n == 0)
		*u = uids[--nuids];
}

static void uid_put(uid_t uid)
{
	struct uid_count *u = uid_find(uid);

	if (u && u->n) {
		u->n--;
		uid_release(u);
	}
}

static struct alog_limit lim_drop, lim_refuse;   /* per kind of warning */
static struct alog_limit lim_accept = { .burst = 1 };   /* each back-off would log */

static void client_close(struct client *c)
{
	if (c->dead)
		return;
	loop_del(c->fd);
	close(c->fd);
	c->dead = true;
	nclients--;
	if (c->uid != 0)
		uid_put(c->uid);
	if (c->prev)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->body);
	c->body = NULL;
	free(c->out);
	c->out = NULL;
	alog(LV_LOG_DEBUG, "client pid %d disconnected", (int)c->pid);
	client_unref(c);
}

bool client_alive(const struct client *c)
{
	return !c->dead;
}

void client_ref(struct client *c)
{
	c->refs++;
}

void client_unref(struct client *c)
{
	if (--c->refs == 0)
		free(c);
}

size_t client_pending(const struct client *c)
{
	return c->dead ? 0 : c->out_len - c->out_off;
}

/* Read requests only while the replies are being read (back-pressure);
 * write interest while output is queued. */
static void client_events(struct client *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (!c->closing && client_pending(c) < g_limits.pause_pending)
		ev |= EPOLLIN;
	if (client_pending(c))
		ev |= EPOLLOUT;
	if (ev != c->ev && loop_mod(c->fd, ev) == 0)
		c->ev = ev;
}

static void client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_close(c);
			return;
		}
		c->out_off += (size_t)r;
		c->t_active = lv_now_ns();
	}
	if (c->out_off == c->out_len) {
		c->out_len = c->out_off = 0;
		if (c->closing) {
			client_close(c);
			return;
		}
	} else if (c->out_off >= c->out_cap / 2) {   /* keep the queue compact */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	client_events(c);
}

void client_drop(struct client *c, const char *why)
{
	if (c->dead)
		return;
	alog_limited(&lim_drop, LV_LOG_WARN, "client pid %d uid %d: %s; closing the connection",
		     (int)c->pid, (int)c->uid, why);
	client_close(c);
}

/* A frame with msg, or with a body packed already (raw). */
static void client_queue_any(struct client *c, uint16_t type, uint32_t seq,
			     const ProtobufCMessage *msg, const ProtobufCBinaryData *raw)
{
	size_t len = msg ? protobuf_c_message_get_packed_size(msg) : raw->len, need;

	if (c->dead)
		return;
	if (len > LV_FRAME_MAX) {
		client_reply_err(c, seq, EMSGSIZE, "reply too large (%zu bytes)", len);
		return;
	}
	if (client_pending(c) && client_pending(c) + LV_FRAME_HDR + len > g_limits.max_pending) {
		char why[128];

		snprintf(why, sizeof(why), "does not read what it asked for (%zu bytes queued; max-pending-output %zu)",
			 client_pending(c), g_limits.max_pending);
		client_drop(c, why);
		return;
	}
	need = c->out_len + LV_FRAME_HDR + len;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			client_close(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	lv_frame_encode_hdr(c->out + c->out_len, type, seq, (uint32_t)len);
	if (msg)
		protobuf_c_message_pack(msg, c->out + c->out_len + LV_FRAME_HDR);
	else
		memcpy(c->out + c->out_len + LV_FRAME_HDR, raw->data, len);
	c->out_len = need;
	client_flush(c);
}

static void client_queue(struct client *c, uint16_t type, uint32_t seq,
			 const ProtobufCMessage *msg)
{
	client_queue_any(c, type, seq, msg, NULL);
}

void client_reply(struct client *c, uint32_t seq, const Lightvm__Reply *msg)
{
	records_flush();   /* no client hears of a VM the state dir lacks */
	client_queue(c, LV_FRAME_REPLY, seq, &msg->base);
}

void client_notify(struct client *c, const Lightvm__Notify *n)
{
	client_queue(c, LV_FRAME_EVENT, 0, &n->base);
}

void client_notify_packed(struct client *c, const uint8_t *body, size_t len)
{
	ProtobufCBinaryData bd = { len, (uint8_t *)body };

	client_queue_any(c, LV_FRAME_EVENT, 0, NULL, &bd);
}

uid_t client_uid(const struct client *c)
{
	return c->uid;
}

int client_fs_enter(const struct client *c)
{
	return c->dead ? -ENOTCONN : acl_fs_enter(c->fd, c->uid);
}

void client_fs_leave(void)
{
	acl_fs_leave();
}

void client_reply_err(struct client *c, uint32_t seq, int err, const char *fmt, ...)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r.has_err = true;
	r.err = err ? err : EIO;
	r.message = buf;
	client_reply(c, seq, &r);
}

/* ---- budgets */

static const struct {
	const char *what, *key, *key_uid;
	unsigned *limit, *limit_uid;
} budgets[CB_NR] = {
	[CB_ATTACH] = { "console attaches", "max-attaches", "max-attaches-per-uid",
			&g_limits.max_attaches, &g_limits.max_attaches_uid },
	[CB_WAIT] = { "pending waits", "max-waits", "max-waits-per-uid",
		      &g_limits.max_waits, &g_limits.max_waits_uid },
	[CB_SUB] = { "subscriptions", "max-subscriptions", "max-subscriptions-per-uid",
		     &g_limits.max_subs, &g_limits.max_subs_uid },
};

/* Per connection, and per user (all its connections; not root). */
int client_budget_take(struct client *c, enum client_budget b, uint32_t seq)
{
	struct uid_count *u = c->uid ? uid_find(c->uid) : NULL;

	if (c->budget[b] >= *budgets[b].limit) {
		client_reply_err(c, seq, ENOBUFS, "too many %s on this connection (%u; %s in lightvmd.conf)",
				 budgets[b].what, *budgets[b].limit, budgets[b].key);
		return -ENOBUFS;
	}
	if (u && u->budget[b] >= *budgets[b].limit_uid) {
		client_reply_err(c, seq, ENOBUFS, "too many %s for uid %d (%u; %s in lightvmd.conf)",
				 budgets[b].what, (int)c->uid, *budgets[b].limit_uid, budgets[b].key_uid);
		return -ENOBUFS;
	}
	c->budget[b]++;
	if (u)
		u->budget[b]++;
	return 0;
}

void client_budget_put(struct client *c, enum client_budget b)
{
	struct uid_count *u = c->uid ? uid_find(c->uid) : NULL;

	if (c->budget[b])
		c->budget[b]--;
	if (u && u->budget[b]) {
		u->budget[b]--;
		uid_release(u);
	}
}

/* A frame that cannot be trusted: answer (best effort) and hang up. */
static void client_protocol_error(struct client *c, uint32_t seq, int err, const char *what)
{
	alog_limited(&lim_drop, LV_LOG_WARN, "client pid %d uid %d: %s; closing the connection",
		     (int)c->pid, (int)c->uid, what);
	c->closing = true;
	client_reply_err(c, seq, err, "%s", what);
	if (!c->dead && c->out_len == 0)
		client_close(c);
}

/* ---- requests, checked before they are unpacked */

/* The access check (acl.c); a denial is replied here.  0 or -EACCES. */
static int client_acl(struct client *c, uint32_t seq, const Lightvm__Request *rq)
{
	char why[320];

	if (acl_check(c->role, c->uid, rq, why, sizeof(why)) == 0)
		return 0;
	client_reply_err(c, seq, EACCES, "%s", why);
	return -EACCES;
}

/* Size and role against the operation, before anything is unpacked:
 * 0, or -errno after replying. */
static int request_admit(struct client *c, uint32_t seq, unsigned op, const uint8_t *pl,
			 size_t pl_len)
{
	if (c->h.len > admit_op_max(op)) {
		client_protocol_error(c, seq, EMSGSIZE, "protocol error: request larger than its operation allows");
		return -EMSGSIZE;
	}
	if (admit_op_admin(op) && c->role != ACL_ADMIN) {
		Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
		Lightvm__SpawnReq sp = LIGHTVM__SPAWN_REQ__INIT;
		Lightvm__ActionReq ac = LIGHTVM__ACTION_REQ__INIT;

		/* acl_check names the operation as it would after an unpack */
		rq.op_case = (Lightvm__Request__OpCase)op;
		rq.spawn = &sp;
		if (op == LIGHTVM__REQUEST__OP_ACTION) {
			ac.action = (Lightvm__Action)admit_action(pl, pl_len);
			rq.action = &ac;
		}
		return client_acl(c, seq, &rq);
	}
	return 0;
}

static void client_frame(struct client *c)
{
	Lightvm__Request *rq;
	uint32_t seq = c->h.seq;
	const uint8_t *pl = NULL;
	size_t pl_len = 0;
	unsigned op;

	c->t_active = lv_now_ns();
	if (admit_body(c->body, c->h.len, &op, &pl, &pl_len)) {
		client_protocol_error(c, seq, EBADMSG, "protocol error: request body is not a valid Request message");
		return;
	}
	client_ref(c);
	if (request_admit(c, seq, op, pl, pl_len) == 0) {
		rq = lightvm__request__unpack(NULL, c->h.len, c->body);
		free(c->body);
		c->body = NULL;
		c->body_cap = 0;
		if (!rq) {
			client_protocol_error(c, seq, EBADMSG, "protocol error: request body is not a valid Request message");
		} else {
			if (client_acl(c, seq, rq) == 0)
				handle_request(c, seq, rq);
			lightvm__request__free_unpacked(rq, NULL);
		}
	}
	free(c->body);
	c->body = NULL;
	c->body_cap = 0;
	client_unref(c);
}

/* As soon as the body's first field (the operation's tag and length)
 * has arrived: an unknown operation, or a frame larger than its
 * operation allows, ends the connection before the rest is received or
 * allocated.  -errno after hanging up, 0 (checked, or not enough yet). */
static int body_peek(struct client *c)
{
	int rc = admit_peek(c->body, c->body_got, c->h.len);

	if (rc > 0)
		return 0;
	c->op_checked = true;
	if (rc)
		client_protocol_error(c, c->h.seq, -rc, rc == -EMSGSIZE ?
			"protocol error: request larger than its operation allows" :
			"protocol error: request body is not a valid Request message");
	return rc;
}

/* The largest body this client may send. */
static uint32_t client_max_body(const struct client *c)
{
	return c->role == ACL_ADMIN ? g_limits.max_req_admin :
	       c->role == ACL_READ ? g_limits.max_req_read : 4096;
}

/* A complete header: checked, then room for the first part of the body. */
static int client_header(struct client *c)
{
	int rc = lv_frame_decode_hdr(c->hdr, &c->h);

	if (rc) {
		client_protocol_error(c, 0, -rc, rc == -EMSGSIZE ?
			"protocol error: frame larger than the maximum size" :
			rc == -EPROTONOSUPPORT ? "protocol error: unsupported protocol version" :
			"protocol error: bad frame header");
		return rc;
	}
	if (c->h.type != LV_FRAME_REQUEST) {
		client_protocol_error(c, c->h.seq, EBADMSG, "protocol error: expected a request frame");
		return -EBADMSG;
	}
	if (c->h.len > client_max_body(c)) {
		char what[160];

		snprintf(what, sizeof(what), "protocol error: a %u-byte request exceeds this client's limit of %u bytes (%s)",
			 c->h.len, client_max_body(c),
			 c->role == ACL_ADMIN ? "max-request-admin" : "max-request-read");
		client_protocol_error(c, c->h.seq, EMSGSIZE, what);
		return -EMSGSIZE;
	}
	c->body_cap = c->h.len < BODY_CHUNK ? (c->h.len ? c->h.len : 1) : BODY_CHUNK;
	c->body = malloc(c->body_cap);
	c->body_got = 0;
	return c->body ? 0 : -ENOMEM;
}

/* Room for the next bytes of the body: it grows as they arrive. */
static int body_room(struct client *c)
{
	size_t cap;
	uint8_t *p;

	if (c->body_got < c->body_cap)
		return 0;
	cap = c->body_cap * 2 < c->h.len ? c->body_cap * 2 : c->h.len;
	p = realloc(c->body, cap);
	if (!p)
		return -ENOMEM;
	c->body = p;
	c->body_cap = cap;
	return 0;
}

/* n more body bytes are in c->body: the operation's early check, and a
 * complete frame handled.  -1 once the connection is ending. */
static int body_added(struct client *c, size_t n)
{
	c->body_got += n;
	if (!c->op_checked && body_peek(c))
		return -1;
	return 0;
}

/* A frame whose header and body are all in: reset, then handle it. */
static void frame_done(struct client *c)
{
	if (c->hdr_got == LV_FRAME_HDR && c->body_got == c->h.len) {
		c->hdr_got = 0;
		c->body_got = 0;
		c->op_checked = false;
		client_frame(c);
	}
}

/* Take up to n bytes of src (read into c->in) into the frame being
 * read: how many it took, or -1 once the connection is ending. */
static ssize_t client_take(struct client *c, const uint8_t *src, size_t n)
{
	size_t k;

	if (c->hdr_got == 0 && c->body_got == 0)
		c->t_frame = lv_now_ns();
	if (c->hdr_got < LV_FRAME_HDR) {
		k = n < LV_FRAME_HDR - c->hdr_got ? n : LV_FRAME_HDR - c->hdr_got;
		memcpy(c->hdr + c->hdr_got, src, k);
		c->hdr_got += k;
		if (c->hdr_got < LV_FRAME_HDR)
			return (ssize_t)k;
		if (client_header(c)) {
			if (!c->dead && !c->closing)
				client_close(c);
			return -1;
		}
	} else {
		if (body_room(c)) {
			client_close(c);
			return -1;
		}
		k = c->h.len - c->body_got;   /* body_room: the cap holds the next bytes */
		if (k > c->body_cap - c->body_got)
			k = c->body_cap - c->body_got;
		if (k > n)
			k = n;
		memcpy(c->body + c->body_got, src, k);
		if (body_added(c, k))
			return -1;
	}
	frame_done(c);
	return (ssize_t)k;
}

/* Read what c sent.  At a frame's start (or inside its header) one recv
 * into c->in takes the header and a small body at once; a larger body
 * is read straight into its buffer.  A read shorter than asked means the
 * socket is empty for now: no second recv to hear EAGAIN (the epoll is
 * level-triggered, and wakes again for more).  Bytes of c->in not taken
 * yet (a client that sends several frames at once) are taken before the
 * next read, and at the latest once its replies drain (client_cb). */
static void client_read(struct client *c)
{
	bool drained = false;
	int budget = 64;

	while (!c->dead && !c->closing && client_pending(c) < g_limits.pause_pending) {
		uint8_t *dst;
		size_t want;
		ssize_t r;
		bool staged;

		if (c->in_off < c->in_len) {   /* bounded by IN_BUF: not budgeted */
			r = client_take(c, c->in + c->in_off, c->in_len - c->in_off);
			if (r < 0)
				return;
			c->in_off += (uint16_t)r;
			continue;
		}
		if (drained || budget-- <= 0)
			break;
		staged = c->hdr_got < LV_FRAME_HDR;
		if (staged) {
			dst = c->in;
			want = sizeof(c->in);
		} else {
			if (body_room(c)) {
				client_close(c);
				return;
			}
			dst = c->body + c->body_got;
			want = c->body_cap - c->body_got;
		}
		r = recv(c->fd, dst, want, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (r <= 0) {
			if (c->hdr_got || c->body_got)
				alog(LV_LOG_DEBUG, "client pid %d: disconnected mid-frame", (int)c->pid);
			client_close(c);
			return;
		}
		drained = (size_t)r < want;
		if (staged) {
			c->in_off = 0;
			c->in_len = (uint16_t)r;
			continue;
		}
		if (body_added(c, (size_t)r))
			return;
		frame_done(c);
	}
	client_events(c);
}

static void client_cb(void *arg, int fd, uint32_t events)
{
	struct client *c = arg;

	client_ref(c);
	if (events & EPOLLOUT)
		client_flush(c);
	if (!c->dead && ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->in_off < c->in_len))
		client_read(c);
	client_unref(c);
}

/* ---- accepting */

/* At the fd limit: stop watching the listening socket for a tick, and
 * use the spare fd to take one waiting peer and close it (it sees EOF
 * instead of hanging). */
static void accept_backoff(int fd, int err)
{
	int cfd;

	alog_limited(&lim_accept, LV_LOG_WARN, "accept: %s; not accepting for %lld ms", strerror(err),
		     ACCEPT_BACKOFF_NS / 1000000);
	loop_mod(fd, 0);
	accept_resume = lv_now_ns() + ACCEPT_BACKOFF_NS;
	if (spare_fd >= 0 && (err == EMFILE || err == ENFILE)) {
		close(spare_fd);
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			close(cfd);
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
}

/* May this peer have one more connection?  Root always may. */
static bool admit_peer(uid_t uid, pid_t pid)
{
	struct uid_count *u;

	if (uid == 0)
		return true;
	if (nclients >= g_limits.max_clients) {
		alog_limited(&lim_refuse, LV_LOG_WARN, "client pid %d uid %d refused: %u connections (max-clients)",
			     (int)pid, (int)uid, nclients);
		return false;
	}
	u = uid_add(uid);
	if (!u || u->n >= g_limits.max_conn_uid) {
		alog_limited(&lim_refuse, LV_LOG_WARN, "client pid %d uid %d refused: %u connections from this uid (max-connections-per-uid)",
			     (int)pid, (int)uid, u ? u->n : 0);
		if (u)
			uid_release(u);
		return false;
	}
	u->n++;
	return true;
}

static struct client *client_new(int cfd)
{
	struct client *c = calloc(1, sizeof(*c));
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	if (!c)
		return NULL;
	c->fd = cfd;
	c->refs = 1;
	c->pid = -1;
	c->uid = (uid_t)-1;
	c->ev = EPOLLIN;
	c->t_active = lv_now_ns();
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->role = acl_role_of(cfd, cred.uid, cred.gid);
	}
	return c;
}

static void accept_cb(void *arg, int fd, uint32_t events)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int n = 0; n < 256; n++) {
		struct client *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				accept_backoff(fd, errno);
			return;
		}
		c = client_new(cfd);
		if (!c || !admit_peer(c->uid, c->pid)) {
			close(cfd);
			free(c);
			continue;
		}
		if (loop_add(cfd, EPOLLIN, client_cb, c)) {
			if (c->uid != 0)
				uid_put(c->uid);
			close(cfd);
			free(c);
			continue;
		}
		c->next = clients;
		if (clients)
			clients->prev = c;
		clients = c;
		nclients++;
	}
}

/* Partial frames past read-timeout, idle connections past idle-timeout,
 * and the end of an accept back-off. */
void control_tick(void)
{
	int64_t now = lv_now_ns();
	int64_t rto = (int64_t)g_limits.read_timeout_ms * 1000000;
	int64_t idle = (int64_t)g_limits.idle_timeout_s * 1000000000;
	static int64_t last;

	if (now - last < 50000000)   /* every loop iteration calls: 20 times a second is enough */
		return;
	last = now;
	if (accept_resume && now >= accept_resume && listen_fd >= 0) {
		accept_resume = 0;
		loop_mod(listen_fd, EPOLLIN);
	}
	for (struct client *c = clients, *n; c; c = n) {
		n = c->next;
		if ((c->hdr_got || c->body_got) && now - c->t_frame > rto) {
			client_drop(c, "a request frame did not complete within read-timeout");
		} else if (idle && c->refs == 1 && now - c->t_active > idle) {
			alog(LV_LOG_DEBUG, "client pid %d: idle for %u s; closing", (int)c->pid,
			     g_limits.idle_timeout_s);
			client_close(c);
		}
	}
}

int control_mkdir_parent(const char *path)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_mask;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	rc = control_mkdir_parent(path);
	if (rc) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(-rc));
		return rc;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a live agent answers on the socket: never steal it */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		close(fd);
		snprintf(err, errlen, "another lightvmd is already listening on %s", path);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old_mask = umask(0117);   /* the socket is born 0660: no chmod by path */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (rc < 0 || listen(fd, 256) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	rc = loop_add(fd, EPOLLIN, accept_cb, NULL);
	if (rc) {
		close(fd);
		return rc;
	}
	listen_fd = fd;
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	return 0;
}

/* A listening socket made by systemd (notify.c): served like our own,
 * but its file belongs to systemd and stays at close. */
int control_adopt(int fd)
{
	int rc = loop_add(fd, EPOLLIN, accept_cb, NULL);

	if (rc)
		return rc;
	listen_fd = fd;
	sock_path[0] = 0;
	return 0;
}

void control_close(void)
{
	if (listen_fd < 0)
		return;
	loop_del(listen_fd);
	close(listen_fd);
	if (sock_path[0])
		unlink(sock_path);
	listen_fd = -1;
}
