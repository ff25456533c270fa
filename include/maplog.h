/*
 * maplog.h -- the one public header of maplog, an append-only, memory-mapped log store.
 *
 * A log is a directory of segment files.  A writer (maplog) appends records into a
 * MAP_SHARED mapping of the current segment; readers (maplog_reader) replay the segments
 * through read-only views, verify every record's CRC-32C, and may follow a log that another
 * process is writing.  docs/FORMAT.md specifies the files byte by byte; docs/DESIGN.md says
 * what survives a process crash and what survives a power loss in each durability mode.
 *
 * Conventions, for every function below:
 *   - Functions that can fail return int: 0 on success, a negative MAPLOG_E* code on
 *     failure.  maplog_strerror() names a code; maplog_errmsg() / maplog_reader_errmsg()
 *     give the last failure on a handle with the file, the offset and what was wrong.
 *   - Results are returned through out-pointers, never mixed into the return value.
 *   - The library never prints, never calls exit(), and never raises a signal on purpose.
 *   - Handles are opaque.  *_close() functions accept NULL and half-opened handles.
 */
#ifndef MAPLOG_H
#define MAPLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Marks the library's interface: the shared library is built with hidden visibility and
 * exports these declarations only. */
#if defined(__GNUC__) || defined(__clang__)
#define MAPLOG_API __attribute__((visibility("default")))
#else
#define MAPLOG_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions ------------------------------------------------------------------------ */

#define MAPLOG_VERSION_MAJOR 0
#define MAPLOG_VERSION_MINOR 1
#define MAPLOG_VERSION_PATCH 0
#define MAPLOG_VERSION_NUMBER                                                                      \
    (MAPLOG_VERSION_MAJOR * 10000 + MAPLOG_VERSION_MINOR * 100 + MAPLOG_VERSION_PATCH)

/* The on-disk format version this library writes (docs/FORMAT.md); separate from the
 * library version above. */
#define MAPLOG_FORMAT_VERSION 1

/* The library's version string, e.g. "0.1.0".  Static storage; never free it. */
MAPLOG_API const char *maplog_version(void);
/* MAPLOG_VERSION_NUMBER of the library actually linked. */
MAPLOG_API int maplog_version_number(void);

/* ---- error codes --------------------------------------------------------------------- */

#define MAPLOG_OK 0
#define MAPLOG_EINVAL (-1)     /* an argument is out of range */
#define MAPLOG_EIO (-2)        /* a system call failed; the handle message names it and errno */
#define MAPLOG_ENOMEM (-3)     /* out of memory or address space */
#define MAPLOG_ECORRUPT (-4)   /* on-disk data failed a check; the message says where */
#define MAPLOG_ENOTLOG (-5)    /* the path is not a maplog directory */
#define MAPLOG_ETOOBIG (-6)    /* the record cannot fit in one segment */
#define MAPLOG_ELOCKED (-7)    /* another process holds the log for writing */
#define MAPLOG_ENOSPC (-8)     /* the file system is full: no new segment could be reserved */
#define MAPLOG_END (-9)        /* a reader has no further record (yet) */
#define MAPLOG_ETIMEDOUT (-10) /* a wait ran out of time */
#define MAPLOG_ENOENT (-11)    /* no such log, or the record asked for is not (or no more) there */
#define MAPLOG_EVERSION (-12)  /* a file needs a newer format version or an unknown feature */
#define MAPLOG_ECLOSED (-13)   /* a sync failed earlier on this handle: durability is unknown */
#define MAPLOG_ESTALE                                                                              \
    (-14) /* a cursor names a record this log does not hold (another log's,                        \
             or one cut by recovery and written again) */

/* A short English description of code.  Static storage; never NULL. */
MAPLOG_API const char *maplog_strerror(int code);

/* ---- options ------------------------------------------------------------------------- */

/* Options are set by key so that adding one never changes a signature. */
typedef enum maplog_option {
    /* Size of each segment file in bytes: a multiple of 4096, from 64 KiB to 1 GiB.
     * Default 64 MiB.  Applies to segments created from now on. */
    MAPLOG_OPT_SEGMENT_SIZE = 1,
    /* 1 (default): create the directory and the log when missing; 0: fail with
     * MAPLOG_ENOENT instead. */
    MAPLOG_OPT_CREATE = 2,
    /* Durability mode, one of enum maplog_durability.  Default MAPLOG_DURABILITY_ASYNC. */
    MAPLOG_OPT_DURABILITY = 3,
    /* Flusher: start write-back at least this often (milliseconds).  Default 1000;
     * 0 turns the time trigger off. */
    MAPLOG_OPT_FLUSH_INTERVAL_MS = 4,
    /* Flusher: start write-back after this many bytes were appended to the segment being
     * written.  Default 64 MiB (a default segment: sealing a full segment writes it back
     * anyway); 0 turns the byte trigger off.  Lower bounds the unflushed data more tightly,
     * at a cost to bursts of appends faster than the disk: write-back of the segment being
     * appended to contends with its page faults (maplog-bench's "flush 8 MiB" row). */
    MAPLOG_OPT_FLUSH_BYTES = 5,
    /* MAPLOG_DURABILITY_SYNC_EVERY: make records durable in groups of this many (group
     * commit): an append returns before it is durable unless it completes a group.
     * Default 1: every append returns only once it is durable. */
    MAPLOG_OPT_SYNC_EVERY = 6,
    /* Permission bits for files and directories the log creates (umask still applies).
     * Default 0640 for files; directories get the same bits plus search (x) where r is set. */
    MAPLOG_OPT_FILE_MODE = 7,
    /* 1 (default): recovery refuses to open a log whose synced records are damaged
     * (MAPLOG_ECORRUPT).  0: truncate at the last valid record anyway (what
     * `maplog recover --apply` does after telling the operator what it drops). */
    MAPLOG_OPT_STRICT_RECOVERY = 8,
    /* 1 (default): touch every page of the next segment ahead of time so a rollover costs
     * the appender no page faults; 0: leave the pages to be faulted in on first write. */
    MAPLOG_OPT_PREFAULT = 9,
    /* Retention: remove the oldest segments, whole and in order, once the log holds more
     * than this many segment files (0, the default: no limit).  The segment being written
     * is never removed.  Applied by the background thread after each segment is sealed
     * (and about once a second for the age limit), never by an append, and by maplog_sync()
     * and maplog_close() before they return.  A reader that still maps a removed segment
     * keeps reading it: removing a mapped file is safe on POSIX. */
    MAPLOG_OPT_RETAIN_SEGMENTS = 10,
    /* Retention: keep at most this many bytes of segment files (0: no limit). */
    MAPLOG_OPT_RETAIN_BYTES = 11,
    /* Retention: remove sealed segments whose newest record is older than this many
     * milliseconds (0: no limit). */
    MAPLOG_OPT_RETAIN_AGE_MS = 12,
    /* 1: compress each sealed segment with zlib into NAME.mlogz (docs/FORMAT.md,
     * "Archived segments"), in the background; readers and the tool read it transparently.
     * Sealed segments an earlier writer left plain (it closed or died before they were
     * compressed) are compressed too, after open.  Default 0.  See also maplog_archive(). */
    MAPLOG_OPT_ARCHIVE = 13,
} maplog_option;

typedef enum maplog_durability {
    /* No flusher, no syncs: the OS writes back when it likes.  Survives a process crash. */
    MAPLOG_DURABILITY_NONE = 0,
    /* A background thread starts write-back on the time/byte policy; maplog_sync() is
     * durable.  Survives a process crash; a power loss keeps what was synced. */
    MAPLOG_DURABILITY_ASYNC = 1,
    /* Every MAPLOG_OPT_SYNC_EVERY-th append (N) makes itself and the records before it
     * durable before it returns, sharing one sync (group commit across threads): a power
     * loss loses at most the last N-1 acknowledged records; with N = 1 (the default), none. */
    MAPLOG_DURABILITY_SYNC_EVERY = 2,
} maplog_durability;

typedef struct maplog_options maplog_options;

/* Allocate options holding the defaults.  Free with maplog_options_free().  Returns 0,
 * MAPLOG_EINVAL (out NULL) or MAPLOG_ENOMEM. */
MAPLOG_API int maplog_options_create(maplog_options **out);
/* Set key to value.  MAPLOG_EINVAL for an unknown key or a value out of range. */
MAPLOG_API int maplog_options_set(maplog_options *opts, maplog_option key, int64_t value);
/* Read back the value of key.  MAPLOG_EINVAL for an unknown key or NULL arguments. */
MAPLOG_API int maplog_options_get(const maplog_options *opts, maplog_option key, int64_t *value);
/* Free options.  NULL is fine.  A log opened with them does not keep a pointer to them. */
MAPLOG_API void maplog_options_free(maplog_options *opts);

/* Give the log an identity instead of a new one: for a log that continues another, as a
 * mirror does that appends the records it copies so that they keep their log id and their
 * sequence numbers (and, through maplog_append_ts(), their timestamps).  log_id: 16 bytes,
 * not all zero; first_seq: at most INT64_MAX.
 *   - A log created with these options (its directory holds no segment yet) gets log_id as
 *     its id, and its first segment starts at first_seq: its first append gets first_seq.
 *   - Opening an existing log with these options: a log with another id is refused with
 *     MAPLOG_EINVAL, whose message (maplog_last_open_error()) names the directory and both
 *     ids in hex; recovery checks the id before it cuts, voids or seals anything.  A log
 *     with this id opens as it would without them: first_seq is not checked against it
 *     (maplog_next_seq() says where it goes on).
 * log_id NULL takes the identity off again.  Returns 0, or MAPLOG_EINVAL (opts NULL, log_id
 * all zero, first_seq past INT64_MAX). */
MAPLOG_API int maplog_options_set_identity(maplog_options *opts, const uint8_t log_id[16],
                                           uint64_t first_seq);
/* The identity set on opts: 0 with log_id and *first_seq filled in; MAPLOG_ENOENT when none
 * is set; MAPLOG_EINVAL for NULL arguments. */
MAPLOG_API int maplog_options_get_identity(const maplog_options *opts, uint8_t log_id[16],
                                           uint64_t *first_seq);

/* ---- writing ------------------------------------------------------------------------- */

typedef struct maplog maplog;

/* Open (and, with MAPLOG_OPT_CREATE, create) the log in directory dir for appending.
 * opts may be NULL for the defaults; it is copied.  Only one process may hold a log for
 * writing: another gets MAPLOG_ELOCKED at once.  Opening runs recovery (docs/FORMAT.md,
 * "Recovery"): the last segment is scanned, a torn tail is cut off, and damage to records
 * that were synced is reported as MAPLOG_ECORRUPT rather than silently dropped.
 * On failure *out is NULL; the reason is in the return code and, for the text, use
 * maplog_last_open_error() in the same thread.
 * Returns 0; MAPLOG_EINVAL (NULL arguments); MAPLOG_ENOENT (no such directory and no
 * MAPLOG_OPT_CREATE, or its parent directory missing); MAPLOG_ELOCKED; MAPLOG_ECORRUPT or
 * MAPLOG_EVERSION (recovery found damage it may not cut, or a newer format); MAPLOG_ENOSPC;
 * MAPLOG_ENOMEM; MAPLOG_EIO. */
MAPLOG_API int maplog_open(maplog **out, const char *dir, const maplog_options *opts);

/* The message of the last failed maplog_open() or maplog_reader_open() in this thread. */
MAPLOG_API const char *maplog_last_open_error(void);

/* Flush, write a clean-shutdown checkpoint, stop the background thread, unmap and release
 * the lock.  Every appended record is on disk (synced) when it returns 0.  NULL is fine.
 * The handle is freed even when an error is returned.  Not to be called concurrently
 * with any other call on the same handle.
 * Returns 0; MAPLOG_EIO or MAPLOG_ENOSPC when the final sync failed; MAPLOG_ECLOSED when an
 * earlier sync had failed (maplog_errmsg(NULL) names that failure): the records are on
 * disk but not known durable, and reopening the log recovers them. */
MAPLOG_API int maplog_close(maplog *log);

/* Append one record of len bytes from buf; on success *seq (if not NULL) is its sequence
 * number.  Sequence numbers are dense, start at 0 (or at the first_seq of
 * maplog_options_set_identity()) and continue across segments and reopens.  len may be 0;
 * the largest record is the segment size less 4112 bytes, a larger one fails with
 * MAPLOG_ETOOBIG.  The record is visible to readers and survives a crash
 * of this process once the call returns and every earlier append has returned.
 * Thread-safe: any number of threads may append to one handle.  Not async-signal-safe: a
 * signal handler must not append to a handle its thread may be appending to.
 * Returns 0; MAPLOG_EINVAL (NULL log, or NULL buf with len > 0); MAPLOG_ETOOBIG;
 * MAPLOG_ENOSPC or MAPLOG_EIO when a new segment was needed and could not be had (every
 * earlier record is intact; the record was not appended).  In MAPLOG_DURABILITY_SYNC_EVERY
 * mode, also what maplog_sync() returns: the record is appended, but not known durable. */
MAPLOG_API int maplog_append(maplog *log, const void *buf, size_t len, uint64_t *seq);

/* As maplog_append, with the record's timestamp given instead of read from the clock:
 * for importing records with their original time.  Readers' seek by time assumes
 * timestamps mostly rise with sequence numbers (docs/DESIGN.md, "Readers"). */
MAPLOG_API int maplog_append_ts(maplog *log, const void *buf, size_t len, uint64_t timestamp_ns,
                                uint64_t *seq);

/* Append a void record (see MAPLOG_RECORD_VOID): it takes the next sequence number and
 * carries nothing.  For tools that copy a log holding voids, as `maplog import` does, so
 * that every record keeps its sequence number.  Returns what maplog_append() returns. */
MAPLOG_API int maplog_append_void(maplog *log, uint64_t *seq);

/* As maplog_append, with the payload gathered from iovcnt buffers. */
MAPLOG_API int maplog_appendv(maplog *log, const struct iovec *iov, int iovcnt, uint64_t *seq);

/* Build a record in place, with no copy.  maplog_reserve() sets res->data to len writable
 * bytes inside the mapping and res->seq to the record's sequence number; the caller fills
 * res->data and then calls maplog_commit(), which publishes it.  Until then readers (and
 * every later record) wait for it, so commit promptly and always: a reservation cannot be
 * withdrawn.  res->data is valid only until maplog_commit().  The other fields of the
 * reservation are the library's; leave them alone. */
typedef struct maplog_reservation {
    void *data;   /* where to write the payload: len bytes */
    size_t len;   /* the payload length asked for */
    uint64_t seq; /* the record's sequence number */
    uintptr_t internal_[3];
} maplog_reservation;

/* maplog_reserve() returns what maplog_append() does before the copy (MAPLOG_EINVAL,
 * MAPLOG_ETOOBIG, MAPLOG_ENOSPC, MAPLOG_EIO); maplog_commit() returns 0, MAPLOG_EINVAL for a
 * reservation it did not make, or in SYNC_EVERY mode what maplog_sync() returns. */
MAPLOG_API int maplog_reserve(maplog *log, size_t len, maplog_reservation *res);
MAPLOG_API int maplog_commit(maplog *log, maplog_reservation *res);

/* Make every record appended before this call durable (it reaches stable storage), and
 * record the durable point in the segment header so recovery can tell a torn tail from
 * damage to synced data.  Thread-safe; concurrent callers share one sync.
 * Returns 0; MAPLOG_EINVAL for NULL; MAPLOG_EIO or MAPLOG_ENOSPC when this sync, or a seal
 * or write-back the background thread ran since the last call, failed (the message names
 * the call and the file).  A failed sync poisons durability for the handle: Linux may have
 * marked the pages clean, so no retry can prove them written.  Every later sync (and
 * close, and a SYNC_EVERY append) returns MAPLOG_ECLOSED with the first failure's message;
 * appends still work and a crash of the process still keeps them; reopening the log runs
 * recovery, which syncs what it finds. */
MAPLOG_API int maplog_sync(maplog *log);

/* Compress every sealed segment of the log that is not compressed yet into NAME.mlogz
 * (docs/FORMAT.md, "Archived segments"), now, on the calling thread -- what
 * MAPLOG_OPT_ARCHIVE does in the background; the segment being written stays as it is.
 * *count (if not NULL): the segments compressed.  A segment that cannot be compressed (no
 * room, say) is left plain, which readers read as well.  Returns 0, or MAPLOG_EINVAL for
 * NULL. */
MAPLOG_API int maplog_archive(maplog *log, uint64_t *count);

/* The number of records known durable: records with seq < *count survived a power loss.
 * 0 when nothing is known durable. */
MAPLOG_API int maplog_durable_count(maplog *log, uint64_t *count);

/* The sequence number the next append will get: one past the last record's (in a log that
 * started at seq 0, the number of records it has held, any removed by retention included). */
MAPLOG_API int maplog_next_seq(maplog *log, uint64_t *next);

/* What recovery did when maplog_open() opened this log (keys below), for operators and
 * tools.  The values stay fixed for the handle's life. */
typedef enum maplog_recovery_key {
    MAPLOG_RECOVERY_CLEAN = 1,      /* 1: the previous writer closed cleanly */
    MAPLOG_RECOVERY_RECORDS = 2,    /* records found in the last segment */
    MAPLOG_RECOVERY_CUT_OFFSET = 3, /* 0, or where a torn tail was cut off */
    MAPLOG_RECOVERY_CUT_BYTES = 4,  /* bytes zeroed there */
    MAPLOG_RECOVERY_SAVED_TAIL = 5, /* 1: valid records followed the damage, so the cut
                                       bytes were kept in a file (see the report) */
    MAPLOG_RECOVERY_SEALED = 6,     /* older segments a crash left unsealed, sealed now */
    MAPLOG_RECOVERY_REMOVED = 7,    /* empty segments (a rollover cut short) removed */
    MAPLOG_RECOVERY_VOIDED = 8,     /* records reserved but never published before a crash,
                                       with later records kept: now void records */
} maplog_recovery_key;

MAPLOG_API int maplog_recovery_info(const maplog *log, maplog_recovery_key key, int64_t *value);

/* The same as one sentence, e.g. "clean shutdown; 120 records" or "crash recovery: cut a
 * torn tail of 37 bytes at offset 81920 of 00000000000000001024.mlog".  Owned by the
 * handle; valid until maplog_close().  Never NULL. */
MAPLOG_API const char *maplog_recovery_report(const maplog *log);

/* The last failure of a call this thread made on a log handle: file, offset and what was
 * wrong.  Thread-local storage, valid until this thread's next maplog call.  Failures of
 * the background thread reach callers through the next maplog_sync() (or close), which
 * returns them with this message.  log may be NULL (e.g. after a failed maplog_close()).
 * Never NULL. */
MAPLOG_API const char *maplog_errmsg(const maplog *log);

/* Counters of a writer, for tools and benchmarks. */
typedef enum maplog_writer_info {
    MAPLOG_WINFO_WAKE_CALLS = 1, /* system calls this handle made to wake followers (futex
                                    wakes and descriptor pokes): none while none sleeps */
} maplog_writer_info;
/* Returns 0, or MAPLOG_EINVAL for NULL or an unknown key. */
MAPLOG_API int maplog_writer_info_get(const maplog *log, maplog_writer_info key, int64_t *value);

/* ---- reading ------------------------------------------------------------------------- */

typedef struct maplog_reader maplog_reader;

/* One record as a reader returns it. */
typedef struct maplog_record {
    uint64_t seq;          /* sequence number */
    uint64_t timestamp_ns; /* CLOCK_REALTIME nanoseconds since the Unix epoch, at append */
    const void *data;      /* payload; see maplog_reader_next() for how long it is valid */
    size_t len;            /* payload length in bytes */
    uint32_t flags;        /* MAPLOG_RECORD_VOID, or 0 */
} maplog_record;

/* rec->flags: the record is void -- it was reserved, but the process died before it was
 * published, and later records were kept (docs/FORMAT.md, "Holes and void records").  It
 * keeps its sequence number and carries nothing: timestamp_ns 0, len 0, data NULL.
 * Readers return voids only when opened with MAPLOG_READER_VOIDS. */
#define MAPLOG_RECORD_VOID 1u

/* maplog_reader_open() flags. */
#define MAPLOG_READER_VOIDS 1 /* also return void records (rec->flags says which) */

/* Open a reader on the log in dir.  Never writes a segment (a waiting follower sets a bit
 * in maplog.lock: see maplog_reader_wait()); works on read-only copies and while a writer
 * (in this or another process) is appending.  flags: 0 or
 * MAPLOG_READER_VOIDS.  The reader is positioned at the first record still present.
 *
 * A log that a crash left behind, not yet recovered (no writer holds it), is read as it
 * is: the reader returns every record it can prove valid, stepping over what a crash
 * leaves -- records reserved but never published (holes, which recovery turns into void
 * records) and records lost between segments because they never reached the disk before
 * a power loss (recovery cuts the log there).  MAPLOG_INFO_HOLES and MAPLOG_INFO_LOST
 * count what it stepped over; none of it is reported as MAPLOG_ECORRUPT.
 * Returns 0; MAPLOG_EINVAL (NULL arguments); MAPLOG_ENOENT (no such directory);
 * MAPLOG_ENOTLOG (not a directory, or no segment file in it); MAPLOG_ENOMEM; MAPLOG_EIO.
 * On failure *out is NULL and maplog_last_open_error() has the text. */
MAPLOG_API int maplog_reader_open(maplog_reader **out, const char *dir, int flags);

/* Close a reader and unmap everything it mapped.  NULL is fine. */
MAPLOG_API void maplog_reader_close(maplog_reader *r);

/* Return the next record in *rec, after verifying its CRC.  rec->data points into a
 * read-only mapping and stays valid until the next call on this reader (any call).
 * Returns MAPLOG_END when no further complete record exists now (a live log may grow:
 * see maplog_reader_wait()); MAPLOG_ECORRUPT when a record fails its check in a place
 * where a record must be (the message names segment file and offset) -- the reader then
 * stays at that record, and maplog_reader_skip_segment() moves past the damage.
 * A torn or corrupt record is never returned as data.  One reader is for one thread.
 * Also: MAPLOG_EINVAL (NULL arguments); MAPLOG_ENOENT when the next segment was removed
 * (retention) before the reader reached it -- seek to the first record present to go on;
 * MAPLOG_EVERSION for a segment of a newer format; MAPLOG_EIO or MAPLOG_ENOMEM when a
 * segment could not be opened or mapped. */
MAPLOG_API int maplog_reader_next(maplog_reader *r, maplog_record *rec);

/* Up to max records at once, into recs[0..*got): what as many maplog_reader_next() calls
 * would return, every CRC verified, for a loop that wants fewer calls (a replay, a binding
 * from another language).  Returns 0 with *got >= 1; or, with *got == 0, what
 * maplog_reader_next() would return instead of a record (MAPLOG_END, MAPLOG_ECORRUPT, ...).
 * A batch stops before anything but a valid record, which the next call then reports.
 * Every record's data stays valid until the next call on this reader (any call);
 * maplog_reader_record_image() and maplog_reader_cursor() then refer to the batch's last
 * record.  MAPLOG_EINVAL for NULL arguments or max 0. */
MAPLOG_API int maplog_reader_next_batch(maplog_reader *r, maplog_record *recs, size_t max,
                                        size_t *got);

/* Position the reader so that the next record returned has sequence number seq.
 * O(log n) in the number of segments plus a binary search in the segment's index.
 * MAPLOG_ENOENT when seq is before the first record present.  A seq equal to the next
 * sequence number the log will give positions at the end (a following reader then waits
 * for it) and returns 0; a seq past that positions at the end too, but returns MAPLOG_END
 * (the message says where the log ends), since the next record will have a smaller seq.
 * Also MAPLOG_EINVAL, and what maplog_reader_next() returns when the segment cannot be
 * opened. */
MAPLOG_API int maplog_reader_seek(maplog_reader *r, uint64_t seq);

/* Position the reader at the first record whose timestamp, or any earlier record's
 * timestamp, is >= ts_ns (timestamps from one appending thread never go backwards).
 * Returns 0, MAPLOG_END when the log has no segment, MAPLOG_EINVAL, or what
 * maplog_reader_next() returns when the segment cannot be opened. */
MAPLOG_API int maplog_reader_seek_time(maplog_reader *r, uint64_t ts_ns);

/* Wait until a record past the reader's position may be available, or timeout_ms
 * passes (-1: no limit).  Returns 0 when maplog_reader_next() should be tried again,
 * MAPLOG_ETIMEDOUT when the time ran out, MAPLOG_EINVAL for NULL.  Follows the log across
 * segment rollovers, retention and a new writer after a crash.
 * It spins first (maplog_reader_set_spin()), so a busy log is followed at memory latency,
 * then sleeps until the writer -- in any process -- publishes a record, opens or closes
 * the log: an idle follower costs no CPU and wakes within microseconds.  A writer that
 * dies wakes no one; a sleeper looks again at least every 200 ms regardless.  Sleeping
 * needs write access to the log's maplog.lock (docs/FORMAT.md, "The wake page", says what
 * that access allows); a reader without it, or on a log no writer of this version has
 * opened, polls at up to 1 ms. */
MAPLOG_API int maplog_reader_wait(maplog_reader *r, int timeout_ms);

/* How long maplog_reader_wait() spins before it sleeps, in microseconds (0 to 1000000;
 * default MAPLOG_READER_SPIN_US).  Spinning holds a CPU; a record that arrives while it
 * spins is seen in well under a microsecond, one that arrives later in the time a wake-up
 * takes (tens of microseconds).  Returns 0 or MAPLOG_EINVAL. */
#define MAPLOG_READER_SPIN_US 50
MAPLOG_API int maplog_reader_set_spin(maplog_reader *r, int spin_us);

/* A file descriptor for an event loop (poll, epoll, libuv, ...): it becomes readable when
 * maplog_reader_next() may return a record (or the writer opened, closed or died), and
 * never needs reading -- call maplog_reader_next() until MAPLOG_END, which clears it and
 * asks to be woken again (a call that returns an error leaves it readable).  Readable may
 * be spurious: MAPLOG_END then means wait again; it also becomes readable every 200 ms
 * regardless, as maplog_reader_wait() looks again, and every 10 ms without the log's wake
 * page (see maplog_reader_wait()).  When a record is there already it is readable at
 * once.  The reader owns it (maplog_reader_close() closes it; do not close it yourself);
 * the same one is returned each time.  Returns the descriptor, MAPLOG_EINVAL, or
 * MAPLOG_EIO when the system gave no descriptor (the message says why). */
MAPLOG_API int maplog_reader_fd(maplog_reader *r);

/* Skip the rest of the current segment after a MAPLOG_ECORRUPT, to read what follows.
 * The records skipped are lost to this reader; the caller decides whether that is fine.
 * Returns 0, MAPLOG_END when there is no later segment, or MAPLOG_EINVAL. */
MAPLOG_API int maplog_reader_skip_segment(maplog_reader *r);

/* The last failure on this reader, naming file and offset.  Owned by the reader; valid
 * until the next call on it.  Never NULL. */
MAPLOG_API const char *maplog_reader_errmsg(const maplog_reader *r);

/* Facts a reader has seen, for tools: see enum maplog_reader_info. */
typedef enum maplog_reader_info {
    MAPLOG_INFO_SEGMENTS = 1,         /* number of segment files in the log */
    MAPLOG_INFO_FIRST_SEQ = 2,        /* first sequence number present */
    MAPLOG_INFO_TORN_OFFSET = 3,      /* 0, or the offset in the last segment where a torn tail
                                         (bytes that are not a complete record) begins */
    MAPLOG_INFO_TORN_BYTES = 4,       /* length of that torn tail in bytes */
    MAPLOG_INFO_DURABLE_COUNT = 5,    /* records known durable by the last checkpoint */
    MAPLOG_INFO_CLEAN_SHUTDOWN = 6,   /* 1 if the writer closed cleanly, 0 if not, -1 if open */
    MAPLOG_INFO_TORN_VALID_AFTER = 7, /* 1 if a valid record follows the torn tail's first bad
                                         one (power loss reordering writes, or damage) */
    /* Whole-log figures, computed when asked (seals, plus a scan of unsealed segments): */
    MAPLOG_INFO_NEXT_SEQ = 8,         /* one past the last record's sequence number */
    MAPLOG_INFO_RECORDS = 9,          /* records a reader returns, reading from the first:
                                         NEXT_SEQ - FIRST_SEQ less void and lost records */
    MAPLOG_INFO_BYTES_USED = 10,      /* bytes of records, headers and padding included */
    MAPLOG_INFO_BYTES_ALLOCATED = 11, /* bytes of segment files */
    MAPLOG_INFO_FIRST_TS = 12,        /* timestamp of the first record, 0 if none */
    MAPLOG_INFO_LAST_TS = 13,         /* largest timestamp, 0 if none */
    MAPLOG_INFO_HOLES = 14, /* records this reader stepped over so far as holes a crash left:
                               reserved, never published (see maplog_reader_open) */
    MAPLOG_INFO_LOST = 15,  /* records this reader stepped over so far as lost between
                               segments in a crash: never durable, cut by recovery */
    MAPLOG_INFO_VOIDS = 16, /* void records this reader stepped over (or returned) so far */
    /* Whole-log figures, as NEXT_SEQ to LAST_TS: */
    MAPLOG_INFO_VOID_RECORDS = 17,       /* void records in the log, holes a crash left included */
    MAPLOG_INFO_LOST_RECORDS = 18,       /* records lost between segments in a crash (see
                                            maplog_reader_open) */
    MAPLOG_INFO_UNCOUNTED_SEGMENTS = 19, /* segment files no figure counts: the first of them
                                            cannot be read in order (damaged, another log's,
                                            or not continuing the records before it); the
                                            reader's message then says why */
    MAPLOG_INFO_INFLATED_BYTES = 20,     /* bytes of archived segments (NAME.mlogz) this reader
                                            inflated so far: an archive of blocks is inflated
                                            only where the reader reads (docs/FORMAT.md) */
    MAPLOG_INFO_MISSING_AFTER = 21,      /* -1; or, when the last segment is sealed and no
                                            writer holds the log, the first sequence number
                                            of the segment after it: that segment existed
                                            (a segment is sealed only once the next one is
                                            named) and is missing, with the records it held
                                            -- damage, which maplog_verify reports */
} maplog_reader_info;

/* Returns 0 with *value; MAPLOG_EINVAL for an unknown key or NULL arguments; MAPLOG_ENOENT
 * when the log has no segment now; MAPLOG_EIO or MAPLOG_ECORRUPT when a segment the figure
 * needs cannot be read (the message says which). */
MAPLOG_API int maplog_reader_info_get(maplog_reader *r, maplog_reader_info key, int64_t *value);

/* The log's identity: 16 random bytes chosen when the log was created, the same in every
 * segment (docs/FORMAT.md).  MAPLOG_ENOENT if no segment could be read yet. */
MAPLOG_API int maplog_reader_log_id(maplog_reader *r, uint8_t id[16]);

/* Cursors: positions an application can keep and trust (docs/FORMAT.md, "Cursors").  A
 * cursor is a short string naming the log (its id), a sequence number and a check of the
 * record there (its CRC), so that a cursor of another log, or of a record that recovery
 * cut and a later writer wrote again, is refused rather than silently followed. */
#define MAPLOG_CURSOR_MAX 80 /* bytes a cursor takes, its terminating NUL included */

/* The cursor of the record maplog_reader_next() returned last, into buf (len bytes, at
 * least MAPLOG_CURSOR_MAX).  Returns 0; MAPLOG_ENOENT when next() has returned no record
 * yet (nor a seek by cursor set one); MAPLOG_EINVAL for NULL or a short buffer. */
MAPLOG_API int maplog_reader_cursor(maplog_reader *r, char *buf, size_t len);

/* Position the reader just after the record cursor names: the next record returned is
 * the one after it.  Returns 0; MAPLOG_EINVAL for a string that is not a cursor;
 * MAPLOG_ESTALE when it names another log, or the record at its sequence number does not
 * match its check (cut by recovery after a crash and written again); MAPLOG_ENOENT when the
 * record was removed by retention (the reader is then at the first record present, which
 * follows it); MAPLOG_END when its sequence number is past the end of the log (the reader
 * is at the end).  The message says which, and where. */
MAPLOG_API int maplog_reader_seek_cursor(maplog_reader *r, const char *cursor);

/* ---- record images ------------------------------------------------------------------- */

/* The on-disk image of the record the last maplog_reader_next() returned: its 16-byte
 * header (the stored CRC-32C included), payload and padding -- the record's whole extent as
 * docs/FORMAT.md ("Records") defines it, and what maplog_record_decode() parses -- so that
 * the original bytes can be copied elsewhere.  *image points into the reader's mapping
 * (for an archived segment, the inflated copy) and is valid as long as that record's
 * rec->data is; this call ends nothing.  A void record's image is its header, zero
 * payload and padding: 16 bytes for those maplog_append_void() makes, more for those
 * recovery made to fill a lost record's extent (a reader returns voids only when opened
 * with MAPLOG_READER_VOIDS).  Returns 0; MAPLOG_EINVAL for NULL arguments, or when the
 * last maplog_reader_next() returned no record, or a positioning call (seek, seek by time,
 * seek to a cursor, skip segment) came after it. */
MAPLOG_API int maplog_reader_record_image(maplog_reader *r, const void **image, size_t *len);

/* Parse one record image at buf, at most avail bytes (laid out as in a segment:
 * docs/FORMAT.md, "Records"), as the record with sequence number seq, checked as a reader
 * checks it: a published length word, a length within avail, and the CRC-32C -- which
 * covers seq, so an image decoded as another sequence number fails.  A length larger than
 * any segment holds is refused too.  Padding bytes are not checked, as no reader checks
 * them (the CRC does not cover them).  On success returns 0 with *out as
 * maplog_reader_next() gives that record (out->data points into buf; a void record has
 * flags MAPLOG_RECORD_VOID, timestamp 0, data NULL and len 0), and *used the image's whole
 * size, padding included: a multiple of 8, at least 16; a batch's next image starts at
 * buf + *used.  On failure returns MAPLOG_ECORRUPT, leaves *out and *used alone and sets
 * *why to a sentence in static storage saying what was wrong, starting "truncated:", "CRC
 * mismatch:", "not a published record:", "not a record:", "no record:" or "impossible
 * length:"; MAPLOG_EINVAL for NULL arguments (buf may be NULL when avail is 0; why may be
 * NULL).  Reads nothing outside [buf, buf + avail); buf need not be aligned.  Never prints,
 * never allocates; thread-safe. */
MAPLOG_API int maplog_record_decode(const void *buf, size_t avail, uint64_t seq, maplog_record *out,
                                    size_t *used, const char **why);

/* ---- verifying and repairing --------------------------------------------------------- */

/* Called once per problem found: the file (a name inside the log directory), the offset in
 * it, and what is wrong.  The strings are valid during the call only. */
/* One finding of maplog_verify(), valid during the callback. */
typedef struct maplog_problem {
    const char *file; /* the segment file's name in the log directory */
    uint64_t offset;  /* where in it */
    const char *what; /* what is wrong, in a sentence */
    int kind;         /* MAPLOG_PROBLEM_DAMAGE or MAPLOG_PROBLEM_CRASH */
} maplog_problem;

/* Damage: data that was sealed or synced is not as written (bad CRC in a sealed segment,
 * a checkpoint past the valid records, a missing segment, a bad header, ...).  Something
 * that was promised may be lost; maplog recover --apply cuts there and keeps the bytes. */
#define MAPLOG_PROBLEM_DAMAGE 1
/* A crash state: what a crash leaves and recovery (maplog_open, or maplog recover --apply)
 * resolves without losing anything that was synced -- a torn tail, records reserved and
 * never published (holes, made void records), records lost between segments that never
 * reached the disk.  Reported only when no writer holds the log. */
#define MAPLOG_PROBLEM_CRASH 2

typedef void (*maplog_problem_fn)(void *ctx, const maplog_problem *p);
/* Called now and then with the bytes checked so far and the total. */
typedef void (*maplog_progress_fn)(void *ctx, uint64_t done, uint64_t total);

#define MAPLOG_VERIFY_QUICK 1 /* headers, seals and digests only; no record CRCs */

/* Check the log in dir and change nothing: every segment header, every seal and its XXH3
 * digest, every record's CRC (unless MAPLOG_VERIFY_QUICK), the sequence numbers from one
 * segment to the next, and the checkpoints.  What a crash left (a torn tail, holes,
 * records lost between segments) is reported too, as MAPLOG_PROBLEM_CRASH: the callback's
 * p->kind tells it from damage.  *problems (may be NULL) is the number found, of both
 * kinds.  Returns 0 when the
 * check ran, whatever it found; an error code when it could not (MAPLOG_ENOTLOG, ...), and
 * then maplog_last_open_error() says why.  problem and progress may be NULL.  Works on read-only
 * copies and beside a live writer. */
MAPLOG_API int maplog_verify(const char *dir, int flags, maplog_problem_fn problem,
                             maplog_progress_fn progress, void *ctx, uint64_t *problems);

#define MAPLOG_RECOVER_APPLY 1 /* do it; without this flag only say what would be done */

/* Say (and with MAPLOG_RECOVER_APPLY, do) what makes the log in dir valid again: cut it
 * at the first record that is not valid -- a torn tail, or damage anywhere -- so that
 * every record before that point stays and verify passes afterwards.  Segment files after
 * the cut are renamed to NAME.tail-0 and cut bytes are kept in NAME.tail-OFFSET: nothing
 * is deleted.  report gets one paragraph for a person (report_len bytes, may be 0);
 * *dropped (may be NULL) the number of records after the cut that are no longer in the
 * log (-1 if unknown).  Applying needs the writer lock: MAPLOG_ELOCKED while a writer
 * runs.  Beside a running writer, the dry run judges every segment but the last, which is
 * being written. */
MAPLOG_API int maplog_recover(const char *dir, int flags, char *report, size_t report_len,
                              int64_t *dropped);

#ifdef __cplusplus
}
#endif
#endif /* MAPLOG_H */
