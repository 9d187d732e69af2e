/*
 * fuzz_snapshot.c - libFuzzer target: the snapshot loader
 * (core/kvm/snapshot.c) on hostile files.  The input is the start of a
 * file: parsed as metadata against the size its own header claims (so
 * the checks behind the size check run), and loaded from a memfd of that
 * size (at most 8 MiB, sparse) with the memory check.  No crash, no
 * leak, no read outside the buffer; a load that succeeds has a sorted,
 * in-range page list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kvm/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lv_snap_hdr h;
	struct lv_snap s;
	char err[256];
	uint64_t fsize = size;
	int fd;

	if (size >= sizeof(h)) {
		memcpy(&h, data, sizeof(h));
		fsize = h.file_size;
	}
	if (lv_snap_parse(data, size, fsize, &s, err, sizeof(err)) == 0) {
		for (uint64_t i = 1; i < s.hdr.npages; i++)
			if (s.pages[i] <= s.pages[i - 1])
				abort();
		lv_snap_free(&s);
	}
	if (lv_snap_parse_head(data, size, fsize, &s, err, sizeof(err)) == 0 && s.pages)
		abort();
	if (fsize > (8u << 20) || fsize < size)
		fsize = size;
	fd = memfd_create("fuzz-snap", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (ftruncate(fd, (off_t)fsize) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size) {
		if (lv_snap_load(fd, &s, true, err, sizeof(err)) == 0) {
			if (s.hdr.file_size != fsize)
				abort();
			lv_snap_free(&s);
		}
		if (lv_snap_load_head(fd, &s, err, sizeof(err)) == 0 && s.hdr.file_size != fsize)
			abort();
	}
	close(fd);
	return 0;
}
