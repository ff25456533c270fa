/*
 * repair.c -- repairing a log (maplog_recover): find the first place where the walk of
 * verify.c fails -- the cut point, where the log's valid prefix ends -- and, with
 * MAPLOG_RECOVER_APPLY and the writer lock, cut there, keeping every byte it removes.
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "internal.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logdir.h"

/* ---- recover ----------------------------------------------------------------------------- */

/* What the cut point calls for. */
enum cut_kind {
    CUT_RECORDS,   /* cut the log at (seg, off): later records and segments go */
    CUT_RESEAL,    /* records fine, but the seal is not: reseal the segment */
    CUT_ARCHIVE,   /* an archive's header disagrees with the segment it holds: rewrite it */
    CUT_SUCCESSOR, /* the last segment is sealed, its successor gone: make an empty one */
    CUT_HEADER     /* a segment header damaged, its records intact: write it anew */
};

typedef struct cut {
    size_t seg;        /* index of the segment the log now ends in (or n: no cut) */
    uint64_t off, seq; /* where it ends: offset in that segment, next sequence number */
    int before_seg;    /* the cut is before segment seg: its header is bad */
    enum cut_kind kind;
    uint64_t save_to;    /* CUT_RECORDS: the cut bytes worth keeping end here */
    mlg__arch_header ah; /* CUT_ARCHIVE: the header's facts as the segment states them */
    uint64_t seg_size;   /* CUT_SUCCESSOR, successor, CUT_HEADER: the size and log id */
    uint8_t log_id[16];
    uint64_t created_ns; /* CUT_HEADER: the damaged header's */
    /* before_seg after a sealed segment, which must not end the log: unseal that one, or
     * (archived) put an empty segment in the bad one's place */
    int unseal, successor;
    char why[MLG_ERRMSG_MAX];
    int64_t dropped;
    /* before the cut, records reserved and never published (holes a crash left), which
     * recovery makes void records: the first segment holding any, and how many in all */
    uint64_t holes;
    char holes_in[32];
    /* CUT_RECORDS in the last segment at a rollover mark: the writer had moved on to the
     * next segment, which is gone with whatever records it held */
    int rolled;
} cut;

/* An archived segment's header repeats its seal's facts and its log id (FORMAT.md,
 * "Archived segments"); open trusts them without inflating.  Does it agree with the
 * segment v it holds?  If not, say where in c. */
static int judge_archive(int dirfd, const char *dir, const mlg__segview *v, cut *c)
{
    mlg__segpeek p;
    mlg__err err;
    const uint8_t *id = ((const mlg__seg_header *)(const void *)v->map)->log_id;
    if (v->seal_state != 1 || mlg__seg_peek(dirfd, dir, v->first, &p, &err) || !p.archived)
        return 0; /* no seal to hold it to: judge_seg has said so */
    const char *field = NULL;
    uint64_t off = 0, says = 0, is = 0;
    if (p.seal.record_count != v->seal.record_count)
        field = "record_count", off = 56, says = p.seal.record_count, is = v->seal.record_count;
    else if (p.seal.digest != v->seal.digest)
        field = "digest", off = 32, says = p.seal.digest, is = v->seal.digest;
    else if (p.seal.end_offset != v->seal.end_offset && p.archived == 1)
        /* not in an archive of blocks: they are cut by it, and a header saying otherwise
         * could not be read; its records are judged as a segment's instead */
        field = "stored_len", off = 24, says = p.seal.end_offset, is = v->seal.end_offset;
    else if (p.seal.last_ts != v->seal.last_ts)
        field = "last_ts", off = 64, says = p.seal.last_ts, is = v->seal.last_ts;
    else if (memcmp(p.log_id, id, 16) != 0)
        field = "log_id", off = 72;
    if (!field)
        return 0;
    if (off == 72)
        snprintf(c->why, sizeof c->why,
                 "%s: offset 72: the archive header's log id differs from the segment's it holds",
                 v->name);
    else
        snprintf(c->why, sizeof c->why,
                 "%s: offset %" PRIu64 ": the archive header's %s is %" PRIu64 " (%#" PRIx64
                 "), the seal of the segment it holds says %" PRIu64 " (%#" PRIx64 ")",
                 v->name, off, field, says, says, is, is);
    memset(&c->ah, 0, sizeof c->ah);
    c->ah.record_count = v->seal.record_count;
    c->ah.digest = v->seal.digest;
    c->ah.stored_len = v->seal.end_offset;
    c->ah.last_ts = v->seal.last_ts;
    memcpy(c->ah.log_id, id, 16);
    c->kind = CUT_ARCHIVE;
    return 1;
}

/* Is the log's valid prefix over inside segment v (index i; unless it is the last,
 * next_first is where the next one starts)?  If so, say where and why in c. */
static void judge_seg(int dirfd, const char *dir, const mlg__segview *v, size_t i, int last,
                      uint64_t next_first, cut *c)
{
    uint64_t end = v->scan.end, next = v->first + v->scan.count;
    const char *stop = mlg__stop_what(v->map, v->size, end, v->scan.stop);
    c->save_to = UINT64_MAX;
    if (v->seal_state == 1 && (v->seal.end_offset != end || v->seal.record_count != v->scan.count))
        snprintf(c->why, sizeof c->why,
                 "%s: offset %" PRIu64 ": %s at seq %" PRIu64 " inside a sealed segment", v->name,
                 end, stop, next);
    else if (!last && next != next_first)
        snprintf(c->why, sizeof c->why,
                 "%s: records end at seq %" PRIu64 " (offset %" PRIu64
                 ", %s) but the next segment starts at seq %" PRIu64,
                 v->name, next, end, stop, next_first);
    else if (last && v->seal_state != 1 && v->have_ck &&
             (v->ck.end_offset > end || v->ck.record_count > v->scan.count)) {
        /* what open refuses: records a checkpoint promised are not there (a write of
         * synced pages lost, or damage) */
        snprintf(c->why, sizeof c->why,
                 "%s: offset %" PRIu64 ": %s at seq %" PRIu64 ", but the checkpoint says %" PRIu64
                 " records up to offset %" PRIu64 " were synced: %" PRIu64
                 " synced records are lost (a write of synced pages lost, or damage)",
                 v->name, end, stop, next, v->ck.record_count, v->ck.end_offset,
                 v->ck.record_count > v->scan.count ? v->ck.record_count - v->scan.count : 0);
        c->save_to = v->hw > v->ck.end_offset ? v->hw : v->ck.end_offset;
    } else if (last && v->seal_state != 1 && v->hw > end) {
        c->rolled = mlg__rolled_at(v->map, v->size, end);
        snprintf(c->why, sizeof c->why,
                 "%s: torn tail of %" PRIu64 " bytes at offset %" PRIu64 " (%s at seq %" PRIu64 ")",
                 v->name, v->hw - end, end, stop, next);
        c->save_to = v->hw;
    } else if (v->seal_state < 0 ||
               (v->seal_state == 1 && mlg__digest(v->map, v->seal.end_offset) != v->seal.digest)) {
        c->kind = CUT_RESEAL;
        snprintf(c->why, sizeof c->why, "%s: the records are intact but the seal is %s", v->name,
                 v->seal_state < 0 ? "damaged" : "wrong (digest)");
    } else if (judge_archive(dirfd, dir, v, c)) {
        ;
    } else if (last && v->seal_state == 1) {
        /* A segment is sealed only once the writer has moved on to its successor, which is
         * named (and the directory synced) before the seal is written: the successor
         * existed, and it is gone with whatever records it held. */
        char succ[32];
        mlg__seg_name(succ, next);
        snprintf(c->why, sizeof c->why,
                 "%s: offset %u: sealed with %" PRIu64 " records, so the segment after it, %s "
                 "(seq %" PRIu64 " on), existed; it is missing, and the records it held are lost",
                 v->name, MLG_SEAL_OFFSET, v->seal.record_count, succ, next);
        c->kind = CUT_SUCCESSOR;
        c->seg_size = v->size;
        memcpy(c->log_id, ((const mlg__seg_header *)(const void *)v->map)->log_id, 16);
        end = v->seal.end_offset;
    } else
        return;
    c->seg = i;
    c->off = end;
    c->seq = next;
}

/* A file listed as segment first that cannot be read as one (a symlink, a FIFO, a
 * directory): a bad segment, as one with a bad header is; 0 if it is a regular file. */
static int not_a_file(int dirfd, uint64_t first, char what[64])
{
    char name[40];
    struct stat st;
    mlg__seg_name(name, first);
    if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        strcat(name, "z");
        if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
    }
    if (S_ISREG(st.st_mode))
        return 0;
    snprintf(what, 64, "%s",
             S_ISLNK(st.st_mode)    ? "a symbolic link"
             : S_ISFIFO(st.st_mode) ? "a FIFO"
             : S_ISDIR(st.st_mode)  ? "a directory"
                                    : "not a regular file");
    return 1;
}

/* Segment v's header is not valid.  Is it damaged (its CRC fails) on a file that is
 * otherwise this log's segment -- full-size, and its seal, a checkpoint or its first
 * record valid for the sequence number its name gives?  Then say so in c: the header is
 * written anew (a header holds nothing a segment's name, size and log do not say, but its
 * creation time, which is kept), and no record is lost.  id: the log id of the segments
 * before it (NULL if none); else that of the next segment (next_first, if has_next); else
 * the damaged header's. */
static int judge_header(int dirfd, const char *dir, const mlg__segview *v, const uint8_t *id,
                        int has_next, uint64_t next_first, cut *c)
{
    mlg__seal seal;
    mlg__checkpoint ck;
    mlg__rec_view r;
    size_t len = strlen(v->name);
    if (!v->map || !len || v->name[len - 1] == 'z' || v->size % 4096 ||
        v->size < MLG_MIN_SEGMENT_SIZE || v->size > MLG_MAX_SEGMENT_SIZE)
        return 0;
    const mlg__seg_header *h = (const void *)v->map;
    if (h->header_crc == mlg__crc32c(0, h, offsetof(mlg__seg_header, header_crc)))
        return 0; /* intact: it says what it means (another log's, a newer version's) */
    if (mlg__seal_read(v->map, v->size, v->first, &seal) != 1 &&
        !mlg__ckpt_best(v->map, v->size, v->first, &ck) &&
        mlg__rec_check(v->map, v->size, MLG_DATA_OFFSET, v->first, &r) != MLG_REC_OK)
        return 0;
    mlg__segpeek p;
    mlg__err err;
    if (id)
        memcpy(c->log_id, id, 16);
    else if (has_next && mlg__seg_peek(dirfd, dir, next_first, &p, &err) == 0)
        memcpy(c->log_id, p.log_id, 16);
    else
        memcpy(c->log_id, h->log_id, 16);
    c->seg_size = v->size;
    c->created_ns = h->created_ns;
    c->kind = CUT_HEADER;
    snprintf(c->why, sizeof c->why,
             "%.400s; the header is damaged (its CRC fails) but the segment's %s valid",
             v->header_err.msg,
             mlg__seal_read(v->map, v->size, v->first, &seal) == 1 ? "seal is"
             : mlg__ckpt_best(v->map, v->size, v->first, &ck)      ? "checkpoint is"
                                                                   : "first record is");
    return 1;
}

/* Find the first place the log stops being valid. */
static int find_cut(int dirfd, const char *dir, const uint64_t *segs, size_t n, cut *c,
                    mlg__err *err)
{
    uint8_t id[16];
    int have_id = 0, prev_sealed = 0, prev_archived = 0;
    uint64_t known_end = segs[n - 1], prev_size = 0;
    memset(c, 0, sizeof *c);
    c->seg = n;
    c->dropped = 0;
    for (size_t i = 0; i < n; i++) {
        mlg__segview v;
        char what[64];
        int rc = mlg__segview_open(dirfd, dir, segs[i], have_id ? id : NULL, 1, segs + i + 1,
                                   n - i - 1, &v, err);
        if (rc && not_a_file(dirfd, segs[i], what)) {
            v.header_ok = 0;
            snprintf(v.header_err.msg, sizeof v.header_err.msg, "%s/%s: %s, not a segment file",
                     dir, v.name, what);
            rc = 0;
        }
        if (rc) {
            mlg__segview_close(&v);
            return rc;
        }
        if (!v.header_ok) {
            if (c->seg == n && judge_header(dirfd, dir, &v, have_id ? id : NULL, i + 1 < n,
                                            i + 1 < n ? segs[i + 1] : 0, c)) {
                c->seg = i;
                c->seq = segs[i];
            } else if (c->seg == n) {
                c->seg = i;
                c->before_seg = 1;
                c->off = 0;
                c->seq = segs[i];
                snprintf(c->why, sizeof c->why, "%.400s", v.header_err.msg);
                c->unseal = prev_sealed && !prev_archived;
                c->successor = prev_sealed && prev_archived;
                c->seg_size = prev_size;
                memcpy(c->log_id, id, 16);
            }
            prev_sealed = 0;
            mlg__segview_close(&v);
            continue;
        }
        if (!have_id) {
            memcpy(id, ((const mlg__seg_header *)(const void *)v.map)->log_id, 16);
            have_id = 1;
        }
        uint64_t count_here = v.seal_state == 1 ? v.seal.record_count : v.scan.count;
        if (i + 1 == n && v.seal_state != 1 && v.have_ck && v.ck.record_count > count_here)
            count_here = v.ck.record_count; /* synced records that are no longer there */
        if (v.first + count_here > known_end)
            known_end = v.first + count_here;
        if (c->seg == n) /* else past the cut: only counting what is dropped */
            judge_seg(dirfd, dir, &v, i, i + 1 == n, i + 1 == n ? 0 : segs[i + 1], c);
        if (v.scan.holes && (c->seg == n || c->seg > i)) {
            if (!c->holes)
                snprintf(c->holes_in, sizeof c->holes_in, "%s", v.name);
            c->holes += v.scan.holes;
        }
        prev_sealed = v.seal_state == 1;
        prev_archived = v.name[strlen(v.name) - 1] == 'z';
        prev_size = v.size;
        mlg__segview_close(&v);
    }
    if (c->kind == CUT_SUCCESSOR)
        c->dropped = -1; /* how many the lost segment held is not known */
    else if (c->seg != n && c->kind == CUT_RECORDS)
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

/* The name segment first has in dirfd: NAME.mlog, or NAME.mlogz when only that exists. */
static void seg_file_name(int dirfd, uint64_t first, char name[40])
{
    struct stat st;
    mlg__seg_name(name, first);
    if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
        strcat(name, "z");
        if (mlg__fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            name[strlen(name) - 1] = 0;
    }
}

/* Say what the cut c means for the log of n segments (apply: it is being made). */
static void report_plan(mlg__report *rep, const cut *c, size_t n, int apply)
{
    mlg__report_add(rep, "%s. ", c->why);
    switch (c->kind) {
    case CUT_RESEAL:
        mlg__report_add(rep, "Recovery %s reseal it (no record is lost).",
                        apply ? "will" : "would");
        return;
    case CUT_ARCHIVE:
        mlg__report_add(rep,
                        "The archive header %s from the segment's seal (no record is lost; the "
                        "archive as it was %s kept as NAME.mlogz.tail-0).",
                        apply ? "was rewritten" : "would be rewritten", apply ? "is" : "would be");
        return;
    case CUT_SUCCESSOR: {
        char succ[32];
        mlg__seg_name(succ, c->seq);
        mlg__report_add(rep,
                        "%s %s, empty, so the log goes on at seq %" PRIu64
                        ": how many records the lost segment held is not known, and new records "
                        "take their sequence numbers.",
                        apply ? "Created" : "Recovery would create", succ, c->seq);
        return;
    }
    case CUT_HEADER:
        mlg__report_add(rep,
                        "The header %s anew (no record is lost; the damaged one %s kept in "
                        "NAME.tail-0).",
                        apply ? "was written" : "would be written", apply ? "is" : "would be");
        return;
    case CUT_RECORDS:
        break;
    }
    mlg__report_add(rep, "The log %s at seq %" PRIu64, apply ? "now ends" : "would end", c->seq);
    if (c->dropped > 0) {
        mlg__report_add(rep, ", dropping %" PRId64 " records after it", c->dropped);
    } else if (c->rolled) {
        /* The mark is stored once the next segment has its name; a sync seals this one
         * before it returns, so no record of the next one was synced. */
        char succ[32];
        mlg__seg_name(succ, c->seq);
        mlg__report_add(rep,
                        ": the writer had moved on to %s, which is missing, and the records "
                        "it held are lost (none of them synced: a sync seals this segment "
                        "first)",
                        succ);
    } else {
        mlg__report_add(rep, ", losing no complete record");
    }
    size_t later = n - c->seg - 1 + (size_t)c->before_seg;
    if (later)
        mlg__report_add(rep, "; %zu segment file%s after the cut %s renamed to NAME.tail-0", later,
                        later > 1 ? "s" : "", apply ? (later > 1 ? "were" : "was") : "would be");
    if (c->unseal)
        mlg__report_add(rep, "; the segment before it, sealed, now ends the log: its seal %s",
                        apply ? "was cleared" : "would be cleared");
    if (c->successor) {
        char succ[32];
        mlg__seg_name(succ, c->seq);
        mlg__report_add(rep,
                        "; the archived segment before it cannot end the log, so an empty %s %s "
                        "its place",
                        succ, apply ? "takes" : "would take");
    }
    mlg__report_add(rep, ".");
}

/* CUT_ARCHIVE: keep a copy of archive NAME.mlogz as it is, then replace it (through
 * NAME.mlogz.tmp, which recovery removes if this is cut short) by the same zlib stream
 * under a header with the facts of c->ah. */
static int rewrite_archive(int dirfd, const char *dir, uint64_t first, const cut *c,
                           mlg__report *rep, mlg__err *err)
{
    char name[40], tmp[48], side[64];
    uint64_t size, saved;
    uint8_t *buf = NULL;
    int in = -1, out = -1, rc;
    struct stat st;
    mlg__arch_header h;
    mlg__seg_name(name, first);
    strcat(name, "z");
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    if ((rc = mlg__seg_open_file(dirfd, dir, name, 0, &in, &size, err)))
        return rc;
    if (size < sizeof h || size > (uint64_t)SIZE_MAX || mlg__fstat(in, &st) < 0) {
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: cannot read the archive", dir, name);
        goto out;
    }
    if (!(buf = malloc((size_t)size))) {
        rc = mlg__fail(err, MAPLOG_ENOMEM, "%s/%s: out of memory", dir, name);
        goto out;
    }
    if (mlg__pread_all(in, buf, (size_t)size, 0) < 0) {
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: read failed: %s", dir, name, strerror(errno));
        goto out;
    }
    if ((rc = mlg__save_tail(dirfd, dir, name, 0, UINT64_MAX, MLG_MODE_OF_SEGMENT, side, &saved,
                             err)))
        goto out;
    memcpy(&h, buf, sizeof h);
    h.record_count = c->ah.record_count;
    h.digest = c->ah.digest;
    h.stored_len = c->ah.stored_len;
    h.last_ts = c->ah.last_ts;
    memcpy(h.log_id, c->ah.log_id, 16);
    h.crc = mlg__crc32c(0, &h, offsetof(mlg__arch_header, crc));
    memcpy(buf, &h, sizeof h);
    const char *what = NULL;
    mlg__unlinkat(dirfd, tmp, 0);
    out =
        mlg__create_at(dirfd, tmp, O_WRONLY | O_EXCL | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 07777);
    if (out < 0)
        what = "open";
    else if (mlg__write_all(out, buf, (size_t)size) < 0)
        what = "write";
    else if (mlg__fsync(out) < 0)
        what = "fsync";
    else if (mlg__renameat(dirfd, tmp, dirfd, name) < 0)
        what = "rename into place";
    if (what) {
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: rewriting the archive header failed (%s): %s", dir,
                       tmp, what, strerror(errno));
        mlg__unlinkat(dirfd, tmp, 0);
        goto out;
    }
    mlg__report_add(rep, " The archive as it was is kept in %s.", side);
out:
    if (out >= 0)
        mlg__close(out);
    if (in >= 0)
        mlg__close(in);
    free(buf);
    return rc;
}

/* CUT_SUCCESSOR: make segment c->seq, empty, as the writer makes a spare (sized, blocks
 * reserved, header written and synced, then named), with the mode of the segment before
 * it (first). */
static int make_successor(int dirfd, const char *dir, uint64_t first, const cut *c,
                          mlg__report *rep, mlg__err *err)
{
    char name[40], prev[40];
    struct stat st;
    mlg__seg_header h;
    int fd = -1, rc = 0;
    const char *what = NULL;
    mlg__seg_name(name, c->seq);
    seg_file_name(dirfd, first, prev);
    if (mlg__fstatat(dirfd, prev, &st, AT_SYMLINK_NOFOLLOW) < 0)
        st.st_mode = 0640;
    mlg__header_init(&h, c->seg_size, c->log_id, mlg__now_ns());
    if (mlg__unlinkat(dirfd, MLG_SPARE_NAME, 0) < 0 && errno != ENOENT)
        what = "remove the old spare";
    else if ((fd = mlg__create_at(dirfd, MLG_SPARE_NAME, O_RDWR | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                                  st.st_mode & 07777)) < 0)
        what = "open";
    else if (mlg__write_all(fd, &h, sizeof h) < 0)
        what = "write the header";
    else if (mlg__ftruncate(fd, (off_t)c->seg_size) < 0)
        what = "ftruncate";
    else if (mlg__fallocate(fd, 0, (off_t)c->seg_size) < 0 && errno != EOPNOTSUPP)
        what = "fallocate";
    else if (mlg__fsync(fd) < 0)
        what = "fsync";
    else if (mlg__renameat(dirfd, MLG_SPARE_NAME, dirfd, name) < 0)
        what = "rename into place";
    if (what) {
        int e = errno;
        rc = mlg__fail(err, e == ENOSPC ? MAPLOG_ENOSPC : MAPLOG_EIO,
                       "%s/%s: making the missing segment failed (%s): %s", dir, name, what,
                       strerror(e));
        if (fd >= 0)
            mlg__unlinkat(dirfd, MLG_SPARE_NAME, 0);
    } else
        mlg__report_add(rep, " Made %s.", name);
    if (fd >= 0)
        mlg__close(fd);
    return rc;
}

/* CUT_HEADER: keep the damaged header (its 128 bytes, in NAME.tail-0), then write it
 * anew in place and sync it. */
static int rewrite_header(int dirfd, const char *dir, uint64_t first, const cut *c,
                          mlg__report *rep, mlg__err *err)
{
    char name[40], side[64];
    uint64_t saved;
    mlg__segmap m;
    mlg__seg_header h;
    int rc;
    mlg__seg_name(name, first);
    if ((rc =
             mlg__save_tail(dirfd, dir, name, 0, sizeof h, MLG_MODE_OF_SEGMENT, side, &saved, err)))
        return rc;
    if ((rc = mlg__seg_open(dirfd, dir, first, MLG_SEG_RW | MLG_SEG_ANY_HEADER, NULL, &m, err)))
        return rc;
    mlg__header_init(&h, c->seg_size, c->log_id, c->created_ns);
    memcpy(m.map, &h, sizeof h);
    if (mlg__msync(m.map, MLG_DATA_OFFSET, MS_SYNC) < 0)
        rc = mlg__fail(err, MAPLOG_EIO, "%s/%s: msync of the new header failed: %s", dir, name,
                       strerror(errno));
    else
        mlg__report_add(rep, " The damaged header is kept in %s.", side);
    mlg__seg_close(&m);
    return rc;
}

/* Make the cut c: set later segments aside, then cut inside the segment the log now ends
 * in, keeping the bytes cut (with the segment file's own mode: repair has no options). */
static int apply_cut(int dirfd, const char *dir, const uint64_t *segs, size_t n, const cut *c,
                     mlg__report *rep, mlg__err *err)
{
    size_t keep_last = c->before_seg ? c->seg - 1 : c->seg;
    char name[40], side[64];
    int rc = 0;
    uint64_t first = segs[keep_last], saved;
    if (c->kind == CUT_ARCHIVE)
        return rewrite_archive(dirfd, dir, segs[c->seg], c, rep, err);
    if (c->kind == CUT_SUCCESSOR)
        return make_successor(dirfd, dir, first, c, rep, err);
    if (c->kind == CUT_HEADER)
        return rewrite_header(dirfd, dir, first, c, rep, err);
    for (size_t j = keep_last + 1; j < n; j++) {
        seg_file_name(dirfd, segs[j], name);
        if ((rc = mlg__set_aside(dirfd, dir, name, side, err)))
            return rc;
    }
    /* a seal says the segment's successor exists: a sealed segment cannot end the log */
    if (c->before_seg && c->unseal)
        return zero_range(dirfd, first, MLG_SEAL_OFFSET, MLG_SEAL_OFFSET + sizeof(mlg__seal), err,
                          dir);
    if (c->before_seg)
        return c->successor ? make_successor(dirfd, dir, first, c, rep, err) : 0;
    if (c->kind == CUT_RESEAL)
        return zero_range(dirfd, first, MLG_SEAL_OFFSET, MLG_SEAL_OFFSET + sizeof(mlg__seal), err,
                          dir);
    mlg__seg_name(name, first);
    if (keep_last + 1 < n || c->dropped > 0 || c->save_to > c->off) {
        if ((rc = mlg__save_tail(dirfd, dir, name, c->off, c->save_to, MLG_MODE_OF_SEGMENT, side,
                                 &saved, err)))
            return rc;
        mlg__report_add(rep, " The %" PRIu64 " bytes cut at offset %" PRIu64 " are kept in %s.",
                        saved, c->off, side);
    }
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
    /* Applying, each round mends the first problem and looks again: at most a few rounds
     * per segment there was (a header, a seal, a cut, a successor). */
    size_t rounds = 2 * n + 4;
    int64_t lost = 0;
    for (size_t round = 0;; round++) {
        if ((rc = find_cut(dirfd, dir, segs, n, &c, &err))) {
            mlg__report_add(&rep, "%s", err.msg);
            goto out;
        }
        if (c.seg == n && round > 0 && !c.holes)
            break;
        if (round == 0 && !apply && mlg__writer_alive(dirfd) &&
            (c.seg == n || (c.seg + 1 == n && !c.before_seg))) {
            /* A writer holds the log: its last segment is being written, and a record or a
             * rollover in progress there is not a torn tail, nor a reservation a hole. */
            char name[32];
            mlg__seg_name(name, segs[n - 1]);
            mlg__report_add(&rep,
                            "nothing to do while a writer holds the log: %s, its last "
                            "segment, is being written, and every segment before it is valid "
                            "(recovery, should it be needed, runs when a writer next opens "
                            "the log)",
                            name);
            goto out;
        }
        if (lost >= 0)
            lost = c.seg == n ? lost : c.dropped < 0 ? -1 : lost + c.dropped;
        if (dropped)
            *dropped = lost;
        if (c.seg == n && c.holes) {
            /* a crash state that opening resolves: nothing to cut */
            mlg__report_add(&rep,
                            "%s%" PRIu64 " record%s reserved and never published (holes a crash "
                            "left, the first in %s): recovery %s them void records, keeping "
                            "every record after them",
                            round > 0 ? " Then: " : "", c.holes, c.holes == 1 ? "" : "s",
                            c.holes_in, apply ? "makes" : "would make");
            if (!apply)
                goto out;
            break;
        }
        if (c.seg == n) {
            mlg__report_add(&rep, "nothing to do: every segment is valid");
            goto out;
        }
        if (c.before_seg && c.seg == 0) {
            rc = MAPLOG_ECORRUPT;
            mlg__report_add(&rep,
                            "%s; the first segment is unreadable, so there is no valid prefix to "
                            "keep",
                            c.why);
            goto out;
        }
        if (round == rounds) {
            rc = MAPLOG_ECORRUPT;
            mlg__report_add(&rep, " Still not valid after %zu repairs: %s", round, c.why);
            goto out;
        }
        if (round > 0)
            mlg__report_add(&rep, " Then: ");
        report_plan(&rep, &c, n, apply);
        if (!apply)
            goto out;
        if ((rc = apply_cut(dirfd, dir, segs, n, &c, &rep, &err))) {
            mlg__report_add(&rep, " %s", err.msg);
            goto out;
        }
        if (mlg__fsync(dirfd) < 0) {
            rc = MAPLOG_EIO;
            mlg__report_add(&rep, " %s: fsync of the directory failed: %s", dir, strerror(errno));
            goto out;
        }
        size_t other;
        free(segs);
        segs = NULL;
        if ((rc = mlg__list_segments(dirfd, &segs, &n, &other, &err, dir))) {
            mlg__report_add(&rep, " %s", err.msg);
            goto out;
        }
        if (n == 0)
            break; /* reopen() says so */
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
