/*
 * elf.h - a pure, bounds-checked ELF64 parser/validator for guest images.
 * No I/O: the caller hands in the first bytes of the file and its size.
 * Used by the catalog (validate at request time, with a clear error) and
 * by the KVM shell (before loading).  Named LV_ELF_H: note that with
 * -Icore this header shadows the system <elf.h>, so it must stand alone.
 */
#ifndef LV_ELF_H
#define LV_ELF_H

#include <stddef.h>
#include <stdint.h>

#define LV_ELF_MAX_SEG 8u

/* p_flags bits */
#define LV_ELF_PF_X 0x1u
#define LV_ELF_PF_W 0x2u
#define LV_ELF_PF_R 0x4u

struct lv_elf_seg {
	uint64_t off, filesz, vaddr, memsz;
	uint32_t flags; /* LV_ELF_PF_* */
};

struct lv_elf_info {
	uint64_t entry;
	unsigned nseg;
	struct lv_elf_seg seg[LV_ELF_MAX_SEG];
};

/*
 * Parse and validate an ELF64 x86-64 ET_EXEC image.  buf holds the first
 * len bytes of the file (ELF header and program headers must lie inside
 * it); file_size is the full file size; every PT_LOAD segment must lie in
 * guest memory [lo, hi).  Segments are returned in file order (PT_LOAD
 * only).  Returns 0, or
 *   -ENOEXEC  not an ELF64 little-endian x86-64 executable,
 *   -EINVAL   inconsistent headers (truncated, filesz > memsz, data beyond
 *             the file, overflow, no/too many PT_LOAD, overlapping
 *             segments, entry not in an executable segment),
 *   -E2BIG    a segment outside [lo, hi),
 * with a one-line reason in err (always NUL terminated if errlen > 0).
 */
int lv_elf_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		 uint64_t lo, uint64_t hi, struct lv_elf_info *out,
		 char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
