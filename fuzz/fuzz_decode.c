/* fuzz_decode.c -- maplog_record_decode over arbitrary bytes: a batch of record images as a
 * mirror receives it.  The first 8 bytes are the first record's sequence number
 * (little-endian); the rest is decoded record after record, each as the next sequence
 * number, until one is refused.  Never a read outside the buffer (it is exactly the
 * input's size); every record accepted lies inside it, its CRC checks out by the table
 * implementation, it is refused cut one byte short and, where its CRC must tell them
 * apart, as the next sequence number; a refusal gives a reason and changes nothing; and
 * the records accepted are exactly those a reader's scan of the same bytes accepts. */
#include "crc32c.h"
#include "internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t seq0;
    memcpy(&seq0, data, 8);
    size_t n = size - 8;
    uint8_t *buf = malloc(n ? n : 1);
    if (n)
        memcpy(buf, data + 8, n);
    size_t off = 0;
    uint64_t seq = seq0, count = 0;
    for (;;) {
        maplog_record rec = {0}, again;
        size_t used = 0, u2;
        const char *why = NULL;
        int rc = maplog_record_decode(buf + off, n - off, seq, &rec, &used, &why);
        if (rc != 0) {
            if (rc != MAPLOG_ECORRUPT || !why || !*why || used != 0 || rec.seq || rec.data)
                abort(); /* a refusal: a reason, and nothing filled in */
            break;
        }
        const uint8_t *p = buf + off;
        if (used < MLG_REC_HEADER_SIZE || used > n - off || used % 8 || rec.seq != seq ||
            rec.len > used - MLG_REC_HEADER_SIZE)
            abort();
        uint32_t lw, crc;
        uint64_t ts;
        memcpy(&lw, p, 4);
        memcpy(&crc, p + 4, 4);
        memcpy(&ts, p + 8, 8);
        if (rec.flags == MAPLOG_RECORD_VOID) {
            if (rec.data || rec.len || rec.timestamp_ns || !(lw & MLG_REC_VOID))
                abort();
        } else {
            if (rec.flags || (lw & MLG_REC_VOID) || rec.timestamp_ns != ts ||
                (const uint8_t *)rec.data != p + MLG_REC_HEADER_SIZE ||
                (const uint8_t *)rec.data + rec.len > buf + n)
                abort();
        }
        /* the CRC, recomputed by the table implementation over seq, len word, ts, payload */
        uint64_t plen = lw & MLG_REC_LEN_MASK;
        uint8_t pre[20];
        memcpy(pre, &seq, 8);
        memcpy(pre + 8, &lw, 4);
        memcpy(pre + 12, &ts, 8);
        if (!(lw & MLG_REC_VALID) || mlg__rec_size(plen) != used ||
            mlg__crc32c_sw(mlg__crc32c_sw(0, pre, 20), p + MLG_REC_HEADER_SIZE, plen) != crc)
            abort();
        /* one byte short is truncated; decoded as the next seq, the CRC tells (a change
         * of seq in a burst of at most 32 bits: a CRC-32 detects every one) */
        uint8_t *cut = malloc(used - 1);
        memcpy(cut, p, used - 1);
        if (maplog_record_decode(cut, used - 1, seq, &again, &u2, &why) != MAPLOG_ECORRUPT)
            abort();
        free(cut);
        if (((seq ^ (seq + 1)) >> 32) == 0 &&
            maplog_record_decode(p, n - off, seq + 1, &again, &u2, &why) != MAPLOG_ECORRUPT)
            abort();
        off += used;
        seq++;
        count++;
    }
    /* a reader's scan of the same bytes, as the records of a segment, agrees */
    uint8_t *map = malloc(MLG_DATA_OFFSET + n);
    memset(map, 0, MLG_DATA_OFFSET);
    if (n)
        memcpy(map + MLG_DATA_OFFSET, buf, n);
    mlg__scan_result r;
    mlg__scan(map, MLG_DATA_OFFSET + n, MLG_DATA_OFFSET, seq0, MLG_DATA_OFFSET + n, &r);
    if (r.count != count || r.end != MLG_DATA_OFFSET + off)
        abort();
    free(map);
    free(buf);
    return 0;
}
