/*
 * rt.h - the LightVM guest runtime (KVM platform): hypercalls, console,
 * power, clock, a tiny printf and string helpers.  No libc.  An image
 * provides `int app_main(void)`; returning from it powers off with that
 * code.  Everything runs in 64-bit ring 3; the only exit to the host is a
 * 4-byte `out` on LV_PORT_HCALL (see lightvm_abi.h).
 */
#ifndef LV_RT_H
#define LV_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lightvm_abi.h"

#define LV_NORETURN __attribute__((noreturn))
#define LV_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The application's entry point. */
int app_main(void);

/* Boot state */
extern volatile struct lv_devpage *lv_dp;  /* the device page */
extern uint64_t lv_start_tsc;              /* TSC at the first C instruction */
void lv_rt_main(volatile struct lv_devpage *dp) LV_NORETURN;

static inline uint64_t lv_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* A READY owed to the host (set by lv_idle after a restore): it rides on
 * the next hypercall as LV_HCF_READY instead of costing an exit. */
extern uint32_t lv_ready_owed;

/* Raw hypercall: fills struct lv_hcall (args beyond arg[1] = 0, arg[3]
 * the flags), rings the doorbell, returns lv_hcall.ret.  Drains the
 * console as a side effect. */
static inline int64_t lv_hcall(uint64_t nr, uint64_t a0, uint64_t a1)
{
	volatile struct lv_hcall *hc = (volatile struct lv_hcall *)(uintptr_t)LV_GPA_HCALL;

	hc->nr = nr;
	hc->arg[0] = a0;
	hc->arg[1] = a1;
	hc->arg[2] = 0;
	hc->arg[3] = lv_ready_owed;
	lv_ready_owed = 0;
	__asm__ volatile("outl %%eax, %%dx"
			 : : "a"((uint32_t)nr), "d"((uint16_t)LV_PORT_HCALL) : "memory");
	return hc->ret;
}

/* Power and life cycle */
void lv_ready(void);                      /* tell the host we are up */
void lv_ready_next(void);                 /* ... on the next hypercall (KVM: no exit
                                           * of its own; Xen: as lv_ready) */
uint32_t lv_idle(uint64_t timeout_ns);    /* LV_WAKE_* mask, 0 on timeout */
/* Called by lv_idle when the host says this guest was restored from a
 * snapshot (LV_WAKE_RESTORED): new name, MAC, address on the device
 * page; lv_idle then signals ready again. */
extern void (*lv_restore_hook)(void);
void lv_poweroff(int code) LV_NORETURN;
void lv_reboot(void) LV_NORETURN;
void lv_serve_forever(void) LV_NORETURN;  /* idle; honour sysctl requests */
void lv_power_check(void);  /* a pending power off or reboot request: act on it */
volatile struct lv_dev *lv_find_dev(uint16_t type); /* NULL if absent */

struct lv_time {
	uint64_t wall_ns;  /* UTC ns since the epoch */
	uint64_t mono_ns;  /* ns since boot */
};
int lv_clock(struct lv_time *t);          /* 0 or -errno */

/* Console: output is batched in the ring until the next hypercall. */
void lv_write(const char *s, size_t n);
void lv_puts(const char *s);              /* no newline added */
void lv_flush(void);                      /* LV_HC_CONSOLE doorbell */
int lv_printf(const char *fmt, ...) LV_PRINTF(1, 2);
int lv_vprintf(const char *fmt, va_list ap);
size_t lv_console_read(char *buf, size_t n); /* input, never blocks */

/* Strings (also what the compiler may call) */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
