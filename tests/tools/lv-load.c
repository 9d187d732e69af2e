/*
 * lv-load - load for lightvmd: N client processes, each doing a random
 * mix of spawn, destroy, list, inspect and subscribe for S seconds on its
 * own connection, keeping at most MAX VMs of its own (named cK-N).  Every
 * request must be answered within 30 s; at the end each client checks
 * that the agent lists exactly the VMs it believes it has (none lost,
 * none duplicated), then destroys them.
 *
 * usage: lv-load SOCKET CLIENTS SECONDS [MAX]
 * Prints one summary line; exit 0 only if every client passed.
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "frame.h"
#include "lightvm.pb-c.h"

#define MAXVMS 64

struct cl {
	int fd, id;
	uint32_t seq;
	char names[MAXVMS][64];
	int n;
	unsigned long ops, errs;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int conn(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

/* Send rq; return its reply (NULL: no answer within 30 s or broken). */
static Lightvm__Reply *call(struct cl *c, int fd, const Lightvm__Request *rq, uint32_t *seqp)
{
	size_t len = lightvm__request__get_packed_size(rq);
	uint8_t *buf = malloc(len + 1);
	uint32_t seq = ++c->seq;
	int64_t end = now_ms() + 30000;

	lightvm__request__pack(rq, buf);
	if (lv_frame_write(fd, LV_FRAME_REQUEST, seq, buf, (uint32_t)len) < 0) {
		free(buf);
		return NULL;
	}
	free(buf);
	if (seqp)
		*seqp = seq;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct lv_frame_hdr h;
		uint8_t *body;
		int64_t left = end - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return NULL;
		if (lv_frame_read(fd, &h, &body) < 0)
			return NULL;
		if (h.type == LV_FRAME_REPLY && h.seq == seq) {
			Lightvm__Reply *r = lightvm__reply__unpack(NULL, h.len, body);
			free(body);
			return r;
		}
		free(body);   /* notifications */
	}
}

static int do_spawn(struct cl *c)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SpawnReq sp = LIGHTVM__SPAWN_REQ__INIT;
	char prefix[16];
	Lightvm__Reply *r;

	snprintf(prefix, sizeof(prefix), "c%d", c->id);
	sp.count = 1;
	sp.image = (char *)"noop";
	sp.name_prefix = prefix;
	rq.op_case = LIGHTVM__REQUEST__OP_SPAWN;
	rq.spawn = &sp;
	if (!(r = call(c, c->fd, &rq, NULL)))
		return -1;
	if (r->has_err && r->err) {
		c->errs++;   /* e.g. the host's limit: allowed, counted */
	} else if (r->n_vms == 1 && c->n < MAXVMS) {
		snprintf(c->names[c->n++], 64, "%s", r->vms[0]->name);
	} else {
		fprintf(stderr, "client %d: spawn reply with %zu VMs\n", c->id, r->n_vms);
		lightvm__reply__free_unpacked(r, NULL);
		return -1;
	}
	lightvm__reply__free_unpacked(r, NULL);
	return 0;
}

static int do_destroy(struct cl *c, int k)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__ActionReq a = LIGHTVM__ACTION_REQ__INIT;
	Lightvm__Reply *r;
	int rc = 0;

	a.action = LIGHTVM__ACTION__DESTROY;
	a.selector = c->names[k];
	rq.op_case = LIGHTVM__REQUEST__OP_ACTION;
	rq.action = &a;
	if (!(r = call(c, c->fd, &rq, NULL)))
		return -1;
	if ((r->has_err && r->err) || r->affected != 1) {
		fprintf(stderr, "client %d: destroy %s: %s\n", c->id, c->names[k],
			r->message ? r->message : "affected != 1");
		rc = -1;
	}
	lightvm__reply__free_unpacked(r, NULL);
	memmove(c->names[k], c->names[c->n - 1], 64);
	c->n--;
	return rc;
}

static int do_select(struct cl *c, bool inspect, const char *sel, Lightvm__Reply **out)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SelectReq s = LIGHTVM__SELECT_REQ__INIT;
	Lightvm__Reply *r;

	s.selector = (char *)sel;
	rq.op_case = inspect ? LIGHTVM__REQUEST__OP_INSPECT : LIGHTVM__REQUEST__OP_LIST;
	if (inspect)
		rq.inspect = &s;
	else
		rq.list = &s;
	if (!(r = call(c, c->fd, &rq, NULL)))
		return -1;
	if (inspect && (r->has_err || r->n_vms != 1)) {
		fprintf(stderr, "client %d: inspect %s: %s\n", c->id, sel, r->message ? r->message : "?");
		lightvm__reply__free_unpacked(r, NULL);
		return -1;
	}
	if (out)
		*out = r;
	else
		lightvm__reply__free_unpacked(r, NULL);
	return 0;
}

/* Subscribe on a second connection, take two notifications, hang up. */
static int do_subscribe(struct cl *c, const char *path)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SubscribeReq s = LIGHTVM__SUBSCRIBE_REQ__INIT;
	int fd = conn(path), got = 0;
	Lightvm__Reply *r;

	s.has_interval_ms = 1;
	s.interval_ms = 100;
	s.has_events = 1;
	s.events = 1;
	rq.op_case = LIGHTVM__REQUEST__OP_SUBSCRIBE;
	rq.subscribe = &s;
	r = call(c, fd, &rq, NULL);
	if (!r || (r->has_err && r->err)) {
		close(fd);
		return -1;
	}
	lightvm__reply__free_unpacked(r, NULL);
	while (got < 2) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct lv_frame_hdr h;
		uint8_t *body;

		if (poll(&p, 1, 5000) <= 0 || lv_frame_read(fd, &h, &body) < 0) {
			close(fd);
			return -1;
		}
		free(body);
		got += h.type == LV_FRAME_EVENT;
	}
	close(fd);
	return 0;
}

static int client(const char *path, int id, int secs, int max)
{
	struct cl c = { .id = id };
	int64_t end = now_ms() + secs * 1000ll;
	char sel[32];
	Lightvm__Reply *r;
	int bad = 0;

	srand((unsigned)(getpid() ^ time(NULL)));
	c.fd = conn(path);
	while (now_ms() < end && !bad) {
		int op = rand() % 10, rc;

		if (op < 3 && c.n < max)
			rc = do_spawn(&c);
		else if (op < 5 && c.n > 0)
			rc = do_destroy(&c, rand() % c.n);
		else if (op < 7)
			rc = do_select(&c, false, NULL, NULL);
		else if (op < 9 && c.n > 0)
			rc = do_select(&c, true, c.names[rand() % c.n], NULL);
		else
			rc = do_subscribe(&c, path);
		c.ops++;
		if (rc) {
			fprintf(stderr, "client %d: request %lu (op %d) failed or unanswered\n", id, c.ops, op);
			bad = 1;
		}
	}
	/* what the agent lists under our prefix must be exactly ours */
	snprintf(sel, sizeof(sel), "c%d-*", id);
	if (!bad && do_select(&c, false, sel, &r) == 0) {
		int match = (int)r->n_vms == c.n;

		for (size_t k = 0; match && k < r->n_vms; k++) {
			int found = 0;
			for (int j = 0; j < c.n; j++)
				found += strcmp(r->vms[k]->name, c.names[j]) == 0;
			match = found == 1;
		}
		if (!match) {
			fprintf(stderr, "client %d: agent lists %zu VMs, client has %d\n", id, r->n_vms, c.n);
			bad = 1;
		}
		lightvm__reply__free_unpacked(r, NULL);
	} else {
		bad = 1;
	}
	while (c.n > 0 && !bad)
		bad = do_destroy(&c, 0) != 0;
	printf("client %d: %lu requests, %lu refused, %s\n", id, c.ops, c.errs, bad ? "FAILED" : "ok");
	return bad;
}

int main(int argc, char **argv)
{
	int n, secs, max, failed = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: lv-load SOCKET CLIENTS SECONDS [MAX]\n");
		return 2;
	}
	n = atoi(argv[2]);
	secs = atoi(argv[3]);
	max = argc > 4 ? atoi(argv[4]) : 8;
	if (n < 1 || n > 1024 || secs < 1 || max < 1 || max > MAXVMS)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int k = 0; k < n; k++) {
		pid_t p = fork();
		if (p == 0)
			_exit(client(argv[1], k + 1, secs, max));
		if (p < 0)
			return 2;
	}
	for (int k = 0; k < n; k++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	printf("lv-load: %d clients, %d failed\n", n, failed);
	return failed ? 1 : 0;
}
