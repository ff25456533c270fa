/* gen_corpus.c -- writes the seed corpus in fuzz/corpus/ from logs made by maplog's own
 * writer, plus hand-made edge cases.  Run by hand (scripts/fuzz.sh --regen); the output is
 * committed, so the corpus replay in ctest is the same everywhere. */
#define _GNU_SOURCE
#include "maplog.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1024];

static void put(const char *sub, const char *name, const void *data, size_t n)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", out, sub);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", out, sub, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f))
        abort();
}

static size_t slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* A log of n records in dir (64 KiB segments); crash=1 leaves it as a SIGKILL would. */
static void make_log(const char *dir, int n, int crash)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        maplog *log;
        maplog_options *o;
        maplog_options_create(&o);
        maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, 65536);
        maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0);
        if (maplog_open(&log, dir, o))
            _exit(1);
        char buf[200];
        for (int i = 0; i < n; i++) {
            int len =
                snprintf(buf, sizeof buf, "{\"event\":%d,\"pad\":\"%.*s\"}", i, i % 120,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            if (i % 7 == 3)
                len = 0; /* some empty records */
            maplog_append(log, buf, (size_t)len, NULL);
            if (i == n / 2)
                maplog_sync(log);
        }
        if (crash)
            raise(SIGKILL);
        maplog_close(log);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

int main(int argc, char **argv)
{
    static unsigned char a[1 << 17], b[1 << 17], buf[1 << 18];
    char dir[1100], p[1300];
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus OUTDIR\n");
        return 2;
    }
    snprintf(out, sizeof out, "%s", argv[1]);
    mkdir(out, 0755);
    snprintf(dir, sizeof dir, "%s/.gen-log", out);

    /* a clean log of two segments and a crashed one */
    make_log(dir, 1500, 0);
    snprintf(p, sizeof p, "%s/00000000000000000000.mlog", dir);
    size_t na = slurp(p, a, sizeof a);
    char second[64] = "";
    { /* find the second segment's name */
        for (unsigned s = 1; s < 1500 && !second[0]; s++) {
            char q[1300];
            snprintf(q, sizeof q, "%s/%020u.mlog", dir, s);
            if (access(q, F_OK) == 0)
                snprintf(second, sizeof second, "%020u.mlog", s);
        }
    }
    snprintf(p, sizeof p, "%s/%s", dir, second);
    size_t nb = slurp(p, b, sizeof b);

    /* header: the header page of each, a zero page, a damaged CRC, a short file */
    put("header", "sealed", a, 4096);
    put("header", "open", b, 4096);
    put("header", "zero", buf, 4096);
    memcpy(buf, a, 4096);
    buf[124] ^= 1;
    put("header", "badcrc", buf, 4096);
    put("header", "short", a, 100);

    /* records: 8 bytes (first seq) + the data area */
    memset(buf, 0, 8);
    memcpy(buf + 8, a + 4096, 8192);
    put("records", "clean", buf, 8200);
    buf[8 + 200] ^= 0x40;
    put("records", "flipped", buf, 8200);
    memset(buf + 8, 0, 16);
    buf[8 + 3] = 0x80; /* a valid-bit length word with a huge length */
    buf[8 + 2] = 0xff;
    put("records", "hugelen", buf, 64);
    buf[8 + 2] = 0;
    put("records", "empty-payload", buf, 24);

    /* recovery: whole segments: sealed, open (last), crashed with a torn tail, all zero,
     * truncated */
    put("recovery", "sealed", a, na);
    put("recovery", "last", b, nb);
    make_log(dir, 300, 1);
    snprintf(p, sizeof p, "%s/00000000000000000000.mlog", dir);
    size_t nc = slurp(p, buf, sizeof buf);
    put("recovery", "crashed", buf, nc);
    memset(buf + 9000, 0x5a, 300); /* garbage where the tail was */
    put("recovery", "garbage-tail", buf, nc);
    put("recovery", "truncated", buf, 5000);
    memset(buf, 0, 65536);
    put("recovery", "zero", buf, 65536);

    /* dir: two segments joined by the 0xFF 'M' 'L' 'G' marker; the second piece's first
     * two bytes are its first sequence number */
    unsigned s2 = (unsigned)strtoul(second, NULL, 10);
    size_t k = 0;
    memcpy(buf, a, na);
    k = na;
    memcpy(buf + k, "\xffMLG", 4);
    k += 4;
    buf[k++] = (unsigned char)(s2 >> 8);
    buf[k++] = (unsigned char)s2;
    memcpy(buf + k, b, nb);
    put("dir", "two-segments", buf, k + nb);
    put("dir", "one-segment", a, na);
    snprintf(p, sizeof p, "rm -rf %s", dir);
    if (system(p))
        return 1;
    printf("corpus written to %s (second segment %s)\n", out, second);
    return 0;
}
