/*
 * hello: the smallest Exo user program, an unmodified static Linux binary built
 * with Debian's musl-gcc (user/programs.mk). It prints one fixed line, which the
 * README and the tests look for, and exits 0.
 */
#include <stdio.h>

int main(void)
{
    puts("hello from exo");
    return 0;
}
