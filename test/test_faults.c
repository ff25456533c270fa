/* test_faults.c -- every call through the os seam failing in turn, on every path.
 *
 * The seam's entries come from its own list (MLG__OS_CALLS in os.h): a new entry is
 * counted and failed here without a change to this file.  Each path runs in a child
 * process with the n-th call of one entry failing once: EIO everywhere, ENOSPC where the
 * disk can fill, EINTR everywhere (which must be retried: the work then succeeds
 * entirely), a failed mapping for mmap.  The paths:
 *   - the writer: open (directory, lock, recovery), appends across many rollovers, syncs,
 *     close;
 *   - archiving a sealed segment (MAPLOG_OPT_ARCHIVE's work);
 *   - retention's removal (MAPLOG_OPT_RETAIN_SEGMENTS), applied by maplog_sync;
 *   - offline repair (maplog_recover with MAPLOG_RECOVER_APPLY) of a damaged log.
 * Afterwards, with the real calls back: every record whose append was acknowledged (or
 * that the repair keeps) is present and intact, maplog_verify finds no problem it should
 * not, and any error returned names the call or the step that failed and the file.  Work
 * the background does (archive, retention) only waits for a later pass, which then
 * succeeds. */
#include "harness.h"

#include "os.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "logdir.h"

#define SEG (64 * 1024)
#define NREC 3000

/* The seam's entries, by name, from its own list. */
#define KIND(ret, name, params, args, fail) K_##name,
enum { MLG__OS_CALLS(KIND) F_NKINDS };
#define NAME(ret, name, params, args, fail) #name,
static const char *const kind_name[F_NKINDS] = {MLG__OS_CALLS(NAME)};

/* Failing these must cost nothing: the work succeeds entirely. */
static int harmless(int k)
{
    return k == K_close || k == K_madvise || k == K_munmap || k == K_writeback || k == K_pwrite;
}

/* What an error from a failed call must say (besides the file). */
static const char *word_for(int k)
{
    switch (k) {
    case K_open:
    case K_openat:
        return "open";
    case K_mkdir:
        return "creat";
    case K_listdir:
        return "list";
    case K_flock:
        return "lock";
    case K_renameat:
        return "rename";
    case K_unlinkat:
        return "remov";
    case K_fstatat:
        return "stat";
    case K_pread:
        return "read";
    default:
        return kind_name[k];
    }
}

static mlg__os_table real;
static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;
static int f_kind = -1, f_nth, f_errno, f_fired, f_on_spare;
static int f_armed = 1; /* under fmu: calls before arming neither fail nor count */
static int counts[F_NKINDS];

static void arm(int on)
{
    pthread_mutex_lock(&fmu);
    f_armed = on;
    pthread_mutex_unlock(&fmu);
}

/* 1 if this call should fail (and errno is set). */
static int should_fail(int kind)
{
    pthread_mutex_lock(&fmu);
    if (!f_armed) {
        pthread_mutex_unlock(&fmu);
        return 0;
    }
    int n = ++counts[kind];
    int fire = kind == f_kind && n == f_nth && !f_fired;
    if (fire)
        f_fired = 1;
    pthread_mutex_unlock(&fmu);
    if (fire)
        errno = f_errno;
    return fire;
}

/* One wrapper per entry: fail this call, or make the real one. */
#define WRAP(ret, name, params, args, fail)                                                        \
    static ret w_##name params                                                                     \
    {                                                                                              \
        return should_fail(K_##name) ? (ret)(fail) : real.name args;                               \
    }
MLG__OS_CALLS(WRAP)

/* Is addr inside a mapping of the spare segment?  (from /proc/self/maps) */
static int addr_is_spare(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int spare = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (unsigned long)addr >= lo &&
            (unsigned long)addr < hi) {
            spare = strstr(line, "next.mlog-spare") != NULL;
            break;
        }
    }
    if (f)
        fclose(f);
    return spare;
}

static int w_msync_sync(void *a, size_t l, int f)
{
    if (!(f & MS_SYNC) || !should_fail(K_msync))
        return real.msync(a, l, f);
    f_on_spare = addr_is_spare(a); /* a spare's header: no records to lose */
    errno = f_errno;
    return -1;
}
static int w_fdatasync_spare(int fd)
{
    if (!should_fail(K_fdatasync))
        return real.fdatasync(fd);
    /* a spare holds no records yet: failing its sync loses nothing to report later */
    char link[64], target[512] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    f_on_spare = n > 0 && strstr(target, "next.mlog-spare") != NULL;
    errno = f_errno;
    return -1;
}

static void install(void)
{
    real = mlg__os;
#define SET(ret, name, params, args, fail) mlg__os.name = w_##name;
    MLG__OS_CALLS(SET)
    mlg__os.msync = w_msync_sync; /* only MS_SYNC promises anything */
    mlg__os.fdatasync = w_fdatasync_spare;
}

static size_t len_of(uint64_t s)
{
    return (size_t)(s * 31 % 700);
}

struct report {
    uint64_t acked; /* appends acknowledged: seqs 0..acked-1 */
    int counts[F_NKINDS];
    int fired, on_spare;
    int first_rc;
    char first_err[2048];
};

static void report_counts(struct report *rep)
{
    pthread_mutex_lock(&fmu);
    memcpy(rep->counts, counts, sizeof counts);
    rep->fired = f_fired;
    rep->on_spare = f_on_spare;
    pthread_mutex_unlock(&fmu);
}

static void fail_with(struct report *rep, int rc, const char *msg)
{
    if (rep->first_rc)
        return;
    rep->first_rc = rc;
    snprintf(rep->first_err, sizeof rep->first_err, "%s", msg);
}

/* ---- the paths ------------------------------------------------------------------------ */

/* The writer: open, appends across many rollovers, syncs, close.  Stops appending at the
 * first failure. */
static void workload(const char *dir, struct report *rep)
{
    maplog *log = NULL;
    unsigned char buf[700];
    install();
    int rc = t_open(&log, dir, SEG, MAPLOG_OPT_FLUSH_BYTES, 16384LL, 0);
    if (rc) {
        fail_with(rep, rc, maplog_last_open_error());
        return;
    }
    uint64_t next;
    maplog_next_seq(log, &next);
    for (uint64_t i = next; i < next + NREC; i++) {
        uint64_t seq;
        t_fill(buf, len_of(i), i);
        rc = maplog_append(log, buf, len_of(i), &seq);
        if (!rc && i % 400 == 399)
            rc = maplog_sync(log);
        if (rc) {
            fail_with(rep, rc, maplog_errmsg(log));
            break;
        }
        rep->acked = seq + 1;
    }
    rc = maplog_close(log);
    if (rc) {
        char m[600];
        snprintf(m, sizeof m, "close: %s", maplog_errmsg(NULL));
        fail_with(rep, rc, m);
    }
}

/* A log of n records, written and closed with no fault. */
static void make_log(const char *dir, uint64_t n)
{
    maplog *log;
    unsigned char buf[700];
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (uint64_t i = 0; i < n; i++) {
        t_fill(buf, len_of(i), i);
        ASSERT_OK(maplog_append(log, buf, len_of(i), NULL));
    }
    ASSERT_OK(maplog_close(log));
}

static size_t segments(const char *dir, uint64_t **segs)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    size_t n;
    mlg__err err;
    ASSERT_TRUE(dirfd >= 0, "%s: %s", dir, strerror(errno));
    ASSERT_OK(mlg__list_segments(dirfd, segs, &n, NULL, &err, dir));
    close(dirfd);
    return n;
}

#define NSMALL 600

/* Archiving: every sealed segment compressed in turn, as the background thread does with
 * MAPLOG_OPT_ARCHIVE.  Stops at the first failure. */
static void archive_path(const char *dir, struct report *rep)
{
    uint64_t *segs;
    size_t n = segments(dir, &segs);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    mlg__err err;
    install();
    rep->acked = NSMALL;
    for (size_t i = 0; i + 1 < n; i++) {
        int rc = mlg__archive_segment(dirfd, dir, segs[i], 1, &err);
        if (rc) {
            fail_with(rep, rc, err.msg);
            break;
        }
    }
    mlg__os_reset();
    close(dirfd);
    free(segs);
}

/* Retention: keep 1 segment, applied by maplog_sync (and again by close). */
static void retention_path(const char *dir, struct report *rep)
{
    maplog *log;
    /* The seam is set before the open starts the log's threads (changing it under them
     * would be a data race), disarmed until the open is done. */
    arm(0);
    install();
    int rc = t_open(&log, dir, SEG, MAPLOG_OPT_RETAIN_SEGMENTS, 1LL, 0);
    arm(1);
    if (rc) {
        fail_with(rep, rc, maplog_last_open_error());
        return;
    }
    rep->acked = NSMALL;
    if ((rc = maplog_sync(log)))
        fail_with(rep, rc, maplog_errmsg(log));
    if ((rc = maplog_close(log)))
        fail_with(rep, rc, maplog_errmsg(NULL));
}

static uint64_t damaged_seq;  /* the record repair must cut at */
static char damaged_name[32]; /* the segment file holding it */

/* Offline repair of a log with a damaged record inside a sealed segment. */
static void repair_path(const char *dir, struct report *rep)
{
    char report[2048];
    int64_t dropped;
    install();
    rep->acked = damaged_seq;
    int rc = maplog_recover(dir, MAPLOG_RECOVER_APPLY, report, sizeof report, &dropped);
    if (rc)
        fail_with(rep, rc, report);
}

/* Damage the last record of the second-to-last segment (one with a payload to flip). */
static void damage(const char *dir)
{
    uint64_t *segs;
    size_t n = segments(dir, &segs);
    ASSERT_TRUE(n >= 3, "%zu segments", n);
    uint64_t s = segs[n - 1] - 1;
    while (len_of(s) < 16)
        s--;
    damaged_seq = s;
    mlg__seg_name(damaged_name, segs[n - 2]);
    char path[700], name[32];
    unsigned char want[700];
    mlg__seg_name(name, segs[n - 2]);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    t_fill(want, len_of(s), s);
    int fd = open(path, O_RDWR);
    struct stat st;
    ASSERT_TRUE(fd >= 0 && fstat(fd, &st) == 0, "%s", path);
    unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_TRUE(m != MAP_FAILED, "mmap %s", path);
    unsigned char *p = memmem(m, (size_t)st.st_size, want, len_of(s));
    ASSERT_TRUE(p != NULL, "payload of seq %" PRIu64 " not found in %s", s, path);
    p[len_of(s) / 2] ^= 0x40;
    munmap(m, (size_t)st.st_size);
    close(fd);
    free(segs);
}

/* ---- running a case ------------------------------------------------------------------ */

typedef void (*path_fn)(const char *dir, struct report *rep);

static void run_case(path_fn fn, const char *dir, int kind, int nth, int err, struct report *rep)
{
    memset(rep, 0, sizeof *rep);
    struct report *shared =
        mmap(NULL, sizeof *rep, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(shared != MAP_FAILED, "mmap");
    memset(shared, 0, sizeof *shared);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        f_kind = kind;
        f_nth = nth;
        f_errno = err;
        fn(dir, shared);
        report_counts(shared);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child died: status %d", st);
    *rep = *shared;
    munmap(shared, sizeof *shared);
}

/* Read the log from its first record: every record from first_seq on is the one written,
 * up to at least upto.  Returns the next seq after the last record read; *stop says how
 * reading ended (MAPLOG_END, or an error past upto). */
static uint64_t read_back(const char *dir, uint64_t first_seq, uint64_t upto, int *stop)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[700];
    uint64_t s = first_seq;
    int rc;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        ASSERT_EQ(rec.seq, s);
        ASSERT_EQ(rec.len, len_of(s));
        t_fill(want, rec.len, s);
        ASSERT_MEM(rec.data, want, rec.len);
        s++;
    }
    ASSERT_TRUE(s >= upto,
                "read stops at seq %" PRIu64 " (rc %d: %s), records to %" PRIu64
                " were acknowledged",
                s, rc, maplog_reader_errmsg(r), upto);
    *stop = rc;
    maplog_reader_close(r);
    return s;
}

static uint64_t problems_of(const char *dir)
{
    uint64_t problems = 0;
    ASSERT_OK(maplog_verify(dir, 0, NULL, NULL, NULL, &problems));
    return problems;
}

/* After a writer case: reopen with no faults; all acknowledged records present and intact. */
static void check_writer(const char *dir, uint64_t acked)
{
    maplog *log;
    uint64_t next;
    int stop;
    int rc = t_open(&log, dir, SEG, 0);
    ASSERT_TRUE(rc == 0, "reopen after the fault: %s", maplog_last_open_error());
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_TRUE(next >= acked, "next %" PRIu64 " < acknowledged %" PRIu64, next, acked);
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(read_back(dir, 0, next, &stop), next);
    ASSERT_EQ(stop, MAPLOG_END);
    ASSERT_EQ(problems_of(dir), 0);
}

/* After an archive case: records all there, no problem; a later pass archives them all. */
static void check_archive(const char *dir)
{
    int stop;
    uint64_t *segs;
    mlg__err err;
    check_writer(dir, NSMALL); /* reopening also clears what an archiving cut short left */
    size_t n = segments(dir, &segs);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    for (size_t i = 0; i + 1 < n; i++) {
        ASSERT_TRUE(mlg__archive_segment(dirfd, dir, segs[i], 1, &err) == 0, "later pass: %s",
                    err.msg);
        char name[40];
        struct stat st;
        mlg__seg_name(name, segs[i]);
        ASSERT_TRUE(fstatat(dirfd, name, &st, 0) < 0, "%s still there after archiving", name);
    }
    close(dirfd);
    free(segs);
    ASSERT_EQ(read_back(dir, 0, NSMALL, &stop), NSMALL);
    ASSERT_EQ(problems_of(dir), 0);
}

static size_t clean_retained; /* segments left by retention with no fault */

/* After a retention case: what is left is whole, from its first segment to the end; a
 * later pass removes what the failure kept. */
static void check_retention(const char *dir)
{
    uint64_t *segs;
    int stop;
    size_t n = segments(dir, &segs);
    ASSERT_EQ(read_back(dir, segs[0], NSMALL, &stop), NSMALL);
    ASSERT_EQ(stop, MAPLOG_END);
    ASSERT_EQ(problems_of(dir), 0);
    free(segs);
    (void)n;
    maplog *log;
    ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_RETAIN_SEGMENTS, 1LL, 0));
    ASSERT_OK(maplog_sync(log));
    ASSERT_OK(maplog_close(log));
    n = segments(dir, &segs);
    ASSERT_TRUE(n == clean_retained, "later pass left %zu segments, a clean one %zu", n,
                clean_retained);
    ASSERT_EQ(read_back(dir, segs[0], NSMALL, &stop), NSMALL);
    free(segs);
}

/* A problem verify finds after a failed repair: only in the damaged segment. */
static void damaged_only(void *ctx, const maplog_problem *p)
{
    (void)ctx;
    ASSERT_TRUE(strcmp(p->file, damaged_name) == 0,
                "a failed repair left a problem outside %s: %s: offset %" PRIu64 ": %s",
                damaged_name, p->file, p->offset, p->what);
}

/* After a repair case: the prefix before the damage is intact, verify finds nothing outside
 * the damaged segment; a later repair finishes the job. */
static void check_repair(const char *dir)
{
    int stop;
    char report[2048];
    uint64_t p;
    read_back(dir, 0, damaged_seq, &stop);
    ASSERT_OK(maplog_verify(dir, 0, damaged_only, NULL, NULL, &p));
    int rc = maplog_recover(dir, MAPLOG_RECOVER_APPLY, report, sizeof report, NULL);
    ASSERT_TRUE(rc == 0, "later repair: %s", report);
    ASSERT_EQ(read_back(dir, 0, damaged_seq, &stop), damaged_seq);
    ASSERT_EQ(stop, MAPLOG_END);
    ASSERT_EQ(problems_of(dir), 0);
}

/* ---- the cases ------------------------------------------------------------------------- */

struct path {
    const char *name;
    path_fn run;
    void (*prepare)(const char *dir);
    void (*check)(const char *dir, const struct report *rep);
    int cases, errors, kinds;
};

static void prep_none(const char *dir)
{
    (void)dir;
}
static void prep_small(const char *dir)
{
    make_log(dir, NSMALL);
}
static void prep_damaged(const char *dir)
{
    make_log(dir, NSMALL);
    damage(dir);
}
static void chk_writer(const char *dir, const struct report *rep)
{
    check_writer(dir, rep->acked);
}
static void chk_archive(const char *dir, const struct report *rep)
{
    (void)rep;
    check_archive(dir);
}
static void chk_retention(const char *dir, const struct report *rep)
{
    (void)rep;
    check_retention(dir);
}
static void chk_repair(const char *dir, const struct report *rep)
{
    (void)rep;
    check_repair(dir);
}

static void run_path(const char *base, struct path *pt)
{
    struct report rep;
    char dir[600];
    int base_counts[F_NKINDS];
    /* a clean run counts the calls of each kind */
    snprintf(dir, sizeof dir, "%s/%s-count", base, pt->name);
    pt->prepare(dir);
    run_case(pt->run, dir, -1, 0, 0, &rep);
    CTX("%s, no fault", pt->name);
    ASSERT_TRUE(rep.first_rc == 0, "%s", rep.first_err);
    pt->check(dir, &rep);
    t_rm_rf(dir);
    memcpy(base_counts, rep.counts, sizeof base_counts);
    printf("%s:", pt->name);
    for (int k = 0; k < F_NKINDS; k++)
        if (base_counts[k]) {
            printf(" %s %d", kind_name[k], base_counts[k]);
            pt->kinds++;
        }
    printf("\n");

    const int errs[] = {EIO, ENOSPC, EINTR};
    for (int k = 0; k < F_NKINDS; k++) {
        for (int e = 0; e < 3; e++) {
            int err = errs[e];
            if (err == ENOSPC && k != K_ftruncate && k != K_fallocate && k != K_openat &&
                k != K_write && k != K_mkdir)
                continue;
            if (k == K_mmap && err != EIO)
                continue;
            if (k == K_mmap)
                err = ENOMEM;
            /* every occurrence up to 8, then a sample of the rest */
            for (int n = 1; n <= base_counts[k]; n = n < 8 ? n + 1 : n * 3) {
                snprintf(dir, sizeof dir, "%s/case-%d", base, pt->cases);
                CTX("%s: %s failing with %s at call %d", pt->name, kind_name[k], strerror(err), n);
                pt->prepare(dir);
                run_case(pt->run, dir, k, n, err, &rep);
                if (err == EINTR || harmless(k)) {
                    ASSERT_TRUE(rep.first_rc == 0, "must cost nothing, got: %s", rep.first_err);
                    ASSERT_EQ(rep.acked, pt->run == workload ? NREC : rep.acked);
                }
                if (pt->run == workload && rep.fired && !rep.on_spare && err == EIO &&
                    (k == K_msync || k == K_fsync || k == K_fdatasync))
                    ASSERT_TRUE(rep.first_rc != 0,
                                "a failed %s must fail a later sync, not be retried away",
                                kind_name[k]);
                if (rep.first_rc) {
                    pt->errors++;
                    /* the message, without the scratch directory's own name */
                    const char *msg = strstr(rep.first_err, dir);
                    msg = msg ? msg + strlen(dir) : rep.first_err;
                    ASSERT_TRUE(strstr(msg, word_for(k)) != NULL, "error does not say %s: %s",
                                word_for(k), rep.first_err);
                    ASSERT_TRUE(strstr(rep.first_err, base) != NULL,
                                "error does not name the file: %s", rep.first_err);
                    if (n == 1)
                        printf("  %s: %s/%s #%d -> %s\n", pt->name, kind_name[k], strerror(err), n,
                               msg);
                }
                pt->check(dir, &rep);
                t_rm_rf(dir);
                pt->cases++;
            }
        }
    }
}

/* The lock: a second writer is refused, and says why. */
static void lock_refused(const char *base)
{
    char dir[600];
    maplog *a, *b;
    snprintf(dir, sizeof dir, "%s/locked", base);
    ASSERT_OK(t_open(&a, dir, SEG, 0));
    ASSERT_EQ(t_open(&b, dir, SEG, 0), MAPLOG_ELOCKED);
    ASSERT_TRUE(strstr(maplog_last_open_error(), "maplog.lock") != NULL, "%s",
                maplog_last_open_error());
    char report[512];
    ASSERT_EQ(maplog_recover(dir, MAPLOG_RECOVER_APPLY, report, sizeof report, NULL),
              MAPLOG_ELOCKED);
    ASSERT_OK(maplog_close(a));
    t_rm_rf(dir);
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("faults");
    char dir[600];
    uint64_t *segs;

    lock_refused(base);
    /* what retention leaves and verify finds with no fault, for comparison */
    snprintf(dir, sizeof dir, "%s/baseline", base);
    make_log(dir, NSMALL);
    maplog *log;
    ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_RETAIN_SEGMENTS, 1LL, 0));
    ASSERT_OK(maplog_sync(log));
    ASSERT_OK(maplog_close(log));
    clean_retained = segments(dir, &segs);
    free(segs);
    t_rm_rf(dir);
    prep_damaged(dir);
    ASSERT_TRUE(problems_of(dir) > 0, "the damage is not seen");
    t_rm_rf(dir);

    struct path paths[] = {
        {"writer", workload, prep_none, chk_writer, 0, 0, 0},
        {"archive", archive_path, prep_small, chk_archive, 0, 0, 0},
        {"retention", retention_path, prep_small, chk_retention, 0, 0, 0},
        {"repair", repair_path, prep_damaged, chk_repair, 0, 0, 0},
    };
    int cases = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        run_path(base, &paths[i]);
        cases += paths[i].cases;
    }
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        printf("%-10s %4d injected failures over %2d of the seam's %d entries, %d surfaced as "
               "errors\n",
               paths[i].name, paths[i].cases, paths[i].kinds, F_NKINDS, paths[i].errors);
    printf("%d fault cases, all reopened with every acknowledged record intact\n", cases);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
