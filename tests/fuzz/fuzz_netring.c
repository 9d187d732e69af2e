/*
 * fuzz_netring.c - libFuzzer target: the guest NIC's rings as a hostile
 * guest may leave them (core/kvm/shell_net.c, compiled in).  The input
 * is the guest memory size and the ring area (both rings' indexes and
 * descriptors; zeros past the input); the shell takes tx frames (to a socket standing in for
 * the tap) and fills rx buffers from queued frames.  A bad descriptor
 * must end in the shell's crash report (caught here), never in a read
 * or write outside guest memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* the shell's crash report comes back here (the real one is in shell.c,
 * which the library brings along) */
#define kvm_shell_exit fuzz_shell_exit
#include "../../core/kvm/shell_net.c"

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
	const size_t ring = sizeof(struct lv_net_shared);
	uint8_t frame[64] = { 0 };
	char sink[2048];

	if (size < 2)
		return 0;
	if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (!mem)
		mem = calloc(1, LV_GUEST_MIN_MEM);
	memset(&s, 0, sizeof(s));
	/* guest memory of 1..2 MiB in pages (page aligned, as a shell's is),
	 * ending where the allocation ends: ASan sees any access past it */
	s.vm.mem_size = LV_GPA_IMAGE + (((size_t)data[0] << 8 | data[1]) % 257) * 4096;
	s.vm.mem = mem + LV_GUEST_MIN_MEM - s.vm.mem_size;
	memset(s.vm.mem + LV_GPA_NET, 0, ring);
	memcpy(s.vm.mem + LV_GPA_NET, data + 2, size - 2 < ring ? size - 2 : ring);
	s.stats = &st;
	s.net.fd = sv[0];
	lv__tx_police_init(&s.net.police, mac, 0x02004d0a);
	memcpy(frame, mac, 6);
	for (int i = 0; i < 4; i++)   /* frames waiting on the "tap" for rx */
		if (write(sv[1], frame, sizeof(frame)) < 0)
			break;
	if (!setjmp(crashed))
		kvm_net_tx(&s);
	if (!setjmp(crashed) && kvm_net_pollable(&s))
		kvm_net_rx(&s);
	while (read(sv[1], sink, sizeof(sink)) > 0 || read(sv[0], sink, sizeof(sink)) > 0)
		;
	return 0;
}
