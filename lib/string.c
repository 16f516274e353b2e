/*
 * The freestanding string and memory functions. The compiler would turn these
 * loops into calls to memcpy/memset themselves (and so recurse forever), which
 * the Makefile prevents by building this file with
 * -fno-tree-loop-distribute-patterns (gcc) / -fno-builtin (both).
 *
 * memcpy, memmove (forwards) and memset move eight bytes at a time once the
 * destination is aligned, eight words to a turn of the loop, reading the source
 * a word at a time whatever its alignment (x86 loads unaligned words at full
 * speed; a stricter machine gets byte loads from the aligned(1) type): zeroing a
 * page is 512 stores and some 200 loop instructions rather than 2,000 and more,
 * and a program's pages come from an initrd file at any offset. Under emulation,
 * where every instruction counts, this matters most.
 */
#include "lib/string.h"

#include <stdint.h>

typedef uint64_t __attribute__((may_alias)) word_t; /* may alias any object */
typedef uint64_t __attribute__((may_alias, aligned(1))) unaligned_word_t;
#define WORD_BYTES sizeof(word_t)
#define TURN_WORDS 8
#define TURN_BYTES (TURN_WORDS * WORD_BYTES)

static bool word_aligned(const void *p)
{
    return ((uintptr_t)p & (WORD_BYTES - 1)) == 0;
}

/* Copies forwards: byte by byte up to d's alignment, then eight words a turn,
 * then words, then the tail. Each word is read before the one stored at its
 * index, and a store at offset i of a destination below the source can only
 * reach source bytes before offset i + 8: memmove's overlapping forward copy
 * reads every byte before it is overwritten. */
static void copy_forwards(unsigned char *d, const unsigned char *s, size_t n)
{
    if (n >= WORD_BYTES) {
        while (!word_aligned(d)) {
            *d++ = *s++;
            n--;
        }
        const unaligned_word_t *from = (const unaligned_word_t *)s;
        word_t *to = (word_t *)d;
        for (; n >= TURN_BYTES; n -= TURN_BYTES, from += TURN_WORDS, to += TURN_WORDS) {
            to[0] = from[0], to[1] = from[1], to[2] = from[2], to[3] = from[3];
            to[4] = from[4], to[5] = from[5], to[6] = from[6], to[7] = from[7];
        }
        for (; n >= WORD_BYTES; n -= WORD_BYTES)
            *to++ = *from++;
        d = (unsigned char *)to;
        s = (const unsigned char *)from;
    }
    while (n--)
        *d++ = *s++;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    copy_forwards(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d == s || n == 0)
        return dst;
    if (d < s) {
        copy_forwards(d, s, n); /* each word is read before the one it lands on */
    } else {
        /* Copy backwards so an overlapping source is read before it is overwritten. */
        d += n;
        s += n;
        while (n--)
            *--d = *--s;
    }
    return dst;
}

void *memset(void *dst, int byte, size_t n)
{
    unsigned char *d = dst;
    unsigned char b = (unsigned char)byte;
    while (n && !word_aligned(d)) {
        *d++ = b;
        n--;
    }
    word_t pattern = 0x0101010101010101ull * b;
    word_t *to = (word_t *)d;
    for (; n >= TURN_BYTES; n -= TURN_BYTES, to += TURN_WORDS) {
        to[0] = pattern, to[1] = pattern, to[2] = pattern, to[3] = pattern;
        to[4] = pattern, to[5] = pattern, to[6] = pattern, to[7] = pattern;
    }
    for (; n >= WORD_BYTES; n -= WORD_BYTES)
        *to++ = pattern;
    d = (unsigned char *)to;
    while (n--)
        *d++ = b;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

void *memchr(const void *s, int byte, size_t n)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == (unsigned char)byte)
            return (void *)(p + i);
    }
    return NULL;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t strnlen(const char *s, size_t max_len)
{
    size_t n = 0;
    while (n < max_len && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i] || !a[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
    }
    return 0;
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

size_t strlcpy(char *dst, const char *src, size_t dst_size)
{
    size_t len = strlen(src);
    if (dst_size > 0) {
        size_t copy = len < dst_size - 1 ? len : dst_size - 1;
        memcpy(dst, src, copy);
        dst[copy] = '\0';
    }
    return len;
}

/*
 * Iterative matching with one backtrack point: when a later '*' is met, the
 * earlier one can never need to match more, so only the last star is remembered.
 * That bounds the work by len(pattern) * len(text).
 */
bool glob_match(const char *pattern, const char *text)
{
    const char *star = NULL, *star_text = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            star_text = text;
        } else if (*pattern == '?' || (*pattern && *pattern == *text)) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1; /* let the star swallow one more character */
            text = ++star_text;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

static int digit_value(char c, unsigned base)
{
    unsigned v;
    if (c >= '0' && c <= '9')
        v = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
        v = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
        v = (unsigned)(c - 'A' + 10);
    else
        return -1;
    return v < base ? (int)v : -1;
}

bool parse_u64(const char *s, size_t len, unsigned long long *out)
{
    unsigned base = 10;
    unsigned long long value = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        int d = digit_value(s[i], base);
        if (d < 0)
            return false;
        if (value > (~0ull - (unsigned)d) / base)
            return false; /* value * base + d would pass 2^64 - 1 */
        value = value * base + (unsigned)d;
    }
    *out = value;
    return true;
}

size_t str_escape(char *dst, size_t dst_size, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t total = 0, written = 0;
    bool full = dst_size == 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        char piece[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
        size_t n = 4;
        if (c == '\\') {
            piece[1] = '\\';
            n = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            piece[0] = (char)c;
            n = 1;
        }
        if (!full && written + n < dst_size) {
            memcpy(dst + written, piece, n);
            written += n;
        } else {
            full = true;
        }
        total += n;
    }
    if (dst_size > 0)
        dst[written] = '\0';
    return total;
}

int split_args(char *line, const char **words, size_t max)
{
    size_t n = 0;
    char *r = line;
    for (;;) {
        while (*r == ' ' || *r == '\t')
            r++;
        if (!*r)
            return (int)n;
        char *w = r, *start = r;
        while (*r && *r != ' ' && *r != '\t') {
            char quote = *r;
            if (quote != '\'' && quote != '"') {
                *w++ = *r++;
                continue;
            }
            r++;
            while (*r && *r != quote) {
                if (quote == '"' && *r == '\\' && (r[1] == '"' || r[1] == '\\'))
                    r++;
                *w++ = *r++;
            }
            if (!*r)
                return -1;
            r++; /* the closing quote */
        }
        bool end = *r == '\0';
        if (!end)
            r++;
        *w = '\0';
        if (n < max)
            words[n] = start;
        n++;
        if (end)
            return (int)n;
    }
}

/* Calls visit(ctx, glob, excluded) for each item of a comma-separated list; stops
 * and returns true when visit does. */
static bool for_each_glob(const char *list, bool (*visit)(void *, const char *, bool), void *ctx)
{
    char glob[64];
    for (const char *p = list;;) {
        size_t len = 0;
        while (p[len] && p[len] != ',')
            len++;
        bool excluded = len > 0 && p[0] == '!';
        size_t start = excluded ? 1 : 0;
        if (len - start < sizeof(glob)) {
            memcpy(glob, p + start, len - start);
            glob[len - start] = '\0';
            if (visit(ctx, glob, excluded))
                return true;
        }
        if (p[len] == '\0')
            return false;
        p += len + 1;
    }
}

struct glob_list_scan {
    const char *name;
    bool included, excluded, any_plain, any_exclusion, only_star;
};

static bool scan_glob(void *ctx, const char *glob, bool excluded)
{
    struct glob_list_scan *s = ctx;
    if (excluded) {
        s->any_exclusion = true;
        if (s->name && glob_match(glob, s->name))
            s->excluded = true;
        return false;
    }
    if (glob[0] == '\0')
        return false; /* an empty item (a trailing comma) selects nothing */
    s->any_plain = true;
    if (strcmp(glob, "*") != 0)
        s->only_star = false;
    if (s->name && glob_match(glob, s->name))
        s->included = true;
    return false;
}

bool glob_list_match(const char *list, const char *name)
{
    struct glob_list_scan s = {name, false, false, false, false, true};
    for_each_glob(list, scan_glob, &s);
    if (!s.any_plain && s.any_exclusion)
        s.included = true;
    return s.included && !s.excluded;
}

bool glob_list_is_everything(const char *list)
{
    struct glob_list_scan s = {NULL, false, false, false, false, true};
    for_each_glob(list, scan_glob, &s);
    return s.only_star && (s.any_plain || s.any_exclusion);
}
