/* test_procs.c -- writers and readers in different processes: a second writer process is
 * refused at once; a writer killed while holding the lock does not block the next one;
 * a reader process follows a writer process through many rollovers and sees every record,
 * in order, intact, with no partial record ever. */
#include "harness.h"

#include <signal.h>

#define SEG (64 * 1024)
#define N 60000

static size_t len_of(uint64_t s)
{
    return 8 + (size_t)(s * 7 % 120);
}

int main(int argc, char **argv)
{
    int p[2];
    char c;
    maplog *log;
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("procs");

    /* 1. a live writer process holds the lock: a second writer is refused at once */
    ASSERT_TRUE(pipe(p) == 0, "pipe");
    pid_t holder = fork();
    if (holder == 0) {
        if (t_open(&log, dir, SEG, 0))
            _exit(1);
        if (write(p[1], "x", 1) != 1)
            _exit(2);
        pause(); /* hold it until killed */
        _exit(0);
    }
    ASSERT_TRUE(read(p[0], &c, 1) == 1, "holder started");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = t_open(&log, dir, SEG, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ASSERT_EQ(rc, MAPLOG_ELOCKED);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ASSERT_TRUE(ms < 1000, "refused at once, not after %.0f ms", ms);
    printf("second writer refused in %.2f ms: %s\n", ms, maplog_last_open_error());
    /* readers are welcome meanwhile */
    maplog_reader *r;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    int64_t running;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_CLEAN_SHUTDOWN, &running));
    ASSERT_EQ(running, -1); /* a writer is running */
    maplog_reader_close(r);

    /* 2. kill the holder: its lock dies with it, and the next writer gets in */
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    ASSERT_OK(t_open(&log, dir, SEG, 0));
    ASSERT_OK(maplog_close(log));
    printf("after SIGKILL of the holder, the next writer opened the log\n");

    /* 3. a reader process follows a writer process through many rollovers */
    pid_t writer = fork();
    if (writer == 0) {
        unsigned char buf[200];
        if (t_open(&log, dir, SEG, 0))
            _exit(1);
        for (uint64_t i = 0; i < N; i++) {
            t_fill(buf, len_of(i), i);
            if (maplog_append(log, buf, len_of(i), NULL))
                _exit(2);
            if (i % 2000 == 0) /* let the follower catch up now and then */
                usleep(1000);
        }
        _exit(maplog_close(log) ? 3 : 0);
    }
    /* follow from the start, concurrently */
    while (maplog_reader_open(&r, dir, 0) != 0)
        usleep(1000);
    maplog_record rec;
    unsigned char want[200];
    uint64_t n = 0, waits = 0;
    while (n < N) {
        rc = maplog_reader_next(r, &rec);
        if (rc == MAPLOG_END) {
            waits++;
            ASSERT_TRUE(maplog_reader_wait(r, 10000) == 0, "no progress for 10 s at seq %" PRIu64,
                        n);
            continue;
        }
        ASSERT_TRUE(rc == 0, "seq %" PRIu64 ": rc %d %s", n, rc, maplog_reader_errmsg(r));
        ASSERT_EQ(rec.seq, n);
        ASSERT_EQ(rec.len, len_of(n));
        t_fill(want, rec.len, n);
        ASSERT_MEM(rec.data, want, rec.len);
        n++;
    }
    int64_t segs;
    maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
    maplog_reader_close(r);
    int st;
    waitpid(writer, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer status %d", st);
    ASSERT_TRUE(segs >= 10, "only %" PRId64 " segments", segs);
    printf("a reader process followed %d records across %" PRId64 " segments (%" PRIu64
           " waits), every one in order and intact\n",
           N, segs, waits);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
