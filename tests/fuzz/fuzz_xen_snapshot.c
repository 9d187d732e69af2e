/*
 * fuzz_xen_snapshot.c - libFuzzer target: the Xen snapshot check
 * (core/xen/xen_save.c, xen_snap_check) on hostile files.  The input is
 * written to a memfd (grown to the size its header claims when that is
 * at most 16 MiB, so the checks behind the size check run) and checked
 * with and without the stream's checksum.  No crash, no leak, no read
 * outside the file; a file that passes has the sizes it says.  Without
 * the Xen driver (no libxen headers) it only returns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#ifdef LV_HAVE_XEN
#include "xen/xen_save.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef LV_HAVE_XEN
	struct lv_snap_hdr h;
	struct xen_snap s;
	char err[256];
	uint64_t fsize = size;
	int fd = memfd_create("fuzz-xen-snap", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size >= sizeof(h)) {
		memcpy(&h, data, sizeof(h));
		if (h.file_size >= size && h.file_size <= (16u << 20))
			fsize = h.file_size;
	}
	if (write(fd, data, size) != (ssize_t)size || ftruncate(fd, (off_t)fsize)) {
		close(fd);
		return 0;
	}
	for (int verify = 0; verify < 2; verify++)
		if (xen_snap_check(fd, &s, verify, err, sizeof(err)) == 0 &&
		    (s.hdr.file_size != fsize || s.hdr.mem_off != XEN_SNAP_STREAM_OFF ||
		     s.hdr.file_size != XEN_SNAP_STREAM_OFF + s.ext.stream_len))
			abort();
	close(fd);
#else
	(void)data;
	(void)size;
#endif
	return 0;
}
