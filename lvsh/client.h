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

/* Extra connections, for streams that must not block the command
 * connection (top's refreshes and subscription, console attach).
 * lvsh_conn_open connects (starting the agent like lvsh_call) and
 * returns an LVSH_EXIT_* value, errors reported; the caller closes *fd.
 * lvsh_conn_send sends one request with sequence seq: 0 or -errno.
 * lvsh_conn_recv reads one frame (blocking): a reply (*reply, with *seq)
 * or a notification (*notify), the other NULL; the caller frees with
 * lightvm__reply__free_unpacked / lightvm__notify__free_unpacked.
 * Returns 0 or -errno (-ECONNRESET at EOF, -EBADMSG if malformed). */
int lvsh_conn_open(struct lvsh *sh, const char *what, int *fd)
	__attribute__((warn_unused_result));
int lvsh_conn_send(int fd, uint32_t seq, const Lightvm__Request *req)
	__attribute__((warn_unused_result));
int lvsh_conn_recv(int fd, uint32_t *seq, Lightvm__Reply **reply,
		   Lightvm__Notify **notify) __attribute__((warn_unused_result));

#endif
