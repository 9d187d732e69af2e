/*
 * sockmsg.h - one message with file descriptors (SCM_RIGHTS) over a
 * SOCK_SEQPACKET socket: how the driver, the shell factory and the shells
 * talk (the messages themselves: factory.h and shell_msg.h).
 */
#ifndef KVM_SOCKMSG_H
#define KVM_SOCKMSG_H

#include <stddef.h>
#include <sys/types.h>

/* Send/receive a message with up to nfds (at most 4) descriptors.
 * Return bytes, or -errno; recv returns 0 on EOF and never blocks.
 * Received fds are O_CLOEXEC; more than *nfds are closed; *nfds is
 * updated to the number received; a message or its descriptors cut
 * short is -EMSGSIZE (and no descriptor kept). */
ssize_t kvm_sendmsg(int sock, const void *buf, size_t len, const int *fds, int nfds);
ssize_t kvm_recvmsg(int sock, void *buf, size_t len, int *fds, int *nfds);

#endif
