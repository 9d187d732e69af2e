/*
 * cgroup.h - a cgroup v2 per shell (cgroup.c), where cgroup v2 is
 * writable and has the memory and pids controllers.  All of it runs in
 * the shell factory, as root; the cgroup directories stay root-owned.
 */
#ifndef KVM_CGROUP_H
#define KVM_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KVM_CG_SUBTREE  "lightvm"          /* next to the agent's own leaf */
#define KVM_CG_OVERHEAD (16ull << 20)      /* the VMM beyond guest memory */
/* The shell, and KVM's per-VM worker (kvm-nx-lpage-recovery: a kernel
 * thread attached to the VM creator's cgroup, or on newer kernels a task
 * forked from the shell and counted here): no room for anything else. */
#define KVM_CG_PIDS     "2"

/* Once, at the factory's start: find the cgroup2 mount, check that memory
 * and pids can be delegated, move the agent and the factory into a leaf
 * "agent" unless they sit in the root cgroup, make the "lightvm" subtree
 * with +memory +pids, and remove its empty vm-* cgroups (shells gone
 * while no agent ran).  0 with the subtree's path in base, or -errno with
 * why in why. */
int kvm_cgroup_setup(char *base, size_t len, char *why, size_t wlen);

/* In a new shell, before it creates its VM: make BASE/vm-PID with
 * memory.max = mem_bytes + 1/128 + KVM_CG_OVERHEAD and pids.max =
 * KVM_CG_PIDS, and move the calling process into it.  0 or -errno. */
int kvm_cgroup_enter(const char *base, uint64_t mem_bytes);

/* Remove BASE/vm-PID once that shell is reaped.  KVM's per-VM worker
 * may leave the cgroup a moment after the shell: then it is kept for
 * kvm_cgroup_retry.  0, -EBUSY (retry pending) or -errno. */
int kvm_cgroup_remove(const char *base, pid_t pid);

/* Retry the removals pending; call again after KVM_CG_RETRY_MS while it
 * returns nonzero (the number still pending).  One that stays busy for
 * KVM_CG_RETRIES tries is left to the next agent start's sweep. */
int kvm_cgroup_retry(const char *base);
#define KVM_CG_RETRY_MS 20
#define KVM_CG_RETRIES  250

/* Remove the vm-* cgroups of processes gone (shells a former agent left
 * and this one adopted); return how many stay. */
int kvm_cgroup_sweep(const char *base);
#define KVM_CG_SWEEP_S  5

#endif
