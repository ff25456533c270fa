/*
 * wseg.c -- the writer's segments: create, map and reserve a segment file, pre-fault it, make it
 * the one appended to, and count what its appenders have published.
 */
#define _GNU_SOURCE
#include "writer.h"

#include "crc32c.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- segment files ------------------------------------------------------------------- */

/* Drop this process's page-table entries for the whole pages of [from, to) of a segment's
 * mapping, before write-back of that range.  Write-back write-protects every page it
 * writes that is still mapped writable (so that a later store dirties it again), and each
 * write-protection is a TLB shootdown: an inter-processor interrupt to every CPU running
 * this process, the appending one included.  Profiled: at 1 GB/s of appends that was a
 * quarter of all CPU time, and a few microseconds of stall on the append path per page.
 * MADV_DONTNEED on a MAP_SHARED file mapping keeps the pages, dirty ones still dirty, in
 * the page cache, so this is one shootdown for the whole range; a thread still copying a
 * record into the range just faults its page back in. */
void mlg__unmap_behind(uint8_t *map, uint64_t from, uint64_t to)
{
    from = page_ceil(from);
    to = page_floor(to);
    if (to > from)
        mlg__madvise(map + from, to - from, MADV_DONTNEED); /* a failure only costs speed */
}

void mlg__seg_free(mlg__wseg *s)
{
    if (!s)
        return;
    if (s->map)
        mlg__munmap(s->map, s->size);
    if (s->fd >= 0)
        mlg__close(s->fd);
    free(s);
}

/* Touch each page with an atomic add of zero (the fallback below).  The appender may be
 * copying into the same page: a locked add (or an LL/SC loop) never loses its store, and
 * stores nothing new, but the C11 model calls a plain store beside an atomic one a race,
 * so ThreadSanitizer is told this loop is the one intended exception. */
__attribute__((noinline, no_sanitize("thread"))) static void touch_pages(uint8_t *map,
                                                                         uint64_t size)
{
    for (uint64_t o = 0; o < size; o += (uint64_t)page_size)
        __atomic_fetch_add((uint64_t *)(void *)(map + o), 0, __ATOMIC_RELAXED);
}

static void prefault(uint8_t *map, uint64_t size)
{
    /* MADV_POPULATE_WRITE (Linux 5.14) faults every page in writable in one call; older
     * kernels say EINVAL, and then we touch each page ourselves, with an atomic add of
     * zero: it write-faults the page but cannot change a byte an appender already wrote
     * (the segment may be in use while this runs).  Either way the first append to each
     * page finds it present and writable. */
    if (mlg__madvise(map, size, MADV_POPULATE_WRITE) == 0)
        return;
    touch_pages(map, size);
}

void mlg__seg_prefault(struct maplog *log, mlg__wseg *s)
{
    if (log->opt.prefault)
        prefault(s->map + page_size, s->size - (uint64_t)page_size);
    s->pop_off = MLG_POP_DONE;
}

/* Pre-fault the next chunk of s, from where its appender is (if it has one yet).  Called
 * by the pre-faulter with mu held, for a spare or the current segment: a rollover may take a
 * spare before it is all pre-faulted, and the appender then faults in any page it reaches
 * first, on its own CPU, instead of waiting for the pre-faulter to finish.  Marks s done when
 * it is, or when the segment is full or about to be sealed. */
void mlg__populate_chunk(struct maplog *log, mlg__wseg *s)
{
    uint64_t v = atomic_load_explicit(&s->resv, memory_order_relaxed);
    uint64_t at = page_ceil(MLG_RESV_OFF(v));
    /* Never behind the appender: those pages are in use, or handed to write-back. */
    uint64_t off = s->pop_off > at ? s->pop_off : at;
    if (off < (uint64_t)page_size)
        off = (uint64_t)page_size;
    if (!log->opt.prefault || s->stop_pop || (v & MLG_RESV_FULL) || off >= s->size) {
        s->pop_off = MLG_POP_DONE;
        return;
    }
    uint64_t len = s->size - off < MLG_POP_CHUNK ? s->size - off : MLG_POP_CHUNK;
    s->populating = 1;
    pthread_mutex_unlock(&log->mu);
    prefault(s->map + off, len);
    pthread_mutex_lock(&log->mu);
    s->populating = 0;
    s->pop_off = off + len;
    pthread_cond_broadcast(&log->pop_cv);
}

/* The segment to pre-fault next, soonest needed first: the current one, then the spares. */
mlg__wseg *mlg__to_populate(struct maplog *log)
{
    mlg__wseg *c = atomic_load_explicit(&log->cur, memory_order_acquire);
    if (c && c->map && c->pop_off != MLG_POP_DONE)
        return c;
    for (int i = 0; i < log->nspare; i++)
        if (log->spare[i]->pop_off != MLG_POP_DONE)
            return log->spare[i];
    return NULL;
}

int mlg__seg_create(struct maplog *log, mlg__wseg **out, uint64_t size, const char *name)
{
    int rc = 0;
    mlg__wseg *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return mlg__fail(&mlg__tls_err, MAPLOG_ENOMEM, "%s: out of memory", log->dir);
    s->fd = -1;
    s->size = size;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->fd = mlg__create_at(log->dirfd, name, O_RDWR | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                           (mode_t)log->opt.file_mode);
    if (s->fd < 0) {
        rc = mlg__fail(&mlg__tls_err, errno == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: open failed: %s", log->dir, name, strerror(errno));
        goto out;
    }
    if (mlg__ftruncate(s->fd, (off_t)size) < 0) {
        rc = mlg__fail(&mlg__tls_err, errno == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: ftruncate to %" PRIu64 " failed: %s", log->dir, name, size,
                       strerror(errno));
        goto out;
    }
    if (mlg__fallocate(s->fd, 0, (off_t)size) < 0) {
        rc = mlg__fail(&mlg__tls_err, errno == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: reserving %" PRIu64 " bytes (fallocate) failed: %s", log->dir, name,
                       size, strerror(errno));
        goto out;
    }
    s->map = mlg__mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        rc = mlg__fail(&mlg__tls_err, errno == ENOMEM ? MAPLOG_ENOMEM : MAPLOG_EIO,
                       "%s/%s: mmap of %" PRIu64 " bytes failed: %s", log->dir, name, size,
                       strerror(errno));
        goto out;
    }
    /* The header is written once, now, and made durable before the file gets a name, so
     * no later write can tear it: a power loss right after a rollover (a rename, but no
     * sync yet) leaves a valid header behind.  The first sequence number is in the name.
     * Only the header page is synced (msync of one page, not fdatasync of the file), and
     * before pre-faulting: syncing the pre-faulted zero pages would write 64 MiB of zeros
     * and write-protect every page again, so each append to a new page would fault. */
    mlg__seg_header h;
    mlg__header_init(&h, size, log->log_id, mlg__now_ns());
    memcpy(s->map, &h, sizeof h);
    if (mlg__msync(s->map, (size_t)page_size, MS_SYNC) < 0) {
        rc = mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: msync of the new header failed: %s",
                       log->dir, name, strerror(errno));
        goto out;
    }
out:
    if (rc) {
        int had_fd = s->fd >= 0;
        mlg__seg_free(s);
        if (had_fd)
            mlg__unlinkat(log->dirfd, name, 0);
        return rc;
    }
    *out = s;
    return 0;
}

/* Set s's flush mark FLUSH_BYTES past from (write-back started up to there), at least a
 * page on, so that the next whole-page flush has a page to start; or off (UINT64_MAX) when
 * the byte trigger is. */
void mlg__arm_flush(struct maplog *log, mlg__wseg *s, uint64_t from)
{
    uint64_t step = (uint64_t)log->opt.flush_bytes;
    if (step && step < (uint64_t)page_size)
        step = (uint64_t)page_size;
    atomic_store_explicit(&s->flush_mark, step ? from + step : UINT64_MAX, memory_order_relaxed);
}

void mlg__arm_hints(mlg__wseg *s, uint64_t end, uint64_t count)
{
    unsigned k = mlg__hint_slot_from(s->size, end);
    s->hint_stride = mlg__hint_stride(s->size);
    s->hint_pub_off = end;
    s->hint_pub_seq = s->first_seq + count;
    atomic_store_explicit(&s->hint_next,
                          k < MLG_HINT_COUNT && mlg__seg_has_hints(s->map)
                              ? MLG_DATA_OFFSET + k * s->hint_stride
                              : MLG_HINT_NONE,
                          memory_order_release);
}

/* Turn the spare into the segment whose first record is first_seq: give it its name.
 * The header was written and made durable when the spare was prepared. */
int mlg__seg_activate(struct maplog *log, mlg__wseg *s, uint64_t first_seq)
{
    char name[32];
    mlg__seg_name(name, first_seq);
    if (mlg__renameat(log->dirfd, s->name, log->dirfd, name) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s: rename %s -> %s failed: %s", log->dir,
                         s->name, name, strerror(errno));
    memcpy(s->name, name, sizeof name);
    s->first_seq = first_seq;
    s->synced_end = s->flushed_end = MLG_DATA_OFFSET;
    atomic_store_explicit(&s->resv, MLG_DATA_OFFSET, memory_order_relaxed);
    mlg__arm_flush(log, s, MLG_DATA_OFFSET);
    mlg__arm_hints(s, MLG_DATA_OFFSET, 0);
    return 0;
}

/* ---- waiting for in-flight appends ------------------------------------------------------ */

/* Walk the records of s from (off, count) up to end, waiting for any still being written
 * by another thread; adds them to *count and the largest timestamp to *last_ts. */
static void wait_published(mlg__wseg *s, uint64_t off, uint64_t end, uint64_t *count,
                           uint64_t *last_ts)
{
    unsigned round = 0;
    while (off < end) {
        uint64_t w = mlg__rec_word(s->map, off);
        if (w == 0 || (!((uint32_t)w & MLG_REC_VALID) && (uint32_t)(w >> 32) == MLG_PENDING_TAG)) {
            mlg__wait_round(round++); /* reserved, not yet committed: another thread copies */
            continue;
        }
        uint64_t ts;
        memcpy(&ts, s->map + off + 8, 8);
        if (ts > *last_ts)
            *last_ts = ts;
        uint64_t size = mlg__rec_word_size(w);
        if (!size || size > end - off)
            break; /* not a record this writer published: nothing more to count */
        off += size;
        (*count)++;
        round = 0;
    }
}

/* The records of s published up to resv word v: adds them to *count and the largest
 * timestamp to *last_ts, as wait_published does from the synced end.  When no append can
 * still run in s (final: it is full, or the log is closing) and its owner thread published
 * every record, the owner's count says so without the walk -- a cache miss per small
 * record, ~25 ms of a 64 MiB segment's ~33 ms at full speed.  While appends run, the
 * owner's largest timestamp could be a record's past v, so then it walks. */
void mlg__count_published(mlg__wseg *s, uint64_t v, int final, uint64_t *count, uint64_t *last_ts)
{
    if (final && atomic_load_explicit(&s->owner_pub, memory_order_acquire) == MLG_RESV_COUNT(v)) {
        uint64_t t = atomic_load_explicit(&s->owner_max_ts, memory_order_relaxed);
        *count = MLG_RESV_COUNT(v);
        if (t > *last_ts)
            *last_ts = t;
    } else {
        wait_published(s, s->synced_end, MLG_RESV_OFF(v), count, last_ts);
    }
}

/* ---- the background thread ----------------------------------------------------------- */

/* How far every record of s is published, without waiting: from the owner's word while
 * the owner counted every record, else by walking the headers on from what was known (a
 * cache miss per small record: the fallback, for several appending threads and
 * reservations).  Under sync_mu, with s mapped. */
uint64_t mlg__published_end(mlg__wseg *s)
{
    uint64_t e = atomic_load_explicit(&s->owner_pub_end, memory_order_acquire);
    uint64_t end = MLG_RESV_OFF(atomic_load_explicit(&s->resv, memory_order_acquire));
    if (s->pub_end < MLG_DATA_OFFSET)
        s->pub_end = MLG_DATA_OFFSET;
    if (e > s->pub_end)
        s->pub_end = e;
    while (s->pub_end < end && end - s->pub_end >= MLG_REC_HEADER_SIZE) {
        uint64_t size = mlg__rec_word_size(mlg__rec_word(s->map, s->pub_end));
        if (!size || size > end - s->pub_end)
            break; /* not yet published (or the end) */
        s->pub_end += size;
    }
    return s->pub_end;
}
