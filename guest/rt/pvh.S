/*
 * pvh.S - a PVH entry so that QEMU (-M microvm -kernel IMAGE) can boot a
 * LightVM image: the baseline of scripts/bench-scale.  QEMU enters at
 * pvh_start in 32-bit protected mode, paging off.  We build identity page
 * tables for the first 1 GiB, enter long mode, print "ready" on COM1 and
 * leave QEMU through isa-debug-exit (port 0xf4): booted, ready, gone.
 * The LightVM shell never runs this code (it enters _start in ring 3).
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .pvhnote, "a", @note
	.balign 4
	.long	4f - 3f			/* namesz */
	.long	6f - 5f			/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
3:	.asciz	"Xen"
4:	.balign 4
5:	.long	pvh_start
6:	.balign 4

	.section .text, "ax", @progbits
	.code32
	.globl pvh_start
pvh_start:
	cld
	/* PML4[0] -> PDPT, PDPT[0] -> PD, PD = 512 x 2 MiB pages */
	movl	$pvh_pml4, %edi
	xorl	%eax, %eax
	movl	$(3 * 4096 / 4), %ecx
	rep stosl
	movl	$pvh_pdpt, %eax
	orl	$3, %eax
	movl	%eax, pvh_pml4
	movl	$pvh_pd, %eax
	orl	$3, %eax
	movl	%eax, pvh_pdpt
	movl	$pvh_pd, %edi
	movl	$0x83, %eax
	movl	$512, %ecx
1:	movl	%eax, (%edi)
	addl	$0x200000, %eax
	addl	$8, %edi
	loop	1b
	movl	$pvh_pml4, %eax
	movl	%eax, %cr3
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	lgdt	pvh_gdt_desc
	ljmp	$0x08, $pvh_long

	.code64
pvh_long:
	movw	$0x3f8, %dx
	leaq	pvh_msg(%rip), %rsi
2:	lodsb
	testb	%al, %al
	jz	3f
	outb	%al, %dx
	jmp	2b
3:	movw	$0xf4, %dx		/* isa-debug-exit: QEMU exits with 1 */
	xorl	%eax, %eax
	outl	%eax, %dx
4:	hlt
	jmp	4b

	.section .rodata
	.balign 8
pvh_gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 64-bit code */
pvh_gdt_desc:
	.word	pvh_gdt_desc - pvh_gdt - 1
	.long	pvh_gdt
pvh_msg:
	.asciz	"ready\n"

	.section .bss
	.balign 4096
pvh_pml4: .skip 4096
pvh_pdpt: .skip 4096
pvh_pd:   .skip 4096

	.section .note.GNU-stack, "", @progbits
