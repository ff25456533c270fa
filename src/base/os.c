/*
 * os.c -- the real system calls behind the seam in os.h.
 *
 * The wrappers only adapt calling conventions (posix_fallocate returns an errno instead
 * of setting it; a directory listing is one call here).  EINTR is retried above the seam
 * (os.h), so tests can inject it.
 */
#define _GNU_SOURCE
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int os_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static int os_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags, mode);
}

static int os_close(int fd)
{
    return close(fd);
}

static int os_mkdir(const char *path, mode_t mode)
{
    return mkdir(path, mode);
}

/* A DIR of its own (dup) so that the caller's descriptor stays open and its offset is not
 * shared with another listing. */
static int os_listdir(int dirfd, mlg__os_each each, void *ctx)
{
    int fd = dup(dirfd), rc = 0;
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    rewinddir(d);
    if (each(ctx, NULL) == 0) {
        struct dirent *e;
        while ((errno = 0, e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && each(ctx, e->d_name))
                break; /* stopped: not a failure, whatever errno the callback left */
        rc = !e && errno ? -1 : 0;
    }
    int e = errno;
    closedir(d);
    errno = e;
    return rc;
}

static int os_flock(int fd, int op)
{
    return flock(fd, op);
}

static int os_fstat(int fd, struct stat *st)
{
    return fstat(fd, st);
}

static int os_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return fstatat(dirfd, path, st, flags);
}

static ssize_t os_pread(int fd, void *buf, size_t n, off_t off)
{
    return pread(fd, buf, n, off);
}

static ssize_t os_write(int fd, const void *buf, size_t n)
{
    return write(fd, buf, n);
}

static ssize_t os_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
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

static void *os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

static int os_munmap(void *addr, size_t len)
{
    return munmap(addr, len);
}

static int os_madvise(void *addr, size_t len, int advice)
{
    return madvise(addr, len, advice);
}

static int os_msync(void *addr, size_t len, int flags)
{
    return msync(addr, len, flags);
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

static int os_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    return renameat(olddirfd, oldpath, newdirfd, newpath);
}

static int os_unlinkat(int dirfd, const char *path, int flags)
{
    return unlinkat(dirfd, path, flags);
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

unsigned long long mlg__os_clock_ns(void)
{
    return mlg__clock_ns();
}

#define MLG_OS_ENTRY(ret, name, params, args, fail) os_##name,
#define MLG_OS_REAL                                                                                \
    {                                                                                              \
        MLG__OS_CALLS(MLG_OS_ENTRY) mlg__os_clock_ns                                               \
    }

mlg__os_table mlg__os = MLG_OS_REAL;

void mlg__os_reset(void)
{
    mlg__os = (mlg__os_table)MLG_OS_REAL;
}

void mlg__wait_round(unsigned round)
{
    if (round < 64) {
        sched_yield();
    } else {
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
    }
}

int mlg__create_at(int dirfd, const char *path, int flags, mode_t mode)
{
    int fd = mlg__openat(dirfd, path, flags | O_CREAT, mode);
    struct stat d, f;
    if (fd >= 0 && geteuid() == 0 && fstat(dirfd, &d) == 0 && d.st_uid != 0 && fstat(fd, &f) == 0 &&
        f.st_uid == 0)
        (void)fchown(fd, d.st_uid, d.st_gid); /* as far as it goes: the file is there anyway */
    return fd;
}

uint64_t mlg__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
