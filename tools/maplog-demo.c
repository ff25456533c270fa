/*
 * maplog-demo -- the main job, end to end, in one run:
 *
 *   1. a writer process logs a stream of application events as fast as it can, and after
 *      each append returns it publishes "acknowledged up to N" in a shared page;
 *   2. the demo kills that writer with SIGKILL in the middle of the stream;
 *   3. it opens the log again (recovery), replays every record verifying every CRC, checks
 *      that every acknowledged event is there and intact, and says how fast each step was;
 *   4. it dumps the first and last few events, as an operator would with `maplog dump`.
 *
 * Usage: maplog-demo [DIR] [MILLISECONDS]   (default ./demo-log, 700 ms of logging)
 * Uses only the public header, like any application.
 */
#define _GNU_SOURCE
#include "maplog.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const kinds[] = {"login", "order", "payment", "shipment", "logout"};

/* The event for sequence number n: deterministic, so replay can check it. */
static int event(char *buf, size_t cap, uint64_t n)
{
    return snprintf(buf, cap,
                    "{\"event\":\"%s\",\"id\":%" PRIu64 ",\"user\":%" PRIu64
                    ",\"amount_cents\":%" PRIu64 "}",
                    kinds[n % 5], n, (n * 7919) % 10007, (n * 104729) % 100000);
}

/* A file maplog makes in a log directory: a segment (plain or archived), the lock, a spare,
 * a side file of recovery or an archive being written. */
static int maplog_file(const char *name)
{
    size_t l = strlen(name);
    int digits = l >= 20 && strspn(name, "0123456789") == 20;
    return (digits && (strcmp(name + 20, ".mlog") == 0 || strcmp(name + 20, ".mlogz") == 0 ||
                       strncmp(name + 20, ".mlog.tail-", 11) == 0 ||
                       strncmp(name + 20, ".mlogz.tmp", 10) == 0)) ||
           strcmp(name, "maplog.lock") == 0 || strncmp(name, "next.mlog-spare", 15) == 0;
}

/* Is the log in dir one an earlier run of the demo wrote, and no writer holds?  Its first
 * record is the demo's event for its sequence number.  Anything else is refused: the demo
 * removes only its own logs. */
static int demo_log(const char *dir)
{
    maplog_reader *r;
    maplog_record rec;
    char want[256];
    int64_t open = 0;
    if (maplog_reader_open(&r, dir, 0)) {
        fprintf(stderr, "maplog-demo: %s holds a log that cannot be read (%s)\n", dir,
                maplog_last_open_error());
        return 0;
    }
    if (maplog_reader_info_get(r, MAPLOG_INFO_CLEAN_SHUTDOWN, &open) == 0 && open == -1) {
        fprintf(stderr, "maplog-demo: %s: another process has this log open for writing\n", dir);
        maplog_reader_close(r);
        return 0;
    }
    int rc = maplog_reader_next(r, &rec), ours = rc == MAPLOG_END;
    if (rc == 0) {
        int len = event(want, sizeof want, rec.seq);
        ours = rec.len == (size_t)len && memcmp(rec.data, want, rec.len) == 0;
    }
    if (!ours)
        fprintf(stderr, "maplog-demo: %s holds a log the demo did not write\n", dir);
    maplog_reader_close(r);
    return ours;
}

/* A fresh log each run: DIR is made, or emptied of a log an earlier run of the demo left
 * (maplog's own files only).  -1, having said why, for any other log. */
static int prepare_dir(const char *dir)
{
    if (mkdir(dir, 0750) && errno != EEXIST) {
        fprintf(stderr, "maplog-demo: cannot make %s: %s\n", dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096];
    if (!d) {
        fprintf(stderr, "maplog-demo: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int have_log = 0;
    while ((e = readdir(d)))
        have_log |= maplog_file(e->d_name) && strcmp(e->d_name, "maplog.lock");
    if (have_log && !demo_log(dir)) {
        closedir(d);
        fprintf(stderr, "maplog-demo: it writes a new log each run and removes only one it "
                        "wrote itself: give it an empty or new directory\n");
        return -1;
    }
    rewinddir(d);
    while ((e = readdir(d))) {
        if (maplog_file(e->d_name)) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    return 0;
}

static void writer(const char *dir, _Atomic uint64_t *acked)
{
    maplog *log;
    maplog_options *o;
    char buf[256];
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, 16 << 20);
    int rc = maplog_open(&log, dir, o);
    maplog_options_free(o);
    if (rc) {
        fprintf(stderr, "writer: %s\n", maplog_last_open_error());
        _exit(1);
    }
    for (uint64_t n = 0;; n++) {
        int len = event(buf, sizeof buf, n);
        uint64_t seq;
        if ((rc = maplog_append(log, buf, (size_t)len, &seq)) != 0) {
            fprintf(stderr, "writer: append: %s\n", maplog_errmsg(log));
            _exit(1);
        }
        atomic_store_explicit(acked, seq + 1, memory_order_release);
    }
}

static void show(const maplog_record *r)
{
    time_t secs = (time_t)(r->timestamp_ns / 1000000000u);
    struct tm tm;
    char when[40];
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    printf("  seq %-9" PRIu64 " %s.%09" PRIu64 "Z  %3zu bytes  %.*s\n", r->seq, when,
           r->timestamp_ns % 1000000000u, r->len, (int)r->len, (const char *)r->data);
}

/* MILLISECONDS: all digits, 1 to a day; anything else (12x, 0, -5, empty) is refused. */
static int parse_ms(const char *s, int *ms)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v < 1 || v > 86400000ul)
        return -1;
    *ms = (int)v;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: maplog-demo [DIR] [MILLISECONDS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "demo-log";
    int ms = 700;
    if (argc > 3 || (argc > 1 && argv[1][0] == '-'))
        return usage();
    if (argc > 2 && parse_ms(argv[2], &ms)) {
        fprintf(stderr,
                "maplog-demo: MILLISECONDS must be a whole number from 1 to 86400000, not "
                "'%s'\n",
                argv[2]);
        return usage();
    }
    if (prepare_dir(dir))
        return 1;
    printf("maplog %s demo: logging events into %s for %d ms, then SIGKILL the writer\n",
           maplog_version(), dir, ms);

    _Atomic uint64_t *acked =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (acked == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    atomic_store(acked, 0);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0)
        writer(dir, acked);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    double t_write = now_s() - t0;
    uint64_t n_acked = atomic_load_explicit(acked, memory_order_acquire);
    if (!WIFSIGNALED(st)) {
        fprintf(stderr, "the writer ended by itself (status %d)\n", st);
        return 1;
    }
    printf("1. writer killed by signal %d after %.2f s with %" PRIu64
           " events acknowledged (%.1f M events/s, includes start-up)\n",
           WTERMSIG(st), t_write, n_acked, (double)n_acked / t_write / 1e6);

    /* 2. recovery */
    maplog *log;
    double t1 = now_s();
    int rc = maplog_open(&log, dir, NULL);
    if (rc) {
        fprintf(stderr, "recovery failed: %s\n", maplog_last_open_error());
        return 1;
    }
    uint64_t next;
    maplog_next_seq(log, &next);
    double t_rec = now_s() - t1;
    printf("2. recovery: reopened in %.1f ms; the log holds %" PRIu64 " records (%" PRIu64
           " acknowledged, %" PRIu64 " more were written before the kill)\n",
           t_rec * 1e3, next, n_acked, next - n_acked);
    maplog_close(log);

    /* 3. replay, verifying every CRC and every event's content */
    maplog_reader *r;
    maplog_record rec;
    char want[256];
    uint64_t count = 0, bytes = 0, bad = 0;
    double t2 = now_s();
    if ((rc = maplog_reader_open(&r, dir, 0))) {
        fprintf(stderr, "reader: %s\n", maplog_last_open_error());
        return 1;
    }
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        int len = event(want, sizeof want, rec.seq);
        if (rec.seq != count || rec.len != (size_t)len || memcmp(rec.data, want, rec.len))
            bad++;
        count++;
        bytes += rec.len;
    }
    double t_replay = now_s() - t2;
    if (rc != MAPLOG_END) {
        fprintf(stderr, "replay stopped: %s\n", maplog_reader_errmsg(r));
        return 1;
    }
    int64_t segs;
    maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
    maplog_reader_close(r);
    printf("3. replay: %" PRIu64 " records in %" PRId64 " segments, %.1f MB of events, in %.1f ms "
           "(%.1f M records/s, %.0f MB/s), every CRC verified\n",
           count, segs, (double)bytes / 1e6, t_replay * 1e3, (double)count / t_replay / 1e6,
           (double)bytes / t_replay / 1e6);
    int ok = bad == 0 && count >= n_acked && count == next;
    printf("   every acknowledged event present and intact: %s\n", ok ? "yes" : "NO");
    if (!ok) {
        fprintf(stderr, "%" PRIu64 " records differ from what was written\n", bad);
        return 1;
    }

    /* 4. dump the first and last events */
    printf("4. dump (first and last 3 events):\n");
    maplog_reader_open(&r, dir, 0);
    for (int i = 0; i < 3 && maplog_reader_next(r, &rec) == 0; i++)
        show(&rec);
    printf("  ...\n");
    if (count >= 3 && maplog_reader_seek(r, count - 3) == 0)
        while (maplog_reader_next(r, &rec) == 0)
            show(&rec);
    maplog_reader_close(r);
    printf("done: the log is in %s\n", dir);
    return 0;
}
