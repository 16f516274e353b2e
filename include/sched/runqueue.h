/*
 * runqueue: one CPU's queue of runnable threads, from which other CPUs may steal.
 *
 * Design: each queue has its own spinlock and keeps its threads on two intrusive
 * circular lists with sentinels, one for pinned threads and one for stealable
 * ones. A thread embeds its struct rq_node, so queueing never allocates, capacity
 * is unbounded (a million threads fit in one queue) and push, pop and steal are
 * O(1). The owner's lock is uncontended in the common case: other CPUs take it
 * only to wake a thread onto this CPU or to steal, and a thief first reads the
 * lock-free stealable count and leaves an empty-handed queue alone.
 *
 * Why not a lock-free Chase-Lev deque: it keeps pointers in a fixed-size array
 * (growing it needs allocation and a reclamation scheme), it lets only the owner
 * push (a wake-up from another CPU would need a second, locked queue anyway), and
 * a thief takes whatever is at the top, so pinned threads would need a queue of
 * their own and pop would have to merge the two by age, as this one does. A lock
 * costs one uncontended atomic exchange per operation on the owner's side. Measured
 * by `make bench-runqueue` (host, a shared 2-core VM): an owner's push+pop pair
 * takes about 9 ns alone, 11 ns while a thief polls a queue of pinned threads, and
 * 175 ns while a thief steals and pushes back without pause (the cache lines
 * bounce; a deque would bounce them too, as its thieves write the top index).
 *
 * Order: every push stamps the node with the queue's next sequence number (a
 * push to the head with one below the oldest). rq_pop
 * takes the oldest node of either list (FIFO over the whole queue), and rq_exchange
 * does the same after a push; rq_steal takes the oldest stealable node and never a
 * pinned one.
 *
 * Nodes: a node is unlinked when prev, next and queue are NULL (a zeroed node
 * is unlinked). Push and exchange panic on a node that is not; pop, steal, remove
 * and exchange unlink the node they return. While a node is queued, only the
 * queue's lock holder touches it; `pinned` must not change while it is queued.
 *
 * Memory: struct run_queue is cache-line aligned (see stealable_count); keep it in
 * static per-CPU data or in memory aligned to RQ_CACHE_LINE_BYTES.
 *
 * Locking: all functions take the queue's lock themselves (interrupts off while
 * held) and none is called with another run queue's lock held, so two queue
 * locks are never nested. rq_count and the queue field of a node may be read
 * without any lock, as snapshots.
 *
 * Interrupt context: every function may be called from it (each takes the
 * queue's lock with interrupts off); the timer tick and wake-ups from handlers do.
 * rq_exchange also wants its caller to have turned interrupts off already.
 */
#ifndef EXO_SCHED_RUNQUEUE_H
#define EXO_SCHED_RUNQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/cpu.h"
#include "base/spinlock.h"

struct run_queue;

#define RQ_CACHE_LINE_BYTES ARCH_CACHE_LINE_BYTES

struct rq_node {
    struct rq_node *prev, *next; /* list links; NULL when unlinked; under queue->lock */
    uint64_t seq;                /* stamped by rq_push, oldest is smallest; under queue->lock */
    bool pinned;                 /* never stolen; set by the owner of the unlinked node */
    /* The queue this node is on, NULL when unlinked. Changed only under that queue's
     * lock (atomic stores); read anywhere with an atomic load, to find the queue to
     * hand to rq_remove. */
    struct run_queue *queue;
};

struct run_queue {
    struct spinlock lock;     /* protects everything below and the nodes' links */
    struct rq_node pinned;    /* sentinel of the pinned list, oldest first; under lock */
    struct rq_node stealable; /* sentinel of the stealable list, oldest first; under lock */
    uint64_t next_seq;        /* the seq the next push stamps; under lock */
    /* Nodes on both lists, and on the stealable one. Written under lock with
     * release stores; read without it by acquire loads (rq_count, the empty checks
     * of pop and steal), so a reader that sees a count also sees the nodes.
     * Thieves poll stealable_count: it has a cache line of its own and is written
     * only when it changes, so a queue of pinned threads is polled without taking
     * the line away from its owner (the benchmark's third figure). */
    size_t count;
    _Alignas(RQ_CACHE_LINE_BYTES) size_t stealable_count;
};

void rq_init(struct run_queue *rq);

/* Any CPU may push (a wake-up from another CPU); the node must be unlinked. */
void rq_push(struct run_queue *rq, struct rq_node *node);

/* Any CPU: rq_push of nodes[0], ..., nodes[n - 1], in that order, under one hold
 * of the lock (a wake-up of many threads). A linked node panics as in rq_push,
 * with the nodes before it queued. */
void rq_push_many(struct run_queue *rq, struct rq_node *const *nodes, size_t n);

/* Any CPU: queues an unlinked node ahead of every node queued, as the oldest (a
 * thread moved from another queue's head keeps its place in line: fair.h). Seqs
 * below the first push's leave room for 2^62 such pushes. */
void rq_push_head(struct run_queue *rq, struct rq_node *node);

/* The owner: the oldest node of either list, unlinked, or NULL if the queue is empty. */
struct rq_node *rq_pop(struct run_queue *rq);

/* Another CPU: the oldest stealable node of `victim`, unlinked, or NULL if none. */
struct rq_node *rq_steal(struct run_queue *victim);

/* Nodes queued, as a lock-free snapshot: for choosing a victim and for idle checks.
 * A CPU that queued a node itself, and knows nobody took it, never reads 0. */
size_t rq_count(const struct run_queue *rq);

/* Stealable nodes queued, as a lock-free snapshot: what a thief could take. */
size_t rq_stealable_count(const struct run_queue *rq);

/* Unlinks `node` if it is queued on `rq` (killing or re-pinning a thread) and
 * returns true; false if it is not there, e.g. popped, stolen or on another queue.
 * To find the queue, read node->queue with rq_node_queue and retry if it moved. */
bool rq_remove(struct run_queue *rq, struct rq_node *node);

/* The queue `node` was on at the moment of the load (NULL: not queued). */
static inline struct run_queue *rq_node_queue(const struct rq_node *node)
{
    return __atomic_load_n(&node->queue, __ATOMIC_ACQUIRE);
}

/* Debug check: walks both lists under the lock and panics on damage (broken links,
 * seq not increasing, a node in the wrong list or naming another queue, counts
 * that do not match). */
void rq_check(struct run_queue *rq);

/* ---- the inline part ----------------------------------------------------------
 * rq_exchange runs on every yield, the scheduler's fastpath, so it is inline, with
 * the list steps it shares with runqueue.c. The helpers below are for this header
 * and runqueue.c only; each wants rq->lock held. */

static inline void rq_list_append(struct rq_node *sentinel, struct rq_node *node)
{
    node->prev = sentinel->prev;
    node->next = sentinel;
    sentinel->prev->next = node;
    sentinel->prev = node;
}

/* The list's first (oldest) node, or NULL when only the sentinel is left. */
static inline struct rq_node *rq_list_oldest(const struct rq_node *sentinel)
{
    return sentinel->next == sentinel ? NULL : sentinel->next;
}

/* A sentinel's seq: above every node's, so that the oldest of the two lists' first
 * nodes is found with one compare whether or not a list is empty. */
#define RQ_SENTINEL_SEQ UINT64_MAX

/* The oldest node of either list, or NULL: the first node of each list (a
 * sentinel when the list is empty), the one with the smaller seq, NULL if that
 * is a sentinel (both lists empty). */
static inline struct rq_node *rq_oldest(const struct run_queue *rq)
{
    struct rq_node *pinned = rq->pinned.next, *stealable = rq->stealable.next;
    struct rq_node *oldest = stealable->seq < pinned->seq ? stealable : pinned;
    return oldest->seq == RQ_SENTINEL_SEQ ? NULL : oldest;
}

/* Unlinks a node that is on its queue, without touching the counts. */
static inline void rq_unlink_node(struct rq_node *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = NULL;
    node->next = NULL;
    __atomic_store_n(&node->queue, NULL, __ATOMIC_RELEASE);
}

/* The seq of the first push: rq_push_head counts down from here. */
#define RQ_FIRST_SEQ (1ull << 62)

/* Stamps `node` and appends it to its list, without touching the counts. */
static inline void rq_link_newest(struct run_queue *rq, struct rq_node *node)
{
    /* An atomic add under the lock: not needed for exclusion, but one
     * instruction (xadd) where a load, an add and a store are three. */
    node->seq = __atomic_fetch_add(&rq->next_seq, 1, __ATOMIC_RELAXED);
    rq_list_append(node->pinned ? &rq->pinned : &rq->stealable, node);
    __atomic_store_n(&node->queue, rq, __ATOMIC_RELEASE);
}

/* Counts are published with release stores for the lock-free readers; stealable_count
 * only when it changes, to leave its cache line to the thieves. */
static inline void rq_publish_counts(struct run_queue *rq, size_t count, size_t stealable_count)
{
    __atomic_store_n(&rq->count, count, __ATOMIC_RELEASE);
    if (stealable_count != rq->stealable_count)
        __atomic_store_n(&rq->stealable_count, stealable_count, __ATOMIC_RELEASE);
}

/* Drops rq->lock (restoring interrupts if irq) and panics: `node` was pushed while
 * still linked. */
__attribute__((noreturn, cold)) void rq_linked_push_panic(struct run_queue *rq,
                                                          struct rq_node *node, bool irq);

/* rq_exchange's wait for a lock another CPU holds (interrupts off), out of line:
 * the yield path's rare branch. Returns with rq->lock held. */
static __attribute__((noinline, unused)) void
rq_lock_contended(struct run_queue *rq)
{
    spin_lock_irqs_off(&rq->lock);
}

/* Panics unless `node` is unlinked, as a push wants it: one test of the three
 * fields or-ed together. `queue` is read plainly (an atomic load the compiler
 * would not fold into the or): a write that raced with this read would come from
 * another queue's holder, i.e. the node is linked elsewhere, the bug this
 * catches either way. */
static inline void rq_check_unlinked(struct run_queue *rq, struct rq_node *node, bool irq)
{
    if (((uintptr_t)node->prev | (uintptr_t)node->next | (uintptr_t)node->queue) != 0)
        rq_linked_push_panic(rq, node, irq);
}

/*
 * The owner, yielding, with interrupts already off: pushes `node` (unlinked, as for
 * rq_push) and pops the oldest node queued before it, under one hold of the lock;
 * the total count does not move. When the queue is empty it returns NULL and leaves
 * `node` unlinked.
 */
static inline __attribute__((always_inline)) struct rq_node *rq_exchange(struct run_queue *rq,
                                                                        struct rq_node *node)
{
    if (__builtin_expect(__atomic_exchange_n(&rq->lock.locked, 1, __ATOMIC_ACQUIRE), 0))
        rq_lock_contended(rq);
    rq_check_unlinked(rq, node, false);
    struct rq_node *oldest = rq_oldest(rq);
    if (oldest) {
        /* Unlinked first, so that `node` lands behind everything still queued. The
         * total stays; only the stealable count may change. */
        rq_unlink_node(oldest);
        rq_link_newest(rq, node);
        if (node->pinned != oldest->pinned)
            rq_publish_counts(rq, rq->count,
                              node->pinned ? rq->stealable_count - 1 : rq->stealable_count + 1);
    }
    spin_unlock_irqs_off(&rq->lock);
    return oldest;
}

#endif
