/* test_faults.c -- every call through the os seam failing in turn.
 *
 * A workload (open, appends across many rollovers, syncs, close) runs in a child process
 * with the n-th call of one kind failing once: EIO everywhere, ENOSPC where the disk can
 * fill, EINTR everywhere (which must be retried: the workload then succeeds entirely),
 * a failed mapping for mmap.  Afterwards the log must reopen with no fault, every record
 * whose append was acknowledged must be present and intact, sequence numbers dense, and
 * any error the workload got must name the system call that failed. */
#include "harness.h"

#include "os.h"

#include <pthread.h>
#include <sys/mman.h>

#define SEG (64 * 1024)
#define NREC 3000

enum {
    F_OPENAT,
    F_FTRUNCATE,
    F_FALLOCATE,
    F_MMAP,
    F_MSYNC,
    F_FSYNC,
    F_FDATASYNC,
    F_RENAME,
    F_UNLINK,
    F_NKINDS
};
static const char *const kind_name[F_NKINDS] = {"open",  "ftruncate", "fallocate", "mmap",  "msync",
                                                "fsync", "fdatasync", "rename",    "unlink"};

static mlg__os_table real;
static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;
static int f_kind = -1, f_nth, f_errno, f_fired, f_on_spare;
static int counts[F_NKINDS];

/* 1 if this call should fail (and errno is set). */
static int should_fail(int kind)
{
    pthread_mutex_lock(&fmu);
    int n = ++counts[kind];
    int fire = kind == f_kind && n == f_nth && !f_fired;
    if (fire)
        f_fired = 1;
    pthread_mutex_unlock(&fmu);
    if (fire)
        errno = f_errno;
    return fire;
}

static int w_openat(int d, const char *p, int f, mode_t m)
{
    return should_fail(F_OPENAT) ? -1 : real.openat(d, p, f, m);
}
static int w_ftruncate(int fd, off_t l)
{
    return should_fail(F_FTRUNCATE) ? -1 : real.ftruncate(fd, l);
}
static int w_fallocate(int fd, off_t o, off_t l)
{
    return should_fail(F_FALLOCATE) ? -1 : real.fallocate(fd, o, l);
}
static void *w_mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
    return should_fail(F_MMAP) ? MAP_FAILED : real.mmap(a, l, p, f, fd, o);
}
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

static int w_msync(void *a, size_t l, int f)
{
    if (!(f & MS_SYNC) || !should_fail(F_MSYNC))
        return real.msync(a, l, f);
    f_on_spare = addr_is_spare(a); /* a spare's header: no records to lose */
    errno = f_errno;
    return -1;
}
static int w_fsync(int fd)
{
    return should_fail(F_FSYNC) ? -1 : real.fsync(fd);
}
static int w_fdatasync(int fd)
{
    if (!should_fail(F_FDATASYNC))
        return real.fdatasync(fd);
    /* a spare holds no records yet: failing its sync loses nothing to report later */
    char link[64], target[512] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    f_on_spare = n > 0 && strstr(target, "next.mlog-spare") != NULL;
    errno = f_errno;
    return -1;
}
static int w_rename(int a, const char *b, int c, const char *d)
{
    return should_fail(F_RENAME) ? -1 : real.renameat(a, b, c, d);
}
static int w_unlink(int d, const char *p, int f)
{
    return should_fail(F_UNLINK) ? -1 : real.unlinkat(d, p, f);
}

static void install(void)
{
    real = mlg__os;
    mlg__os.openat = w_openat;
    mlg__os.ftruncate = w_ftruncate;
    mlg__os.fallocate = w_fallocate;
    mlg__os.mmap = w_mmap;
    mlg__os.msync = w_msync;
    mlg__os.fsync = w_fsync;
    mlg__os.fdatasync = w_fdatasync;
    mlg__os.renameat = w_rename;
    mlg__os.unlinkat = w_unlink;
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
    char first_err[512];
};

/* The workload, in the child.  Stops appending at the first failure. */
static void workload(const char *dir, struct report *rep)
{
    maplog *log = NULL;
    unsigned char buf[700];
    install();
    rep->first_rc = 0;
    int rc = t_open(&log, dir, SEG, MAPLOG_OPT_FLUSH_BYTES, 16384LL, 0);
    if (rc) {
        rep->first_rc = rc;
        snprintf(rep->first_err, sizeof rep->first_err, "%s", maplog_last_open_error());
        goto out;
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
            rep->first_rc = rc;
            snprintf(rep->first_err, sizeof rep->first_err, "%s", maplog_errmsg(log));
            break;
        }
        rep->acked = seq + 1;
    }
    rc = maplog_close(log);
    if (rc && !rep->first_rc) {
        rep->first_rc = rc;
        snprintf(rep->first_err, sizeof rep->first_err, "close: %s", maplog_errmsg(NULL));
    }
out:
    pthread_mutex_lock(&fmu);
    memcpy(rep->counts, counts, sizeof counts);
    rep->fired = f_fired;
    rep->on_spare = f_on_spare;
    pthread_mutex_unlock(&fmu);
}

static void run_case(const char *dir, int kind, int nth, int err, struct report *rep)
{
    memset(rep, 0, sizeof *rep);
    struct report *shared =
        mmap(NULL, sizeof *rep, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(shared != MAP_FAILED, "mmap");
    memset(shared, 0, sizeof *shared);
    pid_t pid = fork();
    if (pid == 0) {
        f_kind = kind;
        f_nth = nth;
        f_errno = err;
        workload(dir, shared);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "workload child died: status %d", st);
    *rep = *shared;
    munmap(shared, sizeof *shared);
}

/* After a case: reopen with no faults; all acknowledged records present and intact. */
static uint64_t verify(const char *dir, uint64_t acked)
{
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[700];
    uint64_t next;
    int rc = t_open(&log, dir, SEG, 0);
    ASSERT_TRUE(rc == 0, "reopen after the fault: %s", maplog_last_open_error());
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_TRUE(next >= acked, "next %" PRIu64 " < acknowledged %" PRIu64, next, acked);
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    for (uint64_t s = 0; s < next; s++) {
        rc = maplog_reader_next(r, &rec);
        ASSERT_TRUE(rc == 0, "seq %" PRIu64 ": rc %d %s", s, rc, maplog_reader_errmsg(r));
        ASSERT_EQ(rec.seq, s);
        ASSERT_EQ(rec.len, len_of(s));
        t_fill(want, rec.len, s);
        ASSERT_MEM(rec.data, want, rec.len);
    }
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    maplog_reader_close(r);
    return next;
}

int main(int argc, char **argv)
{
    struct report rep;
    char dir[600];
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("faults");

    /* a clean run counts the calls of each kind */
    snprintf(dir, sizeof dir, "%s/count", base);
    run_case(dir, -1, 0, 0, &rep);
    ASSERT_EQ(rep.first_rc, 0);
    ASSERT_EQ(rep.acked, NREC);
    verify(dir, rep.acked);
    int base_counts[F_NKINDS];
    memcpy(base_counts, rep.counts, sizeof base_counts);
    for (int k = 0; k < F_NKINDS; k++)
        printf("%-10s %d calls in the workload\n", kind_name[k], base_counts[k]);

    int cases = 0, errors = 0;
    const int errs[] = {EIO, ENOSPC, EINTR};
    for (int k = 0; k < F_NKINDS; k++) {
        for (int e = 0; e < 3; e++) {
            int err = errs[e];
            if (err == ENOSPC && k != F_FTRUNCATE && k != F_FALLOCATE && k != F_OPENAT)
                continue;
            if (k == F_MMAP && err != EIO)
                continue;
            if (k == F_MMAP)
                err = ENOMEM;
            /* every occurrence up to 12, then a sample of the rest, and the last */
            for (int n = 1; n <= base_counts[k]; n = n < 12 ? n + 1 : n * 2) {
                snprintf(dir, sizeof dir, "%s/%s-%d-%d", base, kind_name[k], err, n);
                CTX("%s failing with %s at call %d", kind_name[k], strerror(err), n);
                run_case(dir, k, n, err, &rep);
                if (err == EINTR) {
                    ASSERT_TRUE(rep.first_rc == 0, "EINTR must be retried, got: %s", rep.first_err);
                    ASSERT_EQ(rep.acked, NREC);
                }
                if (rep.fired && !rep.on_spare && err == EIO &&
                    (k == F_MSYNC || k == F_FSYNC || k == F_FDATASYNC))
                    ASSERT_TRUE(rep.first_rc != 0,
                                "a failed %s must fail a later sync, not be retried away",
                                kind_name[k]);
                if (rep.first_rc) {
                    errors++;
                    ASSERT_TRUE(strstr(rep.first_err, kind_name[k]) != NULL,
                                "error does not name %s: %s", kind_name[k], rep.first_err);
                    if (n <= 2)
                        printf("  %s/%s #%d -> %s\n", kind_name[k], strerror(err), n,
                               rep.first_err);
                }
                verify(dir, rep.acked);
                t_rm_rf(dir);
                cases++;
            }
        }
    }
    printf("%d fault cases, %d surfaced as errors, all reopened with every acknowledged "
           "record intact\n",
           cases, errors);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
