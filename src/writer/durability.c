/*
 * durability.c -- sealing and syncing: the seal of a full segment, checkpoints, group commit,
 * and a failed sync poisoning durability.
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
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s: fsync of the directory failed: %s",
                         log->dir, strerror(errno));
    }
    return 0;
}

/* Make [synced_end, end) of s durable and record it in a checkpoint.  Under sync_mu. */
int mlg__sync_range(struct maplog *log, mlg__wseg *s, uint64_t end, uint64_t count,
                    uint64_t last_ts, uint32_t state)
{
    int rc;
    uint64_t from = page_floor(s->synced_end);
    mlg__unmap_behind(s->map, from, end);
    if (end > from && mlg__msync(s->map + from, end - from, MS_SYNC) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO,
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
    c.updated_ns = mlg__now_ns();
    mlg__ckpt_write(s->map, &c);
    if (mlg__msync(s->map, (size_t)page_size, MS_SYNC) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO,
                         "%s/%s: msync(MS_SYNC) of the header page failed: %s", log->dir, s->name,
                         strerror(errno));
    s->synced_end = end;
    s->synced_count = count;
    s->synced_ts = last_ts;
    return 0;
}

/* Seal a full segment: every reserved record published, digest, fdatasync, the directory
 * fsync (if a rename is not yet durable), seal block, unmap.  Under sync_mu, in the
 * background thread or a sync: never on the append path. */
int mlg__seal_seg(struct maplog *log, mlg__wseg *s)
{
    uint64_t v = atomic_load_explicit(&s->resv, memory_order_acquire);
    uint64_t end = MLG_RESV_OFF(v), count = s->synced_count, last_ts = s->synced_ts;
    if (s->sealed || !s->map)
        return 0;
    mlg__count_published(s, v, 1, &count, &last_ts); /* full: no append runs in s any more */
    if (count != MLG_RESV_COUNT(v))
        return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
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
    mlg__unmap_behind(s->map, (uint64_t)page_size, s->size);
    if (mlg__fdatasync(s->fd) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: fdatasync while sealing failed: %s",
                         log->dir, s->name, strerror(errno));
    /* A seal is written only after the directory entry of its segment is durable.  The
     * segment got its name by a rename when it became current (mlg__seg_activate), and
     * fdatasync of the file does not make a rename durable on every POSIX file system: a
     * power loss could leave the sealed data under its spare's name, or under none.  The
     * rename set dir_dirty, so this fsync of the directory covers it (and any later one);
     * if a sync since then already fsynced the directory, nothing is left to do. */
    int rc;
    if ((rc = sync_dir_if_dirty(log)))
        return rc;
    mlg__seal seal;
    mlg__seal_fill(&seal, s->first_seq, count, end, last_ts, digest, mlg__now_ns());
    mlg__seal_set_voids(&seal, __atomic_load_n(&s->voids, __ATOMIC_RELAXED));
    memcpy(s->map + MLG_SEAL_OFFSET, &seal, sizeof seal);
    if (mlg__msync(s->map, (size_t)page_size, MS_SYNC) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: msync of the seal failed: %s", log->dir,
                         s->name, strerror(errno));
    s->synced_end = end;
    s->synced_count = count;
    s->synced_ts = last_ts;
    mlg__munmap(s->map, s->size);
    s->map = NULL;
    mlg__close(s->fd);
    s->fd = -1;
    s->sealed = 1;
    return 0;
}

/* Seal everything queued.  Under sync_mu. */
int mlg__seal_pending(struct maplog *log)
{
    int rc = 0, sealed = 0;
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
            sealed++;
        }
        pthread_mutex_unlock(&log->mu);
        if (r) {
            rc = r;
            break;
        }
    }
    if (sealed) { /* retention is the background thread's: an append never lists or unlinks */
        pthread_mutex_lock(&log->mu);
        log->retention_due = 1;
        mlg__wake_bg(log);
        pthread_mutex_unlock(&log->mu);
    }
    if (!rc)
        rc = sync_dir_if_dirty(log);
    return rc;
}

/* A sync (msync MS_SYNC, fdatasync, fsync) failed.  Linux may already have marked the
 * pages clean, so a retry that "succeeds" proves nothing (PostgreSQL's fsync lesson):
 * from now on every sync on this handle fails with this message -- the first caller to
 * hear of it gets the failure's own code (MAPLOG_EIO, MAPLOG_ENOSPC), every later one
 * MAPLOG_ECLOSED: the handle can append, but it can promise nothing.  Under sync_mu. */
void mlg__poison(struct maplog *log, int rc)
{
    if (rc == MAPLOG_EIO || rc == MAPLOG_ENOSPC) {
        log->sync_failed = rc;
        snprintf(log->sync_err, sizeof log->sync_err, "%.440s (durability lost: reopen the log)",
                 mlg__tls_err.msg);
    }
}

/* Make everything appended before the call durable; state is the checkpoint state. */
int mlg__do_sync(struct maplog *log, uint32_t state)
{
    int rc;
    pthread_mutex_lock(&log->sync_mu);
    if (log->sync_failed) {
        rc = log->sync_reported ? MAPLOG_ECLOSED : log->sync_failed;
        log->sync_reported = 1;
        mlg__fail(&mlg__tls_err, rc, "%s", log->sync_err);
        goto out;
    }
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    uint64_t v = atomic_load_explicit(&s->resv, memory_order_acquire);
    uint64_t target = s->first_seq + MLG_RESV_COUNT(v);
    if (state == MLG_STATE_OPEN && atomic_load(&log->durable) >= target) {
        rc = 0; /* another thread's sync already covered us: group commit */
        goto out;
    }
    if ((rc = mlg__seal_pending(log)))
        goto out;
    if (!s->sealed) {
        uint64_t end = MLG_RESV_OFF(v), count = s->synced_count, last_ts = s->synced_ts;
        mlg__count_published(s, v, state == MLG_STATE_CLOSED, &count, &last_ts);
        if ((rc = mlg__sync_range(log, s, end, count, last_ts, state)))
            goto out;
    }
    if (atomic_load(&log->durable) < target)
        atomic_store(&log->durable, target);
out:
    if (rc && !log->sync_failed) {
        mlg__poison(log, rc);
        log->sync_reported = log->sync_failed != 0; /* this caller hears of it */
    }
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

int maplog_sync(maplog *log)
{
    if (!log)
        return MAPLOG_EINVAL;
    int rc = mlg__do_sync(log, MLG_STATE_OPEN);
    if (rc == 0) /* maplog.h promises a returned sync has applied retention */
        mlg__retention_now(log);
    return rc;
}

int maplog_durable_count(maplog *log, uint64_t *count)
{
    if (!log || !count)
        return MAPLOG_EINVAL;
    *count = atomic_load(&log->durable);
    return 0;
}
