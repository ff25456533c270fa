/*
 * walk.c -- walking a log: the checked view of a segment (verify, repair) and the
 * whole-log summary (the reader's figures).
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include "logdir.h"
#include "os.h"

/* ---- the checked view of a segment (verify, repair, summary) ---- */

void mlg__segview_close(mlg__segview *v)
{
    if (v->map)
        mlg__munmap(v->map, v->size);
    if (v->fd >= 0)
        mlg__close(v->fd);
    v->map = NULL;
    v->fd = -1;
}

/* Map and analyse one segment.  Returns 0 (with v->header_ok saying whether the rest is
 * meaningful) or an error code when the file cannot be read at all. */
int mlg__segview_open(int dirfd, const char *dir, uint64_t first, const uint8_t *id, int scan,
                      const uint64_t *later, size_t nlater, mlg__segview *v, mlg__err *err)
{
    mlg__segmap m;
    memset(v, 0, sizeof *v);
    v->fd = -1;
    v->first = first;
    int rc = mlg__seg_open(dirfd, dir, first, MLG_SEG_ARCHIVE | MLG_SEG_ANY_HEADER, NULL, &m,
                           &v->header_err);
    memcpy(v->name, m.name, sizeof v->name);
    if (rc == MAPLOG_ENOENT || rc == MAPLOG_EIO || rc == MAPLOG_ENOMEM)
        return mlg__fail(err, rc, "%s", v->header_err.msg);
    if (rc) /* damaged: reported as the segment's problem */
        return 0;
    v->map = m.map;
    v->size = m.size;
    if (mlg__header_check(v->map, v->size, dir, v->name, id, &v->header_err) != 0)
        return 0;
    v->header_ok = 1;
    v->seal_state = mlg__seal_read(v->map, v->size, first, &v->seal);
    v->have_ck = mlg__ckpt_best(v->map, v->size, first, &v->ck);
    if (scan) {
        mlg__madvise(v->map, v->size, MADV_SEQUENTIAL);
        /* as recovery scans: stepping over holes where it would make them void records */
        mlg__hole_rule rule;
        mlg__later lat;
        if (v->seal_state != 1 &&
            mlg__hole_rule_for(v->map, v->size, first, dirfd, dir, later, nlater, &lat, &rule))
            mlg__scan_holes(v->map, v->size, MLG_DATA_OFFSET, first, v->size, &rule, &v->scan, NULL,
                            NULL);
        else
            mlg__scan(v->map, v->size, MLG_DATA_OFFSET, first, v->size, &v->scan);
        v->hw = mlg__high_water(v->map, v->size, v->scan.end);
    }
    return 0;
}

/* ---- record hints ---------------------------------------------------------------------- */

/* Ask for the pages of the record at off alone, before a hint's check reads it. */
static void touch_record(void *ctx, uint64_t off)
{
    const mlg__ahead *m = ctx;
    mlg__ahead a;
    mlg__ahead_init(&a, m->map, m->size);
    mlg__ahead_record(&a, off, 0);
}

int mlg__hint_find(const uint8_t *map, uint64_t size, uint64_t first, uint64_t limit,
                   uint64_t max_seq, mlg__hint *h)
{
    mlg__ahead m;
    mlg__ahead_init(&m, map, size);
    return mlg__hint_best(map, size, first, limit, max_seq, touch_record, &m, h);
}

uint64_t mlg__hint_limit(const uint8_t *map, uint64_t size, uint64_t first, int alive)
{
    mlg__seal seal;
    mlg__checkpoint ck;
    if (mlg__seal_read(map, size, first, &seal) == 1)
        return seal.end_offset;
    if (alive)
        return size;
    return mlg__ckpt_best(map, size, first, &ck) ? ck.end_offset : MLG_DATA_OFFSET;
}

/* ---- whole-log figures ------------------------------------------------------------------ */

/* What one segment adds to the figures. */
typedef struct seg_fig {
    uint64_t count, voids, used, bytes, first_ts, last_ts;
    int unsealed;
    int partial; /* voids and last_ts are of the records from a hint on only */
    uint8_t id[16];
} seg_fig;

/* The bytes mlg__hole_find reads at off, asked for ahead of it: the run of zero words and
 * pending words from off, and the record after it. */
static void ahead_hole(mlg__ahead *a, uint64_t off)
{
    uint64_t o = off;
    while (o <= a->size && a->size - o >= 8) {
        mlg__ahead_need(a, o, o + 8, MLG_AHEAD_STEP);
        uint64_t w = mlg__rec_word(a->map, o);
        uint64_t size = mlg__rec_size((uint32_t)w & MLG_REC_LEN_MASK);
        if (w == 0)
            o += 8;
        else if (!((uint32_t)w & (MLG_REC_VALID | MLG_REC_VOID)) &&
                 (uint32_t)(w >> 32) == MLG_PENDING_TAG && size <= a->size - o)
            o += size;
        else
            break;
    }
    mlg__ahead_record(a, o, MLG_AHEAD_STEP);
}

/* The records of an unsealed segment, as mlg__scan (rule NULL) or mlg__scan_holes find them,
 * a step at a time: each step's pages are asked for before it reads them (mlg__ahead), so
 * the pages read are the records' and at most a step past them.  The mapping reads no
 * page ahead by itself (the caller made it MADV_RANDOM), so a record running past a step
 * costs its own pages only.  From the record hint from names when given (the records
 * before it are counted, not walked: their voids and timestamps are not in *out). */
static void scan_paced(const mlg__segview *v, const mlg__hole_rule *rule, const mlg__hint *from,
                       mlg__scan_result *out)
{
    mlg__ahead a;
    mlg__scan_result part = {0};
    uint64_t off = from ? from->off : MLG_DATA_OFFSET, seq = from ? from->seq : v->first;
    memset(out, 0, sizeof *out);
    out->count = seq - v->first;
    mlg__ahead_init(&a, v->map, v->size);
    for (;;) {
        mlg__ahead_record(&a, off, MLG_AHEAD_STEP);
        mlg__scan(v->map, v->size, off, seq, a.done > off ? a.done : off + 1, &part);
        out->count += part.count;
        out->voids += part.voids;
        if (part.last_ts > out->last_ts)
            out->last_ts = part.last_ts;
        seq += part.count;
        off = part.end;
        if (part.stop == MLG_REC_OK && off < v->size)
            continue; /* the end of the step */
        mlg__hole h;
        if (!rule || (part.stop != MLG_REC_EMPTY && part.stop != MLG_REC_PENDING))
            break;
        ahead_hole(&a, off);
        if (!mlg__hole_find(v->map, v->size, off, seq, v->size, rule, &h))
            break;
        out->count += h.count;
        out->voids += h.count;
        out->holes += h.count;
        seq += h.count;
        off = h.end;
    }
    out->end = off;
    out->stop = part.stop;
}

/* The timestamp of the first record of a mapped segment, if it is valid: its pages alone
 * are read. */
static int first_ts(const mlg__segview *v, uint64_t *ts)
{
    mlg__ahead a;
    mlg__rec_view r;
    mlg__ahead_init(&a, v->map, v->size);
    mlg__ahead_record(&a, MLG_DATA_OFFSET, 0);
    if (mlg__rec_check(v->map, v->size, MLG_DATA_OFFSET, v->first, &r) != MLG_REC_OK)
        return 0;
    *ts = r.ts;
    return 1;
}

/* The timestamp of the first record of archived segment first (whose header p says it
 * holds records, or none): from as much of the start of the archive as that record takes,
 * inflated, not the whole segment.  1 with *ts (0 for no record), or 0 when it cannot be
 * read that way (then the whole segment is opened, and says what is wrong). */
static int archive_first_ts(int dirfd, const char *dir, uint64_t first, const mlg__segpeek *p,
                            uint64_t *ts)
{
    *ts = 0;
    if (!p->seal.record_count)
        return 1;
    uint8_t *buf;
    uint64_t got;
    mlg__err e;
    mlg__rec_view r;
    uint64_t want = MLG_DATA_OFFSET + MLG_REC_HEADER_SIZE;
    for (int pass = 0; pass < 2; pass++) { /* its header, then the whole record */
        if (mlg__archive_head(dirfd, dir, first, want, &buf, &got, &e))
            return 0;
        if (got < want) { /* the archive holds less than its header says it has records */
            free(buf);
            return 0;
        }
        uint64_t word;
        memcpy(&word, buf + MLG_DATA_OFFSET, 8);
        uint64_t size = mlg__rec_word_size(word);
        if (!size) {
            free(buf);
            return 0;
        }
        if (got >= MLG_DATA_OFFSET + size) {
            int ok = mlg__rec_check(buf, got, MLG_DATA_OFFSET, first, &r) == MLG_REC_OK;
            free(buf);
            if (!ok)
                return 0;
            *ts = r.ts;
            return 1;
        }
        free(buf);
        want = MLG_DATA_OFFSET + size;
    }
    return 0;
}

/* The figures of segment first: 1 when a reader can read it (its header checks out, with
 * log id id unless NULL), 0 when it cannot (*why says what is wrong), or an error code when
 * the file could not be looked at (MAPLOG_ENOENT: it is gone).  A sealed segment is counted
 * by its seal, never scanned; an archive by its header's copy of the seal, never inflated
 * unless first_ts (the timestamp of its first record) is asked for.  An unsealed one is
 * scanned as a reader reads it, stepping over holes a crash left; want is the next
 * segment's first sequence number (MLG_NO_WANT for the last). */
static int seg_figures(int dirfd, const char *dir, uint64_t first, const uint64_t *later,
                       size_t nlater, int alive, const uint8_t *id, int want_first_ts, int quick,
                       seg_fig *f, mlg__err *why, mlg__err *err)
{
    mlg__segpeek p;
    mlg__segview v;
    memset(f, 0, sizeof *f);
    if (mlg__seg_peek(dirfd, dir, first, &p, why) == 0 && p.archived &&
        (!want_first_ts || archive_first_ts(dirfd, dir, first, &p, &f->first_ts))) {
        char name[32];
        mlg__seg_name(name, first);
        if (id && memcmp(p.log_id, id, 16) != 0) {
            mlg__fail(why, MAPLOG_ECORRUPT,
                      "%s/%sz: offset 72: log id differs from the log's other segments", dir, name);
            return 0;
        }
        f->count = p.seal.record_count;
        f->voids = p.seal.void_count;
        f->used = p.seal.end_offset > MLG_DATA_OFFSET ? p.seal.end_offset - MLG_DATA_OFFSET : 0;
        f->bytes = p.file_size;
        f->last_ts = p.seal.last_ts;
        memcpy(f->id, p.log_id, 16);
        return 1;
    }
    int rc = mlg__segview_open(dirfd, dir, first, id, 0, NULL, 0, &v, err);
    if (rc || !v.header_ok) {
        if (!rc)
            *why = v.header_err;
        mlg__segview_close(&v);
        return rc;
    }
    uint64_t end;
    if (v.seal_state == 1) {
        f->count = v.seal.record_count;
        f->voids = v.seal.void_count;
        end = v.seal.end_offset;
        f->last_ts = v.seal.last_ts;
    } else {
        /* holes only in a crashed log: a live writer's pending record is being written, and
         * a clean close left none (and the walk over the zero pages after it costs) */
        mlg__hole_rule rule;
        mlg__later lat;
        int holes = !alive && mlg__hole_rule_for(v.map, v.size, v.first, dirfd, dir, later, nlater,
                                                 &lat, &rule);
        /* the last segment, when only where its records end is asked: from the last record
         * hint that checks out (mlg__hint_limit: in a log no writer holds, one among the
         * synced records, so that no torn tail a crash left before it is stepped over) */
        mlg__hint h;
        mlg__madvise(v.map, v.size, MADV_RANDOM);
        int from_hint =
            quick && nlater == 0 &&
            mlg__hint_find(v.map, v.size, first, mlg__hint_limit(v.map, v.size, first, alive),
                           UINT64_MAX, &h);
        scan_paced(&v, holes ? &rule : NULL, from_hint ? &h : NULL, &v.scan);
        f->count = v.scan.count;
        f->voids = v.scan.voids;
        f->unsealed = 1;
        f->partial = from_hint && h.seq > first;
        end = v.scan.end;
        f->last_ts = v.scan.last_ts;
    }
    if (want_first_ts && f->count)
        first_ts(&v, &f->first_ts);
    f->used = end - MLG_DATA_OFFSET;
    f->bytes = v.size;
    memcpy(f->id, ((const mlg__seg_header *)(const void *)v.map)->log_id, 16);
    mlg__segview_close(&v);
    return 1;
}

/* The records a reader reads in order from the first segment: each segment counts when it
 * can be read and its name continues where the records before it end.  The first segment
 * that fails either stops the count; it and every segment file after it are skipped, and
 * problem says what was wrong.  Work is bounded by the files present: a gap in the
 * sequence numbers costs nothing, and no figure is taken from one. */
int mlg__log_summary(int dirfd, const char *dir, const uint64_t *segs, size_t n, int quick,
                     mlg__summary *out, mlg__err *err)
{
    uint8_t id[16];
    int have_id = 0;
    uint64_t start = n ? segs[0] : 0;
    size_t i;
    int alive = mlg__writer_alive(dirfd);
    uint64_t prev_room = 0; /* records that fit after the records of an unsealed segment */
    memset(out, 0, sizeof *out);
    out->next_seq = start;
    for (i = 0; i < n; i++) {
        seg_fig f;
        char name[32];
        mlg__seg_name(name, segs[i]);
        if (have_id && segs[i] > out->next_seq && segs[i] - out->next_seq <= prev_room && !alive &&
            !mlg__claims_durable(dirfd, dir, segs + i, n - i)) {
            /* a crash state, as readers read it: a power loss cut the unsynced tail of the
             * segment before across a rollover (the missing records fit in it), and nothing
             * promised is missing */
            out->lost += segs[i] - out->next_seq;
            out->next_seq = segs[i];
        }
        if (have_id && segs[i] != out->next_seq) {
            if (segs[i] > out->next_seq)
                mlg__fail(&out->problem, MAPLOG_ECORRUPT,
                          "%s/%s: starts at seq %" PRIu64 ", but the records before it end at "
                          "seq %" PRIu64 " (records missing between segments)",
                          dir, name, segs[i], out->next_seq);
            else
                mlg__fail(&out->problem, MAPLOG_ECORRUPT,
                          "%s/%s: starts at seq %" PRIu64 ", inside the records before it "
                          "(they end at seq %" PRIu64 ")",
                          dir, name, segs[i], out->next_seq);
            break;
        }
        int rc = seg_figures(dirfd, dir, segs[i], segs + i + 1, n - i - 1, alive,
                             have_id ? id : NULL, !have_id, quick, &f, &out->problem, err);
        if (rc == MAPLOG_ENOENT && !have_id && i + 1 < n) {
            out->next_seq = start = segs[i + 1]; /* removed by retention since the listing */
            continue;
        }
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if (!have_id) {
            memcpy(id, f.id, 16);
            have_id = 1;
            out->first_ts = f.first_ts;
        }
        out->allocated += f.bytes;
        out->used += f.used;
        out->next_seq = segs[i] + f.count;
        out->voids += f.voids;
        out->partial |= f.partial;
        prev_room = f.unsealed ? (f.bytes - MLG_DATA_OFFSET - f.used) / MLG_REC_HEADER_SIZE : 0;
        if (f.last_ts > out->last_ts)
            out->last_ts = f.last_ts;
    }
    out->records = out->next_seq - start - out->lost - out->voids;
    out->skipped = n - i;
    for (; i < n; i++)
        out->allocated += mlg__seg_file_size(dirfd, segs[i]);
    /* The caller's message says why records stop being counted, or is empty. */
    if (out->skipped)
        *err = out->problem;
    else
        mlg__fail(err, 0, "%s", "");
    return 0;
}
