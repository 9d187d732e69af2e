/*
 * factory.h - the shell factory: a small single-threaded process forked
 * by the agent before it grows, whose only job is to fork shell processes
 * (one per VM).  Forking from a small process keeps fork cheap whatever
 * the agent's size, and a shell inherits nothing of the agent.
 *
 * Protocol (SOCK_SEQPACKET): the agent sends struct kvm_factory_req; the
 * factory answers each request, in order, with struct kvm_factory_rep and,
 * on success, the agent's end of the new shell's control socketpair as
 * SCM_RIGHTS.  EOF on the socket makes the factory exit.
 */
#ifndef KVM_FACTORY_H
#define KVM_FACTORY_H

#include <stdint.h>
#include <sys/types.h>

#include "kvm/sockmsg.h"   /* its messages go through kvm_sendmsg/kvm_recvmsg */

struct kvm_factory_req {
	uint32_t magic;      /* KVM_FACTORY_MAGIC */
	uint32_t vcpus;
	uint64_t mem_bytes;
	uint32_t flags;      /* KVM_FACTORY_BACKGROUND */
	uint32_t pad;
};

#define KVM_FACTORY_BACKGROUND 0x1u  /* a pool refill, not a spawn */
#define KVM_FACTORY_LINUX      0x2u  /* a shell for a Linux guest */

struct kvm_factory_rep {
	int32_t err;         /* 0 or -errno */
	int32_t pid;         /* the shell's pid */
};

#define KVM_FACTORY_MAGIC 0x46564c4bu

/* Fork the factory.  kvm_fd is handed to every shell; shells listen in
 * sock_dir (NULL: they do not; see shell_msg.h).  On success *sock is the
 * agent's end (close it to stop the factory) and *pid its pid. */
int kvm_factory_start(int kvm_fd, const char *sock_dir, int *sock, pid_t *pid)
	__attribute__((warn_unused_result));

/* The factory runs its own small binary (factory/main.c), found next to
 * the agent or in LIBDIR/lightvm: a shell forked from it carries a few
 * mappings instead of the agent's every library (memory per VM; see
 * docs/architecture.md).  Without the binary it runs forked from the
 * agent as before.  FACTORY_PROTO changes with this header's messages. */
#define FACTORY_ARGV0 "lightvm-factory"
#define FACTORY_PROTO "lightvm-factory-1"
int kvm_factory_exec_main(int argc, char **argv);


#endif
