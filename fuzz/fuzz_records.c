/* fuzz_records.c -- the record validity rule and the scan over an arbitrary segment image:
 * never read outside the image, and never call a record valid whose CRC is wrong. */
#include "crc32c.h"
#include "internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t first = data[0] | (uint64_t)data[1] << 8;
    /* the image: a zero header page, then the input (its own exact size, so ASan sees
     * any read past the end) */
    size_t img = MLG_DATA_OFFSET + size - 8;
    uint8_t *map = malloc(img);
    memset(map, 0, MLG_DATA_OFFSET);
    memcpy(map + MLG_DATA_OFFSET, data + 8, size - 8);
    mlg__scan_result r;
    mlg__scan(map, img, MLG_DATA_OFFSET, first, img, &r);
    if (r.end > img || (r.end & 7))
        abort();
    /* every record the scan accepted re-checks, with the CRC recomputed independently */
    uint64_t off = MLG_DATA_OFFSET;
    for (uint64_t i = 0; i < r.count; i++) {
        mlg__rec_view v;
        if (mlg__rec_check(map, img, off, first + i, &v) != MLG_REC_OK)
            abort();
        uint8_t pre[20];
        uint64_t seq = first + i;
        uint32_t lw = v.len | MLG_REC_VALID;
        memcpy(pre, &seq, 8);
        memcpy(pre + 8, &lw, 4);
        memcpy(pre + 12, &v.ts, 8);
        if (mlg__crc32c_sw(mlg__crc32c_sw(0, pre, 20), v.payload, v.len) != v.crc_stored)
            abort(); /* accepted a record whose CRC the table implementation rejects */
        if (v.payload + v.len > map + img)
            abort();
        off += v.size;
    }
    if (off != r.end)
        abort();
    /* arbitrary offsets too */
    for (size_t k = 0; k + 2 <= size && k < 64; k += 2) {
        mlg__rec_view v;
        uint64_t o = ((uint64_t)data[k] << 8 | data[k + 1]) * 8;
        mlg__rec_check(map, img, o, first, &v);
    }
    mlg__high_water(map, img, r.end);
    mlg__digest(map, r.end);
    free(map);
    return 0;
}
