/*
 * spares.c -- the spares: the maker thread creates the next segments ahead of the appender and
 * the pre-faulter thread faults their pages in.
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

/* The spare file name not used by a prepared spare.  Under mu, with no spare being made. */
const char *mlg__free_spare_name(struct maplog *log)
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
void *mlg__maker_main(void *arg)
{
    struct maplog *log = arg;
    mlg__background_priority();
    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        if (log->nspare < 2 && !log->spare_busy && !log->spare_rc) {
            mlg__wseg *s = NULL;
            const char *name = mlg__free_spare_name(log);
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

void *mlg__prefault_main(void *arg)
{
    struct maplog *log = arg;
    mlg__background_priority();
    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        mlg__wseg *p = mlg__to_populate(log);
        if (p)
            mlg__populate_chunk(log, p); /* one chunk, then look again */
        else
            pthread_cond_wait(&log->prep_cv, &log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}
