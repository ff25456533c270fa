/* test_agree.c -- open, verify and recover agree on every log state.
 *
 * Three tools judge a log no writer holds: maplog_open() (recovery), maplog_verify() and
 * maplog_recover().  For every state below, this test checks the invariant they share:
 *
 *  1. verify reports no problem  <=>  recover says "nothing to do".  The two walk the same
 *     log by the same rules; a problem one sees and the other does not is a bug.
 *  2. verify reports no problem  =>  a strict maplog_open() succeeds and drops nothing
 *     (no bytes cut, no segment removed or set aside).  The converse does not hold: open
 *     reads only what it needs (it does not check the records of sealed segments), so a
 *     log verify faults may still open.
 *  3. a strict maplog_open() refuses  =>  verify reports a problem, and recover's dry run
 *     returns 0 with a plan (not "nothing to do").  Refusing a segment of a newer format
 *     version (MAPLOG_EVERSION) is the one exception: nothing here may change that log,
 *     and recover says so.
 *  4. verify --quick reports a problem  =>  the full verify does.
 *  5. recover --apply, whenever the dry run had a plan, returns 0 and leaves a log that
 *     verify passes, that recover finds nothing to do in, that a strict open opens without
 *     dropping anything, and whose every record replays with a valid CRC and the payload
 *     written for its sequence number.
 *
 * The states: the three a bit flip cannot make -- a checkpoint that claims more records
 * than are present (a lost write of synced pages), an archive header whose record_count or
 * digest is wrong with its CRC recomputed, and the last segment of a cleanly closed log
 * deleted -- each of which must also be found by verify and named by recover; the
 * tampered directories of test_hostile.c (zero-length, oversized, foreign, symlinked and
 * FIFO segments, stray files); and the corruption sweep of test_sweep.c (a log of two
 * segments with one bit flipped).  In the default build the sweep part flips a bit of
 * every byte of both header pages that is in use (header, seal, checkpoints) and of every
 * 41st record byte; MAPLOG_LONG_TESTS=1 flips every record byte too.  And the crash
 * states (a writer process that died with a record reserved and never published): a hole
 * in the last segment, one in a segment the log rolled over from, and that with the first
 * segment's last record garbage (records lost between segments).  And a rollover mark in
 * the last 8 bytes of the last segment, past zeros.
 *
 * Usage: test_agree [SEED]  (the states are fixed; the seed only varies the flipped bits
 * of the sampled record bytes). */
#include "harness.h"

#include "crc32c.h"
#include "format.h"
#include "logdir.h"

#include <signal.h>
#include <sys/wait.h>

#define SEG (64 * 1024)
#define NREC 900

static size_t len_of(uint64_t s)
{
    return 20 + (size_t)(s * 37 % 60);
}

/* ---- copying a state: regular files, and the symlinks and FIFOs hostile states hold ---- */

static void copy_state(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *e;
    t_rm_rf(dst);
    ASSERT_TRUE(mkdir(dst, 0755) == 0, "mkdir %s: %s", dst, strerror(errno));
    ASSERT_TRUE(d != NULL, "opendir %s", src);
    while ((e = readdir(d))) {
        struct stat st;
        char from[1100], to[1100];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
        ASSERT_TRUE(lstat(from, &st) == 0, "lstat %s", from);
        if (S_ISLNK(st.st_mode)) {
            char target[1024];
            ssize_t n = readlink(from, target, sizeof target - 1);
            ASSERT_TRUE(n > 0, "readlink %s", from);
            target[n] = 0;
            ASSERT_TRUE(symlink(target, to) == 0, "symlink %s", to);
        } else if (S_ISFIFO(st.st_mode)) {
            ASSERT_TRUE(mkfifo(to, 0600) == 0, "mkfifo %s", to);
        } else if (S_ISDIR(st.st_mode)) {
            ASSERT_TRUE(mkdir(to, 0755) == 0, "mkdir %s", to);
        } else if (S_ISREG(st.st_mode) && st.st_size > (off_t)1 << 30) {
            /* larger than any segment: the states here make such files sparse, all zero */
            int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ASSERT_TRUE(out >= 0 && ftruncate(out, st.st_size) == 0, "truncate %s", to);
            close(out);
        } else if (S_ISREG(st.st_mode)) {
            int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            char buf[65536];
            ssize_t n;
            ASSERT_TRUE(in >= 0 && out >= 0, "copy %s", from);
            while ((n = read(in, buf, sizeof buf)) > 0)
                ASSERT_TRUE(write(out, buf, (size_t)n) == n, "write %s", to);
            close(in);
            close(out);
        }
    }
    closedir(d);
}

/* ---- the three tools' verdicts on one directory -------------------------------------- */

typedef struct verdict {
    uint64_t problems, quick_problems;
    char first_problem[1200];
    int recover_rc, nothing;
    int64_t dropped;
    char plan[2048];
    int open_rc;
    char open_err[1200];
    int64_t cut_bytes, removed;
} verdict;

static void on_problem(void *ctx, const maplog_problem *p)
{
    verdict *v = ctx;
    if (!v->first_problem[0])
        snprintf(v->first_problem, sizeof v->first_problem, "%s: offset %" PRIu64 ": %s", p->file,
                 p->offset, p->what);
}

/* The verdicts on dir; open runs on a copy (scratch), so dir is not changed. */
static void judge(const char *dir, const char *scratch, verdict *v)
{
    maplog *log;
    memset(v, 0, sizeof *v);
    ASSERT_OK(maplog_verify(dir, 0, on_problem, NULL, v, &v->problems));
    ASSERT_OK(maplog_verify(dir, MAPLOG_VERIFY_QUICK, NULL, NULL, NULL, &v->quick_problems));
    v->recover_rc = maplog_recover(dir, 0, v->plan, sizeof v->plan, &v->dropped);
    v->nothing = v->recover_rc == 0 && strncmp(v->plan, "nothing to do", 13) == 0;
    copy_state(dir, scratch);
    v->open_rc = t_open(&log, scratch, 0, MAPLOG_OPT_PREFAULT, 0LL, 0);
    if (v->open_rc) {
        snprintf(v->open_err, sizeof v->open_err, "%s", maplog_last_open_error());
        return;
    }
    maplog_recovery_info(log, MAPLOG_RECOVERY_CUT_BYTES, &v->cut_bytes);
    maplog_recovery_info(log, MAPLOG_RECOVERY_REMOVED, &v->removed);
    snprintf(v->open_err, sizeof v->open_err, "opened: %s", maplog_recovery_report(log));
    ASSERT_OK(maplog_close(log));
}

static void show(const verdict *v)
{
    fprintf(stderr,
            "  verify: %" PRIu64 " problems (quick: %" PRIu64 ")%s%s\n"
            "  recover (rc %d, dropped %" PRId64 "): %s\n  open (rc %d): %s\n",
            v->problems, v->quick_problems, v->first_problem[0] ? "; first: " : "",
            v->first_problem, v->recover_rc, v->dropped, v->plan, v->open_rc, v->open_err);
}

#define AGREE(cond, v, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            show(v);                                                                               \
            ASSERT_TRUE(cond, __VA_ARGS__);                                                        \
        }                                                                                          \
    } while (0)

/* Replay dir to its end: every record valid, numbered densely, and each the one written
 * for its sequence number (of the written records).  Returns the count. */
static uint64_t replay(const char *dir, uint64_t written, const char *what)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[100];
    uint64_t n = 0, expect = UINT64_MAX;
    int rc;
    ASSERT_OK(maplog_reader_open(&r, dir, MAPLOG_READER_VOIDS));
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        ASSERT_TRUE(expect == UINT64_MAX || rec.seq == expect, "%s: seq %" PRIu64 " after %" PRIu64,
                    what, rec.seq, expect - 1);
        expect = rec.seq + 1;
        if (rec.flags & MAPLOG_RECORD_VOID)
            continue; /* a reservation a crash cut short: it has a number, nothing else */
        ASSERT_TRUE(rec.seq < written && rec.len == len_of(rec.seq),
                    "%s: record seq %" PRIu64 " of %" PRIu64 " bytes was never written", what,
                    rec.seq, (uint64_t)rec.len);
        t_fill(want, rec.len, rec.seq);
        ASSERT_MEM(rec.data, want, rec.len);
        n++;
    }
    ASSERT_TRUE(rc == MAPLOG_END, "%s: replay after repair stopped with %d: %s", what, rc,
                maplog_reader_errmsg(r));
    maplog_reader_close(r);
    return n;
}

static char work_open[700], work_apply[700];
static uint64_t states, planned, refused;

/* Check the invariant on state dir; returns the records left after recover --apply (or,
 * with nothing to do, in the log). */
static uint64_t agree(const char *dir, uint64_t written, const char *what, verdict *out)
{
    verdict v, after;
    CTX("%s", what);
    judge(dir, work_open, &v);
    if (out)
        *out = v;
    states++;
    AGREE((v.problems == 0) == v.nothing, &v,
          "%s: verify found %" PRIu64 " problems, but recover %s", what, v.problems,
          v.nothing ? "says nothing to do" : "plans a change");
    if (v.problems == 0)
        AGREE(v.open_rc == 0 && v.cut_bytes == 0 && v.removed == 0, &v,
              "%s: verify passes, but open refused or dropped something", what);
    AGREE(v.quick_problems == 0 || v.problems > 0, &v,
          "%s: verify --quick found a problem the full verify did not", what);
    if (v.open_rc == MAPLOG_EVERSION) {
        AGREE(v.problems > 0, &v, "%s: a newer version's segment, verify silent", what);
        return 0;
    }
    if (v.open_rc) {
        refused++;
        AGREE(v.problems > 0, &v, "%s: open refuses the log, verify passes it", what);
        AGREE(v.recover_rc == 0 && !v.nothing, &v, "%s: open refuses the log, recover has no plan",
              what);
    }
    if (v.nothing) {
        copy_state(dir, work_apply);
        return replay(work_apply, written, what);
    }
    AGREE(v.recover_rc == 0, &v, "%s: recover's dry run failed", what);
    planned++;
    copy_state(dir, work_apply);
    char report[2048];
    int rc = maplog_recover(work_apply, MAPLOG_RECOVER_APPLY, report, sizeof report, NULL);
    AGREE(rc == 0, &v, "%s: recover --apply failed (%d): %s", what, rc, report);
    judge(work_apply, work_open, &after);
    if (!(after.problems == 0 && after.nothing && after.open_rc == 0 && after.cut_bytes == 0 &&
          after.removed == 0)) {
        fprintf(stderr, "before:\n");
        show(&v);
        fprintf(stderr, "recover --apply: %s\nafter:\n", report);
        show(&after);
        ASSERT_TRUE(0, "%s: after recover --apply the log is not clean", what);
    }
    return replay(work_apply, written, what);
}

/* ---- logs to start from ---------------------------------------------------------------- */

/* A log of n records (payload t_fill(len_of(seq), seq)) in 64 KiB segments, closed. */
static void make_log(const char *dir, uint64_t n, int archive)
{
    maplog *log;
    unsigned char buf[100];
    t_rm_rf(dir);
    ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_PREFAULT, 0LL, 0));
    for (uint64_t i = 0; i < n; i++) {
        t_fill(buf, len_of(i), i);
        ASSERT_OK(maplog_append(log, buf, len_of(i), NULL));
    }
    ASSERT_OK(maplog_sync(log));
    ASSERT_OK(maplog_close(log));
    if (archive) { /* every sealed segment, as the archive option does */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        uint64_t *segs;
        size_t ns, other;
        mlg__err err;
        ASSERT_TRUE(dfd >= 0, "open %s", dir);
        ASSERT_OK(mlg__list_segments(dfd, &segs, &ns, &other, &err, dir));
        for (size_t i = 0; i + 1 < ns; i++)
            ASSERT_OK(mlg__archive_segment(dfd, dir, segs[i], 1, &err));
        free(segs);
        close(dfd);
    }
}

/* The segment files of dir, in order (names into a static table). */
static int list_segs(const char *dir, char names[][64], int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strlen(e->d_name) >= 25 && strspn(e->d_name, "0123456789") == 20 &&
            (!strcmp(e->d_name + 20, ".mlog") || !strcmp(e->d_name + 20, ".mlogz")) && n < max)
            snprintf(names[n++], 64, "%s", e->d_name);
    if (d)
        closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: names sort as their numbers */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

static void read_ckpt(const char *path, mlg__checkpoint *ck, off_t *at)
{
    mlg__checkpoint a, b;
    t_pread(path, &a, sizeof a, 1024);
    t_pread(path, &b, sizeof b, 1536);
    int a_ok = a.magic == 0x54504B43u, b_ok = b.magic == 0x54504B43u;
    ASSERT_TRUE(a_ok || b_ok, "%s has no checkpoint", path);
    if (a_ok && (!b_ok || a.generation > b.generation))
        *ck = a, *at = 1024;
    else
        *ck = b, *at = 1536;
}

static void expect_named(const verdict *v, const char *file, const char *what)
{
    AGREE(v->problems > 0 && strstr(v->first_problem, file), v, "%s: verify does not name %s", what,
          file);
    AGREE(v->open_rc == MAPLOG_ECORRUPT && strstr(v->open_err, file), v,
          "%s: open does not refuse naming %s", what, file);
    AGREE(!v->nothing && strstr(v->plan, file), v, "%s: recover's plan does not name %s", what,
          file);
}

/* ---- 1. a checkpoint that claims more records than are present -------------------------- */

static void synced_loss(const char *base)
{
    char d[600], names[8][64], path[700];
    verdict v;
    uint64_t left;

    /* the last record of the synced range zeroed: a lost write of a synced page */
    snprintf(d, sizeof d, "%s/lost-write", base);
    make_log(d, 1200, 0);
    int n = list_segs(d, names, 8);
    ASSERT_TRUE(n >= 2, "%d segments", n);
    snprintf(path, sizeof path, "%s/%s", d, names[n - 1]);
    mlg__checkpoint ck;
    off_t at;
    read_ckpt(path, &ck, &at);
    ASSERT_TRUE(ck.record_count >= 2, "checkpoint of %" PRIu64 " records", ck.record_count);
    uint64_t last_len = 16 + len_of(ck.first_seq + ck.record_count - 1);
    uint64_t last_off = ck.end_offset - ((last_len + 7) & ~7ull);
    static const unsigned char zero[256];
    t_pwrite(path, zero, (size_t)(ck.end_offset - last_off), (off_t)last_off);
    left = agree(d, 1200, "the last synced record zeroed", &v);
    expect_named(&v, names[n - 1], "the last synced record zeroed");
    ASSERT_EQ(left, ck.first_seq + ck.record_count - 1);
    printf("last synced record zeroed:\n  verify: %s\n  open: %s\n  recover: %s\n", v.first_problem,
           v.open_err, v.plan);

    /* the checkpoint edited to claim more than was written (CRC recomputed) */
    snprintf(d, sizeof d, "%s/ckpt-claims-more", base);
    make_log(d, 1200, 0);
    snprintf(path, sizeof path, "%s/%s", d, names[n - 1]);
    read_ckpt(path, &ck, &at);
    ck.record_count += 3;
    ck.end_offset += 3 * 80;
    ck.crc = mlg__crc32c(0, &ck, offsetof(mlg__checkpoint, crc));
    t_pwrite(path, &ck, sizeof ck, at);
    left = agree(d, 1200, "a checkpoint claiming 3 more records", &v);
    expect_named(&v, names[n - 1], "a checkpoint claiming 3 more records");
    ASSERT_EQ(left, 1200);
    printf("checkpoint claims 3 more records:\n  verify: %s\n  open: %s\n  recover: %s\n",
           v.first_problem, v.open_err, v.plan);
}

/* ---- 2. an archive header whose record_count or digest is wrong --------------------------- */

static void bad_archive(const char *base)
{
    static const char *const field[] = {"record_count", "digest"};
    for (int k = 0; k < 2; k++) {
        char d[600], names[8][64], path[700], what[200];
        verdict v;
        snprintf(d, sizeof d, "%s/archive-%s", base, field[k]);
        make_log(d, 2000, 1);
        int n = list_segs(d, names, 8);
        ASSERT_TRUE(n >= 3 && strstr(names[0], ".mlogz"), "%d segments, %s", n, names[0]);
        /* the middle of three: both neighbours exist; and the first */
        for (int which = 0; which < 2; which++) {
            copy_state(d, work_apply);
            snprintf(path, sizeof path, "%s/%s", work_apply, names[which]);
            mlg__arch_header h;
            t_pread(path, &h, sizeof h, 0);
            if (k == 0)
                h.record_count -= 1;
            else
                h.digest ^= 0x100;
            h.crc = mlg__crc32c(0, &h, offsetof(mlg__arch_header, crc));
            t_pwrite(path, &h, sizeof h, 0);
            char state[700];
            snprintf(state, sizeof state, "%s-%d", d, which);
            copy_state(work_apply, state);
            snprintf(what, sizeof what, "archive %s: header %s wrong", names[which], field[k]);
            agree(state, 2000, what, &v);
            AGREE(v.problems > 0 && strstr(v.first_problem, names[which]), &v,
                  "%s: verify does not name %s", what, names[which]);
            AGREE(v.quick_problems > 0, &v, "%s: verify --quick passes it", what);
            AGREE(!v.nothing && strstr(v.plan, names[which]), &v,
                  "%s: recover's plan does not name %s", what, names[which]);
            printf("%s:\n  verify: %s\n  open: %s\n  recover: %s\n", what, v.first_problem,
                   v.open_err, v.plan);
        }
    }
}

/* ---- 3. the last segment of a cleanly closed log deleted ---------------------------------- */

/* A log of 2000 records in several segments (archived, as make_log does), its last segment
 * file deleted: the segments' names (*n of them, the last one gone) and its first seq. */
static uint64_t without_last(const char *d, int archive, char names[8][64], int *n)
{
    make_log(d, 2000, archive);
    *n = list_segs(d, names, 8);
    ASSERT_TRUE(*n >= 3, "%d segments", *n);
    const char *path = t_path(d, names[*n - 1]);
    ASSERT_TRUE(unlink(path) == 0, "unlink %s", path);
    return strtoull(names[*n - 1], NULL, 10);
}

static void deleted_last(const char *base)
{
    for (int archive = 0; archive < 2; archive++) {
        char d[600], names[8][64], what[200];
        verdict v;
        int n;
        snprintf(d, sizeof d, "%s/deleted-last%s", base, archive ? "-archived" : "");
        uint64_t first_lost = without_last(d, archive, names, &n);
        snprintf(what, sizeof what, "last segment %s deleted%s", names[n - 1],
                 archive ? " (the one before it archived)" : "");
        uint64_t left = agree(d, 2000, what, &v);
        ASSERT_EQ(left, first_lost);
        AGREE(v.problems > 0 && strstr(v.first_problem, names[n - 2]), &v,
              "%s: verify does not name the sealed last segment %s", what, names[n - 2]);
        AGREE(v.open_rc == MAPLOG_ECORRUPT && strstr(v.open_err, names[n - 1]) &&
                  strstr(v.open_err, "recover --apply"),
              &v, "%s: open does not refuse naming the missing %s", what, names[n - 1]);
        AGREE(!v.nothing && strstr(v.plan, names[n - 1]), &v, "%s: recover's plan does not name %s",
              what, names[n - 1]);
        printf("%s:\n  verify: %s\n  open: %s\n  recover: %s\n", what, v.first_problem, v.open_err,
               v.plan);
        /* after the repair, the log goes on from the first lost number */
        maplog *log;
        uint64_t next;
        ASSERT_OK(t_open(&log, work_apply, SEG, MAPLOG_OPT_PREFAULT, 0LL, 0));
        ASSERT_OK(maplog_next_seq(log, &next));
        ASSERT_EQ(next, first_lost);
        ASSERT_OK(maplog_append(log, "after", 5, NULL));
        ASSERT_OK(maplog_close(log));
    }
}

/* The last segment deleted after a crash that left the one before it unsealed: that one
 * ends in a rollover mark, the proof that the writer had moved on.  A crash state (a sync
 * seals a segment before it returns, so nothing of the missing one was synced), but the
 * tools must say records may be lost with it, not that none were. */
static void deleted_after_mark(const char *base)
{
    char d[600], names[8][64];
    verdict v;
    int n;
    snprintf(d, sizeof d, "%s/deleted-after-mark", base);
    uint64_t first_lost = without_last(d, 0, names, &n);
    unsigned char zero[64] = {0}; /* the crash came before the seal */
    t_pwrite(t_path(d, names[n - 2]), zero, sizeof zero, MLG_SEAL_OFFSET);
    ASSERT_EQ(agree(d, 2000, "the segment after an unsealed one deleted", &v), first_lost);
    AGREE(v.problems > 0 && strstr(v.first_problem, "rollover mark") &&
              strstr(v.first_problem, names[n - 1]) && strstr(v.first_problem, "lost"),
          &v, "verify does not say the records of the missing %s are lost", names[n - 1]);
    AGREE(strstr(v.plan, names[n - 1]) && strstr(v.plan, "lost") &&
              !strstr(v.plan, "losing no complete record"),
          &v, "recover does not say the records of the missing %s are lost", names[n - 1]);
}

/* ---- the tampered directories of test_hostile.c ------------------------------------------- */

static void hostile(const char *base)
{
    char d[600], p[700], other[600];
    signal(SIGALRM, t_hung_on_fifo);
    alarm(60);

    snprintf(d, sizeof d, "%s/zero-len-last", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    t_write_file(p, "");
    agree(d, 10, "a zero-length last segment", NULL);

    snprintf(d, sizeof d, "%s/zero-len-middle", base);
    make_log(d, 2000, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 5);
    t_write_file(p, "");
    agree(d, 2000, "a zero-length segment between two others", NULL);

    snprintf(d, sizeof d, "%s/oversized", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    t_write_file(p, "");
    ASSERT_TRUE(truncate(p, (off_t)2 << 30) == 0, "truncate %s", p);
    agree(d, 10, "an oversized all-zero last segment", NULL);

    snprintf(d, sizeof d, "%s/foreign", base);
    snprintf(other, sizeof other, "%s/other", base);
    make_log(d, 2000, 0);
    make_log(other, 2000, 0);
    {
        char names[8][64], src[700], dst[700];
        int n = list_segs(d, names, 8);
        snprintf(src, sizeof src, "%s/%s", other, names[n - 1]);
        snprintf(dst, sizeof dst, "%s/%s", d, names[n - 1]);
        ASSERT_TRUE(rename(src, dst) == 0, "swap in %s", names[n - 1]);
    }
    agree(d, 2000, "another log's segment as the last", NULL);

    snprintf(d, sizeof d, "%s/extra", base);
    make_log(d, 10, 0);
    t_write_file(t_path(d, "README"), "hello");
    t_write_file(t_path(d, "00000000000000000000.mlog.bak"), "junk");
    t_write_file(t_path(d, "123.mlog"), "junk");
    mkdir(t_path(d, "subdir"), 0755);
    agree(d, 10, "files that are not segments", NULL);

    snprintf(d, sizeof d, "%s/seg-link", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    ASSERT_TRUE(symlink("/dev/null", p) == 0, "symlink");
    agree(d, 10, "a symlink named like the last segment", NULL);

    snprintf(d, sizeof d, "%s/fifo-seg", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    ASSERT_TRUE(mkfifo(p, 0600) == 0, "mkfifo %s", p);
    agree(d, 10, "a FIFO named like the last segment", NULL);
    alarm(0);
}

/* ---- the corruption sweep's states ------------------------------------------------------- */

static void sweep(const char *base)
{
    char dir[600], what[300], names[8][64];
    int all = getenv("MAPLOG_LONG_TESTS") && *getenv("MAPLOG_LONG_TESTS") == '1';
    uint64_t cases = 0, candidates = 0;
    unsigned stride = t_sweep_stride();
    snprintf(dir, sizeof dir, "%s/sweep", base);
    make_log(dir, NREC, 0);
    ASSERT_EQ(list_segs(dir, names, 8), 2);
    for (int seg = 0; seg < 2; seg++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, names[seg]);
        /* where the records end: the high-water mark of the file */
        static unsigned char img[SEG];
        t_pread(path, img, SEG, 0);
        uint64_t end = SEG;
        while (end > 4096 && img[end - 1] == 0)
            end--;
        for (uint64_t off = 0; off < end; off++) {
            int header_page = off < 128 || (off >= 512 && off < 576) ||
                              (off >= 1024 && off < 1088) || (off >= 1536 && off < 1600);
            if (off < 4096 ? !header_page : !all && off % 41 != 0)
                continue;
            if (candidates++ % stride)
                continue;
            int bit = off < 4096 ? (int)(off % 8) : (int)t_rand_below(8);
            unsigned char b = img[off] ^ (unsigned char)(1u << bit);
            t_pwrite(path, &b, 1, (off_t)off);
            snprintf(what, sizeof what, "flip of bit %d at %s offset %" PRIu64, bit, names[seg],
                     off);
            agree(dir, NREC, what, NULL);
            t_pwrite(path, &img[off], 1, (off_t)off);
            cases++;
        }
    }
    printf("sweep: %" PRIu64 " bit flips\n", cases);
}

/* A writer process reserves a record, appends n more (payload by sequence number, as
 * make_log's) and dies without closing. */
static void crashed_log(const char *dir, int n)
{
    pid_t pid = fork();
    if (pid == 0) {
        maplog *log;
        maplog_reservation res;
        unsigned char buf[100];
        if (t_open(&log, dir, SEG, MAPLOG_OPT_PREFAULT, 0LL, 0) || maplog_reserve(log, 40, &res))
            _exit(2);
        memset(res.data, 0x5a, 20);
        for (int i = 0; i < n; i++) {
            uint64_t next;
            maplog_next_seq(log, &next);
            t_fill(buf, len_of(next), next);
            if (maplog_append(log, buf, len_of(next), NULL))
                _exit(3);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child status %d", st);
}

static void crash_states(const char *base)
{
    char dir[700];
    verdict v;
    snprintf(dir, sizeof dir, "%s/crash-hole", base);
    crashed_log(dir, 300);
    ASSERT_EQ(agree(dir, 301, "a hole in the last segment", &v), 300);
    snprintf(dir, sizeof dir, "%s/crash-hole-rollover", base);
    crashed_log(dir, 3000);
    ASSERT_EQ(agree(dir, 3001, "a hole in a segment the log rolled over from", &v), 3000);
    /* the first segment's last record made garbage: records lost between segments */
    char names[64][64];
    int k = list_segs(dir, names, 64);
    ASSERT_TRUE(k > 2, "%d segments", k);
    const char *s0 = t_path(dir, names[0]);
    uint64_t n0, last = t_last_record(s0, &n0);
    unsigned char junk[16];
    memset(junk, 0x77, sizeof junk);
    t_pwrite(s0, junk, sizeof junk, (off_t)last);
    ASSERT_EQ(agree(dir, 3001, "records lost between segments, and a hole", &v), n0 - 2);
}

/* Bytes past the records of the last segment, after zeros: a rollover mark in its last 8
 * bytes, where no record header fits, as a rollover cut short leaves it when its successor
 * is gone.  The record rule reads no record there; the tail is still torn. */
static void tail_past_zeros(const char *base)
{
    char dir[700], names[64][64];
    verdict v;
    snprintf(dir, sizeof dir, "%s/tail-mark", base);
    make_log(dir, NREC, 0);
    int k = list_segs(dir, names, 64);
    uint64_t mark = UINT64_MAX;
    t_pwrite(t_path(dir, names[k - 1]), &mark, 8, SEG - 8);
    ASSERT_EQ(agree(dir, NREC, "a rollover mark in the last 8 bytes of the last segment", &v),
              NREC);
    AGREE(v.problems > 0 && strstr(v.first_problem, "torn tail") && strstr(v.plan, "torn tail"), &v,
          "the mark is a torn tail to verify and to recover");
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("agree");
    snprintf(work_open, sizeof work_open, "%s/work-open", base);
    snprintf(work_apply, sizeof work_apply, "%s/work-apply", base);
    synced_loss(base);
    bad_archive(base);
    deleted_last(base);
    deleted_after_mark(base);
    crash_states(base);
    tail_past_zeros(base);
    hostile(base);
    sweep(base);
    printf("%" PRIu64 " log states: open, verify and recover agree (%" PRIu64
           " repaired by recover --apply, %" PRIu64 " refused by open)\n",
           states, planned, refused);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
