/*
 * elf.c - ELF64 guest image parser/validator and its notes (see elf.h).
 * Pure: no I/O, no allocation.  Every field read from the image is untrusted; every sum
 * is overflow-checked.  Headers are copied out with memcpy (the buffer need
 * not be aligned).  The system <elf.h> is shadowed by core/elf.h, so the
 * few ELF definitions needed live here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "elf.h"

#define EI_NIDENT   16
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define EV_CURRENT  1
#define ET_EXEC     2
#define EM_X86_64   62
#define PT_LOAD     1
#define PT_NOTE     4

struct ehdr64 {
	uint8_t  ident[EI_NIDENT];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct phdr64 {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

_Static_assert(sizeof(struct ehdr64) == 64, "Elf64_Ehdr");
_Static_assert(sizeof(struct phdr64) == 56, "Elf64_Phdr");

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int check_ident(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	static const uint8_t magic[4] = { 0x7f, 'E', 'L', 'F' };

	if (len < sizeof(magic) || memcmp(buf, magic, sizeof(magic)))
		return fail(-ENOEXEC, err, errlen, "not an ELF file (bad magic)");
	if (len < sizeof(struct ehdr64))
		return fail(-EINVAL, err, errlen,
			    "truncated ELF header (%zu of 64 bytes)", len);
	if (buf[4] != ELFCLASS64)
		return fail(-ENOEXEC, err, errlen,
			    "not a 64-bit ELF file (class %u)", buf[4]);
	if (buf[5] != ELFDATA2LSB)
		return fail(-ENOEXEC, err, errlen,
			    "not a little-endian ELF file (data encoding %u)", buf[5]);
	if (buf[6] != EV_CURRENT)
		return fail(-ENOEXEC, err, errlen,
			    "unsupported ELF version %u", buf[6]);
	return 0;
}

static int check_ehdr(const struct ehdr64 *eh, size_t len, char *err, size_t errlen)
{
	uint64_t phend;

	if (eh->machine != EM_X86_64)
		return fail(-ENOEXEC, err, errlen,
			    "not an x86-64 ELF file (machine %u)", eh->machine);
	if (eh->type != ET_EXEC)
		return fail(-ENOEXEC, err, errlen,
			    "not a static executable (ELF type %u; need ET_EXEC, PIE and shared objects are not supported)",
			    eh->type);
	if (eh->phnum == 0)
		return fail(-EINVAL, err, errlen, "no program headers");
	if (eh->phentsize != sizeof(struct phdr64))
		return fail(-EINVAL, err, errlen,
			    "bad program header size %u (expected 56)", eh->phentsize);
	/* phnum <= 0xffff and phentsize == 56: the product cannot overflow */
	phend = eh->phoff + (uint64_t)eh->phnum * sizeof(struct phdr64);
	if (phend < eh->phoff || phend > len)
		return fail(-EINVAL, err, errlen,
			    "program headers [0x%llx,+%u*56) not within the first %zu bytes of the file",
			    (unsigned long long)eh->phoff, eh->phnum, len);
	return 0;
}

static int check_seg(unsigned i, const struct phdr64 *ph, uint64_t file_size,
		     uint64_t lo, uint64_t hi, char *err, size_t errlen)
{
	uint64_t fend = ph->offset + ph->filesz;
	uint64_t vend = ph->vaddr + ph->memsz;

	if (ph->filesz > ph->memsz)
		return fail(-EINVAL, err, errlen,
			    "segment %u: file size 0x%llx larger than memory size 0x%llx",
			    i, (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
	if (fend < ph->offset)
		return fail(-EINVAL, err, errlen,
			    "segment %u: file offset 0x%llx + size 0x%llx overflows",
			    i, (unsigned long long)ph->offset, (unsigned long long)ph->filesz);
	if (fend > file_size)
		return fail(-EINVAL, err, errlen,
			    "segment %u: file data [0x%llx,0x%llx) beyond the end of the file (%llu bytes)",
			    i, (unsigned long long)ph->offset, (unsigned long long)fend,
			    (unsigned long long)file_size);
	if (vend < ph->vaddr)
		return fail(-EINVAL, err, errlen,
			    "segment %u: address 0x%llx + size 0x%llx overflows",
			    i, (unsigned long long)ph->vaddr, (unsigned long long)ph->memsz);
	if (ph->vaddr < lo || vend > hi)
		return fail(-E2BIG, err, errlen,
			    "segment %u [0x%llx,0x%llx) outside guest memory [0x%llx,0x%llx)",
			    i, (unsigned long long)ph->vaddr, (unsigned long long)vend,
			    (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

static int check_overlap(const struct lv_elf_info *in, char *err, size_t errlen)
{
	for (unsigned i = 0; i < in->nseg; i++) {
		const struct lv_elf_seg *a = &in->seg[i];

		for (unsigned j = i + 1; j < in->nseg; j++) {
			const struct lv_elf_seg *b = &in->seg[j];

			/* ends cannot overflow: checked in check_seg */
			if (a->vaddr < b->vaddr + b->memsz && b->vaddr < a->vaddr + a->memsz)
				return fail(-EINVAL, err, errlen,
					    "loadable segments %u [0x%llx,0x%llx) and %u [0x%llx,0x%llx) overlap",
					    i, (unsigned long long)a->vaddr,
					    (unsigned long long)(a->vaddr + a->memsz), j,
					    (unsigned long long)b->vaddr,
					    (unsigned long long)(b->vaddr + b->memsz));
		}
	}
	return 0;
}

static int check_entry(const struct lv_elf_info *in, char *err, size_t errlen)
{
	for (unsigned i = 0; i < in->nseg; i++) {
		const struct lv_elf_seg *s = &in->seg[i];

		if ((s->flags & LV_ELF_PF_X) && in->entry >= s->vaddr &&
		    in->entry - s->vaddr < s->filesz)
			return 0;
	}
	return fail(-EINVAL, err, errlen,
		    "entry point 0x%llx not inside an executable loaded segment",
		    (unsigned long long)in->entry);
}

static int collect_segs(const uint8_t *buf, const struct ehdr64 *eh, uint64_t file_size,
			uint64_t lo, uint64_t hi, struct lv_elf_info *in,
			char *err, size_t errlen)
{
	for (unsigned i = 0; i < eh->phnum; i++) {
		struct phdr64 ph;
		int rc;

		memcpy(&ph, buf + eh->phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		rc = check_seg(i, &ph, file_size, lo, hi, err, errlen);
		if (rc)
			return rc;
		if (in->nseg == LV_ELF_MAX_SEG)
			return fail(-EINVAL, err, errlen,
				    "more than %u loadable segments", LV_ELF_MAX_SEG);
		in->seg[in->nseg++] = (struct lv_elf_seg){
			.off = ph.offset, .filesz = ph.filesz,
			.vaddr = ph.vaddr, .memsz = ph.memsz, .flags = ph.flags,
		};
	}
	if (in->nseg == 0)
		return fail(-EINVAL, err, errlen, "no loadable (PT_LOAD) segment");
	return 0;
}

/* The checks both readers make: the file's first len bytes hold a valid
 * ELF header and program headers (copied to *eh). */
static int read_headers(const uint8_t *buf, size_t len, uint64_t file_size, struct ehdr64 *eh,
			char *err, size_t errlen)
{
	int rc;

	if (len > file_size)
		return fail(-EINVAL, err, errlen,
			    "%zu header bytes but the file has only %llu", len,
			    (unsigned long long)file_size);
	rc = check_ident(buf, len, err, errlen);
	if (rc)
		return rc;
	memcpy(eh, buf, sizeof(*eh));
	return check_ehdr(eh, len, err, errlen);
}

int lv_elf_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		 uint64_t lo, uint64_t hi, struct lv_elf_info *out,
		 char *err, size_t errlen)
{
	struct lv_elf_info in = { 0 };
	struct ehdr64 eh;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!buf || !out)
		return fail(-EINVAL, err, errlen, "no image data");
	if (lo >= hi)
		return fail(-E2BIG, err, errlen,
			    "no room for an image in guest memory [0x%llx,0x%llx)",
			    (unsigned long long)lo, (unsigned long long)hi);
	rc = read_headers(buf, len, file_size, &eh, err, errlen);
	if (rc)
		return rc;
	in.entry = eh.entry;
	rc = collect_segs(buf, &eh, file_size, lo, hi, &in, err, errlen);
	if (!rc)
		rc = check_overlap(&in, err, errlen);
	if (!rc)
		rc = check_entry(&in, err, errlen);
	if (!rc)
		*out = in;
	return rc;
}

int lv_elf_note_segs(const uint8_t *buf, size_t len, uint64_t file_size,
		     struct lv_elf_note_seg *out, unsigned max,
		     char *err, size_t errlen)
{
	struct ehdr64 eh;
	unsigned n = 0;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!buf || (!out && max))
		return fail(-EINVAL, err, errlen, "no image data");
	rc = read_headers(buf, len, file_size, &eh, err, errlen);
	if (rc)
		return rc;
	for (unsigned i = 0; i < eh.phnum; i++) {
		struct phdr64 ph;

		memcpy(&ph, buf + eh.phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.type != PT_NOTE || ph.filesz == 0)
			continue;
		if (ph.offset + ph.filesz < ph.offset || ph.offset + ph.filesz > file_size)
			return fail(-EINVAL, err, errlen,
				    "note segment %u [0x%llx,+0x%llx) beyond the end of the file (%llu bytes)",
				    i, (unsigned long long)ph.offset, (unsigned long long)ph.filesz,
				    (unsigned long long)file_size);
		if (n == max)
			return fail(-EINVAL, err, errlen, "more than %u note segments", max);
		out[n++] = (struct lv_elf_note_seg){ .off = ph.offset, .size = ph.filesz };
	}
	return (int)n;
}

int lv_elf_note_find(const uint8_t *p, size_t len, const char *name, uint32_t type)
{
	size_t nlen = strlen(name) + 1;

	while (len > 0) {
		uint32_t nsz, dsz, t;
		size_t nal, dal;

		if (len < 12)
			return -EINVAL;          /* a note header cut short */
		memcpy(&nsz, p, 4);
		memcpy(&dsz, p + 4, 4);
		memcpy(&t, p + 8, 4);
		nal = ((size_t)nsz + 3) & ~(size_t)3;   /* size_t: no overflow from 32 bits */
		dal = ((size_t)dsz + 3) & ~(size_t)3;
		if (nal > len - 12 || dal > len - 12 - nal)
			return -EINVAL;
		if (nsz == nlen && memcmp(p + 12, name, nlen) == 0 && t == type)
			return 1;
		p += 12 + nal + dal;
		len -= 12 + nal + dal;
	}
	return 0;
}
