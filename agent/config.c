/*
 * config.c - parse lightvmd.conf: "key = value" lines, '#' comments,
 * "pool FLAVOR = N" and "pool-preload = IMAGE".  Every error names the file and the line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "budget.h"
#include "config.h"

#define DEFAULT_POOL_TARGET 64

void config_init(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket = getenv("LIGHTVM_SOCKET") ? getenv("LIGHTVM_SOCKET") : LV_PROTO_DEFAULT_SOCKET;
	c->state_dir = LV_PROTO_DEFAULT_STATE_DIR;
	c->driver = "auto";
	c->group = "lightvm";
	c->admin_group = "lightvm-admin";
	c->npools = 1;
	snprintf(c->pools[0].flavor, sizeof(c->pools[0].flavor), "%uM/1", LV_MEM_DEFAULT >> 20);
	c->pools[0].mem = LV_MEM_DEFAULT;
	c->pools[0].vcpus = 1;
	c->pools[0].target = DEFAULT_POOL_TARGET;
}

void config_add_image_dir(struct agent_config *c, const char *dir)
{
	if (c->nimage_dirs < LV_MAX_IMAGE_DIRS) {
		char *d = strdup(dir);
		if (d)
			c->image_dirs[c->nimage_dirs++] = d;
	}
}

void config_free(struct agent_config *c)
{
	for (unsigned i = 0; i < c->nimage_dirs; i++)
		free(c->image_dirs[i]);
	for (unsigned i = 0; i < c->nstrs; i++)
		free(c->strs[i]);
	c->nimage_dirs = c->nstrs = 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static const char *keep(struct agent_config *c, const char *v)
{
	if (c->nstrs >= sizeof(c->strs) / sizeof(c->strs[0]))
		return NULL;
	return c->strs[c->nstrs++] = strdup(v);
}

static int set_pool(struct agent_config *c, const char *flavor, const char *val,
		    char *err, size_t errlen, const char *where)
{
	struct pool_cfg p = { 0 };
	char *end;
	unsigned long n;
	unsigned i;

	if (lv_flavor_parse_kind(flavor, &p.mem, &p.vcpus, &p.kind) ||
	    lv_flavor_check(p.mem, p.vcpus)) {
		snprintf(err, errlen, "%s: bad pool flavor '%s' (MEM or MEM/VCPUS, /linux for Linux: %s)",
			 where, flavor, lv_proto_pool_rule());
		return -EINVAL;
	}
	errno = 0;
	n = strtoul(val, &end, 10);
	if (errno || *end || !isdigit((unsigned char)*val) || n > LV_PROTO_POOL_TARGET_MAX) {
		snprintf(err, errlen, "%s: bad pool size '%s' (0 .. %u)", where, val,
			 LV_PROTO_POOL_TARGET_MAX);
		return -EINVAL;
	}
	snprintf(p.flavor, sizeof(p.flavor), "%s", flavor);
	p.target = (unsigned)n;
	for (i = 0; i < c->npools; i++)
		if (c->pools[i].mem == p.mem && c->pools[i].vcpus == p.vcpus &&
		    c->pools[i].kind == p.kind)
			break;
	if (i == LV_MAX_POOLS) {
		snprintf(err, errlen, "%s: too many pools (max %d)", where, LV_MAX_POOLS);
		return -E2BIG;
	}
	c->pools[i] = p;
	if (i == c->npools)
		c->npools++;
	return 0;
}

static int parse_line(struct agent_config *c, char *line, bool pools_only,
		      char *err, size_t errlen, const char *where)
{
	char *eq = strchr(line, '=');
	char *key, *val;
	char *end;

	if (!eq) {
		snprintf(err, errlen, "%s: expected 'key = value'", where);
		return -EINVAL;
	}
	*eq = 0;
	key = trim(line);
	val = trim(eq + 1);
	if (!*val) {
		snprintf(err, errlen, "%s: '%s' has no value", where, key);
		return -EINVAL;
	}
	if (strncmp(key, "pool", 4) == 0 && isspace((unsigned char)key[4]))
		return set_pool(c, trim(key + 5), val, err, errlen, where);
	if (strcmp(key, "pool-preload") == 0) {   /* lv_pool_preload checks the image */
		if (strlen(val) >= sizeof(c->pool_preload)) {
			snprintf(err, errlen, "%s: pool-preload is longer than %zu bytes", where,
				 sizeof(c->pool_preload) - 1);
			return -EINVAL;
		}
		snprintf(c->pool_preload, sizeof(c->pool_preload), "%s", val);
		return 0;
	}
	if (pools_only)
		return 0;
	if (strcmp(key, "socket") == 0)
		c->socket = keep(c, val);
	else if (strcmp(key, "state-dir") == 0)
		c->state_dir = keep(c, val);
	else if (strcmp(key, "driver") == 0)
		c->driver = keep(c, val);
	else if (strcmp(key, "image-dir") == 0)
		config_add_image_dir(c, val);
	else if (strcmp(key, "group") == 0)
		c->group = keep(c, val);
	else if (strcmp(key, "admin-group") == 0)
		c->admin_group = keep(c, val);
	else if (strcmp(key, "stop-vms") == 0) {
		if (strcmp(val, "yes") && strcmp(val, "no")) {
			snprintf(err, errlen, "%s: stop-vms is yes or no, not '%s'", where, val);
			return -EINVAL;
		}
		c->stop_vms = c->stop_vms || strcmp(val, "yes") == 0;
	}
	else if (strcmp(key, "metrics") == 0)
		c->metrics = strcmp(val, "off") ? keep(c, val) : NULL;
	else if (strcmp(key, "migrate-listen") == 0)   /* migrate_net.c checks both */
		c->migrate_listen = strcmp(val, "off") ? keep(c, val) : NULL;
	else if (strcmp(key, "migrate-key") == 0)
		c->migrate_key = keep(c, val);
	else if (strcmp(key, "net-bridge") == 0)
		c->net_bridge = keep(c, val);
	else if (strcmp(key, "net-subnet") == 0)
		c->net_subnet = keep(c, val);
	else if (strcmp(key, "autostart") == 0)
		c->autostart = keep(c, val);
	else if (strcmp(key, "watchdog") == 0) {
		unsigned long v;

		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || *end || v > LV_WATCHDOG_MAX) {
			snprintf(err, errlen, "%s: bad watchdog '%s' (seconds, 0 = none, <= %u)",
				 where, val, LV_WATCHDOG_MAX);
			return -EINVAL;
		}
		c->watchdog_s = (unsigned)v;
	} else if (strcmp(key, "boot-timeout") == 0) {
		unsigned long v;

		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || *end || v > 600000) {
			snprintf(err, errlen, "%s: bad boot-timeout '%s' (milliseconds, <= 600000)", where, val);
			return -EINVAL;
		}
		c->boot_timeout_ms = (unsigned)v;
	} else {
		int rc = limits_parse(key, val, err, errlen, where);

		if (rc != -ENOENT)
			return rc;
		snprintf(err, errlen, "%s: unknown key '%s'", where, key);
		return -EINVAL;
	}
	return 0;
}

static int load(struct agent_config *c, const char *path, bool required, bool pools_only,
		char *err, size_t errlen)
{
	char line[1024], where[600];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		if (!required && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "config %s: %s", path, strerror(errno));
		return -errno;
	}
	snprintf(c->config_path, sizeof(c->config_path), "%s", path);
	while (fgets(line, sizeof(line), f)) {
		char *s;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s: line too long", where);
			rc = -EINVAL;
			break;
		}
		line[strcspn(line, "#\n")] = 0;
		s = trim(line);
		if (!*s)
			continue;
		rc = parse_line(c, s, pools_only, err, errlen, where);
		if (rc)
			break;
	}
	fclose(f);
	return rc;
}

int config_load(struct agent_config *c, const char *path, char *err, size_t errlen)
{
	const char *sock = c->socket, *dir = c->state_dir, *drv = c->driver;
	bool sock_set = c->cli_socket || strcmp(sock, LV_PROTO_DEFAULT_SOCKET) != 0;
	bool dir_set = c->cli_state_dir;
	bool drv_set = c->cli_driver;
	int rc = load(c, path ? path : LV_DEFAULT_CONFIG, path != NULL, false, err, errlen);

	/* the command line wins */
	if (sock_set)
		c->socket = sock;
	if (dir_set)
		c->state_dir = dir;
	if (drv_set)
		c->driver = drv;
	if (!c->socket || !c->state_dir || !c->driver) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return rc;
}

int config_reload_pools(struct agent_config *c, char *err, size_t errlen)
{
	if (!c->config_path[0]) {
		snprintf(err, errlen, "no config file to reload");
		return -ENOENT;
	}
	c->pool_preload[0] = 0;
	return load(c, c->config_path, true, true, err, errlen);
}
