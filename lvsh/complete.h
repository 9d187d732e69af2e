/*
 * complete.h - tab completion for the REPL, driven by the command table:
 * command names, a command's options, and its positional words as its
 * usage names them (VM and SELECTOR: VM names; IMAGE: catalog images;
 * CMD: commands; FILE: file names; a lowercase word such as "set": that
 * word).  VM and image names come from the agent and are cached briefly.
 */
#ifndef LVSH_COMPLETE_H
#define LVSH_COMPLETE_H

#include <stddef.h>

#include "lvsh.h"

#define LVSH_VM_CACHE_NS    (2ll * 1000000000ll)	/* VM names */
#define LVSH_IMAGE_CACHE_NS (10ll * 1000000000ll)	/* image names */

struct lvsh_completion {
	char  **words;		/* candidates, sorted, unique (malloc'ed) */
	size_t  n;
	size_t  start;		/* offset in the line of the word completed */
	int     no_space;	/* a unique candidate ends in '=' or '/': no blank */
};

/* What the word under the cursor can become.  line[0..len) is the text
 * before the cursor.  Returns 0 (cand->n may be 0) or -ENOMEM. */
int lvsh_complete(struct lvsh *sh, const char *line, size_t len,
		  struct lvsh_completion *cand);
void lvsh_completion_free(struct lvsh_completion *cand);

/* Longest common prefix of the candidates, in bytes. */
size_t lvsh_completion_common(const struct lvsh_completion *cand);

/* Forget cached VM names (after a command that spawned or destroyed). */
void lvsh_complete_invalidate(void);

/* Kind of the positional word number pos (from 0) of a usage form:
 * "VM", "SELECTOR", "IMAGE", "CMD", a literal, alternatives of these
 * joined by '|' ("IMAGE|last|off"), or NULL.  Written into buf. */
const char *lvsh_usage_word(const char *usage, int pos, char *buf,
			    size_t len);
/* The forms of a usage, split at " | " ("[set FLAVOR N | preload
 * IMAGE]": two); at most max of them, each cut at 127 bytes. */
size_t lvsh_usage_forms(const char *usage, char forms[][128], size_t max);

#endif
