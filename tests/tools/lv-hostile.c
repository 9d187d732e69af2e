/*
 * lv-hostile - clients that try to make lightvmd pay, for
 * tests/integration/t_hostile_clients.sh.  Each mode prints one line.
 *   lv-hostile SOCK flood-log VM N HOLD_S  N log requests, never read;
 *                                          hold the connection HOLD_S s
 *   lv-hostile SOCK big LEN                a header announcing LEN body
 *                                          bytes, no body: "reply err=N"
 *                                          or "closed", and the ms it took
 *   lv-hostile SOCK partial                half a request, then wait:
 *                                          "closed after MS ms"
 *   lv-hostile SOCK conns N HOLD_S         N idle connections: "open K"
 *                                          (how many the agent kept)
 *   lv-hostile SOCK attach VM N [HOLD_S]   N console attaches on one
 *   lv-hostile SOCK wait VM N [HOLD_S]     connection (or waits, or
 *   lv-hostile SOCK sub N                  subscriptions): "ok K err E"
 *   lv-hostile SOCK spawn N                N spawn requests on one connection
 *                                          (denied to a read-only user)
 *   lv-hostile SOCK unknown LEN            a LEN-byte body of unknown
 *                                          fields: "reply err=N" or "closed"
 *   lv-hostile SOCK sub-sel SELECTOR       subscribe to events of SELECTOR
 *                                          (any bytes): "reply err=N"
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "frame.h"
#include "lightvm.pb-c.h"

static const char *sock_path;

static int conn(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_req(int fd, uint32_t seq, const Lightvm__Request *rq)
{
	size_t n = lightvm__request__get_packed_size(rq);
	uint8_t *b = malloc(n ? n : 1);

	lightvm__request__pack(rq, b);
	if (lv_frame_write(fd, LV_FRAME_REQUEST, seq, b, (uint32_t)n)) {
		perror("lv-hostile: write");
		exit(1);
	}
	free(b);
}

/* The reply to seq (events skipped): its err, or -1 if closed. */
static int reply_err(int fd, uint32_t seq)
{
	for (;;) {
		struct lv_frame_hdr h;
		uint8_t *body = NULL;
		Lightvm__Reply *r;
		int err;

		if (lv_frame_read(fd, &h, &body))
			return -1;
		if (h.type != LV_FRAME_REPLY || h.seq != seq) {
			free(body);
			continue;
		}
		r = lightvm__reply__unpack(NULL, h.len, body);
		free(body);
		err = r && r->has_err ? r->err : 0;
		if (r)
			lightvm__reply__free_unpacked(r, NULL);
		return err;
	}
}

static int flood_log(const char *vm, int n, int hold)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__LogReq lr = LIGHTVM__LOG_REQ__INIT;
	int fd = conn();

	if (fd < 0)
		return 1;
	lr.name = (char *)vm;
	lr.has_max_bytes = true;
	lr.max_bytes = 16u << 20;
	rq.op_case = LIGHTVM__REQUEST__OP_LOG;
	rq.log = &lr;
	for (int i = 0; i < n; i++) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, 2000) <= 0)
			break;     /* the agent stopped reading: back-pressure */
		send_req(fd, (uint32_t)i + 1, &rq);
	}
	printf("sent\n");
	fflush(stdout);
	sleep((unsigned)hold);
	return 0;
}

static int big(uint32_t len)
{
	uint8_t hdr[LV_FRAME_HDR];
	int fd = conn();
	int64_t t0 = now_ms();
	int err;

	if (fd < 0)
		return 1;
	lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 1, len);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return 1;
	err = reply_err(fd, 1);
	if (err < 0)
		printf("closed %lld ms\n", (long long)(now_ms() - t0));
	else
		printf("reply err=%d %lld ms\n", err, (long long)(now_ms() - t0));
	return 0;
}

static int unknown(uint32_t len)
{
	uint8_t *b = malloc(len);
	int fd = conn();
	int err;

	if (fd < 0 || !b)
		return 1;
	for (uint32_t i = 0; i + 3 <= len; i += 3) {   /* field 100, varint 0 */
		b[i] = 0xa0;
		b[i + 1] = 0x06;
		b[i + 2] = 0x00;
	}
	memset(b + len - len % 3, 0, len % 3);
	if (lv_frame_write(fd, LV_FRAME_REQUEST, 1, b, len))
		err = -1;
	else
		err = reply_err(fd, 1);
	printf(err < 0 ? "closed\n" : "reply err=%d\n", err);
	free(b);
	return 0;
}

static int partial(void)
{
	uint8_t buf[LV_FRAME_HDR + 10] = { 0 };
	int fd = conn();
	int64_t t0 = now_ms();
	char c;

	if (fd < 0)
		return 1;
	lv_frame_encode_hdr(buf, LV_FRAME_REQUEST, 1, 100);
	buf[LV_FRAME_HDR] = 7 << 3 | 2;   /* a HostReq of 98 bytes, 8 of them sent */
	buf[LV_FRAME_HDR + 1] = 98;
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		return 1;
	while (read(fd, &c, 1) > 0)
		;
	printf("closed after %lld ms\n", (long long)(now_ms() - t0));
	return 0;
}

static int conns(int n, int hold)
{
	int *fds = calloc((size_t)n, sizeof(*fds)), open_n = 0;

	for (int i = 0; i < n; i++)
		fds[i] = conn();
	sleep((unsigned)hold);
	for (int i = 0; i < n; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char c;

		if (fds[i] < 0)
			continue;
		/* closed by the agent: readable with EOF */
		if (poll(&p, 1, 0) == 0 || recv(fds[i], &c, 1, MSG_DONTWAIT) > 0)
			open_n++;
	}
	printf("open %d\n", open_n);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return 0;
}

/* n requests of one kind on one connection, each answered in turn;
 * the connection is held hold seconds more. */
static int many(const char *kind, const char *vm, int n, int hold)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__ConsoleReq cr = LIGHTVM__CONSOLE_REQ__INIT;
	Lightvm__WaitReq wr = LIGHTVM__WAIT_REQ__INIT;
	Lightvm__SubscribeReq sr = LIGHTVM__SUBSCRIBE_REQ__INIT;
	Lightvm__SpawnReq sp = LIGHTVM__SPAWN_REQ__INIT;
	int fd = conn(), ok = 0, err = 0;

	if (fd < 0)
		return 1;
	if (strcmp(kind, "attach") == 0) {
		cr.name = (char *)vm;
		cr.has_attach = cr.attach = true;
		rq.op_case = LIGHTVM__REQUEST__OP_CONSOLE;
		rq.console = &cr;
	} else if (strcmp(kind, "wait") == 0) {
		wr.selector = (char *)vm;
		wr.state = "shutoff";
		rq.op_case = LIGHTVM__REQUEST__OP_WAIT;
		rq.wait = &wr;
	} else if (strcmp(kind, "spawn") == 0) {
		sp.count = 1;
		sp.image = "noop";
		rq.op_case = LIGHTVM__REQUEST__OP_SPAWN;
		rq.spawn = &sp;
	} else {
		sr.has_events = sr.events = true;
		rq.op_case = LIGHTVM__REQUEST__OP_SUBSCRIBE;
		rq.subscribe = &sr;
	}
	for (int i = 0; i < n; i++) {
		int e;

		send_req(fd, (uint32_t)i + 1, &rq);
		if (strcmp(kind, "wait") == 0) {   /* a wait answers when it ends */
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, 200) == 0) {
				ok++;
				continue;
			}
		}
		e = reply_err(fd, (uint32_t)i + 1);
		if (e == 0)
			ok++;
		else if (!err)
			err = e;
		if (e < 0)
			break;
	}
	printf("ok %d err %d\n", ok, err);
	fflush(stdout);
	sleep((unsigned)hold);
	return 0;
}

static int sub_sel(const char *sel)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SubscribeReq sr = LIGHTVM__SUBSCRIBE_REQ__INIT;
	int fd = conn();

	if (fd < 0)
		return 1;
	sr.has_events = sr.events = true;
	sr.selector = (char *)sel;
	rq.op_case = LIGHTVM__REQUEST__OP_SUBSCRIBE;
	rq.subscribe = &sr;
	send_req(fd, 1, &rq);
	printf("reply err=%d\n", reply_err(fd, 1));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *m;

	if (argc < 3) {
		fprintf(stderr, "usage: lv-hostile SOCK MODE ARGS (see the source)\n");
		return 2;
	}
	sock_path = argv[1];
	m = argv[2];
	if (strcmp(m, "flood-log") == 0 && argc == 6)
		return flood_log(argv[3], atoi(argv[4]), atoi(argv[5]));
	if (strcmp(m, "big") == 0 && argc == 4)
		return big((uint32_t)strtoul(argv[3], NULL, 0));
	if (strcmp(m, "unknown") == 0 && argc == 4)
		return unknown((uint32_t)strtoul(argv[3], NULL, 0));
	if (strcmp(m, "partial") == 0)
		return partial();
	if (strcmp(m, "conns") == 0 && argc == 5)
		return conns(atoi(argv[3]), atoi(argv[4]));
	if ((strcmp(m, "attach") == 0 || strcmp(m, "wait") == 0) && (argc == 5 || argc == 6))
		return many(m, argv[3], atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
	if (strcmp(m, "sub-sel") == 0 && argc == 4)
		return sub_sel(argv[3]);
	if ((strcmp(m, "sub") == 0 || strcmp(m, "spawn") == 0) && argc == 4)
		return many(m, NULL, atoi(argv[3]), 0);
	fprintf(stderr, "lv-hostile: bad mode or arguments\n");
	return 2;
}
