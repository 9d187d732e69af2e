/*
 * autostart.h - VM config files on the agent's side (lightvm.cfg(5)):
 * the checks a config's mode and vif bridge get against this agent (for
 * spawn requests too), and `autostart = DIR` at start.
 */
#ifndef AGENT_AUTOSTART_H
#define AGENT_AUTOSTART_H

#include <stddef.h>

#include "lightvm.h"

/* This agent's bridge (lightvmd.conf net-bridge; NULL: "lvbr0"). */
void autostart_setup(const char *net_bridge);

/* mode ("noxs", "xenstore") and bridge (a vif's bridge=) against this
 * agent; NULL or "" asks nothing.  0, or -EINVAL with a message. */
int vmcfg_env_check(const char *mode, const char *bridge, char *err, size_t errlen);

/* on_poweroff / on_crash = destroy: a VM marked so is destroyed (at the
 * next tick) once it is shut off / crashed or failed.  The mark lives in
 * the agent's memory only (not in the VM's record). */
#define VMCFG_DESTROY_POWEROFF 1u
#define VMCFG_DESTROY_CRASH    2u
void vmcfg_mark(struct lv_vm *vm, unsigned destroy_on);
void vmcfg_vm_event(struct lv_vm *vm, enum lv_event ev, unsigned destroy_on);
void vmcfg_tick(void);

/* Create the VMs of every config file in dir (vmcfg_list_dir), one per
 * file; errors are logged per file and the agent goes on.  A file whose
 * VM name already exists (restored from a record) is skipped. */
void autostart_run(const char *dir);

#endif
