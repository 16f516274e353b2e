/* Host implementations of the kernel services the pure code calls (shim.h). */
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "arch/time.h"
#include "base/panic.h"
#include "lib/printf.h"

uint8_t *shim_phys_base;
uint64_t shim_phys_size;
_Thread_local unsigned shim_cpu_index;
char shim_panic_message[512];
jmp_buf *shim_panic_jump;
char shim_log[65536];
static size_t shim_log_len;

void shim_clear_log(void)
{
    shim_log_len = 0;
    shim_log[0] = 0;
}

void shim_phys_init(uint64_t size)
{
    shim_phys_base = aligned_alloc(4096, size);
    if (!shim_phys_base) {
        fprintf(stderr, "shim: cannot allocate %llu bytes of fake RAM\n",
                (unsigned long long)size);
        abort();
    }
    memset(shim_phys_base, 0, size);
    shim_phys_size = size;
}

void shim_phys_fini(void)
{
    free(shim_phys_base);
    shim_phys_base = NULL;
    shim_phys_size = 0;
}

void panic(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(shim_panic_message, sizeof(shim_panic_message), fmt, args);
    va_end(args);
    if (shim_panic_jump)
        longjmp(*shim_panic_jump, 1);
    fprintf(stderr, "PANIC: %s\n", shim_panic_message);
    abort();
}

static int shim_vprintf(const char *fmt, va_list args)
{
    va_list copy;
    va_copy(copy, args);
    size_t room = sizeof(shim_log) - shim_log_len;
    int n = vsnprintf(shim_log + shim_log_len, room, fmt, copy);
    va_end(copy);
    if (n > 0)
        shim_log_len += (size_t)n < room ? (size_t)n : room - 1;
    if (getenv("SHIM_VERBOSE"))
        vfprintf(stderr, fmt, args);
    return n;
}

/* The kernel's lib/printf.c, when a test links it, sends kprintf to the output
 * installed with kprintf_set_output: install the shim's log there. Tests that do
 * not link it get the weak kprintf and kvprintf below. */
__attribute__((weak)) void kprintf_set_output(int (*output)(const char *, va_list));

__attribute__((constructor)) static void shim_install_output(void)
{
    if (kprintf_set_output)
        kprintf_set_output(shim_vprintf);
}

__attribute__((weak)) int kvprintf(const char *fmt, va_list args)
{
    return shim_vprintf(fmt, args);
}

__attribute__((weak)) int kprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = shim_vprintf(fmt, args);
    va_end(args);
    return n;
}

bool arch_irq_save_disable(void)
{
    return false;
}

void arch_irq_restore(bool were_enabled)
{
    (void)were_enabled;
}

void arch_cpu_relax(void)
{
    __builtin_ia32_pause();
}

unsigned arch_cpu_index(void)
{
    return shim_cpu_index;
}

/* The per-CPU slots of include/arch/cpu.h, one row per fake CPU. */
static void *shim_cpu_slots[ARCH_MAX_CPUS][ARCH_CPU_SLOTS];

void *arch_cpu_slot(unsigned slot)
{
    return __atomic_load_n(&shim_cpu_slots[shim_cpu_index][slot], __ATOMIC_ACQUIRE);
}

void arch_cpu_set_slot(unsigned cpu, unsigned slot, void *value)
{
    __atomic_store_n(&shim_cpu_slots[cpu][slot], value, __ATOMIC_RELEASE);
}

uint64_t arch_read_timestamp(void)
{
    return __builtin_ia32_rdtsc();
}

void *arch_phys_to_virt(uint64_t phys)
{
    if (phys >= shim_phys_size) {
        fprintf(stderr, "shim: arch_phys_to_virt(0x%llx) beyond the fake RAM (0x%llx bytes)\n",
                (unsigned long long)phys, (unsigned long long)shim_phys_size);
        abort();
    }
    return shim_phys_base + phys;
}
