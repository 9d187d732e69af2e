/*
 * console.c - guest console output: bytes go into the shared ring
 * (struct lv_console_ring at LV_GPA_CONSOLE) and reach the host at the
 * next hypercall; a full ring is flushed with LV_HC_CONSOLE.  printf is
 * in printf.c, over lv_write.
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
