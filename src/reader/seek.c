/*
 * seek.c -- the sparse index and seeking.  Every 64th record's offset, sequence number
 * and largest timestamp before it, built on first use per segment from the record
 * lengths and rebuilt whenever the reader maps another segment; seeking by sequence
 * number finds the segment by binary search on the file names and the record by binary
 * search in the index.
 */
#define _GNU_SOURCE
#include "reader.h"

#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
/* ---- the sparse index ---------------------------------------------------------------- */

void mlg__index_add(maplog_reader *r, uint64_t off, uint64_t seq)
{
    if (r->nix == r->cap_ix) {
        size_t nc = r->cap_ix ? 2 * r->cap_ix : 256;
        ix_ent *n = realloc(r->ix, nc * sizeof *n);
        if (!n)
            return; /* the index is an accelerator; without memory we walk */
        r->ix = n;
        r->cap_ix = nc;
    }
    r->ix[r->nix++] = (ix_ent){off, seq, r->ix_maxts};
}

/* Extend the index until it covers stop_seq or a timestamp >= stop_ts, or the end. */
static void index_build(maplog_reader *r, uint64_t stop_seq, uint64_t stop_ts)
{
    while (!r->ix_done && r->ix_seq <= stop_seq && r->ix_maxts < stop_ts) {
        uint64_t off = r->ix_off;
        if (off > r->size || r->size - off < MLG_REC_HEADER_SIZE) {
            r->ix_done = 1;
            break;
        }
        uint64_t size = mlg__rec_word_size(mlg__rec_word(r->map, off));
        if (!size || size > r->size - off)
            break; /* end for now; next() judges what is there */
        uint64_t ts;
        memcpy(&ts, r->map + off + 8, 8);
        mlg__index_note(r, off, r->ix_seq, ts, size);
    }
}

/* Position at the index entry at or before target (seq), then walk with checks. */
static int walk_to_seq(maplog_reader *r, uint64_t target)
{
    index_build(r, target, UINT64_MAX);
    size_t lo = 0, hi = r->nix;
    while (lo < hi) { /* first entry with seq > target */
        size_t mid = (lo + hi) / 2;
        if (r->ix[mid].seq <= target)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        r->off = r->ix[lo - 1].off;
        r->seq = r->ix[lo - 1].seq;
    } else {
        r->off = MLG_DATA_OFFSET;
        r->seq = r->first;
    }
    int alive = -1;
    while (r->seq < target) {
        mlg__rec_view v;
        int st = mlg__rec_check(r->map, r->size, r->off, r->seq, &v);
        if (st == MLG_REC_OK) {
            r->off += v.size;
            r->seq++;
            continue;
        }
        /* a crashed log: step over a hole as next() does (the target may be in it: then
         * the next record is the first after it) */
        if ((st == MLG_REC_EMPTY || st == MLG_REC_PENDING) &&
            !(alive < 0 ? (alive = mlg__writer_alive(r->dirfd)) : alive) &&
            mlg__reader_step_hole(r))
            continue;
        break; /* at the end: next() will say what is here */
    }
    return 0;
}

int maplog_reader_seek(maplog_reader *r, uint64_t seq)
{
    int rc;
    if (!r)
        return MAPLOG_EINVAL;
    if ((rc = mlg__reader_refresh_list(r)))
        return rc;
    if (r->nsegs == 0 || seq < r->segs[0])
        return mlg__fail(&r->err, MAPLOG_ENOENT,
                         "%s: seq %" PRIu64 " is before the first record present", r->dir, seq);
    size_t lo = 0, hi = r->nsegs;
    while (lo < hi) { /* first segment with first_seq > seq */
        size_t mid = (lo + hi) / 2;
        if (r->segs[mid] <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t i = lo - 1;
    if (!r->map || r->first != r->segs[i]) {
        if ((rc = mlg__reader_map_seg(r, i)))
            return rc;
    }
    return walk_to_seq(r, seq);
}

/* Largest timestamp in segment i: the seal's, or UINT64_MAX if unsealed. */
static uint64_t seg_max_ts(maplog_reader *r, size_t i)
{
    mlg__segpeek p; /* the header page only: an archive is not inflated to read its seal */
    mlg__err err;
    if (mlg__seg_peek(r->dirfd, r->dir, r->segs[i], &p, &err) || p.sealed != 1)
        return UINT64_MAX;
    return p.seal.last_ts;
}

int maplog_reader_seek_time(maplog_reader *r, uint64_t ts_ns)
{
    int rc;
    if (!r)
        return MAPLOG_EINVAL;
    if ((rc = mlg__reader_refresh_list(r)))
        return rc;
    if (r->nsegs == 0)
        return MAPLOG_END;
    size_t lo = 0, hi = r->nsegs - 1;
    while (lo < hi) { /* first segment whose largest timestamp reaches ts_ns */
        size_t mid = (lo + hi) / 2;
        if (seg_max_ts(r, mid) >= ts_ns)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (!r->map || r->first != r->segs[lo]) {
        if ((rc = mlg__reader_map_seg(r, lo)))
            return rc;
    }
    index_build(r, UINT64_MAX, ts_ns);
    size_t a = 0, b = r->nix;
    while (a < b) { /* first entry whose earlier records already reach ts_ns */
        size_t mid = (a + b) / 2;
        if (r->ix[mid].maxts_before < ts_ns)
            a = mid + 1;
        else
            b = mid;
    }
    if (a > 0) {
        r->off = r->ix[a - 1].off;
        r->seq = r->ix[a - 1].seq;
    } else {
        r->off = MLG_DATA_OFFSET;
        r->seq = r->first;
    }
    for (;;) {
        mlg__rec_view v;
        if (mlg__rec_check(r->map, r->size, r->off, r->seq, &v) != MLG_REC_OK || v.ts >= ts_ns)
            break;
        r->off += v.size;
        r->seq++;
    }
    return 0;
}
