/* Suite `lib`: the freestanding library as built into the kernel (the host tests
 * cover the same code in depth; these check the kernel build of it). */
#include "lib/ksyms.h"
#include "kernel/ktest.h"
#include "lib/printf.h"
#include "lib/random.h"
#include "lib/string.h"

void kernel_main(uint32_t protocol, uint64_t info_phys, uint32_t magic);

static void formatter_handles_every_conversion(struct ktest *t)
{
    char buf[128];
    ksnprintf(buf, sizeof(buf), "%d %i %u %x %X %c %s %%", -42, 7, 3000000000u, 0xbeefu,
              0xbeefu, 'z', "str");
    KT_EXPECT_STREQ(t, buf, "-42 7 3000000000 beef BEEF z str %");
    ksnprintf(buf, sizeof(buf), "%ld %llu %zx %lx", -9223372036854775807L - 1,
              18446744073709551615ull, (size_t)0xabc, 0xffffffff80000000ul);
    KT_EXPECT_STREQ(t, buf, "-9223372036854775808 18446744073709551615 abc ffffffff80000000");
    ksnprintf(buf, sizeof(buf), "%p", (void *)0x1234);
    KT_EXPECT_STREQ(t, buf, "0x0000000000001234");
}

static void formatter_pads_and_aligns(struct ktest *t)
{
    char buf[64];
    ksnprintf(buf, sizeof(buf), "[%5d|%-5d|%05d|%08x|%-4s|%3s]", 42, 42, -42, 0xabu, "ab",
              "abcdef");
    KT_EXPECT_STREQ(t, buf, "[   42|42   |-0042|000000ab|ab  |abcdef]");
}

static void formatter_truncates_and_reports_full_length(struct ktest *t)
{
    char buf[8];
    int n = ksnprintf(buf, sizeof(buf), "%s", "0123456789");
    KT_EXPECT_EQ(t, n, 10);
    KT_EXPECT_STREQ(t, buf, "0123456");
}

static void memmove_handles_overlap_both_ways(struct ktest *t)
{
    char buf[16];
    memcpy(buf, "abcdefghij", 11);
    memmove(buf + 2, buf, 5);
    KT_EXPECT(t, memcmp(buf, "ababcdehij", 10) == 0);
    memcpy(buf, "abcdefghij", 11);
    memmove(buf, buf + 3, 5);
    KT_EXPECT(t, memcmp(buf, "defghfghij", 10) == 0);
    memset(buf, 'x', 4);
    KT_EXPECT(t, memcmp(buf, "xxxxhfghij", 10) == 0);
}

static void glob_selects_suites(struct ktest *t)
{
    KT_EXPECT(t, glob_match("*", "boot"));
    KT_EXPECT(t, glob_match("b?ot", "boot"));
    KT_EXPECT(t, glob_match("ex*s", "exceptions"));
    KT_EXPECT(t, !glob_match("boot", "booting"));
    KT_EXPECT(t, !glob_match("", "boot"));
}

static void parse_u64_reads_decimal_and_hex(struct ktest *t)
{
    unsigned long long v = 0;
    KT_EXPECT(t, parse_u64("18446744073709551615", 20, &v) && v == 18446744073709551615ull);
    KT_EXPECT(t, parse_u64("0x1F", 4, &v) && v == 31);
    KT_EXPECT(t, !parse_u64("18446744073709551616", 20, &v));
    KT_EXPECT(t, !parse_u64("12a", 3, &v));
}

static void rng_is_deterministic_per_seed(struct ktest *t)
{
    struct rng a, b;
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    for (int i = 0; i < 100; i++)
        KT_EXPECT_EQ(t, rng_next(&a), rng_next(&b));
    rng_seed(&b, 12346);
    KT_EXPECT(t, rng_next(&a) != rng_next(&b));
    for (int i = 0; i < 1000; i++)
        KT_EXPECT(t, rng_below(&t->rng, 7) < 7);
}

static void symbol_table_names_kernel_functions(struct ktest *t)
{
    uint64_t offset = 99;
    uint64_t addr = (uint64_t)&symbol_table_names_kernel_functions;
    KT_ASSERT(t, ksym_count() > 10);
    const char *name = ksym_lookup(addr + 3, &offset);
    KT_ASSERT(t, name != NULL);
    KT_EXPECT_STREQ(t, name, "symbol_table_names_kernel_functions");
    KT_EXPECT_EQ(t, offset, 3);
    KT_EXPECT_EQ(t, ksym_address("kernel_main"), (uint64_t)&kernel_main);
}

KTEST_SUITE(lib,
            KTEST(formatter_handles_every_conversion),
            KTEST(formatter_pads_and_aligns),
            KTEST(formatter_truncates_and_reports_full_length),
            KTEST(memmove_handles_overlap_both_ways),
            KTEST(glob_selects_suites),
            KTEST(parse_u64_reads_decimal_and_hex),
            KTEST(rng_is_deterministic_per_seed),
            KTEST(symbol_table_names_kernel_functions));
