/*
 * test_frame.c - the frame codec (proto/frame.c): header round trip, each
 * validation error, the size limit, and frame I/O over a socketpair.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"

static void test_hdr_round_trip(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;

	lv_frame_encode_hdr(raw, LV_FRAME_REPLY, 0xdeadbeefu, 1234);
	/* little endian on the wire, whatever the host */
	assert_memory_equal(raw, "LVF1", 4);
	assert_int_equal(raw[4], 1);
	assert_int_equal(raw[5], 0);
	assert_int_equal(raw[6], LV_FRAME_REPLY);
	assert_int_equal(raw[8], 0xef);
	assert_int_equal(raw[11], 0xde);
	assert_int_equal(raw[12], 1234 & 0xff);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), 0);
	assert_int_equal(h.magic, LV_FRAME_MAGIC);
	assert_int_equal(h.version, LV_FRAME_VERSION);
	assert_int_equal(h.type, LV_FRAME_REPLY);
	assert_int_equal(h.seq, 0xdeadbeefu);
	assert_int_equal(h.len, 1234);
}

static void test_bad_magic(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;

	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, 0);
	raw[3] ^= 0xff;
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EBADMSG);
}

static void test_bad_version(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;

	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, 0);
	raw[4] = 2;
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EPROTONOSUPPORT);
	raw[4] = 1;
	raw[5] = 1;		/* version 257 */
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EPROTONOSUPPORT);
}

static void test_bad_type(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;

	lv_frame_encode_hdr(raw, 0, 1, 0);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EBADMSG);
	lv_frame_encode_hdr(raw, 4, 1, 0);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EBADMSG);
	lv_frame_encode_hdr(raw, LV_FRAME_EVENT, 0, 0);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), 0);
}

static void test_length_limit(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;

	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, LV_FRAME_MAX);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), 0);
	assert_int_equal(h.len, LV_FRAME_MAX);
	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, LV_FRAME_MAX + 1);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EMSGSIZE);
	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, UINT32_MAX);
	assert_int_equal(lv_frame_decode_hdr(raw, &h), -EMSGSIZE);
}

static void test_io_round_trip(void **state)
{
	static const char msg[] = "hello, agent";
	struct lv_frame_hdr h;
	uint8_t *body;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lv_frame_write(sv[0], LV_FRAME_REQUEST, 7, msg,
					sizeof(msg)), 0);
	assert_int_equal(lv_frame_write(sv[0], LV_FRAME_EVENT, 0, NULL, 0),
			 0);
	assert_int_equal(lv_frame_read(sv[1], &h, &body), 0);
	assert_int_equal(h.type, LV_FRAME_REQUEST);
	assert_int_equal(h.seq, 7);
	assert_int_equal(h.len, sizeof(msg));
	assert_memory_equal(body, msg, sizeof(msg));
	free(body);
	assert_int_equal(lv_frame_read(sv[1], &h, &body), 0);
	assert_int_equal(h.type, LV_FRAME_EVENT);
	assert_int_equal(h.len, 0);
	assert_non_null(body);
	free(body);
	close(sv[0]);
	close(sv[1]);
}

/* A large frame through a pipe: short writes and reads, and the write()
 * fallback for a non-socket fd. */
static void test_io_pipe_large(void **state)
{
	const uint32_t len = 1u << 20;
	struct lv_frame_hdr h;
	uint8_t *out, *body;
	int p[2], status;
	uint32_t i;
	pid_t pid;

	out = malloc(len);
	assert_non_null(out);
	for (i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 7);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(lv_frame_write(p[1], LV_FRAME_REPLY, 9, out, len) == 0 ?
		      0 : 1);
	}
	close(p[1]);
	assert_int_equal(lv_frame_read(p[0], &h, &body), 0);
	assert_int_equal(h.len, len);
	assert_memory_equal(body, out, len);
	free(body);
	free(out);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_truncated_header(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;
	uint8_t *body = (uint8_t *)"x";
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, 10);
	assert_int_equal(write(sv[0], raw, 7), 7);
	close(sv[0]);
	assert_int_equal(lv_frame_read(sv[1], &h, &body), -ECONNRESET);
	assert_null(body);
	close(sv[1]);
}

static void test_truncated_body(void **state)
{
	uint8_t raw[LV_FRAME_HDR + 3];
	struct lv_frame_hdr h;
	uint8_t *body;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, 10);
	memcpy(raw + LV_FRAME_HDR, "abc", 3);
	assert_int_equal(write(sv[0], raw, sizeof(raw)), sizeof(raw));
	close(sv[0]);
	assert_int_equal(lv_frame_read(sv[1], &h, &body), -ECONNRESET);
	assert_null(body);
	close(sv[1]);
}

static void test_eof_before_frame(void **state)
{
	struct lv_frame_hdr h;
	uint8_t *body;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[0]);
	assert_int_equal(lv_frame_read(sv[1], &h, &body), -ECONNRESET);
	close(sv[1]);
}

/* A hostile header is refused before anything is allocated or read. */
static void test_read_rejects_bad_header(void **state)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;
	uint8_t *body;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, UINT32_MAX);
	assert_int_equal(write(sv[0], raw, sizeof(raw)), sizeof(raw));
	assert_int_equal(lv_frame_read(sv[1], &h, &body), -EMSGSIZE);
	assert_null(body);
	lv_frame_encode_hdr(raw, LV_FRAME_REQUEST, 1, 0);
	raw[0] = 'X';
	assert_int_equal(write(sv[0], raw, sizeof(raw)), sizeof(raw));
	assert_int_equal(lv_frame_read(sv[1], &h, &body), -EBADMSG);
	close(sv[0]);
	close(sv[1]);
}

static void test_write_limits(void **state)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lv_frame_write(sv[0], LV_FRAME_REQUEST, 1, "",
					LV_FRAME_MAX + 1), -EMSGSIZE);
	close(sv[1]);
	/* peer gone: -EPIPE, not SIGPIPE */
	assert_int_equal(lv_frame_write(sv[0], LV_FRAME_REQUEST, 1, "x", 1),
			 -EPIPE);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_round_trip),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_io_round_trip),
		cmocka_unit_test(test_io_pipe_large),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_eof_before_frame),
		cmocka_unit_test(test_read_rejects_bad_header),
		cmocka_unit_test(test_write_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
