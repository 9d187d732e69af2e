/*
 * client.h - lvsh's side of the control socket: connect (starting the
 * agent if needed, like tmux starts its server), send one Request, read its
 * Reply.
 */
#ifndef LVSH_CLIENT_H
#define LVSH_CLIENT_H

#include "lightvm.pb-c.h"
#include "lvsh.h"

/* Send req and wait for the reply with the same sequence number (event
 * frames in between are skipped).  On LVSH_EXIT_OK, *reply holds an
 * unpacked reply with err == 0; the caller frees it with
 * lightvm__reply__free_unpacked(*reply, NULL).  Otherwise the error has
 * been reported on stderr as "lvsh: WHAT: ..." (and, for an agent error
 * with --json, as {"err","message"} on stdout) and the result is
 * LVSH_EXIT_FAIL (agent error, protocol error) or LVSH_EXIT_UNREACH (no
 * agent, or the connection broke). */
int lvsh_call(struct lvsh *sh, const char *what, const Lightvm__Request *req,
	      Lightvm__Reply **reply) __attribute__((warn_unused_result));

void lvsh_client_close(struct lvsh *sh);

#endif
