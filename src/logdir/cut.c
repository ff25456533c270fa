/*
 * cut.c -- the steps of a cut that automatic recovery (writer/recovery.c) and offline
 * repair (check/repair.c) share: saving the cut bytes beside the segment, setting later
 * segments aside, and building the report.  Nothing is ever overwritten.
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include "logdir.h"
#include "os.h"

/* ---- the cut's steps (recovery.c and repair.c) -------------------------------------------- */

void mlg__report_init(mlg__report *r, char *buf, size_t cap)
{
    r->buf = buf;
    r->cap = cap;
    r->len = strnlen(buf, cap - 1);
    buf[r->len] = 0;
}

void mlg__report_add(mlg__report *r, const char *fmt, ...)
{
    if (r->len + 1 >= r->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->len = (size_t)n < r->cap - r->len ? r->len + (size_t)n : r->cap - 1;
}

/* Side files are never overwritten: an operator may not have looked at the last one yet. */
#define MLG_SIDE_TRIES 100

/* The k-th candidate name for what is cut from segment name at offset from. */
static void side_name(char out[64], const char *name, uint64_t from, int k)
{
    if (k == 0)
        snprintf(out, 64, "%s.tail-%" PRIu64, name, from);
    else
        snprintf(out, 64, "%s.tail-%" PRIu64 ".%d", name, from, k);
}

/* Create the first free side-file name for (name, from), exclusively. */
static int side_create(int dirfd, const char *dir, const char *name, uint64_t from, mode_t mode,
                       char side[64], int *fd, mlg__err *err)
{
    for (int k = 0; k < MLG_SIDE_TRIES; k++) {
        side_name(side, name, from, k);
        *fd = mlg__create_at(dirfd, side, O_WRONLY | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (*fd >= 0)
            return 0;
        if (errno != EEXIST)
            return mlg__fail(err, MAPLOG_EIO, "%s/%s: cannot save the cut bytes (open): %s", dir,
                             side, strerror(errno));
    }
    side_name(side, name, from, 0);
    return mlg__fail(err, MAPLOG_EIO,
                     "%s/%s: cannot save the cut bytes: it and %d more side files of that name "
                     "exist already (move them away, then retry)",
                     dir, side, MLG_SIDE_TRIES - 1);
}

int mlg__save_tail(int dirfd, const char *dir, const char *name, uint64_t from, uint64_t to,
                   int mode, char side[64], uint64_t *saved, mlg__err *err)
{
    uint64_t size;
    struct stat st;
    int in, out = -1, rc;
    char buf[65536];
    *saved = 0;
    if ((rc = mlg__seg_open_file(dirfd, dir, name, 0, &in, &size, err)))
        return rc;
    if (mode == MLG_MODE_OF_SEGMENT) {
        if (mlg__fstat(in, &st) < 0) {
            rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: fstat failed: %s", dir, name, strerror(errno));
            goto out;
        }
        mode = (int)(st.st_mode & 07777);
    }
    if ((rc = side_create(dirfd, dir, name, from, (mode_t)mode, side, &out, err)))
        goto out;
    if (to > size)
        to = size;
    for (uint64_t o = from; o < to;) {
        size_t want = to - o < sizeof buf ? (size_t)(to - o) : sizeof buf;
        int r = mlg__pread_all(in, buf, want, (off_t)o);
        if (r < 0 || mlg__write_all(out, buf, want) < 0) {
            rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: saving the cut bytes failed (%s): %s", dir,
                           side, r < 0 ? "pread" : "write", strerror(errno));
            goto out;
        }
        o += want;
    }
    if (mlg__fsync(out) < 0)
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: saving the cut bytes failed (fsync): %s", dir, side,
                       strerror(errno));
    else
        *saved = to > from ? to - from : 0;
out:
    mlg__close(in);
    if (out >= 0) {
        mlg__close(out);
        if (rc) /* half a copy would take the name a retry needs */
            mlg__unlinkat(dirfd, side, 0);
    }
    return rc;
}

int mlg__set_aside(int dirfd, const char *dir, const char *name, char aside[64], mlg__err *err)
{
    struct stat st;
    /* Both callers hold the writer lock: no maplog process creates a name between the
     * check and the rename. */
    for (int k = 0; k < MLG_SIDE_TRIES; k++) {
        side_name(aside, name, 0, k);
        if (mlg__fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        if (errno != ENOENT)
            return mlg__fail(err, MAPLOG_EIO, "%s/%s: cannot tell whether it exists (fstatat): %s",
                             dir, aside, strerror(errno));
        if (mlg__renameat(dirfd, name, dirfd, aside) < 0)
            return mlg__fail(err, MAPLOG_EIO, "%s: rename %s -> %s failed: %s", dir, name, aside,
                             strerror(errno));
        return 0;
    }
    side_name(aside, name, 0, 0);
    return mlg__fail(err, MAPLOG_EIO,
                     "%s/%s: cannot set %s aside: it and %d more side files of that name exist "
                     "already (move them away, then retry)",
                     dir, aside, name, MLG_SIDE_TRIES - 1);
}
