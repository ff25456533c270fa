/*
 * record.h -- the record validity rule (docs/FORMAT.md, "Records"), inline because it is
 * the body of every record walk, and the walks built on it (scan.c).
 */
#ifndef MLG_RECORD_H
#define MLG_RECORD_H

#include "crc32c.h"
#include "format.h"

#include <stdint.h>
#include <string.h>

/* The record validity rule (docs/FORMAT.md, "Records"). */
enum mlg__rec_status {
    MLG_REC_OK = 0,
    MLG_REC_EMPTY = 1,   /* publication word is zero: no record (yet) */
    MLG_REC_BADLEN = 2,  /* length word without the valid bit, or running past the segment */
    MLG_REC_BADCRC = 3,  /* CRC mismatch */
    MLG_REC_ROLLED = 4,  /* the rollover mark: the writer moved on to the next segment */
    MLG_REC_PENDING = 5, /* a pending word: reserved, not yet published */
};
typedef struct mlg__rec_view {
    uint32_t len;
    uint32_t crc_stored;
    uint32_t crc_computed;
    uint64_t ts;
    const uint8_t *payload;
    uint64_t size;  /* bytes the record occupies */
    uint32_t flags; /* MLG_REC_VOID for a void record */
} mlg__rec_view;
/* The publication word of the record at off (docs/FORMAT.md, "Records"): 0 while nothing is
 * published there, MLG_ROLLED_WORD at the rollover mark, else the record's length word (low
 * half) and CRC (high half).  An acquire load: once it is non-zero, the record's other
 * bytes are visible.  Every reading of the word goes through here. */
static inline uint64_t mlg__rec_word(const uint8_t *map, uint64_t off)
{
    return __atomic_load_n((const uint64_t *)(const void *)(map + off), __ATOMIC_ACQUIRE);
}
/* Is there a rollover mark at off of a segment of seg_size bytes (room for its 8 bytes,
 * even where no record header fits)? */
static inline int mlg__rolled_at(const uint8_t *map, uint64_t seg_size, uint64_t off)
{
    return off <= seg_size && seg_size - off >= 8 && !(off & 7) &&
           mlg__rec_word(map, off) == MLG_ROLLED_WORD;
}

/* The bytes (header, payload, padding) of the record a word announces, or 0 when it
 * announces none: nothing published, the rollover mark, or no valid bit.  Checks no CRC:
 * for walks over records whose CRC is checked elsewhere, or that their own writer wrote. */
static inline uint64_t mlg__rec_word_size(uint64_t word)
{
    if (word == 0 || word == MLG_ROLLED_WORD || !((uint32_t)word & MLG_REC_VALID))
        return 0;
    return mlg__rec_size((uint32_t)word & MLG_REC_LEN_MASK);
}

/* The record validity rule (docs/FORMAT.md, "Records") for the record at rec, with room
 * bytes (at least MLG_REC_HEADER_SIZE) from rec to the end of the segment -- or of a
 * buffer holding a record image (maplog_record_decode) -- and word its first 8 bytes, as
 * the caller loaded them.  Reads nothing outside [rec, rec + room). */
static inline int mlg__rec_check_word(const uint8_t *rec, uint64_t room, uint64_t word,
                                      uint64_t seq, mlg__rec_view *v)
{
    if (word == 0)
        return MLG_REC_EMPTY;
    if (word == MLG_ROLLED_WORD)
        return MLG_REC_ROLLED;
    uint32_t len_word = (uint32_t)word;
    v->crc_stored = (uint32_t)(word >> 32);
    v->len = len_word & MLG_REC_LEN_MASK;
    v->flags = len_word & MLG_REC_VOID;
    if (v->len > room - MLG_REC_HEADER_SIZE)
        return MLG_REC_BADLEN;
    if (!(len_word & MLG_REC_VALID)) {
        if (v->crc_stored != MLG_PENDING_TAG || v->flags || mlg__rec_size(v->len) > room)
            return MLG_REC_BADLEN;
        v->size = mlg__rec_size(v->len);
        return MLG_REC_PENDING;
    }
    memcpy(&v->ts, rec + 8, 8);
    v->payload = rec + MLG_REC_HEADER_SIZE;
    v->size = mlg__rec_size(v->len);
    if (v->size > room) /* the padding would run past the end */
        return MLG_REC_BADLEN;
    v->crc_computed = mlg__record_crc(seq, len_word, v->ts, v->payload, v->len);
    return v->crc_computed == v->crc_stored ? MLG_REC_OK : MLG_REC_BADCRC;
}

/* The rule at offset off of a segment mapped at map.  Inline: it is the body of every
 * record walk (replay, recovery, verify). */
static inline int mlg__rec_check(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq,
                                 mlg__rec_view *v)
{
    if (off < MLG_DATA_OFFSET || off > seg_size || seg_size - off < MLG_REC_HEADER_SIZE ||
        (off & 7))
        return MLG_REC_EMPTY; /* no room for even a header: the segment is full here */
    /* Records are checked in order (replay, recovery, verify), and hardware prefetchers stop
     * at page boundaries: reading ahead 2 KiB keeps the next page's lines and TLB entry on
     * the way.  Replaying 64-byte records: 43 -> 63-68 M records/s.  Never faults. */
    if (seg_size - off > 2048)
        __builtin_prefetch(map + off + 2048, 0, 3);
    return mlg__rec_check_word(map + off, seg_size - off, mlg__rec_word(map, off), seq, v);
}

const char *mlg__rec_status_str(int st);
/* Why a walk stopped at off with status st, for a person: st's words, unless no record
 * header fits there, where it says what the bytes left hold (a rollover mark, or too few
 * bytes), which the record rule does not look at. */
const char *mlg__stop_what(const uint8_t *map, uint64_t seg_size, uint64_t off, int st);

/* ---- record hints (docs/FORMAT.md, "Record hints") ---- */

/* A record a hint named, checked: its offset and sequence number. */
typedef struct mlg__hint {
    uint64_t off, seq;
} mlg__hint;

/* Entry k of the hint table of the segment mapped at map, as stored.  An acquire load: the
 * writer stores an entry with a release store. */
static inline uint64_t mlg__hint_load(const uint8_t *map, unsigned k)
{
    return __atomic_load_n((const uint64_t *)(const void *)(map + MLG_HINT_OFFSET + 8u * k),
                           __ATOMIC_ACQUIRE);
}

/* Does the segment's header (checked by the caller) say its hint table is kept? */
static inline int mlg__seg_has_hints(const uint8_t *map)
{
    uint32_t compat;
    memcpy(&compat, map + offsetof(mlg__seg_header, compat_flags), 4);
    return (compat & MLG_COMPAT_HINTS) != 0;
}

/* The first slot whose records start at or past end (MLG_HINT_COUNT when none does): the
 * slot a writer appending at end fills next. */
static inline unsigned mlg__hint_slot_from(uint64_t seg_size, uint64_t end)
{
    uint64_t stride = mlg__hint_stride(seg_size);
    if (end <= MLG_DATA_OFFSET)
        return 0;
    uint64_t k = (end - MLG_DATA_OFFSET + stride - 1) / stride;
    return k < MLG_HINT_COUNT ? (unsigned)k : MLG_HINT_COUNT;
}

/* Entry word of the segment of seg_size bytes mapped at map, whose first sequence number is
 * first: 1 with *h when it names a record that is there -- an 8-byte aligned offset at or
 * past 4096, a sequence number the bytes before it can hold, and a record valid by the
 * validity rule with that sequence number (its CRC covers it) that ends at or before
 * limit.  Reads the record's bytes: the caller asks for their pages first. */
int mlg__hint_check(const uint8_t *map, uint64_t seg_size, uint64_t first, uint64_t limit,
                    uint64_t word, mlg__hint *h);
/* The checked hint of the segment with the largest sequence number at most max_seq, whose
 * record ends at or before limit: entries are tried from the largest sequence number they
 * claim down, and touch(ctx, off) is called before the record at off is read.  1 with *h,
 * or 0 when no entry checks out (or the segment keeps no hints).  At most MLG_HINT_COUNT
 * records are read; a hint that fails its check costs that read only. */
int mlg__hint_best(const uint8_t *map, uint64_t seg_size, uint64_t first, uint64_t limit,
                   uint64_t max_seq, void (*touch)(void *ctx, uint64_t off), void *ctx,
                   mlg__hint *h);
/* Recovery, before appending resumes at end: clear every entry naming an offset at or past
 * end, and every entry of a slot the writer fills again from end on.  1 if any was set. */
int mlg__hints_clear_from(uint8_t *map, uint64_t seg_size, uint64_t end);

/* Scan records from (off, seq) while valid and before limit. */
typedef struct mlg__scan_result {
    uint64_t end;     /* offset after the last valid record */
    uint64_t count;   /* valid records scanned */
    uint64_t last_ts; /* largest timestamp seen (0 if none) */
    int stop;         /* status of the record at end (MLG_REC_*), OK if limit reached */
    uint64_t voids;   /* void records among count (and, for mlg__scan_holes, hole records) */
    uint64_t holes;   /* mlg__scan_holes: records in holes among voids (0 for mlg__scan) */
} mlg__scan_result;
void mlg__scan(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq, uint64_t limit,
               mlg__scan_result *r);

/* A hole: records that were reserved but never published, because the process died
 * first, with valid records after them (docs/FORMAT.md, "Holes and void records"). */
typedef struct mlg__hole {
    uint64_t off, end; /* its bytes */
    uint64_t seq;      /* the sequence number of its first record */
    uint64_t count;    /* the records it held: at least one */
} mlg__hole;

/* No sequence number is expected after the segment: the hole must be followed by a valid
 * record in it. */
#define MLG_NO_WANT UINT64_MAX
/* Records a run of zero bytes may hold beyond one each: reservations whose writer died in
 * the instant between reserving and storing the pending word, one after another. */
#define MLG_HOLE_EXTRA_MAX 64u

/* Where a hole may be, in one segment (docs/FORMAT.md, "Holes and void records"). */
typedef struct mlg__hole_rule {
    uint64_t floor; /* none before this offset: the checkpoint's end (synced records) */
    uint64_t want;  /* the next segment's first sequence number, or MLG_NO_WANT */
    /* May a hole run to the end of the segment's reservations, its count taken from want?
     * Only if no later segment claims synced records; asked only when it matters.  NULL:
     * yes. */
    int (*want_ok)(void *ctx);
    void *want_ctx;
} mlg__hole_rule;

/* At (off, seq), where mlg__rec_check() found MLG_REC_EMPTY or MLG_REC_PENDING: is this a
 * hole, by rule?  It is when off is at or past rule->floor and a valid record follows it
 * before limit, or (rule->want given and rule->want_ok agreeing) when it runs to the end of
 * the segment's reservations and holds the want - seq records missing.  1 and *h set if
 * so.  Work: one pass over the bytes between off and limit, and at most
 * MLG_HOLE_EXTRA_MAX + 1 CRCs of the record after the hole. */
int mlg__hole_find(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq,
                   uint64_t limit, const mlg__hole_rule *rule, mlg__hole *h);

/* mlg__scan, stepping over holes by rule: each is passed to fn (if not NULL) and counted in
 * r->count, r->voids and r->holes.  The end is where neither a valid record nor a hole
 * is. */
void mlg__scan_holes(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq,
                     uint64_t limit, const mlg__hole_rule *rule, mlg__scan_result *r,
                     void (*fn)(void *ctx, const mlg__hole *h), void *ctx);

/* Turn hole h into void records in place (phase 0: zero its bytes past each record's
 * first word; phase 1: store each void's word).  Between the phases the caller makes
 * phase 0 durable, so that a void's word is never on disk without its zero payload. */
void mlg__hole_void(uint8_t *map, uint64_t seg_size, const mlg__hole *h, int phase);
/* Offset just past the last non-zero 8-byte word in [from, seg_size), or from. */
uint64_t mlg__high_water(const uint8_t *map, uint64_t seg_size, uint64_t from);
/* XXH3-64 over the records [MLG_DATA_OFFSET, end). */
uint64_t mlg__digest(const uint8_t *map, uint64_t end);

#endif
