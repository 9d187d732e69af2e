/*
 * lv_limits.h - what the protocol allows and assumes, stated once: the
 * socket and state directory a client and the agent agree on without
 * being told, how many VMs one SpawnReq may ask for, a pool's largest
 * target, and the memory/vCPU rule of SpawnReq and PoolReq.  lvsh checks
 * a request against these before it sends it and says what is allowed;
 * the agent checks it again.  The rule itself is the core's
 * (lv_flavor_normalize, lv_flavor_check); the agent asserts at build
 * time that the core's numbers are these, and the unit tests do too.
 * No protobuf, no core: lvsh, the agent and its config include it.
 */
#ifndef LV_PROTO_LIMITS_H
#define LV_PROTO_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#define LV_PROTO_DEFAULT_SOCKET    "/run/lightvm/lightvmd.sock"
#define LV_PROTO_DEFAULT_STATE_DIR "/var/lib/lightvm"

#define LV_PROTO_SPAWN_MAX       100000u   /* SpawnReq.count: 1 .. this */
#define LV_PROTO_POOL_TARGET_MAX 20000u    /* PoolReq.target: 0 .. this */

/* SpawnReq.mem_bytes: 0 is the default; any other value is rounded up
 * to a multiple of the step and must then lie within min .. max.  A
 * pool's flavor must be such a multiple already (no default, no
 * rounding).  vCPUs: 0 is 1; 1 .. max. */
#define LV_PROTO_MEM_DEFAULT_MIB 4
#define LV_PROTO_MEM_DEFAULT ((unsigned)LV_PROTO_MEM_DEFAULT_MIB << 20)
#define LV_PROTO_MEM_STEP    (2u << 20)
#define LV_PROTO_MEM_MIN     (2u << 20)
#define LV_PROTO_MEM_MAX     (1024u << 20)
#define LV_PROTO_VCPUS_MAX_N 1
#define LV_PROTO_VCPUS_MAX   ((unsigned)LV_PROTO_VCPUS_MAX_N)

/* A number in help text: "default " LV_PROTO_STR(LV_PROTO_MEM_DEFAULT_MIB) "M" */
#define LV_PROTO_STR(x)  LV_PROTO_STR_(x)
#define LV_PROTO_STR_(x) #x

/* The rule above in words, for error messages and help ("memory 2M to
 * 1G in 2M steps (default 4M), 1 vCPU").  Static storage. */
const char *lv_proto_flavor_rule(void);
/* A pool's flavor in words ("2M to 1G in 2M steps, 1 vCPU"). */
const char *lv_proto_pool_rule(void);

/* 0 if mem (0: the default) and vcpus (0: 1) are a valid spawn, else -1
 * with why (one phrase naming what is wrong and what is allowed). */
int lv_proto_spawn_flavor_check(uint64_t mem, uint32_t vcpus, char *why, size_t whylen);
/* 0 if mem/vcpus is a valid pool flavor (exact: no default, no
 * rounding), else -1 with why. */
int lv_proto_pool_flavor_check(uint64_t mem, uint32_t vcpus, char *why, size_t whylen);

#endif
