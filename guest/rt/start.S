/*
 * start.S - entry point of a LightVM guest.  The shell enters us directly
 * in 64-bit ring 3 with rdi = device page, rsp = top of memory (16-byte
 * aligned), rflags = 0x2.  No ring-0 code, no set-up: one call into C.
 */
	.section .text.start, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	call	lv_rt_main	/* rdi = struct lv_devpage *; never returns */
1:	ud2			/* not reached: would end as a #UD crash */
	jmp	1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
