/*
 * verify.c -- checking a whole log (maplog_verify): what the maplog tool's verify stands on
 * (systemd's journal-verify.c is the model).

 * Everything here reads through read-only private mappings and changes nothing.  The walk:
 * for each segment in order, check its header, read its seal, scan its records by the
 * validity rule, and check that the next segment's first sequence number follows.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "os.h"

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

#include "logdir.h"

/* ---- verify ------------------------------------------------------------------------------ */

typedef struct vctx {
    maplog_problem_fn fn;
    void *ctx;
    uint64_t problems;
    int kind; /* of the next problem(): MAPLOG_PROBLEM_DAMAGE unless crash() said otherwise */
    uint64_t torn_at; /* scan_records: where an unsealed segment's records end early, or 0 */
    int torn_st;      /* and what is there */
    int alive;        /* a writer holds the log: an unsealed last segment may be mid-append */
    int quick;        /* MAPLOG_VERIFY_QUICK: trust a valid seal's record count */
} vctx;

static void problem(vctx *c, const char *file, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(vctx *c, const char *file, uint64_t off, const char *fmt, ...)
{
    char what[MLG_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    c->problems++;
    maplog_problem p = {file, off, what, c->kind ? c->kind : MAPLOG_PROBLEM_DAMAGE};
    c->kind = 0;
    if (c->fn)
        c->fn(c->ctx, &p);
}

/* A problem whose sentence came from an error, which names the file and often the offset
 * ("DIR/NAME: offset N: what"): reported at that offset, with the file named once. */
static void problem_err(vctx *c, const char *dir, const char *name, const char *msg)
{
    size_t dl = strlen(dir), nl = strlen(name);
    uint64_t off = 0;
    if (!strncmp(msg, dir, dl) && msg[dl] == '/' && !strncmp(msg + dl + 1, name, nl) &&
        !strncmp(msg + dl + 1 + nl, ": ", 2)) {
        msg += dl + nl + 3;
        if (!strncmp(msg, "offset ", 7) && msg[7] >= '0' && msg[7] <= '9') {
            char *end;
            errno = 0;
            unsigned long long o = strtoull(msg + 7, &end, 10);
            if (!errno && !strncmp(end, ": ", 2)) {
                off = o;
                msg = end + 2;
            }
        }
    }
    problem(c, name, off, "%s", msg);
}

/* The next problem() is a crash state, not damage. */
static vctx *crash(vctx *c)
{
    c->kind = MAPLOG_PROBLEM_CRASH;
    return c;
}

/* Bytes the plain segment files take: what progress counts towards. */
static uint64_t total_bytes(int dirfd, const uint64_t *segs, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char name[32];
        mlg__seg_name(name, segs[i]);
        if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            total += (uint64_t)st.st_size;
    }
    return total;
}

/* Does segment v start where the previous one ended, and do its seal and digest hold? */
static void check_start_and_seal(vctx *c, const mlg__segview *v, uint64_t expect_first)
{
    if (expect_first != UINT64_MAX && v->first != expect_first)
        problem(c, v->name, 0,
                "starts at seq %" PRIu64 " but the previous segment ends at seq %" PRIu64 " (%s)",
                v->first, expect_first,
                v->first > expect_first ? "records missing" : "records overlap");
    if (v->seal_state < 0)
        problem(c, v->name, MLG_SEAL_OFFSET, "seal block damaged");
    if (v->seal_state == 1 && (v->seal.flags & MLG_SEAL_DIGEST)) {
        uint64_t d = mlg__digest(v->map, v->seal.end_offset);
        if (d != v->seal.digest)
            problem(c, v->name, MLG_DATA_OFFSET,
                    "XXH3 digest of the records is %016" PRIx64 ", the seal says %016" PRIx64, d,
                    v->seal.digest);
    }
}

/* Scan segment v's records, reporting every bad record whose length lets us step over it,
 * and check the count against the seal and the checkpoint; want is the next segment's first
 * seq (MLG_NO_WANT for the last), rule where holes a crash left may be (NULL: none).
 * Returns the records found. */
static uint64_t scan_records(vctx *c, const mlg__segview *v, int last, uint64_t want,
                             const mlg__hole_rule *rule)
{
    uint64_t off = MLG_DATA_OFFSET, seq = v->first,
             limit = v->seal_state == 1 ? v->seal.end_offset : v->size, count = 0;
    uint64_t valid_end = UINT64_MAX, valid_count = 0; /* where the valid prefix ends */
    for (;;) {
        mlg__scan_result r;
        mlg__scan(v->map, v->size, off, seq, limit, &r);
        count += r.count;
        seq += r.count;
        off = r.end;
        if (valid_end == UINT64_MAX)
            valid_end = off, valid_count = count;
        if (r.stop == MLG_REC_OK || off >= limit)
            break;
        mlg__rec_view bad;
        int st = mlg__rec_check(v->map, v->size, off, seq, &bad);
        mlg__hole h;
        if ((st == MLG_REC_EMPTY || st == MLG_REC_PENDING) && rule &&
            mlg__hole_find(v->map, v->size, off, seq, limit, rule, &h)) {
            if (h.count == 1)
                problem(crash(c), v->name, off,
                        "record seq %" PRIu64 " reserved and never published: a hole a crash "
                        "left, with records after it; recovery makes it a void record",
                        seq);
            else
                problem(crash(c), v->name, off,
                        "records seq %" PRIu64 "..%" PRIu64 " reserved and never published: a "
                        "hole a crash left, with records after it; recovery makes them void "
                        "records",
                        seq, seq + h.count - 1);
            count += h.count;
            seq += h.count;
            off = h.end;
            valid_end = UINT64_MAX; /* recovery keeps what follows */
            continue;
        }
        /* The end of an unsealed segment; but in the last, of a log no writer holds, bytes
         * past it (a rollover mark with no room for a record, say) are a torn tail.  (Inside
         * the synced part, the checkpoint's check below reports the records missing.) */
        if ((st == MLG_REC_EMPTY || (st == MLG_REC_ROLLED && !last)) && v->seal_state != 1 &&
            !(last && !c->alive && !(v->have_ck && off < v->ck.end_offset) &&
              mlg__high_water(v->map, v->size, off) > off))
            break;
        if (v->seal_state != 1 && !last && !c->alive) {
            /* records end before they should: if a power loss cut this segment's unsynced
             * tail across a rollover, the caller reports the gap as a crash state; and
             * bytes after complete records are a tail recovery zeroes when it seals */
            if (seq == want)
                problem(crash(c), v->name, off,
                        "%" PRIu64 " bytes after the last record that are not a record (%s): "
                        "a torn tail; recovery zeroes them when it seals the segment",
                        mlg__high_water(v->map, v->size, off) - off,
                        mlg__stop_what(v->map, v->size, off, st));
            else if (seq < want)
                c->torn_at = off, c->torn_st = st;
            if (seq <= want)
                break;
        }
        if (v->seal_state != 1 && last) {
            /* the last segment ends here; what follows is a torn tail, unless a
             * checkpoint says it was synced */
            if (v->have_ck && off < v->ck.end_offset)
                problem(c, v->name, off,
                        "record seq %" PRIu64 ": %s, inside the synced part (checkpoint: "
                        "%" PRIu64 " records to offset %" PRIu64 ")",
                        seq, mlg__stop_what(v->map, v->size, off, st), v->ck.record_count,
                        v->ck.end_offset);
            else if (!c->alive && mlg__rolled_at(v->map, v->size, off)) {
                char succ[32];
                mlg__seg_name(succ, seq);
                problem(crash(c), v->name, off,
                        "a rollover mark: the writer had moved on to %s, which is missing, and "
                        "the records it held are lost (none of them synced: a sync seals this "
                        "segment first); recovery cuts the mark",
                        succ);
            } else if (!c->alive)
                problem(crash(c), v->name, off,
                        "torn tail: %" PRIu64 " bytes that are not a complete record "
                        "(%s at seq %" PRIu64 "; recovery cuts them)",
                        mlg__high_water(v->map, v->size, off) - off,
                        mlg__stop_what(v->map, v->size, off, st), seq);
            break;
        }
        if (st == MLG_REC_BADCRC)
            problem(c, v->name, off,
                    "record seq %" PRIu64 ": CRC mismatch (stored %08x, computed %08x)", seq,
                    bad.crc_stored, bad.crc_computed);
        else
            problem(c, v->name, off, "record seq %" PRIu64 ": %s", seq, mlg__rec_status_str(st));
        if (st != MLG_REC_BADCRC)
            break; /* cannot step over a bad length */
        off += bad.size;
        seq++;
        count++;
    }
    if (v->seal_state == 1 && count != v->seal.record_count)
        problem(c, v->name, MLG_SEAL_OFFSET + 8,
                "the seal says %" PRIu64 " records, %" PRIu64 " found", v->seal.record_count,
                count);
    /* open stops at the end of the valid prefix, and refuses a checkpoint past it */
    if (v->have_ck && v->seal_state != 1 &&
        (v->ck.record_count > valid_count || v->ck.end_offset > valid_end))
        problem(c, v->name, v->ck.generation % 2 ? MLG_CKPT_OFFSET_B : MLG_CKPT_OFFSET_A,
                "the checkpoint says %" PRIu64 " records up to offset %" PRIu64
                " were synced, the valid records end after %" PRIu64 " at offset %" PRIu64
                " (maplog recover --apply cuts there, keeping the bytes cut)",
                v->ck.record_count, v->ck.end_offset, valid_count, valid_end);
    return count;
}

/* An archive's header repeats its seal's facts and its log id, and open trusts them
 * without inflating (FORMAT.md, "Archived segments"): do they match the segment v it holds? */
static void check_archive_header(vctx *c, int dirfd, const char *dir, const mlg__segview *v)
{
    mlg__segpeek p;
    mlg__err err;
    size_t len = strlen(v->name);
    if (len == 0 || v->name[len - 1] != 'z' || v->seal_state != 1 ||
        mlg__seg_peek(dirfd, dir, v->first, &p, &err) || !p.archived)
        return;
    static const struct {
        const char *field;
        uint64_t off;
    } f[] = {{"record_count", 56}, {"digest", 32}, {"stored_len", 24}, {"last_ts", 64}};
    const uint64_t says[] = {p.seal.record_count, p.seal.digest, p.seal.end_offset, p.seal.last_ts};
    const uint64_t is[] = {v->seal.record_count, v->seal.digest, v->seal.end_offset,
                           v->seal.last_ts};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        if (says[k] != is[k])
            problem(c, v->name, f[k].off,
                    "the archive header's %s is %" PRIu64 " (%#" PRIx64
                    "), the seal of the segment it holds says %" PRIu64 " (%#" PRIx64 ")",
                    f[k].field, says[k], says[k], is[k], is[k]);
    if (memcmp(p.log_id, ((const mlg__seg_header *)(const void *)v->map)->log_id, 16) != 0)
        problem(c, v->name, 72, "the archive header's log id differs from the segment's it holds");
    char why[512];
    uint64_t at;
    if (mlg__arch_index_differs(dirfd, dir, v->first, v->map, v->seal.record_count, why, sizeof why,
                                &at))
        problem(c, v->name, at, "%s", why);
}

/* Segment v, the last, is sealed: the writer seals a segment only after its successor
 * has its name, so the successor existed.  Is it there now (a writer may have made it
 * since the listing)? */
static void check_successor(vctx *c, int dirfd, const mlg__segview *v)
{
    char succ[40];
    struct stat st;
    uint64_t next = v->first + v->seal.record_count;
    mlg__seg_name(succ, next);
    if (mlg__fstatat(dirfd, succ, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return;
    strcat(succ, "z");
    if (mlg__fstatat(dirfd, succ, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return;
    succ[strlen(succ) - 1] = 0;
    problem(c, v->name, MLG_SEAL_OFFSET,
            "sealed with %" PRIu64 " records, so the segment after it, %s (seq %" PRIu64
            " on), existed; it is missing, and the records it held are lost (maplog recover "
            "--apply accepts the loss)",
            v->seal.record_count, succ, next);
}

/* The records of unsealed segment v end early, at c->torn_at, after count records, before
 * the next segment (the first of the n in later) begins.  A crash state if a power loss
 * explains it -- the missing records fit in the rest of v, and no later segment holds
 * synced records (recovery's rule: it ends the log there and sets the later segments
 * aside) -- else damage.  Reported either way; returns the next segment's first seq. */
static uint64_t judge_torn(vctx *c, int dirfd, const char *dir, const mlg__segview *v,
                           uint64_t count, const uint64_t *later, size_t n)
{
    uint64_t end = v->first + count, missing = later[0] - end;
    if (missing <= (v->size - c->torn_at) / MLG_REC_HEADER_SIZE &&
        !mlg__claims_durable(dirfd, dir, later, n)) {
        char next[32];
        mlg__seg_name(next, later[0]);
        problem(crash(c), v->name, c->torn_at,
                "records seq %" PRIu64 "..%" PRIu64 " are missing (%s here): a crash cut the "
                "segment's unsynced tail across a rollover, and no later segment holds synced "
                "records; recovery ends the log at seq %" PRIu64 " and sets %s%s aside",
                end, later[0] - 1, mlg__rec_status_str(c->torn_st), end, next,
                n > 1 ? " and the segments after it" : "");
        return later[0];
    }
    problem(c, v->name, c->torn_at,
            "record seq %" PRIu64 ": %s in an unsealed segment, but the next segment starts at "
            "seq %" PRIu64,
            end, mlg__rec_status_str(c->torn_st), later[0]);
    return later[0]; /* reported here: the next segment's start is not a second problem */
}

int maplog_verify(const char *dir, int flags, maplog_problem_fn fn, maplog_progress_fn progress,
                  void *ctx, uint64_t *problems)
{
    int dirfd, rc;
    uint64_t *segs = NULL, total, done = 0;
    size_t n;
    mlg__err err;
    vctx c = {.fn = fn, .ctx = ctx, .quick = flags & MAPLOG_VERIFY_QUICK};
    uint8_t id[16];
    int have_id = 0;
    if (problems)
        *problems = 0;
    if (!dir)
        return MAPLOG_EINVAL;
    if ((rc = mlg__logdir_open(dir, &dirfd, &segs, &n, &err))) {
        mlg__open_err = err;
        return rc;
    }
    c.alive = mlg__writer_alive(dirfd);
    total = total_bytes(dirfd, segs, n);
    uint64_t expect_first = segs[0];
    for (size_t i = 0; i < n; i++) {
        mlg__segview v;
        if ((rc = mlg__segview_open(dirfd, dir, segs[i], have_id ? id : NULL, 0, NULL, 0, &v,
                                    &err))) {
            problem_err(&c, dir, v.name, err.msg);
            mlg__segview_close(&v);
            continue;
        }
        if (!v.header_ok) {
            problem_err(&c, dir, v.name, v.header_err.msg);
            mlg__segview_close(&v);
            expect_first = UINT64_MAX; /* continuity unknown past here */
            continue;
        }
        if (!have_id) {
            memcpy(id, ((const mlg__seg_header *)(const void *)v.map)->log_id, 16);
            have_id = 1;
        }
        check_start_and_seal(&c, &v, expect_first);
        check_archive_header(&c, dirfd, dir, &v);
        if (i + 1 == n && v.seal_state == 1)
            check_successor(&c, dirfd, &v);
        /* holes a crash left: only in an unsealed segment of a log no writer holds */
        mlg__hole_rule rule;
        mlg__later lat;
        int holes = v.seal_state != 1 && !c.alive &&
                    mlg__hole_rule_for(v.map, v.size, v.first, dirfd, dir, segs + i + 1, n - i - 1,
                                       &lat, &rule);
        c.torn_at = 0;
        uint64_t count =
            c.quick && v.seal_state == 1
                ? v.seal.record_count
                : scan_records(&c, &v, i + 1 == n, i + 1 < n ? segs[i + 1] : MLG_NO_WANT,
                               holes ? &rule : NULL);
        expect_first = v.first + count;
        if (c.torn_at)
            expect_first = judge_torn(&c, dirfd, dir, &v, count, segs + i + 1, n - i - 1);
        done += v.size;
        if (progress)
            progress(ctx, done, total);
        mlg__segview_close(&v);
    }
    mlg__close(dirfd);
    free(segs);
    if (problems)
        *problems = c.problems;
    return 0;
}
