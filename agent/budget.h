/*
 * budget.h - what one client may cost the agent: the limits of
 * lightvmd.conf (lightvmd(8), LIMITS) and the per-client budgets that
 * control.c keeps and subs.c / console_attach.c draw on.
 */
#ifndef AGENT_BUDGET_H
#define AGENT_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_limits {
	size_t   max_pending;      /* max-pending-output: queued bytes before a
				    * client is dropped (reading pauses at
				    * pause_pending) */
	size_t   pause_pending;    /* derived: min(1 MiB, max_pending / 2) */
	uint32_t max_req_read;     /* max-request-read: body bytes, read-only */
	uint32_t max_req_admin;    /* max-request-admin: body bytes, admins */
	unsigned read_timeout_ms;  /* read-timeout: a frame must complete */
	unsigned idle_timeout_s;   /* idle-timeout: nothing asked, nothing held */
	unsigned max_conn_uid;     /* max-connections-per-uid (not root) */
	unsigned max_clients;      /* max-clients (not root) */
	unsigned max_attaches;     /* max-attaches: console attaches per client */
	unsigned max_waits;        /* max-waits: pending waits per client */
	unsigned max_subs;         /* max-subscriptions: per client */
	unsigned max_attaches_uid, max_waits_uid, max_subs_uid; /* ...-per-uid (not root) */
	unsigned wait_timeout_ms;  /* wait-timeout: deadline of a wait without one */
};
extern struct agent_limits g_limits;

/* A limits key of lightvmd.conf: 0 (set), -ENOENT (not a limits key) or
 * -EINVAL with err set (where: "file:line"). */
int limits_parse(const char *key, const char *val, char *err, size_t errlen,
		 const char *where);

/* ---- admit.c: a Request body's operation, read before it is unpacked
 * (its one top-level field: the oneof's field number and length) */
uint32_t admit_op_max(unsigned op);   /* largest body for op (0: unknown) */
bool admit_op_admin(unsigned op);     /* only root and admins may ask */
/* The first bytes of a body (got of frame_len): 0 acceptable so far,
 * 1 not enough bytes yet, -EBADMSG not one known operation, -EMSGSIZE
 * frame_len too large for its operation. */
int admit_peek(const uint8_t *body, size_t got, uint32_t frame_len);
/* A whole body: 0 with its operation and that field's bytes, or
 * -EBADMSG (unknown, repeated or malformed fields). */
int admit_body(const uint8_t *body, size_t len, unsigned *op, const uint8_t **pl,
	       size_t *pl_len);
/* ActionReq.action from an ActionReq's bytes (0 if absent). */
uint64_t admit_action(const uint8_t *pl, size_t len);

/* ---- control.c: per-client budgets */
struct client;
enum client_budget { CB_ATTACH, CB_WAIT, CB_SUB, CB_NR };
/* Take one unit of b for c: 0, or -ENOBUFS after replying to seq with the
 * limit and its lightvmd.conf key.  Give it back with client_budget_put. */
int  client_budget_take(struct client *c, enum client_budget b, uint32_t seq);
void client_budget_put(struct client *c, enum client_budget b);
/* Timeouts and the accept back-off: every loop tick. */
void control_tick(void);

#endif
