/* test_golden.c -- the on-disk format, held to docs/FORMAT.md two ways.
 *
 * 1. With the clock and the random log id pinned (through the os seam), the library
 *    writes a small log -- four records, a sync, a rollover, a clean close -- and its
 *    segment files must equal the files in test/golden byte for byte.  Any change to what the
 *    code writes fails here.  (MAPLOG_UPDATE_GOLDEN=1 rewrites them, for a deliberate
 *    format change that also bumps the format version and updates FORMAT.md.)
 * 2. The same files are decoded here by a separate parser written from FORMAT.md's
 *    tables -- its own bitwise CRC-32C, explicit offsets, no library structs -- so the
 *    document and the code cannot drift apart silently.
 * 3. A log with a void record (a reservation whose writer died, then recovery) is held
 *    to test/golden/void-*.mlog and decoded the same way.
 * 4. Segments of the format before record hints (compat flag 0, bytes 2048..4095 zero), in
 *    test/golden/nohints/, decode as before and read back through the library. */
#include "harness.h"

#include "os.h"
#include "spec.h"

#include <sys/wait.h>
#include <xxhash.h>

#define SEG 65536
#define T0 1700000000123456789ull

static unsigned long long fixed_clock(void)
{
    return T0;
}

static int fixed_random(void *buf, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        ((unsigned char *)buf)[i] = (unsigned char)i;
    return 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
    while (n--)
        if (*p++)
            return 0;
    return 1;
}

static uint64_t decoded_voids; /* void records the last decode() met */
static unsigned decoded_hints; /* hint entries the last decode() met */

/* Decode one segment per FORMAT.md; returns the number of records.  hints: the segment
 * keeps the record hint table (compat bit 0), as every segment this version writes. */
static uint64_t decode(const unsigned char *f, uint64_t first_seq, int expect_sealed, int hints)
{
    static uint64_t rec_off[SEG / 16];
    decoded_voids = 0;
    decoded_hints = 0;
    ASSERT_TRUE(memcmp(f, "MAPLOGS1", 8) == 0, "magic");
    ASSERT_EQ(le32(f + 8), 1);              /* version */
    ASSERT_EQ(le32(f + 12), 128);           /* header_size */
    ASSERT_EQ(le32(f + 16), hints ? 1 : 0); /* compat: bit 0, record hints */
    ASSERT_EQ(le32(f + 20), 1);             /* incompat: bit 0, pending words and void records */
    ASSERT_EQ(le64(f + 24), SEG);
    ASSERT_EQ(le64(f + 32), 0); /* reserved: the first sequence number is in the name */
    ASSERT_EQ(le64(f + 40), T0);
    for (int i = 0; i < 16; i++)
        ASSERT_EQ(f[48 + i], i); /* log id */
    ASSERT_EQ(le32(f + 64), 4096);
    ASSERT_TRUE(all_zero(f + 68, 56), "reserved header bytes are zero");
    ASSERT_EQ(le32(f + 124), crc_bits(0, f, 124));

    /* records */
    uint64_t off = 4096, seq = first_seq, last_ts = 0;
    for (;;) {
        uint64_t word = le64(f + off);
        if (word == 0 || word == UINT64_MAX) /* no record, or the rollover mark */
            break;
        uint32_t lw = (uint32_t)word, len = lw & 0x3fffffffu;
        ASSERT_TRUE(lw & 0x80000000u, "valid bit at %" PRIu64, off);
        int is_void = (lw & 0x40000000u) != 0; /* a void record: zero timestamp and payload */
        unsigned char pre[20];
        memcpy(pre, &seq, 8); /* host is little-endian: checked by the library build */
        memcpy(pre + 8, f + off, 4);
        memcpy(pre + 12, f + off + 8, 8);
        uint32_t c = crc_bits(crc_bits(0, pre, 20), f + off + 16, len);
        ASSERT_EQ(le32(f + off + 4), c);
        ASSERT_EQ(le64(f + off + 8), is_void ? 0 : T0);
        if (is_void)
            ASSERT_TRUE(all_zero(f + off + 16, len), "a void's payload is zero");
        decoded_voids += (uint64_t)is_void;
        if (le64(f + off + 8) > last_ts)
            last_ts = le64(f + off + 8);
        uint64_t size = (16 + len + 7) & ~7ull;
        ASSERT_TRUE(all_zero(f + off + 16 + len, size - 16 - len), "padding is zero");
        rec_off[seq - first_seq] = off;
        off += size;
        seq++;
        if (off + 16 > SEG)
            break;
    }
    /* a segment the writer rolled over from carries the rollover mark right after its last
     * record: 8 bytes of 0xFF (FORMAT.md, "The rollover mark") */
    if (expect_sealed) {
        for (int k = 0; k < 8; k++)
            ASSERT_EQ(f[off + k], 0xff);
        ASSERT_TRUE(all_zero(f + off + 8, SEG - off - 8), "nothing after the rollover mark");
    } else {
        ASSERT_TRUE(all_zero(f + off, SEG - off), "nothing after the last record");
    }
    const unsigned char *s = f + 512;
    if (expect_sealed) {
        ASSERT_TRUE(memcmp(s, "SEAL", 4) == 0, "seal magic");
        ASSERT_EQ(le32(s + 4), 1);
        ASSERT_EQ(le64(s + 8), seq - first_seq);
        ASSERT_EQ(le64(s + 16), off);
        ASSERT_EQ(le64(s + 24), last_ts);
        ASSERT_EQ(le64(s + 32), XXH3_64bits(f + 4096, off - 4096));
        ASSERT_EQ(le64(s + 40), T0);
        ASSERT_EQ(le64(s + 48), first_seq);
        ASSERT_EQ(le32(s + 56), decoded_voids); /* void records */
        ASSERT_EQ(le32(s + 60), crc_bits(0, s, 60));
    } else {
        ASSERT_TRUE(all_zero(s, 64), "no seal");
    }
    /* checkpoints: the valid one with the larger generation */
    uint64_t best_gen = 0;
    const unsigned char *best = NULL;
    for (int k = 0; k < 2; k++) {
        const unsigned char *c = f + 1024 + 512 * k;
        if (all_zero(c, 64))
            continue;
        ASSERT_TRUE(memcmp(c, "CKPT", 4) == 0, "checkpoint magic");
        ASSERT_EQ(le32(c + 60), crc_bits(0, c, 60));
        ASSERT_EQ(le64(c + 8) & 1, (uint64_t)k); /* generation parity picks the slot */
        ASSERT_EQ(le64(c + 40), T0);
        ASSERT_EQ(le64(c + 48), first_seq);
        ASSERT_TRUE(all_zero(c + 56, 4), "checkpoint reserved");
        if (le64(c + 8) > best_gen) {
            best_gen = le64(c + 8);
            best = c;
        }
    }
    ASSERT_TRUE(best != NULL, "a checkpoint");
    if (!expect_sealed) { /* the clean close: state 2, covering every record */
        ASSERT_EQ(le32(best + 4), 2);
        ASSERT_EQ(le64(best + 16), off);
        ASSERT_EQ(le64(best + 24), seq - first_seq);
    }
    ASSERT_TRUE(all_zero(f + 128, 512 - 128), "zero between header and seal");
    ASSERT_TRUE(all_zero(f + 576, 1024 - 576), "zero between seal and slot A");
    ASSERT_TRUE(all_zero(f + 1088, 1536 - 1088), "zero between slot A and slot B");
    ASSERT_TRUE(all_zero(f + 1600, 2048 - 1600), "zero between slot B and the hints");
    if (!hints) {
        ASSERT_TRUE(all_zero(f + 2048, 4096 - 2048), "rest of the header page is zero");
        return seq - first_seq;
    }
    /* record hints (FORMAT.md, "Record hints"): 256 entries {u32 offset, u32 seq delta};
     * one writing thread, so entry k names the first record starting in
     * [4096 + k * stride, 4096 + (k + 1) * stride), and is zero when none does */
    uint64_t stride = ((SEG - 4096 + 255) / 256 + 7) & ~7ull, n = seq - first_seq, i = 0;
    for (unsigned k = 0; k < 256; k++) {
        uint64_t lo = 4096 + k * stride, hi = lo + stride;
        while (i < n && rec_off[i] < lo)
            i++;
        const unsigned char *e = f + 2048 + 8 * k;
        CTX("hint entry %u (records from offset %" PRIu64 ")", k, lo);
        if (i < n && rec_off[i] < hi) {
            ASSERT_EQ(le32(e), rec_off[i]);
            ASSERT_EQ(le32(e + 4), i);
            decoded_hints++;
        } else {
            ASSERT_TRUE(all_zero(e, 8), "an empty slot");
        }
    }
    CTX("%s", "");
    return n;
}

/* Read segment path into file and compare it with golden file gp, byte for byte
 * (MAPLOG_UPDATE_GOLDEN=1: rewrite gp from it first). */
static void against_gold(const char *path, const char *gp, unsigned char *file)
{
    static unsigned char gold[SEG];
    const char *update = getenv("MAPLOG_UPDATE_GOLDEN");
    t_pread(path, file, SEG, 0);
    if (update && *update == '1') {
        FILE *f = fopen(gp, "wb");
        ASSERT_TRUE(f && fwrite(file, 1, SEG, f) == SEG && fclose(f) == 0, "write %s", gp);
        printf("rewrote %s\n", gp);
    }
    ASSERT_EQ(t_file_size(gp), SEG);
    t_pread(gp, gold, SEG, 0);
    CTX("comparing %s with %s", path, gp);
    ASSERT_MEM(file, gold, SEG);
}

int main(int argc, char **argv)
{
    static unsigned char big[61000], file[SEG];
    maplog *log;
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("golden");
    mlg__os.clock_ns = fixed_clock;
    mlg__os.random = fixed_random;
    ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE,
                     MAPLOG_OPT_PREFAULT, 0LL, 0));
    unsigned char pat[64];
    for (int i = 0; i < 64; i++)
        pat[i] = (unsigned char)i;
    ASSERT_OK(maplog_append(log, "hello, maplog", 13, NULL));
    ASSERT_OK(maplog_append(log, "", 0, NULL));
    ASSERT_OK(maplog_append(log, pat, 64, NULL));
    ASSERT_OK(maplog_sync(log));
    memset(big, 'x', sizeof big);
    ASSERT_OK(maplog_append(log, big, sizeof big, NULL));
    static unsigned char last[300];
    memset(last, 'y', sizeof last);
    ASSERT_OK(maplog_append(log, last, sizeof last, NULL)); /* does not fit: rollover */
    for (int i = 0; i < 20; i++) /* records 320 bytes apart: slots of 240, some left empty */
        ASSERT_OK(maplog_append(log, last, sizeof last, NULL));
    ASSERT_OK(maplog_close(log));

    const char *names[2] = {"00000000000000000000.mlog", "00000000000000000004.mlog"};
    for (int k = 0; k < 2; k++) {
        char gp[1024];
        snprintf(gp, sizeof gp, "%s/%s", MAPLOG_GOLDEN_DIR, names[k]);
        ASSERT_EQ(t_file_size(t_path(dir, names[k])), SEG);
        against_gold(t_path(dir, names[k]), gp, file);
        CTX("decoding %s per FORMAT.md", names[k]);
        uint64_t n = decode(file, k == 0 ? 0 : 4, k == 0, 1);
        ASSERT_EQ(n, k == 0 ? 4 : 21);
        ASSERT_EQ(decoded_hints, k == 0 ? 1 : 21);
    }

    /* 3. void records: a writer reserves a record, appends one more, and dies; recovery
     *    makes the reservation a void record (FORMAT.md, "Holes and void records") */
    char vdir[1024];
    snprintf(vdir, sizeof vdir, "%s/voids", dir);
    pid_t pid = fork();
    if (pid == 0) {
        maplog_reservation res;
        if (t_open(&log, vdir, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE,
                   MAPLOG_OPT_PREFAULT, 0LL, 0) ||
            maplog_reserve(log, 21, &res) || (memcpy(res.data, "half", 4), 0) ||
            maplog_append(log, "after the hole", 14, NULL))
            _exit(1);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child status %d", st);
    ASSERT_OK(t_open(&log, vdir, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE,
                     MAPLOG_OPT_PREFAULT, 0LL, 0));
    ASSERT_OK(maplog_close(log));
    {
        char gp[1024];
        const char *name = "00000000000000000000.mlog";
        snprintf(gp, sizeof gp, "%s/void-%s", MAPLOG_GOLDEN_DIR, name);
        against_gold(t_path(vdir, name), gp, file);
        CTX("decoding void-%s per FORMAT.md", name);
        ASSERT_EQ(decode(file, 0, 0, 1), 2);
        ASSERT_EQ(decoded_voids, 1);
        /* slot 0 was filled when the reservation was made (every record before it was
         * published: there were none), and names the void record that took its place */
        ASSERT_EQ(decoded_hints, 1);
    }

    /* 4. the format before record hints: decoded as FORMAT.md says, and read by the library
     *    (records, a seek, the figures) from a copy of the files */
    {
        static const char *const old[3] = {"00000000000000000000.mlog", "00000000000000000004.mlog",
                                           "void-00000000000000000000.mlog"};
        static const uint64_t first[3] = {0, 4, 0}, count[3] = {4, 1, 2};
        char od[1024], gp[1024];
        snprintf(od, sizeof od, "%s/nohints", MAPLOG_GOLDEN_DIR);
        for (int k = 0; k < 3; k++) {
            snprintf(gp, sizeof gp, "%s/%s", od, old[k]);
            ASSERT_EQ(t_file_size(gp), SEG);
            t_pread(gp, file, SEG, 0);
            CTX("decoding nohints/%s per FORMAT.md", old[k]);
            ASSERT_EQ(decode(file, first[k], k == 0, 0), count[k]);
        }
        char cd[1024];
        snprintf(cd, sizeof cd, "%s/nohints-copy", dir);
        mkdir(cd, 0755);
        for (int k = 0; k < 2; k++) {
            t_pread(t_path(od, old[k]), file, SEG, 0);
            FILE *f = fopen(t_path(cd, old[k]), "wb");
            ASSERT_TRUE(f && fwrite(file, 1, SEG, f) == SEG && fclose(f) == 0, "copy %s", old[k]);
        }
        maplog_reader *r;
        maplog_record rec;
        int64_t v;
        CTX("reading a copy of the segments in %s", od);
        ASSERT_OK(maplog_reader_open(&r, cd, 0));
        uint64_t seq = 0;
        while (maplog_reader_next(r, &rec) == 0)
            ASSERT_EQ(rec.seq, seq++);
        ASSERT_EQ(seq, 5);
        ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &v));
        ASSERT_EQ(v, 5);
        ASSERT_OK(maplog_reader_seek(r, 2));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, 2);
        ASSERT_EQ(rec.len, 64);
        maplog_reader_close(r);
        /* and a writer appends to the old last segment, which keeps no hints */
        ASSERT_OK(t_open(&log, cd, SEG, MAPLOG_OPT_DURABILITY, (long long)MAPLOG_DURABILITY_NONE,
                         MAPLOG_OPT_PREFAULT, 0LL, 0));
        for (int i = 0; i < 50; i++)
            ASSERT_OK(maplog_append(log, pat, 64, NULL));
        ASSERT_OK(maplog_close(log));
        t_pread(t_path(cd, old[1]), file, SEG, 0);
        ASSERT_TRUE(all_zero(file + 2048, 2048), "no hints written into a segment without them");
        ASSERT_OK(maplog_reader_open(&r, cd, 0));
        ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &v));
        ASSERT_EQ(v, 55);
        ASSERT_OK(maplog_reader_seek(r, 40));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, 40);
        maplog_reader_close(r);
        CTX("%s", "");
    }
    mlg__os_reset();
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
