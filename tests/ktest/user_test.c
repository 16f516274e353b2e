/*
 * user: processes in ring 3 (include/proc/process.h) and the user-memory
 * boundary (include/arch/uaccess.h). The cases that run programs need the initrd
 * (/bin/hello, /bin/fault) and skip without one (a PVH boot without -initrd).
 */
#include "arch/mmu.h"
#include "arch/uaccess.h"
#include "fs/initrd.h"
#include "kernel/ktest.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/frame_ref.h"
#include "mm/heap.h"
#include "mm/vmspace.h"
#include "mm_test_util.h"
#include "proc/process.h"
#include "sched/thread.h"

#define VA 0x400000ull
#define CAPTURE_BYTES 512

/* ---- the console, captured ------------------------------------------------------- */

static char captured[CAPTURE_BYTES];
static size_t captured_len;

static long capture_write(struct file *f, uintptr_t buf, size_t len)
{
    (void)f;
    size_t room = sizeof(captured) - 1 - captured_len;
    size_t n = len < room ? len : room;
    if (copy_from_user(captured + captured_len, buf, n))
        return -EFAULT;
    captured_len += n;
    captured[captured_len] = 0;
    return (long)len;
}

static const struct file_ops capture_ops = {.write = capture_write};
static struct file capture_file = {.ops = &capture_ops, .refs = 1, .flags = 1 /* O_WRONLY */};

/* Runs path with argv, its output captured; returns its wait status or -errno. */
static int run_captured(const char *const *argv)
{
    captured_len = 0;
    captured[0] = 0;
    struct file *console = process_console();
    process_set_console(&capture_file);
    int error;
    struct process *p = process_spawn(argv[0], argv, NULL, NULL, &error);
    process_set_console(console);
    return p ? process_wait(p) : error;
}

/* ---- counts --------------------------------------------------------------------- */

struct counts {
    uint64_t frames;
    size_t heap_blocks;
    uint64_t tables;
};

static struct counts counts_now(void)
{
    struct heap_stats h;
    heap_get_stats(&h);
    return (struct counts){mm_free_frames(), h.blocks_in_use, paging_table_pages()};
}

/* Once earlier suites' threads have finished freeing on other CPUs. */
static struct counts counts_settled(void)
{
    struct counts a = counts_now();
    for (int i = 0; i < 50; i++) {
        thread_sleep_ns(2000000);
        struct counts b = counts_now();
        if (a.frames == b.frames && a.heap_blocks == b.heap_blocks && a.tables == b.tables)
            break;
        a = b;
    }
    return a;
}

/* ---- programs ------------------------------------------------------------------- */

static void user_hello_prints_its_line_and_exits_zero(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/bin/hello", NULL};
    int status = run_captured(argv);
    KT_EXPECT(t, status >= 0 && PROCESS_EXITED(status));
    KT_EXPECT_EQ(t, PROCESS_EXIT_CODE(status), 0);
    KT_EXPECT_STREQ(t, captured, "hello from exo\n");
}

static void user_missing_program_is_enoent(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/bin/no-such-program", NULL};
    KT_EXPECT_EQ(t, run_captured(argv), -ENOENT);
}

static void expect_killed(struct ktest *t, const char *how, int signal)
{
    const char *const argv[] = {"/bin/fault", how, NULL};
    int status = run_captured(argv);
    if (status < 0 || PROCESS_EXITED(status) || PROCESS_SIGNAL(status) != signal)
        ktest_fail(t, __FILE__, __LINE__, "fault %s: status 0x%x, expected %s", how,
                   (unsigned)status, signal_name(signal));
}

static void user_faults_kill_only_the_process_with_the_right_signal(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    expect_killed(t, "null", 11);
    expect_killed(t, "kernel", 11);
    expect_killed(t, "text", 11);
    expect_killed(t, "ud2", 4);
    expect_killed(t, "int3", 5);
    expect_killed(t, "div0", 8);
    expect_killed(t, "hlt", 11);
    /* The kernel runs on: the next program works. */
    const char *const argv[] = {"/bin/hello", NULL};
    KT_EXPECT_EQ(t, run_captured(argv), 0);
}

static void user_processes_leave_frame_heap_and_table_counts_exact(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const hello[] = {"/bin/hello", NULL};
    run_captured(hello); /* the first run may size lazily made caches */
    struct counts before = counts_settled();
    for (int i = 0; i < 3; i++) {
        KT_EXPECT_EQ(t, run_captured(hello), 0);
        const char *const fault[] = {"/bin/fault", "null", NULL};
        KT_EXPECT_EQ(t, run_captured(fault), 11);
    }
    struct counts after = counts_settled();
    KT_EXPECT_EQ(t, after.frames, before.frames);
    KT_EXPECT_EQ(t, after.heap_blocks, before.heap_blocks);
    KT_EXPECT_EQ(t, after.tables, before.tables);
    KT_EXPECT_EQ(t, process_count(), 0);
}

/* Runs argv (output captured) and expects exit 0 with the frame, heap, table
 * and shared-frame counts exactly where they were. */
static void expect_exit_zero_and_counts_exact(struct ktest *t, const char *const *argv)
{
    struct counts before = counts_settled();
    uint64_t shared_before = frame_ref_shared_total();
    int status = run_captured(argv);
    if (status != 0)
        ktest_fail(t, __FILE__, __LINE__, "%s %s: status 0x%x, output: %s", argv[0],
                   argv[1] ? argv[1] : "", (unsigned)status, captured);
    struct counts after = counts_settled();
    KT_EXPECT_EQ(t, after.frames, before.frames);
    KT_EXPECT_EQ(t, after.heap_blocks, before.heap_blocks);
    KT_EXPECT_EQ(t, after.tables, before.tables);
    KT_EXPECT_EQ(t, frame_ref_shared_total(), shared_before);
    KT_EXPECT_EQ(t, process_count(), 0);
}

static void user_1000_fork_exit_wait_cycles_restore_counts(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/bin/forker", "cycles", "1000", NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

static void user_100_live_processes_restore_counts(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    /* Each process holds at least its tables, stack, heap pages and file table:
     * about 64 KiB, so 100 of them need a machine with memory to spare. */
    if (mm_skip_unless_free(t, 16ull << 20))
        return;
    const char *const argv[] = {"/bin/forker", "live", "100", NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

static void user_syscall_fuzzer_leaves_counts_exact(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/tests/user_fuzz", "calls=5000", NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

static void user_ipc_stress_with_pages_and_fds_leaves_counts_exact(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/tests/user_ipc", "case=seeded_stress_with_pages_fds_and_kills",
                                NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

static void user_ipc_fuzzer_leaves_counts_exact(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/tests/user_ipc", "case=seeded_fuzz_of_arguments", NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

static void user_socket_stress_leaves_counts_exact(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/tests/user_socket",
                                "case=seeded_stress_of_sockets_leaves_nothing_open", NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

static void user_socket_fuzzer_leaves_counts_exact(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, "no initrd");
    const char *const argv[] = {"/tests/user_socket", "case=seeded_fuzz_of_socket_calls", NULL};
    expect_exit_zero_and_counts_exact(t, argv);
}

/* ---- the user-memory boundary ------------------------------------------------------ */

/* A space with one populated read-write page at VA and one read-only page after
 * it, loaded on this CPU; interrupts stay off so the thread keeps it. */
struct loaded_space {
    struct vmspace *vs;
    bool irq;
};

static bool load_space(struct ktest *t, struct loaded_space *ls)
{
    ls->vs = vmspace_create();
    if (!ls->vs)
        return false;
    uintptr_t va = VA, ro = VA + 4096;
    if (vmspace_map(ls->vs, &va, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) ||
        vmspace_map(ls->vs, &ro, 4096, VM_READ, VMSPACE_FIXED) ||
        vmspace_write(ls->vs, VA, "user bytes", 11) || vmspace_write(ls->vs, ro, "ro", 3)) {
        ktest_fail(t, __FILE__, __LINE__, "cannot build the space");
        vmspace_destroy(ls->vs);
        return false;
    }
    ls->irq = arch_irq_save_disable();
    vmspace_activate(ls->vs);
    return true;
}

static void unload_space(struct loaded_space *ls)
{
    vmspace_activate(NULL);
    arch_irq_restore(ls->irq);
    vmspace_destroy(ls->vs);
}

static void user_copies_refuse_bad_pointers_with_efault(struct ktest *t)
{
    struct loaded_space ls;
    if (!load_space(t, &ls))
        return;
    char buf[32] = {0};
    int good = copy_from_user(buf, VA, 11);
    int null = copy_from_user(buf, 0, 8);
    int kernel = copy_from_user(buf, (uintptr_t)&buf, 8);
    int unmapped = copy_from_user(buf, VA + 0x100000, 8);
    int straddling = copy_from_user(buf, VA + 2 * 4096 - 4, 8);
    int wrapping = copy_from_user(buf, 0x7fffffffff00ull, 0x200);
    int to_readonly = copy_to_user(VA + 4096, "x", 1);
    int to_ok = copy_to_user(VA + 100, "written", 8);
    int clear_bad = clear_user(VA + 4096 - 8, 16);
    long str_ok = strncpy_from_user(buf, VA, sizeof(buf));
    long str_long = strncpy_from_user(buf, VA, 4);
    long str_bad = strncpy_from_user(buf, 8, sizeof(buf));
    long str_kernel = strncpy_from_user(buf, (uintptr_t)&good, sizeof(buf));
    char back[8] = {0};
    int read_back = copy_from_user(back, VA + 100, 8);
    unload_space(&ls);
    KT_EXPECT_EQ(t, good, 0);
    KT_EXPECT_EQ(t, null, -EFAULT);
    KT_EXPECT_EQ(t, kernel, -EFAULT);
    KT_EXPECT_EQ(t, unmapped, -EFAULT);
    KT_EXPECT_EQ(t, straddling, -EFAULT);
    KT_EXPECT_EQ(t, wrapping, -EFAULT);
    KT_EXPECT_EQ(t, to_readonly, -EFAULT);
    KT_EXPECT_EQ(t, to_ok, 0);
    KT_EXPECT_EQ(t, clear_bad, -EFAULT);
    KT_EXPECT_EQ(t, str_ok, 10);
    KT_EXPECT_EQ(t, str_long, 4);
    KT_EXPECT_EQ(t, str_bad, -EFAULT);
    KT_EXPECT_EQ(t, str_kernel, -EFAULT);
    KT_EXPECT_EQ(t, read_back, 0);
    KT_EXPECT_STREQ(t, back, "written");
}

static void user_plain_kernel_access_to_user_memory_faults_under_smap(struct ktest *t)
{
    if (!arch_user_has_smap())
        KT_SKIP(t, "the CPU has no SMAP");
    struct loaded_space ls;
    if (!load_space(t, &ls))
        return;
    struct fault_info fault;
    bool faulted = ktest_catch_fault(mm_read_byte, (void *)VA, &fault);
    unload_space(&ls);
    KT_ASSERT(t, faulted);
    enum fault_access access;
    bool present;
    KT_EXPECT(t, arch_fault_is_page_fault(&fault, &access, &present));
    KT_EXPECT_EQ(t, fault.fault_addr, VA);
    KT_EXPECT(t, present); /* the page is there: SMAP refused it */
}

KTEST_SUITE(user,
            KTEST(user_hello_prints_its_line_and_exits_zero),
            KTEST(user_missing_program_is_enoent),
            KTEST(user_faults_kill_only_the_process_with_the_right_signal),
            KTEST(user_processes_leave_frame_heap_and_table_counts_exact),
            KTEST(user_1000_fork_exit_wait_cycles_restore_counts),
            KTEST(user_100_live_processes_restore_counts),
            KTEST(user_syscall_fuzzer_leaves_counts_exact),
            KTEST(user_ipc_stress_with_pages_and_fds_leaves_counts_exact),
            KTEST(user_ipc_fuzzer_leaves_counts_exact),
            KTEST(user_socket_stress_leaves_counts_exact),
            KTEST(user_socket_fuzzer_leaves_counts_exact),
            KTEST(user_copies_refuse_bad_pointers_with_efault),
            KTEST(user_plain_kernel_access_to_user_memory_faults_under_smap));
