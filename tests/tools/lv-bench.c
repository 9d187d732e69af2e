/*
 * lv-bench - the spawn benchmarks' driver.  Talks to lightvmd through the
 * protocol and measures, in the same process and interleaved so that both
 * see the same machine, VM spawn latency next to the baselines:
 *
 *   lv-bench -S SOCK [-t TINY] [-q QEMUCMD] [-x NAME=CMD]... [-p POOLWAIT]
 *            MAX STEP
 *
 * grows the number of running noop VMs from 0 to MAX, one spawn request
 * at a time.  For every VM it prints "lightvm,RUNNING,NS,POOLED,CLIENT_NS"
 * where NS is the VM's flight-recorder spawn latency (the agent's clock:
 * request received -> guest ready), CLIENT_NS the client's clock (request
 * written -> "ready" reply read, this process) and RUNNING the number of
 * VMs already running.  Each spawn is paired with one fork+exec of TINY
 * ("fork,RUNNING,NS": fork -> first byte read from the child).  Every STEP
 * VMs, QEMUCMD (a shell command that boots a VM and exits once it is
 * ready) is timed 3 times ("qemu,RUNNING,NS"), as is each -x command (up
 * to 4; "NAME,RUNNING,NS": a container runtime running TINY, say), whole
 * processes started with system(3); with -p the tool waits until the 4M/1
 * pool has at least POOLWAIT ready shells before the next step.
 */
#include <errno.h>
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

static int sock = -1;
static uint32_t seq;

static long long now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static Lightvm__Reply *call(Lightvm__Request *rq)
{
	size_t n = lightvm__request__get_packed_size(rq);
	uint8_t *buf = malloc(n ? n : 1), *body = NULL;
	struct lv_frame_hdr h;
	Lightvm__Reply *r;

	if (!buf)
		exit(1);
	lightvm__request__pack(rq, buf);
	if (lv_frame_write(sock, LV_FRAME_REQUEST, ++seq, buf, (uint32_t)n)) {
		fprintf(stderr, "lv-bench: write failed\n");
		exit(1);
	}
	free(buf);
	do {
		free(body);
		body = NULL;
		if (lv_frame_read(sock, &h, &body)) {
			fprintf(stderr, "lv-bench: agent closed the connection\n");
			exit(1);
		}
	} while (h.type != LV_FRAME_REPLY || h.seq != seq);
	r = lightvm__reply__unpack(NULL, h.len, body);
	free(body);
	if (!r) {
		fprintf(stderr, "lv-bench: bad reply\n");
		exit(1);
	}
	if (r->has_err && r->err) {
		fprintf(stderr, "lv-bench: agent: %s\n", r->message ? r->message : "error");
		exit(1);
	}
	return r;
}

static void spawn_one(unsigned running)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__SpawnReq sp = LIGHTVM__SPAWN_REQ__INIT;
	Lightvm__Reply *r;
	long long t0;

	sp.count = 1;
	sp.image = (char *)"noop";
	rq.op_case = LIGHTVM__REQUEST__OP_SPAWN;
	rq.spawn = &sp;
	t0 = now();
	r = call(&rq);
	t0 = now() - t0;
	if (r->n_vms != 1 || !r->vms[0]->has_spawn_ns || r->n_failures) {
		fprintf(stderr, "lv-bench: spawn failed at %u VMs: %s\n", running,
			r->n_failures ? r->failures[0]->message : "no ready time");
		exit(1);
	}
	printf("lightvm,%u,%llu,%d,%lld\n", running, (unsigned long long)r->vms[0]->spawn_ns,
	       r->vms[0]->pooled ? 1 : 0, t0);
	lightvm__reply__free_unpacked(r, NULL);
}

static unsigned pool_ready(void)
{
	Lightvm__Request rq = LIGHTVM__REQUEST__INIT;
	Lightvm__PoolReq pr = LIGHTVM__POOL_REQ__INIT;
	Lightvm__Reply *r;
	unsigned ready = 0;

	rq.op_case = LIGHTVM__REQUEST__OP_POOL;
	rq.pool = &pr;
	r = call(&rq);
	for (size_t i = 0; i < r->n_pools; i++)
		if (!strcmp(r->pools[i]->flavor, "4M/1"))
			ready = r->pools[i]->ready;
	lightvm__reply__free_unpacked(r, NULL);
	return ready;
}

static void fork_one(const char *tiny, unsigned running)
{
	int p[2];
	char c;
	long long t0, t1;
	pid_t pid;

	if (pipe(p))
		exit(1);
	t0 = now();
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(tiny, tiny, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		fprintf(stderr, "lv-bench: %s printed nothing\n", tiny);
		exit(1);
	}
	t1 = now();
	close(p[0]);
	waitpid(pid, NULL, 0);
	printf("fork,%u,%lld\n", running, t1 - t0);
}

/* A baseline that is a whole process (QEMU, a container runtime). */
static void cmd_one(const char *name, const char *cmd, unsigned running)
{
	long long t0 = now();
	int rc = system(cmd);

	if (rc != 0) {
		fprintf(stderr, "lv-bench: %s command failed (%d): %s\n", name, rc, cmd);
		return;
	}
	printf("%s,%u,%lld\n", name, running, now() - t0);
}

#define MAX_X 4

int main(int argc, char **argv)
{
	const char *path = NULL, *tiny = NULL, *xname[MAX_X + 1] = { "qemu" }, *xcmd[MAX_X + 1];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned max, step, poolwait = 0, nx = 1;
	char *eq;
	int opt;

	xcmd[0] = NULL;
	while ((opt = getopt(argc, argv, "S:t:q:x:p:")) != -1) {
		switch (opt) {
		case 'S': path = optarg; break;
		case 't': tiny = optarg; break;
		case 'q': xcmd[0] = optarg; break;
		case 'x':
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg || nx > MAX_X || memchr(optarg, ',', (size_t)(eq - optarg))) {
				fprintf(stderr, "lv-bench: -x NAME=CMD (a name without ',', at most %d)\n", MAX_X);
				return 2;
			}
			*eq = 0;
			xname[nx] = optarg;
			xcmd[nx++] = eq + 1;
			break;
		case 'p': poolwait = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!path || argc - optind != 2) {
		fprintf(stderr, "usage: lv-bench -S SOCK [-t TINY] [-q QEMUCMD] [-x NAME=CMD]... [-p POOLWAIT] MAX STEP\n");
		return 2;
	}
	max = (unsigned)atoi(argv[optind]);
	step = (unsigned)atoi(argv[optind + 1]);
	if (!max || !step)
		return 2;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("lv-bench: connect");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned running = 0; running < max; running++) {
		if (running % step == 0) {
			if (poolwait) {
				long long end = now() + 120000000000LL;
				while (pool_ready() < poolwait && now() < end)
					usleep(20000);
			}
			for (unsigned x = 0; x < nx; x++)
				for (int k = 0; xcmd[x] && k < 3; k++)
					cmd_one(xname[x], xcmd[x], running);
		}
		if (tiny)
			fork_one(tiny, running);
		spawn_one(running);
	}
	return 0;
}
