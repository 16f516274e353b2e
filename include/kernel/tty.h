/*
 * tty: the console as a file for user processes (include/proc/process.h's
 * struct file): fds 0, 1 and 2 of every process. Writing prints on every console
 * (serial and screen); reading takes what the user types from the input queue
 * (kernel/input.h), echoing it (ECHO) and turning Enter's '\r' into '\n' (ICRNL)
 * as a terminal in its default mode does; a program that clears those flags
 * (a line editor in raw mode) gets the bytes as typed. Reads return what is
 * queued, never waiting for a whole line. ioctl answers TCGETS (and keeps what TCSETS* set),
 * TIOCGWINSZ, TIOCGPGRP/TIOCSPGRP and FIONREAD; anything else is ENOTTY. poll
 * says readable when input is queued (include/fs/poll.h); O_NONBLOCK reads
 * answer EAGAIN when none is.
 *
 * Only the foreground program reads: the shell does not while `run` waits.
 *
 * Signals: with ISIG set (the default), Ctrl-C (VINTR) sends SIGINT and Ctrl-\
 * (VQUIT) SIGQUIT to the foreground process group instead of being read;
 * with no foreground group (the kernel shell's own prompt) they are ordinary
 * input.
 */
#ifndef EXO_KERNEL_TTY_H
#define EXO_KERNEL_TTY_H

/* Makes the console the file new processes get (process_set_console). */
void tty_init(void);

/* The console's foreground process group: 0 for none (the kernel shell). Set by
 * the shell's `run`, the init launcher and TIOCSPGRP. Any context. */
void tty_set_foreground(int pgrp);
int tty_foreground(void);

#endif
