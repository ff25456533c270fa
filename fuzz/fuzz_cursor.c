/* fuzz_cursor.c -- a cursor from a hostile cursor file: arbitrary bytes, seeked to in a small
 * log.  Never a crash or a read out of bounds; a cursor is accepted only when it names a
 * record of this log with its check, and then the reader is just after that record and
 * its cursor is the same string; and a real cursor with input bytes written over it is
 * accepted only if unchanged. */
#include "../include/maplog.h"
#include "fuzz_common.h"

static const char *log_dir(void)
{
    static char dir[300];
    if (!dir[0]) { /* once per process: a log of 20 records */
        maplog *log;
        maplog_options *o;
        snprintf(dir, sizeof dir, "%s/log", fz_scratch());
        fz_clear(dir);
        maplog_options_create(&o);
        maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, 65536);
        maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0);
        if (maplog_open(&log, dir, o))
            abort();
        for (int i = 0; i < 20; i++)
            maplog_append(log, "record", 6, NULL);
        maplog_close(log);
        maplog_options_free(o);
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[256];
    maplog_reader *r;
    maplog_record rec;
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    if (maplog_reader_open(&r, log_dir(), 0))
        abort();
    int rc = maplog_reader_seek_cursor(r, s);
    if (rc == 0) {
        char back[MAPLOG_CURSOR_MAX];
        /* accepted: it named a record of this log; its cursor is the input itself */
        if (maplog_reader_cursor(r, back, sizeof back) != 0 || strcmp(back, s) != 0)
            abort();
        int nr = maplog_reader_next(r, &rec);
        if (nr != 0 && nr != MAPLOG_END)
            abort();
    } else if (rc != MAPLOG_EINVAL && rc != MAPLOG_ESTALE && rc != MAPLOG_END &&
               rc != MAPLOG_ENOENT) {
        abort();
    }
    maplog_reader_close(r);

    /* a real cursor, with bytes of the input written over it: accepted only unchanged */
    if (size < 2 || maplog_reader_open(&r, log_dir(), 0))
        return 0;
    char good[MAPLOG_CURSOR_MAX], bent[MAPLOG_CURSOR_MAX];
    for (unsigned i = 0; i <= data[0] % 20u; i++)
        maplog_reader_next(r, &rec);
    if (maplog_reader_cursor(r, good, sizeof good) != 0)
        abort();
    memcpy(bent, good, sizeof bent);
    size_t len = strlen(good);
    for (size_t k = 1; k + 1 < size && k < 16; k += 2)
        bent[data[k] % len] = (char)data[k + 1];
    maplog_reader_close(r);
    if (maplog_reader_open(&r, log_dir(), 0))
        abort();
    rc = maplog_reader_seek_cursor(r, bent);
    if (rc == 0 && strcmp(bent, good) != 0)
        abort(); /* a changed cursor named the same record */
    if (strcmp(bent, good) == 0 && rc != 0)
        abort(); /* the record's own cursor refused */
    maplog_reader_close(r);
    return 0;
}
