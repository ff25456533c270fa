/* fuzz_records.c -- the record validity rule, the scan, holes and record hints over an
 * arbitrary segment image: never read outside the image, never call a record valid whose CRC
 * is wrong, the void records made of the holes a scan stepped over read back exactly as that
 * scan, and a hint is taken only for a valid record, with its sequence number, within the
 * limit asked for (the hint table is the input's bytes again, with the HINTS flag set). */
#include "crc32c.h"
#include "internal.h"
#include "fuzz_common.h"

typedef struct fz_holes {
    mlg__hole *h;
    size_t n, cap;
} fz_holes;

static void fz_hole_add(void *ctx, const mlg__hole *h)
{
    fz_holes *hs = ctx;
    if (hs->n == hs->cap) {
        hs->cap = hs->cap ? hs->cap * 2 : 8;
        hs->h = realloc(hs->h, hs->cap * sizeof *hs->h);
        if (!hs->h)
            abort();
    }
    hs->h[hs->n++] = *h;
}

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
    /* the hint table: the same bytes, under the flag that says the table is kept */
    memcpy(map + MLG_HINT_OFFSET, data + 8,
           size - 8 < MLG_DATA_OFFSET - MLG_HINT_OFFSET ? size - 8
                                                        : MLG_DATA_OFFSET - MLG_HINT_OFFSET);
    uint32_t compat = MLG_COMPAT_HINTS;
    memcpy(map + offsetof(mlg__seg_header, compat_flags), &compat, 4);
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
        uint32_t lw = v.len | MLG_REC_VALID | v.flags;
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

    /* hints: whatever the table holds, one taken is a valid record with the sequence
     * number it claims, ending within the limit, at or below the sequence number asked */
    for (int pass = 0; pass < 3; pass++) {
        uint64_t limit = pass == 0 ? img : pass == 1 ? r.end : MLG_DATA_OFFSET + data[5] * 64u;
        uint64_t max_seq = pass == 2 ? first + data[6] : UINT64_MAX;
        mlg__hint h;
        mlg__rec_view v;
        if (mlg__hint_best(map, img, first, limit, max_seq, NULL, NULL, &h) &&
            (h.off < MLG_DATA_OFFSET || (h.off & 7) || h.seq > max_seq || h.seq < first ||
             mlg__rec_check(map, img, h.off, h.seq, &v) != MLG_REC_OK || h.off + v.size > limit))
            abort();
    }
    {
        uint8_t *copy = malloc(img);
        memcpy(copy, map, img);
        mlg__hints_clear_from(copy, img, r.end);
        unsigned from = mlg__hint_slot_from(img, r.end);
        for (unsigned k = 0; k < MLG_HINT_COUNT; k++) {
            uint64_t e = mlg__hint_load(copy, k);
            if (e && (k >= from || (uint32_t)e >= r.end))
                abort(); /* recovery leaves no entry the writer will write again */
        }
        free(copy);
    }

    /* holes: every one inside the image and after the last; made void records, the plain
     * scan then reads exactly as far, and as many records, as the scan that stepped over
     * them -- with a want (a next segment's first seq) from the input too */
    for (int pass = 0; pass < 2; pass++) {
        uint8_t *copy = malloc(img);
        memcpy(copy, map, img);
        uint64_t want = pass ? first + (data[2] | (uint64_t)data[3] << 8) : MLG_NO_WANT;
        fz_holes hs = {0};
        mlg__scan_result h;
        /* no hole before a floor from the input either */
        mlg__hole_rule rule = {MLG_DATA_OFFSET + (uint64_t)(data[4] & 0x3f) * 64, want, NULL, NULL};
        mlg__scan_holes(copy, img, MLG_DATA_OFFSET, first, img, &rule, &h, fz_hole_add, &hs);
        if (h.end > img || (h.end & 7) || h.count < r.count || h.end < r.end)
            abort();
        uint64_t prev = MLG_DATA_OFFSET;
        for (size_t i = 0; i < hs.n; i++) {
            const mlg__hole *x = &hs.h[i];
            if (x->off < prev || x->off < rule.floor || x->end > img || x->end <= x->off ||
                (x->off & 7) || (x->end & 7) || !x->count ||
                x->count * MLG_REC_HEADER_SIZE > x->end - x->off)
                abort();
            prev = x->end;
        }
        for (size_t i = 0; i < hs.n; i++)
            mlg__hole_void(copy, img, &hs.h[i], 0);
        for (size_t i = 0; i < hs.n; i++)
            mlg__hole_void(copy, img, &hs.h[i], 1);
        mlg__scan_result after;
        mlg__scan(copy, img, MLG_DATA_OFFSET, first, img, &after);
        if (after.count != h.count || after.end != h.end || after.voids != h.voids)
            abort();
        free(hs.h);
        free(copy);
    }
    free(map);
    return 0;
}
