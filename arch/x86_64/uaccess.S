/*
 * User-memory copies (include/arch/uaccess.h). Each routine opens SMAP (stac)
 * only around its accessing instruction, which is listed in the exception-fixup
 * table (section ex_table: pairs of .quad faulting-instruction, fixup). idt.c's
 * page-fault path looks a kernel fault's rip up there: it first tries demand
 * paging, then resumes at the fixup, which closes SMAP and returns -EFAULT.
 * stac/clac exist only on CPUs with SMAP: uaccess_smap (set by user.c) says
 * whether to run them.
 *
 * Clobbers: rax, rcx, rdx, rsi, rdi, flags (the System V caller-saved set).
 */
    .set EFAULT, 14

#include "entry_macros.inc"

    .macro FIXUP insn, fixup
    .pushsection ex_table, "a"
    .balign 8
    .quad \insn, \fixup
    .popsection
    .endm

    .data
    .globl uaccess_smap
uaccess_smap:
    .byte 0

    .text
/* long arch_uaccess_copy(void *dst, const void *src, size_t n)
 * In: rdi = dst, rsi = src, rdx = n (> 0). Out: rax = 0, or -EFAULT.
 * From 64 bytes, eight bytes a step and then the rest a byte at a time (as
 * Linux's string copy does on CPUs without ERMS; under icount each step is an
 * instruction); below, a byte at a time (no setup for the small copies of
 * pipes and sockets). A fault in any resumes after demand paging or fails with
 * -EFAULT, as before. */
    .globl arch_uaccess_copy
    .type arch_uaccess_copy, @function
arch_uaccess_copy:
    movq %rdx, %rcx
    STAC_IF_SMAP
    cmpq $64, %rdx
    jb 4f
    shrq $3, %rcx
    andl $7, %edx
1:  rep movsq
    movl %edx, %ecx
4:  rep movsb
    CLAC_IF_SMAP
    xorl %eax, %eax
    ret
    FIXUP 1b, uaccess_efault
    FIXUP 4b, uaccess_efault
    .size arch_uaccess_copy, . - arch_uaccess_copy

/* long arch_uaccess_clear(void *dst, size_t n)
 * In: rdi = dst, rsi = n (> 0). Out: rax = 0, or -EFAULT. The same steps as
 * arch_uaccess_copy's. */
    .globl arch_uaccess_clear
    .type arch_uaccess_clear, @function
arch_uaccess_clear:
    movq %rsi, %rcx
    xorl %eax, %eax
    STAC_IF_SMAP
    cmpq $64, %rsi
    jb 5f
    shrq $3, %rcx
    andl $7, %esi
2:  rep stosq
    movl %esi, %ecx
5:  rep stosb
    CLAC_IF_SMAP
    xorl %eax, %eax
    ret
    FIXUP 2b, uaccess_efault
    FIXUP 5b, uaccess_efault
    .size arch_uaccess_clear, . - arch_uaccess_clear

/* long arch_uaccess_strncpy(char *dst, const char *src, size_t max)
 * In: rdi = dst, rsi = src, rdx = max (> 0). Out: rax = the string's length
 * (dst NUL-terminated), max when no NUL came within max bytes, or -EFAULT. */
    .globl arch_uaccess_strncpy
    .type arch_uaccess_strncpy, @function
arch_uaccess_strncpy:
    xorl %eax, %eax
    STAC_IF_SMAP
.Lnext:
3:  movb (%rsi,%rax), %cl
    movb %cl, (%rdi,%rax)
    testb %cl, %cl
    jz .Ldone
    incq %rax
    cmpq %rdx, %rax
    jb .Lnext
.Ldone:
    CLAC_IF_SMAP
    ret
    FIXUP 3b, uaccess_efault
    .size arch_uaccess_strncpy, . - arch_uaccess_strncpy

/* The fixup of every routine above: SMAP closed again, -EFAULT. */
uaccess_efault:
    CLAC_IF_SMAP
    movq $-EFAULT, %rax
    ret

    .section .note.GNU-stack, "", @progbits
