/*
 * util.c - small pure helpers of the core: names of states, phases and
 * events, size and flavor parsing, the flavor rules (memory and vCPUs:
 * lv_flavor_normalize), selectors, the clock.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lightvm.h"
#include "lightvm_abi.h"
#include "lv_internal.h"

static const char *const state_names[LV_ST_NR] = {
	[LV_ST_PREPARED] = "prepared",
	[LV_ST_BOOTING] = "booting",
	[LV_ST_RUNNING] = "running",
	[LV_ST_PAUSED] = "paused",
	[LV_ST_SHUTTING_DOWN] = "shutting-down",
	[LV_ST_SHUTOFF] = "shutoff",
	[LV_ST_CRASHED] = "crashed",
	[LV_ST_SAVING] = "saving",
	[LV_ST_SAVED] = "saved",
	[LV_ST_RESTORING] = "restoring",
	[LV_ST_MIGRATING] = "migrating",
};

static const char *const phase_names[LV_PH_NR] = {
	[LV_PH_REQUEST] = "request",
	[LV_PH_CLAIMED] = "claimed",
	[LV_PH_LOADED] = "loaded",
	[LV_PH_DEVICES] = "devices",
	[LV_PH_STARTED] = "started",
	[LV_PH_KERNEL] = "kernel",
	[LV_PH_INIT] = "init",
	[LV_PH_READY] = "ready",
};

static const char *const event_names[LV_EV_NR] = {
	[LV_EV_SPAWNED] = "spawned",
	[LV_EV_STARTED] = "started",
	[LV_EV_READY] = "ready",
	[LV_EV_PAUSED] = "paused",
	[LV_EV_UNPAUSED] = "unpaused",
	[LV_EV_SHUTOFF] = "shutoff",
	[LV_EV_CRASHED] = "crashed",
	[LV_EV_FAILED] = "failed",
	[LV_EV_DESTROYED] = "destroyed",
	[LV_EV_REATTACHED] = "reattached",
	[LV_EV_SAVING] = "saving",
	[LV_EV_SAVED] = "saved",
	[LV_EV_SAVE_FAILED] = "save-failed",
	[LV_EV_RESTORING] = "restoring",
	[LV_EV_MIGRATING] = "migrating",
};

static const char *const migrate_phase_names[LV_MPH_NR] = {
	[LV_MPH_REQUEST] = "migrate-request",
	[LV_MPH_HELD] = "migrate-held",
	[LV_MPH_SENT] = "migrate-sent",
	[LV_MPH_RUNNING] = "migrate-running",
	[LV_MPH_ENDED] = "migrate-ended",
};

const char *lv_state_name(enum lv_state st)
{
	return (unsigned)st < LV_ST_NR ? state_names[st] : "unknown";
}

int lv_state_parse(const char *s)
{
	for (int i = 0; i < LV_ST_NR; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	if (strcmp(s, "shut-off") == 0 || strcmp(s, "off") == 0)
		return LV_ST_SHUTOFF;
	return -1;
}

const char *lv_phase_name(enum lv_phase ph)
{
	return (unsigned)ph < LV_PH_NR ? phase_names[ph] : "unknown";
}

const char *lv_migrate_phase_name(enum lv_migrate_phase ph)
{
	return (unsigned)ph < LV_MPH_NR ? migrate_phase_names[ph] : "unknown";
}

const char *lv_save_phase_name(int k, bool ended)
{
	static const char *const names[] = { "save-request", "save-held", "save-written" };

	if (k >= 0 && k < 3)
		return names[k];
	return k == 3 ? ended ? "save-ended" : "save-resumed" : NULL;
}

const char *lv_event_name(enum lv_event ev)
{
	return (unsigned)ev < LV_EV_NR ? event_names[ev] : "unknown";
}

int64_t lv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "4M", "512K", "1G", "4194304" -> bytes.  Rejects junk and overflow. */
int lv_size_parse(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': mul = 1ull << 10; end++; break;
	case 'M': mul = 1ull << 20; end++; break;
	case 'G': mul = 1ull << 30; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int lv_flavor_normalize(uint64_t *mem_bytes, uint32_t *vcpus)
{
	uint64_t m = *mem_bytes ? *mem_bytes : LV_MEM_DEFAULT;

	if (m <= LV_GUEST_MAX_MEM)   /* larger: out of range, and no overflow */
		m = (m + LV_MEM_STEP - 1) & ~(uint64_t)(LV_MEM_STEP - 1);
	*mem_bytes = m;
	if (!*vcpus)
		*vcpus = 1;
	if (*vcpus != 1)
		return -EINVAL;
	return m < LV_GUEST_MIN_MEM || m > LV_GUEST_MAX_MEM ? -ERANGE : 0;
}

int lv_flavor_check(uint64_t mem_bytes, uint32_t vcpus)
{
	uint64_t m = mem_bytes;
	uint32_t n = vcpus;

	return lv_flavor_normalize(&m, &n) || m != mem_bytes || n != vcpus ? -EINVAL : 0;
}

/* "4M/1" -> 4 MiB, 1 vCPU.  "4M" alone means one vCPU. */
int lv_flavor_parse_kind(const char *s, uint64_t *mem_bytes, uint32_t *vcpus,
			 enum lv_kind *kind)
{
	char buf[64];
	char *slash, *end;
	unsigned long n = 1;
	size_t len;
	int rc;

	if (!s || (len = strlen(s)) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	*kind = LV_KIND_UNIKERNEL;
	if (len > 6 && strcmp(buf + len - 6, "/linux") == 0) {
		buf[len - 6] = 0;
		*kind = LV_KIND_LINUX;
	}
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		if (!isdigit((unsigned char)slash[1]))
			return -EINVAL;
		errno = 0;
		n = strtoul(slash + 1, &end, 10);
		if (errno || *end || n == 0 || n > 64)
			return -EINVAL;
	}
	rc = lv_size_parse(buf, mem_bytes);
	if (rc)
		return rc;
	*vcpus = (uint32_t)n;
	return 0;
}

int lv_flavor_parse(const char *s, uint64_t *mem_bytes, uint32_t *vcpus)
{
	enum lv_kind kind;
	int rc = lv_flavor_parse_kind(s, mem_bytes, vcpus, &kind);

	return rc ? rc : kind == LV_KIND_UNIKERNEL ? 0 : -EINVAL;
}

const char *lv_flavor_name(char *buf, size_t len, uint64_t mem_bytes, uint32_t vcpus,
			   enum lv_kind kind)
{
	snprintf(buf, len, "%lluM/%u%s", (unsigned long long)(mem_bytes >> 20), vcpus,
		 kind == LV_KIND_LINUX ? "/linux" : "");
	return buf;
}

bool lv__name_chars_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

bool lv_selector_is_pattern(const char *sel)
{
	return strcmp(sel, "all") == 0 || strpbrk(sel, "*?[") != NULL;
}

bool lv_selector_match(const char *sel, const char *name)
{
	if (!sel || !*sel || strcmp(sel, "all") == 0)
		return true;
	if (strpbrk(sel, "*?["))
		return fnmatch(sel, name, 0) == 0;
	return strcmp(sel, name) == 0;
}

int lv__open_regular(const char *path)
{
	char proc[64];
	struct stat st;
	int pfd = open(path, O_PATH | O_CLOEXEC), fd;

	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(pfd);
		return -EINVAL;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		fd = -errno;
	close(pfd);
	return fd;
}
