/*
 * ksyms: the kernel's own symbol table, for backtraces.
 *
 * The build links the kernel twice: the first image's function symbols (nm) become
 * a sorted table (lib/ksyms.awk) that the second link places at the end of
 * .rodata, where its size moves no code. The Makefile checks that the two links put
 * every function at the same address.
 *
 * Interrupt context: the lookup reads a constant table and may be called from
 * it (the panic path does).
 */
#ifndef EXO_LIB_KSYMS_H
#define EXO_LIB_KSYMS_H

#include <stddef.h>
#include <stdint.h>

/* The function containing addr, or NULL; *offset receives addr - its start. */
const char *ksym_lookup(uint64_t addr, uint64_t *offset);
/* The address of the function named `name`, or 0. */
uint64_t ksym_address(const char *name);
size_t ksym_count(void);

#endif
