/*
 * maplog-bench -- maplog against the stores users would pick instead, and against the
 * hardware, on the same workloads in one run.
 *
 *   append     N records of each size, 1, 2 and 4 threads: maplog, write(2) to an O_APPEND
 *              file, stdio fwrite, and (when built with them) LMDB (MDB_APPEND, NOSYNC),
 *              SQLite (WAL, synchronous=OFF, 1000 rows per transaction), RocksDB (WAL on,
 *              sync off); two limits: memcpy into pre-faulted anonymous memory and into a
 *              pre-faulted MAP_SHARED file mapping with no headers; and the cost of getting
 *              new file pages for that much data (create, fallocate, fault in), which the
 *              limits leave outside their clocks and a store appending to new files cannot.
 *   replay     the same logs, maplog verifying every CRC; a plain read(2) walk over an
 *              unchecksummed length-prefixed file; LMDB cursor, SQLite SELECT, RocksDB
 *              iterator -- every replay touches each payload's first and last byte (as an
 *              application would read it); only maplog reads every byte (its CRC).  A
 *              limit: every cache line of maplog's files read through mappings, unchecked.
 *   latency    one clock read before and after each call: p50/p99/p99.9/max for maplog
 *              appends and for the shared-mapping memcpy limit.  The run crosses segment
 *              rollovers (it says how many).
 *   sync       appends/s and latency per durability mode, and msync(MS_SYNC) of the
 *              dirty range against fdatasync.
 *   follow     followers in another process (maplog_reader_wait): append-to-next latency
 *              with the writer at 10K/s, 100K/s and full speed (1 MiB segments); an idle
 *              follower's CPU and wake-ups per second; the writer's append rate with one
 *              follower and with none, and the wake calls it makes per append.
 *   rss        peak resident memory while replaying a log larger than memory allowed.
 *
 * At the end, the project's performance targets (docs/bench/README.md states each): each
 * one's measured value from this run, and whether it is met (only those whose workloads and
 * peers ran); then the bounds this run measured on the ones that depend on the machine
 * (replay: the read walk; append: new pages and the copy).
 *
 * Every figure is the median of --reps runs, with the spread (min..max).  The machine,
 * the file system, the peers compiled in and the command line are printed first; --csv
 * FILE writes every row.
 * Uses only the public header for maplog, like any user.
 *
 * This file reads the options and runs the workloads asked for; bench.h says where the
 * rest lives.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* The --only names, in the order a run takes them. */
static const struct group {
    const char *name;
    unsigned bit;
    void (*run)(bench *b);
} groups[] = {
    {"append", BENCH_APPEND, bench_append},    {"replay", BENCH_REPLAY, bench_replay},
    {"latency", BENCH_LATENCY, bench_latency}, {"sync", BENCH_SYNC, bench_sync},
    {"follow", BENCH_FOLLOW, bench_follow},    {"rss", BENCH_RSS, bench_rss},
};
#define NGROUPS (sizeof groups / sizeof groups[0])

static _Noreturn void usage(FILE *f, int code)
{
    fprintf(f,
            "usage: maplog-bench [--dir DIR] [--mb MB] [--sizes 64,256,4096] [--threads 1,2]\n"
            "                    [--reps N] [--segment-mb MB] [--csv FILE] [--quick]\n"
            "                    [--only append,replay,latency,sync,follow,rss]\n"
            "Measures maplog and its peers; see the comment at the top of tools/bench/main.c.\n"
            "Each option takes its value as --opt VALUE or --opt=VALUE.\n"
            "  --dir DIR         work in a new directory under DIR (default bench-tmp)\n"
            "  --mb MB           payload per append run, 1 to 1048576 (default 256; 32 with "
            "--quick)\n"
            "  --sizes LIST      record sizes in bytes, up to 8, each 1 to 1048576\n"
            "  --threads LIST    append threads, up to 4, each 1 to 4 (default 1,2,4)\n"
            "  --reps N          runs per row, 1 to 15 (default 3; 1 with --quick)\n"
            "  --segment-mb MB   maplog segment size, 1 to 1024 (default 64)\n"
            "  --csv FILE        also write every row to FILE\n"
            "  --quick           a short run: less data, one rep (options after it still count)\n"
            "  --only LIST       only these workloads: append,replay,latency,sync,follow,rss\n"
            "  --help            print this and exit\n");
    exit(code);
}

static _Noreturn void bad(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "maplog-bench: --%s '%s': %s\n", opt, value, why);
    usage(stderr, 2);
}

/* A whole number from lo to hi, all digits, else a usage error naming --opt and s. */
static unsigned long long number(const char *opt, const char *s, unsigned long long lo,
                                 unsigned long long hi)
{
    char *end, why[96];
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s >= '0' && *s <= '9' && !*end && !errno && v >= lo && v <= hi)
        return v;
    snprintf(why, sizeof why, "not a whole number from %llu to %llu", lo, hi);
    bad(opt, s, why);
}

/* A comma-separated list of up to max numbers from lo to hi into out; returns how many. */
static int number_list(const char *opt, const char *s, int *out, int max, int hi)
{
    char item[32], why[96];
    int n = 0;
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ",");
        if (n == max) {
            snprintf(why, sizeof why, "more than %d values", max);
            bad(opt, s, why);
        }
        if (len == 0 || len >= sizeof item)
            bad(opt, s, "not a comma-separated list of whole numbers");
        memcpy(item, p, len);
        item[len] = 0;
        if (!(*item >= '0' && *item <= '9'))
            bad(opt, s, "not a comma-separated list of whole numbers");
        out[n++] = (int)number(opt, item, 1, (unsigned long long)hi);
        p += len;
        if (!*p)
            return n;
    }
}

/* --only: a comma-separated list of group names, each matched whole. */
static unsigned only_list(const char *s)
{
    unsigned bits = 0;
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ","), g;
        for (g = 0; g < NGROUPS; g++)
            if (strlen(groups[g].name) == len && !strncmp(p, groups[g].name, len))
                break;
        if (g == NGROUPS)
            bad("only", s, "the workloads are append, replay, latency, sync, follow and rss");
        bits |= groups[g].bit;
        p += len;
        if (!*p)
            return bits;
    }
}

static void set_defaults(bench_opts *o)
{
    snprintf(o->dir, sizeof o->dir, "bench-tmp");
    o->bytes = 256ull << 20;
    static const int sizes[] = {64, 256, 4096}, threads[] = {1, 2, 4};
    memcpy(o->sizes, sizes, sizeof sizes);
    o->nsizes = 3;
    memcpy(o->threads, threads, sizeof threads);
    o->nthreads = 3;
    o->reps = 3;
    o->seg = 64ll << 20;
    o->only = BENCH_ALL;
}

/* The options, taken in order: --quick sets the data and reps that a later --mb or --reps
 * overrides, as it always has. */
static void parse_options(bench_opts *o, int argc, char **argv)
{
    enum { O_DIR = 256, O_MB, O_SIZES, O_THREADS, O_REPS, O_SEG, O_CSV, O_QUICK, O_ONLY, O_HELP };
    static const struct option longs[] = {
        {"dir", required_argument, NULL, O_DIR},
        {"mb", required_argument, NULL, O_MB},
        {"sizes", required_argument, NULL, O_SIZES},
        {"threads", required_argument, NULL, O_THREADS},
        {"reps", required_argument, NULL, O_REPS},
        {"segment-mb", required_argument, NULL, O_SEG},
        {"csv", required_argument, NULL, O_CSV},
        {"quick", no_argument, NULL, O_QUICK},
        {"only", required_argument, NULL, O_ONLY},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+", longs, NULL)) != -1) {
        switch (c) {
        case O_DIR:
            if (strlen(optarg) + sizeof "/maplog-bench-XXXXXX" > sizeof o->dir)
                bad("dir", optarg, "too long a path");
            snprintf(o->dir, sizeof o->dir, "%s", optarg);
            break;
        case O_MB:
            o->bytes = number("mb", optarg, 1, 1u << 20) << 20;
            break;
        case O_SIZES:
            o->nsizes = number_list("sizes", optarg, o->sizes, BENCH_MAX_SIZES, 1 << 20);
            break;
        case O_THREADS:
            o->nthreads =
                number_list("threads", optarg, o->threads, BENCH_MAX_THREADS, BENCH_MAX_THREADS);
            break;
        case O_REPS:
            o->reps = (int)number("reps", optarg, 1, BENCH_MAX_REPS);
            break;
        case O_SEG:
            o->seg = (long long)number("segment-mb", optarg, 1, 1024) << 20;
            break;
        case O_CSV:
            o->csv = optarg;
            break;
        case O_QUICK:
            o->quick = 1;
            o->bytes = 32ull << 20;
            o->reps = 1;
            break;
        case O_ONLY:
            o->only = only_list(optarg);
            break;
        case O_HELP:
            usage(stdout, 0);
            break;
        default:
            usage(stderr, 2); /* getopt_long said what was wrong */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "maplog-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr, 2);
    }
    for (int i = 0; i < o->nsizes; i++)
        if (o->sizes[i] > o->seg - 4112) { /* the largest record a segment holds */
            fprintf(stderr,
                    "maplog-bench: --sizes %d: larger than a record in a %lld MB segment "
                    "(--segment-mb) can be\n",
                    o->sizes[i], o->seg >> 20);
            usage(stderr, 2);
        }
}

int main(int argc, char **argv)
{
    bench *b = calloc(1, sizeof *b); /* its results table is large for a stack */
    if (!b)
        bench_die("calloc", strerror(errno));
    set_defaults(&b->opt);
    parse_options(&b->opt, argc, argv);
    if (b->opt.csv && !(b->csv = fopen(b->opt.csv, "w")))
        bench_die(b->opt.csv, strerror(errno));
    bench_make_workdir(b);
    bench_header(b, argc, argv);
    for (size_t g = 0; g < NGROUPS; g++)
        if (b->opt.only & groups[g].bit)
            groups[g].run(b);
    bench_targets(b);
    if (b->csv)
        fclose(b->csv);
    free(b);
    return 0;
}
