/* Fixed virtual addresses of the x86_64 kernel; boot/boot.asm builds the early
 * tables with the same numbers. */
#ifndef EXO_ARCH_X86_64_LAYOUT_H
#define EXO_ARCH_X86_64_LAYOUT_H

#define KERNEL_VMA 0xffffffff80000000ull      /* the image, at KERNEL_VMA + physical */
#define DIRECT_MAP_BASE 0xffff800000000000ull /* all RAM, at DIRECT_MAP_BASE + physical */
#define DIRECT_MAP_END 0xffff810000000000ull  /* 1 TiB: FRAME_MAX_PHYS */
#define HEAP_BASE 0xffffc00000000000ull       /* 64 GiB of kmalloc arenas */
#define HEAP_END 0xffffc01000000000ull
#define STACKS_BASE 0xffffc80000000000ull     /* 512 GiB of kernel stacks */
#define STACKS_END 0xffffc88000000000ull
#define DEVICES_BASE 0xffffd00000000000ull    /* 64 GiB of device mappings */
#define DEVICES_END 0xffffd01000000000ull
#define KERNEL_END 0xfffffffffffff000ull      /* the last page is left unmapped */

#endif
