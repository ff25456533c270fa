/* fuzz_archive.c -- an archived segment (NAME.mlogz) of arbitrary bytes: its header, block
 * header, block index and blocks are hostile.  A reader replays it, seeks by sequence
 * number and by time, and reads its figures; verify checks it.  Never a crash, never a
 * read outside the file or the segment, never a record that fails its check. */
#include "../include/maplog.h"
#include "fuzz_common.h"

static void on_problem(void *ctx, const maplog_problem *p)
{
    (void)ctx;
    (void)p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_scratch();
    fz_clear(dir);
    fz_write(dir, "00000000000000000000.mlogz", data, size);
    maplog_reader *r;
    maplog_record rec, batch[16];
    if (maplog_reader_open(&r, dir, 0) != 0)
        return 0;
    int64_t v;
    for (int k = MAPLOG_INFO_SEGMENTS; k <= MAPLOG_INFO_INFLATED_BYTES; k++)
        maplog_reader_info_get(r, (maplog_reader_info)k, &v);
    int rc, n = 0;
    size_t got;
    while ((rc = maplog_reader_next_batch(r, batch, 16, &got)) == 0 && n < 100000)
        n += (int)got;
    for (int k = 0; k < 4 && size > (size_t)k; k++) {
        maplog_reader_seek(r, data[size - 1 - k] * 7u);
        maplog_reader_next(r, &rec);
        maplog_reader_seek_time(r, (uint64_t)data[k] << 56);
        maplog_reader_next(r, &rec);
    }
    maplog_reader_close(r);
    maplog_verify(dir, 0, on_problem, NULL, NULL, NULL);
    return 0;
}
