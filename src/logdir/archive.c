/*
 * archive.c -- archived segments, NAME.mlogz (docs/FORMAT.md, "Archived segments"):
 * writing one from a sealed segment, and reading one back into memory as the segment it
 * was -- whole (version 1, or a caller that wants all of it), or block by block as a
 * reader reaches the bytes it needs (version 2: independently inflatable blocks and an
 * index that names the first record of each).  Everything here reads bytes that may be
 * damaged, truncated or hostile (blocks.c's rule): every length is checked against the
 * file before it is used, and every loop is bounded by the blocks the file holds.
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "logdir.h"
#include "os.h"

struct mlg__arch {
    int fd; /* the archive, open while blocks remain to be inflated */
    char *dir;
    char name[40];
    uint8_t *map; /* the segment's anonymous mapping, PROT_READ between fills */
    uint64_t first, record_count, segment_size, stored_len;
    uint32_t bsize, nblocks;
    mlg__arch_entry *ix;
    uint8_t *packed; /* a block's zlib stream, read here to be inflated */
    size_t packed_cap;
    uint64_t lo, hi;   /* segment bytes [lo, hi) are inflated (and always its header page) */
    uint64_t inflated; /* bytes inflated since open */
    uint32_t bad;      /* a block that failed to inflate, + 1 (0: none): it is not tried again */
    mlg__err bad_err;  /* why */
    /* Reading ahead, once fills follow one another in order: a helper thread inflates the
     * block after the next while the reader's thread inflates the next, so a replay
     * inflates on two cores.  pf_* are the helper's block, under mu. */
    mlg__arch_helper helper;
    void *helper_ctx;
    pid_t pid; /* the process the helper runs in: a forked child has a, not the helper */
    int run;   /* fills in a row that went on from the end of what was inflated */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t pf_block; /* + 1; 0: none */
    int pf_state;
    uint8_t *pf_packed;
};
enum { PF_RUNNING = 1, PF_DONE, PF_FAILED };

/* ---- headers ------------------------------------------------------------------------ */

/* Read and check the header of archive name (fd open, file_size bytes) into *h, and for
 * version 2 its block header into *b (b->block_count 0 for version 1). */
static int arch_header(int fd, uint64_t file_size, const char *dir, const char *name,
                       uint64_t first_seq, mlg__arch_header *h, mlg__arch_blocks *b, mlg__err *err)
{
    memset(b, 0, sizeof *b);
    if (file_size < sizeof *h || mlg__pread_all(fd, h, sizeof *h, 0))
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: shorter than an archive header", dir, name);
    if (memcmp(h->magic, MLG_ARCH_MAGIC, 8) != 0 ||
        h->crc != mlg__crc32c(0, h, offsetof(mlg__arch_header, crc)))
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: offset 0: bad archive header", dir, name);
    uint32_t hsize = h->version == 2 ? MLG_ARCH_V2_HEADER : (uint32_t)sizeof *h;
    if ((h->version != 1 && h->version != 2) || h->header_size != hsize ||
        h->first_seq != first_seq || h->segment_size < MLG_DATA_OFFSET ||
        h->segment_size > MLG_MAX_SEGMENT_SIZE || h->stored_len > h->segment_size ||
        h->stored_len < MLG_DATA_OFFSET || file_size < hsize || h->packed_len != file_size - hsize)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 8: archive header fields out of range (or file cut short)",
                         dir, name);
    if (h->version == 1)
        return 0;
    static const uint8_t zero[sizeof b->reserved];
    if (mlg__pread_all(fd, b, sizeof *b, sizeof *h) ||
        b->crc != mlg__crc32c(0, b, offsetof(mlg__arch_blocks, crc)))
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: offset 96: bad archive block header", dir,
                         name);
    uint32_t bs = b->block_size;
    if (bs < MLG_ARCH_BLOCK_MIN || bs > MLG_ARCH_BLOCK_MAX || (bs & (bs - 1)) ||
        b->block_count != (h->stored_len + bs - 1) / bs ||
        (uint64_t)b->block_count * sizeof(mlg__arch_entry) > h->packed_len ||
        memcmp(b->reserved, zero, sizeof zero) != 0)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 96: archive block header fields out of range", dir, name);
    return 0;
}

/* Check the index a->ix against the file: the blocks follow the index back to back to the
 * end of the file, each no longer than zlib makes a block, and each entry names a record
 * inside its block, in order.  Bounded by the block count, itself bounded by the file. */
static int index_check(mlg__arch *a, uint64_t file_size, uint64_t index_end, mlg__err *err)
{
    uint64_t at = index_end, prev_seq = 0, prev_ts = 0, cap = compressBound(a->bsize);
    int have_prev = 0;
    for (uint32_t i = 0; i < a->nblocks; i++) {
        const mlg__arch_entry *e = &a->ix[i];
        uint64_t start = (uint64_t)i * a->bsize;
        uint64_t end = a->stored_len - start > a->bsize ? start + a->bsize : a->stored_len;
        const char *why = NULL;
        if (e->packed_off != at || e->packed_len == 0 || e->packed_len > cap ||
            e->packed_len > file_size - at)
            why = "its compressed block is not where the blocks before it end, or runs past "
                  "the file";
        else if (e->rec_off == 0 && (e->rec_seq || e->maxts_before))
            why = "no record, yet a sequence number or timestamp";
        else if (e->rec_off &&
                 (e->rec_off < start || e->rec_off >= end || e->rec_off < MLG_DATA_OFFSET ||
                  (e->rec_off & 7) || e->rec_seq < a->first ||
                  e->rec_seq - a->first >= a->record_count ||
                  (have_prev && (e->rec_seq <= prev_seq || e->maxts_before < prev_ts))))
            why = "its record is outside the block, or out of order";
        if (why)
            return mlg__fail(
                err, MAPLOG_ECORRUPT,
                "%s/%s: offset %" PRIu64 ": block %" PRIu32 " of the archive's index: %s", a->dir,
                a->name, (uint64_t)MLG_ARCH_V2_HEADER + (uint64_t)i * sizeof *e, i, why);
        if (e->rec_off) {
            prev_seq = e->rec_seq;
            prev_ts = e->maxts_before;
            have_prev = 1;
        }
        at += e->packed_len;
    }
    if (at != file_size)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": %" PRIu64
                         " bytes after the last block (the archive is damaged)",
                         a->dir, a->name, at, file_size - at);
    return 0;
}

/* ---- inflating blocks ------------------------------------------------------------------ */

static uint64_t block_len(const mlg__arch *a, uint32_t i)
{
    uint64_t start = (uint64_t)i * a->bsize;
    return a->stored_len - start > a->bsize ? a->bsize : a->stored_len - start;
}

/* Inflate block i into its place in a->map, reading its stream into packed: from either
 * thread, touching nothing else of a. */
static int inflate_raw(const mlg__arch *a, uint32_t i, uint8_t *packed, mlg__err *err)
{
    const mlg__arch_entry *e = &a->ix[i];
    uint64_t start = (uint64_t)i * a->bsize, len = block_len(a, i);
    if (mlg__pread_all(a->fd, packed, e->packed_len, (off_t)e->packed_off))
        return mlg__fail(err, MAPLOG_EIO, "%s/%s: offset %" PRIu64 ": read failed: %s", a->dir,
                         a->name, e->packed_off, strerror(errno));
    uLongf dlen = (uLongf)len;
    int zr = uncompress(a->map + start, &dlen, packed, e->packed_len);
    if (zr != Z_OK || dlen != len) {
        memset(a->map + start, 0, len); /* what it inflated is not the block */
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": block %" PRIu32 " (segment bytes %" PRIu64
                         "..%" PRIu64 ") is damaged (zlib: %s)",
                         a->dir, a->name, e->packed_off, i, start, start + len - 1,
                         zr == Z_OK ? "short" : zError(zr));
    }
    return 0;
}

/* The reader's thread: inflate block i, or say again why it could not. */
static int inflate_block(mlg__arch *a, uint32_t i, mlg__err *err)
{
    if (a->bad == i + 1) { /* once is enough: a walk may ask again and again */
        *err = a->bad_err;
        return a->bad_err.code;
    }
    int rc = inflate_raw(a, i, a->packed, err);
    if (rc) {
        a->bad = i + 1;
        a->bad_err = *err;
        return rc;
    }
    a->inflated += block_len(a, i);
    return 0;
}

/* The helper's job: inflate the block it was given. */
static void prefetch_job(void *arg)
{
    mlg__arch *a = arg;
    mlg__err err;
    pthread_mutex_lock(&a->mu);
    uint32_t i = a->pf_block - 1;
    pthread_mutex_unlock(&a->mu);
    int rc = inflate_raw(a, i, a->pf_packed, &err);
    pthread_mutex_lock(&a->mu);
    a->pf_state = rc ? PF_FAILED : PF_DONE;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Is there a helper in this process?  A forked child's copy of a has a block marked
 * running that no thread will finish, and a lock the helper may have held at the fork:
 * the child forgets both, and inflates every block itself. */
static int helper_here(mlg__arch *a)
{
    if (!a->helper)
        return 0;
    if (a->pid == getpid())
        return 1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->pf_block = 0;
    a->helper = NULL;
    return 0;
}

/* Wait for the helper's block, if it has one, and take it: 1 if it is block i, inflated;
 * 0 otherwise (the reader's thread inflates it, and says why it fails). */
static int take_prefetched(mlg__arch *a, uint32_t i)
{
    if (!helper_here(a))
        return 0;
    pthread_mutex_lock(&a->mu);
    int took = 0;
    if (a->pf_block) {
        while (a->pf_state == PF_RUNNING)
            pthread_cond_wait(&a->cv, &a->mu);
        took = a->pf_block == i + 1 && a->pf_state == PF_DONE;
        a->pf_block = 0; /* another block's is forgotten: read again if it is needed */
    }
    pthread_mutex_unlock(&a->mu);
    if (took)
        a->inflated += block_len(a, i);
    return took;
}

/* Hand block i to the helper. */
static void prefetch(mlg__arch *a, uint32_t i)
{
    pthread_mutex_lock(&a->mu);
    a->pf_block = i + 1;
    a->pf_state = PF_RUNNING;
    pthread_mutex_unlock(&a->mu);
    if (a->helper(a->helper_ctx, prefetch_job, a) != 0) {
        pthread_mutex_lock(&a->mu);
        a->pf_block = 0;
        pthread_mutex_unlock(&a->mu);
    }
}

void mlg__arch_set_helper(mlg__arch *a, mlg__arch_helper fn, void *ctx)
{
    a->helper = fn;
    a->helper_ctx = ctx;
    a->pid = getpid();
}

/* Inflated bytes are kept up to this far behind the place a fill starts from: a walk
 * reads forwards, so memory stays flat. */
#define KEEP_BEHIND ((uint64_t)8 << 20)

int mlg__arch_fill(mlg__arch *a, uint64_t from, uint64_t to, mlg__err *err)
{
    if (to > a->stored_len)
        to = a->stored_len;
    if (from >= to || (from >= a->lo && to <= a->hi))
        return 0;
    uint64_t at = from - from % a->bsize;
    int jump = from < a->lo || from > a->hi;
    if (jump || at - a->lo > KEEP_BEHIND) {
        /* hand back what lies behind (never the header page: seal and checkpoints) */
        uint64_t keep = jump ? a->hi : at;
        uint64_t drop = a->lo < MLG_DATA_OFFSET ? MLG_DATA_OFFSET : a->lo;
        if (keep > drop)
            mlg__madvise(a->map + drop, keep - drop, MADV_DONTNEED);
        a->lo = at;
        if (jump) {
            take_prefetched(a, UINT32_MAX); /* its block is not where the reader goes */
            a->hi = at;
        }
    }
    a->run = jump ? 0 : a->run + 1;
    int rc = 0;
    while (a->hi < to && !rc) { /* bounded: one block a step, to the last */
        uint32_t i = (uint32_t)(a->hi / a->bsize);
        if (take_prefetched(a, i) || (rc = inflate_block(a, i, err)) == 0)
            a->hi += block_len(a, i);
    }
    /* In order, twice running: the helper takes the block after the next, and this thread
     * the next, now.  A walk that jumped (a seek) inflates only what it reads. */
    if (rc == 0 && helper_here(a) && a->run >= 2 && a->hi < a->stored_len && !a->pf_block) {
        uint32_t i = (uint32_t)(a->hi / a->bsize);
        if (i + 1 < a->nblocks)
            prefetch(a, i + 1);
        if (inflate_block(a, i, err) == 0)
            a->hi += block_len(a, i);
    }
    return rc;
}

uint64_t mlg__arch_hi(const mlg__arch *a)
{
    return a->hi;
}

uint64_t mlg__arch_lo(const mlg__arch *a)
{
    return a->lo;
}

uint64_t mlg__arch_inflated(const mlg__arch *a)
{
    return a ? a->inflated : 0;
}

int mlg__arch_find(const mlg__arch *a, uint64_t seq, uint64_t ts, uint64_t *off, uint64_t *at)
{
    for (uint32_t i = a->nblocks; i-- > 0;) { /* the last entry before the target */
        const mlg__arch_entry *e = &a->ix[i];
        if (e->rec_off && e->rec_seq <= seq && e->maxts_before < ts) {
            *off = e->rec_off;
            *at = e->rec_seq;
            return 1;
        }
    }
    return 0;
}

void mlg__arch_free(mlg__arch *a)
{
    if (!a)
        return;
    /* The helper is done with a: its owner stopped it first (mlg__pager_quiesce). */
    if (a->pf_packed) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
    }
    free(a->pf_packed);
    if (a->fd >= 0)
        mlg__close(a->fd);
    free(a->ix);
    free(a->packed);
    free(a->dir);
    free(a);
}

/* ---- opening --------------------------------------------------------------------------- */

/* Version 1: the whole zlib stream, inflated at once into m's mapping. */
static int inflate_whole(int fd, const mlg__arch_header *h, const char *dir, mlg__segmap *m,
                         mlg__err *err)
{
    uint8_t *packed = malloc(h->packed_len ? h->packed_len : 1);
    if (!packed)
        return mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m->name);
    int rc = 0;
    if (mlg__pread_all(fd, packed, h->packed_len, sizeof *h)) {
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: read failed: %s", dir, m->name, strerror(errno));
    } else {
        uLongf dlen = (uLongf)h->stored_len;
        int zr = uncompress(m->map, &dlen, packed, (uLong)h->packed_len);
        if (zr != Z_OK || dlen != h->stored_len)
            rc = mlg__fail(err, MAPLOG_ECORRUPT,
                           "%s/%s: offset 96: the compressed data is damaged (zlib: %s)", dir,
                           m->name, zr == Z_OK ? "short" : zError(zr));
    }
    free(packed);
    return rc;
}

int mlg__arch_open(int fd, uint64_t file_size, const char *dir, uint64_t first_seq, int lazy,
                   mlg__segmap *m, mlg__err *err)
{
    mlg__arch_header h;
    mlg__arch_blocks b;
    int rc = arch_header(fd, file_size, dir, m->name, first_seq, &h, &b, err);
    if (rc)
        return rc;
    uint8_t *map =
        mlg__mmap(NULL, h.segment_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m->name);
    m->map = map;
    m->size = h.segment_size;
    m->archived = 1;
    if (h.version == 1) {
        if ((rc = inflate_whole(fd, &h, dir, m, err)) == 0)
            mprotect(map, h.segment_size, PROT_READ);
        goto out;
    }
    mlg__arch *a = calloc(1, sizeof *a);
    size_t ixlen = (size_t)b.block_count * sizeof(mlg__arch_entry);
    if (!a || !(a->dir = strdup(dir)) || !(a->ix = malloc(ixlen ? ixlen : 1)) ||
        !(a->packed = malloc(compressBound(b.block_size))) ||
        !(a->pf_packed = malloc(compressBound(b.block_size)))) {
        if (a)
            a->fd = -1;
        mlg__arch_free(a);
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m->name);
        goto out;
    }
    a->fd = -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    snprintf(a->name, sizeof a->name, "%s", m->name);
    a->map = map;
    a->first = first_seq;
    a->record_count = h.record_count;
    a->segment_size = h.segment_size;
    a->stored_len = h.stored_len;
    a->bsize = b.block_size;
    a->nblocks = b.block_count;
    if (mlg__pread_all(fd, a->ix, ixlen, MLG_ARCH_V2_HEADER))
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: read failed: %s", dir, m->name, strerror(errno));
    else if (mlg__crc32c(0, a->ix, ixlen) != b.index_crc)
        rc = mlg__fail(err, MAPLOG_ECORRUPT,
                       "%s/%s: offset %d: the archive's block index fails its CRC-32C", dir,
                       m->name, MLG_ARCH_V2_HEADER);
    else
        rc = index_check(a, file_size, MLG_ARCH_V2_HEADER + ixlen, err);
    if (rc == 0) {
        a->fd = fd; /* the blocks are read from it as they are needed */
        /* block 0 holds the header page: seal and checkpoints are read from it */
        rc = mlg__arch_fill(a, 0, lazy ? MLG_DATA_OFFSET : h.stored_len, err);
        if (rc == 0 && !lazy) {
            a->fd = -1;
            mprotect(map, h.segment_size, PROT_READ);
        } else if (rc == 0) {
            m->arch = a;
            return 0; /* the caller's fd is a's now */
        } else {
            a->fd = -1;
        }
    }
    mlg__arch_free(a);
out:
    mlg__close(fd);
    if (rc) {
        mlg__munmap(map, h.segment_size);
        m->map = NULL;
        m->archived = 0;
    }
    return rc;
}

int mlg__archive_head(int dirfd, const char *dir, uint64_t first_seq, uint64_t want, uint8_t **out,
                      uint64_t *got, mlg__err *err)
{
    int fd, rc;
    uint64_t size;
    mlg__arch_header h;
    mlg__arch_blocks b;
    mlg__segmap m;
    memset(&m, 0, sizeof m);
    m.fd = -1;
    *out = NULL;
    *got = 0;
    mlg__seg_name(m.name, first_seq);
    strcat(m.name, "z");
    if ((rc = mlg__seg_open_file(dirfd, dir, m.name, 0, &fd, &size, err)))
        return rc;
    if ((rc = arch_header(fd, size, dir, m.name, first_seq, &h, &b, err))) {
        mlg__close(fd);
        return rc;
    }
    if (want > h.stored_len)
        want = h.stored_len;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf) {
        mlg__close(fd);
        return mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m.name);
    }
    if (h.version == 2) { /* the blocks that hold those bytes, and no more */
        if ((rc = mlg__arch_open(fd, size, dir, first_seq, 1, &m, err)) == 0 &&
            (rc = mlg__arch_fill(m.arch, 0, want, err)) == 0) {
            memcpy(buf, m.map, want);
            *out = buf;
            *got = want;
        }
        mlg__seg_close(&m);
        if (rc)
            free(buf);
        return rc;
    }
    uint8_t in[16384];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
        free(buf);
        mlg__close(fd);
        return mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory inflating", dir, m.name);
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
                         "%s/%s: offset 96: the compressed data is damaged (zlib: %s)", dir, m.name,
                         zr == Z_OK || zr == Z_STREAM_END ? "short" : zError(zr));
    }
    *out = buf;
    *got = have;
    return 0;
}

/* ---- writing ----------------------------------------------------------------------------- */

void mlg__arch_index_build(const uint8_t *map, uint64_t stored_len, uint64_t first, uint64_t count,
                           uint32_t bsize, mlg__arch_entry *ix, uint32_t n)
{
    memset(ix, 0, (size_t)n * sizeof *ix);
    uint64_t off = MLG_DATA_OFFSET, seq = first, maxts = 0;
    /* the records as their length words chain them, within the seal's extent and count */
    while (seq - first < count && off <= stored_len && stored_len - off >= MLG_REC_HEADER_SIZE) {
        uint64_t size = mlg__rec_word_size(mlg__rec_word(map, off));
        if (!size || size > stored_len - off)
            break;
        mlg__arch_entry *e = &ix[off / bsize];
        if (off / bsize < n && !e->rec_off) {
            e->rec_off = (uint32_t)off;
            e->rec_seq = seq;
            e->maxts_before = maxts;
        }
        uint64_t ts;
        memcpy(&ts, map + off + 8, 8);
        maxts = ts > maxts ? ts : maxts;
        off += size;
        seq++;
    }
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
    const uint32_t bs = MLG_ARCH_BLOCK;
    const uint32_t n = (uint32_t)((seal.end_offset + bs - 1) / bs);
    const size_t ixlen = (size_t)n * sizeof(mlg__arch_entry), head = MLG_ARCH_V2_HEADER + ixlen;
    packed = malloc(head + (size_t)n * compressBound(bs));
    if (!packed) {
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory compressing", dir, name);
        goto out;
    }
    mlg__arch_entry *ix = (mlg__arch_entry *)(void *)(packed + MLG_ARCH_V2_HEADER);
    mlg__arch_index_build(map, seal.end_offset, first_seq, seal.record_count, bs, ix, n);
    uint64_t at = head;
    for (uint32_t i = 0; i < n; i++) { /* each block a zlib stream of its own */
        uint64_t start = (uint64_t)i * bs;
        uint64_t len = seal.end_offset - start > bs ? bs : seal.end_offset - start;
        uLongf plen = compressBound(bs);
        if (compress2(packed + at, &plen, map + start, (uLong)len, level) != Z_OK) {
            rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: zlib failed", dir, name);
            goto out;
        }
        ix[i].packed_off = at;
        ix[i].packed_len = (uint32_t)plen;
        at += plen;
    }
    mlg__arch_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MLG_ARCH_MAGIC, 8);
    h.version = 2;
    h.header_size = MLG_ARCH_V2_HEADER;
    h.record_count = seal.record_count;
    h.void_count = seal.void_count;
    h.last_ts = seal.last_ts;
    memcpy(h.log_id, ((const mlg__seg_header *)(const void *)map)->log_id, 16);
    h.segment_size = size;
    h.stored_len = seal.end_offset;
    h.digest = seal.digest;
    h.packed_len = at - MLG_ARCH_V2_HEADER;
    h.first_seq = first_seq;
    h.crc = mlg__crc32c(0, &h, offsetof(mlg__arch_header, crc));
    mlg__arch_blocks b;
    memset(&b, 0, sizeof b);
    b.block_size = bs;
    b.block_count = n;
    b.index_crc = mlg__crc32c(0, ix, ixlen);
    b.crc = mlg__crc32c(0, &b, offsetof(mlg__arch_blocks, crc));
    memcpy(packed, &h, sizeof h);
    memcpy(packed + sizeof h, &b, sizeof b);
    /* Each step says what failed: the caller (the background thread) only retries later,
     * and a message is all a person looking at it gets. */
    const char *what = NULL;
    fd = mlg__create_at(dirfd, tmp, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        what = "open";
    else if (mlg__write_all(fd, packed, at) < 0)
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
    mlg__seg_close(&m);
    return rc;
}

int mlg__arch_index_differs(int dirfd, const char *dir, uint64_t first_seq, const uint8_t *map,
                            uint64_t record_count, char *why, size_t whylen, uint64_t *at)
{
    char name[40];
    int fd, differs = 0;
    uint64_t size;
    mlg__arch_header h;
    mlg__arch_blocks b;
    mlg__err err;
    mlg__seg_name(name, first_seq);
    strcat(name, "z");
    if (mlg__seg_open_file(dirfd, dir, name, 0, &fd, &size, &err))
        return 0;
    if (arch_header(fd, size, dir, name, first_seq, &h, &b, &err) || h.version != 2) {
        mlg__close(fd);
        return 0; /* no index to hold to the records (or the open said what is wrong) */
    }
    size_t ixlen = (size_t)b.block_count * sizeof(mlg__arch_entry);
    mlg__arch_entry *ix = malloc(ixlen ? ixlen : 1), *want = malloc(ixlen ? ixlen : 1);
    if (ix && want && mlg__pread_all(fd, ix, ixlen, MLG_ARCH_V2_HEADER) == 0) {
        mlg__arch_index_build(map, h.stored_len, first_seq, record_count, b.block_size, want,
                              b.block_count);
        for (uint32_t i = 0; i < b.block_count && !differs; i++) {
            if (ix[i].rec_off == want[i].rec_off && ix[i].rec_seq == want[i].rec_seq &&
                ix[i].maxts_before == want[i].maxts_before)
                continue;
            differs = 1;
            *at = MLG_ARCH_V2_HEADER + (uint64_t)i * sizeof *ix;
            snprintf(why, whylen,
                     "the archive's block index says block %" PRIu32
                     "'s first record is at offset %" PRIu32 " (seq %" PRIu64
                     ", largest timestamp before it %" PRIu64 "); its records say offset %" PRIu32
                     " (seq %" PRIu64 ", %" PRIu64 ")",
                     i, ix[i].rec_off, ix[i].rec_seq, ix[i].maxts_before, want[i].rec_off,
                     want[i].rec_seq, want[i].maxts_before);
        }
    }
    free(ix);
    free(want);
    mlg__close(fd);
    return differs;
}
