/*
 * fixture.h: what the suites know about the files in user/rootfs/etc/fixture/
 * (copied into the initrd as-is). Keep in step with those files.
 *
 *   data.txt   FIXTURE_DATA_SIZE bytes, byte i is fixture_byte(i)
 *   link       symlink -> "data.txt"
 *   dangling   symlink -> "does-not-exist"
 *   sub/       directory holding one.txt ("one\n")
 *   subdir     symlink -> "sub"
 *   notelf     mode 0755, text, not an ELF file
 *   empty      an empty regular file
 */
#ifndef EXO_USER_FIXTURE_H
#define EXO_USER_FIXTURE_H

#define FIXTURE_DIR "/etc/fixture"
#define FIXTURE_DATA_SIZE 8292

static inline char fixture_byte(long i)
{
	return (char)(i % 64 == 63 ? '\n' : 'a' + i % 26);
}

#endif
