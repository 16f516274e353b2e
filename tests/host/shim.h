/*
 * shim.h: what the kernel's pure code needs from the rest of the kernel, for host
 * builds. tests/host/shim.c implements the kernel functions it calls (panic,
 * kprintf, the arch_* helpers) on top of libc, so mm/ and kernel/ sources compile
 * and run unchanged under ASan and UBSan.
 *
 * Physical memory is a host buffer: arch_phys_to_virt(p) is shim_phys_base + p,
 * checked against shim_phys_size. A test that expects a panic wraps the call in
 * SHIM_EXPECT_PANIC; the panic message is kept in shim_panic_message.
 */
#ifndef EXO_TESTS_HOST_SHIM_H
#define EXO_TESTS_HOST_SHIM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern uint8_t *shim_phys_base;
extern uint64_t shim_phys_size;
/* The "CPU" arch_cpu_index() reports; per host thread. */
extern _Thread_local unsigned shim_cpu_index;

extern char shim_panic_message[512];
extern jmp_buf *shim_panic_jump;

/* Everything kprintf printed since the last shim_clear_log (truncated at 64 KiB). */
extern char shim_log[65536];
void shim_clear_log(void);

/* Allocates a zeroed fake physical memory of `size` bytes (page-aligned). */
void shim_phys_init(uint64_t size);
void shim_phys_fini(void);

/* Runs `stmt`; true when it panicked (the message is in shim_panic_message). */
#define SHIM_EXPECT_PANIC(stmt)                                                         \
    ({                                                                                  \
        jmp_buf shim_jb_;                                                               \
        jmp_buf *shim_saved_ = shim_panic_jump;                                         \
        bool shim_panicked_ = false;                                                    \
        shim_panic_message[0] = 0;                                                      \
        shim_panic_jump = &shim_jb_;                                                    \
        if (setjmp(shim_jb_) == 0) {                                                    \
            stmt;                                                                       \
        } else {                                                                        \
            shim_panicked_ = true;                                                      \
        }                                                                               \
        shim_panic_jump = shim_saved_;                                                  \
        shim_panicked_;                                                                 \
    })

#endif
