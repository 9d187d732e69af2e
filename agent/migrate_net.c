/*
 * migrate_net.c - migrations between machines (issue 14):
 * `lvsh migrate VM HOST:PORT`.  migrate.c runs a migration the same way
 * for both kinds of destination; for HOST:PORT each of its requests goes
 * over a TCP stream of its own, to a destination agent that set
 * `migrate-listen = ADDR:PORT` and both agents read the same key file
 * (`migrate-key = FILE`).
 *
 * The stream: the listener sends MAGIC and a 32-byte random nonce; the
 * caller answers MAGIC, its own nonce and HMAC-SHA256(key, "lvmig client"
 * || both nonces); the listener checks it (a wrong key: the connection is
 * closed, nothing else is read) and proves it knows the key too
 * (HMAC(key, "lvmig server" || ...)): no VM's memory goes to an impostor.
 * Then messages {u32 type, u32 len, body, HMAC(session key, direction,
 * sequence number, type, len, body)}: the session key is derived from
 * both nonces, so no message can be forged, replayed or moved between
 * streams.  Not encrypted: guest memory crosses the link in clear (a
 * trusted link, or a tunnel; lightvmd(8)).
 *
 * A request for the destination: optionally a snapshot (FILE_BEGIN: its
 * size, the bytes of data in it and the VM's name; FILE_DATA: offset and
 * bytes, in increasing order, holes skipped; FILE_END), then one
 * REQUEST (a protobuf Request), answered by one REPLY.  The listener
 * checks every field (sizes against the largest guest, the disk's free
 * space, order and totals of the data, name characters), writes the file
 * as STATEDIR/snapshots/net-NAME.lvsnap (O_EXCL), and forwards only what
 * a migration needs to this agent's own control socket, as a client of
 * it: a held restore of that file (the loader then checks the snapshot as
 * strictly as any), wait/list/inspect of one VM by name, and unpause or
 * destroy of a VM that was restored and is paused (a held copy), nothing
 * else.  The file is removed once the restore has it open.
 *
 * Budgets: the listener serves each connection on a thread of its own,
 * at most NET_CONNS_MAX at once and one per peer address (a second from
 * the same peer waits up to 2 s for the first to end, then is closed;
 * at most NET_THREADS_MAX connections are open, more are closed at
 * once); each read or write has a time limit
 * (NET_IO_MS), the handshake NET_IO_MS in all, and a whole connection
 * NET_CONN_MS (checked between reads: no trickle holds it longer, on
 * either side); messages are bounded
 * (NET_MSG_MAX).  The threads touch nothing of the agent's but its
 * socket and the log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "agent.h"
#include "frame.h"
#include "migrate_net.h"

#define NET_MAGIC      "LVMIGR1"       /* 8 bytes with its NUL */
#define NET_NONCE      32u
#define NET_MAC        32u
#define NET_KEY_MIN    16u
#define NET_KEY_MAX    4096u
#define NET_CONNS_MAX  4u
#define NET_THREADS_MAX 32u            /* connections served or waiting for a slot */
#define NET_SLOT_WAIT_MS 2000u         /* a peer's next request while its last ends */
#define NET_IO_MS      10000u
#define NET_CONN_MS    120000u
#define NET_CHUNK      (1u << 20)      /* FILE_DATA bytes per message */
#define NET_MSG_MAX    (NET_CHUNK + 8u)
#define NET_REPLY_MAX  (1u << 20)
/* the largest snapshot: the largest guest (1 GiB, lightvm_abi.h) and
 * its metadata */
#define NET_FILE_MAX   ((1ull << 30) + (1ull << 20))
#define NET_DISK_SPARE (64ull << 20)   /* left free on the state disk */

enum { M_FILE_BEGIN = 1, M_FILE_DATA, M_FILE_END, M_REQUEST, M_REPLY };

static uint8_t g_key[NET_KEY_MAX];
static size_t g_keylen;
static char g_ctl[108];                /* this agent's control socket */
static char g_snapdir[PATH_MAX];

struct stream {
	int fd;
	uint8_t skey[NET_MAC];
	uint64_t seq_out, seq_in;
	bool server;
	int64_t deadline;           /* CLOCK_MONOTONIC ns, 0: none (each I/O has its own limit) */
};

/* ---- crypto */

static void mac3(const uint8_t *key, size_t klen, const char *label, const uint8_t *a,
		 const uint8_t *b, uint8_t out[NET_MAC])
{
	uint8_t buf[32 + 2 * NET_NONCE];
	size_t n = strlen(label);
	unsigned olen = NET_MAC;

	memcpy(buf, label, n);
	memcpy(buf + n, a, NET_NONCE);
	memcpy(buf + n + NET_NONCE, b, NET_NONCE);
	HMAC(EVP_sha256(), key, (int)klen, buf, n + 2 * NET_NONCE, out, &olen);
}

/* the MAC of one message: direction, sequence, header, body (copied into
 * one buffer for the one-shot HMAC) */
static void msg_mac(const struct stream *s, bool from_server, uint64_t seq, const uint8_t hdr[8],
		    const uint8_t *body, uint32_t len, uint8_t out[NET_MAC])
{
	uint8_t *buf = malloc(17 + (size_t)len);
	unsigned olen = NET_MAC;

	if (!buf) {
		memset(out, 0, NET_MAC);   /* fails the check: the stream ends */
		return;
	}
	buf[0] = from_server ? 'S' : 'C';
	for (int i = 0; i < 8; i++)
		buf[1 + i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(buf + 9, hdr, 8);
	if (len)
		memcpy(buf + 17, body, len);
	HMAC(EVP_sha256(), s->skey, NET_MAC, buf, 17 + (size_t)len, out, &olen);
	free(buf);
}

/* ---- plain I/O with time limits (SO_RCVTIMEO / SO_SNDTIMEO) */

static void io_limits(int fd, uint32_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* the stream's whole-connection limit, checked between calls: a peer
 * that trickles bytes cannot hold a connection past it */
static bool late(const struct stream *s)
{
	return s->deadline && lv_now_ns() > s->deadline;
}

static int write_all(const struct stream *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	int fd = s->fd;

	while (n) {
		if (late(s))
			return -ETIMEDOUT;
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(const struct stream *s, void *p, size_t n)
{
	uint8_t *b = p;
	int fd = s->fd;

	while (n) {
		if (late(s))
			return -ETIMEDOUT;
		ssize_t r = recv(fd, b, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -ECONNRESET;      /* cut short */
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- messages */

static int msg_send(struct stream *s, uint32_t type, const void *body, uint32_t len)
{
	uint8_t hdr[8], mac[NET_MAC];
	uint32_t t = htonl(type), l = htonl(len);
	int rc;

	memcpy(hdr, &t, 4);
	memcpy(hdr + 4, &l, 4);
	msg_mac(s, s->server, s->seq_out++, hdr, body, len, mac);
	if ((rc = write_all(s, hdr, 8)) || (len && (rc = write_all(s, body, len))))
		return rc;
	return write_all(s, mac, NET_MAC);
}

/* One message of at most max bytes; *body malloc'ed (caller frees).
 * -EBADMSG: too long or a MAC that does not match. */
static int msg_recv(struct stream *s, uint32_t *type, uint8_t **body, uint32_t *len, uint32_t max)
{
	uint8_t hdr[8], mac[NET_MAC], want[NET_MAC];
	uint32_t t, l;
	uint8_t *b;
	int rc;

	*body = NULL;
	if ((rc = read_all(s, hdr, 8)))
		return rc;
	memcpy(&t, hdr, 4);
	memcpy(&l, hdr + 4, 4);
	t = ntohl(t);
	l = ntohl(l);
	if (l > max)
		return -EMSGSIZE;
	b = malloc(l ? l : 1);
	if (!b)
		return -ENOMEM;
	if ((rc = read_all(s, b, l)) || (rc = read_all(s, mac, NET_MAC))) {
		free(b);
		return rc;
	}
	msg_mac(s, !s->server, s->seq_in++, hdr, b, l, want);
	if (CRYPTO_memcmp(mac, want, NET_MAC)) {
		free(b);
		return -EBADMSG;
	}
	*type = t;
	*len = l;
	*body = b;
	return 0;
}

/* ---- the handshake */

static int hello_server(struct stream *s)
{
	uint8_t ns[NET_NONCE], in[8 + NET_NONCE + NET_MAC], want[NET_MAC], out[8 + NET_NONCE];
	int rc;

	if (getrandom(ns, sizeof(ns), 0) != (ssize_t)sizeof(ns))
		return -EIO;
	memcpy(out, NET_MAGIC, 8);
	memcpy(out + 8, ns, NET_NONCE);
	if ((rc = write_all(s, out, sizeof(out))) || (rc = read_all(s, in, sizeof(in))))
		return rc;
	if (memcmp(in, NET_MAGIC, 8))
		return -EPROTO;
	mac3(g_key, g_keylen, "lvmig client", ns, in + 8, want);
	if (CRYPTO_memcmp(want, in + 8 + NET_NONCE, NET_MAC))
		return -EACCES;
	mac3(g_key, g_keylen, "lvmig server", in + 8, ns, want);
	mac3(g_key, g_keylen, "lvmig session", ns, in + 8, s->skey);
	return write_all(s, want, NET_MAC);
}

static int hello_client(struct stream *s)
{
	uint8_t in[8 + NET_NONCE], out[8 + NET_NONCE + NET_MAC], nc[NET_NONCE], mac[NET_MAC],
		want[NET_MAC];
	int rc;

	if (getrandom(nc, sizeof(nc), 0) != (ssize_t)sizeof(nc))
		return -EIO;
	if ((rc = read_all(s, in, sizeof(in))))
		return rc;
	if (memcmp(in, NET_MAGIC, 8))
		return -EPROTO;
	memcpy(out, NET_MAGIC, 8);
	memcpy(out + 8, nc, NET_NONCE);
	mac3(g_key, g_keylen, "lvmig client", in + 8, nc, out + 8 + NET_NONCE);
	if ((rc = write_all(s, out, sizeof(out))))
		return rc;
	if ((rc = read_all(s, mac, sizeof(mac))))
		return rc == -ECONNRESET ? -EACCES : rc;   /* closed: our key is wrong */
	mac3(g_key, g_keylen, "lvmig server", nc, in + 8, want);
	if (CRYPTO_memcmp(mac, want, NET_MAC))
		return -EACCES;
	mac3(g_key, g_keylen, "lvmig session", in + 8, nc, s->skey);
	return 0;
}

/* ---- addresses */

bool migrate_net_is_addr(const char *dest)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return dest[0] != '/' && netaddr_parse(dest, &ss, &len) == 0;
}

/* ---- the source: one request */

static int send_file(struct stream *s, const char *path, const char *name)
{
	uint8_t *buf = malloc(NET_CHUNK + 8);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;
	uint64_t size, data = 0;
	struct stat st;
	off_t off, end;

	if (!buf || fd < 0 || fstat(fd, &st) < 0) {
		rc = !buf ? -ENOMEM : -errno;
		goto out;
	}
	size = (uint64_t)st.st_size;
	/* count the data first (the destination checks its disk for it) */
	for (off = 0; (off = lseek(fd, off, SEEK_DATA)) >= 0; off = end) {
		end = lseek(fd, off, SEEK_HOLE);
		if (end < 0)
			end = (off_t)size;
		data += (uint64_t)(end - off);
	}
	{
		uint8_t b[16 + LV_VM_NAME_MAX];
		size_t nl = strnlen(name, LV_VM_NAME_MAX - 1);

		for (int i = 0; i < 8; i++) {
			b[i] = (uint8_t)(size >> (56 - 8 * i));
			b[8 + i] = (uint8_t)(data >> (56 - 8 * i));
		}
		memcpy(b + 16, name, nl);
		if ((rc = msg_send(s, M_FILE_BEGIN, b, (uint32_t)(16 + nl))))
			goto out;
	}
	for (off = 0; (off = lseek(fd, off, SEEK_DATA)) >= 0; off = end) {
		end = lseek(fd, off, SEEK_HOLE);
		if (end < 0)
			end = (off_t)size;
		while (off < end) {
			size_t n = (size_t)(end - off) < NET_CHUNK ? (size_t)(end - off) : NET_CHUNK;
			ssize_t r = pread(fd, buf + 8, n, off);

			if (r <= 0) {
				rc = r < 0 ? -errno : -EIO;
				goto out;
			}
			for (int i = 0; i < 8; i++)
				buf[i] = (uint8_t)((uint64_t)off >> (56 - 8 * i));
			if ((rc = msg_send(s, M_FILE_DATA, buf, (uint32_t)(8 + r))))
				goto out;
			off += r;
		}
	}
	rc = msg_send(s, M_FILE_END, NULL, 0);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int migrate_net_call(const char *dest, uint32_t timeout_ms, Lightvm__Request *rq,
		     Lightvm__Reply **out, char *err, size_t errlen)
{
	struct stream s = { .fd = -1 };
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t len = lightvm__request__get_packed_size(rq);
	uint8_t *buf = NULL, *body = NULL;
	uint32_t type, blen;
	const char *name = rq->op_case == LIGHTVM__REQUEST__OP_RESTORE ? rq->restore->name : "";
	char *path = rq->op_case == LIGHTVM__REQUEST__OP_RESTORE ? rq->restore->path : NULL;
	int rc, one = 1;

	*out = NULL;
	if (!g_keylen) {
		snprintf(err, errlen, "%s: no migrate-key in this agent's configuration", dest);
		return -ENOKEY;
	}
	if (netaddr_parse(dest, &ss, &sl)) {
		snprintf(err, errlen, "%s: not ADDR:PORT", dest);
		return -EINVAL;
	}
	s.fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s.fd < 0) {
		rc = -errno;
		goto fail;
	}
	io_limits(s.fd, timeout_ms ? timeout_ms : NET_IO_MS);
	s.deadline = lv_now_ns() + (int64_t)NET_CONN_MS * 1000000;   /* a trickling destination */
	setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s.fd, (struct sockaddr *)&ss, sl) < 0) {
		rc = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto fail;
	}
	rc = hello_client(&s);
	if (rc == -EACCES) {
		snprintf(err, errlen, "destination %s: refused: the two agents' migrate-key differ", dest);
		goto out;
	}
	if (rc)
		goto fail;
	if (path) {        /* the snapshot first; the destination names its copy */
		if ((rc = send_file(&s, path, name)))
			goto fail;
		rq->restore->path = "";
		len = lightvm__request__get_packed_size(rq);
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto fail;
	}
	lightvm__request__pack(rq, buf);
	if (path)
		rq->restore->path = path;
	if ((rc = msg_send(&s, M_REQUEST, buf, (uint32_t)len)) ||
	    (rc = msg_recv(&s, &type, &body, &blen, NET_REPLY_MAX)))
		goto fail;
	if (type != M_REPLY || !(*out = lightvm__reply__unpack(NULL, blen, body))) {
		rc = -EBADMSG;
		goto fail;
	}
	if ((*out)->has_err && (*out)->err) {
		rc = -abs((*out)->err);
		snprintf(err, errlen, "destination: %s", (*out)->message ? (*out)->message : strerror(-rc));
	}
	goto out;
fail:
	snprintf(err, errlen, "destination %s: %s", dest, strerror(-rc));
out:
	if (s.fd >= 0)
		close(s.fd);
	free(buf);
	free(body);
	return rc;
}

/* ---- the destination: one connection per thread */

struct conn {
	struct stream s;
	struct sockaddr_storage peer;
	char peer_str[64];
	int64_t deadline;
	char file[PATH_MAX];        /* the snapshot received, "" if none */
	char name[LV_VM_NAME_MAX];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_storage g_peers[NET_CONNS_MAX];
static bool g_busy[NET_CONNS_MAX];
static unsigned g_threads;
static struct alog_limit g_limit;

#define plog(lvl, ...) do {                                    \
		pthread_mutex_lock(&g_mu);                     \
		alog_limited(&g_limit, lvl, __VA_ARGS__);      \
		pthread_mutex_unlock(&g_mu);                   \
	} while (0)

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

/* A slot for peer, or -1: too many connections, or one from it already. */
static int slot_take(const struct sockaddr_storage *peer)
{
	int k = -1;

	pthread_mutex_lock(&g_mu);
	for (unsigned i = 0; i < NET_CONNS_MAX; i++) {
		if (g_busy[i] && same_host(&g_peers[i], peer)) {
			k = -1;
			break;
		}
		if (!g_busy[i] && k < 0)
			k = (int)i;
	}
	if (k >= 0) {
		g_busy[k] = true;
		g_peers[k] = *peer;
	}
	pthread_mutex_unlock(&g_mu);
	return k;
}

static void slot_put(int k)
{
	pthread_mutex_lock(&g_mu);
	g_busy[k] = false;
	pthread_mutex_unlock(&g_mu);
}

static bool name_ok(const char *s, size_t n)
{
	if (!n || n >= LV_VM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* FILE_BEGIN (body b, n bytes) .. FILE_END into c->file.  0, or -errno
 * with why; the file is removed on failure. */
static int recv_file(struct conn *c, const uint8_t *b, uint32_t n, const char **why)
{
	uint64_t size, data, got = 0, next = 0;
	struct statvfs vfs;
	uint32_t type, len;
	uint8_t *body = NULL;
	int fd = -1, rc;

	if (n < 17 || !name_ok((const char *)b + 16, n - 16)) {
		*why = "a file header without a valid VM name";
		return -EINVAL;
	}
	size = be64(b);
	data = be64(b + 8);
	memcpy(c->name, b + 16, n - 16);
	c->name[n - 16] = 0;
	if (size == 0 || size > NET_FILE_MAX || data > size) {
		*why = "a snapshot size out of range";
		return -EFBIG;
	}
	if (statvfs(g_snapdir, &vfs) < 0 ||
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < data + NET_DISK_SPARE) {
		*why = "not enough free space for the snapshot";
		return -ENOSPC;
	}
	if ((size_t)snprintf(c->file, sizeof(c->file), "%s/net-%s.lvsnap", g_snapdir, c->name) >=
	    sizeof(c->file)) {
		c->file[0] = 0;
		*why = "path too long";
		return -ENAMETOOLONG;
	}
	unlink(c->file);   /* a former attempt's (only ours are named net-*) */
	fd = open(c->file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		c->file[0] = 0;
		*why = "cannot create the snapshot file";
		return rc;
	}
	for (;;) {
		if (lv_now_ns() > c->deadline) {
			rc = -ETIMEDOUT;
			*why = "the transfer took too long";
			break;
		}
		if ((rc = msg_recv(&c->s, &type, &body, &len, NET_MSG_MAX))) {
			*why = rc == -EBADMSG ? "a message that fails its MAC" : "the stream was cut short";
			break;
		}
		if (type == M_FILE_END && len == 0) {
			if (got != data) {
				rc = -EBADMSG;
				*why = "the snapshot's data is shorter than announced";
			} else if (ftruncate(fd, (off_t)size) < 0) {
				rc = -errno;
				*why = "cannot size the snapshot file";
			}
			break;
		}
		if (type != M_FILE_DATA || len <= 8) {
			rc = -EBADMSG;
			*why = "an unexpected message inside the snapshot";
			break;
		}
		uint64_t off = be64(body), cnt = len - 8;

		if (off < next || off > size || cnt > size - off || cnt > data - got) {
			rc = -EBADMSG;
			*why = "snapshot data out of order or out of range";
			break;
		}
		if (pwrite(fd, body + 8, cnt, (off_t)off) != (ssize_t)cnt) {
			rc = -EIO;
			*why = "cannot write the snapshot file";
			break;
		}
		next = off + cnt;
		got += cnt;
		free(body);
		body = NULL;
	}
	free(body);
	if (close(fd) < 0 && !rc) {
		rc = -EIO;
		*why = "cannot write the snapshot file";
	}
	if (rc) {
		unlink(c->file);
		c->file[0] = 0;
	}
	return rc;
}

/* This agent's own socket, as any client: 0 with *out, or -errno. */
static int local_call(const Lightvm__Request *rq, Lightvm__Reply **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct lv_frame_hdr hdr;
	size_t len = lightvm__request__get_packed_size(rq);
	uint8_t *buf = malloc(len ? len : 1), *body = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	*out = NULL;
	if (!buf || fd < 0) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_ctl);
	io_limits(fd, NET_IO_MS);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	lightvm__request__pack(rq, buf);
	rc = lv_frame_write(fd, LV_FRAME_REQUEST, 1, buf, (uint32_t)len);
	while (!rc) {
		rc = lv_frame_read(fd, &hdr, &body);
		if (rc)
			break;
		if (hdr.type == LV_FRAME_REPLY) {
			*out = lightvm__reply__unpack(NULL, hdr.len, body);
			rc = *out ? 0 : -EBADMSG;
			break;
		}
		free(body);
		body = NULL;
	}
out:
	free(body);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static bool plain_name(const char *s)
{
	return s && name_ok(s, strlen(s)) && !lv_selector_is_pattern(s) && strcmp(s, "all");
}

/* 0 if name is a held copy here (restored from a snapshot, paused);
 * else -ESRCH (no such VM), -EINVAL (not paused: as the agent answers an
 * unpause of a running VM, which a migration's retry may send), -EPERM
 * (not from a snapshot), or another -errno. */
static int held_here(const char *name)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq sel = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *r = NULL;
	int rc;

	sel.selector = (char *)name;
	rq.op_case = LIGHTVM__REQUEST__OP_LIST;
	rq.list = &sel;
	rc = local_call(&rq, &r);
	if (!rc)
		rc = r->n_vms != 1 ? -ESRCH : strcmp(r->vms[0]->state, "paused") ? -EINVAL :
		     !(r->vms[0]->has_restored && r->vms[0]->restored) ? -EPERM : 0;
	if (r)
		lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

/* Only what a migration asks of a destination; why (and *err) say what
 * is not. */
static bool allowed(struct conn *c, Lightvm__Request *rq, const char **why, int *err)
{
	*err = EPERM;
	switch (rq->op_case) {
	case LIGHTVM__REQUEST__OP_RESTORE:
		if (!c->file[0] || !rq->restore->name || strcmp(rq->restore->name, c->name) ||
		    !rq->restore->has_hold || !rq->restore->hold) {
			*why = "a restore must be held and name the snapshot sent before it";
			return false;
		}
		rq->restore->path = c->file;
		return true;
	case LIGHTVM__REQUEST__OP_WAIT:
		if (!plain_name(rq->wait->selector)) {
			*why = "a wait must name one VM";
			return false;
		}
		if (!rq->wait->has_timeout_ms || rq->wait->timeout_ms > NET_IO_MS - 1000) {
			rq->wait->has_timeout_ms = true;
			rq->wait->timeout_ms = NET_IO_MS - 1000;
		}
		return true;
	case LIGHTVM__REQUEST__OP_LIST:
		return plain_name(rq->list->selector) || (*why = "a list must name one VM", false);
	case LIGHTVM__REQUEST__OP_INSPECT:
		return plain_name(rq->inspect->selector) || (*why = "an inspect must name one VM", false);
	case LIGHTVM__REQUEST__OP_ACTION:
		if ((rq->action->action != LIGHTVM__ACTION__UNPAUSE &&
		     rq->action->action != LIGHTVM__ACTION__DESTROY) ||
		    rq->action->n_names != 1 || !plain_name(rq->action->names[0]) ||
		    (rq->action->selector && *rq->action->selector)) {
			*why = "only unpause or destroy of one VM by name";
			return false;
		}
		if ((*err = -held_here(rq->action->names[0]))) {
			*why = *err == ESRCH ? "no such VM" : *err == EINVAL ? "not paused" :
			       "not a held copy from a migration (restored and paused)";
			return false;
		}
		return true;
	default:
		*why = "not a migration's request";
		return false;
	}
}

static void reply_err(struct conn *c, int err, const char *msg)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;
	size_t len;
	uint8_t *buf;

	r.has_err = true;
	r.err = err;
	r.message = (char *)msg;
	len = lightvm__reply__get_packed_size(&r);
	buf = malloc(len ? len : 1);
	if (!buf)
		return;
	lightvm__reply__pack(&r, buf);
	(void)msg_send(&c->s, M_REPLY, buf, (uint32_t)len);
	free(buf);
}

static void serve(struct conn *c)
{
	uint32_t type, len;
	uint8_t *body = NULL, *out = NULL;
	Lightvm__Request *rq = NULL;
	Lightvm__Reply *r = NULL;
	const char *why = NULL;
	char *path = NULL;          /* the request's own, freed with it */
	size_t olen;
	int rc;

	c->s.deadline = lv_now_ns() + (int64_t)NET_IO_MS * 1000000;   /* the handshake */
	rc = hello_server(&c->s);
	c->s.deadline = c->deadline;

	if (rc) {
		plog(LV_LOG_WARN, "migrate-listen: %s: %s", c->peer_str,
		     rc == -EACCES ? "wrong key: refused" : rc == -EPROTO ? "not a migration stream" :
		     strerror(-rc));
		return;
	}
	rc = msg_recv(&c->s, &type, &body, &len, NET_MSG_MAX);
	if (!rc && type == M_FILE_BEGIN) {
		rc = recv_file(c, body, len, &why);
		free(body);
		body = NULL;
		if (rc) {
			plog(LV_LOG_WARN, "migrate-listen: %s: snapshot refused: %s", c->peer_str, why);
			reply_err(c, -rc, why);
			return;
		}
		rc = msg_recv(&c->s, &type, &body, &len, NET_MSG_MAX);
	}
	if (rc || type != M_REQUEST || !(rq = lightvm__request__unpack(NULL, len, body))) {
		why = rc == -EBADMSG ? "a message that fails its MAC" : rc ? strerror(-rc) :
		      "not a request";
		plog(LV_LOG_WARN, "migrate-listen: %s: %s", c->peer_str, why);
		if (!rc)
			reply_err(c, EBADMSG, why);
		goto out;
	}
	if (rq->op_case == LIGHTVM__REQUEST__OP_RESTORE)
		path = rq->restore->path;
	if (!allowed(c, rq, &why, &rc)) {
		if (rc == EPERM)
			plog(LV_LOG_WARN, "migrate-listen: %s: refused: %s", c->peer_str, why);
		reply_err(c, rc, why);
		goto out;
	}
	rc = local_call(rq, &r);
	if (c->file[0])
		unlink(c->file);   /* the restore holds it open, or failed */
	if (rc) {
		reply_err(c, -rc, "the destination agent did not answer");
		goto out;
	}
	olen = lightvm__reply__get_packed_size(r);
	out = malloc(olen ? olen : 1);
	if (out) {
		lightvm__reply__pack(r, out);
		(void)msg_send(&c->s, M_REPLY, out, (uint32_t)olen);
	}
out:
	if (c->file[0])
		unlink(c->file);
	if (path)
		rq->restore->path = path;
	if (rq)
		lightvm__request__free_unpacked(rq, NULL);
	if (r)
		lightvm__reply__free_unpacked(r, NULL);
	free(body);
	free(out);
}

static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	int k;

	/* the peer's previous request may still be ending (its reply is out,
	 * its thread not yet done): wait a little for the slot */
	for (unsigned ms = 0; (k = slot_take(&c->peer)) < 0 && ms < NET_SLOT_WAIT_MS; ms += 10)
		usleep(10000);
	if (k < 0) {
		plog(LV_LOG_WARN, "migrate-listen: %s: refused: a connection from it is open, or %u are",
		     c->peer_str, NET_CONNS_MAX);
	} else {
		serve(c);
		slot_put(k);
	}
	close(c->s.fd);
	free(c);
	pthread_mutex_lock(&g_mu);
	g_threads--;
	pthread_mutex_unlock(&g_mu);
	return NULL;
}

static void *accept_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		struct conn *c = calloc(1, sizeof(*c));
		socklen_t pl = sizeof(struct sockaddr_storage);
		pthread_attr_t at;
		pthread_t t;
		int fd, one = 1;
		bool ok;

		if (!c) {
			sleep(1);
			continue;
		}
		fd = accept4(lfd, (struct sockaddr *)&c->peer, &pl, SOCK_CLOEXEC);
		if (fd < 0) {
			free(c);
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(100000);   /* EMFILE and the like: back off */
			continue;
		}
		c->s.fd = fd;
		c->s.server = true;
		c->deadline = lv_now_ns() + (int64_t)NET_CONN_MS * 1000000;
		io_limits(fd, NET_IO_MS);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (c->peer.ss_family == AF_INET6) {
			char h[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->peer)->sin6_addr, h, sizeof(h));
			snprintf(c->peer_str, sizeof(c->peer_str), "[%s]", h);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&c->peer)->sin_addr, c->peer_str,
				  sizeof(c->peer_str));
		}
		pthread_mutex_lock(&g_mu);
		ok = g_threads < NET_THREADS_MAX;
		g_threads += ok;
		pthread_mutex_unlock(&g_mu);
		if (!ok) {             /* a flood: closed at once */
			close(fd);
			free(c);
			continue;
		}
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 << 10);
		if (pthread_create(&t, &at, conn_thread, c)) {
			close(fd);
			free(c);
			pthread_mutex_lock(&g_mu);
			g_threads--;
			pthread_mutex_unlock(&g_mu);
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

/* ---- setup */

static int read_key(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "migrate-key %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "migrate-key %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077 || st.st_uid != geteuid()) {
		close(fd);
		snprintf(err, errlen, "migrate-key %s: must belong to the agent's user and be readable by it alone (chmod 600)",
			 path);
		return -EPERM;
	}
	n = read(fd, g_key, sizeof(g_key));
	close(fd);
	if (n < (ssize_t)NET_KEY_MIN || (size_t)st.st_size > sizeof(g_key)) {
		snprintf(err, errlen, "migrate-key %s: %u to %u bytes of key expected (e.g. head -c 32 /dev/urandom)",
			 path, NET_KEY_MIN, NET_KEY_MAX);
		memset(g_key, 0, sizeof(g_key));
		return -EINVAL;
	}
	g_keylen = (size_t)n;
	return 0;
}

int migrate_net_setup(const char *listen_addr, const char *keyfile, const char *ctl_socket,
		      const char *state_dir, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	pthread_t t;
	int fd, rc, one = 1;

	if (keyfile && (rc = read_key(keyfile, err, errlen)))
		return rc;
	if (!listen_addr)
		return 0;
	if (!keyfile) {
		snprintf(err, errlen, "migrate-listen %s: needs migrate-key (a key file both agents read): not started",
			 listen_addr);
		return -ENOKEY;
	}
	if (netaddr_parse(listen_addr, &ss, &sl)) {
		snprintf(err, errlen, "migrate-listen %s: not ADDR:PORT or [ADDR6]:PORT", listen_addr);
		return -EINVAL;
	}
	snprintf(g_ctl, sizeof(g_ctl), "%s", ctl_socket);
	if ((size_t)snprintf(g_snapdir, sizeof(g_snapdir), "%s/snapshots", state_dir) >= sizeof(g_snapdir) ||
	    (mkdir(g_snapdir, 0700) < 0 && errno != EEXIST)) {
		snprintf(err, errlen, "migrate-listen: cannot use %s/snapshots", state_dir);
		return -EIO;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		snprintf(err, errlen, "migrate-listen %s: %s", listen_addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((rc = pthread_create(&t, NULL, accept_thread, (void *)(intptr_t)fd))) {
		close(fd);
		snprintf(err, errlen, "migrate-listen: %s", strerror(rc));
		return -rc;
	}
	pthread_detach(t);
	alog(LV_LOG_INFO, "migrate-listen %s: accepting migrations from agents with the same key",
	     listen_addr);
	return 0;
}
