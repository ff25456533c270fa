/*
 * workloads.c -- throughput and memory.
 *
 *   append  N records of each size, 1, 2 and 4 threads, into every store; two limits:
 *           memcpy into pre-faulted anonymous memory and into a pre-faulted MAP_SHARED file
 *           mapping with no headers; and the cost of getting new file pages for that much
 *           data (create, fallocate, fault in), which the limits leave outside their clocks
 *           and a store appending to new files cannot.
 *   replay  the same logs read back by every store that replays; a limit: every cache line
 *           of maplog's files read through mappings, unchecked.
 *   rss     peak resident memory while replaying a log larger than memory allowed.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct job {
    const store *st;
    void *h;
    int size;
    uint64_t from, n;
    unsigned char *buf;
} job;

static void *append_thread(void *arg)
{
    job *j = arg;
    for (uint64_t i = j->from; i < j->from + j->n; i++) {
        memcpy(j->buf, &i, 8); /* vary the payload a little */
        if (j->st->append(j->h, j->buf, (size_t)j->size, i))
            bench_die("append", j->st->name);
    }
    return NULL;
}

/* Append n records of size into a new st in dir with t threads; returns records/s (the
 * appends only). */
double bench_run_append(const store *st, const ml_conf *ml, const char *dir, int size, int t,
                        uint64_t n)
{
    bench_rm_rf(dir);
    void *h = st->open(ml, dir);
    job jobs[BENCH_MAX_THREADS];
    pthread_t th[BENCH_MAX_THREADS];
    for (int k = 0; k < t; k++) {
        jobs[k] = (job){st, h, size, n / (uint64_t)t * (uint64_t)k, n / (uint64_t)t, NULL};
        jobs[k].buf = malloc((size_t)size + 8);
        memset(jobs[k].buf, 'a' + k, (size_t)size + 8);
    }
    double t0 = bench_now();
    if (t == 1) {
        append_thread(&jobs[0]);
    } else {
        for (int k = 0; k < t; k++)
            pthread_create(&th[k], NULL, append_thread, &jobs[k]);
        for (int k = 0; k < t; k++)
            pthread_join(th[k], NULL);
    }
    double dt = bench_now() - t0;
    st->close(h);
    for (int k = 0; k < t; k++)
        free(jobs[k].buf);
    return (double)(n / (uint64_t)t * (uint64_t)t) / dt;
}

/* The limits: memcpy of the payloads, back to back, into pre-faulted memory. */
static double run_limit(const bench *b, int shared, int size, uint64_t n)
{
    size_t total = (size_t)n * (size_t)size;
    unsigned char *dst, *src = malloc((size_t)size + 8);
    int fd = -1;
    memset(src, 'x', (size_t)size + 8);
    if (shared) {
        dst = bench_map_new_file(b, "limit.bin", total, &fd);
    } else {
        dst = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (dst == MAP_FAILED)
            bench_die("mmap", strerror(errno));
    }
    bench_populate(dst, total);
    double t0 = bench_now();
    unsigned char *p = dst;
    for (uint64_t i = 0; i < n; i++, p += size) {
        memcpy(src, &i, 8);
        memcpy(p, src, (size_t)size);
    }
    double dt = bench_now() - t0;
    munmap(dst, total);
    if (fd >= 0) {
        close(fd);
        unlink(bench_file(b, "limit.bin").s);
    }
    free(src);
    return (double)n / dt;
}

/* What a file-backed store pays before it writes a byte: new files of the run's size, in
 * segment-sized pieces, created, fallocate'd and faulted in writable (MADV_POPULATE_WRITE),
 * with no data.  The limits above fault their pages in outside the timed region; a store
 * that appends into new files cannot.  Returns records/s (the records whose payload bytes
 * got pages). */
static double run_new_pages(const bench *b, int size, uint64_t n)
{
    uint64_t total = n * (uint64_t)size, seg = (uint64_t)b->opt.seg;
    int files = 0;
    double t0 = bench_now();
    for (uint64_t done = 0; done < total; done += seg, files++) {
        char name[32];
        snprintf(name, sizeof name, "pages.%d", files);
        /* the last file only as large as what is left, so the cost is for total bytes */
        uint64_t sz = total - done < seg ? (total - done + 4095) & ~(uint64_t)4095 : seg;
        int fd;
        unsigned char *m = bench_map_new_file(b, name, sz, &fd);
        bench_populate(m, sz);
        munmap(m, sz);
        close(fd);
    }
    double dt = bench_now() - t0;
    for (int k = 0; k < files; k++) {
        char name[32];
        snprintf(name, sizeof name, "pages.%d", k);
        unlink(bench_file(b, name).s);
    }
    return (double)n / dt;
}

/* Append n records of size bytes with t threads into st (a maplog store opened with ml),
 * --reps times, and print the row as name; with lim (the shared-map limit's median) > 0,
 * the row says how far it is. */
static void append_row(bench *b, const store *st, const ml_conf *ml, const char *name, int size,
                       int t, uint64_t n, double lim)
{
    double v[BENCH_MAX_REPS];
    for (int r = 0; r < b->opt.reps; r++)
        v[r] = bench_run_append(st, ml, bench_file(b, "store").s, size, t, n);
    stat3 s = bench_summarize(v, b->opt.reps);
    char note[64] = "";
    if (lim > 0)
        snprintf(note, sizeof note, "%.0f%% of shared-map limit", 100 * s.med / lim);
    bench_row(b, "append", name, size, t, s, note);
}

/* The limits and the new-pages cost for one size; returns the shared-map limit. */
static stat3 append_limits(bench *b, int size, uint64_t n)
{
    double v[BENCH_MAX_REPS];
    stat3 lim_shared = {0, 0, 0};
    for (int lim = 0; lim < 2; lim++) {
        for (int r = 0; r < b->opt.reps; r++)
            v[r] = run_limit(b, lim, size, n);
        stat3 s = bench_summarize(v, b->opt.reps);
        if (lim)
            lim_shared = s;
        bench_row(b, "append", lim ? "limit: memcpy shared map" : "limit: memcpy anon", size, 1, s,
                  NULL);
    }
    for (int r = 0; r < b->opt.reps; r++)
        v[r] = run_new_pages(b, size, n);
    bench_row(b, "append", "cost: new file pages", size, 1, bench_summarize(v, b->opt.reps),
              "create+fallocate+fault in, no data");
    return lim_shared;
}

void bench_append(bench *b)
{
    printf("\nappend (median of %d; spread in parentheses)\n", b->opt.reps);
    const ml_conf dflt = bench_ml_default(b);
    for (int si = 0; si < b->opt.nsizes; si++) {
        int size = b->opt.sizes[si];
        uint64_t n = bench_nrec(b, size);
        double lim = append_limits(b, size, n).med;
        for (size_t k = 0; k < bench_nstores; k++) {
            const store *st = &bench_stores[k];
            for (int ti = 0; ti < b->opt.nthreads; ti++) {
                int t = b->opt.threads[ti];
                if (t > 1 && !st->threads_ok)
                    continue;
                append_row(b, st, &dflt, st->name, size, t, n, k == 0 ? lim : 0);
            }
        }
        /* The append path alone: a segment big enough that the run crosses no rollover,
         * so no appender waits for a spare and nothing is sealed.  Not the default (the
         * row above is); it separates the cost of the append call from the cost of
         * creating, pre-faulting and sealing segments on this machine. */
        ml_conf big = dflt;
        big.seg = 1ll << 30;
        if (n * (uint64_t)(size + 16) < (uint64_t)big.seg - 8192)
            append_row(b, &bench_stores[0], &big, "maplog (no rollover)", size, 1, n, lim);
        /* Write-back started every 8 MiB during the run (MAPLOG_OPT_FLUSH_BYTES; the default
         * is a segment's worth), for what bounding unflushed data that tightly costs here. */
        ml_conf flush = dflt;
        flush.flush_bytes = 8 << 20;
        append_row(b, &bench_stores[0], &flush, "maplog (flush 8 MiB)", size, 1, n, lim);
    }
}

/* The replay limit: every 64-byte line of maplog's segment files read through read-only
 * private mappings, in order, with the same 2 KiB read-ahead prefetch and unmapping each
 * file after it (as maplog does): the memory and page-mapping cost of any replay of those
 * bytes, with no record parsed or checked.  Returns the sum of the words read. */
static uint64_t walk_file(const char *p)
{
    int fd = open(p, O_RDONLY);
    struct stat st;
    uint64_t sum = 0;
    if (fd < 0 || fstat(fd, &st))
        bench_die("open segment", strerror(errno));
    size_t sz = (size_t)st.st_size;
    const unsigned char *m = mmap(NULL, sz, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        bench_die("mmap", strerror(errno));
    madvise((void *)(uintptr_t)m, sz, MADV_SEQUENTIAL);
    for (size_t o = 0; o < sz; o += 64) {
        if (o + 2048 < sz)
            __builtin_prefetch(m + o + 2048);
        uint64_t w;
        memcpy(&w, m + o, 8);
        sum += w;
    }
    munmap((void *)(uintptr_t)m, sz);
    close(fd);
    return sum;
}

/* The read walk as a replay function: n is not known to it, so it claims the count its
 * caller expects (set before each use). */
static uint64_t walk_n;
static uint64_t walk_replay(const char *dir, uint64_t *bytes)
{
    struct dirent **ents;
    int ne = scandir(dir, &ents, NULL, alphasort);
    if (ne < 0)
        bench_die("scandir", strerror(errno));
    volatile uint64_t sink = 0;
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        size_t l = strlen(nm);
        if (l >= 5 && !strcmp(nm + l - 5, ".mlog")) {
            char p[1300];
            snprintf(p, sizeof p, "%s/%s", dir, nm);
            sink += walk_file(p);
        }
        free(ents[i]);
    }
    free(ents);
    (void)sink;
    *bytes = 0;
    return walk_n;
}

/* The read walk over every segment of the log in dir; returns records/s for n records. */
static double run_read_walk(const char *dir, uint64_t n)
{
    uint64_t bytes;
    walk_n = n;
    double t0 = bench_now();
    walk_replay(dir, &bytes);
    return (double)n / (bench_now() - t0);
}

/* A row of a replay function, each run from a warm cache, or (cold) after evicting dir. */
static void replay_row(bench *b, const char *sys, int size, uint64_t n, const char *dir,
                       uint64_t (*fn)(const char *dir, uint64_t *bytes), int cold)
{
    double v[BENCH_MAX_REPS];
    for (int r = 0; r < b->opt.reps; r++) {
        uint64_t bytes;
        if (cold)
            bench_evict(dir);
        double t0 = bench_now();
        if (fn(dir, &bytes) != n)
            bench_die("replay count", sys);
        v[r] = (double)n / (bench_now() - t0);
    }
    bench_row(b, cold ? "replay-cold" : "replay", sys, size, 1, bench_summarize(v, b->opt.reps),
              cold ? "page cache dropped first (posix_fadvise)" : NULL);
}

/* Archive the sealed segments of the maplog log in dir (maplog_archive()): the bytes of
 * records they held over the bytes of their archives, the compression ratio. */
static double archive_store(const char *dir)
{
    maplog *log;
    maplog_options *o;
    uint64_t count = 0;
    if (maplog_options_create(&o) || maplog_open(&log, dir, o))
        bench_die("maplog_open", maplog_last_open_error());
    maplog_options_free(o);
    if (maplog_archive(log, &count) || maplog_close(log))
        bench_die("maplog_archive", maplog_errmsg(log));
    double stored = 0, packed = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 6, ".mlogz") != 0)
            continue;
        uint8_t h[32];
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h) {
            uint64_t len_stored;
            memcpy(&len_stored, h + 24, 8); /* stored_len (FORMAT.md, "Archived segments") */
            stored += (double)len_stored;
            packed += (double)st.st_size;
        }
        if (fd >= 0)
            close(fd);
    }
    if (d)
        closedir(d);
    return packed > 0 ? stored / packed : 0;
}

void bench_replay(bench *b)
{
    printf("\nreplay (maplog verifies every CRC; median of %d)\n", b->opt.reps);
    const ml_conf dflt = bench_ml_default(b);
    const bench_path store_dir = bench_file(b, "store");
    for (int si = 0; si < b->opt.nsizes; si++) {
        int size = b->opt.sizes[si];
        uint64_t n = bench_nrec(b, size);
        for (size_t k = 0; k < bench_nstores; k++) {
            const store *st = &bench_stores[k];
            if (!st->replay)
                continue;
            double v[BENCH_MAX_REPS];
            bench_run_append(st, &dflt, store_dir.s, size, 1, n);
            for (int r = 0; r < b->opt.reps; r++) {
                uint64_t bytes;
                double t0 = bench_now();
                uint64_t got = st->replay(store_dir.s, &bytes);
                v[r] = (double)got / (bench_now() - t0);
                if (got != n)
                    bench_die("replay count", st->name);
            }
            bench_row(b, "replay", k == 1 ? "read(2), no checksums" : st->name, size, 1,
                      bench_summarize(v, b->opt.reps), NULL);
            if (k == 0) {
                replay_row(b, "maplog, next_batch (64)", size, n, store_dir.s,
                           bench_ml_replay_batch, 0);
                for (int r = 0; r < b->opt.reps; r++)
                    v[r] = run_read_walk(store_dir.s, n);
                bench_row(b, "replay", "limit: mmap read walk", size, 1,
                          bench_summarize(v, b->opt.reps),
                          "maplog's files, every line, nothing checked");
                /* Cold: the log read from the disk, as after a copy off a dead machine. */
                replay_row(b, "maplog", size, n, store_dir.s, st->replay, 1);
                replay_row(b, "maplog, next_batch (64)", size, n, store_dir.s,
                           bench_ml_replay_batch, 1);
                walk_n = n;
                replay_row(b, "limit: mmap read walk", size, n, store_dir.s, walk_replay, 1);
                /* Archived: the sealed segments compressed, read back a block at a time. */
                double ratio = archive_store(store_dir.s);
                for (int r = 0; r < b->opt.reps; r++) {
                    uint64_t bytes;
                    double t0 = bench_now();
                    if (bench_ml_replay_batch(store_dir.s, &bytes) != n)
                        bench_die("replay count", "archived");
                    v[r] = (double)n / (bench_now() - t0);
                }
                char note[96];
                snprintf(note, sizeof note, "sealed segments archived, compression ratio %.2f",
                         ratio);
                bench_row(b, "replay", "maplog, next_batch (64), archived", size, 1,
                          bench_summarize(v, b->opt.reps), note);
            }
            if (k == 1)
                replay_row(b, "read(2), no checksums", size, n, store_dir.s, st->replay, 1);
        }
    }
    bench_rm_rf(store_dir.s);
}

/* Replay the log in dir in a child process, which starts with what it inherited from the
 * benchmark; grew[0] and grew[1] are its peak RSS in KB before and after. */
static void replay_in_child(const char *dir, long grew[2])
{
    int p[2];
    if (pipe(p))
        bench_die("pipe", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        struct rusage a, b2;
        uint64_t bytes;
        getrusage(RUSAGE_SELF, &a);
        bench_stores[0].replay(dir, &bytes);
        getrusage(RUSAGE_SELF, &b2);
        long got[2] = {a.ru_maxrss, b2.ru_maxrss};
        if (write(p[1], got, sizeof got) != sizeof got)
            _exit(1);
        _exit(0);
    }
    grew[0] = grew[1] = 0;
    if (read(p[0], grew, 2 * sizeof *grew) != 2 * sizeof *grew)
        bench_die("rss child", "no result");
    int st;
    waitpid(pid, &st, 0);
    close(p[0]);
    close(p[1]);
}

void bench_rss(bench *b)
{
    int size = 256;
    uint64_t n = (b->opt.quick ? (256ull << 20) : (1ull << 30)) / (uint64_t)size;
    const ml_conf dflt = bench_ml_default(b);
    const bench_path store_dir = bench_file(b, "store");
    printf("\nreplay memory: %" PRIu64 " MB log of %d-byte records\n", n * (uint64_t)size >> 20,
           size);
    bench_run_append(&bench_stores[0], &dflt, store_dir.s, size, 1, n);
    long grew[2];
    replay_in_child(store_dir.s, grew);
    printf("  peak RSS added by replaying it: %ld MB (the process had %ld MB before; segment "
           "size %lld MB)\n",
           (grew[1] - grew[0]) / 1024, grew[0] / 1024, b->opt.seg >> 20);
    if (b->csv)
        fprintf(b->csv, "rss,maplog,%d,1,%ld,,,,peak KB added by replay\n", size,
                grew[1] - grew[0]);
    bench_note_result(b, "rss", "maplog", size, 1, (double)(grew[1] - grew[0]) / 1024);
    bench_note_result(b, "rss-log", "maplog", size, 1, (double)(n * (uint64_t)size >> 20));
    bench_rm_rf(store_dir.s);
}
