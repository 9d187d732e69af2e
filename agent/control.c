/*
 * control.c - the control socket: accepts clients, reads frames
 * (header validated before the body is read, body size bounded by
 * LV_FRAME_MAX), unpacks requests and queues replies.  A malformed frame
 * gets an error reply and the connection is closed; the agent carries on.
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
#include "frame.h"

struct client {
	int fd;
	int refs;
	bool closing;      /* close once the output is flushed */
	bool dead;         /* fd closed; kept for waiters holding a ref */
	uint8_t hdr[LV_FRAME_HDR];
	size_t hdr_got;
	struct lv_frame_hdr h;
	uint8_t *body;
	size_t body_got;
	uint8_t *out;      /* pending output */
	size_t out_len, out_off, out_cap;
	pid_t pid;
	uid_t uid;
	enum acl_role role;   /* acl.c, decided at accept */
};

static int listen_fd = -1;
static char sock_path[108];
static unsigned nclients;

static void client_close(struct client *c)
{
	if (c->dead)
		return;
	loop_del(c->fd);
	close(c->fd);
	c->dead = true;
	nclients--;
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

static void client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				loop_mod(c->fd, EPOLLIN | EPOLLOUT);
				return;
			}
			client_close(c);
			return;
		}
		c->out_off += (size_t)r;
	}
	c->out_len = c->out_off = 0;
	if (c->closing) {
		client_close(c);
		return;
	}
	loop_mod(c->fd, EPOLLIN);
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

size_t client_pending(const struct client *c)
{
	return c->dead ? 0 : c->out_len - c->out_off;
}

void client_drop(struct client *c, const char *why)
{
	if (c->dead)
		return;
	alog(LV_LOG_WARN, "client pid %d uid %d: %s; closing the connection", (int)c->pid,
	     (int)c->uid, why);
	client_close(c);
}

uid_t client_uid(const struct client *c)
{
	return c->uid;
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

/* A frame that cannot be trusted: answer (best effort) and hang up. */
static void client_protocol_error(struct client *c, uint32_t seq, int err, const char *what)
{
	alog(LV_LOG_WARN, "client pid %d: %s; closing the connection", (int)c->pid, what);
	c->closing = true;
	client_reply_err(c, seq, err, "%s", what);
	if (!c->dead && c->out_len == 0)
		client_close(c);
}

static void client_frame(struct client *c)
{
	Lightvm__Request *rq;
	uint32_t seq = c->h.seq;

	if (c->h.type != LV_FRAME_REQUEST) {
		client_protocol_error(c, seq, EBADMSG, "protocol error: expected a request frame");
		return;
	}
	rq = lightvm__request__unpack(NULL, c->h.len, c->body);
	free(c->body);
	c->body = NULL;
	if (!rq) {
		client_protocol_error(c, seq, EBADMSG, "protocol error: request body is not a valid Request message");
		return;
	}
	client_ref(c);
	if (acl_check(c, c->role, seq, rq) == 0)
		handle_request(c, seq, rq);
	lightvm__request__free_unpacked(rq, NULL);
	client_unref(c);
}

static void client_read(struct client *c)
{
	for (int budget = 64; budget > 0 && !c->dead && !c->closing; budget--) {
		ssize_t r;

		if (c->hdr_got < LV_FRAME_HDR) {
			r = recv(c->fd, c->hdr + c->hdr_got, LV_FRAME_HDR - c->hdr_got, MSG_DONTWAIT);
		} else {
			r = recv(c->fd, c->body + c->body_got, c->h.len - c->body_got, MSG_DONTWAIT);
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			if (c->hdr_got || c->body_got)
				alog(LV_LOG_DEBUG, "client pid %d: disconnected mid-frame", (int)c->pid);
			client_close(c);
			return;
		}
		if (c->hdr_got < LV_FRAME_HDR) {
			int rc;

			c->hdr_got += (size_t)r;
			if (c->hdr_got < LV_FRAME_HDR)
				continue;
			rc = lv_frame_decode_hdr(c->hdr, &c->h);
			if (rc) {
				client_protocol_error(c, 0, -rc, rc == -EMSGSIZE ?
					"protocol error: frame larger than the maximum size" :
					rc == -EPROTONOSUPPORT ? "protocol error: unsupported protocol version" :
					"protocol error: bad frame header");
				return;
			}
			c->body = malloc(c->h.len ? c->h.len : 1);
			if (!c->body) {
				client_close(c);
				return;
			}
			c->body_got = 0;
		} else {
			c->body_got += (size_t)r;
		}
		if (c->hdr_got == LV_FRAME_HDR && c->body_got == c->h.len) {
			c->hdr_got = 0;
			c->body_got = 0;
			client_frame(c);
		}
	}
}

static void client_cb(void *arg, int fd, uint32_t events)
{
	struct client *c = arg;

	client_ref(c);
	if (events & EPOLLOUT)
		client_flush(c);
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		client_read(c);
	client_unref(c);
}

static void accept_cb(void *arg, int fd, uint32_t events)
{
	for (;;) {
		struct client *c;
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				alog(LV_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->refs = 1;
		c->pid = -1;
		c->uid = (uid_t)-1;
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
			c->pid = cred.pid;
			c->uid = cred.uid;
			c->role = acl_role_of(cfd, cred.uid, cred.gid);
		}
		if (loop_add(cfd, EPOLLIN, client_cb, c)) {
			close(cfd);
			free(c);
			continue;
		}
		nclients++;
	}
}

static int mkdir_parent(const char *path)
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
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	rc = mkdir_parent(path);
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
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 256) < 0) {
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
