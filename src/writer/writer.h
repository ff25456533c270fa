/*
 * writer.h -- the writer: its handle and its segments, shared by the files of src/writer/
 * only.  Each file has one job:
 *   open.c         maplog_open/close, the threads, the accessors
 *   append.c       the hot path: reserve, copy, CRC, publish; rollover
 *   wseg.c         the writer's segments: create, map, pre-fault, activate, count published
 *   spares.c       the maker and pre-faulter threads that prepare the next segments
 *   durability.c   seal, sync, checkpoints, group commit, poisoning
 *   housekeeping.c the background thread: seal, flush, archive, retention
 *   retention.c    which sealed segments go, and archiving
 *   recovery.c     what opening a crashed log does
 *   options.c      the option set
 *
 * How it works:
 *
 * The append path is a compare-and-swap and a memcpy.  Each segment keeps one 64-bit word,
 * resv, that packs how many records were reserved and where the next free byte is; an
 * appender reserves space and a sequence number together with one CAS on it, copies the
 * payload into the MAP_SHARED mapping, and publishes the record with a release store of
 * its first 8 bytes (length and CRC).  Readers acquire-load that word: zero means "not
 * yet", so no reader can see a half-written record, and since readers stop at the first
 * unpublished record they never see a hole either.
 *
 * What must not be on the append path is done ahead of time or behind it, by three
 * threads per log -- the maker and the pre-faulter (ahead), the background thread (behind):
 *   ahead:  the next segments (the "spares") are created, ftruncate'd, their blocks reserved
 *           with posix_fallocate (so a full disk is an error at rollover, never a SIGBUS
 *           on a store) and mapped by the maker, and pre-faulted by the pre-faulter, so
 *           that a rollover is a rename and a pointer swap;
 *   behind: a full segment is sealed -- wait for in-flight appends, XXH3 digest, seal
 *           block, fdatasync, unmap -- and dirty pages of the current one are handed to
 *           write-back on the flush policy (msync(MS_ASYNC), which Linux treats as a no-op
 *           since 2.6.19, so also sync_file_range(SYNC_FILE_RANGE_WRITE)).
 *
 * Locks: mu guards rollover, the spare and the seal queue (never taken on the fast path);
 * sync_mu serialises everything that writes checkpoints or unmaps: sealing, syncing,
 * flushing.  Order: sync_mu before mu, never the other way round.
 *
 * Segment structs are never freed before close: a thread that loaded an old `cur` may
 * still read its resv word (and find it FULL).  They are small; the mappings, which are
 * not, are released as soon as a segment is sealed.
 */

#ifndef MLG_WRITER_H
#define MLG_WRITER_H

#include "internal.h"
#include "logdir.h"

#include <pthread.h>
#include <stdatomic.h>

/* A segment as the writer holds it.  resv packs (records reserved << 32) | next free
 * offset, with MLG_RESV_FULL set once the segment takes no more records: one CAS reserves
 * space and a sequence number together, with no lock. */
#define MLG_RESV_FULL 0x80000000ull
#define MLG_RESV_OFF(v) ((v)&0x7fffffffull)
#define MLG_RESV_COUNT(v) ((v) >> 32)
#define MLG_MARK_FIRED (UINT64_MAX - 1)
#define MLG_HINT_NONE UINT64_MAX
#define MLG_HINT_BUSY (UINT64_MAX - 1)
#define MLG_OWNER_REVOKING ((uintptr_t)1) /* no thread's name: a thread-local's address */

typedef struct mlg__wseg {
    int fd;
    uint8_t *map;
    uint64_t size;
    uint64_t first_seq;
    _Atomic uint64_t resv;
    /* An append reaching this offset swaps it for MLG_MARK_FIRED and wakes the flusher,
     * which acts and sets the next one; UINT64_MAX: the byte trigger is off. */
    _Atomic uint64_t flush_mark;
    /* Record hints (append.c, "hints"): a record at or past this offset fills the next
     * slot of the segment's hint table; MLG_HINT_NONE when no slot is left to fill (or the
     * segment keeps no hints), MLG_HINT_BUSY while a thread is filling one. */
    _Atomic uint64_t hint_next;
    uint64_t hint_stride;
    /* The thread filling a slot: every record before hint_pub_off (sequence number
     * hint_pub_seq) was seen published. */
    uint64_t hint_pub_off, hint_pub_seq;
    /* Biased reservation (append.c, "Reservation is biased"): */
    /* Set before the segment becomes cur, then only cleared: MLG_OWNER_REVOKING while a
     * revocation waits for the owner's last plain reservation, then 0. */
    _Atomic uintptr_t owner;
    _Atomic int owner_busy; /* the owner is between its check of owner and its store */
    _Atomic uintptr_t solo; /* the first thread to reserve here with a CAS ... */
    _Atomic int mixed;      /* ... and whether any other thread did */
    /* Written only by the owner thread, for the records it publishes while it is the owner:
     * when owner_pub reaches the segment's record count, every record is published, and
     * the seal need not walk them all to find out (nor to find the largest timestamp). */
    _Atomic uint64_t owner_pub, owner_max_ts;
    /* And, while every record before the owner's latest was one it counted, the offset
     * just past that record: every record before it is published. */
    _Atomic uint64_t owner_pub_end;
    /* Under sync_mu: */
    uint64_t pub_end;     /* every record before this offset is published (0: none known) */
    uint64_t flushed_end; /* write-back started up to here */
    uint64_t synced_end, synced_count, synced_ts, ckpt_gen;
    uint64_t voids; /* void records recovery found or made in it, for its seal */
    int sealed;     /* sealed, synced and unmapped */
    /* Under mu: the pre-faulter is pre-faulting a chunk of this segment's mapping; stop_pop
     * tells it to do no more (the segment is about to be sealed and unmapped). */
    int populating, stop_pop;
    uint64_t pop_off; /* pre-faulted up to here; MLG_POP_DONE: nothing left to do */
    int archived;     /* compressed to NAME.mlogz (or removed by retention): nothing to do */
    char name[32];
    struct mlg__wseg *next; /* seal queue, then the retired list */
} mlg__wseg;

struct maplog {
    char *dir;
    int dirfd, lockfd;
    struct maplog_options opt;
    uint64_t max_payload;
    uint8_t log_id[16];

    _Atomic(mlg__wseg *) cur;

    /* Biased reservation: see "Reservation is biased" in append.c. */
    unsigned bias_skip;                         /* grants still to pass up (under bias_mu) */
    _Atomic uint64_t bias_grants, bias_revokes; /* counted for tests and benchmarks */
    pthread_mutex_t bias_mu;                    /* one revocation at a time */

    pthread_mutex_t mu; /* rollover, the spare, the seal queue, bg state */
    pthread_cond_t bg_cv, spare_cv, prep_cv, pop_cv;
    mlg__wseg *spare[2]; /* prepared segments, next to use first */
    int nspare;
    int spare_busy;
    int spare_rc; /* last failure preparing a spare, 0 if none */
    mlg__wseg *sealq, *retired;
    int dir_dirty;
    int stop;
    int bg_started, prep_started, maker_started;
    pthread_t bg, prep, maker; /* prep pre-faults; maker makes spares */

    pthread_mutex_t sync_mu;  /* sealing, syncing, checkpoints, flushing */
    _Atomic uint64_t durable; /* records with seq < durable are durable */
    int sync_failed;          /* after a failed sync, durability is unknowable: the first
                                 sync to see it returns this code, every later one
                                 MAPLOG_ECLOSED, each with sync_err as its message */
    int sync_reported;        /* a caller has been given sync_failed */
    char sync_err[MLG_ERRMSG_MAX];

    uint64_t retention_check_ns; /* when the background thread last applied retention */
    int retention_due;           /* under mu: a segment was sealed since retention last ran */
    int archive_left;            /* background thread only: look for sealed segments an
                                    earlier writer left plain (MAPLOG_OPT_ARCHIVE) ... */
    uint64_t archive_from;       /* ... from this first sequence number on */
    int64_t rec_info[9];         /* maplog_recovery_key -> value */
    char rec_report[MLG_ERRMSG_MAX];
    /* Last, so that the hot fields above keep their cache lines: the wake page, in
     * lockfd's file (followers in other processes); read-only after open but for its
     * counters of wake calls. */
    mlg__wake wake;
};

/* recovery.c: bring an existing log (or a new one) to the state where cur is the segment
 * to append to.  Called with dirfd open and the lock held. */
int mlg__recover(struct maplog *log);
/* writer.c helpers recovery uses */
/* Prepare a spare segment under the file name name (MLG_SPARE_NAME or MLG_SPARE2_NAME). */
int mlg__seg_create(struct maplog *log, mlg__wseg **out, uint64_t size, const char *name);
int mlg__seg_activate(struct maplog *log, mlg__wseg *s, uint64_t first_seq);
void mlg__arm_flush(struct maplog *log, mlg__wseg *s, uint64_t from);
/* Set up s's hints for appending from offset end (record first_seq + count there). */
void mlg__arm_hints(mlg__wseg *s, uint64_t end, uint64_t count);
/* Pre-fault all of a segment not in use yet (MAPLOG_OPT_PREFAULT permitting). */
void mlg__seg_prefault(struct maplog *log, mlg__wseg *s);
void mlg__seg_free(mlg__wseg *s);
int mlg__seal_seg(struct maplog *log, mlg__wseg *s);
int mlg__sync_range(struct maplog *log, mlg__wseg *s, uint64_t end, uint64_t count,
                    uint64_t last_ts, uint32_t state);

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static const long page_size = 4096;

static inline uint64_t page_floor(uint64_t v)
{
    return v & ~(uint64_t)(page_size - 1);
}

static inline uint64_t page_ceil(uint64_t v)
{
    return page_floor(v + (uint64_t)page_size - 1);
}

#define MLG_POP_DONE UINT64_MAX /* pop_off: nothing left to pre-fault */
#define MLG_POP_CHUNK ((uint64_t)4 << 20)

/* ---- shared among the files of src/writer/ (each names the file that defines it) ---- */
/* wseg.c */
void mlg__unmap_behind(uint8_t *map, uint64_t from, uint64_t to);
void mlg__populate_chunk(struct maplog *log, mlg__wseg *s);
mlg__wseg *mlg__to_populate(struct maplog *log);
void mlg__count_published(mlg__wseg *s, uint64_t v, int final, uint64_t *count, uint64_t *last_ts);
uint64_t mlg__published_end(mlg__wseg *s);
/* durability.c */
int mlg__do_sync(struct maplog *log, uint32_t state);
void mlg__poison(struct maplog *log, int rc);
int mlg__seal_pending(struct maplog *log);
/* retention.c */
void mlg__apply_retention(struct maplog *log);
void mlg__retention_now(struct maplog *log);
int mlg__archive_one(struct maplog *log);
int mlg__archive_left(struct maplog *log, uint64_t *from, uint64_t *done);
/* housekeeping.c */
void mlg__background_priority(void);
void *mlg__bg_main(void *arg);
void mlg__wake_bg(struct maplog *log); /* with mu held */
/* spares.c */
const char *mlg__free_spare_name(struct maplog *log);
void *mlg__maker_main(void *arg);
void *mlg__prefault_main(void *arg);
/* append.c */
void mlg__bias_init(void);
uintptr_t mlg__bias_grant(struct maplog *log);
/* open.c */
int mlg__new_log_id(uint8_t id[16]);

#endif
