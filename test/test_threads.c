/* test_threads.c -- many threads appending to one handle through many rollovers: every
 * record present exactly once, sequence numbers dense, every CRC intact, the payload the
 * one its thread wrote.  Run by the test script under ASan and TSan too.
 *
 * Rounds 0 and 1: all threads at once.  Round 2: threads taking turns in bursts that span
 * rollovers, so segments are owned (biased reservation, append.c) and revoked over and
 * over.  Round 3: one thread appending flat out, owning its segments, while another
 * appends a record now and then, revoking ownership in the middle of the owner's appends.
 *
 * Then, without relying on the scheduler: an owner stopped inside its plain reservation
 * while two threads revoke; neither may reserve before the owner is out. */
#include "harness.h"

#include "writer.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#define SEG (64 * 1024)
#define THREADS 4
#define PER_THREAD 20000

static maplog *log_;
static uint64_t seqs[THREADS][PER_THREAD];
static int round_;
static pthread_mutex_t turn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cv = PTHREAD_COND_INITIALIZER;
static int turn_;
static int count_[THREADS];   /* records each thread appends this round */
static _Atomic int progress_; /* round 3: records the owner has appended */

#define BURST 1500 /* round 2: records per turn, about 5 segments */

static void wait_turn(int t)
{
    pthread_mutex_lock(&turn_mu);
    while (turn_ % THREADS != t)
        pthread_cond_wait(&turn_cv, &turn_mu);
    pthread_mutex_unlock(&turn_mu);
}

static void pass_turn(void)
{
    pthread_mutex_lock(&turn_mu);
    turn_++;
    pthread_cond_broadcast(&turn_cv);
    pthread_mutex_unlock(&turn_mu);
}

/* payload: thread id, index, then filler derived from both */
static size_t len_of(int t, int i)
{
    return 16 + (size_t)((t * 7919 + i * 104729) % 300);
}

static void *appender(void *arg)
{
    int t = (int)(intptr_t)arg;
    unsigned char buf[400];
    for (int i = 0; i < count_[t]; i++) {
        if (round_ == 2 && i % BURST == 0) {
            if (i)
                pass_turn();
            wait_turn(t);
        }
        if (round_ == 3 && t == 1) { /* the intruder: a record every 2000 of the owner's */
            while (atomic_load(&progress_) < (i + 1) * 2000) {
                struct timespec pause = {0, 10000};
                nanosleep(&pause, NULL);
            }
        }
        size_t len = len_of(t, i);
        t_fill(buf, len, (unsigned long long)t << 32 | (unsigned)i);
        memcpy(buf, &t, 4);
        memcpy(buf + 4, &i, 4);
        int rc;
        switch (i % 3) {
        case 0:
            rc = maplog_append(log_, buf, len, &seqs[t][i]);
            break;
        case 1: {
            struct iovec iov[2] = {{buf, 8}, {buf + 8, len - 8}};
            rc = maplog_appendv(log_, iov, 2, &seqs[t][i]);
            break;
        }
        default: {
            maplog_reservation res;
            rc = maplog_reserve(log_, len, &res);
            if (!rc) {
                memcpy(res.data, buf, len);
                seqs[t][i] = res.seq;
                rc = maplog_commit(log_, &res);
            }
        }
        }
        if (rc) {
            fprintf(stderr, "thread %d append %d: %s\n", t, i, maplog_errmsg(log_));
            abort();
        }
        if (round_ == 3 && t == 0)
            atomic_store(&progress_, i + 1);
        if (i % 5000 == 4999 && maplog_sync(log_)) {
            fprintf(stderr, "sync: %s\n", maplog_errmsg(log_));
            abort();
        }
    }
    if (round_ == 2)
        pass_turn();
    return NULL;
}

/* ---- an owner preempted inside its plain reservation -------------------------------- */

static char fake_owner_; /* its address: a thread that owns the segment and is not running */
static _Atomic int intruders_done_;

static void *intruder(void *arg)
{
    uint64_t *seq = arg;
    if (maplog_append(log_, "x", 1, seq)) {
        fprintf(stderr, "intruder append: %s\n", maplog_errmsg(log_));
        abort();
    }
    atomic_fetch_add(&intruders_done_, 1);
    return NULL;
}

/* The owner of the segment being written, stopped inside its plain reservation (owner_busy
 * = 1) once it has loaded resv (v): a thread that is not running, about to reserve a record
 * of len bytes. */
typedef struct stopped_owner {
    mlg__wseg *s;
    uint64_t v;
    size_t len;
} stopped_owner;

static stopped_owner stop_owner(size_t len)
{
    mlg__wseg *s = atomic_load(&log_->cur);
    atomic_store(&s->owner, (uintptr_t)&fake_owner_);
    atomic_store(&s->owner_busy, 1);
    return (stopped_owner){s, atomic_load(&s->resv), len};
}

/* It resumes: its store of resv, then busy = 0, as append.c's reserve does.  Its seq. */
static uint64_t owner_resumes(const stopped_owner *o)
{
    atomic_store(&o->s->resv, o->v + (1ull << 32) + mlg__rec_size(o->len));
    atomic_store_explicit(&o->s->owner_busy, 0, memory_order_release);
    return o->s->first_seq + MLG_RESV_COUNT(o->v);
}

/* And publishes its record (zeros), so that the log can close and reads back whole. */
static void owner_publishes(const stopped_owner *o)
{
    uint8_t *rec = o->s->map + MLG_RESV_OFF(o->v);
    ASSERT_OK(maplog_commit(log_, &(maplog_reservation){
                                      .data = rec + MLG_REC_HEADER_SIZE,
                                      .len = o->len,
                                      .seq = o->s->first_seq + MLG_RESV_COUNT(o->v),
                                      .internal_ = {(uintptr_t)rec, (uintptr_t)log_, 0x6d6c6772u},
                                  }));
}

/* An owner thread is between its check of owner and its store of resv (owner_busy = 1)
 * when it is preempted.  The first thread to append revokes and waits for it; a second
 * thread must wait too, not take a sequence number the owner is about to take again. */
static void preempted_owner(const char *dir)
{
    CTX("an owner preempted inside its reservation");
    ASSERT_OK(t_open(&log_, dir, SEG, 0));
    stopped_owner own = stop_owner(1);
    mlg__wseg *s = own.s;
    pthread_t a, b;
    uint64_t sa = 0, sb = 0;
    pthread_create(&a, NULL, intruder, &sa);
    for (int i = 0; i < 5000 && atomic_load(&s->owner) == (uintptr_t)&fake_owner_; i++) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    ASSERT_TRUE(atomic_load(&s->owner) != (uintptr_t)&fake_owner_, "the revocation never began");
    pthread_create(&b, NULL, intruder, &sb);
    struct timespec pause = {0, 100 * 1000000};
    nanosleep(&pause, NULL);
    ASSERT_EQ(atomic_load(&intruders_done_), 0); /* both wait for the owner */
    uint64_t mine = owner_resumes(&own);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ASSERT_TRUE(sa != mine && sb != mine && sa != sb,
                "owner %" PRIu64 ", intruders %" PRIu64 " and %" PRIu64, mine, sa, sb);
    owner_publishes(&own);
    ASSERT_OK(maplog_close(log_));
    printf("a preempted owner: the two threads revoking waited for it (seqs %" PRIu64 ", %" PRIu64
           ", %" PRIu64 ")\n",
           mine, sa, sb);
}

/* ---- a revoker of real-time priority on the owner's CPU --------------------------------- */

static stopped_owner rt_owner_;
static _Atomic uint64_t rt_append_ns_; /* how long the real-time thread's append took */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *rt_intruder(void *arg)
{
    (void)arg;
    uint64_t t0 = now_ns(), seq;
    if (maplog_append(log_, "rt", 2, &seq)) {
        fprintf(stderr, "real-time append: %s\n", maplog_errmsg(log_));
        abort();
    }
    atomic_store(&rt_append_ns_, now_ns() - t0);
    return NULL;
}

/* The preempted owner, as an ordinary thread: once the revocation has begun, it finishes
 * its reservation, if it gets the CPU. */
static void *rt_owner(void *arg)
{
    (void)arg;
    while (atomic_load(&rt_owner_.s->owner) == (uintptr_t)&fake_owner_) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    owner_resumes(&rt_owner_);
    return NULL;
}

/* A thread of SCHED_FIFO priority appends while the segment's owner, an ordinary thread on
 * the same CPU, is stopped inside its reservation.  The revoker must let the owner run: had
 * it only yielded, the owner would run only in the time the kernel holds back from real-time
 * threads (50 ms a second by default), or never.  Skipped where real-time priority is not
 * permitted. */
static void rt_revoker(const char *dir)
{
    CTX("a real-time revoker on the owner's CPU");
    cpu_set_t was, one;
    ASSERT_TRUE(sched_getaffinity(0, sizeof was, &was) == 0, "sched_getaffinity: %s",
                strerror(errno));
    int cpu = 0;
    while (!CPU_ISSET(cpu, &was))
        cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_attr_t rt;
    pthread_attr_init(&rt);
    pthread_attr_setinheritsched(&rt, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&rt, SCHED_FIFO);
    pthread_attr_setschedparam(&rt, &(struct sched_param){.sched_priority = 1});
    pthread_attr_setaffinity_np(&rt, sizeof one, &one);
    pthread_attr_t plain;
    pthread_attr_init(&plain);
    pthread_attr_setaffinity_np(&plain, sizeof one, &one);

    ASSERT_OK(t_open(&log_, dir, SEG, 0));
    rt_owner_ = stop_owner(0);
    pthread_t o, r;
    ASSERT_TRUE(pthread_create(&o, &plain, rt_owner, NULL) == 0, "pthread_create");
    int rc = pthread_create(&r, &rt, rt_intruder, NULL);
    if (rc == 0) {
        pthread_join(r, NULL);
        pthread_join(o, NULL);
    } else {
        atomic_store(&rt_owner_.s->owner, 0); /* let the owner thread end */
        pthread_join(o, NULL);
    }
    pthread_attr_destroy(&rt);
    pthread_attr_destroy(&plain);
    /* the owner's record, reserved whether or not the revoker ran: the close waits for it */
    owner_publishes(&rt_owner_);
    ASSERT_OK(maplog_close(log_));
    if (rc) {
        printf("skipped: a real-time revoker (no SCHED_FIFO thread may be made here: %s)\n",
               strerror(rc));
        return;
    }
    uint64_t took = atomic_load(&rt_append_ns_);
    printf("a real-time revoker on the owner's CPU: its append took %.1f ms\n", (double)took / 1e6);
    /* The owner sleeps in 1 ms steps: a few of them, not the hundreds of milliseconds the
     * kernel's real-time throttling would leave it */
    ASSERT_TRUE(took < 400000000u, "the append took %.1f ms", (double)took / 1e6);
}

int main(int argc, char **argv)
{
    pthread_t th[THREADS];
    t_seed_init(argc, argv);
    const char *dir = t_mkscratch("threads");
    /* Is biased reservation possible here?  The same question append.c asks. */
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0u, 0);
    int bias = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    if (!bias)
        printf("skipped: the check that segment ownership changes hands (this kernel has no "
               "private expedited membarrier, so the writer does not bias segments)\n");
    for (int round = 0; round < 4; round++) {
        round_ = round;
        turn_ = 0;
        progress_ = 0;
        uint64_t total = 0;
        for (int t = 0; t < THREADS; t++) {
            count_[t] = round < 3 ? PER_THREAD : t == 0 ? PER_THREAD : t == 1 ? 9 : 0;
            total += (uint64_t)count_[t];
        }
        ASSERT_OK(t_open(&log_, dir, SEG, MAPLOG_OPT_FLUSH_BYTES, 32768LL, 0));
        uint64_t base;
        ASSERT_OK(maplog_next_seq(log_, &base));
        for (int t = 0; t < THREADS; t++)
            pthread_create(&th[t], NULL, appender, (void *)(intptr_t)t);
        for (int t = 0; t < THREADS; t++)
            pthread_join(th[t], NULL);
        uint64_t grants = atomic_load(&log_->bias_grants),
                 revokes = atomic_load(&log_->bias_revokes);
        ASSERT_OK(maplog_close(log_));
        printf("round %d: segment ownership granted %" PRIu64 " times, revoked %" PRIu64 " times\n",
               round, grants, revokes);
        if (bias && round >= 2) {
            /* The rounds must exercise what they are for. */
            CTX("round %d", round);
            ASSERT_TRUE(grants >= 2 && revokes >= 2, "ownership barely changed hands");
        }

        /* each seq returned exactly once, and they fill [base, base + total) */
        unsigned char *seen = calloc(total, 1);
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < count_[t]; i++) {
                uint64_t s = seqs[t][i];
                ASSERT_TRUE(s >= base && s < base + total, "seq %" PRIu64 " out of range", s);
                ASSERT_TRUE(!seen[s - base], "seq %" PRIu64 " returned twice", s);
                seen[s - base] = 1;
            }
        /* replay: every record where its seq says, with the payload its thread wrote */
        maplog_reader *r;
        maplog_record rec;
        unsigned char want[400];
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        ASSERT_OK(maplog_reader_seek(r, base));
        memset(seen, 0, total);
        for (uint64_t k = 0; k < total; k++) {
            int rc = maplog_reader_next(r, &rec);
            ASSERT_TRUE(rc == 0, "record %" PRIu64 ": %s", base + k, maplog_reader_errmsg(r));
            ASSERT_EQ(rec.seq, base + k);
            int t, i;
            memcpy(&t, rec.data, 4);
            memcpy(&i, (const char *)rec.data + 4, 4);
            ASSERT_TRUE(t >= 0 && t < THREADS && i >= 0 && i < PER_THREAD, "t %d i %d", t, i);
            ASSERT_EQ(seqs[t][i], rec.seq);
            ASSERT_EQ(rec.len, len_of(t, i));
            t_fill(want, rec.len, (unsigned long long)t << 32 | (unsigned)i);
            memcpy(want, &t, 4);
            memcpy(want + 4, &i, 4);
            ASSERT_MEM(rec.data, want, rec.len);
        }
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        int64_t segs;
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_close(r);
        free(seen);
        printf("round %d: %d threads, %" PRIu64 " records, %" PRId64
               " segments, all present once\n",
               round, THREADS, total, segs);
    }
    if (bias)
        preempted_owner(dir);
    if (bias)
        rt_revoker(dir);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
