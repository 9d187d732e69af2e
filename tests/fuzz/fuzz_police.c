/*
 * fuzz_police.c - libFuzzer target: a guest's tx frame through the NIC
 * policing (core/hostnet.c, lv__tx_police_allow) on both drivers' path.  No
 * crash, no read past the frame, and nothing leaves that does not carry
 * the VM's MAC and, as ARP sender or IPv4 source, its address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/hostnet.c"   /* instrumented: the fuzzer sees its branches */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0x4c, 0x56, 0x00, 0x00, 0x02 };
	const uint32_t ip = 0x02004d0a;   /* 10.77.0.2 */
	struct lv_tx_police p;
	uint8_t *f;
	uint32_t src;

	if (size < 14 || size > 1514)
		return 0;
	f = malloc(size);   /* exactly size bytes: ASan sees any read past it */
	memcpy(f, data, size);
	lv__tx_police_init(&p, mac, ip);
	if (lv__tx_police_allow(&p, f, size)) {
		if (memcmp(f + 6, mac, 6))
			abort();
		memcpy(&src, f + (f[13] == 0x06 ? 28 : 26), 4);
		if (src != ip && !(f[13] == 0x06 && src == 0))
			abort();
	}
	free(f);
	return 0;
}
