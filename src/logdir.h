/*
 * logdir.h -- the log directory (logdir.c): segment file names and the listing, the writer
 * lock probe, segments opened read-only (plain or archived) and as checked views,
 * archiving, removal, and the whole-log summary.
 */
#ifndef MLG_LOGDIR_H
#define MLG_LOGDIR_H

#include "internal.h"

/* ---- segment files ---- */
void mlg__seg_name(char out[32], uint64_t first_seq);
/* 1 if name is a segment file name, with *first_seq set; 0 otherwise. */
int mlg__parse_seg_name(const char *name, uint64_t *first_seq);
/* The first_seq of every segment file in dirfd, sorted.  *seqs is malloc'd (free it).
 * *other counts the entries that are neither segments nor maplog's own files. */
int mlg__list_segments(int dirfd, uint64_t **seqs, size_t *n, size_t *other, char *err,
                       const char *dir);

/* Map segment first_seq of the log read-only: the file NAME.mlog (MAP_PRIVATE), or its
 * archive NAME.mlogz inflated into anonymous memory.  *archived says which.  Unmap with
 * munmap(*map, *size).  0, or an error with err set (MAPLOG_ENOENT if neither exists). */
int mlg__seg_map_ro(int dirfd, const char *dir, uint64_t first_seq, uint8_t **map, uint64_t *size,
                    int *archived, char *err);
/* Compress sealed segment first_seq into NAME.mlogz (via NAME.mlogz.tmp, fsync, rename),
 * then remove NAME.mlog.  level: zlib level. */
int mlg__archive_segment(int dirfd, const char *dir, uint64_t first_seq, int level, char *err);
/* Is a writer holding the log in dirfd?  A shared lock attempt on the lock file tells,
 * without writing anything; a missing lock file means no writer. */
int mlg__writer_alive(int dirfd);
/* Bytes the segment's file takes (the archive's size if archived), 0 if missing. */
uint64_t mlg__seg_file_size(int dirfd, uint64_t first_seq);
/* 1 if segment first_seq is sealed, 2 if it is archived, 0 otherwise (or unreadable);
 * with its largest timestamp, record count, the bytes its file takes and (log_id may be
 * NULL) its log id.  Reads only the header page (or the archive's header). */
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
    char header_err[MLG_ERRMSG_MAX];
    int seal_state; /* 1 valid, 0 none, -1 damaged */
    mlg__seal seal;
    mlg__scan_result scan; /* the valid prefix */
    uint64_t hw;           /* end of non-zero bytes after the prefix */
    int have_ck;
    mlg__checkpoint ck;
} mlg__segview;

/* Map and analyse segment first of the log in dirfd.  Returns 0 (with v->header_ok saying
 * whether the rest is meaningful) or an error code when the file cannot be read at all.
 * id: the log id the header must carry, or NULL.  scan: also scan the records. */
int mlg__segview_open(int dirfd, const char *dir, uint64_t first, const uint8_t *id, int scan,
                      mlg__segview *v, char *err);
void mlg__segview_close(mlg__segview *v);
/* Open the log directory dir and list its segments (at least one: else MAPLOG_ENOTLOG).
 * On success *dirfd and *segs (malloc'd) are the caller's. */
int mlg__logdir_open(const char *dir, int *dirfd, uint64_t **segs, size_t *n, char *err);

/* Whole-log figures (seals, plus a scan of unsealed segments). */
typedef struct mlg__summary {
    uint64_t next_seq, used, allocated, first_ts, last_ts;
} mlg__summary;
int mlg__log_summary(int dirfd, const char *dir, const uint64_t *segs, size_t n, mlg__summary *out,
                     char *err);

#endif
