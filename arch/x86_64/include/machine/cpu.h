/*
 * x86_64's constants for include/arch/cpu.h. A port supplies
 * arch/<name>/include/machine/cpu.h with the same names.
 */
#ifndef EXO_MACHINE_CPU_H
#define EXO_MACHINE_CPU_H

/* The coherence unit: per-CPU data is aligned to it so that CPUs do not share
 * lines. Only a performance matter if it is wrong. */
#define ARCH_CACHE_LINE_BYTES 64

#endif
