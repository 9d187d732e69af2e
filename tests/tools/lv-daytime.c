/*
 * lv-daytime - ask many daytime servers (RFC 867, port 13) for the time,
 * in parallel, over TCP (default) or UDP (-u), and check every answer: a
 * line like "Thursday, November 26, 2026 20:09:29-UTC" within -d seconds
 * of the host clock.  Addresses come as arguments or one per line on
 * stdin.  -r retries refused/unreachable TCP connections until -t
 * expires (to time VMs that are still booting); -s NS measures each
 * answer from NS (CLOCK_REALTIME, e.g. the spawn request) instead of from
 * the query (-m: both on CLOCK_MONOTONIC, the agent's flight-recorder
 * clock; -o FILE: one line "IP T_ANSWER_NS OK" per VM).  Prints "correct/total", p50/p99/max latency; exit 0 iff all
 * answers are correct.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#define MAXQ 20000
#define PAR  256

struct q {
	struct in_addr ip;
	int fd, done, ok, tries;
	int64_t t0, t1, next;
	time_t tdata;            /* when the first bytes arrived */
	char buf[128];
	size_t len;
};

static struct q qs[MAXQ];
static int nq, udp, retry, maxdev = 5, nbad;
static int64_t start_ns;

static int mono;            /* -m: CLOCK_MONOTONIC (the agent's flight recorder) */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(mono ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int check(const char *line, time_t at)
{
	struct tm tm = { 0 };
	const char *e = strptime(line, "%A, %B %d, %Y %H:%M:%S-UTC", &tm);
	time_t t;

	if (!e || (*e && *e != '\r' && *e != '\n'))
		return 0;
	t = timegm(&tm);
	return llabs((long long)(t - at)) <= maxdev;
}

static void finish(struct q *q, int ok)
{
	q->buf[q->len < sizeof(q->buf) ? q->len : sizeof(q->buf) - 1] = 0;
	q->done = 1;
	q->ok = ok && check(q->buf, q->tdata ? q->tdata : time(NULL));
	q->t1 = now_ns();
	if (!q->ok && nbad++ < 10)
		fprintf(stderr, "bad answer from %s: '%s'\n", inet_ntoa(q->ip), q->buf);
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

static void tcp_start(struct q *q)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(13), .sin_addr = q->ip };

	q->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	q->tries++;
	if (q->fd < 0 || (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS))
		finish(q, 0);
}

static int run_tcp(int64_t deadline)
{
	struct pollfd pfd[PAR];
	int idx[PAR], next = 0, active = 0;

	for (;;) {
		int n = 0;
		int64_t now = now_ns();

		while (next < nq && active < PAR) {
			qs[next].t0 = now;
			tcp_start(&qs[next++]);
			active++;
		}
		for (int i = 0; i < next; i++)
			if (!qs[i].done && qs[i].fd < 0 && qs[i].next <= now)
				tcp_start(&qs[i]);
		for (int i = 0; i < next && n < PAR; i++)
			if (!qs[i].done && qs[i].fd >= 0) {
				pfd[n] = (struct pollfd){ .fd = qs[i].fd, .events = POLLIN };
				idx[n++] = i;
			}
		if (!n && next == nq) {
			int waiting = 0;

			for (int i = 0; i < nq; i++)
				waiting |= !qs[i].done;
			if (!waiting)
				return 0;
		}
		if (now > deadline)
			break;
		poll(pfd, (nfds_t)n, 10);
		for (int k = 0; k < n; k++) {
			struct q *q = &qs[idx[k]];
			ssize_t r;

			if (!pfd[k].revents)
				continue;
			r = read(q->fd, q->buf + q->len, sizeof(q->buf) - 1 - q->len);
			if (r > 0) {
				if (!q->len)
					q->tdata = time(NULL);
				q->len += (size_t)r;
				if (q->len < sizeof(q->buf) - 1)
					continue;
			}
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r < 0 && retry && q->len == 0) {    /* refused/unreachable: again */
				close(q->fd);
				q->fd = -1;
				q->next = now_ns() + 2000000;
				continue;
			}
			finish(q, r >= 0 || q->len > 0);
			active--;
		}
	}
	for (int i = 0; i < nq; i++)
		if (!qs[i].done)
			finish(&qs[i], 0);
	return 0;
}

static int run_udp(int64_t deadline)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int64_t resend = 0;

	if (fd < 0)
		return -1;
	for (int i = 0; i < nq; i++)
		qs[i].t0 = now_ns();
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t now = now_ns();
		int left = 0;

		if (now >= resend) {
			for (int i = 0; i < nq; i++) {
				struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(13),
							  .sin_addr = qs[i].ip };

				if (qs[i].done)
					continue;
				left++;
				sendto(fd, "?", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
			}
			if (!left)
				break;
			resend = now + 300000000;
		}
		if (now > deadline)
			break;
		if (poll(&p, 1, 20) <= 0)
			continue;
		for (;;) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			char b[128];
			ssize_t r = recvfrom(fd, b, sizeof(b) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

			if (r < 0)
				break;
			for (int i = 0; i < nq; i++)
				if (!qs[i].done && qs[i].ip.s_addr == from.sin_addr.s_addr) {
					memcpy(qs[i].buf, b, (size_t)r);
					qs[i].len = (size_t)r;
					qs[i].fd = -1;
					finish(&qs[i], 1);
					break;
				}
		}
	}
	for (int i = 0; i < nq; i++)
		if (!qs[i].done) {
			qs[i].fd = -1;
			finish(&qs[i], 0);
		}
	close(fd);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void add(const char *s)
{
	if (nq < MAXQ && inet_aton(s, &qs[nq].ip)) {
		qs[nq].fd = -1;
		nq++;
	}
}

int main(int argc, char **argv)
{
	int c, ok = 0;
	double timeout = 10;
	static int64_t lat[MAXQ];
	char line[64];
	FILE *out = NULL;

	while ((c = getopt(argc, argv, "urmt:s:d:o:")) != -1)
		switch (c) {
		case 'm': mono = 1; break;
		case 'o':
			if (!(out = fopen(optarg, "w"))) {
				perror(optarg);
				return 2;
			}
			break;
		case 'u': udp = 1; break;
		case 'r': retry = 1; break;
		case 't': timeout = atof(optarg); break;
		case 's': start_ns = atoll(optarg); break;
		case 'd': maxdev = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: lv-daytime [-u] [-r] [-m] [-t SEC] [-s START_NS] [-d SEC] [-o FILE] [IP...]\n");
			return 2;
		}
	for (int i = optind; i < argc; i++)
		add(argv[i]);
	if (optind == argc)
		while (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, " \r\n")] = 0;
			add(line);
		}
	if (!nq) {
		fprintf(stderr, "lv-daytime: no addresses\n");
		return 2;
	}
	if ((udp ? run_udp : run_tcp)(now_ns() + (int64_t)(timeout * 1e9)))
		return 2;
	for (int i = 0; i < nq; i++) {
		ok += qs[i].ok;
		lat[i] = qs[i].t1 - (start_ns ? start_ns : qs[i].t0);
		if (out)
			fprintf(out, "%s %lld %d\n", inet_ntoa(qs[i].ip), (long long)qs[i].t1, qs[i].ok);
	}
	qsort(lat, (size_t)nq, sizeof(lat[0]), cmp);
	printf("%s: %d/%d correct; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms%s\n",
	       udp ? "udp" : "tcp", ok, nq, lat[nq / 2] / 1e6, lat[(nq * 99) / 100] / 1e6,
	       lat[nq - 1] / 1e6, start_ns ? " (from the spawn request)" : "");
	return ok == nq ? 0 : 1;
}
