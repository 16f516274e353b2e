/*
 * fcntl.h: the open flags, *at() flags, fcntl commands and seek origins of the
 * Linux x86_64 ABI, with Linux's values, for the file system calls.
 */
#ifndef EXO_FS_FCNTL_H
#define EXO_FS_FCNTL_H

#define O_ACCMODE 03u
#define O_RDONLY 00u
#define O_WRONLY 01u
#define O_RDWR 02u
#define O_CREAT 0100u
#define O_EXCL 0200u
#define O_NOCTTY 0400u
#define O_TRUNC 01000u
#define O_APPEND 02000u
#define O_NONBLOCK 04000u
#define O_DSYNC 010000u
#define O_ASYNC 020000u
#define O_DIRECT 040000u
#define O_LARGEFILE 0100000u
#define O_DIRECTORY 0200000u
#define O_NOFOLLOW 0400000u
#define O_NOATIME 01000000u
#define O_CLOEXEC 02000000u
#define O_SYNC 04010000u
#define O_PATH 010000000u
#define O_TMPFILE 020200000u

#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100u
#define AT_EACCESS 0x200u
#define AT_REMOVEDIR 0x200u
#define AT_SYMLINK_FOLLOW 0x400u
#define AT_NO_AUTOMOUNT 0x800u
#define AT_EMPTY_PATH 0x1000u

#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC 1

#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
#define SEEK_DATA 3
#define SEEK_HOLE 4

#define F_OK 0
#define X_OK 1
#define W_OK 2
#define R_OK 4

/* The flags F_SETFL may change (Linux's SETFL_MASK, less O_DIRECT and O_NOATIME,
 * which mean nothing here). */
#define FILE_SETFL_MASK (O_APPEND | O_NONBLOCK)

#endif
