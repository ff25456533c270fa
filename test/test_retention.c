/* test_retention.c -- retention removes exactly what its policy says, whole segments in
 * order, while a reader is in the middle of the oldest one, and never on an appending
 * thread; archived (zlib) segments read back transparently, verify, seek, and survive
 * reopening. */
#include "harness.h"

#include "crc32c.h"

#include <sys/resource.h>
#include "os.h"

#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SEG (64 * 1024)

static int count_files(const char *dir, const char *suffix, uint64_t *oldest)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    *oldest = UINT64_MAX;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l == 20 + sl && strcmp(e->d_name + 20, suffix) == 0) {
            uint64_t s = strtoull(e->d_name, NULL, 10);
            if (s < *oldest)
                *oldest = s;
            n++;
        }
    }
    closedir(d);
    return n;
}

static size_t len_of(uint64_t s)
{
    return 40 + (size_t)(s % 90);
}

static void append_n(maplog *log, uint64_t n)
{
    unsigned char buf[200];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t next;
        maplog_next_seq(log, &next);
        t_fill(buf, len_of(next), next);
        ASSERT_OK(maplog_append(log, buf, len_of(next), NULL));
    }
}

/* read from the reader's position to the end; every record intact; returns count */
static uint64_t read_rest(maplog_reader *r, uint64_t expect_first, int *end_rc)
{
    maplog_record rec;
    unsigned char want[200];
    uint64_t n = 0;
    int rc;
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        ASSERT_EQ(rec.seq, expect_first + n);
        ASSERT_EQ(rec.len, len_of(rec.seq));
        t_fill(want, rec.len, rec.seq);
        ASSERT_MEM(rec.data, want, rec.len);
        n++;
    }
    *end_rc = rc;
    return n;
}

/* The seam's unlinkat, watched: which thread removes segment files. */
static pid_t appender_tid;
static atomic_int seg_unlinks, seg_unlinks_by_appender;
static int spy_unlinkat(int dirfd, const char *path, int flags)
{
    size_t l = strlen(path);
    if (l == 25 && strcmp(path + 20, ".mlog") == 0) {
        atomic_fetch_add(&seg_unlinks, 1);
        if ((pid_t)syscall(SYS_gettid) == appender_tid)
            atomic_fetch_add(&seg_unlinks_by_appender, 1);
    }
    return unlinkat(dirfd, path, flags);
}

/* In SYNC_EVERY mode an append syncs, and a sync may seal a segment; retention and
 * archiving still run on the background thread, never on the appending one, and without
 * anyone calling maplog_sync(). */
static void retention_off_the_append_path(const char *base)
{
    maplog *log;
    char d[600];
    uint64_t oldest;
    snprintf(d, sizeof d, "%s/appender", base);
    appender_tid = (pid_t)syscall(SYS_gettid);
    mlg__os.unlinkat = spy_unlinkat;
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_SYNC_EVERY,
                     MAPLOG_OPT_SYNC_EVERY, 64LL, MAPLOG_OPT_RETAIN_SEGMENTS, 2LL, 0));
    append_n(log, 4000); /* about six segments, each sealed by a sync or by the flusher */
    int files = 0;
    for (int i = 0; i < 1000 && (files = count_files(d, ".mlog", &oldest)) > 2; i++)
        usleep(10000);
    ASSERT_EQ(files, 2);
    ASSERT_TRUE(atomic_load(&seg_unlinks) >= 3, "retention removed %d segment files",
                atomic_load(&seg_unlinks));
    ASSERT_EQ(atomic_load(&seg_unlinks_by_appender), 0);
    printf("SYNC_EVERY: retention removed %d segments, none on the appending thread\n",
           atomic_load(&seg_unlinks));
    ASSERT_OK(maplog_close(log));

    /* Archiving likewise: each sealed segment is compressed and its plain file removed by
     * the background thread. */
    atomic_store(&seg_unlinks, 0);
    snprintf(d, sizeof d, "%s/appender-archive", base);
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_SYNC_EVERY,
                     MAPLOG_OPT_SYNC_EVERY, 64LL, MAPLOG_OPT_ARCHIVE, 1LL, 0));
    append_n(log, 4000);
    for (int i = 0; i < 1000 && count_files(d, ".mlogz", &oldest) < 3; i++)
        usleep(10000);
    int archived = count_files(d, ".mlogz", &oldest);
    ASSERT_TRUE(archived >= 3, "%d segments archived", archived);
    ASSERT_TRUE(atomic_load(&seg_unlinks) >= 3, "%d plain files removed after archiving",
                atomic_load(&seg_unlinks));
    ASSERT_EQ(atomic_load(&seg_unlinks_by_appender), 0);
    printf("SYNC_EVERY: %d segments archived, none on the appending thread\n", archived);
    ASSERT_OK(maplog_close(log));
    mlg__os_reset();
}

int main(int argc, char **argv)
{
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    char d[600];
    uint64_t oldest, next;
    int rc;
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("retention");
    retention_off_the_append_path(base);

    /* 1. by segment count, with a reader in the middle of segment 0 */
    snprintf(d, sizeof d, "%s/count", base);
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_RETAIN_SEGMENTS, 3LL, 0));
    append_n(log, 300);
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(maplog_reader_next(r, &rec));
    append_n(log, 5000); /* many rollovers */
    ASSERT_OK(maplog_sync(log));
    ASSERT_EQ(count_files(d, ".mlog", &oldest), 3);
    ASSERT_OK(maplog_next_seq(log, &next));
    printf("retain 3 segments: 3 files left, oldest starts at seq %" PRIu64 "\n", oldest);
    /* the reader finishes segment 0, which is gone from the directory but still mapped */
    uint64_t got = read_rest(r, 10, &rc);
    ASSERT_TRUE(got > 100 && rc == MAPLOG_ENOENT, "read %" PRIu64 " more, then rc %d: %s", got, rc,
                maplog_reader_errmsg(r));
    printf("reader mid-segment: read the rest of segment 0 (%" PRIu64 " records), then: %s\n", got,
           maplog_reader_errmsg(r));
    maplog_reader_close(r);
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    int64_t first;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first));
    ASSERT_EQ(first, oldest);
    ASSERT_EQ(read_rest(r, oldest, &rc), next - oldest);
    ASSERT_EQ(rc, MAPLOG_END);
    ASSERT_EQ(maplog_reader_seek(r, 0), MAPLOG_ENOENT);
    maplog_reader_close(r);
    ASSERT_OK(maplog_close(log));

    /* 2. by bytes */
    snprintf(d, sizeof d, "%s/bytes", base);
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_RETAIN_BYTES, 4LL * SEG, 0));
    append_n(log, 6000);
    ASSERT_OK(maplog_sync(log));
    int files = count_files(d, ".mlog", &oldest);
    ASSERT_TRUE(files == 4, "retain 4 segments' bytes: %d files", files);
    ASSERT_OK(maplog_close(log));

    /* 3. by age: sealed segments older than 50 ms go, the current one stays */
    snprintf(d, sizeof d, "%s/age", base);
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_RETAIN_AGE_MS, 50LL, 0));
    append_n(log, 3000);
    ASSERT_OK(maplog_sync(log));
    int before = count_files(d, ".mlog", &oldest);
    struct timespec ts = {0, 120000000};
    nanosleep(&ts, NULL);
    append_n(log, 1);
    ASSERT_OK(maplog_sync(log));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(count_files(d, ".mlog", &oldest), 1);
    printf("retain 50 ms: %d segments before, 1 after (the current, from seq %" PRIu64 ")\n",
           before, oldest);
    ASSERT_OK(maplog_close(log));

    /* 4. archive: sealed segments become .mlogz; everything reads back */
    snprintf(d, sizeof d, "%s/archive", base);
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_ARCHIVE, 1LL, 0));
    append_n(log, 6000);
    ASSERT_OK(maplog_sync(log));
    /* the background thread archives sealed segments: wait (up to 5 s) until only the
     * current segment is left uncompressed, then count */
    int plain = count_files(d, ".mlog", &oldest);
    for (int i = 0; i < 500 && plain != 1; i++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        plain = count_files(d, ".mlog", &oldest);
    }
    int archived = count_files(d, ".mlogz", &oldest);
    ASSERT_EQ(plain, 1); /* only the current segment is left uncompressed */
    ASSERT_TRUE(archived >= 5, "%d archived", archived);
    ASSERT_OK(maplog_close(log));
    long long packed = 0;
    {
        DIR *dd = opendir(d);
        struct dirent *e;
        while ((e = readdir(dd)))
            if (strstr(e->d_name, ".mlogz"))
                packed += t_file_size(t_path(d, e->d_name));
        closedir(dd);
    }
    printf("archive: %d sealed segments compressed to %lld bytes (%.1f%% of %d bytes)\n", archived,
           packed, 100.0 * (double)packed / (archived * (double)SEG), archived * SEG);
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    ASSERT_EQ(read_rest(r, 0, &rc), 6000);
    ASSERT_EQ(rc, MAPLOG_END);
    ASSERT_OK(maplog_reader_seek(r, 1234));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, 1234);
    maplog_reader_close(r);
    uint64_t problems = 99;
    ASSERT_OK(maplog_verify(d, 0, NULL, NULL, NULL, &problems));
    ASSERT_EQ(problems, 0);
    ASSERT_OK(maplog_verify(d, MAPLOG_VERIFY_QUICK, NULL, NULL, NULL, &problems));
    ASSERT_EQ(problems, 0);
    /* reopening recovers over archived segments and continues */
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_ARCHIVE, 1LL, 0));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, 6000);
    append_n(log, 10);
    ASSERT_OK(maplog_close(log));
    /* a damaged archive is reported, not read as data */
    {
        char z[700];
        snprintf(z, sizeof z, "%s/%020d.mlogz", d, 0);
        unsigned char b = 0;
        t_pread(z, &b, 1, 300);
        b ^= 0xff;
        t_pwrite(z, &b, 1, 300);
        ASSERT_OK(maplog_verify(d, 0, NULL, NULL, NULL, &problems));
        ASSERT_TRUE(problems >= 1, "damaged archive not reported");
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        rc = maplog_reader_next(r, &rec);
        ASSERT_TRUE(rc == MAPLOG_ECORRUPT, "rc %d", rc);
        printf("damaged archive: %s\n", maplog_reader_errmsg(r));
        maplog_reader_close(r);
    }
    /* 5. segments a writer left plain: archived after the next writer opens with the
     *    option, or at once by maplog_archive() */
    for (int how = 0; how < 2; how++) {
        snprintf(d, sizeof d, "%s/left-plain-%d", base, how);
        ASSERT_OK(t_open(&log, d, SEG, 0));
        append_n(log, 6000);
        ASSERT_OK(maplog_close(log)); /* no archiving asked: every segment plain */
        int nplain = count_files(d, ".mlog", &oldest);
        ASSERT_TRUE(nplain >= 6 && count_files(d, ".mlogz", &oldest) == 0, "%d plain", nplain);
        uint64_t tried = 0;
        if (how == 0) {
            ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_ARCHIVE, 1LL, 0));
            for (int i = 0; i < 500 && count_files(d, ".mlog", &oldest) != 1; i++)
                nanosleep(&(struct timespec){0, 10000000}, NULL);
        } else {
            ASSERT_OK(t_open(&log, d, SEG, 0));
            ASSERT_OK(maplog_archive(log, &tried));
            ASSERT_EQ(tried, (uint64_t)nplain - 1);
            ASSERT_OK(maplog_archive(log, &tried));
            ASSERT_EQ(tried, 0); /* nothing left */
        }
        ASSERT_EQ(count_files(d, ".mlog", &oldest), 1); /* the current segment */
        ASSERT_EQ(count_files(d, ".mlogz", &oldest), nplain - 1);
        append_n(log, 10);
        ASSERT_OK(maplog_close(log));
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        ASSERT_EQ(read_rest(r, 0, &rc), 6010);
        ASSERT_EQ(rc, MAPLOG_END);
        maplog_reader_close(r);
        ASSERT_OK(maplog_verify(d, 0, NULL, NULL, NULL, &problems));
        ASSERT_EQ(problems, 0);
        printf("%d sealed segments an earlier writer left plain: archived %s; all 6010 records "
               "read back, verify clean\n",
               nplain - 1, how ? "by maplog_archive()" : "after an open with MAPLOG_OPT_ARCHIVE");
    }
    ASSERT_EQ(maplog_archive(NULL, NULL), MAPLOG_EINVAL);

    /* an archive whose header (CRC made right) claims records in fewer bytes than one
     * record header: the log's first timestamp is read from it without reading past what
     * was inflated (under ASan: no report), and verify reports the archive */
    {
        char z[700];
        snprintf(z, sizeof z, "%s/left-plain-1/%020d.mlogz", base, 0);
        unsigned char h[96];
        t_pread(z, h, sizeof h, 0);
        uint64_t stored = 4096;
        memcpy(h + 24, &stored, 8);
        uint32_t crc = mlg__crc32c(0, h, 92);
        memcpy(h + 92, &crc, 4);
        t_pwrite(z, h, sizeof h, 0);
        snprintf(d, sizeof d, "%s/left-plain-1", base);
        int64_t first_ts = -1;
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        maplog_reader_info_get(r, MAPLOG_INFO_FIRST_TS, &first_ts);
        maplog_reader_close(r);
        ASSERT_OK(maplog_verify(d, 0, NULL, NULL, NULL, &problems));
        ASSERT_TRUE(problems >= 1, "an archive holding less than its header says: not reported");
        printf("an archive header claiming records in 4096 bytes: first timestamp %lld, verify "
               "reports %" PRIu64 " problem(s)\n",
               (long long)first_ts, problems);
    }

    /* 6. a segment that cannot be compressed (its temporary name is taken by a directory)
     *    is tried once: the background thread does not spin on it, and retention still
     *    runs */
    {
        snprintf(d, sizeof d, "%s/cannot-archive", base);
        ASSERT_OK(t_open(&log, d, SEG, 0));
        append_n(log, 6000);
        ASSERT_OK(maplog_close(log));
        char blocker[700];
        snprintf(blocker, sizeof blocker, "%s/%020d.mlogz.tmp", d, 0);
        ASSERT_TRUE(mkdir(blocker, 0755) == 0, "mkdir %s", blocker);
        ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_ARCHIVE, 1LL, 0));
        uint64_t tried = 99;
        ASSERT_OK(maplog_archive(log, &tried));         /* all but the blocked one, at once */
        ASSERT_EQ(count_files(d, ".mlog", &oldest), 2); /* the blocked one and the current */
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        nanosleep(&(struct timespec){1, 0}, NULL); /* the background thread, idle */
        getrusage(RUSAGE_SELF, &r1);
        double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                     (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                     (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                     (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
        ASSERT_TRUE(cpu < 0.5, "%.2f s of CPU in 1 s with nothing to do", cpu);
        ASSERT_OK(maplog_close(log));
        rmdir(blocker);
        printf("a segment that cannot be compressed: %" PRIu64 " others compressed, %.2f s of "
               "CPU in the next idle second\n",
               tried, cpu);
    }

    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
