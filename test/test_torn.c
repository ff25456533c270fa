/* test_torn.c -- a write cut short at every byte of the last record, or overwritten with
 * garbage from every byte on: the reader returns exactly the complete records before it,
 * recovery cuts there, and appending continues with the next sequence number. */
#include "harness.h"

#define SEG (64 * 1024)
#define K 40

static size_t len_of(int i)
{
    return (size_t)(i * 13 % 90) + (i == K - 1 ? 77 : 0);
}

/* A crashed writer: K records, the first K-2 synced, then _exit with no close. */
static void make_template(const char *dir, uint64_t *last_off, uint64_t *data_end)
{
    pid_t pid = fork();
    if (pid == 0) {
        maplog *log;
        unsigned char buf[256];
        if (t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE, 0))
            _exit(2);
        for (int i = 0; i < K; i++) {
            t_fill(buf, len_of(i), (unsigned long long)i);
            if (maplog_append(log, buf, len_of(i), NULL))
                _exit(3);
            if (i == K - 3 && maplog_sync(log))
                _exit(4);
        }
        _exit(0); /* as if killed: no close, no checkpoint for the last two */
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child status %d", st);
    uint64_t off = 4096;
    for (int i = 0; i < K - 1; i++)
        off += (16 + len_of(i) + 7) & ~(size_t)7;
    *last_off = off;
    *data_end = off + ((16 + len_of(K - 1) + 7) & ~(size_t)7);
}

/* Read the log; return how many records came back, checking each. */
static int read_all(const char *dir, int expect_torn)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[256];
    int n = 0, rc;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        ASSERT_EQ(rec.seq, n);
        ASSERT_EQ(rec.len, len_of(n));
        t_fill(want, rec.len, (unsigned long long)n);
        ASSERT_MEM(rec.data, want, rec.len);
        n++;
    }
    ASSERT_TRUE(rc == MAPLOG_END, "rc %d: %s", rc, maplog_reader_errmsg(r));
    int64_t torn;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_TORN_OFFSET, &torn));
    if (expect_torn)
        ASSERT_TRUE(torn > 0, "torn tail not reported");
    maplog_reader_close(r);
    return n;
}

int main(int argc, char **argv)
{
    uint64_t last, end;
    unsigned char orig[SEG], dam[SEG];
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("torn");
    char tmpl[512], work[512], seg[600];
    snprintf(tmpl, sizeof tmpl, "%s/template", base);
    make_template(tmpl, &last, &end);
    ASSERT_EQ(read_all(tmpl, 0), K);
    snprintf(seg, sizeof seg, "%s/00000000000000000000.mlog", tmpl);
    t_pread(seg, orig, SEG, 0);
    int cases = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (uint64_t b = last; b < end + 24; b++) {
            snprintf(work, sizeof work, "%s/case-%d-%" PRIu64, base, mode, b);
            t_copy_dir(tmpl, work);
            snprintf(seg, sizeof seg, "%s/00000000000000000000.mlog", work);
            memcpy(dam, orig, SEG);
            uint64_t stop = mode == 0 ? end + 64 : b + 1 + t_rand_below(end + 40 - b);
            for (uint64_t o = b; o < stop; o++)
                dam[o] = mode == 0 ? 0 : (unsigned char)t_rand();
            t_pwrite(seg, dam + last, SEG - last, (off_t)last);
            /* the last record survives only if the bytes its CRC covers are unchanged
             * (damage in its padding or past it does not touch it) */
            uint64_t covered = last + 16 + len_of(K - 1);
            int intact = memcmp(dam + last, orig + last, covered - last) == 0;
            int want = intact ? K : K - 1;
            CTX("mode %s, damage from offset %" PRIu64 " to %" PRIu64 " (last record at %" PRIu64
                ")",
                mode ? "garbage" : "zero", b, stop, last);
            ASSERT_EQ(read_all(work, 0), want);
            maplog *log;
            uint64_t next, seq;
            int rc = t_open(&log, work, SEG, 0);
            ASSERT_TRUE(rc == 0, "open: %s", maplog_last_open_error());
            ASSERT_OK(maplog_next_seq(log, &next));
            ASSERT_EQ(next, want);
            unsigned char buf[256];
            t_fill(buf, len_of(want), (unsigned long long)want);
            ASSERT_OK(maplog_append(log, buf, len_of(want), &seq));
            ASSERT_EQ(seq, want);
            ASSERT_OK(maplog_close(log));
            ASSERT_EQ(read_all(work, 0), want + 1);
            t_rm_rf(work);
            cases++;
        }
    }
    printf("%d torn-tail cases\n", cases);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
