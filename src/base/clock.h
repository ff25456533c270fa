/*
 * clock.h -- CLOCK_REALTIME in nanoseconds, for record timestamps, from the TSC.
 *
 * Every record carries the wall-clock time of its append.  clock_gettime() through the
 * vDSO cost 19 ns per call on the benchmark machine, a third of a 64-byte append, and most
 * of it is not the time-stamp counter read inside it but the call, the vDSO's sequence
 * lock and its conversion.  So we convert the TSC ourselves, with a scale of our own that
 * is re-based against clock_gettime():
 *
 *     ns = base_ns + ((tsc - base_tsc) * mult) >> 32
 *
 * This is done only where the TSC is trustworthy as a clock: an x86-64 CPU that says its
 * TSC is invariant (CPUID 0x80000007, EDX bit 8: one constant rate in every power state)
 * under a kernel that uses the TSC as its own clocksource (so it found the counters in
 * step across CPUs).  Anywhere else this is clock_gettime(CLOCK_REALTIME).
 *
 * The scale is re-based by whichever caller first finds it MLG_CLOCK_REBASE_MS old, so it
 * is always measured over at least that long: with about 50 ns of jitter on a pair of
 * readings, the rate is right to about one part in a million, and an extrapolated
 * timestamp is within about a tenth of a microsecond of clock_gettime's, plus whatever NTP
 * slewing changed meanwhile.  A step of the wall clock shows within MLG_CLOCK_REBASE_MS.
 * Timestamps can step backwards by that much at a re-base, as CLOCK_REALTIME itself can.
 */
#ifndef MLG_CLOCK_H
#define MLG_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#define MLG_CLOCK_REBASE_MS 50

typedef struct mlg__clock_state {
    _Atomic uint32_t seq; /* sequence lock: odd while the fields below change */
    _Atomic uint64_t base_tsc, base_ns, mult;
    _Atomic uint64_t rebase_ticks; /* re-base when tsc - base_tsc reaches this; 0: no TSC */
} mlg__clock_state;

extern mlg__clock_state mlg__clock;

/* The slow path: clock_gettime(), and calibrating or re-basing the scale when due. */
uint64_t mlg__clock_slow(void);

/* 1 while timestamps come from the TSC (a scale is published), 0 while from clock_gettime. */
static inline int mlg__clock_tsc_active(void)
{
    return atomic_load_explicit(&mlg__clock.rebase_ticks, memory_order_relaxed) != 0;
}

#if defined(__x86_64__) && !defined(MLG_NO_TSC)
#include <x86intrin.h>
static inline uint64_t mlg__clock_ns(void)
{
    uint64_t tsc = __rdtsc();
    /* A sequence lock without fences (which TSan cannot model): acquire loads of the
     * fields keep the second load of seq after them; on x86 they are plain loads. */
    uint32_t s = atomic_load_explicit(&mlg__clock.seq, memory_order_acquire);
    uint64_t bt = atomic_load_explicit(&mlg__clock.base_tsc, memory_order_acquire);
    uint64_t bn = atomic_load_explicit(&mlg__clock.base_ns, memory_order_acquire);
    uint64_t m = atomic_load_explicit(&mlg__clock.mult, memory_order_acquire);
    uint64_t lim = atomic_load_explicit(&mlg__clock.rebase_ticks, memory_order_acquire);
    /* tsc - bt < lim also fails for a TSC read before the base (another thread re-based
     * between our rdtsc and the loads): unsigned wrap-around. */
    if ((s & 1) || tsc - bt >= lim ||
        atomic_load_explicit(&mlg__clock.seq, memory_order_relaxed) != s)
        return mlg__clock_slow();
    return bn + (uint64_t)(((unsigned __int128)(tsc - bt) * m) >> 32);
}
#else
static inline uint64_t mlg__clock_ns(void)
{
    return mlg__clock_slow();
}
#endif

#endif
