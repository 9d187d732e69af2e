/*
 * budget.c - the agent's limits on what clients may cost it (pending
 * output, request sizes, timeouts, connections, attaches, waits,
 * subscriptions): their defaults and their lightvmd.conf keys.  The
 * limits are enforced where the costs arise: control.c (frames,
 * connections), subs.c (waits, subscriptions), console_attach.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"

struct agent_limits g_limits = {
	.max_pending = 32u << 20,
	.pause_pending = 1u << 20,
	.max_req_read = 64u << 10,
	.max_req_admin = 16u << 20,
	.read_timeout_ms = 10000,
	.idle_timeout_s = 600,
	.max_conn_uid = 64,
	.max_clients = 1024,
	.max_attaches = 16,
	.max_waits = 64,
	.max_subs = 8,
	.max_attaches_uid = 64,
	.max_waits_uid = 256,
	.max_subs_uid = 32,
	.wait_timeout_ms = 600000,
};

struct limit_key {
	const char *key;
	const char *unit;      /* for the error message */
	uint64_t min, max;
	int kind;              /* 0 unsigned, 1 size_t, 2 uint32_t */
	void *p;
};

static const struct limit_key keys[] = {
	{ "max-pending-output", "bytes", 64u << 10, 1u << 30, 1, &g_limits.max_pending },
	{ "max-request-read", "bytes", 1024, 16u << 20, 2, &g_limits.max_req_read },
	{ "max-request-admin", "bytes", 1024, 16u << 20, 2, &g_limits.max_req_admin },
	{ "read-timeout", "milliseconds", 100, 600000, 0, &g_limits.read_timeout_ms },
	{ "idle-timeout", "seconds (0: none)", 0, 86400, 0, &g_limits.idle_timeout_s },
	{ "max-connections-per-uid", "connections", 1, 100000, 0, &g_limits.max_conn_uid },
	{ "max-clients", "connections", 1, 1000000, 0, &g_limits.max_clients },
	{ "max-attaches", "per connection", 0, 100000, 0, &g_limits.max_attaches },
	{ "max-waits", "per connection", 0, 1000000, 0, &g_limits.max_waits },
	{ "max-subscriptions", "per connection", 0, 100000, 0, &g_limits.max_subs },
	{ "max-attaches-per-uid", "per user", 0, 1000000, 0, &g_limits.max_attaches_uid },
	{ "max-waits-per-uid", "per user", 0, 1000000, 0, &g_limits.max_waits_uid },
	{ "max-subscriptions-per-uid", "per user", 0, 1000000, 0, &g_limits.max_subs_uid },
	{ "wait-timeout", "milliseconds", 100, 86400000, 0, &g_limits.wait_timeout_ms },
};

/* "123", "64K", "16M", "1G" */
static int parse_num(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'K': n <<= 10; end++; break;
	case 'M': n <<= 20; end++; break;
	case 'G': n <<= 30; end++; break;
	}
	if (*end || n > (1ull << 40))
		return -1;
	*out = n;
	return 0;
}

int limits_parse(const char *key, const char *val, char *err, size_t errlen, const char *where)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct limit_key *k = &keys[i];
		uint64_t n;

		if (strcmp(key, k->key))
			continue;
		if (parse_num(val, &n) || n < k->min || n > k->max) {
			snprintf(err, errlen, "%s: bad %s '%s' (%s, %llu .. %llu)", where, key, val,
				 k->unit, (unsigned long long)k->min, (unsigned long long)k->max);
			return -EINVAL;
		}
		if (k->kind == 1)
			*(size_t *)k->p = (size_t)n;
		else if (k->kind == 2)
			*(uint32_t *)k->p = (uint32_t)n;
		else
			*(unsigned *)k->p = (unsigned)n;
		g_limits.pause_pending = g_limits.max_pending / 2 < (1u << 20) ?
			g_limits.max_pending / 2 : (1u << 20);
		return 0;
	}
	return -ENOENT;
}
