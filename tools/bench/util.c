/*
 * util.c -- what every workload needs: the clocks, medians, files in the work directory,
 * and the work directory itself.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median and spread of n figures (sorts v). */
stat3 bench_summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return (stat3){n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
}

void bench_sort_u64(uint64_t *v, uint64_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
}

_Noreturn void bench_die(const char *what, const char *detail)
{
    fprintf(stderr, "maplog-bench: %s: %s\n", what, detail);
    exit(1);
}

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s, (void)f, (void)w;
    return remove(p);
}

void bench_rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int evict_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
    (void)f;
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    int fd = open(p, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd); /* dirty pages stay in the cache */
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    return 0;
}

void bench_evict(const char *dir)
{
    nftw(dir, evict_cb, 16, FTW_PHYS);
}

/* The work directory and the process that made it, for the exit handler. */
struct workdir {
    pid_t owner;
    char dir[1024];
};

static void remove_workdir(int status, void *arg)
{
    struct workdir *w = arg;
    (void)status;
    if (getpid() == w->owner) /* not from a forked reader that exits */
        bench_rm_rf(w->dir);
    free(w);
}

/* The bench works in a directory of its own, made under --dir, and removes only that at
 * exit: --dir may hold other files (/tmp, say), and must not lose them.  b->opt.dir
 * becomes the work directory. */
void bench_make_workdir(bench *b)
{
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", b->opt.dir);
    for (char *p = parent + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = 0;
            mkdir(parent, 0755);
            *p = '/';
        }
    if (mkdir(parent, 0755) && errno != EEXIST)
        bench_die(parent, strerror(errno));
    if (snprintf(b->opt.dir, sizeof b->opt.dir, "%s/maplog-bench-XXXXXX", parent) >=
            (int)sizeof b->opt.dir ||
        !mkdtemp(b->opt.dir))
        bench_die(parent, "cannot make a work directory in it");
    struct workdir *w = malloc(sizeof *w);
    if (!w)
        bench_die("malloc", strerror(errno));
    w->owner = getpid();
    snprintf(w->dir, sizeof w->dir, "%s", b->opt.dir);
    on_exit(remove_workdir, w);
}

/* The path of name in the work directory. */
bench_path bench_file(const bench *b, const char *name)
{
    bench_path p;
    snprintf(p.s, sizeof p.s, "%s/%s", b->opt.dir, name);
    return p;
}

/* Fault in a writable mapping's pages: MADV_POPULATE_WRITE (Linux 5.14), else a store
 * per page. */
void bench_populate(unsigned char *p, size_t len)
{
    if (madvise(p, len, MADV_POPULATE_WRITE))
        for (size_t o = 0; o < len; o += 4096)
            p[o] = 0;
}

/* A new file of len bytes in the work directory, its blocks reserved, mapped shared and
 * writable (not yet faulted in); *fd is its descriptor. */
unsigned char *bench_map_new_file(const bench *b, const char *name, size_t len, int *fd)
{
    *fd = open(bench_file(b, name).s, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (*fd < 0 || ftruncate(*fd, (off_t)len) || posix_fallocate(*fd, 0, (off_t)len))
        bench_die(name, strerror(errno));
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (m == MAP_FAILED)
        bench_die("mmap", strerror(errno));
    return m;
}

/* How many records of size bytes an append run writes: --mb's worth, within bounds. */
uint64_t bench_nrec(const bench *b, int size)
{
    uint64_t n = b->opt.bytes / (uint64_t)(size ? size : 1);
    if (n < 20000)
        n = 20000;
    if (n > 8000000)
        n = 8000000;
    return n;
}

/* The segments of the log in dir, or 0 when it cannot be read. */
int64_t bench_segments(const char *dir)
{
    maplog_reader *r;
    int64_t segs = 0;
    if (maplog_reader_open(&r, dir, 0) == 0) {
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
    }
    return segs;
}
