/*
 * vmcfg.h - VM config files in xl.cfg(5) syntax (lightvm.cfg(5), VM
 * CONFIG): the one parser that lvsh (`create`) and lightvmd (`autostart`)
 * share.  Self-contained C: no protobuf, no core, no terminal; both
 * programs turn a struct vmcfg into their own spawn request.
 *
 * A file is hostile input: it is read with a size cap, lines and strings
 * are bounded, lists do not nest, numbers are range-checked before they
 * can overflow.  Every key the file sets is either used or refused with an
 * error naming the file, the line and the key; a syntax error names the
 * line and the column.  A file with any error yields no config at all.
 */
#ifndef LV_VMCFG_H
#define LV_VMCFG_H

#include <stddef.h>
#include <stdint.h>

#define VMCFG_MAX_FILE    (64u * 1024)	/* bytes of one file */
#define VMCFG_MAX_LINE    4096u		/* bytes of one line */
#define VMCFG_MAX_LIST    16u		/* items of one list */
#define VMCFG_MAX_ERRS    16u		/* messages kept per file */
#define VMCFG_MAX_DIR     1024u		/* config files in a directory */
#define VMCFG_MAX_MIB     (1024u * 1024u)	/* memory: 1 TiB */
#define VMCFG_MAX_VCPUS   1024u
#define VMCFG_MAX_WATCHDOG 86400u	/* s, as LV_WATCHDOG_MAX */
#define VMCFG_CMDLINE_MAX 900u		/* as LV_SPAWN_CMDLINE_MAX */

struct vmcfg {
	char     name[64];		/* name prefix; "": the image's name */
	char     image[256];		/* image or kernel: catalog name or path */
	char     ramdisk[256];		/* "": none */
	char     cmdline[VMCFG_CMDLINE_MAX + 1];	/* "": none */
	uint64_t mem_bytes;		/* 0: the agent's default */
	uint32_t vcpus;			/* 0: the agent's default */
	int      has_watchdog;
	uint32_t watchdog_s;
	char     mode[16];		/* "", "noxs" or "xenstore" */
	int      destroy_on_poweroff;	/* on_poweroff = destroy */
	int      destroy_on_crash;	/* on_crash = destroy */
	int      nvifs;			/* 0 or 1 */
	char     bridge[16];		/* the vif's bridge=, "": any */
};

/* Messages, "FILE:LINE: ..." or "FILE:LINE:COL: ...", in file order. */
struct vmcfg_errs {
	unsigned n;			/* kept in msg[] */
	unsigned dropped;		/* more that did not fit */
	char     msg[VMCFG_MAX_ERRS][320];
};

/* Parse len bytes of text (need not be NUL-terminated) named `file` in
 * messages.  Returns 0 with *c filled, or -EINVAL with e->n >= 1 (and *c
 * undefined). */
int vmcfg_parse(const char *file, const char *text, size_t len,
		struct vmcfg *c, struct vmcfg_errs *e);

/* Read a regular file of at most VMCFG_MAX_FILE bytes and parse it.
 * Returns 0, -EINVAL (config errors in e), or -errno (a message in e). */
int vmcfg_load(const char *path, struct vmcfg *c, struct vmcfg_errs *e);

/* The config files of a directory: regular files whose name ends in
 * ".cfg" (not starting with '.'), sorted, at most VMCFG_MAX_DIR.
 * *paths (each "DIR/NAME") is malloc'ed: free with vmcfg_free_list.
 * Returns 0 or -errno with a message in err. */
int vmcfg_list_dir(const char *dir, char ***paths, size_t *n,
		   char *err, size_t errlen);
void vmcfg_free_list(char **paths, size_t n);

#endif
