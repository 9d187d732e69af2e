/*
 * repl.c - the interactive console (libedit prompt, history, completion
 * from the command table).  Not built yet: this is the hook main() calls
 * when standard input is a terminal and no -c/-f/command was given.
 */
#include "lvsh.h"

int lvsh_repl(struct lvsh *sh)
{
	fprintf(stderr, "interactive mode not built yet; use -c\n");
	return LVSH_EXIT_USAGE;
}
