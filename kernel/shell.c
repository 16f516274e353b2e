#include "kernel/shell.h"

#include "arch/cpu.h"
#include "arch/platform.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "bench/bench.h"
#include "kernel/boottime.h"
#include "kernel/console.h"
#include "kernel/input.h"
#include "kernel/ktest.h"
#include "lib/line_edit.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/numa.h"
#include "kernel/boot.h"
#include "kernel/tty.h"
#include "proc/process.h"
#include "sched/sync.h"
#include "sched/thread.h"

#define SHELL_STACK_BYTES 65536 /* the test suites run on it */
/* The shell stays on the boot CPU, where the keyboard and serial interrupts
 * arrive; pinned, it also runs the test suites on one known CPU (see cmd_test). */
#define SHELL_CPU 0
#define THREADS_SHOWN_MAX 512 /* `threads` lists at most this many */
#define LOG_CHUNK_BYTES 512   /* `log` prints in pieces: the console lock is held per piece */

struct command {
    const char *name;
    const char *args; /* usage of the arguments, "" for none */
    const char *help;
    void (*run)(const char *args);
};

static const struct command commands[];

/* ---- commands ------------------------------------------------------------------- */

static void cmd_help(const char *args);

static void cmd_mem(const char *args)
{
    (void)args;
    struct frame_stats frames;
    struct heap_stats heap;
    frame_get_stats(&frames);
    heap_get_stats(&heap);
    kprintf("mem total: %lu KiB\n", frames.total_frames * FRAME_SIZE / 1024);
    kprintf("mem free: %lu KiB\n", frames.free_frames * FRAME_SIZE / 1024);
    kprintf("frames: %lu usable, %lu free, %lu reserved at boot (%lu KiB each); RAM ends at "
            "0x%lx\n",
            frames.total_frames, frames.free_frames, frames.reserved_frames, FRAME_SIZE / 1024,
            frames.highest_phys);
    kprintf("heap: %zu arenas, %zu blocks in use, %zu KiB in use\n", heap.arenas,
            heap.blocks_in_use, heap.bytes_in_use / 1024);
    for (unsigned node = 0; frame_get_node_stats(node, &frames); node++)
        kprintf("mem node %u: total %lu KiB, free %lu KiB\n", node,
                frames.total_frames * FRAME_SIZE / 1024, frames.free_frames * FRAME_SIZE / 1024);
}

/* The online CPUs of `node` as a list of ranges ("0-3,8"), or "none". */
static void format_node_cpus(unsigned node, char *out, size_t size)
{
    size_t used = 0;
    unsigned online = arch_cpu_count();
    out[0] = 0;
    for (unsigned cpu = 0; cpu < online; cpu++) {
        if (numa_cpu_node(cpu) != node)
            continue;
        unsigned last = cpu;
        while (last + 1 < online && numa_cpu_node(last + 1) == node)
            last++;
        int n = last == cpu ? ksnprintf(out + used, size - used, "%s%u", used ? "," : "", cpu)
                            : ksnprintf(out + used, size - used, "%s%u-%u", used ? "," : "", cpu,
                                        last);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
        cpu = last;
    }
    if (!used)
        ksnprintf(out, size, "none");
}

static void cmd_numa(const char *args)
{
    (void)args;
    unsigned nodes = numa_node_count();
    static char cpus[512]; /* one shell thread */
    kprintf("numa: %u node%s%s\n", nodes, nodes == 1 ? "" : "s",
            boot_options()->numa ? "" : " (numa=off)");
    for (unsigned node = 0; node < nodes; node++) {
        struct frame_stats frames;
        frame_get_node_stats(node, &frames);
        format_node_cpus(node, cpus, sizeof(cpus));
        kprintf("node %u: cpus %s, mem %lu KiB, free %lu KiB\n", node, cpus,
                frames.total_frames * FRAME_SIZE / 1024, frames.free_frames * FRAME_SIZE / 1024);
    }
    kprintf("node distances:\nnode");
    for (unsigned b = 0; b < nodes; b++)
        kprintf(" %3u", b);
    kprintf("\n");
    for (unsigned a = 0; a < nodes; a++) {
        kprintf("%3u:", a);
        for (unsigned b = 0; b < nodes; b++)
            kprintf(" %3u", numa_distance(a, b));
        kprintf("\n");
    }
}

/* A snapshot of the thread registry, sorted by id; the caller kfrees it. */
static struct thread_info *thread_snapshot(size_t *shown, size_t *total)
{
    struct thread_info *list = kmalloc(THREADS_SHOWN_MAX * sizeof(*list));
    if (!list) {
        kprintf("threads: out of memory\n");
        return NULL;
    }
    *total = sched_list_threads(list, THREADS_SHOWN_MAX);
    *shown = *total < THREADS_SHOWN_MAX ? *total : THREADS_SHOWN_MAX;
    for (size_t i = 1; i < *shown; i++) {
        struct thread_info t = list[i];
        size_t j = i;
        for (; j > 0 && list[j - 1].id > t.id; j--)
            list[j] = list[j - 1];
        list[j] = t;
    }
    return list;
}

static void cmd_cpus(const char *args)
{
    (void)args;
    size_t shown, total;
    struct thread_info *threads = thread_snapshot(&shown, &total);
    unsigned online = arch_cpu_count();
    for (unsigned cpu = 0; cpu < online; cpu++) {
        size_t on_cpu = 0;
        for (size_t i = 0; threads && i < shown; i++)
            on_cpu += threads[i].cpu == cpu;
        kprintf("cpu %u: online%s, %zu threads last ran here\n", cpu, cpu == 0 ? " (boot CPU)" : "",
                on_cpu);
    }
    kfree(threads);
    kprintf("cpus online: %u\n", online);
}

static void cmd_threads(const char *args)
{
    (void)args;
    size_t shown, total;
    struct thread_info *threads = thread_snapshot(&shown, &total);
    if (!threads)
        return;
    kprintf("%6s  %-9s %4s %4s  %s\n", "id", "state", "cpu", "pin", "name");
    for (size_t i = 0; i < shown; i++) {
        const struct thread_info *t = &threads[i];
        char pin[8] = "-";
        if (t->affinity >= 0)
            ksnprintf(pin, sizeof(pin), "%d", t->affinity);
        kprintf("%6u  %-9s %4u %4s  %s\n", t->id, thread_state_name(t->state), t->cpu, pin,
                t->name);
    }
    if (total > shown)
        kprintf("... and %zu more\n", total - shown);
    kprintf("threads: %zu\n", total);
    kfree(threads);
}

static void cmd_uptime(const char *args)
{
    (void)args;
    uint64_t ns = arch_time_ns();
    uint64_t s = ns / 1000000000;
    kprintf("up %lu.%03lu s (%lu h %lu min %lu s), %lu ticks on this CPU\n", s,
            ns % 1000000000 / 1000000, s / 3600, s / 60 % 60, s % 60, sched_ticks());
}

static void cmd_log(const char *args)
{
    (void)args;
    char *log = kmalloc(CONSOLE_LOG_BYTES + 1);
    if (!log) {
        kprintf("log: out of memory\n");
        return;
    }
    size_t len = console_log_read(log, CONSOLE_LOG_BYTES + 1);
    for (size_t done = 0; done < len; done += LOG_CHUNK_BYTES)
        console_write(log + done, len - done < LOG_CHUNK_BYTES ? len - done : LOG_CHUNK_BYTES);
    if (len && log[len - 1] != '\n')
        kprintf("\n");
    kfree(log);
    boottime_print();
}

static void cmd_echo(const char *args)
{
    kprintf("%s\n", args);
}

/*
 * The memory suites count the free frames and expect to allocate every one of them.
 * Frames freed on other CPUs since boot wait in those CPUs' caches, out of this
 * CPU's reach (include/mm/frame.h), so before a run a drainer pinned to each other
 * CPU gives its cache back, then waits until the run is over: its own stack, freed
 * when it exits, must not land in a cache before that.
 */
struct drainers {
    struct semaphore drained; /* one up per drainer once its CPU's cache is empty */
    struct semaphore release; /* one up per drainer when the tests are over */
    struct thread *threads[ARCH_MAX_CPUS];
    unsigned count;
};

static void drain_then_wait(void *arg)
{
    struct drainers *d = arg;
    frame_drain_cache();
    semaphore_up(&d->drained);
    semaphore_down(&d->release);
}

static void drainers_start(struct drainers *d)
{
    semaphore_init(&d->drained, 0, "drained");
    semaphore_init(&d->release, 0, "release");
    d->count = 0;
    for (unsigned cpu = 0; cpu < arch_cpu_count(); cpu++) {
        if (cpu == SHELL_CPU)
            continue;
        struct thread *t = thread_spawn(drain_then_wait, d, "drain", (int)cpu);
        if (!t) {
            kprintf("test: no memory to empty CPU %u's frame cache; memory suites may fail\n", cpu);
            continue;
        }
        d->threads[d->count++] = t;
    }
    frame_drain_cache(); /* this CPU's own */
    for (unsigned i = 0; i < d->count; i++)
        semaphore_down(&d->drained);
}

static void drainers_finish(struct drainers *d)
{
    for (unsigned i = 0; i < d->count; i++)
        semaphore_up(&d->release);
    for (unsigned i = 0; i < d->count; i++)
        thread_join(d->threads[i]);
}

static void cmd_test(const char *args)
{
    static struct drainers drainers; /* one shell thread: see the header */
    struct ktest_totals totals;
    drainers_start(&drainers);
    bool passed = ktest_run(args[0] ? args : "*", arch_read_timestamp(), &totals);
    drainers_finish(&drainers);
    kprintf("test: %s\n", passed ? "passed" : "FAILED");
}

static void cmd_bench(const char *args)
{
    bench_run(args[0] ? args : "*");
}

static void cmd_reboot(const char *args)
{
    (void)args;
    kprintf("reboot: restarting the machine\n");
    arch_reboot();
}

static void cmd_shutdown(const char *args)
{
    (void)args;
    kprintf("shutdown: powering off\n");
    if (!arch_power_off())
        kprintf("shutdown: this machine cannot be powered off by Exo; it is safe to switch "
                "it off now, or type reboot\n");
}

#define RUN_MAX_ARGS 16
#define PROCESSES_SHOWN_MAX 64

/* Splits args into words in place (spaces separate); returns how many. */
static void cmd_run(const char *args)
{
    static char line[LINE_EDIT_MAX + 1];
    const char *argv[RUN_MAX_ARGS + 1];
    strlcpy(line, args, sizeof(line));
    int words = split_args(line, argv, RUN_MAX_ARGS);
    if (words < 0) {
        kprintf("run: a quote is not closed\n");
        return;
    }
    if (words > RUN_MAX_ARGS) {
        kprintf("run: at most %d arguments\n", RUN_MAX_ARGS - 1);
        return;
    }
    size_t argc = (size_t)words;
    if (argc == 0) {
        kprintf("run: which program? (run <path> [args])\n");
        return;
    }
    argv[argc] = NULL;
    static const char *const envp[] = {"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/",
                                       "TERM=vt100", NULL};
    int error;
    struct process *p = process_spawn(argv[0], argv, envp, NULL, &error);
    if (!p) {
        kprintf("run: %s: cannot start it (error %d)\n", argv[0], error);
        return;
    }
    char name[PROCESS_NAME_BYTES];
    strlcpy(name, p->name, sizeof(name));
    tty_set_foreground(p->pid); /* Ctrl-C goes to it */
    int status = process_wait(p);
    tty_set_foreground(0);
    if (PROCESS_EXITED(status))
        kprintf("exo: %s exited with status %d\n", name, PROCESS_EXIT_CODE(status));
    else
        kprintf("exo: %s killed by %s\n", name, signal_name(PROCESS_SIGNAL(status)));
}

static void cmd_ps(const char *args)
{
    (void)args;
    static struct process_info list[PROCESSES_SHOWN_MAX];
    size_t total = process_list(list, PROCESSES_SHOWN_MAX);
    size_t shown = total < PROCESSES_SHOWN_MAX ? total : PROCESSES_SHOWN_MAX;
    kprintf("%6s %6s  %-7s %8s %4s  %s\n", "pid", "ppid", "state", "rss KiB", "cpu", "name");
    for (size_t i = 0; i < shown; i++) {
        const struct process_info *p = &list[i];
        kprintf("%6d %6d  %-7s %8zu %4u  %s (thread %u)\n", p->pid, p->parent_pid,
                p->state == PROCESS_ZOMBIE ? "zombie" : "running", p->resident_pages * 4,
                p->cpu, p->name, p->tid);
    }
    kprintf("processes: %zu\n", total);
}

static void cmd_kill(const char *args)
{
    unsigned long long pid;
    if (!parse_u64(args, strlen(args), &pid) || pid == 0 || pid > 0x7fffffff) {
        kprintf("kill: which process? (kill <pid>)\n");
        return;
    }
    if (process_kill((int)pid, 9) != 0)
        kprintf("kill: no process %llu\n", pid);
}

static const struct command commands[] = {
    {"help", "", "list the commands", cmd_help},
    {"mem", "", "memory: total, free, frames, heap", cmd_mem},
    {"cpus", "", "the CPUs online", cmd_cpus},
    {"numa", "", "NUMA nodes: their CPUs, memory and distances", cmd_numa},
    {"threads", "", "every thread: id, state, CPU, name", cmd_threads},
    {"uptime", "", "time since the clocks started", cmd_uptime},
    {"log", "", "the kernel log since boot, and the boot phases' times", cmd_log},
    {"echo", "[text]", "print the text", cmd_echo},
    {"run", "<path> [args]", "run a program from the initrd and wait for it", cmd_run},
    {"ps", "", "the processes: pid, parent, state, memory, name", cmd_ps},
    {"kill", "<pid>", "end a process (SIGKILL)", cmd_kill},
    {"test", "[glob]", "run the in-kernel test suites (KTAP)", cmd_test},
    {"bench", "[glob]", "run the benchmarks", cmd_bench},
    {"reboot", "", "restart the machine", cmd_reboot},
    {"shutdown", "", "power the machine off (ACPI)", cmd_shutdown},
    {NULL, NULL, NULL, NULL},
};

static void cmd_help(const char *args)
{
    (void)args;
    kprintf("commands:\n");
    for (const struct command *c = commands; c->name; c++) {
        char usage[32];
        ksnprintf(usage, sizeof(usage), "%s %s", c->name, c->args);
        kprintf("  %-16s %s\n", usage, c->help);
    }
    kprintf("keys: left/right, home/end, backspace/delete edit; up/down walk the history; "
            "ctrl-u clears, ctrl-c abandons the line\n");
}

/* ---- the loop ---------------------------------------------------------------------- */

/* Runs one entered line: a command word, then its arguments. */
static void run_line(char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (!*line)
        return;
    char *args = line;
    while (*args && *args != ' ' && *args != '\t')
        args++;
    if (*args)
        *args++ = 0;
    while (*args == ' ' || *args == '\t')
        args++;
    size_t args_len = strlen(args);
    while (args_len && (args[args_len - 1] == ' ' || args[args_len - 1] == '\t'))
        args[--args_len] = 0;
    for (const struct command *c = commands; c->name; c++) {
        if (strcmp(c->name, line) == 0) {
            c->run(args);
            return;
        }
    }
    kprintf("exo: unknown command '%s' (type help)\n", line);
}

static void echo_to_console(void *ctx, const char *chars, size_t len)
{
    (void)ctx;
    console_write(chars, len);
}

static void shell_main(void *arg)
{
    (void)arg;
    static struct line_editor editor; /* one shell thread: see the header */
    static char line[LINE_EDIT_MAX + 1];
    line_edit_init(&editor, echo_to_console, NULL);
    boottime_mark("shell");
    /* One reading for both lines; the prompt must follow the `ready` line. */
    uint64_t cycles = boottime_since_entry_cycles();
    kprintf("boot: shell ready after %lu TSC ticks\n", cycles);
    kprintf("boot: shell ready in %lu us\n", boottime_cycles_to_us(cycles));
    kprintf("%s", SHELL_PROMPT);
    for (;;) {
        char typed[64];
        size_t n = input_read(typed, sizeof(typed));
        for (size_t i = 0; i < n; i++) {
            const char *entered = line_edit_feed(&editor, typed[i]);
            if (!entered)
                continue;
            strlcpy(line, entered, sizeof(line));
            run_line(line);
            kprintf("%s", SHELL_PROMPT);
        }
    }
}

struct thread *shell_start(void)
{
    return thread_spawn_stack(shell_main, NULL, "shell", SHELL_CPU, SHELL_STACK_BYTES);
}
