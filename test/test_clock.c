/* test_clock.c -- the TSC-derived record clock (src/clock.h) against clock_gettime.
 *
 * Every reading must fall between CLOCK_REALTIME read just before and just after it, give
 * or take the clock's error budget; the TSC path must actually be taken where the kernel
 * itself uses the TSC; and it must stay right across re-bases (idle gaps longer than the
 * re-base interval) and with several threads reading while one re-bases. */
#include "harness.h"

#include "clock.h"

#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* The error budget.  The true time of a reading lies between the clock_gettime() calls
 * around it, however long a preemption stretches that bracket, so anything outside it is
 * the clock's own error: a re-base measures the rate over >= 10 ms with ~50 ns of jitter,
 * so an extrapolation 50 ms out is off by well under half a microsecond.  A scale wrong by
 * one part in 10^4 is 5 us off by the next re-base, and fails. */
#define SLACK_NS 2000u

static uint64_t realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t worst_ns; /* largest distance outside [before, after] seen, main thread */

static uint64_t monotonic(void);

/* A step of the wall clock shows in the record clock until its next re-base (clock.h), so
 * for two re-base intervals after one, a reading may be off by the step.  Steps are told
 * from CLOCK_REALTIME against CLOCK_MONOTONIC, per thread; some hosts step it often (one
 * VM here: +500 us every 100 ms), and the record clock then turns the TSC off. */
static _Thread_local int64_t last_off;
static _Thread_local uint64_t step_at, step_size;

static uint64_t step_allowance(void)
{
    uint64_t m = monotonic(), r = realtime();
    int64_t off = (int64_t)(r - m);
    if (last_off) {
        uint64_t d = (uint64_t)(off > last_off ? off - last_off : last_off - off);
        if (d > 100000) {
            step_at = m;
            step_size = d;
        }
    }
    last_off = off;
    return step_at && m - step_at < 2u * MLG_CLOCK_REBASE_MS * 1000000u ? step_size : 0;
}

static void check_once(const char *what)
{
    uint64_t slack = SLACK_NS + step_allowance();
    uint64_t a = realtime(), t = mlg__clock_ns(), b = realtime();
    uint64_t off = t < a ? a - t : t > b ? t - b : 0;
    if (off > worst_ns && slack == SLACK_NS)
        worst_ns = off;
    CTX("%s: before %" PRIu64 " clock %" PRIu64 " after %" PRIu64, what, a, t, b);
    /* Preemption between the readings widens [a, b], never the clock's error. */
    ASSERT_TRUE(t + slack >= a && t <= b + slack, "timestamp %" PRId64 " ns outside",
                (int64_t)(t < a ? (int64_t)(t - a) : (int64_t)(t - b)));
}

static void *hammer(void *arg)
{
    uint64_t until = *(uint64_t *)arg, n = 0;
    while (realtime() < until) {
        uint64_t slack = SLACK_NS + step_allowance();
        uint64_t a = realtime(), t = mlg__clock_ns(), b = realtime();
        if (t + slack < a || t > b + slack) {
            fprintf(stderr, "thread: clock %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]\n", t, a,
                    b);
            abort();
        }
        n++;
    }
    return (void *)(uintptr_t)n;
}

static uint64_t monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME less CLOCK_MONOTONIC, from the tightest of five brackets: a reading that
 * a preemption stretched would look like a step. */
static int64_t wall_offset(void)
{
    uint64_t best = UINT64_MAX;
    int64_t off = 0;
    for (int k = 0; k < 5; k++) {
        uint64_t m0 = monotonic(), r = realtime(), m1 = monotonic();
        if (m1 - m0 < best) {
            best = m1 - m0;
            off = (int64_t)(r - (m0 + (m1 - m0) / 2));
        }
    }
    return off;
}

/* Does this host step its wall clock again and again?  CLOCK_REALTIME against
 * CLOCK_MONOTONIC, every 5 ms for 300 ms: a jump of more than 100 us in 5 ms is no NTP
 * slew (at most 500 ppm: 2.5 us).  Seen on a VM: +500 us every 100 ms. */
static int wall_clock_steps(uint64_t *largest)
{
    int64_t prev = wall_offset();
    int jumps = 0;
    *largest = 0;
    for (int i = 0; i < 60; i++) {
        struct timespec gap = {0, 5000000};
        nanosleep(&gap, NULL);
        int64_t off = wall_offset();
        uint64_t d = (uint64_t)(off > prev ? off - prev : prev - off);
        if (d > 100000) {
            jumps++;
            if (d > *largest)
                *largest = d;
        }
        prev = off;
    }
    return jumps >= 2;
}

int main(void)
{
    /* A host whose wall clock is stepped again and again: timestamps extrapolated from the
     * TSC would lag each step until the next re-base, so the record clock must notice and
     * fall back to clock_gettime() -- after which every check below holds as well. */
    uint64_t step;
    int stepping = wall_clock_steps(&step);
    if (stepping) {
        /* long enough for the record clock to see three steps between its re-bases */
        uint64_t t0 = monotonic();
        while (monotonic() - t0 < 1500000000u)
            (void)mlg__clock_ns();
        ASSERT_TRUE(!mlg__clock_tsc_active(),
                    "the wall clock is stepped (up to %" PRIu64
                    " ns at a time), but after 1.5 s the record clock still extrapolates the TSC",
                    step);
        printf("the wall clock is stepped (up to %" PRIu64
               " ns at a time): the record clock fell back to clock_gettime()\n",
               step);
    }
    /* Calibration: the first MLG_CLOCK_FIRST_MS are clock_gettime() readings. */
    uint64_t start = realtime();
    while (realtime() - start < 30000000u)
        check_once("calibrating");
    int tsc = mlg__clock_tsc_active();
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    char cs[32] = "?";
    if (f) {
        if (!fgets(cs, sizeof cs, f))
            cs[0] = 0;
        fclose(f);
    }
    cs[strcspn(cs, "\n")] = 0;
    printf("kernel clocksource %s; record clock from the %s\n", cs,
           tsc ? "TSC" : "clock_gettime (no usable TSC)");
#if defined(__x86_64__) && !defined(MLG_NO_TSC)
    unsigned a, b, c, d;
    int invariant = __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8));
    if (invariant && strcmp(cs, "tsc") == 0 && !stepping)
        ASSERT_TRUE(tsc, "the kernel uses an invariant TSC, but the record clock does not");
#endif

    /* Steady use: many readings, across several re-bases. */
    start = realtime();
    while (realtime() - start < 200000000u)
        check_once("steady");
    /* Idle gaps longer than the re-base interval, then a burst each time. */
    for (int i = 0; i < 5; i++) {
        struct timespec gap = {0, (MLG_CLOCK_REBASE_MS + 20 * i) * 1000000L};
        nanosleep(&gap, NULL);
        for (int k = 0; k < 1000; k++)
            check_once("after an idle gap");
    }
    /* Monotone within one re-base interval, in one thread (the vDSO's clock is). */
    uint64_t prev = mlg__clock_ns();
    for (int k = 0; k < 100000; k++) {
        uint64_t t = mlg__clock_ns();
        CTX("reading %d", k);
        ASSERT_TRUE(t + SLACK_NS + step_allowance() >= prev, "went back %" PRIu64 " ns", prev - t);
        prev = t;
    }
    /* Threads reading while re-bases happen under them. */
    uint64_t until = realtime() + 300000000u;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, hammer, &until), 0);
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        void *n;
        pthread_join(th[i], &n);
        total += (uint64_t)(uintptr_t)n;
    }
    printf("ok: worst distance outside clock_gettime's bracket %" PRIu64 " ns; %" PRIu64
           " readings in 3 threads\n",
           worst_ns, total);
    return 0;
}
