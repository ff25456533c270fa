/*
 * cmd_read.c -- maplog dump and maplog tail.
 *
 * Everything streams: one record at a time from the reader (which maps one segment at a
 * time), so a log of any size dumps in flat memory.  A damaged record is reported on
 * cli_err with its file and offset and never printed as data; the rest of its segment is
 * skipped and the dump goes on (exit 1).  A closed pipe (maplog dump | head) ends quietly.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_open_reader(const char *dir, int flags, maplog_reader **r)
{
    if (maplog_reader_open(r, dir, flags)) {
        fprintf(cli_err, "maplog: %s\n", maplog_last_open_error());
        return EXIT_PROBLEMS;
    }
    return 0;
}

/* ---- cursors ------------------------------------------------------------------------- */

int cli_cursor_start(maplog_reader *r, const cli_args *a, int *positioned)
{
    char buf[MAPLOG_CURSOR_MAX + 1];
    const char *c = a->after_cursor, *from = "--after-cursor";
    *positioned = 0;
    if (!c && a->cursor_file) {
        int fd = open(a->cursor_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
            return 0; /* the first run: from where the other options say */
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (n < 0) {
            fprintf(cli_err, "maplog: %s: %s\n", a->cursor_file, strerror(err));
            return EXIT_PROBLEMS;
        }
        buf[n] = 0;
        if (n > 0 && buf[n - 1] == '\n')
            buf[n - 1] = 0;
        c = buf;
        from = a->cursor_file;
    }
    if (!c)
        return 0;
    int rc = maplog_reader_seek_cursor(r, c);
    if (rc == 0 || rc == MAPLOG_ENOENT) { /* removed by retention: on from the first present */
        if (rc)
            fprintf(cli_err, "maplog: note: %s\n", maplog_reader_errmsg(r));
        *positioned = 1;
        return 0;
    }
    fprintf(cli_err, "maplog: %s (the cursor from %s)\n", maplog_reader_errmsg(r), from);
    return EXIT_PROBLEMS;
}

/* Write cursor to the cursor file whole or not at all: FILE.tmp, synced, renamed. */
static int save_cursor(const char *path, const char *cursor)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        fprintf(cli_err, "maplog: %s: path too long\n", path);
        return EXIT_PROBLEMS;
    }
    fflush(cli_out); /* the records before the cursor first */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(cursor);
    int ok = fd >= 0 && write(fd, cursor, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
             fsync(fd) == 0;
    int err = errno;
    if (fd >= 0 && close(fd) != 0 && ok)
        ok = 0, err = errno;
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        fprintf(cli_err, "maplog: %s: cannot write the cursor: %s\n", path, strerror(err));
        unlink(tmp);
        return EXIT_PROBLEMS;
    }
    return EXIT_OK;
}

void cli_cursor_note(maplog_reader *r, const cli_args *a, char *last, uint64_t n)
{
    if (!a->cursor_file && !a->show_cursor)
        return;
    if (maplog_reader_cursor(r, last, MAPLOG_CURSOR_MAX) != 0)
        last[0] = 0;
    if (a->cursor_file && last[0] && n % 65536 == 0)
        save_cursor(a->cursor_file, last); /* now and then: less to repeat after a kill */
}

int cli_cursor_finish(const cli_args *a, const char *last)
{
    int status = EXIT_OK;
    if (!last[0])
        return status; /* nothing printed: the cursor file stays as it was */
    if (a->cursor_file)
        status = save_cursor(a->cursor_file, last);
    if (a->show_cursor)
        fprintf(cli_err, "-- cursor: %s\n", last);
    return status;
}

/* -n N: start N records before the end, or before --to (never before --from or the first
 * record). */
static void apply_lines(maplog_reader *r, cli_args *a)
{
    int64_t first = 0, next = 0;
    if (!a->have_lines)
        return;
    maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first);
    if (maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &next))
        return;
    uint64_t end = a->to < (uint64_t)next ? a->to + 1 : (uint64_t)next; /* the last N before it */
    uint64_t start = end > (uint64_t)first && end - (uint64_t)first > a->lines ? end - a->lines
                                                                               : (uint64_t)first;
    if (start > a->from)
        a->from = start;
}

int cli_missing_note(maplog_reader *r, const char *dir)
{
    int64_t after = -1;
    if (maplog_reader_info_get(r, MAPLOG_INFO_MISSING_AFTER, &after) || after < 0)
        return EXIT_OK;
    fprintf(cli_err,
            "maplog: %s: the last segment is sealed, so the segment after it (seq %" PRId64
            " on) existed; it is missing, with the records it held (maplog verify reports it; "
            "maplog recover --apply accepts the loss)\n",
            dir, after);
    return EXIT_PROBLEMS;
}

/* A log a crash left (no writer holds it) is read as it is: say what the reader stepped
 * over, as a crash state, not damage. */
static void crash_note(maplog_reader *r, const cli_args *a)
{
    int64_t holes = 0, lost = 0;
    maplog_reader_info_get(r, MAPLOG_INFO_HOLES, &holes);
    maplog_reader_info_get(r, MAPLOG_INFO_LOST, &lost);
    if (holes || lost)
        fprintf(cli_err,
                "maplog: note: %s: a crash state, not damage: %" PRId64
                " record%s reserved and never published (holes) and %" PRId64
                " record%s lost between segments were stepped over; recovery (maplog recover "
                "--apply) makes the holes void records and ends the log before the lost ones\n",
                a->pos[0], holes, holes == 1 ? "" : "s", lost, lost == 1 ? "" : "s");
}

/* Sleep until the log may have a record (its descriptor: the writer wakes it when it
 * publishes, opens or closes the log, or dies), or 200 ms pass so that an interrupt is
 * seen.  1 when whoever reads our output has gone (a closed pipe: `maplog tail -f | head`),
 * which a follower that writes nothing would otherwise never find out. */
static int follow_wait(maplog_reader *r)
{
    int fd = maplog_reader_fd(r);
    if (fd < 0) {
        maplog_reader_wait(r, 200);
        return 0;
    }
    struct pollfd p[2] = {{fd, POLLIN, 0}, {fileno(cli_out), 0, 0}};
    if (poll(p, 2, 200) < 0)
        return 0;
    return (p[1].revents & (POLLERR | POLLHUP)) != 0;
}

/* Records in [from, to] and the time window, forwards (from where a cursor put the reader,
 * if one did). */
static int emit_forward(maplog_reader *r, const cli_args *a, int positioned)
{
    maplog_record rec;
    uint64_t n = 0;
    int status = EXIT_OK, rc;
    char last[MAPLOG_CURSOR_MAX] = "";
    if (!positioned && a->since && maplog_reader_seek_time(r, a->since))
        fprintf(cli_err, "maplog: %s: %s\n", a->pos[0], maplog_reader_errmsg(r));
    if (!positioned && a->from && maplog_reader_seek(r, a->from) == MAPLOG_ENOENT) {
        int64_t first; /* before the first present: start at the first */
        if (maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first) == 0)
            maplog_reader_seek(r, (uint64_t)first);
    }
    while (n < a->limit && !cli_interrupted) {
        rc = maplog_reader_next(r, &rec);
        if (rc == MAPLOG_END) {
            if (!a->follow)
                break;
            if (cli_out_failed())
                return EXIT_OK;
            fflush(cli_out);
            if (follow_wait(r))
                return EXIT_OK;
            continue;
        }
        if (rc == MAPLOG_ECORRUPT) {
            fprintf(cli_err, "maplog: %s\n", maplog_reader_errmsg(r));
            status = EXIT_PROBLEMS;
            if (maplog_reader_skip_segment(r) != 0)
                break;
            continue;
        }
        if (rc) {
            fprintf(cli_err, "maplog: %s\n", maplog_reader_errmsg(r));
            return EXIT_PROBLEMS;
        }
        if (rec.seq < a->from || rec.timestamp_ns < a->since)
            continue;
        if (rec.seq > a->to || rec.timestamp_ns > a->until)
            break;
        cli_print_record(cli_out, &rec, a->format, a->local);
        n++;
        cli_cursor_note(r, a, last, n);
        if (cli_out_failed())
            return EXIT_OK;
    }
    int cs = cli_cursor_finish(a, last);
    if (cs)
        status = cs;
    int64_t torn;
    if (maplog_reader_info_get(r, MAPLOG_INFO_TORN_OFFSET, &torn) == 0 && torn > 0)
        fprintf(cli_err, "maplog: note: %s\n", maplog_reader_errmsg(r));
    return status;
}

/* --since with --reverse: no record before where a seek by time lands is at or after
 * since (the seek follows the running maximum of timestamps), so the walk back stops
 * there.  *lo is raised to that record's seq, or to hi when none is at or after it. */
static void reverse_since(maplog_reader *r, const cli_args *a, uint64_t *lo, uint64_t hi)
{
    maplog_record rec;
    if (!a->since || maplog_reader_seek_time(r, a->since))
        return; /* the walk back filters every record by time */
    int rc = maplog_reader_next(r, &rec);
    if (rc == 0 && rec.seq > *lo)
        *lo = rec.seq < hi ? rec.seq : hi;
    else if (rc == MAPLOG_END)
        *lo = hi;
}

/* --reverse: walk backwards in windows of sequence numbers, reading each window forwards.
 * The windows cover the records readable in order, from the first record to NEXT_SEQ,
 * which counts only records the log holds (a gap in sequence numbers, or a stray segment
 * file far beyond the end, adds none), so the walk is bounded by the data present.  Where
 * the readable log stops short of the last segment file, the records it has are printed and
 * the reason is reported (exit 1), as a forward dump reports damage and goes on. */
static int emit_reverse(maplog_reader *r, const cli_args *a)
{
    enum { WINDOW = 4096 };
    typedef struct held {
        maplog_record rec;
        unsigned char *copy;
    } held;
    int64_t first, next, skipped;
    char uncounted[1024] = "";
    if (maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first) ||
        maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &next) ||
        maplog_reader_info_get(r, MAPLOG_INFO_UNCOUNTED_SEGMENTS, &skipped)) {
        fprintf(cli_err, "maplog: %s: %s\n", a->pos[0], maplog_reader_errmsg(r));
        return EXIT_PROBLEMS;
    }
    /* segment files past the records readable in order: the message says why */
    if (skipped)
        snprintf(uncounted, sizeof uncounted, "%s", maplog_reader_errmsg(r));
    uint64_t lo = a->from > (uint64_t)first ? a->from : (uint64_t)first;
    uint64_t hi = a->to < (uint64_t)next ? a->to + 1 : (uint64_t)next; /* exclusive */
    uint64_t n = 0;
    int status = EXIT_OK;
    if (uncounted[0]) {
        fprintf(cli_err, "maplog: %s (records shown end at seq %" PRId64 ")\n", uncounted,
                next - 1);
        status = EXIT_PROBLEMS;
    }
    if (hi > lo)
        reverse_since(r, a, &lo, hi);
    held *w = calloc(WINDOW, sizeof *w);
    if (!w) {
        fprintf(cli_err, "maplog: out of memory\n");
        return EXIT_PROBLEMS;
    }
    int failed = 0;
    /* the first window holds what -n asks for, and each next one twice the last, so that
     * printing the last few records reads those records, not a full window of them */
    uint64_t win = a->limit < WINDOW ? (a->limit ? a->limit : 1) : WINDOW;
    while (hi > lo && n < a->limit && !cli_interrupted && !failed) {
        uint64_t start = hi - lo > win ? hi - win : lo;
        size_t k = 0;
        maplog_record rec;
        /* by sequence number, not by count: void records and holes have numbers too */
        int rc = maplog_reader_seek(r, start);
        while (rc == 0 && k < win && (rc = maplog_reader_next(r, &rec)) == 0 && rec.seq < hi) {
            if (rec.seq < start)
                continue;
            w[k].rec = rec;
            if (!(w[k].copy = malloc(rec.len ? rec.len : 1))) {
                fprintf(cli_err, "maplog: out of memory\n");
                failed = 1;
                break;
            }
            if (rec.len)
                memcpy(w[k].copy, rec.data, rec.len);
            w[k].rec.data = w[k].copy;
            k++;
        }
        if (rc && rc != MAPLOG_END) {
            fprintf(cli_err, "maplog: %s\n", maplog_reader_errmsg(r));
            failed = 1;
        }
        for (size_t j = k; j-- > 0;) {
            const maplog_record *x = &w[j].rec;
            if (n < a->limit && x->timestamp_ns >= a->since && x->timestamp_ns <= a->until) {
                cli_print_record(cli_out, x, a->format, a->local);
                n++;
            }
            free(w[j].copy);
        }
        if (cli_out_failed())
            break;
        hi = start;
        win = win < WINDOW / 2 ? 2 * win : WINDOW;
    }
    free(w);
    return failed ? EXIT_PROBLEMS : status;
}

int cli_cmd_dump(cli_args *a)
{
    maplog_reader *r;
    int rc;
    int positioned = 0;
    if ((rc = cli_open_reader(a->pos[0], a->voids ? MAPLOG_READER_VOIDS : 0, &r)))
        return rc;
    if ((rc = cli_cursor_start(r, a, &positioned))) {
        maplog_reader_close(r);
        return rc;
    }
    if (!positioned)
        apply_lines(r, a);
    if (a->follow)
        cli_catch_signals();
    rc = a->reverse ? emit_reverse(r, a) : emit_forward(r, a, positioned);
    crash_note(r, a);
    if (!a->follow && !cli_interrupted) {
        int m = cli_missing_note(r, a->pos[0]);
        if (rc == EXIT_OK)
            rc = m;
    }
    maplog_reader_close(r);
    return rc;
}

int cli_cmd_tail(cli_args *a)
{
    if (!a->have_lines)
        a->lines = 10, a->have_lines = 1;
    return cli_cmd_dump(a);
}
