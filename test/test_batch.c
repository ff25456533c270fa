/* test_batch.c -- maplog_reader_next_batch() returns what maplog_reader_next() returns, in
 * fewer calls.
 *
 *  1. A log of four segments, records of mixed lengths (0 to 700 bytes): read with next(),
 *     then with batches of 1, 3, 4, 7 and 1000 records -- the same records, in the same
 *     order, the same data, and MAPLOG_END at the end.
 *  2. One payload byte flipped in each of eight records in a row of the first segment (so
 *     at every place in a batch of 7): next() and batches both return exactly the records
 *     before it, then MAPLOG_ECORRUPT naming the file and the offset; the flip restored,
 *     all of it reads again.
 *  3. Arguments: NULL and max 0 are MAPLOG_EINVAL with *got 0.
 *  4. The pager (the reader's thread that maps pages ahead of a reader reading in order):
 *     a log of two 16 MiB segments read whole by next() and by batches, with seeks back
 *     and forth between, and readers closed while their pager works -- every record
 *     intact, a pager thread seen while reading, and seeks by time after batches landing
 *     where they do after next(); a reader carried into a forked child reads on and
 *     closes there.
 *
 * Usage: test_batch [SEED] */
#include "harness.h"

#define SEG (256 * 1024)
#define NREC 12000

static size_t len_of(uint64_t s)
{
    return s % 97 == 0 ? 200 + (size_t)(s * 31 % 500) : (size_t)(s * 37 % 90);
}

typedef struct seen {
    uint64_t n, last, sum;
    int rc;
} seen;

static void check_rec(const maplog_record *rec, uint64_t want_seq)
{
    unsigned char want[800];
    ASSERT_EQ(rec->seq, want_seq);
    ASSERT_EQ(rec->len, len_of(rec->seq));
    t_fill(want, rec->len, rec->seq);
    ASSERT_MEM(rec->data, want, rec->len);
}

/* Read dir with next() (batch 0) or batches of up to batch records. */
static seen read_all(const char *dir, size_t batch)
{
    maplog_reader *r;
    seen s = {0, 0, 0, 0};
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    static maplog_record recs[1000];
    for (int guard = 0; guard < 10 * NREC; guard++) {
        size_t got = 1;
        int rc = batch ? maplog_reader_next_batch(r, recs, batch, &got)
                       : maplog_reader_next(r, &recs[0]);
        if (rc) {
            if (batch)
                ASSERT_EQ(got, 0);
            s.rc = rc;
            if (rc == MAPLOG_ECORRUPT) {
                const char *m = maplog_reader_errmsg(r);
                ASSERT_TRUE(strstr(m, ".mlog") && strstr(m, "offset"),
                            "the error names the file and the offset: %s", m);
            }
            break;
        }
        ASSERT_TRUE(got >= 1 && got <= (batch ? batch : 1), "got %zu of at most %zu", got, batch);
        for (size_t i = 0; i < got; i++) {
            check_rec(&recs[i], s.n);
            s.sum += recs[i].seq * 31 + recs[i].len;
            s.n++;
        }
        s.last = recs[got - 1].seq;
    }
    maplog_reader_close(r);
    return s;
}

/* The threads of this process now. */
static int t_threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    ASSERT_TRUE(d != NULL, "/proc/self/task");
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Where record seq is: its segment file and offset, by the layout rule. */
static void locate(const char *dir, uint64_t seq, char *path, size_t cap, uint64_t *off)
{
    uint64_t first = 0, o = 4096;
    for (uint64_t i = 0; i < seq; i++) {
        uint64_t size = (16 + len_of(i) + 7) & ~7ull;
        if (o + size > SEG) {
            first = i;
            o = 4096;
            size = (16 + len_of(i) + 7) & ~7ull;
        }
        o += size;
    }
    uint64_t size = (16 + len_of(seq) + 7) & ~7ull;
    if (o + size > SEG) {
        first = seq;
        o = 4096;
    }
    snprintf(path, cap, "%s/%020" PRIu64 ".mlog", dir, first);
    *off = o;
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("batch");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/log", base);
    maplog *log;
    unsigned char buf[800];
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (uint64_t i = 0; i < NREC; i++) {
        t_fill(buf, len_of(i), i);
        ASSERT_OK(maplog_append(log, buf, len_of(i), NULL));
    }
    ASSERT_OK(maplog_close(log));

    /* 1. the same records, by any batch size */
    seen one = read_all(dir, 0);
    ASSERT_EQ(one.rc, MAPLOG_END);
    ASSERT_EQ(one.n, NREC);
    static const size_t sizes[] = {1, 3, 4, 7, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        CTX("batches of %zu", sizes[k]);
        seen b = read_all(dir, sizes[k]);
        ASSERT_EQ(b.rc, MAPLOG_END);
        ASSERT_EQ(b.n, one.n);
        ASSERT_EQ(b.sum, one.sum);
    }
    int64_t segs = 0;
    maplog_reader *r;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs));
    maplog_reader_close(r);
    ASSERT_TRUE(segs >= 3, "the log has %lld segments", (long long)segs);
    printf("%d records in %lld segments: next() and batches of 1, 3, 4, 7, 1000 agree\n", NREC,
           (long long)segs);

    /* 2. damage in every lane: eight records in a row, from a seeded place */
    uint64_t at = 100 + t_rand_below(200);
    for (uint64_t k = at; k < at + 8; k++) {
        char path[700];
        uint64_t off;
        uint64_t victim = len_of(k) ? k : k + 1; /* a record with a payload byte to flip */
        locate(dir, victim, path, sizeof path, &off);
        unsigned char orig, b;
        uint64_t where = off + 16 + t_rand_below(len_of(victim));
        t_pread(path, &orig, 1, (off_t)where);
        b = orig ^ (unsigned char)(1u << t_rand_below(8));
        t_pwrite(path, &b, 1, (off_t)where);
        for (size_t bs = 0; bs <= 7; bs += 7) {
            CTX("record %" PRIu64 " damaged at %s offset %" PRIu64 ", batch %zu", victim, path,
                where, bs);
            seen s = read_all(dir, bs);
            ASSERT_EQ(s.rc, MAPLOG_ECORRUPT);
            ASSERT_EQ(s.n, victim); /* every record before it, none after */
        }
        t_pwrite(path, &orig, 1, (off_t)where);
    }
    seen again = read_all(dir, 4);
    ASSERT_EQ(again.n, NREC);
    printf("a flipped byte in each of 8 records in a row: next() and batches stop right before "
           "it with MAPLOG_ECORRUPT\n");

    /* the cursor and the record image after a batch are those of its last record */
    {
        maplog_reader *a, *bt;
        maplog_record rn, recs[7];
        size_t n;
        char ca[128], cb[128];
        const void *ia, *ib;
        size_t la, lb;
        ASSERT_OK(maplog_reader_open(&a, dir, 0));
        ASSERT_OK(maplog_reader_open(&bt, dir, 0));
        for (int k = 0; k < 50; k++) {
            ASSERT_OK(maplog_reader_next_batch(bt, recs, 7, &n));
            for (size_t i = 0; i < n; i++)
                ASSERT_OK(maplog_reader_next(a, &rn));
            ASSERT_EQ(rn.seq, recs[n - 1].seq);
            ASSERT_OK(maplog_reader_cursor(a, ca, sizeof ca));
            ASSERT_OK(maplog_reader_cursor(bt, cb, sizeof cb));
            ASSERT_TRUE(strcmp(ca, cb) == 0, "cursors %s and %s", ca, cb);
            ASSERT_OK(maplog_reader_record_image(a, &ia, &la));
            ASSERT_OK(maplog_reader_record_image(bt, &ib, &lb));
            ASSERT_EQ(la, lb);
            ASSERT_MEM(ia, ib, la);
        }
        maplog_reader_close(a);
        maplog_reader_close(bt);
    }

    /* 3. arguments */
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    maplog_record rec;
    size_t got = 99;
    ASSERT_EQ(maplog_reader_next_batch(r, &rec, 0, &got), MAPLOG_EINVAL);
    ASSERT_EQ(got, 0);
    got = 99;
    ASSERT_EQ(maplog_reader_next_batch(r, NULL, 4, &got), MAPLOG_EINVAL);
    ASSERT_EQ(got, 0);
    ASSERT_EQ(maplog_reader_next_batch(NULL, &rec, 1, &got), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_reader_next_batch(r, &rec, 1, NULL), MAPLOG_EINVAL);
    maplog_reader_close(r);

    /* 4. the pager */
    {
        char big[600];
        snprintf(big, sizeof big, "%s/big", base);
        const uint64_t nbig = 300000;
        ASSERT_OK(t_open(&log, big, 16LL << 20, 0));
        for (uint64_t i = 0; i < nbig; i++) {
            t_fill(buf, 64, i);
            ASSERT_OK(maplog_append(log, buf, 64, NULL));
        }
        ASSERT_OK(maplog_close(log));
        int threads_before = t_threads(), threads_seen = 0;
        for (int round = 0; round < 6; round++) {
            maplog_reader *rd;
            ASSERT_OK(maplog_reader_open(&rd, big, 0));
            uint64_t want = 0;
            if (round >= 2) { /* a seek first, into either segment */
                want = t_rand_below(nbig);
                ASSERT_OK(maplog_reader_seek(rd, want));
            }
            uint64_t stop_at = round >= 4 ? want + 30000 : nbig; /* closed mid-way */
            static maplog_record recs[64];
            while (want < stop_at) {
                size_t cnt = 1;
                int rc = round % 2 ? maplog_reader_next_batch(rd, recs, 64, &cnt)
                                   : maplog_reader_next(rd, &recs[0]);
                if (rc == MAPLOG_END)
                    break;
                ASSERT_OK(rc);
                for (size_t i = 0; i < cnt; i++) {
                    ASSERT_EQ(recs[i].seq, want);
                    ASSERT_EQ(recs[i].len, 64);
                    t_fill(buf, 64, want);
                    ASSERT_MEM(recs[i].data, buf, 64);
                    want++;
                }
                if (!threads_seen && want % 1024 < cnt && t_threads() > threads_before)
                    threads_seen = 1;
            }
            ASSERT_TRUE(round >= 4 || want == nbig, "round %d read to %" PRIu64, round, want);
            maplog_reader_close(rd);
        }
        ASSERT_TRUE(threads_seen, "no pager thread was seen while reading in order");

        /* the seek index a batch builds is the one next() builds: seeks by time land on
         * the same records */
        maplog_reader *rn, *rb;
        ASSERT_OK(maplog_reader_open(&rn, big, 0));
        ASSERT_OK(maplog_reader_open(&rb, big, 0));
        static maplog_record all[1000];
        size_t cnt;
        uint64_t seen_n = 0, ts_of[64];
        while (maplog_reader_next_batch(rb, all, 1000, &cnt) == 0) /* batches of 1000 */
            for (size_t i = 0; i < cnt; i++, seen_n++)
                if (seen_n % (nbig / 64) == 0 && seen_n / (nbig / 64) < 64)
                    ts_of[seen_n / (nbig / 64)] = all[i].timestamp_ns;
        maplog_record drain;
        while (maplog_reader_next(rn, &drain) == 0)
            ;
        for (int k = 63; k >= 0; k--) { /* the last segment first: its index is the batch's */
            maplog_record a1, b1;
            ASSERT_OK(maplog_reader_seek_time(rn, ts_of[k]));
            ASSERT_OK(maplog_reader_seek_time(rb, ts_of[k]));
            ASSERT_OK(maplog_reader_next(rn, &a1));
            ASSERT_OK(maplog_reader_next(rb, &b1));
            ASSERT_TRUE(a1.seq == b1.seq && a1.timestamp_ns >= ts_of[k],
                        "seek_time: %" PRIu64 " after next(), %" PRIu64 " after batches", a1.seq,
                        b1.seq);
        }
        maplog_reader_close(rn);
        maplog_reader_close(rb);

        /* a reader carried into a forked child: the child closes it (no pager thread there
         * to wait for) */
        ASSERT_OK(maplog_reader_open(&rb, big, 0));
        for (int k = 0; k < 100 && maplog_reader_next_batch(rb, all, 1000, &cnt) == 0; k++)
            ;
        ASSERT_TRUE(t_threads() > threads_before, "a pager is running before the fork");
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            while (maplog_reader_next_batch(rb, all, 1000, &cnt) == 0)
                ;
            maplog_reader_close(rb);
            _exit(0);
        }
        int status = 0;
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid, "waitpid");
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                    "the forked child reading on and closing: status %#x", status);
        maplog_reader_close(rb);
        /* a joined thread's /proc entry may outlive the join by a moment */
        for (int i = 0; i < 100 && t_threads() != threads_before; i++)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        ASSERT_EQ(t_threads(), threads_before);
        printf("two 16 MiB segments read by next() and batches, after seeks, closed mid-way: "
               "intact, with a pager thread while reading, none after\n");
    }

    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
