/*
 * printf.c - the runtime's printf, for every platform (KVM and Xen PV):
 * %s %d %u %x %c %p %% with l/ll and an optional 0/width, formatted into
 * a local buffer and handed to the platform's lv_write in chunks, so the
 * console ring is touched once per chunk.
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
