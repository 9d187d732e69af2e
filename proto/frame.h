/*
 * frame.h - the one frame format on the lightvmd control socket.
 *
 *   offset 0  u32 magic    LV_FRAME_MAGIC ("LVF1")
 *          4  u16 version  LV_FRAME_VERSION
 *          6  u16 type     enum lv_frame_type
 *          8  u32 seq      chosen by the client, echoed in the reply
 *         12  u32 len      body length, <= LV_FRAME_MAX
 *         16  body         one protobuf message (proto/lightvm.proto)
 * All integers little endian.  Both sides reject a header that fails
 * lv_frame_decode_hdr() and close the connection after answering (if they
 * can) with an error reply.
 */
#ifndef LV_FRAME_H
#define LV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define LV_FRAME_MAGIC   0x3146564cu  /* "LVF1" */
#define LV_FRAME_VERSION 1u
#define LV_FRAME_HDR     16u
#define LV_FRAME_MAX     (16u << 20)  /* largest body accepted */

enum lv_frame_type {
	LV_FRAME_REQUEST = 1,
	LV_FRAME_REPLY   = 2,
	LV_FRAME_EVENT   = 3,
};

struct lv_frame_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t seq;
	uint32_t len;
};

/* Encode a header into out[LV_FRAME_HDR]. */
void lv_frame_encode_hdr(uint8_t *out, uint16_t type, uint32_t seq,
			 uint32_t len);

/* Decode and validate.  Returns 0, or -EBADMSG (bad magic or type),
 * -EPROTONOSUPPORT (version), -EMSGSIZE (len > LV_FRAME_MAX). */
int lv_frame_decode_hdr(const uint8_t *in, struct lv_frame_hdr *out)
	__attribute__((warn_unused_result));

/* Blocking helpers for clients.  lv_frame_write sends header and body
 * (retrying on EINTR/short writes); returns 0 or -errno.
 * lv_frame_read reads one whole frame; on success *body is malloc'ed
 * (caller frees) and holds hdr->len bytes.  Returns 0, -errno, or
 * -ECONNRESET on EOF. */
int lv_frame_write(int fd, uint16_t type, uint32_t seq, const void *body,
		   uint32_t len) __attribute__((warn_unused_result));
int lv_frame_read(int fd, struct lv_frame_hdr *hdr, uint8_t **body)
	__attribute__((warn_unused_result));

#endif
