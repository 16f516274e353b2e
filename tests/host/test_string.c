/*
 * Host tests of lib/string.c. The libc-named functions are linked renamed to
 * exo_* (tests/host/common.mk), so each can be compared against the host libc;
 * glob_match and parse_u64 keep their names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/string.h"

void *exo_memcpy(void *dst, const void *src, size_t n);
void *exo_memmove(void *dst, const void *src, size_t n);
void *exo_memset(void *dst, int byte, size_t n);
int exo_memcmp(const void *a, const void *b, size_t n);
void *exo_memchr(const void *s, int byte, size_t n);
size_t exo_strlen(const char *s);
size_t exo_strnlen(const char *s, size_t max_len);
int exo_strcmp(const char *a, const char *b);
int exo_strncmp(const char *a, const char *b, size_t n);
char *exo_strchr(const char *s, int c);
size_t exo_strlcpy(char *dst, const char *src, size_t dst_size);

#define RANDOM_ROUNDS 20000

/* xorshift64*: a fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static void test_memcpy_copies_and_returns_dst(void)
{
    char src[] = "abcdefgh", dst[9] = {0};
    CHECK(exo_memcpy(dst, src, 9) == dst);
    CHECK_EQ_STR(dst, "abcdefgh");
    CHECK(exo_memcpy(dst, "zz", 0) == dst);
    CHECK_EQ_STR(dst, "abcdefgh");
}

static void test_memmove_overlap_forward_and_backward(void)
{
    char buf[16];
    memcpy(buf, "0123456789", 11);
    CHECK(exo_memmove(buf + 2, buf, 8) == buf + 2); /* dst above src: copy backwards */
    CHECK_EQ_STR(buf, "0101234567");
    memcpy(buf, "0123456789", 11);
    CHECK(exo_memmove(buf, buf + 3, 8) == buf); /* dst below src: copy forwards */
    CHECK_EQ_STR(buf, "3456789");
    memcpy(buf, "0123456789", 11);
    exo_memmove(buf, buf, 10);
    CHECK_EQ_STR(buf, "0123456789");
    exo_memmove(buf + 1, buf, 0);
    CHECK_EQ_STR(buf, "0123456789");
    memcpy(buf, "0123456789", 11);
    exo_memmove(buf + 1, buf, 9); /* overlap by all but one byte */
    CHECK_EQ_STR(buf, "0012345678");
}

static void test_memset_uses_low_byte(void)
{
    unsigned char buf[8] = {0};
    CHECK(exo_memset(buf, 0x1ab, 7) == buf);
    for (int i = 0; i < 7; i++)
        CHECK_EQ_INT(buf[i], 0xab);
    CHECK_EQ_INT(buf[7], 0);
    exo_memset(buf, 'x', 0);
    CHECK_EQ_INT(buf[0], 0xab);
}

static void test_memcmp_is_unsigned(void)
{
    CHECK_EQ_INT(exo_memcmp("abc", "abd", 3), -1);
    CHECK_EQ_INT(exo_memcmp("abd", "abc", 3), 1);
    CHECK_EQ_INT(exo_memcmp("abc", "abd", 2), 0);
    CHECK_EQ_INT(exo_memcmp("a", "b", 0), 0);
    CHECK(exo_memcmp("\x80", "\x7f", 1) > 0);
    CHECK(exo_memcmp("a\0b", "a\0c", 3) < 0); /* NULs do not stop memcmp */
}

static void test_memchr_finds_first_byte_within_bound(void)
{
    const char text[] = "ab\xff" "cab";
    CHECK(exo_memchr(text, 'a', 6) == text);
    CHECK(exo_memchr(text, 'b', 6) == text + 1);
    CHECK(exo_memchr(text, 0xff, 6) == text + 2); /* compared as unsigned char */
    CHECK(exo_memchr(text, 'c' + 256, 6) == text + 3);
    CHECK(exo_memchr(text, 0, 6) == NULL);
    CHECK(exo_memchr(text, 0, 7) == text + 6);
    CHECK(exo_memchr(text, 'a', 0) == NULL);
}

static void test_strlen_and_strnlen_bound(void)
{
    CHECK_EQ_U64(exo_strlen(""), 0);
    CHECK_EQ_U64(exo_strlen("hello"), 5);
    CHECK_EQ_U64(exo_strnlen("hello", 3), 3);
    CHECK_EQ_U64(exo_strnlen("hello", 5), 5);
    CHECK_EQ_U64(exo_strnlen("hello", 99), 5);
    CHECK_EQ_U64(exo_strnlen("hello", 0), 0);
    /* No NUL at all: strnlen must not read past max_len (ASan would report it). */
    char *unterminated = malloc(4);
    memcpy(unterminated, "abcd", 4);
    CHECK_EQ_U64(exo_strnlen(unterminated, 4), 4);
    free(unterminated);
}

static void test_strcmp_and_strncmp(void)
{
    CHECK_EQ_INT(exo_strcmp("", ""), 0);
    CHECK_EQ_INT(exo_strcmp("abc", "abc"), 0);
    CHECK(exo_strcmp("abc", "abd") < 0);
    CHECK(exo_strcmp("abc", "ab") > 0);
    CHECK(exo_strcmp("ab", "abc") < 0);
    CHECK(exo_strcmp("\xff", "a") > 0); /* compared as unsigned char */
    CHECK_EQ_INT(exo_strncmp("abcx", "abcy", 3), 0);
    CHECK(exo_strncmp("abcx", "abcy", 4) < 0);
    CHECK_EQ_INT(exo_strncmp("ab", "ab", 10), 0); /* stops at the common NUL */
    CHECK(exo_strncmp("ab", "abc", 10) < 0);
    CHECK_EQ_INT(exo_strncmp("x", "y", 0), 0);
    CHECK(exo_strncmp("\x80", "\x01", 1) > 0);
}

static void test_strchr_finds_first_and_terminator(void)
{
    const char *s = "a,b,c";
    CHECK(exo_strchr(s, ',') == s + 1);
    CHECK(exo_strchr(s, 'a') == s);
    CHECK(exo_strchr(s, 'z') == NULL);
    CHECK(exo_strchr(s, '\0') == s + 5);
    CHECK(exo_strchr("", 'a') == NULL);
    CHECK(exo_strchr("x\xe9y", 0xe9) != NULL); /* int argument converted to char */
    CHECK(exo_strchr(s, ',' + 256) == s + 1);
}

static void test_strlcpy_truncates_and_reports_length(void)
{
    char dst[8];
    memset(dst, 'X', sizeof(dst));
    CHECK_EQ_U64(exo_strlcpy(dst, "hi", sizeof(dst)), 2);
    CHECK_EQ_STR(dst, "hi");
    CHECK_EQ_U64(exo_strlcpy(dst, "0123456789", sizeof(dst)), 10);
    CHECK_EQ_STR(dst, "0123456");
    CHECK_EQ_U64(exo_strlcpy(dst, "0123456", sizeof(dst)), 7); /* exactly fits */
    CHECK_EQ_STR(dst, "0123456");
    CHECK_EQ_U64(exo_strlcpy(dst, "01234567", sizeof(dst)), 8); /* one too long */
    CHECK_EQ_STR(dst, "0123456");
    CHECK_EQ_U64(exo_strlcpy(dst, "abc", 1), 3);
    CHECK_EQ_INT(dst[0], 0);
    dst[0] = 'Q';
    CHECK_EQ_U64(exo_strlcpy(dst, "abc", 0), 3); /* size 0 writes nothing */
    CHECK_EQ_INT(dst[0], 'Q');
    CHECK_EQ_U64(exo_strlcpy(dst, "", sizeof(dst)), 0);
    CHECK_EQ_STR(dst, "");
}

static void test_glob_match_literals_and_wildcards(void)
{
    CHECK(glob_match("", ""));
    CHECK(!glob_match("", "a"));
    CHECK(!glob_match("a", ""));
    CHECK(glob_match("abc", "abc"));
    CHECK(!glob_match("abc", "abcd"));
    CHECK(!glob_match("abcd", "abc"));
    CHECK(glob_match("*", ""));
    CHECK(glob_match("*", "anything"));
    CHECK(glob_match("**", ""));
    CHECK(glob_match("***a", "a"));
    CHECK(glob_match("?", "x"));
    CHECK(!glob_match("?", ""));
    CHECK(!glob_match("?", "xy"));
    CHECK(glob_match("??", "xy"));
    CHECK(glob_match("mm.*", "mm.frame"));
    CHECK(!glob_match("mm.*", "sched.mm"));
    CHECK(glob_match("*.frame", "mm.frame"));
    CHECK(glob_match("*frame*", "mm.frame_alloc"));
    CHECK(glob_match("a*b*c", "abc"));
    CHECK(glob_match("a*b*c", "aXbYbZc"));
    CHECK(!glob_match("a*b*c", "aXbYbZ"));
    CHECK(glob_match("*ab", "aab")); /* needs the star to backtrack */
    CHECK(glob_match("*aab", "aaab"));
    CHECK(!glob_match("*ab", "aba"));
    CHECK(glob_match("a?c*", "abcdef"));
    CHECK(glob_match("*?", "x"));
    CHECK(!glob_match("*?", ""));
    CHECK(glob_match("?*?", "ab"));
    CHECK(!glob_match("?*?", "a"));
    CHECK(glob_match("[x]", "[x]")); /* brackets are literal */
    CHECK(!glob_match("[x]", "x"));
    CHECK(!glob_match("A", "a")); /* case-sensitive */
}

/* A slow, obviously-correct recursive matcher for the randomized comparison. */
static bool glob_reference(const char *p, const char *t)
{
    if (*p == '\0')
        return *t == '\0';
    if (*p == '*')
        return glob_reference(p + 1, t) || (*t && glob_reference(p, t + 1));
    if (*t && (*p == '?' || *p == *t))
        return glob_reference(p + 1, t + 1);
    return false;
}

static void test_glob_match_agrees_with_reference(void)
{
    const char alphabet_p[] = "ab*?";
    const char alphabet_t[] = "ab";
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        char pattern[9], text[11];
        size_t plen = rng() % 9, tlen = rng() % 11;
        for (size_t i = 0; i < plen; i++)
            pattern[i] = alphabet_p[rng() % 4];
        for (size_t i = 0; i < tlen; i++)
            text[i] = alphabet_t[rng() % 2];
        pattern[plen] = text[tlen] = '\0';
        if (glob_match(pattern, text) != glob_reference(pattern, text)) {
            fprintf(stderr, "glob_match(\"%s\", \"%s\") disagrees\n", pattern, text);
            CHECK(false);
            return;
        }
    }
}

static void test_glob_match_long_input_is_not_exponential(void)
{
    char text[4001], pattern[] = "*a*a*a*a*a*a*a*a*a*ab";
    memset(text, 'a', 4000);
    text[4000] = '\0';
    CHECK(!glob_match(pattern, text));
    text[3999] = 'b';
    CHECK(glob_match(pattern, text));
}

static bool parse(const char *s, unsigned long long *out)
{
    return parse_u64(s, strlen(s), out);
}

static void test_parse_u64_decimal_and_hex(void)
{
    unsigned long long v = 0;
    CHECK(parse("0", &v) && v == 0);
    CHECK(parse("42", &v) && v == 42);
    CHECK(parse("007", &v) && v == 7);
    CHECK(parse("18446744073709551615", &v) && v == UINT64_MAX);
    CHECK(parse("0x0", &v) && v == 0);
    CHECK(parse("0x1f", &v) && v == 31);
    CHECK(parse("0XABCDEF", &v) && v == 0xabcdef);
    CHECK(parse("0xffffffffffffffff", &v) && v == UINT64_MAX);
    CHECK(parse("0x0000000000000000000001", &v) && v == 1); /* leading zeros are fine */
    /* Only the first len bytes count. */
    CHECK(parse_u64("123xyz", 3, &v) && v == 123);
}

static void test_parse_u64_rejects_without_writing(void)
{
    unsigned long long v = 0xdead;
    const char *bad[] = {
        "",     "x",   "0x",  "0X",   "-1",   "+1", " 1", "1 ", "12a", "0x1g", "1.5",
        "0x-1", "0b1", "0xx1", "18446744073709551616", "99999999999999999999",
        "0x10000000000000000", "0x1ffffffffffffffff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], &v)) {
            fprintf(stderr, "parse_u64 accepted \"%s\"\n", bad[i]);
            CHECK(false);
        }
    }
    CHECK_EQ_U64(v, 0xdead);
    CHECK(!parse_u64("123", 0, &v));
    CHECK(!parse_u64("0x12", 2, &v)); /* "0x" alone */
    CHECK_EQ_U64(v, 0xdead);
}

static void test_parse_u64_round_trips_random_values(void)
{
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        uint64_t value = rng() >> (rng() % 64);
        char text[32];
        bool hex = rng() & 1;
        snprintf(text, sizeof(text), hex ? "0x%llx" : "%llu", (unsigned long long)value);
        unsigned long long parsed = 0;
        if (!parse(text, &parsed) || parsed != value) {
            fprintf(stderr, "parse_u64(\"%s\") gave %llu\n", text, parsed);
            CHECK(false);
            return;
        }
    }
}

/* Random buffers and offsets, each kernel function against libc on identical copies. */
static void test_mem_functions_agree_with_libc(void)
{
    enum { SIZE = 300 }; /* several turns of the eight-word loops */
    unsigned char a[SIZE], b[SIZE], src[SIZE];
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        for (size_t i = 0; i < SIZE; i++)
            src[i] = (unsigned char)(rng() % 4); /* few values: many equal runs */
        size_t from = rng() % SIZE, to = rng() % SIZE;
        size_t max = SIZE - (from > to ? from : to);
        size_t n = rng() % (max + 1);

        memcpy(a, src, SIZE);
        memcpy(b, src, SIZE);
        exo_memmove(a + to, a + from, n);
        memmove(b + to, b + from, n);
        CHECK(memcmp(a, b, SIZE) == 0);

        int byte = (int)(rng() & 0x3ff);
        exo_memset(a + to, byte, n);
        memset(b + to, byte, n);
        CHECK(memcmp(a, b, SIZE) == 0);

        CHECK_EQ_INT(sign(exo_memcmp(src + from, src + to, n)),
                     sign(memcmp(src + from, src + to, n)));

        unsigned char dst_exo[SIZE], dst_libc[SIZE];
        memset(dst_exo, 0x55, SIZE);
        memset(dst_libc, 0x55, SIZE);
        exo_memcpy(dst_exo + to, src + from, n);
        memcpy(dst_libc + to, src + from, n);
        CHECK(memcmp(dst_exo, dst_libc, SIZE) == 0);
        if (check_failures_in_test)
            return;
    }
}

static void random_string(char *s, size_t cap)
{
    size_t len = rng() % cap;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)(rng() % 3 ? 'a' + rng() % 3 : 0x80 + rng() % 3);
    s[len] = '\0';
}

static void test_str_functions_agree_with_libc(void)
{
    for (int round = 0; round < RANDOM_ROUNDS; round++) {
        char x[24], y[24];
        random_string(x, sizeof(x));
        random_string(y, sizeof(y));
        size_t n = rng() % 26;
        int c = rng() % 4 ? 'a' + (int)(rng() % 4) : (int)(rng() % 2 ? 0 : 0x81);

        CHECK_EQ_U64(exo_strlen(x), strlen(x));
        CHECK_EQ_U64(exo_strnlen(x, n), strnlen(x, n));
        CHECK_EQ_INT(sign(exo_strcmp(x, y)), sign(strcmp(x, y)));
        CHECK_EQ_INT(sign(exo_strncmp(x, y, n)), sign(strncmp(x, y, n)));
        CHECK(exo_strchr(x, c) == strchr(x, c));

        char dst[24];
        size_t size = rng() % sizeof(dst);
        memset(dst, '#', sizeof(dst));
        CHECK_EQ_U64(exo_strlcpy(dst, x, size), strlen(x));
        if (size > 0) {
            size_t copied = strlen(x) < size - 1 ? strlen(x) : size - 1;
            CHECK(memcmp(dst, x, copied) == 0 && dst[copied] == '\0');
            CHECK(copied + 1 == sizeof(dst) || dst[copied + 1] == '#');
        } else {
            CHECK_EQ_INT(dst[0], '#');
        }
        if (check_failures_in_test)
            return;
    }
}

static void test_str_escape_makes_bytes_printable(void)
{
    char out[64];
    CHECK_EQ_U64(str_escape(out, sizeof(out), "mode=test", 9), 9);
    CHECK_EQ_STR(out, "mode=test");
    const char esc[] = "\x1b[2J\\\t\xff";
    CHECK_EQ_U64(str_escape(out, sizeof(out), esc, sizeof(esc) - 1), 17);
    CHECK_EQ_STR(out, "\\x1b[2J\\\\\\x09\\xff");
    /* An embedded NUL is a byte like any other. */
    CHECK_EQ_U64(str_escape(out, sizeof(out), "a\0b", 3), 6);
    CHECK_EQ_STR(out, "a\\x00b");
    /* Truncation keeps whole escapes and reports the full length. */
    CHECK_EQ_U64(str_escape(out, 4, "ab\x1b", 3), 6);
    CHECK_EQ_STR(out, "ab");
    CHECK_EQ_U64(str_escape(out, 7, "ab\x1b", 3), 6);
    CHECK_EQ_STR(out, "ab\\x1b");
    CHECK_EQ_U64(str_escape(NULL, 0, "xyz", 3), 3);
    out[0] = 'q';
    CHECK_EQ_U64(str_escape(out, 1, "xyz", 3), 3);
    CHECK_EQ_STR(out, "");
}

static void test_str_escape_output_is_always_printable(void)
{
    char in[256], out[1100];
    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    CHECK_EQ_U64(str_escape(out, sizeof(out), in, sizeof(in)), strlen(out));
    for (const char *p = out; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
}

static void test_split_args_handles_quotes(void)
{
    const char *w[8];
    char a[] = "  sh -c 'exit 3'  \t x";
    CHECK_EQ_INT(split_args(a, w, 8), 4);
    CHECK_EQ_STR(w[0], "sh");
    CHECK_EQ_STR(w[1], "-c");
    CHECK_EQ_STR(w[2], "exit 3");
    CHECK_EQ_STR(w[3], "x");
    char b[] = "echo \"a \\\"b\\\" \\\\ c\" d'e f'g '' \"\"";
    CHECK_EQ_INT(split_args(b, w, 8), 5);
    CHECK_EQ_STR(w[1], "a \"b\" \\ c");
    CHECK_EQ_STR(w[2], "de fg");
    CHECK_EQ_STR(w[3], "");
    CHECK_EQ_STR(w[4], "");
    char c[] = "echo 'open";
    CHECK_EQ_INT(split_args(c, w, 8), -1);
    char d[] = "   ";
    CHECK_EQ_INT(split_args(d, w, 8), 0);
    char e[] = "a b c d";
    CHECK_EQ_INT(split_args(e, w, 2), 4); /* counts them all, stores two */
    CHECK_EQ_STR(w[1], "b");
}

static void test_glob_lists_include_and_exclude(void)
{
    CHECK(glob_list_match("*", "sched"));
    CHECK(glob_list_match("sched,steal", "steal"));
    CHECK(!glob_list_match("sched,steal", "smp"));
    CHECK(glob_list_match("*,!user_*", "sched"));
    CHECK(!glob_list_match("*,!user_*", "user_fd"));
    CHECK(!glob_list_match("!user_*", "user_fd"));
    CHECK(glob_list_match("!user_*", "heap"));
    CHECK(glob_list_match("user_*,!user_fuzz", "user_fd"));
    CHECK(!glob_list_match("user_*,!user_fuzz", "user_fuzz"));
    CHECK(!glob_list_match("", "heap"));
    CHECK(!glob_list_match("heap,", "lib"));
    CHECK(glob_list_is_everything("*"));
    CHECK(glob_list_is_everything("*,!user_*"));
    CHECK(glob_list_is_everything("!user_*"));
    CHECK(!glob_list_is_everything("user_*"));
    CHECK(!glob_list_is_everything("*,heap"));
}

int main(void)
{
    check_program = "test_string";
    RUN(test_memcpy_copies_and_returns_dst);
    RUN(test_memmove_overlap_forward_and_backward);
    RUN(test_memset_uses_low_byte);
    RUN(test_memcmp_is_unsigned);
    RUN(test_memchr_finds_first_byte_within_bound);
    RUN(test_strlen_and_strnlen_bound);
    RUN(test_strcmp_and_strncmp);
    RUN(test_strchr_finds_first_and_terminator);
    RUN(test_strlcpy_truncates_and_reports_length);
    RUN(test_glob_match_literals_and_wildcards);
    RUN(test_glob_match_agrees_with_reference);
    RUN(test_glob_match_long_input_is_not_exponential);
    RUN(test_parse_u64_decimal_and_hex);
    RUN(test_parse_u64_rejects_without_writing);
    RUN(test_parse_u64_round_trips_random_values);
    RUN(test_mem_functions_agree_with_libc);
    RUN(test_str_functions_agree_with_libc);
    RUN(test_str_escape_makes_bytes_printable);
    RUN(test_str_escape_output_is_always_printable);
    RUN(test_split_args_handles_quotes);
    RUN(test_glob_lists_include_and_exclude);
    return check_summary();
}
