/*
 * hostnet.c - host networking for guests with a NIC (see hostnet.h): the bridge,
 * the taps, the address and MAC of each VM, and the ELF note by which an
 * image asks for a NIC.  Talks to the kernel over one rtnetlink socket;
 * every request is acked and its error reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "elf.h"
#include "lv_internal.h"
#include "lightvm_abi.h"
#include "hostnet.h"
#include "pool.h"

#define TAP_POOL   16           /* taps kept ready once networking is used ... */
#define TAP_POOL_MAX 4096       /* ... plus one per pooled shell, up to this */
#define TAP_QUIET_NS 200000000ll  /* no tap made this soon after one was taken */
#define TAP_BUDGET_NS 10000000ll  /* nor for longer than this per tick */
#define TAP_NAME   "lvt%d"
#define HOLD_MAX   256          /* addresses of unrecorded shells, after a restart */
#define HOLD_CHECK_NS 1000000000ll
#define DROPS_EVERY_NS 1000000000ll /* the taps' drop counters: at most once a second */

struct lv_net {
	char bridge[IFNAMSIZ];
	uint32_t net, mask, host;   /* host byte order */
	uint32_t nhosts;            /* addresses in the subnet */
	uint8_t *used;              /* bitmap over host numbers */
	uint32_t cursor;            /* next-fit */
	int nl;                     /* rtnetlink socket, -1 until first use */
	int br_index;               /* 0: bridge not set up yet */
	uint32_t seq;
	struct { int fd, index; } *pool;   /* taps made ahead: on the bridge, up */
	unsigned npool, cpool;
	int64_t tap_taken;          /* when the pool last handed one out */
	bool nic_used;              /* a VM with a NIC got a tap since the start */
	bool no_af_spec;            /* kernel refused IFLA_AF_SPEC/inet6 */
	/* after a restart: addresses whose guest MAC still sits in the
	 * bridge's FDB (a live tap) but that no record claims (a shell of
	 * a half-created VM, being destroyed): held until the tap goes */
	uint32_t hold[HOLD_MAX];
	unsigned nhold;
	int64_t hold_checked;
	bool restore_warned;
	bool no_isolate, isolate_warned;  /* ports could not be isolated */
	/* frames the kernel dropped on their way into each guest (its tap's
	 * queue was full: the guest posted no buffers), by host number;
	 * read from netlink when asked, at most once a second */
	uint64_t *rx_drops;
	int64_t drops_at;
	/* each guest's tap (ifindex) by host number, noted when the tap is
	 * handed out; after a restart read once from the bridge's FDB */
	uint32_t *tap_index;
	bool tap_index_stale;
};

/* ---- netlink */

struct nlreq {
	struct nlmsghdr h;
	char buf[512];
};

static void *nl_put(struct nlreq *r, const void *p, size_t n)
{
	char *at = (char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len);

	memcpy(at, p, n);
	r->h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(r->h.nlmsg_len) + n);
	return at;
}

static struct rtattr *attr(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr a = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
	struct rtattr *at = nl_put(r, &a, sizeof(a));

	if (len)
		nl_put(r, data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len);
	return at;
}

static void attr_end(struct nlreq *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)&r->h + r->h.nlmsg_len - (char *)nest);
}

static void nl_start(struct lv_net *n, struct nlreq *r, uint16_t type, uint16_t flags)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_HDRLEN;
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	r->h.nlmsg_seq = ++n->seq;
}

/* Send r, wait for its ack.  0 or -errno. */
/* Send r and read the answers to it: every message of a dump goes to cb
 * (when given), until NLMSG_DONE (0) or NLMSG_ERROR (its error: 0 for the
 * ack of a plain request, or -errno). */
static int nl_exchange(struct lv_net *n, struct nlreq *r,
		       void (*cb)(struct lv_net *, struct nlmsghdr *, void *), void *arg)
{
	static char buf[65536];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(n->nl, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		ssize_t got = recv(n->nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		size_t len;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		len = (size_t)got;
		for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != r->h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (cb)
				cb(n, h, arg);
		}
	}
}

/* A request that only wants its ack: 0 or -errno. */
static int nl_talk(struct lv_net *n, struct nlreq *r)
{
	return nl_exchange(n, r, NULL, NULL);
}

/* A dump request (type, family): cb sees every answer; 0 or -errno. */
static int nl_dump(struct lv_net *n, uint16_t type, uint8_t family,
		   void (*cb)(struct lv_net *, struct nlmsghdr *, void *), void *arg)
{
	struct nlreq r;
	struct ndmsg nd = { .ndm_family = family };

	nl_start(n, &r, type, NLM_F_DUMP);
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nl_put(&r, &nd, sizeof(nd));
	return nl_exchange(n, &r, cb, arg);
}

static int nl_open(struct lv_net *n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (n->nl >= 0)
		return 0;
	n->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (n->nl < 0)
		return -errno;
	if (bind(n->nl, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(n->nl);
		n->nl = -1;
		return rc;
	}
	return 0;
}

/* RTM_NEWLINK on an existing link: optionally enslave it, no IPv6
 * address generation (no router solicitations into the guests), then up
 * (a second request: the kernel applies IFLA_AF_SPEC after the flags). */
static int link_set(struct lv_net *n, int index, int master)
{
	struct nlreq r;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	int rc;

	nl_start(n, &r, RTM_NEWLINK, 0);
	nl_put(&r, &ifi, sizeof(ifi));
	if (master)
		attr(&r, IFLA_MASTER, &master, sizeof(master));
	if (!n->no_af_spec) {
		struct rtattr *spec = attr(&r, IFLA_AF_SPEC, NULL, 0);
		struct rtattr *in6 = attr(&r, AF_INET6, NULL, 0);
		uint8_t mode = IN6_ADDR_GEN_MODE_NONE;

		attr(&r, IFLA_INET6_ADDR_GEN_MODE, &mode, sizeof(mode));
		attr_end(&r, in6);
		attr_end(&r, spec);
	}
	rc = nl_talk(n, &r);
	if ((rc == -EAFNOSUPPORT || rc == -EOPNOTSUPP || rc == -EINVAL) && !n->no_af_spec) {
		n->no_af_spec = true;       /* no IPv6 here: fine */
		return link_set(n, index, master);
	}
	if (rc)
		return rc;
	ifi.ifi_flags = ifi.ifi_change = IFF_UP;
	nl_start(n, &r, RTM_NEWLINK, 0);
	nl_put(&r, &ifi, sizeof(ifi));
	return nl_talk(n, &r);
}

static int bridge_create(struct lv_net *n)
{
	struct nlreq r;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	static const uint8_t mac[6] = { 0x02, 'L', 'V', 0, 0, 1 };
	struct rtattr *li;

	nl_start(n, &r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	nl_put(&r, &ifi, sizeof(ifi));
	attr(&r, IFLA_IFNAME, n->bridge, strlen(n->bridge) + 1);
	/* a fixed MAC (host number 1 in the guests' scheme): a bridge that
	 * takes its ports' lowest MAC would change it as taps come and go,
	 * under the guests' ARP caches */
	attr(&r, IFLA_ADDRESS, mac, 6);
	li = attr(&r, IFLA_LINKINFO, NULL, 0);
	attr(&r, IFLA_INFO_KIND, "bridge", 6);
	attr_end(&r, li);
	return nl_talk(n, &r);
}

static int addr_add(struct lv_net *n, int index)
{
	struct nlreq r;
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_scope = RT_SCOPE_UNIVERSE,
				 .ifa_index = (uint32_t)index };
	uint32_t a = htonl(n->host), bc = htonl(n->net | ~n->mask);

	ifa.ifa_prefixlen = (uint8_t)__builtin_popcount(n->mask);
	nl_start(n, &r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	nl_put(&r, &ifa, sizeof(ifa));
	attr(&r, IFA_LOCAL, &a, 4);
	attr(&r, IFA_ADDRESS, &a, 4);
	attr(&r, IFA_BROADCAST, &bc, 4);
	return nl_talk(n, &r);
}

/* Create the bridge if missing, give it the host address, bring it up. */
static int bridge_setup(struct lv_host *h, char *err, size_t errlen)
{
	struct lv_net *n = h->net;
	int rc, idx;

	if (n->br_index)
		return 0;
	rc = nl_open(n);
	if (rc) {
		snprintf(err, errlen, "networking: netlink: %s", strerror(-rc));
		return rc;
	}
	idx = (int)if_nametoindex(n->bridge);
	if (!idx) {
		rc = bridge_create(n);
		if (rc && rc != -EEXIST) {
			snprintf(err, errlen, "networking: cannot create bridge %s: %s",
				 n->bridge, strerror(-rc));
			return rc;
		}
		idx = (int)if_nametoindex(n->bridge);
		if (!idx) {
			snprintf(err, errlen, "networking: bridge %s vanished", n->bridge);
			return -ENODEV;
		}
		lv__log(h, LV_LOG_INFO, "networking: created bridge %s", n->bridge);
	}
	rc = addr_add(n, idx);
	if (!rc)
		rc = link_set(n, idx, 0);
	if (rc) {
		snprintf(err, errlen, "networking: bridge %s: address or up: %s", n->bridge,
			 strerror(-rc));
		return rc;
	}
	n->br_index = idx;
	return 0;
}

/* A permanent neighbour entry on the bridge for a guest: the host never
 * ARPs for its guests (no broadcast storms across 1000 taps), and
 * permanent entries escape the neighbour table's garbage collection. */
static int neigh(struct lv_net *n, uint16_t type, uint32_t ip, const uint8_t *mac)
{
	struct nlreq r;
	struct ndmsg nd = { .ndm_family = AF_INET, .ndm_ifindex = n->br_index,
			    .ndm_state = NUD_PERMANENT };

	nl_start(n, &r, type, type == RTM_NEWNEIGH ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	nl_put(&r, &nd, sizeof(nd));
	attr(&r, NDA_DST, &ip, 4);
	if (mac)
		attr(&r, NDA_LLADDR, mac, 6);
	return nl_talk(n, &r);
}

/* Set one-byte IFLA_BRPORT_* flags (n of them: {type, value}) on a
 * bridge port in one RTM_SETLINK.  0 or -errno. */
static int brport_set(struct lv_net *n, int index, const uint8_t (*flags)[2], int nflags)
{
	struct nlreq r;
	struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE, .ifi_index = index };
	struct rtattr *pi;

	nl_start(n, &r, RTM_SETLINK, 0);
	nl_put(&r, &ifi, sizeof(ifi));
	pi = attr(&r, IFLA_PROTINFO | NLA_F_NESTED, NULL, 0);
	for (int k = 0; k < nflags; k++)
		attr(&r, flags[k][0], &flags[k][1], 1);
	attr_end(&r, pi);
	return nl_talk(n, &r);
}

/* Bridge port of a guest: no learning (the guest's MAC is a static FDB
 * entry) and no flooding of unknown unicast into it, so a guest never
 * sees, nor pays for, another guest's or a flooder's traffic. */
static int brport_flags(struct lv_net *n, int index)
{
	static const uint8_t f[][2] = {
		{ IFLA_BRPORT_LEARNING, 0 }, { IFLA_BRPORT_UNICAST_FLOOD, 0 },
	};

	return brport_set(n, index, f, 2);
}

/* Isolate a guest's port: guests reach the host (the bridge), not one
 * another.  0, or -errno (a kernel without IFLA_BRPORT_ISOLATED): a
 * request of its own, so that old kernels keep the flags above. */
static int brport_isolate(struct lv_net *n, int index)
{
	static const uint8_t f[][2] = { { IFLA_BRPORT_ISOLATED, 1 } };

	return brport_set(n, index, f, 1);
}

/* The guest's MAC lives behind its tap: a static FDB entry. */
static int fdb_add(struct lv_net *n, int index, const uint8_t *mac)
{
	struct nlreq r;
	struct ndmsg nd = { .ndm_family = AF_BRIDGE, .ndm_ifindex = index,
			    .ndm_state = NUD_NOARP, .ndm_flags = NTF_MASTER };

	nl_start(n, &r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	nl_put(&r, &nd, sizeof(nd));
	attr(&r, NDA_LLADDR, mac, 6);
	return nl_talk(n, &r);
}

static int tap_create(struct lv_net *n, int *index)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd, rc, idx;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memcpy(ifr.ifr_name, TAP_NAME, sizeof(TAP_NAME));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		goto err;
	}
	idx = (int)if_nametoindex(ifr.ifr_name);
	rc = idx ? link_set(n, idx, n->br_index) : -ENODEV;
	if (!rc)
		rc = brport_flags(n, idx);
	if (rc)
		goto err;
	if (brport_isolate(n, idx) < 0)
		n->no_isolate = true;   /* lv__net_tick says so, once */
	*index = idx;
	return fd;
err:
	close(fd);
	return rc;
}

/* Drop the pooled taps from index keep on.  Closing a tap's last fd
 * unregisters it, one RCU grace period each (~25 ms apiece on a nested
 * host, on the agent's loop); so they are moved into a group of this
 * agent's own and deleted with one RTM_DELLINK of that group (one
 * unregistration for all), and only then closed. */
static void pool_drop(struct lv_net *n, unsigned keep)
{
	uint32_t group = 0x4c560000u | ((uint32_t)getpid() & 0xffffu);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlreq r;
	bool grouped = n->nl >= 0;

	for (unsigned i = keep; grouped && i < n->npool; i++) {
		ifi.ifi_index = n->pool[i].index;
		nl_start(n, &r, RTM_NEWLINK, 0);
		nl_put(&r, &ifi, sizeof(ifi));
		attr(&r, IFLA_GROUP, &group, sizeof(group));
		if (nl_talk(n, &r))
			grouped = false;
	}
	if (grouped && n->npool > keep) {
		ifi.ifi_index = 0;
		nl_start(n, &r, RTM_DELLINK, 0);
		nl_put(&r, &ifi, sizeof(ifi));
		attr(&r, IFLA_GROUP, &group, sizeof(group));
		nl_talk(n, &r);
	}
	while (n->npool > keep)
		close(n->pool[--n->npool].fd);
}

/* ---- the public side */

static int parse_subnet(struct lv_net *n, const char *s)
{
	char ip[32];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	unsigned long plen;
	char *end;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = 0;
	errno = 0;
	plen = strtoul(slash + 1, &end, 10);
	if (inet_pton(AF_INET, ip, &a) != 1 || errno || *end || plen < 8 || plen > 30)
		return -EINVAL;
	n->mask = plen ? ~0u << (32 - plen) : 0;
	n->net = ntohl(a.s_addr) & n->mask;
	n->host = n->net + 1;
	n->nhosts = ~n->mask + 1;
	return 0;
}

int lv__net_open(struct lv_host *h, char *err, size_t errlen)
{
	const char *br = h->cfg.net_bridge ? h->cfg.net_bridge : LV_NET_DEFAULT_BRIDGE;
	const char *sub = h->cfg.net_subnet ? h->cfg.net_subnet : LV_NET_DEFAULT_SUBNET;
	struct lv_net *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->nl = -1;
	if (!*br || strlen(br) >= IFNAMSIZ || strchr(br, '/') || strchr(br, '%')) {
		snprintf(err, errlen, "bad bridge name '%s' (1..%d characters)", br, IFNAMSIZ - 1);
		free(n);
		return -EINVAL;
	}
	snprintf(n->bridge, sizeof(n->bridge), "%s", br);
	if (parse_subnet(n, sub)) {
		snprintf(err, errlen, "bad subnet '%s' (like 10.77.0.0/16, prefix 8..30)", sub);
		free(n);
		return -EINVAL;
	}
	n->used = calloc(n->nhosts / 8, 1);
	if (!n->used) {
		free(n);
		return -ENOMEM;
	}
	n->cursor = 2;
	h->net = n;
	return 0;
}

void lv__net_close(struct lv_host *h)
{
	struct lv_net *n = h->net;

	if (!n)
		return;
	pool_drop(n, 0);
	free(n->pool);
	if (n->nl >= 0)
		close(n->nl);
	free(n->used);
	free(n->rx_drops);
	free(n->tap_index);
	free(n);
	h->net = NULL;
}

/* Host numbers 2 .. nhosts-2: .0 is the network, .1 the host, the last
 * the broadcast address. */
static uint32_t addr_alloc(struct lv_net *n)
{
	for (uint32_t k = 0; k < n->nhosts; k++) {
		uint32_t i = n->cursor;

		n->cursor = i + 1 >= n->nhosts - 1 ? 2 : i + 1;
		if (i < 2 || i >= n->nhosts - 1 || (n->used[i / 8] & (1u << (i % 8))))
			continue;
		n->used[i / 8] |= (uint8_t)(1u << (i % 8));
		return i;
	}
	return 0;
}

static bool addr_used(const struct lv_net *n, uint32_t i)
{
	return n->used[i / 8] & (1u << (i % 8));
}

/* Host number i's address and MAC on vm->info. */
static void vm_set_addr(struct lv_vm *vm, const struct lv_net *n, uint32_t i)
{
	vm->info.ipv4 = htonl(n->net + i);
	/* locally administered, unicast, derived from the address: the
	 * same address always has the same MAC (no stale ARP entries) */
	vm->info.mac[0] = 0x02;
	vm->info.mac[1] = 'L';
	vm->info.mac[2] = 'V';
	vm->info.mac[3] = (uint8_t)(i >> 16);
	vm->info.mac[4] = (uint8_t)(i >> 8);
	vm->info.mac[5] = (uint8_t)i;
	snprintf(vm->info.mac_str, sizeof(vm->info.mac_str), "%02x:%02x:%02x:%02x:%02x:%02x",
		 vm->info.mac[0], vm->info.mac[1], vm->info.mac[2], vm->info.mac[3],
		 vm->info.mac[4], vm->info.mac[5]);
	inet_ntop(AF_INET, &vm->info.ipv4, vm->info.ipv4_str, sizeof(vm->info.ipv4_str));
}

int lv__net_vm_attach(struct lv_vm *vm, char *err, size_t errlen)
{
	struct lv_net *n = vm->host->net;
	uint32_t i;
	int rc;

	if (!n) {
		snprintf(err, errlen, "networking is not configured");
		return -ENOTSUP;
	}
	rc = bridge_setup(vm->host, err, errlen);
	if (rc)
		return rc;
	i = addr_alloc(n);
	if (!i) {
		snprintf(err, errlen, "networking: no free address left in the subnet");
		return -ENOSPC;
	}
	vm_set_addr(vm, n, i);
	rc = neigh(n, RTM_NEWNEIGH, vm->info.ipv4, vm->info.mac);
	if (rc)     /* not fatal: the host falls back to ARP */
		lv__log(vm->host, LV_LOG_WARN, "%s: neighbour entry for %s: %s", vm->info.name,
			vm->info.ipv4_str, strerror(-rc));
	return 0;
}

void lv__net_vm_detach(struct lv_vm *vm)
{
	struct lv_net *n = vm->host->net;
	uint32_t i;

	if (!n || !vm->info.ipv4)
		return;
	i = ntohl(vm->info.ipv4) - n->net;
	if (i < n->nhosts) {
		n->used[i / 8] &= (uint8_t)~(1u << (i % 8));
		if (n->tap_index)
			n->tap_index[i] = 0;
	}
	if (n->br_index)
		neigh(n, RTM_DELNEIGH, vm->info.ipv4, NULL);
	vm->info.ipv4 = 0;
	vm->info.mac_str[0] = vm->info.ipv4_str[0] = 0;
}

/* ---- restarts */

int lv__net_vm_restore(struct lv_vm *vm)
{
	struct lv_net *n = vm->host->net;
	char addr[INET_ADDRSTRLEN], err[160];
	uint32_t i;
	int rc;

	if (!vm->info.ipv4)
		return 0;
	inet_ntop(AF_INET, &vm->info.ipv4, addr, sizeof(addr));
	i = n ? ntohl(vm->info.ipv4) - n->net : 0;
	if (!n || i < 2 || i >= n->nhosts - 1) {
		/* shown as it is (the guest uses it), but outside the
		 * allocator's subnet: it cannot collide with a new VM */
		lv__log(vm->host, LV_LOG_WARN, "%s: address %s is outside the subnet (net-subnet changed?): kept, not reserved",
			vm->info.name, addr);
		snprintf(vm->info.ipv4_str, sizeof(vm->info.ipv4_str), "%s", addr);
		return -ERANGE;
	}
	if (addr_used(n, i)) {
		lv__log(vm->host, LV_LOG_WARN, "%s: address %s is claimed by another record: dropped from this VM",
			vm->info.name, addr);
		vm->info.ipv4 = 0;
		vm->info.mac_str[0] = vm->info.ipv4_str[0] = 0;
		memset(vm->info.mac, 0, sizeof(vm->info.mac));
		return -EEXIST;
	}
	n->used[i / 8] |= (uint8_t)(1u << (i % 8));
	vm_set_addr(vm, n, i);
	rc = bridge_setup(vm->host, err, sizeof(err));
	if (rc) {
		if (!n->restore_warned)
			lv__log(vm->host, LV_LOG_WARN, "restart: %s", err);
		n->restore_warned = true;
		return 0;   /* the address stays reserved all the same */
	}
	rc = neigh(n, RTM_NEWNEIGH, vm->info.ipv4, vm->info.mac);
	if (rc)
		lv__log(vm->host, LV_LOG_WARN, "%s: neighbour entry for %s: %s", vm->info.name,
			vm->info.ipv4_str, strerror(-rc));
	return 0;
}

struct scan {
	int br;                     /* bridge index */
	uint32_t *found;            /* host numbers */
	unsigned nfound, cap;
};

static void scan_add(struct scan *sc, uint32_t i)
{
	if (sc->nfound == sc->cap) {
		unsigned cap = sc->cap ? sc->cap * 2 : 64;
		uint32_t *p = realloc(sc->found, cap * sizeof(*p));

		if (!p)
			return;
		sc->found = p;
		sc->cap = cap;
	}
	sc->found[sc->nfound++] = i;
}

/* The bridge's FDB: our guest MACs behind a port, i.e. live taps. */
static void scan_fdb(struct lv_net *n, struct nlmsghdr *h, void *arg)
{
	struct scan *sc = arg;
	const struct ndmsg *nd = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*nd));
	const uint8_t *mac = NULL;
	uint32_t master = 0, i;

	if (h->nlmsg_type != RTM_NEWNEIGH || len < 0 || nd->ndm_family != AF_BRIDGE ||
	    nd->ndm_ifindex == sc->br)
		return;
	for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6)
			mac = RTA_DATA(a);
		else if (a->rta_type == NDA_MASTER && RTA_PAYLOAD(a) == 4)
			memcpy(&master, RTA_DATA(a), 4);
	}
	if (!mac || (int)master != sc->br || mac[0] != 0x02 || mac[1] != 'L' || mac[2] != 'V')
		return;
	i = (uint32_t)mac[3] << 16 | (uint32_t)mac[4] << 8 | mac[5];
	if (i >= 2 && i < n->nhosts - 1)
		scan_add(sc, i);
}

/* The bridge's permanent neighbour entries in our subnet. */
static void scan_neigh(struct lv_net *n, struct nlmsghdr *h, void *arg)
{
	struct scan *sc = arg;
	const struct ndmsg *nd = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*nd));
	uint32_t ip = 0, i;

	if (h->nlmsg_type != RTM_NEWNEIGH || len < 0 || nd->ndm_family != AF_INET ||
	    nd->ndm_ifindex != sc->br || !(nd->ndm_state & NUD_PERMANENT))
		return;
	for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4)
			memcpy(&ip, RTA_DATA(a), 4);
	i = ntohl(ip) - n->net;
	if (ip && i >= 2 && i < n->nhosts - 1)
		scan_add(sc, i);
}

void lv__net_restore_done(struct lv_host *h)
{
	struct lv_net *n = h->net;
	struct scan sc = { 0 };
	char err[160];
	int rc;

	if (!n || !(sc.br = n->br_index ? n->br_index : (int)if_nametoindex(n->bridge)))
		return;
	/* the bridge exists: set it up now (address, up, the tap pool),
	 * not on the next NIC spawn */
	rc = bridge_setup(h, err, sizeof(err));
	if (rc) {
		lv__log(h, LV_LOG_WARN, "restart: %s", err);
		return;
	}
	sc.br = n->br_index;
	/* guests whose tap lives on but no record claims (shells of
	 * half-created VMs, destroyed soon): their addresses are in use */
	rc = nl_dump(n, RTM_GETNEIGH, AF_BRIDGE, scan_fdb, &sc);
	if (rc)
		lv__log(h, LV_LOG_WARN, "restart: reading the FDB of %s: %s", n->bridge, strerror(-rc));
	for (unsigned k = 0; k < sc.nfound; k++) {
		uint32_t i = sc.found[k];
		struct in_addr a = { htonl(n->net + i) };

		if (addr_used(n, i))
			continue;
		if (n->nhold == HOLD_MAX) {
			lv__log(h, LV_LOG_WARN, "restart: more than %d unclaimed guest taps", HOLD_MAX);
			break;
		}
		n->used[i / 8] |= (uint8_t)(1u << (i % 8));
		n->hold[n->nhold++] = i;
		lv__log(h, LV_LOG_INFO, "restart: %s is held while the tap of an unrecorded guest lives",
			inet_ntoa(a));
	}
	n->hold_checked = lv_now_ns();
	n->tap_index_stale = true;   /* the taps of re-attached guests: from the FDB, when asked */
	/* permanent neighbour entries of addresses nobody uses: left by
	 * VMs that went while the agent was down */
	sc.nfound = 0;
	rc = nl_dump(n, RTM_GETNEIGH, AF_INET, scan_neigh, &sc);
	for (unsigned k = 0; !rc && k < sc.nfound; k++)
		if (!addr_used(n, sc.found[k]))
			neigh(n, RTM_DELNEIGH, htonl(n->net + sc.found[k]), NULL);
	free(sc.found);
}

/* Release the held addresses whose tap has gone (at most once a second,
 * only while there are any). */
static void holds_check(struct lv_host *h)
{
	struct lv_net *n = h->net;
	struct scan sc = { .br = n->br_index };
	int64_t now = lv_now_ns();
	unsigned keep = 0;

	if (now - n->hold_checked < HOLD_CHECK_NS)
		return;
	n->hold_checked = now;
	if (nl_dump(n, RTM_GETNEIGH, AF_BRIDGE, scan_fdb, &sc)) {
		free(sc.found);
		return;
	}
	for (unsigned k = 0; k < n->nhold; k++) {
		uint32_t i = n->hold[k];
		bool live = false;

		for (unsigned j = 0; j < sc.nfound && !live; j++)
			live = sc.found[j] == i;
		if (live) {
			n->hold[keep++] = i;
			continue;
		}
		n->used[i / 8] &= (uint8_t)~(1u << (i % 8));
		neigh(n, RTM_DELNEIGH, htonl(n->net + i), NULL);
	}
	n->nhold = keep;
	free(sc.found);
}

int lv__net_tap(struct lv_host *h, const uint8_t *mac)
{
	struct lv_net *n = h->net;
	int fd, idx, rc;

	if (!n || !n->br_index)
		return -ENOTSUP;
	n->nic_used = true;
	if (n->npool) {
		n->npool--;
		fd = n->pool[n->npool].fd;
		idx = n->pool[n->npool].index;
		n->tap_taken = lv_now_ns();
	} else {
		fd = tap_create(n, &idx);
		if (fd < 0)
			return fd;
	}
	rc = fdb_add(n, idx, mac);
	if (rc) {
		close(fd);
		return rc;
	}
	if (mac[0] == 0x02 && mac[1] == 'L' && mac[2] == 'V') {
		uint32_t i = (uint32_t)mac[3] << 16 | (uint32_t)mac[4] << 8 | mac[5];

		if (!n->tap_index)
			n->tap_index = calloc(n->nhosts, sizeof(*n->tap_index));
		if (n->tap_index && i < n->nhosts)
			n->tap_index[i] = (uint32_t)idx;
	}
	return fd;
}

/* How many taps to keep ready: a few, plus one per shell the pools keep
 * (a pooled spawn or clone of a NIC image then makes no tap and attaches
 * none to the bridge: that netlink work was most of a pooled clone's
 * cost in the agent) once some VM has had a NIC: an agent that only
 * runs VMs without one keeps the few (1,000 idle taps on the bridge
 * slowed `spawn 1000 noop` from ~150 to ~230 ms). */
static unsigned tap_target(struct lv_host *h)
{
	unsigned t = TAP_POOL + (h->net->nic_used ? lv__pool_targets(h) : 0), cap = TAP_POOL_MAX;
	struct rlimit rl;

	/* each is a descriptor of the agent's: at most a quarter of them */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < cap)
		cap = rl.rlim_cur / 4 > TAP_POOL ? (unsigned)(rl.rlim_cur / 4) : TAP_POOL;
	return t < cap ? t : cap;
}

void lv__net_tick(struct lv_host *h)
{
	struct lv_net *n = h->net;
	unsigned target;
	int64_t now, until;

	if (!n || !n->br_index)
		return;
	if (n->nhold)
		holds_check(h);
	if (n->no_isolate && !n->isolate_warned) {
		n->isolate_warned = true;
		lv__log(h, LV_LOG_WARN, "networking: guest bridge ports cannot be isolated here (IFLA_BRPORT_ISOLATED): guests can reach one another");
	}
	target = tap_target(h);
	if (n->npool > target)        /* the pools shrank */
		pool_drop(n, target);
	now = lv_now_ns();
	/* the first few at once; beyond them, not in a burst of spawns and
	 * not for long in one tick (the agent's loop runs the tick) */
	if (n->npool >= TAP_POOL && now - n->tap_taken < TAP_QUIET_NS)
		return;
	until = now + TAP_BUDGET_NS;
	if (target > n->cpool) {
		void *p = realloc(n->pool, target * sizeof(*n->pool));

		if (!p)
			return;
		n->pool = p;
		n->cpool = target;
	}
	while (n->npool < target) {
		int idx, fd;

		if (n->npool >= TAP_POOL && lv_now_ns() >= until)
			return;
		fd = tap_create(n, &idx);
		if (fd < 0) {
			lv__log(h, LV_LOG_WARN, "networking: cannot create a tap: %s", strerror(-fd));
			return;
		}
		n->pool[n->npool].fd = fd;
		n->pool[n->npool++].index = idx;
	}
}

/* ---- the taps' drop counters */

struct ifpair { uint32_t index; uint64_t v; };

struct drops_scan {
	struct ifpair *stat;          /* (ifindex, tx_dropped) */
	unsigned nstat, cstat;
	bool oom;
};

static void stat_add(struct drops_scan *sc, uint32_t index, uint64_t v)
{
	if (sc->nstat == sc->cstat) {
		unsigned c = sc->cstat ? sc->cstat * 2 : 256;
		struct ifpair *p = realloc(sc->stat, c * sizeof(*p));

		if (!p) {
			sc->oom = true;
			return;
		}
		sc->stat = p;
		sc->cstat = c;
	}
	sc->stat[sc->nstat++] = (struct ifpair){ index, v };
}

/* FDB: our guest MACs behind a tap of the bridge -> tap_index (after a
 * restart, for the guests whose taps this agent did not hand out) */
static void drops_fdb(struct lv_net *n, struct nlmsghdr *h, void *arg)
{
	struct scan one = { .br = *(int *)arg };
	const struct ndmsg *nd = NLMSG_DATA(h);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)))
		return;
	scan_fdb(n, h, &one);
	if (one.nfound == 1 && one.found[0] < n->nhosts)
		n->tap_index[one.found[0]] = (uint32_t)nd->ndm_ifindex;
	free(one.found);
}

/* RTM_NEWSTATS with IFLA_STATS_LINK_64 -> (index, tx_dropped): what the
 * host sent toward the tap and the tap had no room for */
static void drops_stat(struct lv_net *n, struct nlmsghdr *h, void *arg)
{
	struct drops_scan *sc = arg;
	const struct if_stats_msg *m = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

	(void)n;
	if (h->nlmsg_type != RTM_NEWSTATS || len < 0)
		return;
	for (struct rtattr *a = (struct rtattr *)((char *)m + NLMSG_ALIGN(sizeof(*m)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		struct rtnl_link_stats64 st;

		if (a->rta_type != IFLA_STATS_LINK_64 || RTA_PAYLOAD(a) < sizeof(st))
			continue;
		memcpy(&st, RTA_DATA(a), sizeof(st));
		stat_add(sc, m->ifindex, st.tx_dropped);
	}
}

static int pair_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct ifpair *)a)->index, y = ((const struct ifpair *)b)->index;

	return (x > y) - (x < y);
}

static void drops_refresh(struct lv_net *n)
{
	struct drops_scan sc = { 0 };
	struct if_stats_msg sm = { .family = AF_UNSPEC,
				   .filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64) };
	struct nlreq r;

	if (!n->rx_drops && !(n->rx_drops = calloc(n->nhosts, sizeof(*n->rx_drops))))
		return;
	if (!n->tap_index && !(n->tap_index = calloc(n->nhosts, sizeof(*n->tap_index))))
		return;
	if (n->tap_index_stale) {
		int br = n->br_index;

		if (nl_dump(n, RTM_GETNEIGH, AF_BRIDGE, drops_fdb, &br))
			return;
		n->tap_index_stale = false;
	}
	nl_start(n, &r, RTM_GETSTATS, NLM_F_DUMP);
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nl_put(&r, &sm, sizeof(sm));
	if (nl_exchange(n, &r, drops_stat, &sc) || sc.oom)
		goto out;
	qsort(sc.stat, sc.nstat, sizeof(*sc.stat), pair_cmp);
	for (uint32_t i = 0; i < n->nhosts; i++) {
		struct ifpair key = { n->tap_index[i], 0 };
		const struct ifpair *f;

		if (!key.index) {
			n->rx_drops[i] = 0;
			continue;
		}
		f = bsearch(&key, sc.stat, sc.nstat, sizeof(key), pair_cmp);
		n->rx_drops[i] = f ? f->v : 0;
	}
out:
	free(sc.stat);
}

uint64_t lv__net_rx_drops(struct lv_host *h, uint32_t ipv4)
{
	struct lv_net *n = h->net;
	uint32_t i;
	int64_t now;

	if (!n || !n->br_index || n->nl < 0 || !ipv4)
		return 0;
	i = ntohl(ipv4) - n->net;
	if (i >= n->nhosts)
		return 0;
	now = lv_now_ns();
	if (!n->drops_at || now - n->drops_at >= DROPS_EVERY_NS) {
		n->drops_at = now;
		drops_refresh(n);
	}
	return n->rx_drops ? n->rx_drops[i] : 0;
}

void lv__net_guest_config(const struct lv_host *h, uint32_t *netmask, uint32_t *gateway)
{
	const struct lv_net *n = h->net;

	*netmask = n ? htonl(n->mask) : 0;
	*gateway = n ? htonl(n->host) : 0;
}

/* ---- the ELF note: core/elf.c reads the headers and the notes */

#define NOTE_READ_MAX 4096   /* bytes of one note segment looked at */

bool lv__image_wants_net(int fd)
{
	struct lv_elf_note_seg seg[LV_ELF_MAX_NOTE_SEG];
	uint8_t hdr[4096], notes[NOTE_READ_MAX];
	ssize_t got = pread(fd, hdr, sizeof(hdr), 0);
	struct stat st;
	char err[160];
	int n;

	if (got <= 0 || fstat(fd, &st) || st.st_size < got)
		return false;
	n = lv_elf_note_segs(hdr, (size_t)got, (uint64_t)st.st_size, seg, LV_ELF_MAX_NOTE_SEG,
			     err, sizeof(err));
	for (int i = 0; i < n; i++) {
		size_t want = seg[i].size < sizeof(notes) ? (size_t)seg[i].size : sizeof(notes);
		ssize_t m = pread(fd, notes, want, (off_t)seg[i].off);

		if (m > 0 && lv_elf_note_find(notes, (size_t)m, LV_NOTE_NAME, LV_NOTE_NET) == 1)
			return true;
	}
	return false;
}
