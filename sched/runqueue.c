/* Per-CPU run queues: two intrusive FIFO lists under one spinlock (include/sched/runqueue.h). */
#include "sched/runqueue.h"

#include "base/panic.h"

static void list_init(struct rq_node *sentinel)
{
    sentinel->prev = sentinel;
    sentinel->next = sentinel;
    sentinel->seq = RQ_SENTINEL_SEQ;
    sentinel->queue = NULL;
}

/* Unlinks a node that is on `rq`, leaving it as rq_push wants it. Under rq->lock. */
static void take(struct run_queue *rq, struct rq_node *node)
{
    rq_unlink_node(node);
    rq_publish_counts(rq, rq->count - 1, rq->stealable_count - (node->pinned ? 0 : 1));
}

void rq_init(struct run_queue *rq)
{
    rq->lock = (struct spinlock)SPINLOCK_INIT("run_queue");
    list_init(&rq->pinned);
    list_init(&rq->stealable);
    rq->next_seq = RQ_FIRST_SEQ;
    rq->count = 0;
    rq->stealable_count = 0;
}

void rq_linked_push_panic(struct run_queue *rq, struct rq_node *node, bool irq)
{
    struct run_queue *holder = rq_node_queue(node);
    spin_unlock(&rq->lock, irq);
    panic("runqueue %p: push of node %p that is still linked (prev %p, next %p, queue %p)",
          (void *)rq, (void *)node, (void *)node->prev, (void *)node->next, (void *)holder);
}

void rq_push(struct run_queue *rq, struct rq_node *node)
{
    bool irq = spin_lock(&rq->lock);
    rq_check_unlinked(rq, node, irq);
    rq_link_newest(rq, node);
    rq_publish_counts(rq, rq->count + 1, rq->stealable_count + (node->pinned ? 0 : 1));
    spin_unlock(&rq->lock, irq);
}

void rq_push_many(struct run_queue *rq, struct rq_node *const *nodes, size_t n)
{
    bool irq = spin_lock(&rq->lock);
    for (size_t i = 0; i < n; i++) {
        rq_check_unlinked(rq, nodes[i], irq); /* panics: the nodes before it are queued */
        rq_link_newest(rq, nodes[i]);
        /* Counted as it goes, so that a panic above leaves the counts right. */
        rq_publish_counts(rq, rq->count + 1, rq->stealable_count + (nodes[i]->pinned ? 0 : 1));
    }
    spin_unlock(&rq->lock, irq);
}

void rq_push_head(struct run_queue *rq, struct rq_node *node)
{
    bool irq = spin_lock(&rq->lock);
    rq_check_unlinked(rq, node, irq);
    struct rq_node *oldest = rq_oldest(rq);
    struct rq_node *sentinel = node->pinned ? &rq->pinned : &rq->stealable;
    node->seq = (oldest ? oldest->seq : rq->next_seq) - 1;
    node->prev = sentinel;
    node->next = sentinel->next;
    sentinel->next->prev = node;
    sentinel->next = node;
    __atomic_store_n(&node->queue, rq, __ATOMIC_RELEASE);
    rq_publish_counts(rq, rq->count + 1, rq->stealable_count + (node->pinned ? 0 : 1));
    spin_unlock(&rq->lock, irq);
}

struct rq_node *rq_pop(struct run_queue *rq)
{
    /* Only the owner pops, and only a thief or remove can empty the queue behind
     * its back: reading 0 here means there was nothing for the owner to find. */
    if (rq_count(rq) == 0)
        return NULL;
    bool irq = spin_lock(&rq->lock);
    struct rq_node *node = rq_oldest(rq);
    if (node)
        take(rq, node);
    spin_unlock(&rq->lock, irq);
    return node;
}

struct rq_node *rq_steal(struct run_queue *victim)
{
    /* A thief that reads 0 leaves the victim's lock alone; a push it misses is
     * one that happened after its look, and the owner will run it. */
    if (__atomic_load_n(&victim->stealable_count, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    bool irq = spin_lock(&victim->lock);
    struct rq_node *node = rq_list_oldest(&victim->stealable);
    if (node)
        take(victim, node);
    spin_unlock(&victim->lock, irq);
    return node;
}

size_t rq_count(const struct run_queue *rq)
{
    return __atomic_load_n(&rq->count, __ATOMIC_ACQUIRE);
}

size_t rq_stealable_count(const struct run_queue *rq)
{
    return __atomic_load_n(&rq->stealable_count, __ATOMIC_ACQUIRE);
}

bool rq_remove(struct run_queue *rq, struct rq_node *node)
{
    bool irq = spin_lock(&rq->lock);
    /* node->queue changes to or from rq only under rq->lock, so it is stable here. */
    bool queued_here = rq_node_queue(node) == rq;
    if (queued_here)
        take(rq, node);
    spin_unlock(&rq->lock, irq);
    return queued_here;
}

/* What rq_check found wrong, and where. */
struct rq_damage {
    const char *what;
    const struct rq_node *node;
};

/*
 * Walks one list, adding its length to *nodes_seen. Stops at the first damage; a
 * walk longer than rq->count is damage too (a cycle that misses the sentinel).
 */
static struct rq_damage check_list(const struct run_queue *rq, const struct rq_node *sentinel,
                                   bool pinned, size_t *nodes_seen)
{
    const struct rq_node *prev = sentinel;
    for (const struct rq_node *node = sentinel->next; node != sentinel; node = node->next) {
        if (!node)
            return (struct rq_damage){"a NULL next link after", prev};
        if (*nodes_seen == rq->count)
            return (struct rq_damage){"more nodes than the count, at", node};
        if (node->prev != prev)
            return (struct rq_damage){"a prev link that does not point back, at", node};
        if (node->pinned != pinned)
            return (struct rq_damage){"a node on the wrong list:", node};
        if (rq_node_queue(node) != rq)
            return (struct rq_damage){"a node naming another queue:", node};
        if (node->seq >= rq->next_seq || (prev != sentinel && node->seq <= prev->seq))
            return (struct rq_damage){"a seq out of order at", node};
        prev = node;
        ++*nodes_seen;
    }
    if (sentinel->prev != prev)
        return (struct rq_damage){"a sentinel whose prev is not the last node, after", prev};
    return (struct rq_damage){NULL, NULL};
}

void rq_check(struct run_queue *rq)
{
    bool irq = spin_lock(&rq->lock);
    size_t count = rq->count, stealable_count = rq->stealable_count;
    size_t pinned_nodes = 0, stealable_nodes = 0;
    const char *where = "pinned list";
    struct rq_damage damage = check_list(rq, &rq->pinned, true, &pinned_nodes);
    if (!damage.what) {
        where = "stealable list";
        size_t nodes = pinned_nodes;
        damage = check_list(rq, &rq->stealable, false, &nodes);
        stealable_nodes = nodes - pinned_nodes;
    }
    if (!damage.what) {
        where = "counts";
        if (pinned_nodes + stealable_nodes != count)
            damage.what = "total does not match the lists";
        else if (stealable_nodes != stealable_count)
            damage.what = "stealable count does not match its list";
    }
    spin_unlock(&rq->lock, irq);
    if (damage.what)
        panic("runqueue %p: damaged %s: %s %p (count %zu, stealable %zu; found %zu pinned, "
              "%zu stealable)",
              (void *)rq, where, damage.what, (const void *)damage.node, count, stealable_count,
              pinned_nodes, stealable_nodes);
}
