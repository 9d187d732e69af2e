/*
 * main.c - lvsh, the LightVM operator console: options, then commands
 * from the command line, -c, -f, standard input, or (on a terminal) the
 * interactive console.  See man/lvsh.1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "lvsh.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: lvsh [-ehtTV] [--json] [--no-autostart] [-D dir] [-S socket]\n"
"            [-c commands | -f file | command [arg ...]]\n"
"  -S PATH          agent socket (default $LIGHTVM_SOCKET or %s)\n"
"  -D DIR           state directory for an auto-started agent\n"
"  -c CMDS          run CMDS (separated by ';' or newlines)\n"
"  -f FILE          run the commands in FILE (- for standard input)\n"
"  -e               stop at the first failing command\n"
"  -t               the live view (the same as the command `top`)\n"
"  -T, --timing     after each request, its round trip on standard error\n"
"                   (request written -> reply read, this process's clock)\n"
"  --json           one JSON document per command on standard output\n"
"  --no-autostart   do not start lightvmd if it is not running\n"
"  -h, --help       this help; `lvsh help` lists the commands\n"
"  -V, --version    print the version\n",
		LVSH_DEFAULT_SOCKET);
}

/* Run a file or stream line by line, so a pipe is served as it comes. */
static int run_stream(struct lvsh *sh, FILE *f, const char *name,
		      int stop_on_error, int *worst)
{
	char *line = NULL, where[512];
	size_t cap = 0;
	unsigned long n = 0;
	int rc = LVSH_EXIT_OK;

	while (!sh->quit && getline(&line, &cap, f) >= 0) {
		n++;
		snprintf(where, sizeof(where), "%s:%lu", name, n);
		rc = lvsh_run_text(sh, line, where, stop_on_error, worst);
		if (stop_on_error && rc != LVSH_EXIT_OK)
			break;
	}
	if (ferror(f)) {
		lvsh_err(name, "read error: %s", strerror(errno));
		if (*worst < LVSH_EXIT_FAIL)
			*worst = LVSH_EXIT_FAIL;
	}
	free(line);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",         no_argument, NULL, 'j' },
		{ "timing",       no_argument, NULL, 'T' },
		{ "no-autostart", no_argument, NULL, 'A' },
		{ "help",         no_argument, NULL, 'h' },
		{ "version",      no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmds = NULL, *file = NULL, *env;
	char *top_argv[] = { "top", NULL };
	int live = 0;
	int c, stop_on_error = 0, worst = LVSH_EXIT_OK;
	struct lvsh sh;
	FILE *f;

	lvsh_init(&sh);
	env = getenv("LIGHTVM_SOCKET");
	if (env != NULL && *env != '\0')
		sh.sock_path = env;
	/* '+': options stop at the first command word, so that
	 * `lvsh spawn 3 noop --nowait` keeps --nowait for spawn. */
	while ((c = getopt_long(argc, argv, "+S:D:c:f:ehtTV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'S': sh.sock_path = optarg; break;
		case 'D': sh.state_dir = optarg; break;
		case 'c': cmds = optarg; break;
		case 'f': file = optarg; break;
		case 'e': stop_on_error = 1; break;
		case 't': live = 1; break;
		case 'T': sh.timing = 1; break;
		case 'j': sh.json = 1; break;
		case 'A': sh.autostart = 0; break;
		case 'h': usage(stdout); return LVSH_EXIT_OK;
		case 'V': printf("lvsh %s\n", LVSH_VERSION); return LVSH_EXIT_OK;
		default:  usage(stderr); return LVSH_EXIT_USAGE;
		}
	}
	if ((cmds != NULL) + (file != NULL) + (optind < argc) + live > 1) {
		fprintf(stderr, "lvsh: use one of -c, -f, -t or a command\n");
		return LVSH_EXIT_USAGE;
	}
	if (*sh.sock_path == '\0') {
		fprintf(stderr, "lvsh: -S: empty socket path\n");
		return LVSH_EXIT_USAGE;
	}

	if (live) {
		worst = lvsh_run_argv(&sh, 1, top_argv);
	} else if (optind < argc) {
		worst = lvsh_run_argv(&sh, argc - optind, argv + optind);
	} else if (cmds != NULL) {
		lvsh_run_text(&sh, cmds, "-c", stop_on_error, &worst);
	} else if (file != NULL && strcmp(file, "-") != 0) {
		f = fopen(file, "r");
		if (f == NULL) {
			fprintf(stderr, "lvsh: %s: %s\n", file, strerror(errno));
			return LVSH_EXIT_USAGE;
		}
		run_stream(&sh, f, file, stop_on_error, &worst);
		fclose(f);
	} else if (file == NULL && isatty(STDIN_FILENO)) {
		worst = lvsh_repl(&sh);
	} else {
		run_stream(&sh, stdin, "stdin", stop_on_error, &worst);
	}
	lvsh_fini(&sh);
	return worst;
}
