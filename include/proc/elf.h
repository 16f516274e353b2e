/*
 * elf: the reader and validator of the programs Exo runs: ELF64 x86_64 static
 * executables (ET_EXEC, loaded at their link addresses) and static position-
 * independent executables (ET_DYN without PT_INTERP, loaded at a bias the caller
 * picks). There is no dynamic linker: a program asking for one (PT_INTERP) is
 * refused.
 *
 * The file is hostile input, read once here at the border; elf_parse reads nothing
 * outside [file, file + size) and any misaligned address is fine. What it accepts,
 * the loader may trust: at least one and at most ELF_MAX_SEGMENTS PT_LOAD segments
 * with memory, sorted by address and on pairwise different pages, each with its file
 * bytes inside the file, filesz <= memsz, p_offset and p_vaddr equal modulo the page
 * size, never both writable and executable, nothing wrapping, every byte (before any
 * PIE bias) below ELF_USER_END, an ET_EXEC's lowest page at or above ELF_MIN_VADDR,
 * the entry point inside an executable segment, and the program headers inside a
 * loaded segment (their address is AT_PHDR). Anything else is -ENOEXEC with
 * image->error naming the first problem.
 *
 * Pure: no kernel state, no allocation; any CPU, any context.
 */
#ifndef EXO_PROC_ELF_H
#define EXO_PROC_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_SEGMENTS 16
#define ELF_PAGE_SIZE 4096ull
#define ELF_USER_END 0x800000000000ull /* the first address past the user half */
#define ELF_MIN_VADDR 0x10000ull       /* nothing is mapped below 64 KiB (Linux's mmap_min_addr) */
#define ELF_PHENTSIZE 56               /* sizeof(Elf64_Phdr) */

#define ELF_PROT_READ 0x1u
#define ELF_PROT_WRITE 0x2u
#define ELF_PROT_EXEC 0x4u

struct elf_segment {
    uint64_t vaddr, memsz;       /* unbiased; memsz > 0 */
    uint64_t file_offset, filesz; /* bytes [0, filesz) come from the file, the rest is zero */
    unsigned prot;               /* ELF_PROT_* */
};

struct elf_image {
    bool pie;            /* ET_DYN: every address below is to be biased */
    uint64_t entry;
    uint64_t phdr_vaddr; /* the program headers in memory (AT_PHDR, before the bias) */
    uint16_t phnum, phentsize;
    size_t nsegments;
    struct elf_segment segments[ELF_MAX_SEGMENTS];
    uint64_t lowest_vaddr;  /* the first segment's page */
    uint64_t highest_vaddr; /* the end of the last segment's last page (exclusive) */
    bool has_gnu_stack;  /* a PT_GNU_STACK was present ... */
    bool exec_stack;     /* ... and asked for an executable stack */
    bool has_tls;        /* PT_TLS, described by the four fields after it */
    uint64_t tls_vaddr, tls_filesz, tls_memsz, tls_align;
    const char *error;   /* after -ENOEXEC: why, a static string; NULL on success */
};

/* Reads and checks the ELF file [file, file + size) into *out: 0 or -ENOEXEC. */
int elf_parse(const void *file, size_t size, struct elf_image *out)
    __attribute__((warn_unused_result));

/*
 * Whether a PIE image loaded at `bias` (a multiple of ELF_PAGE_SIZE) lies wholly in
 * [ELF_MIN_VADDR, ELF_USER_END): the caller picks the bias with this, for example
 * the highest page-aligned bias <= some base for which it holds.
 */
bool elf_bias_fits(const struct elf_image *image, uint64_t bias);

#endif
