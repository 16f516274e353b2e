/*
 * ustack: the initial stack of a new user program, as the Linux x86_64 ABI (System V
 * AMD64 psABI 3.4.1 and Linux's fs/binfmt_elf.c) lays it out, so unmodified musl and
 * glibc start-up code finds argc, argv, envp and the auxiliary vector:
 *
 *   stack_top -> 8 zero bytes (end marker)
 *                AT_EXECFN string
 *                argv strings then envp strings, in ascending address order
 *                "x86_64" (AT_PLATFORM)
 *                16 random bytes (AT_RANDOM), 16-byte aligned
 *                padding to 16 bytes
 *                auxv: (type, value) pairs, ending with AT_NULL, 0
 *                NULL, envp[envc - 1] ... envp[0]
 *                NULL, argv[argc - 1] ... argv[0]
 *   rsp ->       argc                                 (rsp % 16 == 0)
 *
 * ustack_build is pure: it writes into a kernel buffer standing for the top
 * buf_size bytes of the user stack, [stack_top - buf_size, stack_top), storing user
 * addresses in the pointers; the caller then copies or maps it there. The strings
 * and arrays it reads are kernel memory the caller already copied from the user.
 */
#ifndef EXO_PROC_USTACK_H
#define EXO_PROC_USTACK_H

#include <stddef.h>
#include <stdint.h>

/* Auxiliary vector types (Linux's include/uapi/linux/auxvec.h). */
#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHENT 4
#define AT_PHNUM 5
#define AT_PAGESZ 6
#define AT_BASE 7
#define AT_FLAGS 8
#define AT_ENTRY 9
#define AT_UID 11
#define AT_EUID 12
#define AT_GID 13
#define AT_EGID 14
#define AT_PLATFORM 15
#define AT_HWCAP 16
#define AT_CLKTCK 17
#define AT_SECURE 23
#define AT_RANDOM 25
#define AT_HWCAP2 26
#define AT_EXECFN 31

#define USTACK_PLATFORM "x86_64"

struct ustack_args {
    const char *const *argv; /* argc strings (may be NULL when argc is 0) */
    size_t argc;
    const char *const *envp; /* envc strings (may be NULL when envc is 0) */
    size_t envc;
    const uint8_t *random16; /* 16 bytes for AT_RANDOM (musl's stack canary) */
    uint64_t phdr, phent, phnum, entry, base; /* base: 0 for a static program */
    uint64_t hwcap, hwcap2, pagesz, clktck;
    uint64_t uid, euid, gid, egid, secure;
    const char *execfn; /* the path execve was given; AT_EXECFN left out when NULL */
};

/*
 * Lays the stack out in buf (the user range [stack_top - buf_size, stack_top));
 * stack_top must be 16-byte aligned. Returns 0 with *out_rsp the user address of
 * argc; -E2BIG when it does not fit in buf_size; -EINVAL for a NULL string or
 * random16, or a misaligned stack_top. Bytes of buf below *out_rsp are untouched.
 */
int ustack_build(uint8_t *buf, size_t buf_size, uint64_t stack_top,
                 const struct ustack_args *args, uint64_t *out_rsp)
    __attribute__((warn_unused_result));

#endif
