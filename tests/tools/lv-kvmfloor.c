/*
 * lv-kvmfloor - the floor under a pooled spawn on this host: what a
 * pre-created VM in a pre-forked process costs to wake and run to its
 * first exit, with no agent, no image, no device page and no protocol.
 *
 *   lv-kvmfloor [-n N] [-k K]
 *
 * Forks K children at a time (default 50), each with a 4 MiB VM made as
 * a LightVM shell makes it (kvm_vm_create: long mode, ring 3) whose
 * guest is two instructions, the doorbell `out` and a jump back to it.
 * Each child runs its vCPU once to that exit (the shadow MMU warm, the
 * vCPU parked after the `out`, as a pooled shell's is), then blocks in
 * read(2) on a socketpair.  For each of N rounds this process pins the
 * next child to its own CPU, writes one byte, and the child runs KVM_RUN
 * once more (jump, `out`: the next exit) and writes back its clock.  One
 * line per round, "floor,WAKE_RUN_NS,RUN_NS,RTT_NS", all CLOCK_MONOTONIC:
 *   WAKE_RUN_NS  byte written -> KVM_RUN returned in the child (the
 *                wake-up and one vCPU entry and exit: the part of
 *                LightVM's "request -> ready" no software can remove);
 *   RUN_NS       the KVM_RUN alone;
 *   RTT_NS       byte written -> reply read here (the client's view).
 * A child is used once and exits, as a claimed shell leaves the pool.
 * Exit status 0; 77 without /dev/kvm; 1 on an error (said on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kvm/vmsetup.h"
#include "lightvm_abi.h"

#define MEM (4u << 20)
#define KMAX 200

/* mov $LV_PORT_HCALL, %dx; xor %eax, %eax; 1: out %eax, %dx; jmp 1b */
static const uint8_t guest[] = { 0x66, 0xba, LV_PORT_HCALL & 0xff, LV_PORT_HCALL >> 8,
				 0x31, 0xc0, 0xef, 0xeb, 0xfd };

struct child {
	pid_t pid;
	int fd;
};

static int64_t now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int run_to_out(struct kvm_vm *vm)
{
	int r;

	do
		r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (vm->run->exit_reason != KVM_EXIT_IO || vm->run->io.port != LV_PORT_HCALL)
		return -EPROTO;
	return 0;
}

/* The child: make the VM, run it to the `out`, say 'r', wait for a
 * byte, run it to the next `out`, send the times. */
static void __attribute__((noreturn)) child(int kvm_fd, int fd)
{
	struct kvm_vm vm;
	char err[256], c = 'r';
	int64_t t[2];
	int rc = kvm_vm_create(&vm, kvm_fd, MEM, 1, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "lv-kvmfloor: creating the VM: %s\n", err);
		_exit(1);
	}
	memcpy(vm.mem + LV_GPA_IMAGE, guest, sizeof(guest));
	rc = kvm_vm_set_entry(&vm, LV_GPA_IMAGE, MEM, 0);
	if (!rc)
		rc = run_to_out(&vm);
	if (rc) {
		fprintf(stderr, "lv-kvmfloor: first run: %s\n", strerror(-rc));
		_exit(1);
	}
	if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
		_exit(1);
	t[0] = now();
	rc = run_to_out(&vm);
	t[1] = now();
	if (rc) {
		fprintf(stderr, "lv-kvmfloor: run: %s\n", strerror(-rc));
		_exit(1);
	}
	t[0] = t[1] - t[0];
	_exit(write(fd, t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1);
}

static int make_children(int kvm_fd, struct child *c, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		c[i].fd = -1;
	for (unsigned i = 0; i < k; i++) {
		int sv[2];
		char r;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
			return -errno;
		c[i].pid = fork();
		if (c[i].pid < 0) {
			close(sv[0]);
			close(sv[1]);
			return -errno;
		}
		if (c[i].pid == 0) {
			close(sv[0]);
			child(kvm_fd, sv[1]);
		}
		close(sv[1]);
		c[i].fd = sv[0];
		if (read(c[i].fd, &r, 1) != 1 || r != 'r')
			return -EIO;
	}
	return 0;
}

static int measure(struct child *c)
{
	int cpu = sched_getcpu();
	int64_t t0, t1, t[2];
	cpu_set_t one;

	if (cpu >= 0) {   /* where a single spawn's shell boots (lightvmd(8)) */
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		sched_setaffinity(c->pid, sizeof(one), &one);
	}
	t0 = now();
	if (write(c->fd, "g", 1) != 1)
		return -EIO;
	if (read(c->fd, t, sizeof(t)) != (ssize_t)sizeof(t))
		return -EIO;
	t1 = now();
	printf("floor,%lld,%lld,%lld\n", (long long)(t[1] - t0), (long long)t[0],
	       (long long)(t1 - t0));
	return 0;
}

int main(int argc, char **argv)
{
	struct child c[KMAX];
	unsigned n = 100, k = 50;
	int opt, kvm_fd, st;

	while ((opt = getopt(argc, argv, "n:k:")) != -1) {
		if (opt == 'n')
			n = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'k')
			k = (unsigned)strtoul(optarg, NULL, 10);
		else
			goto usage;
	}
	if (optind != argc || n == 0 || k == 0 || k > KMAX)
		goto usage;
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stderr, "lv-kvmfloor: SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (n) {
		unsigned batch = n < k ? n : k;
		int rc = make_children(kvm_fd, c, batch);

		for (unsigned i = 0; !rc && i < batch; i++)
			rc = measure(&c[i]);
		for (unsigned i = 0; i < batch; i++)
			if (c[i].fd >= 0)
				close(c[i].fd);
		while (wait(&st) > 0)
			if (!rc && (!WIFEXITED(st) || WEXITSTATUS(st)))
				rc = -ECHILD;
		if (rc) {
			fprintf(stderr, "lv-kvmfloor: %s\n", strerror(-rc));
			return 1;
		}
		n -= batch;
	}
	return 0;
usage:
	fprintf(stderr, "usage: lv-kvmfloor [-n N] [-k K (1..%d)]\n", KMAX);
	return 64;
}
