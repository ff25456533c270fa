/* test_hostile.c -- a log directory someone has tampered with: symlinks planted where
 * maplog's files go (the target outside the directory must never be touched), files
 * created with the configured mode, zero-length files named like segments, a segment of
 * another log, files that are not segments, FIFOs named like a segment or the lock, a
 * wake page in the lock that is not one.  Each
 * gets a clear error or is skipped, no call waits on a FIFO, and nothing is written outside
 * the directory. */
#include "harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG (64 * 1024)

static int same_text(const char *p, const char *text)
{
    char buf[256] = "";
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strcmp(buf, text) == 0;
}

static void make_log(const char *dir, int n, long long mode)
{
    maplog *log;
    if (mode)
        ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_FILE_MODE, mode, 0));
    else
        ASSERT_OK(t_open(&log, dir, SEG, 0));
    for (int i = 0; i < n; i++)
        ASSERT_OK(maplog_append(log, "record", 6, NULL));
    ASSERT_OK(maplog_close(log));
}

/* FIFOs named like a segment and like the lock: opening one for reading waits for a
 * writer, so every call that opens files in a log must refuse them without opening them
 * blocking.  alarm() turns a hang into a failure. */
static void fifos(const char *base)
{
    char d[600];
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    uint64_t problems = 0;
    char report[1024];
    int64_t v;
    signal(SIGALRM, t_hung_on_fifo);
    alarm(20);
    snprintf(d, sizeof d, "%s/fifo-seg", base);
    make_log(d, 10, 0);
    char *seg2 = t_path(d, "00000000000000000010.mlog");
    ASSERT_TRUE(mkfifo(seg2, 0600) == 0, "mkfifo %s", seg2);
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    int rc, n = 0;
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        n++;
    ASSERT_EQ(n, 10);
    ASSERT_TRUE(rc != 0, "rc %d", rc);
    maplog_reader_info_get(r, MAPLOG_INFO_DURABLE_COUNT, &v);
    maplog_reader_info_get(r, MAPLOG_INFO_RECORDS, &v);
    printf("a FIFO named like the second segment, read: %s\n", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    ASSERT_OK(maplog_verify(d, 0, NULL, NULL, NULL, &problems));
    ASSERT_TRUE(problems >= 1, "verify found %" PRIu64 " problems", problems);
    maplog_recover(d, 0, report, sizeof report, NULL);
    rc = maplog_open(&log, d, NULL);
    ASSERT_TRUE(rc == MAPLOG_ECORRUPT, "open of a log with a FIFO segment: rc %d", rc);
    printf("  open: %s\n", maplog_last_open_error());

    snprintf(d, sizeof d, "%s/fifo-lock", base);
    make_log(d, 10, 0);
    char *lock = t_path(d, "maplog.lock");
    ASSERT_TRUE(unlink(lock) == 0 && mkfifo(lock, 0600) == 0, "mkfifo %s", lock);
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_CLEAN_SHUTDOWN, &v));
    maplog_reader_close(r);
    rc = maplog_open(&log, d, NULL);
    if (rc == 0)
        ASSERT_OK(maplog_close(log));
    printf("a FIFO as the lock file: open gives %d (%s)\n", rc,
           rc ? maplog_last_open_error() : "ok");
    alarm(0);
}

/* maplog.lock's first bytes, or -1 */
static long lock_bytes(const char *d, unsigned char *buf, size_t n)
{
    FILE *f = fopen(t_path(d, "maplog.lock"), "rb");
    if (!f)
        return -1;
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    return (long)got;
}

static void write_lock(const char *d, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(t_path(d, "maplog.lock"), "wb");
    ASSERT_TRUE(f && fwrite(buf, 1, n, f) == n && fclose(f) == 0, "write maplog.lock");
}

/* The wake page in maplog.lock, tampered with: a follower never writes a page it does not
 * recognise (another magic, another version, too short) and waits by polling instead; a
 * writer makes a page of its own over garbage, without ever making the file shorter. */
static void wake_pages(const char *base)
{
    char d[600];
    unsigned char page[8192], got[8192];
    maplog *log;
    maplog_reader *r;
    snprintf(d, sizeof d, "%s/wake-page", base);
    make_log(d, 10, 0);
    struct {
        const char *what;
        size_t len;
        const char *magic;
        uint32_t version;
    } cases[] = {{"garbage", 8192, NULL, 0},
                 {"another version", 4096, "MLGWAKE1", 99},
                 {"too short for a page", 100, "MLGWAKE1", 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(page, 0xa5, sizeof page);
        if (cases[c].magic) {
            memcpy(page, cases[c].magic, 8);
            memcpy(page + 8, &cases[c].version, 4);
        }
        write_lock(d, page, cases[c].len);
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        ASSERT_OK(maplog_reader_set_spin(r, 0));
        maplog_record rec;
        int n = 0;
        while (maplog_reader_next(r, &rec) == 0)
            n++;
        ASSERT_EQ(n, 10);
        ASSERT_EQ(maplog_reader_wait(r, 30), MAPLOG_ETIMEDOUT);
        int fd = maplog_reader_fd(r);
        ASSERT_TRUE(fd >= 0, "a descriptor without a usable page: %d", fd);
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        maplog_reader_close(r);
        ASSERT_EQ(lock_bytes(d, got, sizeof got), (long)cases[c].len);
        ASSERT_TRUE(memcmp(got, page, cases[c].len) == 0,
                    "%s: a follower wrote into a page it does not recognise", cases[c].what);
        ASSERT_OK(t_open(&log, d, SEG, 0)); /* the writer makes its page */
        ASSERT_OK(maplog_close(log));
        long len = lock_bytes(d, got, sizeof got);
        ASSERT_TRUE(len >= 4096 && len >= (long)cases[c].len, "%s: lock file of %ld bytes",
                    cases[c].what, len);
        uint32_t version;
        memcpy(&version, got + 8, 4);
        ASSERT_TRUE(memcmp(got, "MLGWAKE1", 8) == 0 && version == 1, "%s: no wake page made",
                    cases[c].what);
        printf("a wake page of %s: the follower polled and wrote nothing; the writer made its "
               "own (%ld bytes)\n",
               cases[c].what, len);
    }
}

int main(int argc, char **argv)
{
    char d[600], victim[600], p[700];
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    struct stat st;
    int rc;
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("hostile");
    snprintf(victim, sizeof victim, "%s/victim.txt", base);
    t_write_file(victim, "precious\n");
    umask(022);

    /* 1. file modes: 0640 by default, the option otherwise */
    snprintf(d, sizeof d, "%s/modes", base);
    make_log(d, 10, 0);
    ASSERT_TRUE(stat(t_path(d, "00000000000000000000.mlog"), &st) == 0, "segment exists");
    ASSERT_EQ(st.st_mode & 0777, 0640);
    snprintf(d, sizeof d, "%s/modes600", base);
    make_log(d, 10, 0600);
    ASSERT_TRUE(stat(t_path(d, "00000000000000000000.mlog"), &st) == 0, "segment exists");
    ASSERT_EQ(st.st_mode & 0777, 0600);

    /* 2. a symlink where the spare goes: removed as a link, the target untouched */
    snprintf(d, sizeof d, "%s/spare-link", base);
    make_log(d, 10, 0);
    ASSERT_TRUE(symlink(victim, t_path(d, "next.mlog-spare")) == 0, "symlink");
    ASSERT_TRUE(symlink(victim, t_path(d, "next.mlog-spare2")) == 0, "symlink");
    ASSERT_OK(t_open(&log, d, SEG, 0));
    ASSERT_OK(maplog_append(log, "x", 1, NULL));
    ASSERT_OK(maplog_close(log));
    ASSERT_TRUE(same_text(victim, "precious\n"), "a spare symlink's target was written");
    /* closed: no spare is left behind, and the directory holds only the log's files */
    ASSERT_TRUE(access(t_path(d, "next.mlog-spare"), F_OK) != 0, "spare left after close");
    ASSERT_TRUE(access(t_path(d, "next.mlog-spare2"), F_OK) != 0, "spare2 left after close");

    /* 3. a symlink named like a segment: refused by the writer, skipped by readers */
    snprintf(d, sizeof d, "%s/seg-link", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    ASSERT_TRUE(symlink(victim, p) == 0, "symlink");
    rc = t_open(&log, d, SEG, 0);
    ASSERT_TRUE(rc != 0, "a symlinked segment was opened");
    printf("symlinked segment, open: %s\n", maplog_last_open_error());
    ASSERT_TRUE(strstr(maplog_last_open_error(), "symlink") != NULL ||
                    strstr(maplog_last_open_error(), "link") != NULL,
                "message says why: %s", maplog_last_open_error());
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    int n = 0;
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        n++;
    ASSERT_EQ(n, 10);
    maplog_reader_close(r);
    uint64_t problems;
    ASSERT_OK(maplog_verify(d, 0, NULL, NULL, NULL, &problems));
    ASSERT_TRUE(problems >= 1, "verify reports the symlink");
    ASSERT_TRUE(same_text(victim, "precious\n"), "a segment symlink's target was written");

    /* 4. a symlink where the lock goes */
    snprintf(d, sizeof d, "%s/lock-link", base);
    make_log(d, 10, 0);
    unlink(t_path(d, "maplog.lock"));
    ASSERT_TRUE(symlink(victim, t_path(d, "maplog.lock")) == 0, "symlink");
    rc = t_open(&log, d, SEG, 0);
    ASSERT_TRUE(rc != 0, "opened through a symlinked lock");
    printf("symlinked lock, open: %s\n", maplog_last_open_error());
    ASSERT_TRUE(same_text(victim, "precious\n"), "the lock symlink's target was written");

    /* 5. zero-length files named like segments */
    snprintf(d, sizeof d, "%s/zero-len", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    t_write_file(p, "");
    ASSERT_OK(maplog_reader_open(&r, d, 0)); /* readers: the 10 records, then a clear error */
    n = 0;
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        n++;
    ASSERT_EQ(n, 10);
    ASSERT_TRUE(rc == MAPLOG_ECORRUPT, "rc %d", rc);
    printf("zero-length last segment, read: %s\n", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    rc = t_open(&log, d, SEG, 0); /* not something maplog makes: refused, by name */
    ASSERT_EQ(rc, MAPLOG_ECORRUPT);
    printf("zero-length last segment, open: %s\n", maplog_last_open_error());
    char report[2048];
    ASSERT_OK(maplog_recover(d, MAPLOG_RECOVER_APPLY, report, sizeof report, NULL));
    printf("zero-length last segment, recover --apply: %s\n", report);
    ASSERT_OK(t_open(&log, d, SEG, 0));
    uint64_t next;
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, 10);
    ASSERT_OK(maplog_close(log));
    ASSERT_TRUE(stat(p, &st) != 0, "the bad file was set aside");
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 0); /* a zero-length first segment */
    ASSERT_TRUE(truncate(p, 0) == 0, "truncate");
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 5);
    t_write_file(p, "");
    rc = t_open(&log, d, SEG, 0);
    ASSERT_TRUE(rc == MAPLOG_ECORRUPT, "zero-length older segment: rc %d", rc);
    printf("zero-length segment, open: %s\n", maplog_last_open_error());

    /* 5b. an all-zero file named like the last segment, larger than any segment can be (a
     * sparse file: no blocks): refused by name, like the zero-length one */
    snprintf(d, sizeof d, "%s/oversized", base);
    make_log(d, 10, 0);
    snprintf(p, sizeof p, "%s/%020d.mlog", d, 10);
    t_write_file(p, "");
    ASSERT_TRUE(truncate(p, (off_t)2 << 30) == 0, "truncate %s to 2 GiB", p);
    rc = t_open(&log, d, SEG, 0);
    ASSERT_EQ(rc, MAPLOG_ECORRUPT);
    printf("oversized all-zero last segment, open: %s\n", maplog_last_open_error());

    /* 6. a segment of another log, renamed to fit */
    char other[600];
    snprintf(d, sizeof d, "%s/foreign", base);
    snprintf(other, sizeof other, "%s/other", base);
    make_log(d, 3000, 0);
    make_log(other, 3000, 0);
    {
        DIR *dd = opendir(d);
        struct dirent *e;
        char last[64] = "";
        while ((e = readdir(dd)))
            if (strlen(e->d_name) == 25 && strcmp(e->d_name, last) > 0)
                snprintf(last, sizeof last, "%s", e->d_name);
        closedir(dd);
        /* the other log's segment with the same name (same sizes, same sequence) */
        char src[700], dst[700];
        snprintf(src, sizeof src, "%s/%s", other, last);
        snprintf(dst, sizeof dst, "%s/%s", d, last);
        ASSERT_TRUE(rename(src, dst) == 0, "swap in %s", last);
    }
    rc = t_open(&log, d, SEG, 0);
    ASSERT_EQ(rc, MAPLOG_ECORRUPT);
    printf("another log's segment, open: %s\n", maplog_last_open_error());
    ASSERT_TRUE(strstr(maplog_last_open_error(), "log id") != NULL, "%s", maplog_last_open_error());
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        ;
    ASSERT_EQ(rc, MAPLOG_ECORRUPT);
    printf("another log's segment, read: %s\n", maplog_reader_errmsg(r));
    maplog_reader_close(r);

    /* 7. files that are not segments are ignored by readers and the writer */
    snprintf(d, sizeof d, "%s/extra", base);
    make_log(d, 10, 0);
    t_write_file(t_path(d, "README"), "hello");
    t_write_file(t_path(d, "00000000000000000000.mlog.bak"), "junk");
    t_write_file(t_path(d, "123.mlog"), "junk");
    mkdir(t_path(d, "subdir"), 0755);
    ASSERT_OK(t_open(&log, d, SEG, 0));
    ASSERT_OK(maplog_append(log, "y", 1, NULL));
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    n = 0;
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        n++;
    ASSERT_EQ(n, 11);
    maplog_reader_close(r);

    fifos(base);
    wake_pages(base);

    /* a path that is a file, not a directory: the same code from the writer, the reader and
     * verify */
    snprintf(d, sizeof d, "%s/a-file", base);
    t_write_file(d, "not a log\n");
    ASSERT_EQ(maplog_open(&log, d, NULL), MAPLOG_ENOTLOG);
    ASSERT_EQ(maplog_reader_open(&r, d, 0), MAPLOG_ENOTLOG);
    ASSERT_EQ(maplog_verify(d, 0, NULL, NULL, NULL, NULL), MAPLOG_ENOTLOG);
    printf("a file where the log should be: %s\n", maplog_last_open_error());

    ASSERT_TRUE(same_text(victim, "precious\n"), "the file outside the log was changed");
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
