/*
 * warmup.S - ring-3 code a pooled shell runs once while it prepares, so
 * that the first touches of the pages a guest boots with (image, stack,
 * device page, hypercall block, console ring, this park page) are paid
 * before the spawn: under PVM each first touch is a shadow-MMU fault in
 * the host.  Every touch is `orb $0` (read and write, contents
 * unchanged).  The code is position independent; the shell copies it to
 * LV_GPA_PARK and starts it with rsp = top of memory.  It ends with the
 * doorbell `out` and hypercall block nr 0, which only prepare accepts.
 *
 * The vCPU then stays parked right after that `out`: the spawn's load
 * writes the guest's entry, stack and device page into the three slots
 * below and starts the vCPU with no register ioctl (each vCPU ioctl loads
 * and puts the vCPU, several microseconds under PVM).  The park code
 * gives the guest exactly the registers KVM_SET_REGS would (rip, rsp,
 * rdi; rflags 0x2; every other general register 0) and jumps to it.
 */
	.section .rodata
	.globl kvm_warmup_code, kvm_warmup_end, kvm_park_slots
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
	movq	$0x9000, %rax		/* device page .. console ring, park page */
	movl	$5, %ecx
3:	orb	$0, (%rax)
	addq	$0x1000, %rax
	decl	%ecx
	jnz	3b
	movw	$0x500, %dx		/* LV_PORT_HCALL */
	xorl	%eax, %eax
	outl	%eax, %dx
	/* parked: the next KVM_RUN goes on here */
	movq	park_rdi(%rip), %rdi
	xorl	%eax, %eax
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%esi, %esi
	xorl	%ebp, %ebp
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	leaq	park_flags(%rip), %rsp
	popfq				/* rflags = 0x2, read from this page: no write */
	movq	park_rsp(%rip), %rsp	/* mov and jmp keep the flags */
	jmp	*park_rip(%rip)
	.balign	8
kvm_park_slots:				/* struct kvm_park (shell.c) */
park_rip:	.quad	0
park_rsp:	.quad	0
park_rdi:	.quad	0
park_flags:	.quad	2
kvm_warmup_end:
	.section .note.GNU-stack,"",@progbits
