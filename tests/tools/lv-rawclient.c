/*
 * lv-rawclient - sends deliberately broken frames to lightvmd for the
 * negative tests, and prints what (if anything) comes back.
 *   lv-rawclient SOCKET MODE
 * MODE: garbage | badmagic | badversion | oversize | truncated-header |
 *       truncated-body | badbody | badtype | ok-host | pipelined | dribble
 * pipelined: 40 host requests in one write (frames across the agent's
 * 256-byte first read); prints "pipelined 40 replies in order" if every
 * one was answered, in order.  dribble: one host request a byte at a
 * time.
 * Prints "reply err=N message=..." or "closed" and exits 0 when the agent
 * behaved (answered with an error and/or closed), 1 on a local failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "frame.h"
#include "lightvm.pb-c.h"

static int conn(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void put(int fd, const void *b, size_t n)
{
	if (write(fd, b, n) != (ssize_t)n) {
		perror("write");
		exit(1);
	}
}

static int show_reply(int fd)
{
	struct lv_frame_hdr h;
	uint8_t *body = NULL;
	Lightvm__Reply *r;
	int rc = lv_frame_read(fd, &h, &body);

	if (rc) {
		printf("closed\n");
		return 0;
	}
	r = lightvm__reply__unpack(NULL, h.len, body);
	free(body);
	if (!r) {
		printf("undecodable reply\n");
		return 1;
	}
	printf("reply seq=%u err=%d message=%s\n", h.seq, r->has_err ? r->err : 0,
	       r->message ? r->message : "");
	if (r->host)
		printf("host driver=%s vms=%u\n", r->host->driver, r->host->vms);
	lightvm__reply__free_unpacked(r, NULL);
	return 0;
}

/* One host request frame with sequence seq into buf: its length. */
static size_t host_frame(uint8_t *buf, uint32_t seq)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__HostReq hr = LIGHTVM__HOST_REQ__INIT;
	size_t n;

	rq.op_case = LIGHTVM__REQUEST__OP_HOST;
	rq.host = &hr;
	n = lightvm__request__pack(&rq, buf + LV_FRAME_HDR);
	lv_frame_encode_hdr(buf, LV_FRAME_REQUEST, seq, (uint32_t)n);
	return LV_FRAME_HDR + n;
}

static int pipelined(int fd)
{
	uint8_t buf[40 * 64];
	size_t off = 0;

	for (uint32_t s = 1; s <= 40; s++)
		off += host_frame(buf + off, s);
	put(fd, buf, off);
	for (uint32_t s = 1; s <= 40; s++) {
		struct lv_frame_hdr h;
		uint8_t *body = NULL;

		if (lv_frame_read(fd, &h, &body)) {
			printf("closed after %u replies\n", s - 1);
			return 0;
		}
		free(body);
		if (h.seq != s) {
			printf("reply %u has seq %u\n", s, h.seq);
			return 0;
		}
	}
	printf("pipelined 40 replies in order\n");
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t hdr[LV_FRAME_HDR];
	const char *mode;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: lv-rawclient SOCKET MODE\n");
		return 2;
	}
	mode = argv[2];
	fd = conn(argv[1]);
	if (!strcmp(mode, "garbage")) {
		put(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	} else if (!strcmp(mode, "badmagic")) {
		lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 7, 0);
		hdr[0] ^= 0xff;
		put(fd, hdr, sizeof(hdr));
	} else if (!strcmp(mode, "badversion")) {
		lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 7, 0);
		hdr[4] = 99;
		put(fd, hdr, sizeof(hdr));
	} else if (!strcmp(mode, "oversize")) {
		lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 7, LV_FRAME_MAX);
		hdr[12] = 0xff; hdr[13] = 0xff; hdr[14] = 0xff; hdr[15] = 0x7f;
		put(fd, hdr, sizeof(hdr));
	} else if (!strcmp(mode, "badtype")) {
		lv_frame_encode_hdr(hdr, LV_FRAME_REPLY, 7, 0);
		put(fd, hdr, sizeof(hdr));
	} else if (!strcmp(mode, "badbody")) {
		static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
		lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 7, sizeof(junk));
		put(fd, hdr, sizeof(hdr));
		put(fd, junk, sizeof(junk));
	} else if (!strcmp(mode, "truncated-header")) {
		lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 7, 10);
		put(fd, hdr, 7);
		close(fd);
		printf("closed\n");
		return 0;
	} else if (!strcmp(mode, "truncated-body")) {
		lv_frame_encode_hdr(hdr, LV_FRAME_REQUEST, 7, 1000);
		put(fd, hdr, sizeof(hdr));
		put(fd, "abc", 3);
		close(fd);
		printf("closed\n");
		return 0;
	} else if (!strcmp(mode, "ok-host")) {
		Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
		Lightvm__HostReq hr = LIGHTVM__HOST_REQ__INIT;
		uint8_t buf[64];
		size_t n;

		rq.op_case = LIGHTVM__REQUEST__OP_HOST;
		rq.host = &hr;
		n = lightvm__request__pack(&rq, buf);
		if (lv_frame_write(fd, LV_FRAME_REQUEST, 42, buf, (uint32_t)n))
			return 1;
	} else if (!strcmp(mode, "pipelined")) {
		return pipelined(fd);
	} else if (!strcmp(mode, "dribble")) {
		uint8_t buf[64];
		size_t n = host_frame(buf, 43);
		struct timespec ms = { 0, 1000000 };

		for (size_t i = 0; i < n; i++) {
			put(fd, buf + i, 1);
			nanosleep(&ms, NULL);
		}
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	return show_reply(fd);
}
