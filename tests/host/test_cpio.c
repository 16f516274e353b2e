/*
 * Host tests of fs/cpio.c: well-formed newc and 070702 archives read back entry by
 * entry; every malformed case the header promises to reject; every truncation of a
 * good archive; and a seeded mutation loop over exactly-sized heap copies (ASan
 * catches any read out of bounds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpio_builder.h"
#include "fs/cpio.h"
#include "fs/stat.h"
#include "lib/errno.h"

#define MUTATION_ROUNDS 20000

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Reads the archive's first entry from an exact copy. */
static int first_entry(const struct cpio_builder *b, struct cpio_entry *e, size_t *offset)
{
    uint8_t *copy = cb_exact_copy(b);
    *offset = 0;
    int result = cpio_next(copy, b->len, offset, e);
    free(copy);
    return result;
}

static void sample_archive(struct cpio_builder *b)
{
    cb_entry(b, "bin", S_IFDIR | 0755, NULL);
    cb_entry(b, "bin/hello", S_IFREG | 0755, "hello, world\n");
    cb_entry(b, "bin/sh", S_IFLNK | 0777, "/bin/busybox");
    cb_trailer(b);
}

static void test_reads_each_entry_then_trailer(void)
{
    struct cpio_builder b = {0};
    sample_archive(&b);
    uint8_t *a = cb_exact_copy(&b);
    size_t offset = 0;
    struct cpio_entry e;
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), 1);
    CHECK_EQ_STR(e.name, "bin");
    CHECK_EQ_U64(e.name_len, 3);
    CHECK_EQ_U64(e.mode, S_IFDIR | 0755);
    CHECK_EQ_U64(e.size, 0);
    CHECK_EQ_U64(offset % 4, 0);
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), 1);
    CHECK_EQ_STR(e.name, "bin/hello");
    CHECK_EQ_U64(e.size, 13);
    CHECK(memcmp(e.data, "hello, world\n", 13) == 0);
    CHECK_EQ_U64(e.uid, 1000);
    CHECK_EQ_U64(e.gid, 100);
    CHECK_EQ_U64(e.nlink, 1);
    CHECK_EQ_U64(e.mtime, 1700000000);
    CHECK(e.error == NULL);
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), 1);
    CHECK_EQ_U64(e.mode, S_IFLNK | 0777);
    CHECK(memcmp(e.data, "/bin/busybox", 12) == 0);
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), 0);
    CHECK_EQ_STR(e.name, "TRAILER!!!");
    CHECK_EQ_U64(offset, b.len);
    free(a);
    cb_free(&b);
}

static void test_header_fields_are_read_as_hex_either_case(void)
{
    struct cpio_builder b = {0};
    uint32_t f[CB_FIELDS] = {0};
    f[CB_INO] = 0xDEADBEEF;
    f[CB_MODE] = S_IFREG | 0644;
    f[CB_DEVMAJOR] = 0xabc;
    f[CB_RDEVMINOR] = 7;
    f[CB_NAMESIZE] = 2;
    cb_raw(&b, "070701", f, "x", 2, NULL, 0);
    memcpy(b.buf + 6, "deadbeef", 8); /* lower case too */
    struct cpio_entry e;
    size_t offset;
    CHECK_EQ_INT(first_entry(&b, &e, &offset), 1);
    CHECK_EQ_U64(e.ino, 0xdeadbeef);
    CHECK_EQ_U64(e.devmajor, 0xabc);
    CHECK_EQ_U64(e.rdevminor, 7);
    CHECK_EQ_U64(offset, 112);
    cb_free(&b);
}

static void crc_entry(struct cpio_builder *b, const char *data, uint32_t check)
{
    uint32_t f[CB_FIELDS] = {0};
    f[CB_MODE] = S_IFREG | 0644;
    f[CB_FILESIZE] = (uint32_t)strlen(data);
    f[CB_NAMESIZE] = 2;
    f[CB_CHECK] = check;
    cb_raw(b, "070702", f, "f", 2, data, strlen(data));
}

static void test_crc_format_checks_the_byte_sum(void)
{
    struct cpio_builder b = {0};
    crc_entry(&b, "\x01\x02\xff", 0x102);
    struct cpio_entry e;
    size_t offset;
    CHECK_EQ_INT(first_entry(&b, &e, &offset), 1);
    CHECK_EQ_U64(e.size, 3);
    cb_free(&b);
    crc_entry(&b, "\x01\x02\xff", 0x101);
    CHECK_EQ_INT(first_entry(&b, &e, &offset), -EINVAL);
    CHECK(strstr(e.error, "checksum") != NULL);
    CHECK_EQ_U64(offset, 0);
    cb_free(&b);
}

/* One entry named "name" with the given field overridden. */
static int parse_with_field(int field, uint32_t value, const char **error)
{
    struct cpio_builder b = {0};
    uint32_t f[CB_FIELDS] = {0};
    f[CB_MODE] = S_IFREG | 0644;
    f[CB_FILESIZE] = 4;
    f[CB_NAMESIZE] = 5;
    f[field] = value;
    cb_raw(&b, "070701", f, "name", 5, "data", 4);
    cb_trailer(&b);
    struct cpio_entry e;
    size_t offset;
    int result = first_entry(&b, &e, &offset);
    *error = result < 0 ? e.error : NULL;
    cb_free(&b);
    return result;
}

static void test_sizes_past_the_end_or_wrapping_are_rejected(void)
{
    const char *why;
    CHECK_EQ_INT(parse_with_field(CB_FILESIZE, 0xffffffff, &why), -EINVAL);
    CHECK(strstr(why, "data runs past") != NULL);
    CHECK_EQ_INT(parse_with_field(CB_FILESIZE, 1000, &why), -EINVAL);
    CHECK_EQ_INT(parse_with_field(CB_NAMESIZE, 0xffffffff, &why), -EINVAL);
    CHECK(strstr(why, "name runs past") != NULL);
    CHECK_EQ_INT(parse_with_field(CB_NAMESIZE, 0xfffffff0, &why), -EINVAL);
    CHECK_EQ_INT(parse_with_field(CB_NAMESIZE, 0, &why), -EINVAL);
    CHECK(strstr(why, "empty name") != NULL);
    /* namesize 4: the name's last byte is 'e', not NUL. */
    CHECK_EQ_INT(parse_with_field(CB_NAMESIZE, 4, &why), -EINVAL);
    CHECK(strstr(why, "NUL") != NULL);
    CHECK_EQ_INT(parse_with_field(CB_NAMESIZE, 5, &why), 1);
}

static void test_name_with_inner_nul_is_rejected(void)
{
    struct cpio_builder b = {0};
    uint32_t f[CB_FIELDS] = {0};
    f[CB_NAMESIZE] = 4;
    cb_raw(&b, "070701", f, "a\0b", 4, NULL, 0);
    cb_trailer(&b);
    struct cpio_entry e;
    size_t offset;
    CHECK_EQ_INT(first_entry(&b, &e, &offset), -EINVAL);
    cb_free(&b);
}

static void test_bad_magic_and_non_hex_fields_are_rejected(void)
{
    const char *bad_magics[] = {"070700", "070703", "070707", "0707 1", "x70701"};
    for (size_t i = 0; i < sizeof(bad_magics) / sizeof(bad_magics[0]); i++) {
        struct cpio_builder b = {0};
        sample_archive(&b);
        memcpy(b.buf, bad_magics[i], strlen(bad_magics[i]));
        struct cpio_entry e;
        size_t offset;
        CHECK_EQ_INT(first_entry(&b, &e, &offset), -EINVAL);
        CHECK(strstr(e.error, "magic") != NULL);
        cb_free(&b);
    }
    const char bad_digits[] = {'g', 'G', ' ', '-', 'x', '\0', 0x7f};
    for (int field = 0; field < CB_FIELDS; field++) {
        for (size_t d = 0; d < sizeof(bad_digits); d++) {
            struct cpio_builder b = {0};
            sample_archive(&b);
            b.buf[6 + 8 * field + (field + d) % 8] = (uint8_t)bad_digits[d];
            struct cpio_entry e;
            size_t offset;
            CHECK_EQ_INT(first_entry(&b, &e, &offset), -EINVAL);
            CHECK(strstr(e.error, "hexadecimal") != NULL);
            cb_free(&b);
        }
    }
}

static void test_padding_past_the_end_is_rejected(void)
{
    /* Name padding: header 110 + "ab\0" = 113, padded to 116; cut at 114. */
    struct cpio_builder b = {0};
    cb_entry(&b, "ab", S_IFREG | 0644, "xyz");
    struct cpio_entry e;
    size_t offset = 0;
    uint8_t *a = cb_exact_copy(&b);
    CHECK_EQ_INT(cpio_next(a, 114, &offset, &e), -EINVAL);
    CHECK(strstr(e.error, "name's padding") != NULL);
    /* Data padding: data ends at 119, padded to 120. */
    CHECK_EQ_INT(cpio_next(a, 119, &offset, &e), -EINVAL);
    CHECK(strstr(e.error, "data's padding") != NULL);
    CHECK_EQ_INT(cpio_next(a, 120, &offset, &e), 1);
    CHECK_EQ_U64(offset, 120);
    free(a);
    cb_free(&b);
}

static void test_every_truncation_fails_cleanly(void)
{
    struct cpio_builder b = {0};
    sample_archive(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *a = malloc(cut ? cut : 1);
        memcpy(a, b.buf, cut);
        size_t offset = 0;
        struct cpio_entry e;
        int result;
        while ((result = cpio_next(a, cut, &offset, &e)) == 1)
            CHECK(offset <= cut);
        CHECK_EQ_INT(result, -EINVAL);
        free(a);
    }
    cb_free(&b);
}

static void test_end_without_trailer_and_bad_offsets(void)
{
    struct cpio_builder b = {0};
    cb_entry(&b, "a", S_IFREG | 0644, "1");
    uint8_t *a = cb_exact_copy(&b);
    size_t offset = 0;
    struct cpio_entry e;
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), 1);
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), -EINVAL);
    CHECK(strstr(e.error, "without TRAILER") != NULL);
    offset = b.len + 4;
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), -EINVAL);
    offset = SIZE_MAX;
    CHECK_EQ_INT(cpio_next(a, b.len, &offset, &e), -EINVAL);
    CHECK_EQ_U64(offset, SIZE_MAX);
    CHECK_EQ_INT(cpio_next(a, 0, &(size_t){0}, &e), -EINVAL);
    free(a);
    cb_free(&b);
}

/* Random byte changes, biased to the header digits: never a read out of bounds,
 * every entry returned lies inside the archive. */
static void test_mutated_archives_stay_in_bounds(void)
{
    struct cpio_builder b = {0};
    sample_archive(&b);
    static const char alphabet[] = "0123456789abcdefABCDEFxX\0\xff/.";
    for (int round = 0; round < MUTATION_ROUNDS; round++) {
        uint8_t *a = cb_exact_copy(&b);
        size_t len = b.len - (rng() % 4 == 0 ? rng() % b.len : 0);
        int changes = 1 + (int)(rng() % 4);
        for (int i = 0; i < changes && len; i++) {
            size_t at = rng() % len;
            a[at] = rng() % 2 ? (uint8_t)alphabet[rng() % (sizeof(alphabet) - 1)]
                              : (uint8_t)rng();
        }
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, a, len);
        size_t offset = 0;
        struct cpio_entry e;
        int result;
        while ((result = cpio_next(exact, len, &offset, &e)) == 1) {
            CHECK(offset <= len && offset % 4 == 0);
            CHECK((const uint8_t *)e.name >= exact && e.data >= exact);
            CHECK(e.data + e.size <= exact + len);
            CHECK(strlen(e.name) == e.name_len);
        }
        CHECK(result == 0 || result == -EINVAL);
        free(exact);
        free(a);
    }
    cb_free(&b);
}

int main(void)
{
    check_program = "test_cpio";
    RUN(test_reads_each_entry_then_trailer);
    RUN(test_header_fields_are_read_as_hex_either_case);
    RUN(test_crc_format_checks_the_byte_sum);
    RUN(test_sizes_past_the_end_or_wrapping_are_rejected);
    RUN(test_name_with_inner_nul_is_rejected);
    RUN(test_bad_magic_and_non_hex_fields_are_rejected);
    RUN(test_padding_past_the_end_is_rejected);
    RUN(test_every_truncation_fails_cleanly);
    RUN(test_end_without_trailer_and_bad_offsets);
    RUN(test_mutated_archives_stay_in_bounds);
    return check_summary();
}
