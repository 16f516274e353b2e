/*
 * uaccess: the only way the kernel touches user memory.
 *
 * Every function first refuses a range that reaches into the kernel half or
 * wraps around (-EFAULT, before any access), then copies with SMAP opened for
 * exactly the copy (STAC ... CLAC) by a routine of arch/x86_64/uaccess.S whose
 * accessing instruction is listed in the exception-fixup table: a fault there
 * first gets a chance at demand paging (the page-fault hook of arch/user.h), and
 * when that fails resumes at the routine's fixup, which returns -EFAULT. So a bad
 * user pointer is an error code, never a panic, and any other kernel access to
 * user memory faults under SMAP.
 *
 * User addresses are uintptr_t, never pointers, so they cannot be dereferenced
 * by accident. Thread context (a fault may populate a page); any CPU.
 */
#ifndef EXO_ARCH_UACCESS_H
#define EXO_ARCH_UACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/user.h"
#include "lib/errno.h"

/* The raw routines (uaccess.S): no range check. 0 or -EFAULT; the string one
 * returns the length copied without its NUL, or max when there was none. */
long arch_uaccess_copy(void *dst, const void *src, size_t n);
long arch_uaccess_strncpy(char *dst, const char *src, size_t max);
long arch_uaccess_clear(void *dst, size_t n);

/* Does [addr, addr + n) lie wholly in the user half? */
static inline bool user_range_ok(uintptr_t addr, size_t n)
{
    return addr <= ARCH_USER_ADDR_END && n <= ARCH_USER_ADDR_END - addr;
}

__attribute__((warn_unused_result)) static inline int copy_from_user(void *dst, uintptr_t user_src,
                                                                     size_t n)
{
    if (!user_range_ok(user_src, n))
        return -EFAULT;
    return n ? (int)arch_uaccess_copy(dst, (const void *)user_src, n) : 0;
}

__attribute__((warn_unused_result)) static inline int copy_to_user(uintptr_t user_dst,
                                                                   const void *src, size_t n)
{
    if (!user_range_ok(user_dst, n))
        return -EFAULT;
    return n ? (int)arch_uaccess_copy((void *)user_dst, src, n) : 0;
}

__attribute__((warn_unused_result)) static inline int clear_user(uintptr_t user_dst, size_t n)
{
    if (!user_range_ok(user_dst, n))
        return -EFAULT;
    return n ? (int)arch_uaccess_clear((void *)user_dst, n) : 0;
}

/*
 * Copies a NUL-terminated string of at most max bytes (its NUL included) into
 * dst. Returns its length without the NUL (dst terminated), max when no NUL came
 * within max bytes (dst not terminated: the caller says -ENAMETOOLONG or so), or
 * -EFAULT. Bytes beyond the user half are never read: max is cut there.
 */
__attribute__((warn_unused_result)) static inline long strncpy_from_user(char *dst,
                                                                        uintptr_t user_src,
                                                                        size_t max)
{
    if (user_src >= ARCH_USER_ADDR_END)
        return -EFAULT;
    size_t room = ARCH_USER_ADDR_END - user_src;
    long got = max ? arch_uaccess_strncpy(dst, (const char *)user_src, max < room ? max : room) : 0;
    if (got >= 0 && (size_t)got == room && room < max)
        return -EFAULT; /* ran into the kernel half without a NUL */
    return got;
}

#endif
