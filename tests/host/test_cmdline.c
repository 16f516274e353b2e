/* Host tests of kernel/cmdline.c: every option, defaults, and every kind of bad input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/cmdline.h"

/* The diag messages of one parse, one per line. */
struct diag_log {
    char text[8192];
    int count;
};

static void collect_diag(void *ctx, const char *message)
{
    struct diag_log *log = ctx;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof(log->text) - used, "%s\n", message);
    log->count++;
}

static struct diag_log diags;
static struct kernel_options opts;

static int parse(const char *cmdline)
{
    memset(&diags, 0, sizeof(diags));
    memset(&opts, 0xa5, sizeof(opts)); /* the parser must set every field */
    return cmdline_parse(cmdline, &opts, collect_diag, &diags);
}

static void check_defaults(void)
{
    CHECK_EQ_INT(opts.mode, MODE_SHELL);
    CHECK_EQ_STR(opts.test_glob, "*");
    CHECK(!opts.seed_given);
    CHECK_EQ_U64(opts.seed, 0);
    CHECK_EQ_INT(opts.smp_max_cpus, 0);
    CHECK_EQ_INT(opts.consoles, CONSOLE_SERIAL | CONSOLE_FB);
    CHECK_EQ_STR(opts.clock_lie, "");
    CHECK_EQ_STR(opts.init_args, "");
}

static void test_empty_and_blank_give_defaults(void)
{
    const char *blank[] = {"", " ", "\t", "   \t  \t "};
    for (size_t i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
        CHECK_EQ_INT(parse(blank[i]), 0);
        CHECK_EQ_INT(diags.count, 0);
        check_defaults();
    }
}

static void test_every_option_applied(void)
{
    CHECK_EQ_INT(parse("mode=test test=mm.* seed=0x2a smp=3 console=serial"), 0);
    CHECK_EQ_INT(diags.count, 0);
    CHECK_EQ_INT(opts.mode, MODE_TEST);
    CHECK_EQ_STR(opts.test_glob, "mm.*");
    CHECK(opts.seed_given);
    CHECK_EQ_U64(opts.seed, 42);
    CHECK_EQ_INT(opts.smp_max_cpus, 3);
    CHECK_EQ_INT(opts.consoles, CONSOLE_SERIAL);
}

static void test_numa_options(void)
{
    CHECK_EQ_INT(parse("mode=test"), 0);
    CHECK(opts.numa);
    CHECK_EQ_STR(opts.numa_expect, "");
    CHECK_EQ_INT(parse("numa=off numa_expect=0-1/2-3:128/128:10,20,20,10"), 0);
    CHECK(!opts.numa);
    CHECK_EQ_STR(opts.numa_expect, "0-1/2-3:128/128:10,20,20,10");
    CHECK_EQ_INT(parse("numa=off numa=on"), 0);
    CHECK(opts.numa);
    CHECK_EQ_INT(parse("numa=maybe numa_expect="), 2);
    CHECK(opts.numa);
}

static void test_modes(void)
{
    CHECK_EQ_INT(parse("mode=shell"), 0);
    CHECK_EQ_INT(opts.mode, MODE_SHELL);
    CHECK_EQ_INT(parse("mode=test"), 0);
    CHECK_EQ_INT(opts.mode, MODE_TEST);
    CHECK_EQ_INT(parse("mode=bench"), 0);
    CHECK_EQ_INT(opts.mode, MODE_BENCH);
    CHECK_EQ_STR(cmdline_mode_name(MODE_SHELL), "shell");
    CHECK_EQ_STR(cmdline_mode_name(MODE_TEST), "test");
    CHECK_EQ_STR(cmdline_mode_name(MODE_BENCH), "bench");
    CHECK_EQ_STR(cmdline_mode_name((enum kernel_mode)7), "unknown");
}

static void test_bad_mode_reported_and_default_kept(void)
{
    const char *bad[] = {"mode=", "mode=Test", "mode=tests", "mode=tes", "mode=shell2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(parse(bad[i]), 1);
        CHECK_EQ_INT(opts.mode, MODE_SHELL);
        char expected[128];
        snprintf(expected, sizeof(expected), "cmdline: bad value in '%s' ignored\n", bad[i]);
        CHECK_EQ_STR(diags.text, expected);
    }
}

static void test_seed_decimal_hex_and_bad(void)
{
    CHECK_EQ_INT(parse("seed=0"), 0);
    CHECK(opts.seed_given);
    CHECK_EQ_U64(opts.seed, 0);
    CHECK_EQ_INT(parse("seed=18446744073709551615"), 0);
    CHECK_EQ_U64(opts.seed, UINT64_MAX);
    CHECK_EQ_INT(parse("seed=0XdeadBEEF"), 0);
    CHECK_EQ_U64(opts.seed, 0xdeadbeef);
    const char *bad[] = {"seed=", "seed=-1", "seed=12x", "seed=0x", "seed=18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(parse(bad[i]), 1);
        CHECK(!opts.seed_given);
        CHECK_EQ_U64(opts.seed, 0);
        CHECK(strstr(diags.text, "cmdline: bad value in 'seed=") == diags.text);
    }
}

static void test_reported_words_are_escaped(void)
{
    CHECK_EQ_INT(parse("\x1b[2J=1 seed=\x07"), 2);
    CHECK(strstr(diags.text, "cmdline: unknown option '\\x1b[2J=1' ignored\n") != NULL);
    CHECK(strstr(diags.text, "cmdline: bad value in 'seed=\\x07' ignored\n") != NULL);
    CHECK(strchr(diags.text, '\x1b') == NULL && strchr(diags.text, '\x07') == NULL);
    CHECK_EQ_INT(opts.problems, 2);
}

static void test_smp_bounds(void)
{
    CHECK_EQ_INT(parse("smp=1"), 0);
    CHECK_EQ_INT(opts.smp_max_cpus, 1);
    CHECK_EQ_INT(parse("smp=4294967295"), 0);
    CHECK_EQ_U64(opts.smp_max_cpus, UINT32_MAX);
    CHECK_EQ_INT(parse("smp=0x10"), 0);
    CHECK_EQ_INT(opts.smp_max_cpus, 16);
    /* 0 is the default, "no limit", which the kernel itself prints as smp=0. */
    CHECK_EQ_INT(parse("smp=3 smp=0"), 0);
    CHECK_EQ_INT(opts.smp_max_cpus, 0);
    const char *bad[] = {"smp=4294967296", "smp=", "smp=two", "smp=-2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(parse(bad[i]), 1);
        CHECK_EQ_INT(opts.smp_max_cpus, 0);
        char expected[128];
        snprintf(expected, sizeof(expected), "cmdline: bad value in '%s' ignored\n", bad[i]);
        CHECK_EQ_STR(diags.text, expected);
    }
}

static void test_test_glob_length_limit(void)
{
    char line[CMDLINE_GLOB_MAX + 16];
    strcpy(line, "test=");
    memset(line + 5, 'g', CMDLINE_GLOB_MAX - 1); /* the longest that fits */
    line[5 + CMDLINE_GLOB_MAX - 1] = '\0';
    CHECK_EQ_INT(parse(line), 0);
    CHECK_EQ_U64(strlen(opts.test_glob), CMDLINE_GLOB_MAX - 1);
    CHECK(memcmp(opts.test_glob, line + 5, CMDLINE_GLOB_MAX - 1) == 0);

    strcat(line, "g"); /* one too long: rejected, not truncated */
    CHECK_EQ_INT(parse(line), 1);
    CHECK_EQ_STR(opts.test_glob, "*");
    CHECK(strstr(diags.text, "cmdline: bad value in 'test=ggg") == diags.text);

    CHECK_EQ_INT(parse("test="), 1);
    CHECK_EQ_STR(opts.test_glob, "*");
    CHECK_EQ_INT(parse("test=a=b"), 0); /* only the first '=' splits */
    CHECK_EQ_STR(opts.test_glob, "a=b");
}

static void test_console_lists(void)
{
    CHECK_EQ_INT(parse("console=fb"), 0);
    CHECK_EQ_INT(opts.consoles, CONSOLE_FB);
    CHECK_EQ_INT(parse("console=fb,serial"), 0);
    CHECK_EQ_INT(opts.consoles, CONSOLE_SERIAL | CONSOLE_FB);
    CHECK_EQ_INT(parse("console=serial,serial"), 0);
    CHECK_EQ_INT(opts.consoles, CONSOLE_SERIAL);

    /* An unknown name is reported; the known ones still apply. */
    CHECK_EQ_INT(parse("console=serial,vga"), 1);
    CHECK_EQ_INT(opts.consoles, CONSOLE_SERIAL);
    CHECK_EQ_STR(diags.text, "cmdline: unknown console 'vga' ignored\n");

    /* Nothing usable: each bad name, then the whole value, is reported. */
    CHECK_EQ_INT(parse("console=vga,lpt"), 3);
    CHECK_EQ_INT(opts.consoles, CONSOLE_SERIAL | CONSOLE_FB);
    CHECK_EQ_STR(diags.text, "cmdline: unknown console 'vga' ignored\n"
                             "cmdline: unknown console 'lpt' ignored\n"
                             "cmdline: bad value in 'console=vga,lpt' ignored\n");

    CHECK_EQ_INT(parse("console="), 2);
    CHECK_EQ_STR(diags.text, "cmdline: unknown console '' ignored\n"
                             "cmdline: bad value in 'console=' ignored\n");
    CHECK_EQ_INT(parse("console=fb,"), 1); /* trailing comma: an empty name */
    CHECK_EQ_INT(opts.consoles, CONSOLE_FB);
}

static void test_unknown_options_reported(void)
{
    CHECK_EQ_INT(parse("quiet mode=test foo=bar =x MODE=bench mode"), 5);
    CHECK_EQ_INT(opts.mode, MODE_TEST);
    CHECK_EQ_STR(diags.text, "cmdline: unknown option 'quiet' ignored\n"
                             "cmdline: unknown option 'foo=bar' ignored\n"
                             "cmdline: unknown option '=x' ignored\n"
                             "cmdline: unknown option 'MODE=bench' ignored\n"
                             "cmdline: unknown option 'mode' ignored\n");
    CHECK_EQ_INT(parse("modes=test"), 1); /* a key that merely starts like one */
    CHECK_EQ_STR(diags.text, "cmdline: unknown option 'modes=test' ignored\n");
    CHECK_EQ_INT(parse("mod=test"), 1);
    CHECK_EQ_STR(diags.text, "cmdline: unknown option 'mod=test' ignored\n");
}

static void test_leading_path_skipped_only_first(void)
{
    CHECK_EQ_INT(parse("/boot/exo.elf mode=bench"), 0);
    CHECK_EQ_INT(opts.mode, MODE_BENCH);
    CHECK_EQ_INT(parse("  /boot/exo.elf"), 0);
    check_defaults();
    CHECK_EQ_INT(parse("mode=test /boot/exo.elf"), 1);
    CHECK_EQ_STR(diags.text, "cmdline: unknown option '/boot/exo.elf' ignored\n");
}

static void test_repeated_options_last_wins(void)
{
    CHECK_EQ_INT(parse("mode=test mode=bench seed=1 seed=2 smp=2 smp=1 test=a test=b"), 0);
    CHECK_EQ_INT(opts.mode, MODE_BENCH);
    CHECK_EQ_U64(opts.seed, 2);
    CHECK_EQ_INT(opts.smp_max_cpus, 1);
    CHECK_EQ_STR(opts.test_glob, "b");
    /* A bad repeat leaves the earlier good value in place. */
    CHECK_EQ_INT(parse("mode=test mode=nope smp=2 smp=x"), 2);
    CHECK_EQ_INT(opts.mode, MODE_TEST);
    CHECK_EQ_INT(opts.smp_max_cpus, 2);
}

static void test_tabs_and_runs_of_spaces_separate(void)
{
    CHECK_EQ_INT(parse("\tmode=test\t\tseed=5   smp=2  \t"), 0);
    CHECK_EQ_INT(opts.mode, MODE_TEST);
    CHECK_EQ_U64(opts.seed, 5);
    CHECK_EQ_INT(opts.smp_max_cpus, 2);
}

static void test_no_diag_callback_still_counts(void)
{
    struct kernel_options quiet;
    CHECK_EQ_INT(cmdline_parse("bogus mode=x console=a", &quiet, NULL, NULL), 4);
    CHECK_EQ_INT(quiet.mode, MODE_SHELL);
}

/* A word far longer than the diag buffer is reported, cut short, without overflow. */
static void test_very_long_inputs(void)
{
    enum { LONG = 100000 };
    char *line = malloc(LONG + 1);
    memset(line, 'x', LONG);
    line[LONG] = '\0';
    CHECK_EQ_INT(parse(line), 1);
    CHECK_EQ_INT(diags.count, 1);
    CHECK(strncmp(diags.text, "cmdline: unknown option 'xxx", 28) == 0);
    CHECK(strlen(diags.text) < 200);

    memcpy(line, "seed=", 5); /* an absurdly long number: overflow, not a crash */
    memset(line + 5, '9', LONG - 5);
    CHECK_EQ_INT(parse(line), 1);
    CHECK(!opts.seed_given);

    /* Thousands of options in one line. */
    size_t used = 0;
    while (used + 16 < LONG)
        used += (size_t)snprintf(line + used, LONG + 1 - used, "smp=%zu ", used % 97 + 1);
    CHECK_EQ_INT(parse(line), 0);
    CHECK(opts.smp_max_cpus >= 1 && opts.smp_max_cpus <= 97);
    free(line);
}

/* Random words from a small vocabulary: the parse never crashes, and the count of
 * problems always equals the number of messages. */
static void test_random_lines_never_crash(void)
{
    static const char *const words[] = {
        "mode=test", "mode=", "mode=bench", "seed=", "seed=0x", "seed=12", "smp=0", "smp=9",
        "console=", "console=fb,", "console=x", "test=*", "test=", "=", "/path", "junk",
        " ",         "\t",     "=====",     "smp=99999999999",
    };
    uint64_t state = 12345;
    for (int round = 0; round < 20000; round++) {
        char line[512] = "";
        int nwords = (int)(state % 12);
        for (int i = 0; i < nwords; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            strcat(line, words[(state >> 33) % (sizeof(words) / sizeof(words[0]))]);
            if ((state >> 40) & 1)
                strcat(line, " ");
        }
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        int problems = parse(line);
        CHECK_EQ_INT(problems, diags.count);
        CHECK(opts.mode == MODE_SHELL || opts.mode == MODE_TEST || opts.mode == MODE_BENCH);
        CHECK(opts.consoles != 0 && (opts.consoles & ~(CONSOLE_SERIAL | CONSOLE_FB)) == 0);
        CHECK(strlen(opts.test_glob) < CMDLINE_GLOB_MAX);
        if (check_failures_in_test)
            return;
    }
}

/* clock_test=lie-<key>: lowercase letters, shorter than the field; anything else
 * is a bad value and leaves no liar. */
static void test_clock_test_lie(void)
{
    CHECK_EQ_INT(parse("clock_test=lie-pit"), 0);
    CHECK_EQ_STR(opts.clock_lie, "pit");
    CHECK_EQ_INT(parse("clock_test=lie-hpet clock_test=lie-rtc"), 0);
    CHECK_EQ_STR(opts.clock_lie, "rtc");
    const char *bad[] = {"clock_test=lie-", "clock_test=pit", "clock_test=lie-PIT",
                         "clock_test=lie-p\x1bt", "clock_test=lie-abcdefghijklmnop",
                         "clock_test="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(parse(bad[i]), 1);
        CHECK_EQ_STR(opts.clock_lie, "");
        CHECK(strstr(diags.text, "bad value") != NULL);
    }
    CHECK_EQ_INT(parse("clock_test=lie-abcdefghijklmno"), 0); /* 15 letters fit */
    CHECK_EQ_STR(opts.clock_lie, "abcdefghijklmno");
}

/* The words after "--" are init's arguments, one space apart, never options. */
static void test_words_after_dashes_are_init_arguments(void)
{
    CHECK_EQ_INT(parse("init=/bin/bench_peer -- path\t figures=getppid  mode=test"), 0);
    CHECK_EQ_STR(opts.init_path, "/bin/bench_peer");
    CHECK_EQ_STR(opts.init_args, "path figures=getppid mode=test");
    CHECK_EQ_INT(opts.mode, MODE_SHELL); /* mode=test after -- is init's */
    CHECK_EQ_INT(parse("mode=test --"), 0);
    CHECK_EQ_STR(opts.init_args, "");
    CHECK_EQ_INT(opts.mode, MODE_TEST);
    CHECK_EQ_INT(parse("--x -- a"), 1); /* a word that only starts with -- is an option */
    CHECK_EQ_STR(opts.init_args, "a");

    char line[CMDLINE_INIT_MAX * 2 + 8];
    strcpy(line, "-- ");
    memset(line + 3, 'a', CMDLINE_INIT_MAX - 1); /* the longest that fits */
    line[3 + CMDLINE_INIT_MAX - 1] = '\0';
    CHECK_EQ_INT(parse(line), 0);
    CHECK_EQ_U64(strlen(opts.init_args), CMDLINE_INIT_MAX - 1);
    strcat(line, " b"); /* no room for it: reported, and the words before kept */
    CHECK_EQ_INT(parse(line), 1);
    CHECK_EQ_U64(strlen(opts.init_args), CMDLINE_INIT_MAX - 1);
    CHECK(strstr(diags.text, "cmdline: init argument 'b' does not fit") == diags.text);
}

int main(void)
{
    check_program = "test_cmdline";
    RUN(test_empty_and_blank_give_defaults);
    RUN(test_every_option_applied);
    RUN(test_modes);
    RUN(test_numa_options);
    RUN(test_bad_mode_reported_and_default_kept);
    RUN(test_seed_decimal_hex_and_bad);
    RUN(test_smp_bounds);
    RUN(test_reported_words_are_escaped);
    RUN(test_test_glob_length_limit);
    RUN(test_console_lists);
    RUN(test_unknown_options_reported);
    RUN(test_leading_path_skipped_only_first);
    RUN(test_repeated_options_last_wins);
    RUN(test_tabs_and_runs_of_spaces_separate);
    RUN(test_no_diag_callback_still_counts);
    RUN(test_very_long_inputs);
    RUN(test_random_lines_never_crash);
    RUN(test_clock_test_lie);
    RUN(test_words_after_dashes_are_init_arguments);
    return check_summary();
}
