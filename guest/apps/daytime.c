/* daytime - RFC 867 on TCP and UDP port 13: one line with the current
 * date and time in UTC, e.g. "Thursday, November 26, 2026 20:09:29-UTC",
 * from the host's wall clock (LV_HC_CLOCK).  Signals ready once both
 * ports listen; then serves until powered off. */
#include "rt.h"
#include "net.h"

#define PORT 13

static const char *const wday[] = { "Thursday", "Friday", "Saturday", "Sunday",
				    "Monday", "Tuesday", "Wednesday" };
static const char *const month[] = { "January", "February", "March", "April", "May",
				     "June", "July", "August", "September", "October",
				     "November", "December" };

static char *cat(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *num(char *p, uint64_t v, int width)
{
	char t[20];
	int n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 20);
	while (n < width)
		t[n++] = '0';
	while (n)
		*p++ = t[--n];
	return p;
}

/* Civil date from days since 1970-01-01 (H. Hinnant's algorithm). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	uint64_t doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (uint64_t)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yy + (*m <= 2);
}

/* The daytime line with CR LF; returns its length. */
static uint32_t daytime(char *out)
{
	struct lv_time t = { 0 };
	uint64_t s, days, sec;
	int64_t y;
	unsigned m, d;
	char *p = out;

	lv_clock(&t);
	s = t.wall_ns / 1000000000ull;
	days = s / 86400;
	sec = s % 86400;
	civil((int64_t)days, &y, &m, &d);
	p = cat(p, wday[days % 7]);
	p = cat(p, ", ");
	p = cat(p, month[m - 1]);
	*p++ = ' ';
	p = num(p, d, 1);
	p = cat(p, ", ");
	p = num(p, (uint64_t)y, 4);
	*p++ = ' ';
	p = num(p, sec / 3600, 2);
	*p++ = ':';
	p = num(p, sec / 60 % 60, 2);
	*p++ = ':';
	p = num(p, sec % 60, 2);
	p = cat(p, "-UTC\r\n");
	return (uint32_t)(p - out);
}

static void on_accept(struct tcp_conn *c)
{
	char line[80];

	tcp_send(c, line, daytime(line));
	tcp_close(c);
}

static void on_recv(struct tcp_conn *c, const uint8_t *data, uint32_t len)
{
	/* RFC 867: whatever the client sends is ignored */
}

static void on_udp(uint32_t src, uint16_t sport, uint16_t dport, const uint8_t *data, uint32_t len)
{
	char line[80];

	udp_send(src, dport, sport, line, daytime(line));
}

int app_main(void)
{
	if (net_init()) {
		lv_printf("daytime: no network device (is the image's NIC note there?)\n");
		return 1;
	}
	if (tcp_listen(PORT, on_accept, on_recv) || udp_bind(PORT, on_udp))
		return 1;
	lv_ready();
	net_run();
}
