/*
 * console.c - guest console output: bytes go into the shared ring
 * (struct lv_console_ring at LV_GPA_CONSOLE) and reach the host at the
 * next hypercall; a full ring is flushed with LV_HC_CONSOLE.  Plus a tiny
 * printf: %s %d %u %x %c %p %% with l/ll and an optional 0/width.
 */
#include "rt.h"

#define RING ((volatile struct lv_console_ring *)(uintptr_t)LV_GPA_CONSOLE)

void lv_flush(void)
{
	lv_hcall(LV_HC_CONSOLE, 0, 0);
}

void lv_write(const char *s, size_t n)
{
	volatile struct lv_console_ring *r = RING;
	uint32_t prod = r->out_prod;

	while (n) {
		if (prod - r->out_cons >= LV_CONSOLE_OUT_SIZE) {
			r->out_prod = prod;
			lv_flush();  /* host drains, advances out_cons */
			continue;
		}
		r->out[prod & (LV_CONSOLE_OUT_SIZE - 1)] = *s++;
		prod++;
		n--;
	}
	__asm__ volatile("" ::: "memory");
	r->out_prod = prod;
}

void lv_puts(const char *s)
{
	lv_write(s, strlen(s));
}

/* printf, buffered locally so that the ring is touched once per chunk */
struct pbuf {
	char b[128];
	size_t n;
	int total;
};

static void put(struct pbuf *p, char c)
{
	if (p->n == sizeof(p->b)) {
		lv_write(p->b, p->n);
		p->n = 0;
	}
	p->b[p->n++] = c;
	p->total++;
}

static void put_num(struct pbuf *p, uint64_t v, unsigned base, int neg,
		    unsigned width, char pad)
{
	char tmp[24];
	unsigned n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		width = width ? width - 1 : 0;
	if (neg && pad == '0')
		put(p, '-');
	for (unsigned i = n; i < width; i++)
		put(p, pad);
	if (neg && pad != '0')
		put(p, '-');
	while (n)
		put(p, tmp[--n]);
}

static void put_int(struct pbuf *p, char conv, int lng, va_list *ap,
		    unsigned width, char pad)
{
	uint64_t u;
	int64_t s;

	if (conv == 'd') {
		s = lng ? va_arg(*ap, long long) : va_arg(*ap, int);
		u = s < 0 ? -(uint64_t)s : (uint64_t)s;
		put_num(p, u, 10, s < 0, width, pad);
		return;
	}
	u = lng ? va_arg(*ap, unsigned long long) : va_arg(*ap, unsigned int);
	put_num(p, u, conv == 'x' ? 16 : 10, 0, width, pad);
}

static const char *conv_one(struct pbuf *p, const char *f, va_list *ap)
{
	unsigned width = 0;
	char pad = ' ';
	int lng = 0;
	const char *s;

	if (*f == '0')
		pad = '0';
	while (*f >= '0' && *f <= '9')
		width = width * 10 + (unsigned)(*f++ - '0');
	while (*f == 'l') {
		lng = 1;
		f++;
	}
	switch (*f) {
	case 'd': case 'u': case 'x':
		put_int(p, *f, lng, ap, width, pad);
		break;
	case 'p':
		put(p, '0');
		put(p, 'x');
		put_num(p, (uintptr_t)va_arg(*ap, void *), 16, 0, 0, ' ');
		break;
	case 'c':
		put(p, (char)va_arg(*ap, int));
		break;
	case 's':
		s = va_arg(*ap, const char *);
		for (s = s ? s : "(null)"; *s; s++)
			put(p, *s);
		break;
	case '%':
		put(p, '%');
		break;
	case '\0':
		return f;
	default:
		put(p, '%');
		put(p, *f);
	}
	return f + 1;
}

int lv_vprintf(const char *fmt, va_list ap)
{
	struct pbuf p = { .n = 0, .total = 0 };
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%')
			put(&p, *fmt++);
		else
			fmt = conv_one(&p, fmt + 1, &aq);
	}
	va_end(aq);
	lv_write(p.b, p.n);
	return p.total;
}

int lv_printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = lv_vprintf(fmt, ap);
	va_end(ap);
	return n;
}

/* Console input: what the host put in the ring's in side since the last
 * call, at most n bytes.  Never blocks (lv_idle wakes with
 * LV_WAKE_CONSOLE when input arrives). */
size_t lv_console_read(char *buf, size_t n)
{
	volatile struct lv_console_ring *r = RING;
	uint32_t prod = r->in_prod, cons = r->in_cons;
	size_t k = 0;

	__asm__ volatile("" ::: "memory");
	if (prod - cons > LV_CONSOLE_IN_SIZE)   /* corrupt: skip to the end */
		cons = prod;
	while (cons != prod && k < n)
		buf[k++] = r->in[cons++ & (LV_CONSOLE_IN_SIZE - 1)];
	__asm__ volatile("" ::: "memory");
	r->in_cons = cons;
	return k;
}
