/*
 * tcp.c - passive-open TCP for the guest stack.  A fixed table of
 * connections; in-order delivery only (an out-of-order segment is dropped
 * and answered with a duplicate ACK, the peer retransmits); go-back-N
 * retransmission from a small send buffer with an exponential RTO, driven
 * by the idle-until-deadline loop; FIN and RST in every state.
 *
 * Limits against misbehaving peers: at most TCP_HALF_OPEN connections in
 * SYN-RECEIVED (a SYN flood recycles the oldest, so new clients still get
 * in), TIME-WAIT and SYN-RECEIVED slots are recycled when the table is
 * full, segments outside the receive window are dropped (an ACK at most),
 * RSTs must hit rcv_nxt exactly (RFC 5961; in-window ones get a challenge
 * ACK), RSTs and challenge ACKs we send are rate limited, and idle or
 * stuck connections time out.
 */
#include "rt.h"
#include "net.h"

#define TCP_CONNS      64
#define TCP_HALF_OPEN  32
#define TCP_LISTEN     4
#define TCP_SNDBUF     1024
#define TCP_RCVWND     8192
#define TCP_MSS        1460
#define MS             1000000ull
#define RTO_INIT       (250 * MS)
#define RTO_MAX        (4000 * MS)
#define SYN_RETRIES    3
#define DATA_RETRIES   6
#define TIME_WAIT_NS   (1000 * MS)     /* short: the table is small; recyclable */
#define FIN_WAIT2_NS   (5000 * MS)
#define IDLE_NS        (30000 * MS)    /* established, nothing heard */
#define RST_RATE       200             /* RSTs + challenge ACKs per second */

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

enum { CLOSED, SYN_RCVD, ESTABLISHED, CLOSE_WAIT, LAST_ACK, FIN_WAIT_1,
       FIN_WAIT_2, CLOSING, TIME_WAIT };

struct tcp_listener {
	uint16_t port;
	tcp_accept_fn on_accept;
	tcp_recv_fn on_recv;
};

struct tcp_conn {
	uint8_t state, retries;
	uint8_t fin_queued, fin_sent;
	uint32_t rip;
	uint16_t rport, lport;
	uint16_t mss;
	uint32_t iss, snd_una, snd_nxt, snd_wnd, rcv_nxt;
	uint32_t buf_seq, buflen;       /* buf[0] has sequence number buf_seq */
	uint64_t rto, rto_at;           /* retransmission timer (0: off) */
	uint64_t tmo_at;                /* state timer (0: off) */
	uint64_t born;
	struct tcp_listener *l;
	uint8_t buf[TCP_SNDBUF];
};

static struct tcp_listener listeners[TCP_LISTEN];
static struct tcp_conn conns[TCP_CONNS];
static uint64_t secret, rst_t;
static int rst_tok = RST_RATE;

/* Restored from a snapshot (or a clone): every connection belonged to
 * the saved guest's peers and address; drop them silently (the host's
 * tap is new) and draw a new ISN secret, so clones do not share it.
 * Listeners stay. */
void tcp_restored(void)
{
	/* only the slots in use are written: a clone's pages stay shared
	 * with its snapshot (copy-on-write) as far as it can */
	for (unsigned i = 0; i < TCP_CONNS; i++)
		if (conns[i].state != CLOSED)
			conns[i].state = CLOSED;
	secret = lv_rdtsc() * 0x9e3779b97f4a7c15ull | 1;
	rst_t = 0;
	rst_tok = RST_RATE;
}

static int lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static int le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

int tcp_listen(uint16_t port, tcp_accept_fn on_accept, tcp_recv_fn on_recv)
{
	if (!secret)
		secret = lv_rdtsc() * 0x9e3779b97f4a7c15ull | 1;
	for (unsigned i = 0; i < TCP_LISTEN; i++)
		if (!listeners[i].on_accept) {
			listeners[i] = (struct tcp_listener){ port, on_accept, on_recv };
			return 0;
		}
	return -1;
}

static int rst_budget(void)
{
	uint64_t now = net_now();

	if (now - rst_t >= 1000 * MS) {
		rst_t = now;
		rst_tok = RST_RATE;
	}
	return rst_tok-- > 0;
}

/* ---- output */

static void emit(uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		 uint8_t flags, const uint8_t *data, uint32_t len, int mss_opt)
{
	uint32_t hl = mss_opt ? 24 : 20;
	uint8_t *t = ip_alloc(dst);

	if (!t)
		return;
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((hl / 4) << 4);
	t[13] = flags;
	put16(t + 14, TCP_RCVWND);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (mss_opt) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, TCP_MSS);
	}
	if (len)
		__builtin_memcpy(t + hl, data, len);
	put16(t + 16, net_csum(net_csum_pseudo(net_dev.ip, dst, 6, hl + len), t, hl + len));
	ip_send(dst, 6, hl + len);
}

static void send_ctl(struct tcp_conn *c, uint32_t seq, uint8_t flags)
{
	emit(c->rip, c->lport, c->rport, seq, c->rcv_nxt, flags, NULL, 0, flags & F_SYN);
}

static void arm(struct tcp_conn *c)
{
	if (!c->rto_at)
		c->rto_at = net_now() + c->rto;
}

/* Send what the window allows: data from the buffer, then our FIN. */
static void output(struct tcp_conn *c)
{
	if (c->state == SYN_RCVD) {
		if (c->snd_nxt == c->iss) {
			send_ctl(c, c->iss, F_SYN | F_ACK);
			c->snd_nxt = c->iss + 1;
			arm(c);
		}
		return;
	}
	for (;;) {
		uint32_t off = c->snd_nxt - c->buf_seq, n = c->buflen - off;
		uint32_t wnd_end = c->snd_una + c->snd_wnd;
		uint8_t flags = F_ACK;

		if (lt(c->snd_nxt, c->buf_seq) || off > c->buflen)
			return;     /* only the FIN is outstanding */
		if (n > c->mss)
			n = c->mss;
		if (lt(wnd_end, c->snd_nxt + n))
			n = le(wnd_end, c->snd_nxt) ? 0 : wnd_end - c->snd_nxt;
		if (n && off + n == c->buflen)
			flags |= F_PSH;
		if (c->fin_queued && !c->fin_sent && off + n == c->buflen)
			flags |= F_FIN;
		if (!n && !(flags & F_FIN))
			return;
		emit(c->rip, c->lport, c->rport, c->snd_nxt, c->rcv_nxt, flags,
		     c->buf + off, n, 0);
		c->snd_nxt += n;
		if (flags & F_FIN) {
			c->fin_sent = 1;
			c->snd_nxt++;
		}
		arm(c);
		if (flags & F_FIN || !n)
			return;
	}
}

uint32_t tcp_send(struct tcp_conn *c, const void *data, uint32_t len)
{
	uint32_t room;

	if ((c->state != ESTABLISHED && c->state != CLOSE_WAIT) || c->fin_queued)
		return 0;
	room = TCP_SNDBUF - c->buflen;
	if (len > room)
		len = room;
	__builtin_memcpy(c->buf + c->buflen, data, len);
	c->buflen += len;
	output(c);
	return len;
}

void tcp_close(struct tcp_conn *c)
{
	if (c->state == ESTABLISHED)
		c->state = FIN_WAIT_1;
	else if (c->state == CLOSE_WAIT)
		c->state = LAST_ACK;
	else
		return;
	c->fin_queued = 1;
	output(c);
}

/* ---- connections */

static void drop(struct tcp_conn *c)
{
	c->state = CLOSED;
}

static void reset(struct tcp_conn *c)
{
	if (rst_budget()) {
		net_stats.tcp_rst_tx++;
		send_ctl(c, c->snd_nxt, F_RST | F_ACK);
	}
	drop(c);
}

static struct tcp_conn *find(uint32_t rip, uint16_t rport, uint16_t lport)
{
	for (unsigned i = 0; i < TCP_CONNS; i++) {
		struct tcp_conn *c = &conns[i];

		if (c->state != CLOSED && c->rip == rip && c->rport == rport && c->lport == lport)
			return c;
	}
	return NULL;
}

/* A free slot: an empty one, else the oldest TIME-WAIT, else the oldest
 * SYN-RECEIVED (a SYN flood recycles itself).  NULL if all are busy. */
static struct tcp_conn *slot(void)
{
	struct tcp_conn *tw = NULL, *syn = NULL;
	unsigned half = 0;

	for (unsigned i = 0; i < TCP_CONNS; i++) {
		struct tcp_conn *c = &conns[i];

		if (c->state == CLOSED)
			return c;
		if (c->state == TIME_WAIT && (!tw || c->born < tw->born))
			tw = c;
		if (c->state == SYN_RCVD) {
			half++;
			if (!syn || c->born < syn->born)
				syn = c;
		}
	}
	if (syn && half >= TCP_HALF_OPEN)
		tw = NULL;      /* too many half-open: recycle one of those */
	if (!tw && syn)
		net_stats.tcp_syn_evict++;
	return tw ? tw : syn;
}

static uint32_t isn(uint32_t rip, uint16_t rport, uint16_t lport)
{
	uint64_t h = secret ^ ((uint64_t)rip << 32 | (uint32_t)rport << 16 | lport);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h + (uint32_t)(net_now() >> 12);  /* ~4 µs clock, RFC 6528 */
}

static uint16_t opt_mss(const uint8_t *t, uint32_t hl)
{
	for (uint32_t i = 20; i < hl;) {
		uint8_t k = t[i];

		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		if (i + 1 >= hl || t[i + 1] < 2 || i + t[i + 1] > hl)
			break;
		if (k == 2 && t[i + 1] == 4) {
			uint16_t m = get16(t + i + 2);
			return m < 64 ? 64 : m > TCP_MSS ? TCP_MSS : m;
		}
		i += t[i + 1];
	}
	return 536;
}

static void passive_open(struct tcp_listener *l, uint32_t src, const uint8_t *t, uint32_t hl)
{
	struct tcp_conn *c = slot();
	uint16_t rport = get16(t), lport = get16(t + 2);

	if (!c)
		return;
	*c = (struct tcp_conn){ .state = SYN_RCVD, .rip = src, .rport = rport, .lport = lport,
				.l = l, .rto = RTO_INIT, .born = net_now() };
	c->mss = opt_mss(t, hl);
	c->iss = isn(src, rport, lport);
	c->snd_una = c->snd_nxt = c->iss;
	c->buf_seq = c->iss + 1;
	c->rcv_nxt = get32(t + 4) + 1;
	c->snd_wnd = get16(t + 14);
	output(c);
}

/* No connection: answer with a RST (never to a RST), rate limited. */
static void no_conn(uint32_t src, const uint8_t *t, uint32_t seglen, uint8_t flags)
{
	if ((flags & F_RST) || !rst_budget())
		return;
	net_stats.tcp_rst_tx++;
	if (flags & F_ACK)
		emit(src, get16(t + 2), get16(t), get32(t + 8), 0, F_RST, NULL, 0, 0);
	else
		emit(src, get16(t + 2), get16(t), 0, get32(t + 4) + seglen, F_RST | F_ACK, NULL, 0, 0);
}

static int acceptable(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
	uint32_t end = c->rcv_nxt + TCP_RCVWND;

	if (!len)
		return le(c->rcv_nxt, seq) && lt(seq, end);
	return (le(c->rcv_nxt, seq) && lt(seq, end)) ||
	       (le(c->rcv_nxt, seq + len - 1) && lt(seq + len - 1, end));
}

/* Our FIN has been acknowledged? */
static int fin_acked(struct tcp_conn *c)
{
	return c->fin_sent && c->snd_una == c->buf_seq + c->buflen + 1;
}

static void on_ack(struct tcp_conn *c, uint32_t ack, uint16_t wnd)
{
	uint32_t data_end = c->buf_seq + c->buflen, n;

	c->snd_wnd = wnd;
	if (le(ack, c->snd_una) || lt(c->snd_nxt, ack))
		return;             /* old or beyond what we sent (checked before) */
	c->snd_una = ack;
	n = (lt(data_end, ack) ? data_end : ack) - c->buf_seq;
	if (n && n <= c->buflen) {
		__builtin_memmove(c->buf, c->buf + n, c->buflen - n);
		c->buflen -= n;
		c->buf_seq += n;
	}
	c->retries = 0;
	c->rto = RTO_INIT;
	c->rto_at = 0;
	if (c->snd_una != c->snd_nxt)
		arm(c);
}

static void established(struct tcp_conn *c)
{
	c->state = ESTABLISHED;
	c->tmo_at = net_now() + IDLE_NS;
	net_stats.tcp_accepts++;
	if (c->l->on_accept)
		c->l->on_accept(c);
}

/* Data and FIN of an acceptable segment, in order only. */
static int deliver(struct tcp_conn *c, uint32_t seq, const uint8_t *data, uint32_t len,
		   uint8_t flags)
{
	int need_ack = 0;

	if (lt(seq, c->rcv_nxt)) {      /* trim what we already have */
		uint32_t skip = c->rcv_nxt - seq;

		if (skip > len) {
			skip = len;
			flags &= (uint8_t)~F_FIN;
		}
		data += skip;
		len -= skip;
		seq += skip;
		need_ack = 1;
	}
	if (seq != c->rcv_nxt)          /* a hole before it: drop, dup ACK */
		return 1;
	if (len) {
		if (len > TCP_RCVWND)
			len = TCP_RCVWND;
		if (c->state == ESTABLISHED || c->state == FIN_WAIT_1 || c->state == FIN_WAIT_2) {
			c->rcv_nxt += len;
			if (c->l->on_recv)
				c->l->on_recv(c, data, len);
		}
		need_ack = 1;
	}
	if (flags & F_FIN) {
		c->rcv_nxt++;
		need_ack = 1;
		switch (c->state) {
		case ESTABLISHED:
			c->state = CLOSE_WAIT;
			if (c->l->on_recv)
				c->l->on_recv(c, NULL, 0);
			break;
		case FIN_WAIT_1:
			c->state = fin_acked(c) ? TIME_WAIT : CLOSING;
			break;
		case FIN_WAIT_2:
			c->state = TIME_WAIT;
			break;
		}
		if (c->state == TIME_WAIT) {
			c->tmo_at = net_now() + TIME_WAIT_NS;
			c->rto_at = 0;
		}
	}
	return need_ack;
}

static void challenge_ack(struct tcp_conn *c)
{
	if (rst_budget())
		send_ctl(c, c->snd_nxt, F_ACK);
}

static void segment(struct tcp_conn *c, const uint8_t *t, uint32_t hl, uint32_t len)
{
	uint8_t flags = t[13];
	uint32_t seq = get32(t + 4), ack = get32(t + 8), dlen = len - hl;
	uint32_t seglen = dlen + !!(flags & F_SYN) + !!(flags & F_FIN);

	if (c->state == SYN_RCVD && (flags & F_SYN) && !(flags & F_ACK) && seq + 1 == c->rcv_nxt) {
		c->snd_nxt = c->iss;    /* the peer lost our SYN-ACK */
		output(c);
		return;
	}
	if (!acceptable(c, seq, seglen)) {
		net_stats.tcp_oow++;
		if (!(flags & F_RST))
			challenge_ack(c);
		return;
	}
	if (flags & F_RST) {
		if (seq == c->rcv_nxt)
			drop(c);
		else
			challenge_ack(c);
		return;
	}
	if (flags & F_SYN) {            /* SYN on a synchronized connection */
		challenge_ack(c);
		return;
	}
	if (!(flags & F_ACK))
		return;
	if (lt(c->snd_nxt, ack) || lt(ack, c->snd_una - 0x40000000u)) {
		challenge_ack(c);           /* acks what we never sent */
		return;
	}
	if (c->state == SYN_RCVD) {
		if (ack != c->iss + 1) {
			reset(c);
			return;
		}
		c->snd_una = ack;
		c->rto_at = 0;
		c->retries = 0;
		c->rto = RTO_INIT;
		c->snd_wnd = get16(t + 14);
		established(c);
		if (c->state == CLOSED)
			return;
	} else {
		on_ack(c, ack, get16(t + 14));
	}
	if (c->state == ESTABLISHED || c->state == CLOSE_WAIT)
		c->tmo_at = net_now() + IDLE_NS;
	if (fin_acked(c)) {
		if (c->state == FIN_WAIT_1) {
			c->state = FIN_WAIT_2;
			c->tmo_at = net_now() + FIN_WAIT2_NS;
		} else if (c->state == CLOSING) {
			c->state = TIME_WAIT;
			c->tmo_at = net_now() + TIME_WAIT_NS;
		} else if (c->state == LAST_ACK) {
			drop(c);
			return;
		}
	}
	if (deliver(c, seq, t + hl, dlen, flags) && c->state != CLOSED) {
		uint32_t before = c->snd_nxt;

		output(c);              /* piggyback if we have something */
		if (c->snd_nxt == before)
			send_ctl(c, c->snd_nxt, F_ACK);
	} else if (c->state != CLOSED) {
		output(c);
	}
}

void tcp_input(uint32_t src, uint32_t dst, const uint8_t *t, uint32_t len)
{
	struct tcp_conn *c;
	uint32_t hl;
	uint8_t flags;
	uint16_t dport;

	if (len < 20 || (hl = (uint32_t)(t[12] >> 4) * 4u) < 20 || hl > len ||
	    net_csum(net_csum_pseudo(src, dst, 6, len), t, len) != 0) {
		net_stats.tcp_bad++;
		return;
	}
	net_stats.tcp_rx++;
	flags = t[13];
	dport = get16(t + 2);
	c = find(src, get16(t), dport);
	if (c) {
		segment(c, t, hl, len);
		return;
	}
	if ((flags & (F_SYN | F_ACK | F_RST | F_FIN)) == F_SYN) {
		for (unsigned i = 0; i < TCP_LISTEN; i++)
			if (listeners[i].on_accept && listeners[i].port == dport) {
				passive_open(&listeners[i], src, t, hl);
				return;
			}
	}
	no_conn(src, t, len - hl + !!(flags & F_SYN) + !!(flags & F_FIN), flags);
}

/* ---- timers */

static void retransmit(struct tcp_conn *c)
{
	if (++c->retries > (c->state == SYN_RCVD ? SYN_RETRIES : DATA_RETRIES)) {
		if (c->state == SYN_RCVD)
			drop(c);        /* a half-open flood ends quietly */
		else
			reset(c);
		return;
	}
	net_stats.tcp_rexmit++;
	c->rto = c->rto * 2 > RTO_MAX ? RTO_MAX : c->rto * 2;
	c->rto_at = 0;
	/* go back N: resend from the oldest unacknowledged byte */
	if (c->state == SYN_RCVD) {
		c->snd_nxt = c->iss;
	} else {
		c->snd_nxt = c->snd_una;
		if (c->fin_sent && !fin_acked(c))
			c->fin_sent = 0;
		if (!c->snd_wnd)
			c->snd_wnd = 1;     /* probe a closed window */
	}
	output(c);
	arm(c);
}

void tcp_timers(uint64_t now)
{
	for (unsigned i = 0; i < TCP_CONNS; i++) {
		struct tcp_conn *c = &conns[i];

		if (c->state == CLOSED)
			continue;
		if (c->tmo_at && now >= c->tmo_at) {
			c->tmo_at = 0;
			if (c->state == TIME_WAIT || c->state == FIN_WAIT_2)
				drop(c);
			else
				reset(c);   /* idle too long */
			continue;
		}
		if (c->rto_at && now >= c->rto_at)
			retransmit(c);
	}
}

uint64_t tcp_deadline(void)
{
	uint64_t d = 0;

	for (unsigned i = 0; i < TCP_CONNS; i++) {
		struct tcp_conn *c = &conns[i];

		if (c->state == CLOSED)
			continue;
		if (c->rto_at && (!d || c->rto_at < d))
			d = c->rto_at;
		if (c->tmo_at && (!d || c->tmo_at < d))
			d = c->tmo_at;
	}
	return d;
}
