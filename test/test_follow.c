/* test_follow.c -- followers that sleep, woken by a writer in another process.
 *
 * Every scenario forks its writer and its followers from a parent that holds no maplog
 * handle (maplog_open starts threads; forking stays before any), and they tell each other
 * where they are through a MAP_SHARED page.  Each child runs under alarm(), so a wake-up
 * that never comes fails the test instead of hanging it; the parent checks every child's
 * exit status and prints what each scenario measured.  The time bounds asserted below
 * are one-sided and generous (a sleep slice is 200 ms): they tell a follower that was
 * woken from one that slept through its record, not a fast machine from a slow one. */
#include "harness.h"

#include "logdir.h"
#include "os.h"

#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define SEG (64 * 1024)
#define CHILD_ALARM 60
#define SLICE_MS ((int)(MLG_WAKE_SLICE_NS / 1000000u))
#define NROUNDS 5 /* scenario 7 */

/* What the processes of a scenario tell each other (every field through LD/ST). */
typedef struct shared {
    uint64_t stage;      /* the parent's go-ahead, by number */
    uint64_t wstage;     /* the writer's progress, by number */
    uint64_t fready[2];  /* each follower's progress, by number */
    uint64_t published;  /* writer: records whose append returned */
    uint64_t first;      /* writer: the sequence number its first append got */
    uint64_t final;      /* followers stop once they read up to here (0: not known yet) */
    uint64_t reached[2]; /* follower: the next sequence number it expects */
    uint64_t holes[2];   /* records reserved and never committed (UINT64_MAX: none) */
    uint64_t wake_calls; /* writer: MAPLOG_WINFO_WAKE_CALLS at its end */
    uint64_t writer_gap; /* writer: the longest time between two appends (ns) */
    uint64_t t_ns;       /* a moment to measure from (CLOCK_MONOTONIC) */
    /* A follower's waits after its first record: how many, the longest (ns), and the
     * longest time asleep in one -- not counting the time it waited for a CPU once woken --
     * with that wait's length, the record it waited for and that record's age at wake-up. */
    uint64_t waits[2], max_wait[2];
    uint64_t max_asleep[2], max_asleep_wait[2], max_asleep_seq[2], max_asleep_age[2];
    /* Scenario 7, per round: append to wake-up, and of that the time waiting for a CPU (ns);
     * the writer's wake calls for the append. */
    uint64_t lat[2][NROUNDS], queued[2][NROUNDS], delta[NROUNDS];
    uint64_t polls[2], spurious[2]; /* scenario 6 */
    uint64_t seg; /* a segment: the one a rollover named (4b), the one to remove (5) */
} shared;

static shared *sh;
#define LD(f) __atomic_load_n(&sh->f, __ATOMIC_SEQ_CST)
#define ST(f, v) __atomic_store_n(&sh->f, (uint64_t)(v), __ATOMIC_SEQ_CST)

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void busy_us(uint64_t us)
{
    uint64_t end = mono_ns() + us * 1000u;
    while (mono_ns() < end) {
    }
}

static double ms_of(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* ---- children ---------------------------------------------------------------------- */

typedef struct kid {
    pid_t pid;
    int done, status, killed;
    char role[48];
} kid;

static kid kids[8];
static int nkids;
static char my_role[48] = "parent";
static int schedstat_fd = -2; /* /proc/self/schedstat, once opened: a child opens its own */

static void on_child_alarm(int sig)
{
    (void)sig;
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "FAIL: %s: still running after %d s: a wait that should have returned "
                     "did not\n",
                     my_role, CHILD_ALARM);
    if (write(2, msg, (size_t)n) < 0)
        _exit(3);
    _exit(3);
}

static void kill_kids(void)
{
    for (int i = 0; i < nkids; i++)
        if (!kids[i].done)
            kill(kids[i].pid, SIGKILL);
}

static void on_parent_signal(int sig)
{
    kill_kids();
    if (sig == SIGALRM) {
        static const char msg[] = "FAIL: the test ran out of time\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(1);
        _exit(1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Fork a child that runs fn(dir, arg) under alarm() and exits 0 when it returns. */
static kid *spawn(const char *role, void (*fn)(const char *, int), const char *dir, int arg)
{
    int slot = 0;
    while (slot < nkids && !kids[slot].done) /* a reaped child's slot is free again */
        slot++;
    ASSERT_TRUE(slot < (int)(sizeof kids / sizeof kids[0]), "too many children");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        nkids = 0;
        schedstat_fd = -2;
        snprintf(my_role, sizeof my_role, "%s", role);
        signal(SIGABRT, SIG_DFL);
        signal(SIGALRM, on_child_alarm);
        alarm(CHILD_ALARM);
        CTX("%s, in %s", role, dir);
        fn(dir, arg);
        fflush(stdout);
        _exit(0);
    }
    kid *k = &kids[slot];
    if (slot == nkids)
        nkids++;
    memset(k, 0, sizeof *k);
    k->pid = pid;
    snprintf(k->role, sizeof k->role, "%s", role);
    return k;
}

static void describe(char *buf, size_t n, int st)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "ended with wait status %d", st);
}

/* A child that ended on its own, as the parent waits for something: fine if it exited 0
 * (it may finish first), a failure otherwise -- its own message is on stderr above. */
static void check_kids(void)
{
    for (int i = 0; i < nkids; i++) {
        kid *k = &kids[i];
        int st;
        if (k->done || k->killed || waitpid(k->pid, &st, WNOHANG) != k->pid)
            continue;
        k->done = 1;
        k->status = st;
        char how[96];
        describe(how, sizeof how, st);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s (pid %d) %s", k->role, (int)k->pid,
                    how);
    }
}

static void reap(kid *k)
{
    int st = k->status;
    if (!k->done) {
        pid_t w;
        while ((w = waitpid(k->pid, &st, 0)) < 0 && errno == EINTR) {
        }
        ASSERT_TRUE(w == k->pid, "waitpid %s: %s", k->role, strerror(errno));
        k->done = 1;
    }
    char how[96];
    describe(how, sizeof how, st);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s (pid %d) %s", k->role, (int)k->pid, how);
}

static void kill_reap(kid *k)
{
    int st;
    check_kids(); /* it must not have failed before */
    k->killed = 1;
    kill(k->pid, SIGKILL);
    while (waitpid(k->pid, &st, 0) < 0 && errno == EINTR) {
    }
    k->done = 1;
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: wait status %d", k->role, st);
}

static void stop_kid(kid *k)
{
    int st;
    check_kids();
    ASSERT_TRUE(kill(k->pid, SIGSTOP) == 0, "SIGSTOP %s", k->role);
    ASSERT_TRUE(waitpid(k->pid, &st, WUNTRACED) == k->pid && WIFSTOPPED(st), "%s: not stopped (%d)",
                k->role, st);
}

/* The parent waits, at most ms milliseconds, for cond; a child that fails meanwhile fails
 * the test at once. */
#define UNTIL(cond, ms, ...)                                                                       \
    do {                                                                                           \
        uint64_t until_end_ = mono_ns() + (uint64_t)(ms)*1000000u;                                 \
        while (!(cond)) {                                                                          \
            check_kids();                                                                          \
            if (mono_ns() > until_end_) {                                                          \
                fprintf(stderr, "%s:%d: no %s after %d ms: ", __FILE__, __LINE__, #cond,           \
                        (int)(ms));                                                                \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
                t_fail_tail();                                                                     \
            }                                                                                      \
            nap_us(200);                                                                           \
        }                                                                                          \
    } while (0)

/* A child waits for cond (its alarm bounds the wait). */
#define CHILD_UNTIL(cond)                                                                          \
    do {                                                                                           \
        while (!(cond))                                                                            \
            nap_us(100);                                                                           \
    } while (0)

/* 1 if pid is asleep in FUTEX_WAIT (its wait channel, or else its system call, says so),
 * 0 if not, -1 if /proc does not tell. */
static int in_futex(pid_t pid)
{
    char p[64], buf[256] = "";
    snprintf(p, sizeof p, "/proc/%d/wchan", (int)pid);
    FILE *f = fopen(p, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        if (strstr(buf, "futex"))
            return 1;
    }
    snprintf(p, sizeof p, "/proc/%d/syscall", (int)pid);
    if (!(f = fopen(p, "r")))
        return -1;
    long nr = -1;
    int got = fscanf(f, "%ld", &nr);
    fclose(f);
    if (got != 1)
        return 0; /* "running" */
    return nr == SYS_futex;
}

/* Wait until pid sleeps in FUTEX_WAIT; where /proc cannot tell, give it 50 ms. */
static void until_asleep(kid *k)
{
    int a;
    UNTIL((a = in_futex(k->pid)) != 0, 5000, "%s never slept in FUTEX_WAIT", k->role);
    if (a < 0)
        nap_us(50000);
}

/* /proc/pid/maps: 2 if it maps a file named name that was removed, 1 if it maps it and it
 * is there, 0 if it does not map it, -1 if the file cannot be read. */
static int maps_file(pid_t pid, const char *name)
{
    char p[64], line[1024];
    int found = 0;
    snprintf(p, sizeof p, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *s = strstr(line, name);
        if (s && s > line && s[-1] == '/')
            found = found == 2 || strstr(s, "(deleted)") ? 2 : 1;
    }
    fclose(f);
    return found;
}

/* The first sequence numbers of the segment files in dir, ascending; returns how many. */
static int list_segs(const char *dir, uint64_t *v, int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    ASSERT_TRUE(d != NULL, "opendir %s: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 25 || strcmp(e->d_name + 20, ".mlog") != 0)
            continue;
        uint64_t s = strtoull(e->d_name, NULL, 10);
        int i = n < max ? n++ : max - 1;
        while (i > 0 && v[i - 1] > s) {
            v[i] = v[i - 1];
            i--;
        }
        v[i] = s;
    }
    closedir(d);
    return n;
}

static int seg_exists(const char *dir, uint64_t first)
{
    char name[32];
    mlg__seg_name(name, first);
    return access(t_path(dir, name), F_OK) == 0;
}

/* 1 if a writer holds the log in dir (the probe readers use: a shared flock). */
static int writer_holds(const char *dir)
{
    int fd = open(t_path(dir, MLG_LOCK_NAME), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* ---- records ------------------------------------------------------------------------- */

static size_t len_of(uint64_t seq)
{
    return 8 + (size_t)(seq * 2654435761u % 240);
}

static maplog *w_open(const char *dir, long long retain)
{
    maplog *log;
    int rc = retain ? t_open(&log, dir, SEG, MAPLOG_OPT_RETAIN_SEGMENTS, retain, 0)
                    : t_open(&log, dir, SEG, 0);
    ASSERT_TRUE(rc == 0, "maplog_open %s: %s", dir, maplog_last_open_error());
    uint64_t next;
    ASSERT_OK(maplog_next_seq(log, &next));
    ST(first, next);
    ST(published, next);
    return log;
}

/* Append the next record: its payload follows from its sequence number. */
static void w_append(maplog *log)
{
    unsigned char buf[256];
    uint64_t next, seq;
    ASSERT_OK(maplog_next_seq(log, &next));
    t_fill(buf, len_of(next), next);
    int rc = maplog_append(log, buf, len_of(next), &seq);
    ASSERT_TRUE(rc == 0, "append seq %" PRIu64 ": %d %s", next, rc, maplog_errmsg(log));
    ASSERT_EQ(seq, next);
    ST(published, seq + 1);
}

/* Append the last record: followers learn where the log ends before it is there. */
static void w_append_last(maplog *log)
{
    uint64_t next;
    ASSERT_OK(maplog_next_seq(log, &next));
    ST(final, next + 1);
    w_append(log);
}

static uint64_t w_wake_calls(maplog *log)
{
    int64_t v = -1;
    ASSERT_OK(maplog_writer_info_get(log, MAPLOG_WINFO_WAKE_CALLS, &v));
    return (uint64_t)v;
}

static void w_close(maplog *log)
{
    int rc = maplog_close(log);
    ASSERT_TRUE(rc == 0, "maplog_close: %d %s", rc, maplog_errmsg(NULL));
}

/* Close once the follower has read the last record: a close wakes followers too, and
 * would make up for a wake-up the last append lost. */
static void w_close_when_read(maplog *log)
{
    CHILD_UNTIL(LD(reached[0]) >= LD(final));
    w_close(log);
}

static void check_rec(const maplog_record *rec, uint64_t seq)
{
    unsigned char want[256];
    ASSERT_EQ(rec->seq, seq);
    ASSERT_EQ(rec->flags, 0);
    ASSERT_EQ(rec->len, len_of(seq));
    t_fill(want, rec->len, seq);
    ASSERT_MEM(rec->data, want, rec->len);
}

static int is_hole(uint64_t seq)
{
    return seq == LD(holes[0]) || seq == LD(holes[1]);
}

static maplog_reader *f_open(const char *dir, int flags)
{
    maplog_reader *r;
    int rc = maplog_reader_open(&r, dir, flags);
    ASSERT_TRUE(rc == 0, "maplog_reader_open %s: %d %s", dir, rc, maplog_last_open_error());
    ASSERT_OK(maplog_reader_set_spin(r, 0)); /* never spin: every wait sleeps */
    return r;
}

/* The time this process spent runnable, waiting for a CPU (ns): /proc/self/schedstat;
 * 0 where it cannot be read. */
static uint64_t queued_ns(void)
{
    char buf[128];
    unsigned long long run, delay;
    if (schedstat_fd == -2)
        schedstat_fd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
    ssize_t n = schedstat_fd >= 0 ? pread(schedstat_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return sscanf(buf, "%llu %llu", &run, &delay) == 2 ? delay : 0;
}

/* Follow with maplog_reader_wait(r, -1) until the log's final record (sh->final) is read.
 * *expect: the next sequence number (UINT64_MAX: the first record's).  Sequence numbers
 * must be dense but for the holes in sh->holes, stepped over or read as void records;
 * every payload must be the one its sequence number gives.  Counts the waits after the
 * first record, and the longest, in slot i of the shared page. */
static void follow(maplog_reader *r, uint64_t *expect, int i)
{
    maplog_record rec;
    uint64_t waited = 0, asleep = 0, woke_rt = 0, got = 0;
    for (;;) {
        int rc = maplog_reader_next(r, &rec);
        if (rc == 0) {
            if (*expect == UINT64_MAX)
                *expect = rec.seq;
            if (rec.seq == *expect + 1 && is_hole(*expect)) /* stepped over */
                ++*expect;
            CTX("%s: reading seq %" PRIu64, my_role, *expect);
            if (waited && asleep == LD(max_asleep[i])) { /* how long had it been there? */
                uint64_t ts = rec.flags ? woke_rt : rec.timestamp_ns;
                ST(max_asleep_wait[i], waited);
                ST(max_asleep_seq[i], rec.seq);
                ST(max_asleep_age[i], woke_rt > ts ? woke_rt - ts : 0);
            }
            waited = 0;
            if (rec.flags & MAPLOG_RECORD_VOID) {
                ASSERT_TRUE(is_hole(rec.seq) && rec.seq == *expect && rec.len == 0,
                            "void record at seq %" PRIu64 " (expected seq %" PRIu64 ")", rec.seq,
                            *expect);
            } else {
                check_rec(&rec, *expect);
            }
            ++*expect;
            got++;
            ST(reached[i], *expect);
            continue;
        }
        ASSERT_TRUE(rc == MAPLOG_END, "next at seq %" PRIu64 ": %d %s", *expect, rc,
                    maplog_reader_errmsg(r));
        uint64_t fin = LD(final);
        if (fin && *expect >= fin)
            break;
        uint64_t q0 = queued_ns(), t0 = mono_ns();
        rc = maplog_reader_wait(r, -1);
        ASSERT_TRUE(rc == 0, "wait at seq %" PRIu64 ": %d %s", *expect, rc,
                    maplog_reader_errmsg(r));
        if (got) {
            waited = mono_ns() - t0;
            uint64_t q = queued_ns() - q0;
            asleep = waited > q ? waited - q : 0;
            woke_rt = clock_ns(CLOCK_REALTIME);
            ST(waits[i], LD(waits[i]) + 1);
            if (waited > LD(max_wait[i]))
                ST(max_wait[i], waited);
            if (asleep > LD(max_asleep[i]))
                ST(max_asleep[i], asleep);
        }
    }
    uint64_t fin = LD(final);
    ASSERT_TRUE(*expect == fin, "read up to seq %" PRIu64 ", the log ends at %" PRIu64, *expect,
                fin);
}

static void reset_shared(void)
{
    memset(sh, 0, sizeof *sh);
    ST(holes[0], UINT64_MAX);
    ST(holes[1], UINT64_MAX);
}

static const char *subdir(const char *base, const char *name)
{
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 1024, "%s/%s", base, name);
    return p;
}

/* ---- 1. no system call on the append path without a waiter ----------------------------- */

static void s1_quiet_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 0; i < n; i++)
        w_append(log);
    uint64_t calls = w_wake_calls(log);
    ST(wake_calls, calls);
    ASSERT_TRUE(calls == 0, "%" PRIu64 " wake calls for %d appends that no follower waited for",
                calls, n);
    w_close(log);
}

/* Reads as the writer appends, by maplog_reader_next() alone: never waits. */
static void s1_nowait_reader(const char *dir, int n)
{
    maplog_reader *r;
    maplog_record rec;
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ST(fready[0], 1);
    for (uint64_t s = 0; s < (uint64_t)n;) {
        int rc = maplog_reader_next(r, &rec);
        if (rc == MAPLOG_END) {
            nap_us(50);
            continue;
        }
        ASSERT_TRUE(rc == 0, "next at seq %" PRIu64 ": %d %s", s, rc, maplog_reader_errmsg(r));
        check_rec(&rec, s++);
    }
    maplog_reader_close(r);
}

/* Asleep on a log nobody appends to, until it is killed. */
static void s1_doomed_follower(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, 0);
    ST(fready[0], 1);
    for (;;)
        maplog_reader_wait(r, -1);
}

/* A follower was killed in its sleep: its bit costs the next append one wake call. */
static void s1_stale_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 0; i < n; i++)
        w_append(log);
    ST(wake_calls, w_wake_calls(log));
    w_close(log);
}

static uint32_t wake_word(const char *dir)
{
    uint32_t w;
    t_pread(t_path(dir, MLG_LOCK_NAME), &w, sizeof w, MLG_WAKE_WORD_OFF);
    return w;
}

/* Take the followers' bits out of the wake word, as a writer's wake does, without the
 * wake: what a writer that dies between the two leaves. */
static void clear_bits_in(uint32_t *word, uint32_t bit)
{
    uint32_t v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    ASSERT_TRUE(v & bit, "no follower's bit %#x in the wake word: %#x", bit, v);
    while (!__atomic_compare_exchange_n(word, &v, (v + MLG_WAKE_COUNT_ONE) & ~MLG_WAKE_WAITING, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

/* The wake page, mapped read-write: its descriptor in *fd. */
static uint32_t *map_wake_word(const char *dir, int *fd)
{
    *fd = open(t_path(dir, MLG_LOCK_NAME), O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(*fd >= 0, "open %s: %s", MLG_LOCK_NAME, strerror(errno));
    void *p = mmap(NULL, MLG_WAKE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    ASSERT_TRUE(p != MAP_FAILED, "mmap %s: %s", MLG_LOCK_NAME, strerror(errno));
    return (uint32_t *)((char *)p + MLG_WAKE_WORD_OFF);
}

static void unmap_wake_word(uint32_t *word, int fd)
{
    munmap((char *)word - MLG_WAKE_WORD_OFF, MLG_WAKE_SIZE);
    close(fd);
}

static void clear_wake_bits(const char *dir, uint32_t bit)
{
    int fd;
    uint32_t *word = map_wake_word(dir, &fd);
    clear_bits_in(word, bit);
    unmap_wake_word(word, fd);
}

static void s1_paced_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 0; i < n; i++) {
        if (i == n - 1)
            w_append_last(log);
        else
            w_append(log);
        nap_us(1000);
    }
    ST(wake_calls, w_wake_calls(log));
    w_close_when_read(log);
}

static void s_follower(const char *dir, int i)
{
    maplog_reader *r = f_open(dir, 0);
    uint64_t expect = 0;
    ST(fready[i], 1);
    follow(r, &expect, i);
    maplog_reader_close(r);
}

static void scenario1(const char *base)
{
    const char *dir = subdir(base, "quiet");
    reset_shared();
    kid *w = spawn("writer (no follower waits)", s1_quiet_writer, dir, 10000);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *rd = spawn("reader that never waits", s1_nowait_reader, dir, 10000);
    UNTIL(LD(fready[0]) >= 1, 10000, "reader opened");
    ST(stage, 1);
    reap(w);
    reap(rd);
    ASSERT_EQ(LD(wake_calls), 0);
    printf("ok 1a: 10000 appends with a reader open in another process that never waits: "
           "%" PRIu64 " wake calls\n",
           LD(wake_calls));

    dir = subdir(base, "stale");
    reset_shared();
    w = spawn("writer after a follower's death", s1_stale_writer, dir, 10000);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *f = spawn("follower killed in its sleep", s1_doomed_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    until_asleep(f);
    kill_reap(f);
    ASSERT_TRUE(wake_word(dir) & MLG_WAKE_SLEEP, "no sleeper's bit in the wake word: %#x",
                wake_word(dir));
    ST(stage, 1);
    reap(w);
    ASSERT_EQ(LD(wake_calls), 1);
    ASSERT_TRUE(!(wake_word(dir) & MLG_WAKE_WAITING), "wake word %#x", wake_word(dir));
    printf("ok 1b: a follower killed in its sleep left its bit: 10000 appends after it made "
           "%" PRIu64 " wake call\n",
           LD(wake_calls));

    dir = subdir(base, "paced");
    reset_shared();
    w = spawn("paced writer", s1_paced_writer, dir, 200);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    f = spawn("follower", s_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    ST(stage, 1);
    reap(f);
    reap(w);
    ASSERT_EQ(LD(reached[0]), 200);
    ASSERT_TRUE(LD(wake_calls) > 0, "no wake call for a follower that slept");
    ASSERT_TRUE(LD(waits[0]) > 0, "the follower never waited");
    printf("ok 1c: a sleeping follower read 200 records appended 1 ms apart, in order: the "
           "writer made %" PRIu64 " wake calls, the follower waited %" PRIu64 " times\n",
           LD(wake_calls), LD(waits[0]));
}

/* ---- 2. never a lost wake-up --------------------------------------------------------- */

/* n records, one at a time with a random gap of 0-100 us (busy-waited), and now and then a
 * burst of 2-32 back to back. */
static void s2_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    uint64_t last = 0, gap = 0;
    for (int i = 0; i < n;) {
        int burst = t_rand_below(50) == 0 ? 2 + (int)t_rand_below(31) : 1;
        for (int b = 0; b < burst && i < n; b++, i++) {
            if (i == n - 1)
                w_append_last(log);
            else
                w_append(log);
            uint64_t now = mono_ns();
            if (last && now - last > gap)
                gap = now - last;
            last = now;
        }
        busy_us(t_rand_below(101));
    }
    ST(writer_gap, gap);
    ST(wake_calls, w_wake_calls(log));
    w_close_when_read(log);
}

static void scenario2(const char *base)
{
    const char *dir = subdir(base, "lost");
    const int n = 2000;
    reset_shared();
    kid *w = spawn("writer with random gaps", s2_writer, dir, n);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *f = spawn("follower", s_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    ST(stage, 1);
    reap(f);
    reap(w);
    ASSERT_EQ(LD(reached[0]), n);
    /* A wake-up lost for good leaves the follower asleep for the rest of its 200 ms slice
     * with a record already there (one lost while the writer still has a sleeper's bit to
     * see is made up by its next append, or, for the last record, would be by its close,
     * which therefore waits until the follower has read it).  No wait while the writer
     * appends (one record every 100 us at most) comes near a slice: 150 ms is a one-sided
     * check with a huge margin, not a speed target.  What is checked is the time the
     * follower slept in a wait: a follower woken in time but not given a CPU at once (on
     * a loaded machine, or one without kernel preemption, a few ms is common) was not
     * asleep then.  The age of the record at wake-up, and the writer's longest gap between
     * appends, tell a lost wake-up (the record was there) from a writer that was not
     * scheduled (it was not). */
    uint64_t mw = LD(max_wait[0]), ma = LD(max_asleep[0]);
    ASSERT_TRUE(ma < 150000000u,
                "the follower slept %.1f ms in a wait of %.1f ms for seq %" PRIu64
                " while the writer was appending (the record was %.1f ms old when the wait "
                "returned; the writer's longest gap between appends was %.1f ms)",
                ms_of(ma), ms_of(LD(max_asleep_wait[0])), LD(max_asleep_seq[0]),
                ms_of(LD(max_asleep_age[0])), ms_of(LD(writer_gap)));
    printf("ok 2: %d records with gaps of 0-100 us and bursts, every one read; %" PRIu64
           " waits, the longest %.3f ms; the longest asleep %.3f ms (seq %" PRIu64
           ", %.3f ms old at wake-up); %" PRIu64 " wake calls; the writer's longest gap "
           "%.3f ms\n",
           n, LD(waits[0]), ms_of(mw), ms_of(ma), LD(max_asleep_seq[0]),
           ms_of(LD(max_asleep_age[0])), LD(wake_calls), ms_of(LD(writer_gap)));
}

/* ---- 3. a writer dies ----------------------------------------------------------------- */

/* Appends with random gaps of 0-200 us until it is killed. */
static void s3_busy_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 0; i < 1000000; i++) {
        w_append(log);
        busy_us(t_rand_below(201));
    }
    ASSERT_TRUE(0, "the writer was not killed");
}

/* Recovery voided `voided` records; 50 records, a reservation never committed (holes[k]),
 * 50 more; then it waits to be killed. */
static void s3_hole_writer(const char *dir, int k)
{
    maplog *log = w_open(dir, 0);
    maplog_reservation res;
    int64_t voided = -1;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_VOIDED, &voided));
    ASSERT_EQ(voided, k); /* the hole the writer before it left, if any */
    for (int i = 0; i < 50; i++)
        w_append(log);
    ASSERT_OK(maplog_reserve(log, len_of(LD(published)), &res));
    memset(res.data, 0xab, res.len / 2);
    ST(holes[k], res.seq);
    for (int i = 0; i < 50; i++)
        w_append(log);
    ST(wstage, 2 + k);
    for (;;)
        pause();
}

/* Recovery voided the hole; 50 records, then it closes the log when told. */
static void s3_last_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 0);
    int64_t voided = -1;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_VOIDED, &voided));
    ASSERT_EQ(voided, 1);
    for (int i = 0; i < 50; i++)
        w_append(log);
    ST(wstage, 4);
    CHILD_UNTIL(LD(stage) >= 4);
    uint64_t c0 = w_wake_calls(log);
    ST(t_ns, mono_ns());
    w_append_last(log); /* the follower's bit is gone: no wake call */
    ST(delta[0], w_wake_calls(log) - c0);
    ST(wstage, 5);
    CHILD_UNTIL(LD(stage) >= 5);
    w_close(log);
}

/* One reader handle through four writers: voids returned, so the second hole is seen. */
static void s3_follower(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, MAPLOG_READER_VOIDS);
    uint64_t expect = 0;
    int64_t holes = -1, voids = -1;
    ST(fready[0], 1);
    follow(r, &expect, 0);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_HOLES, &holes));
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_VOIDS, &voids));
    ASSERT_TRUE(holes == 1 && voids == 1,
                "the follower stepped over %" PRId64 " holes and read %" PRId64
                " void records; expected the first hole stepped over (its writer dead, "
                "the log not yet recovered) and the second read as a void record",
                holes, voids);
    maplog_reader_close(r);
}

static void scenario3(const char *base)
{
    const char *dir = subdir(base, "death");
    reset_shared();
    /* (a) a writer killed while appending, the follower asleep on it */
    kid *w = spawn("writer 1 (killed while appending)", s3_busy_writer, dir, 0);
    UNTIL(LD(wstage) >= 1, 10000, "writer 1 opened");
    kid *f = spawn("follower", s3_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    ST(stage, 1);
    uint64_t kill_at = 300 + t_rand_below(300);
    UNTIL(LD(published) >= kill_at, 20000, "writer 1 appended %" PRIu64, kill_at);
    kill_reap(w);
    uint64_t t0 = mono_ns(), k = LD(published);
    UNTIL(LD(reached[0]) >= k, 5000, "the follower read the %" PRIu64 " records of writer 1", k);
    double caught = ms_of(mono_ns() - t0);
    ASSERT_TRUE(caught < 1000, "the follower took %.1f ms to read what the dead writer left",
                caught);

    /* (b) a new writer: recovery, then a reservation it dies holding */
    w = spawn("writer 2 (dies holding a reservation)", s3_hole_writer, dir, 0);
    UNTIL(LD(wstage) >= 2, 10000, "writer 2 appended");
    uint64_t first2 = LD(first), h1 = LD(holes[0]);
    ASSERT_TRUE(first2 == k || first2 == k + 1,
                "writer 2 starts at seq %" PRIu64 " after %" PRIu64 " records were acknowledged",
                first2, k);
    UNTIL(LD(reached[0]) == h1, 5000, "the follower at the reservation (seq %" PRIu64 ")", h1);
    until_asleep(f);
    kill_reap(w);
    t0 = mono_ns();
    UNTIL(LD(reached[0]) >= h1 + 51, 5000, "the follower past the hole (at %" PRIu64 ")",
          LD(reached[0]));
    double stepped = ms_of(mono_ns() - t0);
    ASSERT_TRUE(stepped < 1000,
                "the follower took %.1f ms to step over the hole once no writer held the log",
                stepped);

    /* (c) the next writer voids that hole, and dies holding another reservation, which
     *     the writer after it voids while the follower, asleep at it, cannot look */
    w = spawn("writer 3 (dies holding a reservation)", s3_hole_writer, dir, 1);
    UNTIL(LD(wstage) >= 3, 10000, "writer 3 appended");
    uint64_t h2 = LD(holes[1]);
    UNTIL(LD(reached[0]) == h2, 5000, "the follower at the reservation (seq %" PRIu64 ")", h2);
    until_asleep(f);
    stop_kid(f);
    kill_reap(w);
    w = spawn("writer 4", s3_last_writer, dir, 0);
    UNTIL(LD(wstage) >= 4, 10000, "writer 4 appended");
    uint64_t end = LD(published);
    kill(f->pid, SIGCONT);
    t0 = mono_ns();
    UNTIL(LD(reached[0]) >= end, 5000, "the follower read up to %" PRIu64 " (at %" PRIu64 ")", end,
          LD(reached[0]));
    double resumed = ms_of(mono_ns() - t0);

    /* (d) a wake-up that never comes -- a writer that died between its record and its
     *     wake -- costs one slice: the follower's bit is taken from the word as a wake
     *     would take it, but no one wakes it, and the record comes after */
    until_asleep(f);
    clear_wake_bits(dir, MLG_WAKE_SLEEP);
    ST(stage, 4);
    UNTIL(LD(wstage) >= 5, 5000, "writer 4's last record");
    uint64_t fin = LD(final);
    UNTIL(LD(reached[0]) >= fin, 5000, "the follower read seq %" PRIu64, fin - 1);
    double slept = ms_of(mono_ns() - LD(t_ns));
    ASSERT_EQ(LD(delta[0]), 0);
    ASSERT_TRUE(slept < SLICE_MS + 800,
                "a follower nobody woke found the record %.1f ms later (a slice: %d ms)", slept,
                SLICE_MS);
    /* and what scenario 2 measures saw it: a wait asleep about a slice */
    ASSERT_TRUE(LD(max_asleep[0]) >= 150000000u, "the follower slept at most %.1f ms in a wait",
                ms_of(LD(max_asleep[0])));
    ST(stage, 5);
    reap(w);
    reap(f);
    printf("ok 3: one follower through four writers: writer 1 killed after %" PRIu64
           " acknowledged records, all read %.1f ms after the kill; writer 2 (from seq %" PRIu64
           ") killed holding seq %" PRIu64 ", stepped over %.1f ms after; writer 3 killed "
           "holding seq %" PRIu64 ", read as void after writer 4 recovered it (%.1f ms after "
           "resuming); a record with no wake-up read %.1f ms after it was appended; %" PRIu64
           " records, dense, payloads intact\n",
           k, caught, first2, h1, stepped, h2, resumed, slept, fin);
}

/* ---- 4. rollover --------------------------------------------------------------------- */

static void s4_writer(const char *dir, int rollovers)
{
    maplog *log = w_open(dir, 0);
    uint64_t segs[64];
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 1;; i++) {
        w_append(log);
        if (i % 4 == 0)
            nap_us(100); /* the follower catches up, and sleeps */
        if (i % 64 == 0 && list_segs(dir, segs, 64) > rollovers)
            break;
    }
    w_append_last(log);
    ST(wake_calls, w_wake_calls(log));
    w_close_when_read(log);
}

static void scenario4(const char *base)
{
    const char *dir = subdir(base, "rollover");
    const int rollovers = 20;
    uint64_t segs[64];
    reset_shared();
    kid *w = spawn("writer", s4_writer, dir, rollovers);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *f = spawn("follower", s_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    ST(stage, 1);
    reap(f);
    reap(w);
    int n = list_segs(dir, segs, 64);
    ASSERT_TRUE(n > rollovers, "%d segments", n);
    ASSERT_EQ(LD(reached[0]), LD(final));
    ASSERT_TRUE(LD(waits[0]) >= (uint64_t)rollovers, "the follower waited %" PRIu64 " times",
                LD(waits[0]));
    ASSERT_TRUE(LD(wake_calls) > 0, "no wake call");
    printf("ok 4: a sleeping follower read %" PRIu64 " records across %d segments (%d rollovers) "
           "in order; it waited %" PRIu64 " times, the writer made %" PRIu64 " wake calls\n",
           LD(final), n, n - 1, LD(waits[0]), LD(wake_calls));
}

/* The seam's renameat, in a writer: the first rename after the log is open is a
 * rollover naming the next segment; the process stops right after it, before the first
 * record goes there, to be killed. */
static int (*real_renameat)(int, const char *, int, const char *);
static int rename_then_stop(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    int rc = real_renameat(olddirfd, oldpath, newdirfd, newpath);
    if (rc == 0) {
        ST(seg, strtoull(newpath, NULL, 10));
        ST(wstage, 2);
        raise(SIGSTOP);
    }
    return rc;
}

static void s4_stopping_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 0);
    real_renameat = mlg__os.renameat;
    mlg__os.renameat = rename_then_stop;
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 1;; i++) {
        ASSERT_TRUE(i < 100000, "no rollover");
        w_append(log);
        if (i % 4 == 0)
            nap_us(100);
    }
}

static void s4_next_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    int64_t sealed = -1, removed = -1;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_SEALED, &sealed));
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_REMOVED, &removed));
    ASSERT_TRUE(sealed == 1 && removed == 0,
                "recovery sealed %" PRId64 " and removed %" PRId64 " segments: %s", sealed, removed,
                maplog_recovery_report(log));
    ASSERT_EQ(LD(first), LD(seg)); /* the log goes on in the segment the rollover named */
    for (int i = 0; i < n; i++) {
        if (i == n - 1)
            w_append_last(log);
        else
            w_append(log);
    }
    w_close_when_read(log);
}

/* A writer killed just after a rollover named the next segment, before any record went
 * there: the follower moves into the empty segment and sleeps there; the next writer's
 * records go on in it, and the follower reads them. */
static void scenario4b(const char *base)
{
    const char *dir = subdir(base, "rollover-death");
    char name[32];
    int st;
    reset_shared();
    kid *w = spawn("writer stopped in a rollover", s4_stopping_writer, dir, 0);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *f = spawn("follower", s_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    ST(stage, 1);
    UNTIL(LD(wstage) >= 2, 20000, "a rollover");
    ASSERT_TRUE(waitpid(w->pid, &st, WUNTRACED) == w->pid && WIFSTOPPED(st), "writer: %d", st);
    uint64_t seg = LD(seg), end = LD(published);
    mlg__seg_name(name, seg);
    ASSERT_EQ(end, seg); /* every record before the new segment, none in it */
    UNTIL(maps_file(f->pid, name) == 1, 5000, "the follower in %s (at %" PRIu64 ")", name,
          LD(reached[0]));
    ASSERT_EQ(LD(reached[0]), end);
    kill_reap(w);
    w = spawn("writer after the rollover's death", s4_next_writer, dir, 300);
    reap(f);
    reap(w);
    ASSERT_EQ(LD(reached[0]), LD(final));
    printf("ok 4b: a writer killed just after a rollover named %s, before its first record: "
           "the follower moved into it and read the next writer's %" PRIu64 " records there, "
           "up to %" PRIu64 "\n",
           name, LD(final) - seg, LD(final));
}

/* ---- 5. retention removes the segment the follower sleeps in ---------------------------- */

/* Retaining 2 segments: appends into a third, then waits; told to go, it appends until
 * the segment it was in (sh->seg) is removed, and a few more. */
static void s5_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 2);
    uint64_t segs[64], newest = 0;
    for (int rolled = 0; rolled < 2;) {
        w_append(log);
        int c = list_segs(dir, segs, 64);
        if (segs[c - 1] != newest) {
            newest = segs[c - 1];
            rolled++;
        }
    }
    for (int i = 0; i < 20; i++)
        w_append(log);
    ASSERT_OK(maplog_sync(log)); /* retention is done before the follower opens */
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    uint64_t n = LD(seg);
    for (int i = 0; seg_exists(dir, n); i++) {
        ASSERT_TRUE(i < 100000, "segment %" PRIu64 " was never removed", n);
        w_append(log);
        int c = list_segs(dir, segs, 64);
        if (c >= 3 && segs[c - 2] > n)
            ASSERT_OK(maplog_sync(log)); /* two later segments: retention removes it */
    }
    for (int i = 0; i < 10; i++)
        w_append(log);
    w_append_last(log);
    ST(wstage, 2);
    CHILD_UNTIL(LD(stage) >= 2);
    w_close(log);
}

static void s5_follower(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, 0);
    uint64_t expect = UINT64_MAX;
    ST(fready[0], 1);
    follow(r, &expect, 0);
    maplog_reader_close(r);
}

static void scenario5(const char *base)
{
    const char *dir = subdir(base, "retention");
    uint64_t segs[64];
    char name[32];
    reset_shared();
    kid *w = spawn("writer retaining 2 segments", s5_writer, dir, 0);
    UNTIL(LD(wstage) >= 1, 10000, "writer in its third segment");
    kid *f = spawn("follower", s5_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    uint64_t end = LD(published);
    UNTIL(LD(reached[0]) == end, 5000, "the follower caught up at seq %" PRIu64, end);
    int c = list_segs(dir, segs, 64);
    uint64_t n = segs[c - 1]; /* the segment being written, where the follower is */
    mlg__seg_name(name, n);
    until_asleep(f);
    stop_kid(f); /* asleep in segment n: it stays so until n is gone */
    int before = maps_file(f->pid, name);
    ASSERT_TRUE(before != 0 && before != 2, "the follower does not map %s (%d)", name, before);
    ST(seg, n);
    ST(stage, 1);
    UNTIL(LD(wstage) >= 2, 20000, "writer past the removal of %s", name);
    c = list_segs(dir, segs, 64);
    char listing[512] = "";
    for (int i = 0; i < c; i++)
        snprintf(listing + strlen(listing), sizeof listing - strlen(listing), " %" PRIu64, segs[i]);
    ASSERT_TRUE(!seg_exists(dir, n) && segs[0] > n, "%s still there; segments:%s", name, listing);
    int after = maps_file(f->pid, name);
    ASSERT_TRUE(after == 2 || after < 0, "the follower's mapping of %s: %d (2: removed)", name,
                after);
    kill(f->pid, SIGCONT);
    uint64_t t0 = mono_ns(), fin = LD(final);
    UNTIL(LD(reached[0]) >= fin, 5000, "the follower read up to %" PRIu64 " (at %" PRIu64 ")", fin,
          LD(reached[0]));
    double woke = ms_of(mono_ns() - t0);
    ST(stage, 2);
    reap(w);
    reap(f);
    printf("ok 5: a follower asleep at seq %" PRIu64 " in %s, which retention removed%s "
           "(segments now:%s), woke and read every record up to %" PRIu64 " (%.1f ms)\n",
           end, name, after == 2 ? " while it still mapped it" : "", listing, fin, woke);
}

/* ---- 6. maplog_reader_fd() with poll() ---------------------------------------------------- */

static void s6_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    for (int i = 0; i < n; i++) {
        if (i == n - 1)
            w_append_last(log);
        else
            w_append(log);
        nap_us(1000);
    }
    ST(wstage, 2);
    for (;;) /* until killed: no maplog_close, the kernel closes maplog.lock */
        pause();
}

static void poll_once(int fd, int i)
{
    struct pollfd p = {fd, POLLIN, 0};
    int rc;
    while ((rc = poll(&p, 1, -1)) < 0 && errno == EINTR) {
    }
    ASSERT_TRUE(rc == 1 && (p.revents & POLLIN), "poll: %d, revents %#x: %s", rc, p.revents,
                strerror(errno));
    ST(polls[i], LD(polls[i]) + 1);
}

/* Read to the end after each readiness, until sh->final. */
static void fd_follow(maplog_reader *r, int fd, uint64_t *expect, int i)
{
    maplog_record rec;
    for (;;) {
        int rc;
        while ((rc = maplog_reader_next(r, &rec)) == 0) {
            CTX("%s: reading seq %" PRIu64, my_role, *expect);
            check_rec(&rec, (*expect)++);
            ST(reached[i], *expect);
        }
        ASSERT_TRUE(rc == MAPLOG_END, "next at seq %" PRIu64 ": %d %s", *expect, rc,
                    maplog_reader_errmsg(r));
        uint64_t fin = LD(final);
        if (fin && *expect >= fin)
            break;
        poll_once(fd, i);
    }
}

static void s6_follower(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, 0);
    maplog_record rec;
    uint64_t expect = 0;
    int fd = maplog_reader_fd(r);
    ASSERT_TRUE(fd >= 0, "maplog_reader_fd: %d %s", fd, maplog_reader_errmsg(r));
    ASSERT_EQ(maplog_reader_fd(r), fd);
    ST(fready[0], 1);
    fd_follow(r, fd, &expect, 0);
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    ST(fready[0], 2);
    /* The writer is killed, the log left open: poll must return (alarm() bounds it). */
    for (;;) {
        poll_once(fd, 0);
        uint64_t now = mono_ns(), t = LD(t_ns);
        int rc = maplog_reader_next(r, &rec);
        ASSERT_TRUE(rc == MAPLOG_END, "next after the writer's death: %d (seq %" PRIu64 ")", rc,
                    rec.seq);
        if (!t) { /* readable before the writer was killed: spurious */
            ST(spurious[0], LD(spurious[0]) + 1);
            continue;
        }
        ST(lat[0][0], now - t);
        break;
    }
    for (int i = 0; writer_holds(dir); i++) { /* it was the exit, not something else */
        ASSERT_TRUE(i < 1000, "poll returned, but the writer still holds the log after 1 s");
        nap_us(1000);
    }
    maplog_reader_close(r);
}

/* A log directory without maplog.lock: the fallback timer; then a writer comes. */
static void s6_copy_follower(const char *dir, int n)
{
    maplog_reader *r = f_open(dir, 0);
    maplog_record rec;
    uint64_t expect = 0;
    int fd = maplog_reader_fd(r);
    ASSERT_TRUE(fd >= 0, "maplog_reader_fd: %d %s", fd, maplog_reader_errmsg(r));
    ST(final, n);
    fd_follow(r, fd, &expect, 1);
    uint64_t t0 = mono_ns();
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, 2000); /* no writer, no lock file: the timer makes it readable */
    double ms = ms_of(mono_ns() - t0);
    ASSERT_TRUE(rc == 1 && ms < 1000, "poll on a log without maplog.lock: %d after %.1f ms", rc,
                ms);
    ST(lat[1][0], mono_ns() - t0);
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    ST(final, 0); /* the writer to come says where it ends */
    ST(fready[1], 1);
    fd_follow(r, fd, &expect, 1); /* sh->final moves on: a writer appends */
    maplog_reader_close(r);
}

static void s6_copy_writer(const char *dir, int n)
{
    maplog *log = w_open(dir, 0);
    for (int i = 0; i < n; i++) {
        if (i == n - 1)
            w_append_last(log);
        else
            w_append(log);
        nap_us(1000);
    }
    w_close(log);
}

static void scenario6(const char *base)
{
    const char *dir = subdir(base, "fd");
    const int n = 200;
    reset_shared();
    kid *w = spawn("writer", s6_writer, dir, n);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *f = spawn("descriptor follower", s6_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 10000, "follower opened");
    ST(stage, 1);
    UNTIL(LD(fready[0]) >= 2, 20000, "the follower read all %d records (at %" PRIu64 ")", n,
          LD(reached[0]));
    UNTIL(LD(wstage) >= 2, 5000, "writer done");
    nap_us(20000); /* in poll() now, most likely; if not, it finds the writer gone */
    ST(t_ns, mono_ns());
    kill_reap(w); /* SIGKILL: the way an exit without maplog_close ends, without exit's work */
    reap(f);
    double lat = ms_of(LD(lat[0][0]));
    ASSERT_TRUE(lat < 1000, "poll returned %.1f ms after the writer was killed", lat);
    printf("ok 6a: poll() on maplog_reader_fd() read %d records from a writer process in %" PRIu64
           " polls (%" PRIu64 " spurious); the writer was killed with the log open and poll "
           "returned %.1f ms after\n",
           n, LD(polls[0]), LD(spurious[0]), lat);

    const char *copy = subdir(base, "fd-copy");
    t_copy_dir(dir, copy);
    ASSERT_TRUE(unlink(t_path(copy, MLG_LOCK_NAME)) == 0, "unlink %s", MLG_LOCK_NAME);
    reset_shared();
    f = spawn("descriptor follower without maplog.lock", s6_copy_follower, copy, n);
    UNTIL(LD(fready[1]) >= 1, 10000, "the follower read the copy (at %" PRIu64 ")", LD(reached[1]));
    ASSERT_TRUE(access(t_path(copy, MLG_LOCK_NAME), F_OK) != 0, "a reader made maplog.lock");
    w = spawn("writer on the copy", s6_copy_writer, copy, 50);
    reap(w);
    reap(f);
    ASSERT_EQ(LD(reached[1]), n + 50);
    printf("ok 6b: a copy of the log without maplog.lock: the descriptor worked on its timer "
           "(readable after %.1f ms), the follower read all %d records, then %d more from a "
           "writer that came\n",
           ms_of(LD(lat[1][0])), n, 50);
}

/* ---- 7. two followers asleep at once, woken by one append --------------------------------- */

static void s7_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 0);
    ST(final, NROUNDS);
    ST(wstage, 1);
    for (int round = 1; round <= NROUNDS; round++) {
        CHILD_UNTIL(LD(stage) >= (uint64_t)round);
        uint64_t c0 = w_wake_calls(log);
        ST(t_ns, mono_ns());
        w_append(log);
        ST(delta[round - 1], w_wake_calls(log) - c0);
        ST(wstage, round + 1);
    }
    CHILD_UNTIL(LD(stage) > NROUNDS);
    w_close(log);
}

static void s7_follower(const char *dir, int i)
{
    maplog_reader *r = f_open(dir, 0);
    maplog_record rec;
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    for (uint64_t round = 1; round <= NROUNDS; round++) {
        ST(fready[i], round);
        int rc;
        uint64_t q0 = queued_ns();
        while ((rc = maplog_reader_next(r, &rec)) == MAPLOG_END)
            ASSERT_OK(maplog_reader_wait(r, -1));
        uint64_t now = mono_ns();
        ASSERT_TRUE(rc == 0, "next: %d %s", rc, maplog_reader_errmsg(r));
        check_rec(&rec, round - 1);
        ST(lat[i][round - 1], now - LD(t_ns));
        ST(queued[i][round - 1], queued_ns() - q0);
        ST(reached[i], round);
    }
    maplog_reader_close(r);
}

static void scenario7(const char *base)
{
    const char *dir = subdir(base, "two");
    reset_shared();
    kid *w = spawn("writer", s7_writer, dir, 0);
    UNTIL(LD(wstage) >= 1, 10000, "writer opened");
    kid *f0 = spawn("follower A", s7_follower, dir, 0);
    kid *f1 = spawn("follower B", s7_follower, dir, 1);
    double worst = 0;
    for (int round = 1; round <= NROUNDS; round++) {
        UNTIL(LD(fready[0]) >= (uint64_t)round && LD(fready[1]) >= (uint64_t)round, 10000,
              "both followers at round %d", round);
        until_asleep(f0);
        until_asleep(f1);
        ST(stage, round);
        UNTIL(LD(reached[0]) >= (uint64_t)round && LD(reached[1]) >= (uint64_t)round, 5000,
              "both followers read the record of round %d", round);
        UNTIL(LD(wstage) >= (uint64_t)round + 1, 5000, "writer's round %d", round);
        /* Both asleep since just before the append: a follower that the one wake call
         * missed would sleep out the rest of its 200 ms slice.  The time it waited for a
         * CPU once woken is the scheduler's, not the wake-up's. */
        for (int i = 0; i < 2; i++) {
            double ms = ms_of(LD(lat[i][round - 1])), q = ms_of(LD(queued[i][round - 1]));
            ASSERT_TRUE(ms - q < SLICE_MS / 2,
                        "round %d: follower %c woke %.1f ms after the append, %.1f ms of them "
                        "waiting for a CPU (a slice: %d ms)",
                        round, 'A' + i, ms, q, SLICE_MS);
            if (ms > worst)
                worst = ms;
        }
        ASSERT_EQ(LD(delta[round - 1]), 1); /* one FUTEX_WAKE for both */
    }
    ST(stage, NROUNDS + 1);
    reap(w);
    reap(f0);
    reap(f1);
    printf("ok 7: two followers asleep at once, both woken by one append with one wake call, "
           "%d times; the slowest woke %.3f ms after the append\n",
           NROUNDS, worst);
}

/* ---- 8. a follower's questions never make a writer's open fail -------------------------- */

/* A follower asks whether a writer holds the log at every MAPLOG_END, by taking a shared
 * lock on maplog.lock for an instant.  On a log no writer holds, a writer opening it then
 * must not take that instant for another writer. */
static void s8_prober(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, 0);
    maplog_record rec;
    maplog_reader_wait(r, 1); /* maps the wake page: from now on each END is one flock */
    uint64_t probes = 0;
    ST(fready[0], 1);
    while (LD(stage) < 1) {
        while (maplog_reader_next(r, &rec) == 0) {
        }
        probes++;
    }
    ST(reached[0], probes);
    maplog_reader_close(r);
}

static void s8_writer(const char *dir, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        maplog *log = w_open(dir, 0);
        w_append(log);
        maplog_close(log);
    }
}

static void scenario8(const char *base)
{
    const char *dir = subdir(base, "probed");
    const int rounds = 100;
    reset_shared();
    reap(spawn("writer (makes the log)", s8_writer, dir, 1));
    kid *p = spawn("follower (asks at every END)", s8_prober, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 5000, "the follower is not asking");
    reap(spawn("writer (opens and closes the log)", s8_writer, dir, rounds));
    ST(stage, 1);
    reap(p);
    printf("ok 8: %d writer opens, each while a follower asked whether a writer held the log "
           "(%" PRIu64 " times in all): none refused\n",
           rounds, LD(reached[0]));
}

/* ---- 9. maplog.lock replaced under a follower ------------------------------------------ */

/* The follower mapped the wake page of a maplog.lock that was then removed and made anew
 * (an operator's "stale lock" cleanup, a restore): the old file says no writer holds the
 * log, but a writer holds the new one, with a record reserved and not yet committed.  The
 * follower must wait for that record, not step over it as a crash's hole. */
static void s9_follower(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, 0);
    maplog_record rec;
    uint64_t expect = 1;
    while (maplog_reader_next(r, &rec) == 0) {
    }
    maplog_reader_wait(r, 1); /* maps the wake page of the first maplog.lock */
    ST(fready[0], 1);
    CHILD_UNTIL(LD(stage) >= 1);
    uint64_t end = mono_ns() + 5000000000ull;
    while (expect < 3 && mono_ns() < end) {
        int rc = maplog_reader_next(r, &rec);
        if (rc == 0) {
            ASSERT_TRUE(rec.seq == expect, "read seq %" PRIu64 ", expected %" PRIu64, rec.seq,
                        expect);
            expect++;
        } else {
            ASSERT_TRUE(rc == MAPLOG_END, "next: %d %s", rc, maplog_reader_errmsg(r));
            maplog_reader_wait(r, 100);
        }
    }
    int64_t holes = -1;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_HOLES, &holes));
    ASSERT_TRUE(expect == 3 && holes == 0, "read up to %" PRIu64 ", %" PRId64 " holes stepped over",
                expect, holes);
    maplog_reader_close(r);
}

static void s9_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 0);
    maplog_reservation res;
    ASSERT_OK(maplog_reserve(log, 1, &res)); /* seq 1: being written */
    ((char *)res.data)[0] = 'b';
    ASSERT_OK(maplog_append(log, "c", 1, NULL)); /* seq 2 */
    nap_us(300000);
    ASSERT_OK(maplog_commit(log, &res));
    w_close(log);
}

static void scenario9(const char *base)
{
    const char *dir = subdir(base, "relocked");
    reset_shared();
    reap(spawn("writer (makes the log)", s8_writer, dir, 1));
    kid *f = spawn("follower (holds the first maplog.lock)", s9_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 5000, "the follower is not ready");
    ASSERT_TRUE(unlink(t_path(dir, MLG_LOCK_NAME)) == 0, "unlink maplog.lock");
    kid *w = spawn("writer (a new maplog.lock, seq 1 committed late)", s9_writer, dir, 0);
    ST(stage, 1);
    reap(w);
    reap(f);
    printf("ok 9: maplog.lock replaced under a follower: it waited for the new writer's "
           "uncommitted record and read it, stepping over nothing\n");
}

/* ---- 10. a descriptor whose poke never comes ------------------------------------------- */

/* The follower waits on maplog_reader_fd(); its bit is taken out of the wake word without
 * a poke (what a writer that dies between its record and its poke leaves, or a writer of a
 * version without the page).  The descriptor must still become readable within a slice. */
static void s10_follower(const char *dir, int unused)
{
    (void)unused;
    maplog_reader *r = f_open(dir, 0);
    maplog_record rec;
    int fd = maplog_reader_fd(r);
    ASSERT_TRUE(fd >= 0, "maplog_reader_fd: %d", fd);
    while (maplog_reader_next(r, &rec) == 0) {
    }
    ST(fready[0], 1);
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        int n = poll(&p, 1, 5000);
        ASSERT_TRUE(n == 1, "no readiness in 5 s");
        if (maplog_reader_next(r, &rec) == 0)
            break;
    }
    ST(max_wait[0], mono_ns());
    ASSERT_TRUE(rec.seq == 1, "read seq %" PRIu64, rec.seq);
    maplog_reader_close(r);
}

static void s10_writer(const char *dir, int unused)
{
    (void)unused;
    maplog *log = w_open(dir, 0);
    ST(wstage, 1);
    CHILD_UNTIL(LD(stage) >= 1);
    w_append(log);
    ST(t_ns, mono_ns());
    CHILD_UNTIL(LD(stage) >= 2);
    w_close(log);
}

static void scenario10(const char *base)
{
    const char *dir = subdir(base, "nopoke");
    reset_shared();
    reap(spawn("writer (makes the log)", s8_writer, dir, 1));
    kid *w = spawn("writer (appends once, unpoked)", s10_writer, dir, 0);
    UNTIL(LD(wstage) >= 1, 5000, "the writer is not ready");
    /* mapped before the follower watches the file: closing it would make inotify say
     * IN_CLOSE_WRITE, a wake-up of its own */
    int lfd;
    uint32_t *word = map_wake_word(dir, &lfd);
    kid *f = spawn("follower (on its descriptor)", s10_follower, dir, 0);
    UNTIL(LD(fready[0]) >= 1, 5000, "the follower is not ready");
    UNTIL(__atomic_load_n(word, __ATOMIC_SEQ_CST) & MLG_WAKE_POLL, 5000,
          "the follower's bit is not in the wake word");
    clear_bits_in(word, MLG_WAKE_POLL);
    ST(stage, 1);
    reap(f);
    ST(stage, 2);
    reap(w);
    unmap_wake_word(word, lfd);
    uint64_t late = LD(max_wait[0]) - LD(t_ns);
    ASSERT_TRUE(late < 2000000000ull, "readable %.1f ms after the unpoked record", ms_of(late));
    printf("ok 10: a descriptor whose poke never came was readable %.1f ms later (a slice: "
           "%d ms)\n",
           ms_of(late), SLICE_MS);
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("follow");
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(sh != MAP_FAILED, "mmap: %s", strerror(errno));
    signal(SIGABRT, on_parent_signal);
    signal(SIGALRM, on_parent_signal);
    alarm(110); /* under ctest's 120 s: the children are killed, not left behind */

    scenario1(base);
    scenario2(base);
    scenario3(base);
    scenario4(base);
    scenario4b(base);
    scenario5(base);
    scenario6(base);
    scenario7(base);
    scenario8(base);
    scenario9(base);
    scenario10(base);

    alarm(0);
    munmap(sh, sizeof *sh);
    t_scratch_done();
    printf("10 passed, 0 failed\n");
    return 0;
}
