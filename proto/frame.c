/*
 * frame.c - the frame codec and blocking frame I/O (see frame.h).
 *
 * Both the agent and lvsh link this.  The header is checked before any
 * body is allocated, so a peer can never make us allocate more than
 * LV_FRAME_MAX bytes.  Writes use send(MSG_NOSIGNAL) so a closed peer gives
 * -EPIPE rather than SIGPIPE; on a non-socket fd (a pipe in a test, say)
 * they fall back to write().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frame.h"

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void lv_frame_encode_hdr(uint8_t *out, uint16_t type, uint32_t seq,
			 uint32_t len)
{
	put_u32(out + 0, LV_FRAME_MAGIC);
	put_u16(out + 4, LV_FRAME_VERSION);
	put_u16(out + 6, type);
	put_u32(out + 8, seq);
	put_u32(out + 12, len);
}

int lv_frame_decode_hdr(const uint8_t *in, struct lv_frame_hdr *out)
{
	struct lv_frame_hdr h;

	h.magic = get_u32(in + 0);
	h.version = get_u16(in + 4);
	h.type = get_u16(in + 6);
	h.seq = get_u32(in + 8);
	h.len = get_u32(in + 12);
	if (h.magic != LV_FRAME_MAGIC)
		return -EBADMSG;
	if (h.version != LV_FRAME_VERSION)
		return -EPROTONOSUPPORT;
	if (h.type != LV_FRAME_REQUEST && h.type != LV_FRAME_REPLY &&
	    h.type != LV_FRAME_EVENT)
		return -EBADMSG;
	if (h.len > LV_FRAME_MAX)
		return -EMSGSIZE;
	*out = h;
	return 0;
}

/* Write all of buf; 0 or -errno. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
	int use_send = 1;
	ssize_t r;

	while (len > 0) {
		if (use_send) {
			r = send(fd, buf, len, MSG_NOSIGNAL);
			if (r < 0 && errno == ENOTSOCK) {
				use_send = 0;
				continue;
			}
		} else {
			r = write(fd, buf, len);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read exactly len bytes; 0, -errno, or -ECONNRESET on EOF (even after
 * part of the bytes arrived). */
static int read_all(int fd, uint8_t *buf, size_t len)
{
	ssize_t r;

	while (len > 0) {
		r = read(fd, buf, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

int lv_frame_write(int fd, uint16_t type, uint32_t seq, const void *body,
		   uint32_t len)
{
	uint8_t *buf;
	int rc;

	if (len > LV_FRAME_MAX)
		return -EMSGSIZE;
	if (len > 0 && body == NULL)
		return -EINVAL;
	/* One buffer, one send: the peer never sees a header without its
	 * body in a separate segment, and there is one retry loop. */
	buf = malloc(LV_FRAME_HDR + (size_t)len);
	if (buf == NULL)
		return -ENOMEM;
	lv_frame_encode_hdr(buf, type, seq, len);
	if (len > 0)
		memcpy(buf + LV_FRAME_HDR, body, len);
	rc = write_all(fd, buf, LV_FRAME_HDR + (size_t)len);
	free(buf);
	return rc;
}

int lv_frame_read(int fd, struct lv_frame_hdr *hdr, uint8_t **body)
{
	uint8_t raw[LV_FRAME_HDR];
	struct lv_frame_hdr h;
	uint8_t *buf;
	int rc;

	*body = NULL;
	rc = read_all(fd, raw, sizeof(raw));
	if (rc < 0)
		return rc;
	rc = lv_frame_decode_hdr(raw, &h);
	if (rc < 0)
		return rc;
	/* h.len <= LV_FRAME_MAX here; +1 so a zero-length body is a valid
	 * non-NULL pointer. */
	buf = malloc((size_t)h.len + 1);
	if (buf == NULL)
		return -ENOMEM;
	rc = read_all(fd, buf, h.len);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*hdr = h;
	*body = buf;
	return 0;
}
