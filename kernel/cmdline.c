#include "kernel/cmdline.h"

#include <stddef.h>

#include "lib/printf.h"
#include "lib/string.h"

#define DIAG_MAX 160

struct parser {
    struct kernel_options *out;
    cmdline_diag_fn diag;
    void *diag_ctx;
    int problems;
};

/* The word is escaped (lib/string.h): the command line comes from outside, and
 * its bytes must not drive the operator's terminal. */
static void report(struct parser *p, const char *fmt, const char *word, size_t len)
{
    char message[DIAG_MAX], escaped[DIAG_MAX];
    p->problems++;
    if (p->diag) {
        str_escape(escaped, sizeof(escaped), word, len);
        ksnprintf(message, sizeof(message), fmt, escaped);
        p->diag(p->diag_ctx, message);
    }
}

static bool equals(const char *s, size_t len, const char *literal)
{
    return strlen(literal) == len && memcmp(s, literal, len) == 0;
}

static bool parse_mode(struct parser *p, const char *v, size_t len)
{
    if (equals(v, len, "shell"))
        p->out->mode = MODE_SHELL;
    else if (equals(v, len, "test"))
        p->out->mode = MODE_TEST;
    else if (equals(v, len, "bench"))
        p->out->mode = MODE_BENCH;
    else
        return false;
    return true;
}

/* A non-empty value that fits dst (with its NUL); false leaves dst as it was. */
static bool copy_value(char *dst, size_t dst_size, const char *v, size_t len)
{
    if (len == 0 || len >= dst_size)
        return false;
    memcpy(dst, v, len);
    dst[len] = '\0';
    return true;
}

static bool parse_test(struct parser *p, const char *v, size_t len)
{
    return copy_value(p->out->test_glob, sizeof(p->out->test_glob), v, len);
}

static bool parse_seed(struct parser *p, const char *v, size_t len)
{
    unsigned long long seed;
    if (!parse_u64(v, len, &seed))
        return false;
    p->out->seed = seed;
    p->out->seed_given = true;
    return true;
}

static bool parse_smp(struct parser *p, const char *v, size_t len)
{
    unsigned long long n;
    if (!parse_u64(v, len, &n) || n > UINT32_MAX)
        return false;
    p->out->smp_max_cpus = (uint32_t)n;
    return true;
}

static bool parse_smp_late_cpu(struct parser *p, const char *v, size_t len)
{
    unsigned long long n;
    if (!parse_u64(v, len, &n) || n == 0 || n > UINT32_MAX)
        return false;
    p->out->smp_late_cpu = (uint32_t)n;
    return true;
}

/* clock_test=lie-<source>: a key of lowercase letters, which the architecture
 * checks against its clock sources. */
static bool parse_clock_test(struct parser *p, const char *v, size_t len)
{
    size_t prefix = strlen("lie-");
    if (len <= prefix || len - prefix >= sizeof(p->out->clock_lie) || memcmp(v, "lie-", prefix))
        return false;
    for (size_t i = prefix; i < len; i++) {
        if (v[i] < 'a' || v[i] > 'z')
            return false;
    }
    memcpy(p->out->clock_lie, v + prefix, len - prefix);
    p->out->clock_lie[len - prefix] = '\0';
    return true;
}

static bool parse_numa(struct parser *p, const char *v, size_t len)
{
    if (equals(v, len, "on"))
        p->out->numa = true;
    else if (equals(v, len, "off"))
        p->out->numa = false;
    else
        return false;
    return true;
}

static bool parse_numa_expect(struct parser *p, const char *v, size_t len)
{
    return copy_value(p->out->numa_expect, sizeof(p->out->numa_expect), v, len);
}

/* An absolute path: the program to run as PID 1 instead of the shell. */
static bool parse_init(struct parser *p, const char *v, size_t len)
{
    return len > 0 && v[0] == '/' &&
           copy_value(p->out->init_path, sizeof(p->out->init_path), v, len);
}

/* A comma list of console names; unknown names are reported, the rest used. */
static bool parse_console(struct parser *p, const char *v, size_t len)
{
    uint32_t consoles = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != ',')
            continue;
        const char *name = v + start;
        size_t name_len = i - start;
        if (equals(name, name_len, "serial"))
            consoles |= CONSOLE_SERIAL;
        else if (equals(name, name_len, "fb"))
            consoles |= CONSOLE_FB;
        else
            report(p, "cmdline: unknown console '%s' ignored", name, name_len);
        start = i + 1;
    }
    if (!consoles)
        return false;
    p->out->consoles = consoles;
    return true;
}

static const struct {
    const char *key;
    bool (*parse)(struct parser *p, const char *value, size_t len);
} options[] = {
    {"mode", parse_mode}, {"test", parse_test},       {"seed", parse_seed},
    {"smp", parse_smp},   {"console", parse_console}, {"smp_late_cpu", parse_smp_late_cpu},
    {"numa", parse_numa}, {"numa_expect", parse_numa_expect},
    {"init", parse_init},
    {"clock_test", parse_clock_test},
};

/* The next word at *s (spaces and tabs between words), its length in *len, and *s
 * moved past it; NULL at the end. */
static const char *next_word(const char **s, size_t *len)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *word = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    *s = p;
    *len = (size_t)(p - word);
    return *len ? word : NULL;
}

/* Everything after "--" is init's: its words, one space apart, in init_args. */
static void collect_init_args(struct parser *p, const char *s)
{
    char *out = p->out->init_args;
    size_t used = 0;
    const char *word;
    size_t len;
    while ((word = next_word(&s, &len))) {
        if (used + (used != 0) + len >= CMDLINE_INIT_MAX) {
            report(p, "cmdline: init argument '%s' does not fit; it and the rest ignored",
                   word, len);
            break;
        }
        if (used)
            out[used++] = ' ';
        memcpy(out + used, word, len);
        used += len;
        out[used] = '\0';
    }
}

static void parse_word(struct parser *p, const char *word, size_t len)
{
    const char *eq = NULL;
    for (size_t i = 0; i < len && !eq; i++) {
        if (word[i] == '=')
            eq = word + i;
    }
    if (eq) {
        size_t key_len = (size_t)(eq - word), value_len = len - key_len - 1;
        for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
            if (!equals(word, key_len, options[i].key))
                continue;
            if (!options[i].parse(p, eq + 1, value_len))
                report(p, "cmdline: bad value in '%s' ignored", word, len);
            return;
        }
    }
    report(p, "cmdline: unknown option '%s' ignored", word, len);
}

int cmdline_parse(const char *cmdline, struct kernel_options *out, cmdline_diag_fn diag,
                  void *diag_ctx)
{
    struct parser p = {out, diag, diag_ctx, 0};
    *out = (struct kernel_options){.mode = MODE_SHELL,
                                   .test_glob = "*",
                                   .consoles = CONSOLE_SERIAL | CONSOLE_FB,
                                   .numa = true};
    bool first = true;
    const char *s = cmdline;
    const char *word;
    size_t len;
    while ((word = next_word(&s, &len))) {
        if (len == 2 && word[0] == '-' && word[1] == '-') {
            collect_init_args(&p, s);
            break;
        }
        /* Some loaders pass the kernel's own path first. */
        if (!(first && word[0] == '/'))
            parse_word(&p, word, len);
        first = false;
    }
    out->problems = p.problems;
    return p.problems;
}

const char *cmdline_mode_name(enum kernel_mode mode)
{
    switch (mode) {
    case MODE_SHELL:
        return "shell";
    case MODE_TEST:
        return "test";
    case MODE_BENCH:
        return "bench";
    }
    return "unknown";
}
