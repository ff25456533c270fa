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
#include <zlib.h>

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

/* Read and check the header of archive name (fd open, file_size bytes) into *h. */
static int arch_header(int fd, uint64_t file_size, const char *dir, const char *name,
                       uint64_t first_seq, mlg__arch_header *h, mlg__err *err)
{
    if (file_size < sizeof *h || mlg__pread_all(fd, h, sizeof *h, 0))
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: shorter than an archive header", dir, name);
    if (memcmp(h->magic, MLG_ARCH_MAGIC, 8) != 0 ||
        h->crc != mlg__crc32c(0, h, offsetof(mlg__arch_header, crc)))
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: offset 0: bad archive header", dir, name);
    if (h->version != 1 || h->header_size != sizeof *h || h->first_seq != first_seq ||
        h->segment_size < MLG_DATA_OFFSET || h->segment_size > MLG_MAX_SEGMENT_SIZE ||
        h->stored_len > h->segment_size || h->stored_len < MLG_DATA_OFFSET ||
        h->packed_len != file_size - sizeof *h)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 8: archive header fields out of range (or file cut short)",
                         dir, name);
    return 0;
}

int mlg__archive_head(int dirfd, const char *dir, uint64_t first_seq, uint64_t want, uint8_t **out,
                      uint64_t *got, mlg__err *err)
{
    char name[40];
    int fd, rc;
    uint64_t size;
    mlg__arch_header h;
    *out = NULL;
    *got = 0;
    mlg__seg_name(name, first_seq);
    strcat(name, "z");
    if ((rc = mlg__seg_open_file(dirfd, dir, name, 0, &fd, &size, err)))
        return rc;
    if ((rc = arch_header(fd, size, dir, name, first_seq, &h, err))) {
        mlg__close(fd);
        return rc;
    }
    if (want > h.stored_len)
        want = h.stored_len;
    uint8_t *buf = malloc(want ? want : 1), in[16384];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!buf || inflateInit(&z) != Z_OK) {
        free(buf);
        mlg__close(fd);
        return mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, name);
    }
    z.next_out = buf;
    z.avail_out = (uInt)want;
    uint64_t off = sizeof h, end = size;
    int zr = Z_OK;
    /* bounded by the compressed bytes present: each step reads at least one more of them */
    while (z.avail_out && off < end && zr == Z_OK) {
        size_t n = end - off < sizeof in ? (size_t)(end - off) : sizeof in;
        if (mlg__pread_all(fd, in, n, (off_t)off)) {
            zr = Z_ERRNO;
            break;
        }
        off += n;
        z.next_in = in;
        z.avail_in = (uInt)n;
        while (z.avail_out && z.avail_in && zr == Z_OK)
            zr = inflate(&z, Z_NO_FLUSH);
    }
    uint64_t have = want - z.avail_out;
    inflateEnd(&z);
    mlg__close(fd);
    if (have < want) {
        free(buf);
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 96: the compressed data is damaged (zlib: %s)", dir, name,
                         zr == Z_OK || zr == Z_STREAM_END ? "short" : zError(zr));
    }
    *out = buf;
    *got = have;
    return 0;
}

/* Read archive NAME.mlogz (fd open, file_size bytes) and inflate it into an anonymous,
 * read-only mapping the size of the segment it was. */
static int inflate_archive(int fd, uint64_t file_size, const char *dir, uint64_t first_seq,
                           mlg__segmap *m, mlg__err *err)
{
    mlg__arch_header h;
    uint8_t *packed = NULL, *out = NULL;
    int rc = arch_header(fd, file_size, dir, m->name, first_seq, &h, err);
    if (rc)
        return rc;
    packed = malloc(h.packed_len ? h.packed_len : 1);
    out =
        mlg__mmap(NULL, h.segment_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!packed || out == MAP_FAILED) {
        out = out == MAP_FAILED ? NULL : out;
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m->name);
        goto out;
    }
    if (mlg__pread_all(fd, packed, h.packed_len, sizeof h)) {
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: read failed: %s", dir, m->name, strerror(errno));
        goto out;
    }
    uLongf dlen = (uLongf)h.stored_len;
    int zr = uncompress(out, &dlen, packed, (uLong)h.packed_len);
    if (zr != Z_OK || dlen != h.stored_len) {
        rc = mlg__fail(err, MAPLOG_ECORRUPT,
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
        rc = inflate_archive(fd, size, dir, first_seq, m, err);
        mlg__close(fd);
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
    if (m->map)
        mlg__munmap(m->map, m->size);
    if (m->fd >= 0)
        mlg__close(m->fd);
    m->map = NULL;
    m->fd = -1;
}

int mlg__archive_segment(int dirfd, const char *dir, uint64_t first_seq, int level, mlg__err *err)
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
        rc = mlg__fail(err, MAPLOG_EINVAL, "%s/%s: not sealed, not archived", dir, name);
        goto out;
    }
    uLongf plen = compressBound((uLong)seal.end_offset);
    packed = malloc(sizeof(mlg__arch_header) + plen);
    if (!packed) {
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory compressing", dir, name);
        goto out;
    }
    if (compress2(packed + sizeof(mlg__arch_header), &plen, map, (uLong)seal.end_offset, level) !=
        Z_OK) {
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: zlib failed", dir, name);
        goto out;
    }
    mlg__arch_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MLG_ARCH_MAGIC, 8);
    h.version = 1;
    h.header_size = sizeof h;
    h.record_count = seal.record_count;
    h.void_count = seal.void_count;
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
        rc = mlg__fail(err, e == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: writing the archive failed (%s): %s", dir, zname, what, strerror(e));
        mlg__unlinkat(dirfd, tmp, 0);
        goto out;
    }
    if (mlg__unlinkat(dirfd, name, 0) < 0)
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: removing after archiving failed (unlink): %s", dir,
                       name, strerror(errno));
out:
    if (fd >= 0)
        mlg__close(fd);
    free(packed);
    if (map)
        mlg__munmap(map, size);
    return rc;
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
    p->archived = 1;
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
