/*
 * main.c - lightvmd: options, daemon start, signals and the event loop.
 * The host (and with it the KVM shell factory) is opened before anything
 * else grows, so the factory forks from a small process.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "agent.h"
#include "autostart.h"
#include "budget.h"
#include "config.h"
#include "migrate_net.h"

static volatile sig_atomic_t g_stop, g_reload;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		g_reload = 1;
	else
		g_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lightvmd [-d] [--daemon] [-S socket] [-D statedir] [-I imagedir]...\n"
		"                [-f config] [--driver auto|kvm|xen] [--syslog] [--stop-vms]\n"
		"                [--metrics ADDR]\n"
		"  -S, --socket PATH     control socket (default %s)\n"
		"  -D, --state-dir DIR   state directory (default %s)\n"
		"  -I, --image-dir DIR   look for images in DIR (repeatable; searched first)\n"
		"  -f, --config FILE     agent config (default %s if it exists)\n"
		"      --driver NAME     auto (default), kvm or xen\n"
		"      --daemon          detach; return once the socket listens\n"
		"      --syslog          log to syslog instead of stderr\n"
		"      --stop-vms        destroy the VMs when stopping (default: leave them\n"
		"                        running; a restarted agent re-attaches them)\n"
		"      --metrics ADDR    serve Prometheus metrics on ADDR (127.0.0.1:PORT,\n"
		"                        [::1]:PORT or /path); overrides metrics= in config\n"
		"  -d, --debug           debug logging\n"
		"  -h, --help            this help\n",
		LV_PROTO_DEFAULT_SOCKET, LV_PROTO_DEFAULT_STATE_DIR, LV_DEFAULT_CONFIG);
}

static void core_log(void *ctx, enum lv_log_level lvl, const char *msg)
{
	alog(lvl, "%s", msg);
}

static void log_event(struct lv_vm *vm, enum lv_event ev)
{
	const struct lv_vm_info *i = lv_vm_info(vm);

	switch (ev) {
	case LV_EV_CRASHED:
		alog(LV_LOG_INFO, "%s: crashed: %s", i->name, i->reason);
		break;
	case LV_EV_FAILED:
		alog(LV_LOG_WARN, "%s: failed to start: %s", i->name, i->reason);
		break;
	default:
		alog(LV_LOG_DEBUG, "%s: %s", i->name, lv_event_name(ev));
	}
}

/* A VM event reaches every part that follows VMs, in this order; the
 * VM's agent state goes last, once its owners let go of their parts. */
static void core_event(void *ctx, struct lv_vm *vm, enum lv_event ev)
{
	struct vm_ext *e = lv_vm_user(vm);

	metrics_vm_event(vm, ev);
	records_vm_event(vm, ev);
	subs_vm_event(vm, ev);
	log_event(vm, ev);
	if (e && e->destroy_on)
		vmcfg_vm_event(vm, ev, e->destroy_on);
	waiters_vm_event(vm, ev);
	snapreq_vm_event(vm, ev);
	migrate_vm_event(vm, ev);
	if (ev == LV_EV_DESTROYED)
		vm_ext_release(vm);
}

static void core_prestart(void *ctx, struct lv_vm *vm, bool undo)
{
	records_prestart(vm, undo);
}

static void core_pool_event(void *ctx, uint64_t mem, uint32_t vcpus, int kind, bool empty)
{
	subs_pool_event(mem, vcpus, kind, empty);
}

/* The agent's runtime files (the KVM shells' sockets) go beside its
 * control socket, which lives in /run by default, a tmpfs on a standard
 * host: SOCKET minus a ".sock" suffix, plus ".run".  Their common parent
 * is made here (control_listen would make it later).  NULL if it does
 * not fit or cannot be made. */
static const char *run_dir(const char *sock, char *buf, size_t len)
{
	size_t n = strlen(sock);

	if (n > 5 && strcmp(sock + n - 5, ".sock") == 0)
		n -= 5;
	if (snprintf(buf, len, "%.*s.run", (int)n, sock) >= (int)len || control_mkdir_parent(buf))
		return NULL;
	return buf;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0755) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(buf, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Detach: the parent waits on a pipe for the child's "listening" byte,
 * or for a failure byte and the reason, which it prints on its stderr
 * (lvsh's autostart shows it) and exits 1. */
static int daemon_start(int *notify_fd)
{
	int p[2];
	pid_t pid;
	char c = 1, why[600];
	ssize_t n;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			c = 1;
		if (c != 0) {
			n = read(p[0], why, sizeof(why) - 1);
			why[n > 0 ? n : 0] = 0;
			fprintf(stderr, "lightvmd: %s\n", why[0] ? why :
				"the agent exited before it listened (see its log)");
		}
		_exit(c == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*notify_fd = p[1];
	return 0;
}

/* A start that failed: tell a waiting --daemon parent why.  Returns 1. */
/* The config's pool-preload, if it names one (a bad image is a
 * warning that names it, as a rejected pool is). */
static void pool_preload(const struct agent_config *c)
{
	char err[512];

	if (!c->pool_preload[0])
		return;
	if (lv_pool_preload(g_host, c->pool_preload, err, sizeof(err)))
		alog(LV_LOG_WARN, "config: pool-preload %s rejected: %s", c->pool_preload, err);
	else
		alog(LV_LOG_INFO, "pool: preload %s", c->pool_preload);
}

static int start_failed(int notify)
{
	const char *why = alog_first_error();
	char c = 1;
	ssize_t r;

	if (notify >= 0) {
		r = write(notify, &c, 1);
		if (r == 1 && why[0])
			r = write(notify, why, strlen(why));
		(void)r;
		close(notify);
	}
	return 1;
}

static void default_image_dirs(struct agent_config *cfg)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = 0;
		snprintf(dir, sizeof(dir), "%s/images", dirname(exe));
		config_add_image_dir(cfg, dir);
		snprintf(dir, sizeof(dir), "%s/../lib/lightvm/images", exe);
		config_add_image_dir(cfg, dir);
	}
	config_add_image_dir(cfg, "/usr/local/lib/lightvm/images");
	config_add_image_dir(cfg, "/usr/lib/lightvm/images");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "image-dir", required_argument, NULL, 'I' },
		{ "config", required_argument, NULL, 'f' },
		{ "driver", required_argument, NULL, 'r' },
		{ "daemon", no_argument, NULL, 'b' },
		{ "syslog", no_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'd' },
		{ "stop-vms", no_argument, NULL, 'k' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_config cfg;
	struct lv_host_config hc = { 0 };
	const char *cfg_file = NULL, *metrics = NULL;
	char sd_path[108];
	int sd_fd;
	bool daemon = false, debug = false, use_syslog = false, stop_vms = false;
	int notify = -1, opt, rc, exit_code = 0;
	char err[512], run[108];
	struct rlimit rl;

	config_init(&cfg);
	while ((opt = getopt_long(argc, argv, "S:D:I:f:dh", opts, NULL)) != -1) {
		switch (opt) {
		case 'S': cfg.socket = optarg; cfg.cli_socket = true; break;
		case 'D': cfg.state_dir = optarg; cfg.cli_state_dir = true; break;
		case 'I': config_add_image_dir(&cfg, optarg); break;
		case 'f': cfg_file = optarg; break;
		case 'r': cfg.driver = optarg; cfg.cli_driver = true; break;
		case 'b': daemon = true; break;
		case 'l': use_syslog = true; break;
		case 'd': debug = true; break;
		case 'k': stop_vms = true; break;
		case 'm': metrics = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lightvmd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	alog_setup(debug, use_syslog);
	if (config_load(&cfg, cfg_file, err, sizeof(err))) {
		fprintf(stderr, "lightvmd: %s\n", err);
		return 1;
	}
	default_image_dirs(&cfg);
	stop_vms = stop_vms || cfg.stop_vms;
	/* every VM costs the agent one fd: use all we may */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	if (daemon && daemon_start(&notify)) {
		fprintf(stderr, "lightvmd: cannot detach: %s\n", strerror(errno));
		return 1;
	}
	if (mkdir_p(cfg.state_dir)) {
		alog(LV_LOG_ERR, "state directory %s: %s", cfg.state_dir, strerror(errno));
		return start_failed(notify);
	}
	if (daemon && !use_syslog) {
		/* a detached agent logs to STATEDIR/lightvmd.log */
		char path[PATH_MAX];
		int lfd;

		snprintf(path, sizeof(path), "%s/lightvmd.log", cfg.state_dir);
		lfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (lfd >= 0) {
			dup2(lfd, 2);
			close(lfd);
		}
	}
	if ((rc = loop_init())) {
		alog(LV_LOG_ERR, "epoll: %s", strerror(-rc));
		return start_failed(notify);
	}
	hc.driver = cfg.driver;
	hc.state_dir = cfg.state_dir;
	hc.run_dir = run_dir(cfg.socket, run, sizeof(run));
	hc.image_dirs = (const char *const *)cfg.image_dirs;
	hc.loop = loop_for_core;
	hc.log = core_log;
	hc.event = core_event;
	hc.pool_event = core_pool_event;
	hc.prestart = core_prestart;
	hc.boot_timeout_ms = cfg.boot_timeout_ms;
	hc.net_bridge = cfg.net_bridge;
	hc.net_subnet = cfg.net_subnet;
	subs_init(cfg.state_dir);   /* before any event */
	rc = lv_host_open(&hc, &g_host);
	if (rc) {
		alog(LV_LOG_ERR, "cannot open the %s driver: %s", cfg.driver, strerror(-rc));
		return start_failed(notify);
	}
	g_watchdog_s = cfg.watchdog_s;
	autostart_setup(cfg.net_bridge);
	if (g_watchdog_s && strcmp(lv_host_driver(g_host), "kvm")) {
		alog(LV_LOG_WARN, "config: watchdog ignored: the %s driver has none",
		     lv_host_driver(g_host));
		g_watchdog_s = 0;
	}
	/* the VMs of a previous agent come back before clients can ask */
	if (records_init(cfg.state_dir) == 0)
		records_restore();
	/* systemd's socket (lightvmd.socket), else our own */
	sd_fd = notify_listen_fd(sd_path, sizeof(sd_path));
	if (sd_fd >= 0)
		cfg.socket = sd_path;
	err[0] = 0;
	rc = sd_fd >= 0 ? control_adopt(sd_fd) : sd_fd == -1 ?
		control_listen(cfg.socket, err, sizeof(err)) : sd_fd;
	if (!rc && (rc = metrics_start(metrics ? metrics : cfg.metrics, cfg.group,
					err, sizeof(err))))
		control_close();
	if (!rc && (rc = migrate_net_setup(cfg.migrate_listen, cfg.migrate_key, cfg.socket,
					   cfg.state_dir, err, sizeof(err)))) {
		metrics_close();
		control_close();
	}
	if (rc) {
		alog(LV_LOG_ERR, "%s", err[0] ? err : strerror(-rc));
		records_flush();
		lv_host_close(g_host);
		return start_failed(notify);
	}
	acl_setup(cfg.socket, cfg.group, cfg.admin_group);
	for (unsigned i = 0; i < cfg.npools; i++)
		if (lv_pool_set_kind(g_host, cfg.pools[i].mem, cfg.pools[i].vcpus, cfg.pools[i].kind,
				     cfg.pools[i].target))
			alog(LV_LOG_WARN, "config: pool %s rejected", cfg.pools[i].flavor);
	pool_preload(&cfg);
	autostart_run(cfg.autostart);   /* lightvm.cfg(5): one VM per file */
	{
		struct sigaction sa = { .sa_handler = on_signal };
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	alog(LV_LOG_INFO, "listening on %s%s (driver %s, state %s)", cfg.socket,
	     sd_fd >= 0 ? " (from systemd)" : "", lv_host_driver(g_host), cfg.state_dir);
	notify_send("READY=1");
	if (notify >= 0) {
		char ok = 0;
		int devnull = open("/dev/null", O_RDWR);

		if (write(notify, &ok, 1) != 1)
			alog(LV_LOG_WARN, "could not notify the parent");
		close(notify);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			close(devnull);
		}
	}
	while (!g_stop) {
		if ((rc = loop_run_once(100))) {
			alog(LV_LOG_ERR, "event loop: %s", strerror(-rc));
			exit_code = 1;
			break;
		}
		lv_host_tick(g_host);
		console_tick();
		control_tick();   /* read and idle timeouts, accept back-off */
		vmcfg_tick();     /* on_poweroff/on_crash = destroy */
		waiters_tick();
		snapreq_tick();
		migrate_tick();
		subs_tick();
		metrics_tick();
		notify_tick();
		records_flush();
		if (g_reload) {
			g_reload = 0;
			alog(LV_LOG_INFO, "SIGHUP: reloading %s", cfg.config_path);
			if (config_reload_pools(&cfg, err, sizeof(err)))
				alog(LV_LOG_WARN, "%s", err);
			for (unsigned i = 0; i < cfg.npools; i++)
				if (lv_pool_set_kind(g_host, cfg.pools[i].mem, cfg.pools[i].vcpus,
						     cfg.pools[i].kind, cfg.pools[i].target))
					alog(LV_LOG_WARN, "config: pool %s rejected", cfg.pools[i].flavor);
			pool_preload(&cfg);
		}
	}
	notify_send("STOPPING=1");
	control_close();
	metrics_close();
	if (stop_vms) {
		alog(LV_LOG_INFO, "stopping: destroying %u VMs (--stop-vms)", lv_host_count(g_host, NULL));
		handlers_destroy_all_sync(5000);
	} else {
		alog(LV_LOG_INFO, "stopping: leaving %u VMs running; the next agent re-attaches them",
		     lv_host_count(g_host, NULL));
	}
	records_flush();
	records_name_all();
	lv_host_close(g_host);
	subs_close();
	config_free(&cfg);
	return exit_code;
}
