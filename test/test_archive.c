/* test_archive.c -- archived segments of blocks (docs/FORMAT.md, "Archived segments").
 *
 * 1. A log of records from 40 bytes to 700 KiB (so records cross blocks, and some blocks
 *    hold no record start) is copied, then archived; the archive is decoded here from
 *    FORMAT.md's tables alone (explicit offsets, zlib per block, its own walk of the
 *    records for the index) and must give back the copy's segment bytes and index.
 * 2. Every record reads back as in the copy: next(), next_batch(), seek to sequence
 *    numbers and to times.
 * 3. A reader inflates only what it reads: opening inflates one block; a seek to a record
 *    at the end of a segment inflates the blocks it needs; a replay inflates each block
 *    once and keeps memory flat.
 * 4. Damage never reads as data: a damaged block, a lying index entry (CRC made good
 *    again), an index that fails its CRC -- the reader says which file, offset and block,
 *    and whatever it returned is what was written; verify reports it.
 * 5. The golden archives of format versions 1 (one zlib stream) and 2 (blocks), in
 *    test/golden, read as the segment they hold. */
#include "harness.h"

#include "format.h"
#include "spec.h"

#include <sys/resource.h>
#include <zlib.h>

#define SEG (4 << 20)
#define BLOCK (256 * 1024)
#define NREC 7000

static size_t len_of(uint64_t s)
{
    if (s % 211 == 5)
        return 300 * 1024 + (size_t)(s % 7) * 60 * 1024; /* 300..660 KiB: crosses blocks */
    return 40 + (size_t)(s * 2654435761u % 400);
}

static unsigned char *payload(uint64_t s, size_t *n)
{
    static unsigned char buf[1 << 20];
    *n = len_of(s);
    for (size_t i = 0; i < *n; i++) /* compressible, and different per record */
        buf[i] = (unsigned char)("abcdefgh"[(i / 16 + s) % 8] + (i % 97 == 0 ? s : 0));
    return buf;
}

static uint64_t ts_of(uint64_t s)
{
    return 1700000000000000000ull + s * 1000 + (s % 5) * 3000; /* not quite monotonic */
}

static void read_all(const char *dir, maplog_record **out, unsigned char ***copies, size_t *n)
{
    maplog_reader *r;
    maplog_record rec;
    int rc;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    *out = calloc(NREC, sizeof **out);
    *copies = calloc(NREC, sizeof **copies);
    *n = 0;
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        ASSERT_TRUE(*n < NREC, "too many records");
        (*out)[*n] = rec;
        (*copies)[*n] = malloc(rec.len + 1);
        memcpy((*copies)[*n], rec.data, rec.len);
        (*out)[*n].data = (*copies)[*n];
        ++*n;
    }
    ASSERT_EQ(rc, MAPLOG_END);
    maplog_reader_close(r);
}

static void same_record(const maplog_record *got, uint64_t seq)
{
    size_t n;
    const unsigned char *want = payload(seq, &n);
    ASSERT_EQ(got->seq, seq);
    ASSERT_EQ(got->timestamp_ns, ts_of(seq));
    ASSERT_EQ(got->len, n);
    ASSERT_MEM(got->data, want, n);
}

/* Part 1: decode archive path from FORMAT.md and compare with the plain segment. */
static void decode_by_spec(const char *path, const char *plain, uint64_t first)
{
    long long fsz = t_file_size(path), psz = t_file_size(plain);
    ASSERT_TRUE(fsz > 128 && psz == SEG, "%s: %lld bytes, %s: %lld", path, fsz, plain, psz);
    unsigned char *f = malloc((size_t)fsz), *seg = malloc(SEG), *out = calloc(1, SEG);
    t_pread(path, f, (size_t)fsz, 0);
    t_pread(plain, seg, SEG, 0);
    ASSERT_MEM(f, "MAPLOGZ1", 8);
    ASSERT_EQ(le32(f + 8), 2);
    ASSERT_EQ(le32(f + 12), 128);
    ASSERT_EQ(le64(f + 16), SEG);
    uint64_t stored = le64(f + 24);
    ASSERT_EQ(le64(f + 40), (uint64_t)fsz - 128);
    ASSERT_EQ(le64(f + 48), first);
    ASSERT_EQ(le32(f + 92), crc_bits(0, f, 92));
    uint32_t bs = le32(f + 96), nb = le32(f + 100);
    ASSERT_EQ(bs, BLOCK);
    ASSERT_EQ(nb, (stored + bs - 1) / bs);
    ASSERT_EQ(le32(f + 104), crc_bits(0, f + 128, (size_t)nb * 32));
    ASSERT_EQ(le32(f + 124), crc_bits(0, f + 96, 28));
    for (int k = 108; k < 124; k++)
        ASSERT_EQ(f[k], 0);
    uint64_t at = 128 + (uint64_t)nb * 32;
    for (uint32_t i = 0; i < nb; i++) {
        const unsigned char *e = f + 128 + 32 * i;
        ASSERT_EQ(le64(e), at);
        uLongf dlen = SEG - (uLongf)i * bs;
        ASSERT_EQ(uncompress(out + (size_t)i * bs, &dlen, f + at, le32(e + 8)), Z_OK);
        ASSERT_EQ(dlen, stored - (uint64_t)i * bs > bs ? bs : stored - (uint64_t)i * bs);
        at += le32(e + 8);
    }
    ASSERT_EQ(at, (uint64_t)fsz);
    ASSERT_MEM(out, seg, stored); /* past stored_len: zero (the rollover mark is not kept) */
    for (uint64_t k = stored; k < SEG; k++)
        ASSERT_EQ(out[k], 0);
    /* the index: for each block, the first record that starts in it (FORMAT.md's walk) */
    uint64_t off = 4096, seq = first, maxts = 0;
    uint32_t next_block = 0;
    while (off + 16 <= stored) {
        uint64_t w = le64(seg + off);
        if (w == 0)
            break;
        uint64_t size = (16 + (w & 0x3fffffffu) + 7) & ~(uint64_t)7;
        for (; next_block <= off / bs; next_block++) {
            const unsigned char *e = f + 128 + 32 * next_block;
            if (next_block < off / bs) { /* no record starts in it */
                ASSERT_EQ(le32(e + 12), 0);
                ASSERT_EQ(le64(e + 16), 0);
                continue;
            }
            ASSERT_EQ(le32(e + 12), off);
            ASSERT_EQ(le64(e + 16), seq);
            ASSERT_EQ(le64(e + 24), maxts);
        }
        uint64_t ts = le64(seg + off + 8);
        maxts = ts > maxts ? ts : maxts;
        off += size;
        seq++;
    }
    ASSERT_EQ(off, stored);
    free(f);
    free(seg);
    free(out);
}

static int64_t inflated(maplog_reader *r)
{
    int64_t v = -1;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_INFLATED_BYTES, &v));
    return v;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f || fscanf(f, "%ld %ld", &pages, &res) != 2)
        abort();
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Read the whole log: every record returned must be the one written; returns the first
 * error (or MAPLOG_END) with *got records. */
static int replay_checked(const char *dir, uint64_t *got, char *msg, size_t msglen)
{
    maplog_reader *r;
    maplog_record rec;
    int rc;
    *got = 0;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        same_record(&rec, *got);
        ++*got;
    }
    snprintf(msg, msglen, "%s", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    return rc;
}

static int n_problems;
static char last_problem[512];
static uint64_t last_problem_off; /* the last problem's offset, and what was wrong */
static char last_problem_what[512];
static void on_problem(void *ctx, const maplog_problem *p)
{
    (void)ctx;
    n_problems++;
    snprintf(last_problem, sizeof last_problem, "%s @%llu: %s", p->file,
             (unsigned long long)p->offset, p->what);
    last_problem_off = p->offset;
    snprintf(last_problem_what, sizeof last_problem_what, "%s", p->what);
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("archive");
    char d[512], ref[512];
    maplog *log;
    snprintf(d, sizeof d, "%s/log", base);
    snprintf(ref, sizeof ref, "%s/ref", base);
    CTX("writing");
    ASSERT_OK(t_open(&log, d, SEG, 0));
    for (uint64_t s = 0; s < NREC; s++) {
        size_t n;
        const unsigned char *p = payload(s, &n);
        uint64_t seq;
        ASSERT_OK(maplog_append_ts(log, p, n, ts_of(s), &seq));
        ASSERT_EQ(seq, s);
    }
    ASSERT_OK(maplog_close(log));
    t_copy_dir(d, ref);
    ASSERT_OK(t_open(&log, d, SEG, 0));
    uint64_t count = 0;
    ASSERT_OK(maplog_archive(log, &count));
    ASSERT_OK(maplog_close(log));
    ASSERT_TRUE(count >= 2, "%llu segments archived", (unsigned long long)count);

    /* 1. the bytes, by the spec */
    uint64_t firsts[64];
    size_t nseg = 0;
    long long packed = 0, plain_bytes = 0;
    {
        DIR *dd = opendir(d);
        struct dirent *e;
        while ((e = readdir(dd)))
            if (strstr(e->d_name, ".mlogz") && nseg < 64)
                firsts[nseg++] = strtoull(e->d_name, NULL, 10);
        closedir(dd);
    }
    ASSERT_EQ(nseg, count);
    for (size_t i = 1; i < nseg; i++) /* in order */
        for (size_t j = i; j > 0 && firsts[j - 1] > firsts[j]; j--) {
            uint64_t t = firsts[j];
            firsts[j] = firsts[j - 1];
            firsts[j - 1] = t;
        }
    ASSERT_TRUE(nseg >= 3, "%zu archived segments", nseg);
    for (size_t i = 0; i < nseg; i++) {
        char name[64];
        snprintf(name, sizeof name, "%020llu.mlog", (unsigned long long)firsts[i]);
        CTX("decoding %sz by FORMAT.md", name);
        char *z = strdup(t_path(d, name));
        strcat(z = realloc(z, strlen(z) + 2), "z");
        decode_by_spec(z, t_path(ref, name), firsts[i]);
        unsigned char h[32];
        t_pread(z, h, 32, 0);
        packed += t_file_size(z);
        plain_bytes += (long long)le64(h + 24);
        free(z);
    }
    printf("archive: %zu segments, %lld bytes of records in %lld bytes (ratio %.2f)\n", nseg,
           plain_bytes, packed, (double)plain_bytes / (double)packed);

    /* 2. everything reads back */
    CTX("reading back");
    maplog_record *want;
    unsigned char **copies;
    size_t nwant;
    read_all(ref, &want, &copies, &nwant);
    ASSERT_EQ(nwant, NREC);
    for (size_t i = 0; i < nwant; i++)
        same_record(&want[i], i);
    uint64_t got;
    char msg[1024];
    ASSERT_EQ(replay_checked(d, &got, msg, sizeof msg), MAPLOG_END);
    ASSERT_EQ(got, NREC);
    maplog_reader *r;
    maplog_record rec, batch[100];
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    got = 0;
    size_t nb;
    int rc;
    while ((rc = maplog_reader_next_batch(r, batch, 100, &nb)) == 0)
        for (size_t k = 0; k < nb; k++)
            same_record(&batch[k], got++);
    ASSERT_EQ(rc, MAPLOG_END);
    ASSERT_EQ(got, NREC);
    for (uint64_t s = 0; s < NREC; s += 1 + t_rand_below(97)) {
        CTX("seek to %llu", (unsigned long long)s);
        ASSERT_OK(maplog_reader_seek(r, s));
        ASSERT_OK(maplog_reader_next(r, &rec));
        same_record(&rec, s);
    }
    maplog_reader *rr;
    ASSERT_OK(maplog_reader_open(&rr, ref, 0));
    for (int k = 0; k < 300; k++) {
        uint64_t ts = ts_of(0) + t_rand_below((uint64_t)NREC * 1000 + 8000);
        CTX("seek to time %llu", (unsigned long long)ts);
        int a = maplog_reader_seek_time(r, ts), b = maplog_reader_seek_time(rr, ts);
        ASSERT_EQ(a, b);
        maplog_record x, y;
        a = maplog_reader_next(r, &x);
        b = maplog_reader_next(rr, &y);
        ASSERT_EQ(a, b);
        if (a == 0)
            same_record(&x, y.seq);
    }
    maplog_reader_close(rr);
    maplog_reader_close(r);

    /* 3. inflated only where read */
    CTX("inflating only what is read");
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    ASSERT_TRUE(inflated(r) <= BLOCK, "open inflated %lld", (long long)inflated(r));
    /* the last record of an archived segment that is not the first */
    uint64_t last_of = firsts[2];
    int64_t before = inflated(r);
    ASSERT_OK(maplog_reader_seek(r, last_of - 1));
    ASSERT_OK(maplog_reader_next(r, &rec));
    same_record(&rec, last_of - 1);
    int64_t used = inflated(r) - before;
    printf("archive: a seek to seq %llu, the last of its segment, inflated %lld bytes\n",
           (unsigned long long)(last_of - 1), (long long)used);
    /* block 0 (the header page), and the blocks the record and the walk to it take */
    ASSERT_TRUE(used <= 4 * BLOCK, "inflated %lld bytes for one record", (long long)used);
    maplog_reader_close(r);
    ASSERT_OK(maplog_reader_open(&r, d, 0));
    long rss0 = rss_kb(), rss_max = 0;
    got = 0;
    while ((rc = maplog_reader_next_batch(r, batch, 100, &nb)) == 0) {
        got += nb;
        long now = rss_kb();
        rss_max = now > rss_max ? now : rss_max;
    }
    ASSERT_EQ(got, NREC);
    printf("archive: a replay inflated %lld bytes (%lld in the archives); RSS grew by at most "
           "%ld KiB\n",
           (long long)inflated(r), plain_bytes, rss_max - rss0);
    ASSERT_EQ(inflated(r), plain_bytes);
    /* three segments' worth, while the log holds four archived (ThreadSanitizer keeps
     * shadow memory for what a thread touched: several times more) */
    ASSERT_TRUE(rss_max - rss0 < (T_TSAN ? 8 : 1) * 3 * SEG / 1024, "RSS grew by %ld KiB",
                rss_max - rss0);
    maplog_reader_close(r);
    n_problems = 0;
    uint64_t problems = 99;
    ASSERT_OK(maplog_verify(d, 0, on_problem, NULL, NULL, &problems));
    ASSERT_TRUE(problems == 0, "%s", last_problem);

    /* 3b. a seek back into bytes handed back since (records larger than the 8 MiB a fill
     * keeps behind it walk past it): every seek lands on its record */
    {
        CTX("seeks after the inflated window moved on");
        char big[512];
        snprintf(big, sizeof big, "%s/big", base);
        ASSERT_OK(t_open(&log, big, 64 << 20, 0));
        static unsigned char rec200[200000];
        for (uint64_t s = 0; s < 700; s++) {
            memset(rec200, (int)(s * 7 + 1), sizeof rec200);
            memcpy(rec200, &s, sizeof s);
            ASSERT_OK(maplog_append(log, rec200, sizeof rec200, NULL));
        }
        ASSERT_OK(maplog_close(log)); /* seals the full segments (see 3d) */
        ASSERT_OK(t_open(&log, big, 64 << 20, 0));
        ASSERT_OK(maplog_archive(log, &count));
        ASSERT_OK(maplog_close(log));
        ASSERT_TRUE(count >= 2, "%llu archived", (unsigned long long)count);
        for (uint64_t k = 1; k < 120; k += 1 + k / 8) {
            ASSERT_OK(maplog_reader_open(&r, big, 0));
            for (uint64_t i = 0; i < k; i++)
                ASSERT_OK(maplog_reader_next(r, &rec));
            for (uint64_t target = k; target < k + 3; target++) {
                CTX("read %llu, then seek to %llu", (unsigned long long)k,
                    (unsigned long long)target);
                ASSERT_OK(maplog_reader_seek(r, target));
                ASSERT_OK(maplog_reader_next(r, &rec));
                ASSERT_EQ(rec.seq, target);
                uint64_t s;
                memcpy(&s, rec.data, sizeof s);
                ASSERT_EQ(s, target);
                ASSERT_EQ(((const unsigned char *)rec.data)[rec.len - 1],
                          (unsigned char)(target * 7 + 1));
            }
            maplog_reader_close(r);
        }
    }

    /* 3c. a reader carried into a forked child, its helper inflating ahead at the fork,
     * reads on without it */
    for (int round = 0; round < 6; round++) {
        CTX("a forked child reading on (round %d)", round);
        ASSERT_OK(maplog_reader_open(&r, d, 0));
        for (uint64_t i = 0; i < 800 + 300 * (uint64_t)round; i++)
            ASSERT_OK(maplog_reader_next(r, &rec));
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0, "fork");
        if (pid == 0) {
            alarm(20); /* a hang fails the test */
            uint64_t n = 800 + 300 * (uint64_t)round;
            while (maplog_reader_next(r, &rec) == 0 && rec.seq == n)
                n++;
            _exit(n == NREC ? 0 : 3);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
        maplog_reader_close(r);
    }

    /* 3d. a follower beside a live writer: at every record of the archives, wait() says a
     * record is there -- where the records end exactly at the end of the inflated blocks
     * too (64-byte records: 4032 to the end of block 0) */
    {
        CTX("waiting in an archive beside a live writer");
        char live[512];
        snprintf(live, sizeof live, "%s/live", base);
        ASSERT_OK(t_open(&log, live, 1 << 20, 0));
        unsigned char p48[48] = {0};
        for (uint64_t s = 0; s < 40000; s++) {
            memcpy(p48, &s, sizeof s);
            ASSERT_OK(maplog_append(log, p48, sizeof p48, NULL));
        }
        /* the background thread seals full segments when it gets to them; a close seals
         * them all, and maplog_archive() compresses only sealed ones */
        ASSERT_OK(maplog_close(log));
        ASSERT_OK(t_open(&log, live, 1 << 20, 0));
        ASSERT_OK(maplog_archive(log, &count));
        ASSERT_TRUE(count >= 2, "%llu archived", (unsigned long long)count);
        ASSERT_OK(maplog_reader_open(&r, live, 0));
        ASSERT_OK(maplog_reader_set_spin(r, 0));
        for (uint64_t s = 0; s < 40000; s++) {
            rc = maplog_reader_wait(r, 0);
            ASSERT_TRUE(rc == 0, "wait at seq %llu: %d", (unsigned long long)s, rc);
            ASSERT_OK(maplog_reader_next(r, &rec));
            ASSERT_EQ(rec.seq, s);
        }
        maplog_reader_close(r);
        ASSERT_OK(maplog_close(log));
    }

    /* 4. damage */
    char name[64], bad[512], z[600];
    snprintf(name, sizeof name, "%020llu.mlogz", (unsigned long long)firsts[0]);
    unsigned char h[128], e[32];
    {
        CTX("a damaged block");
        snprintf(bad, sizeof bad, "%s/bad-block", base);
        t_copy_dir(d, bad);
        snprintf(z, sizeof z, "%s/%s", bad, name);
        t_pread(z, h, 128, 0);
        t_pread(z, e, 32, 128 + 2 * 32); /* block 2 */
        unsigned char byte;
        uint64_t at = le64(e) + le32(e + 8) / 2;
        t_pread(z, &byte, 1, (off_t)at);
        byte ^= 0x5a;
        t_pwrite(z, &byte, 1, (off_t)at);
        rc = replay_checked(bad, &got, msg, sizeof msg);
        printf("archive: damaged block 2: %llu records, then: %s\n", (unsigned long long)got, msg);
        ASSERT_EQ(rc, MAPLOG_ECORRUPT);
        ASSERT_TRUE(strstr(msg, name) && strstr(msg, "offset") && strstr(msg, "block 2"), "%s",
                    msg);
        ASSERT_TRUE(got > 0 && got < NREC, "%llu", (unsigned long long)got);
        n_problems = 0;
        ASSERT_OK(maplog_verify(bad, 0, on_problem, NULL, NULL, &problems));
        ASSERT_TRUE(problems > 0 && strstr(last_problem, name), "%s", last_problem);
        /* at the damaged block's offset in the file, which is named once */
        ASSERT_EQ(last_problem_off, le64(e));
        ASSERT_TRUE(!strstr(last_problem_what, name) && strstr(last_problem_what, "block 2"), "%s",
                    last_problem);
    }
    for (int lie = 0; lie < 3; lie++) {
        CTX("a lying index entry (%d)", lie);
        snprintf(bad, sizeof bad, "%s/bad-index-%d", base, lie);
        t_copy_dir(d, bad);
        snprintf(z, sizeof z, "%s/%s", bad, name);
        t_pread(z, h, 128, 0);
        uint32_t nblocks = le32(h + 100);
        unsigned char *ix = malloc((size_t)nblocks * 32);
        t_pread(z, ix, (size_t)nblocks * 32, 128);
        uint32_t k = 0; /* the last block with a record start */
        for (uint32_t i = 0; i < nblocks; i++)
            if (le32(ix + 32 * i + 12))
                k = i;
        ASSERT_TRUE(k > 0, "no block but the first has a record");
        unsigned char *ent = ix + 32 * k;
        if (lie == 0) /* another sequence number */
            put64(ent + 16, le64(ent + 16) - 1 > le64(ix + 32 * (k - 1) + 16) ? le64(ent + 16) - 1
                                                                              : le64(ent + 16) + 1);
        else if (lie == 1) /* into the middle of its record */
            put32(ent + 12, le32(ent + 12) + 8);
        else /* an index that fails its CRC */
            ent[24] ^= 1;
        t_pwrite(z, ix, (size_t)nblocks * 32, 128);
        if (lie < 2) { /* its CRC made good, and the block header's */
            put32(h + 104, crc_bits(0, ix, (size_t)nblocks * 32));
            put32(h + 124, crc_bits(0, h + 96, 28));
            t_pwrite(z, h + 96, 32, 96);
        }
        uint64_t seq_k = le64(ix + 32 * k + 16);
        free(ix);
        ASSERT_OK(maplog_reader_open(&r, bad, 0));
        rc = maplog_reader_seek(r, seq_k + 1);
        if (rc == 0)
            rc = maplog_reader_next(r, &rec);
        if (rc == 0) /* the record returned is the one written there, or none */
            same_record(&rec, rec.seq);
        printf("archive: index lie %d: seek gives %s%s%s\n", lie, rc ? maplog_strerror(rc) : "",
               rc ? ": " : "the right record", rc ? maplog_reader_errmsg(r) : "");
        if (rc)
            ASSERT_TRUE(strstr(maplog_reader_errmsg(r), name) != NULL, "%s",
                        maplog_reader_errmsg(r));
        if (lie == 2)
            ASSERT_TRUE(rc == MAPLOG_ECORRUPT &&
                            strstr(maplog_reader_errmsg(r), "offset 128") != NULL,
                        "%s", maplog_reader_errmsg(r));
        maplog_reader_close(r);
        rc = replay_checked(bad, &got, msg, sizeof msg); /* no record read is wrong */
        ASSERT_TRUE(rc == MAPLOG_END || rc == MAPLOG_ECORRUPT, "%d", rc);
        n_problems = 0;
        last_problem[0] = 0;
        ASSERT_OK(maplog_verify(bad, 0, on_problem, NULL, NULL, &problems));
        printf("archive: index lie %d: verify: %s\n", lie, last_problem);
        ASSERT_TRUE(problems > 0 && strstr(last_problem, name), "%s", last_problem);
    }

    /* 5. the golden archives, of format versions 1 and 2, read as their segment */
    for (int version = 1; version <= 2; version++) {
        CTX("the golden archive of version %d", version);
        snprintf(bad, sizeof bad, "%s/golden-v%d", base, version);
        mkdir(bad, 0755);
        char src[1024];
        unsigned char buf[65536];
        snprintf(src, sizeof src, "%s/archive-v%d-00000000000000000000.mlogz", MAPLOG_GOLDEN_DIR,
                 version);
        long long n = t_file_size(src);
        ASSERT_TRUE(n > 96 && n < (long long)sizeof buf, "%s: %lld bytes", src, n);
        t_pread(src, buf, (size_t)n, 0);
        int fd = open(t_path(bad, "00000000000000000000.mlogz"), O_WRONLY | O_CREAT, 0644);
        ASSERT_TRUE(fd >= 0 && write(fd, buf, (size_t)n) == n, "copy");
        close(fd);
        ASSERT_EQ(le32(buf + 8), (uint32_t)version);
        ASSERT_OK(maplog_reader_open(&r, bad, 0));
        const char *small[] = {"hello, maplog", ""};
        for (uint64_t s = 0; s < 4; s++) { /* test_golden.c's four records */
            ASSERT_OK(maplog_reader_next(r, &rec));
            ASSERT_EQ(rec.seq, s);
            ASSERT_EQ(rec.timestamp_ns, 1700000000123456789ull);
            if (s < 2) {
                ASSERT_EQ(rec.len, strlen(small[s]));
                ASSERT_MEM(rec.data, small[s], rec.len);
            }
            for (size_t k = 0; s == 2 && k < rec.len; k++)
                ASSERT_EQ(((const unsigned char *)rec.data)[k], k);
            ASSERT_EQ(rec.len, s == 2 ? 64 : s == 3 ? 61000 : rec.len);
        }
        ASSERT_OK(maplog_reader_seek(r, 3));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.len, 61000);
        maplog_reader_close(r);
    }

    for (size_t i = 0; i < nwant; i++)
        free(copies[i]);
    free(copies);
    free(want);
    t_scratch_done();
    printf("ok\n");
    return 0;
}
