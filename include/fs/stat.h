/*
 * stat.h: file type and permission bits of a mode, with Linux's values (the user
 * ABI), for the file tree and the system calls that report modes.
 */
#ifndef EXO_FS_STAT_H
#define EXO_FS_STAT_H

#define S_IFMT 0170000u
#define S_IFSOCK 0140000u
#define S_IFLNK 0120000u
#define S_IFREG 0100000u
#define S_IFBLK 0060000u
#define S_IFDIR 0040000u
#define S_IFCHR 0020000u
#define S_IFIFO 0010000u

#define S_ISUID 04000u
#define S_ISGID 02000u
#define S_ISVTX 01000u
#define S_IRWXU 00700u
#define S_IRUSR 00400u
#define S_IWUSR 00200u
#define S_IXUSR 00100u
#define S_IRWXG 00070u
#define S_IRGRP 00040u
#define S_IWGRP 00020u
#define S_IXGRP 00010u
#define S_IRWXO 00007u
#define S_IROTH 00004u
#define S_IWOTH 00002u
#define S_IXOTH 00001u
#define S_IALLUGO 07777u /* every permission bit, setuid/setgid/sticky included */

#define S_ISLNK(m) (((m) & S_IFMT) == S_IFLNK)
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#define S_ISCHR(m) (((m) & S_IFMT) == S_IFCHR)
#define S_ISBLK(m) (((m) & S_IFMT) == S_IFBLK)
#define S_ISFIFO(m) (((m) & S_IFMT) == S_IFIFO)
#define S_ISSOCK(m) (((m) & S_IFMT) == S_IFSOCK)

#endif
