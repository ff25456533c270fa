/*
 * reader.h -- the reader's handle, shared by reader.c (replay, follow, figures) and seek.c
 * (the sparse index, seek by sequence number and by time).
 */
#ifndef MLG_READER_H
#define MLG_READER_H

#include "internal.h"
#include "logdir.h"

#define IX_EVERY 64

typedef struct ix_ent {
    uint64_t off, seq, maxts_before;
} ix_ent;

typedef struct mlg__pager mlg__pager;

struct maplog_reader {
    char *dir;
    int dirfd;
    uint64_t *segs;
    size_t nsegs, idx;
    int fd;
    uint8_t *map; /* PROT_READ: never written through */
    uint64_t size, first;
    uint64_t off, seq;
    uint8_t log_id[16];
    int have_id;
    ix_ent *ix;
    size_t nix, cap_ix;
    uint64_t ix_off, ix_seq, ix_maxts; /* index built up to here */
    int ix_done;
    uint64_t last_list_ns;
    int64_t torn_off, torn_bytes;
    int torn_valid_after;
    int flags; /* maplog_reader_open()'s */
    /* The whole-log figures, kept while the log has no writer and its files are as they
     * were: the segment list's ends and length, the last segment's checkpoint. */
    int fig_valid;
    mlg__summary fig;
    mlg__err fig_err;
    size_t fig_nsegs;
    uint64_t fig_first, fig_last, fig_gen;
    int have_last; /* next() returned a record: its seq and stored CRC, for a cursor */
    uint64_t last_seq;
    uint32_t last_crc;
    /* maplog_reader_record_image(): the extent of the record next() returned last, in the
     * mapping; NULL after a call that returned no record and after a positioning call */
    const uint8_t *img;
    uint64_t img_len;
    uint64_t holes, lost, voids; /* what it stepped over: MAPLOG_INFO_HOLES, _LOST, _VOIDS */
    /* mlg__reader_step_hole found no hole at nohole_off of segment nohole_first, with
     * nohole_word there and checkpoint generation nohole_gen */
    int nohole_valid;
    uint64_t nohole_first, nohole_off, nohole_word, nohole_gen;
    int cur_gone;          /* the mapped segment was removed from the directory (retention) */
    uint64_t dropped_to;   /* pages before this offset were handed back (MADV_DONTNEED) */
    int archived;          /* the map is an archive inflated into anonymous memory: never
                              handed back here, it would read as zeros */
    mlg__arch *arch;       /* an archive of blocks: inflated as the reader reaches them */
    uint64_t lim;          /* records are checked within [0, lim): the segment's size, or
                              the end of an archive's inflated blocks */
    uint64_t inflated;     /* bytes of archives inflated, segments unmapped since open */
    uint64_t populated_to; /* pages before this offset were asked to be mapped ahead */
    uint64_t populate_at;  /* ask for more when the reader gets here */
    mlg__pager *pager;     /* pager.c, started by the first request */
    uint64_t run_off;      /* where the reader's present run of in-order reading began */
    uint64_t run_next;     /* where the record after the last one returned begins */
    char name[32];
    mlg__err err;
    /* Following (follow.c) */
    mlg__wake wake;         /* the log's wake page, once a wait needed it */
    uint64_t wake_tried_ns; /* when attaching it last failed */
    uint64_t spin_ns;       /* maplog_reader_set_spin() */
    int poll_fd;            /* maplog_reader_fd(): an epoll set of ino_fd and timer_fd */
    int ino_fd, timer_fd;   /* inotify on maplog.lock; the fallback timer */
    uint64_t timer_ns;      /* the timer's period (0: off) */
    int watch_wd;           /* the inotify watch on the mapped wake page's file, or -1 */
};

/* pager.c: map [addr, addr + len) in the pager's thread (started on first use), ahead of
 * the reader; -1 if no thread could be started (map it yourself).  A newer request
 * replaces one not yet started. */
int mlg__pager_post(mlg__pager **pp, uint8_t *addr, size_t len);
/* Run job(arg) in the pager's thread (started on first use), replacing a request not yet
 * started; -1 if no thread could be started. */
int mlg__pager_post_job(mlg__pager **pp, void (*job)(void *), void *arg);
/* Drop a request not yet started and wait for the one under way: call before unmapping. */
void mlg__pager_quiesce(mlg__pager *p);
/* Stop and free the pager (NULL is fine). */
void mlg__pager_free(mlg__pager *p);

/* seek.c: add an index entry (the slow path of mlg__index_note) */
void mlg__index_add(maplog_reader *r, uint64_t off, uint64_t seq);

/* Extend the index when plain reading walks past its end: every record replay returns
 * passes here, so it is inline in reader.c's loop, and only every 64th record leaves it.
 * size: the bytes the record at off occupies. */
static inline void mlg__index_note(maplog_reader *r, uint64_t off, uint64_t seq, uint64_t ts,
                                   uint64_t size)
{
    if (r->ix_done || off != r->ix_off || seq != r->ix_seq)
        return;
    if ((seq - r->first) % IX_EVERY == 0)
        mlg__index_add(r, off, seq);
    r->ix_off = off + size;
    r->ix_seq = seq + 1;
    if (ts > r->ix_maxts)
        r->ix_maxts = ts;
}
/* reader.c */
int mlg__reader_map_seg(maplog_reader *r, size_t i);
/* A walk over the mapped segment (seek.c): an archive's blocks are inflated as it asks. */
void mlg__reader_ahead_init(maplog_reader *r, mlg__ahead *a);
int mlg__reader_refresh_list(maplog_reader *r);
/* Step over a hole a crash left at the reader's place (no writer holds the log): 1 if it
 * did. */
int mlg__reader_step_hole(maplog_reader *r);
/* Could next() make progress now (a record, an end, a hole to step over)? */
int mlg__reader_progress(maplog_reader *r);
/* follow.c */
void mlg__reader_follow_init(maplog_reader *r);
void mlg__reader_follow_close(maplog_reader *r);
/* Let go of the wake page (maplog.lock was replaced): the next wait maps the new one. */
void mlg__reader_wake_reattach(maplog_reader *r);
/* A reader with a descriptor is at its end: clear the descriptor, ask to be woken, and
 * say whether next() could make progress after all (1). */
int mlg__reader_fd_rearm(maplog_reader *r);
/* 1 if a search found no hole at the reader's place, and nothing there changed since. */
int mlg__reader_no_hole_known(const maplog_reader *r);

#endif
