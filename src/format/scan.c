/*
 * scan.c -- walking records by the validity rule: the status names, the scan of a valid
 * prefix, the high-water mark after it, and the digest a seal carries.  No I/O.
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

const char *mlg__rec_status_str(int st)
{
    switch (st) {
    case MLG_REC_OK:
        return "valid";
    case MLG_REC_EMPTY:
        return "no record (zero header)";
    case MLG_REC_BADLEN:
        return "bad length word";
    case MLG_REC_BADCRC:
        return "CRC mismatch";
    case MLG_REC_ROLLED:
        return "rollover mark (the writer moved to the next segment)";
    case MLG_REC_PENDING:
        return "reserved, not published";
    }
    return "?";
}

const char *mlg__stop_what(const uint8_t *map, uint64_t seg_size, uint64_t off, int st)
{
    if (off >= MLG_DATA_OFFSET && off <= seg_size && seg_size - off < MLG_REC_HEADER_SIZE) {
        if (mlg__rolled_at(map, seg_size, off))
            return mlg__rec_status_str(MLG_REC_ROLLED);
        return "too few bytes left for a record header";
    }
    return mlg__rec_status_str(st);
}

void mlg__scan(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq, uint64_t limit,
               mlg__scan_result *r)
{
    mlg__rec_view v;
    r->count = 0;
    r->last_ts = 0;
    r->voids = 0;
    r->holes = 0;
    r->stop = MLG_REC_OK;
    while (off < limit) {
        int st = mlg__rec_check(map, seg_size, off, seq, &v);
        if (st != MLG_REC_OK) {
            r->stop = st;
            break;
        }
        if (v.ts > r->last_ts)
            r->last_ts = v.ts;
        r->voids += v.flags != 0;
        off += v.size;
        seq++;
        r->count++;
    }
    r->end = off;
}

uint64_t mlg__high_water(const uint8_t *map, uint64_t seg_size, uint64_t from)
{
    uint64_t hw = from;
    for (uint64_t o = (from + 7) & ~(uint64_t)7; o + 8 <= seg_size; o += 8) {
        uint64_t w;
        memcpy(&w, map + o, 8);
        if (w)
            hw = o + 8;
    }
    return hw;
}

uint64_t mlg__digest(const uint8_t *map, uint64_t end)
{
    return XXH3_64bits(map + MLG_DATA_OFFSET, end - MLG_DATA_OFFSET);
}

/* ---- holes ----------------------------------------------------------------------------- */

/* One piece of a hole: a pending reservation (one record, its extent known from the
 * pending word) or a run of zero bytes (reservations whose writer died before storing the
 * pending word: nothing else of theirs was written, so the run ends where the next
 * reservation's first word is; at least one record, at most one per 16 bytes). */
typedef struct hole_piece {
    uint64_t size, max;
} hole_piece;

static int hole_piece_at(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t limit,
                         hole_piece *p)
{
    if (limit > seg_size)
        limit = seg_size;
    if (off > limit || limit - off < MLG_REC_HEADER_SIZE)
        return 0;
    uint64_t w = mlg__rec_word(map, off);
    if (w == 0) {
        uint64_t o = off + 8;
        while (limit - o >= 8 && mlg__rec_word(map, o) == 0)
            o += 8;
        if (limit - o < 8)
            o = limit & ~(uint64_t)7;
        if (o - off < MLG_REC_HEADER_SIZE)
            return 0;
        p->size = o - off;
        p->max = p->size / MLG_REC_HEADER_SIZE;
        return 1;
    }
    uint32_t lw = (uint32_t)w;
    if ((lw & (MLG_REC_VALID | MLG_REC_VOID)) || (uint32_t)(w >> 32) != MLG_PENDING_TAG)
        return 0;
    uint64_t size = mlg__rec_size(lw & MLG_REC_LEN_MASK);
    if (size > limit - off)
        return 0;
    p->size = size;
    p->max = 1;
    return 1;
}

int mlg__hole_find(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq,
                   uint64_t limit, const mlg__hole_rule *rule, mlg__hole *h)
{
    uint64_t o = off, min = 0, max = 0, want = rule->want;
    mlg__rec_view v;
    if (limit > seg_size)
        limit = seg_size;
    if (off < rule->floor)
        return 0; /* synced records are never in a hole: damage, not a crash */
    for (;;) {    /* each piece moves o on by 16 bytes or more */
        if (o > limit || limit - o < MLG_REC_HEADER_SIZE)
            break;
        uint64_t w = mlg__rec_word(map, o);
        if (w == MLG_ROLLED_WORD)
            break;
        if (min && ((uint32_t)w & MLG_REC_VALID)) {
            /* The record after the hole says how many records the hole held: its CRC
             * covers its sequence number.  Zero runs may hold more than one each. */
            uint64_t top = max - min > MLG_HOLE_EXTRA_MAX ? min + MLG_HOLE_EXTRA_MAX : max;
            for (uint64_t j = min; j <= top; j++) {
                int st = mlg__rec_check(map, seg_size, o, seq + j, &v);
                if (st == MLG_REC_OK) {
                    *h = (mlg__hole){off, o, seq, j};
                    return 1;
                }
                if (st != MLG_REC_BADCRC)
                    return 0; /* its length is bad: no sequence number will do */
            }
            return 0;
        }
        hole_piece p;
        if (!hole_piece_at(map, seg_size, o, limit, &p))
            return 0;
        min++;
        max += p.max;
        o += p.size;
    }
    /* The end of the segment's reservations: the rollover mark, or no room for a record.
     * Only the next segment's first sequence number can vouch for records here. */
    if (want == MLG_NO_WANT || !min || want < seq || want - seq < min || want - seq > max ||
        (rule->want_ok && !rule->want_ok(rule->want_ctx)))
        return 0;
    *h = (mlg__hole){off, o, seq, want - seq};
    return 1;
}

void mlg__scan_holes(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq,
                     uint64_t limit, const mlg__hole_rule *rule, mlg__scan_result *r,
                     void (*fn)(void *ctx, const mlg__hole *h), void *ctx)
{
    mlg__scan_result part;
    uint64_t count = 0, voids = 0, holes = 0, last_ts = 0;
    for (;;) { /* each round moves off on: a hole is at least 16 bytes */
        mlg__scan(map, seg_size, off, seq, limit, &part);
        count += part.count;
        voids += part.voids;
        seq += part.count;
        off = part.end;
        if (part.last_ts > last_ts)
            last_ts = part.last_ts;
        mlg__hole h;
        if ((part.stop != MLG_REC_EMPTY && part.stop != MLG_REC_PENDING) ||
            !mlg__hole_find(map, seg_size, off, seq, limit, rule, &h))
            break;
        if (fn)
            fn(ctx, &h);
        count += h.count;
        voids += h.count;
        holes += h.count;
        seq += h.count;
        off = h.end;
    }
    r->end = off;
    r->count = count;
    r->voids = voids;
    r->holes = holes;
    r->last_ts = last_ts;
    r->stop = part.stop;
}

/* Store the word of a void record of payload length len at off, sequence number seq.  Its
 * timestamp and payload are zero (phase 0 made them so). */
static void void_word(uint8_t *map, uint64_t off, uint64_t seq, uint32_t len)
{
    uint32_t lw = len | MLG_REC_VALID | MLG_REC_VOID;
    uint32_t crc = mlg__record_crc(seq, lw, 0, map + off + MLG_REC_HEADER_SIZE, len);
    __atomic_store_n((uint64_t *)(void *)(map + off), (uint64_t)lw | ((uint64_t)crc << 32),
                     __ATOMIC_RELEASE);
}

void mlg__hole_void(uint8_t *map, uint64_t seg_size, const mlg__hole *h, int phase)
{
    uint64_t pieces = 0, o = h->off, seq = h->seq;
    hole_piece p;
    while (o < h->end && hole_piece_at(map, seg_size, o, h->end, &p)) {
        pieces++;
        o += p.size;
    }
    /* Each piece holds one record; the extra ones go to the first zero runs with room. */
    uint64_t extra = h->count > pieces ? h->count - pieces : 0;
    o = h->off;
    while (o < h->end && hole_piece_at(map, seg_size, o, h->end, &p)) {
        uint64_t c = 1 + (extra < p.max - 1 ? extra : p.max - 1);
        extra -= c - 1;
        if (phase == 0) {
            memset(map + o + 8, 0, p.size - 8);
        } else {
            for (uint64_t i = 0; i + 1 < c; i++)
                void_word(map, o + i * MLG_REC_HEADER_SIZE, seq + i, 0);
            uint64_t last = o + (c - 1) * MLG_REC_HEADER_SIZE;
            void_word(map, last, seq + c - 1, (uint32_t)(o + p.size - last - MLG_REC_HEADER_SIZE));
        }
        seq += c;
        o += p.size;
    }
}

/* ---- record hints ---- */

/* The checks of an entry that read no record: an aligned offset at or past 4096 with room
 * for a record header before limit, and a sequence number the bytes before it can hold. */
static int hint_plausible(uint64_t word, uint64_t limit)
{
    uint64_t off = (uint32_t)word, delta = word >> 32;
    return word != 0 && off >= MLG_DATA_OFFSET && !(off & 7) && off < limit &&
           limit - off >= MLG_REC_HEADER_SIZE &&
           delta <= (off - MLG_DATA_OFFSET) / MLG_REC_HEADER_SIZE;
}

int mlg__hint_check(const uint8_t *map, uint64_t seg_size, uint64_t first, uint64_t limit,
                    uint64_t word, mlg__hint *h)
{
    mlg__rec_view v;
    if (limit > seg_size)
        limit = seg_size;
    if (!hint_plausible(word, limit))
        return 0;
    uint64_t off = (uint32_t)word, seq = first + (word >> 32);
    if (mlg__rec_check(map, seg_size, off, seq, &v) != MLG_REC_OK || v.size > limit - off)
        return 0;
    h->off = off;
    h->seq = seq;
    return 1;
}

int mlg__hint_best(const uint8_t *map, uint64_t seg_size, uint64_t first, uint64_t limit,
                   uint64_t max_seq, void (*touch)(void *ctx, uint64_t off), void *ctx,
                   mlg__hint *h)
{
    uint64_t w[MLG_HINT_COUNT];
    unsigned n = 0;
    if (seg_size < MLG_DATA_OFFSET || !mlg__seg_has_hints(map) || max_seq < first)
        return 0;
    if (limit > seg_size)
        limit = seg_size;
    /* the plausible entries, by the sequence number they claim, largest first (insertion,
     * from the last slot: a table the writer wrote takes no move) */
    for (unsigned k = MLG_HINT_COUNT; k-- > 0;) {
        uint64_t e = mlg__hint_load(map, k);
        if (!hint_plausible(e, limit) || (e >> 32) > max_seq - first)
            continue;
        unsigned j = n++;
        for (; j > 0 && (w[j - 1] >> 32) < (e >> 32); j--)
            w[j] = w[j - 1];
        w[j] = e;
    }
    for (unsigned j = 0; j < n; j++) {
        if (touch)
            touch(ctx, (uint32_t)w[j]);
        if (mlg__hint_check(map, seg_size, first, limit, w[j], h))
            return 1;
    }
    return 0;
}

int mlg__hints_clear_from(uint8_t *map, uint64_t seg_size, uint64_t end)
{
    unsigned from = mlg__hint_slot_from(seg_size, end);
    int any = 0;
    for (unsigned k = 0; k < MLG_HINT_COUNT; k++) {
        uint64_t w = mlg__hint_load(map, k);
        if (w && (k >= from || (uint32_t)w >= end)) {
            __atomic_store_n((uint64_t *)(void *)(map + MLG_HINT_OFFSET + 8u * k), 0,
                             __ATOMIC_RELAXED);
            any = 1;
        }
    }
    return any;
}
