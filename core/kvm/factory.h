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

#include <sched.h>
#include <stdbool.h>
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

/*
 * A booting shell's time slice.  Under EEVDF (Linux 6.12 and later) a
 * task that asks for a short slice gets an early virtual deadline when it
 * wakes, and so the CPU from a task that has run a while: a claimed
 * shell woken on a core busy with a long-running task no longer waits out
 * that task's slice (a few ms at 250 Hz: the second mode of single
 * spawns with the other core busy).  The share of CPU time is unchanged
 * (that is the weight, the nice value).  The factory has it and every
 * shell inherits it; the agent gives a shell the kernel's default once
 * its guest is ready, so a busy guest is not switched out more often.
 * Older kernels take the value and ignore it.  LIGHTVM_KVM_SLICE_US
 * replaces it (0: the kernel's default throughout, for A/B runs).
 */
#define KVM_BOOT_SLICE_US 100u

uint64_t kvm_boot_slice_ns(void);

/* Set the fair-class slice of pid (0: the caller) to ns (0: the
 * kernel's default), keeping its policy and nice; a real-time task is
 * left alone.  0 or -errno. */
int kvm_sched_slice(pid_t pid, uint64_t ns);

/* The class and nice the shells inherit (the agent's, read at its
 * start), so that a shell's slice is reset at READY with one
 * sched_setattr, not a sched_getattr first: kvm_sched_default sets
 * them with the kernel's slice (a real-time class: left alone). */
struct kvm_sched_base {
	uint32_t policy;
	int32_t nice;
	bool fair;
};
int kvm_sched_base_read(struct kvm_sched_base *b);
int kvm_sched_default(pid_t pid, const struct kvm_sched_base *b);

/*
 * A burst's shells, spread over the CPUs while they boot.  The agent
 * wakes a claimed shell with a message on its socket, a "sync" wake-up
 * to the kernel: the shell is put on the agent's CPU, and with its short
 * slice it runs there at once.  For one spawn that is the fastest place.
 * For a `spawn N` every shell lands on that one CPU, one after the
 * other, while the others idle (ftrace of a 1,000-VM burst: the second
 * of 2 CPUs idle ~45% of the time).  So each shell of a burst is given
 * one CPU before its EXEC, and all of them again at READY.  The agent's
 * own CPU counts half, as the agent keeps it busy sending the EXECs and
 * reading the answers.
 */
struct kvm_spread {
	cpu_set_t cpus;        /* the agent's, at start: a shell's again at READY */
	unsigned n;            /* CPUs in it */
	unsigned seq;          /* the round robin's position */
	uint16_t list[CPU_SETSIZE];
};

/* Read the caller's CPU set; false if it has one CPU (nothing to spread). */
bool kvm_spread_init(struct kvm_spread *sp);

/* The next burst shell's CPU, self being the agent's: a round robin in
 * which self has weight 1 and every other CPU 2.  -1: no CPUs. */
int kvm_spread_next(struct kvm_spread *sp, int self);

/* Fork the factory.  kvm_fd is handed to every shell; shells listen in
 * sock_dir (NULL: they do not; see shell_msg.h); with slice_ns the
 * factory, and so every shell it forks, has that fair-class time slice
 * (kvm_sched_slice).  On success *sock is the agent's end (close it to
 * stop the factory) and *pid its pid. */
int kvm_factory_start(int kvm_fd, const char *sock_dir, uint64_t slice_ns, int *sock, pid_t *pid)
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
