/*
 * follow.c -- a reader at the live end of a log: waiting for the next record.
 *
 * maplog_reader_wait() spins for a while (MAPLOG_READER_SPIN_US by default, settable), so a
 * busy log is followed at memory latency, then sleeps on the log's wake word (wake.c) in
 * slices of at most MLG_WAKE_SLICE_NS: a writer that publishes wakes it, and a wake-up
 * that never comes (the writer died between its record and its wake) costs one slice.
 *
 * maplog_reader_fd() gives an event loop the same through a descriptor: an epoll set holding
 * an inotify watch on maplog.lock, which the writer writes one word of to wake it (IN_MODIFY)
 * and which the kernel closes when the writer exits or dies (IN_CLOSE_WRITE); and a timer,
 * which makes the descriptor readable every MLG_FD_POLL_NS when the log has no wake page
 * this reader may use, and every slice otherwise, as a sleep is bounded.
 */
#define _GNU_SOURCE
#include "reader.h"

#include "os.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MLG_FD_POLL_NS 10000000ull /* the fallback timer's period */
#define MLG_ATTACH_RETRY_NS                                                                        \
    200000000ull /* how often to look for a wake page that was not there                           \
                  */
#define MLG_SPIN_MAX_US 1000000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

void mlg__reader_follow_init(maplog_reader *r)
{
    r->wake.fd = -1;
    r->wake.page = NULL;
    mlg__wake_follower_detach(&r->wake); /* the word: one no writer sets */
    r->spin_ns = (uint64_t)MAPLOG_READER_SPIN_US * 1000u;
    r->poll_fd = r->ino_fd = r->timer_fd = r->watch_wd = -1;
}

void mlg__reader_follow_close(maplog_reader *r)
{
    mlg__wake_follower_detach(&r->wake);
    if (r->poll_fd >= 0)
        mlg__close(r->poll_fd);
    if (r->ino_fd >= 0)
        mlg__close(r->ino_fd);
    if (r->timer_fd >= 0)
        mlg__close(r->timer_fd);
    r->poll_fd = r->ino_fd = r->timer_fd = r->watch_wd = -1;
}

int maplog_reader_set_spin(maplog_reader *r, int spin_us)
{
    if (!r || spin_us < 0 || spin_us > MLG_SPIN_MAX_US)
        return MAPLOG_EINVAL;
    r->spin_ns = (uint64_t)spin_us * 1000u;
    return 0;
}

/* The wake page, mapped: 0, or -1 (none this reader may use; looked for again later). */
static int attach(maplog_reader *r)
{
    if (r->wake.page)
        return r->wake.no_barrier ? -1 : 0;
    uint64_t now = mlg__mono_ns();
    if (r->wake_tried_ns && now - r->wake_tried_ns < MLG_ATTACH_RETRY_NS)
        return -1;
    if (mlg__wake_follower_attach(&r->wake, r->dirfd) == 0)
        return 0;
    r->wake_tried_ns = now ? now : 1;
    return -1;
}

int maplog_reader_wait(maplog_reader *r, int timeout_ms)
{
    if (!r)
        return MAPLOG_EINVAL;
    uint64_t start = mlg__mono_ns();
    uint64_t limit = timeout_ms < 0 ? UINT64_MAX : (uint64_t)timeout_ms * 1000000u;
    for (;;) { /* spin: a busy log answers in this time */
        if (mlg__reader_progress(r))
            return 0;
        uint64_t waited = mlg__mono_ns() - start;
        if (waited >= limit)
            return MAPLOG_ETIMEDOUT;
        if (waited >= r->spin_ns)
            break;
        for (int i = 0; i < 8; i++)
            cpu_relax();
    }
    long poll_ns = 50000;
    for (;;) {
        uint64_t waited = mlg__mono_ns() - start;
        if (waited >= limit)
            return MAPLOG_ETIMEDOUT;
        uint64_t left = limit - waited;
        uint32_t seen;
        if (attach(r) == 0 && mlg__wake_arm(&r->wake, MLG_WAKE_SLEEP, &seen) == 0) {
            if (mlg__reader_progress(r))
                return 0;
            mlg__wake_sleep(&r->wake, seen, left < MLG_WAKE_SLICE_NS ? left : MLG_WAKE_SLICE_NS);
        } else {
            /* No wake page to sleep on: bounded back-off from 50 us to 1 ms. */
            struct timespec ts = {0, (long)((uint64_t)poll_ns < left ? (uint64_t)poll_ns : left)};
            nanosleep(&ts, NULL);
            if (poll_ns < 1000000)
                poll_ns *= 2;
        }
        /* Woken: by a record, mostly, which the next record's word shows.  Otherwise (a
         * writer's open or close, retention, a slice's end) look afresh: the directory
         * too. */
        if (mlg__reader_progress(r))
            return 0;
        r->last_list_ns = 0;
        if (mlg__reader_progress(r))
            return 0;
    }
}

static void drain(int fd)
{
    char buf[4096] __attribute__((aligned(8)));
    if (fd >= 0)
        while (read(fd, buf, sizeof buf) > 0) { /* seam: not a file */
        }
}

/* The timer's period (0: off). */
static void set_timer(maplog_reader *r, uint64_t period_ns)
{
    if (r->timer_ns == period_ns)
        return;
    struct itimerspec its = {{0, 0}, {0, 0}};
    its.it_interval.tv_sec = its.it_value.tv_sec = (time_t)(period_ns / 1000000000u);
    its.it_interval.tv_nsec = its.it_value.tv_nsec = (long)(period_ns % 1000000000u);
    if (timerfd_settime(r->timer_fd, 0, &its, NULL) == 0)
        r->timer_ns = period_ns;
}

/* The inotify watch on the wake page's file -- the one this reader mapped, by its own
 * descriptor, whatever the directory's name now leads to. */
static int watching(maplog_reader *r)
{
    if (r->watch_wd >= 0 || r->ino_fd < 0 || !r->wake.page)
        return r->watch_wd >= 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", r->wake.fd);
    r->watch_wd = inotify_add_watch(r->ino_fd, path, IN_MODIFY | IN_CLOSE_WRITE);
    return r->watch_wd >= 0;
}

void mlg__reader_wake_reattach(maplog_reader *r)
{
    if (r->watch_wd >= 0)
        inotify_rm_watch(r->ino_fd, r->watch_wd);
    r->watch_wd = -1;
    mlg__wake_follower_detach(&r->wake);
    r->wake_tried_ns = 0;
}

int mlg__reader_fd_rearm(maplog_reader *r)
{
    drain(r->ino_fd);
    drain(r->timer_fd);
    uint32_t seen;
    int armed = attach(r) == 0 && watching(r) && mlg__wake_arm(&r->wake, MLG_WAKE_POLL, &seen) == 0;
    /* Armed, the writer pokes, and the timer only bounds a poke that never comes (a writer
     * that died between its record and its poke, or of a version without the page) to a
     * slice, as a sleep is bounded.  Not armed, only time says when to look again. */
    set_timer(r, armed ? MLG_WAKE_SLICE_NS : MLG_FD_POLL_NS);
    r->last_list_ns = 0;
    return mlg__reader_progress(r);
}

int maplog_reader_fd(maplog_reader *r)
{
    if (!r)
        return MAPLOG_EINVAL;
    if (r->poll_fd >= 0)
        return r->poll_fd;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || ino < 0 || tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, ino, &ev) < 0) {
        int e = errno;
        if (ep >= 0)
            mlg__close(ep);
        if (ino >= 0)
            mlg__close(ino);
        if (tfd >= 0)
            mlg__close(tfd);
        return mlg__fail(&r->err, MAPLOG_EIO, "%s: cannot make a descriptor to wait on: %s", r->dir,
                         strerror(e));
    }
    r->poll_fd = ep;
    r->ino_fd = ino;
    r->timer_fd = tfd;
    r->timer_ns = 0;
    r->watch_wd = -1;
    if (mlg__reader_fd_rearm(r)) {
        /* a record is there already: readable at once, so the caller's first poll reads
         * it (the timer, set again at the next rearm) */
        struct itimerspec now = {{0, 0}, {0, 1}};
        if (timerfd_settime(r->timer_fd, 0, &now, NULL) == 0)
            r->timer_ns = 1;
    }
    return ep;
}
