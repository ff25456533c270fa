/* test_kill.c -- a writer process killed with SIGKILL at random moments while appending
 * as fast as it can.  It reports every sequence number its append returned through a
 * pipe; after each kill the log is reopened: every reported record is present and
 * intact, sequence numbers are dense, and appending continues.  Seeded; the seed is
 * printed.  Rounds: argv[2] or $MAPLOG_KILL_ROUNDS (default 25). */
#include "harness.h"

#include <poll.h>
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

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    int rounds = argc > 2                       ? atoi(argv[2])
                 : getenv("MAPLOG_KILL_ROUNDS") ? atoi(getenv("MAPLOG_KILL_ROUNDS"))
                                                : 25;
    const char *dir = t_mkscratch("kill");
    uint64_t max_reported = 0, total_reported = 0;
    int any = 0;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        ASSERT_TRUE(pipe(p) == 0, "pipe");
        int durability = (int)(round % 3); /* none, async, sync-every */
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
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
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        for (uint64_t s = 0; s < next; s++) {
            CTX("round %d: checking seq %" PRIu64 " of %" PRIu64, round, s, next);
            rc = maplog_reader_next(r, &rec);
            ASSERT_TRUE(rc == 0, "rc %d: %s", rc, maplog_reader_errmsg(r));
            ASSERT_EQ(rec.seq, s);
            ASSERT_EQ(rec.len, len_of(s));
            t_fill(want, rec.len, s);
            ASSERT_MEM(rec.data, want, rec.len);
        }
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        maplog_reader_close(r);
        printf("round %2d: durability %d, killed after %6" PRIu64 " us, %" PRIu64
               " records in the log, last reported %" PRIu64 "\n",
               round, durability, delay_us, next, max_reported);
    }
    printf("%d rounds, %" PRIu64 " appends reported, all present\n", rounds, total_reported);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
