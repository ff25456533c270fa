/* test_recovery.c -- what recovery and readers do with damage that is not a torn tail:
 * synced records damaged, a bad record in the middle, a sealed segment damaged, an
 * unsealed older segment, a missing segment, an all-zero last segment, a segment of
 * another log, a directory that is not a log.  Each must be a clear error naming the
 * file and the offset, or a repair that loses nothing acknowledged. */
#include "harness.h"

#define SEG (64 * 1024)

static void write_log(const char *dir, int n, int close_it)
{
    pid_t pid = fork();
    if (pid == 0) {
        maplog *log;
        unsigned char buf[600];
        if (t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE, 0))
            _exit(2);
        for (int i = 0; i < n; i++) {
            t_fill(buf, (size_t)(i % 500), (unsigned long long)i);
            if (maplog_append(log, buf, (size_t)(i % 500), NULL))
                _exit(3);
        }
        if (close_it && maplog_close(log))
            _exit(4);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child status %d", st);
}

static uint64_t rec_off(int i) /* offset of record i in the first segment */
{
    uint64_t off = 4096;
    for (int k = 0; k < i; k++)
        off += (16 + (uint64_t)(k % 500) + 7) & ~(uint64_t)7;
    return off;
}

static void flip(const char *path, uint64_t off)
{
    unsigned char c;
    t_pread(path, &c, 1, (off_t)off);
    c ^= 0x10;
    t_pwrite(path, &c, 1, (off_t)off);
}

/* Read until something other than a record; return it, with the count in *n. */
static int read_until(const char *dir, int *n, char *msg)
{
    maplog_reader *r;
    maplog_record rec;
    int rc;
    *n = 0;
    if ((rc = maplog_reader_open(&r, dir, 0))) {
        snprintf(msg, 512, "%s", maplog_last_open_error());
        return rc;
    }
    while ((rc = maplog_reader_next(r, &rec)) == 0)
        (*n)++;
    snprintf(msg, 512, "%s", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    return rc;
}

int main(int argc, char **argv)
{
    char d[512], seg0[600], seg1[600], msg[512];
    maplog *log;
    int n, rc;
    uint64_t next;
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("recovery");

    /* 1. a synced record damaged: the writer refuses, names file and offset; the reader
     *    reports corruption; with strict recovery off the writer truncates there. */
    snprintf(d, sizeof d, "%s/synced", base);
    write_log(d, 20, 1); /* clean close: everything synced, checkpoint at the end */
    snprintf(seg0, sizeof seg0, "%s/00000000000000000000.mlog", d);
    flip(seg0, rec_off(12) + 20);
    rc = t_open(&log, d, SEG, 0);
    ASSERT_EQ(rc, MAPLOG_ECORRUPT);
    printf("synced damage, open: %s\n", maplog_last_open_error());
    ASSERT_TRUE(strstr(maplog_last_open_error(), "00000000000000000000.mlog") &&
                    strstr(maplog_last_open_error(), "offset"),
                "message names file and offset: %s", maplog_last_open_error());
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_ECORRUPT);
    ASSERT_EQ(n, 12);
    printf("synced damage, read: %s\n", msg);
    ASSERT_OK(t_open(&log, d, SEG, MAPLOG_OPT_STRICT_RECOVERY, 0LL, 0));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, 12);
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_END);
    ASSERT_EQ(n, 12);

    /* 2. a bad record in the middle of unsynced data, valid ones after it: the reader stops
     *    there and says valid records follow; recovery cuts there (nothing past the
     *    checkpoint was promised) but keeps the cut bytes in a side file and reports it */
    snprintf(d, sizeof d, "%s/middle", base);
    write_log(d, 30, 0);
    snprintf(seg0, sizeof seg0, "%s/00000000000000000000.mlog", d);
    flip(seg0, rec_off(25) + 17);
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_END);
    ASSERT_EQ(n, 25);
    printf("middle damage, read: %s\n", msg);
    ASSERT_TRUE(strstr(msg, "valid record follows") != NULL, "%s", msg);
    ASSERT_OK(t_open(&log, d, SEG, 0));
    printf("middle damage, recovery: %s\n", maplog_recovery_report(log));
    int64_t saved, cut;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_SAVED_TAIL, &saved));
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_CUT_OFFSET, &cut));
    ASSERT_EQ(saved, 1);
    ASSERT_EQ(cut, rec_off(25));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, 25);
    ASSERT_OK(maplog_close(log));
    {
        char side[700];
        snprintf(side, sizeof side, "%s/00000000000000000000.mlog.tail-%" PRIu64, d, rec_off(25));
        ASSERT_EQ(t_file_size(side), rec_off(30) - rec_off(25));
    }
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_END);
    ASSERT_EQ(n, 25);

    /* 3. a sealed segment damaged: reader stops there with the offset, skips on request */
    snprintf(d, sizeof d, "%s/sealed", base);
    write_log(d, 600, 1);
    snprintf(seg0, sizeof seg0, "%s/00000000000000000000.mlog", d);
    flip(seg0, rec_off(40) + 30);
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_ECORRUPT);
    ASSERT_EQ(n, 40);
    printf("sealed damage, read: %s\n", msg);
    char want[64];
    snprintf(want, sizeof want, "offset %" PRIu64, rec_off(40));
    ASSERT_TRUE(strstr(msg, want) != NULL, "want '%s' in: %s", want, msg);
    {
        maplog_reader *r;
        maplog_record rec;
        int k = 0;
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        while ((rc = maplog_reader_next(r, &rec)) == 0)
            k++;
        ASSERT_EQ(rc, MAPLOG_ECORRUPT);
        ASSERT_OK(maplog_reader_skip_segment(r));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_TRUE(rec.seq > 40, "after skip: seq %" PRIu64, rec.seq);
        maplog_reader_close(r);
    }

    /* 4. an older segment left unsealed (crash between rollover and seal): recovery seals
     *    it, nothing lost */
    snprintf(d, sizeof d, "%s/unsealed", base);
    write_log(d, 600, 1);
    snprintf(seg0, sizeof seg0, "%s/00000000000000000000.mlog", d);
    unsigned char zero[64] = {0};
    t_pwrite(seg0, zero, 64, 512);
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_END);
    ASSERT_EQ(n, 600);
    ASSERT_OK(t_open(&log, d, SEG, 0));
    ASSERT_OK(maplog_close(log));
    unsigned char sealblk[4];
    t_pread(seg0, sealblk, 4, 512);
    ASSERT_TRUE(memcmp(sealblk, "SEAL", 4) == 0, "segment resealed");
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_END);
    ASSERT_EQ(n, 600);

    /* 5. a missing middle segment: a gap, reported by reader and writer */
    snprintf(d, sizeof d, "%s/gap", base);
    write_log(d, 1500, 1);
    {
        DIR *dd = opendir(d);
        struct dirent *e;
        char names[64][64];
        int k = 0;
        while ((e = readdir(dd)) && k < 64)
            if (strstr(e->d_name, ".mlog") && strlen(e->d_name) == 25)
                snprintf(names[k++], 64, "%s", e->d_name);
        closedir(dd);
        ASSERT_TRUE(k >= 3, "need 3 segments, have %d", k);
        qsort(names, (size_t)k, 64, (int (*)(const void *, const void *))strcmp);
        snprintf(seg1, sizeof seg1, "%s/%s", d, names[1]);
        unlink(seg1);
    }
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_ECORRUPT);
    printf("gap, read: %s\n", msg);
    ASSERT_EQ(t_open(&log, d, SEG, 0), MAPLOG_ECORRUPT);
    printf("gap, open: %s\n", maplog_last_open_error());

    /* 6. an all-zero last segment (rollover cut short) is removed */
    snprintf(d, sizeof d, "%s/zero-last", base);
    write_log(d, 50, 1);
    {
        char p[600];
        snprintf(p, sizeof p, "%s/00000000000000000050.mlog", d);
        int fd = open(p, O_CREAT | O_WRONLY, 0640);
        ASSERT_TRUE(fd >= 0 && ftruncate(fd, SEG) == 0, "make zero segment");
        close(fd);
        ASSERT_OK(t_open(&log, d, SEG, 0));
        ASSERT_OK(maplog_next_seq(log, &next));
        ASSERT_EQ(next, 50);
        ASSERT_OK(maplog_close(log));
    }

    /* 7. a segment of another log dropped into this one */
    char other[512];
    snprintf(d, sizeof d, "%s/mixed", base);
    snprintf(other, sizeof other, "%s/other", base);
    write_log(d, 100, 1);
    write_log(other, 1200, 1);
    {
        DIR *dd = opendir(other);
        struct dirent *e;
        char src[700], dst[700];
        while ((e = readdir(dd))) {
            uint64_t s = strtoull(e->d_name, NULL, 10);
            if (strlen(e->d_name) == 25 && s > 0) {
                snprintf(src, sizeof src, "%s/%s", other, e->d_name);
                snprintf(dst, sizeof dst, "%s/%020" PRIu64 ".mlog", d, (uint64_t)100);
                int in = open(src, O_RDONLY), out = open(dst, O_CREAT | O_WRONLY, 0640);
                static char buf[SEG];
                ASSERT_TRUE(read(in, buf, SEG) == SEG && write(out, buf, SEG) == SEG, "copy");
                close(in);
                close(out);
                break;
            }
        }
        closedir(dd);
    }
    rc = t_open(&log, d, SEG, 0);
    ASSERT_TRUE(rc == MAPLOG_ECORRUPT, "rc %d", rc);
    printf("foreign segment, open: %s\n", maplog_last_open_error());

    /* 8. a directory with other files is not a log, and is left alone */
    snprintf(d, sizeof d, "%s/notalog", base);
    mkdir(d, 0755);
    t_copy_dir(base, d); /* nothing to copy (only dirs), so add a file by hand */
    {
        char p[600];
        snprintf(p, sizeof p, "%s/notes.txt", d);
        FILE *f = fopen(p, "w");
        fputs("hello\n", f);
        fclose(f);
    }
    ASSERT_EQ(t_open(&log, d, SEG, 0), MAPLOG_ENOTLOG);
    printf("not a log, open: %s\n", maplog_last_open_error());
    ASSERT_EQ(read_until(d, &n, msg), MAPLOG_ENOTLOG);
    ASSERT_EQ(t_open(&log, "/nonexistent/dir/x", SEG, MAPLOG_OPT_CREATE, 0LL, 0), MAPLOG_ENOENT);

    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
