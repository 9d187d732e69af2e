/*
 * snapshot_drv.h - private to the KVM driver: its half of a save
 * (snapshot_drv.c).
 */
#ifndef KVM_SNAPSHOT_DRV_H
#define KVM_SNAPSHOT_DRV_H

#include <stdint.h>
#include <sys/types.h>

struct lv_vm_info;

/* A sealed memfd of KVM_SNAP_STATE_SIZE(mem_size) bytes for KVM_MSG_SAVE
 * (the caller closes it), or -errno. */
int kvm_snap_state_fd(uint64_t mem_size);
/* The shell pid has answered SAVED into state_fd and holds its guest:
 * write the snapshot of the VM vi into out_fd (empty, regular).  0 or
 * -errno with err. */
int kvm_snap_write_from(pid_t pid, int state_fd, int out_fd, const struct lv_vm_info *vi,
			char *err, size_t errlen);

#endif
