/*
 * fuzz_request.c - libFuzzer target: bytes from a client of the control
 * socket, through the agent's real frame and request path (agent/
 * control.c and agent/budget.c, compiled in): header checks, body
 * budget, the operation read before unpacking, protobuf unpack, replies
 * and back-pressure.  The first byte picks the client's role (none,
 * read-only, admin); requests that pass are answered by a stub handler.
 * No crash, no leak, every connection closed in the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../../proto/frame.c"   /* instrumented: the fuzzer learns the header */
#include "../../agent/budget.c"
#include "../../agent/admit.c"
#include "../../agent/control.c"

/* ---- what control.c takes from the rest of the agent */
int loop_add(int fd, uint32_t events, loop_cb cb, void *arg) { return 0; }
int loop_mod(int fd, uint32_t events) { return 0; }
void loop_del(int fd) {}
void records_flush(void) {}
void alog(enum lv_log_level lvl, const char *fmt, ...) {}
void alog_limited(struct alog_limit *l, enum lv_log_level lvl, const char *fmt, ...) {}
enum acl_role acl_role_of(int fd, uid_t uid, gid_t gid) { return ACL_NONE; }
int acl_fs_enter(int peer_fd, uid_t uid) { return 0; }
void acl_fs_leave(void) {}

int acl_check(enum acl_role role, uid_t uid, const Lightvm__Request *rq, char *why, size_t len)
{
	if (role == ACL_ADMIN || (role == ACL_READ && rq->op_case != LIGHTVM__REQUEST__OP_SPAWN &&
				  rq->op_case != LIGHTVM__REQUEST__OP_ACTION))
		return 0;
	snprintf(why, len, "denied");
	return -EACCES;
}

void handle_request(struct client *c, uint32_t seq, const Lightvm__Request *rq)
{
	Lightvm__Reply r = LIGHTVM__REPLY__INIT;

	if (rq->op_case == LIGHTVM__REQUEST__OP_WAIT && client_budget_take(c, CB_WAIT, seq) == 0)
		client_budget_put(c, CB_WAIT);
	client_reply(c, seq, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum acl_role roles[] = { ACL_NONE, ACL_READ, ACL_ADMIN };
	char sink[65536];
	struct client *c;
	int sv[2];

	if (size < 1 || size > 60000 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	c = client_new(sv[0]);
	c->role = roles[data[0] % 3];
	c->uid = 1000;
	clients = c;
	nclients = 1;
	if (write(sv[1], data + 1, size - 1) < 0 || shutdown(sv[1], SHUT_WR) < 0)
		abort();
	client_ref(c);
	for (int i = 0; i < 256 && !c->dead; i++) {
		client_read(c);
		while (read(sv[1], sink, sizeof(sink)) > 0)   /* the client reads its replies */
			;
		if (!c->dead)
			client_flush(c);
	}
	if (!c->dead)
		client_close(c);
	client_unref(c);
	close(sv[1]);
	if (nclients != 0 || clients)
		abort();
	return 0;
}
