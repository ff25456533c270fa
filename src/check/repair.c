/*
 * repair.c -- repairing a log (maplog_recover): find the first place where the walk of
 * verify.c fails -- the cut point, where the log's valid prefix ends -- and, with
 * MAPLOG_RECOVER_APPLY and the writer lock, cut there, keeping every byte it removes.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logdir.h"

/* ---- recover ----------------------------------------------------------------------------- */

typedef struct cut {
    size_t seg;        /* index of the segment the log now ends in (or n: no cut) */
    uint64_t off, seq; /* where it ends: offset in that segment, next sequence number */
    int before_seg;    /* the cut is before segment seg: its header is bad */
    int reseal;        /* records fine, but the seal is not: reseal the segment */
    char why[MLG_ERRMSG_MAX];
    int64_t dropped;
} cut;

/* Is the log's valid prefix over inside segment v (index i; unless it is the last,
 * next_first is where the next one starts)?  If so, say where and why in c. */
static void judge_seg(const mlg__segview *v, size_t i, int last, uint64_t next_first, cut *c)
{
    uint64_t end = v->scan.end, next = v->first + v->scan.count;
    const char *stop = mlg__rec_status_str(v->scan.stop);
    if (v->seal_state == 1 && (v->seal.end_offset != end || v->seal.record_count != v->scan.count))
        snprintf(c->why, sizeof c->why,
                 "%s: offset %" PRIu64 ": %s at seq %" PRIu64 " inside a sealed segment", v->name,
                 end, stop, next);
    else if (!last && next != next_first)
        snprintf(c->why, sizeof c->why,
                 "%s: records end at seq %" PRIu64 " (offset %" PRIu64
                 ", %s) but the next segment starts at seq %" PRIu64,
                 v->name, next, end, stop, next_first);
    else if (last && v->hw > end)
        snprintf(c->why, sizeof c->why,
                 "%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " (%s at seq %" PRIu64 ")",
                 v->name, v->hw - end, end, stop, next);
    else if (v->seal_state < 0 ||
             (v->seal_state == 1 && mlg__digest(v->map, v->seal.end_offset) != v->seal.digest)) {
        c->reseal = 1;
        snprintf(c->why, sizeof c->why, "%s: the records are intact but the seal is %s", v->name,
                 v->seal_state < 0 ? "damaged" : "wrong (digest)");
    } else
        return;
    c->seg = i;
    c->off = end;
    c->seq = next;
}

/* Find the first place the log stops being valid. */
static int find_cut(int dirfd, const char *dir, const uint64_t *segs, size_t n, cut *c,
                    mlg__err *err)
{
    uint8_t id[16];
    int have_id = 0;
    uint64_t known_end = segs[n - 1];
    memset(c, 0, sizeof *c);
    c->seg = n;
    c->dropped = 0;
    for (size_t i = 0; i < n; i++) {
        mlg__segview v;
        int rc = mlg__segview_open(dirfd, dir, segs[i], have_id ? id : NULL, 1, &v, err);
        if (rc) {
            mlg__segview_close(&v);
            return rc;
        }
        if (!v.header_ok) {
            if (c->seg == n) {
                c->seg = i;
                c->before_seg = 1;
                c->off = 0;
                c->seq = segs[i];
                snprintf(c->why, sizeof c->why, "%.400s", v.header_err.msg);
            }
            mlg__segview_close(&v);
            continue;
        }
        if (!have_id) {
            memcpy(id, ((const mlg__seg_header *)(const void *)v.map)->log_id, 16);
            have_id = 1;
        }
        uint64_t count_here = v.seal_state == 1 ? v.seal.record_count : v.scan.count;
        if (v.first + count_here > known_end)
            known_end = v.first + count_here;
        if (c->seg == n) /* else past the cut: only counting what is dropped */
            judge_seg(&v, i, i + 1 == n, i + 1 == n ? 0 : segs[i + 1], c);
        mlg__segview_close(&v);
    }
    if (c->seg != n && !c->reseal)
        c->dropped = known_end > c->seq ? (int64_t)(known_end - c->seq) : 0;
    return 0;
}

static int zero_range(int dirfd, uint64_t first, uint64_t from, uint64_t to, mlg__err *err,
                      const char *dir)
{
    mlg__segmap m;
    int rc = mlg__seg_open(dirfd, dir, first, MLG_SEG_RW | MLG_SEG_ANY_HEADER, NULL, &m, err);
    if (rc)
        return rc;
    if (to > m.size)
        to = m.size;
    if (from < to)
        memset(m.map + from, 0, to - from);
    if (mlg__msync(m.map, (size_t)m.size, MS_SYNC) < 0)
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: msync failed: %s", dir, m.name, strerror(errno));
    mlg__seg_close(&m);
    return rc;
}

/* Say what the cut c means for the log of n segments (apply: it is being made). */
static void report_plan(mlg__report *rep, const cut *c, size_t n, int apply)
{
    mlg__report_add(rep, "%s. ", c->why);
    if (c->reseal) {
        mlg__report_add(rep, "Recovery %s reseal it (no record is lost).",
                        apply ? "will" : "would");
        return;
    }
    mlg__report_add(rep, "The log %s at seq %" PRIu64, apply ? "now ends" : "would end", c->seq);
    if (c->dropped > 0)
        mlg__report_add(rep, ", dropping %" PRId64 " records after it", c->dropped);
    else
        mlg__report_add(rep, ", losing no complete record");
    size_t later = n - c->seg - 1 + (size_t)c->before_seg;
    if (later)
        mlg__report_add(rep, "; %zu segment file%s after the cut %s renamed to NAME.tail-0", later,
                        later > 1 ? "s" : "", apply ? (later > 1 ? "were" : "was") : "would be");
    mlg__report_add(rep, ".");
}

/* Make the cut c: set later segments aside, then cut inside the segment the log now ends
 * in, keeping the bytes cut (with the segment file's own mode: repair has no options). */
static int apply_cut(int dirfd, const char *dir, const uint64_t *segs, size_t n, const cut *c,
                     mlg__err *err)
{
    size_t keep_last = c->before_seg ? c->seg - 1 : c->seg;
    char name[32], side[64];
    int rc = 0;
    for (size_t j = keep_last + 1; j < n; j++) {
        mlg__seg_name(name, segs[j]);
        if ((rc = mlg__set_aside(dirfd, dir, name, side, err)))
            return rc;
    }
    if (c->before_seg)
        return 0;
    uint64_t first = segs[keep_last], saved;
    if (c->reseal)
        return zero_range(dirfd, first, MLG_SEAL_OFFSET, MLG_SEAL_OFFSET + sizeof(mlg__seal), err,
                          dir);
    mlg__seg_name(name, first);
    if (keep_last + 1 < n || c->dropped > 0)
        rc = mlg__save_tail(dirfd, dir, name, c->off, UINT64_MAX, MLG_MODE_OF_SEGMENT, side, &saved,
                            err);
    if (!rc)
        rc = zero_range(dirfd, first, c->off, UINT64_MAX, err, dir);
    /* the seal and checkpoints described what is no longer there */
    if (!rc)
        rc = zero_range(dirfd, first, MLG_SEAL_OFFSET, MLG_DATA_OFFSET, err, dir);
    return rc;
}

/* Let automatic recovery finish the repaired log: open it (lenient, creating nothing)
 * and close it, reporting what recovery did. */
static int reopen(const char *dir, mlg__report *rep)
{
    maplog_options *o;
    maplog *log;
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_CREATE, 0);
    maplog_options_set(o, MAPLOG_OPT_STRICT_RECOVERY, 0);
    maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0);
    maplog_options_set(o, MAPLOG_OPT_DURABILITY, MAPLOG_DURABILITY_NONE);
    int rc = maplog_open(&log, dir, o);
    maplog_options_free(o);
    if (rc) {
        mlg__report_add(rep, " Reopening failed: %s", maplog_last_open_error());
        return rc;
    }
    mlg__report_add(rep, " Recovery: %s.", maplog_recovery_report(log));
    if ((rc = maplog_close(log)))
        mlg__report_add(rep, " Closing failed: %s", maplog_errmsg(NULL));
    return rc;
}

int maplog_recover(const char *dir, int flags, char *report, size_t report_len, int64_t *dropped)
{
    int dirfd = -1, lockfd = -1, rc, apply = (flags & MAPLOG_RECOVER_APPLY) != 0;
    uint64_t *segs = NULL;
    size_t n = 0;
    mlg__err err;
    char buf[2048] = "";
    mlg__report rep;
    cut c;
    mlg__report_init(&rep, buf, sizeof buf);
    if (dropped)
        *dropped = -1;
    if (!dir)
        return MAPLOG_EINVAL;
    if ((rc = mlg__logdir_open(dir, &dirfd, &segs, &n, &err))) {
        mlg__report_add(&rep, "%s", err.msg);
        goto out;
    }
    if (apply && (rc = mlg__lock_take(dirfd, dir, 0640, &lockfd, &err))) {
        mlg__report_add(&rep, "%s%s", err.msg, rc == MAPLOG_ELOCKED ? "; stop it first" : "");
        goto out;
    }
    if ((rc = find_cut(dirfd, dir, segs, n, &c, &err))) {
        mlg__report_add(&rep, "%s", err.msg);
        goto out;
    }
    if (dropped)
        *dropped = c.seg == n ? 0 : c.dropped;
    if (c.seg == n) {
        mlg__report_add(&rep, "nothing to do: every segment is valid");
        goto out;
    }
    if (c.before_seg && c.seg == 0) {
        rc = MAPLOG_ECORRUPT;
        mlg__report_add(&rep,
                        "%s; the first segment is unreadable, so there is no valid prefix to keep",
                        c.why);
        goto out;
    }
    report_plan(&rep, &c, n, apply);
    if (!apply)
        goto out;
    if ((rc = apply_cut(dirfd, dir, segs, n, &c, &err))) {
        mlg__report_add(&rep, " %s", err.msg);
        goto out;
    }
    if (mlg__fsync(dirfd) < 0) {
        rc = MAPLOG_EIO;
        mlg__report_add(&rep, " %s: fsync of the directory failed: %s", dir, strerror(errno));
        goto out;
    }
    mlg__close(lockfd); /* maplog_open takes it again */
    lockfd = -1;
    rc = reopen(dir, &rep);
out:
    if (report && report_len)
        snprintf(report, report_len, "%s", buf);
    if (lockfd >= 0)
        mlg__close(lockfd);
    if (dirfd >= 0)
        mlg__close(dirfd);
    free(segs);
    return rc;
}
