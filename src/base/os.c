/*
 * os.c -- the real system calls behind the seam in os.h.
 *
 * The wrappers only adapt calling conventions (posix_fallocate returns an errno instead
 * of setting it).  EINTR is retried above the seam (os.h), so tests can inject it.
 */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static int os_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags, mode);
}

static int os_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static int os_fallocate(int fd, off_t off, off_t len)
{
    int rc = posix_fallocate(fd, off, len);
    if (rc == 0)
        return 0;
    /* File systems that cannot reserve blocks (some FUSE, old NFS) say EOPNOTSUPP:
     * then there is nothing to reserve with, and the caller's ftruncate stands. */
    if (rc == EOPNOTSUPP)
        return 0;
    errno = rc;
    return -1;
}

static int os_fsync(int fd)
{
    return fsync(fd);
}

static int os_fdatasync(int fd)
{
    return fdatasync(fd);
}

static int os_writeback(int fd, off_t off, off_t len)
{
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd, (void)off, (void)len;
    return 0;
#endif
}

static void *os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

unsigned long long mlg__os_clock_ns(void)
{
    return mlg__clock_ns();
}

static int os_random(void *buf, unsigned long n)
{
    unsigned long got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (unsigned long)r;
    }
    return 0;
}

#define MLG_OS_REAL                                                                                \
    {                                                                                              \
        os_openat, os_ftruncate, os_fallocate, os_mmap, munmap, msync, os_fsync, os_fdatasync,     \
            os_writeback, renameat, unlinkat, mlg__os_clock_ns, os_random,                         \
    }

mlg__os_table mlg__os = MLG_OS_REAL;

void mlg__os_reset(void)
{
    mlg__os = (mlg__os_table)MLG_OS_REAL;
}
