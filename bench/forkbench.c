/*
 * forkbench.c - the process baseline for the spawn benchmarks: fork+exec
 * PROGRAM N times, one after the other, and print for each the ns from
 * just before fork() to the parent reading the child's first output byte
 * (the analogue of request -> guest ready).
 *   forkbench PROGRAM N
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static long long now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	int n = argc == 3 ? atoi(argv[2]) : 0;

	if (n <= 0) {
		fprintf(stderr, "usage: forkbench PROGRAM N\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		int p[2];
		char c;
		long long t0 = now(), t1;
		pid_t pid;

		if (pipe(p))
			return 1;
		pid = fork();
		if (pid == 0) {
			dup2(p[1], 1);
			close(p[0]);
			execl(argv[1], argv[1], (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			return 1;
		t1 = now();
		close(p[0]);
		waitpid(pid, NULL, 0);
		printf("%lld\n", t1 - t0);
	}
	return 0;
}
