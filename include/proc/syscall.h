/* The system-call handlers (proc/syscall.c, proc/sys_file.c, proc/sys_socket.c, ...) as proc/syscall_table.c lists them.
 * Each takes the six Linux argument registers; unused ones are ignored. */
#ifndef EXO_PROC_SYSCALL_H
#define EXO_PROC_SYSCALL_H

#include <stdint.h>

#define SYSCALL_ARGS                                                                      \
    uint64_t a0 __attribute__((unused)), uint64_t a1 __attribute__((unused)),             \
        uint64_t a2 __attribute__((unused)), uint64_t a3 __attribute__((unused)),         \
        uint64_t a4 __attribute__((unused)), uint64_t a5 __attribute__((unused))
#define SYSCALL_DECLARE(name) long sys_##name(SYSCALL_ARGS)

SYSCALL_DECLARE(read);
SYSCALL_DECLARE(write);
SYSCALL_DECLARE(close);
SYSCALL_DECLARE(mmap);
SYSCALL_DECLARE(mprotect);
SYSCALL_DECLARE(munmap);
SYSCALL_DECLARE(brk);
SYSCALL_DECLARE(madvise);
SYSCALL_DECLARE(rt_sigaction);
SYSCALL_DECLARE(rt_sigprocmask);
SYSCALL_DECLARE(ioctl);
SYSCALL_DECLARE(readv);
SYSCALL_DECLARE(writev);
SYSCALL_DECLARE(sched_yield);
SYSCALL_DECLARE(getpid);
SYSCALL_DECLARE(exit);
SYSCALL_DECLARE(kill);
SYSCALL_DECLARE(uname);
SYSCALL_DECLARE(gettimeofday);
SYSCALL_DECLARE(getuid);
SYSCALL_DECLARE(getgid);
SYSCALL_DECLARE(geteuid);
SYSCALL_DECLARE(getegid);
SYSCALL_DECLARE(getppid);
SYSCALL_DECLARE(arch_prctl);
SYSCALL_DECLARE(gettid);
SYSCALL_DECLARE(time);
SYSCALL_DECLARE(set_tid_address);
SYSCALL_DECLARE(clock_gettime);
SYSCALL_DECLARE(exit_group);
SYSCALL_DECLARE(set_robust_list);
SYSCALL_DECLARE(getrandom);

/* proc/syscall_proc.c, proc/fork.c, proc/exec.c: process life */
SYSCALL_DECLARE(clone);
SYSCALL_DECLARE(fork);
SYSCALL_DECLARE(vfork);
SYSCALL_DECLARE(execve);
SYSCALL_DECLARE(wait4);
SYSCALL_DECLARE(waitid);
SYSCALL_DECLARE(futex);
SYSCALL_DECLARE(getpgid);
SYSCALL_DECLARE(setpgid);
SYSCALL_DECLARE(getpgrp);
SYSCALL_DECLARE(getsid);
SYSCALL_DECLARE(setsid);
SYSCALL_DECLARE(sched_getaffinity);
SYSCALL_DECLARE(sched_setaffinity);

/* proc/signal.c */
SYSCALL_DECLARE(rt_sigpending);
SYSCALL_DECLARE(rt_sigsuspend);
SYSCALL_DECLARE(rt_sigreturn);
SYSCALL_DECLARE(sigaltstack);
SYSCALL_DECLARE(pause);
SYSCALL_DECLARE(tgkill);
SYSCALL_DECLARE(tkill);

/* proc/sys_time.c */
SYSCALL_DECLARE(clock_getres);
SYSCALL_DECLARE(nanosleep);
SYSCALL_DECLARE(clock_nanosleep);

/* proc/sys_misc.c */
SYSCALL_DECLARE(getresuid);
SYSCALL_DECLARE(getresgid);
SYSCALL_DECLARE(umask);
SYSCALL_DECLARE(prlimit64);
SYSCALL_DECLARE(getrlimit);
SYSCALL_DECLARE(setrlimit);
SYSCALL_DECLARE(sysinfo);
SYSCALL_DECLARE(getrusage);
SYSCALL_DECLARE(sync);
SYSCALL_DECLARE(reboot);

/* proc/sys_file.c */
/* mmap of a file (fd): a private copy of an initrd file's pages. */
long file_mmap(uintptr_t addr, uint64_t len, unsigned prot, unsigned flags, uint64_t fd,
               uint64_t offset);
SYSCALL_DECLARE(open);
SYSCALL_DECLARE(stat);
SYSCALL_DECLARE(fstat);
SYSCALL_DECLARE(lstat);
SYSCALL_DECLARE(poll);
SYSCALL_DECLARE(lseek);
SYSCALL_DECLARE(pread64);
SYSCALL_DECLARE(pwrite64);
SYSCALL_DECLARE(access);
SYSCALL_DECLARE(pipe);
SYSCALL_DECLARE(select);
SYSCALL_DECLARE(dup);
SYSCALL_DECLARE(dup2);
SYSCALL_DECLARE(fcntl);
SYSCALL_DECLARE(truncate);
SYSCALL_DECLARE(ftruncate);
SYSCALL_DECLARE(getcwd);
SYSCALL_DECLARE(chdir);
SYSCALL_DECLARE(fchdir);
SYSCALL_DECLARE(rename);
SYSCALL_DECLARE(mkdir);
SYSCALL_DECLARE(rmdir);
SYSCALL_DECLARE(creat);
SYSCALL_DECLARE(link);
SYSCALL_DECLARE(unlink);
SYSCALL_DECLARE(symlink);
SYSCALL_DECLARE(readlink);
SYSCALL_DECLARE(chmod);
SYSCALL_DECLARE(fchmod);
SYSCALL_DECLARE(chown);
SYSCALL_DECLARE(fchown);
SYSCALL_DECLARE(lchown);
SYSCALL_DECLARE(mknod);
SYSCALL_DECLARE(getdents64);
SYSCALL_DECLARE(openat);
SYSCALL_DECLARE(mkdirat);
SYSCALL_DECLARE(mknodat);
SYSCALL_DECLARE(fchownat);
SYSCALL_DECLARE(newfstatat);
SYSCALL_DECLARE(unlinkat);
SYSCALL_DECLARE(renameat);
SYSCALL_DECLARE(linkat);
SYSCALL_DECLARE(symlinkat);
SYSCALL_DECLARE(readlinkat);
SYSCALL_DECLARE(fchmodat);
SYSCALL_DECLARE(faccessat);
SYSCALL_DECLARE(pselect6);
SYSCALL_DECLARE(ppoll);
SYSCALL_DECLARE(utimensat);
SYSCALL_DECLARE(dup3);
SYSCALL_DECLARE(pipe2);
SYSCALL_DECLARE(socket);
SYSCALL_DECLARE(socketpair);
SYSCALL_DECLARE(bind);
SYSCALL_DECLARE(listen);
SYSCALL_DECLARE(connect);
SYSCALL_DECLARE(accept);
SYSCALL_DECLARE(accept4);
SYSCALL_DECLARE(getsockname);
SYSCALL_DECLARE(getpeername);
SYSCALL_DECLARE(shutdown);
SYSCALL_DECLARE(getsockopt);
SYSCALL_DECLARE(setsockopt);
SYSCALL_DECLARE(sendto);
SYSCALL_DECLARE(recvfrom);
SYSCALL_DECLARE(sendmsg);
SYSCALL_DECLARE(recvmsg);
SYSCALL_DECLARE(renameat2);
SYSCALL_DECLARE(faccessat2);
SYSCALL_DECLARE(sendfile);

/* proc/ipc.c: Exo's own (include/uapi/exo_ipc.h) */
SYSCALL_DECLARE(ipc_endpoint);
SYSCALL_DECLARE(ipc_client);
SYSCALL_DECLARE(ipc_call);
SYSCALL_DECLARE(ipc_send);
SYSCALL_DECLARE(ipc_recv);
SYSCALL_DECLARE(ipc_reply_recv);

#endif
