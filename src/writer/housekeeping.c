/*
 * housekeeping.c -- the background thread: seal what is full, start write-back on the flush policy,
 * archive and apply retention.
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

/* Start write-back of the records published in the current segment.  Not past them: a page
 * an appender is still copying into would be locked for write-back under its stores, and
 * write-back drops our page-table entries first (mlg__unmap_behind), so the appender would fault
 * and wait on the page lock (traced: filemap_fault in folio_wait_bit_common).  Under
 * sync_mu. */
static void flush_current(struct maplog *log, int whole_pages)
{
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    uint64_t end = s->sealed || !s->map ? 0 : mlg__published_end(s);
    uint64_t from = page_floor(s->flushed_end);
    /* On FLUSH_BYTES, whole pages only: the page being appended to stays mapped and dirty,
     * and goes with the next range.  On the interval, everything, partial page included. */
    if (whole_pages)
        end = page_floor(end);
    if (end > from) {
        mlg__unmap_behind(s->map, from, end);
        /* Failures here only delay write-back; maplog_sync reports them where it matters. */
        mlg__msync(s->map + from, end - from, MS_ASYNC);
        mlg__writeback(s->fd, (off_t)from, (off_t)(end - from));
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
void mlg__background_priority(void)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, tid);
    if (nice == -1 && errno)
        return;
    setpriority(PRIO_PROCESS, tid, nice + 10 > 19 ? 19 : nice + 10);
}

void *mlg__bg_main(void *arg)
{
    struct maplog *log = arg;
    mlg__background_priority();
    int flushing = log->opt.durability != MAPLOG_DURABILITY_NONE;
    uint64_t interval = (uint64_t)log->opt.flush_interval_ms * 1000000u;
    uint64_t next_flush = mlg__mono_ns() + interval;

    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        if (log->sealq) {
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            int rc = mlg__seal_pending(log);
            if (rc && !log->sync_failed)
                mlg__poison(log, rc);
            pthread_mutex_unlock(&log->sync_mu);
            if (rc) { /* retry later, not in a tight loop */
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL);
            }
            pthread_mutex_lock(&log->mu);
            continue;
        }
        uint64_t now = mlg__mono_ns();
        int backlog = 0; /* a segment an earlier writer left plain was just compressed */
        if (log->opt.archive) {
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            int did = mlg__archive_one(log);
            if (!did && log->archive_left &&
                !(backlog = mlg__archive_left(log, &log->archive_from, NULL)))
                log->archive_left = 0; /* what earlier writers left is done */
            pthread_mutex_unlock(&log->sync_mu);
            pthread_mutex_lock(&log->mu);
            if (did)
                continue;
        }
        if (log->retention_due ||
            (log->opt.retain_age_ms && now - log->retention_check_ns > 1000000000u)) {
            log->retention_due = 0;
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->sync_mu);
            mlg__apply_retention(log);
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
        if (backlog)
            continue; /* the next of them, with retention and write-back looked at between */
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

void mlg__wake_bg(struct maplog *log)
{
    pthread_cond_signal(&log->bg_cv);
}
