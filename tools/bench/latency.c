/*
 * latency.c -- per-call latency, one clock read before and after each call.
 *
 *   latency  p50/p99/p99.9/max for maplog appends and for the shared-mapping memcpy
 *            limit.  The run crosses segment rollovers (it says how many).
 *   sync     appends/s and latency per durability mode, maplog_sync after every k
 *            appends, and msync(MS_SYNC) of the dirty range against fdatasync.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
        int64_t segs = bench_segments(store_dir.s);
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
