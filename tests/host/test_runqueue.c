/*
 * Host tests of the per-CPU run queue (sched/runqueue.c): its order and counts, a
 * random model test, and pthreads acting as CPUs that push, pop, steal and remove
 * at once. `make check` runs this program twice: under ASan+UBSan and under
 * ThreadSanitizer. With --bench it measures instead (`make bench-runqueue`).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "sched/runqueue.h"
#include "shim.h"

/* What a thread is to the queue: a payload with an embedded node. */
struct item {
    struct rq_node node;
    unsigned id;
    unsigned home;        /* the worker whose queue a pinned item belongs to */
    int in_queue;         /* 1 from just before its push to its take; atomic */
    uint64_t pushes;      /* atomic */
    uint64_t takes;       /* atomic */
    unsigned model_queue; /* model test: the queue it is on, or NOT_QUEUED */
    uint64_t model_seq;   /* model test: the model's own push order */
};

#define NOT_QUEUED ~0u

static struct item *item_of(struct rq_node *node)
{
    return node ? (struct item *)((char *)node - offsetof(struct item, node)) : NULL;
}

static struct item *new_items(size_t n)
{
    struct item *items = calloc(n, sizeof(*items));
    if (!items) {
        fprintf(stderr, "test_runqueue: out of memory for %zu items\n", n);
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        items[i].id = (unsigned)i;
        items[i].model_queue = NOT_QUEUED;
    }
    return items;
}

static bool unlinked(const struct rq_node *node)
{
    return !node->prev && !node->next && !rq_node_queue(node);
}

static bool panic_says(const char *text)
{
    if (strstr(shim_panic_message, text))
        return true;
    fprintf(stderr, "panic message \"%s\" lacks \"%s\"\n", shim_panic_message, text);
    return false;
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- order and counts ------------------------------------------------------ */

static void test_new_queue_is_empty(void)
{
    struct run_queue rq;
    rq_init(&rq);
    CHECK_EQ_INT(rq_count(&rq), 0);
    CHECK(rq_pop(&rq) == NULL);
    CHECK(rq_steal(&rq) == NULL);
    rq_check(&rq);
}

static void test_pop_returns_nodes_in_push_order(void)
{
    struct run_queue rq;
    struct item items[5] = {0};
    rq_init(&rq);
    for (int i = 0; i < 5; i++)
        rq_push(&rq, &items[i].node);
    CHECK_EQ_INT(rq_count(&rq), 5);
    rq_check(&rq);
    for (int i = 0; i < 5; i++) {
        struct rq_node *node = rq_pop(&rq);
        CHECK(node == &items[i].node);
        CHECK(node && unlinked(node));
        CHECK_EQ_INT(rq_count(&rq), 4 - i);
    }
    CHECK(rq_pop(&rq) == NULL);
}

static void test_push_many_queues_in_order_behind_what_is_there(void)
{
    struct run_queue rq;
    struct item items[6] = {0};
    struct rq_node *batch[5];
    rq_init(&rq);
    rq_push(&rq, &items[0].node);
    for (int i = 1; i < 6; i++) {
        items[i].node.pinned = i % 2 == 0;
        batch[i - 1] = &items[i].node;
    }
    rq_push_many(&rq, batch, 5);
    rq_check(&rq);
    CHECK_EQ_INT(rq_count(&rq), 6);
    CHECK_EQ_INT(rq_stealable_count(&rq), 4);
    CHECK(rq_steal(&rq) == &items[0].node);
    for (int i = 1; i < 6; i++)
        CHECK(rq_pop(&rq) == &items[i].node);
    CHECK(rq_pop(&rq) == NULL);
    rq_push_many(&rq, batch, 0);
    CHECK_EQ_INT(rq_count(&rq), 0);
}

static void test_pop_interleaves_pinned_and_stealable_by_age(void)
{
    struct run_queue rq;
    struct item items[6] = {0};
    const bool pinned[6] = {true, false, false, true, true, false};
    rq_init(&rq);
    for (int i = 0; i < 6; i++) {
        items[i].node.pinned = pinned[i];
        rq_push(&rq, &items[i].node);
    }
    rq_check(&rq);
    for (int i = 0; i < 6; i++)
        CHECK(rq_pop(&rq) == &items[i].node);
    CHECK(rq_pop(&rq) == NULL);
}

static void test_steal_takes_the_oldest_stealable_and_never_a_pinned_one(void)
{
    struct run_queue rq;
    struct item items[5] = {0};
    rq_init(&rq);
    items[0].node.pinned = true;
    items[2].node.pinned = true;
    items[4].node.pinned = true;
    for (int i = 0; i < 5; i++)
        rq_push(&rq, &items[i].node);
    CHECK(rq_steal(&rq) == &items[1].node);
    CHECK(rq_steal(&rq) == &items[3].node);
    CHECK(rq_steal(&rq) == NULL);
    CHECK_EQ_INT(rq_count(&rq), 3);
    rq_check(&rq);
    CHECK(rq_pop(&rq) == &items[0].node);
    CHECK(rq_pop(&rq) == &items[2].node);
    CHECK(rq_pop(&rq) == &items[4].node);
}

static void test_remove_unlinks_only_a_node_queued_there(void)
{
    struct run_queue rq, other;
    struct item items[4] = {0};
    rq_init(&rq);
    rq_init(&other);
    items[1].node.pinned = true;
    for (int i = 0; i < 3; i++)
        rq_push(&rq, &items[i].node);
    rq_push(&other, &items[3].node);

    CHECK(rq_remove(&rq, &items[1].node));
    CHECK(unlinked(&items[1].node));
    CHECK(!rq_remove(&rq, &items[1].node));
    CHECK(!rq_remove(&rq, &items[3].node));
    CHECK(rq_node_queue(&items[3].node) == &other);
    CHECK_EQ_INT(rq_count(&rq), 2);
    CHECK_EQ_INT(rq_count(&other), 1);
    rq_check(&rq);
    rq_check(&other);

    CHECK(rq_remove(&rq, &items[2].node));
    CHECK(rq_pop(&rq) == &items[0].node);
    CHECK(rq_pop(&rq) == NULL);
    CHECK(rq_remove(&other, &items[3].node));
    CHECK_EQ_INT(rq_count(&other), 0);
    rq_check(&other);
}

static void test_a_taken_node_can_be_pushed_again_anywhere(void)
{
    struct run_queue a, b;
    struct item item = {0};
    rq_init(&a);
    rq_init(&b);
    rq_push(&a, &item.node);
    CHECK(rq_steal(&a) == &item.node);
    CHECK(unlinked(&item.node));
    rq_push(&b, &item.node);
    CHECK(rq_node_queue(&item.node) == &b);
    CHECK(rq_remove(&b, &item.node));
    rq_push(&a, &item.node);
    CHECK(rq_pop(&a) == &item.node);
    CHECK(unlinked(&item.node));
}

/* ThreadSanitizer's shadow memory makes a million nodes cost half a gigabyte; the
 * ASan build runs the full size. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define __SANITIZE_THREAD__ 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define BIG_QUEUE_NODES 100000
#define PROGRAM_NAME "test_runqueue_tsan"
#else
#define BIG_QUEUE_NODES 1000000
#define PROGRAM_NAME "test_runqueue"
#endif

static void test_a_million_nodes_fit_in_one_queue(void)
{
    const size_t n = BIG_QUEUE_NODES;
    struct item *items = new_items(n);
    struct run_queue rq;
    rq_init(&rq);
    for (size_t i = 0; i < n; i++) {
        items[i].node.pinned = i % 3 == 0;
        rq_push(&rq, &items[i].node);
    }
    CHECK_EQ_INT(rq_count(&rq), n);
    rq_check(&rq);
    size_t out_of_order = 0;
    for (size_t i = 0; i < n; i++)
        out_of_order += rq_pop(&rq) != &items[i].node;
    CHECK_EQ_INT(out_of_order, 0);
    CHECK_EQ_INT(rq_count(&rq), 0);
    free(items);
}

/* ---- damage is caught --------------------------------------------------------- */

/* A queue of five nodes (1 and 3 pinned) for a test to damage. */
static void damaged_queue_setup(struct run_queue *rq, struct item items[5])
{
    memset(items, 0, 5 * sizeof(*items));
    rq_init(rq);
    for (int i = 0; i < 5; i++) {
        items[i].node.pinned = i == 1 || i == 3;
        rq_push(rq, &items[i].node);
    }
}

static void test_check_catches_damaged_links_lists_and_counts(void)
{
    struct run_queue rq;
    struct item items[5];
    char node_name[32];

    damaged_queue_setup(&rq, items);
    items[2].node.prev = &rq.stealable; /* should be items[0] */
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    snprintf(node_name, sizeof(node_name), "%p", (void *)&items[2].node);
    CHECK(panic_says("stealable list") && panic_says("prev link") && panic_says(node_name));

    damaged_queue_setup(&rq, items);
    items[4].node.next = &items[0].node; /* a cycle that misses the sentinel */
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    CHECK(panic_says("runqueue"));

    damaged_queue_setup(&rq, items);
    items[3].node.next = NULL;
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    CHECK(panic_says("pinned list") && panic_says("NULL next link"));

    damaged_queue_setup(&rq, items);
    items[2].node.pinned = true;
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    CHECK(panic_says("wrong list"));

    damaged_queue_setup(&rq, items);
    items[4].node.seq = items[0].node.seq;
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    CHECK(panic_says("seq out of order"));

    damaged_queue_setup(&rq, items);
    rq.count++;
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    CHECK(panic_says("counts") && panic_says("total"));

    damaged_queue_setup(&rq, items);
    rq.stealable_count--;
    CHECK(SHIM_EXPECT_PANIC(rq_check(&rq)));
    CHECK(panic_says("stealable count"));

    damaged_queue_setup(&rq, items);
    rq_check(&rq);
}

static void test_pushing_a_linked_node_panics(void)
{
    struct run_queue rq, other;
    struct item items[2] = {0};
    char node_name[32];
    rq_init(&rq);
    rq_init(&other);
    rq_push(&rq, &items[0].node);
    rq_push(&rq, &items[1].node);

    CHECK(SHIM_EXPECT_PANIC(rq_push(&rq, &items[0].node)));
    snprintf(node_name, sizeof(node_name), "%p", (void *)&items[0].node);
    CHECK(panic_says("still linked") && panic_says(node_name));
    CHECK(SHIM_EXPECT_PANIC(rq_push(&other, &items[1].node)));
    CHECK(panic_says("still linked"));

    /* The failed pushes changed nothing and released the locks. */
    rq_check(&rq);
    rq_check(&other);
    CHECK_EQ_INT(rq_count(&rq), 2);
    CHECK_EQ_INT(rq_count(&other), 0);
    CHECK(rq_pop(&rq) == &items[0].node);
    rq_push(&other, &items[0].node);
    CHECK(rq_pop(&other) == &items[0].node);

    /* A batch with a linked node queues those before it, then panics; the queue
     * stays whole. */
    struct item fresh = {0};
    struct rq_node *batch[2] = {&fresh.node, &items[1].node};
    CHECK(SHIM_EXPECT_PANIC(rq_push_many(&rq, batch, 2)));
    CHECK(panic_says("still linked"));
    rq_check(&rq);
    CHECK_EQ_INT(rq_count(&rq), 2);
    CHECK(rq_remove(&rq, &fresh.node));

    /* An exchange checks the node it queues as a push does. */
    CHECK(SHIM_EXPECT_PANIC(rq_exchange(&rq, &items[1].node)));
    CHECK(panic_says("still linked"));
    rq_check(&rq);
    CHECK_EQ_INT(rq_count(&rq), 1);
}

static void test_exchange_queues_behind_and_takes_the_oldest(void)
{
    struct run_queue rq;
    struct item items[4] = {0};
    rq_init(&rq);
    CHECK(rq_exchange(&rq, &items[0].node) == NULL); /* empty: nothing queued */
    CHECK(unlinked(&items[0].node));
    items[1].node.pinned = true;
    rq_push(&rq, &items[0].node);
    rq_push(&rq, &items[1].node);
    /* A stealable node in, the oldest (stealable) out: the stealable count stays. */
    CHECK(rq_exchange(&rq, &items[2].node) == &items[0].node);
    CHECK(unlinked(&items[0].node));
    CHECK_EQ_INT(rq_count(&rq), 2);
    CHECK_EQ_INT(rq_stealable_count(&rq), 1);
    rq_check(&rq);
    /* A stealable node in, a pinned one out: one more to steal. */
    CHECK(rq_exchange(&rq, &items[0].node) == &items[1].node);
    CHECK_EQ_INT(rq_stealable_count(&rq), 2);
    rq_check(&rq);
    /* A pinned node in, a stealable one out: one fewer. */
    items[3].node.pinned = true;
    CHECK(rq_exchange(&rq, &items[3].node) == &items[2].node);
    CHECK_EQ_INT(rq_count(&rq), 2);
    CHECK_EQ_INT(rq_stealable_count(&rq), 1);
    rq_check(&rq);
    CHECK(rq_pop(&rq) == &items[0].node);
    CHECK(rq_pop(&rq) == &items[3].node);
    CHECK(rq_pop(&rq) == NULL);
}

/* ---- a random model test --------------------------------------------------------- */

#define MODEL_QUEUES 3
#define MODEL_ITEMS 40

struct model {
    struct run_queue queues[MODEL_QUEUES];
    struct item *items;
    uint64_t next_seq;
};

/* The model's answer to pop (or steal, skipping pinned items) on queue q. */
static struct item *model_oldest(struct model *m, unsigned q, bool stealable_only)
{
    struct item *oldest = NULL;
    for (unsigned i = 0; i < MODEL_ITEMS; i++) {
        struct item *it = &m->items[i];
        if (it->model_queue != q || (stealable_only && it->node.pinned))
            continue;
        if (!oldest || it->model_seq < oldest->model_seq)
            oldest = it;
    }
    return oldest;
}

static size_t model_count(struct model *m, unsigned q)
{
    size_t n = 0;
    for (unsigned i = 0; i < MODEL_ITEMS; i++)
        n += m->items[i].model_queue == q;
    return n;
}

/* One random operation; false when the queue and the model disagree. */
static bool model_step(struct model *m, uint64_t *rng)
{
    uint64_t r = splitmix(rng);
    unsigned q = (unsigned)(r >> 8) % MODEL_QUEUES;
    struct item *it = &m->items[(r >> 16) % MODEL_ITEMS];
    struct item *expect, *got;
    switch (r % 5) {
    case 4: {
        /* Exchange: an unqueued item in, the oldest of queue q out (none: nothing). */
        if (it->model_queue != NOT_QUEUED)
            return true;
        it->node.pinned = (r >> 40) % 3 == 0;
        expect = model_oldest(m, q, false);
        got = item_of(rq_exchange(&m->queues[q], &it->node));
        if (got != expect)
            return false;
        if (!got)
            return unlinked(&it->node);
        got->model_queue = NOT_QUEUED;
        it->model_queue = q;
        it->model_seq = m->next_seq++;
        return unlinked(&got->node) && rq_node_queue(&it->node) == &m->queues[q];
    }
    case 0:
        if (it->model_queue != NOT_QUEUED)
            return true;
        it->node.pinned = (r >> 40) % 3 == 0;
        if ((r >> 44) % 4 == 0) {
            /* To the head: ahead of everything on q, pinned or not. */
            struct item *oldest = model_oldest(m, q, false);
            rq_push_head(&m->queues[q], &it->node);
            it->model_seq = (oldest ? oldest->model_seq : m->next_seq) - 1;
        } else {
            rq_push(&m->queues[q], &it->node);
            it->model_seq = m->next_seq++;
        }
        it->model_queue = q;
        return true;
    case 1:
    case 2:
        expect = model_oldest(m, q, r % 5 == 2);
        got = item_of(r % 5 == 2 ? rq_steal(&m->queues[q]) : rq_pop(&m->queues[q]));
        if (got)
            got->model_queue = NOT_QUEUED;
        return got == expect && (!got || unlinked(&got->node));
    default: {
        bool expected = it->model_queue == q;
        if (rq_remove(&m->queues[q], &it->node) != expected)
            return false;
        if (expected)
            it->model_queue = NOT_QUEUED;
        return unlinked(&it->node) || !expected;
    }
    }
}

static void test_random_operations_match_a_model(void)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct model m = {.items = new_items(MODEL_ITEMS), .next_seq = 1ull << 40};
        uint64_t rng = seed;
        for (unsigned q = 0; q < MODEL_QUEUES; q++)
            rq_init(&m.queues[q]);
        int mismatches = 0;
        for (int step = 0; step < 50000 && mismatches < 5; step++) {
            if (!model_step(&m, &rng)) {
                fprintf(stderr, "seed %llu step %d: the queue disagrees with the model\n",
                        (unsigned long long)seed, step);
                mismatches++;
            }
            for (unsigned q = 0; q < MODEL_QUEUES; q++)
                mismatches += rq_count(&m.queues[q]) != model_count(&m, q);
            if (step % 64 == 0)
                for (unsigned q = 0; q < MODEL_QUEUES; q++)
                    rq_check(&m.queues[q]);
        }
        CHECK_EQ_INT(mismatches, 0);
        free(m.items);
    }
}

/* ---- CPUs at once -------------------------------------------------------------- */

#define WORKERS 4
#define ITEMS_PER_WORKER 64
#define ALL_ITEMS (WORKERS * ITEMS_PER_WORKER)
#define OPS_PER_WORKER 250000

/* One pthread playing one CPU: it owns queues[index]. */
struct worker {
    unsigned index;
    pthread_t thread;
    uint64_t rng;
    struct item *hand[ALL_ITEMS]; /* items it took and has not pushed again */
    size_t hand_len;
    size_t pinned_queued; /* its pinned items on its queue: only it pushes and takes them */
    uint64_t pops, steals, removes, pushes;
};

static struct run_queue queues[WORKERS];
static struct item *shared_items;
static struct worker workers[WORKERS];
static pthread_barrier_t workers_done;
static int worker_errors; /* atomic: check.h's counters are not thread-safe */

#define WORKER_FAIL(...)                                                                           \
    do {                                                                                           \
        if (__atomic_fetch_add(&worker_errors, 1, __ATOMIC_RELAXED) < 10)                          \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

static void worker_took(struct worker *w, struct item *it, const char *how)
{
    if (__atomic_exchange_n(&it->in_queue, 0, __ATOMIC_RELAXED) != 1)
        WORKER_FAIL("item %u taken twice (the second by %s on worker %u)\n", it->id, how, w->index);
    __atomic_fetch_add(&it->takes, 1, __ATOMIC_RELAXED);
    if (!unlinked(&it->node))
        WORKER_FAIL("item %u came out of %s still linked\n", it->id, how);
    if (it->node.pinned) {
        if (it->home != w->index)
            WORKER_FAIL("pinned item %u of worker %u taken by worker %u (%s)\n", it->id, it->home,
                        w->index, how);
        else
            w->pinned_queued--;
    }
    w->hand[w->hand_len++] = it;
}

static void worker_push(struct worker *w)
{
    size_t pick = splitmix(&w->rng) % w->hand_len;
    struct item *it = w->hand[pick];
    w->hand[pick] = w->hand[--w->hand_len];
    __atomic_store_n(&it->in_queue, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&it->pushes, 1, __ATOMIC_RELAXED);
    rq_push(&queues[w->index], &it->node);
    w->pinned_queued += it->node.pinned;
    w->pushes++;
}

static void worker_pop(struct worker *w)
{
    struct item *it = item_of(rq_pop(&queues[w->index]));
    if (it) {
        worker_took(w, it, "pop");
        w->pops++;
    } else if (w->pinned_queued) {
        WORKER_FAIL("worker %u: pop found nothing with %zu pinned items queued\n", w->index,
                    w->pinned_queued);
    }
}

/* The owner yields: one item from its hand in, the oldest out (as the scheduler's
 * fastpath does with interrupts off). */
static void worker_exchange(struct worker *w)
{
    size_t pick = splitmix(&w->rng) % w->hand_len;
    struct item *it = w->hand[pick];
    w->hand[pick] = w->hand[--w->hand_len];
    __atomic_store_n(&it->in_queue, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&it->pushes, 1, __ATOMIC_RELAXED);
    struct item *out = item_of(rq_exchange(&queues[w->index], &it->node));
    if (!out) {
        /* Empty: nothing queued, the item stays in hand. */
        __atomic_store_n(&it->in_queue, 0, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&it->pushes, 1, __ATOMIC_RELAXED);
        if (!unlinked(&it->node))
            WORKER_FAIL("item %u left linked by an exchange on an empty queue\n", it->id);
        w->hand[w->hand_len++] = it;
        return;
    }
    w->pinned_queued += it->node.pinned;
    w->pushes++;
    worker_took(w, out, "exchange");
    w->pops++;
}

static void worker_steal(struct worker *w)
{
    unsigned victim = (w->index + 1 + (unsigned)(splitmix(&w->rng) % (WORKERS - 1))) % WORKERS;
    struct item *it = item_of(rq_steal(&queues[victim]));
    if (it) {
        worker_took(w, it, "steal");
        w->steals++;
    }
}

/* Kills a random item wherever it is queued; pinned ones only on their own CPU. */
static void worker_remove(struct worker *w)
{
    struct item *it = &shared_items[splitmix(&w->rng) % ALL_ITEMS];
    if (it->node.pinned && it->home != w->index)
        return;
    struct run_queue *q = rq_node_queue(&it->node);
    if (q && rq_remove(q, &it->node)) {
        worker_took(w, it, "remove");
        w->removes++;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int op = 0; op < OPS_PER_WORKER; op++) {
        if (w->pinned_queued && rq_count(&queues[w->index]) == 0)
            WORKER_FAIL("worker %u: count 0 with %zu pinned items queued\n", w->index,
                        w->pinned_queued);
        unsigned r = (unsigned)(splitmix(&w->rng) % 100);
        if (r < 40 && w->hand_len)
            worker_push(w);
        else if (r < 70)
            worker_pop(w);
        else if (r < 75 && w->hand_len)
            worker_exchange(w);
        else if (r < 75)
            worker_pop(w);
        else if (r < 97)
            worker_steal(w);
        else
            worker_remove(w);
    }
    /* Nobody steals or removes past the barrier: each CPU empties its own queue. */
    pthread_barrier_wait(&workers_done);
    for (struct rq_node *node; (node = rq_pop(&queues[w->index]));) {
        worker_took(w, item_of(node), "pop");
        w->pops++;
    }
    if (w->pinned_queued)
        WORKER_FAIL("worker %u: %zu pinned items left\n", w->index, w->pinned_queued);
    return NULL;
}

static void test_concurrent_push_pop_steal_remove_take_every_item_once(void)
{
    shared_items = new_items(ALL_ITEMS);
    worker_errors = 0;
    pthread_barrier_init(&workers_done, NULL, WORKERS);
    for (unsigned i = 0; i < WORKERS; i++) {
        rq_init(&queues[i]);
        workers[i] = (struct worker){.index = i, .rng = 0x5eed0000u + i};
        for (unsigned j = 0; j < ITEMS_PER_WORKER; j++) {
            struct item *it = &shared_items[i * ITEMS_PER_WORKER + j];
            it->home = i;
            it->node.pinned = j % 4 == 0;
            workers[i].hand[workers[i].hand_len++] = it;
        }
    }
    for (unsigned i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0);
    uint64_t pushes = 0, pops = 0, steals = 0, removes = 0;
    for (unsigned i = 0; i < WORKERS; i++) {
        pthread_join(workers[i].thread, NULL);
        pushes += workers[i].pushes;
        pops += workers[i].pops;
        steals += workers[i].steals;
        removes += workers[i].removes;
    }
    pthread_barrier_destroy(&workers_done);

    CHECK_EQ_INT(worker_errors, 0);
    size_t lost_or_doubled = 0, held = 0;
    for (unsigned i = 0; i < ALL_ITEMS; i++) {
        struct item *it = &shared_items[i];
        lost_or_doubled += it->pushes != it->takes || it->in_queue || !unlinked(&it->node);
    }
    for (unsigned i = 0; i < WORKERS; i++) {
        CHECK_EQ_INT(rq_count(&queues[i]), 0);
        rq_check(&queues[i]);
        held += workers[i].hand_len;
    }
    CHECK_EQ_INT(lost_or_doubled, 0);
    CHECK_EQ_INT(held, ALL_ITEMS);
    CHECK_EQ_U64(pushes, pops + steals + removes);
    CHECK(steals > 0 && removes > 0);
    printf("%s: %d CPUs, %llu pushes, %llu pops, %llu steals, %llu removes\n", PROGRAM_NAME,
           WORKERS, (unsigned long long)pushes, (unsigned long long)pops,
           (unsigned long long)steals, (unsigned long long)removes);
    free(shared_items);
}

/* ---- benchmark (--bench) ------------------------------------------------------- */

#define BENCH_PAIRS 10000000
#define BENCH_DEPTH 8

static struct run_queue bench_queue;
static int bench_running; /* atomic */
static uint64_t bench_thief_hits, bench_thief_tries;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Another CPU: steals from the owner's queue and wakes what it stole back onto it. */
static void *bench_thief(void *arg)
{
    (void)arg;
    uint64_t hits = 0, tries = 0;
    while (__atomic_load_n(&bench_running, __ATOMIC_RELAXED)) {
        struct rq_node *node = rq_steal(&bench_queue);
        tries++;
        if (node) {
            hits++;
            rq_push(&bench_queue, node);
        }
    }
    bench_thief_hits = hits;
    bench_thief_tries = tries;
    return NULL;
}

/* The owner's push+pop pairs with BENCH_DEPTH nodes standing in the queue; ns per pair. */
static double bench_owner(bool pinned, bool with_thief)
{
    static struct item items[BENCH_DEPTH + 1];
    pthread_t thief;
    rq_init(&bench_queue);
    memset(items, 0, sizeof(items));
    for (int i = 0; i < BENCH_DEPTH; i++) {
        items[i].node.pinned = pinned;
        rq_push(&bench_queue, &items[i].node);
    }
    items[BENCH_DEPTH].node.pinned = pinned;
    struct rq_node *in_hand = &items[BENCH_DEPTH].node;
    bench_thief_hits = bench_thief_tries = 0;
    __atomic_store_n(&bench_running, 1, __ATOMIC_RELAXED);
    if (with_thief)
        pthread_create(&thief, NULL, bench_thief, NULL);
    uint64_t empty = 0, start = now_ns();
    for (int i = 0; i < BENCH_PAIRS; i++) {
        if (in_hand)
            rq_push(&bench_queue, in_hand);
        in_hand = rq_pop(&bench_queue);
        empty += !in_hand;
    }
    uint64_t elapsed = now_ns() - start;
    __atomic_store_n(&bench_running, 0, __ATOMIC_RELAXED);
    if (with_thief)
        pthread_join(thief, NULL);
    if (with_thief)
        printf("  (thief: %llu of %llu steals succeeded; owner found its queue empty %llu "
               "times)\n",
               (unsigned long long)bench_thief_hits, (unsigned long long)bench_thief_tries,
               (unsigned long long)empty);
    return (double)elapsed / BENCH_PAIRS;
}

static int run_bench(void)
{
    double alone = bench_owner(false, false);
    printf("push+pop pair, one thread: %.1f ns (%.1f ns per operation)\n", alone, alone / 2);
    double contended = bench_owner(false, true);
    printf("push+pop pair, a thief stealing and pushing back: %.1f ns (%.1f ns per "
           "operation)\n",
           contended, contended / 2);
    double pinned = bench_owner(true, true);
    printf("push+pop pair, all pinned, a thief polling: %.1f ns (%.1f ns per operation)\n", pinned,
           pinned / 2);
    return 0;
}

int main(int argc, char **argv)
{
    check_program = PROGRAM_NAME;
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return run_bench();
    RUN(test_new_queue_is_empty);
    RUN(test_pop_returns_nodes_in_push_order);
    RUN(test_push_many_queues_in_order_behind_what_is_there);
    RUN(test_pop_interleaves_pinned_and_stealable_by_age);
    RUN(test_steal_takes_the_oldest_stealable_and_never_a_pinned_one);
    RUN(test_remove_unlinks_only_a_node_queued_there);
    RUN(test_a_taken_node_can_be_pushed_again_anywhere);
    RUN(test_a_million_nodes_fit_in_one_queue);
    RUN(test_check_catches_damaged_links_lists_and_counts);
    RUN(test_pushing_a_linked_node_panics);
    RUN(test_exchange_queues_behind_and_takes_the_oldest);
    RUN(test_random_operations_match_a_model);
    RUN(test_concurrent_push_pop_steal_remove_take_every_item_once);
    return check_summary();
}
