/*
 * stores.c -- the stores under test, each behind the same interface (bench.h): maplog,
 * write(2) to an O_APPEND file, stdio fwrite, and the peers users would pick instead, each
 * compiled in when tools/CMakeLists.txt found its Debian -dev package: LMDB (MDB_APPEND,
 * NOSYNC), SQLite (WAL, synchronous=OFF, 1000 rows per transaction), RocksDB (WAL on, sync
 * off).  Every replay touches each payload's first and last byte, as an application would
 * read it; only maplog reads every byte (its CRC).  Uses only the public header for maplog.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
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

/* The header names the peers compiled in; test/test_bench.py checks that line against the
 * list CMake gives it. */
const bench_peer bench_peers[] = {
    {"LMDB", "liblmdb-dev", PEER_LMDB},
    {"SQLite", "libsqlite3-dev", PEER_SQLITE},
    {"RocksDB", "librocksdb-dev", PEER_ROCKSDB},
};
const size_t bench_npeers = sizeof bench_peers / sizeof bench_peers[0];
const int bench_have_lmdb = PEER_LMDB;

/* maplog, opened with the settings the run passes */
maplog *bench_ml_open(const ml_conf *ml, const char *dir)
{
    maplog *log;
    maplog_options *o;
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, ml->seg);
    maplog_options_set(o, MAPLOG_OPT_DURABILITY, ml->durability);
    maplog_options_set(o, MAPLOG_OPT_SYNC_EVERY, ml->sync_every);
    if (ml->flush_bytes >= 0)
        maplog_options_set(o, MAPLOG_OPT_FLUSH_BYTES, ml->flush_bytes);
    int rc = maplog_open(&log, dir, o);
    maplog_options_free(o);
    if (rc)
        bench_die("maplog_open", maplog_last_open_error());
    return log;
}
void bench_ml_close(maplog *log)
{
    if (maplog_close(log))
        bench_die("maplog_close", maplog_errmsg(NULL));
}
/* The settings a run uses unless it says otherwise: --segment-mb, the default durability. */
ml_conf bench_ml_default(const bench *b)
{
    return (ml_conf){b->opt.seg, MAPLOG_DURABILITY_ASYNC, 1, -1};
}
static void *ml_open(const ml_conf *ml, const char *dir)
{
    return bench_ml_open(ml, dir);
}
static int ml_append(void *h, const void *buf, size_t len, uint64_t i)
{
    (void)i;
    return maplog_append(h, buf, len, NULL);
}
static void ml_close(void *h)
{
    bench_ml_close(h);
}
static uint64_t ml_replay(const char *dir, uint64_t *bytes)
{
    maplog_reader *r;
    maplog_record rec;
    uint64_t n = 0, b = 0;
    int rc;
    if (maplog_reader_open(&r, dir, 0))
        bench_die("maplog_reader_open", maplog_last_open_error());
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        n++;
        b += rec.len;
    }
    if (rc != MAPLOG_END)
        bench_die("replay", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    *bytes = b;
    return n;
}

/* The same through maplog_reader_next_batch(), 64 records a call. */
uint64_t bench_ml_replay_batch(const char *dir, uint64_t *bytes)
{
    maplog_reader *r;
    maplog_record recs[64];
    uint64_t n = 0, b = 0;
    size_t got;
    int rc;
    if (maplog_reader_open(&r, dir, 0))
        bench_die("maplog_reader_open", maplog_last_open_error());
    while ((rc = maplog_reader_next_batch(r, recs, 64, &got)) == 0) {
        for (size_t i = 0; i < got; i++)
            b += recs[i].len;
        n += got;
    }
    if (rc != MAPLOG_END)
        bench_die("replay", maplog_reader_errmsg(r));
    maplog_reader_close(r);
    *bytes = b;
    return n;
}

/* write(2) to an O_APPEND file, and stdio fwrite; records are [u32 len][payload] */
static void *wr_open(const ml_conf *ml, const char *dir)
{
    (void)ml;
    char p[1200];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/log", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (fd < 0)
        bench_die("open", strerror(errno));
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
    size_t cap = 1 << 20, have = 0, pos = 0;
    unsigned char *buf = malloc(cap);
    uint64_t n = 0, b = 0, sink = 0;
    if (fd < 0 || !buf)
        bench_die(p, strerror(errno));
    for (;;) {
        if (have - pos < 4 || have - pos < 4 + *(uint32_t *)(void *)(buf + pos)) {
            memmove(buf, buf + pos, have - pos);
            have -= pos;
            pos = 0;
            ssize_t r = read(fd, buf + have, cap - have);
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
    free(buf);
    *bytes = b + (sink & 0); /* sink keeps the touch */
    return n;
}

static void *fw_open(const ml_conf *ml, const char *dir)
{
    (void)ml;
    char p[1200];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/log", dir);
    FILE *f = fopen(p, "w");
    if (!f)
        bench_die("fopen", strerror(errno));
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
static void *lm_open(const ml_conf *ml, const char *dir)
{
    (void)ml;
    lm *h = calloc(1, sizeof *h);
    mkdir(dir, 0755);
    mdb_env_create(&h->env);
    mdb_env_set_mapsize(h->env, (size_t)64 << 30);
    if (mdb_env_open(h->env, dir, MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC, 0644))
        bench_die("mdb_env_open", dir);
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
static void *sq_open(const ml_conf *ml, const char *dir)
{
    (void)ml;
    char p[1200];
    sq *h = calloc(1, sizeof *h);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/db", dir);
    if (sqlite3_open(p, &h->db))
        bench_die("sqlite3_open", p);
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
static void *rk_open(const ml_conf *ml, const char *dir)
{
    (void)ml;
    rk *h = calloc(1, sizeof *h);
    char *err = NULL;
    h->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(h->o, 1);
    h->db = rocksdb_open(h->o, dir, &err);
    if (err)
        bench_die("rocksdb_open", err);
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
        bench_die("rocksdb_open_for_read_only", err);
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

const store bench_stores[] = {
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
const size_t bench_nstores = sizeof bench_stores / sizeof bench_stores[0];
