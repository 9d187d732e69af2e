/*
 * migrate_net.h - migrations between machines (issue 14): the
 * destination's listener (migrate-listen, migrate-key) and the source's
 * calls to a HOST:PORT destination.  See migrate_net.c.
 */
#ifndef AGENT_MIGRATE_NET_H
#define AGENT_MIGRATE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm.pb-c.h"

/* Read the key (keyfile: NULL for none) and, with listen set, start the
 * listener that forwards authenticated requests to ctl_socket.  listen
 * without a key is refused.  0, or -errno with err set (the agent does
 * not start). */
int migrate_net_setup(const char *listen, const char *keyfile, const char *ctl_socket,
		      const char *state_dir, char *err, size_t errlen);
/* dest is "ADDR:PORT" or "[ADDR6]:PORT" (numeric, no names). */
bool migrate_net_is_addr(const char *dest);
/* rq to the agent listening at dest, through an authenticated stream
 * (each I/O within timeout_ms, 0: 10 s); a RestoreReq's file (its path
 * here) is sent first and the destination names its copy.  As
 * migrate.c's calls: 0 with *out (caller frees; also with an error
 * reply), or -errno with err. */
int migrate_net_call(const char *dest, uint32_t timeout_ms, Lightvm__Request *rq,
		     Lightvm__Reply **out, char *err, size_t errlen);

#endif
