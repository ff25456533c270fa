/*
 * internal.h -- what the subsystems of maplog share and users never see.
 *
 * Names here are mlg__ (two underscores: internal, may change any day).  The layers, each
 * looking only down (docs/DESIGN.md, "Map of the code"):
 *   base/     the system-call seam, the clock, CRC-32C, error text
 *   format/   the on-disk structs, the record rule, header/seal/checkpoint blocks, scans
 *   logdir.c  the log directory: names, listing, lock probe, segment views, archives
 *   writer/   appending: open, the hot path, spares, durability, retention, recovery
 *   reader/   replay, seek, follow
 *   check/    verify and repair
 */
#ifndef MLG_INTERNAL_H
#define MLG_INTERNAL_H

#include "crc32c.h"
#include "format.h"
#include "maplog.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MLG_ERRMSG_MAX 512

/* Format a message into buf (MLG_ERRMSG_MAX bytes) and return code. */
int mlg__errf(char *buf, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The calling thread's last writer failure (maplog_errmsg): thread-local, so that
 * threads appending to one handle never race on it. */
extern _Thread_local char mlg__werr[MLG_ERRMSG_MAX];
/* Remember buf as this thread's last open error (maplog_last_open_error). */
void mlg__set_open_error(const char *buf);

/* ---- options ---- */
struct maplog_options {
    int64_t segment_size;
    int64_t create;
    int64_t durability;
    int64_t flush_interval_ms;
    int64_t flush_bytes;
    int64_t sync_every;
    int64_t file_mode;
    int64_t strict_recovery;
    int64_t prefault;
    int64_t retain_segments;
    int64_t retain_bytes;
    int64_t retain_age_ms;
    int64_t archive;
};
void mlg__options_default(struct maplog_options *o);

/* ---- time ---- */
uint64_t mlg__now_ns(void);  /* CLOCK_REALTIME */
uint64_t mlg__mono_ns(void); /* CLOCK_MONOTONIC */

void mlg__header_init(mlg__seg_header *h, uint64_t seg_size, const uint8_t log_id[16]);
/* Check the header at the start of a mapping of map_size bytes of file fname.
 * expect_id may be NULL (any id).  0 or MAPLOG_ECORRUPT / MAPLOG_EVERSION with err set. */
int mlg__header_check(const void *map, uint64_t map_size, const char *dir, const char *fname,
                      const uint8_t *expect_id, char *err);

/* Copy out the seal block if valid (magic, CRC, first_seq, fields within the segment).
 * Returns 1 valid, 0 absent, -1 present but damaged (or torn by a power loss). */
int mlg__seal_read(const void *map, uint64_t seg_size, uint64_t first_seq, mlg__seal *out);
void mlg__seal_fill(mlg__seal *s, uint64_t first_seq, uint64_t count, uint64_t end,
                    uint64_t last_ts, uint64_t digest);
/* The valid checkpoint with the larger generation; 1 found, 0 none.  Checkpoints and
 * seals name the segment's first sequence number, checked against the file name. */
int mlg__ckpt_best(const void *map, uint64_t seg_size, uint64_t first_seq, mlg__checkpoint *out);
/* Write a checkpoint into the slot the generation selects (generation is set by caller). */
void mlg__ckpt_write(void *map, const mlg__checkpoint *c);

/* The record validity rule (docs/FORMAT.md, "Records"). */
enum mlg__rec_status {
    MLG_REC_OK = 0,
    MLG_REC_EMPTY = 1,  /* publication word is zero: no record (yet) */
    MLG_REC_BADLEN = 2, /* length word without the valid bit, or running past the segment */
    MLG_REC_BADCRC = 3, /* CRC mismatch */
    MLG_REC_ROLLED = 4, /* the rollover mark: the writer moved on to the next segment */
};
typedef struct mlg__rec_view {
    uint32_t len;
    uint32_t crc_stored;
    uint32_t crc_computed;
    uint64_t ts;
    const uint8_t *payload;
    uint64_t size; /* bytes the record occupies */
} mlg__rec_view;
/* Inline: it is the body of every record walk (replay, recovery, verify). */
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
    uint64_t word = __atomic_load_n((const uint64_t *)(const void *)(map + off), __ATOMIC_ACQUIRE);
    if (word == 0)
        return MLG_REC_EMPTY;
    if (word == MLG_ROLLED_WORD)
        return MLG_REC_ROLLED;
    uint32_t len_word = (uint32_t)word;
    v->crc_stored = (uint32_t)(word >> 32);
    v->len = len_word & MLG_REC_LEN_MASK;
    if (!(len_word & MLG_REC_VALID) || v->len > seg_size - off - MLG_REC_HEADER_SIZE)
        return MLG_REC_BADLEN;
    memcpy(&v->ts, map + off + 8, 8);
    v->payload = map + off + MLG_REC_HEADER_SIZE;
    v->size = mlg__rec_size(v->len);
    if (v->size > seg_size - off) /* the padding would run past the end */
        return MLG_REC_BADLEN;
    v->crc_computed = mlg__record_crc(seq, len_word, v->ts, v->payload, v->len);
    return v->crc_computed == v->crc_stored ? MLG_REC_OK : MLG_REC_BADCRC;
}

const char *mlg__rec_status_str(int st);

/* Scan records from (off, seq) while valid and before limit. */
typedef struct mlg__scan_result {
    uint64_t end;     /* offset after the last valid record */
    uint64_t count;   /* valid records scanned */
    uint64_t last_ts; /* largest timestamp seen (0 if none) */
    int stop;         /* status of the record at end (MLG_REC_*), OK if limit reached */
} mlg__scan_result;
void mlg__scan(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq, uint64_t limit,
               mlg__scan_result *r);
/* Offset just past the last non-zero 8-byte word in [from, seg_size), or from. */
uint64_t mlg__high_water(const uint8_t *map, uint64_t seg_size, uint64_t from);
/* XXH3-64 over the records [MLG_DATA_OFFSET, end). */
uint64_t mlg__digest(const uint8_t *map, uint64_t end);

#endif
