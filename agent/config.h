/*
 * config.h - lightvmd's own configuration (lightvm.cfg(5), AGENT CONFIG):
 * defaults, the config file, and what the command line overrides.
 */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm.h"             /* enum lv_kind */
#include "lv_limits.h"           /* proto/: default socket and state directory */

#define LV_DEFAULT_CONFIG    "/etc/lightvm/lightvmd.conf"
#define LV_MAX_POOLS         16
#define LV_MAX_IMAGE_DIRS    16

struct pool_cfg {
	char flavor[32];
	uint64_t mem;
	uint32_t vcpus;
	enum lv_kind kind;
	unsigned target;
};

struct agent_config {
	const char *socket;          /* points into argv or strs */
	const char *state_dir;
	const char *driver;
	char *image_dirs[LV_MAX_IMAGE_DIRS + 1]; /* NULL-terminated, owned */
	unsigned nimage_dirs;
	unsigned boot_timeout_ms;
	const char *net_bridge;      /* net-bridge, NULL: "lvbr0" */
	const char *net_subnet;      /* net-subnet, NULL: "10.77.0.0/16" */
	const char *group;           /* socket group (read access), "lightvm" */
	const char *admin_group;     /* may change VMs, "lightvm-admin" */
	bool stop_vms;               /* destroy the VMs when the agent stops */
	const char *metrics;         /* metrics = ADDR (metrics.c), NULL: none */
	const char *migrate_listen;  /* migrate-listen = ADDR:PORT (migrate_net.c), NULL: off */
	const char *migrate_key;     /* migrate-key = FILE, NULL: none */
	unsigned watchdog_s;         /* watchdog = SEC: spawns' default, 0: none */
	const char *autostart;       /* autostart = DIR (autostart.c), NULL: none */
	struct pool_cfg pools[LV_MAX_POOLS];
	unsigned npools;
	char pool_preload[256];      /* pool-preload = IMAGE|last|off, "": unset */
	char config_path[512];
	bool cli_socket, cli_state_dir, cli_driver; /* given on the command line */
	char *strs[16];              /* strings owned for socket etc. */
	unsigned nstrs;
};

void config_init(struct agent_config *c);
/* Load path (NULL: the default file, if it exists).  Command-line values
 * already set win over the file.  Returns 0 or -errno with err set. */
int config_load(struct agent_config *c, const char *path, char *err, size_t errlen);
/* Re-read only the pool sizes (SIGHUP). */
int config_reload_pools(struct agent_config *c, char *err, size_t errlen);
void config_add_image_dir(struct agent_config *c, const char *dir);
void config_free(struct agent_config *c);

#endif
