/* test_kill.c -- a writer process killed with SIGKILL at random moments while appending
 * as fast as it can.  It reports every sequence number its append returned through a
 * pipe; after each kill the log is reopened: every reported record is present and
 * intact, sequence numbers are dense, and appending continues.  Seeded; the seed is
 * printed.  Rounds: argv[2] or $MAPLOG_KILL_ROUNDS (default 25). */
#include "harness.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#define SEG (1024 * 1024)

static size_t len_of(uint64_t seq)
{
    return (size_t)(seq * 2654435761u % 300);
}

static void child(const char *dir, int fd, int durability)
{
    maplog *log;
    unsigned char buf[300];
    uint64_t seq;
    if (t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)durability, 0))
        _exit(2);
    for (;;) {
        uint64_t next;
        maplog_next_seq(log, &next);
        t_fill(buf, len_of(next), next);
        if (maplog_append(log, buf, len_of(next), &seq) || seq != next)
            _exit(3);
        if (write(fd, &seq, sizeof seq) != sizeof seq)
            _exit(4);
    }
}

/* Every sequence number an append returned, over all rounds: a bitmap. */
static unsigned char *reported;
static size_t reported_cap;

static void note_reported(uint64_t seq)
{
    if (seq / 8 >= reported_cap) {
        size_t cap = reported_cap ? reported_cap : 1024;
        while (seq / 8 >= cap)
            cap *= 2;
        reported = realloc(reported, cap);
        if (!reported)
            abort();
        memset(reported + reported_cap, 0, cap - reported_cap);
        reported_cap = cap;
    }
    reported[seq / 8] |= (unsigned char)(1u << (seq % 8));
}

static int was_reported(uint64_t seq)
{
    return seq / 8 < reported_cap && (reported[seq / 8] >> (seq % 8) & 1);
}

/* The sequence numbers three-thread rounds added, [mt_from[i], mt_to[i]): their records
 * have random lengths. */
static uint64_t mt_from[4096], mt_to[4096];
static int n_mt;

static int in_mt_round(uint64_t seq)
{
    for (int i = 0; i < n_mt; i++)
        if (seq >= mt_from[i] && seq < mt_to[i])
            return 1;
    return 0;
}

/* Rounds with three appending threads: each builds its records in place (reserve, fill by
 * the sequence number it got, commit) and reports them once committed.  One of them, after
 * a random number of records, reserves one more, writes half of it and stops there, as a
 * thread would that is descheduled or stuck between reserve and commit when the process
 * is killed.  The other two go on: every record they report must survive. */
typedef struct mt_arg {
    maplog *log;
    int fd, stuck_after;    /* stuck_after < 0: never gets stuck */
    unsigned long long rng; /* the thread's own generator (xorshift), seeded by the round */
} mt_arg;

static void *mt_thread(void *p)
{
    mt_arg *a = p;
    maplog_reservation res;
    for (int i = 0;; i++) {
        a->rng ^= a->rng << 13;
        a->rng ^= a->rng >> 7;
        a->rng ^= a->rng << 17;
        size_t len = (size_t)(a->rng % 300);
        if (maplog_reserve(a->log, len, &res))
            _exit(3);
        if (i == a->stuck_after) {
            memset(res.data, 0x5a, len / 2);
            for (;;)
                pause(); /* never commits */
        }
        t_fill(res.data, len, res.seq);
        uint64_t seq = res.seq;
        if (maplog_commit(a->log, &res))
            _exit(3);
        if (write(a->fd, &seq, sizeof seq) != sizeof seq)
            _exit(4);
    }
    return NULL;
}

static void child_threads(const char *dir, int fd, int durability)
{
    maplog *log;
    pthread_t th[3];
    mt_arg a[3];
    if (t_open(&log, dir, SEG, MAPLOG_OPT_DURABILITY, (long long)durability, 0))
        _exit(2);
    for (int i = 0; i < 3; i++) {
        a[i] = (mt_arg){log, fd, i == 0 ? (int)t_rand_below(3000) : -1, t_rand() | 1};
        if (pthread_create(&th[i], NULL, mt_thread, &a[i]))
            _exit(5);
    }
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    int rounds = argc > 2                       ? atoi(argv[2])
                 : getenv("MAPLOG_KILL_ROUNDS") ? atoi(getenv("MAPLOG_KILL_ROUNDS"))
                                                : 25;
    const char *dir = t_mkscratch("kill");
    uint64_t max_reported = 0, total_reported = 0, total_voids = 0;
    int rounds_voided = 0;
    int any = 0;
    uint64_t first_of_round = 0;
    if (rounds > 4096)
        rounds = 4096;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        ASSERT_TRUE(pipe(p) == 0, "pipe");
        /* none, async, sync-every; every other pair of rounds three threads, one stuck
         * (not sync-every: a sync waits for the stuck record, as it must) */
        int threads = round % 4 >= 2;
        int durability = threads ? (int)(round % 2) : (int)(round % 3);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            t_rng_state ^= (unsigned long long)round * 0x9e3779b97f4a7c15ull;
            if (threads)
                child_threads(dir, p[1], durability);
            child(dir, p[1], durability);
        }
        close(p[1]);
        uint64_t delay_us = 2000 + t_rand_below(60000);
        uint64_t t0 = 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        t0 = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
        int killed = 0;
        for (;;) {
            struct pollfd pfd = {p[0], POLLIN, 0};
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t t = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
            if (!killed && t - t0 >= delay_us) {
                kill(pid, SIGKILL);
                killed = 1;
            }
            if (poll(&pfd, 1, killed ? 1000 : 1) <= 0 && !killed)
                continue;
            uint64_t buf[512];
            ssize_t n = read(p[0], buf, sizeof buf);
            if (n <= 0)
                break;
            for (ssize_t i = 0; i < n / 8; i++) {
                if (buf[i] > max_reported || !any)
                    max_reported = buf[i];
                any = 1;
                total_reported++;
                note_reported(buf[i]);
            }
        }
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child ended with status %d", st);

        /* reopen: recovery must succeed and keep every reported record */
        maplog *log;
        uint64_t next;
        CTX("round %d (durability %d), killed after %" PRIu64 " us", round, durability, delay_us);
        int rc = t_open(&log, dir, SEG, 0);
        ASSERT_TRUE(rc == 0, "reopen: %s", maplog_last_open_error());
        ASSERT_OK(maplog_next_seq(log, &next));
        ASSERT_TRUE(!any || next > max_reported,
                    "next seq %" PRIu64 " but seq %" PRIu64 " was reported appended", next,
                    max_reported);
        ASSERT_OK(maplog_close(log));

        maplog_reader *r;
        maplog_record rec;
        unsigned char want[300];
        if (threads)
            mt_from[n_mt] = first_of_round, mt_to[n_mt++] = next;
        ASSERT_OK(maplog_reader_open(&r, dir, MAPLOG_READER_VOIDS));
        uint64_t voids = 0;
        for (uint64_t s = 0; s < next; s++) {
            CTX("round %d: checking seq %" PRIu64 " of %" PRIu64, round, s, next);
            rc = maplog_reader_next(r, &rec);
            ASSERT_TRUE(rc == 0, "rc %d: %s", rc, maplog_reader_errmsg(r));
            ASSERT_EQ(rec.seq, s);
            if (rec.flags & MAPLOG_RECORD_VOID) { /* a reservation the kill cut short */
                ASSERT_TRUE(!was_reported(s), "acknowledged record %" PRIu64 " came back void", s);
                voids += s >= first_of_round; /* this round's */
                continue;
            }
            if (!in_mt_round(s))
                ASSERT_EQ(rec.len, len_of(s));
            t_fill(want, rec.len, s);
            ASSERT_MEM(rec.data, want, rec.len);
        }
        total_voids += voids;
        if (voids && threads)
            rounds_voided++;
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        maplog_reader_close(r);
        first_of_round = next;
        printf("round %2d: %d thread%s, durability %d, killed after %6" PRIu64 " us, %" PRIu64
               " records in the log (%" PRIu64 " void), last reported %" PRIu64 "\n",
               round, threads ? 3 : 1, threads ? "s" : "", durability, delay_us, next, voids,
               max_reported);
    }
    printf("%d rounds, %" PRIu64 " appends reported, all present; %" PRIu64
           " void records, in %d of the three-thread rounds\n",
           rounds, total_reported, total_voids, rounds_voided);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
