#include "lib/ksyms.h"

#include "lib/string.h"

/* Emitted by kernel/ksyms.awk into the .ksyms section, sorted by address. */
struct ksym_entry {
    uint64_t address;
    uint32_t name_offset; /* into ksym_names */
    uint32_t reserved;
};

extern const struct ksym_entry ksym_table[];
extern const uint64_t ksym_table_count;
extern const char ksym_names[];
extern const char __text_end[];

size_t ksym_count(void)
{
    return ksym_table_count;
}

const char *ksym_lookup(uint64_t addr, uint64_t *offset)
{
    size_t low = 0, high = ksym_table_count;
    if (high == 0 || addr < ksym_table[0].address || addr >= (uint64_t)__text_end)
        return NULL;
    /* Find the last entry whose address is <= addr. */
    while (high - low > 1) {
        size_t mid = low + (high - low) / 2;
        if (ksym_table[mid].address <= addr)
            low = mid;
        else
            high = mid;
    }
    *offset = addr - ksym_table[low].address;
    return &ksym_names[ksym_table[low].name_offset];
}

uint64_t ksym_address(const char *name)
{
    for (size_t i = 0; i < ksym_table_count; i++) {
        if (strcmp(&ksym_names[ksym_table[i].name_offset], name) == 0)
            return ksym_table[i].address;
    }
    return 0;
}
