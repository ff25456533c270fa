/* test_sealsync.c -- a seal is written only after the directory entry of its segment is
 * durable.
 *
 * A segment gets its name by a rename when it becomes current; its seal, written when it is
 * full, vouches that its records survive a power loss.  That holds only if the rename
 * reached the disk first, and on a POSIX file system only an fsync of the directory makes
 * sure of it (fdatasync of the file does not).  Through the os seam this test records, in
 * order, every rename, every fsync of a directory and every MS_SYNC msync of a segment's
 * header page that carries a seal, and checks, for every segment sealed, that an fsync of
 * the directory lies between the rename that named it and the msync that wrote its seal.
 *
 * To make the order deterministic, the first fdatasync of a segment (the first seal's data
 * sync) waits until the appender has rolled over several more times: the seals of the
 * queued segments then follow one another with no other sync in between. */
#include "harness.h"

#include "os.h"

#include "internal.h"

#include <pthread.h>
#include <sys/mman.h>

#define SEG (64 * 1024)
#define ROLLOVERS 4 /* segments named before the held seal may go on */

enum { EV_RENAME, EV_FSYNC_DIR, EV_SEAL };
typedef struct event {
    int kind;
    char name[64]; /* EV_RENAME: the new name; EV_SEAL: the sealed segment's name */
} event;

#define MAX_EVENTS 4096
static event events[MAX_EVENTS];
static int nevents, overflow;
static int renamed_segments;                       /* renames that gave a segment its name */
static int gate_armed, gate_closed = 1, gate_used; /* armed once the log is open */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static mlg__os_table real;

static void note(int kind, const char *name)
{
    pthread_mutex_lock(&mu);
    if (nevents < MAX_EVENTS) {
        events[nevents].kind = kind;
        snprintf(events[nevents].name, sizeof events[nevents].name, "%s", name);
        nevents++;
    } else {
        overflow = 1;
    }
    pthread_mutex_unlock(&mu);
}

static int is_segment_name(const char *name)
{
    size_t n = strlen(name);
    return n == 25 && strcmp(name + 20, ".mlog") == 0 && strspn(name, "0123456789") == 20;
}

static int w_renameat(int a, const char *from, int b, const char *to)
{
    int rc = real.renameat(a, from, b, to);
    if (rc == 0) {
        note(EV_RENAME, to);
        if (is_segment_name(to)) {
            pthread_mutex_lock(&mu);
            renamed_segments++;
            pthread_mutex_unlock(&mu);
        }
    }
    return rc;
}

static int w_fsync(int fd)
{
    struct stat st;
    int rc = real.fsync(fd);
    if (rc == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        note(EV_FSYNC_DIR, "");
    return rc;
}

/* An MS_SYNC msync of a segment's header page (its magic at the start) whose seal block is
 * filled in: the msync that writes the seal.  Its first_seq names the segment. */
static int w_msync(void *addr, size_t len, int flags)
{
    const unsigned char *p = addr;
    uint32_t magic = 0;
    uint64_t first = 0;
    char name[64];
    int seal = 0;
    if ((flags & MS_SYNC) && len >= 4096 && memcmp(p, MLG_SEG_MAGIC, 8) == 0) {
        memcpy(&magic, p + MLG_SEAL_OFFSET, 4);
        memcpy(&first, p + MLG_SEAL_OFFSET + 48, 8);
        seal = magic == MLG_SEAL_MAGIC;
    }
    if (seal) {
        snprintf(name, sizeof name, "%020" PRIu64 ".mlog", first);
        note(EV_SEAL, name);
    }
    return real.msync(addr, len, flags);
}

/* Once armed, the first fdatasync of a named segment waits for the gate to open. */
static int w_fdatasync(int fd)
{
    char link[64], target[1024] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    const char *base = n > 0 ? strrchr(target, '/') : NULL;
    if (base && is_segment_name(base + 1)) {
        pthread_mutex_lock(&mu);
        if (gate_armed && !gate_used) {
            gate_used = 1;
            while (gate_closed)
                pthread_cond_wait(&cv, &mu);
        }
        pthread_mutex_unlock(&mu);
    }
    return real.fdatasync(fd);
}

static void open_gate(void)
{
    pthread_mutex_lock(&mu);
    gate_closed = 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

int main(void)
{
    const char *dir = t_mkscratch("sealsync");
    unsigned char buf[1000];
    maplog *log;
    real = mlg__os;
    mlg__os.renameat = w_renameat;
    mlg__os.fsync = w_fsync;
    mlg__os.msync = w_msync;
    mlg__os.fdatasync = w_fdatasync;

    CTX("opening %s", dir);
    ASSERT_OK(t_open(&log, dir, SEG, MAPLOG_OPT_CREATE, 1LL, 0));
    int at_open;
    pthread_mutex_lock(&mu);
    at_open = renamed_segments;
    gate_armed = 1;
    pthread_mutex_unlock(&mu);
    /* Append until ROLLOVERS more segments have been named, with the first seal held. */
    uint64_t appended = 0;
    for (int named = 0; named < at_open + ROLLOVERS; appended++) {
        CTX("append %" PRIu64, appended);
        t_fill(buf, sizeof buf, appended);
        ASSERT_OK(maplog_append(log, buf, sizeof buf, NULL));
        ASSERT_TRUE(appended < 100000, "%d segments named after %" PRIu64 " appends", named,
                    appended);
        pthread_mutex_lock(&mu);
        named = renamed_segments;
        pthread_mutex_unlock(&mu);
    }
    open_gate();
    CTX("closing %s", dir);
    ASSERT_OK(maplog_close(log));
    mlg__os_reset();

    /* For every seal: the rename that named its segment, then an fsync of the directory,
     * then the seal. */
    int checked = 0;
    ASSERT_TRUE(!overflow, "more than %d events", MAX_EVENTS);
    for (int c = 0; c < nevents; c++) {
        if (events[c].kind != EV_SEAL)
            continue;
        int a = -1, b = -1;
        for (int i = c; i-- > 0;)
            if (events[i].kind == EV_RENAME && strcmp(events[i].name, events[c].name) == 0) {
                a = i;
                break;
            }
        CTX("seal of %s (event %d)", events[c].name, c);
        ASSERT_TRUE(a >= 0, "no rename named %s before its seal", events[c].name);
        for (int i = a + 1; i < c && b < 0; i++)
            if (events[i].kind == EV_FSYNC_DIR)
                b = i;
        printf("%s: renamed at event %d, directory fsync at %d, sealed at %d\n", events[c].name, a,
               b, c);
        ASSERT_TRUE(b > a,
                    "%s was sealed (event %d) with no fsync of the directory since the rename "
                    "that named it (event %d)",
                    events[c].name, c, a);
        checked++;
    }
    CTX("counting seals");
    ASSERT_TRUE(checked >= ROLLOVERS - 1, "only %d seals seen (%d events)", checked, nevents);
    printf("%d seals, each after the directory fsync that made its name durable\n", checked);
    t_scratch_done();
    return 0;
}
