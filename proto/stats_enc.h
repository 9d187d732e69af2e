/*
 * stats_enc.h - the body of a stats EVENT frame (Notify{stats}) built
 * from VmInfo entries packed once and kept by the caller: an idle VM's
 * entry is re-used frame after frame and only its uptime_ns, which
 * always changes, is appended (protobuf fields may come in any order).
 * The wire tags (Notify.stats, Stats.vms, Stats.host, VmInfo.uptime_ns)
 * are taken from the generated descriptors, so renumbering a field in
 * lightvm.proto changes them too; tests/unit/test_stats_enc.c decodes
 * the output with protobuf-c and compares every field.
 */
#ifndef LV_STATS_ENC_H
#define LV_STATS_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm.pb-c.h"

/* One frame body being built; the buffer is kept between frames.
 * Start with { 0 }; free with stats_enc_free. */
struct stats_enc {
	uint8_t *buf;
	size_t cap, off;
};

/* Start a new body (keeps the buffer). */
void stats_enc_begin(struct stats_enc *e);
/* A VmInfo already packed without uptime_ns (entry, len), with uptime_ns
 * appended if has_up.  false if out of memory (the body is then unusable
 * until the next begin). */
bool stats_enc_vm_packed(struct stats_enc *e, const uint8_t *entry, size_t len, bool has_up,
			 uint64_t uptime_ns);
/* A VmInfo packed now (when the caller keeps no entry). */
bool stats_enc_vm(struct stats_enc *e, const Lightvm__VmInfo *m);
/* Stats.host. */
bool stats_enc_host(struct stats_enc *e, const Lightvm__HostInfo *hi);
/* The finished Notify body: *len bytes at the returned pointer, valid
 * until the next begin or free. */
const uint8_t *stats_enc_finish(struct stats_enc *e, size_t *len);
void stats_enc_free(struct stats_enc *e);

/* The wire tag (field number << 3 | wire type) of a field of a
 * generated message, by name; 0 if there is no such field. */
uint32_t stats_enc_tag(const ProtobufCMessageDescriptor *d, const char *field);

#endif
