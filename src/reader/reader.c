/*
 * reader.c -- replay, seek and follow.
 *
 * A reader maps one segment at a time, read-only and MAP_PRIVATE, and never writes to the
 * log directory.  On Linux the pages of a private mapping that was never written are the
 * page-cache pages themselves, so a reader in another process sees a live writer's
 * records as they are published; the release store of a record's first word in the writer
 * and the acquire load here make the payload visible before the word that announces it.
 *
 * Where the reader stops, and why (docs/FORMAT.md, "Reading"):
 *   - a sealed segment ends at its seal's end offset; a record that fails its check before
 *     that point is corruption: MAPLOG_ECORRUPT, naming the file and offset;
 *   - an unsealed segment that has a successor ends where the successor's first sequence
 *     number says (the writer rolled over and then died before sealing);
 *   - the last segment ends at the first record that is absent or invalid.  An invalid one
 *     there is a torn tail, not data (reported through MAPLOG_INFO_TORN_OFFSET), unless
 *     the checkpoint says it was synced or a valid record follows it: then it is
 *     corruption.
 * Seeking uses a sparse index of every 64th record (offset, sequence number, largest
 * timestamp before it), built on first use per segment from the record lengths, and
 * rebuilt whenever the reader maps another segment.  Seeking by sequence number finds the
 * segment by binary search on the file names and the record by binary search in the index.
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

static void unmap_current(maplog_reader *r)
{
    mlg__pager_quiesce(r->pager);
    r->inflated += mlg__arch_inflated(r->arch);
    mlg__arch_free(r->arch);
    r->arch = NULL;
    if (r->map)
        mlg__munmap(r->map, r->size);
    if (r->fd >= 0)
        mlg__close(r->fd);
    r->map = NULL;
    r->fd = -1;
    r->run_next = 0;
    r->nix = 0;
    r->ix_done = 0;
    r->nohole_valid = 0;
}

int mlg__reader_refresh_list(maplog_reader *r)
{
    uint64_t *segs;
    size_t n;
    int rc = mlg__list_segments(r->dirfd, &segs, &n, NULL, &r->err, r->dir);
    if (rc)
        return rc;
    uint64_t cur = r->map ? r->first : UINT64_MAX;
    free(r->segs);
    r->segs = segs;
    r->nsegs = n;
    r->last_list_ns = mlg__mono_ns();
    if (cur != UINT64_MAX) {
        /* keep idx on the mapped segment even if retention removed older ones */
        size_t i = 0;
        while (i < n && segs[i] < cur)
            i++;
        r->idx = i;
        r->cur_gone = i == n || segs[i] != cur;
        if (r->cur_gone)    /* removed under us: the mapping stays readable, and idx + 1 (with */
            r->idx = i - 1; /* wrap-around at 0) is the first segment after it */
    }
    return 0;
}

#define WINDOW ((uint64_t)8 << 20)

/* An archive read in order inflates ahead in the pager's thread. */
static int arch_helper(void *ctx, void (*job)(void *), void *arg)
{
    maplog_reader *r = ctx;
    return mlg__pager_post_job(&r->pager, job, arg);
}

int mlg__reader_map_seg(maplog_reader *r, size_t i)
{
    mlg__segmap m;
    unmap_current(r);
    r->idx = i;
    int rc = mlg__seg_open(r->dirfd, r->dir, r->segs[i], MLG_SEG_ARCHIVE | MLG_SEG_LAZY,
                           r->have_id ? r->log_id : NULL, &m, &r->err);
    memcpy(r->name, m.name, sizeof r->name);
    if (rc) {
        if (rc == MAPLOG_ENOENT && i == 0 && r->nsegs > 1)
            mlg__fail(&r->err, MAPLOG_ENOENT,
                      "%s/%s: removed (by retention?) before this reader reached it", r->dir,
                      r->name);
        r->map = NULL;
        return rc;
    }
    r->map = m.map;
    r->size = m.size;
    r->arch = m.arch;
    r->lim = m.arch ? mlg__arch_hi(m.arch) : m.size;
    if (m.arch)
        mlg__arch_set_helper(m.arch, arch_helper, r);
    if (!m.archived)
        mlg__madvise(r->map, r->size, MADV_SEQUENTIAL);
    if (!r->have_id) {
        memcpy(r->log_id, ((const mlg__seg_header *)(const void *)r->map)->log_id, 16);
        r->have_id = 1;
    }
    r->first = r->segs[i];
    r->cur_gone = 0;
    r->dropped_to = 0;
    r->archived = m.archived;
    r->populated_to = 0;
    r->populate_at = m.archived ? UINT64_MAX : 0; /* an archive's copy is in memory */
    r->off = MLG_DATA_OFFSET;
    r->seq = r->first;
    r->ix_off = MLG_DATA_OFFSET;
    r->ix_seq = r->first;
    r->ix_maxts = 0;
    return 0;
}

/* Is a writer holding the log?  A shared lock attempt on the lock file tells, without
 * writing anything; a missing lock file means no writer. */
static int next_first_if(maplog_reader *r, uint64_t *nf, int force);
static int next_first(maplog_reader *r, uint64_t *nf)
{
    return next_first_if(r, nf, 1);
}

/* No record fits after the reader's offset in the mapped segment: the log goes on in the
 * next one (or nowhere yet).  A full segment may hold no rollover mark (it needs 8 bytes),
 * so this is the only sign that a successor is due. */
static int seg_full(const maplog_reader *r)
{
    return r->off > r->size || r->size - r->off < MLG_REC_HEADER_SIZE;
}

/* Does a writer hold the log?  A follower at the live end asks at every MAPLOG_END: once
 * it holds maplog.lock open (its wake page) that is one flock call, not an open, a flock
 * and a close (0.3 us against 2.3). */
static int writer_alive(maplog_reader *r)
{
    if (r->wake.page && mlg__writer_alive_fd(r->wake.fd))
        return 1;
    /* No writer, by the file this reader holds -- or maplog.lock was replaced since, and a
     * writer holds the new one: a no is confirmed by name (it is the rare answer), and a
     * page of a replaced file is given up, to be mapped again from the new one. */
    int alive = mlg__writer_alive(r->dirfd);
    if (alive && r->wake.page)
        mlg__reader_wake_reattach(r);
    return alive;
}

/* The first seq of the segment after the mapped one, re-listing the directory if the
 * mapped one is the last we know of -- at most once a millisecond unless force (a sealed
 * segment must have a successor), so a follower at the live end of the log does not
 * readdir on every call.  1 and *nf set if there is one. */
static int next_first_if(maplog_reader *r, uint64_t *nf, int force)
{
    if (r->idx + 1 >= r->nsegs && (force || mlg__mono_ns() - r->last_list_ns > 1000000u) &&
        mlg__reader_refresh_list(r) != 0)
        return 0;
    if (r->idx + 1 < r->nsegs) {
        *nf = r->segs[r->idx + 1];
        return 1;
    }
    return 0;
}

int maplog_reader_open(maplog_reader **out, const char *dir, int flags)
{
    int rc;
    mlg__err err;
    maplog_reader *r = NULL;
    if (!out || !dir || (flags & ~MAPLOG_READER_VOIDS)) {
        rc = mlg__fail(&err, MAPLOG_EINVAL, "maplog_reader_open: bad arguments");
        goto fail;
    }
    *out = NULL;
    if ((r = calloc(1, sizeof *r))) {
        r->fd = r->dirfd = -1;
        mlg__reader_follow_init(r);
    }
    if (!r || !(r->dir = strdup(dir))) {
        rc = mlg__fail(&err, MAPLOG_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    r->fd = -1;
    r->flags = flags;
    if ((rc = mlg__dir_open(dir, &r->dirfd, &err)))
        goto fail;
    if ((rc = mlg__reader_refresh_list(r))) {
        err = r->err;
        goto fail;
    }
    if (r->nsegs == 0) {
        rc = mlg__fail(&err, MAPLOG_ENOTLOG, "%s: not a maplog directory (no segment files)", dir);
        goto fail;
    }
    /* Map the first segment now; if it is damaged, the reader still opens and the first
     * maplog_reader_next() reports it, so that a caller can skip past it. */
    mlg__reader_map_seg(r, 0);
    *out = r;
    return 0;
fail:
    mlg__open_err = err;
    maplog_reader_close(r);
    return rc;
}

void maplog_reader_close(maplog_reader *r)
{
    if (!r)
        return;
    unmap_current(r);
    mlg__pager_free(r->pager);
    mlg__reader_follow_close(r);
    if (r->dirfd >= 0)
        mlg__close(r->dirfd);
    free(r->segs);
    free(r->ix);
    free(r->dir);
    free(r);
}

const char *maplog_reader_errmsg(const maplog_reader *r)
{
    return r ? r->err.msg : "no reader handle";
}

/* The record at (off, seq) is not valid: decide what that means in an unsealed last
 * segment.  Returns MAPLOG_END for a torn tail, MAPLOG_ECORRUPT for damage. */
static int judge_last(maplog_reader *r, int st)
{
    mlg__checkpoint ck;
    mlg__rec_view bad = {0}, next;
    if (mlg__ckpt_best(r->map, r->size, r->first, &ck) && r->off < ck.end_offset)
        return mlg__fail(&r->err, MAPLOG_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64
                         ", inside the synced part (checkpoint: %" PRIu64
                         " records to offset %" PRIu64 ")",
                         r->dir, r->name, r->off, mlg__rec_status_str(st), r->seq, ck.record_count,
                         ck.end_offset);
    r->torn_valid_after =
        st == MLG_REC_BADCRC && mlg__rec_check(r->map, r->size, r->off, r->seq, &bad) &&
        mlg__rec_check(r->map, r->size, r->off + bad.size, r->seq + 1, &next) == MLG_REC_OK;
    r->torn_off = (int64_t)r->off;
    r->torn_bytes = (int64_t)(mlg__high_water(r->map, r->size, r->off) - r->off);
    mlg__fail(&r->err, MAPLOG_END,
              "%s/%s: offset %" PRIu64 ": torn tail (%s, %" PRId64 " bytes) at seq %" PRIu64
              ", not data%s",
              r->dir, r->name, r->off, mlg__rec_status_str(st), r->torn_bytes, r->seq,
              r->torn_valid_after ? "; a valid record follows the first bad one" : "");
    return MAPLOG_END;
}

/* No writer holds the log and no record is at the reader's place in an unsealed segment:
 * is it a hole a crash left -- records reserved, never published -- with valid records
 * after it (or running to where the next segment begins), by the rule recovery voids it by
 * (mlg__hole_rule_for)?  Steps over it if so.  A writer may open the log meanwhile and
 * reserve a record here: the step is taken only if, after the search, still no writer
 * holds the log and the word here is the one the search saw.  A search that found nothing
 * is not repeated while the segment, the word here and its checkpoint stay as they were. */
/* The hole search state of the reader's place: the word there, its checkpoint generation. */
static void hole_key(const maplog_reader *r, uint64_t *word, uint64_t *gen)
{
    mlg__checkpoint ck;
    *word = mlg__rec_word(r->map, r->off);
    *gen = mlg__ckpt_best(r->map, r->size, r->first, &ck) ? ck.generation : 0;
}

int mlg__reader_no_hole_known(const maplog_reader *r)
{
    uint64_t word, gen;
    if (!r->nohole_valid || r->nohole_first != r->first || r->nohole_off != r->off)
        return 0;
    hole_key(r, &word, &gen);
    return r->nohole_word == word && r->nohole_gen == gen;
}

int mlg__reader_step_hole(maplog_reader *r)
{
    mlg__hole h;
    mlg__hole_rule rule;
    mlg__later lat;
    uint64_t word, gen;
    if (mlg__reader_no_hole_known(r))
        return 0;
    hole_key(r, &word, &gen);
    if (!mlg__hole_rule_for(r->map, r->size, r->first, r->dirfd, r->dir, r->segs + r->idx + 1,
                            r->nsegs - r->idx - 1, &lat, &rule) ||
        !mlg__hole_find(r->map, r->size, r->off, r->seq, r->size, &rule, &h)) {
        r->nohole_first = r->first;
        r->nohole_off = r->off;
        r->nohole_word = word;
        r->nohole_gen = gen;
        r->nohole_valid = 1;
        return 0;
    }
    if (writer_alive(r) || mlg__rec_word(r->map, r->off) != word)
        return 0; /* a writer came: what looked like a hole may be its record */
    if (r->ix_off == r->off && r->ix_seq == r->seq) { /* the index steps over it too */
        r->ix_off = h.end;
        r->ix_seq += h.count;
    }
    r->holes += h.count;
    r->off = h.end;
    r->seq += h.count;
    return 1;
}

/* No writer holds the log, and the records of the mapped (unsealed) segment end before
 * the next segment begins: a crash state -- a power loss cut the unsynced tail across a
 * rollover -- if the missing records fit in the rest of the segment and no later segment
 * claims durable records (recovery's rule, which sets the later segments aside);
 * otherwise records that were promised are missing. */
static int lost_in_crash(maplog_reader *r, uint64_t nf)
{
    /* the lost records were in this segment, after the reader's place: at least 16 bytes
     * each (a gap wider than that is no crash's doing) */
    if (r->off > r->size || nf - r->seq > (r->size - r->off) / MLG_REC_HEADER_SIZE)
        return 0;
    return !mlg__claims_durable(r->dirfd, r->dir, r->segs + r->idx + 1, r->nsegs - r->idx - 1);
}

/* One function, a little over the 80 lines the rest keeps to: the fast path (a valid record
 * in the mapped segment) is its first branch, and the rare ones (the segment's end, the next
 * segment, a torn tail, damage) follow in the order the format's reading rule gives them
 * (docs/FORMAT.md, "Reading"), so the rule can be checked against it top to bottom. */
/* The record at the reader's place by the validity rule.  A reader that is not where the
 * last record it returned ended (a seek, a new segment, a hole stepped over) starts a new
 * run of in-order reading there. */
static inline int check_here(maplog_reader *r, mlg__rec_view *v)
{
    if (__builtin_expect(r->off != r->run_next, 0))
        r->run_off = r->off;
    return mlg__rec_check(r->map, r->lim, r->off, r->seq, v);
}

/* An archive of blocks, where the record at the reader's place failed its check: is that
 * because its bytes are not inflated yet?  Then inflate them (and hand back those far
 * behind) and say 1: look again.  0 when they are there, and the check's verdict stands;
 * or an error inflating. */
static int inflate_more(maplog_reader *r)
{
    mlg__arch *a = r->arch;
    uint64_t lo = mlg__arch_lo(a), hi = mlg__arch_hi(a), need = r->off + MLG_REC_HEADER_SIZE;
    if (r->lim != hi) { /* a seek inflated blocks since: check within them */
        r->lim = hi;
        return 1;
    }
    if (r->off >= lo && need <= hi) { /* its first word is there: all of the record? */
        uint64_t size = mlg__rec_word_size(mlg__rec_word(r->map, r->off));
        if (!size || size > r->size - r->off || r->off + size <= hi)
            return 0;
        need = r->off + size;
    }
    uint64_t was_lo = lo, was_hi = hi;
    int rc = mlg__arch_fill(a, r->off, need, &r->err);
    r->lim = mlg__arch_hi(a);
    if (rc)
        return rc;
    return mlg__arch_lo(a) != was_lo || r->lim != was_hi;
}

void mlg__reader_ahead_init(maplog_reader *r, mlg__ahead *a)
{
    mlg__ahead_init(a, r->map, r->size);
    a->arch = r->arch;
}

/* Page tables for reading: once the reader has read AHEAD_START of this segment in order
 * (a seek to read a few records maps nothing it does not touch), the pager maps the pages
 * up to AHEAD past the reader, asked again each time the reader has used half of that;
 * the pages behind are handed back. */
#define AHEAD_START ((uint64_t)1 << 20)
#define AHEAD ((uint64_t)4 << 20)
static void window_moved(maplog_reader *r)
{
    /* Flat memory: hand back the pages already read, 8 MiB at a time.  They are page-cache
     * pages behind a read-only private mapping; touching them again (a seek back) just maps
     * them again, so earlier pointers stay valid.  Not an archive's inflated copy:
     * anonymous pages handed back come back as zeros. */
    if (r->off - r->dropped_to >= WINDOW) {
        uint64_t to = r->off & ~(uint64_t)4095;
        if (!r->archived) /* an archive hands back its blocks as it inflates more */
            mlg__madvise(r->map + r->dropped_to, to - r->dropped_to, MADV_DONTNEED);
        r->dropped_to = to;
    }
    if (r->off < r->populate_at)
        return;
    if (r->off - r->run_off < AHEAD_START) {
        /* Not yet: look again there.  Until then, ask for the pages of the next step (a seek
         * asked for the first): a cold page touched under MADV_SEQUENTIAL reads the kernel's
         * whole window from it, far past the records a reader reads after a seek. */
        uint64_t from = r->off & ~(uint64_t)4095;
        uint64_t to = r->size - r->off > MLG_AHEAD_STEP ? r->off + MLG_AHEAD_STEP : r->size;
        mlg__madvise(r->map + from, to - from, MADV_WILLNEED);
        r->populate_at = r->off + MLG_AHEAD_STEP / 2;
        if (r->populate_at > r->run_off + AHEAD_START)
            r->populate_at = r->run_off + AHEAD_START;
        return;
    }
    uint64_t from = r->off & ~(uint64_t)4095, to = (r->off + AHEAD) & ~(uint64_t)4095;
    if (from < r->populated_to)
        from = r->populated_to; /* asked for already */
    if (to > r->size)
        to = r->size;
    /* At a live end this maps pages past the records too: page-cache pages the writer's
     * own mapping has made (it pre-faults its segment) or will. */
    if (to > from && mlg__pager_post(&r->pager, r->map + from, to - from))
        mlg__madvise(r->map + from, to - from, MADV_POPULATE_READ);
    r->populated_to = to > r->populated_to ? to : r->populated_to;
    r->populate_at = r->off + AHEAD / 2;
}

/* Hand back the record the reader is at, of view v (valid), and step past it: 1, or 0 if
 * it is a void record the reader's flags skip. */
static inline int deliver(maplog_reader *r, const mlg__rec_view *v, maplog_record *rec)
{
    mlg__index_note(r, r->off, r->seq, v->ts, v->size);
    if (__builtin_expect(v->flags != 0, 0)) { /* a void record */
        r->voids++;
        if (!(r->flags & MAPLOG_READER_VOIDS)) {
            r->off += v->size;
            r->seq++;
            r->run_next = r->off;
            return 0;
        }
        *rec = (maplog_record){r->seq, 0, NULL, 0, MAPLOG_RECORD_VOID};
    } else {
        if (__builtin_expect(r->off >= r->populate_at || r->off - r->dropped_to >= WINDOW, 0))
            window_moved(r);
        rec->seq = r->seq;
        rec->timestamp_ns = v->ts;
        rec->data = v->payload;
        rec->len = v->len;
        rec->flags = 0;
    }
    r->last_seq = r->seq;
    r->last_crc = v->crc_stored;
    r->have_last = 1;
    r->img = r->map + r->off;
    r->img_len = v->size;
    r->off += v->size;
    r->seq++;
    r->run_next = r->off;
    return 1;
}

static int next_record(maplog_reader *r, maplog_record *rec)
{
    int rc;
    for (;;) {
        if (!r->map) {
            if (r->idx >= r->nsegs && (rc = mlg__reader_refresh_list(r)))
                return rc;
            if (r->idx >= r->nsegs)
                return MAPLOG_END;
            if ((rc = mlg__reader_map_seg(r, r->idx)))
                return rc;
        }
        mlg__rec_view v;
        int st = check_here(r, &v);
        if (st == MLG_REC_OK) {
            if (deliver(r, &v, rec))
                return 0;
            continue;
        }
        if (r->arch && (rc = inflate_more(r)) != 0) {
            if (rc == 1)
                continue; /* its bytes are there now: check it again */
            return rc;    /* a block that cannot be inflated: the message says which */
        }
        mlg__seal seal;
        uint64_t nf = 0;
        if (mlg__seal_read(r->map, r->size, r->first, &seal) == 1) {
            if (r->off == seal.end_offset && r->seq == r->first + seal.record_count)
                goto advance;
            return mlg__fail(&r->err, MAPLOG_ECORRUPT,
                             "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64
                             "; the seal says %" PRIu64 " records to offset %" PRIu64,
                             r->dir, r->name, r->off, mlg__rec_status_str(st), r->seq,
                             seal.record_count, seal.end_offset);
        }
        /* unsealed: a successor may exist if the writer rolled over and died before sealing
         * (or is about to seal); look for one, but not on every call at the live end */
        int has_next = next_first_if(r, &nf, st != MLG_REC_EMPTY || seg_full(r));
        if (has_next && nf == r->seq)
            goto advance; /* complete; anything after it is a torn tail the writer left */
        int alive = -1;   /* a writer holds the log: asked once, when it matters */
        if ((st == MLG_REC_EMPTY || st == MLG_REC_PENDING) && (has_next || !seg_full(r)) &&
            !(alive = writer_alive(r)) && mlg__reader_step_hole(r))
            continue; /* a crashed log: records reserved, never published */
        if (has_next && nf > r->seq && !(alive < 0 ? (alive = writer_alive(r)) : alive) &&
            lost_in_crash(r, nf)) {
            r->lost += nf - r->seq; /* a crashed log: never durable, recovery cuts here */
            r->seq = nf;
            goto advance;
        }
        if (has_next && (nf < r->seq || !(alive < 0 ? (alive = writer_alive(r)) : alive)))
            return mlg__fail(&r->err, MAPLOG_ECORRUPT,
                             "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64
                             ", but the next segment starts at seq %" PRIu64
                             " (records missing between segments)",
                             r->dir, r->name, r->off, mlg__rec_status_str(st), r->seq, nf);
        mlg__checkpoint ck;
        if ((st == MLG_REC_EMPTY || (st == MLG_REC_PENDING && alive != 0)) &&
            !(mlg__ckpt_best(r->map, r->size, r->first, &ck) && r->off < ck.end_offset))
            return MAPLOG_END; /* the end, for now (a pending record: being written) */
        if (st == MLG_REC_EMPTY || st == MLG_REC_PENDING)
            return judge_last(r, st); /* nothing where synced records were: damage */
        if (has_next)
            return mlg__fail(&r->err, MAPLOG_ECORRUPT,
                             "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64, r->dir, r->name,
                             r->off, mlg__rec_status_str(st), r->seq);
        return judge_last(r, st);
    advance:
        if (!next_first(r, &nf))
            return MAPLOG_END;
        if (nf != r->seq && r->cur_gone)
            return mlg__fail(&r->err, MAPLOG_ENOENT,
                             "%s/%s: records %" PRIu64 "..%" PRIu64
                             " were removed (retention) before this reader reached them; seek "
                             "to the first record present to go on",
                             r->dir, r->name, r->seq, nf - 1);
        if (nf != r->seq)
            return mlg__fail(&r->err, MAPLOG_ECORRUPT,
                             "%s/%s: ends at seq %" PRIu64
                             " but the next segment starts at seq %" PRIu64,
                             r->dir, r->name, r->seq, nf);
        unmap_current(r);
        r->idx++;
    }
}

int maplog_reader_next(maplog_reader *r, maplog_record *rec)
{
    if (!r || !rec)
        return MAPLOG_EINVAL;
    r->img = NULL; /* the last record's mapping may go now */
    int rc = next_record(r, rec);
    /* A reader with a descriptor (follow.c) asks to be woken at its end, then looks once
     * more: what came in between is read now, what comes after wakes the descriptor. */
    if (rc == MAPLOG_END && r->poll_fd >= 0 && mlg__reader_fd_rearm(r))
        rc = next_record(r, rec);
    return rc;
}

/* The fast path of a batch: valid, non-void records of the mapped segment from the
 * reader's place, into recs[0..max), with the reader's place, index and paging kept in
 * locals and stored once (what deliver() does record by record).  Returns how many. */
static size_t batch_run(maplog_reader *r, maplog_record *recs, size_t max)
{
    const uint8_t *map = r->map;
    const uint64_t size = r->lim, first = r->first;
    uint64_t off = r->off, seq = r->seq, maxts = r->ix_maxts;
    const int ix = !r->ix_done && off == r->ix_off && seq == r->ix_seq;
    if (off != r->run_next)
        r->run_off = off;
    mlg__rec_view v;
    size_t n = 0;
    uint64_t last_off = 0, last_size = 0;
    uint32_t last_crc = 0;
    while (n < max && mlg__rec_check(map, size, off, seq, &v) == MLG_REC_OK && !v.flags) {
        if (__builtin_expect(off >= r->populate_at || off - r->dropped_to >= WINDOW, 0)) {
            r->off = off;
            window_moved(r);
        }
        if (ix) {
            if ((seq - first) % IX_EVERY == 0) {
                r->ix_maxts = maxts; /* the entry keeps the largest timestamp before it */
                mlg__index_add(r, off, seq);
            }
            maxts = v.ts > maxts ? v.ts : maxts;
        }
        recs[n++] = (maplog_record){seq, v.ts, v.payload, v.len, 0};
        last_off = off;
        last_size = v.size;
        last_crc = v.crc_stored;
        off += v.size;
        seq++;
    }
    if (n) {
        if (ix) {
            r->ix_off = off;
            r->ix_seq = seq;
            r->ix_maxts = maxts;
        }
        r->last_seq = seq - 1;
        r->last_crc = last_crc;
        r->have_last = 1;
        r->img = map + last_off;
        r->img_len = last_size;
        r->off = r->run_next = off;
        r->seq = seq;
    }
    return n;
}

int maplog_reader_next_batch(maplog_reader *r, maplog_record *recs, size_t max, size_t *got)
{
    if (got)
        *got = 0;
    if (!r || !recs || !got || !max)
        return MAPLOG_EINVAL;
    r->img = NULL;
    /* The fast path over the mapped segment; anything else (its end, the next segment, a
     * void record, damage, a live end) is maplog_reader_next()'s, and only for the batch's
     * first record: the rest wait for the next call. */
    size_t n = r->map ? batch_run(r, recs, max) : 0;
    if (n == 0) {
        int rc = maplog_reader_next(r, &recs[0]);
        if (rc)
            return rc;
        n = 1;
    }
    *got = n;
    return 0;
}

int maplog_reader_skip_segment(maplog_reader *r)
{
    if (!r)
        return MAPLOG_EINVAL;
    r->img = NULL;
    uint64_t nf;
    if (!r->map) { /* the current segment could not even be mapped */
        if (r->idx + 1 >= r->nsegs && mlg__reader_refresh_list(r) != 0)
            return MAPLOG_END;
        if (r->idx + 1 >= r->nsegs)
            return MAPLOG_END;
        r->idx++;
        return 0;
    }
    if (!next_first(r, &nf))
        return MAPLOG_END;
    unmap_current(r);
    r->idx++;
    return 0;
}

/* ---- following ----------------------------------------------------------------------- */

/* Could next() make progress now?  Cheap checks first; the directory is re-listed at most
 * every millisecond.  follow.c sleeps on it. */
int mlg__reader_progress(maplog_reader *r)
{
    if (!r->map)
        return r->idx < r->nsegs || (mlg__reader_refresh_list(r) == 0 && r->idx < r->nsegs);
    if (r->archived)
        return 1; /* sealed, and its bytes may not be inflated yet: next() has news */
    if (r->off <= r->size && r->size - r->off >= 8) {
        uint64_t w = mlg__rec_word(r->map, r->off);
        if (w && ((uint32_t)w & MLG_REC_VALID || (uint32_t)(w >> 32) != MLG_PENDING_TAG))
            return 1; /* published, or not a record: next() has news either way */
    }
    mlg__seal seal;
    if (mlg__seal_read(r->map, r->size, r->first, &seal) == 1 && r->off >= seal.end_offset)
        return 1;
    /* The directory is listed at most once a millisecond at the live end -- but at the end
     * of a full segment the next one is due, and there may be no rollover mark to say so:
     * a follower there waited for the next listing, up to a millisecond per rollover. */
    if (seg_full(r) || mlg__mono_ns() - r->last_list_ns > 1000000u) {
        uint64_t nf;
        if (next_first(r, &nf) && nf == r->seq)
            return 1;
        /* No writer: a hole a crash left may be here, with records after it (a writer came
         * and went since next() last looked).  Not where a search found none, unchanged. */
        if (!seg_full(r) && !writer_alive(r) && !mlg__reader_no_hole_known(r))
            return 1;
    }
    return 0;
}

/* The whole-log figures (mlg__log_summary), with the reason some segments are not counted
 * left in r->err.  A log no writer holds does not change: its figures are worked out once
 * (stats asks for nine of them, and each is a scan of the unsealed segments) and again only
 * when its segment list or its last segment's checkpoint changes, as a writer's session
 * changes them.  quick: only where the records end is wanted (mlg__log_summary). */
static int figures(maplog_reader *r, int quick, mlg__summary *out)
{
    int rc = mlg__reader_refresh_list(r);
    if (rc)
        return rc;
    uint64_t first = r->nsegs ? r->segs[0] : 0, last = r->nsegs ? r->segs[r->nsegs - 1] : 0;
    uint64_t gen = 0;
    mlg__segpeek p;
    mlg__err err;
    if (r->nsegs && mlg__seg_peek(r->dirfd, r->dir, last, &p, &err) == 0 && p.have_ckpt)
        gen = p.ckpt.generation << 2 | p.ckpt.state;
    int stable = !writer_alive(r);
    if (stable && r->fig_valid && r->fig_nsegs == r->nsegs && r->fig_first == first &&
        r->fig_last == last && r->fig_gen == gen && (quick || !r->fig.partial)) {
        *out = r->fig;
        r->err = r->fig_err;
        return 0;
    }
    r->fig_valid = 0;
    if ((rc = mlg__log_summary(r->dirfd, r->dir, r->segs, r->nsegs, quick, out, &r->err)))
        return rc;
    if (stable) {
        r->fig = *out;
        r->fig_err = r->err;
        r->fig_nsegs = r->nsegs;
        r->fig_first = first;
        r->fig_last = last;
        r->fig_gen = gen;
        r->fig_valid = 1;
    }
    return 0;
}

int maplog_reader_info_get(maplog_reader *r, maplog_reader_info key, int64_t *value)
{
    if (!r || !value)
        return MAPLOG_EINVAL;
    switch (key) {
    case MAPLOG_INFO_SEGMENTS:
        *value = (int64_t)r->nsegs;
        return 0;
    case MAPLOG_INFO_FIRST_SEQ:
        *value = r->nsegs ? (int64_t)r->segs[0] : 0;
        return 0;
    case MAPLOG_INFO_TORN_OFFSET:
        *value = r->torn_off;
        return 0;
    case MAPLOG_INFO_TORN_BYTES:
        *value = r->torn_bytes;
        return 0;
    case MAPLOG_INFO_TORN_VALID_AFTER:
        *value = r->torn_valid_after;
        return 0;
    case MAPLOG_INFO_HOLES:
        *value = (int64_t)r->holes;
        return 0;
    case MAPLOG_INFO_LOST:
        *value = (int64_t)r->lost;
        return 0;
    case MAPLOG_INFO_VOIDS:
        *value = (int64_t)r->voids;
        return 0;
    case MAPLOG_INFO_INFLATED_BYTES:
        *value = (int64_t)(r->inflated + mlg__arch_inflated(r->arch));
        return 0;
    case MAPLOG_INFO_NEXT_SEQ:
    case MAPLOG_INFO_RECORDS:
    case MAPLOG_INFO_BYTES_USED:
    case MAPLOG_INFO_BYTES_ALLOCATED:
    case MAPLOG_INFO_FIRST_TS:
    case MAPLOG_INFO_LAST_TS:
    case MAPLOG_INFO_VOID_RECORDS:
    case MAPLOG_INFO_LOST_RECORDS:
    case MAPLOG_INFO_UNCOUNTED_SEGMENTS: {
        mlg__summary sum;
        /* where the records end is found from the last segment's record hints; what needs
         * all of its records (how many are void, the largest timestamp) walks them */
        int rc = figures(r,
                         key != MAPLOG_INFO_RECORDS && key != MAPLOG_INFO_VOID_RECORDS &&
                             key != MAPLOG_INFO_LAST_TS,
                         &sum);
        if (rc)
            return rc;
        *value = key == MAPLOG_INFO_NEXT_SEQ             ? (int64_t)sum.next_seq
                 : key == MAPLOG_INFO_RECORDS            ? (int64_t)sum.records
                 : key == MAPLOG_INFO_VOID_RECORDS       ? (int64_t)sum.voids
                 : key == MAPLOG_INFO_LOST_RECORDS       ? (int64_t)sum.lost
                 : key == MAPLOG_INFO_UNCOUNTED_SEGMENTS ? (int64_t)sum.skipped
                 : key == MAPLOG_INFO_BYTES_USED         ? (int64_t)sum.used
                 : key == MAPLOG_INFO_BYTES_ALLOCATED    ? (int64_t)sum.allocated
                 : key == MAPLOG_INFO_FIRST_TS           ? (int64_t)sum.first_ts
                                                         : (int64_t)sum.last_ts;
        return 0;
    }
    case MAPLOG_INFO_MISSING_AFTER:
    case MAPLOG_INFO_DURABLE_COUNT:
    case MAPLOG_INFO_CLEAN_SHUTDOWN: {
        /* from the last segment's header page: its seal, or its checkpoint */
        if (mlg__reader_refresh_list(r) || r->nsegs == 0)
            return MAPLOG_ENOENT;
        mlg__segpeek p;
        uint64_t last = r->segs[r->nsegs - 1];
        int rc = mlg__seg_peek(r->dirfd, r->dir, last, &p, &r->err);
        if (key == MAPLOG_INFO_MISSING_AFTER) { /* a header that cannot be read: not known */
            *value = rc == 0 && p.sealed == 1 && !writer_alive(r)
                         ? (int64_t)(last + p.seal.record_count)
                         : -1;
            return 0;
        }
        if (rc && rc != MAPLOG_ECORRUPT)
            return rc;
        int ok = rc == 0 && p.have_ckpt;
        const mlg__checkpoint *ck = &p.ckpt;
        if (key == MAPLOG_INFO_DURABLE_COUNT) {
            *value = ok ? (int64_t)(last + ck->record_count) : 0;
        } else if (writer_alive(r)) {
            *value = -1;
        } else {
            *value = ok && ck->state == MLG_STATE_CLOSED;
        }
        return 0;
    }
    }
    return MAPLOG_EINVAL;
}

int maplog_reader_log_id(maplog_reader *r, uint8_t id[16])
{
    if (!r || !id)
        return MAPLOG_EINVAL;
    if (!r->have_id) {
        for (size_t i = 0; i < r->nsegs && !r->have_id; i++) {
            mlg__segmap m;
            mlg__err err;
            if (mlg__seg_open(r->dirfd, r->dir, r->segs[i], MLG_SEG_ARCHIVE, NULL, &m, &err) == 0) {
                memcpy(r->log_id, ((const mlg__seg_header *)(const void *)m.map)->log_id, 16);
                r->have_id = 1;
                mlg__seg_close(&m);
            }
        }
        if (!r->have_id)
            return mlg__fail(&r->err, MAPLOG_ENOENT, "%s: no readable segment header", r->dir);
    }
    memcpy(id, r->log_id, 16);
    return 0;
}

/* ---- record images --------------------------------------------------------------------- */

int maplog_reader_record_image(maplog_reader *r, const void **image, size_t *len)
{
    if (!r || !image || !len)
        return MAPLOG_EINVAL;
    if (!r->img)
        return mlg__fail(&r->err, MAPLOG_EINVAL,
                         "%s: no record image: the last call returned no record, or positioned "
                         "the reader",
                         r->dir);
    *image = r->img;
    *len = (size_t)r->img_len;
    return 0;
}

/* The largest payload any segment holds (docs/FORMAT.md, "Records"). */
#define MAX_PAYLOAD ((uint64_t)MLG_MAX_SEGMENT_SIZE - MLG_DATA_OFFSET - MLG_REC_HEADER_SIZE)

int maplog_record_decode(const void *buf, size_t avail, uint64_t seq, maplog_record *out,
                         size_t *used, const char **why)
{
    const char *no = NULL;
    mlg__rec_view v;
    uint64_t word = 0;
    int st = -1;
    if ((!buf && avail) || !out || !used) {
        if (why)
            *why = "NULL argument";
        return MAPLOG_EINVAL;
    }
    if (avail >= MLG_REC_HEADER_SIZE) {
        memcpy(&word, buf, 8); /* a copy, not a mapping: no one publishes it under us */
        st = mlg__rec_check_word(buf, avail, word, seq, &v);
    }
    int valid_bit = ((uint32_t)word & MLG_REC_VALID) != 0;
    switch (st) {
    case MLG_REC_OK:
        if (v.len > MAX_PAYLOAD)
            no = "impossible length: larger than any segment holds";
        break;
    case MLG_REC_EMPTY:
        no = "no record: its first 8 bytes are zero";
        break;
    case MLG_REC_ROLLED:
        no = "not a record: the rollover mark";
        break;
    case MLG_REC_PENDING:
        no = "not a published record: a pending word (reserved, never published)";
        break;
    case MLG_REC_BADLEN:
        no = !valid_bit            ? "not a published record: the length word lacks its valid bit"
             : v.len > MAX_PAYLOAD ? "impossible length: larger than any segment holds"
                                   : "truncated: the record runs past the end of the buffer";
        break;
    case MLG_REC_BADCRC:
        no = "CRC mismatch: damaged, or not the record of this sequence number";
        break;
    default:
        no = "truncated: shorter than a record header (16 bytes)";
        break;
    }
    if (no) {
        if (why)
            *why = no;
        return MAPLOG_ECORRUPT;
    }
    if (v.flags) /* a void record: as a reader returns it */
        *out = (maplog_record){seq, 0, NULL, 0, MAPLOG_RECORD_VOID};
    else
        *out = (maplog_record){seq, v.ts, v.payload, v.len, 0};
    *used = (size_t)v.size;
    return 0;
}
