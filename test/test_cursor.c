/* test_cursor.c -- cursors: positions an application can keep and trust.
 *
 * A cursor names the log, a sequence number and a check of the record there.  Seeking to
 * one positions just after its record; a cursor of another log, of a record that recovery
 * cut and a later writer wrote again, past the end, or of a removed record is refused with
 * its own code and a message that says which. */
#include "harness.h"

#include <sys/wait.h>

#define SEG (64 * 1024)

static void append_n(const char *dir, int n, unsigned tag)
{
    maplog *log;
    unsigned char buf[100];
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (int i = 0; i < n; i++) {
        uint64_t next;
        maplog_next_seq(log, &next);
        t_fill(buf, sizeof buf, next * 7 + tag);
        ASSERT_OK(maplog_append(log, buf, sizeof buf, NULL));
    }
    ASSERT_OK(maplog_close(log));
}

/* A reader of dir, n records read; *cursor is the last one's. */
static maplog_reader *read_n(const char *dir, int n, char cursor[MAPLOG_CURSOR_MAX])
{
    maplog_reader *r;
    maplog_record rec;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ASSERT_EQ(maplog_reader_cursor(r, cursor, MAPLOG_CURSOR_MAX), MAPLOG_ENOENT);
    for (int i = 0; i < n; i++)
        ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_OK(maplog_reader_cursor(r, cursor, MAPLOG_CURSOR_MAX));
    return r;
}

static void expect_refused(const char *dir, const char *cursor, int code, const char *says)
{
    maplog_reader *r;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    CTX("%s: seek to cursor %s", dir, cursor);
    int rc = maplog_reader_seek_cursor(r, cursor);
    ASSERT_TRUE(rc == code && strstr(maplog_reader_errmsg(r), says),
                "returned %d (%s), wanted %d and \"%s\"", rc, maplog_reader_errmsg(r), code, says);
    maplog_reader_close(r);
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("cursor");
    char a[1024], b[1024], c[MAPLOG_CURSOR_MAX], c2[MAPLOG_CURSOR_MAX];
    maplog_reader *r;
    maplog_record rec;
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    append_n(a, 1000, 0);
    append_n(b, 1000, 0);

    /* 1. a cursor positions just after its record, in another reader */
    maplog_reader_close(read_n(a, 10, c));
    ASSERT_TRUE(strncmp(c, "maplog1:", 8) == 0 && strlen(c) < MAPLOG_CURSOR_MAX, "cursor %s", c);
    ASSERT_OK(maplog_reader_open(&r, a, 0));
    ASSERT_OK(maplog_reader_seek_cursor(r, c));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, 10);
    ASSERT_OK(maplog_reader_cursor(r, c2, sizeof c2));
    ASSERT_TRUE(strcmp(c, c2) != 0, "a new record, a new cursor");
    maplog_reader_close(r);
    /* the last record's cursor: positioned at the end; a writer appends; the reader goes on */
    maplog_reader_close(read_n(a, 1000, c));
    append_n(a, 5, 0);
    ASSERT_OK(maplog_reader_open(&r, a, 0));
    ASSERT_OK(maplog_reader_seek_cursor(r, c));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, 1000);
    maplog_reader_close(r);
    printf("ok 1: a cursor positions after its record\n");

    /* 2. another log's cursor is refused */
    maplog_reader_close(read_n(b, 10, c));
    expect_refused(a, c, MAPLOG_ESTALE, "another log");
    printf("ok 2: another log's cursor is refused\n");

    /* 3. past the end: the seq is refused distinctly, and so is plain seek */
    maplog_reader_close(read_n(a, 10, c));
    char far[MAPLOG_CURSOR_MAX];
    snprintf(far, sizeof far, "%.41s99999%s", c, strrchr(c, ':'));
    expect_refused(a, far, MAPLOG_END, "past the end");
    printf("ok 3: past the end is reported as such\n");

    /* 4. a record cut by recovery and written again: its check no longer matches */
    {
        char d[1024];
        snprintf(d, sizeof d, "%s/cut", base);
        append_n(d, 100, 1);
        maplog_reader_close(read_n(d, 91, c)); /* seq 90 */
        /* lose records 50 on, as a power loss would, then recover and append anew */
        off_t at = 4096 + 50 * 120;
        static unsigned char z[SEG];
        t_pwrite(t_path(d, "00000000000000000000.mlog"), z, (size_t)(SEG - at), at);
        uint64_t ck[16] = {0}; /* and the checkpoints that promised them */
        t_pwrite(t_path(d, "00000000000000000000.mlog"), ck, 64, 1024);
        t_pwrite(t_path(d, "00000000000000000000.mlog"), ck, 64, 1536);
        append_n(d, 60, 2); /* recovery cuts at 50; seq 50..109 written again */
        expect_refused(d, c, MAPLOG_ESTALE, "its check differs");
    }
    printf("ok 4: a cursor of a record cut and written again is refused\n");

    /* 5. not a cursor */
    const char *bad[] = {"",
                         "maplog1:",
                         "maplog2:00000000000000000000000000000000:1:00000000",
                         "maplog1:0000000000000000000000000000000:1:00000000",
                         "maplog1:00000000000000000000000000000000::00000000",
                         "maplog1:00000000000000000000000000000000:1:0000000",
                         "maplog1:00000000000000000000000000000000:1:000000000",
                         "maplog1:00000000000000000000000000000000:18446744073709551616:00000000",
                         "maplog1:00000000000000000000000000000000:-1:00000000",
                         "maplog1:00000000000000000000000000000000:01:00000000",
                         "maplog1:0000000000000000000000000000000G:1:00000000"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        expect_refused(a, bad[k], MAPLOG_EINVAL, "is not a cursor");
    printf("ok 5: what is not a cursor is refused\n");

    /* 6. the cursor's record was removed (retention): the reader goes on from the first
     *    record present */
    {
        char d[1024];
        snprintf(d, sizeof d, "%s/retained", base);
        append_n(d, 2000, 3);
        maplog_reader_close(read_n(d, 6, c));
        unlink(t_path(d, "00000000000000000000.mlog"));
        expect_refused(d, c, MAPLOG_ENOENT, "was removed");
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        maplog_reader_seek_cursor(r, c);
        ASSERT_OK(maplog_reader_next(r, &rec));
        int64_t first;
        ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first));
        ASSERT_EQ(rec.seq, (uint64_t)first);
        maplog_reader_close(r);
    }
    printf("ok 6: a removed record's cursor goes on from the first record present\n");

    t_scratch_done();
    printf("6 passed, 0 failed\n");
    return 0;
}
