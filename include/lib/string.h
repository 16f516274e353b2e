/*
 * string: the freestanding C string and memory functions the kernel uses, plus a
 * shell-style glob matcher for selecting test suites.
 *
 * Pure code with no kernel dependencies: the same file is built into the kernel and
 * into the host unit tests (tests/host/test_string.c). The compiler may emit calls to
 * memcpy, memmove, memset and memcmp on its own, so those four keep their standard
 * names and contracts.
 *
 * Interrupt context: anywhere (pure).
 */
#ifndef EXO_LIB_STRING_H
#define EXO_LIB_STRING_H

#include <stdbool.h>
#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int byte, size_t n);
int memcmp(const void *a, const void *b, size_t n);
/* The first `byte` in s[0..n), or NULL. */
void *memchr(const void *s, int byte, size_t n);

size_t strlen(const char *s);
/* Length of s, but reads at most max_len bytes. */
size_t strnlen(const char *s, size_t max_len);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
/*
 * Copies at most dst_size - 1 bytes of src into dst and always NUL-terminates
 * (when dst_size > 0). Returns strlen(src), so truncation is detected by a
 * result >= dst_size.
 */
size_t strlcpy(char *dst, const char *src, size_t dst_size);

/*
 * Shell-style match of the whole of `text` against `pattern`: `*` matches any run of
 * characters (also empty), `?` matches one character, everything else matches itself.
 * Runs in O(len(pattern) * len(text)) at worst, without recursion.
 */
bool glob_match(const char *pattern, const char *text);

/*
 * Copies len bytes of src into dst (of dst_size bytes, NUL-terminated when
 * dst_size > 0) so that the result is safe to print on a terminal: printable
 * ASCII stays as is, a backslash becomes `\\`, every other byte (control
 * characters such as ESC, and bytes >= 0x7f) becomes `\xNN`. Returns the length
 * the whole escaped text has, like snprintf: a result >= dst_size means dst holds
 * a truncated prefix (never half an escape). For text that came from outside
 * (the command line, file names) before it reaches a console.
 */
size_t str_escape(char *dst, size_t dst_size, const char *src, size_t len);

/*
 * Splits `line` in place into words as a shell does for simple commands: words
 * are separated by spaces and tabs; single quotes keep everything up to the next
 * one literally, double quotes keep spaces (a backslash there escapes `"` and
 * `\`), and the quotes themselves are removed ("exit 3" is one word; '' is an
 * empty word). Stores up to `max` word pointers into `words` and returns how many
 * there are, or -1 when a quote is left open (words is then incomplete).
 */
int split_args(char *line, const char **words, size_t max);

/*
 * Parses an unsigned decimal (or 0x-prefixed hexadecimal) number occupying the whole
 * of s[0..len). Returns false on an empty string, a stray character, or overflow of
 * 64 bits; *out is written only on success.
 */
bool parse_u64(const char *s, size_t len, unsigned long long *out);

#endif
