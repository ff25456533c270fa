/*
 * retention.c -- retention and archiving, run by the background thread (and maplog_sync, which
 * documents that it applies retention), never by an append.
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

/* Retention: remove the oldest sealed segments, whole and in order, while the policy says
 * there are too many, too many bytes, or they are too old.  Never the current segment, and
 * never one not sealed yet.  Under sync_mu.  Failures only delay removal. */
void mlg__apply_retention(struct maplog *log)
{
    const struct maplog_options *o = &log->opt;
    uint64_t *segs = NULL;
    size_t n = 0;
    mlg__err err;
    if (!o->retain_segments && !o->retain_bytes && !o->retain_age_ms)
        return;
    log->retention_check_ns = mlg__mono_ns();
    if (mlg__list_segments(log->dirfd, &segs, &n, NULL, &err, log->dir))
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
        mlg__wake_all(&log->wake); /* a follower still in a removed segment: look again */
    }
}

/* Compress one sealed segment that is not archived yet.  Under sync_mu.  1 if one was. */
int mlg__archive_one(struct maplog *log)
{
    mlg__err err;
    mlg__wseg *s;
    pthread_mutex_lock(&log->mu);
    for (s = log->retired; s && s->archived; s = s->next)
        ;
    pthread_mutex_unlock(&log->mu);
    if (!s)
        return 0;
    int rc = mlg__archive_segment(log->dirfd, log->dir, s->first_seq, 1, &err);
    s->archived = 1; /* done, gone (retention), or failed: not retried in a loop */
    (void)rc;        /* a failure leaves the plain segment, which readers read as well */
    return 1;
}

/* Compress the next sealed segment before the current one that is still plain -- one an
 * earlier writer left (it closed, or died, before its archiver reached it), or this
 * one's -- from first sequence number *from on, and move *from past it: a segment that
 * could not be compressed (no room, say) is not tried again from the same *from, so a
 * failure never becomes a loop.  Under sync_mu.  1 if one was tried (*done counts it if
 * it was compressed), 0 when none is left. */
int mlg__archive_left(struct maplog *log, uint64_t *from, uint64_t *done)
{
    uint64_t *segs = NULL;
    size_t n = 0;
    mlg__err err;
    if (mlg__list_segments(log->dirfd, &segs, &n, NULL, &err, log->dir))
        return 0;
    uint64_t cur = atomic_load_explicit(&log->cur, memory_order_acquire)->first_seq;
    for (size_t i = 0; i < n && segs[i] < cur; i++) {
        mlg__segpeek p;
        if (segs[i] < *from || mlg__seg_peek(log->dirfd, log->dir, segs[i], &p, &err) ||
            p.archived || p.sealed != 1)
            continue; /* tried, unreadable, done, or not sealed yet: left as it is */
        int rc = mlg__archive_segment(log->dirfd, log->dir, segs[i], 1, &err);
        *from = segs[i] + 1;
        if (rc == 0 && done)
            ++*done; /* else the plain segment stays, which readers read as well */
        for (mlg__wseg *s = log->retired; s; s = s->next)
            if (s->first_seq == segs[i])
                s->archived = 1; /* not tried again by mlg__archive_one */
        free(segs);
        return 1;
    }
    free(segs);
    return 0;
}

int maplog_archive(maplog *log, uint64_t *count)
{
    if (count)
        *count = 0;
    if (!log)
        return MAPLOG_EINVAL;
    uint64_t from = 0, done = 0;
    for (int more = 1; more;) { /* sync_mu a segment at a time: syncs go on between */
        pthread_mutex_lock(&log->sync_mu);
        more = mlg__archive_left(log, &from, &done);
        pthread_mutex_unlock(&log->sync_mu);
    }
    if (count)
        *count = done;
    return 0;
}

/* Apply retention now, on the calling thread: for maplog_sync() and maplog_close(), which
 * promise it, never for an append. */
void mlg__retention_now(struct maplog *log)
{
    /* Whether or not the background thread has taken the pass a seal asked for: it may be
     * in the middle of it, and the promise is that retention is applied on return. */
    pthread_mutex_lock(&log->mu);
    log->retention_due = 0;
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_lock(&log->sync_mu);
    mlg__apply_retention(log);
    pthread_mutex_unlock(&log->sync_mu);
}
