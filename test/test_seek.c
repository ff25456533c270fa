/* test_seek.c -- seek by sequence number and by timestamp across many segments. */
#include "harness.h"

#define SEG (64 * 1024)
#define N 20000

static uint64_t ts[N];

int main(int argc, char **argv)
{
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    unsigned char buf[200];
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("seek");
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)t_rand_below(150);
        t_fill(buf, len, (unsigned long long)i);
        ASSERT_OK(maplog_append(log, buf, len, NULL));
        if (i % 1000 == 999) { /* spread timestamps so time seeks cross segments */
            struct timespec z = {0, 200000};
            nanosleep(&z, NULL);
        }
    }
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    for (int i = 0; i < N; i++) {
        ASSERT_OK(maplog_reader_next(r, &rec));
        ts[i] = rec.timestamp_ns;
        if (i)
            ASSERT_TRUE(ts[i] >= ts[i - 1], "timestamps from one thread never go backwards");
    }
    /* by sequence: random targets, then the edges */
    for (int k = 0; k < 2000; k++) {
        uint64_t target = t_rand_below(N);
        CTX("seek to seq %" PRIu64, target);
        ASSERT_OK(maplog_reader_seek(r, target));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, target);
        ASSERT_EQ(rec.timestamp_ns, ts[target]);
    }
    ASSERT_OK(maplog_reader_seek(r, 0));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, 0);
    ASSERT_OK(maplog_reader_seek(r, N - 1));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, N - 1);
    ASSERT_OK(maplog_reader_seek(r, N));
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    /* past the end: positioned at the end, and said so (the next record would be seq N) */
    ASSERT_EQ(maplog_reader_seek(r, N + 1000), MAPLOG_END);
    ASSERT_TRUE(strstr(maplog_reader_errmsg(r), "past the end") != NULL, "message: %s",
                maplog_reader_errmsg(r));
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);

    /* by time: the first record whose timestamp is >= the target */
    for (int k = 0; k < 2000; k++) {
        uint64_t i = t_rand_below(N);
        uint64_t target = ts[i] + (k & 1); /* exact, and one past */
        uint64_t want = 0;
        while (want < N && ts[want] < target)
            want++;
        CTX("seek to time %" PRIu64 " (record %" PRIu64 "), want seq %" PRIu64, target, i, want);
        ASSERT_OK(maplog_reader_seek_time(r, target));
        if (want == N) {
            ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        } else {
            ASSERT_OK(maplog_reader_next(r, &rec));
            ASSERT_EQ(rec.seq, want);
        }
    }
    ASSERT_OK(maplog_reader_seek_time(r, 0));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, 0);
    ASSERT_OK(maplog_reader_seek_time(r, ts[N - 1] + 1));
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    maplog_reader_close(r);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
