/*
 * fault: a program that does one wrong thing on purpose, named by its argument,
 * so the tests can check that only it dies, with the right signal and console line:
 *   null      read address 0               SIGSEGV
 *   kernel    read a kernel-half address   SIGSEGV
 *   text      write to its own code        SIGSEGV
 *   ud2       an invalid instruction       SIGILL
 *   int3      a breakpoint                 SIGTRAP
 *   div0      integer division by zero     SIGFPE
 *   hlt       a privileged instruction     SIGSEGV
 * With no argument (or an unknown one) it exits 2.
 */
#include <string.h>

int main(int argc, char **argv)
{
    volatile int zero = 0, hundred = 100; /* volatile: no constant folding */
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "null"))
        return *(volatile int *)0;
    if (!strcmp(what, "kernel"))
        return *(volatile int *)0xffffffff80000000ul;
    if (!strcmp(what, "text"))
        *(volatile unsigned char *)(void *)main = 0xc3;
    if (!strcmp(what, "ud2"))
        __asm__ volatile("ud2");
    if (!strcmp(what, "int3"))
        __asm__ volatile("int3");
    if (!strcmp(what, "div0"))
        return hundred / zero;
    if (!strcmp(what, "hlt"))
        __asm__ volatile("hlt");
    return 2;
}
