/*
 * fuzz_virtio.c - libFuzzer target: virtio-net over MMIO as a hostile
 * Linux driver may drive it (core/kvm/virtio_net.c, compiled in).  The
 * input is a list of register accesses (offset, size, direction, value:
 * queue set-up, status, notifications of both queues, interrupt acks)
 * and the guest memory the queues point into (descriptor tables, rings,
 * buffers; zeros past the input); frames wait on a socket standing in
 * for the tap, so notifications move frames both ways.  A malformed chain
 * (a loop, an address outside memory, the wrong direction, too long) must
 * end in the shell's crash report (caught here), never in a read or
 * write outside guest memory (ASan: memory ends where its allocation
 * does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define kvm_shell_exit fuzz_shell_exit
#include "../../core/kvm/virtio_net.c"

#define MEM (64u << 10)
#define OP  8u

static jmp_buf crashed;

void fuzz_shell_exit(struct kvm_shell *s, uint32_t kind, int64_t code, const char *fmt, ...)
{
	longjmp(crashed, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kvm_shell s;
	static struct kvm_stats_page st;
	static uint8_t *mem;
	static int sv[2] = { -1, -1 };
	static const uint8_t mac[6] = { 0x02, 0x4c, 0x56, 0, 0, 2 };
	uint8_t frame[60] = { 0 };
	char sink[2048];
	size_t nops, at;

	if (size < 1)
		return 0;
	if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (!mem)
		mem = malloc(MEM);
	memset(&s, 0, sizeof(s));
	s.vm.vm_fd = -1;
	s.vm.mem = mem;
	s.vm.mem_size = MEM;
	s.stats = &st;
	s.net.fd = sv[0];
	s.lx.vnet.present = true;
	memcpy(s.lx.vnet.mac, mac, 6);
	lv__tx_police_init(&s.net.police, mac, 0x02004d0a);
	nops = data[0] % 64;
	at = 1 + nops * OP;
	memset(mem, 0, MEM);
	if (size > at)
		memcpy(mem, data + at, size - at < MEM ? size - at : MEM);
	memcpy(frame, mac, 6);
	for (int i = 0; i < 3; i++)   /* frames waiting on the "tap" for rx */
		if (write(sv[1], frame, sizeof(frame)) < 0)
			break;
	if (!setjmp(crashed)) {
		for (size_t i = 0; i < nops && 1 + (i + 1) * OP <= size; i++) {
			const uint8_t *o = data + 1 + i * OP;
			uint64_t off = ((uint64_t)o[0] | (uint64_t)o[1] << 8) % 0x110;
			uint32_t len = 1u << (o[2] & 3);
			uint8_t d[8];

			memcpy(d, o + 4, 4);
			memset(d + 4, 0, 4);
			kvm_vnet_mmio(&s, off, o[3] & 1, d, len);
		}
		kvm_vnet_rx(&s);
	}
	while (read(sv[1], sink, sizeof(sink)) > 0)   /* what went "out" */
		;
	while (read(sv[0], sink, sizeof(sink)) > 0)   /* what was left */
		;
	return 0;
}
