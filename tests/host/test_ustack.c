/*
 * Host tests of proc/ustack.c: each stack built is read back the way a libc's start
 * code reads it (argc at rsp, argv, envp, auxv; pointers are user addresses,
 * translated into the buffer) and compared with what went in; plus alignment for
 * every parity of argc/envc, the exact -E2BIG boundary, and bad arguments.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/errno.h"
#include "proc/ustack.h"

#define STACK_TOP 0x7ffffffff000ull
#define BUF_SIZE 8192

static const uint8_t random16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

struct parsed {
    uint64_t argc;
    const char *argv[64];
    size_t envc;
    const char *envp[64];
    uint64_t aux[64]; /* value by type; UINT64_MAX when absent */
    bool ok;
};

static const uint8_t *view(const uint8_t *buf, size_t size, uint64_t addr, size_t len)
{
    uint64_t low = STACK_TOP - size;
    if (addr < low || addr + len > STACK_TOP) {
        fprintf(stderr, "address 0x%llx outside the stack\n", (unsigned long long)addr);
        check_failures_in_test++;
        return NULL;
    }
    return buf + (addr - low);
}

static uint64_t word_at(const uint8_t *buf, size_t size, uint64_t addr)
{
    const uint8_t *p = view(buf, size, addr, 8);
    uint64_t v = 0;
    if (p)
        memcpy(&v, p, 8);
    return v;
}

static const char *string_at(const uint8_t *buf, size_t size, uint64_t addr)
{
    const uint8_t *p = view(buf, size, addr, 1);
    if (!p || !memchr(p, 0, (size_t)(STACK_TOP - addr))) {
        check_failures_in_test++;
        return "";
    }
    return (const char *)p;
}

/* What musl's __libc_start_main and __init_libc do with the stack. */
static struct parsed parse_back(const uint8_t *buf, size_t size, uint64_t rsp)
{
    struct parsed r;
    memset(&r, 0, sizeof(r));
    memset(r.aux, 0xff, sizeof(r.aux));
    uint64_t p = rsp;
    r.argc = word_at(buf, size, p);
    p += 8;
    for (uint64_t i = 0; i < r.argc && i < 64; i++)
        r.argv[i] = string_at(buf, size, word_at(buf, size, p + 8 * i));
    p += 8 * r.argc;
    CHECK_EQ_U64(word_at(buf, size, p), 0);
    p += 8;
    for (uint64_t s; (s = word_at(buf, size, p)) != 0 && r.envc < 64; p += 8)
        r.envp[r.envc++] = string_at(buf, size, s);
    p += 8;
    for (;; p += 16) {
        uint64_t type = word_at(buf, size, p), value = word_at(buf, size, p + 8);
        if (type == AT_NULL)
            break;
        CHECK(type < 64);
        if (type < 64) {
            CHECK(r.aux[type] == UINT64_MAX); /* each type once */
            r.aux[type] = value;
        }
    }
    r.ok = true;
    return r;
}

static struct ustack_args sample_args(void)
{
    static const char *const argv[] = {"/bin/hello", "one", "", "three"};
    static const char *const envp[] = {"HOME=/", "TERM=vt100"};
    return (struct ustack_args){
        .argv = argv, .argc = 4, .envp = envp, .envc = 2, .random16 = random16,
        .phdr = 0x400040, .phent = 56, .phnum = 7, .entry = 0x401000, .base = 0,
        .hwcap = 0x178bfbff, .hwcap2 = 2, .pagesz = 4096, .clktck = 100,
        .uid = 1, .euid = 2, .gid = 3, .egid = 4, .secure = 0, .execfn = "/bin/hello"};
}

static void test_stack_reads_back_like_libc_sees_it(void)
{
    uint8_t *buf = malloc(BUF_SIZE);
    memset(buf, 0xcc, BUF_SIZE);
    struct ustack_args a = sample_args();
    uint64_t rsp = 0;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), 0);
    CHECK_EQ_U64(rsp % 16, 0);
    CHECK(rsp < STACK_TOP && rsp >= STACK_TOP - BUF_SIZE);
    struct parsed r = parse_back(buf, BUF_SIZE, rsp);
    CHECK_EQ_U64(r.argc, 4);
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_STR(r.argv[i], a.argv[i]);
    CHECK_EQ_U64(r.envc, 2);
    CHECK_EQ_STR(r.envp[0], "HOME=/");
    CHECK_EQ_STR(r.envp[1], "TERM=vt100");
    CHECK_EQ_U64(r.aux[AT_PHDR], 0x400040);
    CHECK_EQ_U64(r.aux[AT_PHENT], 56);
    CHECK_EQ_U64(r.aux[AT_PHNUM], 7);
    CHECK_EQ_U64(r.aux[AT_PAGESZ], 4096);
    CHECK_EQ_U64(r.aux[AT_BASE], 0);
    CHECK_EQ_U64(r.aux[AT_FLAGS], 0);
    CHECK_EQ_U64(r.aux[AT_ENTRY], 0x401000);
    CHECK_EQ_U64(r.aux[AT_UID], 1);
    CHECK_EQ_U64(r.aux[AT_EUID], 2);
    CHECK_EQ_U64(r.aux[AT_GID], 3);
    CHECK_EQ_U64(r.aux[AT_EGID], 4);
    CHECK_EQ_U64(r.aux[AT_SECURE], 0);
    CHECK_EQ_U64(r.aux[AT_HWCAP], 0x178bfbff);
    CHECK_EQ_U64(r.aux[AT_HWCAP2], 2);
    CHECK_EQ_U64(r.aux[AT_CLKTCK], 100);
    CHECK_EQ_U64(r.aux[AT_RANDOM] % 16, 0);
    const uint8_t *random = view(buf, BUF_SIZE, r.aux[AT_RANDOM], 16);
    CHECK(random && memcmp(random, random16, 16) == 0);
    CHECK_EQ_STR(string_at(buf, BUF_SIZE, r.aux[AT_PLATFORM]), "x86_64");
    CHECK_EQ_STR(string_at(buf, BUF_SIZE, r.aux[AT_EXECFN]), "/bin/hello");
    CHECK_EQ_U64(word_at(buf, BUF_SIZE, STACK_TOP - 8), 0); /* the end marker */
    /* Nothing below rsp was written. */
    size_t below = (size_t)(rsp - (STACK_TOP - BUF_SIZE));
    for (size_t i = 0; i < below; i++) {
        if (buf[i] != 0xcc) {
            CHECK(buf[i] == 0xcc);
            break;
        }
    }
    free(buf);
}

static void test_rsp_is_aligned_for_every_count(void)
{
    static const char *const strings[] = {"a", "bb", "ccc", "dddd", "eeeee", "f", "g"};
    uint8_t *buf = malloc(BUF_SIZE);
    for (size_t argc = 0; argc < 7; argc++) {
        for (size_t envc = 0; envc < 7; envc++) {
            struct ustack_args a = sample_args();
            a.argv = strings;
            a.argc = argc;
            a.envp = strings;
            a.envc = envc;
            a.execfn = envc % 2 ? NULL : "/x";
            uint64_t rsp;
            CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), 0);
            CHECK_EQ_U64(rsp % 16, 0);
            struct parsed r = parse_back(buf, BUF_SIZE, rsp);
            CHECK_EQ_U64(r.argc, argc);
            CHECK_EQ_U64(r.envc, envc);
            for (size_t i = 0; i < argc; i++)
                CHECK_EQ_STR(r.argv[i], strings[i]);
            for (size_t i = 0; i < envc; i++)
                CHECK_EQ_STR(r.envp[i], strings[i]);
            CHECK(a.execfn ? r.aux[AT_EXECFN] != UINT64_MAX : r.aux[AT_EXECFN] == UINT64_MAX);
        }
    }
    free(buf);
}

static void test_too_small_is_e2big_at_the_exact_boundary(void)
{
    struct ustack_args a = sample_args();
    uint8_t *big = malloc(BUF_SIZE);
    uint64_t rsp;
    CHECK_EQ_INT(ustack_build(big, BUF_SIZE, STACK_TOP, &a, &rsp), 0);
    size_t needed = (size_t)(STACK_TOP - rsp);
    free(big);
    for (size_t size = 0; size <= needed; size++) {
        uint8_t *buf = malloc(size ? size : 1); /* exact: ASan sees any write outside */
        uint64_t got = 0;
        int result = ustack_build(buf, size, STACK_TOP, &a, &got);
        if (size < needed)
            CHECK_EQ_INT(result, -E2BIG);
        else
            CHECK(result == 0 && got == rsp);
        free(buf);
    }
}

static void test_bad_arguments(void)
{
    uint8_t *buf = malloc(BUF_SIZE);
    uint64_t rsp;
    struct ustack_args a = sample_args();
    a.random16 = NULL;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), -EINVAL);
    a = sample_args();
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP - 8, &a, &rsp), -EINVAL);
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, 4096, &a, &rsp), -EINVAL); /* below 0 */
    const char *const with_null[] = {"a", NULL};
    a.argv = with_null;
    a.argc = 2;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), -EINVAL);
    a = sample_args();
    a.envp = NULL;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), -EINVAL);
    a.envc = 0;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), 0);
    a = sample_args();
    a.argv = NULL;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), -EINVAL);
    a.argc = 0;
    a.envc = 0;
    a.envp = NULL;
    CHECK_EQ_INT(ustack_build(buf, BUF_SIZE, STACK_TOP, &a, &rsp), 0);
    struct parsed r = parse_back(buf, BUF_SIZE, rsp);
    CHECK_EQ_U64(r.argc, 0);
    free(buf);
}

static void test_many_arguments_fill_then_overflow(void)
{
    enum { N = 2000 };
    const char **argv = malloc(N * sizeof(*argv));
    for (int i = 0; i < N; i++)
        argv[i] = i % 2 ? "arg" : "another-argument";
    size_t size = 64 * 1024;
    uint8_t *buf = malloc(size);
    struct ustack_args a = sample_args();
    a.argv = argv;
    a.argc = N;
    uint64_t rsp;
    CHECK_EQ_INT(ustack_build(buf, size, STACK_TOP, &a, &rsp), 0);
    struct parsed r = parse_back(buf, size, rsp);
    CHECK_EQ_U64(r.argc, N);
    for (int i = 0; i < 64; i++)
        CHECK_EQ_STR(r.argv[i], argv[i]);
    CHECK_EQ_STR(string_at(buf, size, word_at(buf, size, rsp + 8 * N)), argv[N - 1]);
    CHECK_EQ_INT(ustack_build(buf, 32 * 1024, STACK_TOP, &a, &rsp), -E2BIG);
    free(buf);
    free(argv);
}

int main(void)
{
    check_program = "test_ustack";
    RUN(test_stack_reads_back_like_libc_sees_it);
    RUN(test_rsp_is_aligned_for_every_count);
    RUN(test_too_small_is_e2big_at_the_exact_boundary);
    RUN(test_bad_arguments);
    RUN(test_many_arguments_fill_then_overflow);
    return check_summary();
}
