/*
 * The system-call table: Linux x86_64 numbers (arch/x86/entry/syscalls/
 * syscall_64.tbl) to Exo's handlers, one line per call. A number with no line
 * here, or beyond the table, returns -ENOSYS and is logged once.
 * Exo-only calls take numbers Linux does not use (600 up: past x32's 512..547),
 * named in include/uapi/.
 */
#include "lib/errno.h"
#include "lib/printf.h"
#include "proc/process.h"
#include "proc/syscall.h"
#include "uapi/exo_ipc.h"

#define SYSCALL_TABLE_SIZE 608

static long sys_unimplemented(SYSCALL_ARGS);

/* Every slot starts as sys_unimplemented and the lines below override theirs. */
#pragma GCC diagnostic push
#ifdef __clang__
#pragma GCC diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif
const arch_syscall_fn syscall_table_entries[SYSCALL_TABLE_SIZE] = {
    [0 ... SYSCALL_TABLE_SIZE - 1] = sys_unimplemented,
    [0] = sys_read,
    [1] = sys_write,
    [2] = sys_open,
    [3] = sys_close,
    [4] = sys_stat,
    [5] = sys_fstat,
    [6] = sys_lstat,
    [7] = sys_poll,
    [8] = sys_lseek,
    [9] = sys_mmap,
    [10] = sys_mprotect,
    [11] = sys_munmap,
    [12] = sys_brk,
    [13] = sys_rt_sigaction,
    [14] = sys_rt_sigprocmask,
    [15] = sys_rt_sigreturn,
    [16] = sys_ioctl,
    [17] = sys_pread64,
    [18] = sys_pwrite64,
    [19] = sys_readv,
    [20] = sys_writev,
    [21] = sys_access,
    [22] = sys_pipe,
    [23] = sys_select,
    [24] = sys_sched_yield,
    [28] = sys_madvise,
    [32] = sys_dup,
    [33] = sys_dup2,
    [34] = sys_pause,
    [35] = sys_nanosleep,
    [39] = sys_getpid,
    [40] = sys_sendfile,
    [41] = sys_socket,
    [42] = sys_connect,
    [43] = sys_accept,
    [44] = sys_sendto,
    [45] = sys_recvfrom,
    [46] = sys_sendmsg,
    [47] = sys_recvmsg,
    [48] = sys_shutdown,
    [49] = sys_bind,
    [50] = sys_listen,
    [51] = sys_getsockname,
    [52] = sys_getpeername,
    [53] = sys_socketpair,
    [54] = sys_setsockopt,
    [55] = sys_getsockopt,
    [56] = sys_clone,
    [57] = sys_fork,
    [58] = sys_vfork,
    [59] = sys_execve,
    [60] = sys_exit,
    [61] = sys_wait4,
    [62] = sys_kill,
    [63] = sys_uname,
    [72] = sys_fcntl,
    [76] = sys_truncate,
    [77] = sys_ftruncate,
    [79] = sys_getcwd,
    [80] = sys_chdir,
    [81] = sys_fchdir,
    [82] = sys_rename,
    [83] = sys_mkdir,
    [84] = sys_rmdir,
    [85] = sys_creat,
    [86] = sys_link,
    [87] = sys_unlink,
    [88] = sys_symlink,
    [89] = sys_readlink,
    [90] = sys_chmod,
    [91] = sys_fchmod,
    [92] = sys_chown,
    [93] = sys_fchown,
    [94] = sys_lchown,
    [95] = sys_umask,
    [96] = sys_gettimeofday,
    [97] = sys_getrlimit,
    [98] = sys_getrusage,
    [99] = sys_sysinfo,
    [102] = sys_getuid,
    [104] = sys_getgid,
    [107] = sys_geteuid,
    [108] = sys_getegid,
    [109] = sys_setpgid,
    [110] = sys_getppid,
    [111] = sys_getpgrp,
    [112] = sys_setsid,
    [118] = sys_getresuid,
    [120] = sys_getresgid,
    [121] = sys_getpgid,
    [124] = sys_getsid,
    [127] = sys_rt_sigpending,
    [130] = sys_rt_sigsuspend,
    [131] = sys_sigaltstack,
    [133] = sys_mknod,
    [158] = sys_arch_prctl,
    [160] = sys_setrlimit,
    [162] = sys_sync,
    [169] = sys_reboot,
    [186] = sys_gettid,
    [200] = sys_tkill,
    [201] = sys_time,
    [202] = sys_futex,
    [203] = sys_sched_setaffinity,
    [204] = sys_sched_getaffinity,
    [217] = sys_getdents64,
    [218] = sys_set_tid_address,
    [228] = sys_clock_gettime,
    [229] = sys_clock_getres,
    [230] = sys_clock_nanosleep,
    [231] = sys_exit_group,
    [234] = sys_tgkill,
    [247] = sys_waitid,
    [257] = sys_openat,
    [258] = sys_mkdirat,
    [259] = sys_mknodat,
    [260] = sys_fchownat,
    [262] = sys_newfstatat,
    [263] = sys_unlinkat,
    [264] = sys_renameat,
    [265] = sys_linkat,
    [266] = sys_symlinkat,
    [267] = sys_readlinkat,
    [268] = sys_fchmodat,
    [269] = sys_faccessat,
    [270] = sys_pselect6,
    [271] = sys_ppoll,
    [273] = sys_set_robust_list,
    [280] = sys_utimensat,
    [288] = sys_accept4,
    [292] = sys_dup3,
    [293] = sys_pipe2,
    [302] = sys_prlimit64,
    [316] = sys_renameat2,
    [318] = sys_getrandom,
    [439] = sys_faccessat2,
    [EXO_SYS_ipc_endpoint] = sys_ipc_endpoint,
    [EXO_SYS_ipc_client] = sys_ipc_client,
    [EXO_SYS_ipc_call] = sys_ipc_call,
    [EXO_SYS_ipc_send] = sys_ipc_send,
    [EXO_SYS_ipc_recv] = sys_ipc_recv,
    [EXO_SYS_ipc_reply_recv] = sys_ipc_reply_recv,
};
#pragma GCC diagnostic pop
const size_t syscall_table_size = SYSCALL_TABLE_SIZE;

/* Numbers already reported (atomic bits); past the bitmap, one line for all. */
#define LOGGED_NUMBERS 4096
static uint64_t logged[LOGGED_NUMBERS / 64];
static int logged_beyond;

long syscall_unknown_number(uint64_t number)
{
    bool first;
    if (number < LOGGED_NUMBERS) {
        uint64_t bit = 1ull << (number % 64);
        first = !(__atomic_fetch_or(&logged[number / 64], bit, __ATOMIC_RELAXED) & bit);
    } else {
        first = !__atomic_exchange_n(&logged_beyond, 1, __ATOMIC_RELAXED);
    }
    if (first) {
        struct process *p = process_current();
        kprintf("exo: system call %lu is not implemented (ENOSYS), first called by process %d (%s)%s\n",
                number, p ? p->pid : 0, p ? p->name : "?",
                number >= LOGGED_NUMBERS ? "; larger numbers are not logged again" : "");
    }
    return -ENOSYS;
}

static long sys_unimplemented(SYSCALL_ARGS)
{
    return syscall_unknown_number(arch_regs_syscall_number(arch_user_regs(thread_current()->stack.top)));
}
