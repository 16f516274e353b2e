#include "kernel/tty.h"

#include "arch/uaccess.h"
#include "fs/fcntl.h"
#include "fs/file.h"
#include "fs/poll.h"
#include "kernel/console.h"
#include "kernel/input.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "proc/process.h"

#define TTY_CHUNK_BYTES 256
#define TCGETS 0x5401
#define TCSETS 0x5402
#define TCSETSW 0x5403
#define TCSETSF 0x5404
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
#define TIOCGWINSZ 0x5413
#define FIONREAD 0x541B
#define TTY_DEV KSTAT_DEV(4, 64) /* /dev/ttyS0 */
#define TTY_ICRNL 0x100 /* iflag: Enter's '\r' reads as '\n' */
#define TTY_ECHO 0x8    /* lflag: what is read is echoed */
#define TTY_ROWS 24
#define TTY_COLUMNS 80

/* Linux's struct termios as the kernel ABI has it (36 bytes). */
struct termios_user {
    uint32_t iflag, oflag, cflag, lflag;
    uint8_t line;
    uint8_t cc[19];
};
_Static_assert(sizeof(struct termios_user) == 36, "Linux termios");

struct winsize_user {
    uint16_t rows, columns, xpixels, ypixels;
};

/* A terminal's default mode (stty sane): ICRNL; OPOST ONLCR; B38400 CS8 CREAD;
 * ISIG ICANON ECHO ECHOE ECHOK IEXTEN; ^C ^\ DEL ^U ^D ... */
static struct termios_user termios = {
    .iflag = 0x100,
    .oflag = 0x5,
    .cflag = 0xbf,
    .lflag = 0x803b,
    .cc = {3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22},
};

static long tty_write(struct file *f, uintptr_t user_buf, size_t len)
{
    (void)f;
    char chunk[TTY_CHUNK_BYTES];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
        if (copy_from_user(chunk, user_buf + done, n))
            return done ? (long)done : -EFAULT;
        console_write(chunk, n);
        done += n;
    }
    return (long)len;
}

static long tty_read(struct file *f, uintptr_t user_buf, size_t len)
{
    if (len == 0)
        return 0;
    if ((__atomic_load_n(&f->flags, __ATOMIC_RELAXED) & O_NONBLOCK) && input_available() == 0)
        return -EAGAIN;
    char chunk[TTY_CHUNK_BYTES];
    long got = input_read_waiting(chunk, len < sizeof(chunk) ? len : sizeof(chunk),
                                  signal_wait_interruptible);
    if (got < 0)
        return got;
    size_t n = (size_t)got;
    uint32_t iflag = __atomic_load_n(&termios.iflag, __ATOMIC_RELAXED);
    uint32_t lflag = __atomic_load_n(&termios.lflag, __ATOMIC_RELAXED);
    for (size_t i = 0; i < n && (iflag & TTY_ICRNL); i++) {
        if (chunk[i] == '\r')
            chunk[i] = '\n';
    }
    if (lflag & TTY_ECHO)
        console_write(chunk, n);
    return copy_to_user(user_buf, chunk, n) ? -EFAULT : (long)n;
}

static long tty_ioctl(struct file *f, unsigned long request, uintptr_t arg)
{
    (void)f;
    switch (request) {
    case TCGETS:
        return copy_to_user(arg, &termios, sizeof(termios));
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
        struct termios_user t;
        if (copy_from_user(&t, arg, sizeof(t)))
            return -EFAULT;
        termios = t;
        return 0;
    }
    case TIOCGWINSZ: {
        struct winsize_user ws = {TTY_ROWS, TTY_COLUMNS, 0, 0};
        return copy_to_user(arg, &ws, sizeof(ws));
    }
    case TIOCGPGRP: {
        /* With no foreground group yet the asker's own answers. */
        int pgrp = tty_foreground();
        struct process *p = process_current();
        if (pgrp <= 0)
            pgrp = p ? __atomic_load_n(&p->pgid, __ATOMIC_RELAXED) : 1;
        return copy_to_user(arg, &pgrp, sizeof(pgrp));
    }
    case TIOCSPGRP: {
        int pgrp;
        if (copy_from_user(&pgrp, arg, sizeof(pgrp)))
            return -EFAULT;
        if (pgrp < 0)
            return -EINVAL;
        tty_set_foreground(pgrp);
        return 0;
    }
    case FIONREAD: {
        int n = (int)input_available();
        return copy_to_user(arg, &n, sizeof(n));
    }
    default:
        return -ENOTTY;
    }
}

static unsigned tty_poll(struct file *f)
{
    (void)f;
    return POLLOUT | POLLWRNORM | (input_available() ? POLLIN | POLLRDNORM : 0);
}

static int tty_stat(struct file *f, struct kstat *out)
{
    (void)f;
    *out = (struct kstat){.dev = KSTAT_DEV(0, 5), .ino = 3, .nlink = 1,
                          .mode = S_IFCHR | 0620, .rdev = TTY_DEV};
    return 0;
}

static const struct file_ops tty_ops = {
    .read = tty_read,
    .write = tty_write,
    .ioctl = tty_ioctl,
    .poll = tty_poll,
    .stat = tty_stat,
};

/* Never released: this reference is the console's own. */
static struct file tty_file = {.ops = &tty_ops, .refs = 1, .flags = 2 /* O_RDWR */};

#define ISIG 0x1
#define VINTR 0
#define VQUIT 1

static int foreground_pgrp; /* (A) */

void tty_set_foreground(int pgrp)
{
    __atomic_store_n(&foreground_pgrp, pgrp, __ATOMIC_RELEASE);
}

int tty_foreground(void)
{
    return __atomic_load_n(&foreground_pgrp, __ATOMIC_ACQUIRE);
}

/* input_set_filter's hook (interrupt context): the signal characters. */
static bool signal_character(char c)
{
    int pgrp = tty_foreground();
    if (!(termios.lflag & ISIG) || pgrp <= 0)
        return false;
    int sig = c == (char)termios.cc[VINTR] ? SIGINT : c == (char)termios.cc[VQUIT] ? SIGQUIT : 0;
    if (!sig)
        return false;
    console_write(c == (char)termios.cc[VINTR] ? "^C\n" : "^\\\n", 3); /* ECHOCTL */
    signal_send_group(pgrp, sig);
    return true;
}

void tty_init(void)
{
    process_set_console(&tty_file);
    input_set_notify(fs_poll_notify);
    input_set_filter(signal_character);
}
