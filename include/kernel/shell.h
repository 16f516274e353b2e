/*
 * shell: the kernel's command line, on every console at once.
 *
 * shell_start spawns the thread "shell", which prints `boot: shell ready in N us`
 * and the prompt `exo> `, then loops: it blocks in input_read (kernel/input.h)
 * until something is typed, edits the line (lib/line_edit.h), runs the
 * command, prompts again. Its output goes through kprintf, so the serial port and
 * the screen show the same session. `help` lists the commands.
 *
 * One shell thread reads the input queue; nothing else may.
 *
 * Interrupt context: none; the shell is a thread.
 */
#ifndef EXO_KERNEL_SHELL_H
#define EXO_KERNEL_SHELL_H

struct thread;

#define SHELL_PROMPT "exo> "

/* Spawns the shell thread; NULL when out of memory. */
struct thread *shell_start(void);

#endif
