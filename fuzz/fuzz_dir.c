/* fuzz_dir.c -- a whole directory of arbitrary segments.  The input is split into up to
 * four files at 0xFF 'M' 'L' 'G' markers; each later piece's first two bytes (big-endian)
 * are its first sequence number.  Readers replay, seek and seek by time; never a crash, never a
 * record that fails its check. */
#include "../include/maplog.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_scratch();
    fz_clear(dir);
    fz_split_segments(dir, data, size, 4);
    maplog_reader *r;
    maplog_record rec;
    if (maplog_reader_open(&r, dir, 0) != 0)
        return 0;
    int64_t v;
    for (int k = MAPLOG_INFO_SEGMENTS; k <= MAPLOG_INFO_TORN_VALID_AFTER; k++)
        maplog_reader_info_get(r, (maplog_reader_info)k, &v);
    int rc, n = 0;
    while ((rc = maplog_reader_next(r, &rec)) != MAPLOG_END && n < 100000) {
        if (rc == MAPLOG_ECORRUPT) {
            if (maplog_reader_skip_segment(r) != 0)
                break;
        } else if (rc != 0) {
            break;
        }
        n++;
    }
    maplog_reader_seek(r, size ? data[0] : 0);
    maplog_reader_next(r, &rec);
    maplog_reader_seek_time(r, size > 1 ? (uint64_t)data[1] << 56 : 0);
    maplog_reader_next(r, &rec);
    maplog_reader_close(r);
    return 0;
}
