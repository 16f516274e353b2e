/*
 * Host tests of lib/printf.c, mostly by comparison with the C library's snprintf:
 * a table of hand-picked cases, then thousands of random format/value combinations.
 * %p is the one deliberate difference (always 16 zero-padded digits), checked alone.
 *
 * Formats are passed as variables, so the compiler's format checking does not reject
 * the legal-but-odd ones (such as "%+u") that the comparison wants to cover.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/printf.h"

#define RANDOM_ROUNDS 50000
#define OUT_MAX 256

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Both formatters on the same arguments; reports a difference with the format. */
static void compare_formats(const char *fmt, ...)
{
    char mine[OUT_MAX], libc[OUT_MAX];
    va_list args, copy;
    va_start(args, fmt);
    va_copy(copy, args);
    int mine_len = kvsnprintf(mine, sizeof(mine), fmt, args);
    int libc_len = vsnprintf(libc, sizeof(libc), fmt, copy);
    va_end(copy);
    va_end(args);
    if (mine_len != libc_len || strcmp(mine, libc) != 0) {
        fprintf(stderr, "format \"%s\": kernel \"%s\" (%d), libc \"%s\" (%d)\n", fmt, mine,
                mine_len, libc, libc_len);
        check_failures_in_test++;
    }
}

/* Hides a literal format from the compiler's checks (noinline, or it sees through). */
__attribute__((noinline)) static const char *F(const char *fmt)
{
    return fmt;
}

static void test_plain_text_and_percent(void)
{
    compare_formats(F(""));
    compare_formats(F("hello, world"));
    compare_formats(F("100%%"));
    compare_formats(F("%%%%"));
    compare_formats(F("a%%b%%c"));
}

static void test_signed_conversions_table(void)
{
    const char *formats[] = {
        "%d",   "%i",    "%5d",   "%-5d",  "%05d",  "%+d",  "% d",   "%+5d",  "% 05d",
        "%-+6d", "%.3d", "%8.3d", "%-8.3d", "%08.3d", "%.0d", "%+.0d", "% .0d", "%5.0d",
        "%0d",  "%#d",   "%+ d",  "%- d",  "%1d",   "%-1d", "%020d", "%.20d", "%-020d",
    };
    const int values[] = {0, 1, -1, 7, -42, 12345, -98765, INT_MAX, INT_MIN};
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++)
            compare_formats(formats[f], values[v]);
    }
}

static void test_unsigned_and_hex_conversions_table(void)
{
    const char *formats[] = {
        "%u",   "%x",    "%X",    "%#x",   "%#X",  "%8x",   "%-8x",  "%08x",  "%#08x",
        "%#-8x", "%.4x", "%#.4x", "%#10.4X", "%.0x", "%#.0x", "%#.0X", "%5.0u", "%+u",
        "% u",  "%+x",   "% X",   "%#u",   "%0u",  "%-0u",  "%#5x",
    };
    const unsigned values[] = {0, 1, 9, 10, 15, 16, 255, 0xdeadbeef, UINT_MAX};
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++)
            compare_formats(formats[f], values[v]);
    }
}

static void test_sign_flags_do_not_apply_to_unsigned(void)
{
    char buf[32];
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("%+u|% x|%+ #X|%+d"), 5u, 255u, 255u, 5), 12);
    CHECK_EQ_STR(buf, "5|ff|0XFF|+5");
}

static void test_length_modifiers_table(void)
{
    compare_formats(F("%hhd %hhu %hhx"), 200, 300, 0x1ff);
    compare_formats(F("%hhd %hhi"), -129, 127);
    compare_formats(F("%hd %hu %hx"), 40000, 70000, 0x12345);
    compare_formats(F("%hd"), -32769);
    compare_formats(F("%ld %lu %lx %lX"), LONG_MIN, ULONG_MAX, 0x123456789abcdefUL, 1UL);
    compare_formats(F("%lld %llu %llx"), LLONG_MAX, ULLONG_MAX, 0x8000000000000000ULL);
    compare_formats(F("%lld"), LLONG_MIN);
    compare_formats(F("%zu %zx %zd"), (size_t)SIZE_MAX, (size_t)4096, (size_t)12);
    compare_formats(F("%li %+lli % ld"), -5L, 6LL, 7L);
    compare_formats(F("%#llx %#20llX %-#20llx|"), 0xabcULL, 0xabcULL, 0xabcULL);
}

static void test_string_and_char_conversions_table(void)
{
    const char *strings[] = {"", "a", "hello", "a longer string than widths"};
    const char *formats[] = {"%s", "%10s", "%-10s", "%.3s", "%10.3s", "%-10.0s", "%.0s",
                             "%.30s", "%1s", "[%s]"};
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++)
            compare_formats(formats[f], strings[s]);
    }
    compare_formats(F("%c%c%c"), 'a', 'b', 'c');
    compare_formats(F("%5c|%-5c|%1c"), 'x', 'y', 'z');
    compare_formats(F("%c"), 0x1e9); /* converted to unsigned char */
    compare_formats(F("%c"), 0xe9);
}

static void test_star_width_and_precision(void)
{
    compare_formats(F("%*d|"), 6, 42);
    compare_formats(F("%*d|"), -6, 42); /* negative width means left-justify */
    compare_formats(F("%-*d|"), -6, 42);
    compare_formats(F("%.*d|"), 4, 42);
    compare_formats(F("%.*d|"), -1, 42); /* negative precision means none */
    compare_formats(F("%0*.*d|"), 8, -1, -42);
    compare_formats(F("%0*.*d|"), 8, 3, -42);
    compare_formats(F("%*.*s|"), 8, 2, "abcdef");
    compare_formats(F("%.*s|"), -3, "abcdef");
    compare_formats(F("%*c|"), 3, 'q');
    compare_formats(F("%*s|%*s|"), 0, "x", 2, "");
}

static void test_null_string_prints_null(void)
{
    char buf[32];
    const char *volatile null_string = NULL;
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("[%s]"), null_string), 8);
    CHECK_EQ_STR(buf, "[(null)]");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("[%.3s]"), null_string), 5);
    CHECK_EQ_STR(buf, "[(nu]");
}

static void test_pointer_is_0x_and_16_digits(void)
{
    char buf[64];
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "%p", (void *)0), 18);
    CHECK_EQ_STR(buf, "0x0000000000000000");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "%p", (void *)0xffff800000001000ull), 18);
    CHECK_EQ_STR(buf, "0xffff800000001000");
    ksnprintf(buf, sizeof(buf), "[%p]", (void *)0x1234);
    CHECK_EQ_STR(buf, "[0x0000000000001234]");
}

static void test_unknown_conversion_is_copied(void)
{
    char buf[64];
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("a%qb")), 4);
    CHECK_EQ_STR(buf, "a%qb");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("%-08.3q|%d"), 5), 9);
    CHECK_EQ_STR(buf, "%-08.3q|5");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("end%")), 4); /* cut off at the NUL */
    CHECK_EQ_STR(buf, "end%");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("end%08l")), 7);
    CHECK_EQ_STR(buf, "end%08l");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), F("%o"), 8), 2);
    CHECK_EQ_STR(buf, "%o");
}

static void test_truncation_returns_full_length(void)
{
    char buf[8];
    memset(buf, 'X', sizeof(buf));
    CHECK_EQ_INT(ksnprintf(buf, 5, "%s", "hello world"), 11);
    CHECK_EQ_STR(buf, "hell");
    CHECK_EQ_INT(buf[5], 'X'); /* nothing written past buf_size */
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "%d-%d", 1234, 5678), 9);
    CHECK_EQ_STR(buf, "1234-56");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "%20d", 1), 20); /* padding counts too */
    CHECK_EQ_STR(buf, "       ");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "%-20d|", 1), 21);
    CHECK_EQ_STR(buf, "1      ");
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "1234567"), 7); /* exactly fits */
    CHECK_EQ_STR(buf, "1234567");
}

static void test_tiny_buffers_are_terminated(void)
{
    for (size_t size = 1; size <= 4; size++) {
        /* Heap buffer of exactly `size` bytes: ASan catches a write past it. */
        char *buf = malloc(size);
        memset(buf, 'X', size);
        CHECK_EQ_INT(ksnprintf(buf, size, "%s|%d|%x", "abc", -7, 0xff), 9);
        CHECK_EQ_INT(buf[size - 1], '\0');
        CHECK(memcmp(buf, "abc|-7|ff", size - 1) == 0);
        free(buf);
    }
}

static void test_zero_size_writes_nothing(void)
{
    char guard = 'G';
    CHECK_EQ_INT(ksnprintf(&guard, 0, "%s %d", "anything", 12345), 14);
    CHECK_EQ_INT(guard, 'G');
    CHECK_EQ_INT(ksnprintf(NULL, 0, "%08x", 1), 8);
}

static void test_long_output_counts_past_buffer(void)
{
    char buf[OUT_MAX];
    char big[600];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "<%s>", big), 601);
    CHECK_EQ_U64(strlen(buf), sizeof(buf) - 1);
    CHECK_EQ_INT(ksnprintf(buf, sizeof(buf), "%300d", 5), 300);
}

struct sink_record {
    char text[128];
    size_t len;
    int calls;
};

static void record_sink(void *ctx, const char *chars, size_t len)
{
    struct sink_record *r = ctx;
    memcpy(r->text + r->len, chars, len);
    r->len += len;
    r->calls++;
}

static int format_to_sink(struct sink_record *r, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = kvprintf_to(record_sink, r, fmt, args);
    va_end(args);
    return n;
}

static void test_sink_receives_every_character(void)
{
    struct sink_record r = {0};
    CHECK_EQ_INT(format_to_sink(&r, "x=%5d, s=%-4s|%c%%", 42, "ab", 'q'), 18);
    CHECK_EQ_U64(r.len, 18);
    CHECK(memcmp(r.text, "x=   42, s=ab  |q%", 18) == 0);
    CHECK(r.calls > 0);
    struct sink_record empty = {0};
    CHECK_EQ_INT(format_to_sink(&empty, ""), 0);
    CHECK_EQ_INT(empty.calls, 0); /* no zero-length writes */
}

/* One random conversion spec, with the matching arguments, compared against libc. */
static void random_case(void)
{
    static const char conversions[] = "diuxXcs";
    static const char *const lengths[] = {"", "hh", "h", "l", "ll", "z"};
    static const char *const strings[] = {"", "x", "kernel", "0123456789abcdefghij"};
    char conv = conversions[rng() % 7];
    bool is_text = conv == 'c' || conv == 's';
    const char *length = is_text ? "" : lengths[rng() % 6];

    char fmt[64];
    size_t n = 0;
    fmt[n++] = '<';
    fmt[n++] = '%';
    for (int i = 0; i < 3; i++) { /* numeric flags are undefined for %c and %s */
        const char *flags = is_text ? "-" : "-0+ #";
        if (rng() % 3 == 0)
            fmt[n++] = flags[rng() % strlen(flags)];
    }
    int stars[2], nstars = 0;
    switch (rng() % 4) {
    case 0:
        break;
    case 1:
        fmt[n++] = '*';
        stars[nstars++] = (int)(rng() % 41) - 20;
        break;
    default:
        n += (size_t)snprintf(fmt + n, sizeof(fmt) - n, "%d", (int)(rng() % 30) + 1);
    }
    if (conv != 'c') {
        switch (rng() % 4) {
        case 0:
            break;
        case 1:
            n += (size_t)snprintf(fmt + n, sizeof(fmt) - n, ".*");
            stars[nstars++] = (int)(rng() % 31) - 5;
            break;
        default:
            n += (size_t)snprintf(fmt + n, sizeof(fmt) - n, ".%d", (int)(rng() % 25));
        }
    }
    n += (size_t)snprintf(fmt + n, sizeof(fmt) - n, "%s%c>", length, conv);

    uint64_t bits = rng();
    switch (rng() % 5) { /* bias towards small numbers and edges */
    case 0:
        bits %= 20;
        break;
    case 1:
        bits = (uint64_t)-(int64_t)(bits % 20);
        break;
    case 2:
        bits >>= rng() % 64;
        break;
    }
#define COMPARE_WITH(value)                                                             \
    do {                                                                                \
        if (nstars == 0)                                                                \
            compare_formats(fmt, value);                                                \
        else if (nstars == 1)                                                           \
            compare_formats(fmt, stars[0], value);                                      \
        else                                                                            \
            compare_formats(fmt, stars[0], stars[1], value);                            \
    } while (0)
    if (conv == 's')
        COMPARE_WITH(strings[bits % 4]);
    else if (conv == 'c')
        COMPARE_WITH((int)(bits % 255) + 1);
    else if (strcmp(length, "l") == 0)
        COMPARE_WITH((long)bits);
    else if (strcmp(length, "ll") == 0)
        COMPARE_WITH((long long)bits);
    else if (strcmp(length, "z") == 0)
        COMPARE_WITH((size_t)bits);
    else
        COMPARE_WITH((int)(uint32_t)bits);
#undef COMPARE_WITH
}

static void test_random_formats_agree_with_libc(void)
{
    for (int round = 0; round < RANDOM_ROUNDS && check_failures_in_test < 10; round++)
        random_case();
}

/* Random truncation sizes: the prefix, the NUL and the return value must match libc. */
static void test_random_truncation_agrees_with_libc(void)
{
    for (int round = 0; round < 5000; round++) {
        char mine[64], libc[64];
        size_t size = rng() % 40;
        int value = (int)rng();
        const char *fmt = F("%s:%+08d:%#x:%-6s|");
        memset(mine, '#', sizeof(mine));
        memset(libc, '#', sizeof(libc));
        int mine_len = ksnprintf(mine, size, fmt, "tag", value, (unsigned)value, "end");
        int libc_len = snprintf(libc, size, fmt, "tag", value, (unsigned)value, "end");
        CHECK_EQ_INT(mine_len, libc_len);
        CHECK(memcmp(mine, libc, sizeof(mine)) == 0);
        if (check_failures_in_test)
            return;
    }
}

int main(void)
{
    check_program = "test_printf";
    RUN(test_plain_text_and_percent);
    RUN(test_signed_conversions_table);
    RUN(test_unsigned_and_hex_conversions_table);
    RUN(test_sign_flags_do_not_apply_to_unsigned);
    RUN(test_length_modifiers_table);
    RUN(test_string_and_char_conversions_table);
    RUN(test_star_width_and_precision);
    RUN(test_null_string_prints_null);
    RUN(test_pointer_is_0x_and_16_digits);
    RUN(test_unknown_conversion_is_copied);
    RUN(test_truncation_returns_full_length);
    RUN(test_tiny_buffers_are_terminated);
    RUN(test_zero_size_writes_nothing);
    RUN(test_long_output_counts_past_buffer);
    RUN(test_sink_receives_every_character);
    RUN(test_random_formats_agree_with_libc);
    RUN(test_random_truncation_agrees_with_libc);
    return check_summary();
}
