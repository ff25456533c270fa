/* test_hints.c -- the record hint table (docs/FORMAT.md, "Record hints").
 *
 * 1. One writing thread: in every segment, entry k names exactly the first record starting
 *    in slot k's stride, and is zero when none does; a seek to every sequence number (which
 *    starts its walk at a hint inside a segment) returns that record.
 * 2. Hostile and stale tables -- random bytes, offsets past the end, misaligned, in the
 *    middle of a record, wrong sequence numbers, torn entries -- in a sealed segment and in
 *    the unsealed last one: replay, every seek and the figures read as before, and verify
 *    finds nothing to report (hints are advisory).  A table in a segment whose header does
 *    not carry the flag is ignored.
 * 3. A writer killed (SIGKILL) after a record was torn in the middle of its last segment:
 *    recovery cuts there and clears the hints past the cut, the next writer fills the slots
 *    from there, and every entry is right again.
 * 4. Four threads appending at once: every entry names a record every record before which is
 *    published, and seeks read right.
 */
#include "harness.h"

#include "crc32c.h"
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define SEG (1024 * 1024)
#define N 12000 /* records of 0..400 bytes, some of 6000: about three segments */
#define MAXREC (4 * N)

static uint64_t want_ts[MAXREC];
static uint32_t want_len[MAXREC];
static uint64_t nrec;

static size_t len_of(uint64_t i)
{
    uint64_t h = i * 0x9e3779b97f4a7c15ull;
    return (i % 97 == 5) ? 6000 : (size_t)((h >> 40) % 401);
}

static void append_n(maplog *log, uint64_t from, uint64_t n)
{
    static unsigned char buf[8192];
    for (uint64_t i = from; i < from + n; i++) {
        size_t len = len_of(i);
        t_fill(buf, len, i);
        ASSERT_OK(maplog_append(log, buf, len, NULL));
    }
}

/* Replay the whole log into want_ts / want_len (the reference every check compares with). */
static void learn(const char *dir)
{
    maplog_reader *r;
    maplog_record rec;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    nrec = 0;
    while (maplog_reader_next(r, &rec) == 0) {
        ASSERT_EQ(rec.seq, nrec);
        ASSERT_TRUE(nrec < MAXREC, "log too long");
        want_ts[nrec] = rec.timestamp_ns;
        want_len[nrec] = (uint32_t)rec.len;
        nrec++;
    }
    maplog_reader_close(r);
}

/* Everything a reader reads of dir agrees with the reference: replay, a seek to every
 * step-th sequence number (and past the end), the figures. */
static void reads_right(const char *dir, const char *what, uint64_t step)
{
    maplog_reader *r;
    maplog_record rec;
    int64_t v;
    CTX("%s: replay", what);
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    uint64_t n = 0;
    while (maplog_reader_next(r, &rec) == 0) {
        ASSERT_EQ(rec.seq, n);
        ASSERT_EQ(rec.timestamp_ns, want_ts[n]);
        n++;
    }
    ASSERT_EQ(n, nrec);
    CTX("%s: figures", what);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &v));
    ASSERT_EQ(v, nrec);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_RECORDS, &v));
    ASSERT_EQ(v, nrec);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_UNCOUNTED_SEGMENTS, &v));
    ASSERT_EQ(v, 0);
    maplog_reader_close(r);
    /* a fresh reader per order: the index is built as a reader goes, and must not hide a
     * bad hint */
    for (int order = 0; order < 2; order++) {
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        for (uint64_t k = 0; k < nrec; k += step) {
            uint64_t s = order ? nrec - 1 - k : (k * 7919) % nrec;
            CTX("%s: seek to seq %" PRIu64 " (order %d)", what, s, order);
            ASSERT_OK(maplog_reader_seek(r, s));
            ASSERT_OK(maplog_reader_next(r, &rec));
            ASSERT_EQ(rec.seq, s);
            ASSERT_EQ(rec.timestamp_ns, want_ts[s]);
            ASSERT_EQ(rec.len, want_len[s]);
        }
        CTX("%s: seek past the end", what);
        ASSERT_OK(maplog_reader_seek(r, nrec)); /* at the end: the next record's place */
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        ASSERT_EQ(maplog_reader_seek(r, nrec + 5), MAPLOG_END);
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        maplog_reader_close(r);
    }
    CTX("%s", "");
}

static void no_problem(void *ctx, const maplog_problem *p)
{
    (void)ctx;
    ASSERT_TRUE(0, "verify: %s at %" PRIu64 ": %s", p->file, p->offset, p->what);
}

static unsigned char seg_buf[SEG];

/* The records of segment file path: offsets into off[], *n of them (walked by the length
 * words, CRCs checked by the library's rule). */
static void seg_records(const char *path, uint64_t first, uint64_t *off, uint64_t *n)
{
    t_pread(path, seg_buf, SEG, 0);
    uint64_t o = MLG_DATA_OFFSET;
    *n = 0;
    for (;;) {
        mlg__rec_view v;
        if (mlg__rec_check(seg_buf, SEG, o, first + *n, &v) != MLG_REC_OK)
            break;
        off[(*n)++] = o;
        o += v.size;
    }
}

/* Segment files of dir, in order: names into names[][32], first seqs into firsts. */
static int list_segs(const char *dir, char names[][32], uint64_t *firsts, int max)
{
    int n = 0;
    for (uint64_t s = 0; s <= nrec + 1 && n < max; s++) {
        char name[32];
        snprintf(name, sizeof name, "%020" PRIu64 ".mlog", s);
        if (t_file_size(t_path(dir, name)) == SEG) {
            memcpy(names[n], name, 32);
            firsts[n++] = s;
        }
    }
    return n;
}

/* Check the hint table of every segment of dir.  exact: entry k names the first record in
 * its stride and is empty only when none starts there (one writing thread); otherwise an
 * entry is empty or names a record at its slot's place, with its right sequence number. */
static void hints_right(const char *dir, int exact, const char *what)
{
    static uint64_t off[SEG / 16];
    char names[64][32];
    uint64_t firsts[64], n;
    int ns = list_segs(dir, names, firsts, 64);
    uint64_t stride = mlg__hint_stride(SEG);
    unsigned filled = 0;
    ASSERT_TRUE(ns > 0, "segments in %s", dir);
    for (int i = 0; i < ns; i++) {
        seg_records(t_path(dir, names[i]), firsts[i], off, &n);
        uint64_t j = 0;
        for (unsigned k = 0; k < MLG_HINT_COUNT; k++) {
            uint64_t lo = MLG_DATA_OFFSET + k * stride, hi = lo + stride, e;
            memcpy(&e, seg_buf + MLG_HINT_OFFSET + 8 * k, 8);
            while (j < n && off[j] < lo)
                j++;
            CTX("%s: %s hint %u = %016" PRIx64 " (stride from %" PRIu64 ")", what, names[i], k, e,
                lo);
            if (e == 0) {
                if (exact)
                    ASSERT_TRUE(j >= n || off[j] >= hi, "no record starts in an empty slot");
                continue;
            }
            filled++;
            uint64_t o = (uint32_t)e, d = e >> 32;
            ASSERT_TRUE(o >= lo && o < hi, "the named record starts in the slot's stride");
            ASSERT_TRUE(d < n && off[d] == o, "the entry names record %" PRIu64, d);
            if (exact)
                ASSERT_EQ(d, j);
        }
    }
    /* One thread fills every slot a record starts in.  Several fill a slot only when the
     * records before its crossing one are all published at that moment: how many depends
     * on the scheduling (ThreadSanitizer on two cores has left 70 of 256), so here only
     * that they fill some, and every one right (above). */
    printf("%s: %u hints filled\n", what, filled);
    ASSERT_TRUE(exact ? filled >= 200 : filled > 0, "%s: only %u hints filled", what, filled);
    CTX("%s", "");
}

/* Rewrite the header of segment path with compat flags c (and its CRC). */
static void set_compat(const char *path, uint32_t c)
{
    mlg__seg_header h;
    t_pread(path, &h, sizeof h, 0);
    h.compat_flags = c;
    h.header_crc = mlg__crc32c(0, &h, offsetof(mlg__seg_header, header_crc));
    t_pwrite(path, &h, sizeof h, 0);
}

/* Overwrite the hint table of segment path (first seq first) in one of the hostile ways. */
static void spoil(const char *path, uint64_t first, int how)
{
    static uint64_t off[SEG / 16];
    uint64_t n, t[MLG_HINT_COUNT];
    seg_records(path, first, off, &n);
    t_pread(path, t, sizeof t, MLG_HINT_OFFSET);
    for (unsigned k = 0; k < MLG_HINT_COUNT; k++) {
        uint64_t r = t_rand(), j = t_rand_below(n), o = off[j];
        switch (how) {
        case 0: /* random bytes */
            t[k] = r;
            break;
        case 1: /* offsets past the end of the segment, or of its records */
            t[k] = (uint64_t)(SEG - 8 * (r % 64)) | (j << 32);
            if (k & 1)
                t[k] = (off[n - 1] + 8 + 8 * (r % 4096)) | (j << 32);
            break;
        case 2: /* misaligned */
            t[k] = (o + 1 + r % 7) | (j << 32);
            break;
        case 3: /* inside a record: its payload, with the sequence numbers around it */
            t[k] = (o + 16 + 8 * (r % 8)) | ((j + (r >> 20) % 3) << 32);
            break;
        case 4: /* a record's offset with a wrong sequence number */
            t[k] = o | ((j + 1 + (r >> 20) % 5) << 32);
            if ((k & 3) == 0 && j > 0)
                t[k] = o | ((j - 1) << 32);
            break;
        case 5: /* torn: the offset of one entry, the delta of another */
            t[k] = (t[k] & 0xffffffffu) | (t[(k + 1 + r % 40) % MLG_HINT_COUNT] & ~0xffffffffull);
            break;
        case 6: /* true, but stale: every entry names the first record */
            t[k] = MLG_DATA_OFFSET;
            break;
        case 7: /* the true entries, shuffled between slots */
            t[k] = t[r % MLG_HINT_COUNT];
            break;
        }
    }
    t_pwrite(path, t, sizeof t, MLG_HINT_OFFSET);
}

static void hostile(const char *dir, const char *scratch)
{
    char names[64][32];
    uint64_t firsts[64];
    int ns = list_segs(dir, names, firsts, 64);
    ASSERT_TRUE(ns >= 3, "%d segments", ns);
    for (int how = 0; how < 8; how++) {
        char copy[1024], what[64];
        snprintf(copy, sizeof copy, "%s/hostile%d", scratch, how);
        t_copy_dir(dir, copy);
        /* a sealed segment and the last one */
        spoil(t_path(copy, names[1]), firsts[1], how);
        spoil(t_path(copy, names[ns - 1]), firsts[ns - 1], how);
        snprintf(what, sizeof what, "hostile table %d", how);
        reads_right(copy, what, 5);
        uint64_t problems = 0;
        ASSERT_OK(maplog_verify(copy, 0, no_problem, NULL, NULL, &problems));
        ASSERT_EQ(problems, 0);
        t_rm_rf(copy);
    }
    /* a table in segments whose headers do not carry the flag (as an older writer left
     * them, had it left bytes there): never read */
    char copy[1024];
    snprintf(copy, sizeof copy, "%s/noflag", scratch);
    t_copy_dir(dir, copy);
    for (int i = 0; i < ns; i++) {
        spoil(t_path(copy, names[i]), firsts[i], i % 2 ? 4 : 3);
        set_compat(t_path(copy, names[i]), 0);
    }
    reads_right(copy, "no flag", 5);
    t_rm_rf(copy);
}

/* 3: a writer killed after one of its records was damaged mid-segment. */
static void crash_cut(const char *scratch)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/crash", scratch);
    pid_t pid = fork();
    if (pid == 0) {
        maplog *log;
        if (t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE, 0))
            _exit(1);
        append_n(log, 0, 5000); /* the last segment about two thirds full */
        raise(SIGKILL);
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "writer status %d", st);
    nrec = 5000;
    char names[64][32];
    uint64_t firsts[64], n;
    static uint64_t off[SEG / 16];
    int ns = list_segs(dir, names, firsts, 64);
    const char *last = t_path(dir, names[ns - 1]);
    seg_records(last, firsts[ns - 1], off, &n);
    ASSERT_TRUE(n > 1000, "%" PRIu64 " records in the last segment", n);
    /* damage a record a third of the way in: the records after it are a torn tail, and so
     * are the hints naming them */
    uint64_t cut = n / 3, bad = off[cut] + 12;
    unsigned char x = 0x5a;
    t_pwrite(last, &x, 1, (off_t)bad);
    unsigned stale = 0;
    for (unsigned k = 0; k < MLG_HINT_COUNT; k++) {
        uint64_t e;
        t_pread(last, &e, 8, MLG_HINT_OFFSET + 8 * k);
        stale += e && (uint32_t)e >= off[cut];
    }
    ASSERT_TRUE(stale > 20, "%u hints past the damage", stale);
    /* recovery, then more records (of other sizes: other offsets) */
    maplog *log;
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    int64_t recs = 0;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_RECORDS, &recs));
    ASSERT_EQ(recs, cut);
    for (unsigned k = 0; k < MLG_HINT_COUNT; k++) {
        uint64_t e;
        t_pread(last, &e, 8, MLG_HINT_OFFSET + 8 * k);
        CTX("after recovery: hint %u = %016" PRIx64, k, e);
        ASSERT_TRUE(e == 0 || (uint32_t)e < off[cut], "no hint past the cut");
    }
    CTX("%s", "");
    append_n(log, firsts[ns - 1] + cut + 1000000, 4000);
    ASSERT_OK(maplog_close(log));
    learn(dir);
    ASSERT_EQ(nrec, firsts[ns - 1] + cut + 4000);
    hints_right(dir, 0, "after a crash and recovery");
    reads_right(dir, "after a crash and recovery", 1);
    t_rm_rf(dir);
}

/* 4: threads appending at once. */
typedef struct thr {
    maplog *log;
    int id;
} thr;

static void *appender(void *p)
{
    thr *t = p;
    unsigned char buf[512];
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)((i * 37 + t->id * 11) % 300);
        memset(buf, t->id, len);
        if (maplog_append(t->log, buf, len, NULL))
            abort();
    }
    return NULL;
}

static void threads(const char *scratch)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/threads", scratch);
    maplog *log;
    pthread_t th[4];
    thr a[4];
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (int i = 0; i < 4; i++) {
        a[i] = (thr){log, i};
        ASSERT_EQ(pthread_create(&th[i], NULL, appender, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ASSERT_OK(maplog_close(log));
    learn(dir);
    ASSERT_EQ(nrec, 12000);
    hints_right(dir, 0, "four threads");
    reads_right(dir, "four threads", 1);
    t_rm_rf(dir);
}

int main(int argc, char **argv)
{
    maplog *log;
    t_seed_init(argc, argv);
    const char *scratch = t_mkscratch("hints");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/log", scratch);

    /* 1: one thread; the last segment left unsealed by a clean close */
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    append_n(log, 0, N);
    ASSERT_OK(maplog_close(log));
    learn(dir);
    ASSERT_EQ(nrec, N);
    hints_right(dir, 1, "one thread");
    reads_right(dir, "one thread", 1);

    /* the same from a live writer's log: the figures and seeks beside the writer */
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    append_n(log, N, 100);
    learn(dir);
    ASSERT_EQ(nrec, N + 100);
    reads_right(dir, "beside a live writer", 1);
    ASSERT_OK(maplog_close(log));

    /* 2 */
    hostile(dir, scratch);
    t_rm_rf(dir);
    /* 3, 4 */
    crash_cut(scratch);
    threads(scratch);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
