/*
 * names.c -- the log directory's names and its directory: segment file names, the listing,
 * opening the directory (the one errno-to-code mapping), and the writer lock (probe and
 * take).
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
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include "logdir.h"
#include "os.h"

void mlg__seg_name(char out[32], uint64_t first_seq)
{
    snprintf(out, 32, "%020" PRIu64 MLG_SEG_SUFFIX, first_seq);
}

int mlg__parse_seg_name(const char *name, uint64_t *first_seq)
{
    uint64_t v = 0;
    size_t l = strlen(name);
    if (!((l == MLG_SEG_NAME_LEN && strcmp(name + 20, MLG_SEG_SUFFIX) == 0) ||
          (l == MLG_SEG_NAME_LEN + 1 && strcmp(name + 20, MLG_ARCH_SUFFIX) == 0)))
        return 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *first_seq = v;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct listing {
    uint64_t *v;
    size_t cap, cnt, other;
    int nomem;
};

static int list_one(void *ctx, const char *name)
{
    struct listing *l = ctx;
    uint64_t s;
    if (!name) { /* (re)starting */
        l->cnt = l->other = 0;
        return 0;
    }
    if (mlg__parse_seg_name(name, &s)) {
        if (l->cnt == l->cap) {
            uint64_t *nv = realloc(l->v, 2 * l->cap * sizeof *l->v);
            if (!nv) {
                l->nomem = 1;
                return 1;
            }
            l->v = nv;
            l->cap *= 2;
        }
        l->v[l->cnt++] = s;
    } else if (strcmp(name, MLG_LOCK_NAME) && strcmp(name, MLG_SPARE_NAME) &&
               strcmp(name, MLG_SPARE2_NAME) && !strstr(name, ".tail-") &&
               !strstr(name, ".mlogz.tmp")) {
        l->other++;
    }
    return 0;
}

int mlg__list_segments(int dirfd, uint64_t **seqs, size_t *n, size_t *other, mlg__err *err,
                       const char *dir)
{
    int rc = 0;
    struct listing l = {malloc(16 * sizeof(uint64_t)), 16, 0, 0, 0};
    *seqs = NULL;
    *n = 0;
    if (!l.v) {
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s: out of memory listing segments", dir);
        goto out;
    }
    if (mlg__listdir(dirfd, list_one, &l) < 0) {
        rc = mlg__fail(err, MAPLOG_EIO, "%s: cannot list directory: %s", dir, strerror(errno));
        goto out;
    }
    if (l.nomem) {
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s: out of memory listing", dir);
        goto out;
    }
    qsort(l.v, l.cnt, sizeof *l.v, cmp_u64);
    size_t u = 0; /* NAME.mlog and NAME.mlogz both present (archiving cut short): once */
    for (size_t i = 0; i < l.cnt; i++)
        if (u == 0 || l.v[u - 1] != l.v[i])
            l.v[u++] = l.v[i];
    *seqs = l.v;
    *n = u;
    if (other)
        *other = l.other;
    l.v = NULL;
out:
    free(l.v);
    return rc;
}

int mlg__writer_alive(int dirfd)
{
    int fd = mlg__openat(dirfd, MLG_LOCK_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    int alive = mlg__flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    mlg__close(fd);
    return alive;
}

int mlg__writer_alive_fd(int fd)
{
    if (mlg__flock(fd, LOCK_SH | LOCK_NB) == 0) {
        mlg__flock(fd, LOCK_UN);
        return 0;
    }
    return errno == EWOULDBLOCK;
}

int mlg__lock_take(int dirfd, const char *dir, mode_t mode, int *fd, mlg__err *err)
{
    *fd = mlg__create_at(dirfd, MLG_LOCK_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode);
    if (*fd < 0)
        return mlg__fail(err, MAPLOG_EIO, "%s/%s: cannot open lock file: %s%s", dir, MLG_LOCK_NAME,
                         strerror(errno),
                         errno == ELOOP ? " (a symlink: maplog never follows links in a log)" : "");
    /* A reader asks whether a writer holds the log by taking a shared lock for an instant
     * (mlg__writer_alive): a follower of a log no writer holds asks often, and one such
     * instant must not make this open fail.  So a refusal is believed only when it lasts:
     * 20 tries over 20 ms, where a reader's lock lasts microseconds. */
    int rc;
    for (int i = 0; (rc = mlg__flock(*fd, LOCK_EX | LOCK_NB)) < 0 && errno == EWOULDBLOCK && i < 20;
         i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (rc < 0) {
        int e = errno;
        mlg__close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return mlg__fail(err, MAPLOG_ELOCKED,
                             "%s/%s: another process has this log open for writing", dir,
                             MLG_LOCK_NAME);
        return mlg__fail(err, MAPLOG_EIO, "%s/%s: cannot lock (flock): %s", dir, MLG_LOCK_NAME,
                         strerror(e));
    }
    return 0;
}

int mlg__dir_open(const char *dir, int *dirfd, mlg__err *err)
{
    *dirfd = mlg__open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (*dirfd >= 0)
        return 0;
    if (errno == ENOTDIR) {
        const char *base = strrchr(dir, '/');
        uint64_t seq;
        base = base ? base + 1 : dir;
        if (mlg__parse_seg_name(base, &seq))
            return mlg__fail(err, MAPLOG_ENOTLOG,
                             "%s: a segment file, not a log: give the directory that holds it",
                             dir);
    }
    return mlg__fail(err,
                     errno == ENOENT    ? MAPLOG_ENOENT
                     : errno == ENOTDIR ? MAPLOG_ENOTLOG
                                        : MAPLOG_EIO,
                     "%s: cannot open directory: %s", dir, strerror(errno));
}

int mlg__logdir_open(const char *dir, int *dirfd, uint64_t **segs, size_t *n, mlg__err *err)
{
    int rc = mlg__dir_open(dir, dirfd, err);
    if (rc)
        return rc;
    rc = mlg__list_segments(*dirfd, segs, n, NULL, err, dir);
    if (rc == 0 && *n == 0)
        rc = mlg__fail(err, MAPLOG_ENOTLOG, "%s: not a maplog directory (no segment files)", dir);
    if (rc) {
        mlg__close(*dirfd);
        free(*segs);
        *segs = NULL;
    }
    return rc;
}
