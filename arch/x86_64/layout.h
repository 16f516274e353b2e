/* Fixed virtual addresses of the x86_64 kernel; boot/boot.asm builds the early
 * tables with the same numbers. */
#ifndef EXO_ARCH_X86_64_LAYOUT_H
#define EXO_ARCH_X86_64_LAYOUT_H

#define KERNEL_VMA 0xffffffff80000000ull      /* the image, at KERNEL_VMA + physical */
#define DIRECT_MAP_BASE 0xffff800000000000ull /* all RAM, at DIRECT_MAP_BASE + physical */

#endif
