/*
 * open.c -- opening and closing a log for writing: the handle, its threads, recovery, and the
 * accessors.
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

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
    if (!log || !value || key < MAPLOG_RECOVERY_CLEAN || key > MAPLOG_RECOVERY_VOIDED)
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
    return mlg__tls_err.msg;
}

int maplog_writer_info_get(const maplog *log, maplog_writer_info key, int64_t *value)
{
    if (!log || !value || key != MAPLOG_WINFO_WAKE_CALLS)
        return MAPLOG_EINVAL;
    *value = (int64_t)(atomic_load(&log->wake.futex_wakes) + atomic_load(&log->wake.pokes));
    return 0;
}

/* ---- open and close ------------------------------------------------------------------ */

static int make_dir(const char *dir, mode_t file_mode)
{
    mode_t m = file_mode | ((file_mode & 0444) >> 2) | 0700;
    return mlg__mkdir(dir, m) == 0 || errno == EEXIST ? 0 : -1;
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
    /* The lock first, so that the followers woken see no writer: unlocked explicitly,
     * since the wake page's mapping keeps the file open past close(); followers on a
     * descriptor see IN_CLOSE_WRITE when the mapping goes too. */
    if (log->lockfd >= 0) {
        mlg__flock(log->lockfd, LOCK_UN);
        mlg__close(log->lockfd);
    }
    log->wake.fd = -1;
    mlg__wake_writer_close(&log->wake);
    if (log->dirfd >= 0)
        mlg__close(log->dirfd);
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

/* A handle with nothing open yet (*out NULL only when out of memory): from here on,
 * everything the failure path of maplog_open releases is valid. */
static int new_handle(struct maplog **out, const char *dir, const maplog_options *opts,
                      mlg__err *err)
{
    struct maplog *log = *out = calloc(1, sizeof *log);
    if (!log)
        return mlg__fail(err, MAPLOG_ENOMEM, "%s: out of memory", dir);
    log->dirfd = log->lockfd = log->wake.fd = -1;
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->sync_mu, NULL);
    pthread_mutex_init(&log->bias_mu, NULL);
    mlg__bias_init();
    pthread_cond_init(&log->bg_cv, NULL);
    pthread_cond_init(&log->spare_cv, NULL);
    pthread_cond_init(&log->prep_cv, NULL);
    pthread_cond_init(&log->pop_cv, NULL);
    if (!(log->dir = strdup(dir)))
        return mlg__fail(err, MAPLOG_ENOMEM, "%s: out of memory", dir);
    if (opts)
        log->opt = *opts;
    else
        mlg__options_default(&log->opt);
    log->max_payload = (uint64_t)log->opt.segment_size - MLG_DATA_OFFSET - MLG_REC_HEADER_SIZE;
    if (log->max_payload > MLG_REC_LEN_MASK)
        log->max_payload = MLG_REC_LEN_MASK;
    return 0;
}

/* Start the spare-making, pre-faulting and background threads (stop_threads stops those
 * that started). */
static int start_threads(struct maplog *log, mlg__err *err)
{
    if (pthread_create(&log->maker, NULL, mlg__maker_main, log) != 0)
        return mlg__fail(err, MAPLOG_ENOMEM, "%s: cannot start the spare-making thread", log->dir);
    log->maker_started = 1;
    if (pthread_create(&log->prep, NULL, mlg__prefault_main, log) != 0)
        return mlg__fail(err, MAPLOG_ENOMEM, "%s: cannot start the pre-faulting thread", log->dir);
    log->prep_started = 1;
    if (pthread_create(&log->bg, NULL, mlg__bg_main, log) != 0)
        return mlg__fail(err, MAPLOG_ENOMEM, "%s: cannot start the background thread", log->dir);
    log->bg_started = 1;
    return 0;
}

int maplog_open(maplog **out, const char *dir, const maplog_options *opts)
{
    int rc = 0;
    struct maplog *log = NULL;
    mlg__err err = {0, ""};
    if (!out || !dir || !*dir) {
        rc = mlg__fail(&err, MAPLOG_EINVAL, "maplog_open: no directory given");
        goto fail;
    }
    *out = NULL;
    if ((rc = new_handle(&log, dir, opts, &err)))
        goto fail;
    if (log->opt.create && make_dir(dir, (mode_t)log->opt.file_mode) < 0) {
        int e = errno;
        rc = mlg__fail(&err, e == ENOENT ? MAPLOG_ENOENT : MAPLOG_EIO,
                       "%s: cannot create directory: %s%s", dir, strerror(e),
                       e == ENOENT ? " (its parent directory is missing: maplog makes only the "
                                     "log's own directory)"
                                   : "");
        goto fail;
    }
    if ((rc = mlg__dir_open(dir, &log->dirfd, &err)))
        goto fail;
    if ((rc = mlg__lock_take(log->dirfd, dir, (mode_t)log->opt.file_mode, &log->lockfd, &err)))
        goto fail;
    mlg__wake_writer_open(&log->wake, log->lockfd);
    if ((rc = mlg__recover(log))) {
        err = mlg__tls_err;
        goto fail;
    }
    /* The opening thread owns the first segment: appends usually come from it. */
    atomic_store(&atomic_load(&log->cur)->owner, mlg__bias_grant(log));
    /* Sealed segments an earlier writer left plain are archived too (MAPLOG_OPT_ARCHIVE). */
    log->archive_left = log->opt.archive != 0;
    if ((rc = start_threads(log, &err)))
        goto fail;
    /* Followers asleep since an earlier writer went: what recovery did (holes voided, a
     * tail cut) is theirs to read now. */
    mlg__wake_all(&log->wake);
    *out = log;
    return 0;
fail:
    mlg__open_err = err;
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
        rc = mlg__do_sync(log, MLG_STATE_CLOSED);
        if (rc == 0)
            mlg__retention_now(log);
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

int mlg__new_log_id(uint8_t id[16])
{
    return mlg__random(id, 16);
}
