/* test_holes.c -- a record reserved but never published costs no other record.
 *
 * A writer process reserves a record (maplog_reserve), writes part of its payload, and
 * other records are appended after it and acknowledged; then the process dies.  The rule:
 * every record whose append returned survives the crash, whatever the other reservations
 * were doing.  Recovery makes the reservation a void record that keeps its sequence
 * number; a reader of the crashed log, before recovery, steps over it; a reader of a live
 * log waits for it.  Each scenario prints what it compared when it fails. */
#include "harness.h"

#include "crc32c.h"

#include <dirent.h>
#include <sys/wait.h>

#define SEG (64 * 1024)

static size_t len_of(uint64_t seq)
{
    return (size_t)(seq * 2654435761u % 200);
}

/* In a child process: reserve `stuck` records (writing half of each payload), append n
 * more (each content-checked later by its sequence number), then die without closing. */
static void crash_after(const char *dir, int stuck, int n)
{
    pid_t pid = fork();
    if (pid == 0) {
        maplog *log;
        unsigned char buf[256];
        maplog_reservation res;
        if (t_open(&log, dir, SEG, 0))
            _exit(2);
        for (int i = 0; i < stuck; i++) {
            if (maplog_reserve(log, 100, &res))
                _exit(3);
            memset(res.data, 0xab, 50);
        }
        for (int i = 0; i < n; i++) {
            uint64_t next, seq;
            maplog_next_seq(log, &next);
            t_fill(buf, len_of(next), next);
            if (maplog_append(log, buf, len_of(next), &seq) || seq != next)
                _exit(4);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child ended with status %d", st);
}

/* Read the whole log; records from..to-1 must be there with their content; the ones in
 * [void_from, void_to) must be absent (default) or void (MAPLOG_READER_VOIDS). */
static void expect_log(const char *dir, int flags, uint64_t void_from, uint64_t void_to,
                       uint64_t to, int64_t holes)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[256];
    ASSERT_OK(maplog_reader_open(&r, dir, flags));
    for (uint64_t s = 0; s < to; s++) {
        if (s >= void_from && s < void_to && !(flags & MAPLOG_READER_VOIDS))
            continue;
        CTX("%s: reading seq %" PRIu64 " of %" PRIu64 " (flags %d)", dir, s, to, flags);
        int rc = maplog_reader_next(r, &rec);
        ASSERT_TRUE(rc == 0, "rc %d: %s", rc, maplog_reader_errmsg(r));
        ASSERT_EQ(rec.seq, s);
        if (s >= void_from && s < void_to) {
            ASSERT_EQ(rec.flags, MAPLOG_RECORD_VOID);
            ASSERT_EQ(rec.len, 0);
            continue;
        }
        ASSERT_EQ(rec.flags, 0);
        ASSERT_EQ(rec.len, len_of(s));
        t_fill(want, rec.len, s);
        ASSERT_MEM(rec.data, want, rec.len);
    }
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    int64_t v;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_HOLES, &v));
    ASSERT_EQ(v, holes);
    maplog_reader_close(r);
}

/* The first sequence number of the first segment after the one starting at seq. */
static uint64_t next_first_after(const char *dir, uint64_t seq)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t best = UINT64_MAX;
    ASSERT_TRUE(d != NULL, "opendir %s", dir);
    while ((e = readdir(d))) {
        unsigned long long s;
        char tail[8];
        if (sscanf(e->d_name, "%20llu%7s", &s, tail) == 2 && strcmp(tail, ".mlog") == 0 &&
            s > seq && s < best)
            best = s;
    }
    closedir(d);
    return best;
}

/* maplog_verify's findings on dir, by kind. */
typedef struct kinds {
    uint64_t damage, crash;
} kinds;

static void count_kind(void *ctx, const maplog_problem *p)
{
    kinds *k = ctx;
    printf("  verify: %s: offset %" PRIu64 ": %s: %s\n", p->file, p->offset,
           p->kind == MAPLOG_PROBLEM_CRASH ? "crash state" : "damage", p->what);
    if (p->kind == MAPLOG_PROBLEM_CRASH)
        k->crash++;
    else
        k->damage++;
}

static void expect_verify(const char *dir, uint64_t crash, uint64_t damage)
{
    kinds k = {0, 0};
    uint64_t n;
    CTX("%s: verify", dir);
    ASSERT_OK(maplog_verify(dir, 0, count_kind, NULL, &k, &n));
    ASSERT_EQ(k.crash, crash);
    ASSERT_EQ(k.damage, damage);
    ASSERT_EQ(n, crash + damage);
}

/* Reopen (recovery), check what it says it voided, and append once more. */
static void recover(const char *dir, int64_t voided, uint64_t next_want)
{
    maplog *log;
    int64_t v;
    uint64_t next;
    CTX("%s: reopening", dir);
    ASSERT_TRUE(t_open(&log, dir, SEG, 0) == 0, "open: %s", maplog_last_open_error());
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_VOIDED, &v));
    ASSERT_EQ(v, voided);
    if (voided)
        ASSERT_TRUE(strstr(maplog_recovery_report(log), "void record") != NULL, "report: %s",
                    maplog_recovery_report(log));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, next_want);
    ASSERT_OK(maplog_close(log));
}

/* Zero the bytes of the record at offset off of the first segment, as if its writer had
 * died before storing even the pending word. */
static void zero_record(const char *dir, off_t off, size_t size)
{
    unsigned char z[256] = {0};
    t_pwrite(t_path(dir, "00000000000000000000.mlog"), z, size, off);
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("holes");
    char dir[1024];

    /* 1. one reservation, 1000 appends after it, then the process dies */
    snprintf(dir, sizeof dir, "%s/one", base);
    crash_after(dir, 1, 1000);
    expect_log(dir, 0, 0, 1, 1001, 1); /* read as it is: the hole stepped over */
    expect_verify(dir, 1, 0);          /* a crash state, not damage */
    recover(dir, 1, 1001);
    expect_verify(dir, 0, 0);
    expect_log(dir, 0, 0, 1, 1001, 0); /* void records are skipped by default */
    expect_log(dir, MAPLOG_READER_VOIDS, 0, 1, 1001, 0);
    recover(dir, 0, 1001); /* nothing left to do */
    printf("ok 1: a reservation that never published costs no later record\n");

    /* 2. two reservations whose writer died before even the pending word (zero bytes) */
    snprintf(dir, sizeof dir, "%s/zero", base);
    crash_after(dir, 2, 1000);
    zero_record(dir, 4096, 240); /* two records of 100 bytes: 116 -> 120 bytes each */
    expect_log(dir, 0, 0, 2, 1002, 2);
    recover(dir, 2, 1002);
    expect_log(dir, MAPLOG_READER_VOIDS, 0, 2, 1002, 0);
    printf("ok 2: a run of zero bytes holds as many records as the next record's CRC says\n");

    /* 3. the reservation's segment filled up and the log went on in later ones */
    snprintf(dir, sizeof dir, "%s/rollover", base);
    crash_after(dir, 1, 3000);
    expect_log(dir, 0, 0, 1, 3001, 1);
    expect_verify(dir, 1, 0);
    recover(dir, 1, 3001);
    expect_log(dir, MAPLOG_READER_VOIDS, 0, 1, 3001, 0);
    uint64_t problems = 99;
    ASSERT_OK(maplog_verify(dir, 0, NULL, NULL, NULL, &problems));
    ASSERT_EQ(problems, 0);
    uint32_t voids = 0; /* the seal of the first segment counts its void record */
    t_pread(t_path(dir, "00000000000000000000.mlog"), &voids, 4, 512 + 56);
    ASSERT_EQ(voids, 1);
    printf("ok 3: a hole in a segment that a crash left unsealed is voided, then sealed\n");

    /* 4. a hole with nothing valid after it is a torn tail: cut, not voided */
    snprintf(dir, sizeof dir, "%s/tail", base);
    crash_after(dir, 1, 0);
    expect_log(dir, 0, 0, 0, 0, 0);
    recover(dir, 0, 0);
    printf("ok 4: a reservation at the end is cut with the tail\n");

    /* 5. a pending word whose length runs past the segment is not a hole */
    snprintf(dir, sizeof dir, "%s/badpending", base);
    crash_after(dir, 1, 10);
    uint64_t w = 0x444e455000fffff0ull; /* "PEND", a length past the 64 KiB segment */
    t_pwrite(t_path(dir, "00000000000000000000.mlog"), &w, 8, 4096);
    expect_log(dir, 0, 0, 0, 0, 0);
    recover(dir, 0, 0);
    printf("ok 5: a pending word with an impossible length is a torn tail\n");

    /* 6. while the writer lives, a reader waits at a pending record, never past it */
    {
        maplog *log;
        maplog_reader *r;
        maplog_record rec;
        maplog_reservation res;
        uint64_t seq;
        snprintf(dir, sizeof dir, "%s/live", base);
        CTX("live reader");
        ASSERT_OK(t_open(&log, dir, SEG, 0));
        ASSERT_OK(maplog_reserve(log, 10, &res));
        ASSERT_OK(maplog_append(log, "after", 5, &seq));
        ASSERT_EQ(seq, 1);
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        ASSERT_EQ(maplog_reader_wait(r, 20), MAPLOG_ETIMEDOUT);
        memcpy(res.data, "0123456789", 10);
        ASSERT_OK(maplog_commit(log, &res));
        ASSERT_OK(maplog_reader_wait(r, 1000));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, 0);
        ASSERT_MEM(rec.data, "0123456789", 10);
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, 1);
        maplog_reader_close(r);
        ASSERT_OK(maplog_close(log));
    }
    printf("ok 6: a live log's pending record is waited for, not stepped over\n");

    /* 7. the whole-log figures of a crashed log count what a reader reads: records, holes
     *    (as voids) and records lost between segments, before and after recovery */
    {
        snprintf(dir, sizeof dir, "%s/figures", base);
        crash_after(dir, 1, 3000); /* the stuck record keeps every segment unsealed */
        /* garbage over the last record of the first segment: what a power loss leaves */
        const char *s0 = t_path(dir, "00000000000000000000.mlog");
        uint64_t n0, last = t_last_record(s0, &n0);
        ASSERT_TRUE(n0 > 10, "first segment holds %" PRIu64 " records", n0);
        unsigned char junk[16];
        memset(junk, 0x77, sizeof junk);
        t_pwrite(s0, junk, sizeof junk, (off_t)last);
        maplog_reader *r;
        maplog_record rec;
        int64_t v[4];
        const maplog_reader_info keys[4] = {MAPLOG_INFO_RECORDS, MAPLOG_INFO_VOID_RECORDS,
                                            MAPLOG_INFO_LOST_RECORDS, MAPLOG_INFO_NEXT_SEQ};
        CTX("figures of the crashed log %s (record %" PRIu64 " made garbage)", dir, n0 - 1);
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        for (int k = 0; k < 4; k++)
            ASSERT_OK(maplog_reader_info_get(r, keys[k], &v[k]));
        ASSERT_EQ(v[0], 2999); /* 3001 numbers: one hole, one lost */
        ASSERT_EQ(v[1], 1);
        ASSERT_EQ(v[2], 1);
        ASSERT_EQ(v[3], 3001);
        int64_t got = 0, holes, lost;
        int rc;
        while ((rc = maplog_reader_next(r, &rec)) == 0)
            got++;
        ASSERT_TRUE(rc == MAPLOG_END, "rc %d: %s", rc, maplog_reader_errmsg(r));
        ASSERT_EQ(got, 2999);
        ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_HOLES, &holes));
        ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_LOST, &lost));
        ASSERT_EQ(holes, 1);
        ASSERT_EQ(lost, 1);
        maplog_reader_close(r);
        expect_verify(dir, 2, 0); /* the hole, and the records lost across the rollover */
        /* the same gap when a later segment holds synced records is damage */
        char sealed[1024];
        snprintf(sealed, sizeof sealed, "%s/figures-sealed", base);
        t_copy_dir(dir, sealed);
        uint32_t magic = 0x54504b43u; /* a checkpoint with records in the next segment */
        uint64_t ck[8] = {0};
        memcpy(ck, &magic, 4);
        ck[0] |= 1ull << 32; /* state 1 */
        ck[1] = 1;           /* generation */
        ck[2] = 4096 + 16;   /* end_offset */
        ck[3] = 1;           /* record_count */
        char next[64];
        snprintf(next, sizeof next, "%020" PRIu64 ".mlog", next_first_after(dir, 0));
        ck[6] = next_first_after(dir, 0); /* first_seq */
        uint32_t crc = mlg__crc32c(0, ck, 60);
        memcpy((unsigned char *)ck + 60, &crc, 4);
        t_pwrite(t_path(sealed, next), ck, 64, 1024 + 512); /* slot B: odd generation */
        expect_verify(sealed, 1, 1);
        /* recovery: the hole becomes a void; the log ends at the garbage, later segments
         * set aside */
        maplog_reader *kept; /* a reader open across the recovery: its figures follow it */
        ASSERT_OK(maplog_reader_open(&kept, dir, 0));
        ASSERT_OK(maplog_reader_info_get(kept, MAPLOG_INFO_LOST_RECORDS, &v[2]));
        ASSERT_EQ(v[2], 1);
        recover(dir, 1, n0 - 1);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0)
                ASSERT_OK(maplog_reader_open(&r, dir, 0));
            for (int k = 0; k < 4; k++)
                ASSERT_OK(maplog_reader_info_get(pass ? kept : r, keys[k], &v[k]));
            ASSERT_EQ(v[0], (int64_t)n0 - 2);
            ASSERT_EQ(v[1], 1);
            ASSERT_EQ(v[2], 0);
            if (pass == 0)
                maplog_reader_close(r);
        }
        maplog_reader_close(kept);
    }
    printf("ok 7: figures count readable records, voids and records lost between segments\n");

    /* 8. synced records are never a hole: zeroed inside the checkpoint's range it is
     *    damage -- open refuses, verify says so, a reader stops there */
    for (int clean = 0; clean < 2; clean++) {
        maplog *log;
        snprintf(dir, sizeof dir, "%s/synced-%d", base, clean);
        ASSERT_OK(t_open(&log, dir, SEG, 0));
        for (int i = 0; i < 20; i++) {
            unsigned char buf[256];
            t_fill(buf, len_of((uint64_t)i), (uint64_t)i);
            ASSERT_OK(maplog_append(log, buf, len_of((uint64_t)i), NULL));
        }
        ASSERT_OK(maplog_sync(log));
        if (clean) {
            ASSERT_OK(maplog_close(log));
        } else {
            pid_t pid = fork(); /* a crash after the sync: the checkpoint stays "open" */
            if (pid == 0)
                _exit(0);
            waitpid(pid, NULL, 0);
            maplog_close(log);
            uint64_t ck[8]; /* make the best checkpoint say a writer had it open */
            for (off_t at = 1024; at <= 1536; at += 512) {
                t_pread(t_path(dir, "00000000000000000000.mlog"), ck, 64, at);
                if ((uint32_t)ck[0] == 0x54504b43u && (uint32_t)(ck[0] >> 32) == 2) {
                    ck[0] = 0x54504b43u | 1ull << 32;
                    uint32_t crc = mlg__crc32c(0, ck, 60);
                    memcpy((unsigned char *)ck + 60, &crc, 4);
                    t_pwrite(t_path(dir, "00000000000000000000.mlog"), ck, 64, at);
                }
            }
        }
        off_t at = 4096; /* record 3: after records 0..2 */
        for (uint64_t i = 0; i < 3; i++)
            at += (off_t)((16 + len_of(i) + 7) & ~(size_t)7);
        unsigned char z[256] = {0};
        t_pwrite(t_path(dir, "00000000000000000000.mlog"), z, (16 + len_of(3) + 7) & ~(size_t)7,
                 at);
        CTX("%s: a synced record zeroed", dir);
        ASSERT_EQ(t_open(&log, dir, SEG, 0), MAPLOG_ECORRUPT);
        expect_verify(dir, 0, 1);
        maplog_reader *r;
        maplog_record rec;
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        for (int i = 0; i < 3; i++)
            ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_ECORRUPT);
        maplog_reader_close(r);
    }
    printf("ok 8: a synced record zeroed is damage, not a hole\n");

    /* 9. a follower of a crashed log at its end, then a writer comes, reserves a record
     *    there, appends after it and dies too: the follower reads on past the new hole */
    {
        maplog_reader *r;
        maplog_record rec;
        snprintf(dir, sizeof dir, "%s/follow", base);
        crash_after(dir, 0, 5);
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        for (int i = 0; i < 5; i++)
            ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END); /* searched for a hole: none */
        crash_after(dir, 1, 5);                             /* seq 5 stuck, 6..10 appended */
        ASSERT_OK(maplog_reader_wait(r, 1000));
        for (uint64_t s = 6; s <= 10; s++) {
            CTX("follower after a second crash, seq %" PRIu64, s);
            int rc = maplog_reader_next(r, &rec);
            ASSERT_TRUE(rc == 0, "rc %d: %s", rc, maplog_reader_errmsg(r));
            ASSERT_EQ(rec.seq, s);
        }
        maplog_reader_close(r);
    }
    printf("ok 9: a follower's 'no hole here' does not outlive a new writer\n");

    /* 10. seeking in a crashed log lands where asked, past a hole */
    {
        maplog_reader *r;
        maplog_record rec;
        snprintf(dir, sizeof dir, "%s/seek", base);
        crash_after(dir, 1, 1000);
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        ASSERT_OK(maplog_reader_seek(r, 500));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, 500);
        ASSERT_OK(maplog_reader_seek(r, 0)); /* into the hole: the first record after it */
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, 1);
        maplog_reader_close(r);
    }
    printf("ok 10: seek in a crashed log steps over a hole\n");

    t_scratch_done();
    printf("10 passed, 0 failed\n");
    return 0;
}
