/*
 * logdir.c -- the log directory: segment file names, the listing, the writer lock (probe
 * and take), opening a segment read-only (plain or archived) and as a checked view,
 * archiving, removal, the whole-log summary, and the steps of a cut that automatic recovery
 * (writer/recovery.c) and offline repair (check/repair.c) share: saving the cut bytes beside
 * the segment, setting later segments aside, and building the report.

 * Everything here reads bytes that may be damaged, truncated or hostile (blocks.c's rule).
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

int mlg__list_segments(int dirfd, uint64_t **seqs, size_t *n, size_t *other, char *err,
                       const char *dir)
{
    int rc = 0;
    struct listing l = {malloc(16 * sizeof(uint64_t)), 16, 0, 0, 0};
    *seqs = NULL;
    *n = 0;
    if (!l.v) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: out of memory listing segments", dir);
        goto out;
    }
    if (mlg__listdir(dirfd, list_one, &l) < 0) {
        rc = mlg__errf(err, MAPLOG_EIO, "%s: cannot list directory: %s", dir, strerror(errno));
        goto out;
    }
    if (l.nomem) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: out of memory listing", dir);
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

/* ---- archived segments ------------------------------------------------------------------- */

uint64_t mlg__seg_file_size(int dirfd, uint64_t first_seq)
{
    char name[40];
    struct stat st;
    mlg__seg_name(name, first_seq);
    if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return (uint64_t)st.st_size;
    strcat(name, "z");
    if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return (uint64_t)st.st_size;
    return 0;
}

int mlg__seg_open_file(int dirfd, const char *dir, const char *name, int rw, int *fd,
                       uint64_t *size, char *err)
{
    struct stat st;
    /* O_NONBLOCK: opening a FIFO (or a device) named like a segment must not wait for a
     * writer; it has no effect on a regular file, and anything else is refused below. */
    *fd =
        mlg__openat(dirfd, name, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (*fd < 0)
        return mlg__errf(err, errno == ENOENT ? MAPLOG_ENOENT : MAPLOG_EIO,
                         "%s/%s: cannot open segment: %s%s", dir, name, strerror(errno),
                         errno == ELOOP ? " (a symlink: maplog never follows links in a log)" : "");
    if (mlg__fstat(*fd, &st) < 0) {
        int e = errno;
        mlg__close(*fd);
        *fd = -1;
        return mlg__errf(err, MAPLOG_EIO, "%s/%s: fstat failed: %s", dir, name, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        mlg__close(*fd);
        *fd = -1;
        return mlg__errf(err, MAPLOG_ECORRUPT, "%s/%s: not a regular file", dir, name);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Read archive NAME.mlogz (fd open, file_size bytes) and inflate it into an anonymous,
 * read-only mapping the size of the segment it was. */
static int inflate_archive(int fd, uint64_t file_size, const char *dir, uint64_t first_seq,
                           mlg__segmap *m, char *err)
{
    mlg__arch_header h;
    uint8_t *packed = NULL, *out = NULL;
    int rc = 0;
    if (file_size < sizeof h || mlg__pread_all(fd, &h, sizeof h, 0))
        return mlg__errf(err, MAPLOG_ECORRUPT, "%s/%s: shorter than an archive header", dir,
                         m->name);
    if (memcmp(h.magic, MLG_ARCH_MAGIC, 8) != 0 ||
        h.crc != mlg__crc32c(0, &h, offsetof(mlg__arch_header, crc)))
        return mlg__errf(err, MAPLOG_ECORRUPT, "%s/%s: offset 0: bad archive header", dir, m->name);
    if (h.version != 1 || h.header_size != sizeof h || h.first_seq != first_seq ||
        h.segment_size < MLG_DATA_OFFSET || h.segment_size > MLG_MAX_SEGMENT_SIZE ||
        h.stored_len > h.segment_size || h.stored_len < MLG_DATA_OFFSET ||
        h.packed_len != file_size - sizeof h)
        return mlg__errf(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 8: archive header fields out of range (or file cut short)",
                         dir, m->name);
    packed = malloc(h.packed_len ? h.packed_len : 1);
    out =
        mlg__mmap(NULL, h.segment_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!packed || out == MAP_FAILED) {
        out = out == MAP_FAILED ? NULL : out;
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m->name);
        goto out;
    }
    if (mlg__pread_all(fd, packed, h.packed_len, sizeof h)) {
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: read failed: %s", dir, m->name, strerror(errno));
        goto out;
    }
    uLongf dlen = (uLongf)h.stored_len;
    int zr = uncompress(out, &dlen, packed, (uLong)h.packed_len);
    if (zr != Z_OK || dlen != h.stored_len) {
        rc = mlg__errf(err, MAPLOG_ECORRUPT,
                       "%s/%s: offset 64: the compressed data is damaged (zlib: %s)", dir, m->name,
                       zr == Z_OK ? "short" : zError(zr));
        goto out;
    }
    mprotect(out, h.segment_size, PROT_READ);
    m->map = out;
    m->size = h.segment_size;
    m->archived = 1;
    out = NULL;
out:
    if (out)
        mlg__munmap(out, h.segment_size);
    free(packed);
    return rc;
}

int mlg__seg_open(int dirfd, const char *dir, uint64_t first_seq, int flags,
                  const uint8_t *expect_id, mlg__segmap *m, char *err)
{
    int fd, rc, rw = (flags & MLG_SEG_RW) != 0;
    uint64_t size;
    memset(m, 0, sizeof *m);
    m->fd = -1;
    m->first = first_seq;
    mlg__seg_name(m->name, first_seq);
    rc = mlg__seg_open_file(dirfd, dir, m->name, rw, &fd, &size, err);
    if (rc == MAPLOG_ENOENT && (flags & MLG_SEG_ARCHIVE) && !rw) {
        char plain_err[MLG_ERRMSG_MAX];
        memcpy(plain_err, err, MLG_ERRMSG_MAX);
        strcat(m->name, "z");
        rc = mlg__seg_open_file(dirfd, dir, m->name, 0, &fd, &size, err);
        if (rc == MAPLOG_ENOENT) { /* neither: say so of the plain file */
            memcpy(err, plain_err, MLG_ERRMSG_MAX);
            m->name[strlen(m->name) - 1] = 0;
            return rc;
        }
        if (rc)
            return rc;
        rc = inflate_archive(fd, size, dir, first_seq, m, err);
        mlg__close(fd);
    } else {
        if (rc)
            return rc;
        if (size < MLG_DATA_OFFSET || size > MLG_MAX_SEGMENT_SIZE) {
            mlg__close(fd);
            return mlg__errf(err, MAPLOG_ECORRUPT,
                             "%s/%s: %" PRIu64 " bytes is not a possible segment size", dir,
                             m->name, size);
        }
        void *p = mlg__mmap(NULL, size, rw ? PROT_READ | PROT_WRITE : PROT_READ,
                            rw ? MAP_SHARED : MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc =
                mlg__errf(err, MAPLOG_EIO, "%s/%s: mmap failed: %s", dir, m->name, strerror(errno));
            mlg__close(fd);
            return rc;
        }
        m->map = p;
        m->size = size;
        if (rw)
            m->fd = fd; /* the caller syncs through it */
        else
            mlg__close(fd);
    }
    if (rc == 0 && !(flags & MLG_SEG_ANY_HEADER) &&
        (rc = mlg__header_check(m->map, m->size, dir, m->name, expect_id, err)) != 0)
        mlg__seg_close(m);
    return rc;
}

void mlg__seg_close(mlg__segmap *m)
{
    if (m->map)
        mlg__munmap(m->map, m->size);
    if (m->fd >= 0)
        mlg__close(m->fd);
    m->map = NULL;
    m->fd = -1;
}

int mlg__archive_segment(int dirfd, const char *dir, uint64_t first_seq, int level, char *err)
{
    char name[40], zname[48], tmp[56];
    uint8_t *map = NULL, *packed = NULL;
    uint64_t size = 0;
    int rc, fd = -1;
    mlg__seal seal;
    mlg__seg_name(name, first_seq);
    snprintf(zname, sizeof zname, "%sz", name);
    snprintf(tmp, sizeof tmp, "%sz.tmp", name);
    mlg__segmap m;
    if ((rc = mlg__seg_open(dirfd, dir, first_seq, MLG_SEG_ARCHIVE | MLG_SEG_ANY_HEADER, NULL, &m,
                            err)))
        return rc;
    map = m.map;
    size = m.size;
    if (m.archived)
        goto out;
    if (mlg__seal_read(map, size, first_seq, &seal) != 1) {
        rc = mlg__errf(err, MAPLOG_EINVAL, "%s/%s: not sealed, not archived", dir, name);
        goto out;
    }
    uLongf plen = compressBound((uLong)seal.end_offset);
    packed = malloc(sizeof(mlg__arch_header) + plen);
    if (!packed) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s/%s: out of memory compressing", dir, name);
        goto out;
    }
    if (compress2(packed + sizeof(mlg__arch_header), &plen, map, (uLong)seal.end_offset, level) !=
        Z_OK) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s/%s: zlib failed", dir, name);
        goto out;
    }
    mlg__arch_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MLG_ARCH_MAGIC, 8);
    h.version = 1;
    h.header_size = sizeof h;
    h.record_count = seal.record_count;
    h.last_ts = seal.last_ts;
    memcpy(h.log_id, ((const mlg__seg_header *)(const void *)map)->log_id, 16);
    h.segment_size = size;
    h.stored_len = seal.end_offset;
    h.digest = seal.digest;
    h.packed_len = plen;
    h.first_seq = first_seq;
    h.crc = mlg__crc32c(0, &h, offsetof(mlg__arch_header, crc));
    memcpy(packed, &h, sizeof h);
    /* Each step says what failed: the caller (the background thread) only retries later,
     * and a message is all a person looking at it gets. */
    const char *what = NULL;
    fd = mlg__openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        what = "open";
    else if (mlg__write_all(fd, packed, sizeof h + plen) < 0)
        what = "write";
    else if (mlg__fsync(fd) < 0)
        what = "fsync";
    else if (mlg__renameat(dirfd, tmp, dirfd, zname) < 0)
        what = "rename into place";
    else if (mlg__fsync(dirfd) < 0)
        what = "fsync of the directory";
    if (what) {
        int e = errno;
        rc = mlg__errf(err, e == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: writing the archive failed (%s): %s", dir, zname, what, strerror(e));
        mlg__unlinkat(dirfd, tmp, 0);
        goto out;
    }
    if (mlg__unlinkat(dirfd, name, 0) < 0)
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: removing after archiving failed (unlink): %s", dir,
                       name, strerror(errno));
out:
    if (fd >= 0)
        mlg__close(fd);
    free(packed);
    if (map)
        mlg__munmap(map, size);
    return rc;
}

int mlg__seg_peek(int dirfd, const char *dir, uint64_t first_seq, mlg__segpeek *p, char *err)
{
    char name[40];
    uint8_t page[MLG_DATA_OFFSET];
    int fd, rc;
    memset(p, 0, sizeof *p);
    mlg__seg_name(name, first_seq);
    rc = mlg__seg_open_file(dirfd, dir, name, 0, &fd, &p->file_size, err);
    if (rc == 0) {
        if (p->file_size < MLG_DATA_OFFSET || mlg__pread_all(fd, page, sizeof page, 0)) {
            mlg__close(fd);
            return mlg__errf(err, MAPLOG_ECORRUPT, "%s/%s: cannot read its header page", dir, name);
        }
        mlg__close(fd);
        memcpy(p->log_id, ((const mlg__seg_header *)(const void *)page)->log_id, 16);
        p->sealed = mlg__seal_read(page, p->file_size, first_seq, &p->seal);
        p->have_ckpt = mlg__ckpt_best(page, p->file_size, first_seq, &p->ckpt);
        return 0;
    }
    if (rc != MAPLOG_ENOENT)
        return rc;
    strcat(name, "z");
    if ((rc = mlg__seg_open_file(dirfd, dir, name, 0, &fd, &p->file_size, err)))
        return rc;
    mlg__arch_header h;
    int ok = p->file_size >= sizeof h && mlg__pread_all(fd, &h, sizeof h, 0) == 0 &&
             memcmp(h.magic, MLG_ARCH_MAGIC, 8) == 0 &&
             h.crc == mlg__crc32c(0, &h, offsetof(mlg__arch_header, crc)) &&
             h.first_seq == first_seq;
    mlg__close(fd);
    if (!ok)
        return mlg__errf(err, MAPLOG_ECORRUPT, "%s/%s: offset 0: bad archive header", dir, name);
    p->archived = 1;
    p->sealed = 1; /* only a sealed segment is archived; its header carries the seal's facts */
    mlg__seal_fill(&p->seal, first_seq, h.record_count, h.stored_len, h.last_ts, h.digest, 0);
    memcpy(p->log_id, h.log_id, 16);
    return 0;
}

int mlg__seg_sealed_info(int dirfd, uint64_t first_seq, uint64_t *last_ts, uint64_t *bytes,
                         uint64_t *count, uint8_t *log_id)
{
    mlg__segpeek p;
    char err[MLG_ERRMSG_MAX];
    if (mlg__seg_peek(dirfd, "", first_seq, &p, err) || p.sealed != 1)
        return 0;
    *last_ts = p.seal.last_ts;
    *bytes = p.file_size;
    *count = p.seal.record_count;
    if (log_id)
        memcpy(log_id, p.log_id, 16);
    return p.archived ? 2 : 1;
}

int mlg__seg_remove(int dirfd, uint64_t first_seq)
{
    char name[40];
    mlg__seg_name(name, first_seq);
    int a = mlg__unlinkat(dirfd, name, 0);
    strcat(name, "z");
    int b = mlg__unlinkat(dirfd, name, 0);
    return a == 0 || b == 0 ? 0 : -1;
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

int mlg__lock_take(int dirfd, const char *dir, mode_t mode, int *fd, char *err)
{
    *fd = mlg__openat(dirfd, MLG_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
    if (*fd < 0)
        return mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot open lock file: %s%s", dir, MLG_LOCK_NAME,
                         strerror(errno),
                         errno == ELOOP ? " (a symlink: maplog never follows links in a log)" : "");
    if (mlg__flock(*fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        mlg__close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return mlg__errf(err, MAPLOG_ELOCKED,
                             "%s/%s: another process has this log open for writing", dir,
                             MLG_LOCK_NAME);
        return mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot lock (flock): %s", dir, MLG_LOCK_NAME,
                         strerror(e));
    }
    return 0;
}

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
                       char side[64], int *fd, char *err)
{
    for (int k = 0; k < MLG_SIDE_TRIES; k++) {
        side_name(side, name, from, k);
        *fd = mlg__openat(dirfd, side, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (*fd >= 0)
            return 0;
        if (errno != EEXIST)
            return mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot save the cut bytes (open): %s", dir,
                             side, strerror(errno));
    }
    side_name(side, name, from, 0);
    return mlg__errf(err, MAPLOG_EIO,
                     "%s/%s: cannot save the cut bytes: it and %d more side files of that name "
                     "exist already (move them away, then retry)",
                     dir, side, MLG_SIDE_TRIES - 1);
}

int mlg__save_tail(int dirfd, const char *dir, const char *name, uint64_t from, uint64_t to,
                   int mode, char side[64], uint64_t *saved, char *err)
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
            rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: fstat failed: %s", dir, name, strerror(errno));
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
            rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: saving the cut bytes failed (%s): %s", dir,
                           side, r < 0 ? "pread" : "write", strerror(errno));
            goto out;
        }
        o += want;
    }
    if (mlg__fsync(out) < 0)
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: saving the cut bytes failed (fsync): %s", dir, side,
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

int mlg__set_aside(int dirfd, const char *dir, const char *name, char aside[64], char *err)
{
    struct stat st;
    /* Both callers hold the writer lock: no maplog process creates a name between the
     * check and the rename. */
    for (int k = 0; k < MLG_SIDE_TRIES; k++) {
        side_name(aside, name, 0, k);
        if (mlg__fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        if (errno != ENOENT)
            return mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot tell whether it exists (fstatat): %s",
                             dir, aside, strerror(errno));
        if (mlg__renameat(dirfd, name, dirfd, aside) < 0)
            return mlg__errf(err, MAPLOG_EIO, "%s: rename %s -> %s failed: %s", dir, name, aside,
                             strerror(errno));
        return 0;
    }
    side_name(aside, name, 0, 0);
    return mlg__errf(err, MAPLOG_EIO,
                     "%s/%s: cannot set %s aside: it and %d more side files of that name exist "
                     "already (move them away, then retry)",
                     dir, aside, name, MLG_SIDE_TRIES - 1);
}

/* ---- the checked view of a segment (verify, repair, summary) ---- */

void mlg__segview_close(mlg__segview *v)
{
    if (v->map)
        mlg__munmap(v->map, v->size);
    if (v->fd >= 0)
        mlg__close(v->fd);
    v->map = NULL;
    v->fd = -1;
}

/* Map and analyse one segment.  Returns 0 (with v->header_ok saying whether the rest is
 * meaningful) or an error code when the file cannot be read at all. */
int mlg__segview_open(int dirfd, const char *dir, uint64_t first, const uint8_t *id, int scan,
                      mlg__segview *v, char *err)
{
    mlg__segmap m;
    memset(v, 0, sizeof *v);
    v->fd = -1;
    v->first = first;
    int rc = mlg__seg_open(dirfd, dir, first, MLG_SEG_ARCHIVE | MLG_SEG_ANY_HEADER, NULL, &m,
                           v->header_err);
    memcpy(v->name, m.name, sizeof v->name);
    if (rc == MAPLOG_ENOENT || rc == MAPLOG_EIO || rc == MAPLOG_ENOMEM)
        return mlg__errf(err, rc, "%s", v->header_err);
    if (rc) /* damaged: reported as the segment's problem */
        return 0;
    v->map = m.map;
    v->size = m.size;
    if (mlg__header_check(v->map, v->size, dir, v->name, id, v->header_err) != 0)
        return 0;
    v->header_ok = 1;
    v->seal_state = mlg__seal_read(v->map, v->size, first, &v->seal);
    v->have_ck = mlg__ckpt_best(v->map, v->size, first, &v->ck);
    if (scan) {
        mlg__madvise(v->map, v->size, MADV_SEQUENTIAL);
        mlg__scan(v->map, v->size, MLG_DATA_OFFSET, first, v->size, &v->scan);
        v->hw = mlg__high_water(v->map, v->size, v->scan.end);
    }
    return 0;
}

int mlg__dir_open(const char *dir, int *dirfd, char *err)
{
    *dirfd = mlg__open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (*dirfd >= 0)
        return 0;
    return mlg__errf(err,
                     errno == ENOENT    ? MAPLOG_ENOENT
                     : errno == ENOTDIR ? MAPLOG_ENOTLOG
                                        : MAPLOG_EIO,
                     "%s: cannot open directory: %s", dir, strerror(errno));
}

int mlg__logdir_open(const char *dir, int *dirfd, uint64_t **segs, size_t *n, char *err)
{
    int rc = mlg__dir_open(dir, dirfd, err);
    if (rc)
        return rc;
    rc = mlg__list_segments(*dirfd, segs, n, NULL, err, dir);
    if (rc == 0 && *n == 0)
        rc = mlg__errf(err, MAPLOG_ENOTLOG, "%s: not a maplog directory (no segment files)", dir);
    if (rc) {
        mlg__close(*dirfd);
        free(*segs);
        *segs = NULL;
    }
    return rc;
}

/* ---- whole-log figures ------------------------------------------------------------------ */

int mlg__log_summary(int dirfd, const char *dir, const uint64_t *segs, size_t n, mlg__summary *out,
                     char *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        mlg__segview v;
        int rc = mlg__segview_open(dirfd, dir, segs[i], NULL, 0, &v, err);
        if (rc || !v.header_ok) {
            mlg__segview_close(&v);
            if (!rc)
                rc = mlg__errf(err, MAPLOG_ECORRUPT, "%s", v.header_err);
            return rc;
        }
        out->allocated += v.size;
        uint64_t count, end, last_ts;
        if (v.seal_state == 1) {
            count = v.seal.record_count;
            end = v.seal.end_offset;
            last_ts = v.seal.last_ts;
        } else {
            mlg__scan(v.map, v.size, MLG_DATA_OFFSET, v.first, v.size, &v.scan);
            count = v.scan.count;
            end = v.scan.end;
            last_ts = v.scan.last_ts;
        }
        if (i == 0) {
            mlg__rec_view r;
            if (mlg__rec_check(v.map, v.size, MLG_DATA_OFFSET, v.first, &r) == MLG_REC_OK)
                out->first_ts = r.ts;
        }
        out->used += end - MLG_DATA_OFFSET;
        out->next_seq = v.first + count;
        if (last_ts > out->last_ts)
            out->last_ts = last_ts;
        mlg__segview_close(&v);
    }
    return 0;
}
