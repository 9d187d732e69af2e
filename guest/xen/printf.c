/*
 * printf.c - the runtime's printf on Xen PV (same conversions as on KVM:
 * %s %d %u %x %c %p %% with l/ll and an optional 0/width), written into a
 * local buffer and handed to lv_write in chunks.
 */
#include "rt.h"

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
	if (neg) {
		tmp[n++] = '-';
	}
	for (unsigned i = n; i < width; i++)
		put(p, pad);
	while (n)
		put(p, tmp[--n]);
}

int lv_vprintf(const char *f, va_list ap)
{
	struct pbuf p = { .n = 0, .total = 0 };
	va_list aq;

	va_copy(aq, ap);
	while (*f) {
		unsigned width = 0;
		char pad = ' ';
		int lng = 0;

		if (*f != '%') {
			put(&p, *f++);
			continue;
		}
		f++;
		if (*f == '0')
			pad = '0';
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (unsigned)(*f++ - '0');
		while (*f == 'l') {
			lng = 1;
			f++;
		}
		switch (*f) {
		case 'd': {
			int64_t s = lng ? va_arg(aq, long long) : va_arg(aq, int);
			put_num(&p, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, s < 0, width, pad);
			break;
		}
		case 'u': case 'x': {
			uint64_t u = lng ? va_arg(aq, unsigned long long) : va_arg(aq, unsigned int);
			put_num(&p, u, *f == 'x' ? 16 : 10, 0, width, pad);
			break;
		}
		case 'p':
			put(&p, '0');
			put(&p, 'x');
			put_num(&p, (uintptr_t)va_arg(aq, void *), 16, 0, 0, ' ');
			break;
		case 'c':
			put(&p, (char)va_arg(aq, int));
			break;
		case 's': {
			const char *s = va_arg(aq, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				put(&p, *s);
			break;
		}
		case '\0':
			f--;
			break;
		default:
			put(&p, '%');
			put(&p, *f);
		}
		f++;
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
