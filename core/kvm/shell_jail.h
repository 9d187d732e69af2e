/*
 * shell_jail.h - the per-VM shell's jail (shell_jail.c): what a shell
 * may still do once its VM exists, should a guest escape into it.
 */
#ifndef KVM_SHELL_JAIL_H
#define KVM_SHELL_JAIL_H

#include <sys/types.h>

/* Shells run as uid = gid = KVM_JAIL_ID_BASE + their pid: one uid per VM
 * (no two live shells share one), from a range no user has. */
#define KVM_JAIL_ID_BASE 2000000000u
#define KVM_JAIL_DIR     ".jail"    /* an empty dir in the shells' socket dir */

/* In the factory, once, as root: an empty network namespace that every
 * shell inherits (the tap fd is passed in), and the empty jail dir.
 * 0 or -errno; a failure leaves shells in the host's namespace. */
int kvm_jail_factory(const char *sock_dir);

/* In a shell whose VM exists, as root: close /dev/kvm (kvm_fd), point
 * fd 2 at /dev/null, chroot into SOCK_DIR/.jail (sock_dir NULL: no
 * chroot), become uid/gid KVM_JAIL_ID_BASE + pid with no groups and
 * no_new_privs, set rlimits (no files beyond fd 63, no processes, no core,
 * no file over 2 MiB, no locked memory), and load a seccomp filter that
 * allows only the system calls of the vCPU loop and KVM ioctls.  0 or
 * -errno (the shell must not go on). */
int kvm_jail_enter(int kvm_fd, const char *sock_dir);

#endif
