/*
 * bench_peer: the benchmark program `make bench` runs on Linux, and (once Exo runs
 * user programs) on Exo, unmodified: a static binary from musl-gcc that uses only
 * the Linux system-call ABI.
 *
 * Each figure is one line `bench <name> <value> <unit>`, the value with two
 * decimals, the median of PEER_REPETITIONS timed repetitions after one warm-up:
 *   - group `path` (single CPU, run under QEMU -icount shift=0 -smp 1, where the
 *     guest TSC counts guest instructions): per operation, in TSC ticks read with
 *     lfence;rdtsc;lfence before and after the loop;
 *   - group `wall` (needs 2 CPUs): in ns from CLOCK_MONOTONIC, and a ratio.
 *
 * Usage: bench_peer [path|wall|all] [figures=name,name,...] [quick]   (default: all, all)
 *   quick: a hundredth of the iterations, one timed repetition (a check that every
 *   figure can be measured, for the test harness; the values mean little)
 *        bench_peer exit              (exits at once: posix_spawn's child)
 * Other words are ignored: Linux hands init the command-line words it does not know
 * (`nokaslr`, which only its decompressor reads) before those after `--`.
 * As PID 1 (Linux's rdinit=/init) it mounts devtmpfs and sysfs, writes to
 * /dev/ttyS0, prints the CPU vulnerability files, and powers the machine off at the
 * end.
 * A figure whose set-up fails prints `bench <name>: FAILED: <why>` instead, and one
 * the kernel has no facility for (unix_socket_roundtrip without socketpair)
 * `bench <name>: skipped: <why>`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PEER_REPETITIONS 9

/* The futex ABI (linux/futex.h, which musl-gcc's include path does not have). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128

extern char **environ;

static const char *failure; /* set by a benchmark whose set-up failed */

static void fail(const char *why)
{
    if (!failure)
        failure = why;
}

/* A figure this kernel cannot measure (a facility it lacks): reported as
 * skipped, with why, rather than as a failure. */
static const char *skipped;

static void skip(const char *why)
{
    skipped = why;
    fail(why);
}

/* ---- clocks ------------------------------------------------------------------------ */

static inline uint64_t ticks_before(void)
{
    __builtin_ia32_lfence();
    uint64_t t = __builtin_ia32_rdtsc();
    __builtin_ia32_lfence();
    return t;
}

/* Not rdtscp: QEMU's default CPU model (qemu64) lacks it. lfence first waits for
 * the loop's instructions to finish. */
static inline uint64_t ticks_after(void)
{
    __builtin_ia32_lfence();
    uint64_t t = __builtin_ia32_rdtsc();
    __builtin_ia32_lfence();
    return t;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t median(uint64_t *values, int count)
{
    qsort(values, (size_t)count, sizeof(*values), compare_u64);
    return values[count / 2];
}

static void print_figure(const char *name, uint64_t hundredths, const char *unit)
{
    printf("bench %s %llu.%02llu %s\n", name, (unsigned long long)(hundredths / 100),
           (unsigned long long)(hundredths % 100), unit);
}

/* ---- CPUs ---------------------------------------------------------------------------- */

/* Pins the calling thread (or process) to one CPU, or to CPUs 0..count-1. */
static int pin_cpus(int first, int count)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = first; cpu < first + count; cpu++)
        CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

static long futex(uint32_t *word, int op, uint32_t value)
{
    return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, value, NULL, NULL, 0);
}

/* ---- getppid: the null system call ---------------------------------------------------- */

static uint64_t null_syscall(uint64_t iterations)
{
    uint64_t start = ticks_before();
    for (uint64_t i = 0; i < iterations; i++)
        syscall(SYS_getppid);
    return ticks_after() - start;
}

/* ---- two threads on one CPU taking turns --------------------------------------------- */

struct pair {
    uint64_t rounds;
    int cpu[2];      /* where each side runs */
    uint32_t ready;  /* atomic: sides pinned and waiting */
    uint32_t go;     /* atomic: start */
    uint32_t turn;   /* futex: whose turn (0 or 1) */
    uint64_t ns;     /* wall time of side 0's loop */
    void (*side)(struct pair *p, int me);
};

struct side_arg {
    struct pair *pair;
    int me;
};

static void *pair_thread(void *arg)
{
    struct side_arg *s = arg;
    struct pair *p = s->pair;
    if (pin_cpus(p->cpu[s->me], 1) != 0)
        fail("sched_setaffinity failed");
    __atomic_fetch_add(&p->ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&p->go, __ATOMIC_ACQUIRE))
        sched_yield();
    p->side(p, s->me);
    return NULL;
}

/* Runs both sides of a pair in threads and returns the TSC ticks from the start
 * signal to both joined (the joins block the caller: it is off the CPU). */
static uint64_t run_pair(struct pair *p)
{
    pthread_t threads[2];
    struct side_arg args[2] = {{p, 0}, {p, 1}};
    int created = 0;
    for (; created < 2; created++)
        if (pthread_create(&threads[created], NULL, pair_thread, &args[created]) != 0)
            break;
    if (created < 2) {
        fail("pthread_create failed");
        p->rounds = 0;
    }
    while (__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE) < (uint32_t)created)
        sched_yield();
    uint64_t start = ticks_before();
    __atomic_store_n(&p->go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < created; i++)
        pthread_join(threads[i], NULL);
    return ticks_after() - start;
}

static void yield_side(struct pair *p, int me)
{
    (void)me;
    for (uint64_t i = 0; i < p->rounds; i++)
        sched_yield();
}

/* Per switch: 2 * iterations switches. */
static uint64_t yield_switch(uint64_t iterations)
{
    struct pair p = {.rounds = iterations, .cpu = {0, 0}, .side = yield_side};
    return run_pair(&p) / 2;
}

/* Side 0 hands the turn to side 1 and sleeps until it comes back, and so on. */
static void futex_side(struct pair *p, int me)
{
    uint32_t other = (uint32_t)!me;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < p->rounds; i++) {
        while (__atomic_load_n(&p->turn, __ATOMIC_ACQUIRE) != (uint32_t)me)
            futex(&p->turn, FUTEX_WAIT, other);
        __atomic_store_n(&p->turn, other, __ATOMIC_RELEASE);
        futex(&p->turn, FUTEX_WAKE, 1);
    }
    if (me == 0)
        p->ns = now_ns() - start;
}

/* Per round trip (each side runs once). */
static uint64_t futex_pingpong(uint64_t iterations)
{
    struct pair p = {.rounds = iterations, .cpu = {0, 0}, .side = futex_side};
    return run_pair(&p);
}

/* ---- pipe round trip between two processes --------------------------------------------- */

static void pipe_echo(int in, int out, uint64_t rounds)
{
    char byte;
    for (uint64_t i = 0; i < rounds; i++)
        if (read(in, &byte, 1) != 1 || write(out, &byte, 1) != 1)
            _exit(1);
    _exit(0);
}

/* The parent's side of a byte round trip with a child forked to echo (child 0
 * in the child, which pipe_echo never returns from; < 0: fork failed): a byte
 * out through `out`, back through `in`, per round trip. The ticks it took. */
static uint64_t byte_roundtrips(pid_t child, int out, int in, uint64_t iterations,
                                const char *what)
{
    uint64_t start = ticks_before();
    char byte = 'x';
    for (uint64_t i = 0; child > 0 && i < iterations; i++)
        if (write(out, &byte, 1) != 1 || read(in, &byte, 1) != 1) {
            fail(what);
            break;
        }
    uint64_t elapsed = ticks_after() - start;
    if (child < 0)
        fail("fork failed");
    else
        waitpid(child, NULL, 0);
    return elapsed;
}

static uint64_t pipe_roundtrip(uint64_t iterations)
{
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) {
        fail("pipe failed");
        return 0;
    }
    pid_t child = fork();
    if (child == 0)
        pipe_echo(to_child[0], to_parent[1], iterations);
    uint64_t elapsed = byte_roundtrips(child, to_child[1], to_parent[0], iterations,
                                       "pipe read or write failed");
    for (int i = 0; i < 2; i++) {
        close(to_child[i]);
        close(to_parent[i]);
    }
    return elapsed;
}

/* ---- Unix-socket round trip between two processes ---------------------------------------- */

/* The pipe round trip's protocol over one socketpair(AF_UNIX, SOCK_STREAM): a
 * byte each way per round trip, the child echoing on its end. A kernel without
 * Unix sockets skips it, saying why. */
static uint64_t unix_socket_roundtrip(uint64_t iterations)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        skip("socketpair(AF_UNIX, SOCK_STREAM) failed");
        return 0;
    }
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        pipe_echo(sv[1], sv[1], iterations);
    }
    uint64_t elapsed = byte_roundtrips(child, sv[0], sv[0], iterations,
                                       "socket read or write failed");
    close(sv[0]);
    close(sv[1]);
    return elapsed;
}

/* ---- processes and threads created and reaped ------------------------------------------- */

static uint64_t fork_exit_wait(uint64_t iterations)
{
    uint64_t start = ticks_before();
    for (uint64_t i = 0; i < iterations; i++) {
        pid_t child = fork();
        if (child == 0)
            _exit(0);
        if (child < 0) {
            fail("fork failed");
            break;
        }
        waitpid(child, NULL, 0);
    }
    return ticks_after() - start;
}

static const char *self_path;

static uint64_t spawn_wait(uint64_t iterations)
{
    char *argv[] = {(char *)self_path, "exit", NULL};
    uint64_t start = ticks_before();
    for (uint64_t i = 0; i < iterations; i++) {
        pid_t child;
        int status;
        if (posix_spawn(&child, self_path, NULL, NULL, argv, environ) != 0) {
            fail("posix_spawn failed");
            break;
        }
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fail("the spawned program did not exit with 0");
            break;
        }
    }
    return ticks_after() - start;
}

static void *nothing(void *arg)
{
    return arg;
}

static uint64_t thread_create_join(uint64_t iterations)
{
    uint64_t start = ticks_before();
    for (uint64_t i = 0; i < iterations; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0) {
            fail("pthread_create failed");
            break;
        }
        pthread_join(t, NULL);
    }
    return ticks_after() - start;
}

/* ---- wall clock, 2 CPUs ------------------------------------------------------------------ */

/* Per round trip, in ns: a futex ping-pong between threads on CPUs 0 and 1. */
static uint64_t cross_cpu_futex_rtt(uint64_t iterations)
{
    struct pair p = {.rounds = iterations, .cpu = {0, 1}, .side = futex_side};
    run_pair(&p);
    return p.ns;
}

#define SUM_ITEMS (1ull << 24)
#define SUM_LEAF_ITEMS (1ull << 18) /* 64 leaves, 63 threads: as Exo's steal_speedup_2cpu */

struct sum_task {
    uint64_t first, count, result;
};

/* A 64-bit mix of each item (splitmix64's finalizer), summed: Exo's leaf work. */
static uint64_t sum_leaf(uint64_t first, uint64_t count)
{
    uint64_t sum = 0;
    for (uint64_t i = first; i < first + count; i++) {
        uint64_t z = i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        sum += z ^ (z >> 31);
    }
    return sum;
}

/* Halves the range: a new thread takes the lower half, this one the upper. */
static void *sum_task_run(void *arg)
{
    struct sum_task *task = arg;
    if (task->count <= SUM_LEAF_ITEMS) {
        task->result = sum_leaf(task->first, task->count);
        return NULL;
    }
    uint64_t half = task->count / 2;
    struct sum_task lower = {task->first, half, 0};
    struct sum_task upper = {task->first + half, task->count - half, 0};
    pthread_t child;
    bool spawned = pthread_create(&child, NULL, sum_task_run, &lower) == 0;
    if (!spawned) {
        fail("pthread_create failed");
        sum_task_run(&lower);
    }
    sum_task_run(&upper);
    if (spawned)
        pthread_join(child, NULL);
    task->result = lower.result + upper.result;
    return NULL;
}

/* ns for the whole tree on `cpus` CPUs (threads inherit the caller's affinity). */
static uint64_t sum_tree_ns(int cpus, uint64_t *result)
{
    struct sum_task root = {0, SUM_ITEMS, 0};
    if (pin_cpus(0, cpus) != 0)
        fail("sched_setaffinity failed");
    uint64_t start = now_ns();
    sum_task_run(&root);
    uint64_t elapsed = now_ns() - start;
    *result = root.result;
    return elapsed;
}

/* ---- the table ------------------------------------------------------------------------------ */

enum kind { PATH_TICKS, WALL_NS };

struct figure {
    const char *name;
    enum kind kind;
    uint64_t (*run)(uint64_t iterations); /* ticks (PATH_TICKS) or ns (WALL_NS) */
    uint64_t iterations;
};

static const struct figure figures[] = {
    {"getppid", PATH_TICKS, null_syscall, 20000},
    {"sched_yield_switch", PATH_TICKS, yield_switch, 5000},
    {"futex_pingpong", PATH_TICKS, futex_pingpong, 2000},
    {"pipe_roundtrip", PATH_TICKS, pipe_roundtrip, 2000},
    {"unix_socket_roundtrip", PATH_TICKS, unix_socket_roundtrip, 2000},
    {"fork_exit_wait", PATH_TICKS, fork_exit_wait, 50},
    {"posix_spawn_wait", PATH_TICKS, spawn_wait, 50},
    {"thread_create_join", PATH_TICKS, thread_create_join, 200},
    {"cross_cpu_futex_rtt_ns", WALL_NS, cross_cpu_futex_rtt, 2000},
};

static bool quick; /* the `quick` word: fewer iterations, one repetition */

/* Per operation, in hundredths: the median of the repetitions after a warm-up. */
static void measure(const struct figure *f)
{
    uint64_t per_op[PEER_REPETITIONS];
    uint64_t iterations = quick ? (f->iterations + 99) / 100 : f->iterations;
    int repetitions = quick ? 1 : PEER_REPETITIONS;
    f->run(iterations);
    for (int r = 0; r < repetitions && !failure; r++)
        per_op[r] = f->run(iterations) * 100 / iterations;
    if (failure)
        return;
    print_figure(f->name, median(per_op, repetitions),
                 f->kind == PATH_TICKS ? "ticks" : "ns");
}

static void steal_speedup(void)
{
    uint64_t one[5], two[5], expected, result;
    sum_tree_ns(1, &expected);
    for (int r = 0; r < 5 && !failure; r++) {
        one[r] = sum_tree_ns(1, &result);
        if (result != expected)
            fail("the 1-CPU sum differs from the reference");
        two[r] = sum_tree_ns(2, &result);
        if (result != expected)
            fail("the 2-CPU sum differs from the reference");
    }
    pin_cpus(0, 1);
    if (failure)
        return;
    uint64_t one_ns = median(one, 5), two_ns = median(two, 5);
    print_figure("steal_tree_1cpu_ms", one_ns / 10000, "ms");
    print_figure("steal_tree_2cpu_ms", two_ns / 10000, "ms");
    print_figure("steal_speedup_2cpu", one_ns * 100 / two_ns, "x");
}

/* Is `name` in the comma-separated list (NULL: every name is)? */
static bool selected(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t len = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    }
    return false;
}

static void run_group(enum kind kind, const char *names)
{
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
        const struct figure *f = &figures[i];
        if (f->kind != kind || !selected(names, f->name))
            continue;
        failure = skipped = NULL;
        measure(f);
        if (failure)
            printf("bench %s: %s: %s (errno %d)\n", f->name, skipped ? "skipped" : "FAILED",
                   failure, errno);
    }
    if (kind == WALL_NS && selected(names, "steal_speedup_2cpu")) {
        failure = NULL;
        steal_speedup();
        if (failure)
            printf("bench steal_speedup_2cpu: FAILED: %s\n", failure);
    }
}

/* ---- PID 1 ---------------------------------------------------------------------------------- */

static void init_console(void)
{
    mkdir("/dev", 0755);
    mkdir("/sys", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    int fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

static void print_vulnerabilities(void)
{
    static const char dir_path[] = "/sys/devices/system/cpu/vulnerabilities";
    DIR *dir = opendir(dir_path);
    if (!dir)
        return;
    for (struct dirent *e; (e = readdir(dir));) {
        char path[512], text[256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(text, sizeof(text), f)) {
            text[strcspn(text, "\n")] = '\0';
            printf("vulnerability %s: %s\n", e->d_name, text);
        }
        if (f)
            fclose(f);
    }
    closedir(dir);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exit") == 0)
        return 0;
    bool init = getpid() == 1;
    if (init)
        init_console();
    setvbuf(stdout, NULL, _IOLBF, 0);
    self_path = argv[0];
    const char *group = "all", *names = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "path") || !strcmp(argv[i], "wall") || !strcmp(argv[i], "all"))
            group = argv[i];
        else if (!strncmp(argv[i], "figures=", 8))
            names = argv[i] + 8;
        else if (!strcmp(argv[i], "quick"))
            quick = true;
    }
    struct utsname u;
    if (uname(&u) == 0)
        printf("peer: %s %s, %ld CPUs online, group %s, figures %s%s\n", u.sysname,
               u.release, sysconf(_SC_NPROCESSORS_ONLN), group, names ? names : "all",
               quick ? ", quick" : "");
    print_vulnerabilities();
    if (strcmp(group, "path") == 0 || strcmp(group, "all") == 0) {
        if (pin_cpus(0, 1) != 0)
            printf("peer: sched_setaffinity to CPU 0 failed (errno %d)\n", errno);
        run_group(PATH_TICKS, names);
    }
    if (strcmp(group, "wall") == 0 || strcmp(group, "all") == 0)
        run_group(WALL_NS, names);
    printf("peer: done\n");
    if (init) {
        sync();
        reboot(RB_POWER_OFF);
    }
    return 0;
}
