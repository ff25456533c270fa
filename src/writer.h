/*
 * writer.h -- the writer's handle, shared by writer.c and recovery.c only.
 */
#ifndef MLG_WRITER_H
#define MLG_WRITER_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* A segment as the writer holds it.  resv packs (records reserved << 32) | next free
 * offset, with MLG_RESV_FULL set once the segment takes no more records: one CAS reserves
 * space and a sequence number together, with no lock. */
#define MLG_RESV_FULL 0x80000000ull
#define MLG_RESV_OFF(v) ((v)&0x7fffffffull)
#define MLG_RESV_COUNT(v) ((v) >> 32)
#define MLG_MARK_FIRED (UINT64_MAX - 1)

typedef struct mlg__wseg {
    int fd;
    uint8_t *map;
    uint64_t size;
    uint64_t first_seq;
    _Atomic uint64_t resv;
    /* An append reaching this offset swaps it for MLG_MARK_FIRED and wakes the flusher,
     * which acts and sets the next one; UINT64_MAX: the byte trigger is off. */
    _Atomic uint64_t flush_mark;
    /* Biased reservation (writer.c, "the append path"): */
    _Atomic uintptr_t owner; /* set before the segment becomes cur, then only cleared */
    _Atomic int owner_busy;  /* the owner is between its check of owner and its store */
    _Atomic uintptr_t solo;  /* the first thread to reserve here with a CAS ... */
    _Atomic int mixed;       /* ... and whether any other thread did */
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
    int sealed; /* sealed, synced and unmapped */
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

    /* Biased reservation: see "the append path" in writer.c. */
    unsigned bias_skip;                         /* grants still to pass up (under mu) */
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
    int sync_failed;          /* after a failed sync, durability is unknowable: every later
                                 sync returns this, with sync_err as its message */
    char sync_err[MLG_ERRMSG_MAX];

    uint64_t retention_check_ns; /* when the background thread last applied retention */
    int64_t rec_info[8];         /* maplog_recovery_key -> value */
    char rec_report[MLG_ERRMSG_MAX];
};

/* recovery.c: bring an existing log (or a new one) to the state where cur is the segment
 * to append to.  Called with dirfd open and the lock held. */
int mlg__recover(struct maplog *log);
/* writer.c helpers recovery uses */
/* Prepare a spare segment under the file name name (MLG_SPARE_NAME or MLG_SPARE2_NAME). */
int mlg__seg_create(struct maplog *log, mlg__wseg **out, uint64_t size, const char *name);
int mlg__seg_activate(struct maplog *log, mlg__wseg *s, uint64_t first_seq);
void mlg__arm_flush(struct maplog *log, mlg__wseg *s, uint64_t from);
/* Pre-fault all of a segment not in use yet (MAPLOG_OPT_PREFAULT permitting). */
void mlg__seg_prefault(struct maplog *log, mlg__wseg *s);
void mlg__seg_free(mlg__wseg *s);
int mlg__seal_seg(struct maplog *log, mlg__wseg *s);
int mlg__sync_range(struct maplog *log, mlg__wseg *s, uint64_t end, uint64_t count,
                    uint64_t last_ts, uint32_t state);

#endif
