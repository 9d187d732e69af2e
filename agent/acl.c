/*
 * acl.c - who may do what on the control socket.  The socket is 0660
 * root:GROUP (lightvm.cfg(5): group, default "lightvm"); if the group does
 * not exist it stays 0600 root:root and only root can connect.  The
 * peer's credentials (SO_PEERCRED, SO_PEERGROUPS) decide the role once,
 * at accept: root and members of the admin group (admin-group, default
 * "lightvm-admin") may do everything; other members of the socket's
 * group only read.  A denial is an EACCES reply naming the operation and
 * why, and a log line.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "agent.h"

static gid_t g_gid = (gid_t)-1, g_admin_gid = (gid_t)-1;
static char g_group[64], g_admin[64];

int acl_setup(const char *sock_path, const char *group, const char *admin_group)
{
	struct group *gr;

	snprintf(g_group, sizeof(g_group), "%s", group ? group : "lightvm");
	snprintf(g_admin, sizeof(g_admin), "%s", admin_group ? admin_group : "lightvm-admin");
	if ((gr = getgrnam(g_admin)))
		g_admin_gid = gr->gr_gid;
	else
		alog(LV_LOG_INFO, "access: no group '%s': only root may change VMs", g_admin);
	gr = getgrnam(g_group);
	if (!gr) {
		alog(LV_LOG_WARN, "access: no group '%s': the socket %s is root-only (0600)",
		     g_group, sock_path);
		return chmod(sock_path, 0600) < 0 ? -errno : 0;
	}
	g_gid = gr->gr_gid;
	if (chown(sock_path, 0, g_gid) < 0 || chmod(sock_path, 0660) < 0) {
		int e = errno;
		alog(LV_LOG_ERR, "access: %s: cannot give it to group '%s': %s", sock_path,
		     g_group, strerror(e));
		chmod(sock_path, 0600);
		return -e;
	}
	alog(LV_LOG_DEBUG, "access: socket root:%s 0660, admin group '%s'", g_group, g_admin);
	return 0;
}

static bool in_groups(gid_t want, gid_t primary, const gid_t *g, int n)
{
	if (want == (gid_t)-1)
		return false;
	if (primary == want)
		return true;
	for (int k = 0; k < n; k++)
		if (g[k] == want)
			return true;
	return false;
}

enum acl_role acl_role_of(int fd, uid_t uid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	int n = 0;

	if (uid == 0)
		return ACL_ADMIN;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		n = (int)(len / sizeof(gid_t));
	} else {
		/* an old kernel: the user's groups from the database */
		struct passwd *pw = getpwuid(uid);
		n = 256;
		if (!pw || getgrouplist(pw->pw_name, gid, groups, &n) < 0)
			n = 0;
	}
	if (in_groups(g_admin_gid, gid, groups, n))
		return ACL_ADMIN;
	if (in_groups(g_gid, gid, groups, n))
		return ACL_READ;
	return ACL_NONE;
}

/* The operation a request is, and whether it only reads. */
static const char *op_name(const Lightvm__Request *rq, bool *read_only)
{
	*read_only = true;
	switch (rq->op_case) {
	case LIGHTVM__REQUEST__OP_LIST: return "list";
	case LIGHTVM__REQUEST__OP_INSPECT: return "inspect";
	case LIGHTVM__REQUEST__OP_LOG: return "log";
	case LIGHTVM__REQUEST__OP_HOST: return "host";
	case LIGHTVM__REQUEST__OP_SUBSCRIBE: return "subscribe";
	case LIGHTVM__REQUEST__OP_WAIT: return "wait";
	case LIGHTVM__REQUEST__OP_POOL:
		if (rq->pool->preload) {
			*read_only = false;
			return "pool preload";
		}
		if (rq->pool->flavor && *rq->pool->flavor) {
			*read_only = false;
			return "pool set";
		}
		return "pool";
	case LIGHTVM__REQUEST__OP_CONSOLE:
		/* reading a console is like log; typing into it is not */
		*read_only = !rq->console->has_input || rq->console->input.len == 0;
		return *read_only ? "console" : "console input";
	case LIGHTVM__REQUEST__OP_SPAWN:
		*read_only = false;
		return "spawn";
	case LIGHTVM__REQUEST__OP_ACTION:
		*read_only = false;
		switch (rq->action->action) {
		case LIGHTVM__ACTION__PAUSE: return "pause";
		case LIGHTVM__ACTION__UNPAUSE: return "unpause";
		case LIGHTVM__ACTION__SHUTDOWN: return "shutdown";
		case LIGHTVM__ACTION__REBOOT: return "reboot";
		default: return "destroy";
		}
	default:
		*read_only = false;
		return "request";
	}
}

int acl_check(enum acl_role role, uid_t uid, const Lightvm__Request *rq, char *why, size_t len)
{
	static struct alog_limit lim_denied;   /* a denied client may loop */
	bool ro;
	const char *op = op_name(rq, &ro);

	if (role == ACL_ADMIN || (role == ACL_READ && ro))
		return 0;
	if (role == ACL_READ) {
		alog_limited(&lim_denied, LV_LOG_WARN, "access: denied %s to uid %d (read-only: not root or in group '%s')",
		     op, (int)uid, g_admin);
		snprintf(why, len, "%s: permission denied: uid %d may only read (list, inspect, stats, events, host, log, pool, wait); changing VMs needs root or the '%s' group",
			 op, (int)uid, g_admin);
	} else {
		alog_limited(&lim_denied, LV_LOG_WARN, "access: denied %s to uid %d (not in group '%s' or '%s')",
		     op, (int)uid, g_group, g_admin);
		snprintf(why, len, "%s: permission denied: uid %d is not root and not in the '%s' or '%s' group",
			 op, (int)uid, g_group, g_admin);
	}
	return -EACCES;
}

/* ---- files a client names, opened with the client's rights
 *
 * The agent runs as root; a snapshot path comes from an admin who may be
 * no more than a member of the admin group.  Around such an open the
 * calling thread takes the client's file-system identity: setfsuid,
 * setfsgid and the raw setgroups system call, all per thread (glibc's
 * setgroups() would change every thread), so the kernel checks the
 * client's permissions and a new file belongs to the client.  Nothing
 * else changes: the agent's other threads, its real and effective ids. */

static gid_t saved_groups[256];
static int nsaved = -1;

static int peer_groups(int fd, uid_t uid, gid_t gid, gid_t *groups, int max)
{
	socklen_t len = (socklen_t)(max * (int)sizeof(gid_t));
	struct passwd *pw;
	int n = max;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		return (int)(len / sizeof(gid_t));
	pw = getpwuid(uid);
	if (!pw || getgrouplist(pw->pw_name, gid, groups, &n) < 0)
		return 0;
	return n;
}

int acl_fs_enter(int peer_fd, uid_t uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	gid_t groups[256];
	int n;

	if (uid == 0)
		return 0;
	if (getsockopt(peer_fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != uid)
		return -EPERM;
	if (nsaved < 0 && (nsaved = getgroups(256, saved_groups)) < 0) {
		nsaved = -1;
		return -errno;
	}
	n = peer_groups(peer_fd, uid, cr.gid, groups, 256);
	if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
		return -errno;
	setfsgid(cr.gid);
	setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != cr.gid) {
		acl_fs_leave();
		return -EPERM;
	}
	return 0;
}

void acl_fs_leave(void)
{
	if (nsaved < 0)
		return;
	setfsuid(0);
	setfsgid(0);
	if (syscall(SYS_setgroups, (size_t)nsaved, saved_groups) < 0)
		alog(LV_LOG_ERR, "access: restoring the agent's groups: %s", strerror(errno));
}
