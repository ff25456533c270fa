/* test_powerloss.c -- simulated power loss.
 *
 * A writer runs in a child process with the os seam replaced by a "disk" model: a shadow
 * directory receives a file's bytes only when they are synced (msync MS_SYNC of a range,
 * fdatasync or fsync of a file).  File creation, size, renames and unlinks reach the
 * shadow at once (the model trusts the namespace; content is what it tears).  The child
 * appends, syncs at random points and reports each sync that returned, then stops dead at
 * a chosen moment.  The parent builds what a disk could hold after the power went out:
 * the shadow, with every byte that was written but not synced replaced by
 *   - nothing (old bytes: the writes never reached the disk),
 *   - zeroes,
 *   - garbage,
 *   - a partial page: each 512-byte sector of it either old or new, at random,
 *   - new bytes in random sectors and garbage in others.
 * Recovery must open each variant; replay must return every record that a returned sync
 * covered, possibly some later complete ones, and never a record whose payload is not
 * the one written for its sequence number.  Seeded; rounds from argv[2] or
 * $MAPLOG_POWERLOSS_ROUNDS (default 12). */
#include "harness.h"

#include "os.h"

#include <pthread.h>
#include <sys/mman.h>

#define SEG (128 * 1024)

static mlg__os_table real;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char shadow[512];
static int logdirfd = -1;

#define MAXFD 1024
static char fd_name[MAXFD][64];
static struct mapping {
    void *addr;
    size_t len;
    int fd;
} maps[64];

static void spath(char *out, const char *name)
{
    snprintf(out, 600, "%s/%s", shadow, name);
}

static int p_openat(int d, const char *p, int f, mode_t m)
{
    int fd = real.openat(d, p, f, m);
    if (fd >= 0 && fd < MAXFD && strchr(p, '/') == NULL) {
        pthread_mutex_lock(&mu);
        snprintf(fd_name[fd], sizeof fd_name[fd], "%s", p);
        if (f & O_CREAT) {
            char sp[600];
            spath(sp, p);
            int s = open(sp, O_WRONLY | O_CREAT | ((f & O_TRUNC) ? O_TRUNC : 0), 0644);
            if (s >= 0)
                close(s);
        }
        logdirfd = d;
        pthread_mutex_unlock(&mu);
    }
    return fd;
}

static int p_ftruncate(int fd, off_t len)
{
    int rc = real.ftruncate(fd, len);
    if (rc == 0 && fd < MAXFD && fd_name[fd][0]) {
        char sp[600];
        pthread_mutex_lock(&mu);
        spath(sp, fd_name[fd]);
        if (truncate(sp, len) != 0)
            abort();
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static void *p_mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
    void *m = real.mmap(a, l, p, f, fd, o);
    if (m != MAP_FAILED && (f & MAP_SHARED)) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < 64; i++)
            if (!maps[i].addr) {
                maps[i] = (struct mapping){m, l, fd};
                break;
            }
        pthread_mutex_unlock(&mu);
    }
    return m;
}

static int p_munmap(void *a, size_t l)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < 64; i++)
        if (maps[i].addr == a)
            maps[i].addr = NULL;
    pthread_mutex_unlock(&mu);
    return real.munmap(a, l);
}

/* copy [off, off+len) of file fd's current content into its shadow */
static void persist(int fd, const void *src, off_t off, size_t len)
{
    char sp[600];
    if (fd >= MAXFD || !fd_name[fd][0])
        return;
    spath(sp, fd_name[fd]);
    int s = open(sp, O_WRONLY);
    if (s < 0 || pwrite(s, src, len, off) != (ssize_t)len)
        abort();
    close(s);
}

static int p_msync(void *a, size_t l, int f)
{
    int rc = real.msync(a, l, f);
    if (rc == 0 && (f & MS_SYNC)) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < 64; i++) {
            uint8_t *b = maps[i].addr;
            if (b && (uint8_t *)a >= b && (uint8_t *)a + l <= b + maps[i].len)
                persist(maps[i].fd, a, (off_t)((uint8_t *)a - b), l);
        }
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static void persist_whole(int fd)
{
    struct stat st;
    if (fd >= MAXFD || !fd_name[fd][0] || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    char *buf = malloc((size_t)st.st_size + 1);
    if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
        abort();
    persist(fd, buf, 0, (size_t)st.st_size);
    free(buf);
}

static int p_fdatasync(int fd)
{
    int rc = real.fdatasync(fd);
    if (rc == 0) {
        pthread_mutex_lock(&mu);
        persist_whole(fd);
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static int p_fsync(int fd)
{
    int rc = real.fsync(fd);
    if (rc == 0) {
        pthread_mutex_lock(&mu);
        persist_whole(fd);
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static int p_rename(int a, const char *b, int c, const char *d)
{
    int rc = real.renameat(a, b, c, d);
    if (rc == 0) {
        char s1[600], s2[600];
        pthread_mutex_lock(&mu);
        spath(s1, b);
        spath(s2, d);
        rename(s1, s2);
        for (int i = 0; i < MAXFD; i++)
            if (strcmp(fd_name[i], b) == 0)
                snprintf(fd_name[i], sizeof fd_name[i], "%s", d);
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static int p_unlink(int d, const char *p, int f)
{
    int rc = real.unlinkat(d, p, f);
    if (rc == 0) {
        char sp[600];
        pthread_mutex_lock(&mu);
        spath(sp, p);
        unlink(sp);
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static size_t len_of(uint64_t s)
{
    return (size_t)(s * 2654435761u % 500);
}

/* The child: append, sync at random points, report each returned sync, stop dead. */
static void writer(const char *dir, int durability, uint64_t stop_after, int pipefd)
{
    unsigned char buf[500];
    maplog *log;
    real = mlg__os;
    mlg__os.openat = p_openat;
    mlg__os.ftruncate = p_ftruncate;
    mlg__os.mmap = p_mmap;
    mlg__os.munmap = p_munmap;
    mlg__os.msync = p_msync;
    mlg__os.fdatasync = p_fdatasync;
    mlg__os.fsync = p_fsync;
    mlg__os.renameat = p_rename;
    mlg__os.unlinkat = p_unlink;
    if (t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)durability, MAPLOG_OPT_SYNC_EVERY,
               97LL, 0))
        _exit(2);
    uint64_t next;
    maplog_next_seq(log, &next);
    for (uint64_t i = 0; i < stop_after; i++, next++) {
        uint64_t seq;
        t_fill(buf, len_of(next), next);
        if (maplog_append(log, buf, len_of(next), &seq) || seq != next)
            _exit(3);
        if (t_rand_below(1000) < 3) {
            if (maplog_sync(log))
                _exit(4);
            uint64_t d;
            maplog_durable_count(log, &d);
            if (write(pipefd, &d, 8) != 8)
                _exit(5);
        }
    }
    if (durability == MAPLOG_DURABILITY_SYNC_EVERY) {
        uint64_t d;
        maplog_durable_count(log, &d);
        if (write(pipefd, &d, 8) != 8)
            _exit(5);
    }
    _exit(0); /* the power goes out: no close, nothing more reaches the shadow */
}

/* Build variant v of the disk in out: shadow + unsynced bytes per v. */
static void make_variant(const char *live, const char *disk, const char *out, int v)
{
    DIR *d = opendir(disk);
    struct dirent *e;
    mkdir(out, 0755);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char lp[1024], dp[1024], op[1024];
        snprintf(lp, sizeof lp, "%s/%s", live, e->d_name);
        snprintf(dp, sizeof dp, "%s/%s", disk, e->d_name);
        snprintf(op, sizeof op, "%s/%s", out, e->d_name);
        long long dsz = t_file_size(dp), lsz = t_file_size(lp);
        unsigned char *old = calloc(1, (size_t)dsz + 1), *neu = calloc(1, (size_t)dsz + 1);
        if (dsz > 0)
            t_pread(dp, old, (size_t)dsz, 0);
        if (lsz >= dsz && dsz > 0)
            t_pread(lp, neu, (size_t)dsz, 0);
        else
            memcpy(neu, old, (size_t)dsz);
        for (long long s = 0; s < dsz; s += 512) {
            long long n = dsz - s < 512 ? dsz - s : 512;
            if (memcmp(old + s, neu + s, (size_t)n) == 0)
                continue;
            int choice = v; /* 0 old, 1 zero, 2 garbage, 3 old/new, 4 new/garbage */
            if (v == 3)
                choice = t_rand_below(2) ? 5 : 0; /* 5 = new */
            if (v == 4)
                choice = t_rand_below(3) ? 5 : 2;
            for (long long k = s; k < s + n; k++) {
                if (old[k] == neu[k])
                    continue; /* synced bytes stay as they are */
                if (choice == 1)
                    old[k] = 0;
                else if (choice == 2)
                    old[k] = (unsigned char)t_rand();
                else if (choice == 5)
                    old[k] = neu[k];
            }
        }
        FILE *f = fopen(op, "wb");
        if (!f || fwrite(old, 1, (size_t)dsz, f) != (size_t)dsz || fclose(f) != 0)
            abort();
        free(old);
        free(neu);
    }
    closedir(d);
}

static const char *const vname[] = {"old bytes", "zeroes", "garbage", "partial pages",
                                    "new+garbage"};

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    int rounds = argc > 2                            ? atoi(argv[2])
                 : getenv("MAPLOG_POWERLOSS_ROUNDS") ? atoi(getenv("MAPLOG_POWERLOSS_ROUNDS"))
                                                     : 12;
    const char *base = t_mkscratch("powerloss");
    int variants = 0;
    for (int round = 0; round < rounds; round++) {
        char live[600], disk[600];
        snprintf(live, sizeof live, "%s/live-%d", base, round);
        snprintf(disk, sizeof disk, "%s/disk-%d", base, round);
        mkdir(disk, 0755);
        snprintf(shadow, sizeof shadow, "%s", disk);
        int durability = round % 3;
        uint64_t stop_after = 2000 + t_rand_below(20000);
        unsigned long long child_seed = t_rand();
        int p[2];
        ASSERT_TRUE(pipe(p) == 0, "pipe");
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            t_rng_state = child_seed;
            writer(live, durability, stop_after, p[1]);
        }
        close(p[1]);
        uint64_t durable = 0, d;
        while (read(p[0], &d, 8) == 8)
            durable = d > durable ? d : durable;
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer status %d", st);

        for (int v = 0; v < 5; v++) {
            char out[700];
            snprintf(out, sizeof out, "%s/round-%d-v%d", base, round, v);
            make_variant(live, disk, out, v);
            CTX("round %d (durability %d, %" PRIu64 " appends, %" PRIu64
                " synced), variant %s, dir %s",
                round, durability, stop_after, durable, vname[v], out);
            maplog *log;
            uint64_t next;
            int rc = t_open(&log, out, SEG, 0);
            ASSERT_TRUE(rc == 0, "recovery failed: %s", maplog_last_open_error());
            ASSERT_OK(maplog_next_seq(log, &next));
            ASSERT_TRUE(next >= durable,
                        "a sync that returned was lost: %" PRIu64 " durable, %" PRIu64 " recovered",
                        durable, next);
            ASSERT_OK(maplog_close(log));
            maplog_reader *r;
            maplog_record rec;
            unsigned char want[500];
            ASSERT_OK(maplog_reader_open(&r, out, MAPLOG_READER_VOIDS));
            uint64_t n = 0, voids = 0;
            while ((rc = maplog_reader_next(r, &rec)) == 0) {
                ASSERT_EQ(rec.seq, n);
                if (rec.flags & MAPLOG_RECORD_VOID) {
                    /* records that never reached the disk, with later ones that did: kept
                     * as void records -- never a synced one */
                    ASSERT_TRUE(n >= durable, "synced record %" PRIu64 " came back void", n);
                    voids++;
                    n++;
                    continue;
                }
                ASSERT_EQ(rec.len, len_of(n));
                t_fill(want, rec.len, n);
                ASSERT_MEM(rec.data, want, rec.len);
                n++;
            }
            ASSERT_TRUE(rc == MAPLOG_END, "replay: %s", maplog_reader_errmsg(r));
            ASSERT_EQ(n, next);
            maplog_reader_close(r);
            if (v == 0 || v == 4)
                printf("round %2d durability %d: %6" PRIu64 " appended, %6" PRIu64
                       " synced, %6" PRIu64 " recovered, %" PRIu64 " void (%s)\n",
                       round, durability, stop_after, durable, next, voids, vname[v]);
            t_rm_rf(out);
            variants++;
        }
        t_rm_rf(live);
        t_rm_rf(disk);
    }
    printf("%d power-loss variants: every synced record recovered, no garbage returned\n",
           variants);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
