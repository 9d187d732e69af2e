/*
 * warmup.S - ring-3 code a pooled shell runs once while it prepares, so
 * that the first touches of the pages a guest boots with (image, stack,
 * device page, hypercall block, console ring) are paid before the spawn:
 * under PVM each first touch is a shadow-MMU fault in the host.  Every
 * touch is `orb $0` (read and write, contents unchanged).  The code is
 * position independent; the shell copies it to the last page of the image
 * window and starts it with rsp = top of memory.  It ends with the
 * doorbell `out` and hypercall block nr 0, which only prepare accepts.
 */
	.section .rodata
	.globl kvm_warmup_code, kvm_warmup_end
	.code64
kvm_warmup_code:
	movq	$0x100000, %rax		/* LV_GPA_IMAGE, 16 pages */
	movl	$16, %ecx
1:	orb	$0, (%rax)
	addq	$0x1000, %rax
	decl	%ecx
	jnz	1b
	movq	%rsp, %rax		/* the top two stack pages */
	movl	$2, %ecx
2:	subq	$0x1000, %rax
	orb	$0, (%rax)
	decl	%ecx
	jnz	2b
	movq	$0x9000, %rax		/* device page .. console ring */
	movl	$5, %ecx
3:	orb	$0, (%rax)
	addq	$0x1000, %rax
	decl	%ecx
	jnz	3b
	movw	$0x500, %dx		/* LV_PORT_HCALL */
	xorl	%eax, %eax
	outl	%eax, %dx
4:	jmp	4b
kvm_warmup_end:
	.section .note.GNU-stack,"",@progbits
