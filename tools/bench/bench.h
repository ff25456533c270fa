/*
 * bench.h -- what the parts of maplog-bench share: the run's configuration, the store
 * interface, and the report.  The files are cut by job:
 *
 *   main.c       the options and the order of the run
 *   stores.c     the stores under test behind one interface: maplog, write(2), stdio
 *                fwrite, and the peers compiled in (LMDB, SQLite, RocksDB)
 *   workloads.c  throughput and memory: append (with the memcpy limits and the cost of new
 *                pages), replay (with the read-walk limit), rss
 *   latency.c    per-call latency: latency, sync (durability modes)
 *   follow.c     followers in another process: append-to-next latency at three rates, an
 *                idle follower's CPU and wake-ups, the writer's append rate with one
 *                follower and with none
 *   report.c     the header, the rows, the CSV, the targets and the bounds
 *   util.c       clocks, medians, files and the work directory
 *
 * Nothing is global: a run's options, its CSV file and the results so far travel in one
 * struct bench, and each maplog store is opened with the settings passed to it.
 */
#ifndef MAPLOG_BENCH_H
#define MAPLOG_BENCH_H

#include "maplog.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    BENCH_MAX_SIZES = 8,
    BENCH_MAX_THREADS = 4, /* the most threads an append run starts */
    BENCH_MAX_REPS = 15,
    BENCH_MAX_RESULTS = 256,
};

/* The workload groups --only picks from, in the order a run takes them. */
enum bench_group {
    BENCH_APPEND = 1 << 0,
    BENCH_REPLAY = 1 << 1,
    BENCH_LATENCY = 1 << 2,
    BENCH_SYNC = 1 << 3,
    BENCH_FOLLOW = 1 << 4,
    BENCH_RSS = 1 << 5,
    BENCH_ALL = (1 << 6) - 1,
};

/* How a maplog store opens its log: each run says what it wants. */
typedef struct ml_conf {
    long long seg;         /* MAPLOG_OPT_SEGMENT_SIZE */
    long long durability;  /* MAPLOG_OPT_DURABILITY */
    long long sync_every;  /* MAPLOG_OPT_SYNC_EVERY */
    long long flush_bytes; /* MAPLOG_OPT_FLUSH_BYTES; -1: the library's default */
} ml_conf;

/* The options, as main.c parsed them. */
typedef struct bench_opts {
    char dir[1024]; /* the work directory (made under --dir) once the run starts */
    uint64_t bytes; /* payload bytes per append run */
    int sizes[BENCH_MAX_SIZES], nsizes;
    int threads[BENCH_MAX_THREADS], nthreads;
    int reps;
    long long seg;   /* segment size in bytes */
    const char *csv; /* --csv FILE, or NULL */
    unsigned only;   /* enum bench_group bits */
    int quick;
} bench_opts;

/* One row's median, kept for the targets at the end. */
typedef struct bench_result {
    char workload[16], sys[48];
    int size, threads;
    double med;
} bench_result;

/* A run: its options, its CSV file (or NULL) and the rows reported so far. */
typedef struct bench {
    bench_opts opt;
    FILE *csv;
    bench_result results[BENCH_MAX_RESULTS];
    int nresults;
} bench;

/* A store under test.  open makes dir (a maplog store with the settings in ml, which the
 * others ignore); append adds record i; replay reads everything back, returning the
 * records seen and their payload bytes in *bytes (NULL: the store is not replayed). */
typedef struct store {
    const char *name;
    void *(*open)(const ml_conf *ml, const char *dir);
    int (*append)(void *h, const void *buf, size_t len, uint64_t i);
    void (*close)(void *h);
    uint64_t (*replay)(const char *dir, uint64_t *bytes);
    int threads_ok; /* appends from several threads into one handle */
} store;

/* The peer stores, each compiled in when tools/CMakeLists.txt found its -dev package. */
typedef struct bench_peer {
    const char *name, *package;
    int in;
} bench_peer;

/* stores.c: the stores, maplog first and write(2) second (the replay rows rely on it). */
extern const store bench_stores[];
extern const size_t bench_nstores;
extern const bench_peer bench_peers[];
extern const size_t bench_npeers;
extern const int bench_have_lmdb;
ml_conf bench_ml_default(const bench *b);
maplog *bench_ml_open(const ml_conf *ml, const char *dir);
void bench_ml_close(maplog *log);

/* workloads.c, latency.c and follow.c: each prints its rows. */
void bench_append(bench *b);
void bench_replay(bench *b);
/* util.c: drop every file under dir from the page cache (written back first), so that
 * the next read of it comes from the disk: a cold replay, as of a log copied off a dead
 * machine.  Needs no privilege (posix_fadvise). */
void bench_evict(const char *dir);
/* stores.c: maplog's replay through maplog_reader_next_batch() */
uint64_t bench_ml_replay_batch(const char *dir, uint64_t *bytes);
void bench_rss(bench *b);
void bench_latency(bench *b);
void bench_sync(bench *b);
void bench_follow(bench *b);
double bench_run_append(const store *st, const ml_conf *ml, const char *dir, int size, int t,
                        uint64_t n);

/* report.c */
typedef struct stat3 {
    double med, min, max;
} stat3;
void bench_header(const bench *b, int argc, char **argv);
void bench_row(bench *b, const char *workload, const char *sys, int size, int threads, stat3 rps,
               const char *note);
void bench_percentiles(bench *b, const char *sys, int size, uint64_t *lat, uint64_t n,
                       const char *note);
void bench_note_result(bench *b, const char *workload, const char *sys, int size, int threads,
                       double med);
void bench_csv_field(FILE *f, const char *v);
void bench_targets(const bench *b);

/* util.c */
typedef struct bench_path {
    char s[1200];
} bench_path;
double bench_now(void);
uint64_t bench_now_ns(void);
stat3 bench_summarize(double *v, int n);
void bench_sort_u64(uint64_t *v, uint64_t n);
_Noreturn void bench_die(const char *what, const char *detail);
void bench_rm_rf(const char *p);
void bench_make_workdir(bench *b);
bench_path bench_file(const bench *b, const char *name);
void bench_populate(unsigned char *p, size_t len);
unsigned char *bench_map_new_file(const bench *b, const char *name, size_t len, int *fd);
uint64_t bench_nrec(const bench *b, int size);
int64_t bench_segments(const char *dir);

#endif
