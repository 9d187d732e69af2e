/*
 * lv-time - wall time of one command in milliseconds, for the Xen testbed
 * whose busybox has no sub-second clock.
 *   lv-time CMD [ARG]...   run CMD, print "<ms>" on stderr, exit with its status
 *   lv-time -n             print CLOCK_MONOTONIC now in ms
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	double t0;
	pid_t pid;
	int st;

	if (argc == 2 && strcmp(argv[1], "-n") == 0) {
		printf("%.3f\n", now_ms());
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: lv-time CMD [ARG]... | lv-time -n\n");
		return 2;
	}
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 127;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0) {
		perror("waitpid");
		return 127;
	}
	fprintf(stderr, "%.3f\n", now_ms() - t0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
