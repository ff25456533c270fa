/*
 * segfile.c -- segment files: the one way to open one (mlg__seg_open_file), to open and map
 * one with its checks (mlg__seg_open, plain or archived), and to peek at its header page
 * (mlg__seg_peek); archiving and removal.  Everything here reads bytes that may be
 * damaged, truncated or hostile (blocks.c's rule).
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

#include "logdir.h"
#include "os.h"

/* ---- reading ahead of a walk (logdir.h) ---------------------------------------------- */

void mlg__ahead_more(mlg__ahead *a, uint64_t off, uint64_t end, uint64_t ahead)
{
    static uint64_t page; /* the same value whichever thread stores it first */
    uint64_t pg = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!pg) {
        long v = sysconf(_SC_PAGESIZE);
        pg = v > 0 ? (uint64_t)v : 4096;
        __atomic_store_n(&page, pg, __ATOMIC_RELAXED);
    }
    if (off >= a->size)
        return;
    if (end > a->size)
        end = a->size;
    if (a->arch) { /* bytes [off, end): a block that fails stays zeros, and the check fails */
        mlg__err err;
        if (off < mlg__arch_lo(a->arch) || end > mlg__arch_hi(a->arch))
            mlg__arch_fill(a->arch, off, end, &err);
        return;
    }
    uint64_t from = off & ~(pg - 1);
    if (from < a->done)
        from = a->done; /* on from what was asked for (a page boundary) */
    uint64_t to = a->size - end > ahead ? end + ahead : a->size;
    to = (to + pg - 1) & ~(pg - 1);
    if (to > a->size)
        to = a->size;
    if (to > from)
        mlg__madvise((void *)(uintptr_t)(a->map + from), to - from, MADV_WILLNEED);
    if (to > a->done)
        a->done = to;
}

void mlg__ahead_record(mlg__ahead *a, uint64_t off, uint64_t ahead)
{
    if (off > a->size || a->size - off < MLG_REC_HEADER_SIZE || (off & 7))
        return; /* no record here: mlg__rec_check reads nothing */
    mlg__ahead_need(a, off, off + MLG_REC_HEADER_SIZE, ahead);
    uint32_t len_word = (uint32_t)mlg__rec_word(a->map, off);
    uint64_t size = mlg__rec_size(len_word & MLG_REC_LEN_MASK);
    if (size <= a->size - off)
        mlg__ahead_need(a, off, off + size, ahead);
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
                       uint64_t *size, mlg__err *err)
{
    struct stat st;
    /* O_NONBLOCK: opening a FIFO (or a device) named like a segment must not wait for a
     * writer; it has no effect on a regular file, and anything else is refused below. */
    *fd =
        mlg__openat(dirfd, name, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (*fd < 0)
        return mlg__fail(err, errno == ENOENT ? MAPLOG_ENOENT : MAPLOG_EIO,
                         "%s/%s: cannot open segment: %s%s", dir, name, strerror(errno),
                         errno == ELOOP ? " (a symlink: maplog never follows links in a log)" : "");
    if (mlg__fstat(*fd, &st) < 0) {
        int e = errno;
        mlg__close(*fd);
        *fd = -1;
        return mlg__fail(err, MAPLOG_EIO, "%s/%s: fstat failed: %s", dir, name, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        mlg__close(*fd);
        *fd = -1;
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: not a regular file", dir, name);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

int mlg__seg_open(int dirfd, const char *dir, uint64_t first_seq, int flags,
                  const uint8_t *expect_id, mlg__segmap *m, mlg__err *err)
{
    int fd, rc, rw = (flags & MLG_SEG_RW) != 0;
    uint64_t size;
    memset(m, 0, sizeof *m);
    m->fd = -1;
    m->first = first_seq;
    mlg__seg_name(m->name, first_seq);
    rc = mlg__seg_open_file(dirfd, dir, m->name, rw, &fd, &size, err);
    if (rc == MAPLOG_ENOENT && (flags & MLG_SEG_ARCHIVE) && !rw) {
        mlg__err plain_err = *err;
        strcat(m->name, "z");
        rc = mlg__seg_open_file(dirfd, dir, m->name, 0, &fd, &size, err);
        if (rc == MAPLOG_ENOENT) { /* neither: say so of the plain file */
            *err = plain_err;
            m->name[strlen(m->name) - 1] = 0;
            return rc;
        }
        if (rc)
            return rc;
        rc = mlg__arch_open(fd, size, dir, first_seq, (flags & MLG_SEG_LAZY) != 0, m, err);
    } else {
        if (rc)
            return rc;
        if (size < MLG_DATA_OFFSET || size > MLG_MAX_SEGMENT_SIZE) {
            mlg__close(fd);
            return mlg__fail(err, MAPLOG_ECORRUPT,
                             "%s/%s: %" PRIu64 " bytes is not a possible segment size", dir,
                             m->name, size);
        }
        void *p = mlg__mmap(NULL, size, rw ? PROT_READ | PROT_WRITE : PROT_READ,
                            rw ? MAP_SHARED : MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc =
                mlg__fail(err, MAPLOG_EIO, "%s/%s: mmap failed: %s", dir, m->name, strerror(errno));
            mlg__close(fd);
            return rc;
        }
        /* The header page alone: the checks below touch it, and a first touch would
         * read the kernel's read-around window (mlg__ahead, logdir.h) -- a caller that
         * walks the records reads those pages itself (mlg__ahead, or its own advice). */
        if (!rw)
            mlg__madvise(p, MLG_DATA_OFFSET, MADV_WILLNEED);
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
    mlg__arch_free(m->arch);
    m->arch = NULL;
    if (m->map)
        mlg__munmap(m->map, m->size);
    if (m->fd >= 0)
        mlg__close(m->fd);
    m->map = NULL;
    m->fd = -1;
}

/* Copy the header page of the segment open as fd (at least MLG_DATA_OFFSET bytes long)
 * into page, reading that page alone from the disk.  A read(2) would read the kernel's
 * first read-ahead window with it, and mark the page after it, so that a mapping of the
 * segment that touches that page later (a reader's, under MADV_SEQUENTIAL) reads a whole
 * read-ahead window from where the cached pages end.  A page mapped alone and asked for
 * (MADV_WILLNEED) is read alone.  0, or -1 with errno. */
static int header_page(int fd, uint8_t page[MLG_DATA_OFFSET])
{
    void *m = mlg__mmap(NULL, MLG_DATA_OFFSET, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) /* the page read with a little more is still the page */
        return mlg__pread_all(fd, page, MLG_DATA_OFFSET, 0);
    mlg__madvise(m, MLG_DATA_OFFSET, MADV_WILLNEED);
    memcpy(page, m, MLG_DATA_OFFSET);
    mlg__munmap(m, MLG_DATA_OFFSET);
    return 0;
}

int mlg__seg_peek(int dirfd, const char *dir, uint64_t first_seq, mlg__segpeek *p, mlg__err *err)
{
    char name[40];
    uint8_t page[MLG_DATA_OFFSET];
    int fd, rc;
    memset(p, 0, sizeof *p);
    mlg__seg_name(name, first_seq);
    rc = mlg__seg_open_file(dirfd, dir, name, 0, &fd, &p->file_size, err);
    if (rc == 0) {
        if (p->file_size < MLG_DATA_OFFSET || header_page(fd, page)) {
            mlg__close(fd);
            return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: cannot read its header page", dir, name);
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
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: offset 0: bad archive header", dir, name);
    p->archived = h.version == 2 ? 2 : 1;
    p->sealed = 1; /* only a sealed segment is archived; its header carries the seal's facts */
    mlg__seal_fill(&p->seal, first_seq, h.record_count, h.stored_len, h.last_ts, h.digest, 0);
    mlg__seal_set_voids(&p->seal, h.void_count);
    memcpy(p->log_id, h.log_id, 16);
    return 0;
}

int mlg__seg_sealed_info(int dirfd, uint64_t first_seq, uint64_t *last_ts, uint64_t *bytes,
                         uint64_t *count, uint8_t *log_id)
{
    mlg__segpeek p;
    mlg__err err;
    if (mlg__seg_peek(dirfd, "", first_seq, &p, &err) || p.sealed != 1)
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

int mlg__claims_durable(int dirfd, const char *dir, const uint64_t *segs, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        mlg__segpeek p;
        mlg__err err;
        if (mlg__seg_peek(dirfd, dir, segs[j], &p, &err) == 0 &&
            (p.sealed == 1 || (p.have_ckpt && p.ckpt.record_count > 0)))
            return 1;
    }
    return 0;
}

static int later_ok(void *ctx)
{
    mlg__later *l = ctx;
    if (l->answer < 0)
        l->answer = !mlg__claims_durable(l->dirfd, l->dir, l->segs, l->n);
    return l->answer;
}

int mlg__hole_rule_for(const uint8_t *map, uint64_t size, uint64_t first, int dirfd,
                       const char *dir, const uint64_t *later, size_t nlater, mlg__later *lat,
                       mlg__hole_rule *rule)
{
    mlg__checkpoint ck;
    int have_ck = mlg__ckpt_best(map, size, first, &ck);
    if (!(((const mlg__seg_header *)(const void *)map)->incompat_flags & MLG_INCOMPAT_VOIDS) ||
        (have_ck && ck.state == MLG_STATE_CLOSED))
        return 0;
    *lat = (mlg__later){dirfd, dir, later, nlater, -1};
    rule->floor = have_ck && ck.end_offset > MLG_DATA_OFFSET ? ck.end_offset : MLG_DATA_OFFSET;
    rule->want = nlater ? later[0] : MLG_NO_WANT;
    rule->want_ok = later_ok;
    rule->want_ctx = lat;
    return 1;
}
