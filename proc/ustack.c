/* The initial user stack: see include/proc/ustack.h. */
#include "proc/ustack.h"

#include <stdbool.h>

#include "lib/errno.h"
#include "lib/string.h"

#define AUXV_MAX_WORDS 38 /* 19 pairs, AT_NULL included */

/* The part of buf still free, growing down: buf[0, free_bytes). */
struct stack_writer {
    uint8_t *buf;
    size_t free_bytes;
    uint64_t base; /* the user address of buf[0] */
};

static uint64_t user_addr(const struct stack_writer *w)
{
    return w->base + w->free_bytes;
}

/* Takes `len` bytes off the free part: false when they do not fit. */
static bool reserve(struct stack_writer *w, size_t len)
{
    if (len > w->free_bytes)
        return false;
    w->free_bytes -= len;
    return true;
}

static bool push_bytes(struct stack_writer *w, const void *bytes, size_t len)
{
    if (!reserve(w, len))
        return false;
    memcpy(w->buf + w->free_bytes, bytes, len);
    return true;
}

static bool align_down(struct stack_writer *w, size_t alignment)
{
    return reserve(w, user_addr(w) % alignment);
}

static void put_word(uint8_t *at, uint64_t value)
{
    memcpy(at, &value, sizeof(value));
}

/* Adds the bytes the strings take, NULs included, to *total: 0, -EINVAL for a NULL
 * string, -E2BIG when the sum overflows. */
static int strings_size(const char *const *strings, size_t count, size_t *total)
{
    for (size_t i = 0; i < count; i++) {
        if (!strings[i])
            return -EINVAL;
        size_t len = strlen(strings[i]) + 1;
        if (len > SIZE_MAX - *total)
            return -E2BIG;
        *total += len;
    }
    return 0;
}

/* Copies the strings upward from `at`, their user addresses into the words at `ptrs`. */
static uint8_t *copy_strings(uint8_t *at, uint64_t at_user, const char *const *strings,
                             size_t count, uint8_t *ptrs, uint64_t *next_user)
{
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(strings[i]) + 1;
        memcpy(at, strings[i], len);
        put_word(ptrs + 8 * i, at_user);
        at += len;
        at_user += len;
    }
    *next_user = at_user;
    return at;
}

static size_t fill_auxv(uint64_t *auxv, const struct ustack_args *a, uint64_t platform,
                        uint64_t random, uint64_t execfn)
{
    size_t n = 0;
#define AUX(type, value) (auxv[n++] = (type), auxv[n++] = (value))
    AUX(AT_HWCAP, a->hwcap);
    AUX(AT_PAGESZ, a->pagesz);
    AUX(AT_CLKTCK, a->clktck);
    AUX(AT_PHDR, a->phdr);
    AUX(AT_PHENT, a->phent);
    AUX(AT_PHNUM, a->phnum);
    AUX(AT_BASE, a->base);
    AUX(AT_FLAGS, 0);
    AUX(AT_ENTRY, a->entry);
    AUX(AT_UID, a->uid);
    AUX(AT_EUID, a->euid);
    AUX(AT_GID, a->gid);
    AUX(AT_EGID, a->egid);
    AUX(AT_SECURE, a->secure);
    AUX(AT_RANDOM, random);
    AUX(AT_HWCAP2, a->hwcap2);
    if (a->execfn)
        AUX(AT_EXECFN, execfn);
    AUX(AT_PLATFORM, platform);
    AUX(AT_NULL, 0);
#undef AUX
    return n;
}

int ustack_build(uint8_t *buf, size_t buf_size, uint64_t stack_top,
                 const struct ustack_args *args, uint64_t *out_rsp)
{
    if (stack_top % 16 != 0 || buf_size > stack_top || !args->random16 ||
        (args->argc && !args->argv) || (args->envc && !args->envp))
        return -EINVAL;
    size_t string_bytes = 0;
    int error = strings_size(args->argv, args->argc, &string_bytes);
    if (!error)
        error = strings_size(args->envp, args->envc, &string_bytes);
    if (error)
        return error;

    struct stack_writer w = {buf, buf_size, stack_top - buf_size};
    static const uint8_t end_marker[8];
    if (!push_bytes(&w, end_marker, sizeof(end_marker)))
        return -E2BIG;
    uint64_t execfn = 0;
    if (args->execfn) {
        if (!push_bytes(&w, args->execfn, strlen(args->execfn) + 1))
            return -E2BIG;
        execfn = user_addr(&w);
    }
    if (!reserve(&w, string_bytes))
        return -E2BIG;
    size_t strings_at = w.free_bytes;
    uint64_t strings_user = user_addr(&w);
    if (!push_bytes(&w, USTACK_PLATFORM, sizeof(USTACK_PLATFORM)))
        return -E2BIG;
    uint64_t platform = user_addr(&w);
    if (!align_down(&w, 16) || !push_bytes(&w, args->random16, 16))
        return -E2BIG;
    uint64_t random = user_addr(&w);

    uint64_t auxv[AUXV_MAX_WORDS];
    size_t auxv_words = fill_auxv(auxv, args, platform, random, execfn);
    size_t room = w.free_bytes / 8;
    if (args->argc > room || args->envc > room - args->argc ||
        auxv_words + 3 > room - args->argc - args->envc)
        return -E2BIG;
    if (!reserve(&w, (1 + args->argc + 1 + args->envc + 1 + auxv_words) * 8) ||
        !align_down(&w, 16))
        return -E2BIG;

    uint8_t *p = buf + w.free_bytes;
    put_word(p, args->argc);
    uint8_t *argv_ptrs = p + 8, *envp_ptrs = argv_ptrs + 8 * (args->argc + 1);
    uint64_t next_user;
    uint8_t *at = copy_strings(buf + strings_at, strings_user, args->argv, args->argc,
                               argv_ptrs, &next_user);
    copy_strings(at, next_user, args->envp, args->envc, envp_ptrs, &next_user);
    put_word(argv_ptrs + 8 * args->argc, 0);
    put_word(envp_ptrs + 8 * args->envc, 0);
    memcpy(envp_ptrs + 8 * (args->envc + 1), auxv, auxv_words * 8);
    *out_rsp = user_addr(&w);
    return 0;
}
