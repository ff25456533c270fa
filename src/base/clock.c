/*
 * clock.c -- calibrating and re-basing the TSC scale of clock.h.
 *
 * A re-base reads the TSC, CLOCK_MONOTONIC and CLOCK_REALTIME together.  The rate comes from
 * CLOCK_MONOTONIC, which NTP slews exactly as it slews CLOCK_REALTIME but never steps, so a
 * step of the wall clock cannot corrupt the scale; the base comes from CLOCK_REALTIME, so a
 * step shows in the timestamps at the next re-base.  The first scale is measured over
 * MLG_CLOCK_FIRST_MS; until then every call is a clock_gettime().
 */
#define _GNU_SOURCE
#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && !defined(MLG_NO_TSC)
#include <cpuid.h>
#define MLG_HAVE_TSC 1
#endif

#define MLG_CLOCK_FIRST_MS 10
/* Re-check that the kernel still uses the TSC every this many re-bases (about a second). */
#define MLG_CLOCK_RECHECK 20

mlg__clock_state mlg__clock; /* rebase_ticks 0: every call takes the slow path */

static uint64_t clock_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef MLG_HAVE_TSC
static atomic_flag busy = ATOMIC_FLAG_INIT;
static _Atomic int tsc_off; /* the TSC is not usable: clock_gettime() from now on */
/* Under busy: */
static int tsc_state;                    /* 0 unknown, 1 usable, -1 not */
static unsigned checks;                  /* re-bases since the clocksource was last checked */
static uint64_t prev_tsc, prev_mono;     /* the last pair, 0 if none */
static uint64_t prev_real;               /* CLOCK_REALTIME at prev_mono */
static unsigned steps, calm;             /* wall-clock steps seen, and re-bases since one */
static uint64_t min_window = UINT64_MAX; /* tightest reading seen, in TSC ticks */

/* The CPU says the TSC is invariant, and the kernel's clocksource is the TSC. */
static int tsc_usable(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    if (!(d & (1u << 8)))
        return 0;
    char buf[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (!f)
        return 0;
    int ok = fgets(buf, sizeof buf, f) && strcmp(buf, "tsc\n") == 0;
    fclose(f);
    return ok;
}

static void publish(uint64_t tsc, uint64_t real, uint64_t mult, uint64_t ticks)
{
    uint32_t s = atomic_load_explicit(&mlg__clock.seq, memory_order_relaxed);
    atomic_store_explicit(&mlg__clock.seq, s + 1, memory_order_relaxed);
    /* Release stores: a reader that sees any new field sees the odd seq before it. */
    atomic_store_explicit(&mlg__clock.base_tsc, tsc, memory_order_release);
    atomic_store_explicit(&mlg__clock.base_ns, real, memory_order_release);
    atomic_store_explicit(&mlg__clock.mult, mult, memory_order_release);
    atomic_store_explicit(&mlg__clock.rebase_ticks, ticks, memory_order_release);
    atomic_store_explicit(&mlg__clock.seq, s + 2, memory_order_release);
}

/* Under busy.  Returns CLOCK_REALTIME now. */
static uint64_t rebase(void)
{
    if (tsc_state == 0 || ++checks >= MLG_CLOCK_RECHECK) {
        tsc_state = tsc_usable() ? 1 : -1;
        checks = 0;
    }
    if (tsc_state < 0) {
        atomic_store_explicit(&tsc_off, 1, memory_order_relaxed);
        publish(0, 0, 0, 0);
        return clock_read(CLOCK_REALTIME);
    }
    if (prev_tsc && !atomic_load_explicit(&mlg__clock.rebase_ticks, memory_order_relaxed) &&
        clock_read(CLOCK_MONOTONIC) - prev_mono < (uint64_t)MLG_CLOCK_FIRST_MS * 1000000u)
        return clock_read(CLOCK_REALTIME); /* still measuring the first rate */
    /* The tightest of three (tsc, monotonic, realtime) readings. */
    uint64_t tsc = 0, mono = 0, real = 0, best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = __rdtsc();
        uint64_t m = clock_read(CLOCK_MONOTONIC), r = clock_read(CLOCK_REALTIME);
        uint64_t t1 = __rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            tsc = t0 + (t1 - t0) / 2;
            mono = m;
            real = r;
        }
    }
    /* A reading stretched by preemption or an interrupt would skew the scale: use only
     * readings within 4x the tightest this process has seen. */
    if (best < min_window)
        min_window = best;
    if (best > 4 * min_window + 64)
        return real;
    if (!prev_tsc || tsc <= prev_tsc || mono <= prev_mono) {
        /* First reading, or the TSC went back (a reset across suspend): start over. */
        prev_tsc = tsc;
        prev_mono = mono;
        prev_real = real;
        publish(0, 0, 0, 0);
        return real;
    }
    if (mono - prev_mono < (uint64_t)MLG_CLOCK_FIRST_MS * 1000000u)
        return real; /* too soon to measure the rate well: keep the earlier reading */
    /* A wall clock that is stepped again and again (seen on a VM: +500 us every 100 ms)
     * cannot be followed between re-bases: timestamps would lag it by up to a step.  A
     * step is the wall clock moving against CLOCK_MONOTONIC by more than NTP's largest
     * slew (500 ppm) allows, plus 10 us; after three with fewer than 100 calm re-bases (about
     * 5 s) between them, every call is a clock_gettime(). */
    uint64_t dm = mono - prev_mono, dr = real - prev_real, slew = dm / 2000 + 10000;
    if (real < prev_real || (dr > dm ? dr - dm : dm - dr) > slew) {
        calm = 0;
        if (++steps >= 3) {
            atomic_store_explicit(&tsc_off, 1, memory_order_relaxed);
            publish(0, 0, 0, 0);
            return real;
        }
    } else if (++calm >= 100) {
        steps = 0; /* a step now and then (NTP at boot, an operator) is no pattern */
    }
    uint64_t mult = (uint64_t)(((unsigned __int128)(mono - prev_mono) << 32) / (tsc - prev_tsc));
    uint64_t ticks =
        mult ? (uint64_t)(((unsigned __int128)MLG_CLOCK_REBASE_MS * 1000000u << 32) / mult) : 0;
    prev_tsc = tsc;
    prev_mono = mono;
    prev_real = real;
    publish(tsc, real, mult, ticks);
    return real;
}
#endif

uint64_t mlg__clock_slow(void)
{
#ifdef MLG_HAVE_TSC
    if (!atomic_load_explicit(&tsc_off, memory_order_relaxed) &&
        !atomic_flag_test_and_set_explicit(&busy, memory_order_acquire)) {
        uint64_t ns = rebase();
        atomic_flag_clear_explicit(&busy, memory_order_release);
        return ns;
    }
#endif
    return clock_read(CLOCK_REALTIME); /* another thread is re-basing, or there is no TSC */
}
