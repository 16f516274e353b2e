/*
 * What sched.c lends the scheduler's policy file (sched/fair.c), and nothing else:
 * private to sched/. Each may be called with interrupts off, from the tick.
 */
#ifndef EXO_SCHED_INTERNAL_H
#define EXO_SCHED_INTERNAL_H

#include "sched/runqueue.h"

/* CPUs with a scheduler, as a snapshot (only grows). */
unsigned sched_cpus_online(void);
/* The run queue of `cpu`. */
struct run_queue *sched_cpu_run_queue(unsigned cpu);

#endif
