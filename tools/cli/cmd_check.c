/*
 * cmd_check.c -- maplog verify, stats and recover: the library's checker, figures and
 * repair, printed for an operator.  Problems go to cli_out, one a line, with the file and
 * the offset; errors that stop a command (not a log, unreadable) go to cli_err.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "when.h"

#include <inttypes.h>
#include <string.h>

typedef struct verify_ctx {
    const cli_args *a;
    uint64_t damage, crash;
} verify_ctx;

static void on_problem(void *ctx, const maplog_problem *p)
{
    verify_ctx *v = ctx;
    int crash = p->kind == MAPLOG_PROBLEM_CRASH;
    if (v->a->tty)
        fputc('\n', cli_err);
    fprintf(cli_out, "%s/%s: offset %" PRIu64 ": %s%s\n", v->a->pos[0], p->file, p->offset,
            crash ? "crash state: " : "", p->what);
    if (crash)
        v->crash++;
    else
        v->damage++;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    verify_ctx *v = ctx;
    cli_progress(v->a, "verify", done, total);
}

int cli_cmd_verify(cli_args *a)
{
    verify_ctx v = {a, 0, 0};
    uint64_t problems = 0;
    int rc = maplog_verify(a->pos[0], a->quick ? MAPLOG_VERIFY_QUICK : 0, on_problem, on_progress,
                           &v, &problems);
    if (rc) {
        fprintf(cli_err, "maplog: %s\n", maplog_last_open_error());
        return EXIT_PROBLEMS;
    }
    maplog_reader *r;
    int64_t segs = 0, recs = 0;
    if (maplog_reader_open(&r, a->pos[0], 0) == 0) {
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_info_get(r, MAPLOG_INFO_RECORDS, &recs);
        maplog_reader_close(r);
    }
    /* Damage (exit 1) outranks a crash state (exit 3): what a crash left, which recovery
     * resolves without losing anything synced -- maplog recover --apply, or opening the
     * log for writing. */
    if (v.damage)
        fprintf(cli_out, "%s: %" PRId64 " segment%s, %" PRId64 " records: %" PRIu64 " problem%s\n",
                a->pos[0], segs, segs == 1 ? "" : "s", recs, problems, problems == 1 ? "" : "s");
    else if (v.crash)
        fprintf(cli_out,
                "%s: %" PRId64 " segment%s, %" PRId64 " records: no damage; a crash state "
                "(%" PRIu64 " finding%s) that recovery resolves without losing synced data "
                "(maplog recover --apply)\n",
                a->pos[0], segs, segs == 1 ? "" : "s", recs, v.crash, v.crash == 1 ? "" : "s");
    else
        fprintf(cli_out, "%s: %" PRId64 " segment%s, %" PRId64 " records: ok, 0 problems\n",
                a->pos[0], segs, segs == 1 ? "" : "s", recs);
    return v.damage ? EXIT_PROBLEMS : v.crash ? EXIT_CRASH_STATE : EXIT_OK;
}

enum {
    S_SEGS,
    S_RECS,
    S_FIRST,
    S_NEXT,
    S_USED,
    S_ALLOC,
    S_T0,
    S_T1,
    S_DURABLE,
    S_CLEAN,
    S_VOIDS,
    S_LOST,
    S_UNCOUNTED,
    S_MISSING,
    S_N
};

static void stats_json(const cli_args *a, const int64_t *v, const char *t0, const char *t1,
                       const char *uncounted)
{
    FILE *f = cli_out;
    fputs("{\"dir\":\"", f);
    cli_json_escape_lossy(f, a->pos[0]);
    /* record counts, sequence numbers and times are strings: 64-bit values (fmt.c) */
    fprintf(
        f,
        "\",\"segments\":%" PRId64 ",\"records\":\"%" PRId64 "\",\"void_records\":\"%" PRId64
        "\",\"lost_records\":\"%" PRId64 "\",\"first_seq\":\"%" PRId64 "\",\"next_seq\":\"%" PRId64
        "\",\"bytes_used\":%" PRId64 ",\"bytes_allocated\":%" PRId64 ",",
        v[S_SEGS], v[S_RECS], v[S_VOIDS], v[S_LOST], v[S_FIRST], v[S_NEXT], v[S_USED], v[S_ALLOC]);
    if (v[S_T0])
        fprintf(f, "\"first_time\":\"%s\",\"first_ts_ns\":\"%" PRId64 "\",", t0, v[S_T0]);
    else
        fputs("\"first_time\":null,\"first_ts_ns\":null,", f);
    if (v[S_T1])
        fprintf(f, "\"last_time\":\"%s\",\"last_ts_ns\":\"%" PRId64 "\",", t1, v[S_T1]);
    else
        fputs("\"last_time\":null,\"last_ts_ns\":null,", f);
    /* why records stop being counted before the last segment file, or null */
    fputs("\"not_counted\":", f);
    if (uncounted) {
        fputc('"', f);
        cli_json_escape_lossy(f, uncounted);
        fputs("\",", f);
    } else {
        fputs("null,", f);
    }
    /* the first sequence number of a segment that existed after the last and is missing */
    if (v[S_MISSING] >= 0)
        fprintf(f, "\"missing_after\":\"%" PRId64 "\",", v[S_MISSING]);
    else
        fputs("\"missing_after\":null,", f);
    fprintf(f, "\"durable_count\":\"%" PRId64 "\",\"writer_running\":%s,\"clean_shutdown\":%s}\n",
            v[S_DURABLE], v[S_CLEAN] < 0 ? "true" : "false",
            v[S_CLEAN] < 0 ? "null"
            : v[S_CLEAN]   ? "true"
                           : "false");
}

int cli_cmd_stats(cli_args *a)
{
    static const maplog_reader_info keys[S_N] = {
        MAPLOG_INFO_SEGMENTS,           MAPLOG_INFO_RECORDS,      MAPLOG_INFO_FIRST_SEQ,
        MAPLOG_INFO_NEXT_SEQ,           MAPLOG_INFO_BYTES_USED,   MAPLOG_INFO_BYTES_ALLOCATED,
        MAPLOG_INFO_FIRST_TS,           MAPLOG_INFO_LAST_TS,      MAPLOG_INFO_DURABLE_COUNT,
        MAPLOG_INFO_CLEAN_SHUTDOWN,     MAPLOG_INFO_VOID_RECORDS, MAPLOG_INFO_LOST_RECORDS,
        MAPLOG_INFO_UNCOUNTED_SEGMENTS, MAPLOG_INFO_MISSING_AFTER};
    maplog_reader *r;
    int64_t v[S_N] = {0};
    char uncounted[1024] = "";
    int rc;
    if ((rc = cli_open_reader(a->pos[0], 0, &r)))
        return rc;
    for (size_t k = 0; k < S_N; k++) {
        if (maplog_reader_info_get(r, keys[k], &v[k])) {
            fprintf(cli_err, "maplog: %s: %s\n", a->pos[0], maplog_reader_errmsg(r));
            maplog_reader_close(r);
            return EXIT_PROBLEMS;
        }
        /* Segment files no figure counts: the reader's message says why (a segment that
         * cannot be read, or that does not continue the records before it). */
        if (keys[k] == MAPLOG_INFO_UNCOUNTED_SEGMENTS && v[k] > 0)
            snprintf(uncounted, sizeof uncounted, "%s", maplog_reader_errmsg(r));
    }
    maplog_reader_close(r);
    char t0[64] = "-", t1[64] = "-";
    if (v[S_T0])
        when_format(t0, sizeof t0, (uint64_t)v[S_T0], a->local);
    if (v[S_T1])
        when_format(t1, sizeof t1, (uint64_t)v[S_T1], a->local);
    int status = uncounted[0] || v[S_MISSING] >= 0 ? EXIT_PROBLEMS : EXIT_OK;
    if (a->json) {
        stats_json(a, v, t0, t1, uncounted[0] ? uncounted : NULL);
        return status;
    }
    /* The durable point is where the last segment's checkpoint ends (records before it
     * were synced); with no checkpoint there, or one that covers no record, none is known
     * from it (sealed segments are durable all the same). */
    char durable[128];
    if (v[S_DURABLE] > v[S_FIRST])
        snprintf(durable, sizeof durable, "%" PRId64 " records (seq < %" PRId64 ")",
                 v[S_DURABLE] - v[S_FIRST], v[S_DURABLE]);
    else
        snprintf(durable, sizeof durable, "no checkpoint in the last segment vouches for a record");
    const char *shutdown = v[S_CLEAN] < 0 ? "writer running"
                           : v[S_CLEAN]   ? "clean"
                                          : "unclean (crash)";
    char span[64];
    if (v[S_NEXT] > v[S_FIRST])
        snprintf(span, sizeof span, "%" PRId64 " .. %" PRId64, v[S_FIRST], v[S_NEXT] - 1);
    else
        snprintf(span, sizeof span, "none yet (the next is %" PRId64 ")", v[S_NEXT]);
    fprintf(cli_out,
            "log:             %s\n"
            "segments:        %" PRId64 "\n"
            "records:         %" PRId64 "\n"
            "void records:    %" PRId64 "\n"
            "sequence:        %s\n"
            "bytes used:      %" PRId64 " (%.1f MB)\n"
            "bytes allocated: %" PRId64 " (%.1f MB)\n"
            "first record:    %s\n"
            "last record:     %s\n"
            "durable:         %s\n"
            "last shutdown:   %s\n",
            a->pos[0], v[S_SEGS], v[S_RECS], v[S_VOIDS], span, v[S_USED], (double)v[S_USED] / 1e6,
            v[S_ALLOC], (double)v[S_ALLOC] / 1e6, t0, t1, durable, shutdown);
    if (v[S_LOST])
        fprintf(cli_out,
                "lost in a crash: %" PRId64 " records between segments never reached the disk "
                "(recovery cuts the log there)\n",
                v[S_LOST]);
    if (uncounted[0])
        fprintf(cli_out, "not counted:     %s\n", uncounted);
    if (v[S_MISSING] >= 0)
        fprintf(cli_out,
                "missing:         the segment after the last (seq %" PRId64 " on): the last is "
                "sealed, so it existed; its records are lost (maplog verify reports it)\n",
                v[S_MISSING]);
    return status;
}

int cli_cmd_recover(cli_args *a)
{
    char report[2048];
    int64_t dropped;
    int rc = maplog_recover(a->pos[0], 0, report, sizeof report, &dropped);
    if (rc) { /* not a log, unreadable, ...: an error, on cli_err */
        fprintf(cli_err, "maplog: %s\n", report);
        return EXIT_PROBLEMS;
    }
    fprintf(cli_out, "%s%s\n", a->apply ? "plan: " : "", report);
    int nothing = strncmp(report, "nothing to do", 13) == 0;
    if (!a->apply || nothing)
        return nothing ? EXIT_OK : EXIT_PROBLEMS;
    if (a->tty)
        fprintf(cli_err, "recover: applying...\n");
    rc = maplog_recover(a->pos[0], MAPLOG_RECOVER_APPLY, report, sizeof report, &dropped);
    if (rc) { /* refused (a writer holds the log) or failed: nothing more was done */
        fprintf(cli_err, "maplog: recover --apply: not done: %s\n", report);
        return EXIT_PROBLEMS;
    }
    fprintf(cli_out, "done: %s\n", report);
    return EXIT_OK;
}

int cli_cmd_archive(cli_args *a)
{
    maplog_options *o;
    maplog *log;
    if (maplog_options_create(&o)) {
        fprintf(cli_err, "maplog: archive: out of memory\n");
        return EXIT_PROBLEMS;
    }
    maplog_options_set(o, MAPLOG_OPT_CREATE, 0); /* a log that is there, never a new one */
    int rc = maplog_open(&log, a->pos[0], o);
    maplog_options_free(o);
    if (rc) {
        fprintf(cli_err, "maplog: archive: %s\n", maplog_last_open_error());
        return EXIT_PROBLEMS;
    }
    uint64_t n = 0;
    rc = maplog_archive(log, &n);
    int crc = maplog_close(log);
    if (rc || crc) {
        fprintf(cli_err, "maplog: archive: %s: %s failed (%d)\n", a->pos[0],
                rc ? "compressing" : "closing the log", rc ? rc : crc);
        return EXIT_PROBLEMS;
    }
    maplog_reader *r;
    int64_t segs = 0;
    if (maplog_reader_open(&r, a->pos[0], 0) == 0) {
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
    }
    fprintf(cli_out, "%s: %" PRIu64 " sealed segment%s compressed (%" PRId64 " segments in all)\n",
            a->pos[0], n, n == 1 ? "" : "s", segs);
    return EXIT_OK;
}
