/*
 * os.h -- the system-call seam.
 *
 * Every system call on a log's files, its directory and the memory mapped from them goes
 * through mlg__os, a table of function pointers, as SQLite's os layer does: opening,
 * listing, locking, sizing, reading, writing, mapping, syncing, renaming and removing.
 * Production code never changes it; tests replace entries to inject EIO, ENOSPC, EINTR or
 * a failed mapping at any call site and check that the log stays reopenable with nothing
 * acknowledged lost.  Every entry returns -1 (or MAP_FAILED) with errno set on failure,
 * like the call it stands for.  scripts/check-seam.py fails the build's tests when code
 * outside base/os.c calls one of these directly.
 *
 * Left outside: calls that touch no file (threads, sleeping, the clock's own reads, the
 * membarrier and priority calls, mprotect of memory that is no file's, the reads of an
 * inotify or timer descriptor, marked on their line for scripts/check-seam.py), whose
 * failure no fault test could turn into lost data.
 */
#ifndef MLG_OS_H
#define MLG_OS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The listing callback: called with NULL when a listing (re)starts, then once per name;
 * return non-zero to stop early. */
typedef int (*mlg__os_each)(void *ctx, const char *name);

/* The seam's entries, as X(return type, name, parameters, arguments, failure value): the
 * table, the real calls (os.c) and the fault test's wrappers are all made from this list,
 * so none of them can miss an entry.
 *   close:   the descriptor is gone whatever it returns; failing it must cost nothing.
 *   madvise: advice; a failure costs speed only (pre-faulting then touches each page).
 *   listdir: the names in a directory, "." and ".." left out.
 *   writeback: start write-back of a range and do not wait (0 where there is none).
 *   pwrite:  only the wake page's poke (wake.c), which stores nothing a reader needs. */
#define MLG__OS_CALLS(X)                                                                           \
    X(int, open, (const char *path, int flags, mode_t mode), (path, flags, mode), -1)              \
    X(int, openat, (int dirfd, const char *path, int flags, mode_t mode),                          \
      (dirfd, path, flags, mode), -1)                                                              \
    X(int, close, (int fd), (fd), -1)                                                              \
    X(int, mkdir, (const char *path, mode_t mode), (path, mode), -1)                               \
    X(int, listdir, (int dirfd, mlg__os_each each, void *ctx), (dirfd, each, ctx), -1)             \
    X(int, flock, (int fd, int op), (fd, op), -1)                                                  \
    X(int, fstat, (int fd, struct stat *st), (fd, st), -1)                                         \
    X(int, fstatat, (int dirfd, const char *path, struct stat *st, int flags),                     \
      (dirfd, path, st, flags), -1)                                                                \
    X(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off), -1)             \
    X(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n), -1)                       \
    X(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), (fd, buf, n, off), -1)      \
    X(int, ftruncate, (int fd, off_t len), (fd, len), -1)                                          \
    X(int, fallocate, (int fd, off_t off, off_t len), (fd, off, len), -1)                          \
    X(void *, mmap, (void *addr, size_t len, int prot, int flags, int fd, off_t off),              \
      (addr, len, prot, flags, fd, off), MAP_FAILED)                                               \
    X(int, munmap, (void *addr, size_t len), (addr, len), -1)                                      \
    X(int, madvise, (void *addr, size_t len, int advice), (addr, len, advice), -1)                 \
    X(int, msync, (void *addr, size_t len, int flags), (addr, len, flags), -1)                     \
    X(int, fsync, (int fd), (fd), -1)                                                              \
    X(int, fdatasync, (int fd), (fd), -1)                                                          \
    X(int, writeback, (int fd, off_t off, off_t len), (fd, off, len), -1)                          \
    X(int, renameat, (int olddirfd, const char *oldpath, int newdirfd, const char *newpath),       \
      (olddirfd, oldpath, newdirfd, newpath), -1)                                                  \
    X(int, unlinkat, (int dirfd, const char *path, int flags), (dirfd, path, flags), -1)           \
    X(int, random, (void *buf, unsigned long n), (buf, n), -1)

typedef struct mlg__os_table {
#define MLG__OS_FIELD(ret, name, params, args, fail) ret(*name) params;
    MLG__OS_CALLS(MLG__OS_FIELD)
#undef MLG__OS_FIELD
    /* Not a system call on files, and it cannot fail, but a golden-file test must pin it
     * down: CLOCK_REALTIME in ns. */
    unsigned long long (*clock_ns)(void);
} mlg__os_table;

extern mlg__os_table mlg__os;

/* The real clock_ns: clock.h's TSC-derived CLOCK_REALTIME. */
unsigned long long mlg__os_clock_ns(void);

/* Restore the real system calls (tests call this after injecting faults). */
void mlg__os_reset(void);

/* What the library calls: the seam, with EINTR retried here, above it, so that a test
 * injecting EINTR checks the retry and not the kernel. */
#include <errno.h>
#define MLG__RETRY(type, call)                                                                     \
    type r_;                                                                                       \
    do                                                                                             \
        r_ = (call);                                                                               \
    while (r_ < 0 && errno == EINTR);                                                              \
    return r_
static inline int mlg__open(const char *path, int flags, mode_t mode)
{
    MLG__RETRY(int, mlg__os.open(path, flags, mode));
}
static inline int mlg__openat(int dirfd, const char *path, int flags, mode_t mode)
{
    MLG__RETRY(int, mlg__os.openat(dirfd, path, flags, mode));
}
/* Round round (from 0) of waiting for another thread that is a few instructions from done,
 * unless it was preempted there: yield for the first 64 rounds, then sleep 50 us.  A yield
 * lets only threads of the caller's priority or higher run, so a waiter of real-time
 * priority on the other thread's CPU would otherwise keep it from ever finishing. */
void mlg__wait_round(unsigned round);
/* Create path in dirfd (openat with O_CREAT added).  Run as root in a log directory another
 * user owns (an operator's maplog recover --apply or archive), a file root now owns is given
 * the directory's owner and group, as SQLite gives a journal its database's: else the log's
 * own user could no longer open what the operator's tool made. */
int mlg__create_at(int dirfd, const char *path, int flags, mode_t mode);
/* Not retried: Linux releases the descriptor even when close() says EINTR, and closing it
 * again could close one another thread has just opened.  The result is never worth
 * checking: durability comes from fsync, before. */
static inline void mlg__close(int fd)
{
    (void)mlg__os.close(fd);
}
static inline int mlg__mkdir(const char *path, mode_t mode)
{
    MLG__RETRY(int, mlg__os.mkdir(path, mode));
}
/* A listing cut short by EINTR starts over (each() is told, with NULL). */
static inline int mlg__listdir(int dirfd, mlg__os_each each, void *ctx)
{
    MLG__RETRY(int, mlg__os.listdir(dirfd, each, ctx));
}
static inline int mlg__flock(int fd, int op)
{
    MLG__RETRY(int, mlg__os.flock(fd, op));
}
static inline int mlg__fstat(int fd, struct stat *st)
{
    MLG__RETRY(int, mlg__os.fstat(fd, st));
}
static inline int mlg__fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    MLG__RETRY(int, mlg__os.fstatat(dirfd, path, st, flags));
}
static inline ssize_t mlg__pread(int fd, void *buf, size_t n, off_t off)
{
    MLG__RETRY(ssize_t, mlg__os.pread(fd, buf, n, off));
}
static inline ssize_t mlg__write(int fd, const void *buf, size_t n)
{
    MLG__RETRY(ssize_t, mlg__os.write(fd, buf, n));
}
static inline ssize_t mlg__pwrite(int fd, const void *buf, size_t n, off_t off)
{
    MLG__RETRY(ssize_t, mlg__os.pwrite(fd, buf, n, off));
}
static inline int mlg__ftruncate(int fd, off_t len)
{
    MLG__RETRY(int, mlg__os.ftruncate(fd, len));
}
static inline int mlg__fallocate(int fd, off_t off, off_t len)
{
    MLG__RETRY(int, mlg__os.fallocate(fd, off, len));
}
static inline void *mlg__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mlg__os.mmap(addr, len, prot, flags, fd, off);
}
static inline int mlg__munmap(void *addr, size_t len)
{
    return mlg__os.munmap(addr, len);
}
static inline int mlg__madvise(void *addr, size_t len, int advice)
{
    MLG__RETRY(int, mlg__os.madvise(addr, len, advice));
}
static inline int mlg__msync(void *addr, size_t len, int flags)
{
    MLG__RETRY(int, mlg__os.msync(addr, len, flags));
}
static inline int mlg__fsync(int fd)
{
    MLG__RETRY(int, mlg__os.fsync(fd));
}
static inline int mlg__fdatasync(int fd)
{
    MLG__RETRY(int, mlg__os.fdatasync(fd));
}
static inline int mlg__writeback(int fd, off_t off, off_t len)
{
    MLG__RETRY(int, mlg__os.writeback(fd, off, len));
}
static inline int mlg__renameat(int a, const char *b, int c, const char *d)
{
    MLG__RETRY(int, mlg__os.renameat(a, b, c, d));
}
static inline int mlg__unlinkat(int dirfd, const char *path, int flags)
{
    MLG__RETRY(int, mlg__os.unlinkat(dirfd, path, flags));
}
static inline int mlg__random(void *buf, unsigned long n)
{
    MLG__RETRY(int, mlg__os.random(buf, n));
}

/* All n bytes at off, or -1: errno set, EIO for a file that ends first. */
static inline int mlg__pread_all(int fd, void *buf, size_t n, off_t off)
{
    for (char *p = buf; n;) {
        ssize_t r = mlg__pread(fd, p, n, off);
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* All n bytes, or -1 with errno set (a write that makes no progress is ENOSPC). */
static inline int mlg__write_all(int fd, const void *buf, size_t n)
{
    for (const char *p = buf; n;) {
        ssize_t w = mlg__write(fd, p, n);
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The library's two clocks, and their only spellings outside base/:
 * mlg__now_ns(): CLOCK_REALTIME in ns, for timestamps (records, headers, seals, retention
 * by age): clock.h's TSC-derived clock, inline, unless a test has replaced the seam's.
 * mlg__mono_ns(): CLOCK_MONOTONIC in ns, for intervals and deadlines. */
#include "clock.h"
static inline uint64_t mlg__now_ns(void)
{
    return mlg__os.clock_ns == mlg__os_clock_ns ? mlg__clock_ns() : mlg__os.clock_ns();
}
uint64_t mlg__mono_ns(void);

#endif
