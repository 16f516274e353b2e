/*
 * Synchronous IPC: endpoints, calls, replies (the system calls are declared in
 * include/proc/syscall.h; the user ABI and its register convention are in
 * include/uapi/exo_ipc.h).
 *
 * The model. An endpoint is a rendezvous: a caller (ipc_call, ipc_send) and a
 * receiver (ipc_recv, ipc_reply_recv) meet there, whichever comes first waits
 * in one of the endpoint's two FIFO lists, and the one that comes second does
 * the whole transfer itself while the first sleeps. A received call waits on the
 * endpoint's `serving` list under a token until the server's reply; a send needs
 * no reply and ends when received. Every waiting thread is described by a
 * struct ipc_wait on its own kernel stack (a fastpath waiter's is its
 * thread's, below: it keeps nothing on its stack): what it sends, where its
 * receive buffer is, and its state:
 *
 *   WAITING  in a list of the endpoint (senders, receivers or serving)
 *   BUSY     a peer has taken it off the list and is copying into or out of it;
 *            the peer ends that with DONE (or, for a call, SERVING). A waiter
 *            that a signal or timeout wakes while BUSY waits for that end: it is
 *            short (at most 64 KiB copied, never a sleep)
 *   DONE     result and words are set; the waiter may return
 *
 * Everything about an endpoint is under its one spinlock. A waiter sleeps on
 * its own wait queue with signal_wait_interruptible (the fastpath's waiter in
 * its own way, below, to the same effect), so a signal, the timeout
 * thread or its peer can wake it; before it returns it takes the endpoint lock
 * once more, because a peer wakes it under that lock: the wait queue on its
 * stack stays valid until the peer is done with it.
 *
 * The buffer is copied once, page by page, by the thread that completes the
 * rendezvous, between its own user memory (copy_from_user / copy_to_user) and
 * the sleeping peer's frames seen through the kernel's direct map. Each peer
 * frame is pinned for the copy (vmspace_pin_page: populated, made private and
 * writable for a write, one more frame reference) so that an munmap by another
 * thread of the peer cannot free it under the copy; no kernel bounce buffer.
 * A fault on the peer's side is the peer's error (EFAULT), on our side ours.
 *
 * What else a message carries (struct exo_ipc_ext), moved by transfer() for
 * all three meetings (a call or send delivered, a receive, a reply), in this
 * order: the offer checked against the receiver's room (a region or fds it has
 * no room for: EMSGSIZE to the offering side, never cut), the bytes, the fds
 * (installed in the receiver's table at the lowest free numbers, all or none:
 * EMFILE), the region (vmspace_transfer: moved by its page-table entries in
 * one walk of the sender's tables, a store and a clear a page and one TLB
 * shootdown of the sender, see ipc_page_move_2m in the README; or shared in
 * regions marked shared that the receiver can never give more rights than the
 * sender had; a failure takes the fds back).
 * The fds to send are looked up when the call starts (EBADF at once) and held
 * until it ends. Every error belongs to one side: the offer and the sender's
 * memory are the sender's, the receiver's room, table and address space the
 * receiver's; the side whose error it is fails, and the other stays where it
 * was (at the front of its list, or being served), as for a buffer fault.
 *
 * Ends. A server fd closed for the last time (or its holders ended) fails the
 * calls received through it with EPIPE; the last server fd of an endpoint fails
 * every waiting caller and every later call. A caller interrupted by a signal
 * (EINTR) or a timeout (ETIMEDOUT) leaves whichever list it is on; its token
 * then answers EPIPE to a reply. A signal whose action is to ignore it never
 * ends a wait (wait_for drops it and waits on): one stays pending for the whole
 * process while the thread it went to blocks it, as musl's fork blocks every
 * signal, and a server thread must not take a child's SIGCHLD for an EINTR. So nobody can make another process wait
 * forever: the waiter can always be interrupted, timed out or killed.
 *
 * The fastpath (ipc_call and ipc_reply_recv with registers only). The general
 * path above wakes the peer (run queue push) and then sleeps in its C frame
 * (schedule pops the next thread, which is the peer only if nothing else is
 * queued; the peer then returns through its own C frames to user mode). When
 * the peer already waits and last ran on this CPU, the fastpath instead does
 * the rendezvous and then runs the peer at once in its place: no run queue is
 * touched, the caller's remaining time slice goes with it, and the reply does
 * the same back. It is the general path with the expensive steps fused; it
 * checks:
 *   1. no descriptor, no timeout, no flags: the copy, regions, fds, the
 *      timeout thread and the non-blocking and reply-only variants are
 *      general-path work, and without them the rendezvous is six words;
 *   2. the fd is an endpoint fd (and, for reply_recv, a server fd): the same
 *      validation as the general path, which then reports the error;
 *   3. the calling thread has no work pending (signal, kill): looked at once it
 *      has published its wait (signal_wait_publish), after the rendezvous, as
 *      a signal arriving then would be; it leaves its wait at once
 *      (fast_interrupted, wait_for), as a general-path waiter would;
 *   4. call: a receiver waits, and the endpoint still has a server (it has:
 *      the receiver holds a server fd); reply_recv: the token names a call
 *      being served, and no other caller is queued (that caller is the
 *      server's next message: the general path takes it at once instead of
 *      sleeping);
 *   5. the peer thread last ran on this CPU and is not pinned elsewhere: a
 *      peer on another CPU is woken where it is (its caches are there; moving
 *      it here would also race with that CPU), which the general path does;
 *      and a peer that parked here is off every stack (this CPU finished
 *      switching it away before it ran us), which thread_park_switch relies on.
 *      One test when the peer's CPU and pin are the caller's (runs_here);
 *   6. the peer can be switched to: claimed parked (below) with its state
 *      still BLOCKED (thread_park_switch's compare-and-swap: a signal's waker
 *      may have taken it first), or asleep in its wait queue
 *      (wait_queue_take_one finds it); otherwise (a peer preempted between
 *      publishing itself and sleeping) it will see DONE by itself, and the
 *      caller sleeps without handing its CPU to anyone in particular.
 * Anything else takes the general path, which is the reference behaviour: the
 * tests run the same cases through both (with and without a buffer).
 *
 * Parking. A fastpath waiter keeps no kernel frame (seL4's design: all of a
 * waiting thread's state is its user registers, saved at the top of its kernel
 * stack by the system-call entry). Its wait record is its thread's own (in its
 * uthread, struct uthread's ipc_wait), not on its stack; it is asleep in the
 * record's wait queue, BLOCKED, published to signal senders, and parked
 * (include/sched/thread.h): its saved kernel context is not a C frame but the
 * start of park_resume, a continuation that finishes the system call from the
 * record (the result, or wait_for's answer to a signal, kill or the server's
 * end) and leaves through the ordinary system-call exit. So every wake-up the
 * general path knows works on a parked waiter unchanged: a general-path peer,
 * a signal, kill, the endpoint's end (EPIPE) wake it with thread_wake, and the
 * scheduler, which knows nothing of IPC, starts it as it starts a new thread.
 * What the fastpath adds is the direct switch: a peer that finds the waiter
 * parked (check 6; the flag is taken, not read: a parked thread that a signal
 * woke clears it when it resumes, and may be asleep again in its C frame by
 * the time we look) ends the wait on its behalf (the words straight into its
 * saved registers, its signal wait withdrawn, its file reference let go), makes
 * it the running thread (thread_park_switch, inline: its state, on_cpu,
 * current, the switch count; it needs no test of the waiter's CPU or on_cpu,
 * which check 5 settled; then the user half the switch hook would do: CPU time,
 * ring-0 stack, FPU, TLS bases, address space), and leaves for user mode on the
 * waiter's frame through the system-call exit, never through switch_to: both
 * are one arch call that ends in a jump (uthread_switch_return,
 * arch_user_switch_return, then SYSRET). A peer that
 * claimed the waiter but cannot switch to it (someone else woke it first, or
 * the peer itself is interrupted and wakes it) says so in the waiter's record
 * (claim_over) once it is done with it, and the waiter, resuming, waits for
 * that before it goes on (park_resume): so it can never be blocked elsewhere
 * by the time a late wake of the claim's reaches it. Interrupts
 * stay off from the checks to there. A waiter whose peer is not parked (a general-path receiver
 * asleep in its C frame) is switched to by thread_park_handoff, a handoff that does not save the
 * caller's registers either; with no peer to run, thread_park_block.
 * A parked thread is BLOCKED like any other (ps shows it so); the scheduler's
 * invariants hold as for a handoff: the switched-from thread is settled by the
 * switch (BLOCKED, or RUNNABLE by a waker waiting for its on_cpu, which is
 * cleared once its stack is left), run queues are not touched, and the switch
 * is counted.
 *
 * How it stays short (README, "IPC", has the instruction count of each step:
 * 498 guest instructions a round trip, both directions, switches included).
 * It is inline in the system calls, and it takes the general path itself
 * when a check fails (with the same arguments; after the file is taken, from
 * out-of-line helpers, so the fastpath keeps nothing for them). It keeps no
 * value in a callee-saved register, so it saves none: every call on its common
 * path is a tail call or the final jump, and its rare branches (a spin loop's
 * body, a last file reference, the cancel of its own sleep) are calls that keep
 * every register (arch_call_keeping, arch_cpu_relax). It runs with interrupts off from check 2 to the switch (a system
 * call runs with them on: cli, and sti on the way out of a failed check), so
 * each lock is an exchange and a store; the fd is looked up once (check 2 and
 * the file reference together); the record's fields that never change (no
 * buffer, region or fds either way, no deadline, the thread, the park's resume
 * words, the queue's lock and name) are set once, as the thread starts
 * (ipc_thread_start), and each wait sets only what it changes (its file and
 * answer frame, then the sleep: head, tail, BLOCKED); the words go from the
 * caller's saved registers straight into the waiter's saved registers (words_regs; a general-path
 * peer, which knows only the record, writes them there instead). The sleep is the fastpath's own:
 * the waiter puts itself in its record's wait queue, BLOCKED,
 * before it publishes the record, so no lock is needed for that; it makes the
 * queue its interruptible wait with one exchange and then looks for pending
 * work (signal_wait_publish: a sender sets the work first and reads the wait
 * second, so one of the two sees the other). Anything found there goes to
 * wait_for, the general path's wait, which then decides (EINTR, a kill, or
 * sleeping on). A claimed parked peer is not taken out of its wait queue: the
 * compare-and-swap of its state decides between us and a signal's waker, and
 * its next wait makes the queue anew. The woken side does not take the
 * endpoint lock again: its peer set DONE under that lock and touches nothing
 * of the waiter's after dropping it, so waiting until the lock is free (one
 * load, normally) is enough; likewise it withdraws its wait from the signal
 * senders by waiting for the signal lock to be free. The locks left per
 * one-way trip: the endpoint's once. The peer's wait is ended and claimed in
 * one place (claim_parked_locked), and the claimed-parked case, the one that
 * switches, is the only one inline (fast_park; a peer asleep in its C frame
 * goes to fast_park_other), so no value is kept across the branch.
 *
 * Lock order: endpoint lock > wait-queue and run-queue locks (a peer is woken
 * under it); the timeout lock > wait-queue locks; the two never nest.
 */

#include "arch/mmu.h"
#include "arch/time.h"
#include "arch/uaccess.h"
#include "base/panic.h"
#include "fs/fdtable.h"
#include "lib/errno.h"
#include "mm/heap.h"
#include "mm/vmspace.h"
#include "proc/process.h"
#include "proc/signal.h"
#include "proc/syscall.h"
#include "sched/sync.h"
#include "sched/thread.h"
#include "sched/timeout.h"
#include "uapi/exo_ipc.h"

_Static_assert(ARCH_IPC_WORDS == EXO_IPC_WORDS, "the arch carries every message word");

#define IPC_PAGE 4096ull
#define CALL_FLAGS EXO_IPC_NONBLOCK
#define REPLY_RECV_FLAGS (EXO_IPC_NONBLOCK | EXO_IPC_NORECV)
#define FD_FLAGS EXO_IPC_CLOEXEC

enum wait_state { WAITING = 1, BUSY, DONE };

struct ipc_wait {
    struct ipc_wait *next;         /* (E) in one endpoint list */
    struct thread *thread;
    struct vmspace *vm;            /* its space: copies into or out of it */
    struct wait_queue sleep;       /* it sleeps here */
    int state;                     /* (E) enum wait_state, read atomically by the waiter */
    long result;                   /* (E) with DONE */
    bool wants_reply;              /* a call (not a send) */
    bool timed_out;                /* (A) set when the timeout expires */
    uint64_t deadline_ns;          /* 0: none */
    struct timeout timeout;        /* armed while a timed wait sleeps */
    uint64_t words[EXO_IPC_WORDS]; /* sent on the way in, received on the way out */
    uintptr_t send_buf, recv_buf;
    size_t send_bytes, recv_room;
    size_t recv_got;               /* (E) with DONE: the bytes the other side sent */
    struct process *proc;          /* its process: fds it receives go to its table */
    uintptr_t send_pages;          /* a region to send (send_pages_bytes 0: none) */
    size_t send_pages_bytes;
    bool pages_share;              /* share it, else move it */
    uintptr_t recv_pages;          /* 0 (none accepted), VMSPACE_ANYWHERE or an address */
    size_t recv_pages_room;
    uintptr_t got_pages;           /* (E) with DONE: where a region came (0: none) */
    size_t got_pages_bytes;
    struct file *send_files[EXO_IPC_FDS_MAX]; /* fds to send: a reference each */
    unsigned send_nfds;
    unsigned recv_fds_room;
    int got_fds[EXO_IPC_FDS_MAX];  /* (E) with DONE: the fds received */
    unsigned got_nfds;
    uint64_t token;                /* (E) a call being served: its token */
    struct ipc_file *served_by;    /* (E) a call being served: the server fd it came in by */
    struct arch_regs *words_regs;  /* (E) a fastpath waiter's saved registers: a fastpath
                                    * peer writes the words there and clears this */
    bool parked;                   /* a fast_wait's (below), parked with no kernel frame: set by it
                                    * before it switches away; cleared by the fastpath
                                    * peer that claims it (claim_parked_locked) or when
                                    * it resumes (park_resume): false again by the end
                                    * of every wait */
};

/* A thread's fastpath wait record (struct uthread's ipc_wait, not on its
 * stack: a parked waiter keeps nothing there), set up once (park_record_init)
 * and used by each of its fastpath waits: the wait, and what only a parked
 * waiter needs (outside struct ipc_wait, which each general-path wait zeroes). */
struct fast_wait {
    struct ipc_wait w;
    struct arch_regs *frame;       /* its saved user registers */
    struct ipc_file *held;         /* the file its fd named, one reference held */
    struct thread_park park;       /* the scheduler resumes it in park_resume */
    bool claim_over;               /* set by a peer that claimed it parked and then could not
                                    * switch to it, once it is done with it (park_resume) */
};
_Static_assert(sizeof(struct fast_wait) <= sizeof(((struct uthread *)0)->ipc_wait),
               "a thread's fastpath wait record fits its uthread");

/* The fast_wait of a record claimed parked (only a fast_wait is ever parked). */
static struct fast_wait *fast_of(struct ipc_wait *w)
{
    return (struct fast_wait *)w;
}

/* An endpoint. (E) its lock. */
struct endpoint {
    struct spinlock lock;
    uint32_t files;                /* (E) fds (server or client) open on it */
    uint32_t servers;              /* (E) server fds among them */
    struct ipc_wait *senders, *senders_tail;     /* (E) calls and sends, oldest first */
    struct ipc_wait *receivers, *receivers_tail; /* (E) receivers, oldest first */
    struct ipc_wait *serving;      /* (E) calls received, not yet answered */
    uint64_t next_token;           /* (E) */
};

/* An endpoint fd's open file. */
struct ipc_file {
    struct file file;
    struct endpoint *ep;
    bool server;
};

/* ---- lists ------------------------------------------------------------------ */

/* A list is a head and a tail; the tail means something only while the head is
 * not NULL (so taking the last waiter off leaves it as it was: one store fewer
 * on every pop). */
static void push_locked(struct ipc_wait **head, struct ipc_wait **tail, struct ipc_wait *w)
{
    w->next = NULL;
    if (*head)
        (*tail)->next = w;
    else
        *head = w;
    *tail = w;
}

/* Puts w back at the front (it was first). */
static void push_front_locked(struct ipc_wait **head, struct ipc_wait **tail, struct ipc_wait *w)
{
    w->next = *head;
    if (!*head)
        *tail = w;
    *head = w;
}

static struct ipc_wait *pop_locked(struct ipc_wait **head)
{
    struct ipc_wait *w = *head;
    if (w)
        *head = w->next;
    return w;
}

/* Unlinks w from a list; false when it is not there. */
static bool unlink_locked(struct ipc_wait **head, struct ipc_wait **tail, struct ipc_wait *w)
{
    struct ipc_wait *prev = NULL;
    for (struct ipc_wait *at = *head; at; prev = at, at = at->next) {
        if (at != w)
            continue;
        if (prev)
            prev->next = w->next;
        else
            *head = w->next;
        if (tail && *tail == w)
            *tail = prev;
        return true;
    }
    return false;
}

/* Ends w's wait (endpoint lock held, w off every list). */
static void finish_locked(struct ipc_wait *w, long result)
{
    w->result = result;
    __atomic_store_n(&w->state, DONE, __ATOMIC_RELEASE);
    wait_queue_wake_all(&w->sleep);
}

/* ---- timeouts --------------------------------------------------------------- */

/* The deadline passed (include/sched/timeout.h): mark it and wake the waiter,
 * which leaves its endpoint itself (it knows its state there). */
static void wait_expired(struct timeout *t)
{
    struct ipc_wait *w = (struct ipc_wait *)((char *)t - __builtin_offsetof(struct ipc_wait, timeout));
    __atomic_store_n(&w->timed_out, true, __ATOMIC_RELEASE);
    wait_queue_wake_all(&w->sleep);
}

/* ---- waiting ---------------------------------------------------------------- */

static bool wait_over(void *ctx)
{
    struct ipc_wait *w = ctx;
    return __atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == DONE ||
           __atomic_load_n(&w->timed_out, __ATOMIC_ACQUIRE);
}

/* Leaves whichever list w is on (endpoint lock held); false when it is on none
 * (a peer has it: BUSY). */
static bool leave_locked(struct endpoint *ep, struct ipc_wait *w)
{
    return unlink_locked(&ep->senders, &ep->senders_tail, w) ||
           unlink_locked(&ep->receivers, &ep->receivers_tail, w) ||
           unlink_locked(&ep->serving, NULL, w);
}

static long wait_end(struct endpoint *ep, struct ipc_wait *w, int interrupted);

/*
 * Sleeps until w is DONE, a signal, or the deadline; w is published on one of
 * ep's lists already. Returns w's result, -EINTR or -ETIMEDOUT. A signal whose
 * action is to ignore it (one left pending because another thread blocks it) is
 * dropped and the wait goes on: a call already received cannot be restarted,
 * and EINTR for nothing would end a server loop (signal_discard_ignored).
 */
static long wait_for(struct endpoint *ep, struct ipc_wait *w)
{
    if (w->deadline_ns) {
        w->timeout = (struct timeout){.deadline_ns = w->deadline_ns, .expire = wait_expired};
        timeout_arm(&w->timeout);
    }
    int interrupted;
    do {
        interrupted = signal_wait_interruptible(&w->sleep, wait_over, w);
    } while (interrupted && !signal_discard_ignored());
    if (w->deadline_ns)
        timeout_disarm(&w->timeout);
    return wait_end(ep, w, interrupted);
}

/* After the sleep: w's result, or it leaves its list (-EINTR, -ETIMEDOUT). */
static long wait_end(struct endpoint *ep, struct ipc_wait *w, int interrupted)
{
    bool irq = spin_lock(&ep->lock);
    long result;
    for (;;) {
        if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == DONE) {
            result = w->result;
            break;
        }
        if (leave_locked(ep, w)) {
            result = interrupted || !w->timed_out ? -EINTR : -ETIMEDOUT;
            break;
        }
        spin_unlock(&ep->lock, irq); /* BUSY: a peer is copying; it ends soon */
        thread_yield();
        irq = spin_lock(&ep->lock);
    }
    spin_unlock(&ep->lock, irq);
    return result;
}

/* ---- copies ----------------------------------------------------------------- */

#define FAULT_MINE 1
#define FAULT_PEER 2

/*
 * Copies n bytes between our user memory at `mine` and the peer's at `theirs`
 * (to_peer: from ours to theirs), one peer page at a time through the direct
 * map. 0, FAULT_MINE or FAULT_PEER.
 */
static int copy_across(struct vmspace *peer, uintptr_t theirs, uintptr_t mine, size_t n,
                       bool to_peer)
{
    while (n) {
        size_t offset = theirs & (IPC_PAGE - 1);
        size_t chunk = IPC_PAGE - offset < n ? IPC_PAGE - offset : n;
        phys_addr_t frame;
        if (vmspace_pin_page(peer, theirs, to_peer, &frame))
            return FAULT_PEER;
        uint8_t *kva = (uint8_t *)arch_phys_to_virt(frame.value) + offset;
        int error = to_peer ? copy_from_user(kva, mine, chunk) : copy_to_user(mine, kva, chunk);
        vmspace_unpin_page(frame);
        if (error)
            return FAULT_MINE;
        theirs += chunk, mine += chunk, n -= chunk;
    }
    return 0;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

_Static_assert(VMSPACE_ANYWHERE == EXO_IPC_PAGES_ANYWHERE, "one spelling of anywhere");
_Static_assert(EXO_IPC_PAGE_SIZE == IPC_PAGE, "the ABI's page is the kernel's");

/*
 * What a rendezvous carries besides the words, from snd to rcv (one of them
 * running, the other BUSY, taken off its list): the offer is checked against
 * the room first (EMSGSIZE, the sender's), then the bytes are copied, the fds
 * installed and the region transferred, in that order, the last two all or
 * nothing (a failed region takes the fds back out). 0, or -errno with
 * *rcv_side telling whose error it is.
 */
static long transfer(struct ipc_wait *snd, struct ipc_wait *rcv, bool sender_runs,
                     bool *rcv_side)
{
    *rcv_side = false;
    if (snd->send_pages_bytes &&
        (!rcv->recv_pages || snd->send_pages_bytes > rcv->recv_pages_room))
        return -EMSGSIZE;
    if (snd->send_nfds > rcv->recv_fds_room)
        return -EMSGSIZE;
    size_t n = min_size(snd->send_bytes, rcv->recv_room);
    int fault = sender_runs ? copy_across(rcv->vm, rcv->recv_buf, snd->send_buf, n, true)
                            : copy_across(snd->vm, snd->send_buf, rcv->recv_buf, n, false);
    if (fault) {
        *rcv_side = (fault == FAULT_MINE) != sender_runs;
        return -EFAULT;
    }
    *rcv_side = true;
    rcv->got_nfds = 0;
    if (snd->send_nfds) {
        int error = fdtable_install_many(rcv->proc, snd->send_files, snd->send_nfds, rcv->got_fds,
                                         false);
        if (error)
            return error;
        rcv->got_nfds = snd->send_nfds;
    }
    rcv->got_pages = rcv->got_pages_bytes = 0;
    if (snd->send_pages_bytes) {
        uintptr_t at = rcv->recv_pages;
        int error = vmspace_transfer(snd->vm, snd->send_pages, snd->send_pages_bytes, rcv->vm,
                                     &at, snd->pages_share, rcv_side);
        if (error) {
            for (unsigned i = 0; i < rcv->got_nfds; i++)
                fdtable_remove_if(rcv->proc, (uint64_t)rcv->got_fds[i], snd->send_files[i]);
            rcv->got_nfds = 0;
            return error;
        }
        rcv->got_pages = at;
        rcv->got_pages_bytes = snd->send_pages_bytes;
    }
    rcv->recv_got = snd->send_bytes;
    return 0;
}

/* ---- the rendezvous ----------------------------------------------------------- */

/*
 * A call or send from w (running) to ep: hands it to a waiting receiver, or
 * waits for one; then, for a call, waits for the reply.
 */
static long deliver(struct endpoint *ep, struct ipc_wait *w, bool nonblock)
{
    for (;;) {
        bool irq = spin_lock(&ep->lock);
        if (ep->servers == 0) {
            spin_unlock(&ep->lock, irq);
            return -EPIPE;
        }
        struct ipc_wait *r = pop_locked(&ep->receivers);
        if (!r) {
            if (nonblock) {
                spin_unlock(&ep->lock, irq);
                return -EAGAIN;
            }
            w->state = WAITING;
            push_locked(&ep->senders, &ep->senders_tail, w);
            spin_unlock(&ep->lock, irq);
            return wait_for(ep, w);
        }
        r->state = BUSY;
        spin_unlock(&ep->lock, irq);
        bool rcv_side;
        long error = transfer(w, r, true, &rcv_side);
        irq = spin_lock(&ep->lock);
        if (error && !rcv_side) {
            r->state = WAITING; /* back at the front: it was first */
            push_front_locked(&ep->receivers, &ep->receivers_tail, r);
            spin_unlock(&ep->lock, irq);
            return error;
        }
        if (error) {
            finish_locked(r, error);
            spin_unlock(&ep->lock, irq);
            continue; /* the next receiver, if any */
        }
        for (int i = 0; i < EXO_IPC_WORDS; i++)
            r->words[i] = w->words[i];
        long token = 0;
        if (w->wants_reply) {
            token = (long)++ep->next_token;
            w->token = (uint64_t)token;
            w->served_by = r->served_by;
            w->state = WAITING;
            w->next = ep->serving;
            ep->serving = w;
        }
        finish_locked(r, token);
        spin_unlock(&ep->lock, irq);
        return w->wants_reply ? wait_for(ep, w) : 0;
    }
}

/* A receive by r (running) on ep through server fd `via`: takes the oldest
 * caller or waits for one. Returns the token (0 for a send) or -errno. */
static long receive(struct endpoint *ep, struct ipc_wait *r, struct ipc_file *via, bool nonblock)
{
    r->served_by = via;
    for (;;) {
        bool irq = spin_lock(&ep->lock);
        struct ipc_wait *s = pop_locked(&ep->senders);
        if (!s) {
            if (nonblock) {
                spin_unlock(&ep->lock, irq);
                return -EAGAIN;
            }
            r->state = WAITING;
            push_locked(&ep->receivers, &ep->receivers_tail, r);
            spin_unlock(&ep->lock, irq);
            return wait_for(ep, r);
        }
        s->state = BUSY;
        spin_unlock(&ep->lock, irq);
        bool rcv_side;
        long error = transfer(s, r, false, &rcv_side);
        irq = spin_lock(&ep->lock);
        if (error && rcv_side) {
            s->state = WAITING;
            push_front_locked(&ep->senders, &ep->senders_tail, s);
            spin_unlock(&ep->lock, irq);
            return error;
        }
        if (error) {
            finish_locked(s, error);
            spin_unlock(&ep->lock, irq);
            continue;
        }
        for (int i = 0; i < EXO_IPC_WORDS; i++)
            r->words[i] = s->words[i];
        long token = 0;
        if (s->wants_reply) {
            token = (long)++ep->next_token;
            s->token = (uint64_t)token;
            s->served_by = via;
            s->state = WAITING;
            s->next = ep->serving;
            ep->serving = s;
        } else {
            finish_locked(s, 0);
        }
        spin_unlock(&ep->lock, irq);
        return token;
    }
}

static struct ipc_wait *find_serving_locked(struct endpoint *ep, uint64_t token)
{
    for (struct ipc_wait *s = ep->serving; s; s = s->next) {
        if (s->token == token)
            return s;
    }
    return NULL;
}

/* The reply of r (running; its send fields are the reply) to the call with
 * `token`. 0, -EPIPE (no such call waits: answered, gave up, or never was),
 * -EFAULT (our reply buffer: the call stays unanswered). */
static long reply(struct endpoint *ep, struct ipc_wait *r, uint64_t token)
{
    bool irq = spin_lock(&ep->lock);
    struct ipc_wait *s = find_serving_locked(ep, token);
    if (!s) {
        spin_unlock(&ep->lock, irq);
        return -EPIPE;
    }
    unlink_locked(&ep->serving, NULL, s);
    s->state = BUSY;
    spin_unlock(&ep->lock, irq);
    bool rcv_side;
    long error = transfer(r, s, true, &rcv_side);
    irq = spin_lock(&ep->lock);
    if (error && !rcv_side) {
        s->state = WAITING;
        s->next = ep->serving;
        ep->serving = s;
        spin_unlock(&ep->lock, irq);
        return error;
    }
    if (error) {
        finish_locked(s, error);
    } else {
        for (int i = 0; i < EXO_IPC_WORDS; i++)
            s->words[i] = r->words[i];
        finish_locked(s, 0);
    }
    spin_unlock(&ep->lock, irq);
    return 0;
}

/* ---- the fastpath (see the top) ------------------------------------------------ */

static const struct file_ops ipc_file_ops;
/* The general paths a fastpath falls back to (below). */
static long call_or_send(SYSCALL_ARGS, bool wants_reply);
static long reply_recv(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4);

/* Check 5 for peer t; self, the caller, runs here (interrupts off). In one test
 * when t last ran where self runs and is pinned as self is: a running thread's
 * pin, if any, is the CPU it runs on (thread_set_own_affinity moves it there at
 * once), so both unpinned, or both pinned here. Else the test field by field. */
static inline __attribute__((always_inline)) bool runs_here(const struct thread *t,
                                                            const struct thread *self)
{
    if (t->place == self->place)
        return true;
    unsigned cpu = self->cpu;
    return t->cpu == cpu && (t->affinity < 0 || t->affinity == (int)cpu);
}

/* Check 2: the endpoint file behind fd, with a reference (file_put when done);
 * NULL when it is not one, and the general path says why. */
static struct ipc_file *fast_file(struct process *p, uint64_t fd, bool need_server)
{
    if (fd >= PROCESS_MAX_FDS)
        return NULL;
    /* A volatile load (as Linux's READ_ONCE): everything read after it is reached
     * through its value, so it is ordered after the store that published the
     * file; the acquire built-in cost an extra address computation here. */
    struct file *f = *(struct file *volatile *)&p->fds[fd];
    if (!f || f->ops != &ipc_file_ops || (need_server && !((struct ipc_file *)f)->server))
        return NULL;
    file_get(f);
    return (struct ipc_file *)f;
}

/* The message words, from our saved registers to the waiter w: straight into
 * its own saved registers when it waits on the fastpath (words_regs, which this
 * clears to say so), else into its record, with the size of the bytes that
 * came (none), which only a general-path wait reads (wait_return). */
static inline __attribute__((always_inline)) void fast_words(struct ipc_wait *w,
                                                              const struct arch_regs *regs)
{
    if (w->words_regs) {
        arch_regs_ipc_words_copy(w->words_regs, regs);
        w->words_regs = NULL;
    } else {
        arch_regs_ipc_words_get(regs, w->words);
        w->recv_got = 0; /* no bytes (a fastpath waiter has no ext to say so) */
    }
}

static __attribute__((noreturn)) void park_resume(void *arg);

/* A user thread's record, made as it starts (ipc_thread_start): the fields no
 * wait changes, a peer on either path or wait_for reads, set once. Everything
 * that says "nothing" stays so: no buffer either way, no region and no fds
 * sent or accepted (a general-path reply to such a wait finds nothing accepted: EMSGSIZE to the
 * server, as for any refused region), no deadline; the same thread and process. Its vm stays NULL:
 * with nothing to copy or map either way, transfer never reads it (copy_across is
 * called for 0 bytes, vmspace_transfer never), so exec, which changes the
 * space, has nothing to update here. */
void ipc_thread_start(struct uthread *ut)
{
    struct fast_wait *f = (struct fast_wait *)ut->ipc_wait;
    struct thread *self = thread_current();
    *f = (struct fast_wait){.w = {.thread = self, .proc = ut->proc,
                                  .sleep = WAIT_QUEUE_INIT("ipc wait")},
                            .frame = arch_user_regs(self->stack.top)};
    thread_park_init(&f->park, park_resume, f, (uintptr_t)f->frame);
}

/* The calling thread's fastpath record, made ready for a wait by it (interrupts
 * off): asleep in w->sleep (it publishes w next, as a call being served or as a
 * receiver), holding `file`, answered through its saved registers. Not set here:
 * result and recv_got (a peer writes them before DONE), state, token and
 * served_by (the caller sets them for its role), and the words (a fast
 * caller's go straight to its receiver; what comes back is written before it is
 * read, into the frame or w->words as fast_words says). Set as soon as the file
 * is taken (a failed check leaves them unused: only a fastpath wait reads them,
 * and this thread is not in one), so that the file need not be kept; the wait
 * begins later, when the thread puts itself in w->sleep (wait_queue_reuse_asleep),
 * once every check has passed. */
static inline __attribute__((always_inline)) struct fast_wait *
fast_wait_init(struct uthread *ut, struct ipc_file *file)
{
    struct fast_wait *f = (struct fast_wait *)ut->ipc_wait;
    f->w.words_regs = f->frame;
    f->held = file; /* parked is false: every wait's end clears it */
    return f;
}

/* Ends the wait of w (endpoint lock held, w off every list) with result and
 * claims it if it is parked: true, its thread is ours to switch to; false: it
 * is asleep in its queue (the caller takes it with wait_queue_take_one: NULL
 * when it is not there yet; it will see DONE itself). A parked one is claimed
 * by taking its parked flag, not taken out of its queue: thread_park_switch's
 * compare-and-swap of its state then decides between us and a waker that finds
 * it there (a signal), and its next wait makes the queue anew. The flag is
 * taken, not read: a parked thread woken meanwhile clears it as it resumes
 * (park_resume) and may be asleep in its C frame again by now (in wait_for, for
 * an ignored signal), BLOCKED in this same queue, where only a switch to that
 * frame may wake it. Interrupts off. */
static inline __attribute__((always_inline)) bool claim_parked_locked(struct ipc_wait *w,
                                                                      long result)
{
    w->result = result;
    __atomic_store_n(&w->state, DONE, __ATOMIC_RELEASE);
    return __atomic_exchange_n(&w->parked, false, __ATOMIC_ACQ_REL);
}

/* The end of a fastpath wait for its own thread: the words that came in the
 * record (from a general-path peer) to the frame, the file let go. */
static long fast_result(struct fast_wait *f, long result)
{
    if (result >= 0 && f->w.words_regs)
        arch_regs_ipc_words_set(f->frame, f->w.words);
    file_put(&f->held->file);
    return result;
}

/*
 * Where a parked fastpath waiter resumes when the scheduler runs it (a
 * general-path peer, a signal, kill, the server's end, or a fastpath peer that
 * could not switch to it directly woke it), on its own stack, interrupts on;
 * also called by the waiter itself when it did not switch away. A peer ends the
 * wait by setting DONE under the endpoint lock and, once DONE, touches nothing
 * of the record after dropping that lock: so where the general path takes the
 * lock once more, waiting until it is free is enough. Anything else (a signal
 * or kill, a general-path peer still copying) is wait_for's business; it finds
 * this thread out of w->sleep (its waker took it). Leaves for user mode with
 * the result.
 */
static __attribute__((noreturn)) void park_resume(void *arg)
{
    struct fast_wait *f = arg;
    struct ipc_wait *w = &f->w;
    struct endpoint *ep = f->held->ep;
    if (!__atomic_exchange_n(&w->parked, false, __ATOMIC_ACQ_REL)) {
        /* A peer claimed us and did not switch to us (someone else woke us, or
         * it was interrupted): until it says it is done, its wake of us may be
         * ahead, and we must not block anywhere else before that (its wake
         * would end that other wait). */
        while (!__atomic_load_n(&f->claim_over, __ATOMIC_ACQUIRE))
            arch_cpu_relax();
        __atomic_store_n(&f->claim_over, false, __ATOMIC_RELAXED);
    }
    long result;
    if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != DONE) {
        result = wait_for(ep, w);
    } else {
        signal_wait_withdraw(w->thread->user);
        while (__atomic_load_n(&ep->lock.locked, __ATOMIC_ACQUIRE))
            arch_cpu_relax();
        result = w->result;
    }
    arch_syscall_return(f->frame, fast_result(f, result), NULL);
}

/* A fastpath wait that found something pending as it published itself (a
 * signal, kill) and took itself back out of its queue: its peer, whose wait it
 * ended (NULL: none asleep), is woken, and wait_for decides, interrupts on, as
 * for the general path. claimed: the peer's record when it was claimed parked,
 * told that we are done with it once it is woken (park_resume waits for that). */
static __attribute__((noinline)) long fast_interrupted(struct fast_wait *f, struct thread *peer,
                                                       struct fast_wait *claimed)
{
    if (peer)
        thread_wake(peer);
    if (claimed)
        __atomic_store_n(&claimed->claim_over, true, __ATOMIC_RELEASE);
    arch_irq_enable();
    return fast_result(f, wait_for(f->held->ep, &f->w));
}

/* The rare branches of the fastpath, each called so that it keeps every
 * register (arch_call_keeping) or left by a tail call, so that the common path
 * saves no register: the last reference to a parked peer's file (its fd was
 * closed while it waited), and the cancel of our own sleep when something is
 * pending. */
static long held_file_release(void *arg)
{
    struct file *f = arg;
    if (f->ops->release)
        f->ops->release(f);
    return 0;
}

static long cancel_asleep(void *wq)
{
    return wait_queue_cancel_asleep(wq);
}

/* A claimed parked peer that someone else woke first (a signal): it runs on its
 * own, and may already have left its wait and blocked elsewhere, where a wake
 * of ours would be wrong; we are done with it, and sleep. */
static __attribute__((noinline, noreturn)) void fast_park_missed(struct fast_wait *f,
                                                                 struct fast_wait *claimed)
{
    __atomic_store_n(&claimed->claim_over, true, __ATOMIC_RELEASE);
    thread_park_block(&f->park);
    arch_irq_enable(); /* it did not switch away: it was woken meanwhile */
    park_resume(f);
}

/*
 * The fastpath's wait (no deadline): w is published on one of its endpoint's
 * lists with this thread asleep in w->sleep (fast_wait_init); interrupts are
 * off since the checks (and were on before: a system call). It makes w->sleep
 * the thread's interruptible wait without the signal lock
 * (signal_wait_publish), then parks. fast_park: peer, the thread of peer_w,
 * whose wait this call just ended, was claimed parked (claim_parked_locked),
 * and is resumed in user mode right here (thread_park_switch,
 * uthread_switch_return): its wait's end is done on its behalf (its signal
 * wait withdrawn, its file let go, its result in its frame; its words are
 * there already). fast_park_other (out of line: the fastpath keeps nothing
 * for it): the peer was asleep in its queue (a general-path waiter) and runs at
 * once (thread_park_handoff), or none was there yet: whoever is next.
 * Anything pending before the sleep (a signal, kill) is wait_for's business with
 * interrupts on, as for the general path (fast_interrupted). Returns only then.
 */
static inline __attribute__((always_inline)) long fast_park(struct fast_wait *f,
                                                             struct thread *self,
                                                             struct uthread *ut,
                                                             struct ipc_wait *peer_w,
                                                             struct thread *peer)
{
    struct ipc_wait *w = &f->w;
    struct fast_wait *pf = fast_of(peer_w);
    if (!signal_wait_publish(ut, &w->sleep) && arch_call_keeping(cancel_asleep, &w->sleep))
        return fast_interrupted(f, peer, pf);
    __atomic_store_n(&w->parked, true, __ATOMIC_RELAXED); /* for a peer of this CPU */
    if (!thread_park_switch(&f->park, self, peer))
        fast_park_missed(f, pf);
    struct uthread *peer_ut = peer->user;
    signal_wait_withdraw(peer_ut);
    struct file *held = &pf->held->file;
    if (__atomic_sub_fetch(&held->refs, 1, __ATOMIC_ACQ_REL) == 0) /* file_put's */
        arch_call_keeping(held_file_release, held);
    arch_regs_set_result(pf->frame, peer_w->result);
    uthread_switch_return(ut, peer, peer_ut, &self->on_cpu);
}

static __attribute__((noinline)) long fast_park_other(struct fast_wait *f, struct uthread *ut,
                                                      struct thread *peer)
{
    struct ipc_wait *w = &f->w;
    if (!signal_wait_publish(ut, &w->sleep) && wait_queue_cancel_asleep(&w->sleep))
        return fast_interrupted(f, peer, NULL);
    __atomic_store_n(&w->parked, true, __ATOMIC_RELAXED); /* for a peer of this CPU */
    if (peer)
        thread_park_handoff(&f->park, peer);
    else
        thread_park_block(&f->park);
    arch_irq_enable(); /* it did not switch away: it was woken meanwhile */
    park_resume(f);
}

/* The peer w, whose wait we just ended, was not parked (a general-path waiter,
 * asleep in its own queue or about to be): taken out of its queue if it is
 * there, and we wait as fast_park_other says. ep's lock held. */
static __attribute__((noinline)) long fast_wake_other(struct fast_wait *f, struct uthread *ut,
                                                      struct endpoint *ep, struct ipc_wait *w)
{
    struct thread *peer = wait_queue_take_one(&w->sleep);
    spin_unlock_irqs_off(&ep->lock);
    return fast_park_other(f, ut, peer);
}

/* A check failed after the file was taken (interrupts off): the general path
 * with the same arguments (read back from the system call's saved registers),
 * interrupts on again and the file let go. Out of line, so that the fastpath
 * keeps nothing for it. */
static __attribute__((noinline)) long fast_call_general(struct fast_wait *f)
{
    arch_irq_enable();
    file_put(&f->held->file);
    return call_or_send(arch_regs_syscall_arg(f->frame, 0), 0, 0, 0, 0, 0, true);
}

static __attribute__((noinline)) long fast_reply_recv_general(struct fast_wait *f)
{
    arch_irq_enable();
    file_put(&f->held->file);
    return reply_recv(arch_regs_syscall_arg(f->frame, 0), 0, 0, 0,
                      arch_regs_syscall_arg(f->frame, 4));
}

/*
 * ipc_call(fd, 0, 0, 0): checks 1-6, the transfer and the wait, with
 * interrupts off from the first check to the switch. A failed check takes the
 * general path (with the same arguments).
 */
static inline __attribute__((always_inline)) long fast_call(uint64_t fd)
{
    struct thread *self = thread_current();
    struct uthread *ut = self->user;
    arch_irq_disable(); /* on in a system call */
    struct ipc_file *file = fast_file(ut->proc, fd, false);
    if (!file) {
        arch_irq_enable();
        return call_or_send(fd, 0, 0, 0, 0, 0, true);
    }
    struct fast_wait *f = fast_wait_init(ut, file);
    struct endpoint *ep = file->ep;
    spin_lock_irqs_off(&ep->lock);
    struct ipc_wait *r = ep->receivers;
    if (!r || !runs_here(r->thread, self)) {
        spin_unlock_irqs_off(&ep->lock);
        return fast_call_general(f);
    }
    ep->receivers = r->next; /* pop_locked */
    struct ipc_wait *w = &f->w;
    long token = (long)++ep->next_token;
    w->token = (uint64_t)token;
    w->served_by = r->served_by;
    w->state = WAITING;
    w->next = ep->serving;
    ep->serving = w;
    wait_queue_reuse_asleep(&w->sleep, self);
    fast_words(r, f->frame);
    if (!claim_parked_locked(r, token))
        return fast_wake_other(f, ut, ep, r);
    spin_unlock_irqs_off(&ep->lock);
    return fast_park(f, self, ut, r, r->thread);
}

/*
 * ipc_reply_recv(token, 0, 0, 0, fd): checks 1-6; the reply goes straight back
 * to the caller and we wait for the next message, the caller running in our
 * place. A failed check takes the general path.
 */
static inline __attribute__((always_inline)) long fast_reply_recv(uint64_t token, uint64_t fd)
{
    struct thread *self = thread_current();
    struct uthread *ut = self->user;
    arch_irq_disable(); /* on in a system call */
    struct ipc_file *file = fast_file(ut->proc, fd, true);
    if (!file) {
        arch_irq_enable();
        return reply_recv(token, 0, 0, 0, fd);
    }
    struct fast_wait *f = fast_wait_init(ut, file);
    struct endpoint *ep = file->ep;
    spin_lock_irqs_off(&ep->lock);
    /* The call answered, and the link to it: the newest call served first (one
     * server thread answers its only call), else the others (find_serving_locked's
     * walk, here so that its link can be cut). */
    struct ipc_wait **at = &ep->serving, *s;
    while ((s = *at) && s->token != token)
        at = &s->next;
    if (!s || ep->senders || !runs_here(s->thread, self)) {
        spin_unlock_irqs_off(&ep->lock);
        return fast_reply_recv_general(f);
    }
    *at = s->next;
    struct ipc_wait *r = &f->w;
    r->served_by = file; /* f->held */
    wait_queue_reuse_asleep(&r->sleep, self);
    fast_words(s, f->frame);
    r->state = WAITING;
    push_locked(&ep->receivers, &ep->receivers_tail, r);
    if (!claim_parked_locked(s, 0))
        return fast_wake_other(f, ut, ep, s);
    spin_unlock_irqs_off(&ep->lock);
    return fast_park(f, self, ut, s, s->thread);
}

/* ---- endpoint files ------------------------------------------------------------- */

static void ipc_file_release(struct file *f)
{
    struct ipc_file *file = (struct ipc_file *)f;
    struct endpoint *ep = file->ep;
    bool irq = spin_lock(&ep->lock);
    if (file->server) {
        struct ipc_wait **link = &ep->serving;
        while (*link) {
            struct ipc_wait *s = *link;
            if (s->served_by == file) {
                *link = s->next;
                finish_locked(s, -EPIPE);
            } else {
                link = &s->next;
            }
        }
        if (--ep->servers == 0) {
            struct ipc_wait *s;
            while ((s = pop_locked(&ep->senders)))
                finish_locked(s, -EPIPE);
        }
    }
    bool last = --ep->files == 0;
    spin_unlock(&ep->lock, irq);
    if (last)
        kfree(ep);
    kfree(file);
}

static const struct file_ops ipc_file_ops = {.release = ipc_file_release};

/* A new fd for a new file on ep (the caller counted it in ep->files). */
static long install(struct endpoint *ep, bool server, unsigned flags)
{
    struct ipc_file *file = kmalloc(sizeof(*file));
    if (!file)
        return -ENOMEM;
    *file = (struct ipc_file){.file = {.ops = &ipc_file_ops, .refs = 1}, .ep = ep, .server = server};
    int fd = fdtable_install(process_current(), &file->file, 0, flags & EXO_IPC_CLOEXEC);
    if (fd < 0)
        file_put(&file->file); /* releases: uncounts it from ep */
    return fd;
}

/* The endpoint file behind fd, with a reference (file_put when done). */
static struct ipc_file *ipc_file_get(uint64_t fd, bool need_server, long *error)
{
    struct process *p = process_current();
    struct file *f = fd < PROCESS_MAX_FDS ? __atomic_load_n(&p->fds[fd], __ATOMIC_ACQUIRE) : NULL;
    if (!f) {
        *error = -EBADF;
        return NULL;
    }
    if (f->ops != &ipc_file_ops) {
        *error = -EINVAL;
        return NULL;
    }
    struct ipc_file *file = (struct ipc_file *)f;
    if (need_server && !file->server) {
        *error = -EBADF;
        return NULL;
    }
    file_get(f);
    return file;
}

long sys_ipc_endpoint(SYSCALL_ARGS)
{
    if (a0 & ~(uint64_t)FD_FLAGS)
        return -EINVAL;
    struct endpoint *ep = kmalloc(sizeof(*ep));
    if (!ep)
        return -ENOMEM;
    *ep = (struct endpoint){.lock = SPINLOCK_INIT("ipc endpoint"), .files = 1, .servers = 1};
    long fd = install(ep, true, (unsigned)a0);
    if (fd == -ENOMEM)
        kfree(ep); /* no file was made to release it */
    return fd;
}

long sys_ipc_client(SYSCALL_ARGS)
{
    if (a1 & ~(uint64_t)FD_FLAGS)
        return -EINVAL;
    long error;
    struct ipc_file *file = ipc_file_get(a0, false, &error);
    if (!file)
        return error;
    struct endpoint *ep = file->ep;
    bool irq = spin_lock(&ep->lock);
    ep->files++;
    spin_unlock(&ep->lock, irq);
    long fd = install(ep, false, (unsigned)a1);
    if (fd == -ENOMEM) {
        irq = spin_lock(&ep->lock);
        ep->files--; /* ours still holds it: never the last */
        spin_unlock(&ep->lock, irq);
    }
    file_put(&file->file);
    return fd;
}

/* ---- system calls ------------------------------------------------------------- */

/* The region to send and the room for one, from ext (validated: the border). */
static long pages_setup(struct ipc_wait *w, const struct exo_ipc_ext *ext)
{
    if (ext->send_pages_bytes) {
        if (ext->pages_mode != EXO_IPC_PAGES_MOVE && ext->pages_mode != EXO_IPC_PAGES_SHARE)
            return -EINVAL;
        if ((ext->send_pages | ext->send_pages_bytes) & (IPC_PAGE - 1))
            return -EINVAL;
        if (ext->send_pages_bytes > EXO_IPC_PAGES_MAX)
            return -EMSGSIZE;
        if (!user_range_ok(ext->send_pages, ext->send_pages_bytes))
            return -EFAULT;
    } else if (ext->send_pages) {
        return -EINVAL;
    }
    size_t room = min_size(ext->recv_pages_bytes, EXO_IPC_PAGES_MAX);
    if (ext->recv_pages && ext->recv_pages != EXO_IPC_PAGES_ANYWHERE) {
        if ((ext->recv_pages | room) & (IPC_PAGE - 1))
            return -EINVAL;
        if (!user_range_ok(ext->recv_pages, room))
            return -EFAULT;
    }
    w->send_pages = ext->send_pages, w->send_pages_bytes = ext->send_pages_bytes;
    w->pages_share = ext->pages_mode == EXO_IPC_PAGES_SHARE;
    w->recv_pages = ext->recv_pages, w->recv_pages_room = room;
    return 0;
}

/* The fds to send (a reference each, until wait_release) and the room for some. */
static long fds_setup(struct ipc_wait *w, const struct exo_ipc_ext *ext)
{
    if (ext->send_nfds > EXO_IPC_FDS_MAX)
        return -EMSGSIZE;
    for (unsigned i = 0; i < ext->send_nfds; i++) {
        uint64_t fd = (uint64_t)(int64_t)ext->send_fds[i];
        w->send_files[i] = fd < PROCESS_MAX_FDS ? fdtable_get(w->proc, fd) : NULL;
        if (!w->send_files[i])
            return -EBADF;
        w->send_nfds = i + 1;
    }
    w->recv_fds_room = ext->recv_nfds < EXO_IPC_FDS_MAX ? ext->recv_nfds : EXO_IPC_FDS_MAX;
    return 0;
}

/* What wait_setup took: the references of the fds to send. */
static void wait_release(struct ipc_wait *w)
{
    for (unsigned i = 0; i < w->send_nfds; i++)
        file_put(w->send_files[i]);
    w->send_nfds = 0;
}

/* Fills w from the caller's registers and its descriptor (0: none); whatever
 * it returns, wait_release undoes it. */
static long wait_setup(struct ipc_wait *w, const struct arch_regs *regs, uintptr_t ext_addr,
                       uint64_t timeout_ns)
{
    struct process *p = process_current();
    *w = (struct ipc_wait){.thread = thread_current(), .vm = p->vm, .proc = p};
    wait_queue_init(&w->sleep, "ipc wait");
    arch_regs_ipc_words_get(regs, w->words);
    if (timeout_ns) {
        uint64_t now = arch_time_ns();
        w->deadline_ns = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    }
    if (!ext_addr)
        return 0;
    struct exo_ipc_ext ext;
    if (copy_from_user(&ext, ext_addr, sizeof(ext)))
        return -EFAULT;
    if (ext.send_bytes > EXO_IPC_BUF_MAX)
        return -EMSGSIZE;
    if (!user_range_ok(ext.send_buf, ext.send_bytes))
        return -EFAULT;
    size_t room = ext.recv_bytes > EXO_IPC_BUF_MAX ? EXO_IPC_BUF_MAX : ext.recv_bytes;
    if (!user_range_ok(ext.recv_buf, room))
        return -EFAULT;
    w->send_buf = ext.send_buf, w->send_bytes = ext.send_bytes;
    w->recv_buf = ext.recv_buf, w->recv_room = room;
    long error = pages_setup(w, &ext);
    return error ? error : fds_setup(w, &ext);
}

/* Hands the received words and size back (a success). */
static long wait_return(struct ipc_wait *w, struct arch_regs *regs, uintptr_t ext_addr,
                        long result)
{
    if (result < 0)
        return result;
    arch_regs_ipc_words_set(regs, w->words);
    if (!ext_addr)
        return result;
    uint64_t got = w->recv_got;
    if (copy_to_user(ext_addr + __builtin_offsetof(struct exo_ipc_ext, recv_bytes), &got,
                     sizeof(got)))
        return -EFAULT;
    if (w->recv_pages) {
        uint64_t region[2] = {w->got_pages, w->got_pages_bytes};
        if (copy_to_user(ext_addr + __builtin_offsetof(struct exo_ipc_ext, recv_pages), region,
                         sizeof(region)))
            return -EFAULT;
    }
    if (w->recv_fds_room) {
        uint32_t n = w->got_nfds;
        if (copy_to_user(ext_addr + __builtin_offsetof(struct exo_ipc_ext, recv_nfds), &n,
                         sizeof(n)) ||
            copy_to_user(ext_addr + __builtin_offsetof(struct exo_ipc_ext, recv_fds), w->got_fds,
                         n * sizeof(int)))
            return -EFAULT;
    }
    return result;
}

static long call_or_send(SYSCALL_ARGS, bool wants_reply)
{
    if (a1 & ~(uint64_t)CALL_FLAGS)
        return -EINVAL;
    long error;
    struct ipc_file *file = ipc_file_get(a0, false, &error);
    if (!file)
        return error;
    struct arch_regs *regs = arch_user_regs(thread_current()->stack.top);
    struct ipc_wait w;
    long result = wait_setup(&w, regs, a2, a3);
    w.wants_reply = wants_reply;
    if (result == 0) {
        result = deliver(file->ep, &w, a1 & EXO_IPC_NONBLOCK);
        result = wants_reply ? wait_return(&w, regs, a2, result) : result;
    }
    wait_release(&w);
    file_put(&file->file);
    return result;
}

/* Registers only: the fastpath, which takes the general path itself when a
 * check fails (with the same arguments: flags, ext and timeout all 0). */
long sys_ipc_call(SYSCALL_ARGS)
{
    if (!(a1 | a2 | a3))
        return fast_call(a0);
    return call_or_send(a0, a1, a2, a3, a4, a5, true);
}

long sys_ipc_send(SYSCALL_ARGS)
{
    return call_or_send(a0, a1, a2, a3, a4, a5, false);
}

long sys_ipc_recv(SYSCALL_ARGS)
{
    if (a1 & ~(uint64_t)EXO_IPC_NONBLOCK)
        return -EINVAL;
    long error;
    struct ipc_file *file = ipc_file_get(a0, true, &error);
    if (!file)
        return error;
    struct arch_regs *regs = arch_user_regs(thread_current()->stack.top);
    struct ipc_wait r;
    long result = wait_setup(&r, regs, a2, a3);
    if (result == 0) {
        result = receive(file->ep, &r, file, a1 & EXO_IPC_NONBLOCK);
        result = wait_return(&r, regs, a2, result);
    }
    wait_release(&r);
    file_put(&file->file);
    return result;
}

/* (token, flags, ext, timeout_ns, fd): the reply (token 0: none), then a
 * receive. A reply with registers only goes to the fastpath, which takes this
 * general path itself when a check fails (flags, ext and timeout all 0). */
long sys_ipc_reply_recv(SYSCALL_ARGS)
{
    if (a0 && !(a1 | a2 | a3))
        return fast_reply_recv(a0, a4);
    return reply_recv(a0, a1, a2, a3, a4);
}

static long reply_recv(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
    long result;
    if (a1 & ~(uint64_t)REPLY_RECV_FLAGS)
        return -EINVAL;
    long error;
    struct ipc_file *file = ipc_file_get(a4, true, &error);
    if (!file)
        return error;
    struct arch_regs *regs = arch_user_regs(thread_current()->stack.top);
    struct ipc_wait r;
    result = wait_setup(&r, regs, a2, a3);
    if (result == 0 && a0) {
        result = reply(file->ep, &r, a0);
        if (result == -EPIPE && !(a1 & EXO_IPC_NORECV))
            result = 0; /* the caller gave up: the server simply goes on */
    }
    if (result == 0 && !(a1 & EXO_IPC_NORECV)) {
        r.send_bytes = 0;
        result = receive(file->ep, &r, file, a1 & EXO_IPC_NONBLOCK);
        result = wait_return(&r, regs, a2, result);
    }
    wait_release(&r);
    file_put(&file->file);
    return result;
}
