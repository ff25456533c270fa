/* fuzz_recovery.c -- recovery of an arbitrary last segment: the input becomes the one
 * segment of a log; opening it for writing (strict, then lenient) must fail cleanly or
 * succeed, and after success appending, closing and replaying must work, every record
 * replayed intact. */
#include "../include/maplog.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_scratch();
    maplog_options *o;
    fz_clear(dir);
    fz_write(dir, "00000000000000000000.mlog", data, size);
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_CREATE, 0);
    maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, 65536);
    maplog_options_set(o, MAPLOG_OPT_DURABILITY, MAPLOG_DURABILITY_NONE);
    maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0);
    for (int strict = 1; strict >= 0; strict--) {
        maplog *log;
        maplog_options_set(o, MAPLOG_OPT_STRICT_RECOVERY, strict);
        if (maplog_open(&log, dir, o) != 0)
            continue;
        uint64_t seq, next;
        maplog_next_seq(log, &next);
        if (maplog_append(log, "fuzz", 4, &seq) == 0 && seq != next)
            abort();
        maplog_close(log);
        maplog_reader *r;
        maplog_record rec;
        if (maplog_reader_open(&r, dir, 0) == 0) {
            int rc;
            uint64_t n = 0;
            while ((rc = maplog_reader_next(r, &rec)) == 0)
                n++;
            if (rc == MAPLOG_END && n != next + 1)
                abort(); /* what recovery kept, plus ours, all readable */
            maplog_reader_close(r);
        }
        break;
    }
    maplog_options_free(o);
    return 0;
}
