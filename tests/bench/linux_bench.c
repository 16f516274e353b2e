/*
 * The host Linux doing the work Exo's benchmarks do, on the same machine, so that
 * tests/bench/run.py can print each pair side by side. Prints lines in the
 * kernel's format,
 *     linux <name> <value> <unit>
 * each the median of REPETITIONS timed runs after one warm-up run, timed with
 * clock_gettime(CLOCK_MONOTONIC).
 *
 * The peers (the Exo figure each stands beside):
 *   ctx_switch_ns          sched_yield ping-pong of two threads pinned to one CPU,
 *                          per switch
 *   cross_cpu_wake_rtt_ns  futex ping-pong of two threads pinned to CPUs 0 and 1,
 *                          per round trip (each side sleeps in FUTEX_WAIT)
 *   spawn_join_ns          pthread_create + pthread_join of a thread doing nothing
 *   frame_alloc_free_ns    mmap of one anonymous page, a write that faults a frame
 *                          in, munmap: the closest thing a process has to taking
 *                          a physical frame and giving it back
 *   kmalloc_free_64_ns     malloc + free of 64 bytes (glibc)
 *   kmalloc_free_4096_ns   malloc + free of 4096 bytes (glibc)
 *   null_syscall_ns        syscall(SYS_getppid), which does no work in the kernel
 *
 * Usage: linux_bench [name-substring]   (all when none)
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define REPETITIONS 9

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin_to_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        fprintf(stderr, "linux_bench: cannot pin a thread to CPU %d\n", cpu);
        exit(1);
    }
}

/* Keeps the compiler from removing an allocation whose result is unused. */
static void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* ---- the operations; each returns elapsed ns for `iterations` of it ------------- */

struct yielder {
    uint64_t rounds;
    int cpu;
};

static void *yield_rounds(void *arg)
{
    struct yielder *y = arg;
    pin_to_cpu(y->cpu);
    for (uint64_t i = 0; i < y->rounds; i++)
        sched_yield();
    return NULL;
}

/* Two threads on one CPU: 2 * iterations switches; returns the time per
 * iteration-pair scaled so that dividing by iterations gives one switch. */
static uint64_t ctx_switch(uint64_t iterations)
{
    struct yielder y = {iterations, 0};
    pthread_t a, b;
    uint64_t start = now_ns();
    pthread_create(&a, NULL, yield_rounds, &y);
    pthread_create(&b, NULL, yield_rounds, &y);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return (now_ns() - start) / 2;
}

struct futex_pair {
    _Atomic uint32_t turn; /* 0: ping's turn, 1: pong's */
    uint64_t rounds;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t value)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Waits until the turn is `mine`, then hands it to the other side. */
static void take_turn(struct futex_pair *p, uint32_t mine)
{
    while (p->turn != mine)
        futex_wait(&p->turn, !mine);
    p->turn = !mine;
    futex_wake(&p->turn);
}

static void *pong(void *arg)
{
    struct futex_pair *p = arg;
    pin_to_cpu(1);
    for (uint64_t i = 0; i < p->rounds; i++)
        take_turn(p, 1);
    return NULL;
}

struct ping_result {
    struct futex_pair *pair;
    uint64_t elapsed_ns;
};

static void *ping(void *arg)
{
    struct ping_result *r = arg;
    struct futex_pair *p = r->pair;
    pin_to_cpu(0);
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < p->rounds; i++)
        take_turn(p, 0);
    while (p->turn != 0) /* the last round trip ends when pong hands back */
        futex_wait(&p->turn, 1);
    r->elapsed_ns = now_ns() - start;
    return NULL;
}

static uint64_t cross_cpu_wake_rtt(uint64_t iterations)
{
    struct futex_pair p = {0, iterations};
    struct ping_result r = {&p, 0};
    pthread_t a, b;
    pthread_create(&b, NULL, pong, &p);
    pthread_create(&a, NULL, ping, &r);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return r.elapsed_ns;
}

static void *nothing(void *arg)
{
    return arg;
}

static uint64_t spawn_join(uint64_t iterations)
{
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0) {
            fprintf(stderr, "linux_bench: pthread_create failed\n");
            exit(1);
        }
        pthread_join(t, NULL);
    }
    return now_ns() - start;
}

static uint64_t page_map_touch_unmap(uint64_t iterations)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "linux_bench: mmap failed\n");
            exit(1);
        }
        *(volatile char *)p = 1;
        munmap(p, (size_t)page);
    }
    return now_ns() - start;
}

static uint64_t malloc_free(uint64_t iterations, size_t size)
{
    void *neighbour = malloc(size); /* as in the kernel's benchmark: a heap in use */
    escape(neighbour);
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        void *p = malloc(size);
        escape(p);
        free(p);
    }
    uint64_t elapsed = now_ns() - start;
    free(neighbour);
    return elapsed;
}

static uint64_t malloc_free_64(uint64_t iterations)
{
    return malloc_free(iterations, 64);
}

static uint64_t malloc_free_4096(uint64_t iterations)
{
    return malloc_free(iterations, 4096);
}

static uint64_t null_syscall(uint64_t iterations)
{
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < iterations; i++)
        syscall(SYS_getppid);
    return now_ns() - start;
}

/* ---- the table --------------------------------------------------------------------- */

struct linux_bench {
    const char *name; /* the Exo figure it stands beside */
    uint64_t (*run)(uint64_t iterations);
    uint64_t iterations;
};

static const struct linux_bench benches[] = {
    {"ctx_switch_ns", ctx_switch, 20000},
    {"cross_cpu_wake_rtt_ns", cross_cpu_wake_rtt, 2000},
    {"spawn_join_ns", spawn_join, 2000},
    {"frame_alloc_free_ns", page_map_touch_unmap, 5000},
    {"kmalloc_free_64_ns", malloc_free_64, 1000000},
    {"kmalloc_free_4096_ns", malloc_free_4096, 1000000},
    {"null_syscall_ns", null_syscall, 200000},
};

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nanoseconds per operation, in hundredths: the median of the repetitions. */
static uint64_t measure(const struct linux_bench *b)
{
    uint64_t per_op[REPETITIONS];
    b->run(b->iterations); /* warm-up */
    for (int r = 0; r < REPETITIONS; r++)
        per_op[r] = b->run(b->iterations) * 100 / b->iterations;
    qsort(per_op, REPETITIONS, sizeof(per_op[0]), compare_u64);
    return per_op[REPETITIONS / 2];
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : "";
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "linux_bench: needs 2 CPUs (the pinned benchmarks use CPUs 0 and 1)\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        if (!strstr(benches[i].name, filter))
            continue;
        uint64_t hundredths = measure(&benches[i]);
        printf("linux %s %lu.%02lu ns\n", benches[i].name, (unsigned long)(hundredths / 100),
               (unsigned long)(hundredths % 100));
        fflush(stdout);
    }
    return 0;
}
