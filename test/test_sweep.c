/* test_sweep.c -- corruption sweep: for a small log of two segments, flip a bit of every
 * byte of each segment's header page and records (and of every 64th byte of the zero space
 * after them), then replay.  For every case: no crash, no sanitizer report, no record
 * returned whose payload is not the one written for its sequence number, and every record
 * that lies entirely before the damage still readable.  Every 64th case (and every flip in a
 * header page) also runs recovery on a copy: it must open or refuse cleanly, and what it
 * keeps must replay intact.
 *
 * Usage: test_sweep [SEED] [SEGMENT:OFFSET[:BIT]]   -- the second form replays one case,
 * which is what a failure prints.  MAPLOG_LONG_TESTS=1 flips all 8 bits of every byte.  A
 * ThreadSanitizer build runs one case in 8 (t_sweep_stride in harness.h). */
#include "harness.h"

#define SEG (64 * 1024)
#define NREC 900

static size_t len_of(uint64_t s)
{
    return 20 + (size_t)(s * 37 % 60);
}

typedef struct recpos {
    int seg;
    uint64_t start, end; /* bytes of the record in its segment file */
} recpos;

static recpos pos[NREC];
static char segname[2][32];
static uint64_t seg_first[2];

static void make_log(const char *dir)
{
    maplog *log;
    unsigned char buf[100];
    ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_PREFAULT, 0LL, 0));
    for (uint64_t i = 0; i < NREC; i++) {
        t_fill(buf, len_of(i), i);
        ASSERT_OK(maplog_append(log, buf, len_of(i), NULL));
    }
    ASSERT_OK(maplog_close(log));
    /* where each record is: replay the layout rule */
    int seg = 0;
    uint64_t off = 4096;
    seg_first[0] = 0;
    for (uint64_t i = 0; i < NREC; i++) {
        uint64_t size = (16 + len_of(i) + 7) & ~7ull;
        if (off + size > SEG) {
            seg = 1;
            seg_first[1] = i;
            off = 4096;
        }
        pos[i] = (recpos){seg, off, off + size};
        off += size;
    }
    ASSERT_TRUE(seg == 1, "the log needs two segments");
    for (int k = 0; k < 2; k++)
        snprintf(segname[k], sizeof segname[k], "%020" PRIu64 ".mlog", seg_first[k]);
}

/* Replay dir; check every returned record; return how many of the records before the
 * damage (seg, off) came back. */
static void replay_check(const char *dir, int seg, uint64_t off, const char *what)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[100];
    static unsigned char seen[NREC];
    memset(seen, 0, sizeof seen);
    if (maplog_reader_open(&r, dir, 0) == 0) {
        int guard = 0, rc;
        while (guard++ < 10 * NREC) {
            rc = maplog_reader_next(r, &rec);
            if (rc == MAPLOG_END)
                break;
            if (rc == MAPLOG_ECORRUPT || rc == MAPLOG_ENOENT || rc == MAPLOG_EVERSION) {
                if (maplog_reader_skip_segment(r) != 0)
                    break;
                continue;
            }
            ASSERT_TRUE(rc == 0, "%s: rc %d %s", what, rc, maplog_reader_errmsg(r));
            ASSERT_TRUE(rec.seq < NREC, "%s: seq %" PRIu64 " was never written", what, rec.seq);
            ASSERT_EQ(rec.len, len_of(rec.seq));
            t_fill(want, rec.len, rec.seq);
            ASSERT_MEM(rec.data, want, rec.len);
            seen[rec.seq] = 1;
        }
        maplog_reader_close(r);
    }
    for (uint64_t i = 0; i < NREC; i++) {
        int before = pos[i].seg < seg || (pos[i].seg == seg && pos[i].end <= off && off >= 4096);
        if (before && off >= 4096)
            ASSERT_TRUE(seen[i],
                        "%s: record %" PRIu64 " (segment %d bytes %" PRIu64 "..%" PRIu64
                        ") lies before the damage and was not returned",
                        what, i, pos[i].seg, pos[i].start, pos[i].end);
        if (pos[i].seg < seg)
            ASSERT_TRUE(seen[i], "%s: record %" PRIu64 " in an earlier segment not returned", what,
                        i);
    }
}

static void recover_check(const char *dir, const char *copy, const char *what)
{
    maplog *log;
    t_rm_rf(copy);
    t_copy_dir(dir, copy);
    int rc = t_open(&log, copy, SEG, MAPLOG_OPT_PREFAULT, 0LL, 0);
    if (rc == 0) {
        uint64_t next;
        ASSERT_OK(maplog_next_seq(log, &next));
        ASSERT_TRUE(next <= NREC, "%s: recovery claims %" PRIu64 " records", what, next);
        ASSERT_OK(maplog_close(log));
        replay_check(copy, 0, 0, what);
    } else {
        ASSERT_TRUE(rc == MAPLOG_ECORRUPT || rc == MAPLOG_EVERSION,
                    "%s: recovery failed with %d: %s", what, rc, maplog_last_open_error());
        ASSERT_TRUE(strstr(maplog_last_open_error(), ".mlog") != NULL,
                    "%s: refusal names no file: %s", what, maplog_last_open_error());
    }
}

static uint64_t data_end(int seg)
{
    uint64_t e = 4096;
    for (int i = 0; i < NREC; i++)
        if (pos[i].seg == seg)
            e = pos[i].end;
    return e;
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("sweep");
    char dir[600], copy[600], what[200];
    snprintf(dir, sizeof dir, "%s/log", base);
    snprintf(copy, sizeof copy, "%s/copy", base);
    make_log(dir);
    int all_bits = getenv("MAPLOG_LONG_TESTS") && *getenv("MAPLOG_LONG_TESTS") == '1';
    int one_seg = -1, one_bit = -1;
    uint64_t one_off = 0;
    if (argc > 2 && sscanf(argv[2], "%d:%" SCNu64 ":%d", &one_seg, &one_off, &one_bit) < 2) {
        fprintf(stderr, "usage: test_sweep [SEED] [SEGMENT:OFFSET[:BIT]]\n");
        return 2;
    }
    uint64_t cases = 0, candidates = 0;
    unsigned stride = one_seg >= 0 ? 1 : t_sweep_stride();
    for (int seg = 0; seg < 2; seg++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, segname[seg]);
        uint64_t end = data_end(seg);
        for (uint64_t off = 0; off < SEG; off++) {
            if (one_seg >= 0 && (seg != one_seg || off != one_off))
                continue;
            int in_use = off < 4096 ? (off < 128 || (off >= 512 && off < 576) ||
                                       (off >= 1024 && off < 1088) || (off >= 1536 && off < 1600))
                                    : off < end;
            if (!in_use && off % 64 && one_seg < 0)
                continue;
            unsigned char orig;
            t_pread(path, &orig, 1, (off_t)off);
            for (int bit = 0; bit < 8; bit++) {
                if (one_bit >= 0 ? bit != one_bit : !all_bits && bit != (int)(off % 8))
                    continue;
                if (candidates++ % stride)
                    continue;
                unsigned char b = orig ^ (unsigned char)(1u << bit);
                t_pwrite(path, &b, 1, (off_t)off);
                snprintf(what, sizeof what,
                         "flip of bit %d at %s offset %" PRIu64
                         " (replay: test_sweep %llu %d:%" PRIu64 ":%d)",
                         bit, segname[seg], off, t_seed, seg, off, bit);
                CTX("%s", what);
                replay_check(dir, seg, off, what);
                if (cases % 64 == 0 || off < 4096)
                    recover_check(dir, copy, what);
                t_pwrite(path, &orig, 1, (off_t)off);
                cases++;
            }
        }
    }
    /* and the untouched log, last, is still whole */
    replay_check(dir, 2, 0, "untouched");
    printf("%" PRIu64 " corruption cases: no crash, no bad payload, every record before the "
           "damage readable\n",
           cases);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
