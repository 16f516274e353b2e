/* Anonymous pipes: see include/fs/pipe.h. */
#include "fs/pipe.h"

#include <stdbool.h>

#include "arch/uaccess.h"
#include "fs/fcntl.h"
#include "fs/file.h"
#include "fs/pipe_ring.h"
#include "fs/poll.h"
#include "lib/errno.h"
#include "mm/heap.h"
#include "proc/signal.h"
#include "sched/sync.h"

#define PIPE_DEV KSTAT_DEV(0, 12) /* pipefs's st_dev on Linux */

struct pipe {
    struct mutex lock;          /* the ring; readers and writers in turn */
    struct pipe_ring ring;      /* (lock); ring.len also read atomically by waits */
    uint32_t readers, writers;  /* (A) open ends */
    struct wait_queue readable; /* readers wait for data or no writers */
    struct wait_queue writable; /* writers wait for room or no readers */
    uint64_t ino;
    uint32_t ends;              /* (A) struct files not yet fully released */
};

static uint64_t next_pipe_ino = 1; /* (A) */

static bool is_nonblocking(struct file *f)
{
    return __atomic_load_n(&f->flags, __ATOMIC_RELAXED) & O_NONBLOCK;
}

static size_t queued(struct pipe *p)
{
    return __atomic_load_n(&p->ring.len, __ATOMIC_ACQUIRE);
}

static bool can_read(void *ctx)
{
    struct pipe *p = ctx;
    return queued(p) > 0 || __atomic_load_n(&p->writers, __ATOMIC_ACQUIRE) == 0;
}

/* A writer of `n` bytes may go on: room enough (all of n when atomic), or no
 * reader is left. */
struct write_wait {
    struct pipe *p;
    size_t need;
};

static bool can_write(void *ctx)
{
    struct write_wait *w = ctx;
    return PIPE_CAPACITY - queued(w->p) >= w->need ||
           __atomic_load_n(&w->p->readers, __ATOMIC_ACQUIRE) == 0;
}

/* Every pipe wait goes through here: 0 when cond holds, -ERESTARTSYS when a
 * signal ended it (the callers pass it on, or the count already moved). */
static int pipe_wait(struct wait_queue *wq, bool (*cond)(void *ctx), void *ctx)
{
    return signal_wait_interruptible(wq, cond, ctx);
}

static void state_changed(struct wait_queue *wq)
{
    wait_queue_wake_all(wq);
    fs_poll_notify();
}

/* Copies up to len queued bytes out; 0 when empty. */
static long drain(struct pipe *p, uintptr_t buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        const uint8_t *span;
        size_t n = pipe_ring_read_span(&p->ring, &span);
        if (n == 0)
            break;
        if (n > len - done)
            n = len - done;
        long copied = copy_to_user_partial(buf + done, span, n);
        if (copied < 0)
            return done ? (long)done : copied;
        pipe_ring_consume(&p->ring, (size_t)copied);
        done += (size_t)copied;
        if ((size_t)copied < n)
            break;
    }
    return (long)done;
}

static long pipe_read(struct file *f, uintptr_t buf, size_t len)
{
    struct pipe *p = f->private;
    if (len == 0)
        return 0;
    mutex_lock(&p->lock);
    while (p->ring.len == 0) {
        if (__atomic_load_n(&p->writers, __ATOMIC_ACQUIRE) == 0) {
            mutex_unlock(&p->lock);
            return 0;
        }
        if (is_nonblocking(f)) {
            mutex_unlock(&p->lock);
            return -EAGAIN;
        }
        mutex_unlock(&p->lock);
        int error = pipe_wait(&p->readable, can_read, p);
        if (error)
            return error;
        mutex_lock(&p->lock);
    }
    long got = drain(p, buf, len);
    mutex_unlock(&p->lock);
    if (got > 0)
        state_changed(&p->writable);
    return got;
}

/* Copies up to len bytes in, as room allows; 0 when full. */
static long fill(struct pipe *p, uintptr_t buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint8_t *span;
        size_t n = pipe_ring_write_span(&p->ring, &span);
        if (n == 0)
            break;
        if (n > len - done)
            n = len - done;
        long copied = copy_from_user_partial(span, buf + done, n);
        if (copied < 0)
            return done ? (long)done : copied;
        pipe_ring_commit(&p->ring, (size_t)copied);
        done += (size_t)copied;
        if ((size_t)copied < n)
            break;
    }
    return (long)done;
}

static long pipe_write(struct file *f, uintptr_t buf, size_t len)
{
    struct pipe *p = f->private;
    size_t done = 0;
    if (len == 0)
        return 0; /* Linux: before even the readers are checked */
    mutex_lock(&p->lock);
    while (done < len) {
        if (__atomic_load_n(&p->readers, __ATOMIC_ACQUIRE) == 0) {
            mutex_unlock(&p->lock);
            if (done)
                return (long)done;
            signal_send_current(SIGPIPE);
            return -EPIPE;
        }
        size_t need = len - done <= PIPE_BUF ? len - done : 1;
        if (pipe_ring_free(&p->ring) >= need) {
            long put = fill(p, buf + done, len - done);
            if (put < 0) {
                mutex_unlock(&p->lock);
                if (done)
                    state_changed(&p->readable);
                return done ? (long)done : put;
            }
            done += (size_t)put;
            state_changed(&p->readable);
            continue;
        }
        if (is_nonblocking(f)) {
            mutex_unlock(&p->lock);
            return done ? (long)done : -EAGAIN;
        }
        mutex_unlock(&p->lock);
        struct write_wait w = {p, need};
        int error = pipe_wait(&p->writable, can_write, &w);
        if (error)
            return done ? (long)done : error;
        mutex_lock(&p->lock);
    }
    mutex_unlock(&p->lock);
    return (long)done;
}

static unsigned pipe_poll_read(struct file *f)
{
    struct pipe *p = f->private;
    unsigned mask = queued(p) ? POLLIN | POLLRDNORM : 0;
    if (__atomic_load_n(&p->writers, __ATOMIC_ACQUIRE) == 0)
        mask |= POLLHUP;
    return mask;
}

static unsigned pipe_poll_write(struct file *f)
{
    struct pipe *p = f->private;
    if (__atomic_load_n(&p->readers, __ATOMIC_ACQUIRE) == 0)
        return POLLERR;
    return PIPE_CAPACITY - queued(p) >= PIPE_BUF ? POLLOUT | POLLWRNORM : 0;
}

#define FIONREAD 0x541B

static long pipe_ioctl(struct file *f, unsigned long request, uintptr_t arg)
{
    if (request != FIONREAD)
        return -ENOTTY;
    int n = (int)queued(f->private);
    return copy_to_user(arg, &n, sizeof(n));
}

static int pipe_stat(struct file *f, struct kstat *out)
{
    struct pipe *p = f->private;
    *out = (struct kstat){.dev = PIPE_DEV, .ino = p->ino, .nlink = 1, .mode = S_IFIFO | 0600};
    return 0;
}

/* Closing an end: the last reference of that end's struct file. The end's
 * count drops and the other side is woken under the mutex; `ends` is each
 * closer's very last touch of the pipe, so whoever drops it to 0 frees the
 * pipe when the other closer is wholly done with it. */
static void end_release(struct file *f, bool reader)
{
    struct pipe *p = f->private;
    kfree(f);
    mutex_lock(&p->lock);
    __atomic_sub_fetch(reader ? &p->readers : &p->writers, 1, __ATOMIC_ACQ_REL);
    state_changed(reader ? &p->writable : &p->readable);
    mutex_unlock(&p->lock);
    if (__atomic_sub_fetch(&p->ends, 1, __ATOMIC_ACQ_REL) == 0) {
        kfree(p->ring.buf);
        kfree(p);
    }
}

static void pipe_release_read(struct file *f)
{
    end_release(f, true);
}

static void pipe_release_write(struct file *f)
{
    end_release(f, false);
}

static const struct file_ops pipe_read_ops = {
    .read = pipe_read,
    .ioctl = pipe_ioctl,
    .stat = pipe_stat,
    .poll = pipe_poll_read,
    .release = pipe_release_read,
};

static const struct file_ops pipe_write_ops = {
    .write = pipe_write,
    .ioctl = pipe_ioctl,
    .stat = pipe_stat,
    .poll = pipe_poll_write,
    .release = pipe_release_write,
};

int pipe_create(uint32_t flags, struct file **read_end, struct file **write_end)
{
    struct pipe *p = kcalloc(1, sizeof(*p));
    uint8_t *buf = kmalloc(PIPE_CAPACITY);
    struct file *r = kcalloc(1, sizeof(*r)), *w = kcalloc(1, sizeof(*w));
    if (!p || !buf || !r || !w) {
        kfree(p);
        kfree(buf);
        kfree(r);
        kfree(w);
        return -ENOMEM;
    }
    mutex_init(&p->lock, "pipe");
    pipe_ring_init(&p->ring, buf, PIPE_CAPACITY);
    wait_queue_init(&p->readable, "pipe readable");
    wait_queue_init(&p->writable, "pipe writable");
    p->readers = p->writers = 1;
    p->ends = 2;
    p->ino = __atomic_fetch_add(&next_pipe_ino, 1, __ATOMIC_RELAXED);
    uint32_t nonblock = flags & O_NONBLOCK;
    *r = (struct file){.ops = &pipe_read_ops, .refs = 1, .flags = O_RDONLY | nonblock, .private = p};
    *w = (struct file){.ops = &pipe_write_ops, .refs = 1, .flags = O_WRONLY | nonblock, .private = p};
    *read_end = r;
    *write_end = w;
    return 0;
}

long pipe_bytes_queued(struct file *f)
{
    if (f->ops != &pipe_read_ops && f->ops != &pipe_write_ops)
        return -1;
    return (long)queued(f->private);
}
