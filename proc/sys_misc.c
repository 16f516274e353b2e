/*
 * The remaining simple system calls: credentials (Exo runs everything as
 * root: uid and gid 0), resource limits, umask, sysinfo, getrusage, sync and
 * reboot.
 */
#include "arch/platform.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "arch/uaccess.h"
#include "lib/errno.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "proc/process.h"
#include "proc/syscall.h"

#define RLIMIT_CPU 0
#define RLIMIT_FSIZE 1
#define RLIMIT_DATA 2
#define RLIMIT_STACK 3
#define RLIMIT_CORE 4
#define RLIMIT_NOFILE 7
#define RLIMIT_MEMLOCK 8
#define RLIMIT_MSGQUEUE 12
#define RLIMIT_NICE 13
#define RLIMIT_RTPRIO 14
#define NOFILE_MAX 4096          /* Linux's default hard limit */
#define MEMLOCK_BYTES (8u << 20) /* Linux's default */
#define MSGQUEUE_BYTES 819200    /* Linux's default */
#define RUSAGE_SELF 0
#define RUSAGE_CHILDREN (-1)
#define RUSAGE_THREAD 1
#define S_IALLUGO 07777

long sys_getresuid(SYSCALL_ARGS)
{
    uint32_t id = 0;
    if (copy_to_user(a0, &id, sizeof(id)) || copy_to_user(a1, &id, sizeof(id)) ||
        copy_to_user(a2, &id, sizeof(id)))
        return -EFAULT;
    return 0;
}

long sys_getresgid(SYSCALL_ARGS)
{
    return sys_getresuid(a0, a1, a2, a3, a4, a5);
}

long sys_umask(SYSCALL_ARGS)
{
    struct process *p = process_current();
    uint32_t old = p->umask;
    p->umask = (uint32_t)a0 & 0777;
    return old;
}

/* ---- resource limits ------------------------------------------------------------ */

void process_limits_init(struct process *p)
{
    for (int i = 0; i < PROCESS_RLIMITS; i++)
        p->rlimits[i] = (struct process_rlimit){RLIMIT_INFINITY, RLIMIT_INFINITY};
    p->rlimits[RLIMIT_STACK].cur = PROCESS_STACK_BYTES;
    p->rlimits[RLIMIT_CORE].cur = 0;
    p->rlimits[RLIMIT_NOFILE] = (struct process_rlimit){PROCESS_MAX_FDS, NOFILE_MAX};
    p->rlimits[RLIMIT_MEMLOCK] = (struct process_rlimit){MEMLOCK_BYTES, MEMLOCK_BYTES};
    p->rlimits[RLIMIT_MSGQUEUE] = (struct process_rlimit){MSGQUEUE_BYTES, MSGQUEUE_BYTES};
    p->rlimits[RLIMIT_NICE] = (struct process_rlimit){0, 0};
    p->rlimits[RLIMIT_RTPRIO] = (struct process_rlimit){0, 0};
    p->umask = 022;
}

struct prlimit_ctx {
    int pid;
    unsigned resource;
    const struct process_rlimit *new_limit; /* NULL: only read */
    struct process_rlimit old;
    int result; /* -ESRCH until the process is found */
};

/* Under process_lock (process_for_each). */
static int prlimit_one(struct process *p, void *arg)
{
    struct prlimit_ctx *c = arg;
    if (p->pid != c->pid)
        return 0;
    c->old = p->rlimits[c->resource];
    c->result = 0;
    if (c->new_limit)
        p->rlimits[c->resource] = *c->new_limit;
    return 1;
}

/* Linux's order: the new limit is read first, then the process, the resource
 * and the limit are checked, then the old one written. */
static long prlimit(int pid, uint64_t resource, uintptr_t user_new, uintptr_t user_old)
{
    struct process_rlimit new_limit;
    if (user_new && copy_from_user(&new_limit, user_new, sizeof(new_limit)))
        return -EFAULT;
    if (resource >= PROCESS_RLIMITS)
        return -EINVAL;
    if (user_new && new_limit.cur > new_limit.max)
        return -EINVAL;
    if (user_new && resource == RLIMIT_NOFILE && new_limit.max > NOFILE_MAX)
        return -EPERM; /* Linux's nr_open */
    struct prlimit_ctx c = {
        .pid = pid ? pid : process_current()->pid,
        .resource = (unsigned)resource,
        .new_limit = user_new ? &new_limit : NULL,
        .result = -ESRCH,
    };
    process_for_each(prlimit_one, &c);
    if (c.result)
        return c.result;
    if (user_old && copy_to_user(user_old, &c.old, sizeof(c.old)))
        return -EFAULT;
    return 0;
}

long sys_prlimit64(SYSCALL_ARGS)
{
    if ((int)a0 < 0)
        return -ESRCH;
    return prlimit((int)a0, a1, a2, a3);
}

long sys_getrlimit(SYSCALL_ARGS)
{
    if (a0 >= PROCESS_RLIMITS)
        return -EINVAL;
    if (!a1)
        return -EFAULT;
    return prlimit(0, a0, 0, a1);
}

long sys_setrlimit(SYSCALL_ARGS)
{
    if (!a1)
        return -EFAULT;
    return prlimit(0, a0, a1, 0);
}

/* ---- sysinfo, getrusage --------------------------------------------------------------- */

struct sysinfo_user {
    int64_t uptime;
    uint64_t loads[3];
    uint64_t totalram, freeram, sharedram, bufferram, totalswap, freeswap;
    uint16_t procs, pad;
    uint32_t pad2;
    uint64_t totalhigh, freehigh;
    uint32_t mem_unit;
    uint32_t pad3;
};
_Static_assert(sizeof(struct sysinfo_user) == 112, "Linux struct sysinfo (x86_64)");

long sys_sysinfo(SYSCALL_ARGS)
{
    struct frame_stats fs;
    frame_get_stats(&fs);
    size_t procs = process_count();
    struct sysinfo_user si = {
        .uptime = (int64_t)(arch_time_ns() / 1000000000u),
        .totalram = fs.total_frames - fs.reserved_frames,
        .freeram = fs.free_frames,
        .procs = (uint16_t)(procs > UINT16_MAX ? UINT16_MAX : procs),
        .mem_unit = VMSPACE_PAGE,
    };
    return copy_to_user(a0, &si, sizeof(si));
}

struct rusage_user {
    int64_t utime_sec, utime_usec, stime_sec, stime_usec;
    int64_t counts[14]; /* maxrss ... nivcsw: not counted by Exo */
};
_Static_assert(sizeof(struct rusage_user) == 144, "Linux struct rusage");

/* The CPU time of the caller (its only thread); Exo does not tell user from
 * system time apart and reports it all as user time. Children's times are not
 * collected yet: RUSAGE_CHILDREN reports zeros. */
long sys_getrusage(SYSCALL_ARGS)
{
    int who = (int)a0;
    if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD)
        return -EINVAL;
    struct rusage_user ru;
    memset(&ru, 0, sizeof(ru));
    if (who != RUSAGE_CHILDREN) {
        struct uthread *ut = uthread_current();
        uint64_t ns = arch_timestamp_to_ns(uthread_cpu_ticks(ut));
        ru.utime_sec = (int64_t)(ns / 1000000000u);
        ru.utime_usec = (int64_t)(ns % 1000000000u / 1000);
    }
    return copy_to_user(a1, &ru, sizeof(ru));
}

/* ---- sync and reboot ------------------------------------------------------------------ */

/* Nothing is ever dirty: the initrd tree is read-only and nothing else is stored. */
long sys_sync(SYSCALL_ARGS)
{
    return 0;
}

#define REBOOT_MAGIC1 0xfee1deadu
#define REBOOT_MAGIC2 672274793u
#define REBOOT_MAGIC2A 85072278u
#define REBOOT_MAGIC2B 369367448u
#define REBOOT_MAGIC2C 537993216u
#define REBOOT_CMD_RESTART 0x01234567u
#define REBOOT_CMD_POWER_OFF 0x4321fedcu
#define REBOOT_CMD_CAD_ON 0x89abcdefu
#define REBOOT_CMD_CAD_OFF 0u

/* reboot(2) with Linux's magic numbers (every process is root here, so every one
 * may). Ctrl-Alt-Del is not wired to anything: CAD_ON and CAD_OFF are accepted
 * and change nothing. A machine Exo cannot power off answers EINVAL. */
long sys_reboot(SYSCALL_ARGS)
{
    uint32_t magic2 = (uint32_t)a1, cmd = (uint32_t)a2;
    if ((uint32_t)a0 != REBOOT_MAGIC1 ||
        (magic2 != REBOOT_MAGIC2 && magic2 != REBOOT_MAGIC2A && magic2 != REBOOT_MAGIC2B &&
         magic2 != REBOOT_MAGIC2C))
        return -EINVAL;
    switch (cmd) {
    case REBOOT_CMD_CAD_ON:
    case REBOOT_CMD_CAD_OFF:
        return 0;
    case REBOOT_CMD_RESTART:
        kprintf("reboot: restarting (reboot(2) from process %d)\n", process_current()->pid);
        arch_reboot();
    case REBOOT_CMD_POWER_OFF:
        kprintf("reboot: powering off (reboot(2) from process %d)\n", process_current()->pid);
        arch_power_off();
        return -EINVAL;
    default:
        return -EINVAL;
    }
}
