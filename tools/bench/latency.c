/*
 * latency.c -- per-call latency, one clock read before and after each call.
 *
 *   latency  p50/p99/p99.9/max for maplog appends and for the shared-mapping memcpy
 *            limit.  The run crosses segment rollovers (it says how many).
 *   sync     appends/s and latency per durability mode, maplog_sync after every k
 *            appends, and msync(MS_SYNC) of the dirty range against fdatasync.
 *   follow   append-to-reader latency with the reader in another process.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The limit: n copies of size bytes from buf into a pre-faulted shared mapping. */
static void latency_limit(bench *b, int size, uint64_t n, const unsigned char *buf, uint64_t *lat)
{
    size_t total = (size_t)n * (size_t)size;
    int fd;
    unsigned char *dst = bench_map_new_file(b, "limit.bin", total, &fd);
    bench_populate(dst, total);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        memcpy(dst + i * (uint64_t)size, buf, (size_t)size);
        lat[i] = bench_now_ns() - t0;
    }
    bench_percentiles(b, "limit: memcpy shared map", size, lat, n, NULL);
    munmap(dst, total);
    close(fd);
    unlink(bench_file(b, "limit.bin").s);
}

/* The segments of the log in dir, or 0 when it cannot be read. */
static int64_t segments(const char *dir)
{
    maplog_reader *r;
    int64_t segs = 0;
    if (maplog_reader_open(&r, dir, 0) == 0) {
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
    }
    return segs;
}

void bench_latency(bench *b)
{
    printf("\nappend latency (one clock read before and after each call)\n");
    const ml_conf dflt = bench_ml_default(b);
    const bench_path store_dir = bench_file(b, "store");
    for (int si = 0; si < b->opt.nsizes; si++) {
        int size = b->opt.sizes[si];
        uint64_t n = bench_nrec(b, size);
        uint64_t *lat = malloc(n * sizeof *lat);
        unsigned char *buf = malloc((size_t)size + 8);
        memset(buf, 'q', (size_t)size + 8);
        latency_limit(b, size, n, buf, lat);

        bench_rm_rf(store_dir.s);
        maplog *log = bench_ml_open(&dflt, store_dir.s);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t0 = bench_now_ns();
            if (maplog_append(log, buf, (size_t)size, NULL))
                bench_die("append", maplog_errmsg(log));
            lat[i] = bench_now_ns() - t0;
        }
        bench_ml_close(log);
        int64_t segs = segments(store_dir.s);
        char note[64];
        snprintf(note, sizeof note, "(%" PRId64 " rollovers in the run)", segs - 1);
        bench_note_result(b, "rollovers", "maplog", size, 1, (double)(segs - 1));
        bench_percentiles(b, "maplog", size, lat, n, note);
        free(lat);
        free(buf);
        bench_rm_rf(store_dir.s);
    }
}

/* ---- durability modes ------------------------------------------------------------------ */

/* Appends/s and latency of 64-byte appends in each durability mode. */
static void sync_modes(bench *b, int size)
{
    static const struct {
        const char *name;
        long long mode, every;
    } modes[] = {
        {"none", MAPLOG_DURABILITY_NONE, 1},
        {"async (flusher)", MAPLOG_DURABILITY_ASYNC, 1},
        {"sync every 64", MAPLOG_DURABILITY_SYNC_EVERY, 64},
        {"sync every 1", MAPLOG_DURABILITY_SYNC_EVERY, 1},
    };
    const bench_path store_dir = bench_file(b, "store");
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        ml_conf ml = bench_ml_default(b);
        ml.durability = modes[m].mode;
        ml.sync_every = modes[m].every;
        int sync = modes[m].mode == MAPLOG_DURABILITY_SYNC_EVERY;
        uint64_t n = sync && modes[m].every == 1 ? (b->opt.quick ? 300 : 3000)
                     : sync                      ? (b->opt.quick ? 20000 : 100000)
                                                 : bench_nrec(b, size);
        uint64_t *lat = malloc(n * sizeof *lat);
        unsigned char buf[64];
        memset(buf, 's', sizeof buf);
        bench_rm_rf(store_dir.s);
        maplog *log = bench_ml_open(&ml, store_dir.s);
        double t0 = bench_now();
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a = bench_now_ns();
            if (maplog_append(log, buf, sizeof buf, NULL))
                bench_die("append", maplog_errmsg(log));
            lat[i] = bench_now_ns() - a;
        }
        double dt = bench_now() - t0;
        bench_ml_close(log);
        printf("  mode %-18s %12.0f appends/s\n", modes[m].name, (double)n / dt);
        if (b->csv) {
            fprintf(b->csv, "durability,");
            bench_csv_field(b->csv, modes[m].name);
            fprintf(b->csv, ",%d,1,%.0f,,,,\n", size, (double)n / dt);
        }
        bench_percentiles(b, modes[m].name, size, lat, n, NULL);
        free(lat);
    }
}

/* maplog_sync after every k appends, k = 1, 10, 100, 1000. */
static void sync_per_k(bench *b)
{
    const ml_conf dflt = bench_ml_default(b);
    const bench_path dir = bench_file(b, "store2");
    maplog *log = bench_ml_open(&dflt, dir.s);
    unsigned char buf[64] = {0};
    int rounds = b->opt.quick ? 50 : 300;
    for (int k = 1; k <= 1000; k *= 10) {
        uint64_t *lat = malloc((size_t)rounds * sizeof *lat);
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < k; i++)
                maplog_append(log, buf, sizeof buf, NULL);
            uint64_t a = bench_now_ns();
            if (maplog_sync(log))
                bench_die("sync", maplog_errmsg(log));
            lat[r] = bench_now_ns() - a;
        }
        char name[64];
        snprintf(name, sizeof name, "maplog_sync per %d", k);
        bench_percentiles(b, name, 64, lat, (uint64_t)rounds, NULL);
        free(lat);
    }
    bench_ml_close(log);
    bench_rm_rf(dir.s);
}

/* The two ways to make a dirty range of a shared mapping durable. */
static void sync_range(bench *b)
{
    size_t total = 64 << 20;
    int fd;
    unsigned char *m = bench_map_new_file(b, "sync.bin", total, &fd);
    int rounds = b->opt.quick ? 50 : 300;
    uint64_t *lat = malloc((size_t)rounds * sizeof *lat);
    for (int how = 0; how < 2; how++) {
        for (int r = 0; r < rounds; r++) {
            size_t off = (size_t)(how * rounds + r) * 8192;
            memset(m + off, r, 6400); /* ~100 records of 64 B */
            uint64_t a = bench_now_ns();
            if (how == 0)
                msync(m + off, 8192, MS_SYNC);
            else
                fdatasync(fd);
            lat[r] = bench_now_ns() - a;
        }
        bench_percentiles(b, how == 0 ? "msync(MS_SYNC) range" : "fdatasync", 6400, lat,
                          (uint64_t)rounds, NULL);
    }
    free(lat);
    munmap(m, total);
    close(fd);
    unlink(bench_file(b, "sync.bin").s);
}

void bench_sync(bench *b)
{
    int size = 64;
    printf("\ndurability modes, %d-byte records\n", size);
    sync_modes(b, size);
    sync_per_k(b);
    sync_range(b);
}

/* ---- append to reader latency, across processes ---------------------------------------- */

/* The reader: follow the log in dir with maplog_reader_wait until n records arrived, and
 * write p50/p99/p99.9/max of their append-to-read times to fd. */
static _Noreturn void follower(const char *dir, uint64_t n, int fd)
{
    maplog_reader *r;
    maplog_record rec;
    uint64_t *lat = malloc(n * sizeof *lat), got = 0;
    if (maplog_reader_open(&r, dir, 0))
        _exit(1);
    while (got < n) {
        int rc = maplog_reader_next(r, &rec);
        if (rc == MAPLOG_END) {
            maplog_reader_wait(r, 5000);
            continue;
        }
        if (rc)
            _exit(2);
        uint64_t sent;
        memcpy(&sent, rec.data, 8);
        lat[got++] = bench_now_ns() - sent;
    }
    bench_sort_u64(lat, n);
    uint64_t out[4] = {lat[n / 2], lat[n * 99 / 100], lat[n * 999 / 1000], lat[n - 1]};
    if (write(fd, out, sizeof out) != sizeof out)
        _exit(3);
    _exit(0);
}

/* A writer appends 64-byte records carrying CLOCK_MONOTONIC at append, one every pace_ns;
 * a reader in another process follows with maplog_reader_wait and takes, per record, the
 * time from the append call to the moment next() returned it.  Small segments, so the
 * run crosses rollovers. */
void bench_follow(bench *b)
{
    const uint64_t n = b->opt.quick ? 100000 : 300000, pace_ns = 5000;
    int p[2];
    printf("\nappend-to-reader latency, reader in another process (64 B, one record every %" PRIu64
           " us, 1 MiB segments)\n",
           pace_ns / 1000);
    const bench_path dir = bench_file(b, "follow");
    bench_rm_rf(dir.s);
    ml_conf small = bench_ml_default(b);
    small.seg = 1 << 20;
    maplog *log = bench_ml_open(&small, dir.s);
    if (pipe(p))
        bench_die("pipe", strerror(errno));
    pid_t pid = fork();
    if (pid == 0)
        follower(dir.s, n, p[1]);
    unsigned char buf[64] = {0};
    uint64_t next = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        while (bench_now_ns() < next) /* pace, but leave the CPU to the reader on a small box */
            sched_yield();
        next += pace_ns;
        uint64_t t = bench_now_ns();
        memcpy(buf, &t, 8);
        if (maplog_append(log, buf, sizeof buf, NULL))
            bench_die("append", maplog_errmsg(log));
    }
    uint64_t res[4] = {0};
    if (read(p[0], res, sizeof res) != sizeof res)
        bench_die("follower", "no result");
    int st;
    waitpid(pid, &st, 0);
    bench_ml_close(log);
    int64_t segs = segments(dir.s);
    printf("  follow   append -> reader         64 B  p50 %6" PRIu64 " ns  p99 %6" PRIu64
           " ns  p99.9 %7" PRIu64 " ns  max %9" PRIu64 " ns (%" PRId64 " rollovers)\n",
           res[0], res[1], res[2], res[3], segs - 1);
    if (b->csv)
        fprintf(b->csv, "follow,maplog,64,1,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",\n",
                res[0], res[1], res[2], res[3]);
    close(p[0]);
    close(p[1]);
    bench_rm_rf(dir.s);
}
