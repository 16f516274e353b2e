/*
 * Suite `exceptions`: each kind of CPU exception is raised on purpose and caught by
 * the expect-fault hook, which must report the right vector, error code and address.
 * It lives in arch/x86_64 because vectors and the provoking instructions are x86's.
 */
#include "cpu.h"
#include "lib/ksyms.h"
#include "kernel/ktest.h"
#include "lib/string.h"

#define VECTOR_DIVIDE_ERROR 0
#define VECTOR_BREAKPOINT 3
#define VECTOR_INVALID_OPCODE 6
#define VECTOR_GENERAL_PROTECTION 13
#define VECTOR_PAGE_FAULT 14
#define PF_ERR_PRESENT (1u << 0)
#define PF_ERR_WRITE (1u << 1)
/* Nothing is mapped in this PML4 slot at boot (boot/boot.asm maps slots 0, 256, 511). */
#define UNMAPPED_ADDRESS 0xffff900000000123ull
#define NON_CANONICAL_ADDRESS 0x8000000000000000ull

static void do_nothing(void *arg)
{
    (void)arg;
}

static void provoke_breakpoint(void *arg)
{
    (void)arg;
    __asm__ volatile("int3");
}

static void provoke_invalid_opcode(void *arg)
{
    (void)arg;
    __asm__ volatile("ud2");
}

static void provoke_divide_error(void *arg)
{
    (void)arg;
    __asm__ volatile("xorl %%ecx, %%ecx; movl $1, %%eax; xorl %%edx, %%edx; divl %%ecx"
                     :
                     :
                     : "rax", "rcx", "rdx");
}

static void read_address(void *arg)
{
    uint64_t value = *(volatile uint64_t *)arg;
    (void)value;
}

static void write_address(void *arg)
{
    *(volatile uint64_t *)arg = 0x5a5a;
}

/* The fault's ip must lie in the function that raised it. */
static void expect_ip_in(struct ktest *t, const struct fault_info *fault, const char *function)
{
    uint64_t offset;
    const char *name = ksym_lookup(fault->ip, &offset);
    KT_ASSERT(t, name != NULL);
    KT_EXPECT_STREQ(t, name, function);
}

static void returning_function_reports_no_fault(struct ktest *t)
{
    struct fault_info fault;
    KT_EXPECT(t, !ktest_catch_fault(do_nothing, NULL, &fault));
}

static void breakpoint_is_caught_as_vector_3(struct ktest *t)
{
    struct fault_info fault;
    KT_ASSERT(t, ktest_catch_fault(provoke_breakpoint, NULL, &fault));
    KT_EXPECT_EQ(t, fault.vector, VECTOR_BREAKPOINT);
    expect_ip_in(t, &fault, "provoke_breakpoint");
}

static void invalid_opcode_is_caught_as_vector_6(struct ktest *t)
{
    struct fault_info fault;
    KT_ASSERT(t, ktest_catch_fault(provoke_invalid_opcode, NULL, &fault));
    KT_EXPECT_EQ(t, fault.vector, VECTOR_INVALID_OPCODE);
    expect_ip_in(t, &fault, "provoke_invalid_opcode");
    /* #UD is a fault: ip points at the ud2 itself (0f 0b). */
    KT_EXPECT_EQ(t, ((const uint8_t *)fault.ip)[0], 0x0f);
    KT_EXPECT_EQ(t, ((const uint8_t *)fault.ip)[1], 0x0b);
}

static void divide_by_zero_is_caught_as_vector_0(struct ktest *t)
{
    struct fault_info fault;
    KT_ASSERT(t, ktest_catch_fault(provoke_divide_error, NULL, &fault));
    KT_EXPECT_EQ(t, fault.vector, VECTOR_DIVIDE_ERROR);
    expect_ip_in(t, &fault, "provoke_divide_error");
}

static void non_canonical_read_is_general_protection(struct ktest *t)
{
    struct fault_info fault;
    KT_ASSERT(t, ktest_catch_fault(read_address, (void *)NON_CANONICAL_ADDRESS, &fault));
    KT_EXPECT_EQ(t, fault.vector, VECTOR_GENERAL_PROTECTION);
    KT_EXPECT_EQ(t, fault.error_code, 0);
    expect_ip_in(t, &fault, "read_address");
}

static void unmapped_read_is_page_fault_with_address(struct ktest *t)
{
    struct fault_info fault;
    KT_ASSERT(t, ktest_catch_fault(read_address, (void *)UNMAPPED_ADDRESS, &fault));
    KT_EXPECT_EQ(t, fault.vector, VECTOR_PAGE_FAULT);
    KT_EXPECT_EQ(t, fault.fault_addr, UNMAPPED_ADDRESS);
    KT_EXPECT_EQ(t, fault.error_code & (PF_ERR_PRESENT | PF_ERR_WRITE), 0);
    expect_ip_in(t, &fault, "read_address");
}

static void unmapped_write_is_page_fault_with_write_bit(struct ktest *t)
{
    struct fault_info fault;
    KT_ASSERT(t, ktest_catch_fault(write_address, (void *)UNMAPPED_ADDRESS, &fault));
    KT_EXPECT_EQ(t, fault.vector, VECTOR_PAGE_FAULT);
    KT_EXPECT_EQ(t, fault.fault_addr, UNMAPPED_ADDRESS);
    KT_EXPECT_EQ(t, fault.error_code & (PF_ERR_PRESENT | PF_ERR_WRITE), PF_ERR_WRITE);
}

static void catching_restores_registers_and_interrupt_state(struct ktest *t)
{
    /* Values live across the fault in callee-saved registers or on the stack. */
    volatile uint64_t canary = 0x1122334455667788ull;
    uint64_t flags_before = read_rflags() & RFLAGS_IF;
    struct fault_info fault;
    for (int round = 0; round < 3; round++)
        KT_EXPECT(t, ktest_catch_fault(provoke_invalid_opcode, NULL, &fault));
    KT_EXPECT_EQ(t, canary, 0x1122334455667788ull);
    KT_EXPECT_EQ(t, read_rflags() & RFLAGS_IF, flags_before);
    /* The hook is disarmed after a catch: a normal call reports nothing. */
    KT_EXPECT(t, !ktest_catch_fault(do_nothing, NULL, &fault));
}

KTEST_SUITE(exceptions,
            KTEST(returning_function_reports_no_fault),
            KTEST(breakpoint_is_caught_as_vector_3),
            KTEST(invalid_opcode_is_caught_as_vector_6),
            KTEST(divide_by_zero_is_caught_as_vector_0),
            KTEST(non_canonical_read_is_general_protection),
            KTEST(unmapped_read_is_page_fault_with_address),
            KTEST(unmapped_write_is_page_fault_with_write_bit),
            KTEST(catching_restores_registers_and_interrupt_state));
