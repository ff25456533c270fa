/* events.c -- the smallest complete use of maplog: log events, make them durable, replay.
 *
 * Against an installed maplog (cmake --install), linked to the shared library:
 *
 *   cc events.c $(pkg-config --cflags --libs maplog) -o events && ./events /tmp/events-log
 *
 * or as a static program, with libmaplog.a, libxxhash.a and libz.a:
 *
 *   cc -static events.c $(pkg-config --static --cflags --libs maplog) -o events
 *
 * Built and run by the test suite, in the tree and both ways against an install, so it
 * stays correct. */
#include <maplog.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "events-log";
    maplog *log;
    if (maplog_open(&log, dir, NULL) != 0) { /* creates the log, or recovers it */
        fprintf(stderr, "open: %s\n", maplog_last_open_error());
        return 1;
    }
    uint64_t first;
    maplog_next_seq(log, &first);
    for (int i = 0; i < 1000; i++) {
        char ev[64];
        int n = snprintf(ev, sizeof ev, "{\"event\":\"click\",\"n\":%d}", i);
        if (maplog_append(log, ev, (size_t)n, NULL) != 0) {
            fprintf(stderr, "append: %s\n", maplog_errmsg(log));
            return 1;
        }
    }
    if (maplog_sync(log) != 0 || maplog_close(log) != 0) { /* durable, then closed */
        fprintf(stderr, "sync/close: %s\n", maplog_errmsg(NULL));
        return 1;
    }

    /* replay what this run wrote: every record's CRC is checked by the reader */
    maplog_reader *r;
    maplog_record rec;
    if (maplog_reader_open(&r, dir, 0) != 0 || maplog_reader_seek(r, first) != 0) {
        fprintf(stderr, "reader: %s\n", maplog_last_open_error());
        return 1;
    }
    int count = 0, rc;
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        char want[64];
        int n = snprintf(want, sizeof want, "{\"event\":\"click\",\"n\":%d}", count);
        if (rec.len != (size_t)n || memcmp(rec.data, want, rec.len) != 0) {
            fprintf(stderr, "record %llu differs\n", (unsigned long long)rec.seq);
            return 1;
        }
        count++;
    }
    maplog_reader_close(r);
    if (rc != MAPLOG_END || count != 1000) {
        fprintf(stderr, "replayed %d records (rc %d)\n", count, rc);
        return 1;
    }
    printf("logged and replayed %d events (seq %llu..%llu)\n", count, (unsigned long long)first,
           (unsigned long long)(first + 999));
    return 0;
}
