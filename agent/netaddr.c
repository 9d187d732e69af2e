/*
 * netaddr.c - "HOST:PORT" with an IPv4 address or "[IPv6]:PORT" into a
 * socket address, for the agent's two TCP listeners and their clients
 * (metrics.c, migrate_net.c).  Numbers only: no name lookups.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "agent.h"

int netaddr_parse(const char *a, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(a, ':');
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon == a || (size_t)(colon - a) >= sizeof(host) || !colon[1])
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -EINVAL;
	if (a[0] == '[' && colon[-1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		snprintf(host, sizeof(host), "%.*s", (int)(colon - a - 2), a + 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - a), a);
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}
