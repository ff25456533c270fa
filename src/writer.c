/*
 * writer.c -- the append path, rollover, the background thread, sync and close.
 *
 * The append path is a compare-and-swap and a memcpy.  Each segment keeps one 64-bit word,
 * resv, that packs how many records were reserved and where the next free byte is; an
 * appender reserves space and a sequence number together with one CAS on it, copies the
 * payload into the MAP_SHARED mapping, and publishes the record with a release store of
 * its first 8 bytes (length and CRC).  Readers acquire-load that word: zero means "not
 * yet", so no reader can see a half-written record, and since readers stop at the first
 * unpublished record they never see a hole either.
 *
 * What must not be on the append path is done ahead of time or behind it, by three
 * threads per log -- the maker and the pre-faulter (ahead), the background thread (behind):
 *   ahead:  the next segments (the "spares") are created, ftruncate'd, their blocks reserved
 *           with posix_fallocate (so a full disk is an error at rollover, never a SIGBUS
 *           on a store) and mapped by the maker, and pre-faulted by the pre-faulter, so
 *           that a rollover is a rename and a pointer swap;
 *   behind: a full segment is sealed -- wait for in-flight appends, XXH3 digest, seal
 *           block, fdatasync, unmap -- and dirty pages of the current one are handed to
 *           write-back on the flush policy (msync(MS_ASYNC), which Linux treats as a no-op
 *           since 2.6.19, so also sync_file_range(SYNC_FILE_RANGE_WRITE)).
 *
 * Locks: mu guards rollover, the spare and the seal queue (never taken on the fast path);
 * sync_mu serialises everything that writes checkpoints or unmaps: sealing, syncing,
 * flushing.  Order: sync_mu before mu, never the other way round.
 *
 * Segment structs are never freed before close: a thread that loaded an old `cur` may
 * still read its resv word (and find it FULL).  They are small; the mappings, which are
 * not, are released as soon as a segment is sealed.
 */
#define _GNU_SOURCE
#include "writer.h"

#include "crc32c.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static const long page_size = 4096;

static uint64_t page_floor(uint64_t v)
{
    return v & ~(uint64_t)(page_size - 1);
}

static uint64_t page_ceil(uint64_t v)
{
    return page_floor(v + (uint64_t)page_size - 1);
}

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
static void unmap_behind(uint8_t *map, uint64_t from, uint64_t to)
{
    from = page_ceil(from);
    to = page_floor(to);
    if (to > from)
        madvise(map + from, to - from, MADV_DONTNEED); /* a failure only costs speed */
}

void mlg__seg_free(mlg__wseg *s)
{
    if (!s)
        return;
    if (s->map)
        mlg__os.munmap(s->map, s->size);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static void prefault(uint8_t *map, uint64_t size)
{
    /* MADV_POPULATE_WRITE (Linux 5.14) faults every page in writable in one call; older
     * kernels say EINVAL, and then we touch each page ourselves, with an atomic add of
     * zero: it write-faults the page but cannot change a byte an appender already wrote
     * (the segment may be in use while this runs).  Either way the first append to each
     * page finds it present and writable. */
    if (madvise(map, size, MADV_POPULATE_WRITE) == 0)
        return;
    for (uint64_t o = 0; o < size; o += (uint64_t)page_size)
        __atomic_fetch_add((uint64_t *)(void *)(map + o), 0, __ATOMIC_RELAXED);
}

#define MLG_POP_DONE UINT64_MAX

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
#define MLG_POP_CHUNK ((uint64_t)4 << 20)
static void populate_chunk(struct maplog *log, mlg__wseg *s)
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
static mlg__wseg *to_populate(struct maplog *log)
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
        return mlg__errf(mlg__werr, MAPLOG_ENOMEM, "%s: out of memory", log->dir);
    s->fd = -1;
    s->size = size;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->fd = mlg__openat(log->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                        (mode_t)log->opt.file_mode);
    if (s->fd < 0) {
        rc = mlg__errf(mlg__werr, errno == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: open failed: %s", log->dir, name, strerror(errno));
        goto out;
    }
    if (mlg__ftruncate(s->fd, (off_t)size) < 0) {
        rc = mlg__errf(mlg__werr, errno == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: ftruncate to %" PRIu64 " failed: %s", log->dir, name, size,
                       strerror(errno));
        goto out;
    }
    if (mlg__fallocate(s->fd, 0, (off_t)size) < 0) {
        rc = mlg__errf(mlg__werr, errno == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: reserving %" PRIu64 " bytes (fallocate) failed: %s", log->dir, name,
                       size, strerror(errno));
        goto out;
    }
    s->map = mlg__os.mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        rc = mlg__errf(mlg__werr, errno == ENOMEM ? MAPLOG_ENOMEM : MAPLOG_EIO,
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
    mlg__header_init(&h, size, log->log_id);
    memcpy(s->map, &h, sizeof h);
    if (mlg__msync(s->map, (size_t)page_size, MS_SYNC) < 0) {
        rc = mlg__errf(mlg__werr, MAPLOG_EIO, "%s/%s: msync of the new header failed: %s", log->dir,
                       name, strerror(errno));
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

/* Turn the spare into the segment whose first record is first_seq: give it its name.
 * The header was written and made durable when the spare was prepared. */
int mlg__seg_activate(struct maplog *log, mlg__wseg *s, uint64_t first_seq)
{
    char name[32];
    mlg__seg_name(name, first_seq);
    if (mlg__renameat(log->dirfd, s->name, log->dirfd, name) < 0)
        return mlg__errf(mlg__werr, MAPLOG_EIO, "%s: rename %s -> %s failed: %s", log->dir, s->name,
                         name, strerror(errno));
    memcpy(s->name, name, sizeof name);
    s->first_seq = first_seq;
    s->synced_end = s->flushed_end = MLG_DATA_OFFSET;
    atomic_store_explicit(&s->resv, MLG_DATA_OFFSET, memory_order_relaxed);
    mlg__arm_flush(log, s, MLG_DATA_OFFSET);
    return 0;
}

/* ---- waiting for in-flight appends ------------------------------------------------------ */

/* Walk the records of s from (off, count) up to end, waiting for any still being written
 * by another thread; adds them to *count and the largest timestamp to *last_ts. */
static void wait_published(mlg__wseg *s, uint64_t off, uint64_t end, uint64_t *count,
                           uint64_t *last_ts)
{
    unsigned spins = 0;
    while (off < end) {
        uint64_t w = __atomic_load_n((uint64_t *)(void *)(s->map + off), __ATOMIC_ACQUIRE);
        if (w == 0) { /* reserved, not yet committed: another thread is copying */
            if (++spins < 64) {
                sched_yield();
            } else {
                struct timespec ts = {0, 50000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        uint64_t ts;
        memcpy(&ts, s->map + off + 8, 8);
        if (ts > *last_ts)
            *last_ts = ts;
        off += mlg__rec_size((uint32_t)w & MLG_REC_LEN_MASK);
        (*count)++;
        spins = 0;
    }
}

/* The records of s published up to resv word v: adds them to *count and the largest
 * timestamp to *last_ts, as wait_published does from the synced end.  When no append can
 * still run in s (final: it is full, or the log is closing) and its owner thread published
 * every record, the owner's count says so without the walk -- a cache miss per small
 * record, ~25 ms of a 64 MiB segment's ~33 ms at full speed.  While appends run, the
 * owner's largest timestamp could be a record's past v, so then it walks. */
static void count_published(mlg__wseg *s, uint64_t v, int final, uint64_t *count, uint64_t *last_ts)
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

/* ---- durability ---------------------------------------------------------------------- */

static int sync_dir_if_dirty(struct maplog *log)
{
    int dirty;
    pthread_mutex_lock(&log->mu);
    dirty = log->dir_dirty;
    log->dir_dirty = 0;
    pthread_mutex_unlock(&log->mu);
    if (dirty && mlg__fsync(log->dirfd) < 0) {
        pthread_mutex_lock(&log->mu);
        log->dir_dirty = 1;
        pthread_mutex_unlock(&log->mu);
        return mlg__errf(mlg__werr, MAPLOG_EIO, "%s: fsync of the directory failed: %s", log->dir,
                         strerror(errno));
    }
    return 0;
}

/* Make [synced_end, end) of s durable and record it in a checkpoint.  Under sync_mu. */
int mlg__sync_range(struct maplog *log, mlg__wseg *s, uint64_t end, uint64_t count,
                    uint64_t last_ts, uint32_t state)
{
    int rc;
    uint64_t from = page_floor(s->synced_end);
    unmap_behind(s->map, from, end);
    if (end > from && mlg__msync(s->map + from, end - from, MS_SYNC) < 0)
        return mlg__errf(mlg__werr, MAPLOG_EIO,
                         "%s/%s: msync(MS_SYNC) of offsets %" PRIu64 "..%" PRIu64 " failed: %s",
                         log->dir, s->name, from, end, strerror(errno));
    if ((rc = sync_dir_if_dirty(log)))
        return rc;
    mlg__checkpoint c;
    memset(&c, 0, sizeof c);
    c.state = state;
    c.generation = ++s->ckpt_gen;
    c.end_offset = end;
    c.record_count = count;
    c.last_ts = last_ts;
    c.first_seq = s->first_seq;
    mlg__ckpt_write(s->map, &c);
    if (mlg__msync(s->map, (size_t)page_size, MS_SYNC) < 0)
        return mlg__errf(mlg__werr, MAPLOG_EIO,
                         "%s/%s: msync(MS_SYNC) of the header page failed: %s", log->dir, s->name,
                         strerror(errno));
    s->synced_end = end;
    s->synced_count = count;
    s->synced_ts = last_ts;
    return 0;
}

/* Seal a full segment: every reserved record published, digest, seal block, fdatasync,
 * unmap.  Under sync_mu. */
int mlg__seal_seg(struct maplog *log, mlg__wseg *s)
{
    uint64_t v = atomic_load_explicit(&s->resv, memory_order_acquire);
    uint64_t end = MLG_RESV_OFF(v), count = s->synced_count, last_ts = s->synced_ts;
    if (s->sealed || !s->map)
        return 0;
    count_published(s, v, 1, &count, &last_ts); /* full: no append runs in s any more */
    if (count != MLG_RESV_COUNT(v))
        return mlg__errf(mlg__werr, MAPLOG_ECORRUPT,
                         "%s/%s: sealing found %" PRIu64 " records but %" PRIu64 " were reserved",
                         log->dir, s->name, count, MLG_RESV_COUNT(v));
    uint64_t digest = mlg__digest(s->map, end);
    /* Before unmapping and syncing, under mu: stop the pre-faulter pre-faulting s (appends may
     * have outrun it), and let a spare being made go first: its posix_fallocate and header
     * msync need the file system journal, and behind this fdatasync they waited 30-45 ms
     * (traced), with the appender waiting for the spare.  Making one takes a few ms. */
    pthread_mutex_lock(&log->mu);
    s->stop_pop = 1;
    while (s->populating)
        pthread_cond_wait(&log->pop_cv, &log->mu);
    while (log->spare_busy && !log->stop)
        pthread_cond_wait(&log->spare_cv, &log->mu);
    pthread_mutex_unlock(&log->mu);
    /* Data first, then the seal: a seal that reached the disk vouches for durable data. */
    unmap_behind(s->map, (uint64_t)page_size, s->size);
    if (mlg__fdatasync(s->fd) < 0)
        return mlg__errf(mlg__werr, MAPLOG_EIO, "%s/%s: fdatasync while sealing failed: %s",
                         log->dir, s->name, strerror(errno));
    mlg__seal seal;
    mlg__seal_fill(&seal, s->first_seq, count, end, last_ts, digest);
    memcpy(s->map + MLG_SEAL_OFFSET, &seal, sizeof seal);
    if (mlg__msync(s->map, (size_t)page_size, MS_SYNC) < 0)
        return mlg__errf(mlg__werr, MAPLOG_EIO, "%s/%s: msync of the seal failed: %s", log->dir,
                         s->name, strerror(errno));
    s->synced_end = end;
    s->synced_count = count;
    s->synced_ts = last_ts;
    mlg__os.munmap(s->map, s->size);
    s->map = NULL;
    close(s->fd);
    s->fd = -1;
    s->sealed = 1;
    return 0;
}

/* Retention: remove the oldest sealed segments, whole and in order, while the policy says
 * there are too many, too many bytes, or they are too old.  Never the current segment, and
 * never one not sealed yet.  Under sync_mu.  Failures only delay removal. */
static void apply_retention(struct maplog *log)
{
    const struct maplog_options *o = &log->opt;
    uint64_t *segs = NULL;
    size_t n = 0;
    char err[MLG_ERRMSG_MAX];
    if (!o->retain_segments && !o->retain_bytes && !o->retain_age_ms)
        return;
    log->retention_check_ns = mlg__mono_ns();
    if (mlg__list_segments(log->dirfd, &segs, &n, NULL, err, log->dir))
        return;
    uint64_t cur = atomic_load_explicit(&log->cur, memory_order_acquire)->first_seq, total = 0;
    uint64_t now = mlg__now_ns(), removed = 0;
    for (size_t i = 0; i < n; i++)
        total += mlg__seg_file_size(log->dirfd, segs[i]);
    for (size_t i = 0; i < n && segs[i] < cur; i++) {
        uint64_t last_ts, bytes, count;
        size_t left = n - i;
        int over = (o->retain_segments && left > (uint64_t)o->retain_segments) ||
                   (o->retain_bytes && total > (uint64_t)o->retain_bytes);
        if (!mlg__seg_sealed_info(log->dirfd, segs[i], &last_ts, &bytes, &count, NULL))
            break; /* not sealed yet: it and everything after it stay */
        if (!over && !(o->retain_age_ms && last_ts + (uint64_t)o->retain_age_ms * 1000000u < now))
            break;
        if (mlg__seg_remove(log->dirfd, segs[i]) < 0)
            break;
        total -= bytes;
        removed++;
    }
    free(segs);
    if (removed) {
        pthread_mutex_lock(&log->mu);
        log->dir_dirty = 1;
        pthread_mutex_unlock(&log->mu);
    }
}

/* Compress one sealed segment that is not archived yet.  Under sync_mu.  1 if one was. */
static int archive_one(struct maplog *log)
{
    char err[MLG_ERRMSG_MAX];
    mlg__wseg *s;
    pthread_mutex_lock(&log->mu);
    for (s = log->retired; s && s->archived; s = s->next)
        ;
    pthread_mutex_unlock(&log->mu);
    if (!s)
        return 0;
    int rc = mlg__archive_segment(log->dirfd, log->dir, s->first_seq, 1, err);
    s->archived = 1; /* done, gone (retention), or failed: not retried in a loop */
    (void)rc;        /* a failure leaves the plain segment, which readers read as well */
    return 1;
}

/* Seal everything queued.  Under sync_mu. */
static int seal_pending(struct maplog *log)
{
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&log->mu);
        mlg__wseg *s = log->sealq;
        if (s) {
            log->sealq = s->next;
            s->next = NULL;
        }
        pthread_mutex_unlock(&log->mu);
        if (!s)
            break;
        int r = mlg__seal_seg(log, s);
        pthread_mutex_lock(&log->mu);
        if (r) {
            /* put it back to try again later; the records stay safe in the page cache */
            s->next = log->sealq;
            log->sealq = s;
        } else {
            s->next = log->retired;
            log->retired = s;
        }
        pthread_mutex_unlock(&log->mu);
        if (r) {
            rc = r;
            break;
        }
    }
    if (!rc)
        apply_retention(log);
    if (!rc)
        rc = sync_dir_if_dirty(log);
    return rc;
}

/* A sync (msync MS_SYNC, fdatasync, fsync) failed.  Linux may already have marked the
 * pages clean, so a retry that "succeeds" proves nothing (PostgreSQL's fsync lesson):
 * from now on every sync on this handle fails with this message.  Under sync_mu. */
static void poison(struct maplog *log, int rc)
{
    if (rc == MAPLOG_EIO || rc == MAPLOG_ENOSPC) {
        log->sync_failed = rc;
        snprintf(log->sync_err, sizeof log->sync_err, "%.440s (durability lost: reopen the log)",
                 mlg__werr);
    }
}

/* Make everything appended before the call durable; state is the checkpoint state. */
static int do_sync(struct maplog *log, uint32_t state)
{
    int rc;
    pthread_mutex_lock(&log->sync_mu);
    if (log->sync_failed) {
        rc = log->sync_failed;
        snprintf(mlg__werr, MLG_ERRMSG_MAX, "%s", log->sync_err);
        goto out;
    }
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    uint64_t v = atomic_load_explicit(&s->resv, memory_order_acquire);
    uint64_t target = s->first_seq + MLG_RESV_COUNT(v);
    if (state == MLG_STATE_OPEN && atomic_load(&log->durable) >= target) {
        rc = 0; /* another thread's sync already covered us: group commit */
        goto out;
    }
    if ((rc = seal_pending(log)))
        goto out;
    if (!s->sealed) {
        uint64_t end = MLG_RESV_OFF(v), count = s->synced_count, last_ts = s->synced_ts;
        count_published(s, v, state == MLG_STATE_CLOSED, &count, &last_ts);
        if ((rc = mlg__sync_range(log, s, end, count, last_ts, state)))
            goto out;
    }
    if (atomic_load(&log->durable) < target)
        atomic_store(&log->durable, target);
out:
    if (rc && !log->sync_failed)
        poison(log, rc);
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

int maplog_sync(maplog *log)
{
    if (!log)
        return MAPLOG_EINVAL;
    return do_sync(log, MLG_STATE_OPEN);
}

int maplog_durable_count(maplog *log, uint64_t *count)
{
    if (!log || !count)
        return MAPLOG_EINVAL;
    *count = atomic_load(&log->durable);
    return 0;
}

int maplog_next_seq(maplog *log, uint64_t *next)
{
    if (!log || !next)
        return MAPLOG_EINVAL;
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    *next = s->first_seq + MLG_RESV_COUNT(atomic_load(&s->resv));
    return 0;
}

int maplog_recovery_info(const maplog *log, maplog_recovery_key key, int64_t *value)
{
    if (!log || !value || key < MAPLOG_RECOVERY_CLEAN || key > MAPLOG_RECOVERY_REMOVED)
        return MAPLOG_EINVAL;
    *value = log->rec_info[key];
    return 0;
}

const char *maplog_recovery_report(const maplog *log)
{
    return log ? log->rec_report : "no log handle";
}

const char *maplog_errmsg(const maplog *log)
{
    (void)log;
    return mlg__werr;
}

/* ---- the background thread ----------------------------------------------------------- */

/* How far every record of s is published, without waiting: from the owner's word while
 * the owner counted every record, else by walking the headers on from what was known (a
 * cache miss per small record: the fallback, for several appending threads and
 * reservations).  Under sync_mu, with s mapped. */
static uint64_t published_end(mlg__wseg *s)
{
    uint64_t e = atomic_load_explicit(&s->owner_pub_end, memory_order_acquire);
    uint64_t end = MLG_RESV_OFF(atomic_load_explicit(&s->resv, memory_order_acquire));
    if (s->pub_end < MLG_DATA_OFFSET)
        s->pub_end = MLG_DATA_OFFSET;
    if (e > s->pub_end)
        s->pub_end = e;
    while (s->pub_end < end && end - s->pub_end >= MLG_REC_HEADER_SIZE) {
        uint64_t w = __atomic_load_n((const uint64_t *)(const void *)(s->map + s->pub_end),
                                     __ATOMIC_ACQUIRE);
        uint64_t size = mlg__rec_size((uint32_t)w & MLG_REC_LEN_MASK);
        if (!((uint32_t)w & MLG_REC_VALID) || w == MLG_ROLLED_WORD || size > end - s->pub_end)
            break; /* not yet published (or the end) */
        s->pub_end += size;
    }
    return s->pub_end;
}

/* Start write-back of the records published in the current segment.  Not past them: a page
 * an appender is still copying into would be locked for write-back under its stores, and
 * write-back drops our page-table entries first (unmap_behind), so the appender would fault
 * and wait on the page lock (traced: filemap_fault in folio_wait_bit_common).  Under
 * sync_mu. */
static void flush_current(struct maplog *log, int whole_pages)
{
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    uint64_t end = s->sealed || !s->map ? 0 : published_end(s);
    uint64_t from = page_floor(s->flushed_end);
    /* On FLUSH_BYTES, whole pages only: the page being appended to stays mapped and dirty,
     * and goes with the next range.  On the interval, everything, partial page included. */
    if (whole_pages)
        end = page_floor(end);
    if (end > from) {
        unmap_behind(s->map, from, end);
        /* Failures here only delay write-back; maplog_sync reports them where it matters. */
        mlg__msync(s->map + from, end - from, MS_ASYNC);
        mlg__os.writeback(s->fd, (off_t)from, (off_t)(end - from));
        s->flushed_end = end;
    }
    /* Re-armed whatever happened: a fired mark left as it is would keep the thread busy. */
    mlg__arm_flush(log, s, s->flushed_end);
}

/* The maker, the pre-faulter and the background thread run at the creating thread's nice
 * value plus 10 (on Linux nice is per thread), so that they yield the CPU to the threads
 * that append.  On two cores the appender had shared them, at equal weight, with the
 * pre-faulter and the sealer: it was on the CPU for 67-89% of a 64-byte run (its thread
 * CPU clock); now 83-95%, and 64-byte appends went from 27.2 to 32.0 M records/s (medians
 * of nine runs each).  A failure to lower it only costs that speed. */
static void background_priority(void)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, tid);
    if (nice == -1 && errno)
        return;
    setpriority(PRIO_PROCESS, tid, nice + 10 > 19 ? 19 : nice + 10);
}

static void *bg_main(void *arg)
{
    struct maplog *log = arg;
    background_priority();
    int flushing = log->opt.durability != MAPLOG_DURABILITY_NONE;
    uint64_t interval = (uint64_t)log->opt.flush_interval_ms * 1000000u;
    uint64_t next_flush = mlg__mono_ns() + interval;

    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        if (log->sealq) {
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            int rc = seal_pending(log);
            if (rc && !log->sync_failed)
                poison(log, rc);
            pthread_mutex_unlock(&log->sync_mu);
            if (rc) { /* retry later, not in a tight loop */
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL);
            }
            pthread_mutex_lock(&log->mu);
            continue;
        }
        uint64_t now = mlg__mono_ns();
        if (log->opt.archive) {
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            int did = archive_one(log);
            pthread_mutex_unlock(&log->sync_mu);
            pthread_mutex_lock(&log->mu);
            if (did)
                continue;
        }
        if (log->opt.retain_age_ms && now - log->retention_check_ns > 1000000000u) {
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            apply_retention(log);
            pthread_mutex_unlock(&log->sync_mu);
            pthread_mutex_lock(&log->mu);
            continue;
        }
        mlg__wseg *cur = atomic_load_explicit(&log->cur, memory_order_acquire);
        /* The appender that crosses the mark swaps it for MLG_MARK_FIRED, then wakes us. */
        uint64_t mark = atomic_load_explicit(&cur->flush_mark, memory_order_relaxed);
        int by_bytes = mark == MLG_MARK_FIRED ||
                       MLG_RESV_OFF(atomic_load_explicit(&cur->resv, memory_order_relaxed)) >= mark;
        int due = interval && now >= next_flush;
        if (flushing && (by_bytes || due)) {
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            flush_current(log, !due); /* by bytes alone: whole pages */
            pthread_mutex_unlock(&log->sync_mu);
            next_flush = mlg__mono_ns() + interval;
            pthread_mutex_lock(&log->mu);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t wait_ns = (flushing && interval) ? next_flush - now : 1000000000u;
        if (wait_ns > 1000000000u)
            wait_ns = 1000000000u;
        until.tv_nsec += (long)wait_ns;
        while (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&log->bg_cv, &log->mu, &until);
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

static void wake_bg(struct maplog *log)
{
    pthread_cond_signal(&log->bg_cv);
}

/* The spare file name not used by a prepared spare.  Under mu, with no spare being made. */
static const char *free_spare_name(struct maplog *log)
{
    return log->nspare && !strcmp(log->spare[0]->name, MLG_SPARE_NAME) ? MLG_SPARE2_NAME
                                                                       : MLG_SPARE_NAME;
}

/* Ahead of the appender, two threads: the maker keeps two spare segments made, and the
 * pre-faulter pre-faults them and the current one.  Threads of their own, so that neither
 * waits behind a seal's fdatasync, which waits on the disk: at a sustained 2 GB/s, a 64 MiB
 * segment fills in ~33 ms, and pre-faulting one takes 16-40 ms here.  Two spares, because
 * making one sometimes waits far longer than that: posix_fallocate and the header's msync
 * wait on the file system journal and the disk queue behind a seal's fdatasync (40-50 ms,
 * traced); with one spare, the appender waited for it at about one rollover in two.  And
 * two threads, because while the maker waits there, the pre-faulting must go on: with one
 * thread doing both, the appender faulted in half its pages itself (perf: half its time in
 * the kernel's page zeroing) while the other core idled.  A spare is usable as soon as it
 * is made, before it is pre-faulted: an appender that gets ahead of the pre-faulting faults
 * pages in itself, on its own CPU, rather than sit idle at the rollover.  A failure
 * (ENOSPC) is retried when the next rollover asks again. */
static void *maker_main(void *arg)
{
    struct maplog *log = arg;
    background_priority();
    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        if (log->nspare < 2 && !log->spare_busy && !log->spare_rc) {
            mlg__wseg *s = NULL;
            const char *name = free_spare_name(log);
            log->spare_busy = 1;
            pthread_mutex_unlock(&log->mu);
            int rc = mlg__seg_create(log, &s, (uint64_t)log->opt.segment_size, name);
            pthread_mutex_lock(&log->mu);
            if (s)
                log->spare[log->nspare++] = s;
            log->spare_rc = rc;
            log->spare_busy = 0;
            pthread_cond_broadcast(&log->spare_cv);
            pthread_cond_broadcast(&log->prep_cv); /* a new spare to pre-fault */
        } else {
            pthread_cond_wait(&log->prep_cv, &log->mu);
        }
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

static void *prefault_main(void *arg)
{
    struct maplog *log = arg;
    background_priority();
    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        mlg__wseg *p = to_populate(log);
        if (p)
            populate_chunk(log, p); /* one chunk, then look again */
        else
            pthread_cond_wait(&log->prep_cv, &log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

static uintptr_t bias_next_owner(struct maplog *log, mlg__wseg *full);

/* ---- rollover ------------------------------------------------------------------------ */

/* Called when a record did not fit in s.  Marks s full, activates the spare as the next
 * segment and queues s for sealing.  Returns 0 when the caller should try again. */
static int rollover(struct maplog *log, mlg__wseg *s)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    if (atomic_load_explicit(&log->cur, memory_order_relaxed) != s)
        goto out; /* another thread rolled over already */
    /* No record goes into s from now on; several threads may get here for the same s. */
    atomic_fetch_or(&s->resv, MLG_RESV_FULL);
    while (!log->nspare) {
        if (log->spare_busy) {
            pthread_cond_wait(&log->spare_cv, &log->mu); /* releases mu: recheck below */
        } else {
            /* Appending outran the background thread, or it failed: prepare one here. */
            mlg__wseg *n = NULL;
            log->spare_busy = 1;
            rc = mlg__seg_create(log, &n, (uint64_t)log->opt.segment_size, free_spare_name(log));
            log->spare_busy = 0;
            log->spare_rc = 0;
            pthread_cond_broadcast(&log->spare_cv);
            if (rc)
                goto out; /* s stays FULL: every append fails the same way until space frees */
            log->spare[log->nspare++] = n;
        }
        if (atomic_load_explicit(&log->cur, memory_order_relaxed) != s)
            goto out; /* rolled over by another thread while we waited */
    }
    /* FULL is set, so the count is final: the next segment starts right after it. */
    uint64_t first = s->first_seq + MLG_RESV_COUNT(atomic_load(&s->resv));
    mlg__wseg *n = log->spare[0];
    if ((rc = mlg__seg_activate(log, n, first)))
        goto out;
    log->spare[0] = log->spare[1];
    log->spare[1] = NULL;
    log->nspare--;
    log->spare_rc = 0;
    pthread_cond_broadcast(&log->prep_cv); /* make the next one, pre-fault this one */
    s->next = NULL;
    mlg__wseg **tail = &log->sealq;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    log->dir_dirty = 1;
    atomic_store_explicit(&n->owner, bias_next_owner(log, s), memory_order_relaxed);
    atomic_store_explicit(&log->cur, n, memory_order_release);
    /* The rollover mark, after the new segment has its name: a reader following the log
     * that reaches it knows to look for the next segment now, without waiting for the
     * seal (which waits for this segment's fdatasync). */
    uint64_t end = MLG_RESV_OFF(atomic_load(&s->resv));
    if (s->size - end >= 8)
        __atomic_store_n((uint64_t *)(void *)(s->map + end), MLG_ROLLED_WORD, __ATOMIC_RELEASE);
    wake_bg(log);
out:
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* ---- append -------------------------------------------------------------------------- */

/*
 * Reservation is biased to one thread.  A CAS (any locked instruction) costs more than it
 * seems on this path: it waits for the store buffer to drain, and the store buffer holds
 * the previous record's stores to lines not yet in the cache, so a 64-byte append spent
 * about 20 ns there.  Most logs are appended to by one thread at a time, so, as with the
 * biased locks of JVMs, a segment can have an owner thread, which reserves in it with a
 * plain load and store of resv:
 *
 *   owner:   busy = 1; [compiler barrier]; if (owner == me) { load resv; store resv+1 }
 *            busy = 0 (release)
 *   revoker: owner = 0; membarrier(); wait until busy == 0; then CAS as usual
 *
 * This is Dekker's store-then-load on both sides, with the owner's memory barrier supplied
 * by membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread of the
 * process execute one between our store and its return (the asymmetric fence of liburcu
 * and folly).  Wherever in the owner's reservation that barrier lands, either the owner
 * reads owner == 0 after it and takes the CAS path, or its busy = 1 is visible and the
 * revoker waits until its plain store is done.  Any other thread revokes before its first
 * CAS on the segment, so no CAS ever races a plain store.
 *
 * A segment's owner is set only before the segment becomes cur, and after that only
 * cleared: the opening thread owns the first segment, and at a rollover the thread rolling
 * over owns the next one if it was the only thread to reserve in the full one.  Each
 * revocation doubles the number of such chances passed up (up to 1024 segments), so
 * threads that take turns settle on the CAS.  Without membarrier (Linux < 4.14, or a
 * seccomp filter) nothing is ever owned and every reservation is a CAS.
 */
#define BIAS_SKIP_MAX 1024u

static _Thread_local char bias_me_; /* its address names this thread while it lives */
static pthread_once_t bias_once = PTHREAD_ONCE_INIT;
static int bias_ok; /* membarrier(PRIVATE_EXPEDITED) is registered for this process */

static inline uintptr_t bias_me(void)
{
    return (uintptr_t)&bias_me_;
}

static long sys_membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0u, 0);
}

static void bias_init(void)
{
    long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
    bias_ok = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
              sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

/* Who owns a segment about to become cur: me, if bias is possible and not backing off. */
static uintptr_t bias_grant(struct maplog *log)
{
    if (!bias_ok)
        return 0;
    pthread_mutex_lock(&log->bias_mu);
    int skip = log->bias_skip > 0;
    if (skip)
        log->bias_skip--;
    pthread_mutex_unlock(&log->bias_mu);
    if (skip)
        return 0;
    atomic_fetch_add_explicit(&log->bias_grants, 1, memory_order_relaxed);
    return bias_me();
}

/* At a rollover by this thread: who owns the next segment. */
static uintptr_t bias_next_owner(struct maplog *log, mlg__wseg *full)
{
    uintptr_t me = bias_me();
    if (atomic_load(&full->owner) != me &&
        (atomic_load(&full->solo) != me || atomic_load(&full->mixed)))
        return 0; /* another thread reserved in it too */
    return bias_grant(log);
}

/* Take s's ownership away from whichever thread has it, before reserving with a CAS. */
static void bias_revoke(struct maplog *log, mlg__wseg *s)
{
    pthread_mutex_lock(&log->bias_mu);
    if (atomic_load(&s->owner)) {
        atomic_store(&s->owner, 0);
        /* Registered at open, so it does not fail; the global barrier is slower but
         * needs no registration, should it ever be refused. */
        while (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
               sys_membarrier(MEMBARRIER_CMD_GLOBAL) != 0)
            sched_yield();
        while (atomic_load_explicit(&s->owner_busy, memory_order_acquire))
            sched_yield(); /* the owner is inside its plain reservation: a few instructions */
        uint64_t n = atomic_fetch_add_explicit(&log->bias_revokes, 1, memory_order_relaxed) + 1;
        log->bias_skip = n >= 10 ? BIAS_SKIP_MAX : 1u << n;
    }
    pthread_mutex_unlock(&log->bias_mu);
}

/* The record of need bytes that resv value v placed in s is ours: report its segment,
 * offset and sequence number, and wake the flusher if it crossed the FLUSH_BYTES mark.
 *
 * And prefetch, for writing, the line 2 KiB past the record.  Hardware prefetchers stop
 * at page boundaries, so the first record into each new page paid a TLB miss (a
 * two-dimensional page walk in a VM) and cache misses on its lines: traced, half of the
 * appends slower than 450 ns were the 2% that cross into a new page.  With the prefetch,
 * 64-byte appends slower than 450 ns went from 0.27-0.31% to 0.03-0.09%.  A prefetch
 * never faults; it stays inside the mapping anyway. */
static inline void reserved(struct maplog *log, mlg__wseg *s, uint64_t v, uint64_t need,
                            mlg__wseg **segp, uint64_t *offp, uint64_t *seqp)
{
    uint64_t off = MLG_RESV_OFF(v);
    *segp = s;
    *offp = off;
    *seqp = s->first_seq + MLG_RESV_COUNT(v);
    if (off + need + 2048 < s->size)
        __builtin_prefetch(s->map + off + need + 2048, 1, 3);
    uint64_t m = atomic_load_explicit(&s->flush_mark, memory_order_relaxed);
    if (off + need >= m && atomic_compare_exchange_strong(&s->flush_mark, &m, MLG_MARK_FIRED))
        wake_bg(log); /* (offsets stay below 2^31: neither UINT64_MAX nor FIRED is reached) */
}

/* Reserve with a CAS, rolling over as needed. */
static int reserve_shared(struct maplog *log, uint64_t need, mlg__wseg **segp, uint64_t *offp,
                          uint64_t *seqp)
{
    uintptr_t me = bias_me();
    for (;;) {
        mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
        uintptr_t o = atomic_load_explicit(&s->owner, memory_order_relaxed);
        if (o && o != me)
            bias_revoke(log, s);
        /* Who reserves here, for the next segment's owner: loads, once the answer is in. */
        uintptr_t solo = atomic_load_explicit(&s->solo, memory_order_relaxed);
        if (solo != me && !atomic_load_explicit(&s->mixed, memory_order_relaxed)) {
            if (solo || !atomic_compare_exchange_strong(&s->solo, &solo, me))
                atomic_store_explicit(&s->mixed, 1, memory_order_relaxed);
        }
        uint64_t v = atomic_load_explicit(&s->resv, memory_order_relaxed);
        while (!(v & MLG_RESV_FULL) && need <= s->size - MLG_RESV_OFF(v)) {
            if (atomic_compare_exchange_weak_explicit(&s->resv, &v, v + (1ull << 32) + need,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                reserved(log, s, v, need, segp, offp, seqp);
                return 0;
            }
        }
        int rc = rollover(log, s);
        if (rc)
            return rc;
    }
}

/* Reserve room for a payload of len bytes: the record's place and sequence number. */
static inline int reserve(struct maplog *log, size_t len, mlg__wseg **segp, uint64_t *offp,
                          uint64_t *seqp)
{
    if (len > log->max_payload)
        return mlg__errf(mlg__werr, MAPLOG_ETOOBIG,
                         "%s: record of %zu bytes does not fit in a segment of %" PRId64
                         " bytes (largest payload %" PRIu64 ")",
                         log->dir, len, log->opt.segment_size, log->max_payload);
    uint64_t need = mlg__rec_size(len);
    uintptr_t me = bias_me();
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    if (atomic_load_explicit(&s->owner, memory_order_relaxed) == me) {
        atomic_store_explicit(&s->owner_busy, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the CPU's half is the revoker's */
        if (atomic_load_explicit(&s->owner, memory_order_relaxed) == me) {
            uint64_t v = atomic_load_explicit(&s->resv, memory_order_relaxed);
            if (!(v & MLG_RESV_FULL) && need <= s->size - MLG_RESV_OFF(v)) {
                atomic_store_explicit(&s->resv, v + (1ull << 32) + need, memory_order_relaxed);
                atomic_store_explicit(&s->owner_busy, 0, memory_order_release);
                reserved(log, s, v, need, segp, offp, seqp);
                return 0;
            }
        }
        atomic_store_explicit(&s->owner_busy, 0, memory_order_release);
    }
    return reserve_shared(log, need, segp, offp, seqp);
}

static inline void publish(uint8_t *rec, uint32_t len, uint32_t crc)
{
    uint64_t w = (uint64_t)(len | MLG_REC_VALID) | ((uint64_t)crc << 32);
    __atomic_store_n((uint64_t *)(void *)rec, w, __ATOMIC_RELEASE);
}

/* After publishing record seq, which ends at offset end, in s: if this thread owns s, count
 * it (see owner_pub), and when it counted every record before this one, say how far every
 * record is published (owner_pub_end). */
static inline void owner_published(mlg__wseg *s, uint64_t seq, uint64_t ts, uint64_t end)
{
    if (atomic_load_explicit(&s->owner, memory_order_relaxed) != bias_me())
        return;
    if (ts > atomic_load_explicit(&s->owner_max_ts, memory_order_relaxed))
        atomic_store_explicit(&s->owner_max_ts, ts, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&s->owner_pub, memory_order_relaxed);
    if (n == seq - s->first_seq)
        atomic_store_explicit(&s->owner_pub_end, end, memory_order_release);
    atomic_store_explicit(&s->owner_pub, n + 1, memory_order_release);
}

static int after_append(struct maplog *log, uint64_t seq)
{
    if (log->opt.durability == MAPLOG_DURABILITY_SYNC_EVERY &&
        seq + 1 - atomic_load_explicit(&log->durable, memory_order_relaxed) >=
            (uint64_t)log->opt.sync_every)
        return do_sync(log, MLG_STATE_OPEN);
    return 0;
}

static inline __attribute__((always_inline)) int append_at(maplog *log, const void *buf, size_t len,
                                                           uint64_t ts, int have_ts, uint64_t *seq)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    if (!log || (!buf && len))
        return MAPLOG_EINVAL;
    int rc = reserve(log, len, &s, &off, &sq);
    if (rc)
        return rc;
    uint8_t *rec = s->map + off;
    if (!have_ts)
        ts = mlg__rec_now_ns();
    if (len)
        memcpy(rec + MLG_REC_HEADER_SIZE, buf, len);
    memcpy(rec + 8, &ts, 8);
    uint32_t crc = mlg__record_crc(sq, (uint32_t)len | MLG_REC_VALID, ts, buf, len);
    publish(rec, (uint32_t)len, crc);
    owner_published(s, sq, ts, off + mlg__rec_size(len));
    if (seq)
        *seq = sq;
    return after_append(log, sq);
}

int maplog_append(maplog *log, const void *buf, size_t len, uint64_t *seq)
{
    return append_at(log, buf, len, 0, 0, seq);
}

int maplog_append_ts(maplog *log, const void *buf, size_t len, uint64_t timestamp_ns, uint64_t *seq)
{
    return append_at(log, buf, len, timestamp_ns, 1, seq);
}

int maplog_appendv(maplog *log, const struct iovec *iov, int iovcnt, uint64_t *seq)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    size_t len = 0;
    if (!log || iovcnt < 0 || (iovcnt && !iov))
        return MAPLOG_EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - len || (!iov[i].iov_base && iov[i].iov_len))
            return MAPLOG_EINVAL;
        len += iov[i].iov_len;
    }
    int rc = reserve(log, len, &s, &off, &sq);
    if (rc)
        return rc;
    uint8_t *rec = s->map + off, *p = rec + MLG_REC_HEADER_SIZE;
    uint64_t ts = mlg__rec_now_ns();
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    memcpy(rec + 8, &ts, 8);
    uint32_t crc = mlg__record_crcv(sq, (uint32_t)len | MLG_REC_VALID, ts, iov, iovcnt);
    publish(rec, (uint32_t)len, crc);
    owner_published(s, sq, ts, off + mlg__rec_size(len));
    if (seq)
        *seq = sq;
    return after_append(log, sq);
}

int maplog_reserve(maplog *log, size_t len, maplog_reservation *res)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    if (!log || !res)
        return MAPLOG_EINVAL;
    int rc = reserve(log, len, &s, &off, &sq);
    if (rc)
        return rc;
    res->data = s->map + off + MLG_REC_HEADER_SIZE;
    res->len = len;
    res->seq = sq;
    res->internal_[0] = (uintptr_t)(s->map + off);
    res->internal_[1] = (uintptr_t)log;
    res->internal_[2] = 0x6d6c6772u; /* "mlgr": a reservation not yet committed */
    return 0;
}

int maplog_commit(maplog *log, maplog_reservation *res)
{
    if (!log || !res || res->internal_[1] != (uintptr_t)log || res->internal_[2] != 0x6d6c6772u)
        return MAPLOG_EINVAL;
    uint8_t *rec = (uint8_t *)res->internal_[0];
    uint64_t ts = mlg__rec_now_ns();
    memcpy(rec + 8, &ts, 8);
    uint32_t crc =
        mlg__record_crc(res->seq, (uint32_t)res->len | MLG_REC_VALID, ts, res->data, res->len);
    publish(rec, (uint32_t)res->len, crc);
    res->internal_[2] = 0;
    res->data = NULL;
    return after_append(log, res->seq);
}

/* ---- open and close ------------------------------------------------------------------ */

static int make_dir(const char *dir, mode_t file_mode)
{
    mode_t m = file_mode | ((file_mode & 0444) >> 2) | 0700;
    return mkdir(dir, m) == 0 || errno == EEXIST ? 0 : -1;
}

/* Stop the background, maker and pre-faulter threads (any may not have started). */
static void stop_threads(struct maplog *log)
{
    pthread_mutex_lock(&log->mu);
    log->stop = 1;
    pthread_cond_broadcast(&log->bg_cv);
    pthread_cond_broadcast(&log->prep_cv);
    pthread_mutex_unlock(&log->mu);
    if (log->bg_started)
        pthread_join(log->bg, NULL);
    if (log->prep_started)
        pthread_join(log->prep, NULL);
    if (log->maker_started)
        pthread_join(log->maker, NULL);
    log->bg_started = log->prep_started = log->maker_started = 0;
}

/* Release what every handle has: the lock (by closing it), the directory, the locks. */
static void free_handle(struct maplog *log)
{
    if (log->lockfd >= 0)
        close(log->lockfd);
    if (log->dirfd >= 0)
        close(log->dirfd);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->sync_mu);
    pthread_mutex_destroy(&log->bias_mu);
    pthread_cond_destroy(&log->bg_cv);
    pthread_cond_destroy(&log->spare_cv);
    pthread_cond_destroy(&log->prep_cv);
    pthread_cond_destroy(&log->pop_cv);
    free(log->dir);
    free(log);
}

int maplog_open(maplog **out, const char *dir, const maplog_options *opts)
{
    int rc = 0;
    struct maplog *log = NULL;
    char err[MLG_ERRMSG_MAX] = "";
    if (!out || !dir || !*dir) {
        rc = mlg__errf(err, MAPLOG_EINVAL, "maplog_open: no directory given");
        goto fail;
    }
    *out = NULL;
    log = calloc(1, sizeof *log);
    if (!log) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    /* everything the failure path releases is valid from here on */
    log->dirfd = log->lockfd = -1;
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->sync_mu, NULL);
    pthread_mutex_init(&log->bias_mu, NULL);
    pthread_once(&bias_once, bias_init);
    pthread_cond_init(&log->bg_cv, NULL);
    pthread_cond_init(&log->spare_cv, NULL);
    pthread_cond_init(&log->prep_cv, NULL);
    pthread_cond_init(&log->pop_cv, NULL);
    if (!(log->dir = strdup(dir))) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if (opts)
        log->opt = *opts;
    else
        mlg__options_default(&log->opt);
    log->max_payload = (uint64_t)log->opt.segment_size - MLG_DATA_OFFSET - MLG_REC_HEADER_SIZE;
    if (log->max_payload > MLG_REC_LEN_MASK)
        log->max_payload = MLG_REC_LEN_MASK;

    if (log->opt.create && make_dir(dir, (mode_t)log->opt.file_mode) < 0) {
        rc = mlg__errf(err, MAPLOG_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
        goto fail;
    }
    log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dirfd < 0) {
        rc = mlg__errf(err, errno == ENOENT ? MAPLOG_ENOENT : MAPLOG_EIO,
                       "%s: cannot open directory: %s", dir, strerror(errno));
        goto fail;
    }
    log->lockfd = mlg__openat(log->dirfd, MLG_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                              (mode_t)log->opt.file_mode);
    if (log->lockfd < 0) {
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot open lock file: %s%s", dir, MLG_LOCK_NAME,
                       strerror(errno),
                       errno == ELOOP ? " (a symlink: maplog never follows links in a log)" : "");
        goto fail;
    }
    if (flock(log->lockfd, LOCK_EX | LOCK_NB) < 0) {
        rc = mlg__errf(err, errno == EWOULDBLOCK ? MAPLOG_ELOCKED : MAPLOG_EIO, "%s/%s: %s", dir,
                       MLG_LOCK_NAME,
                       errno == EWOULDBLOCK ? "another process has this log open for writing"
                                            : strerror(errno));
        goto fail;
    }
    if ((rc = mlg__recover(log))) {
        memcpy(err, mlg__werr, sizeof err);
        goto fail;
    }
    /* The opening thread owns the first segment: appends usually come from it. */
    atomic_store(&atomic_load(&log->cur)->owner, bias_grant(log));
    if (pthread_create(&log->maker, NULL, maker_main, log) != 0) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: cannot start the spare-making thread", dir);
        goto fail;
    }
    log->maker_started = 1;
    if (pthread_create(&log->prep, NULL, prefault_main, log) != 0) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: cannot start the pre-faulting thread", dir);
        goto fail;
    }
    log->prep_started = 1;
    if (pthread_create(&log->bg, NULL, bg_main, log) != 0) {
        rc = mlg__errf(err, MAPLOG_ENOMEM, "%s: cannot start the background thread", dir);
        goto fail;
    }
    log->bg_started = 1;
    *out = log;
    return 0;
fail:
    mlg__set_open_error(err);
    if (log) {
        stop_threads(log);
        mlg__seg_free(atomic_load(&log->cur));
        for (int i = 0; i < log->nspare; i++)
            mlg__seg_free(log->spare[i]);
        free_handle(log);
    }
    return rc;
}

int maplog_close(maplog *log)
{
    int rc = 0;
    if (!log)
        return 0;
    stop_threads(log);
    mlg__wseg *cur = atomic_load(&log->cur);
    if (cur) {
        rc = do_sync(log, MLG_STATE_CLOSED);
        mlg__seg_free(cur);
    }
    for (int i = 0; i < log->nspare; i++) {
        mlg__unlinkat(log->dirfd, log->spare[i]->name, 0);
        mlg__seg_free(log->spare[i]);
    }
    for (mlg__wseg *s = log->sealq, *n; s; s = n) { /* only after a failed seal */
        n = s->next;
        mlg__seg_free(s);
    }
    for (mlg__wseg *s = log->retired, *n; s; s = n) {
        n = s->next;
        mlg__seg_free(s);
    }
    free_handle(log);
    return rc;
}

/* New-log identity, used by recovery when it creates the first segment. */
int mlg__new_log_id(uint8_t id[16]);
int mlg__new_log_id(uint8_t id[16])
{
    return mlg__os.random(id, 16);
}
