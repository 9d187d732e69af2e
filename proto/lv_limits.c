/*
 * lv_limits.c - the protocol's limits in words, and the checks a client
 * makes before it sends a request (lv_limits.h).  The agent repeats them
 * through the core's lv_flavor_normalize, whose numbers are these.
 */
#include <stdio.h>

#include "lv_limits.h"

static void size_str(char *buf, size_t n, uint64_t b)
{
	if (b >= (1u << 30) && b % (1u << 30) == 0)
		snprintf(buf, n, "%lluG", (unsigned long long)(b >> 30));
	else if (b % (1u << 20) == 0)
		snprintf(buf, n, "%lluM", (unsigned long long)(b >> 20));
	else
		snprintf(buf, n, "%llu", (unsigned long long)b);
}

const char *lv_proto_flavor_rule(void)
{
	static char rule[160];
	char lo[24], hi[24], step[24], def[24];

	if (!rule[0]) {
		size_str(lo, sizeof(lo), LV_PROTO_MEM_MIN);
		size_str(hi, sizeof(hi), LV_PROTO_MEM_MAX);
		size_str(step, sizeof(step), LV_PROTO_MEM_STEP);
		size_str(def, sizeof(def), LV_PROTO_MEM_DEFAULT);
		snprintf(rule, sizeof(rule), "memory %s to %s in %s steps (default %s), %u vCPU%s",
			 lo, hi, step, def, LV_PROTO_VCPUS_MAX, LV_PROTO_VCPUS_MAX == 1 ? "" : "s");
	}
	return rule;
}

const char *lv_proto_pool_rule(void)
{
	static char rule[160];
	char lo[24], hi[24], step[24];

	if (!rule[0]) {
		size_str(lo, sizeof(lo), LV_PROTO_MEM_MIN);
		size_str(hi, sizeof(hi), LV_PROTO_MEM_MAX);
		size_str(step, sizeof(step), LV_PROTO_MEM_STEP);
		snprintf(rule, sizeof(rule), "%s to %s in %s steps, %u vCPU%s", lo, hi, step,
			 LV_PROTO_VCPUS_MAX, LV_PROTO_VCPUS_MAX == 1 ? "" : "s");
	}
	return rule;
}

static int vcpus_check(uint32_t vcpus, char *why, size_t whylen)
{
	if (vcpus >= 1 && vcpus <= LV_PROTO_VCPUS_MAX)
		return 0;
	if (LV_PROTO_VCPUS_MAX == 1)
		snprintf(why, whylen, "%u vCPUs: a VM has 1 vCPU", vcpus);
	else
		snprintf(why, whylen, "%u vCPUs: 1 to %u", vcpus, LV_PROTO_VCPUS_MAX);
	return -1;
}

int lv_proto_spawn_flavor_check(uint64_t mem, uint32_t vcpus, char *why, size_t whylen)
{
	char s[24], hi[24];

	if (vcpus && vcpus_check(vcpus, why, whylen))
		return -1;
	if (mem > LV_PROTO_MEM_MAX) {
		size_str(s, sizeof(s), mem);
		size_str(hi, sizeof(hi), LV_PROTO_MEM_MAX);
		snprintf(why, whylen, "memory %s: at most %s", s, hi);
		return -1;
	}
	return 0;   /* 0 is the default; anything else rounds up to >= min */
}

int lv_proto_pool_flavor_check(uint64_t mem, uint32_t vcpus, char *why, size_t whylen)
{
	char s[24];

	if (vcpus_check(vcpus, why, whylen))
		return -1;
	if (mem < LV_PROTO_MEM_MIN || mem > LV_PROTO_MEM_MAX || mem % LV_PROTO_MEM_STEP) {
		size_str(s, sizeof(s), mem);
		snprintf(why, whylen, "memory %s: a pool's memory is exact, %s", s,
			 lv_proto_pool_rule());
		return -1;
	}
	return 0;
}
