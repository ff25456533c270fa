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
#include <sys/file.h>
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
        mlg__segview v;
        int rc = mlg__segview_open(dirfd, dir, segs[i], have_id ? id : NULL, 1, &v, err),
            last = i + 1 == n;
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
                snprintf(c->why, sizeof c->why, "%.400s", v.header_err);
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
        if (c->seg != n) {
            mlg__segview_close(&v);
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
        mlg__segview_close(&v);
    }
    if (c->seg != n && !c->reseal)
        c->dropped = known_end > c->seq ? (int64_t)(known_end - c->seq) : 0;
    return 0;
}

static int zero_range(int dirfd, uint64_t first, uint64_t from, uint64_t to, char *err,
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
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: msync failed: %s", dir, m.name, strerror(errno));
    mlg__seg_close(&m);
    return rc;
}

static int save_bytes(int dirfd, const char *name, uint64_t from, char *err, const char *dir)
{
    char side[64];
    uint64_t size;
    int in, out = -1, rc;
    snprintf(side, sizeof side, "%s.tail-%" PRIu64, name, from);
    if ((rc = mlg__seg_open_file(dirfd, dir, name, 0, &in, &size, err)))
        return rc;
    out = mlg__openat(dirfd, side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (out < 0) {
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: cannot save the cut bytes (open): %s", dir, side,
                       strerror(errno));
        goto out;
    }
    char buf[65536];
    for (uint64_t o = from; o < size;) {
        size_t want = size - o < sizeof buf ? (size_t)(size - o) : sizeof buf;
        int r = mlg__pread_all(in, buf, want, (off_t)o);
        if (r < 0 || mlg__write_all(out, buf, want) < 0) {
            rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: copying failed (%s): %s", dir, side,
                           r < 0 ? "pread" : "write", strerror(errno));
            goto out;
        }
        o += want;
    }
    if (mlg__fsync(out) < 0)
        rc = mlg__errf(err, MAPLOG_EIO, "%s/%s: fsync failed: %s", dir, side, strerror(errno));
out:
    if (in >= 0)
        mlg__close(in);
    if (out >= 0)
        mlg__close(out);
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
    if ((rc = mlg__logdir_open(dir, &dirfd, &segs, &n, err))) {
        REPORT("%s", err);
        goto out;
    }
    if (flags & MAPLOG_RECOVER_APPLY) {
        lockfd = mlg__openat(dirfd, MLG_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (lockfd < 0 || mlg__flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            rc = lockfd >= 0 && e == EWOULDBLOCK ? MAPLOG_ELOCKED : MAPLOG_EIO;
            if (rc == MAPLOG_ELOCKED)
                REPORT("%s/%s: a writer has the log open; stop it first", dir, MLG_LOCK_NAME);
            else
                REPORT("%s/%s: cannot %s the lock file: %s", dir, MLG_LOCK_NAME,
                       lockfd < 0 ? "open" : "lock (flock)", strerror(e));
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
            REPORT(" %s/%s: rename to %s failed: %s", dir, name, aside, strerror(errno));
            goto out;
        }
    }
    mlg__seg_name(name, segs[keep_last]);
    if (!c.before_seg) {
        if (c.reseal) {
            rc = zero_range(dirfd, segs[keep_last], MLG_SEAL_OFFSET,
                            MLG_SEAL_OFFSET + sizeof(mlg__seal), err, dir);
        } else {
            if (keep_last + 1 < n || c.dropped > 0)
                rc = save_bytes(dirfd, name, c.off, err, dir);
            if (!rc)
                rc = zero_range(dirfd, segs[keep_last], c.off, UINT64_MAX, err, dir);
            /* the seal and checkpoints described what is no longer there */
            if (!rc)
                rc = zero_range(dirfd, segs[keep_last], MLG_SEAL_OFFSET, MLG_DATA_OFFSET, err, dir);
        }
        if (rc) {
            REPORT(" %s", err);
            goto out;
        }
    }
    if (mlg__fsync(dirfd) < 0) {
        rc = MAPLOG_EIO;
        REPORT(" %s: fsync of the directory failed: %s", dir, strerror(errno));
        goto out;
    }
    mlg__close(lockfd); /* maplog_open takes it again */
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
    if ((rc = maplog_close(log)))
        REPORT(" Closing failed: %s", maplog_errmsg(NULL));
out:
    if (report && report_len)
        snprintf(report, report_len, "%s", rep);
    if (lockfd >= 0)
        mlg__close(lockfd);
    if (dirfd >= 0)
        mlg__close(dirfd);
    free(segs);
    return rc;
}
