/*
 * harness.h -- the little each maplog test needs: assertions that print what they
 * compared, a seeded PRNG whose seed is printed and can be given back, scratch
 * directories, and file helpers.  Each test is its own program, run by CTest with a
 * timeout; a failing assertion prints and aborts, and the scratch directory is kept.
 */
#ifndef MLG_TEST_HARNESS_H
#define MLG_TEST_HARNESS_H

#define _GNU_SOURCE
#include "maplog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char t_ctx[512];     /* what the test was doing: printed on failure */
static char t_scratch[256]; /* kept on failure */
static unsigned long long t_seed;

static void t_fail_tail(void)
{
    if (t_ctx[0])
        fprintf(stderr, "  context: %s\n", t_ctx);
    if (t_seed)
        fprintf(stderr, "  seed: %llu (rerun with this seed as the first argument)\n", t_seed);
    if (t_scratch[0])
        fprintf(stderr, "  scratch directory kept: %s\n", t_scratch);
    fflush(stderr);
    abort();
}

#define CTX(...) snprintf(t_ctx, sizeof t_ctx, __VA_ARGS__)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);             \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: %llu (%lld) != %llu (%lld)\n",       \
                    __FILE__, __LINE__, #a, #b, a_, (long long)a_, b_, (long long)b_);             \
            t_fail_tail();                                                                         \
        }                                                                                          \
    } while (0)

#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s)\n", __FILE__, __LINE__, #expr, rc_,        \
                    maplog_strerror(rc_));                                                         \
            t_fail_tail();                                                                         \
        }                                                                                          \
    } while (0)

#define ASSERT_TRUE(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: ASSERT_TRUE(%s) failed: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            t_fail_tail();                                                                         \
        }                                                                                          \
    } while (0)

#define ASSERT_MEM(a, b, n)                                                                        \
    do {                                                                                           \
        const unsigned char *a_ = (const unsigned char *)(a), *b_ = (const unsigned char *)(b);    \
        size_t n_ = (n);                                                                           \
        for (size_t i_ = 0; i_ < n_; i_++)                                                         \
            if (a_[i_] != b_[i_]) {                                                                \
                fprintf(stderr, "%s:%d: %s and %s differ at byte %zu of %zu: %02x != %02x\n",      \
                        __FILE__, __LINE__, #a, #b, i_, n_, a_[i_], b_[i_]);                       \
                t_fail_tail();                                                                     \
            }                                                                                      \
    } while (0)

/* ---- seeded randomness ---- */
static unsigned long long t_rng_state;

static unsigned long long t_rand(void)
{
    unsigned long long z = (t_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned long long t_rand_below(unsigned long long n)
{
    return n ? t_rand() % n : 0;
}

/* The corruption sweeps (test_sweep, test_agree) run one case in t_sweep_stride(): every
 * case, except under ThreadSanitizer without MAPLOG_LONG_TESTS=1, where one in 8.  They are
 * single-threaded but for a writer's flusher, so TSan finds little in them and makes them
 * five to ten times slower; the default and ASan builds run every case. */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif
static unsigned t_sweep_stride(void)
{
    const char *l = getenv("MAPLOG_LONG_TESTS");
    unsigned stride = T_TSAN && !(l && *l == '1') ? 8 : 1;
    if (stride > 1)
        printf("ThreadSanitizer build: one case in %u\n", stride);
    return stride;
}

/* Seed from argv[1], or $MAPLOG_TEST_SEED, or the clock; printed either way. */
static void t_seed_init(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("MAPLOG_TEST_SEED");
    if (s && *s) {
        t_seed = strtoull(s, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t_seed = ((unsigned long long)ts.tv_sec * 1000003ull) ^ (unsigned long long)ts.tv_nsec ^
                 ((unsigned long long)getpid() << 32);
    }
    if (!t_seed)
        t_seed = 1;
    t_rng_state = t_seed;
    printf("seed: %llu\n", t_seed);
    fflush(stdout);
}

static void t_fill(void *buf, size_t n, unsigned long long tag)
{
    unsigned char *p = buf;
    unsigned long long x = tag * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

/* ---- scratch directories ---- */
static int t_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void t_rm_rf(const char *dir)
{
    nftw(dir, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *t_mkscratch(const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(t_scratch, sizeof t_scratch, "%s/maplog-%s-XXXXXX", base && *base ? base : "/tmp",
             name);
    if (!mkdtemp(t_scratch)) {
        perror("mkdtemp");
        abort();
    }
    return t_scratch;
}

static void t_scratch_done(void)
{
    if (t_scratch[0])
        t_rm_rf(t_scratch);
    t_scratch[0] = 0;
}

static char *t_path(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

/* Copy every regular file of src into dst (created). */
static void t_copy_dir(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *e;
    mkdir(dst, 0755);
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int in = open(t_path(src, e->d_name), O_RDONLY);
        int out = open(t_path(dst, e->d_name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char buf[65536];
        ssize_t n;
        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)n) != n)
                abort();
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
    closedir(d);
}

static long long t_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Read n bytes at off of path into buf / write them. */
static void t_pread(const char *path, void *buf, size_t n, off_t off)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || pread(fd, buf, n, off) != (ssize_t)n)
        abort();
    close(fd);
}

static void t_pwrite(const char *path, const void *buf, size_t n, off_t off)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, buf, n, off) != (ssize_t)n)
        abort();
    close(fd);
}

/* Write text to file p (created or truncated). */
static void t_write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    ASSERT_TRUE(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", p);
}

/* A SIGALRM handler for tests that put FIFOs in a log directory: opening one for reading
 * waits for a writer, so a call that opens it hangs; alarm() turns that into a failure. */
static void t_hung_on_fifo(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: a call waited on a FIFO in the log directory\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(2);
    _exit(1);
}

/* Segment file path's records, walked by their length words alone (FORMAT.md, "Records";
 * no CRC checked), up to the first word that is zero or the rollover mark: the offset of
 * the last one, and (*count) how many. */
static uint64_t t_last_record(const char *path, uint64_t *count)
{
    static unsigned char seg[1 << 20];
    long long size = t_file_size(path);
    if (size < 4096 || size > (long long)sizeof seg)
        abort();
    t_pread(path, seg, (size_t)size, 0);
    uint64_t off = 4096, last = 0;
    *count = 0;
    while (off + 16 <= (uint64_t)size) {
        uint64_t w;
        memcpy(&w, seg + off, 8);
        if (w == 0 || w == UINT64_MAX)
            break;
        last = off;
        ++*count;
        off += (16 + ((uint32_t)w & 0x3fffffffu) + 7) & ~(uint64_t)7;
    }
    return last;
}

/* Open a log with a small segment size (and other options as key/value pairs, 0-ended). */
static int t_open(maplog **log, const char *dir, long long seg_size, ...)
{
    maplog_options *o;
    va_list ap;
    if (maplog_options_create(&o))
        abort();
    if (seg_size)
        maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, seg_size);
    va_start(ap, seg_size);
    for (int k; (k = va_arg(ap, int)) != 0;)
        maplog_options_set(o, (maplog_option)k, va_arg(ap, long long));
    va_end(ap);
    int rc = maplog_open(log, dir, o);
    maplog_options_free(o);
    return rc;
}

#endif
