/*
 * logdir.h -- the log directory layer (names.c, segfile.c, cut.c, walk.c, wake.c): segment file
 * names and the listing, the writer lock (probe and take), segments opened read-only (plain or
 * archived) and as checked views, archiving, removal, the whole-log summary, the steps of a cut
 * that recovery and repair share (saving the cut bytes, setting segments aside, the report), and
 * the wake page in the lock file.
 */
#ifndef MLG_LOGDIR_H
#define MLG_LOGDIR_H

#include "internal.h"

#include <stdatomic.h>
#include <sys/types.h>

/* ---- segment files ---- */
void mlg__seg_name(char out[32], uint64_t first_seq);
/* 1 if name is a segment file name, with *first_seq set; 0 otherwise. */
int mlg__parse_seg_name(const char *name, uint64_t *first_seq);
/* The first_seq of every segment file in dirfd, sorted.  *seqs is malloc'd (free it).
 * *other counts the entries that are neither segments nor maplog's own files. */
int mlg__list_segments(int dirfd, uint64_t **seqs, size_t *n, size_t *other, mlg__err *err,
                       const char *dir);

/* A segment file opened and mapped (mlg__seg_open). */
/* An archive of blocks being read (archive.c). */
typedef struct mlg__arch mlg__arch;
typedef struct mlg__segmap {
    uint8_t *map;
    uint64_t size;   /* bytes mapped: the segment's size */
    uint64_t first;  /* its first sequence number */
    int fd;          /* open for MLG_SEG_RW (to sync through), else -1 */
    int archived;    /* the map is NAME.mlogz inflated into memory */
    char name[32];   /* NAME.mlog, or NAME.mlogz when archived */
    mlg__arch *arch; /* MLG_SEG_LAZY: the archive's blocks, inflated as they are needed */
} mlg__segmap;
#define MLG_SEG_RW 1      /* read-write MAP_SHARED (writer, recovery, repair); else MAP_PRIVATE */
#define MLG_SEG_ARCHIVE 2 /* read-only: when NAME.mlog is missing, inflate NAME.mlogz */
#define MLG_SEG_ANY_HEADER 4 /* map whatever the header holds: the caller checks it */
#define MLG_SEG_LAZY                                                                               \
    8 /* with MLG_SEG_ARCHIVE: inflate an archive of blocks (version 2) only as                    \
         far as its header page; mlg__arch_fill() inflates more */
/* Open segment first_seq of the log in dirfd: the one way src/ opens an existing segment
 * (mlg__seg_open_file), checks its size, maps it and (unless MLG_SEG_ANY_HEADER) checks its
 * header against expect_id (NULL: any log id).  0, or an error with err set and nothing left
 * open: MAPLOG_ENOENT when no such segment exists, MAPLOG_ECORRUPT for a file that is not a
 * possible segment.  Release with mlg__seg_close(). */
int mlg__seg_open(int dirfd, const char *dir, uint64_t first_seq, int flags,
                  const uint8_t *expect_id, mlg__segmap *m, mlg__err *err);
void mlg__seg_close(mlg__segmap *m);
/* Open the file name in the log directory as a segment is opened: never through a link
 * (O_NOFOLLOW), never waiting on a FIFO or device (O_NONBLOCK), and only a regular file.
 * rw: O_RDWR.  0 with *fd and its *size, or an error with err set (MAPLOG_ENOENT if it does
 * not exist). */
int mlg__seg_open_file(int dirfd, const char *dir, const char *name, int rw, int *fd,
                       uint64_t *size, mlg__err *err);

/* ---- reading a mapped segment's pages ahead of a walk ---- */

/* A walk through a read-only mapping of a segment (a seek, the figures' scan) asks for
 * the pages it is about to read before it touches them: MADV_WILLNEED reads exactly those
 * into the page cache, and a touch of a page already there starts no read-ahead.  A touch
 * of a page the cache lacks makes the kernel read its own window instead (read_ahead_kb):
 * around the page, or from it on under MADV_SEQUENTIAL -- mostly bytes past what a seek or
 * a figure needs (docs/DESIGN.md, "What a seek reads from a cold page cache").  So the
 * pages read from the disk are the ones the walk reads, and at most MLG_AHEAD_STEP past
 * them. */
#define MLG_AHEAD_STEP ((uint64_t)512 * 1024)
typedef struct mlg__ahead {
    const uint8_t *map;
    uint64_t size;
    uint64_t done;   /* asked for up to here (a walk moves forwards only) */
    mlg__arch *arch; /* an archive of blocks: inflate what the walk asks for, not advise */
} mlg__ahead;
static inline void mlg__ahead_init(mlg__ahead *a, const uint8_t *map, uint64_t size)
{
    a->map = map;
    a->size = size;
    a->done = 0;
    a->arch = NULL;
}
void mlg__ahead_more(mlg__ahead *a, uint64_t off, uint64_t end, uint64_t ahead);
/* The walk reads [off, end) next: ask for those pages, and for ahead bytes after them
 * (MLG_AHEAD_STEP where the walk reads every page, 0 where it steps over large records
 * reading their headers only), unless that was asked for already.  Inline: record walks
 * call it for every record, and leave it once a step. */
static inline void mlg__ahead_need(mlg__ahead *a, uint64_t off, uint64_t end, uint64_t ahead)
{
    /* an archive's walk may go back to bytes handed back since: asked every time */
    if (a->arch || end + ahead / 2 > a->done)
        mlg__ahead_more(a, off, end, ahead);
}
/* The walk checks the record at off next (mlg__rec_check): its first word's page, then,
 * when the word announces a record that fits, all of its bytes; and ahead bytes after. */
void mlg__ahead_record(mlg__ahead *a, uint64_t off, uint64_t ahead);

/* What a segment's header page says, read without mapping the segment (or, archived,
 * inflating it): the one way to read seals and checkpoints of segments not being walked. */
typedef struct mlg__segpeek {
    uint64_t file_size; /* bytes the file takes */
    int archived;       /* read from NAME.mlogz's header: its format version (1 or 2) */
    int sealed;         /* 1 a valid seal (always, archived), 0 none, -1 damaged */
    mlg__seal seal;     /* when sealed is 1 */
    int have_ckpt;      /* plain segments: a valid checkpoint */
    mlg__checkpoint ckpt;
    uint8_t log_id[16];
} mlg__segpeek;
int mlg__seg_peek(int dirfd, const char *dir, uint64_t first_seq, mlg__segpeek *p, mlg__err *err);
/* Compress sealed segment first_seq into NAME.mlogz (via NAME.mlogz.tmp, fsync, rename),
 * then remove NAME.mlog.  level: zlib level. */
int mlg__archive_segment(int dirfd, const char *dir, uint64_t first_seq, int level, mlg__err *err);
/* Open archive m->name (fd open, file_size bytes: taken over, closed or kept in m->arch)
 * into m: an anonymous mapping of the segment it holds, inflated whole -- or, lazy and an
 * archive of blocks, only block 0, with m->arch set to inflate the rest on demand. */
int mlg__arch_open(int fd, uint64_t file_size, const char *dir, uint64_t first_seq, int lazy,
                   mlg__segmap *m, mlg__err *err);
/* Make segment bytes [from, to) readable in the mapping: inflate the blocks that hold them,
 * handing back what lies more than 8 MiB behind from (never the header page).  A jump
 * (before what is inflated, or past its end) hands back all of it first.  0, or the error
 * (MAPLOG_ECORRUPT naming the archive, the offset and the block; MAPLOG_EIO). */
int mlg__arch_fill(mlg__arch *a, uint64_t from, uint64_t to, mlg__err *err);
uint64_t mlg__arch_lo(const mlg__arch *a); /* bytes [lo, hi) are inflated */
uint64_t mlg__arch_hi(const mlg__arch *a);
uint64_t mlg__arch_inflated(const mlg__arch *a); /* bytes inflated since open (a may be NULL) */
/* The last block index entry whose record is at or before seq and whose earlier records'
 * largest timestamp is below ts: 1 with that record's *off and sequence number *at. */
int mlg__arch_find(const mlg__arch *a, uint64_t seq, uint64_t ts, uint64_t *off, uint64_t *at);
void mlg__arch_free(mlg__arch *a);
/* A thread that runs job(arg) soon, for an archive read in order (a reader's pager): 0 if
 * it will run it, before the archive is freed; else the archive reads without it. */
typedef int (*mlg__arch_helper)(void *ctx, void (*job)(void *), void *arg);
void mlg__arch_set_helper(mlg__arch *a, mlg__arch_helper fn, void *ctx);
/* The block index of a segment whose records are map[4096, stored_len), count of them
 * from first, cut in blocks of bsize: n entries into ix, packed_off and packed_len zero. */
void mlg__arch_index_build(const uint8_t *map, uint64_t stored_len, uint64_t first, uint64_t count,
                           uint32_t bsize, mlg__arch_entry *ix, uint32_t n);
/* Does the block index of archive first_seq (version 2) differ from the one its records
 * (map: the segment inflated whole, record_count of them) make?  1 with a sentence in why
 * and the entry's offset in *at. */
int mlg__arch_index_differs(int dirfd, const char *dir, uint64_t first_seq, const uint8_t *map,
                            uint64_t record_count, char *why, size_t whylen, uint64_t *at);
/* The first want bytes (at most what it holds) of the segment archive NAME.mlogz holds,
 * inflated into *out (malloc'd, *got bytes): what needs the start of an archived segment
 * only -- its first record -- without inflating all of it. */
int mlg__archive_head(int dirfd, const char *dir, uint64_t first_seq, uint64_t want, uint8_t **out,
                      uint64_t *got, mlg__err *err);
/* Is a writer holding the log in dirfd?  A shared lock attempt on the lock file tells,
 * without writing anything; a missing lock file means no writer. */
int mlg__writer_alive(int dirfd);
/* The same, asked through fd, maplog.lock held open. */
int mlg__writer_alive_fd(int fd);
/* Take the writer lock of the log in dirfd: open (creating it with mode) and flock
 * maplog.lock exclusively, without waiting.  0 with *fd holding the lock (closing it
 * releases it), or an error with err set: MAPLOG_ELOCKED when a writer holds it. */
int mlg__lock_take(int dirfd, const char *dir, mode_t mode, int *fd, mlg__err *err);

/* ---- the cut's steps (automatic recovery and offline repair) ---- */

/* A report built by appending to a caller's buffer; an append never overflows it (what
 * does not fit is dropped) and the buffer always holds a string. */
typedef struct mlg__report {
    char *buf;
    size_t cap, len;
} mlg__report;
/* Continue the report in buf (cap bytes, cap > 0) after what it already holds. */
void mlg__report_init(mlg__report *r, char *buf, size_t cap);
void mlg__report_add(mlg__report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define MLG_MODE_OF_SEGMENT (-1) /* mlg__save_tail: give the side file the segment's mode */
/* Copy bytes [from, to) of segment file name (to: UINT64_MAX or past its end for the end
 * of the file) to NAME.tail-FROM in the log directory and fsync it.  The side file is
 * created with mode (or, MLG_MODE_OF_SEGMENT, the segment file's own permission bits).
 * An existing side file is never overwritten: the first free name of NAME.tail-FROM,
 * NAME.tail-FROM.1, ... is taken.  0 with side[64] naming it and *saved the bytes copied,
 * or an error with err set and no side file left behind. */
int mlg__save_tail(int dirfd, const char *dir, const char *name, uint64_t from, uint64_t to,
                   int mode, char side[64], uint64_t *saved, mlg__err *err);
/* Set segment file name aside: rename it to NAME.tail-0 (or, taken, the first free name
 * of NAME.tail-0.1, ...).  0 with aside[64] naming it, or an error with err set. */
int mlg__set_aside(int dirfd, const char *dir, const char *name, char aside[64], mlg__err *err);

/* Bytes the segment's file takes (the archive's size if archived), 0 if missing. */
uint64_t mlg__seg_file_size(int dirfd, uint64_t first_seq);
/* 1 if segment first_seq is sealed, 2 if it is archived, 0 otherwise (or unreadable);
 * with its largest timestamp, record count, the bytes its file takes and (log_id may be
 * NULL) its log id.  Reads only the header page (or the archive's header). */
/* Does any of the n segments claim durable records: a valid seal, or a checkpoint with
 * records?  Records missing before such a segment were promised (damage); before none of
 * them, a power loss may have cut an unsynced tail across a rollover (a crash state). */
int mlg__claims_durable(int dirfd, const char *dir, const uint64_t *segs, size_t n);

/* The later segments of a log, for a hole rule's want_ok: asked at most once. */
typedef struct mlg__later {
    int dirfd;
    const char *dir;
    const uint64_t *segs;
    size_t n;
    int answer; /* -1 until asked */
} mlg__later;
/* The hole rule (format/record.h) for unsealed segment first, mapped at map, of a log no
 * writer holds; later[0..nlater) are the segments after it (*lat is filled to answer for
 * them).  0 when no hole can be in it at all: its header lacks the VOIDS flag (recovery
 * cuts there instead), or a clean close's checkpoint ended it.  Otherwise 1: holes only
 * past the checkpoint's end (synced records are never in one), and one running to the next
 * segment only if no later segment claims synced records -- the rule recovery, readers,
 * verify, repair and the figures all judge a crashed log by. */
int mlg__hole_rule_for(const uint8_t *map, uint64_t size, uint64_t first, int dirfd,
                       const char *dir, const uint64_t *later, size_t nlater, mlg__later *lat,
                       mlg__hole_rule *rule);
int mlg__seg_sealed_info(int dirfd, uint64_t first_seq, uint64_t *last_ts, uint64_t *bytes,
                         uint64_t *count, uint8_t *log_id);
/* Remove segment first_seq (NAME.mlog and/or NAME.mlogz).  0, or -1 with errno. */
int mlg__seg_remove(int dirfd, uint64_t first_seq);

/* A segment mapped read-only and analysed: header, seal, checkpoint and (when asked) the
 * valid prefix of its records.  What verify, repair and the summary walk. */
typedef struct mlg__segview {
    char name[32];
    uint64_t first, size;
    int fd;
    uint8_t *map;
    int header_ok;
    mlg__err header_err;
    int seal_state; /* 1 valid, 0 none, -1 damaged */
    mlg__seal seal;
    mlg__scan_result scan; /* the valid prefix */
    uint64_t hw;           /* end of non-zero bytes after the prefix */
    int have_ck;
    mlg__checkpoint ck;
} mlg__segview;

/* Map and analyse segment first of the log in dirfd.  Returns 0 (with v->header_ok saying
 * whether the rest is meaningful) or an error code when the file cannot be read at all.
 * id: the log id the header must carry, or NULL.  scan: also scan the records, as
 * recovery would (stepping over holes by mlg__hole_rule_for; later[0..nlater) are the
 * segments after it). */
int mlg__segview_open(int dirfd, const char *dir, uint64_t first, const uint8_t *id, int scan,
                      const uint64_t *later, size_t nlater, mlg__segview *v, mlg__err *err);
void mlg__segview_close(mlg__segview *v);
/* Open directory dir: *dirfd, or MAPLOG_ENOENT (missing), MAPLOG_ENOTLOG (not a directory)
 * or MAPLOG_EIO, with err set.  The one errno-to-code mapping for a log's directory. */
int mlg__dir_open(const char *dir, int *dirfd, mlg__err *err);
/* Open the log directory dir and list its segments (at least one: else MAPLOG_ENOTLOG).
 * On success *dirfd and *segs (malloc'd) are the caller's. */
int mlg__logdir_open(const char *dir, int *dirfd, uint64_t **segs, size_t *n, mlg__err *err);

/* Whole-log figures, of the records a reader reads in order from the first segment: a
 * segment counts when its header checks out and it continues where the records before it
 * end (sealed: by its seal, never scanned; unsealed: scanned).  The first segment that
 * cannot be read or does not continue stops the count: it and every segment after it are
 * skipped (their files still count in allocated), and problem names it and what is wrong.
 * next_seq - records is the first segment's first_seq (or the next one's, when the first was
 * removed since the listing).  0, with err holding problem (or, when nothing was skipped, an
 * empty message, code 0), so that a reader's message tells why records stop being counted;
 * or MAPLOG_EIO/MAPLOG_ENOMEM with err set. */
typedef struct mlg__summary {
    uint64_t next_seq, used, allocated, first_ts, last_ts;
    uint64_t records; /* records readable in order: next_seq less the first one's seq, less
                         voids and lost */
    uint64_t voids;   /* void records among them, and holes a crash left (which become voids) */
    uint64_t lost;    /* records lost between segments in a crash (a crashed log no writer
                         holds: never durable, and recovery cuts the log there) */
    uint64_t skipped; /* segment files that add no record (0: the whole log counts) */
    mlg__err problem; /* when skipped: why the first of them adds none */
    int partial;      /* quick, and it counted the last segment from a record hint: records,
                         voids and last_ts leave out that segment's records before it */
} mlg__summary;
/* quick: only where the records end is wanted (next_seq, used, allocated, first_ts, lost,
 * skipped): the last segment, when unsealed, is walked from its last record hint that checks
 * out instead of from its start, and partial says so. */
int mlg__log_summary(int dirfd, const char *dir, const uint64_t *segs, size_t n, int quick,
                     mlg__summary *out, mlg__err *err);

/* ---- record hints (docs/FORMAT.md, "Record hints") ---- */

/* mlg__hint_best over a read-only mapping of a segment, asking for each candidate record's
 * pages alone before its check reads them (no read-ahead window). */
int mlg__hint_find(const uint8_t *map, uint64_t size, uint64_t first, uint64_t limit,
                   uint64_t max_seq, mlg__hint *h);
/* How far a reader may take a segment's hints: a record a hint names must end by here.  A
 * sealed segment's end; the segment's end while a writer holds the log (it names only
 * records every record before which is published); otherwise the checkpoint's end
 * (MLG_DATA_OFFSET without one): past it, a crash may have left a torn record before the
 * one a hint names, and recovery cuts the log there. */
uint64_t mlg__hint_limit(const uint8_t *map, uint64_t size, uint64_t first, int alive);

/* ---- the wake page (wake.c; docs/FORMAT.md, "The wake page") ---- */
#define MLG_WAKE_SIZE 4096
#define MLG_WAKE_MAGIC "MLGWAKE1"
#define MLG_WAKE_VERSION_OFF 8
#define MLG_WAKE_VERSION 1u
#define MLG_WAKE_FLAGS_OFF 12
#define MLG_WAKE_FENCED 1u /* the writer fences each append; followers need no membarrier */
#define MLG_WAKE_WORD_OFF 64
#define MLG_WAKE_POKE_OFF 128
#define MLG_WAKE_SLEEP 1u /* the wake word: a follower sleeps in FUTEX_WAIT on it */
#define MLG_WAKE_POLL 2u  /* a follower waits on its descriptor (inotify on maplog.lock) */
#define MLG_WAKE_WAITING 3u
#define MLG_WAKE_COUNT_ONE 4u /* the rest of the word counts wakes */
/* A follower sleeps at most this long at a time, so a wake-up that never came (the writer
 * died between its record and its wake) costs no more. */
#define MLG_WAKE_SLICE_NS 200000000ull

typedef struct mlg__wake {
    int fd;         /* maplog.lock (the writer's lock descriptor, or the follower's) */
    uint8_t *page;  /* its first MLG_WAKE_SIZE bytes, MAP_SHARED; NULL: no page */
    uint32_t *word; /* the wake word (__atomic builtins only); never NULL: without
                       a page, a word no one sets */
    int fenced;     /* writer: no membarrier here, so a fence per append */
    int no_barrier; /* follower: the writer needs our membarrier and we cannot */
    _Atomic uint64_t futex_wakes, pokes; /* writer: wake system calls made */
} mlg__wake;

/* Writer: make maplog.lock (open as lockfd) the wake page; without one (it cannot be sized
 * or mapped) followers poll, and nothing else changes. */
void mlg__wake_writer_open(mlg__wake *w, int lockfd);
/* Writer: wake every follower waiting, if any; then unmap. */
void mlg__wake_writer_close(mlg__wake *w);
/* Writer, after publishing: wake the followers that wait, if any (the slow half). */
void mlg__wake_all(mlg__wake *w);
/* The append path's half: one load, and no system call unless a follower waits.  The
 * barrier pairs with the follower's (wake.c says why a compiler barrier suffices). */
static inline void mlg__wake_after_publish(mlg__wake *w)
{
    uint32_t v;
    if (w->fenced) /* a read-modify-write of the word: the full barrier, and its load */
        v = __atomic_fetch_or(w->word, 0u, __ATOMIC_SEQ_CST);
    else {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        v = __atomic_load_n(w->word, __ATOMIC_RELAXED);
    }
    if (v & MLG_WAKE_WAITING)
        mlg__wake_all(w);
}
/* Follower: map the log's wake page.  0, or -1 when there is none it may use. */
int mlg__wake_follower_attach(mlg__wake *w, int dirfd);
void mlg__wake_follower_detach(mlg__wake *w);
/* Follower, before it looks for a record one last time and sleeps: set bit (MLG_WAKE_SLEEP
 * or MLG_WAKE_POLL) and order that against the writer.  0 with *seen the word to sleep on,
 * or -1 when sleeping could miss a record (poll instead). */
int mlg__wake_arm(mlg__wake *w, uint32_t bit, uint32_t *seen);
/* Follower: sleep while the word is seen, at most ns.  1 if woken, 0 otherwise. */
int mlg__wake_sleep(mlg__wake *w, uint32_t seen, uint64_t ns);

#endif
