/* x86_64 page-table entry bits (machine/pte.h) and the control-register and
 * CPUID bits of the MMU features. */
#ifndef EXO_ARCH_X86_64_MMU_BITS_H
#define EXO_ARCH_X86_64_MMU_BITS_H

#include "machine/pte.h" /* the PTE_* bits */

#define CR0_WP (1ull << 16)
#define CR4_PGE (1ull << 7)
#define CR4_UMIP (1ull << 11)
#define CR4_PCIDE (1ull << 17)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)

#define MSR_EFER 0xc0000080u
#define EFER_NXE (1ull << 11)
#define MSR_PAT 0x277u

#define CPUID1_EDX_PGE (1u << 13)
#define CPUID1_EDX_PAT (1u << 16)
#define CPUID1_ECX_PCID (1u << 17)
#define CPUID7_EBX_SMEP (1u << 7)
#define CPUID7_EBX_SMAP (1u << 20)
#define CPUID7_ECX_UMIP (1u << 2)
#define CPUID_EXT1_EDX_PDPE1GB (1u << 26)

/* PAT entries 0..7: WB, WC, UC-, UC, then the same again. Entry 1 is WT by
 * default; Exo makes it write-combining for framebuffers. */
#define PAT_VALUE 0x0007010600070106ull

#endif
