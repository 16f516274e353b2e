/* The ELF64 reader and validator: see include/proc/elf.h. */
#include "proc/elf.h"

#include "lib/errno.h"
#include "lib/string.h"

/* The fields of Elf64_Ehdr and Elf64_Phdr used here, by offset (ELF-64 spec). */
#define EHDR_SIZE 64
#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define E_TYPE 16
#define E_MACHINE 18
#define E_VERSION 20
#define E_ENTRY 24
#define E_PHOFF 32
#define E_PHENTSIZE 54
#define E_PHNUM 56
#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62

#define P_TYPE 0
#define P_FLAGS 4
#define P_OFFSET 8
#define P_VADDR 16
#define P_FILESZ 32
#define P_MEMSZ 40
#define P_ALIGN 48
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define PT_TLS 7
#define PT_GNU_STACK 0x6474e551u
#define PF_X 0x1u
#define PF_W 0x2u
#define PF_R 0x4u

#define ELF_MAX_PHDR_BYTES 65536 /* as Linux: a larger table is refused */

static uint16_t read_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read_u64(const uint8_t *p)
{
    return (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32;
}

static uint64_t page_down(uint64_t addr)
{
    return addr & ~(ELF_PAGE_SIZE - 1);
}

/* Only for addresses below ELF_USER_END, so it cannot wrap. */
static uint64_t page_up(uint64_t addr)
{
    return (addr + ELF_PAGE_SIZE - 1) & ~(ELF_PAGE_SIZE - 1);
}

static int reject(struct elf_image *out, const char *why)
{
    out->error = why;
    return -ENOEXEC;
}

/* The ELF header's identity, type and program header table: NULL or why not. */
static const char *check_header(const uint8_t *f, size_t size)
{
    if (size < EHDR_SIZE)
        return "file is shorter than an ELF header";
    if (memcmp(f, "\x7f" "ELF", 4) != 0)
        return "not an ELF file (bad magic)";
    if (f[EI_CLASS] != ELFCLASS64)
        return "not a 64-bit ELF file";
    if (f[EI_DATA] != ELFDATA2LSB)
        return "not a little-endian ELF file";
    if (f[EI_VERSION] != EV_CURRENT || read_u32(f + E_VERSION) != EV_CURRENT)
        return "unknown ELF version";
    if (read_u16(f + E_MACHINE) != EM_X86_64)
        return "not an x86_64 program";
    uint16_t type = read_u16(f + E_TYPE);
    if (type != ET_EXEC && type != ET_DYN)
        return "not an executable (ELF type is neither EXEC nor DYN)";
    if (read_u16(f + E_PHENTSIZE) != ELF_PHENTSIZE)
        return "program header size is not 56";
    uint64_t phoff = read_u64(f + E_PHOFF);
    uint64_t table = (uint64_t)read_u16(f + E_PHNUM) * ELF_PHENTSIZE;
    if (table == 0)
        return "no program headers";
    if (table > ELF_MAX_PHDR_BYTES)
        return "program header table larger than 64 KiB";
    if (phoff > size || table > size - phoff)
        return "program headers lie outside the file";
    return NULL;
}

static unsigned prot_of(uint32_t flags)
{
    return (flags & PF_R ? ELF_PROT_READ : 0) | (flags & PF_W ? ELF_PROT_WRITE : 0) |
           (flags & PF_X ? ELF_PROT_EXEC : 0);
}

/* One PT_LOAD: checked on its own and against the one before it, then kept. */
static const char *add_load(const uint8_t *ph, size_t size, struct elf_image *out)
{
    uint64_t offset = read_u64(ph + P_OFFSET), vaddr = read_u64(ph + P_VADDR);
    uint64_t filesz = read_u64(ph + P_FILESZ), memsz = read_u64(ph + P_MEMSZ);
    uint64_t align = read_u64(ph + P_ALIGN);
    uint32_t flags = read_u32(ph + P_FLAGS);
    if (filesz > memsz)
        return "segment's file size exceeds its memory size";
    if (offset > size || filesz > size - offset)
        return "segment's data lies outside the file";
    if (vaddr > ELF_USER_END || memsz > ELF_USER_END - vaddr)
        return "segment reaches past the user half (0x800000000000) or wraps";
    if (align > 1 && (align & (align - 1)) != 0)
        return "segment alignment is not a power of two";
    if ((offset - vaddr) % ELF_PAGE_SIZE != 0)
        return "segment's file offset and address differ modulo the page size";
    if ((flags & PF_W) && (flags & PF_X))
        return "segment is both writable and executable";
    if (memsz == 0)
        return NULL; /* maps nothing */
    if (out->nsegments > 0) {
        const struct elf_segment *prev = &out->segments[out->nsegments - 1];
        if (vaddr < prev->vaddr)
            return "segments are not sorted by address";
        if (page_down(vaddr) < page_up(prev->vaddr + prev->memsz))
            return "segment overlaps another (shares a page)";
    }
    if (out->nsegments == ELF_MAX_SEGMENTS)
        return "more than 16 loadable segments";
    out->segments[out->nsegments++] = (struct elf_segment){
        .vaddr = vaddr, .memsz = memsz, .file_offset = offset, .filesz = filesz,
        .prot = prot_of(flags)};
    return NULL;
}

static const char *read_tls(const uint8_t *ph, size_t size, struct elf_image *out)
{
    uint64_t offset = read_u64(ph + P_OFFSET), filesz = read_u64(ph + P_FILESZ);
    out->has_tls = true;
    out->tls_vaddr = read_u64(ph + P_VADDR);
    out->tls_filesz = filesz;
    out->tls_memsz = read_u64(ph + P_MEMSZ);
    out->tls_align = read_u64(ph + P_ALIGN);
    if (filesz > out->tls_memsz)
        return "TLS segment's file size exceeds its memory size";
    if (offset > size || filesz > size - offset)
        return "TLS segment's data lies outside the file";
    return NULL;
}

/* Walks the program headers: segments, PT_PHDR, PT_TLS, PT_GNU_STACK, PT_INTERP. */
static const char *read_program_headers(const uint8_t *f, size_t size, uint64_t phoff,
                                        bool *has_phdr, struct elf_image *out)
{
    for (uint16_t i = 0; i < out->phnum; i++) {
        const uint8_t *ph = f + phoff + (size_t)i * ELF_PHENTSIZE;
        const char *why = NULL;
        switch (read_u32(ph + P_TYPE)) {
        case PT_LOAD:
            why = add_load(ph, size, out);
            break;
        case PT_INTERP:
            return "needs a dynamic linker (PT_INTERP); only static programs run";
        case PT_PHDR:
            *has_phdr = true;
            out->phdr_vaddr = read_u64(ph + P_VADDR);
            break;
        case PT_TLS:
            why = read_tls(ph, size, out);
            break;
        case PT_GNU_STACK:
            out->has_gnu_stack = true;
            out->exec_stack = (read_u32(ph + P_FLAGS) & PF_X) != 0;
            break;
        default:
            break;
        }
        if (why)
            return why;
    }
    return NULL;
}

static const struct elf_segment *segment_holding(const struct elf_image *image, uint64_t vaddr,
                                                 uint64_t len)
{
    for (size_t i = 0; i < image->nsegments; i++) {
        const struct elf_segment *s = &image->segments[i];
        if (vaddr >= s->vaddr && vaddr - s->vaddr <= s->memsz &&
            len <= s->memsz - (vaddr - s->vaddr))
            return s;
    }
    return NULL;
}

/* Where the program headers are in memory: PT_PHDR, else the segment whose file
 * bytes hold them. */
static const char *place_phdrs(uint64_t phoff, bool has_phdr, struct elf_image *out)
{
    uint64_t table = (uint64_t)out->phnum * ELF_PHENTSIZE;
    if (!has_phdr) {
        for (size_t i = 0; i < out->nsegments; i++) {
            const struct elf_segment *s = &out->segments[i];
            if (phoff >= s->file_offset && phoff - s->file_offset <= s->filesz &&
                table <= s->filesz - (phoff - s->file_offset)) {
                out->phdr_vaddr = s->vaddr + (phoff - s->file_offset);
                return NULL;
            }
        }
        return "program headers are not in a loaded segment";
    }
    if (!segment_holding(out, out->phdr_vaddr, table))
        return "PT_PHDR is not inside a loaded segment";
    return NULL;
}

int elf_parse(const void *file, size_t size, struct elf_image *out)
{
    const uint8_t *f = file;
    memset(out, 0, sizeof(*out));
    const char *why = check_header(f, size);
    if (why)
        return reject(out, why);
    uint64_t phoff = read_u64(f + E_PHOFF);
    out->pie = read_u16(f + E_TYPE) == ET_DYN;
    out->entry = read_u64(f + E_ENTRY);
    out->phnum = read_u16(f + E_PHNUM);
    out->phentsize = ELF_PHENTSIZE;
    bool has_phdr = false;
    why = read_program_headers(f, size, phoff, &has_phdr, out);
    if (why)
        return reject(out, why);
    if (out->nsegments == 0)
        return reject(out, "no loadable segment");
    const struct elf_segment *last = &out->segments[out->nsegments - 1];
    out->lowest_vaddr = page_down(out->segments[0].vaddr);
    out->highest_vaddr = page_up(last->vaddr + last->memsz);
    if (!out->pie && out->lowest_vaddr < ELF_MIN_VADDR)
        return reject(out, "segment below the lowest user address (64 KiB)");
    if (out->pie && out->highest_vaddr - out->lowest_vaddr > ELF_USER_END - ELF_MIN_VADDR)
        return reject(out, "image larger than the user half");
    const struct elf_segment *entry_segment = segment_holding(out, out->entry, 1);
    if (!entry_segment || !(entry_segment->prot & ELF_PROT_EXEC))
        return reject(out, "entry point is outside an executable segment");
    why = place_phdrs(phoff, has_phdr, out);
    if (why)
        return reject(out, why);
    return 0;
}

bool elf_bias_fits(const struct elf_image *image, uint64_t bias)
{
    if (bias % ELF_PAGE_SIZE != 0 || (!image->pie && bias != 0))
        return false;
    if (bias > ELF_USER_END || image->highest_vaddr > ELF_USER_END - bias)
        return false;
    return image->lowest_vaddr + bias >= ELF_MIN_VADDR;
}
