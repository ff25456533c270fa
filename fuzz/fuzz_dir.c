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
    for (int k = MAPLOG_INFO_SEGMENTS; k <= MAPLOG_INFO_UNCOUNTED_SEGMENTS; k++)
        maplog_reader_info_get(r, (maplog_reader_info)k, &v);
    /* what replay returns of the first 256 sequence numbers, to hold seeks to (a seek
     * starts its walk at a record hint: a bad one must not change what is read) */
    static uint64_t ts[256];
    static uint32_t len[256];
    static uint8_t seen[256];
    memset(seen, 0, sizeof seen);
    int rc, n = 0, clean = 1;
    while ((rc = maplog_reader_next(r, &rec)) != MAPLOG_END && n < 100000) {
        if (rc == MAPLOG_ECORRUPT) {
            clean = 0;
            if (maplog_reader_skip_segment(r) != 0)
                break;
        } else if (rc != 0) {
            clean = 0;
            break;
        } else if (rec.seq < 256 && clean) {
            seen[rec.seq] = 1;
            ts[rec.seq] = rec.timestamp_ns;
            len[rec.seq] = (uint32_t)rec.len;
        }
        n++;
    }
    for (size_t k = 0; k < 4 && k < size; k++) {
        uint64_t s = data[k];
        if (maplog_reader_seek(r, s) == 0 && maplog_reader_next(r, &rec) == 0 && seen[s] &&
            (rec.seq != s || rec.timestamp_ns != ts[s] || rec.len != len[s]))
            abort();
    }
    maplog_reader_seek(r, size ? data[0] : 0);
    maplog_reader_next(r, &rec);
    maplog_reader_seek_time(r, size > 1 ? (uint64_t)data[1] << 56 : 0);
    maplog_reader_next(r, &rec);
    maplog_reader_close(r);
    return 0;
}
