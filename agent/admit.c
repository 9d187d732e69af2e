/*
 * admit.c - what a request body is, read before protobuf unpacks it: a
 * Request is one oneof, so its body is one top-level length-delimited
 * field whose number names the operation.  control.c checks that field
 * against the frame's size as soon as its first bytes arrive, and the
 * whole body against the client's role before unpacking: no request
 * costs an allocation or an unpack beyond what its operation allows.
 */
#include <errno.h>

#include "agent.h"
#include "budget.h"

/* Largest body per operation (Request's oneof field number), and whether
 * a read-only client may ask for it at all (pool set and console input
 * are told apart by acl_check after unpacking, within these sizes). */
#define OP_MAX 14
static const struct { uint32_t max; bool admin; } op_limits[OP_MAX + 1] = {
	[1] = { 64u << 10, true },     /* spawn */
	[2] = { 64u << 10, false },    /* list */
	[3] = { 64u << 10, false },    /* inspect */
	[4] = { 16u << 20, true },     /* action: a bulk action names its VMs */
	[5] = { 4096, false },         /* log */
	[6] = { 4096, false },         /* pool */
	[7] = { 4096, false },         /* host */
	[8] = { 64u << 10, false },    /* subscribe */
	[9] = { 64u << 10, false },    /* wait */
	[10] = { 1u << 20, false },    /* console: input is bounded here */
	[11] = { 8192, true },         /* save */
	[12] = { 8192, true },         /* restore */
	[13] = { 4096, true },         /* clone */
	[14] = { 8192, true },         /* migrate */
};

uint32_t admit_op_max(unsigned op)
{
	return op <= OP_MAX ? op_limits[op].max : 0;
}

bool admit_op_admin(unsigned op)
{
	return op <= OP_MAX && op_limits[op].admin;
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* Skip one field's value of wire type wt; -1 if malformed. */
static int skip_field(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t n;

	switch (wt) {
	case 0: return varint(p, end, &n);
	case 1: n = 8; break;
	case 5: n = 4; break;
	case 2:
		if (varint(p, end, &n))
			return -1;
		break;
	default: return -1;
	}
	if (n > (uint64_t)(end - *p))
		return -1;
	*p += n;
	return 0;
}

int admit_peek(const uint8_t *body, size_t got, uint32_t frame_len)
{
	const uint8_t *p = body, *end = body + got;
	uint64_t tag, n;
	bool bad = varint(&p, end, &tag) || varint(&p, end, &n);

	if (bad && got < 20 && got < frame_len)
		return 1;   /* not all there yet (two varints: at most 20 bytes) */
	if (bad || (tag & 7) != 2 || (tag >> 3) == 0 || (tag >> 3) > OP_MAX)
		return -EBADMSG;
	return frame_len > op_limits[tag >> 3].max ? -EMSGSIZE : 0;
}

int admit_body(const uint8_t *body, size_t len, unsigned *op, const uint8_t **pl, size_t *pl_len)
{
	const uint8_t *p = body, *end = body + len;

	*op = 0;
	while (p < end) {
		uint64_t tag, n;

		if (varint(&p, end, &tag) || (tag & 7) != 2 || (tag >> 3) == 0 ||
		    (tag >> 3) > OP_MAX || varint(&p, end, &n) || n > (uint64_t)(end - p))
			return -EBADMSG;
		if (*op && *op != (tag >> 3))
			return -EBADMSG;   /* two operations in one request */
		*op = (unsigned)(tag >> 3);
		*pl = p;
		*pl_len = (size_t)n;
		p += n;
	}
	return *op ? 0 : -EBADMSG;
}

uint64_t admit_action(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t tag, v = 0;

	while (p < end && varint(&p, end, &tag) == 0) {
		if (tag == (1 << 3 | 0)) {
			if (varint(&p, end, &v))
				return 0;
		} else if (skip_field(&p, end, (unsigned)(tag & 7))) {
			return 0;
		}
	}
	return v;
}
