/*
 * lightvm-factory - the KVM driver's shell factory as a binary of its own
 * (core/kvm/factory.h).  lightvmd starts it with its socket at fd 3 and
 * /dev/kvm at fd 4; it forks one shell per VM.  It links only the core's
 * shell code and libc, so a shell forked from it maps a few regions where
 * a shell forked from the agent carried every library of the agent.
 */
#include "kvm/factory.h"

int main(int argc, char **argv)
{
	return kvm_factory_exec_main(argc, argv);
}
