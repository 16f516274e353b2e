/*
 * Time system calls with Linux semantics: clock_gettime, clock_getres,
 * gettimeofday, time, nanosleep, clock_nanosleep.
 *
 * Clocks. The monotonic family (MONOTONIC, MONOTONIC_RAW, _COARSE, BOOTTIME:
 * Exo never suspends) is arch_time_ns, nanoseconds since boot. The realtime
 * family (REALTIME, _COARSE, TAI: Exo keeps no leap seconds) adds the wall
 * clock read once from the machine's battery clock (arch_wall_clock_seconds).
 * The CPU-time clocks count the time a thread spent on a CPU (the switch hook
 * accounts it), a process's being its threads' sum.
 *
 * Sleeps never end early; a signal ends them with -EINTR and the time left
 * (signal_sleep_ns), and they are not restarted, as on Linux with a handler.
 */
#include "arch/time.h"
#include "arch/uaccess.h"
#include "lib/errno.h"
#include "proc/process.h"
#include "proc/signal.h"
#include "proc/syscall.h"

#define NS_PER_SEC 1000000000ull
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_PROCESS_CPUTIME_ID 2
#define CLOCK_THREAD_CPUTIME_ID 3
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11
#define TIMER_ABSTIME 1
#define COARSE_RESOLUTION_NS SCHED_TICK_NS

struct timespec_user {
    int64_t sec, nsec;
};

enum clock_kind { CLOCK_KIND_NONE, CLOCK_KIND_MONOTONIC, CLOCK_KIND_REALTIME, CLOCK_KIND_THREAD_CPU,
                  CLOCK_KIND_PROCESS_CPU };

static enum clock_kind clock_kind(uint64_t id)
{
    switch (id) {
    case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW: case CLOCK_MONOTONIC_COARSE: case CLOCK_BOOTTIME:
        return CLOCK_KIND_MONOTONIC;
    case CLOCK_REALTIME: case CLOCK_REALTIME_COARSE: case CLOCK_TAI:
        return CLOCK_KIND_REALTIME;
    case CLOCK_THREAD_CPUTIME_ID:
        return CLOCK_KIND_THREAD_CPU;
    case CLOCK_PROCESS_CPUTIME_ID:
        return CLOCK_KIND_PROCESS_CPU;
    default:
        return CLOCK_KIND_NONE; /* the alarm clocks, SGI_CYCLE, other processes' CPU clocks */
    }
}

/* The wall clock's nanoseconds at arch_time_ns() == 0, read once. */
static uint64_t realtime_offset_ns(void)
{
    static uint64_t offset;      /* (A) */
    static int state;            /* (A) 0 unread, 1 reading, 2 read */
    int expected = 0;
    if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == 2)
        return offset;
    if (__atomic_compare_exchange_n(&state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        uint64_t wall_ns = arch_wall_clock_seconds() * NS_PER_SEC, now = arch_time_ns();
        offset = wall_ns > now ? wall_ns - now : 0;
        __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
    }
    while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2)
        thread_yield();
    return offset;
}

static uint64_t realtime_ns(void)
{
    return realtime_offset_ns() + arch_time_ns();
}

static uint64_t thread_cpu_ns(const struct uthread *ut)
{
    /* it runs: the caller */
    return arch_timestamp_to_ns(uthread_cpu_ticks(ut));
}

static uint64_t clock_now_ns(enum clock_kind kind)
{
    switch (kind) {
    case CLOCK_KIND_REALTIME:
        return realtime_ns();
    case CLOCK_KIND_THREAD_CPU:
    case CLOCK_KIND_PROCESS_CPU: /* one thread per process for now */
        return thread_cpu_ns(uthread_current());
    default:
        return arch_time_ns();
    }
}

static struct timespec_user to_timespec(uint64_t ns)
{
    return (struct timespec_user){(int64_t)(ns / NS_PER_SEC), (int64_t)(ns % NS_PER_SEC)};
}

long sys_clock_gettime(SYSCALL_ARGS)
{
    enum clock_kind kind = clock_kind(a0);
    if (kind == CLOCK_KIND_NONE)
        return -EINVAL;
    struct timespec_user ts = to_timespec(clock_now_ns(kind));
    return copy_to_user(a1, &ts, sizeof(ts));
}

long sys_clock_getres(SYSCALL_ARGS)
{
    if (clock_kind(a0) == CLOCK_KIND_NONE)
        return -EINVAL;
    bool coarse = a0 == CLOCK_REALTIME_COARSE || a0 == CLOCK_MONOTONIC_COARSE;
    struct timespec_user res = {0, coarse ? (int64_t)COARSE_RESOLUTION_NS : 1};
    return a1 ? copy_to_user(a1, &res, sizeof(res)) : 0;
}

long sys_gettimeofday(SYSCALL_ARGS)
{
    uint64_t ns = realtime_ns();
    struct timespec_user tv = {(int64_t)(ns / NS_PER_SEC), (int64_t)(ns % NS_PER_SEC / 1000)};
    int32_t timezone[2] = {0, 0}; /* UTC, no DST */
    if (a0 && copy_to_user(a0, &tv, sizeof(tv)))
        return -EFAULT;
    if (a1 && copy_to_user(a1, timezone, sizeof(timezone)))
        return -EFAULT;
    return 0;
}

long sys_time(SYSCALL_ARGS)
{
    int64_t sec = (int64_t)(realtime_ns() / NS_PER_SEC);
    if (a0 && copy_to_user(a0, &sec, sizeof(sec)))
        return -EFAULT;
    return sec;
}

/* A sleep's request: -EFAULT, -EINVAL, or 0 and the nanoseconds. */
static int read_request(uintptr_t user_ts, uint64_t *ns)
{
    struct timespec_user ts;
    if (copy_from_user(&ts, user_ts, sizeof(ts)))
        return -EFAULT;
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= (int64_t)NS_PER_SEC)
        return -EINVAL;
    uint64_t max_sec = UINT64_MAX / NS_PER_SEC - 1;
    *ns = (uint64_t)ts.sec > max_sec ? UINT64_MAX / 2 : (uint64_t)ts.sec * NS_PER_SEC + (uint64_t)ts.nsec;
    return 0;
}

/* Sleeps ns; on a signal, writes the time left to user_rem (if any). */
static long sleep_relative(uint64_t ns, uintptr_t user_rem)
{
    uint64_t left = signal_sleep_ns(ns);
    if (!left)
        return 0;
    struct timespec_user rem = to_timespec(left);
    if (user_rem && copy_to_user(user_rem, &rem, sizeof(rem)))
        return -EFAULT;
    return -EINTR;
}

long sys_nanosleep(SYSCALL_ARGS)
{
    uint64_t ns;
    int error = read_request(a0, &ns);
    return error ? error : sleep_relative(ns, a1);
}

long sys_clock_nanosleep(SYSCALL_ARGS)
{
    enum clock_kind kind = clock_kind(a0);
    if (kind == CLOCK_KIND_NONE)
        return -EINVAL;
    /* Linux sleeps on neither a thread's CPU clock nor the raw and coarse
     * clocks; Exo neither on a process's (it would wait for CPU time that a
     * sleeping single-threaded process never uses). */
    if (kind == CLOCK_KIND_THREAD_CPU || kind == CLOCK_KIND_PROCESS_CPU ||
        a0 == CLOCK_MONOTONIC_RAW || a0 == CLOCK_REALTIME_COARSE || a0 == CLOCK_MONOTONIC_COARSE)
        return -EOPNOTSUPP;
    uint64_t ns;
    int error = read_request(a2, &ns);
    if (error)
        return error;
    if (!(a1 & TIMER_ABSTIME))
        return sleep_relative(ns, a3);
    uint64_t now = clock_now_ns(kind);
    if (ns <= now)
        return 0;
    return signal_sleep_ns(ns - now) ? -EINTR : 0; /* an absolute sleep reports no rest */
}
