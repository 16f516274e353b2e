/* Unix-domain sockets: see include/fs/unix_socket.h. */
#include "fs/unix_socket.h"

#include "arch/uaccess.h"
#include "base/spinlock.h"
#include "fs/fcntl.h"
#include "fs/file.h"
#include "fs/initrd.h"
#include "fs/pipe_ring.h"
#include "fs/poll.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "proc/signal.h"
#include "sched/sync.h"

#define SOCKET_DEV KSTAT_DEV(0, 8) /* sockfs's st_dev on Linux */
#define SHUT_RCV 1u
#define SHUT_SEND 2u
#define SHUT_BOTH 3u
#define SOMAXCONN 4096

enum unix_state { UNCONNECTED, LISTENING, CONNECTED };

/* Default rule: (G) unix_lock. */
struct unix_sock {
    struct mutex lock;          /* the ring */
    struct pipe_ring ring;      /* (lock); ring.len also read atomically by waits */
    struct wait_queue readable; /* readers and accepters of this socket */
    struct wait_queue writable; /* senders into this socket, connecters to it */
    int type;                   /* set at creation */
    uint64_t ino;               /* set at creation */
    uint32_t refs;              /* (A) the owner (file or accept queue) and each peer pointer */
    uint32_t shutdown;          /* (A) SHUT_RCV | SHUT_SEND */
    int error;                  /* (A) pending SO_ERROR */
    bool dead;                  /* (A) its owner let it go */
    int sndbuf, rcvbuf;         /* (A) as SO_SNDBUF/SO_RCVBUF report them */
    uint32_t flag_opts;         /* (A) the on/off options set (bit = option number) */
    enum unix_state state;      /* (G) written; waits, poll and the send path read it (A) */
    struct unix_sock *peer;     /* a reference; for a stream fixed once connected */
    struct unix_addr name;      /* len 0 until bound */
    struct unix_sock *next_bound;
    struct unix_sock *queue_head, *queue_tail, *next_queued; /* a listener's connections */
    uint32_t queued;            /* (A) connections in the queue */
    int backlog;                /* (G) written; a connecter's wait reads it */
    struct unix_fds *fds_head, *fds_tail; /* (lock) files in flight queued here */
    size_t fds_span;            /* (lock) ring bytes before the last entry's data */
    uint32_t inflight;          /* (G) queue entries holding this socket's file */
    uint32_t held_socks;        /* (G) Unix sockets in flight in this queue (a listener's:
                                   and in its queued connections') */
    uint32_t own_socks;         /* (G) Unix sockets in flight in this queue itself */
    struct unix_sock *listener; /* (G) a queued connection's listener, until accepted */
};

static struct spinlock unix_lock = SPINLOCK_INIT("unix sockets");
static struct unix_sock *bound_sockets; /* (G) */
static uint64_t next_ino = 1;           /* (A) */
static uint32_t next_autobind;          /* (G) */

static const struct file_ops unix_socket_ops;

static struct unix_sock *sock_of(struct file *f)
{
    return f->private;
}

bool unix_socket_is(const struct file *f)
{
    return f->ops == &unix_socket_ops;
}

/* ---- life ------------------------------------------------------------------------- */

static struct unix_sock *sock_new(int type)
{
    struct unix_sock *s = kcalloc(1, sizeof(*s));
    uint8_t *buf = kmalloc(UNIX_RING_BYTES);
    if (!s || !buf) {
        kfree(s);
        kfree(buf);
        return NULL;
    }
    mutex_init(&s->lock, "unix socket");
    pipe_ring_init(&s->ring, buf, UNIX_RING_BYTES);
    wait_queue_init(&s->readable, "unix readable");
    wait_queue_init(&s->writable, "unix writable");
    s->type = type;
    s->ino = __atomic_fetch_add(&next_ino, 1, __ATOMIC_RELAXED);
    s->refs = 1;
    s->sndbuf = s->rcvbuf = UNIX_BUF_DEFAULT;
    return s;
}

static void sock_get(struct unix_sock *s)
{
    __atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
}

static void fds_drain(struct unix_sock *q);

static void sock_put(struct unix_sock *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (s->fds_head)
            fds_drain(s); /* empty once released (a socket never released had no sends) */
        kfree(s->ring.buf);
        kfree(s);
    }
}

static struct file *file_new(struct unix_sock *s, uint32_t flags)
{
    struct file *f = kcalloc(1, sizeof(*f));
    if (f)
        *f = (struct file){.ops = &unix_socket_ops, .refs = 1,
                           .flags = O_RDWR | (flags & O_NONBLOCK), .private = s};
    return f;
}

static uint32_t shut_of(struct unix_sock *s)
{
    return __atomic_load_n(&s->shutdown, __ATOMIC_ACQUIRE);
}

static void shut_set(struct unix_sock *s, uint32_t bits)
{
    __atomic_fetch_or(&s->shutdown, bits, __ATOMIC_ACQ_REL);
}

static bool is_dead(struct unix_sock *s)
{
    return __atomic_load_n(&s->dead, __ATOMIC_ACQUIRE);
}

static size_t queued_bytes(struct unix_sock *s)
{
    return __atomic_load_n(&s->ring.len, __ATOMIC_ACQUIRE);
}

/* Wakes everything waiting on s and every poller. */
static void sock_changed(struct unix_sock *s)
{
    wait_queue_wake_all(&s->readable);
    wait_queue_wake_all(&s->writable);
    fs_poll_notify();
}

/* ---- files in flight (SCM_RIGHTS) ---------------------------------------------------- */

void unix_fds_free(struct unix_fds *fds)
{
    if (!fds)
        return;
    for (unsigned i = 0; i < fds->count; i++)
        file_put(fds->files[i]);
    kfree(fds);
}

/* The socket that counts for q's queue in the cycle rule (see the header). */
static struct unix_sock *owner_locked(struct unix_sock *q)
{
    return q->listener ? q->listener : q;
}

/* How many of fds' files are Unix sockets. */
static uint32_t fds_socks(const struct unix_fds *fds)
{
    uint32_t socks = 0;
    for (unsigned i = 0; i < fds->count; i++)
        socks += unix_socket_is(fds->files[i]);
    return socks;
}

/* Counts fds' Unix sockets as in flight in q's queue: 0, or -ETOOMANYREFS
 * when that could close a cycle (nothing counted). */
static int fds_account(struct unix_sock *q, const struct unix_fds *fds)
{
    uint32_t socks = fds_socks(fds);
    if (!socks)
        return 0;
    bool irq = spin_lock(&unix_lock);
    struct unix_sock *owner = owner_locked(q);
    int error = owner->inflight ? -ETOOMANYREFS : 0;
    for (unsigned i = 0; i < fds->count && !error; i++) {
        if (!unix_socket_is(fds->files[i]))
            continue;
        struct unix_sock *sent = sock_of(fds->files[i]);
        if (sent == owner || sent->held_socks)
            error = -ETOOMANYREFS;
    }
    if (!error) {
        for (unsigned i = 0; i < fds->count; i++)
            if (unix_socket_is(fds->files[i]))
                sock_of(fds->files[i])->inflight++;
        owner->held_socks += socks;
        q->own_socks += socks;
    }
    spin_unlock(&unix_lock, irq);
    return error;
}

/* Undoes fds_account: the entry left q's queue. */
static void fds_unaccount(struct unix_sock *q, const struct unix_fds *fds)
{
    uint32_t socks = fds_socks(fds);
    if (!socks)
        return;
    bool irq = spin_lock(&unix_lock);
    for (unsigned i = 0; i < fds->count; i++)
        if (unix_socket_is(fds->files[i]))
            sock_of(fds->files[i])->inflight--;
    owner_locked(q)->held_socks -= socks;
    q->own_socks -= socks;
    spin_unlock(&unix_lock, irq);
}

/* A queued connection leaves its listener (accepted, or the listener closed):
 * its sockets in flight count for itself from now on. */
static void detach_embryo_locked(struct unix_sock *e)
{
    if (e->listener) {
        e->listener->held_socks -= e->own_socks;
        e->held_socks += e->own_socks;
        e->listener = NULL;
    }
}

/* Queues fds (accounted) with data that starts `queued` bytes into the ring.
 * (q->lock) */
static void fds_enqueue(struct unix_sock *q, struct unix_fds *fds, size_t queued)
{
    fds->ahead = queued - q->fds_span;
    q->fds_span = queued;
    fds->next = NULL;
    if (q->fds_tail)
        q->fds_tail->next = fds;
    else
        q->fds_head = fds;
    q->fds_tail = fds;
}

/* Takes the queue's first entry, no longer in flight. (q->lock) */
static struct unix_fds *fds_dequeue(struct unix_sock *q)
{
    struct unix_fds *fds = q->fds_head;
    q->fds_head = fds->next;
    if (!q->fds_head)
        q->fds_tail = NULL;
    fds_unaccount(q, fds);
    return fds;
}

/* After k bytes left the head of q's ring (q->fds_head not NULL): the entry
 * they started with, if any (no longer in flight), else NULL. (q->lock) */
static struct unix_fds *fds_consumed(struct unix_sock *q, size_t k)
{
    struct unix_fds *taken = q->fds_head->ahead == 0 ? fds_dequeue(q) : NULL;
    if (q->fds_head) {
        q->fds_head->ahead -= k;
        q->fds_span -= k;
    } else {
        q->fds_span = 0;
    }
    return taken;
}

/* Copies n bytes of m (from byte `skip`) into q's ring with m->fds attached
 * to the first: 0 or -errno with nothing queued. (q->lock) */
static int ring_put_user(struct pipe_ring *r, const struct unix_msg *m, size_t skip, size_t n);

static int put_with_fds(struct unix_sock *q, struct unix_msg *m, size_t skip, size_t n)
{
    int error = fds_account(q, m->fds);
    if (error)
        return error;
    size_t queued = q->ring.len;
    if ((error = ring_put_user(&q->ring, m, skip, n))) {
        fds_unaccount(q, m->fds);
        return error;
    }
    m->fds->len = n;
    fds_enqueue(q, m->fds, queued);
    m->fds = NULL;
    return 0;
}

/* Drops every entry of q's queue (q is dead: no send adds more). */
static void fds_drain(struct unix_sock *q)
{
    mutex_lock(&q->lock);
    struct unix_fds *fds = q->fds_head;
    q->fds_head = q->fds_tail = NULL;
    mutex_unlock(&q->lock);
    while (fds) {
        struct unix_fds *next = fds->next;
        fds_unaccount(q, fds);
        unix_fds_free(fds);
        fds = next;
    }
}

/* Hands the files a receive took to its caller, or drops them. */
static void fds_deliver(struct unix_msg *m, struct unix_fds *fds)
{
    if (m->want_fds)
        m->fds = fds;
    else
        unix_fds_free(fds);
}

static void unbind_locked(struct unix_sock *s)
{
    for (struct unix_sock **at = &bound_sockets; *at; at = &(*at)->next_bound) {
        if (*at == s) {
            *at = s->next_bound;
            return;
        }
    }
}

/* The owner lets s go (its file's last reference, or a listener's queue). The
 * peer of a connection hears end of file (and ECONNRESET when s left data
 * unread); queued connections of a listener go the same way. */
static void sock_release(struct unix_sock *s)
{
    bool irq = spin_lock(&unix_lock);
    __atomic_store_n(&s->dead, true, __ATOMIC_RELEASE);
    struct unix_sock *peer = s->peer, *queue = s->queue_head;
    s->peer = NULL;
    s->queue_head = s->queue_tail = NULL;
    for (struct unix_sock *q = queue; q; q = q->next_queued)
        detach_embryo_locked(q);
    if (s->name.len)
        unbind_locked(s);
    if (peer && s->type != SOCK_DGRAM) {
        shut_set(peer, SHUT_BOTH);
        if (queued_bytes(s) || s->state == UNCONNECTED)
            __atomic_store_n(&peer->error, ECONNRESET, __ATOMIC_RELEASE);
    }
    s->state = UNCONNECTED;
    spin_unlock(&unix_lock, irq);
    fds_drain(s);
    sock_changed(s);
    if (peer) {
        sock_changed(peer);
        sock_put(peer);
    }
    while (queue) {
        struct unix_sock *next = queue->next_queued;
        /* Never accepted: its client sees ECONNRESET, as Linux's embryos do. */
        irq = spin_lock(&unix_lock);
        queue->state = UNCONNECTED;
        spin_unlock(&unix_lock, irq);
        sock_release(queue);
        queue = next;
    }
    sock_put(s);
}

static void unix_release(struct file *f)
{
    struct unix_sock *s = sock_of(f);
    kfree(f);
    sock_release(s);
}

int unix_socket_create(int type, uint32_t flags, struct file **out)
{
    struct unix_sock *s = sock_new(type);
    struct file *f = s ? file_new(s, flags) : NULL;
    if (!f) {
        sock_put(s);
        return -ENOMEM;
    }
    *out = f;
    return 0;
}

/* Makes a and b each other's peer. */
static void connect_pair_locked(struct unix_sock *a, struct unix_sock *b)
{
    sock_get(a);
    sock_get(b);
    a->peer = b;
    b->peer = a;
    __atomic_store_n(&a->state, CONNECTED, __ATOMIC_RELEASE);
    __atomic_store_n(&b->state, CONNECTED, __ATOMIC_RELEASE);
}

int unix_socket_pair(int type, uint32_t flags, struct file **a, struct file **b)
{
    struct file *fa, *fb;
    int error = unix_socket_create(type, flags, &fa);
    if (error)
        return error;
    error = unix_socket_create(type, flags, &fb);
    if (error) {
        file_put(fa);
        return error;
    }
    bool irq = spin_lock(&unix_lock);
    connect_pair_locked(sock_of(fa), sock_of(fb));
    spin_unlock(&unix_lock, irq);
    *a = fa;
    *b = fb;
    return 0;
}

/* ---- names ------------------------------------------------------------------------ */

static bool is_abstract(const struct unix_addr *a)
{
    return a->len > 2 && a->bytes[2] == 0;
}

/* Names are per type, as Linux's (its abstract hash mixes the type in): a
 * stream socket and a datagram socket may hold the same name. */
static struct unix_sock *find_bound_locked(const struct unix_addr *a, int type)
{
    for (struct unix_sock *s = bound_sockets; s; s = s->next_bound)
        if (s->type == type && s->name.len == a->len &&
            memcmp(s->name.bytes, a->bytes, a->len) == 0)
            return s;
    return NULL;
}

/* sun_path as a C string (Linux stops at the first NUL within the length). */
static void path_of_addr(const struct unix_addr *a, char out[UNIX_PATH_MAX + 1])
{
    size_t n = a->len - 2;
    memcpy(out, a->bytes + 2, n);
    out[n] = 0;
}

/* What Linux's mknod of a socket at a path answers on a read-only tree. */
static int bind_path(const struct unix_addr *a)
{
    char path[UNIX_PATH_MAX + 1];
    path_of_addr(a, path);
    struct inode *cwd = process_current()->cwd, *node;
    int error = fs_lookup(cwd, path, 0, &node);
    if (error == 0)
        return -EADDRINUSE;
    if (error != -ENOENT)
        return error;
    size_t cut = strlen(path);
    while (cut > 0 && path[cut - 1] != '/')
        cut--;
    if (cut == 0)
        return -EROFS; /* the working directory is the parent */
    path[cut] = 0;
    error = fs_lookup(cwd, path, FS_LOOKUP_FOLLOW, &node);
    if (error)
        return error;
    return S_ISDIR(node->mode) ? -EROFS : -ENOTDIR;
}

/* A name for a socket bound with just the family: NUL and five hex digits. */
static void autobind_name_locked(struct unix_addr *a, int type)
{
    static const char hex[] = "0123456789abcdef";
    for (;;) {
        uint32_t n = next_autobind++ & 0xfffff;
        a->len = 2 + 6;
        a->bytes[2] = 0;
        for (int i = 0; i < 5; i++)
            a->bytes[3 + i] = (uint8_t)hex[(n >> (16 - 4 * i)) & 0xf];
        if (!find_bound_locked(a, type))
            return;
    }
}

int unix_socket_bind(struct file *f, const struct unix_addr *addr)
{
    struct unix_sock *s = sock_of(f);
    if (addr->len > 2 && !is_abstract(addr))
        return s->name.len ? -EINVAL : bind_path(addr);
    bool irq = spin_lock(&unix_lock);
    int error = 0;
    if (s->name.len) {
        error = -EINVAL;
    } else if (addr->len == 2) {
        s->name.bytes[0] = addr->bytes[0];
        s->name.bytes[1] = addr->bytes[1];
        autobind_name_locked(&s->name, s->type);
    } else if (find_bound_locked(addr, s->type)) {
        error = -EADDRINUSE;
    } else {
        s->name = *addr;
    }
    if (!error) {
        s->next_bound = bound_sockets;
        bound_sockets = s;
    }
    spin_unlock(&unix_lock, irq);
    return error;
}

/* The socket of `type` a name reaches, with a reference; -ECONNREFUSED for an
 * abstract name no such socket holds. */
static int resolve(const struct unix_addr *addr, int type, struct unix_sock **out)
{
    if (!is_abstract(addr)) {
        char path[UNIX_PATH_MAX + 1];
        path_of_addr(addr, path);
        struct inode *node;
        int error = fs_lookup(process_current()->cwd, path, FS_LOOKUP_FOLLOW, &node);
        return error ? error : -ECONNREFUSED; /* the tree holds no sockets */
    }
    bool irq = spin_lock(&unix_lock);
    struct unix_sock *s = find_bound_locked(addr, type);
    int error = s ? 0 : -ECONNREFUSED;
    if (!error)
        sock_get(s);
    spin_unlock(&unix_lock, irq);
    *out = s;
    return error;
}

int unix_socket_name(struct file *f, bool peer, struct unix_addr *out)
{
    struct unix_sock *s = sock_of(f);
    bool irq = spin_lock(&unix_lock);
    int error = 0;
    struct unix_sock *of = s;
    if (peer) {
        of = s->type != SOCK_DGRAM && s->state != CONNECTED ? NULL : s->peer;
        if (!of)
            error = -ENOTCONN;
    }
    if (of) {
        *out = of->name;
        if (!out->len) {
            out->len = 2;
            out->bytes[0] = AF_UNIX;
            out->bytes[1] = 0;
        }
    }
    spin_unlock(&unix_lock, irq);
    return error;
}

/* ---- connections -------------------------------------------------------------------- */

int unix_socket_listen(struct file *f, int backlog)
{
    struct unix_sock *s = sock_of(f);
    if (s->type == SOCK_DGRAM)
        return -EOPNOTSUPP;
    if ((unsigned)backlog > SOMAXCONN)
        backlog = SOMAXCONN;
    bool irq = spin_lock(&unix_lock);
    int error = 0;
    if (!s->name.len || s->state == CONNECTED) {
        error = -EINVAL;
    } else {
        s->state = LISTENING;
        s->backlog = backlog;
    }
    spin_unlock(&unix_lock, irq);
    if (!error)
        sock_changed(s); /* a connecter waiting on a full backlog may fit now */
    return error;
}

static bool backlog_has_room(void *ctx)
{
    struct unix_sock *l = ctx;
    return __atomic_load_n(&l->queued, __ATOMIC_ACQUIRE) <= (uint32_t)l->backlog || is_dead(l) ||
           __atomic_load_n(&l->state, __ATOMIC_ACQUIRE) != LISTENING;
}

/* Queues a new connection on listener l for s: 1 done, 0 the backlog is
 * full, or -errno. */
static int enqueue_connection(struct unix_sock *s, struct unix_sock *l, struct unix_sock *server)
{
    bool irq = spin_lock(&unix_lock);
    int result = 1;
    if (s->state != UNCONNECTED)
        result = s->state == CONNECTED ? -EISCONN : -EINVAL;
    else if (is_dead(l) || l->state != LISTENING)
        result = -ECONNREFUSED;
    else if (l->queued > (uint32_t)l->backlog)
        result = 0;
    if (result == 1) {
        connect_pair_locked(s, server);
        server->name = l->name;
        server->listener = l;
        if (l->queue_tail)
            l->queue_tail->next_queued = server;
        else
            l->queue_head = server;
        l->queue_tail = server;
        __atomic_fetch_add(&l->queued, 1, __ATOMIC_RELEASE);
    }
    spin_unlock(&unix_lock, irq);
    return result;
}

static int connect_stream(struct file *f, const struct unix_addr *addr)
{
    struct unix_sock *s = sock_of(f), *l;
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != UNCONNECTED)
        return s->state == CONNECTED ? -EISCONN : -EINVAL;
    int error = resolve(addr, s->type, &l);
    if (error)
        return error;
    struct unix_sock *server = sock_new(s->type);
    if (!server) {
        sock_put(l);
        return -ENOMEM;
    }
    int result;
    while ((result = enqueue_connection(s, l, server)) == 0) {
        if (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & O_NONBLOCK) {
            result = -EAGAIN;
            break;
        }
        result = signal_wait_interruptible(&l->writable, backlog_has_room, l);
        if (result)
            break;
    }
    if (result == 1) {
        sock_changed(l);
        result = 0;
    } else {
        sock_put(server);
    }
    sock_put(l);
    return result;
}

/* A datagram socket's default destination (NULL: none). */
static int connect_dgram(struct unix_sock *s, const struct unix_addr *addr)
{
    struct unix_sock *to = NULL;
    if (addr) {
        int error = resolve(addr, s->type, &to);
        if (error)
            return error;
    }
    bool irq = spin_lock(&unix_lock);
    struct unix_sock *old = s->peer;
    s->peer = to;
    s->state = to ? CONNECTED : UNCONNECTED;
    spin_unlock(&unix_lock, irq);
    sock_put(old);
    return 0;
}

int unix_socket_connect(struct file *f, const struct unix_addr *addr)
{
    struct unix_sock *s = sock_of(f);
    if (s->type == SOCK_DGRAM)
        return connect_dgram(s, addr);
    return addr ? connect_stream(f, addr) : -EINVAL;
}

static bool has_connection(void *ctx)
{
    struct unix_sock *l = ctx;
    return __atomic_load_n(&l->queued, __ATOMIC_ACQUIRE) > 0;
}

int unix_socket_accept(struct file *f, uint32_t flags, struct file **out, struct unix_addr *peer)
{
    struct unix_sock *l = sock_of(f);
    if (l->type == SOCK_DGRAM)
        return -EOPNOTSUPP;
    struct file *nf = file_new(NULL, flags);
    if (!nf)
        return -ENOMEM;
    for (;;) {
        bool irq = spin_lock(&unix_lock);
        if (l->state != LISTENING) {
            spin_unlock(&unix_lock, irq);
            kfree(nf);
            return -EINVAL;
        }
        struct unix_sock *s = l->queue_head;
        if (s) {
            l->queue_head = s->next_queued;
            if (!l->queue_head)
                l->queue_tail = NULL;
            s->next_queued = NULL;
            detach_embryo_locked(s);
            __atomic_fetch_sub(&l->queued, 1, __ATOMIC_RELEASE);
            *peer = s->peer ? s->peer->name : (struct unix_addr){0};
            spin_unlock(&unix_lock, irq);
            if (!peer->len)
                *peer = (struct unix_addr){.len = 2, .bytes = {AF_UNIX, 0}};
            nf->private = s;
            *out = nf;
            sock_changed(l); /* a connecter waiting for room */
            return 0;
        }
        spin_unlock(&unix_lock, irq);
        if ((__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & O_NONBLOCK)) {
            kfree(nf);
            return -EAGAIN;
        }
        int error = signal_wait_interruptible(&l->readable, has_connection, l);
        if (error) {
            kfree(nf);
            return error;
        }
    }
}

int unix_socket_shutdown(struct file *f, int how)
{
    struct unix_sock *s = sock_of(f);
    if (how < SHUT_RD || how > SHUT_RDWR)
        return -EINVAL;
    uint32_t mine = (uint32_t)how + 1; /* SHUT_RD 1, SHUT_WR 2, SHUT_RDWR 3 */
    uint32_t theirs = ((mine & SHUT_RCV) ? SHUT_SEND : 0) | ((mine & SHUT_SEND) ? SHUT_RCV : 0);
    bool irq = spin_lock(&unix_lock);
    shut_set(s, mine);
    struct unix_sock *peer = s->type != SOCK_DGRAM ? s->peer : NULL;
    if (peer)
        sock_get(peer);
    spin_unlock(&unix_lock, irq);
    sock_changed(s);
    if (peer) {
        shut_set(peer, theirs);
        sock_changed(peer);
        sock_put(peer);
    }
    return 0;
}

/* ---- data ------------------------------------------------------------------------- */

/* A record in a datagram or seqpacket ring: this header, the sender's name
 * (name_len bytes), then len bytes of data. */
struct record {
    uint32_t len;
    uint32_t name_len;
};

static bool nonblocking(struct file *f, int flags)
{
    return (flags & MSG_DONTWAIT) || (__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & O_NONBLOCK);
}

/* Copies n bytes of user iovs (from byte `skip` of the message) into the ring
 * at its tail, committing them: 0, or -EFAULT with nothing committed. */
static int ring_put_user(struct pipe_ring *r, const struct unix_msg *m, size_t skip, size_t n)
{
    struct pipe_ring shadow = *r;
    unsigned i = 0;
    while (i < m->count && skip >= m->iov[i].len)
        skip -= m->iov[i++].len;
    while (n > 0) {
        uint8_t *span;
        size_t room = pipe_ring_write_span(&shadow, &span);
        size_t take = m->iov[i].len - skip;
        take = take < room ? take : room;
        take = take < n ? take : n;
        if (copy_from_user(span, m->iov[i].base + skip, take))
            return -EFAULT;
        pipe_ring_commit(&shadow, take);
        n -= take;
        skip += take;
        if (skip == m->iov[i].len) {
            i++;
            skip = 0;
        }
    }
    __atomic_store_n(&r->len, shadow.len, __ATOMIC_RELEASE);
    return 0;
}

static void ring_put(struct pipe_ring *r, const void *src, size_t n)
{
    const uint8_t *from = src;
    while (n > 0) {
        uint8_t *span;
        size_t take = pipe_ring_write_span(r, &span);
        take = take < n ? take : n;
        memcpy(span, from, take);
        pipe_ring_commit(r, take);
        from += take;
        n -= take;
    }
}

/* Copies n ring bytes from `offset` past the head into kernel memory. */
static void ring_peek(const struct pipe_ring *r, size_t offset, void *dst, size_t n)
{
    uint8_t *to = dst;
    while (n > 0) {
        const uint8_t *span;
        size_t take = pipe_ring_peek_span(r, offset, &span);
        take = take < n ? take : n;
        memcpy(to, span, take);
        to += take;
        offset += take;
        n -= take;
    }
}

/* Copies up to n ring bytes from `offset` past the head to the user iovs
 * (from byte `skip` of the message): the count, or -EFAULT when the first
 * byte faults (a later fault: the count before it). */
static long ring_get_user(const struct pipe_ring *r, size_t offset, const struct unix_msg *m,
                          size_t skip, size_t n)
{
    unsigned i = 0;
    size_t done = 0;
    while (i < m->count && skip >= m->iov[i].len)
        skip -= m->iov[i++].len;
    while (done < n && i < m->count) {
        const uint8_t *span;
        size_t take = pipe_ring_peek_span(r, offset + done, &span);
        if (take == 0)
            break; /* the ring holds no more */
        size_t want = m->iov[i].len - skip;
        take = take < want ? take : want;
        take = take < n - done ? take : n - done;
        long copied = copy_to_user_partial(m->iov[i].base + skip, span, take);
        if (copied < 0)
            return done ? (long)done : copied;
        done += (size_t)copied;
        if ((size_t)copied < take)
            break;
        skip += take;
        if (skip == m->iov[i].len) {
            i++;
            skip = 0;
        }
    }
    return (long)done;
}

/* A sender of `need` bytes into `to` may go on: room, or a reason to stop. */
struct send_wait {
    struct unix_sock *self, *to;
    size_t need;
};

static bool can_send(void *ctx)
{
    struct send_wait *w = ctx;
    return UNIX_RING_BYTES - queued_bytes(w->to) >= w->need || (shut_of(w->self) & SHUT_SEND) ||
           (shut_of(w->to) & SHUT_RCV) || is_dead(w->to);
}

/* A stream send: all of it, in pieces as the peer's ring has room. */
static long send_stream(struct file *f, struct unix_sock *s, struct unix_sock *to, struct unix_msg *m)
{
    size_t done = 0;
    while (done < m->total) {
        mutex_lock(&to->lock);
        if ((shut_of(s) & SHUT_SEND) || (shut_of(to) & SHUT_RCV) || is_dead(to)) {
            mutex_unlock(&to->lock);
            if (done)
                return (long)done;
            if (!(m->flags & MSG_NOSIGNAL))
                signal_send_current(SIGPIPE);
            return -EPIPE;
        }
        size_t room = pipe_ring_free(&to->ring), n = m->total - done;
        n = n < room ? n : room;
        int error = 0;
        if (n) /* files go with the first piece (done is 0: an error sends nothing) */
            error = m->fds ? put_with_fds(to, m, done, n) : ring_put_user(&to->ring, m, done, n);
        mutex_unlock(&to->lock);
        if (error)
            return done ? (long)done : error;
        if (n) {
            done += n;
            wait_queue_wake_all(&to->readable);
            fs_poll_notify();
            continue;
        }
        if (nonblocking(f, m->flags))
            return done ? (long)done : -EAGAIN;
        struct send_wait w = {s, to, 1};
        error = signal_wait_interruptible(&to->writable, can_send, &w);
        if (error)
            return done ? (long)done : error;
    }
    return (long)done;
}

/* A datagram or seqpacket send: one record, whole. */
static long send_record(struct file *f, struct unix_sock *s, struct unix_sock *to, struct unix_msg *m)
{
    struct record head = {.len = (uint32_t)m->total};
    struct unix_addr from;
    from.len = 0;
    if (s->type == SOCK_DGRAM) {
        bool irq = spin_lock(&unix_lock);
        from = s->name;
        spin_unlock(&unix_lock, irq);
        head.name_len = from.len;
    }
    size_t need = sizeof(head) + head.name_len + m->total;
    for (;;) {
        mutex_lock(&to->lock);
        if ((shut_of(s) & SHUT_SEND) || (shut_of(to) & SHUT_RCV) || is_dead(to)) {
            mutex_unlock(&to->lock);
            return is_dead(to) && s->type == SOCK_DGRAM ? -ECONNREFUSED : -EPIPE;
        }
        if (pipe_ring_free(&to->ring) >= need) {
            int error = m->fds ? fds_account(to, m->fds) : 0;
            if (error) {
                mutex_unlock(&to->lock);
                return error;
            }
            struct pipe_ring shadow = to->ring;
            ring_put(&shadow, &head, sizeof(head));
            ring_put(&shadow, from.bytes, head.name_len);
            struct pipe_ring at_data = to->ring;
            at_data.len = shadow.len;
            error = ring_put_user(&at_data, m, 0, m->total);
            if (!error) {
                if (m->fds) {
                    fds_enqueue(to, m->fds, to->ring.len);
                    m->fds = NULL;
                }
                __atomic_store_n(&to->ring.len, at_data.len, __ATOMIC_RELEASE);
            } else if (m->fds) {
                fds_unaccount(to, m->fds);
            }
            mutex_unlock(&to->lock);
            if (error)
                return error;
            wait_queue_wake_all(&to->readable);
            fs_poll_notify();
            return (long)m->total;
        }
        mutex_unlock(&to->lock);
        if (nonblocking(f, m->flags))
            return -EAGAIN;
        struct send_wait w = {s, to, need};
        int error = signal_wait_interruptible(&to->writable, can_send, &w);
        if (error)
            return error;
    }
}

/* The socket a send goes to: the named one or a datagram socket's peer, with
 * a reference (*ref true); a connection's peer, which s's own reference keeps
 * (a stream or seqpacket peer never changes once connected, so this needs no
 * lock: the send fastpath). */
static int send_target(struct unix_sock *s, const struct unix_msg *m, struct unix_sock **to, bool *ref)
{
    *ref = s->type == SOCK_DGRAM;
    if (s->type != SOCK_DGRAM) {
        bool connected = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == CONNECTED;
        if (m->addr && s->type == SOCK_STREAM)
            return connected ? -EISCONN : -EOPNOTSUPP;
        *to = s->peer;
        return connected ? 0 : -ENOTCONN;
    }
    if (m->addr) {
        int error = resolve(m->addr, s->type, to);
        if (error)
            return error;
        bool irq = spin_lock(&unix_lock);
        bool refused = (*to)->peer && (*to)->peer != s;
        spin_unlock(&unix_lock, irq);
        if (refused) {
            sock_put(*to);
            return -EPERM; /* it is connected to another socket */
        }
        return 0;
    }
    bool irq = spin_lock(&unix_lock);
    struct unix_sock *peer = s->state == CONNECTED ? s->peer : NULL;
    if (peer)
        sock_get(peer);
    spin_unlock(&unix_lock, irq);
    *to = peer;
    return peer ? 0 : -ENOTCONN;
}

/* A datagram socket whose peer closed hears ECONNREFUSED once and is then
 * unconnected (Linux's unix_dgram_sendmsg). */
static void dgram_disconnect(struct unix_sock *s, struct unix_sock *gone)
{
    bool irq = spin_lock(&unix_lock);
    bool was = s->peer == gone;
    if (was) {
        s->peer = NULL;
        s->state = UNCONNECTED;
    }
    spin_unlock(&unix_lock, irq);
    if (was)
        sock_put(gone);
}

long unix_socket_send(struct file *f, struct unix_msg *m)
{
    struct unix_sock *s = sock_of(f);
    if (m->flags & MSG_OOB)
        return -EOPNOTSUPP;
    struct unix_sock *to;
    bool ref;
    int error = send_target(s, m, &to, &ref);
    if (error)
        return error;
    long result;
    if (s->type == SOCK_STREAM)
        result = m->total ? send_stream(f, s, to, m) : 0;
    else if (m->total > UNIX_RING_BYTES - sizeof(struct record) - UNIX_ADDR_MAX)
        result = -EMSGSIZE;
    else
        result = send_record(f, s, to, m);
    if (result == -ECONNREFUSED && !m->addr)
        dgram_disconnect(s, to);
    if (ref)
        sock_put(to);
    return result;
}

static bool can_recv(void *ctx)
{
    struct unix_sock *s = ctx;
    return queued_bytes(s) > 0 || (shut_of(s) & SHUT_RCV) ||
           __atomic_load_n(&s->error, __ATOMIC_ACQUIRE);
}

/* Waits until s has something to read or never will: 1 go on, 0 end of file,
 * or -errno. Returns with s->lock held when 1. */
static int wait_readable(struct file *f, struct unix_sock *s, int flags)
{
    for (;;) {
        mutex_lock(&s->lock);
        if (s->ring.len)
            return 1;
        mutex_unlock(&s->lock);
        int error = __atomic_exchange_n(&s->error, 0, __ATOMIC_ACQ_REL);
        if (error)
            return -error;
        if (shut_of(s) & SHUT_RCV)
            return 0;
        if (nonblocking(f, flags))
            return -EAGAIN;
        error = signal_wait_interruptible(&s->readable, can_recv, s);
        if (error)
            return error;
    }
}

/* One piece of a stream read with files in flight (s->lock held, released
 * here): a read takes the files at its first byte and ends with their bytes
 * (*stop); else it stops before the next entry's bytes (*stop when it has
 * read something already). The count, or -errno. */
static __attribute__((noinline)) long recv_stream_fds(struct unix_sock *s, struct unix_msg *m,
                                                      size_t done, bool *stop)
{
    struct unix_fds *fds = s->fds_head, *taken = NULL;
    size_t n = m->total - done;
    *stop = fds->ahead == 0;
    if (*stop && done) {
        mutex_unlock(&s->lock);
        return 0;
    }
    size_t limit = fds->ahead == 0 ? fds->len : fds->ahead;
    n = n < limit ? n : limit;
    long got = ring_get_user(&s->ring, 0, m, done, n);
    bool consume = got > 0 && !(m->flags & MSG_PEEK);
    if (consume) {
        pipe_ring_consume(&s->ring, (size_t)got);
        taken = fds_consumed(s, (size_t)got);
    }
    mutex_unlock(&s->lock);
    if (taken)
        fds_deliver(m, taken);
    if (consume) {
        wait_queue_wake_all(&s->writable);
        fs_poll_notify();
    }
    return got;
}

static long recv_stream(struct file *f, struct unix_sock *s, struct unix_msg *m)
{
    size_t done = 0;
    size_t target = (m->flags & MSG_WAITALL) && !(m->flags & MSG_PEEK) ? m->total : 1;
    if (target > m->total)
        target = m->total; /* a recv of 0 bytes waits for data, then returns 0, as Linux's */
    do {
        int ready = wait_readable(f, s, m->flags);
        if (ready <= 0)
            return done ? (long)done : ready;
        if (__builtin_expect(s->fds_head != NULL, 0)) {
            bool stop;
            long got = recv_stream_fds(s, m, done, &stop);
            if (got < 0)
                return done ? (long)done : got;
            done += (size_t)got;
            if (stop || (m->flags & MSG_PEEK))
                break;
            continue;
        }
        long got = ring_get_user(&s->ring, 0, m, done, m->total - done);
        if (got > 0 && !(m->flags & MSG_PEEK))
            pipe_ring_consume(&s->ring, (size_t)got);
        mutex_unlock(&s->lock);
        if (got < 0)
            return done ? (long)done : got;
        if (got > 0 && !(m->flags & MSG_PEEK)) {
            wait_queue_wake_all(&s->writable);
            fs_poll_notify();
        }
        done += (size_t)got;
        if (m->flags & MSG_PEEK)
            break;
    } while (done < target);
    return (long)done;
}

static long recv_record(struct file *f, struct unix_sock *s, struct unix_msg *m)
{
    int ready = wait_readable(f, s, m->flags);
    if (ready <= 0)
        return ready;
    struct record head;
    ring_peek(&s->ring, 0, &head, sizeof(head));
    if (m->addr) {
        m->addr->len = head.name_len;
        ring_peek(&s->ring, sizeof(head), m->addr->bytes, head.name_len);
    }
    size_t data_at = sizeof(head) + head.name_len;
    size_t n = head.len < m->total ? head.len : m->total;
    long got = ring_get_user(&s->ring, data_at, m, 0, n);
    struct unix_fds *taken = NULL;
    if (got >= 0 && (size_t)got == n && !(m->flags & MSG_PEEK)) {
        pipe_ring_consume(&s->ring, data_at + head.len);
        if (s->fds_head)
            taken = fds_consumed(s, data_at + head.len);
    }
    mutex_unlock(&s->lock);
    if (taken)
        fds_deliver(m, taken);
    if (got < 0 || (size_t)got < n)
        return -EFAULT;
    if (!(m->flags & MSG_PEEK)) {
        wait_queue_wake_all(&s->writable);
        fs_poll_notify();
    }
    if (head.len > m->total)
        m->out_flags |= MSG_TRUNC;
    return (long)((m->flags & MSG_TRUNC) ? head.len : n);
}

long unix_socket_recv(struct file *f, struct unix_msg *m)
{
    struct unix_sock *s = sock_of(f);
    if (m->flags & MSG_OOB)
        return -EOPNOTSUPP;
    enum unix_state state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (s->type == SOCK_STREAM) {
        if (state != CONNECTED)
            return -EINVAL;
        if (m->addr) { /* the sender is the peer, named or not */
            bool irq = spin_lock(&unix_lock);
            *m->addr = s->peer ? s->peer->name : (struct unix_addr){0};
            spin_unlock(&unix_lock, irq);
        }
        return recv_stream(f, s, m);
    }
    if (s->type == SOCK_SEQPACKET && state != CONNECTED)
        return -ENOTCONN;
    return recv_record(f, s, m);
}

/* ---- the file --------------------------------------------------------------------- */

/* A message of one buffer, no flags, address or files: field by field, which
 * leaves the padding alone (a designated initializer zeroes all of it, on the
 * read and write paths that unix_socket_roundtrip measures). */
static inline void msg_one(struct unix_msg *m, const struct unix_iov *iov, size_t len)
{
    m->iov = iov;
    m->count = 1;
    m->total = len;
    m->flags = m->out_flags = 0;
    m->addr = NULL;
}

static long unix_read(struct file *f, uintptr_t buf, size_t len)
{
    if (len == 0)
        return 0; /* read(2), unlike recv, returns at once (Linux's sock_read_iter) */
    struct unix_iov iov = {buf, len};
    struct unix_msg m;
    msg_one(&m, &iov, len);
    m.want_fds = false; /* a receive's fds is output only */
    return unix_socket_recv(f, &m);
}

static long unix_write(struct file *f, uintptr_t buf, size_t len)
{
    struct unix_iov iov = {buf, len};
    struct unix_msg m;
    msg_one(&m, &iov, len);
    m.fds = NULL; /* a send's want_fds is not read */
    return unix_socket_send(f, &m);
}

/* Readiness as Linux's unix_poll (stream) and unix_dgram_poll. */
static unsigned unix_poll(struct file *f)
{
    struct unix_sock *s = sock_of(f);
    unsigned mask = 0;
    uint32_t shut = shut_of(s);
    enum unix_state state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->error, __ATOMIC_ACQUIRE))
        mask |= POLLERR;
    if (shut == SHUT_BOTH)
        mask |= POLLHUP;
    if (shut & SHUT_RCV)
        mask |= POLLRDHUP | POLLIN | POLLRDNORM;
    if (queued_bytes(s) || __atomic_load_n(&s->queued, __ATOMIC_ACQUIRE))
        mask |= POLLIN | POLLRDNORM;
    if (s->type != SOCK_DGRAM && state == UNCONNECTED)
        mask |= POLLHUP;
    if (state == LISTENING)
        return mask;
    bool irq = spin_lock(&unix_lock);
    struct unix_sock *peer = s->peer;
    bool writable = !peer || is_dead(peer) || queued_bytes(peer) * 4 <= UNIX_RING_BYTES;
    spin_unlock(&unix_lock, irq);
    if (writable)
        mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
    return mask;
}

#define FIONREAD 0x541B

static long unix_ioctl(struct file *f, unsigned long request, uintptr_t arg)
{
    struct unix_sock *s = sock_of(f);
    if (request != FIONREAD)
        return -ENOTTY;
    mutex_lock(&s->lock);
    int n = (int)s->ring.len;
    if (s->type != SOCK_STREAM && n) {
        struct record head;
        ring_peek(&s->ring, 0, &head, sizeof(head));
        n = (int)head.len;
    }
    mutex_unlock(&s->lock);
    return copy_to_user(arg, &n, sizeof(n));
}

static int unix_stat(struct file *f, struct kstat *out)
{
    *out = (struct kstat){.dev = SOCKET_DEV, .ino = sock_of(f)->ino, .nlink = 1,
                          .mode = S_IFSOCK | 0777};
    return 0;
}

static const struct file_ops unix_socket_ops = {
    .read = unix_read,
    .write = unix_write,
    .ioctl = unix_ioctl,
    .stat = unix_stat,
    .poll = unix_poll,
    .release = unix_release,
};

/* ---- options ---------------------------------------------------------------------- */

/* On/off options that a program sets on any socket and that change nothing for
 * a Unix socket (as on Linux: no routing, broadcast or keepalive probes, and an
 * abstract name is free again once its socket is closed): kept and reported
 * back, so a program that sets SO_REUSEADDR before bind works. SO_PASSCRED is
 * not among them: it promises credentials in recvmsg, which Exo does not send. */
static bool flag_option(int name)
{
    return name == SO_REUSEADDR || name == SO_DONTROUTE || name == SO_BROADCAST ||
           name == SO_KEEPALIVE;
}

int unix_socket_getopt(struct file *f, int name, int *value)
{
    struct unix_sock *s = sock_of(f);
    switch (name) {
    case SO_TYPE:
        *value = s->type;
        return 0;
    case SO_ERROR:
        *value = __atomic_exchange_n(&s->error, 0, __ATOMIC_ACQ_REL);
        return 0;
    case SO_SNDBUF:
        *value = __atomic_load_n(&s->sndbuf, __ATOMIC_RELAXED);
        return 0;
    case SO_RCVBUF:
        *value = __atomic_load_n(&s->rcvbuf, __ATOMIC_RELAXED);
        return 0;
    case SO_ACCEPTCONN:
        *value = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == LISTENING;
        return 0;
    case SO_PROTOCOL:
        *value = 0;
        return 0;
    case SO_DOMAIN:
        *value = AF_UNIX;
        return 0;
    default:
        if (!flag_option(name))
            return -ENOPROTOOPT;
        *value = (__atomic_load_n(&s->flag_opts, __ATOMIC_RELAXED) >> name) & 1;
        return 0;
    }
}

/* Linux: the value (as unsigned) clamped to the maximum, doubled for the
 * kernel's bookkeeping, at least the minimum. */
static int buffer_size(int value, int min)
{
    uint32_t v = (uint32_t)value < UNIX_BUF_MAX ? (uint32_t)value : UNIX_BUF_MAX;
    return (int)(2 * v) > min ? (int)(2 * v) : min;
}

int unix_socket_setopt(struct file *f, int name, int value)
{
    struct unix_sock *s = sock_of(f);
    switch (name) {
    case SO_SNDBUF:
        __atomic_store_n(&s->sndbuf, buffer_size(value, UNIX_SNDBUF_MIN), __ATOMIC_RELAXED);
        return 0;
    case SO_RCVBUF:
        __atomic_store_n(&s->rcvbuf, buffer_size(value, UNIX_RCVBUF_MIN), __ATOMIC_RELAXED);
        return 0;
    default:
        if (!flag_option(name))
            return -ENOPROTOOPT;
        if (value)
            __atomic_fetch_or(&s->flag_opts, 1u << name, __ATOMIC_RELAXED);
        else
            __atomic_fetch_and(&s->flag_opts, ~(1u << name), __ATOMIC_RELAXED);
        return 0;
    }
}
