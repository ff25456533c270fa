/*
 * recovery.c -- what maplog_open() does to the log a crash (or a clean close) left behind.
 *
 * The rule, as Redis states it for its AOF: find valid_up_to, the end of the last complete
 * record, and cut there -- but never cut what was promised.  In order:
 *
 *  1. A leftover spare segment (next.mlog-spare, next.mlog-spare2) never held a record:
 *     remove it.
 *  2. Every segment but the last must be sealed, with a record count that makes its
 *     successor's first sequence number follow without gap or overlap.  A segment a crash
 *     left unsealed (the writer rolled over, then died before the background seal) is
 *     scanned and sealed now, if its records reach exactly its successor's first seq.
 *  3. The last segment is scanned from its first record; the scan stops at the first
 *     record that is absent, has an impossible length or fails its CRC.  That is the end
 *     of the log, with one exception reported as MAPLOG_ECORRUPT instead of being cut
 *     (unless MAPLOG_OPT_STRICT_RECOVERY is 0): the segment's checkpoint says records
 *     past that point were synced -- damage to durable data is not a torn tail.  When the
 *     bad record's length is intact and the record after it is valid (a power loss that
 *     wrote pages out of order, or damage), the log is still cut there -- nothing past
 *     the checkpoint was promised -- but the cut bytes are kept in "<segment>.tail-<offset>"
 *     and the recovery report says so.
 *  4. Bytes past the end are zeroed (they are not records and must not become part of
 *     one), the result is synced, and a checkpoint says where the log now ends.
 *  5. A last segment that is full-size and entirely zero (a rollover cut short before
 *     its header reached the disk) holds nothing and is removed.  An unsealed older segment whose
 *     records end before the next one begins had a torn tail when the power went out
 *     before the background seal: if no later segment holds synced records, the log is
 *     cut there and the later segments are set aside as "<name>.tail-0".
 */
#define _GNU_SOURCE
#include "os.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new log: a random id and sequence numbers from 0, or the identity the options give
 * (maplog_options_set_identity: a log that continues another's). */
static int create_new(struct maplog *log)
{
    mlg__wseg *s = NULL;
    int rc;
    uint64_t first = log->opt.has_identity ? log->opt.identity_seq : 0;
    if (log->opt.has_identity)
        memcpy(log->log_id, log->opt.identity_id, 16);
    else if (mlg__new_log_id(log->log_id) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s: getrandom failed: %s", log->dir,
                         strerror(errno));
    if ((rc = mlg__seg_create(log, &s, (uint64_t)log->opt.segment_size, MLG_SPARE_NAME)))
        return rc;
    mlg__seg_prefault(log, s); /* before the first append, as the pre-faulter does for spares */
    if ((rc = mlg__seg_activate(log, s, first))) {
        mlg__seg_free(s);
        mlg__unlinkat(log->dirfd, MLG_SPARE_NAME, 0);
        return rc;
    }
    atomic_store(&log->cur, s);
    log->dir_dirty = 1;
    return mlg__sync_range(log, s, MLG_DATA_OFFSET, 0, 0, MLG_STATE_OPEN);
}

/* The log's id, read from the first segment recovery opens (before it changes any): the
 * log's from now on.  Options with an identity ask for one log: another's is refused. */
static int learn_id(struct maplog *log, const uint8_t id[16])
{
    char have[33], want[33];
    memcpy(log->log_id, id, 16);
    if (!log->opt.has_identity || memcmp(id, log->opt.identity_id, 16) == 0)
        return 0;
    for (int k = 0; k < 16; k++) {
        snprintf(have + 2 * k, 3, "%02x", id[k]);
        snprintf(want + 2 * k, 3, "%02x", log->opt.identity_id[k]);
    }
    return mlg__fail(&mlg__tls_err, MAPLOG_EINVAL,
                     "%s: the log's id is %s, not %s (the identity the options ask for): "
                     "another log",
                     log->dir, have, want);
}

/* Open segment first read-write, check its size and header (learning the log id from the
 * first one, have_id 0) and map it (mlg__seg_open).  On failure nothing is left open. */
static int open_checked(struct maplog *log, uint64_t first, int have_id, mlg__segmap *m)
{
    int rc = mlg__seg_open(log->dirfd, log->dir, first, MLG_SEG_RW, have_id ? log->log_id : NULL, m,
                           &mlg__tls_err);
    if (rc == 0 && !have_id &&
        (rc = learn_id(log, ((const mlg__seg_header *)(const void *)m->map)->log_id)))
        mlg__seg_close(m);
    return rc;
}

static int all_zero(const uint8_t *map, uint64_t size)
{
    return mlg__high_water(map, size, 0) == 0;
}

/* Step 2 for an archived segment: sealed by construction; its header gives the record
 * count and the log id. */
static int check_archived(struct maplog *log, const char *name, uint64_t first, uint64_t count,
                          uint64_t next_first, int have_id, const uint8_t id[16])
{
    int rc;
    if (!have_id && (rc = learn_id(log, id)))
        return rc;
    if (have_id && memcmp(log->log_id, id, 16) != 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                         "%s/%sz: offset 72: log id differs from the log's other segments",
                         log->dir, name);
    if (first + count != next_first)
        return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                         "%s/%sz: archived with %" PRIu64
                         " records, but the next segment starts at seq %" PRIu64,
                         log->dir, name, count, next_first);
    return 0;
}

/* The holes a scan found in one segment (mlg__scan_holes), to be made void records. */
typedef struct holes {
    mlg__hole *h;
    size_t n, cap;
    int oom;
} holes;

static void hole_add(void *ctx, const mlg__hole *h)
{
    holes *hs = ctx;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 8;
        mlg__hole *p = realloc(hs->h, cap * sizeof *p);
        if (!p) {
            hs->oom = 1;
            return;
        }
        hs->h = p;
        hs->cap = cap;
    }
    hs->h[hs->n++] = *h;
}

/* Records were reserved in segment name but never published -- their writer died with
 * them -- and valid records follow: make them void records, which keep their sequence
 * numbers and carry nothing, so that every record after them survives.  Zeroes first and
 * makes that durable, then stores the voids' words (synced with the rest by the caller). */
static int void_holes(struct maplog *log, mlg__report *rep, const char *name, uint8_t *map,
                      uint64_t size, const holes *hs)
{
    uint64_t n = 0;
    if (hs->oom)
        return mlg__fail(&mlg__tls_err, MAPLOG_ENOMEM, "%s: out of memory", log->dir);
    if (!hs->n)
        return 0;
    for (size_t i = 0; i < hs->n; i++)
        mlg__hole_void(map, size, &hs->h[i], 0);
    uint64_t from = hs->h[0].off & ~(uint64_t)4095, to = hs->h[hs->n - 1].end;
    if (mlg__msync(map + from, to - from, MS_SYNC) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: msync before writing void records: %s",
                         log->dir, name, strerror(errno));
    for (size_t i = 0; i < hs->n; i++) {
        mlg__hole_void(map, size, &hs->h[i], 1);
        n += hs->h[i].count;
    }
    log->rec_info[MAPLOG_RECOVERY_VOIDED] += (int64_t)n;
    mlg__report_add(rep,
                    "%s%" PRIu64 " record%s of %s (seq %" PRIu64 " at offset %" PRIu64
                    "%s) reserved but never published before the crash: kept as %s, with "
                    "every record after %s",
                    rep->len ? "; " : "", n, n == 1 ? "" : "s", name, hs->h[0].seq, hs->h[0].off,
                    hs->n > 1 ? ", and later" : "", n == 1 ? "a void record" : "void records",
                    n == 1 ? "it" : "them");
    return 0;
}

/* Seal segment name now: its records r reach exactly the next segment's first seq. */
static int seal_now(struct maplog *log, mlg__report *rep, const char *name, int fd, uint8_t *map,
                    uint64_t size, uint64_t first, const mlg__scan_result *r)
{
    mlg__seal seal;
    uint64_t hw = mlg__high_water(map, size, r->end);
    if (hw > r->end)
        memset(map + r->end, 0, hw - r->end);
    if (mlg__fdatasync(fd) < 0) /* data first, then the seal */
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: fdatasync before sealing failed: %s",
                         log->dir, name, strerror(errno));
    mlg__seal_fill(&seal, first, r->count, r->end, r->last_ts, mlg__digest(map, r->end),
                   mlg__now_ns());
    mlg__seal_set_voids(&seal, r->voids);
    memcpy(map + MLG_SEAL_OFFSET, &seal, sizeof seal);
    log->rec_info[MAPLOG_RECOVERY_SEALED]++;
    mlg__report_add(rep, "%ssealed %s (left unsealed)", rep->len ? "; " : "", name);
    if (mlg__fdatasync(fd) < 0)
        return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: fdatasync after sealing failed: %s",
                         log->dir, name, strerror(errno));
    return 0;
}

/* Step 2 for segment name (not the last): sealed, or sealable, and followed by next_first.
 * *cut is set when it is unsealed and its records end before next_first: a torn tail that
 * spans a rollover (a power loss before the seal), for the caller to judge. */
static int check_old(struct maplog *log, mlg__report *rep, const char *name, uint64_t first,
                     const uint64_t *later, size_t nlater, int have_id, int *cut)
{
    int rc = 0;
    uint64_t next_first = later[0];
    mlg__segmap m;
    mlg__seal seal;
    uint64_t last_ts, bytes, count;
    uint8_t id[16];
    holes hs = {0};
    if (mlg__seg_sealed_info(log->dirfd, first, &last_ts, &bytes, &count, id) == 2)
        return check_archived(log, name, first, count, next_first, have_id, id);
    if ((rc = open_checked(log, first, have_id, &m)))
        return rc;
    uint8_t *map = m.map;
    uint64_t size = m.size;
    if (mlg__seal_read(map, size, first, &seal) == 1) {
        if (first + seal.record_count != next_first)
            rc = mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                           "%s/%s: offset 520: sealed with %" PRIu64
                           " records, but the next segment starts at seq %" PRIu64
                           " (records missing or duplicated between segments)",
                           log->dir, name, seal.record_count, next_first);
        goto out;
    }
    /* Unsealed: the writer died between rollover and seal.  Or the seal is damaged -- a
     * power loss can tear the write that seals -- which the scan below settles the same
     * way: the records either make the next segment follow, or they do not.  */
    mlg__scan_result r;
    mlg__hole_rule rule;
    mlg__later lat;
    if (mlg__hole_rule_for(map, size, first, log->dirfd, log->dir, later, nlater, &lat, &rule))
        mlg__scan_holes(map, size, MLG_DATA_OFFSET, first, size, &rule, &r, hole_add, &hs);
    else
        mlg__scan(map, size, MLG_DATA_OFFSET, first, size, &r);
    if (first + r.count == next_first && (rc = void_holes(log, rep, name, map, size, &hs)))
        goto out;
    if (first + r.count < next_first &&
        next_first - first - r.count > (size - r.end) / MLG_REC_HEADER_SIZE &&
        log->opt.strict_recovery)
        /* more records missing than the rest of the segment could have held: no crash
         * loses those (a segment named for another place?) */
        rc = mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                       "%s/%s: offset %" PRIu64 ": records end at seq %" PRIu64
                       ", but the next segment starts at seq %" PRIu64
                       ", more than the rest of the segment could hold (maplog recover --apply "
                       "ends the log here)",
                       log->dir, name, r.end, first + r.count, next_first);
    else if (first + r.count < next_first)
        *cut = 1;
    else if (first + r.count != next_first)
        rc = mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                       "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64
                       " in an unsealed segment, but the next segment starts at seq %" PRIu64,
                       log->dir, name, r.end, mlg__rec_status_str(r.stop), first + r.count,
                       next_first);
    else
        rc = seal_now(log, rep, name, m.fd, map, size, first, &r);
out:
    free(hs.h);
    mlg__seg_close(&m);
    return rc;
}

/* The last segment, open read-write, and what its scan found (steps 3 and 4). */
typedef struct last_seg {
    const char *name;
    uint64_t first, size;
    int fd;
    uint8_t *map;
    mlg__scan_result r;
    holes hs;    /* records reserved, never published, with valid records after them */
    uint64_t hw; /* end of the non-zero bytes past the records */
    int have_ck, sealed;
    mlg__checkpoint ck;
    mlg__seal seal;
} last_seg;

/* Scan the last segment; record and report what was found and what will be cut. */
static void scan_last(struct maplog *log, mlg__report *rep, last_seg *l)
{
    mlg__scan_result *r = &l->r;
    mlg__hole_rule rule;
    mlg__later lat;
    if (mlg__hole_rule_for(l->map, l->size, l->first, log->dirfd, log->dir, NULL, 0, &lat, &rule))
        mlg__scan_holes(l->map, l->size, MLG_DATA_OFFSET, l->first, l->size, &rule, r, hole_add,
                        &l->hs);
    else
        mlg__scan(l->map, l->size, MLG_DATA_OFFSET, l->first, l->size, r);
    l->have_ck = mlg__ckpt_best(l->map, l->size, l->first, &l->ck);
    l->sealed = mlg__seal_read(l->map, l->size, l->first, &l->seal) == 1;
    l->hw = mlg__high_water(l->map, l->size, r->end);
    int clean = l->have_ck && l->ck.state == MLG_STATE_CLOSED && l->ck.end_offset == r->end &&
                l->hw == r->end;
    log->rec_info[MAPLOG_RECOVERY_CLEAN] = clean;
    log->rec_info[MAPLOG_RECOVERY_RECORDS] = (int64_t)r->count;
    if (l->hw > r->end) {
        log->rec_info[MAPLOG_RECOVERY_CUT_OFFSET] = (int64_t)r->end;
        log->rec_info[MAPLOG_RECOVERY_CUT_BYTES] = (int64_t)(l->hw - r->end);
    }
    mlg__report_add(rep, "%s%s; %" PRIu64 " records in the last segment %s", rep->len ? "; " : "",
                    clean ? "clean shutdown" : "crash recovery", r->count, l->name);
    if (l->hw > r->end)
        mlg__report_add(rep, "; cut a torn tail of %" PRIu64 " bytes at offset %" PRIu64 " (%s)",
                        l->hw - r->end, r->end, mlg__stop_what(l->map, l->size, r->end, r->stop));
}

/* MAPLOG_OPT_STRICT_RECOVERY: the cut must not drop what a checkpoint or seal promised. */
static int refuse_synced_loss(struct maplog *log, const last_seg *l)
{
    const mlg__scan_result *r = &l->r;
    if (l->have_ck && (l->ck.end_offset > r->end || l->ck.record_count > r->count))
        return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64
                         ", but the checkpoint says %" PRIu64 " records up to offset %" PRIu64
                         " were synced; refusing to drop them (maplog recover --apply "
                         "truncates here)",
                         log->dir, l->name, r->end,
                         mlg__stop_what(l->map, l->size, r->end, r->stop), l->first + r->count,
                         l->ck.record_count, l->ck.end_offset);
    if (l->sealed && (l->seal.end_offset != r->end || l->seal.record_count != r->count))
        return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": %s at seq %" PRIu64
                         ", but the segment is sealed with %" PRIu64 " records",
                         log->dir, l->name, r->end, mlg__rec_status_str(r->stop),
                         l->first + r->count, l->seal.record_count);
    return 0;
}

/* Cut the last segment at its scan's end: keep the cut bytes when valid records followed
 * the damage, then zero them and sync. */
static int cut_last(struct maplog *log, mlg__report *rep, last_seg *l)
{
    const mlg__scan_result *r = &l->r;
    int rc = void_holes(log, rep, l->name, l->map, l->size, &l->hs);
    if (rc)
        return rc;
    if (r->stop == MLG_REC_BADCRC) {
        /* A damaged record whose successor is valid: after a power loss that is writes
         * reaching the disk out of order (nothing past the checkpoint was promised); after
         * a process crash it cannot happen, so it is damage.  Either way the bytes are cut
         * from the log -- but kept in a file beside it, never dropped silently. */
        mlg__rec_view bad = {0}, next;
        mlg__rec_check(l->map, l->size, r->end, l->first + r->count, &bad);
        if (mlg__rec_check(l->map, l->size, r->end + bad.size, l->first + r->count + 1, &next) ==
            MLG_REC_OK) {
            char side[64];
            uint64_t saved;
            rc = mlg__save_tail(log->dirfd, log->dir, l->name, r->end, l->hw,
                                (int)log->opt.file_mode, side, &saved, &mlg__tls_err);
            if (rc)
                return rc;
            mlg__report_add(rep,
                            "; valid records followed the damage: the %" PRIu64
                            " bytes cut are kept in %s",
                            saved, side);
            log->dir_dirty = 1;
            log->rec_info[MAPLOG_RECOVERY_SAVED_TAIL] = 1;
        }
    }
    /* Hints naming records past the end, or in slots the writer fills again from there:
     * they would be checked against the records written there next.  Made durable with
     * the checkpoint make_current() writes into the same page. */
    mlg__hints_clear_from(l->map, l->size, r->end);
    if (l->hw > r->end) {
        memset(l->map + r->end, 0, l->hw - r->end);
        uint64_t from = r->end & ~(uint64_t)4095;
        if (mlg__msync(l->map + from, l->hw - from, MS_SYNC) < 0)
            return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: msync after zeroing the tail: %s",
                             log->dir, l->name, strerror(errno));
    }
    return 0;
}

/* The last segment becomes the current one, its mapping and descriptor owned by log->cur
 * from here (l->map and l->fd are cleared), and what was found is synced once. */
static int make_current(struct maplog *log, last_seg *l)
{
    const mlg__scan_result *r = &l->r;
    mlg__wseg *s = calloc(1, sizeof *s);
    if (!s)
        return mlg__fail(&mlg__tls_err, MAPLOG_ENOMEM, "%s: out of memory", log->dir);
    s->fd = l->fd;
    s->map = l->map;
    s->size = l->size;
    s->first_seq = l->first;
    memcpy(s->name, l->name, MLG_SEG_NAME_LEN + 1);
    s->synced_end = s->flushed_end = MLG_DATA_OFFSET; /* sync what we found, once */
    s->ckpt_gen = l->have_ck ? l->ck.generation : 0;
    s->voids = r->voids;
    atomic_store(&s->resv, (r->count << 32) | r->end | (l->sealed ? MLG_RESV_FULL : 0));
    mlg__arm_flush(log, s, r->end);
    mlg__arm_hints(s, r->end, r->count);
    atomic_store(&log->cur, s);
    l->fd = -1;
    l->map = NULL;
    int rc = mlg__sync_range(log, s, r->end, r->count, r->last_ts, MLG_STATE_OPEN);
    if (rc)
        return rc; /* s is owned by log->cur now; maplog_open frees it */
    atomic_store(&log->durable, l->first + r->count);
    return 0;
}

/* Step 3 and 4: the last segment becomes the current one. */
static int recover_last(struct maplog *log, mlg__report *rep, const char *name, uint64_t first,
                        int have_id)
{
    last_seg l = {.name = name, .first = first, .fd = -1};
    mlg__segmap m;
    int rc;
    if ((rc = open_checked(log, first, have_id, &m)))
        return rc;
    l.fd = m.fd, l.map = m.map, l.size = m.size; /* make_current() may take them over */
    scan_last(log, rep, &l);
    if (log->opt.strict_recovery && (rc = refuse_synced_loss(log, &l)))
        goto out;
    if ((rc = cut_last(log, rep, &l)))
        goto out;
    rc = make_current(log, &l);
out:
    free(l.hs.h);
    if (l.map)
        mlg__munmap(l.map, l.size);
    if (l.fd >= 0)
        mlg__close(l.fd);
    return rc;
}

/* The records of segment seqs[i] end before seqs[i+1] begins, and it is unsealed: a torn
 * tail across a rollover.  Fine if no later segment holds durable records (nothing
 * promised is lost); they are set aside as "<name>.tail-0", never deleted. */
static int cut_after(struct maplog *log, mlg__report *rep, const uint64_t *seqs, size_t i, size_t n)
{
    char name[32], aside[64];
    int rc;
    for (size_t j = i + 1; j < n; j++) {
        mlg__seg_name(name, seqs[j]);
        if (log->opt.strict_recovery && mlg__claims_durable(log->dirfd, log->dir, seqs + j, 1)) {
            char prev[32];
            mlg__seg_name(prev, seqs[i]);
            return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                             "%s/%s: records end before %s begins, and %s holds synced "
                             "records: records are missing between segments",
                             log->dir, prev, name, name);
        }
    }
    char first_aside[64] = "";
    for (size_t j = i + 1; j < n; j++) {
        mlg__seg_name(name, seqs[j]);
        if ((rc = mlg__set_aside(log->dirfd, log->dir, name, aside, &mlg__tls_err)))
            return rc;
        log->rec_info[MAPLOG_RECOVERY_REMOVED]++;
        if (!first_aside[0])
            snprintf(first_aside, sizeof first_aside, "%s", aside);
    }
    mlg__report_add(rep, "%storn tail across a rollover: set %zu later segment%s aside (%s%s)",
                    rep->len ? "; " : "", n - i - 1, n - i - 1 == 1 ? "" : "s", first_aside,
                    n - i - 1 > 1 ? ", and the others likewise" : "");
    log->dir_dirty = 1;
    return 0;
}

/* Step 5: is the last segment a rollover cut short (all zero)?  Removes it if so. */
static int drop_if_empty(struct maplog *log, const char *name, int *dropped)
{
    int fd = -1, rc;
    uint64_t size;
    uint8_t *map = NULL;
    *dropped = 0;
    if ((rc = mlg__seg_open_file(log->dirfd, log->dir, name, 0, &fd, &size, &mlg__tls_err)))
        goto out;
    if (size >= MLG_MIN_SEGMENT_SIZE && size <= MLG_MAX_SEGMENT_SIZE) {
        map = mlg__mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            goto out;
        }
    }
    /* maplog sizes a segment (ftruncate) before it names it: only a full-size, all-zero
     * file is a rollover cut short.  A zero-length, odd-sized or oversized one (not mapped
     * above) is someone else's doing, and recover_last() refuses it with its name. */
    if (map && size % 4096 == 0 && all_zero(map, size)) {
        if (mlg__unlinkat(log->dirfd, name, 0) < 0)
            rc = mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: cannot remove empty segment: %s",
                           log->dir, name, strerror(errno));
        else
            *dropped = 1;
    }
out:
    if (map)
        mlg__munmap(map, size);
    if (fd >= 0)
        mlg__close(fd);
    return rc;
}

/* The last segment, first, is sealed (or archived, which only a sealed segment is).  The
 * writer seals a segment only after its successor has its name, so the successor existed
 * and is gone, with whatever records it held: continuing would give new records their
 * sequence numbers.  Refuse, unless told to accept the loss (MAPLOG_OPT_STRICT_RECOVERY 0, or
 * maplog recover --apply, which makes an empty successor). */
static int refuse_lost_successor(struct maplog *log, const char *name, uint64_t first)
{
    mlg__segpeek p;
    mlg__err err;
    char succ[32];
    if (mlg__seg_peek(log->dirfd, log->dir, first, &p, &err) || p.sealed != 1)
        return 0; /* unreadable or unsealed: recover_last() judges it */
    mlg__seg_name(succ, first + p.seal.record_count);
    return mlg__fail(&mlg__tls_err, MAPLOG_ECORRUPT,
                     "%s/%s%s: offset 512: the last segment is sealed with %" PRIu64
                     " records, so the segment after it, %s, existed: it is missing, with the "
                     "records it held from seq %" PRIu64
                     " on (maplog recover --apply accepts the loss and continues the log there)",
                     log->dir, name, p.archived ? "z" : "", p.seal.record_count, succ,
                     first + p.seal.record_count);
}

int mlg__recover(struct maplog *log)
{
    uint64_t *seqs = NULL;
    size_t n = 0, other = 0;
    char name[32];
    int rc;
    mlg__report rep;
    mlg__report_init(&rep, log->rec_report, sizeof log->rec_report);

    static const char *const spares[] = {MLG_SPARE_NAME, MLG_SPARE2_NAME};
    for (int i = 0; i < 2; i++)
        if (mlg__unlinkat(log->dirfd, spares[i], 0) < 0 && errno != ENOENT)
            return mlg__fail(&mlg__tls_err, MAPLOG_EIO, "%s/%s: cannot remove old spare: %s",
                             log->dir, spares[i], strerror(errno));
    if ((rc = mlg__list_segments(log->dirfd, &seqs, &n, &other, &mlg__tls_err, log->dir)))
        return rc;
    for (size_t i = 0; i < n; i++) { /* what an archiving cut short leaves behind */
        char z[48];
        mlg__seg_name(name, seqs[i]);
        snprintf(z, sizeof z, "%sz.tmp", name);
        mlg__unlinkat(log->dirfd, z, 0);
        z[strlen(z) - 4] = 0; /* NAME.mlogz: a duplicate when NAME.mlog is still there */
        struct stat st;
        if (mlg__fstatat(log->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            mlg__unlinkat(log->dirfd, z, 0);
    }
    if (n > 0 && log->opt.strict_recovery) {
        mlg__seg_name(name, seqs[n - 1]);
        if ((rc = refuse_lost_successor(log, name, seqs[n - 1])))
            goto out;
    }
    while (n > 0) {
        int dropped;
        mlg__seg_name(name, seqs[n - 1]);
        if ((rc = drop_if_empty(log, name, &dropped)))
            goto out;
        if (!dropped)
            break;
        n--;
        log->dir_dirty = 1;
        log->rec_info[MAPLOG_RECOVERY_REMOVED]++;
    }
    if (n == 0) {
        if (!log->opt.create) {
            rc = mlg__fail(&mlg__tls_err, MAPLOG_ENOENT, "%s: no maplog here (no segment files)",
                           log->dir);
        } else if (other > 0) {
            rc = mlg__fail(&mlg__tls_err, MAPLOG_ENOTLOG,
                           "%s: holds %zu entries that are not maplog segments; refusing to create "
                           "a log there",
                           log->dir, other);
        } else {
            rc = create_new(log);
            mlg__report_add(&rep, "new log");
        }
        goto out;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int cut = 0;
        mlg__seg_name(name, seqs[i]);
        if ((rc = check_old(log, &rep, name, seqs[i], seqs + i + 1, n - i - 1, i > 0, &cut)))
            goto out;
        if (cut) {
            if ((rc = cut_after(log, &rep, seqs, i, n)))
                goto out;
            n = i + 1;
            break;
        }
    }
    mlg__seg_name(name, seqs[n - 1]);
    rc = recover_last(log, &rep, name, seqs[n - 1], n > 1);
out:
    free(seqs);
    return rc;
}
