/*
 * log.c - lightvmd's log: levels, to stderr with a timestamp or to syslog.
 * A message is one line whatever it quotes (VM names, reasons, client
 * input): newlines and other control bytes are written as \n, \xHH, so
 * no guest or client can forge a log line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "agent.h"

static bool g_debug, g_syslog;
static char g_first_err[1024];   /* the first error: the reason a start failed */

const char *alog_first_error(void)
{
	return g_first_err;
}

void alog_setup(bool debug, bool use_syslog)
{
	g_debug = debug;
	g_syslog = use_syslog;
	if (use_syslog)
		openlog("lightvmd", LOG_PID, LOG_DAEMON);
}

/* Control bytes of in as \\n, \\r, \\t, \\xHH into out (len bytes). */
static void log_escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < len; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			out[o++] = (char)*p;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			out[o++] = '\\';
			out[o++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		} else {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
		}
	}
	out[o] = 0;
}

void alog(enum lv_log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char raw[1024], buf[1024];
	va_list ap;

	if (lvl == LV_LOG_DEBUG && !g_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_escape(raw, buf, sizeof(buf));
	if (lvl == LV_LOG_ERR && !g_first_err[0])
		snprintf(g_first_err, sizeof(g_first_err), "%s", buf);
	if (g_syslog) {
		syslog(prio[lvl], "%s", buf);
	} else {
		struct timespec ts;
		struct tm tm;
		char t[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ lightvmd %s: %s\n", t, ts.tv_nsec / 1000000,
			names[lvl], buf);
	}
}

/* Up to burst (ALOG_BURST) messages per ALOG_WINDOW_NS for one limiter, then
 * only a count, logged when the next window opens: no client can fill
 * the log by repeating what gets logged. */
#define ALOG_BURST 20u
#define ALOG_WINDOW_NS (10ll * 1000000000)

void alog_limited(struct alog_limit *l, enum lv_log_level lvl, const char *fmt, ...)
{
	int64_t now = lv_now_ns();
	char buf[1024];
	va_list ap;

	if (!l->t0 || now - l->t0 >= ALOG_WINDOW_NS) {
		if (l->held)
			alog(lvl, "(%u more like the following were not logged in %lld s)", l->held,
			     (long long)((now - l->t0) / 1000000000));
		l->t0 = now;
		l->n = l->held = 0;
	}
	if (l->n >= (l->burst ? l->burst : ALOG_BURST)) {
		l->held++;
		return;
	}
	l->n++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	alog(lvl, "%s", buf);
}
