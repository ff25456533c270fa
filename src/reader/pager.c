/*
 * pager.c -- a reader's pager: a thread that maps the pages ahead of a reader reading in
 * order (MADV_POPULATE_READ) while the reader checks the records before them.
 *
 * It also inflates the block of an archive after the one the reader inflates (archive.c),
 * a job the reader hands it.
 *
 * A page fault maps at most 16 pages (fault-around), and mapping them is kernel work the
 * reader would otherwise do between records; from a cold cache it is also the disk read.
 * Done by another thread, it overlaps the reader's CRC work.  The pager is started on the
 * first request, works on one range at a time (a newer request replaces one not yet
 * started), and never touches a range after mlg__pager_quiesce() returned: the reader calls
 * that before it unmaps.  A reader carried into a forked child reads on without one (the
 * child has no pager thread: its reader maps its pages as it reads them).
 */
#define _GNU_SOURCE
#include "reader.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older kernels say EINVAL: the pages fault in */
#endif

struct mlg__pager {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a request or a stop, for the pager */
    pthread_cond_t idle; /* the pager finished its range, for quiesce */
    uint8_t *addr;       /* the request not yet started (len 0: none) */
    size_t len;
    void (*job)(void *); /* or this one (NULL: none) */
    void *job_arg;
    int busy, stop;
    pid_t pid; /* the process the thread runs in: a forked child has the struct, not it */
};

static void *pager_main(void *arg)
{
    mlg__pager *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->len && !p->job && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        uint8_t *addr = p->addr;
        size_t len = p->len;
        void (*job)(void *) = p->job;
        void *job_arg = p->job_arg;
        p->len = 0;
        p->job = NULL;
        p->busy = 1;
        pthread_mutex_unlock(&p->mu);
        if (job)
            job(job_arg);
        else /* A failure (EFAULT past the file's end, ENOMEM) only leaves the pages to
              * fault in as the reader reaches them. */
            mlg__madvise(addr, len, MADV_POPULATE_READ);
        pthread_mutex_lock(&p->mu);
        p->busy = 0;
        pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int post(mlg__pager **pp, uint8_t *addr, size_t len, void (*job)(void *), void *arg);

int mlg__pager_post(mlg__pager **pp, uint8_t *addr, size_t len)
{
    return post(pp, addr, len, NULL, NULL);
}

int mlg__pager_post_job(mlg__pager **pp, void (*job)(void *), void *arg)
{
    return post(pp, NULL, 0, job, arg);
}

static int post(mlg__pager **pp, uint8_t *addr, size_t len, void (*job)(void *), void *arg)
{
    mlg__pager *p = *pp;
    if (p && p->pid != getpid())
        return -1; /* a forked child's copy: no thread behind it, and its lock may be held */
    if (!p) {
        if (!(p = calloc(1, sizeof *p)))
            return -1;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        pthread_cond_init(&p->idle, NULL);
        p->pid = getpid();
        /* no signal of the application's is delivered to the pager */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&p->thread, NULL, pager_main, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc) {
            pthread_cond_destroy(&p->idle);
            pthread_cond_destroy(&p->cv);
            pthread_mutex_destroy(&p->mu);
            free(p);
            return -1;
        }
        *pp = p;
    }
    pthread_mutex_lock(&p->mu);
    p->addr = addr;
    p->len = len;
    p->job = job;
    p->job_arg = arg;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void mlg__pager_quiesce(mlg__pager *p)
{
    if (!p || p->pid != getpid())
        return; /* none, or a forked child's copy: nothing runs in this process */
    pthread_mutex_lock(&p->mu);
    p->len = 0;
    p->job = NULL;
    while (p->busy)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void mlg__pager_free(mlg__pager *p)
{
    if (!p || p->pid != getpid())
        return; /* a forked child's copy is left alone: its lock may be held for ever */
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    p->len = 0;
    p->job = NULL;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
