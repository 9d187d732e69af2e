/*
 * stats_enc.c - Notify{stats} bodies from kept VmInfo entries (see
 * stats_enc.h).  Tags come from the generated descriptors, looked up
 * once; the body is written after a gap of PREFIX bytes so that the
 * Notify.stats tag and length can be put in front once the length is
 * known, without a copy.
 */
#include <stdlib.h>
#include <string.h>

#include "stats_enc.h"

#define PREFIX 16          /* >= Notify.stats tag (<= 5) + length varint (<= 10) */
#define VARINT_MAX 10

static uint32_t tag_notify_stats, tag_stats_vms, tag_stats_host, tag_vm_uptime;

uint32_t stats_enc_tag(const ProtobufCMessageDescriptor *d, const char *field)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, field);
	uint32_t wire;

	if (!f)
		return 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_STRING:
		wire = 2;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
		wire = 0;
		break;
	default:
		return 0;   /* not used here */
	}
	return f->id << 3 | wire;
}

static void tags_init(void)
{
	if (tag_notify_stats)
		return;
	tag_notify_stats = stats_enc_tag(&lightvm__notify__descriptor, "stats");
	tag_stats_vms = stats_enc_tag(&lightvm__stats__descriptor, "vms");
	tag_stats_host = stats_enc_tag(&lightvm__stats__descriptor, "host");
	tag_vm_uptime = stats_enc_tag(&lightvm__vm_info__descriptor, "uptime_ns");
	/* every one is a field of lightvm.proto: a rename fails here, loudly */
	if (!tag_notify_stats || !tag_stats_vms || !tag_stats_host || !tag_vm_uptime)
		abort();
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static bool reserve(struct stats_enc *e, size_t more)
{
	size_t need = e->off + more, cap = e->cap ? e->cap : 65536;
	uint8_t *p;

	if (need <= e->cap)
		return true;
	while (cap < need)
		cap *= 2;
	p = realloc(e->buf, cap);
	if (!p)
		return false;
	e->buf = p;
	e->cap = cap;
	return true;
}

void stats_enc_begin(struct stats_enc *e)
{
	tags_init();
	e->off = PREFIX;
}

bool stats_enc_vm_packed(struct stats_enc *e, const uint8_t *entry, size_t len, bool has_up,
			 uint64_t uptime_ns)
{
	size_t elen = len + (has_up ? varint_len(tag_vm_uptime) + varint_len(uptime_ns) : 0);

	if (!reserve(e, 2 * VARINT_MAX + elen))
		return false;
	e->off += put_varint(e->buf + e->off, tag_stats_vms);
	e->off += put_varint(e->buf + e->off, elen);
	memcpy(e->buf + e->off, entry, len);
	e->off += len;
	if (has_up) {
		e->off += put_varint(e->buf + e->off, tag_vm_uptime);
		e->off += put_varint(e->buf + e->off, uptime_ns);
	}
	return true;
}

static bool put_msg(struct stats_enc *e, uint32_t tag, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	if (!reserve(e, 2 * VARINT_MAX + len))
		return false;
	e->off += put_varint(e->buf + e->off, tag);
	e->off += put_varint(e->buf + e->off, len);
	e->off += protobuf_c_message_pack(m, e->buf + e->off);
	return true;
}

bool stats_enc_vm(struct stats_enc *e, const Lightvm__VmInfo *m)
{
	return put_msg(e, tag_stats_vms, &m->base);
}

bool stats_enc_host(struct stats_enc *e, const Lightvm__HostInfo *hi)
{
	return put_msg(e, tag_stats_host, &hi->base);
}

const uint8_t *stats_enc_finish(struct stats_enc *e, size_t *len)
{
	size_t slen = e->off - PREFIX;
	size_t start = PREFIX - varint_len(slen) - varint_len(tag_notify_stats);

	if (!e->buf) {   /* nothing added: an empty Stats */
		static uint8_t empty[VARINT_MAX + 1];
		size_t n = put_varint(empty, tag_notify_stats);

		empty[n++] = 0;
		*len = n;
		return empty;
	}
	put_varint(e->buf + start + put_varint(e->buf + start, tag_notify_stats), slen);
	*len = e->off - start;
	return e->buf + start;
}

void stats_enc_free(struct stats_enc *e)
{
	free(e->buf);
	e->buf = NULL;
	e->cap = e->off = 0;
}
