/*
 * report.c -- what a run prints: the header (the machine, the file system, the peers
 * compiled in and the command line), one row per measurement (and the same in the CSV),
 * and at the end the project's performance targets (docs/bench/README.md states each):
 * each one's measured value from this run, and whether it is met (only those whose
 * workloads and peers ran); then the bounds this run measured on the ones that depend on
 * the machine (replay: the read walk; append: new pages and the copy).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* A CSV field (RFC 4180), written to f: quoted when it holds a comma, a quote or a
 * newline; NULL is an empty field. */
void bench_csv_field(FILE *f, const char *v)
{
    if (!v)
        return;
    if (!strpbrk(v, ",\"\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

void bench_note_result(bench *b, const char *workload, const char *sys, int size, int threads,
                       double med)
{
    if (b->nresults == BENCH_MAX_RESULTS)
        return;
    bench_result *r = &b->results[b->nresults++];
    snprintf(r->workload, sizeof r->workload, "%s", workload);
    snprintf(r->sys, sizeof r->sys, "%s", sys);
    r->size = size;
    r->threads = threads;
    r->med = med;
}

/* The median a one-thread row reported, or 0 if that row was not run. */
static double result(const bench *b, const char *workload, const char *sys, int size)
{
    for (int i = 0; i < b->nresults; i++) {
        const bench_result *r = &b->results[i];
        if (!strcmp(r->workload, workload) && !strcmp(r->sys, sys) && r->size == size &&
            r->threads == 1)
            return r->med;
    }
    return 0;
}

/* One result row: workload, system, size, threads, records/s stats, MB/s median. */
void bench_row(bench *b, const char *workload, const char *sys, int size, int threads, stat3 rps,
               const char *note)
{
    bench_note_result(b, workload, sys, size, threads, rps.med);
    double mbs = rps.med * size / 1e6;
    printf("  %-8s %-22s %5d B %dT %12.0f rec/s (%.0f..%.0f) %9.1f MB/s %s\n", workload, sys, size,
           threads, rps.med, rps.min, rps.max, mbs, note ? note : "");
    if (b->csv) {
        fprintf(b->csv, "%s,", workload);
        bench_csv_field(b->csv, sys);
        fprintf(b->csv, ",%d,%d,%.0f,%.0f,%.0f,%.1f,", size, threads, rps.med, rps.min, rps.max,
                mbs);
        bench_csv_field(b->csv, note);
        fputc('\n', b->csv);
    }
    fflush(stdout);
}

/* One latency row: p50/p99/p99.9/max of n latencies in ns (sorts lat). */
void bench_percentiles(bench *b, const char *sys, int size, uint64_t *lat, uint64_t n,
                       const char *note)
{
    bench_sort_u64(lat, n);
    uint64_t p50 = lat[n / 2], p99 = lat[n * 99 / 100], p999 = lat[n * 999 / 1000], mx = lat[n - 1];
    bench_note_result(b, "p99.9", sys, size, 1, (double)p999);
    printf("  latency  %-22s %5d B  p50 %6" PRIu64 " ns  p99 %6" PRIu64 " ns  p99.9 %7" PRIu64
           " ns  max %9" PRIu64 " ns %s\n",
           sys, size, p50, p99, p999, mx, note ? note : "");
    if (b->csv) {
        fprintf(b->csv, "latency,");
        bench_csv_field(b->csv, sys);
        fprintf(b->csv, ",%d,1,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", size, p50, p99,
                p999, mx);
        bench_csv_field(b->csv, note);
        fputc('\n', b->csv);
    }
}

/* ---- the header ------------------------------------------------------------------------ */

static const char *cpu_model(char *model, size_t cap)
{
    char line[512];
    snprintf(model, cap, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(model, cap, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    return model;
}

/* Which CRC-32C path the library dispatches to (src/crc32c.c); MAPLOG_CRC32C=sse4.2 or
 * =table forces a slower one, to compare. */
static void crc_line(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    const char *force = getenv("MAPLOG_CRC32C");
    printf("crc32c: %s%s\n",
           force ? "forced by MAPLOG_CRC32C="
           : __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq")
               ? "sse4.2+vpclmulqdq"
           : __builtin_cpu_supports("sse4.2") ? "sse4.2"
                                              : "table",
           force ? force : "");
#endif
}

/* "peers: A, B; not compiled in: C (package)"; test/test_bench.py reads it. */
static void peers_line(void)
{
    printf("peers:");
    int in = 0, out = 0;
    for (size_t k = 0; k < bench_npeers; k++)
        if (bench_peers[k].in)
            printf("%s %s", in++ ? "," : "", bench_peers[k].name);
    for (size_t k = 0; k < bench_npeers; k++)
        if (!bench_peers[k].in)
            printf("%s %s (%s)",
                   out++ ? ","
                   : in  ? "; not compiled in:"
                         : " none; not compiled in:",
                   bench_peers[k].name, bench_peers[k].package);
    printf("\n");
}

void bench_header(const bench *b, int argc, char **argv)
{
    struct utsname u;
    struct statfs sf;
    char model[256];
    uname(&u);
    if (statfs(b->opt.dir, &sf))
        bench_die(b->opt.dir, strerror(errno));
    const char *fs = sf.f_type == 0xEF53       ? "ext4"
                     : sf.f_type == 0x58465342 ? "xfs"
                     : sf.f_type == 0x9123683E ? "btrfs"
                     : sf.f_type == 0x01021994 ? "tmpfs"
                                               : "other";
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("maplog-bench, maplog %s, %s\n", maplog_version(), when);
    printf("machine: %s, %ld cores, %s %s\n", cpu_model(model, sizeof model),
           sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release);
    printf("file system: %s (0x%lx) at %s\n", fs, (unsigned long)sf.f_type, b->opt.dir);
    crc_line();
    peers_line();
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    if (b->csv)
        fprintf(b->csv, "workload,system,size,threads,median,min,max,mbs_or_p999,note\n");
}

/* ---- the performance targets ----------------------------------------------------------- */

static void target(const bench *b, const char *what, double value, const char *unit,
                   const char *goal, int met)
{
    printf("  %-44s %9.2f%-3s  %-30s %s\n", what, value, unit, goal, met ? "met" : "NOT MET");
    if (b->csv) {
        fprintf(b->csv, "target,");
        bench_csv_field(b->csv, what);
        fprintf(b->csv, ",64,1,%.3f,,,,%s\n", value, met ? "met" : "not met");
    }
}

/* The append latency target: for appends that cross rollovers; a run that crosses none
 * does not count. */
static void latency_target(const bench *b)
{
    double p_ml = result(b, "p99.9", "maplog", 64),
           p_lim = result(b, "p99.9", "limit: memcpy shared map", 64);
    if (p_ml > 0 && p_lim > 0) {
        char goal[64];
        double rolls = result(b, "rollovers", "maplog", 64);
        snprintf(goal, sizeof goal, "< 1000 ns and <= 2x %.0f ns", p_lim);
        target(b,
               rolls >= 1 ? "append latency p99.9, rollovers in the run"
                          : "append latency p99.9, NO rollover: does not count",
               p_ml, "ns", goal, rolls >= 1 && p_ml < 1000 && p_ml <= 2 * p_lim);
    }
}

/* What bounds the targets still missed, measured in this run (see docs/bench/README.md). */
static void bounds(const bench *b)
{
    double r_ml = result(b, "replay", "maplog", 64),
           r_lm = result(b, "replay", "LMDB MDB_APPEND", 64);
    double walk = result(b, "replay", "limit: mmap read walk", 64);
    if (r_ml > 0 && r_lm > 0 && walk > 0)
        printf("  bound: the mmap read walk of the same files: %.1f M rec/s = %.2fx LMDB;"
               " maplog replays at %.0f%% of it\n",
               walk / 1e6, walk / r_lm, 100 * r_ml / walk);
    /* Default options append into new segments, whose pages the kernel must first allocate
     * and zero; the memcpy limit's pages were faulted in before its clock started.  Even two
     * cores splitting only those two jobs perfectly -- no CRC, clock, digest or write-back --
     * could not go faster than this, for maplog's record size (16-byte header, 8-aligned). */
    for (int k = 0; k < 2; k++) {
        int size = k ? 4096 : 64;
        double pg = result(b, "append", "cost: new file pages", size),
               li = result(b, "append", "limit: memcpy shared map", size);
        if (pg <= 0 || li <= 0)
            continue;
        double rec = (double)((size + 16 + 7) & ~7), per = rec / (pg * size) + rec / (li * size);
        printf("  bound: two cores only faulting in new pages and copying %4.0f-byte records: "
               "%.2f M rec/s = %.0f%% of the limit\n",
               rec, 2 / per / 1e6, 100 * (2 / per) / li);
    }
}

void bench_targets(const bench *b)
{
    double ml = result(b, "append", "maplog", 64),
           lim = result(b, "append", "limit: memcpy shared map", 64);
    double wr = result(b, "append", "write(2) O_APPEND", 64),
           lmdb = result(b, "append", "LMDB MDB_APPEND", 64);
    double ml4 = result(b, "append", "maplog", 4096);
    double lim4 = result(b, "append", "limit: memcpy shared map", 4096);
    double r_ml = result(b, "replay", "maplog, next_batch (64)", 64),
           r_rd = result(b, "replay", "read(2), no checksums", 64);
    double r_ml4 = result(b, "replay", "maplog, next_batch (64)", 4096),
           r_rd4 = result(b, "replay", "read(2), no checksums", 4096);
    double r_lm = result(b, "replay", "LMDB MDB_APPEND", 64);
    double c_ml = result(b, "replay-cold", "maplog, next_batch (64)", 64),
           c_rd = result(b, "replay-cold", "read(2), no checksums", 64),
           c_wk = result(b, "replay-cold", "limit: mmap read walk", 64);
    double rss = result(b, "rss", "maplog", 256), rss_log = result(b, "rss-log", "maplog", 256);
    printf("\nthe project's performance targets (64-byte records, one thread, default options, "
           "medians of this run)\n");
    if (ml > 0 && lmdb > 0)
        target(b, "append, maplog / LMDB", ml / lmdb, "x", ">= 3x", ml >= 3 * lmdb);
    if (ml > 0 && wr > 0)
        target(b, "append, maplog / write(2)", ml / wr, "x", ">= 10x", ml >= 10 * wr);
    if (ml > 0 && lim > 0)
        target(b, "append, maplog / shared-map memcpy limit", 100 * ml / lim, "%", ">= 70%",
               ml >= 0.7 * lim);
    if (ml4 > 0 && lim4 > 0)
        target(b, "append 4 KiB, maplog / shared-map limit", 100 * ml4 / lim4, "%", ">= 60%",
               ml4 >= 0.6 * lim4);
    latency_target(b);
    if (r_ml > 0 && r_lm > 0)
        target(b, "replay, maplog batch / LMDB cursor", r_ml / r_lm, "x", ">= 2.5x",
               r_ml >= 2.5 * r_lm);
    if (r_ml > 0 && r_rd > 0)
        target(b, "replay, maplog batch / read(2)", 100 * r_ml / r_rd, "%", ">= 90%",
               r_ml >= 0.9 * r_rd);
    if (r_ml4 > 0 && r_rd4 > 0)
        target(b, "replay 4 KiB, maplog batch / read(2)", 100 * r_ml4 / r_rd4, "%", ">= 90%",
               r_ml4 >= 0.9 * r_rd4);
    double c_best = c_rd > c_wk ? c_rd : c_wk;
    if (c_ml > 0 && c_best > 0)
        target(b, "replay cold, maplog batch / best cold reader", 100 * c_ml / c_best, "%",
               ">= 90%", c_ml >= 0.9 * c_best);
    if (!bench_have_lmdb && (ml > 0 || r_ml > 0))
        printf("  the targets against LMDB: not measured (LMDB not compiled in; apt-get install "
               "liblmdb-dev)\n");
    bounds(b);
    if (rss_log > 0) {
        char what[80];
        snprintf(what, sizeof what, "replay memory added, %.0f MB log (MB)", rss_log);
        /* Flat: bounded by a few segments' worth, not by the log. */
        target(b, what, rss, "MB", "flat: < 2 segments", rss < 2.0 * (double)(b->opt.seg >> 20));
    }
}
