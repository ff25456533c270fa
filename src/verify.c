/*
 * verify.c -- checking a whole log, summing it up, and repairing it: what the maplog
 * tool's verify, stats and recover stand on (systemd's journal-verify.c is the model).
 *
 * Everything here reads through read-only private mappings and changes nothing, except
 * maplog_recover() with MAPLOG_RECOVER_APPLY, which takes the writer lock first.  The walk
 * is the same for all three: for each segment in order, check its header, read its seal,
 * scan its records by the validity rule, and check that the next segment's first sequence
 * number follows.  The first place where that fails is the cut point: the log's valid
 * prefix ends there.
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

typedef struct seg_view {
    char name[32];
    uint64_t first, size;
    int fd;
    uint8_t *map;
    int header_ok;
    char header_err[MLG_ERRMSG_MAX];
    int seal_state; /* 1 valid, 0 none, -1 damaged */
    mlg__seal seal;
    mlg__scan_result scan; /* the valid prefix */
    uint64_t hw;           /* end of non-zero bytes after the prefix */
    int have_ck;
    mlg__checkpoint ck;
} seg_view;

static void view_close(seg_view *v)
{
    if (v->map)
        munmap(v->map, v->size);
    if (v->fd >= 0)
        close(v->fd);
    v->map = NULL;
    v->fd = -1;
}

/* Map and analyse one segment.  Returns 0 (with v->header_ok saying whether the rest is
 * meaningful) or an error code when the file cannot be read at all. */
static int view_open(int dirfd, const char *dir, uint64_t first, const uint8_t *id, int scan,
                     seg_view *v, char *err)
{
    int archived;
    memset(v, 0, sizeof *v);
    v->fd = -1;
    v->first = first;
    mlg__seg_name(v->name, first);
    int rc = mlg__seg_map_ro(dirfd, dir, first, &v->map, &v->size, &archived, v->header_err);
    if (archived)
        strcat(v->name, "z");
    if (rc == MAPLOG_ENOENT || rc == MAPLOG_EIO || rc == MAPLOG_ENOMEM)
        return mlg__errf(err, rc, "%s", v->header_err);
    if (rc) /* damaged: reported as the segment's problem */
        return 0;
    if (mlg__header_check(v->map, v->size, dir, v->name, id, v->header_err) != 0)
        return 0;
    v->header_ok = 1;
    v->seal_state = mlg__seal_read(v->map, v->size, first, &v->seal);
    v->have_ck = mlg__ckpt_best(v->map, v->size, first, &v->ck);
    if (scan) {
        madvise(v->map, v->size, MADV_SEQUENTIAL);
        mlg__scan(v->map, v->size, MLG_DATA_OFFSET, first, v->size, &v->scan);
        v->hw = mlg__high_water(v->map, v->size, v->scan.end);
    }
    return 0;
}

static int open_log(const char *dir, int *dirfd, uint64_t **segs, size_t *n, char *err)
{
    *dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
        return mlg__errf(err,
                         errno == ENOENT    ? MAPLOG_ENOENT
                         : errno == ENOTDIR ? MAPLOG_ENOTLOG
                                            : MAPLOG_EIO,
                         "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = mlg__list_segments(*dirfd, segs, n, NULL, err, dir);
    if (rc == 0 && *n == 0)
        rc = mlg__errf(err, MAPLOG_ENOTLOG, "%s: not a maplog directory (no segment files)", dir);
    if (rc) {
        close(*dirfd);
        free(*segs);
        *segs = NULL;
    }
    return rc;
}

/* ---- verify ------------------------------------------------------------------------------ */

typedef struct vctx {
    maplog_problem_fn fn;
    void *ctx;
    uint64_t problems;
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
    if (c->fn)
        c->fn(c->ctx, file, off, what);
}

int maplog_verify(const char *dir, int flags, maplog_problem_fn fn, maplog_progress_fn progress,
                  void *ctx, uint64_t *problems)
{
    int dirfd, rc;
    uint64_t *segs = NULL, total = 0, done = 0;
    size_t n;
    char err[MLG_ERRMSG_MAX];
    vctx c = {fn, ctx, 0};
    uint8_t id[16];
    int have_id = 0, quick = flags & MAPLOG_VERIFY_QUICK;
    if (problems)
        *problems = 0;
    if (!dir)
        return MAPLOG_EINVAL;
    if ((rc = open_log(dir, &dirfd, &segs, &n, err))) {
        mlg__set_open_error(err);
        return rc;
    }
    int alive = mlg__writer_alive(dirfd);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char name[32];
        mlg__seg_name(name, segs[i]);
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            total += (uint64_t)st.st_size;
    }
    uint64_t expect_first = segs[0];
    for (size_t i = 0; i < n; i++) {
        seg_view v;
        int last = i + 1 == n;
        if ((rc = view_open(dirfd, dir, segs[i], have_id ? id : NULL, 0, &v, err))) {
            problem(&c, v.name, 0, "%s", err);
            view_close(&v);
            continue;
        }
        if (!v.header_ok) {
            problem(&c, v.name, 0, "%s", v.header_err);
            view_close(&v);
            expect_first = UINT64_MAX; /* continuity unknown past here */
            continue;
        }
        if (!have_id) {
            memcpy(id, ((const mlg__seg_header *)(const void *)v.map)->log_id, 16);
            have_id = 1;
        }
        if (expect_first != UINT64_MAX && v.first != expect_first)
            problem(&c, v.name, 0,
                    "starts at seq %" PRIu64 " but the previous segment ends at seq %" PRIu64
                    " (%s)",
                    v.first, expect_first,
                    v.first > expect_first ? "records missing" : "records overlap");
        if (v.seal_state < 0)
            problem(&c, v.name, MLG_SEAL_OFFSET, "seal block damaged");
        if (v.seal_state == 1 && (v.seal.flags & MLG_SEAL_DIGEST)) {
            uint64_t d = mlg__digest(v.map, v.seal.end_offset);
            if (d != v.seal.digest)
                problem(&c, v.name, MLG_DATA_OFFSET,
                        "XXH3 digest of the records is %016" PRIx64 ", the seal says %016" PRIx64,
                        d, v.seal.digest);
        }
        uint64_t count;
        if (quick && v.seal_state == 1) {
            count = v.seal.record_count;
        } else {
            /* scan, reporting every bad record whose length lets us step over it */
            uint64_t off = MLG_DATA_OFFSET, seq = v.first,
                     limit = v.seal_state == 1 ? v.seal.end_offset : v.size;
            count = 0;
            for (;;) {
                mlg__scan_result r;
                mlg__scan(v.map, v.size, off, seq, limit, &r);
                count += r.count;
                seq += r.count;
                off = r.end;
                if (r.stop == MLG_REC_OK || off >= limit)
                    break;
                mlg__rec_view bad;
                int st = mlg__rec_check(v.map, v.size, off, seq, &bad);
                if ((st == MLG_REC_EMPTY || (st == MLG_REC_ROLLED && !last)) && v.seal_state != 1)
                    break; /* the end of an unsealed segment */
                if (v.seal_state != 1 && last) {
                    /* the last segment ends here; what follows is a torn tail, unless a
                     * checkpoint says it was synced */
                    if (v.have_ck && off < v.ck.end_offset)
                        problem(&c, v.name, off,
                                "record seq %" PRIu64 ": %s, inside the synced part (checkpoint: "
                                "%" PRIu64 " records to offset %" PRIu64 ")",
                                seq, mlg__rec_status_str(st), v.ck.record_count, v.ck.end_offset);
                    else if (!alive)
                        problem(&c, v.name, off,
                                "torn tail: %" PRIu64 " bytes that are not a complete record "
                                "(%s at seq %" PRIu64 "; recovery cuts them)",
                                mlg__high_water(v.map, v.size, off) - off, mlg__rec_status_str(st),
                                seq);
                    break;
                }
                if (st == MLG_REC_BADCRC)
                    problem(&c, v.name, off,
                            "record seq %" PRIu64 ": CRC mismatch (stored %08x, computed %08x)",
                            seq, bad.crc_stored, bad.crc_computed);
                else
                    problem(&c, v.name, off, "record seq %" PRIu64 ": %s", seq,
                            mlg__rec_status_str(st));
                if (st != MLG_REC_BADCRC)
                    break; /* cannot step over a bad length */
                off += bad.size;
                seq++;
                count++;
            }
            if (v.seal_state == 1 && count != v.seal.record_count)
                problem(&c, v.name, MLG_SEAL_OFFSET + 8,
                        "the seal says %" PRIu64 " records, %" PRIu64 " found", v.seal.record_count,
                        count);
            if (v.have_ck && v.seal_state != 1 && v.ck.record_count > count &&
                count == seq - v.first)
                problem(&c, v.name, MLG_CKPT_OFFSET_A,
                        "the checkpoint says %" PRIu64 " records were synced, %" PRIu64 " found",
                        v.ck.record_count, count);
        }
        expect_first = v.first + count;
        done += v.size;
        if (progress)
            progress(ctx, done, total);
        view_close(&v);
    }
    close(dirfd);
    free(segs);
    if (problems)
        *problems = c.problems;
    return 0;
}

/* ---- whole-log figures ------------------------------------------------------------------ */

int mlg__log_summary(int dirfd, const char *dir, const uint64_t *segs, size_t n, mlg__summary *out,
                     char *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        seg_view v;
        int rc = view_open(dirfd, dir, segs[i], NULL, 0, &v, err);
        if (rc || !v.header_ok) {
            view_close(&v);
            if (!rc)
                rc = mlg__errf(err, MAPLOG_ECORRUPT, "%s", v.header_err);
            return rc;
        }
        out->allocated += v.size;
        uint64_t count, end, last_ts;
        if (v.seal_state == 1) {
            count = v.seal.record_count;
            end = v.seal.end_offset;
            last_ts = v.seal.last_ts;
        } else {
            mlg__scan(v.map, v.size, MLG_DATA_OFFSET, v.first, v.size, &v.scan);
            count = v.scan.count;
            end = v.scan.end;
            last_ts = v.scan.last_ts;
        }
        if (i == 0) {
            mlg__rec_view r;
            if (mlg__rec_check(v.map, v.size, MLG_DATA_OFFSET, v.first, &r) == MLG_REC_OK)
                out->first_ts = r.ts;
        }
        out->used += end - MLG_DATA_OFFSET;
        out->next_seq = v.first + count;
        if (last_ts > out->last_ts)
            out->last_ts = last_ts;
        view_close(&v);
    }
    return 0;
}

/* ---- recover ----------------------------------------------------------------------------- */

typedef struct cut {
    size_t seg;        /* index of the segment the log now ends in (or n: no cut) */
    uint64_t off, seq; /* where it ends: offset in that segment, next sequence number */
    int before_seg;    /* the cut is before segment seg: its header is bad */
    int reseal;        /* records fine, but the seal is not: reseal the segment */
    char why[MLG_ERRMSG_MAX];
    int64_t dropped;
} cut;

/* Find the first place the log stops being valid. */
static int find_cut(int dirfd, const char *dir, const uint64_t *segs, size_t n, cut *c, char *err)
{
    uint8_t id[16];
    int have_id = 0;
    uint64_t known_end = segs[n - 1];
    memset(c, 0, sizeof *c);
    c->seg = n;
    c->dropped = 0;
    for (size_t i = 0; i < n; i++) {
        seg_view v;
        int rc = view_open(dirfd, dir, segs[i], have_id ? id : NULL, 1, &v, err), last = i + 1 == n;
        if (rc) {
            view_close(&v);
            return rc;
        }
        if (!v.header_ok) {
            if (c->seg == n) {
                c->seg = i;
                c->before_seg = 1;
                c->off = 0;
                c->seq = segs[i];
                snprintf(c->why, sizeof c->why, "%.400s", v.header_err);
            }
            view_close(&v);
            continue;
        }
        if (!have_id) {
            memcpy(id, ((const mlg__seg_header *)(const void *)v.map)->log_id, 16);
            have_id = 1;
        }
        uint64_t count_here = v.seal_state == 1 ? v.seal.record_count : v.scan.count;
        if (v.first + count_here > known_end)
            known_end = v.first + count_here;
        if (c->seg != n) {
            view_close(&v);
            continue; /* past the cut: only counting what is dropped */
        }
        uint64_t end = v.scan.end, next = v.first + v.scan.count;
        if (v.seal_state == 1 &&
            (v.seal.end_offset != end || v.seal.record_count != v.scan.count)) {
            c->seg = i;
            c->off = end;
            c->seq = next;
            snprintf(c->why, sizeof c->why,
                     "%s: offset %" PRIu64 ": %s at seq %" PRIu64 " inside a sealed segment",
                     v.name, end, mlg__rec_status_str(v.scan.stop), next);
        } else if (!last && next != segs[i + 1]) {
            c->seg = i;
            c->off = end;
            c->seq = next;
            snprintf(c->why, sizeof c->why,
                     "%s: records end at seq %" PRIu64 " (offset %" PRIu64
                     ", %s) but the next segment starts at seq %" PRIu64,
                     v.name, next, end, mlg__rec_status_str(v.scan.stop), segs[i + 1]);
        } else if (last && v.hw > end) {
            c->seg = i;
            c->off = end;
            c->seq = next;
            snprintf(c->why, sizeof c->why,
                     "%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " (%s at seq %" PRIu64
                     ")",
                     v.name, v.hw - end, end, mlg__rec_status_str(v.scan.stop), next);
        } else if (v.seal_state < 0 ||
                   (v.seal_state == 1 && mlg__digest(v.map, v.seal.end_offset) != v.seal.digest)) {
            c->seg = i;
            c->reseal = 1;
            c->off = end;
            c->seq = next;
            snprintf(c->why, sizeof c->why, "%s: the records are intact but the seal is %s", v.name,
                     v.seal_state < 0 ? "damaged" : "wrong (digest)");
        }
        view_close(&v);
    }
    if (c->seg != n && !c->reseal)
        c->dropped = known_end > c->seq ? (int64_t)(known_end - c->seq) : 0;
    return 0;
}

static int zero_range(int dirfd, const char *name, uint64_t from, uint64_t to, char *err,
                      const char *dir)
{
    int fd = mlg__openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0), rc = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot open for repair: %s", dir, name,
                         strerror(errno));
    uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return mlg__errf(err, MAPLOG_EIO, "%s/%s: mmap failed: %s", dir, name, strerror(errno));
    }
    if (to > (uint64_t)st.st_size)
        to = (uint64_t)st.st_size;
    if (from < to)
        memset(m + from, 0, to - from);
    if (mlg__msync(m, (size_t)st.st_size, MS_SYNC) < 0)
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: msync failed: %s", dir, name, strerror(errno));
    munmap(m, (size_t)st.st_size);
    close(fd);
    return rc;
}

static int save_bytes(int dirfd, const char *name, uint64_t from, char *err, const char *dir)
{
    char side[64];
    struct stat st;
    snprintf(side, sizeof side, "%s.tail-%" PRIu64, name, from);
    int in = mlg__openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    int out = mlg__openat(dirfd, side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    int rc = 0;
    if (in < 0 || out < 0 || fstat(in, &st) < 0) {
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot save the cut bytes: %s", dir, side,
                       strerror(errno));
        goto out;
    }
    char buf[65536];
    for (off_t o = (off_t)from; o < st.st_size;) {
        ssize_t r = pread(in, buf, sizeof buf, o);
        if (r <= 0 || write(out, buf, (size_t)r) != r) {
            rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: copying failed", dir, side);
            goto out;
        }
        o += r;
    }
    if (mlg__fsync(out) < 0)
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: fsync failed: %s", dir, side, strerror(errno));
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

#define REPORT(...)                                                                                \
    do {                                                                                           \
        size_t l_ = strlen(rep);                                                                   \
        snprintf(rep + l_, sizeof rep - l_, __VA_ARGS__);                                          \
    } while (0)

int maplog_recover(const char *dir, int flags, char *report, size_t report_len, int64_t *dropped)
{
    int dirfd = -1, lockfd = -1, rc;
    uint64_t *segs = NULL;
    size_t n = 0;
    char err[MLG_ERRMSG_MAX], rep[2048] = "";
    cut c;
    if (dropped)
        *dropped = -1;
    if (!dir)
        return MAPLOG_EINVAL;
    if ((rc = open_log(dir, &dirfd, &segs, &n, err))) {
        REPORT("%s", err);
        goto out;
    }
    if (flags & MAPLOG_RECOVER_APPLY) {
        lockfd = mlg__openat(dirfd, MLG_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
            rc = errno == EWOULDBLOCK ? MAPLOG_ELOCKED : MAPLOG_EIO;
            REPORT("%s/%s: %s", dir, MLG_LOCK_NAME,
                   rc == MAPLOG_ELOCKED ? "a writer has the log open; stop it first"
                                        : strerror(errno));
            goto out;
        }
    }
    if ((rc = find_cut(dirfd, dir, segs, n, &c, err))) {
        REPORT("%s", err);
        goto out;
    }
    if (dropped)
        *dropped = c.seg == n ? 0 : c.dropped;
    if (c.seg == n) {
        REPORT("nothing to do: every segment is valid");
        goto out;
    }
    if (c.before_seg && c.seg == 0) {
        rc = MAPLOG_ECORRUPT;
        REPORT("%s; the first segment is unreadable, so there is no valid prefix to keep", c.why);
        goto out;
    }
    REPORT("%s. ", c.why);
    if (c.reseal) {
        REPORT("Recovery %s reseal it (no record is lost).",
               flags & MAPLOG_RECOVER_APPLY ? "will" : "would");
    } else {
        REPORT("The log %s at seq %" PRIu64,
               flags & MAPLOG_RECOVER_APPLY ? "now ends" : "would end", c.seq);
        if (c.dropped > 0)
            REPORT(", dropping %" PRId64 " records after it", c.dropped);
        else
            REPORT(", losing no complete record");
        size_t later = n - c.seg - 1 + (size_t)c.before_seg;
        if (later)
            REPORT("; %zu segment file%s after the cut %s renamed to NAME.tail-0", later,
                   later > 1 ? "s" : "",
                   flags & MAPLOG_RECOVER_APPLY ? (later > 1 ? "were" : "was") : "would be");
        REPORT(".");
    }
    if (!(flags & MAPLOG_RECOVER_APPLY))
        goto out;

    /* apply: set later segments aside, cut inside the segment, then let recovery finish */
    size_t keep_last = c.before_seg ? c.seg - 1 : c.seg;
    char name[32], aside[48];
    for (size_t j = keep_last + 1; j < n; j++) {
        mlg__seg_name(name, segs[j]);
        snprintf(aside, sizeof aside, "%s.tail-0", name);
        if (mlg__renameat(dirfd, name, dirfd, aside) < 0) {
            rc = MAPLOG_EIO;
            REPORT(" rename %s failed: %s", name, strerror(errno));
            goto out;
        }
    }
    mlg__seg_name(name, segs[keep_last]);
    if (!c.before_seg) {
        if (c.reseal) {
            rc = zero_range(dirfd, name, MLG_SEAL_OFFSET, MLG_SEAL_OFFSET + sizeof(mlg__seal), err,
                            dir);
        } else {
            if (keep_last + 1 < n || c.dropped > 0)
                rc = save_bytes(dirfd, name, c.off, err, dir);
            if (!rc)
                rc = zero_range(dirfd, name, c.off, UINT64_MAX, err, dir);
            /* the seal and checkpoints described what is no longer there */
            if (!rc)
                rc = zero_range(dirfd, name, MLG_SEAL_OFFSET, MLG_DATA_OFFSET, err, dir);
        }
        if (rc) {
            REPORT(" %s", err);
            goto out;
        }
    }
    if (mlg__fsync(dirfd) < 0) {
        rc = MAPLOG_EIO;
        REPORT(" fsync of the directory failed: %s", strerror(errno));
        goto out;
    }
    close(lockfd); /* maplog_open takes it again */
    lockfd = -1;
    maplog_options *o;
    maplog *log;
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_CREATE, 0);
    maplog_options_set(o, MAPLOG_OPT_STRICT_RECOVERY, 0);
    maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0);
    maplog_options_set(o, MAPLOG_OPT_DURABILITY, MAPLOG_DURABILITY_NONE);
    rc = maplog_open(&log, dir, o);
    maplog_options_free(o);
    if (rc) {
        REPORT(" Reopening failed: %s", maplog_last_open_error());
        goto out;
    }
    REPORT(" Recovery: %s.", maplog_recovery_report(log));
    rc = maplog_close(log);
out:
    if (report && report_len)
        snprintf(report, report_len, "%s", rep);
    if (lockfd >= 0)
        close(lockfd);
    if (dirfd >= 0)
        close(dirfd);
    free(segs);
    return rc;
}
