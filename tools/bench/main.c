/*
 * maplog-bench -- maplog against the stores users would pick instead, and against the
 * hardware, on the same workloads in one run.
 *
 *   append     N records of each size, 1, 2 and 4 threads: maplog, write(2) to an O_APPEND
 *              file, stdio fwrite, and (when built with them) LMDB (MDB_APPEND, NOSYNC),
 *              SQLite (WAL, synchronous=OFF, 1000 rows per transaction), RocksDB (WAL on,
 *              sync off); two limits: memcpy into pre-faulted anonymous memory and into a
 *              pre-faulted MAP_SHARED file mapping with no headers; and the cost of getting
 *              new file pages for that much data (create, fallocate, fault in), which the
 *              limits leave outside their clocks and a store appending to new files cannot.
 *   replay     the same logs, maplog verifying every CRC; a plain read(2) walk over an
 *              unchecksummed length-prefixed file; LMDB cursor, SQLite SELECT, RocksDB
 *              iterator -- every replay touches each payload's first and last byte (as an
 *              application would read it); only maplog reads every byte (its CRC).  A
 *              limit: every cache line of maplog's files read through mappings, unchecked.
 *   latency    one clock read before and after each call: p50/p99/p99.9/max for maplog
 *              appends and for the shared-mapping memcpy limit.  The run crosses segment
 *              rollovers (it says how many).
 *   sync       appends/s and latency per durability mode, and msync(MS_SYNC) of the
 *              dirty range against fdatasync.
 *   follow     append-to-reader latency with the reader in another process.
 *   rss        peak resident memory while replaying a log larger than memory allowed.
 *
 * At the end, the project's performance targets (docs/bench/README.md states each): each
 * one's measured value from this run, and whether it is met (only those whose workloads and
 * peers ran); then the bounds this run measured on the ones that depend on the machine
 * (replay: the read walk; append: new pages and the copy).
 *
 * Every figure is the median of --reps runs, with the spread (min..max).  The machine,
 * the file system, the peers compiled in and the command line are printed first; --csv
 * FILE writes every row.
 * Uses only the public header for maplog, like any user.
 */
#define _GNU_SOURCE
#include "maplog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LMDB
#include <lmdb.h>
#define PEER_LMDB 1
#else
#define PEER_LMDB 0
#endif
#ifdef HAVE_SQLITE
#include <sqlite3.h>
#define PEER_SQLITE 1
#else
#define PEER_SQLITE 0
#endif
#ifdef HAVE_ROCKSDB
#include <rocksdb/c.h>
#define PEER_ROCKSDB 1
#else
#define PEER_ROCKSDB 0
#endif

/* The peer stores, each compiled in when tools/CMakeLists.txt found its Debian -dev
 * package.  The header names those compiled in; test/test_bench.py checks that line
 * against the list CMake gives it. */
static const struct peer {
    const char *name, *package;
    int in;
} peers[] = {
    {"LMDB", "liblmdb-dev", PEER_LMDB},
    {"SQLite", "libsqlite3-dev", PEER_SQLITE},
    {"RocksDB", "librocksdb-dev", PEER_ROCKSDB},
};
#define NPEERS (sizeof peers / sizeof peers[0])

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* ---- options and output -------------------------------------------------------------- */

static struct {
    char dir[1024];
    uint64_t bytes; /* payload bytes per append run */
    int sizes[8], nsizes;
    int threads[4], nthreads;
    int reps;
    long long seg;
    const char *csv;
    const char *only;
    int quick;
} opt;

static FILE *csv;

static int want(const char *w)
{
    if (!opt.only)
        return 1;
    const char *p = strstr(opt.only, w);
    return p != NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
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

typedef struct stat3 {
    double med, min, max;
} stat3;

static stat3 summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return (stat3){n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "maplog-bench: %s: %s\n", what, detail);
    exit(1);
}

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s, (void)f, (void)w;
    return remove(p);
}

static void rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The bench works in a directory of its own, made under --dir, and removes only that:
 * --dir may hold other files (/tmp, say), and must not lose them. */
static pid_t workdir_owner;
static void remove_workdir(void)
{
    if (getpid() == workdir_owner) /* not from a forked reader that exits */
        rm_rf(opt.dir);
}

static void make_workdir(void)
{
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", opt.dir);
    for (char *p = parent + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = 0;
            mkdir(parent, 0755);
            *p = '/';
        }
    if (mkdir(parent, 0755) && errno != EEXIST)
        die(parent, strerror(errno));
    if (snprintf(opt.dir, sizeof opt.dir, "%s/maplog-bench-XXXXXX", parent) >=
            (int)sizeof opt.dir ||
        !mkdtemp(opt.dir))
        die(parent, "cannot make a work directory in it");
    workdir_owner = getpid();
    atexit(remove_workdir);
}

/* Fault in a writable mapping's pages: MADV_POPULATE_WRITE (Linux 5.14), else a store
 * per page. */
static void populate(unsigned char *p, size_t len)
{
    if (madvise(p, len, MADV_POPULATE_WRITE))
        for (size_t o = 0; o < len; o += 4096)
            p[o] = 0;
}

static char *path(const char *name)
{
    static char b[4][1200];
    static int k;
    char *p = b[k++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", opt.dir, name);
    return p;
}

/* A new file of len bytes in the work directory, its blocks reserved, mapped shared and
 * writable (not yet faulted in); *fd is its descriptor. */
static unsigned char *map_new_file(const char *name, size_t len, int *fd)
{
    *fd = open(path(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (*fd < 0 || ftruncate(*fd, (off_t)len) || posix_fallocate(*fd, 0, (off_t)len))
        die(name, strerror(errno));
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (m == MAP_FAILED)
        die("mmap", strerror(errno));
    return m;
}

static uint64_t nrec(int size)
{
    uint64_t n = opt.bytes / (uint64_t)(size ? size : 1);
    if (n < 20000)
        n = 20000;
    if (n > 8000000)
        n = 8000000;
    return n;
}

/* Every row's median, for the targets at the end. */
static struct result {
    char workload[16], sys[48];
    int size, threads;
    double med;
} results[256];
static int nresults;

static void note_result(const char *workload, const char *sys, int size, int threads, double med)
{
    if (nresults == (int)(sizeof results / sizeof results[0]))
        return;
    struct result *r = &results[nresults++];
    snprintf(r->workload, sizeof r->workload, "%s", workload);
    snprintf(r->sys, sizeof r->sys, "%s", sys);
    r->size = size;
    r->threads = threads;
    r->med = med;
}

/* The median a row reported, or 0 if that row was not run. */
static double result(const char *workload, const char *sys, int size)
{
    for (int i = 0; i < nresults; i++)
        if (!strcmp(results[i].workload, workload) && !strcmp(results[i].sys, sys) &&
            results[i].size == size && results[i].threads == 1)
            return results[i].med;
    return 0;
}

/* A CSV field (RFC 4180): quoted when it holds a comma or a quote.  Four buffers in turn,
 * for up to four fields in one fprintf. */
static const char *cf(const char *v)
{
    static char b[4][512];
    static int k;
    if (!v)
        return "";
    if (!strpbrk(v, ",\"\n"))
        return v;
    char *o = b[k++ & 3], *p = o;
    *p++ = '"';
    for (; *v && p < o + sizeof b[0] - 3; v++) {
        if (*v == '"')
            *p++ = '"';
        *p++ = *v;
    }
    *p++ = '"';
    *p = 0;
    return o;
}

/* One result row: workload, system, size, threads, records/s stats, MB/s median. */
static void row(const char *workload, const char *sys, int size, int threads, stat3 rps,
                const char *note)
{
    note_result(workload, sys, size, threads, rps.med);
    double mbs = rps.med * size / 1e6;
    printf("  %-8s %-22s %5d B %dT %12.0f rec/s (%.0f..%.0f) %9.1f MB/s %s\n", workload, sys, size,
           threads, rps.med, rps.min, rps.max, mbs, note ? note : "");
    if (csv)
        fprintf(csv, "%s,%s,%d,%d,%.0f,%.0f,%.0f,%.1f,%s\n", workload, cf(sys), size, threads,
                rps.med, rps.min, rps.max, mbs, cf(note));
    fflush(stdout);
}

/* ---- a store under test: open, append, close, replay --------------------------------- */

typedef struct store {
    const char *name;
    void *(*open)(const char *dir);
    int (*append)(void *h, const void *buf, size_t len, uint64_t i);
    void (*close)(void *h);
    /* replay everything, return records seen and bytes in *bytes */
    uint64_t (*replay)(const char *dir, uint64_t *bytes);
    int threads_ok;
} store;

/* maplog */
static long long ml_durability = MAPLOG_DURABILITY_ASYNC, ml_sync_every = 1;
static long long ml_flush_bytes = -1; /* -1: the library's default */
static void *ml_open(const char *dir)
{
    maplog *log;
    maplog_options *o;
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, opt.seg);
    maplog_options_set(o, MAPLOG_OPT_DURABILITY, ml_durability);
    maplog_options_set(o, MAPLOG_OPT_SYNC_EVERY, ml_sync_every);
    if (ml_flush_bytes >= 0)
        maplog_options_set(o, MAPLOG_OPT_FLUSH_BYTES, ml_flush_bytes);
    int rc = maplog_open(&log, dir, o);
    maplog_options_free(o);
    if (rc)
        die("maplog_open", maplog_last_open_error());
    return log;
}
static int ml_append(void *h, const void *buf, size_t len, uint64_t i)
{
    (void)i;
    return maplog_append(h, buf, len, NULL);
}
static void ml_close(void *h)
{
    if (maplog_close(h))
        die("maplog_close", maplog_errmsg(NULL));
}
static uint64_t ml_replay(const char *dir, uint64_t *bytes)
{
    maplog_reader *r;
    maplog_record rec;
    uint64_t n = 0, b = 0;
    int rc;
    if (maplog_reader_open(&r, dir, 0))
        die("maplog_reader_open", maplog_last_open_error());
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        n++;
        b += rec.len;
    }
    if (rc != MAPLOG_END)
        die("replay", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    *bytes = b;
    return n;
}

/* write(2) to an O_APPEND file, and stdio fwrite; records are [u32 len][payload] */
static void *wr_open(const char *dir)
{
    char p[1200];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/log", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (fd < 0)
        die("open", strerror(errno));
    return (void *)(intptr_t)(fd + 1);
}
static int wr_append(void *h, const void *buf, size_t len, uint64_t i)
{
    (void)i;
    struct iovec iov[2];
    uint32_t l = (uint32_t)len;
    iov[0] = (struct iovec){&l, 4};
    iov[1] = (struct iovec){(void *)(uintptr_t)buf, len};
    return writev((int)(intptr_t)h - 1, iov, 2) == (ssize_t)(len + 4) ? 0 : -1;
}
static void wr_close(void *h)
{
    close((int)(intptr_t)h - 1);
}
/* The read(2) replay: 1 MiB reads, walk the length prefixes, touch each payload. */
static uint64_t rd_replay(const char *dir, uint64_t *bytes)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/log", dir);
    int fd = open(p, O_RDONLY);
    static unsigned char buf[1 << 20];
    size_t have = 0, pos = 0;
    uint64_t n = 0, b = 0, sink = 0;
    for (;;) {
        if (have - pos < 4 || have - pos < 4 + *(uint32_t *)(void *)(buf + pos)) {
            memmove(buf, buf + pos, have - pos);
            have -= pos;
            pos = 0;
            ssize_t r = read(fd, buf + have, sizeof buf - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            continue;
        }
        uint32_t l;
        memcpy(&l, buf + pos, 4);
        sink += buf[pos + 4 + (l ? l - 1 : 0)];
        pos += 4 + l;
        n++;
        b += l;
    }
    close(fd);
    *bytes = b + (sink & 0); /* sink keeps the touch */
    return n;
}

static void *fw_open(const char *dir)
{
    char p[1200];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/log", dir);
    FILE *f = fopen(p, "w");
    if (!f)
        die("fopen", strerror(errno));
    return f;
}
static int fw_append(void *h, const void *buf, size_t len, uint64_t i)
{
    (void)i;
    uint32_t l = (uint32_t)len;
    return fwrite(&l, 4, 1, h) == 1 && fwrite(buf, 1, len, h) == len ? 0 : -1;
}
static void fw_close(void *h)
{
    fclose(h);
}

#ifdef HAVE_LMDB
typedef struct lm {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t n;
} lm;
static void *lm_open(const char *dir)
{
    lm *h = calloc(1, sizeof *h);
    mkdir(dir, 0755);
    mdb_env_create(&h->env);
    mdb_env_set_mapsize(h->env, (size_t)64 << 30);
    if (mdb_env_open(h->env, dir, MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC, 0644))
        die("mdb_env_open", dir);
    mdb_txn_begin(h->env, NULL, 0, &h->txn);
    mdb_dbi_open(h->txn, NULL, 0, &h->dbi);
    return h;
}
static int lm_append(void *hh, const void *buf, size_t len, uint64_t i)
{
    lm *h = hh;
    uint64_t k = __builtin_bswap64(i);
    MDB_val key = {8, &k}, val = {len, (void *)(uintptr_t)buf};
    int rc = mdb_put(h->txn, h->dbi, &key, &val, MDB_APPEND);
    if (!rc && ++h->n % 10000 == 0) { /* commit in batches, as an appender would */
        rc = mdb_txn_commit(h->txn);
        mdb_txn_begin(h->env, NULL, 0, &h->txn);
    }
    return rc;
}
static void lm_close(void *hh)
{
    lm *h = hh;
    mdb_txn_commit(h->txn);
    mdb_env_close(h->env);
    free(h);
}
static uint64_t lm_replay(const char *dir, uint64_t *bytes)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t n = 0, b = 0;
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, (size_t)64 << 30);
    mdb_env_open(env, dir, MDB_RDONLY, 0644);
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    mdb_dbi_open(txn, NULL, 0, &dbi);
    mdb_cursor_open(txn, dbi, &c);
    uint64_t sink = 0;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) { /* touch the value, as a replay would */
        const unsigned char *d = v.mv_data;
        sink += v.mv_size ? d[0] + d[v.mv_size - 1] : 0;
        n++;
        b += v.mv_size;
    }
    b += sink & 0;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    *bytes = b;
    return n;
}
#endif

#ifdef HAVE_SQLITE
typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *ins;
    uint64_t n;
} sq;
static void *sq_open(const char *dir)
{
    char p[1200];
    sq *h = calloc(1, sizeof *h);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/db", dir);
    if (sqlite3_open(p, &h->db))
        die("sqlite3_open", p);
    sqlite3_exec(h->db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                 "CREATE TABLE log(seq INTEGER PRIMARY KEY, body BLOB); BEGIN;",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(h->db, "INSERT INTO log VALUES(?,?)", -1, &h->ins, NULL);
    return h;
}
static int sq_append(void *hh, const void *buf, size_t len, uint64_t i)
{
    sq *h = hh;
    sqlite3_bind_int64(h->ins, 1, (sqlite3_int64)i);
    sqlite3_bind_blob(h->ins, 2, buf, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(h->ins) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(h->ins);
    if (++h->n % 1000 == 0)
        sqlite3_exec(h->db, "COMMIT; BEGIN;", NULL, NULL, NULL);
    return rc;
}
static void sq_close(void *hh)
{
    sq *h = hh;
    sqlite3_finalize(h->ins);
    sqlite3_exec(h->db, "COMMIT;", NULL, NULL, NULL);
    sqlite3_close(h->db);
    free(h);
}
static uint64_t sq_replay(const char *dir, uint64_t *bytes)
{
    char p[1200];
    sqlite3 *db;
    sqlite3_stmt *st;
    uint64_t n = 0, b = 0;
    snprintf(p, sizeof p, "%s/db", dir);
    sqlite3_open(p, &db);
    sqlite3_prepare_v2(db, "SELECT seq, body FROM log ORDER BY seq", -1, &st, NULL);
    uint64_t sink = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *d = sqlite3_column_blob(st, 1);
        int l = sqlite3_column_bytes(st, 1);
        sink += l > 0 ? d[0] + d[l - 1] : 0;
        n++;
        b += (uint64_t)l;
    }
    b += sink & 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    *bytes = b;
    return n;
}
#endif

#ifdef HAVE_ROCKSDB
typedef struct rk {
    rocksdb_t *db;
    rocksdb_writeoptions_t *wo;
    rocksdb_options_t *o;
} rk;
static void *rk_open(const char *dir)
{
    rk *h = calloc(1, sizeof *h);
    char *err = NULL;
    h->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(h->o, 1);
    h->db = rocksdb_open(h->o, dir, &err);
    if (err)
        die("rocksdb_open", err);
    h->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wo, 0); /* WAL on, no sync per write */
    return h;
}
static int rk_append(void *hh, const void *buf, size_t len, uint64_t i)
{
    rk *h = hh;
    char *err = NULL;
    uint64_t k = __builtin_bswap64(i);
    rocksdb_put(h->db, h->wo, (const char *)&k, 8, buf, len, &err);
    if (err) {
        free(err);
        return -1;
    }
    return 0;
}
static void rk_close(void *hh)
{
    rk *h = hh;
    rocksdb_writeoptions_destroy(h->wo);
    rocksdb_close(h->db);
    rocksdb_options_destroy(h->o);
    free(h);
}
static uint64_t rk_replay(const char *dir, uint64_t *bytes)
{
    char *err = NULL;
    uint64_t n = 0, b = 0;
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_t *db = rocksdb_open_for_read_only(o, dir, 0, &err);
    if (err)
        die("rocksdb_open_for_read_only", err);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    uint64_t sink = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t vl;
        const unsigned char *d = (const unsigned char *)rocksdb_iter_value(it, &vl);
        sink += vl ? d[0] + d[vl - 1] : 0;
        n++;
        b += vl;
    }
    b += sink & 0;
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    *bytes = b;
    return n;
}
#endif

static const store stores[] = {
    {"maplog", ml_open, ml_append, ml_close, ml_replay, 1},
    {"write(2) O_APPEND", wr_open, wr_append, wr_close, rd_replay, 0},
    {"stdio fwrite", fw_open, fw_append, fw_close, NULL, 0},
#ifdef HAVE_LMDB
    {"LMDB MDB_APPEND", lm_open, lm_append, lm_close, lm_replay, 0},
#endif
#ifdef HAVE_SQLITE
    {"SQLite WAL", sq_open, sq_append, sq_close, sq_replay, 0},
#endif
#ifdef HAVE_ROCKSDB
    {"RocksDB WAL", rk_open, rk_append, rk_close, rk_replay, 0},
#endif
};
#define NSTORES (sizeof stores / sizeof stores[0])

/* ---- append runs ----------------------------------------------------------------------- */

typedef struct job {
    const store *st;
    void *h;
    int size;
    uint64_t from, n;
    unsigned char *buf;
} job;

static void *append_thread(void *arg)
{
    job *j = arg;
    for (uint64_t i = j->from; i < j->from + j->n; i++) {
        memcpy(j->buf, &i, 8); /* vary the payload a little */
        if (j->st->append(j->h, j->buf, (size_t)j->size, i))
            die("append", j->st->name);
    }
    return NULL;
}

/* Append n records of size with t threads; returns records/s (the appends only). */
static double run_append(const store *st, const char *dir, int size, int t, uint64_t n)
{
    rm_rf(dir);
    void *h = st->open(dir);
    job jobs[4];
    pthread_t th[4];
    for (int k = 0; k < t; k++) {
        jobs[k] = (job){st, h, size, n / (uint64_t)t * (uint64_t)k, n / (uint64_t)t, NULL};
        jobs[k].buf = malloc((size_t)size + 8);
        memset(jobs[k].buf, 'a' + k, (size_t)size + 8);
    }
    double t0 = now();
    if (t == 1) {
        append_thread(&jobs[0]);
    } else {
        for (int k = 0; k < t; k++)
            pthread_create(&th[k], NULL, append_thread, &jobs[k]);
        for (int k = 0; k < t; k++)
            pthread_join(th[k], NULL);
    }
    double dt = now() - t0;
    st->close(h);
    for (int k = 0; k < t; k++)
        free(jobs[k].buf);
    return (double)(n / (uint64_t)t * (uint64_t)t) / dt;
}

/* The limits: memcpy of the payloads, back to back, into pre-faulted memory. */
static double run_limit(int shared, int size, uint64_t n)
{
    size_t total = (size_t)n * (size_t)size;
    unsigned char *dst, *src = malloc((size_t)size + 8);
    int fd = -1;
    memset(src, 'x', (size_t)size + 8);
    if (shared) {
        dst = map_new_file("limit.bin", total, &fd);
    } else {
        dst = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (dst == MAP_FAILED)
            die("mmap", strerror(errno));
    }
    populate(dst, total);
    double t0 = now();
    unsigned char *p = dst;
    for (uint64_t i = 0; i < n; i++, p += size) {
        memcpy(src, &i, 8);
        memcpy(p, src, (size_t)size);
    }
    double dt = now() - t0;
    munmap(dst, total);
    if (fd >= 0) {
        close(fd);
        unlink(path("limit.bin"));
    }
    free(src);
    return (double)n / dt;
}

/* What a file-backed store pays before it writes a byte: new files of the run's size, in
 * segment-sized pieces, created, fallocate'd and faulted in writable (MADV_POPULATE_WRITE),
 * with no data.  The limits above fault their pages in outside the timed region; a store
 * that appends into new files cannot.  Returns records/s (the records whose payload bytes
 * got pages). */
static double run_new_pages(int size, uint64_t n)
{
    uint64_t total = n * (uint64_t)size, seg = (uint64_t)opt.seg;
    int files = 0;
    double t0 = now();
    for (uint64_t done = 0; done < total; done += seg, files++) {
        char name[32];
        snprintf(name, sizeof name, "pages.%d", files);
        /* the last file only as large as what is left, so the cost is for total bytes */
        uint64_t sz = total - done < seg ? (total - done + 4095) & ~(uint64_t)4095 : seg;
        int fd;
        unsigned char *m = map_new_file(name, sz, &fd);
        populate(m, sz);
        munmap(m, sz);
        close(fd);
    }
    double dt = now() - t0;
    for (int k = 0; k < files; k++) {
        char name[32];
        snprintf(name, sizeof name, "pages.%d", k);
        unlink(path(name));
    }
    return (double)n / dt;
}

/* Append n records of size bytes with t threads into st, --reps times, and print the row
 * as name; with lim (the shared-map limit's median) > 0, the row says how far it is. */
static void append_row(const store *st, const char *name, int size, int t, uint64_t n, double lim)
{
    double v[16];
    for (int r = 0; r < opt.reps; r++)
        v[r] = run_append(st, path("store"), size, t, n);
    stat3 s = summarize(v, opt.reps);
    char note[64] = "";
    if (lim > 0)
        snprintf(note, sizeof note, "%.0f%% of shared-map limit", 100 * s.med / lim);
    row("append", name, size, t, s, note);
}

static void bench_append(void)
{
    printf("\nappend (median of %d; spread in parentheses)\n", opt.reps);
    for (int si = 0; si < opt.nsizes; si++) {
        int size = opt.sizes[si];
        uint64_t n = nrec(size);
        double v[16];
        stat3 lim_shared = {0, 0, 0};
        for (int lim = 0; lim < 2; lim++) {
            for (int r = 0; r < opt.reps; r++)
                v[r] = run_limit(lim, size, n);
            stat3 s = summarize(v, opt.reps);
            if (lim)
                lim_shared = s;
            row("append", lim ? "limit: memcpy shared map" : "limit: memcpy anon", size, 1, s,
                NULL);
        }
        for (int r = 0; r < opt.reps; r++)
            v[r] = run_new_pages(size, n);
        row("append", "cost: new file pages", size, 1, summarize(v, opt.reps),
            "create+fallocate+fault in, no data");
        for (size_t k = 0; k < NSTORES; k++) {
            for (int ti = 0; ti < opt.nthreads; ti++) {
                int t = opt.threads[ti];
                if (t > 1 && !stores[k].threads_ok)
                    continue;
                append_row(&stores[k], stores[k].name, size, t, n, k == 0 ? lim_shared.med : 0);
            }
        }
        /* The append path alone: a segment big enough that the run crosses no rollover,
         * so no appender waits for a spare and nothing is sealed.  Not the default (the
         * row above is); it separates the cost of the append call from the cost of
         * creating, pre-faulting and sealing segments on this machine. */
        long long seg = opt.seg;
        opt.seg = 1ll << 30;
        if (n * (uint64_t)(size + 16) < (uint64_t)opt.seg - 8192) {
            append_row(&stores[0], "maplog (no rollover)", size, 1, n, lim_shared.med);
        }
        opt.seg = seg;
        /* Write-back started every 8 MiB during the run (MAPLOG_OPT_FLUSH_BYTES; the default
         * is a segment's worth), for what bounding unflushed data that tightly costs here. */
        ml_flush_bytes = 8 << 20;
        append_row(&stores[0], "maplog (flush 8 MiB)", size, 1, n, lim_shared.med);
        ml_flush_bytes = -1;
    }
}

/* The replay limit: every 64-byte line of maplog's segment files read through read-only
 * private mappings, in order, with the same 2 KiB read-ahead prefetch and unmapping each
 * file after it (as maplog does): the memory and page-mapping cost of any replay of those
 * bytes, with no record parsed or checked.  Returns records/s for n records. */
static double run_read_walk(const char *dir, uint64_t n)
{
    struct dirent **ents;
    int ne = scandir(dir, &ents, NULL, alphasort);
    if (ne < 0)
        die("scandir", strerror(errno));
    volatile uint64_t sink = 0;
    uint64_t sum = 0;
    double t0 = now();
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        size_t l = strlen(nm);
        if (l < 5 || strcmp(nm + l - 5, ".mlog"))
            continue;
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", dir, nm);
        int fd = open(p, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st))
            die("open segment", strerror(errno));
        size_t sz = (size_t)st.st_size;
        const unsigned char *m = mmap(NULL, sz, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            die("mmap", strerror(errno));
        madvise((void *)(uintptr_t)m, sz, MADV_SEQUENTIAL);
        for (size_t o = 0; o < sz; o += 64) {
            if (o + 2048 < sz)
                __builtin_prefetch(m + o + 2048);
            uint64_t w;
            memcpy(&w, m + o, 8);
            sum += w;
        }
        munmap((void *)(uintptr_t)m, sz);
        close(fd);
    }
    double dt = now() - t0;
    sink = sum;
    (void)sink;
    for (int i = 0; i < ne; i++)
        free(ents[i]);
    free(ents);
    return (double)n / dt;
}

static void bench_replay(void)
{
    printf("\nreplay (maplog verifies every CRC; median of %d)\n", opt.reps);
    for (int si = 0; si < opt.nsizes; si++) {
        int size = opt.sizes[si];
        uint64_t n = nrec(size);
        for (size_t k = 0; k < NSTORES; k++) {
            if (!stores[k].replay)
                continue;
            double v[16];
            run_append(&stores[k], path("store"), size, 1, n);
            for (int r = 0; r < opt.reps; r++) {
                uint64_t bytes;
                double t0 = now();
                uint64_t got = stores[k].replay(path("store"), &bytes);
                v[r] = (double)got / (now() - t0);
                if (got != n)
                    die("replay count", stores[k].name);
            }
            row("replay", k == 1 ? "read(2), no checksums" : stores[k].name, size, 1,
                summarize(v, opt.reps), NULL);
            if (k == 0) {
                for (int r = 0; r < opt.reps; r++)
                    v[r] = run_read_walk(path("store"), n);
                row("replay", "limit: mmap read walk", size, 1, summarize(v, opt.reps),
                    "maplog's files, every line, nothing checked");
            }
        }
    }
    rm_rf(path("store"));
}

/* ---- latency --------------------------------------------------------------------------- */

static void percentiles(const char *sys, int size, uint64_t *lat, uint64_t n, const char *note)
{
    qsort(lat, n, sizeof *lat, cmp_u64);
    uint64_t p50 = lat[n / 2], p99 = lat[n * 99 / 100], p999 = lat[n * 999 / 1000], mx = lat[n - 1];
    note_result("p99.9", sys, size, 1, (double)p999);
    printf("  latency  %-22s %5d B  p50 %6" PRIu64 " ns  p99 %6" PRIu64 " ns  p99.9 %7" PRIu64
           " ns  max %9" PRIu64 " ns %s\n",
           sys, size, p50, p99, p999, mx, note ? note : "");
    if (csv)
        fprintf(csv, "latency,%s,%d,1,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s\n",
                cf(sys), size, p50, p99, p999, mx, cf(note));
}

static void bench_latency(void)
{
    printf("\nappend latency (one clock read before and after each call)\n");
    for (int si = 0; si < opt.nsizes; si++) {
        int size = opt.sizes[si];
        uint64_t n = nrec(size);
        uint64_t *lat = malloc(n * sizeof *lat);
        unsigned char *buf = malloc((size_t)size + 8);
        memset(buf, 'q', (size_t)size + 8);
        /* the limit: memcpy into a pre-faulted shared mapping */
        size_t total = (size_t)n * (size_t)size;
        int fd;
        unsigned char *dst = map_new_file("limit.bin", total, &fd);
        populate(dst, total);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t0 = now_ns();
            memcpy(dst + i * (uint64_t)size, buf, (size_t)size);
            lat[i] = now_ns() - t0;
        }
        percentiles("limit: memcpy shared map", size, lat, n, NULL);
        munmap(dst, total);
        close(fd);
        unlink(path("limit.bin"));

        rm_rf(path("store"));
        maplog *log = ml_open(path("store"));
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t0 = now_ns();
            if (maplog_append(log, buf, (size_t)size, NULL))
                die("append", maplog_errmsg(log));
            lat[i] = now_ns() - t0;
        }
        ml_close(log);
        maplog_reader *r;
        int64_t segs;
        maplog_reader_open(&r, path("store"), 0);
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
        char note[64];
        snprintf(note, sizeof note, "(%" PRId64 " rollovers in the run)", segs - 1);
        note_result("rollovers", "maplog", size, 1, (double)(segs - 1));
        percentiles("maplog", size, lat, n, note);
        free(lat);
        free(buf);
        rm_rf(path("store"));
    }
}

/* ---- durability modes ------------------------------------------------------------------ */

static void bench_sync(void)
{
    static const struct {
        const char *name;
        long long mode, every;
    } modes[] = {
        {"none", MAPLOG_DURABILITY_NONE, 1},
        {"async (flusher)", MAPLOG_DURABILITY_ASYNC, 1},
        {"sync every 64", MAPLOG_DURABILITY_SYNC_EVERY, 64},
        {"sync every 1", MAPLOG_DURABILITY_SYNC_EVERY, 1},
    };
    int size = 64;
    printf("\ndurability modes, %d-byte records\n", size);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        ml_durability = modes[m].mode;
        ml_sync_every = modes[m].every;
        uint64_t n = modes[m].every == 1 && modes[m].mode == MAPLOG_DURABILITY_SYNC_EVERY
                         ? (opt.quick ? 300 : 3000)
                     : modes[m].mode == MAPLOG_DURABILITY_SYNC_EVERY ? (opt.quick ? 20000 : 100000)
                                                                     : nrec(size);
        uint64_t *lat = malloc(n * sizeof *lat);
        unsigned char buf[64];
        memset(buf, 's', sizeof buf);
        rm_rf(path("store"));
        maplog *log = ml_open(path("store"));
        double t0 = now();
        for (uint64_t i = 0; i < n; i++) {
            uint64_t a = now_ns();
            if (maplog_append(log, buf, sizeof buf, NULL))
                die("append", maplog_errmsg(log));
            lat[i] = now_ns() - a;
        }
        double dt = now() - t0;
        ml_close(log);
        char name[64];
        snprintf(name, sizeof name, "%s", modes[m].name);
        printf("  mode %-18s %12.0f appends/s\n", name, (double)n / dt);
        if (csv)
            fprintf(csv, "durability,%s,%d,1,%.0f,,,,\n", cf(name), size, (double)n / dt);
        percentiles(name, size, lat, n, NULL);
        free(lat);
    }
    ml_durability = MAPLOG_DURABILITY_ASYNC;
    ml_sync_every = 1;

    /* maplog_sync after every k appends, and the two ways to make a range durable */
    {
        maplog *log = ml_open(path("store2"));
        unsigned char buf[64] = {0};
        for (int k = 1; k <= 1000; k *= 10) {
            int rounds = opt.quick ? 50 : 300;
            uint64_t *lat = malloc((size_t)rounds * sizeof *lat);
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < k; i++)
                    maplog_append(log, buf, sizeof buf, NULL);
                uint64_t a = now_ns();
                if (maplog_sync(log))
                    die("sync", maplog_errmsg(log));
                lat[r] = now_ns() - a;
            }
            char name[64];
            snprintf(name, sizeof name, "maplog_sync per %d", k);
            percentiles(name, 64, lat, (uint64_t)rounds, NULL);
            free(lat);
        }
        ml_close(log);
        rm_rf(path("store2"));
    }
    {
        size_t total = 64 << 20;
        int fd;
        unsigned char *m = map_new_file("sync.bin", total, &fd);
        int rounds = opt.quick ? 50 : 300;
        uint64_t *lat = malloc((size_t)rounds * sizeof *lat);
        for (int how = 0; how < 2; how++) {
            for (int r = 0; r < rounds; r++) {
                size_t off = (size_t)(how * rounds + r) * 8192;
                memset(m + off, r, 6400); /* ~100 records of 64 B */
                uint64_t a = now_ns();
                if (how == 0)
                    msync(m + off, 8192, MS_SYNC);
                else
                    fdatasync(fd);
                lat[r] = now_ns() - a;
            }
            percentiles(how == 0 ? "msync(MS_SYNC) range" : "fdatasync", 6400, lat,
                        (uint64_t)rounds, NULL);
        }
        free(lat);
        munmap(m, total);
        close(fd);
        unlink(path("sync.bin"));
    }
}

/* ---- append to reader latency, across processes ---------------------------------------- */

/* A writer appends 64-byte records carrying CLOCK_MONOTONIC at append, one every pace_ns;
 * a reader in another process follows with maplog_reader_wait and takes, per record, the
 * time from the append call to the moment next() returned it.  Small segments, so the
 * run crosses rollovers. */
static void bench_follow(void)
{
    const uint64_t n = opt.quick ? 100000 : 300000, pace_ns = 5000;
    int p[2];
    printf("\nappend-to-reader latency, reader in another process (64 B, one record every %" PRIu64
           " us, 1 MiB segments)\n",
           pace_ns / 1000);
    rm_rf(path("follow"));
    long long seg_saved = opt.seg;
    opt.seg = 1 << 20;
    maplog *log = ml_open(path("follow"));
    opt.seg = seg_saved;
    if (pipe(p))
        die("pipe", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        maplog_reader *r;
        maplog_record rec;
        uint64_t *lat = malloc(n * sizeof *lat), got = 0;
        if (maplog_reader_open(&r, path("follow"), 0))
            _exit(1);
        while (got < n) {
            int rc = maplog_reader_next(r, &rec);
            if (rc == MAPLOG_END) {
                maplog_reader_wait(r, 5000);
                continue;
            }
            if (rc)
                _exit(2);
            uint64_t sent;
            memcpy(&sent, rec.data, 8);
            lat[got++] = now_ns() - sent;
        }
        qsort(lat, n, sizeof *lat, cmp_u64);
        uint64_t out[4] = {lat[n / 2], lat[n * 99 / 100], lat[n * 999 / 1000], lat[n - 1]};
        if (write(p[1], out, sizeof out) != sizeof out)
            _exit(3);
        _exit(0);
    }
    unsigned char buf[64] = {0};
    uint64_t next = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        while (now_ns() < next) /* pace, but leave the CPU to the reader on a small box */
            sched_yield();
        next += pace_ns;
        uint64_t t = now_ns();
        memcpy(buf, &t, 8);
        if (maplog_append(log, buf, sizeof buf, NULL))
            die("append", maplog_errmsg(log));
    }
    uint64_t res[4] = {0};
    if (read(p[0], res, sizeof res) != sizeof res)
        die("follower", "no result");
    int st;
    waitpid(pid, &st, 0);
    ml_close(log);
    maplog_reader *r;
    int64_t segs = 0;
    if (maplog_reader_open(&r, path("follow"), 0) == 0) {
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
    }
    printf("  follow   append -> reader         64 B  p50 %6" PRIu64 " ns  p99 %6" PRIu64
           " ns  p99.9 %7" PRIu64 " ns  max %9" PRIu64 " ns (%" PRId64 " rollovers)\n",
           res[0], res[1], res[2], res[3], segs - 1);
    if (csv)
        fprintf(csv, "follow,maplog,64,1,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",\n",
                res[0], res[1], res[2], res[3]);
    close(p[0]);
    close(p[1]);
    rm_rf(path("follow"));
}

/* ---- resident memory while replaying -------------------------------------------------- */

static void bench_rss(void)
{
    int size = 256;
    uint64_t n = (opt.quick ? (256ull << 20) : (1ull << 30)) / (uint64_t)size;
    printf("\nreplay memory: %" PRIu64 " MB log of %d-byte records\n", n * (uint64_t)size >> 20,
           size);
    run_append(&stores[0], path("store"), size, 1, n);
    int p[2];
    if (pipe(p))
        die("pipe", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        /* the child starts with what it inherited from the benchmark; report its growth */
        struct rusage a, b2;
        uint64_t b;
        getrusage(RUSAGE_SELF, &a);
        ml_replay(path("store"), &b);
        getrusage(RUSAGE_SELF, &b2);
        long grew[2] = {a.ru_maxrss, b2.ru_maxrss};
        if (write(p[1], grew, sizeof grew) != sizeof grew)
            _exit(1);
        _exit(0);
    }
    long grew[2] = {0, 0};
    if (read(p[0], grew, sizeof grew) != sizeof grew)
        die("rss child", "no result");
    int st;
    waitpid(pid, &st, 0);
    close(p[0]);
    close(p[1]);
    printf("  peak RSS added by replaying it: %ld MB (the process had %ld MB before; segment "
           "size %lld MB)\n",
           (grew[1] - grew[0]) / 1024, grew[0] / 1024, opt.seg >> 20);
    if (csv)
        fprintf(csv, "rss,maplog,%d,1,%ld,,,,peak KB added by replay\n", size, grew[1] - grew[0]);
    note_result("rss", "maplog", size, 1, (double)(grew[1] - grew[0]) / 1024);
    note_result("rss-log", "maplog", size, 1, (double)(n * (uint64_t)size >> 20));
    rm_rf(path("store"));
}

/* ---- the performance targets ----------------------------------------------------------- */

static void target(const char *what, double value, const char *unit, const char *goal, int met)
{
    printf("  %-44s %9.2f%-3s  %-30s %s\n", what, value, unit, goal, met ? "met" : "NOT MET");
    if (csv)
        fprintf(csv, "target,%s,64,1,%.3f,,,,%s\n", cf(what), value, met ? "met" : "not met");
}

static void bench_targets(void)
{
    double ml = result("append", "maplog", 64),
           lim = result("append", "limit: memcpy shared map", 64);
    double wr = result("append", "write(2) O_APPEND", 64),
           lmdb = result("append", "LMDB MDB_APPEND", 64);
    double ml4 = result("append", "maplog", 4096);
    double lim4 = result("append", "limit: memcpy shared map", 4096);
    double p_ml = result("p99.9", "maplog", 64),
           p_lim = result("p99.9", "limit: memcpy shared map", 64);
    double r_ml = result("replay", "maplog", 64),
           r_rd = result("replay", "read(2), no checksums", 64);
    double r_lm = result("replay", "LMDB MDB_APPEND", 64);
    double rss = result("rss", "maplog", 256), rss_log = result("rss-log", "maplog", 256);
    printf("\nthe project's performance targets (64-byte records, one thread, default options, "
           "medians of this run)\n");
    if (ml > 0 && lmdb > 0)
        target("append, maplog / LMDB", ml / lmdb, "x", ">= 3x", ml >= 3 * lmdb);
    if (ml > 0 && wr > 0)
        target("append, maplog / write(2)", ml / wr, "x", ">= 10x", ml >= 10 * wr);
    if (ml > 0 && lim > 0)
        target("append, maplog / shared-map memcpy limit", 100 * ml / lim, "%", ">= 70%",
               ml >= 0.7 * lim);
    if (ml4 > 0 && lim4 > 0)
        target("append 4 KiB, maplog / shared-map limit", 100 * ml4 / lim4, "%", ">= 60%",
               ml4 >= 0.6 * lim4);
    if (p_ml > 0 && p_lim > 0) {
        char goal[64];
        double rolls = result("rollovers", "maplog", 64);
        snprintf(goal, sizeof goal, "< 1000 ns and <= 2x %.0f ns", p_lim);
        /* The target is for appends that cross rollovers; a run that crosses none does not
         * count. */
        target(rolls >= 1 ? "append latency p99.9, rollovers in the run"
                          : "append latency p99.9, NO rollover: does not count",
               p_ml, "ns", goal, rolls >= 1 && p_ml < 1000 && p_ml <= 2 * p_lim);
    }
    if (r_ml > 0 && r_lm > 0)
        target("replay, maplog / LMDB cursor", r_ml / r_lm, "x", ">= 2x", r_ml >= 2 * r_lm);
    if (r_ml > 0 && r_rd > 0)
        target("replay, maplog / read(2)", 100 * r_ml / r_rd, "%", ">= 60%", r_ml >= 0.6 * r_rd);
    if (!PEER_LMDB && (ml > 0 || r_ml > 0))
        printf("  the targets against LMDB: not measured (LMDB not compiled in; apt-get install "
               "liblmdb-dev)\n");
    /* What bounds the targets still missed, measured in this run (see docs/bench/README.md). */
    double walk = result("replay", "limit: mmap read walk", 64);
    if (r_ml > 0 && r_lm > 0 && walk > 0)
        printf("  bound: the mmap read walk of the same files: %.1f M rec/s = %.2fx LMDB;"
               " maplog replays at %.0f%% of it\n",
               walk / 1e6, walk / r_lm, 100 * r_ml / walk);
    /* Default options append into new segments, whose pages the kernel must first allocate
     * and zero; the memcpy limit's pages were faulted in before its clock started.  Even two
     * cores splitting only those two jobs perfectly -- no CRC, clock, digest or write-back --
     * could not go faster than this, for maplog's record size (16-byte header, 8-aligned). */
    for (int k = 0; k < 2; k++) {
        int size = k ? 4096 : 64;
        double pg = result("append", "cost: new file pages", size),
               li = result("append", "limit: memcpy shared map", size);
        if (pg <= 0 || li <= 0)
            continue;
        double rec = (double)((size + 16 + 7) & ~7), per = rec / (pg * size) + rec / (li * size);
        printf("  bound: two cores only faulting in new pages and copying %4.0f-byte records: "
               "%.2f M rec/s = %.0f%% of the limit\n",
               rec, 2 / per / 1e6, 100 * (2 / per) / li);
    }
    if (rss_log > 0) {
        char what[80];
        snprintf(what, sizeof what, "replay memory added, %.0f MB log (MB)", rss_log);
        /* Flat: bounded by a few segments' worth, not by the log. */
        target(what, rss, "MB", "flat: < 2 segments", rss < 2.0 * (double)(opt.seg >> 20));
    }
}

/* ---- main ------------------------------------------------------------------------------ */

static void parse_list(const char *s, int *out, int *n, int max)
{
    *n = 0;
    while (*s && *n < max) {
        out[(*n)++] = atoi(s);
        s = strchr(s, ',');
        if (!s)
            break;
        s++;
    }
}

static void machine(int argc, char **argv)
{
    struct utsname u;
    struct statfs sf;
    char model[256] = "?", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    uname(&u);
    if (statfs(opt.dir, &sf))
        die(opt.dir, strerror(errno));
    const char *fs = sf.f_type == 0xEF53       ? "ext4"
                     : sf.f_type == 0x58465342 ? "xfs"
                     : sf.f_type == 0x9123683E ? "btrfs"
                     : sf.f_type == 0x01021994 ? "tmpfs"
                                               : "other";
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("maplog-bench, maplog %s, %s\n", maplog_version(), when);
    printf("machine: %s, %ld cores, %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
           u.release);
    printf("file system: %s (0x%lx) at %s\n", fs, (unsigned long)sf.f_type, opt.dir);
#if defined(__x86_64__)
    /* Which CRC-32C path the library dispatches to (src/crc32c.c); MAPLOG_CRC32C=sse4.2
     * or =table forces a slower one, to compare. */
    __builtin_cpu_init();
    const char *force = getenv("MAPLOG_CRC32C");
    printf("crc32c: %s%s\n",
           force ? "forced by MAPLOG_CRC32C="
           : __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq")
               ? "sse4.2+vpclmulqdq"
           : __builtin_cpu_supports("sse4.2") ? "sse4.2"
                                              : "table",
           force ? force : "");
#endif
    printf("peers:");
    int in = 0, out = 0;
    for (size_t k = 0; k < NPEERS; k++)
        if (peers[k].in)
            printf("%s %s", in++ ? "," : "", peers[k].name);
    for (size_t k = 0; k < NPEERS; k++)
        if (!peers[k].in)
            printf("%s %s (%s)",
                   out++ ? ","
                   : in  ? "; not compiled in:"
                         : " none; not compiled in:",
                   peers[k].name, peers[k].package);
    printf("\n");
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    if (csv)
        fprintf(csv, "workload,system,size,threads,median,min,max,mbs_or_p999,note\n");
}

static void usage(void)
{
    fprintf(stderr,
            "usage: maplog-bench [--dir DIR] [--mb MB] [--sizes 64,256,4096] [--threads 1,2]\n"
            "                    [--reps N] [--segment-mb MB] [--csv FILE] [--quick]\n"
            "                    [--only append,replay,latency,sync,follow,rss]\n"
            "Measures maplog and its peers; see the comment at the top of tools/bench/main.c.\n");
    exit(2);
}

int main(int argc, char **argv)
{
    snprintf(opt.dir, sizeof opt.dir, "bench-tmp");
    opt.bytes = 256ull << 20;
    parse_list("64,256,4096", opt.sizes, &opt.nsizes, 8);
    parse_list("1,2,4", opt.threads, &opt.nthreads, 4);
    opt.reps = 3;
    opt.seg = 64ll << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            opt.quick = 1;
            opt.bytes = 32ull << 20;
            opt.reps = 1;
            continue;
        }
        if (!v || a[0] != '-')
            usage();
        i++;
        if (!strcmp(a, "--dir"))
            snprintf(opt.dir, sizeof opt.dir, "%s", v);
        else if (!strcmp(a, "--mb"))
            opt.bytes = strtoull(v, NULL, 10) << 20;
        else if (!strcmp(a, "--sizes"))
            parse_list(v, opt.sizes, &opt.nsizes, 8);
        else if (!strcmp(a, "--threads"))
            parse_list(v, opt.threads, &opt.nthreads, 4);
        else if (!strcmp(a, "--reps"))
            opt.reps = atoi(v) < 1 ? 1 : atoi(v) > 15 ? 15 : atoi(v);
        else if (!strcmp(a, "--segment-mb"))
            opt.seg = atoll(v) << 20;
        else if (!strcmp(a, "--csv"))
            opt.csv = v;
        else if (!strcmp(a, "--only"))
            opt.only = v;
        else
            usage();
    }
    if (opt.csv && !(csv = fopen(opt.csv, "w")))
        die(opt.csv, strerror(errno));
    make_workdir();
    machine(argc, argv);
    if (want("append"))
        bench_append();
    if (want("replay"))
        bench_replay();
    if (want("latency"))
        bench_latency();
    if (want("sync"))
        bench_sync();
    if (want("follow"))
        bench_follow();
    if (want("rss"))
        bench_rss();
    bench_targets();
    if (csv)
        fclose(csv);
    return 0;
}
