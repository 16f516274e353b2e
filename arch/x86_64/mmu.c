/* x86_64 MMU control for include/arch/mmu.h: CR3, INVLPG, and the protection
 * features in CR0/CR4/EFER/PAT. */
#include "arch/mmu.h"

#include <stddef.h>

#include "cpu.h"
#include "mmu_bits.h"
#include "pcid.h"

/* Written by the boot CPU's arch_mmu_init_this_cpu, read-only afterwards. */
static bool has_1g_pages;
static char features[64];

static inline void write_cr0(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr0" : : "r"(value) : "memory");
}

static inline void write_cr4(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(value) : "memory");
}

static void add_feature(const char *name)
{
    size_t len = 0;
    while (features[len])
        len++;
    if (len)
        features[len++] = ' ';
    while (*name && len < sizeof(features) - 1)
        features[len++] = *name++;
    features[len] = 0;
}

void arch_mmu_init_this_cpu(void)
{
    uint32_t eax, ebx, ecx, edx, max_leaf, max_ext;
    cpuid(0, 0, &max_leaf, &ebx, &ecx, &edx);
    cpuid(0x80000000u, 0, &max_ext, &ebx, &ecx, &edx);
    uint32_t ecx1 = 0, edx1 = 0, ebx7 = 0, ecx7 = 0, edx_ext1 = 0;
    cpuid(1, 0, &eax, &ebx, &ecx1, &edx1);
    if (max_leaf >= 7)
        cpuid(7, 0, &eax, &ebx7, &ecx7, &edx);
    if (max_ext >= 0x80000001u)
        cpuid(0x80000001u, 0, &eax, &ebx, &ecx, &edx_ext1);

    features[0] = 0;
    /* boot/boot.asm already set EFER.NXE (it refuses CPUs without NX) and CR0.WP. */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
    add_feature("NX");
    write_cr0(read_cr0() | CR0_WP);
    add_feature("WP");

    uint64_t cr4 = read_cr4();
    if (edx1 & CPUID1_EDX_PGE) {
        cr4 |= CR4_PGE;
        add_feature("PGE");
    }
    if (ebx7 & CPUID7_EBX_SMEP) {
        cr4 |= CR4_SMEP;
        add_feature("SMEP");
    }
    if (ebx7 & CPUID7_EBX_SMAP) {
        cr4 |= CR4_SMAP;
        add_feature("SMAP");
    }
    if (ecx7 & CPUID7_ECX_UMIP) {
        cr4 |= CR4_UMIP;
        add_feature("UMIP");
    }
    /* PCIDE may be set only while CR3's low 12 bits are 0: true here, before any
     * user space was loaded. */
    if ((ecx1 & CPUID1_ECX_PCID) && !(read_cr3() & 0xfff)) {
        cr4 |= CR4_PCIDE;
        add_feature("PCID");
    }
    write_cr4(cr4);
    if (cr4 & CR4_PCIDE)
        pcid_enable();
    if (edx1 & CPUID1_EDX_PAT) {
        wrmsr(MSR_PAT, PAT_VALUE);
        add_feature("PAT-WC");
    }
    has_1g_pages = (edx_ext1 & CPUID_EXT1_EDX_PDPE1GB) != 0;
    if (has_1g_pages)
        add_feature("1G-pages");
}

bool arch_mmu_has_1g_pages(void)
{
    return has_1g_pages;
}

const char *arch_mmu_features(void)
{
    return features;
}

void arch_mmu_load_root(uint64_t root_phys)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(root_phys) : "memory");
}

uint64_t arch_mmu_root(void)
{
    return read_cr3() & PTE_ADDR_MASK; /* without the PCID and no-flush bits */
}

void arch_tlb_flush_page(uintptr_t va)
{
    __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

void arch_tlb_flush_all(void)
{
    /* Toggling CR4.PGE drops global entries too; a CR3 reload alone keeps them. */
    uint64_t cr4 = read_cr4();
    if (cr4 & CR4_PGE) {
        write_cr4(cr4 & ~CR4_PGE);
        write_cr4(cr4);
    } else {
        __asm__ volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory"); /* same tag */
    }
}
