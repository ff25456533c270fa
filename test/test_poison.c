/* test_poison.c -- a failed sync poisons durability for the handle: the sync that fails
 * returns its own error (MAPLOG_EIO, naming the call and the file), every later sync, and
 * the close, MAPLOG_ECLOSED with the first failure's message; appends go on; reopening
 * recovers every record. */
#include "harness.h"
#include "os.h"

#include <sys/mman.h>

#define SEG (64 * 1024)

static int fail_msync; /* the next msync(MS_SYNC) fails with EIO */
static int bad_msync(void *addr, size_t len, int flags)
{
    if ((flags & MS_SYNC) && __atomic_exchange_n(&fail_msync, 0, __ATOMIC_SEQ_CST)) {
        errno = EIO;
        return -1;
    }
    return msync(addr, len, flags);
}

int main(int argc, char **argv)
{
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    char d[600];
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("poison");
    snprintf(d, sizeof d, "%s/log", base);
    mlg__os.msync = bad_msync; /* before the open: its threads read the seam */
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_FLUSH_INTERVAL_MS, 0LL, 0));
    for (int i = 0; i < 100; i++)
        ASSERT_OK(maplog_append(log, "before", 6, NULL));
    __atomic_store_n(&fail_msync, 1, __ATOMIC_SEQ_CST);
    int rc = maplog_sync(log);
    ASSERT_EQ(rc, MAPLOG_EIO);
    printf("the failing sync: %s: %s\n", maplog_strerror(rc), maplog_errmsg(log));
    ASSERT_TRUE(strstr(maplog_errmsg(log), "msync") && strstr(maplog_errmsg(log), ".mlog"),
                "the message names the call and the file: %s", maplog_errmsg(log));
    for (int i = 0; i < 100; i++) /* appends go on: the records are there, not promised */
        ASSERT_OK(maplog_append(log, "after", 5, NULL));
    for (int k = 0; k < 2; k++) {
        rc = maplog_sync(log);
        ASSERT_EQ(rc, MAPLOG_ECLOSED);
        ASSERT_TRUE(strstr(maplog_errmsg(log), "durability lost") != NULL, "message: %s",
                    maplog_errmsg(log));
    }
    printf("every later sync: %s: %s\n", maplog_strerror(rc), maplog_errmsg(log));
    rc = maplog_close(log);
    ASSERT_EQ(rc, MAPLOG_ECLOSED);
    mlg__os_reset();
    /* reopening recovers: every record appended is there */
    ASSERT_OK(t_open(&log, d, SEG, 0));
    ASSERT_OK(maplog_sync(log));
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    int n = 0;
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        n++;
    ASSERT_EQ(rc, MAPLOG_END);
    ASSERT_EQ(n, 200);
    maplog_reader_close(r);
    printf("reopened: %d records, synced\n", n);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
