/*
 * notes.S - the Xen ELF notes that make the image a PV kernel for
 * libxenguest's ELF loader: VIRT_BASE 0 and PADDR_OFFSET 0 (VA == pseudo-
 * physical address), the entry point and the hypercall page.
 */
#define NOTE(type, desc...)				\
	.pushsection .note.Xen, "a", @note;		\
	.balign 4;					\
	.long 4f - 3f;	/* name size */			\
	.long 6f - 5f;	/* desc size */			\
	.long type;					\
3:	.asciz "Xen";					\
4:	.balign 4;					\
5:	desc;						\
6:	.balign 4;					\
	.popsection

NOTE(6,  .asciz "LightVM")	/* GUEST_OS */
NOTE(7,  .asciz "1")		/* GUEST_VERSION */
NOTE(5,  .asciz "xen-3.0")	/* XEN_VERSION */
NOTE(8,  .asciz "generic")	/* LOADER */
NOTE(3,  .quad 0)		/* VIRT_BASE */
NOTE(4,  .quad 0)		/* PADDR_OFFSET */
NOTE(1,  .quad _start)		/* ENTRY */
NOTE(2,  .quad hypercall_page)	/* HYPERCALL_PAGE */

	.section .note.GNU-stack, "", @progbits
