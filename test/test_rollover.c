/* test_rollover.c -- many segments: names, dense sequence numbers, sealing, reopen and
 * continue, and a second writer refused while the first holds the log. */
#include "harness.h"

#define SEG (64 * 1024)

static void check_all(const char *dir, uint64_t n)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[2048];
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    for (uint64_t i = 0; i < n; i++) {
        CTX("reading seq %" PRIu64 " of %" PRIu64, i, n);
        int rc = maplog_reader_next(r, &rec);
        ASSERT_TRUE(rc == 0, "rc %d: %s", rc, maplog_reader_errmsg(r));
        ASSERT_EQ(rec.seq, i);
        size_t len = (size_t)(i % 1000) + 1;
        ASSERT_EQ(rec.len, len);
        t_fill(want, len, i);
        ASSERT_MEM(rec.data, want, len);
    }
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    int64_t segs;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs));
    printf("%" PRIu64 " records in %" PRId64 " segments\n", n, segs);
    ASSERT_TRUE(segs > 20, "only %" PRId64 " segments", segs);
    maplog_reader_close(r);
}

static uint64_t append_range(maplog *log, uint64_t from, uint64_t to)
{
    unsigned char buf[2048];
    uint64_t seq;
    for (uint64_t i = from; i < to; i++) {
        size_t len = (size_t)(i % 1000) + 1;
        t_fill(buf, len, i);
        ASSERT_OK(maplog_append(log, buf, len, &seq));
        ASSERT_EQ(seq, i);
    }
    return to;
}

/* A follower at the end of a segment that records filled exactly (no room for a rollover
 * mark) finds the next segment as soon as it exists: the reader lists the directory then,
 * instead of at most once a millisecond as at the live end of a segment with room left. */
static void follow_full_segment(const char *dir)
{
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    unsigned char buf[64];
    const uint64_t fit = (SEG - 4096) / (16 + sizeof buf); /* 768: 80-byte records, exactly */
    ASSERT_EQ((SEG - 4096) % (16 + sizeof buf), 0);
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (uint64_t i = 0; i < fit; i++) {
        t_fill(buf, sizeof buf, i);
        ASSERT_OK(maplog_append(log, buf, sizeof buf, NULL));
    }
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    for (uint64_t i = 0; i < fit; i++)
        ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END); /* full, and no successor yet */
    t_fill(buf, sizeof buf, fit);
    ASSERT_OK(maplog_append(log, buf, sizeof buf, NULL)); /* rolls over */
    int rc = maplog_reader_next(r, &rec);
    ASSERT_TRUE(rc == 0, "the record after a full segment: rc %d (%s)", rc,
                rc == MAPLOG_END ? "not seen yet" : maplog_reader_errmsg(r));
    ASSERT_EQ(rec.seq, fit);
    ASSERT_MEM(rec.data, buf, sizeof buf);
    ASSERT_EQ(maplog_reader_wait(r, 0), MAPLOG_ETIMEDOUT); /* nothing after it yet */
    maplog_reader_close(r);
    ASSERT_OK(maplog_close(log));
}

int main(int argc, char **argv)
{
    maplog *log, *second;
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("rollover");
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    ASSERT_EQ(t_open(&second, dir, SEG, 0), MAPLOG_ELOCKED);
    printf("second writer: %s\n", maplog_last_open_error());
    uint64_t n = append_range(log, 0, 3000);
    ASSERT_OK(maplog_sync(log));
    uint64_t d;
    ASSERT_OK(maplog_durable_count(log, &d));
    ASSERT_EQ(d, n);
    ASSERT_OK(maplog_close(log));
    check_all(dir, n);

    /* the first segment is named 0, the next by its first sequence number */
    ASSERT_TRUE(t_file_size(t_path(dir, "00000000000000000000.mlog")) == SEG, "first segment");
    ASSERT_TRUE(t_file_size(t_path(dir, "next.mlog-spare")) < 0, "spare removed by close");

    for (int round = 0; round < 3; round++) {
        ASSERT_OK(t_open(&log, dir, SEG, 0));
        uint64_t next;
        ASSERT_OK(maplog_next_seq(log, &next));
        ASSERT_EQ(next, n);
        n = append_range(log, n, n + 700);
        ASSERT_OK(maplog_close(log));
    }
    check_all(dir, n);
    t_scratch_done();
    follow_full_segment(t_mkscratch("rollover-follow"));
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
