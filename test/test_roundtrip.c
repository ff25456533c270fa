/* test_roundtrip.c -- records of many sizes go in and come out the same, by every append
 * call; a record too large for a segment is refused with a message that says so. */
#include "harness.h"

#define SEG (256 * 1024)

static size_t size_of(unsigned long long i)
{
    static const size_t fixed[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 4095, 4096, 4097};
    if (i < sizeof fixed / sizeof fixed[0])
        return fixed[i];
    return (size_t)(i * 7919 % 20000);
}

int main(int argc, char **argv)
{
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    uint64_t seq;
    static unsigned char buf[SEG], got[SEG];
    const int N = 600;
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("roundtrip");
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (int i = 0; i < N; i++) {
        size_t len = size_of((unsigned long long)i);
        t_fill(buf, len, (unsigned long long)i);
        CTX("append %d len %zu", i, len);
        if (i % 3 == 0) {
            ASSERT_OK(maplog_append(log, buf, len, &seq));
        } else if (i % 3 == 1) {
            struct iovec iov[3] = {
                {buf, len / 3}, {buf + len / 3, 0}, {buf + len / 3, len - len / 3}};
            ASSERT_OK(maplog_appendv(log, iov, 3, &seq));
        } else {
            maplog_reservation res;
            ASSERT_OK(maplog_reserve(log, len, &res));
            memcpy(res.data, buf, len);
            seq = res.seq;
            ASSERT_OK(maplog_commit(log, &res));
        }
        ASSERT_EQ(seq, i);
    }
    /* too large: the largest payload fits, one more byte does not */
    size_t max = SEG - 4096 - 16;
    ASSERT_OK(maplog_append(log, buf, max, &seq));
    ASSERT_EQ(seq, N);
    int rc = maplog_append(log, buf, max + 1, &seq);
    ASSERT_EQ(rc, MAPLOG_ETOOBIG);
    ASSERT_TRUE(strstr(maplog_errmsg(log), "does not fit") != NULL, "message: %s",
                maplog_errmsg(log));
    printf("too big: %s\n", maplog_errmsg(log));
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(maplog_close(NULL), 0);
    maplog_reader_close(NULL);

    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    for (int i = 0; i <= N; i++) {
        size_t len = i < N ? size_of((unsigned long long)i) : max;
        CTX("read %d", i);
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, i);
        ASSERT_EQ(rec.len, len);
        if (i < N) {
            t_fill(got, len, (unsigned long long)i);
            ASSERT_MEM(rec.data, got, len);
        }
        ASSERT_TRUE(rec.timestamp_ns > 1600000000000000000ull, "timestamp %" PRIu64,
                    rec.timestamp_ns);
    }
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    maplog_reader_close(r);

    /* options are checked */
    maplog_options *o;
    ASSERT_OK(maplog_options_create(&o));
    ASSERT_EQ(maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, 1000), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_options_set(o, (maplog_option)999, 1), MAPLOG_EINVAL);
    int64_t v;
    ASSERT_OK(maplog_options_get(o, MAPLOG_OPT_SEGMENT_SIZE, &v));
    ASSERT_EQ(v, 64 << 20);
    maplog_options_free(o);
    ASSERT_TRUE(strcmp(maplog_version(), "0.1.0") == 0, "%s", maplog_version());
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
