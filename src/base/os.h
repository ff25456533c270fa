/*
 * os.h -- the system-call seam.
 *
 * Every system call that touches a log's files goes through mlg__os, a table of function
 * pointers, as SQLite's os layer does.  Production code never changes it; tests replace
 * entries to inject EIO, ENOSPC, EINTR or a failed mapping at any call site and check that
 * the log stays reopenable with nothing acknowledged lost.  Every entry returns -1 (or
 * MAP_FAILED) with errno set on failure, like the call it stands for.
 */
#ifndef MLG_OS_H
#define MLG_OS_H

#include <sys/types.h>

typedef struct mlg__os_table {
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    int (*ftruncate)(int fd, off_t len);
    int (*fallocate)(int fd, off_t off, off_t len); /* reserves blocks; -1/errno */
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *addr, size_t len);
    int (*msync)(void *addr, size_t len, int flags);
    int (*fsync)(int fd);
    int (*fdatasync)(int fd);
    int (*writeback)(int fd, off_t off, off_t len); /* start write-back, don't wait */
    int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
    int (*unlinkat)(int dirfd, const char *path, int flags);
    /* Not system calls on files, but inputs a golden-file test must pin down: */
    unsigned long long (*clock_ns)(void);      /* CLOCK_REALTIME in ns */
    int (*random)(void *buf, unsigned long n); /* 0 ok, -1/errno */
} mlg__os_table;

extern mlg__os_table mlg__os;

/* The real clock_ns: clock.h's TSC-derived CLOCK_REALTIME. */
unsigned long long mlg__os_clock_ns(void);

/* Restore the real system calls (tests call this after injecting faults). */
void mlg__os_reset(void);

/* What the library calls: the seam, with EINTR retried here, above it, so that a test
 * injecting EINTR checks the retry and not the kernel. */
#include <errno.h>
#define MLG__RETRY(call)                                                                           \
    int r_;                                                                                        \
    do                                                                                             \
        r_ = (call);                                                                               \
    while (r_ < 0 && errno == EINTR);                                                              \
    return r_
static inline int mlg__openat(int dirfd, const char *path, int flags, mode_t mode)
{
    MLG__RETRY(mlg__os.openat(dirfd, path, flags, mode));
}
static inline int mlg__ftruncate(int fd, off_t len)
{
    MLG__RETRY(mlg__os.ftruncate(fd, len));
}
static inline int mlg__fallocate(int fd, off_t off, off_t len)
{
    MLG__RETRY(mlg__os.fallocate(fd, off, len));
}
static inline int mlg__msync(void *addr, size_t len, int flags)
{
    MLG__RETRY(mlg__os.msync(addr, len, flags));
}
static inline int mlg__fsync(int fd)
{
    MLG__RETRY(mlg__os.fsync(fd));
}
static inline int mlg__fdatasync(int fd)
{
    MLG__RETRY(mlg__os.fdatasync(fd));
}
static inline int mlg__renameat(int a, const char *b, int c, const char *d)
{
    MLG__RETRY(mlg__os.renameat(a, b, c, d));
}
static inline int mlg__unlinkat(int dirfd, const char *path, int flags)
{
    MLG__RETRY(mlg__os.unlinkat(dirfd, path, flags));
}

/* CLOCK_REALTIME in ns for a record's timestamp: clock.h's, inline, unless a test has
 * replaced the seam's clock. */
#include "clock.h"
static inline uint64_t mlg__rec_now_ns(void)
{
    return mlg__os.clock_ns == mlg__os_clock_ns ? mlg__clock_ns() : mlg__os.clock_ns();
}

#endif
