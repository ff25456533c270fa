/* test_threads.c -- many threads appending to one handle through many rollovers: every
 * record present exactly once, sequence numbers dense, every CRC intact, the payload the
 * one its thread wrote.  Run by the test script under ASan and TSan too. */
#include "harness.h"

#include <pthread.h>

#define SEG (64 * 1024)
#define THREADS 4
#define PER_THREAD 20000

static maplog *log_;
static uint64_t seqs[THREADS][PER_THREAD];

/* payload: thread id, index, then filler derived from both */
static size_t len_of(int t, int i)
{
    return 16 + (size_t)((t * 7919 + i * 104729) % 300);
}

static void *appender(void *arg)
{
    int t = (int)(intptr_t)arg;
    unsigned char buf[400];
    for (int i = 0; i < PER_THREAD; i++) {
        size_t len = len_of(t, i);
        t_fill(buf, len, (unsigned long long)t << 32 | (unsigned)i);
        memcpy(buf, &t, 4);
        memcpy(buf + 4, &i, 4);
        int rc;
        switch (i % 3) {
        case 0:
            rc = maplog_append(log_, buf, len, &seqs[t][i]);
            break;
        case 1: {
            struct iovec iov[2] = {{buf, 8}, {buf + 8, len - 8}};
            rc = maplog_appendv(log_, iov, 2, &seqs[t][i]);
            break;
        }
        default: {
            maplog_reservation res;
            rc = maplog_reserve(log_, len, &res);
            if (!rc) {
                memcpy(res.data, buf, len);
                seqs[t][i] = res.seq;
                rc = maplog_commit(log_, &res);
            }
        }
        }
        if (rc) {
            fprintf(stderr, "thread %d append %d: %s\n", t, i, maplog_errmsg(log_));
            abort();
        }
        if (i % 5000 == 4999 && maplog_sync(log_)) {
            fprintf(stderr, "sync: %s\n", maplog_errmsg(log_));
            abort();
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[THREADS];
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("threads");
    for (int round = 0; round < 2; round++) {
        ASSERT_OK(t_open(&log_, dir, SEG, MAPLOG_OPT_FLUSH_BYTES, 32768LL, 0));
        uint64_t base;
        ASSERT_OK(maplog_next_seq(log_, &base));
        for (int t = 0; t < THREADS; t++)
            pthread_create(&th[t], NULL, appender, (void *)(intptr_t)t);
        for (int t = 0; t < THREADS; t++)
            pthread_join(th[t], NULL);
        ASSERT_OK(maplog_close(log_));

        /* each seq returned exactly once, and they fill [base, base + total) */
        uint64_t total = (uint64_t)THREADS * PER_THREAD;
        unsigned char *seen = calloc(total, 1);
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < PER_THREAD; i++) {
                uint64_t s = seqs[t][i];
                ASSERT_TRUE(s >= base && s < base + total, "seq %" PRIu64 " out of range", s);
                ASSERT_TRUE(!seen[s - base], "seq %" PRIu64 " returned twice", s);
                seen[s - base] = 1;
            }
        /* replay: every record where its seq says, with the payload its thread wrote */
        maplog_reader *r;
        maplog_record rec;
        unsigned char want[400];
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        ASSERT_OK(maplog_reader_seek(r, base));
        memset(seen, 0, total);
        for (uint64_t k = 0; k < total; k++) {
            int rc = maplog_reader_next(r, &rec);
            ASSERT_TRUE(rc == 0, "record %" PRIu64 ": %s", base + k, maplog_reader_errmsg(r));
            ASSERT_EQ(rec.seq, base + k);
            int t, i;
            memcpy(&t, rec.data, 4);
            memcpy(&i, (const char *)rec.data + 4, 4);
            ASSERT_TRUE(t >= 0 && t < THREADS && i >= 0 && i < PER_THREAD, "t %d i %d", t, i);
            ASSERT_EQ(seqs[t][i], rec.seq);
            ASSERT_EQ(rec.len, len_of(t, i));
            t_fill(want, rec.len, (unsigned long long)t << 32 | (unsigned)i);
            memcpy(want, &t, 4);
            memcpy(want + 4, &i, 4);
            ASSERT_MEM(rec.data, want, rec.len);
        }
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        int64_t segs;
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
        free(seen);
        printf("round %d: %d threads x %d records, %" PRId64 " segments, all present once\n", round,
               THREADS, PER_THREAD, segs);
    }
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
