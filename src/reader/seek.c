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
#include <stdio.h>
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

/* An index walk reads each record's first 16 bytes.  Over records up to this size that is
 * most pages, so it asks for the pages ahead of it a step at a time (MLG_AHEAD_STEP); past
 * a larger record it asks for the next header's page alone. */
#define IX_DENSE ((uint64_t)16 * 1024)

/* Extend the index until it covers stop_seq or a timestamp >= stop_ts, or the end.  It reads
 * each record's first 16 bytes only, asking for their pages first (a). */
static void index_build(maplog_reader *r, mlg__ahead *a, uint64_t stop_seq, uint64_t stop_ts)
{
    uint64_t ahead = MLG_AHEAD_STEP;
    while (!r->ix_done && r->ix_seq <= stop_seq && r->ix_maxts < stop_ts) {
        uint64_t off = r->ix_off;
        if (off > r->size || r->size - off < MLG_REC_HEADER_SIZE) {
            r->ix_done = 1;
            break;
        }
        mlg__ahead_need(a, off, off + MLG_REC_HEADER_SIZE, ahead);
        uint64_t size = mlg__rec_word_size(mlg__rec_word(r->map, off));
        if (!size || size > r->size - off)
            break; /* end for now; next() judges what is there */
        uint64_t ts;
        memcpy(&ts, r->map + off + 8, 8);
        mlg__index_note(r, off, r->ix_seq, ts, size);
        ahead = size <= IX_DENSE ? MLG_AHEAD_STEP : 0;
    }
}

static int walk_from_here(maplog_reader *r, mlg__ahead *a, uint64_t target, int alive);

/* Position at the index entry at or before target (seq), then walk with checks.  When the
 * index does not reach target and an archive's block index entry, or a record hint, closer
 * to it checks out, the walk starts there instead, and the index is left as it is: it is
 * built from the segment's start only (seek_time needs the largest timestamp of all the
 * records before each entry). */
static int walk_to_seq(maplog_reader *r, mlg__ahead *a, uint64_t target)
{
    int alive = -1;
    uint64_t aoff, aseq;
    mlg__hint h;
    if (r->arch && !r->ix_done && r->ix_seq < target &&
        mlg__arch_find(r->arch, target, UINT64_MAX, &aoff, &aseq) && aseq > r->ix_seq) {
        /* inflating the blocks from there on only */
        r->off = aoff;
        r->seq = aseq;
        return walk_from_here(r, a, target, alive);
    }
    if (!r->arch && !r->ix_done && r->ix_seq < target) {
        /* not in an archive: its hints may name bytes not inflated yet */
        mlg__seal seal;
        uint64_t limit;
        if (mlg__seal_read(r->map, r->size, r->first, &seal) == 1)
            limit = seal.end_offset;
        else
            limit = mlg__hint_limit(r->map, r->size, r->first, alive = mlg__writer_alive(r->dirfd));
        if (mlg__hint_find(r->map, r->size, r->first, limit, target, &h) && h.seq > r->ix_seq) {
            r->off = h.off;
            r->seq = h.seq;
            return walk_from_here(r, a, target, alive);
        }
    }
    index_build(r, a, target, UINT64_MAX);
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
    return walk_from_here(r, a, target, alive);
}

/* Walk with checks from the reader's place to target (alive: whether a writer holds the
 * log, -1 until asked). */
static int walk_from_here(maplog_reader *r, mlg__ahead *a, uint64_t target, int alive)
{
    while (r->seq < target) {
        mlg__rec_view v;
        mlg__ahead_record(a, r->off, MLG_AHEAD_STEP);
        int st = mlg__rec_check(r->map, r->size, r->off, r->seq, &v);
        if (st == MLG_REC_OK) {
            r->off += v.size;
            r->seq++;
            continue;
        }
        /* a crashed log: step over a hole as next() does (the target may be in it: then
         * the next record is the first after it) */
        if ((st == MLG_REC_EMPTY || st == MLG_REC_PENDING) &&
            !(alive < 0 ? (alive = mlg__writer_alive(r->dirfd)) : alive) && !r->archived &&
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
    r->img = NULL;
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
    mlg__ahead a;
    mlg__reader_ahead_init(r, &a);
    walk_to_seq(r, &a, seq);
    if (r->arch) /* checks within what the walk inflated */
        r->lim = mlg__arch_hi(r->arch);
    /* the records a caller reads next: asked for now, so that its first touch of them
     * reads no read-ahead window (mlg__ahead, logdir.h) */
    mlg__ahead_record(&a, r->off, MLG_AHEAD_STEP);
    mlg__rec_view v;
    int st = r->seq < seq ? mlg__rec_check(r->map, r->size, r->off, r->seq, &v) : MLG_REC_OK;
    if ((st == MLG_REC_EMPTY || st == MLG_REC_PENDING || st == MLG_REC_ROLLED) && i + 1 >= r->nsegs)
        /* past the end: positioned there, but the next record will have a smaller seq */
        return mlg__fail(&r->err, MAPLOG_END,
                         "%s: seq %" PRIu64 " is past the end of the log (its next record will "
                         "be seq %" PRIu64 ")",
                         r->dir, seq, r->seq);
    return 0;
}

/* ---- cursors ------------------------------------------------------------------------- */

#define CURSOR_PREFIX "maplog1:"

int maplog_reader_cursor(maplog_reader *r, char *buf, size_t len)
{
    uint8_t id[16];
    int rc;
    if (!r || !buf || len < MAPLOG_CURSOR_MAX)
        return MAPLOG_EINVAL;
    if (!r->have_last)
        return mlg__fail(&r->err, MAPLOG_ENOENT, "%s: no record read yet: no cursor", r->dir);
    if ((rc = maplog_reader_log_id(r, id)))
        return rc;
    char hex[33];
    for (int k = 0; k < 16; k++)
        snprintf(hex + 2 * k, 3, "%02x", id[k]);
    snprintf(buf, len, CURSOR_PREFIX "%s:%" PRIu64 ":%08x", hex, r->last_seq, r->last_crc);
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parse "maplog1:<32 hex: log id>:<decimal seq>:<8 hex: CRC>" strictly. */
static int parse_cursor(const char *s, uint8_t id[16], uint64_t *seq, uint32_t *crc)
{
    size_t n = strlen(CURSOR_PREFIX);
    if (strncmp(s, CURSOR_PREFIX, n) != 0)
        return -1;
    s += n;
    for (int k = 0; k < 16; k++) {
        int hi = hexval(s[2 * k]), lo = hi < 0 ? -1 : hexval(s[2 * k + 1]);
        if (lo < 0)
            return -1;
        id[k] = (uint8_t)(hi << 4 | lo);
    }
    s += 32;
    if (*s++ != ':' || *s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return -1; /* one spelling per number: no leading zeros */
    uint64_t v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        unsigned d = (unsigned)(*s - '0');
        if (digits >= 20 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*s++ != ':')
        return -1;
    uint32_t c = 0;
    for (int k = 0; k < 8; k++) {
        int h = hexval(s[k]);
        if (h < 0)
            return -1;
        c = c << 4 | (uint32_t)h;
    }
    if (s[8] != 0)
        return -1;
    *seq = v;
    *crc = c;
    return 0;
}

static int seek_cursor(maplog_reader *r, const char *cursor);

int maplog_reader_seek_cursor(maplog_reader *r, const char *cursor)
{
    if (!r || !cursor)
        return MAPLOG_EINVAL;
    int rc = seek_cursor(r, cursor);
    r->img = NULL; /* a positioning call: the record it read to check the cursor is not returned */
    return rc;
}

static int seek_cursor(maplog_reader *r, const char *cursor)
{
    uint8_t want_id[16], id[16];
    uint64_t seq;
    uint32_t crc;
    maplog_record rec;
    int rc;
    if (strlen(cursor) >= MAPLOG_CURSOR_MAX || parse_cursor(cursor, want_id, &seq, &crc))
        return mlg__fail(&r->err, MAPLOG_EINVAL,
                         "%s: \"%.100s\" is not a cursor (maplog1:<log id>:<seq>:<check>)", r->dir,
                         cursor);
    if ((rc = maplog_reader_log_id(r, id)))
        return rc;
    if (memcmp(id, want_id, 16) != 0)
        return mlg__fail(&r->err, MAPLOG_ESTALE,
                         "%s: the cursor is of another log (its log id is not this log's)", r->dir);
    if ((rc = maplog_reader_seek(r, seq)) == MAPLOG_ENOENT) {
        /* removed by retention: go on from the first record present, which follows it */
        int64_t first = 0;
        maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first);
        maplog_reader_seek(r, (uint64_t)first);
        return mlg__fail(&r->err, MAPLOG_ENOENT,
                         "%s: the cursor's record, seq %" PRIu64
                         ", was removed (retention); the reader is at the first record present, "
                         "seq %" PRId64,
                         r->dir, seq, first);
    }
    if (rc)
        return rc; /* MAPLOG_END: past the end, said so */
    if ((rc = maplog_reader_next(r, &rec)) == MAPLOG_END)
        return mlg__fail(&r->err, MAPLOG_END,
                         "%s: the cursor's seq %" PRIu64 " is past the end of the log", r->dir,
                         seq);
    if (rc)
        return rc;
    if (rec.seq != seq || r->last_crc != crc) {
        maplog_reader_seek(r, seq);
        return mlg__fail(&r->err, MAPLOG_ESTALE,
                         "%s: the record at seq %" PRIu64 " is not the cursor's (%s): the log was "
                         "cut there by recovery after a crash, and written again",
                         r->dir, seq, rec.seq != seq ? "no record there" : "its check differs");
    }
    return 0;
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
    r->img = NULL;
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
    mlg__ahead ra;
    mlg__reader_ahead_init(r, &ra);
    uint64_t aoff, aseq;
    if (r->arch && !r->ix_done && r->ix_maxts < ts_ns &&
        mlg__arch_find(r->arch, UINT64_MAX, ts_ns, &aoff, &aseq) && aseq > r->ix_seq) {
        r->off = aoff; /* as in walk_to_seq: the archive's index reaches further */
        r->seq = aseq;
        goto scan;
    }
    index_build(r, &ra, UINT64_MAX, ts_ns);
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
scan:
    for (;;) { /* the records a caller reads next are asked for here too */
        mlg__rec_view v;
        mlg__ahead_record(&ra, r->off, MLG_AHEAD_STEP);
        if (mlg__rec_check(r->map, r->size, r->off, r->seq, &v) != MLG_REC_OK || v.ts >= ts_ns)
            break;
        r->off += v.size;
        r->seq++;
    }
    if (r->arch)
        r->lim = mlg__arch_hi(r->arch);
    return 0;
}
