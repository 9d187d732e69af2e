/*
 * start.S - entry of a LightVM guest on Xen PV (x86-64).  Xen enters at
 * _start in ring 3 with rsi = start_info (virtual), events masked.  We
 * switch to our own stack and call lv_xen_main(start_info).  The
 * hypercall page is filled by Xen (XEN_ELFNOTE_HYPERCALL_PAGE).
 */
	.section .text.start, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	cld
	mov	%rsp, lv_xen_boot_rsp(%rip)	/* Xen's boot stack: xrt.c keeps its page */
	lea	lv_xen_stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	lv_xen_main	/* never returns */
1:	ud2
	jmp	1b
	.size _start, . - _start

	.section .text.hypercall, "ax", @progbits
	.balign 4096
	.globl hypercall_page
hypercall_page:
	.skip 4096

	.section .bss, "aw", @nobits
	.balign 8
	.globl lv_xen_boot_rsp
lv_xen_boot_rsp:
	.skip 8

	.section .bss.page, "aw", @nobits
	.balign 4096
	.globl lv_xen_shared_info
lv_xen_shared_info:		/* remapped onto the shared info frame */
	.skip 4096
	.globl lv_xen_grant_table
lv_xen_grant_table:		/* remapped onto grant table frame 0 (lv_xen_grant) */
	.skip 4096
	.globl lv_xen_p2m_fll
lv_xen_p2m_fll:			/* the p2m's frame list list (one page) ... */
	.skip 4096
	.globl lv_xen_p2m_fl
lv_xen_p2m_fl:			/* ... and frame list: what a save reads (xrt.c) */
	.skip 4096
lv_xen_stack:
	.skip 16384
lv_xen_stack_top:

	.section .note.GNU-stack, "", @progbits
