/*
 * elf.h - a pure, bounds-checked ELF64 parser/validator for guest images.
 * No I/O: the caller hands in the first bytes of the file and its size.
 * Used by the catalog (validate at request time, with a clear error), by
 * the KVM shell (before loading) and by the core's NIC policy (the ELF
 * notes an image carries: lv_elf_note_segs, lv_elf_note_find).  Named LV_ELF_H: note that with
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

/* A PT_NOTE segment: size bytes at file offset off (within the file). */
struct lv_elf_note_seg {
	uint64_t off, size;
};
#define LV_ELF_MAX_NOTE_SEG 16u

/*
 * The PT_NOTE segments of an image, in file order: the ELF and program
 * headers are checked as lv_elf_parse checks them (buf: the first len
 * bytes, file_size: the whole file), and every note segment must lie in
 * the file.  Loadable segments are not looked at.  Returns the number of
 * note segments (0 .. max), or -ENOEXEC / -EINVAL as lv_elf_parse, also
 * for a note segment beyond the file or more than max of them, with a
 * one-line reason in err.
 */
int lv_elf_note_segs(const uint8_t *buf, size_t len, uint64_t file_size,
		     struct lv_elf_note_seg *out, unsigned max,
		     char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Does the note area p[0, len) (the bytes of one PT_NOTE segment, or the
 * first len of them) hold a note named name (compared with its NUL, as
 * ELF stores it) of this type?  1 yes, 0 no, -EINVAL if a note's sizes
 * run past the area before one matched.  Names and descriptors are
 * padded to 4 bytes (ELF64 notes as GNU ld writes them).
 */
int lv_elf_note_find(const uint8_t *p, size_t len, const char *name, uint32_t type)
	__attribute__((warn_unused_result));

#endif
