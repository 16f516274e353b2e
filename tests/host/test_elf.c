/*
 * Host tests of proc/elf.c: real programs built at test-build time by Debian's
 * musl-gcc (static, static-PIE, and a dynamic one that must be refused) and
 * /bin/busybox when present; small hand-made images with one field broken per case,
 * each expecting its exact reason; and a seeded mutation loop whose accepted images
 * must satisfy every promise of include/proc/elf.h. Files are read into heap blocks
 * of exactly their size, so ASan flags any read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/errno.h"
#include "proc/elf.h"

#ifndef ELF_SAMPLES
#define ELF_SAMPLES "build/host/elf-samples"
#endif
#define MUTATION_ROUNDS 30000

#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define PT_TLS 7
#define PT_GNU_STACK 0x6474e551u
#define PF_X 1u
#define PF_W 2u
#define PF_R 4u

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    *size = (size_t)len;
    return buf;
}

/* Every promise of elf.h about an accepted image. */
static void check_invariants(const struct elf_image *im, size_t file_size)
{
    CHECK(im->error == NULL);
    CHECK(im->nsegments >= 1 && im->nsegments <= ELF_MAX_SEGMENTS);
    bool entry_ok = false, phdr_ok = false;
    for (size_t i = 0; i < im->nsegments; i++) {
        const struct elf_segment *s = &im->segments[i];
        CHECK(s->memsz > 0 && s->filesz <= s->memsz);
        CHECK(s->file_offset <= file_size && s->filesz <= file_size - s->file_offset);
        CHECK(s->vaddr < ELF_USER_END && s->memsz <= ELF_USER_END - s->vaddr);
        CHECK((s->vaddr - s->file_offset) % ELF_PAGE_SIZE == 0);
        CHECK(!((s->prot & ELF_PROT_WRITE) && (s->prot & ELF_PROT_EXEC)));
        if (i > 0) {
            const struct elf_segment *p = &im->segments[i - 1];
            CHECK(s->vaddr / ELF_PAGE_SIZE > (p->vaddr + p->memsz - 1) / ELF_PAGE_SIZE);
        }
        if ((s->prot & ELF_PROT_EXEC) && im->entry >= s->vaddr &&
            im->entry - s->vaddr < s->memsz)
            entry_ok = true;
        if (im->phdr_vaddr >= s->vaddr &&
            im->phdr_vaddr + (uint64_t)im->phnum * 56 <= s->vaddr + s->memsz)
            phdr_ok = true;
    }
    CHECK(entry_ok);
    CHECK(phdr_ok);
    CHECK(im->phentsize == 56 && im->phnum > 0);
    CHECK(im->lowest_vaddr % ELF_PAGE_SIZE == 0 && im->highest_vaddr % ELF_PAGE_SIZE == 0);
    CHECK(im->lowest_vaddr <= im->segments[0].vaddr);
    CHECK(im->highest_vaddr <= ELF_USER_END);
    if (!im->pie)
        CHECK(im->lowest_vaddr >= ELF_MIN_VADDR);
}

/* ---- real programs ----------------------------------------------------------- */

static void test_musl_static_executable(void)
{
    size_t size;
    uint8_t *file = read_file(ELF_SAMPLES "/static", &size);
    CHECK(file != NULL);
    if (!file)
        return;
    struct elf_image im;
    CHECK_EQ_INT(elf_parse(file, size, &im), 0);
    check_invariants(&im, size);
    CHECK(!im.pie);
    uint64_t e_entry;
    memcpy(&e_entry, file + 24, 8);
    CHECK_EQ_U64(im.entry, e_entry);
    CHECK_EQ_U64(im.phdr_vaddr, 0x400040); /* no PT_PHDR: from the first segment */
    CHECK_EQ_U64(im.lowest_vaddr, 0x400000);
    CHECK(im.has_gnu_stack && !im.exec_stack);
    CHECK_EQ_U64(im.segments[0].prot, ELF_PROT_READ);
    CHECK_EQ_U64(im.segments[1].prot, ELF_PROT_READ | ELF_PROT_EXEC);
    CHECK_EQ_U64(im.segments[im.nsegments - 1].prot, ELF_PROT_READ | ELF_PROT_WRITE);
    CHECK(elf_bias_fits(&im, 0));
    CHECK(!elf_bias_fits(&im, 0x1000)); /* an ET_EXEC takes no bias */
    free(file);
}

static void test_musl_static_pie(void)
{
    size_t size;
    uint8_t *file = read_file(ELF_SAMPLES "/static-pie", &size);
    CHECK(file != NULL);
    if (!file)
        return;
    struct elf_image im;
    CHECK_EQ_INT(elf_parse(file, size, &im), 0);
    check_invariants(&im, size);
    CHECK(im.pie);
    CHECK_EQ_U64(im.lowest_vaddr, 0);
    CHECK(!elf_bias_fits(&im, 0));           /* page 0 */
    CHECK(elf_bias_fits(&im, 0x555555554000ull));
    CHECK(!elf_bias_fits(&im, 0x555555554001ull)); /* not page-aligned */
    CHECK(!elf_bias_fits(&im, ELF_USER_END - ELF_PAGE_SIZE));
    CHECK(elf_bias_fits(&im, ELF_USER_END - im.highest_vaddr));
    CHECK(!elf_bias_fits(&im, UINT64_MAX & ~(ELF_PAGE_SIZE - 1)));
    free(file);
}

static void test_dynamic_program_is_refused(void)
{
    size_t size;
    uint8_t *file = read_file(ELF_SAMPLES "/dynamic", &size);
    CHECK(file != NULL);
    if (!file)
        return;
    struct elf_image im;
    CHECK_EQ_INT(elf_parse(file, size, &im), -ENOEXEC);
    CHECK(strstr(im.error, "PT_INTERP") != NULL);
    free(file);
}

static void test_busybox_static(void)
{
    size_t size;
    uint8_t *file = read_file("/bin/busybox", &size);
    if (!file) {
        printf("test_elf: /bin/busybox missing; busybox case skipped\n");
        return;
    }
    struct elf_image im;
    CHECK_EQ_INT(elf_parse(file, size, &im), 0);
    check_invariants(&im, size);
    CHECK(im.has_tls);
    free(file);
}

/* ---- hand-made images -------------------------------------------------------- */

struct ph {
    uint32_t type, flags;
    uint64_t offset, vaddr, filesz, memsz, align;
};

#define IMAGE_SIZE 0x3000
#define MAX_PH 20

struct image {
    uint16_t type, machine, phentsize, phnum;
    uint8_t class, data, version;
    uint64_t entry, phoff;
    struct ph ph[MAX_PH];
    int nph;
    size_t size;
};

static struct image good_image(void)
{
    struct image im = {.type = 2, .machine = 62, .phentsize = 56, .class = 2, .data = 1,
                       .version = 1, .entry = 0x401010, .phoff = 64, .size = IMAGE_SIZE};
    im.ph[0] = (struct ph){PT_LOAD, PF_R, 0, 0x400000, 0x1000, 0x1000, 0x1000};
    im.ph[1] = (struct ph){PT_LOAD, PF_R | PF_X, 0x1000, 0x401000, 0x1000, 0x1000, 0x1000};
    im.ph[2] = (struct ph){PT_LOAD, PF_R | PF_W, 0x2000, 0x402000, 0x100, 0x3000, 0x1000};
    im.ph[3] = (struct ph){PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 16};
    im.nph = 4;
    im.phnum = 4;
    return im;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Writes the image into an exact-size heap block. */
static uint8_t *render(const struct image *im)
{
    uint8_t *f = calloc(1, im->size ? im->size : 1);
    uint8_t full[IMAGE_SIZE] = {0};
    memcpy(full, "\x7f" "ELF", 4);
    full[4] = im->class;
    full[5] = im->data;
    full[6] = im->version;
    put16(full + 16, im->type);
    put16(full + 18, im->machine);
    put32(full + 20, im->version);
    put64(full + 24, im->entry);
    put64(full + 32, im->phoff);
    put16(full + 52, 64);
    put16(full + 54, im->phentsize);
    put16(full + 56, im->phnum);
    for (int i = 0; i < im->nph; i++) {
        uint64_t at = im->phoff + (uint64_t)i * 56;
        if (at > sizeof(full) || sizeof(full) - at < 56)
            break;
        uint8_t *p = full + at;
        put32(p, im->ph[i].type);
        put32(p + 4, im->ph[i].flags);
        put64(p + 8, im->ph[i].offset);
        put64(p + 16, im->ph[i].vaddr);
        put64(p + 32, im->ph[i].filesz);
        put64(p + 40, im->ph[i].memsz);
        put64(p + 48, im->ph[i].align);
    }
    memcpy(f, full, im->size < sizeof(full) ? im->size : sizeof(full));
    return f;
}

static int parse_image(const struct image *im, struct elf_image *out)
{
    uint8_t *f = render(im);
    int result = elf_parse(f, im->size, out);
    if (result == 0)
        check_invariants(out, im->size);
    free(f);
    return result;
}

/* Expects -ENOEXEC whose reason contains `why`. */
#define CHECK_REJECTS(im, why)                                                          \
    do {                                                                                \
        struct elf_image out_;                                                          \
        CHECK_EQ_INT(parse_image(&(im), &out_), -ENOEXEC);                              \
        if (!out_.error || !strstr(out_.error, why)) {                                  \
            fprintf(stderr, "%s:%d: reason \"%s\", wanted \"%s\"\n", __FILE__, __LINE__, \
                    out_.error ? out_.error : "(none)", why);                           \
            check_failures_in_test++;                                                   \
        }                                                                               \
    } while (0)

static void test_hand_made_image_is_accepted(void)
{
    struct image im = good_image();
    struct elf_image out;
    CHECK_EQ_INT(parse_image(&im, &out), 0);
    CHECK_EQ_U64(out.nsegments, 3);
    CHECK_EQ_U64(out.segments[2].memsz, 0x3000);
    CHECK_EQ_U64(out.segments[2].filesz, 0x100);
    CHECK_EQ_U64(out.phdr_vaddr, 0x400040);
    CHECK_EQ_U64(out.lowest_vaddr, 0x400000);
    CHECK_EQ_U64(out.highest_vaddr, 0x405000);
    CHECK_EQ_U64(out.phnum, 4);
    CHECK(out.has_gnu_stack && !out.exec_stack);
    im.ph[3].flags |= PF_X;
    CHECK_EQ_INT(parse_image(&im, &out), 0);
    CHECK(out.exec_stack);
    /* PT_PHDR wins, PT_TLS is read, unknown types are ignored. */
    im = good_image();
    im.ph[3] = (struct ph){PT_PHDR, PF_R, 64, 0x400040, 4 * 56, 4 * 56, 8};
    im.ph[4] = (struct ph){PT_TLS, PF_R, 0x2000, 0x402000, 0x10, 0x20, 8};
    im.ph[5] = (struct ph){0x6474e552, PF_R, 0, 0, 0, 0, 1}; /* GNU_RELRO */
    im.nph = im.phnum = 6;
    CHECK_EQ_INT(parse_image(&im, &out), 0);
    CHECK_EQ_U64(out.phdr_vaddr, 0x400040);
    CHECK(out.has_tls && out.tls_memsz == 0x20 && out.tls_align == 8);
    CHECK(!out.has_gnu_stack);
    /* An empty PT_LOAD maps nothing and is dropped. */
    im = good_image();
    im.ph[3] = (struct ph){PT_LOAD, PF_R, 0, 0x300000, 0, 0, 0x1000};
    CHECK_EQ_INT(parse_image(&im, &out), 0);
    CHECK_EQ_U64(out.nsegments, 3);
    /* A PIE linked at 0. */
    im = good_image();
    im.type = 3;
    for (int i = 0; i < 3; i++)
        im.ph[i].vaddr -= 0x400000;
    im.entry -= 0x400000;
    CHECK_EQ_INT(parse_image(&im, &out), 0);
    CHECK(out.pie);
    CHECK_EQ_U64(out.phdr_vaddr, 0x40);
}

static void test_header_errors(void)
{
    struct image im = good_image();
    im.size = 63;
    CHECK_REJECTS(im, "shorter than an ELF header");
    im = good_image();
    im.class = 1;
    CHECK_REJECTS(im, "not a 64-bit");
    im = good_image();
    im.data = 2;
    CHECK_REJECTS(im, "little-endian");
    im = good_image();
    im.version = 0;
    CHECK_REJECTS(im, "ELF version");
    im = good_image();
    im.machine = 3;
    CHECK_REJECTS(im, "not an x86_64");
    im = good_image();
    im.type = 1; /* ET_REL */
    CHECK_REJECTS(im, "not an executable");
    im.type = 4; /* ET_CORE */
    CHECK_REJECTS(im, "not an executable");
    im = good_image();
    im.phentsize = 64;
    CHECK_REJECTS(im, "program header size");
    im = good_image();
    im.phnum = 0;
    CHECK_REJECTS(im, "no program headers");
    im.phnum = 1200;
    CHECK_REJECTS(im, "larger than 64 KiB");
    im = good_image();
    im.phoff = IMAGE_SIZE - 100;
    CHECK_REJECTS(im, "outside the file");
    im.phoff = UINT64_MAX - 8;
    CHECK_REJECTS(im, "outside the file");
    im = good_image();
    im.size = 64 + 3 * 56; /* the fourth header cut off */
    CHECK_REJECTS(im, "outside the file");
    uint8_t not_elf[64] = "\x7f" "ELG";
    struct elf_image out;
    CHECK_EQ_INT(elf_parse(not_elf, sizeof(not_elf), &out), -ENOEXEC);
    CHECK(strstr(out.error, "bad magic") != NULL);
}

static void test_segment_errors(void)
{
    struct image im = good_image();
    im.ph[2].filesz = 0x4000;
    CHECK_REJECTS(im, "file size exceeds its memory size");
    im = good_image();
    im.ph[1].offset = 0x2800;
    im.ph[1].vaddr = 0x401800;
    CHECK_REJECTS(im, "outside the file");
    im.ph[1].offset = UINT64_MAX - 0xfff;
    CHECK_REJECTS(im, "outside the file");
    im = good_image();
    im.ph[2].memsz = UINT64_MAX - 0x1000;
    CHECK_REJECTS(im, "user half");
    im = good_image();
    im.ph[2].vaddr = ELF_USER_END - 0x1000;
    CHECK_REJECTS(im, "user half");
    im = good_image();
    im.ph[2].vaddr = 0xffffffff80002000ull;
    CHECK_REJECTS(im, "user half");
    im = good_image();
    im.ph[1].align = 0x3000;
    CHECK_REJECTS(im, "power of two");
    im = good_image();
    im.ph[1].vaddr = 0x401800;
    CHECK_REJECTS(im, "modulo the page size");
    im = good_image();
    im.ph[1].flags = PF_R | PF_W | PF_X;
    CHECK_REJECTS(im, "writable and executable");
    im = good_image();
    im.ph[2].flags = PF_W | PF_X;
    CHECK_REJECTS(im, "writable and executable");
    im = good_image();
    im.ph[1].vaddr = 0x3ff000;
    im.entry = 0x3ff010;
    CHECK_REJECTS(im, "not sorted");
    im = good_image();
    im.ph[1].vaddr = 0x400000 + 0x1000 * 0; /* same page as segment 0 */
    im.entry = 0x400010;
    CHECK_REJECTS(im, "overlaps another"); /* an equal start is an overlap */
    im = good_image();
    im.ph[0].memsz = 0x1001; /* ends one byte into segment 1's page */
    CHECK_REJECTS(im, "overlaps another");
    im = good_image();
    im.ph[2].offset = 0x1f00;
    im.ph[2].vaddr = 0x401f00; /* starts on segment 1's last page */
    CHECK_REJECTS(im, "overlaps another");
    im = good_image();
    im.ph[3] = (struct ph){PT_INTERP, PF_R, 0x100, 0x400100, 20, 20, 1};
    CHECK_REJECTS(im, "PT_INTERP");
    im = good_image();
    im.ph[3] = (struct ph){PT_TLS, PF_R, 0x2000, 0x402000, 0x30, 0x20, 8};
    CHECK_REJECTS(im, "TLS segment's file size");
    im.ph[3] = (struct ph){PT_TLS, PF_R, 0x2ff0, 0x402000, 0x20, 0x20, 8};
    CHECK_REJECTS(im, "TLS segment's data");
}

static void test_image_level_errors(void)
{
    struct image im = good_image();
    for (int i = 0; i < 3; i++)
        im.ph[i].type = 0x60000000;
    CHECK_REJECTS(im, "no loadable segment");
    im = good_image();
    im.nph = im.phnum = 17;
    im.size = IMAGE_SIZE;
    for (int i = 0; i < 17; i++)
        im.ph[i] = (struct ph){PT_LOAD, i == 1 ? PF_R | PF_X : PF_R, 0, 0x400000 + 0x1000 * i,
                               0x10, 0x10, 0x1000};
    im.entry = 0x401000;
    for (int i = 0; i < 17; i++)
        im.ph[i].offset = (uint64_t)i * 0x1000 % IMAGE_SIZE;
    for (int i = 0; i < 17; i++)
        im.ph[i].vaddr = 0x400000 + 0x3000 * (uint64_t)(i / 3) + im.ph[i].offset;
    CHECK_REJECTS(im, "more than 16");
    im = good_image();
    im.entry = 0x400010; /* in the read-only segment */
    CHECK_REJECTS(im, "entry point");
    im.entry = 0x402010; /* in the writable one */
    CHECK_REJECTS(im, "entry point");
    im.entry = 0x402000 + 0x3000; /* one past the end */
    CHECK_REJECTS(im, "entry point");
    im.entry = 0;
    CHECK_REJECTS(im, "entry point");
    im = good_image();
    im.ph[0].vaddr = 0x0;
    im.ph[0].memsz = 0x1000;
    CHECK_REJECTS(im, "64 KiB");
    im = good_image();
    im.phoff = 0x2100; /* inside the file, past the data segment's file bytes */
    CHECK_REJECTS(im, "not in a loaded segment");
    im = good_image();
    im.ph[3] = (struct ph){PT_PHDR, PF_R, 64, 0x900000, 4 * 56, 4 * 56, 8};
    CHECK_REJECTS(im, "PT_PHDR");
}

/* ---- mutation ---------------------------------------------------------------- */

static uint64_t rng_state = 0xa4093822299f31d0ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void mutate_and_parse(const uint8_t *original, size_t size, size_t hot_bytes, int *accepted)
{
    uint8_t *f = malloc(size);
    memcpy(f, original, size);
    int changes = 1 + (int)(rng() % 4);
    for (int i = 0; i < changes; i++) {
        size_t at = rng() % (hot_bytes < size ? hot_bytes : size);
        switch (rng() % 4) {
        case 0: f[at] = (uint8_t)rng(); break;
        case 1: f[at] ^= (uint8_t)(1u << (rng() % 8)); break;
        case 2: f[at] = 0; break;
        default: f[at] = 0xff; break;
        }
    }
    size_t len = rng() % 8 == 0 ? rng() % (size + 1) : size;
    uint8_t *exact = malloc(len ? len : 1);
    memcpy(exact, f, len);
    struct elf_image im;
    int result = elf_parse(exact, len, &im);
    CHECK(result == 0 || result == -ENOEXEC);
    if (result == 0) {
        check_invariants(&im, len);
        (*accepted)++;
    } else {
        CHECK(im.error != NULL);
    }
    free(exact);
    free(f);
}

static void test_mutated_images_keep_the_promises(void)
{
    struct image im = good_image();
    uint8_t *hand = render(&im);
    size_t size;
    uint8_t *real = read_file(ELF_SAMPLES "/static", &size);
    int accepted = 0;
    for (int round = 0; round < MUTATION_ROUNDS; round++) {
        if (round % 2 || !real)
            mutate_and_parse(hand, IMAGE_SIZE, 64 + 4 * 56, &accepted);
        else
            mutate_and_parse(real, size, 64 + 8 * 56, &accepted);
    }
    CHECK(accepted > 100); /* the loop reaches past the header checks */
    free(real);
    free(hand);
}

int main(void)
{
    check_program = "test_elf";
    RUN(test_musl_static_executable);
    RUN(test_musl_static_pie);
    RUN(test_dynamic_program_is_refused);
    RUN(test_busybox_static);
    RUN(test_hand_made_image_is_accepted);
    RUN(test_header_errors);
    RUN(test_segment_errors);
    RUN(test_image_level_errors);
    RUN(test_mutated_images_keep_the_promises);
    return check_summary();
}
