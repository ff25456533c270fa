/* test_flush.c -- the background flusher's policy (include/maplog.h, MAPLOG_OPT_FLUSH_*):
 * write-back starts after FLUSH_BYTES appended bytes, or every FLUSH_INTERVAL_MS, and
 * never in MAPLOG_DURABILITY_NONE.  Write-back calls are counted through the OS table.
 * (Until this test, the byte trigger never fired: the flusher read the mark an appender had
 * swapped for "fired" as not reached.) */
#include "harness.h"
#include "os.h"

#include <pthread.h>
#include <stdatomic.h>

static mlg__os_table real;
static _Atomic int calls;
static _Atomic long long covered; /* bytes handed to write-back */

static int w_writeback(int fd, off_t off, off_t len)
{
    atomic_fetch_add(&calls, 1);
    atomic_fetch_add(&covered, (long long)len);
    return real.writeback(fd, off, len);
}

static void reset(void)
{
    atomic_store(&calls, 0);
    atomic_store(&covered, 0);
}

/* Wait up to ms for the write-back to cover at least want bytes; returns what it covered. */
static long long wait_covered(long long want, int ms)
{
    for (int i = 0; i < ms && atomic_load(&covered) < want; i++)
        usleep(1000);
    return atomic_load(&covered);
}

/* Append total bytes in len-byte records.  After each 64 KiB: pause pause_us if it is
 * positive; if it is -1, wait (up to 5 s) for write-back to come within two steps of the
 * appends, so that the flusher takes every step even on a loaded machine (under TSan with
 * other tests running it had been starved into one call for the whole run). */
static void append_bytes(maplog *log, long long total, size_t len, int pause_us)
{
    unsigned char buf[1024];
    for (long long done = 0, step = 0; done < total; done += (long long)len) {
        t_fill(buf, len, (uint64_t)done);
        ASSERT_OK(maplog_append(log, buf, len, NULL));
        if (pause_us && done / 65536 != step) {
            step = done / 65536;
            if (pause_us > 0)
                usleep((useconds_t)pause_us);
            else if (step >= 3 && wait_covered((step - 2) * 65536, 5000) < (step - 2) * 65536)
                pause_us = 0; /* it is not coming: the caller's check will say so */
        }
    }
}

/* In a new scratch log with these flusher settings (8 MiB segments), append total bytes of
 * 1000-byte records (paced by pause_us, as append_bytes says), then wait up to 5 s for write-back
 * to cover want bytes, or 100 ms if want is 0; returns the bytes covered (calls counts the
 * write-back calls), before the close, which syncs. */
static long long flush_case(const char *name, long long durability, long long interval_ms,
                            long long flush_bytes, long long total, int pause_us, long long want)
{
    maplog *log;
    ASSERT_OK(t_open(&log, t_mkscratch(name), 8LL << 20, MAPLOG_OPT_DURABILITY, durability,
                     MAPLOG_OPT_FLUSH_INTERVAL_MS, interval_ms, MAPLOG_OPT_FLUSH_BYTES, flush_bytes,
                     0));
    reset();
    append_bytes(log, total, 1000, pause_us);
    long long got = want ? wait_covered(want, 5000) : (usleep(100000), atomic_load(&covered));
    ASSERT_OK(maplog_close(log));
    t_scratch_done();
    return got;
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    real = mlg__os;
    mlg__os.writeback = w_writeback;
    const long long seg = 8 << 20;

    /* By bytes: the time trigger off, 64 KiB a flush; 2 MiB appended must be handed to
     * write-back (all but the last partial step and the page being written) without any
     * sync, close or interval to do it; paced by the write-back, so it comes in steps. */
    const long long async = MAPLOG_DURABILITY_ASYNC, want = (2 << 20) - 2 * 65536;
    long long got = flush_case("flush-bytes", async, 0, 65536, 2 << 20, -1, want);
    CTX("by bytes: %d write-back calls covered %lld bytes", atomic_load(&calls), got);
    ASSERT_TRUE(got >= want, "the byte trigger started write-back");
    ASSERT_TRUE(atomic_load(&calls) >= 8, "in steps of about 64 KiB, not in one go");

    /* Only published records: with a reservation held open at about 100 KiB, 1 MiB more
     * of appends is not written back past the page it starts in (the records after it are
     * complete, but a flush is a prefix of published records); once it is committed, the
     * rest follows. */
    maplog *log;
    ASSERT_OK(t_open(&log, t_mkscratch("flush-open"), seg, MAPLOG_OPT_FLUSH_INTERVAL_MS, 0LL,
                     MAPLOG_OPT_FLUSH_BYTES, 65536LL, 0));
    append_bytes(log, 100 << 10, 1000, 0);
    maplog_reservation res;
    ASSERT_OK(maplog_reserve(log, 1000, &res));
    reset();
    append_bytes(log, 1 << 20, 1000, 2000);
    usleep(100000);
    got = atomic_load(&covered);
    CTX("reservation open: %d write-back calls covered %lld bytes", atomic_load(&calls), got);
    ASSERT_TRUE(got < (100 << 10) + 8192, "nothing past the open reservation is written back");
    memset(res.data, 'r', 1000);
    ASSERT_OK(maplog_commit(log, &res));
    append_bytes(log, 128 << 10, 1000, 0);
    got = wait_covered((1 << 20) + (100 << 10), 5000);
    CTX("reservation committed: %d write-back calls covered %lld bytes", atomic_load(&calls), got);
    ASSERT_TRUE(got >= (1 << 20) + (100 << 10), "after the commit, the rest is written back");
    ASSERT_OK(maplog_close(log));
    t_scratch_done();

    /* By time: the byte trigger off, every 20 ms; 100 KiB appended is handed on. */
    got = flush_case("flush-time", async, 20, 0, 100 << 10, 0, 100 << 10);
    CTX("by time: %d write-back calls covered %lld bytes", atomic_load(&calls), got);
    ASSERT_TRUE(got >= 100 << 10, "the time trigger started write-back");

    /* Neither trigger: nothing until close. */
    flush_case("flush-off", async, 0, 0, 1 << 20, 0, 0);
    CTX("both triggers off: %d write-back calls", atomic_load(&calls));
    ASSERT_EQ(atomic_load(&calls), 0);

    /* MAPLOG_DURABILITY_NONE: no flusher at all, whatever the triggers say. */
    flush_case("flush-none", MAPLOG_DURABILITY_NONE, 10, 65536, 1 << 20, 0, 0);
    CTX("durability none: %d write-back calls", atomic_load(&calls));
    ASSERT_EQ(atomic_load(&calls), 0);
    printf("1 passed, 0 failed\n");
    return 0;
}
