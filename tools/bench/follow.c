/*
 * follow.c -- followers: readers in another process that wait for new records with
 * maplog_reader_wait(), which spins MAPLOG_READER_SPIN_US and then sleeps on the log's wake
 * word until the writer publishes.
 *
 *   latency  append-to-next latency at 10K/s, 100K/s and full speed: the writer stamps each
 *            64-byte record with CLOCK_MONOTONIC just before maplog_append; the follower
 *            reads the clock when maplog_reader_next() returns the record.  1 MiB segments,
 *            so every run crosses rollovers.
 *   idle     a follower of a log whose live writer appends nothing: its CPU and wake-ups.
 *   cost     the writer's append rate with no follower, with one that reads, and with one
 *            asleep (stopped once its bit is in the wake word), and the wake system calls
 *            it made per append.
 *
 * Every follower is a forked child, forked before the writer opens the log so that it holds
 * none of the writer's descriptors (its lock among them).  It exits nonzero on an error or
 * after GIVE_UP_MS without a record; the parent waits for its answer with a time limit,
 * kills it past that, reaps it, and reports the failure in the row instead of a figure.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    GIVE_UP_MS = 10000, /* a follower that gets no record for this long fails */
    SLACK_MS = 30000,   /* how much longer than its work the parent waits for a child */
    REC = 64,           /* the records' size */
};

#define SPIN_NS ((uint64_t)MAPLOG_READER_SPIN_US * 1000u)

/* A follower's exit status when it fails, and what the parent says about it. */
enum { F_NOGO = 1, F_OPEN, F_NEXT, F_WAIT, F_STALL, F_NOMEM, F_PIPE, F_SHORT, F_MAX };
static const char *const failures[F_MAX] = {
    [F_NOGO] = "the parent never said go",   [F_OPEN] = "maplog_reader_open failed",
    [F_NEXT] = "maplog_reader_next failed",  [F_WAIT] = "maplog_reader_wait failed",
    [F_STALL] = "no record for 10 s",        [F_NOMEM] = "out of memory",
    [F_PIPE] = "cannot write to the parent", [F_SHORT] = "a record shorter than its time stamp",
};

/* What a follower is asked to do: read n records (n > 0), or wait idle for idle_s. */
typedef struct follow_job {
    const char *dir;
    uint64_t n;
    int timed; /* the records carry their append time: take latencies */
    double idle_s;
} follow_job;

/* What a follower sends back. */
typedef struct follow_result {
    uint64_t p[4];              /* append-to-next ns: p50, p99, p99.9, max (timed jobs) */
    uint64_t records;           /* records read */
    uint64_t waits;             /* maplog_reader_wait calls */
    uint64_t long_waits;        /* of those, the ones that lasted longer than the spin */
    uint64_t first_ns, last_ns; /* when it read its first and its last record */
    int64_t cpu_ns;             /* idle: user + system time of the measured part */
    int64_t nvcsw;              /* idle: voluntary context switches in it */
    double secs;                /* idle: the measured part's length */
} follow_result;

/* A follower, from the parent's side: its pid and the parent's end of a socket pair (a
 * socket, so that a byte sent to a child that died is an error, not a SIGPIPE).  The parent
 * sends one byte when the log is there; the child sends one when it is ready, then its
 * follow_result. */
typedef struct child {
    pid_t pid;
    int fd;
} child;

/* Read len bytes from fd within timeout_ms in all: 0, or -1 at end of file, on an error or
 * when the time is up. */
static int read_within(int fd, void *buf, size_t len, int timeout_ms)
{
    const uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    unsigned char *p = buf;
    while (len) {
        uint64_t now = bench_now_ns();
        if (now >= end)
            return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        int rc = poll(&pf, 1, (int)((end - now) / 1000000u) + 1);
        if (rc == 0 || (rc < 0 && errno == EINTR))
            continue;
        if (rc < 0)
            return -1;
        ssize_t got = read(fd, p, len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

/* ---- the follower (the child) ---------------------------------------------------------- */

/* p50, p99, p99.9 and max of n latencies (sorts them). */
static void percentiles(uint64_t *lat, uint64_t n, uint64_t p[4])
{
    bench_sort_u64(lat, n);
    p[0] = lat[n / 2];
    p[1] = lat[n * 99 / 100];
    p[2] = lat[n * 999 / 1000];
    p[3] = lat[n - 1];
}

/* Read job->n records as they come, timing each when it is a timed job.  A wait is counted
 * as long when it lasted longer than the spin: the follower went to sleep in it. */
static int follow_records(maplog_reader *r, const follow_job *job, int out, follow_result *res)
{
    uint64_t *lat = job->timed ? malloc(job->n * sizeof *lat) : NULL;
    if (job->timed && !lat)
        return F_NOMEM;
    if (lat) /* fault its pages in now, not while timing (not zeros: malloc may be calloc) */
        memset(lat, 0xff, job->n * sizeof *lat);
    if (write(out, "r", 1) != 1)
        return F_PIPE;
    uint64_t last = bench_now_ns();
    maplog_record rec;
    while (res->records < job->n) {
        int rc = maplog_reader_next(r, &rec);
        if (rc == 0) {
            uint64_t now = bench_now_ns(), sent;
            if (lat && rec.len < sizeof sent)
                return F_SHORT;
            if (lat) {
                memcpy(&sent, rec.data, sizeof sent);
                lat[res->records] = now - sent;
            }
            if (res->records++ == 0)
                res->first_ns = now;
            last = now;
            continue;
        }
        if (rc != MAPLOG_END)
            return F_NEXT;
        uint64_t w0 = bench_now_ns();
        rc = maplog_reader_wait(r, GIVE_UP_MS);
        uint64_t w1 = bench_now_ns();
        res->waits++;
        res->long_waits += w1 - w0 > SPIN_NS;
        if (rc == MAPLOG_ETIMEDOUT || w1 - last > (uint64_t)GIVE_UP_MS * 1000000u)
            return F_STALL;
        if (rc)
            return F_WAIT;
    }
    res->last_ns = last;
    if (lat)
        percentiles(lat, job->n, res->p);
    free(lat);
    return 0;
}

static int64_t tv_ns(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

/* Wait in maplog_reader_wait(r, 1000) calls for job->idle_s, and take this process's CPU
 * time and voluntary context switches (wake-ups) over that time. */
static int follow_idle(maplog_reader *r, const follow_job *job, int out, follow_result *res)
{
    maplog_record rec;
    int rc;
    while ((rc = maplog_reader_next(r, &rec)) == 0 && res->records < 1000000)
        res->records++; /* to the end, in case a record is there */
    if (rc != MAPLOG_END)
        return F_NEXT;
    if (write(out, "r", 1) != 1)
        return F_PIPE;
    struct rusage u0, u1;
    getrusage(RUSAGE_SELF, &u0);
    const uint64_t t0 = bench_now_ns(), end = t0 + (uint64_t)(job->idle_s * 1e9);
    uint64_t now;
    while ((now = bench_now_ns()) < end) {
        uint64_t left_ms = (end - now) / 1000000u + 1;
        rc = maplog_reader_wait(r, left_ms < 1000 ? (int)left_ms : 1000);
        res->waits++;
        if (rc != 0 && rc != MAPLOG_ETIMEDOUT)
            return F_WAIT;
        while (rc == 0 && (rc = maplog_reader_next(r, &rec)) == 0)
            res->records++; /* nobody appends, but a wait may end early: read what is there */
        if (rc != 0 && rc != MAPLOG_END && rc != MAPLOG_ETIMEDOUT)
            return F_NEXT;
    }
    now = bench_now_ns();
    getrusage(RUSAGE_SELF, &u1);
    res->secs = (double)(now - t0) / 1e9;
    res->cpu_ns = tv_ns(u1.ru_utime) - tv_ns(u0.ru_utime) + tv_ns(u1.ru_stime) - tv_ns(u0.ru_stime);
    res->nvcsw = u1.ru_nvcsw - u0.ru_nvcsw;
    return 0;
}

/* The child: wait for go, open a reader, do the job, send the result. */
static _Noreturn void follower_main(const follow_job *job, int fd)
{
    char go;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
    if (read_within(fd, &go, 1, SLACK_MS))
        _exit(F_NOGO);
    maplog_reader *r;
    if (maplog_reader_open(&r, job->dir, 0))
        _exit(F_OPEN);
    follow_result res;
    memset(&res, 0, sizeof res);
    int rc = job->n ? follow_records(r, job, fd, &res) : follow_idle(r, job, fd, &res);
    maplog_reader_close(r);
    if (rc)
        _exit(rc);
    if (write(fd, &res, sizeof res) != (ssize_t)sizeof res)
        _exit(F_PIPE);
    _exit(0);
}

/* ---- the parent's side ----------------------------------------------------------------- */

/* Fork a follower for job; it waits for go() before it opens the log. */
static child spawn(bench *b, const follow_job *job)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        bench_die("socketpair", strerror(errno));
    fflush(stdout); /* nothing buffered twice (the child leaves with _exit anyway) */
    if (b->csv)
        fflush(b->csv);
    child c = {fork(), sv[0]};
    if (c.pid < 0)
        bench_die("fork", strerror(errno));
    if (c.pid == 0) {
        close(sv[0]);
        follower_main(job, sv[1]);
    }
    close(sv[1]);
    return c;
}

/* Tell the child the log is there and wait until it is ready: 0, or -1 (finish() says
 * why). */
static int go(child *c)
{
    char ready;
    if (send(c->fd, "g", 1, MSG_NOSIGNAL) != 1)
        return -1;
    return read_within(c->fd, &ready, 1, SLACK_MS);
}

/* The child's result within timeout_ms, else kill it; reap it.  0, or -1 with why. */
static int finish(child *c, follow_result *res, int timeout_ms, char *why, size_t cap)
{
    int got = read_within(c->fd, res, sizeof *res, timeout_ms) == 0, st = 0;
    if (!got)
        kill(c->pid, SIGKILL); /* ours, and not reaped yet: no other process has its pid */
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
    }
    close(c->fd);
    if (got && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) > 0 && WEXITSTATUS(st) < F_MAX)
        snprintf(why, cap, "the follower failed: %s", failures[WEXITSTATUS(st)]);
    else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && !got)
        snprintf(why, cap, "the follower did not answer in time and was killed");
    else
        snprintf(why, cap, "the follower ended with status 0x%x", (unsigned)st);
    return -1;
}

static void failed_row(bench *b, const char *sys, const char *why)
{
    printf("  follow   %-23s FAILED: %s\n", sys, why);
    if (b->csv) {
        fprintf(b->csv, "follow,");
        bench_csv_field(b->csv, sys);
        fprintf(b->csv, ",%d,1,,,,,", REC);
        bench_csv_field(b->csv, why);
        fputc('\n', b->csv);
    }
    fflush(stdout);
}

/* ---- append-to-next latency ------------------------------------------------------------ */

/* Append n records, each stamped with CLOCK_MONOTONIC just before its append, one every
 * pace_ns (0: as fast as it can).  It waits for each slot on the clock in a sched_yield()
 * loop (nanosleep's granularity, 50-60 us, is coarser than the gaps); a writer that falls
 * more than a gap behind starts again from now, never catching up in a burst.  Returns the
 * seconds the run took. */
static double append_paced(maplog *log, uint64_t n, uint64_t pace_ns)
{
    unsigned char buf[REC];
    memset(buf, 'f', sizeof buf);
    const uint64_t t0 = bench_now_ns();
    uint64_t next = t0;
    for (uint64_t i = 0; i < n; i++) {
        if (pace_ns) {
            uint64_t now;
            while ((now = bench_now_ns()) < next)
                sched_yield();
            next = (now - next > pace_ns ? now : next) + pace_ns;
        }
        uint64_t t = bench_now_ns();
        memcpy(buf, &t, sizeof t);
        if (maplog_append(log, buf, sizeof buf, NULL))
            bench_die("append", maplog_errmsg(log));
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* What one latency run measured, besides the follower's answer. */
typedef struct lat_run {
    const char *sys;
    uint64_t n, pace_ns;
    double secs;     /* the writer's run */
    uint64_t end_ns; /* when the writer's last append returned */
    int64_t wakes;   /* the writer's MAPLOG_WINFO_WAKE_CALLS */
    int64_t rolls;
} lat_run;

/* One row: the percentiles, the target met or missed, and what the follower did. */
static void latency_row(bench *b, const lat_run *w, const follow_result *f)
{
    int ten_k = w->pace_ns >= 100000;
    uint64_t v = ten_k ? f->p[1] : f->p[2], goal = ten_k ? 50000 : 2000;
    char note[512];
    int k = snprintf(note, sizeof note,
                     "target %s <= %" PRIu64 " us: %s; %" PRIu64 " records at %.1fK/s, %" PRId64
                     " rollovers; ",
                     ten_k ? "p99" : "p99.9", goal / 1000, v <= goal ? "met" : "missed", w->n,
                     (double)w->n / w->secs / 1e3, w->rolls);
    double rd = (double)(f->last_ns - f->first_ns) / 1e9, gap = w->secs * 1e9 / (double)w->n;
    if (!w->pace_ns && (double)f->p[0] >= 10 * gap) /* the median record queued behind 10 */
        snprintf(note + k, sizeof note - (size_t)k,
                 "backlog figure: the median record waited behind ~%.0f earlier ones (p50 over "
                 "the mean %.0f ns between appends); the writer appended at %.1f M/s, the "
                 "follower read at %.1f M/s and finished %.0f us after the last append",
                 (double)f->p[0] / gap, gap, (double)w->n / w->secs / 1e6,
                 rd > 0 ? (double)w->n / rd / 1e6 : 0,
                 (double)(int64_t)(f->last_ns - w->end_ns) / 1e3);
    else
        snprintf(note + k, sizeof note - (size_t)k,
                 "follower asleep at %.2f%% of records (writer's wake calls / records); "
                 "%.2f%% came after a wait longer than the spin",
                 100.0 * (double)w->wakes / (double)w->n,
                 100.0 * (double)f->long_waits / (double)w->n);
    printf("  follow   %-23s %3d B  p50 %6" PRIu64 " ns  p99 %6" PRIu64 " ns  p99.9 %7" PRIu64
           " ns  max %9" PRIu64 " ns  %s\n",
           w->sys, REC, f->p[0], f->p[1], f->p[2], f->p[3], note);
    if (b->csv) {
        fprintf(b->csv, "follow,");
        bench_csv_field(b->csv, w->sys);
        fprintf(b->csv, ",%d,1,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", REC, f->p[0],
                f->p[1], f->p[2], f->p[3]);
        bench_csv_field(b->csv, note);
        fputc('\n', b->csv);
    }
    fflush(stdout);
}

/* A writer appends n records one every pace_ns into a log of 1 MiB segments, and a
 * follower in another process reads them as they come. */
static void latency_run(bench *b, const char *sys, uint64_t n, uint64_t pace_ns)
{
    const bench_path dir = bench_file(b, "follow");
    bench_rm_rf(dir.s);
    ml_conf small = bench_ml_default(b);
    small.seg = 1 << 20;
    const follow_job job = {dir.s, n, 1, 0};
    child c = spawn(b, &job);
    maplog *log = bench_ml_open(&small, dir.s);
    lat_run w = {sys, n, pace_ns, 0, 0, 0, 0};
    int started = go(&c) == 0;
    if (started) {
        const struct timespec settle = {0, 100000000};
        nanosleep(&settle, NULL); /* the open's own work done: the first spare made */
        w.secs = append_paced(log, n, pace_ns);
        w.end_ns = bench_now_ns();
        maplog_writer_info_get(log, MAPLOG_WINFO_WAKE_CALLS, &w.wakes);
    }
    follow_result f;
    char why[160];
    int ok = finish(&c, &f, started ? SLACK_MS : 0, why, sizeof why) == 0 && started;
    bench_ml_close(log);
    w.rolls = bench_segments(dir.s) - 1;
    bench_rm_rf(dir.s);
    if (ok)
        latency_row(b, &w, &f);
    else
        failed_row(b, sys, why);
}

/* ---- an idle follower ------------------------------------------------------------------ */

static void idle_rows(bench *b, const follow_result *f)
{
    double cpu = 100.0 * (double)f->cpu_ns / 1e9 / f->secs, wps = (double)f->nvcsw / f->secs;
    char note[2][256];
    snprintf(note[0], sizeof note[0],
             "target < 1%%: %s; user+sys of the follower (getrusage) over %.1f s of "
             "maplog_reader_wait(r, 1000) calls (%" PRIu64 "), nothing appended",
             cpu < 1 ? "met" : "missed", f->secs, f->waits);
    snprintf(note[1], sizeof note[1],
             "target <= 10/s: %s; the follower's voluntary context switches (%" PRId64
             ") per second",
             wps <= 10 ? "met" : "missed", f->nvcsw);
    const char *sys[2] = {"idle: CPU, % of a core", "idle: wake-ups/s"};
    double v[2] = {cpu, wps};
    for (int i = 0; i < 2; i++) {
        printf("  follow   %-23s %9.3f  %s\n", sys[i], v[i], note[i]);
        if (b->csv) {
            fprintf(b->csv, "follow,");
            bench_csv_field(b->csv, sys[i]);
            fprintf(b->csv, ",0,1,%.3f,,,,", v[i]);
            bench_csv_field(b->csv, note[i]);
            fputc('\n', b->csv);
        }
    }
    fflush(stdout);
}

/* A follower waits on a log whose writer is open and appends nothing. */
static void idle_run(bench *b)
{
    const bench_path dir = bench_file(b, "follow-idle");
    bench_rm_rf(dir.s);
    const ml_conf dflt = bench_ml_default(b);
    const follow_job job = {dir.s, 0, 0, b->opt.quick ? 2.0 : 10.0};
    printf("\nan idle follower: a live writer that appends nothing, for %.0f s\n", job.idle_s);
    child c = spawn(b, &job);
    maplog *log = bench_ml_open(&dflt, dir.s);
    int started = go(&c) == 0;
    follow_result f;
    char why[160];
    int ok =
        finish(&c, &f, started ? (int)(job.idle_s * 1000) + SLACK_MS : 0, why, sizeof why) == 0 &&
        started;
    bench_ml_close(log);
    bench_rm_rf(dir.s);
    if (ok)
        idle_rows(b, &f);
    else
        failed_row(b, "idle", why);
}

/* ---- the writer's cost ----------------------------------------------------------------- */

/* The wake word of the log in dir (FORMAT.md, "The wake page"), read through the file. */
static uint32_t wake_word(const char *dir)
{
    char path[4200];
    uint32_t w = 0;
    snprintf(path, sizeof path, "%s/maplog.lock", dir);
    FILE *f = fopen(path, "rb");
    if (f && (fseek(f, 64, SEEK_SET) != 0 || fread(&w, sizeof w, 1, f) != 1))
        w = 0;
    if (f)
        fclose(f);
    return w;
}

/* The kinds of run of the writer's cost. */
enum { NONE, READING, ASLEEP, KINDS };
static const char *const kind_name[KINDS] = {"append: no follower", "append: one follower",
                                             "append: follower asleep"};

/* Put the follower c to sleep for good: it waits at the end of an empty log, and once its
 * bit is in the wake word it is stopped (SIGSTOP), so it stays asleep while the writer
 * appends -- the writer pays for a follower asleep, not for one taking a CPU.  0, or -1
 * with why. */
static int stop_asleep(child *c, const char *dir, char *why, size_t cap)
{
    for (int i = 0; i < 2000; i++) { /* up to 2 s for its bit */
        if (wake_word(dir) & 1u) {
            usleep(2000); /* from its bit to FUTEX_WAIT: well under this */
            kill(c->pid, SIGSTOP);
            return 0;
        }
        usleep(1000);
    }
    snprintf(why, cap, "the follower never set its bit in the wake word");
    return -1;
}

/* One run: n appends as fast as the writer can, default options, of kind NONE, READING or
 * ASLEEP.  *rate is records/s, *wpa the writer's wake calls per append.  0, or -1 with
 * why. */
static int rate_run(bench *b, int kind, uint64_t n, double *rate, double *wpa, char *why,
                    size_t cap)
{
    const bench_path dir = bench_file(b, "follow-rate");
    bench_rm_rf(dir.s);
    const ml_conf dflt = bench_ml_default(b);
    const follow_job job = {dir.s, kind == READING ? n : 0, 0, kind == ASLEEP ? 3600 : 0};
    child c = {0, -1};
    if (kind != NONE)
        c = spawn(b, &job);
    maplog *log = bench_ml_open(&dflt, dir.s);
    int started = kind == NONE || go(&c) == 0;
    if (started && kind == ASLEEP && stop_asleep(&c, dir.s, why, cap))
        started = 0;
    if (started) {
        unsigned char buf[REC];
        memset(buf, 'f', sizeof buf);
        double t0 = bench_now();
        for (uint64_t i = 0; i < n; i++)
            if (maplog_append(log, buf, sizeof buf, NULL))
                bench_die("append", maplog_errmsg(log));
        *rate = (double)n / (bench_now() - t0);
        int64_t wakes = 0;
        maplog_writer_info_get(log, MAPLOG_WINFO_WAKE_CALLS, &wakes);
        *wpa = (double)wakes / (double)n;
    }
    follow_result f;
    int ok = started;
    if (kind == ASLEEP) { /* it has nothing to report: end it */
        kill(c.pid, SIGKILL);
        kill(c.pid, SIGCONT);
        finish(&c, &f, 0, why, cap);
    } else if (kind == READING) {
        ok = started && finish(&c, &f, SLACK_MS, why, cap) == 0;
        if (!started)
            finish(&c, &f, 0, why, cap);
    }
    bench_ml_close(log);
    bench_rm_rf(dir.s);
    return ok ? 0 : -1;
}

static void rate_row(bench *b, const char *sys, stat3 r, stat3 w, int reps)
{
    char note[160];
    snprintf(note, sizeof note, "wake calls/append %.2g (max %.2g); median of %d runs", w.med,
             w.max, reps);
    printf("  follow   %-23s %3d B %6.2f M rec/s (%.2f..%.2f) %8.1f MB/s  %s\n", sys, REC,
           r.med / 1e6, r.min / 1e6, r.max / 1e6, r.med * REC / 1e6, note);
    if (b->csv) {
        fprintf(b->csv, "follow,");
        bench_csv_field(b->csv, sys);
        fprintf(b->csv, ",%d,1,%.0f,%.0f,%.0f,%.1f,", REC, r.med, r.min, r.max, r.med * REC / 1e6);
        bench_csv_field(b->csv, note);
        fputc('\n', b->csv);
    }
}

/* The ratio of a kind's rate to no follower's, and whether it is within the runs' noise. */
static void rate_ratio(bench *b, const char *sys, stat3 none, stat3 one, int takes_cpu)
{
    double ratio = one.med / none.med;
    int overlap = one.max >= none.min && one.min <= none.max;
    char note[256];
    snprintf(note, sizeof note, "%s%s",
             overlap              ? "within noise: the two spreads overlap"
             : one.med < none.med ? "slower: the spreads do not overlap"
                                  : "faster: the spreads do not overlap",
             takes_cpu && one.med < none.med && sysconf(_SC_NPROCESSORS_ONLN) <= 2
                 ? "; on this 2-core machine the reading follower holds a core that the "
                   "writer's background threads (segment maker, pre-faulter, flusher) "
                   "otherwise use"
                 : "");
    printf("  follow   %-23s %9.3f  %s\n", sys, ratio, note);
    if (b->csv) {
        fprintf(b->csv, "follow,");
        bench_csv_field(b->csv, sys);
        fprintf(b->csv, ",%d,1,%.3f,,,,", REC, ratio);
        bench_csv_field(b->csv, note);
        fputc('\n', b->csv);
    }
    fflush(stdout);
}

/* The writer's append rate with no follower, one reading and one asleep, runs in turn. */
static void cost_runs(bench *b)
{
    const uint64_t n = b->opt.quick ? 500000 : 2000000;
    const int reps = b->opt.reps < 3 ? 3 : b->opt.reps;
    double rate[KINDS][BENCH_MAX_REPS], wpa[KINDS][BENCH_MAX_REPS];
    printf("\nthe writer's cost: %" PRIu64 " appends of %d B as fast as it can, default options: "
           "with no follower; with one in another process that reads (it spins, reads, "
           "sleeps); and with one asleep (stopped once its bit is in the wake word, so it "
           "stays asleep and holds no CPU)\n",
           n, REC);
    for (int rep = 0; rep < reps; rep++)
        for (int k = 0; k < KINDS; k++) {
            int kind = (k + rep) % KINDS; /* each kind first in turn */
            char why[160];
            if (rate_run(b, kind, n, &rate[kind][rep], &wpa[kind][rep], why, sizeof why)) {
                failed_row(b, kind_name[kind], why);
                return;
            }
        }
    stat3 r[KINDS];
    for (int k = 0; k < KINDS; k++) {
        r[k] = bench_summarize(rate[k], reps);
        rate_row(b, kind_name[k], r[k], bench_summarize(wpa[k], reps), reps);
    }
    rate_ratio(b, "append: reading / none", r[NONE], r[READING], 1);
    rate_ratio(b, "append: asleep / none", r[NONE], r[ASLEEP], 0);
}

void bench_follow(bench *b)
{
    const uint64_t n10k = b->opt.quick ? 20000 : 100000, n100k = b->opt.quick ? 100000 : 300000;
    printf("\nappend-to-next latency, follower in another process: %d-byte records stamped with "
           "CLOCK_MONOTONIC just before maplog_append, read off the clock when "
           "maplog_reader_next returns them; 1 MiB segments\n",
           REC);
    printf("  the follower keeps the default spin, %d us (MAPLOG_READER_SPIN_US), at every "
           "rate: at 10K/s records are 100 us apart, so it sleeps between them; the writer "
           "starts 100 ms after it opened the log and paces on the clock in a sched_yield "
           "loop\n",
           MAPLOG_READER_SPIN_US);
    latency_run(b, "append->next 10K/s", n10k, 100000);
    latency_run(b, "append->next 100K/s", n100k, 10000);
    latency_run(b, "append->next full speed", 200000, 0);
    idle_run(b);
    cost_runs(b);
}
