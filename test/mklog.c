/* mklog.c -- a test helper: write a log the tool tests can work on.
 *   mklog DIR N [--seg BYTES] [--crash] [--slow US] [--rate R] [--big] [--pad BYTES] [--hole K]
 * Record i's payload is deterministic: text for most, binary bytes for every 5th (so the
 * tool's hex and base64 paths are exercised), 4 KiB or more with --big.  --crash raises
 * SIGKILL instead of closing; --slow sleeps US microseconds between appends (a live log
 * for tail -f); --rate R appends R records a second, paced on the clock (a sleep's
 * granularity, 50-60 us, is too coarse at 10 K/s, so the last stretch is a spin).  --hole K
 * reserves a record before the K-th append and never commits it (a thread stuck between reserve and
 * commit), then ends as --crash does. */
#define _GNU_SOURCE
#include "maplog.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mklog_payload.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mklog DIR N [--seg BYTES] [--crash] [--slow US] [--big]\n");
        return 2;
    }
    long long n = atoll(argv[2]), seg = 64 << 20, slow = 0, pad = 0, hole = -1, rate = 0;
    int crash = 0, big = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--seg") && i + 1 < argc)
            seg = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--slow") && i + 1 < argc)
            slow = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--crash"))
            crash = 1;
        else if (!strcmp(argv[i], "--big"))
            big = 1;
        else if (!strcmp(argv[i], "--pad") && i + 1 < argc)
            pad = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--hole") && i + 1 < argc)
            hole = atoll(argv[++i]), crash = 1;
    }
    maplog *log;
    maplog_options *o;
    maplog_options_create(&o);
    maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, seg);
    int orc = maplog_open(&log, argv[1], o);
    maplog_options_free(o);
    if (orc) {
        fprintf(stderr, "mklog: %s\n", maplog_last_open_error());
        return 1;
    }
    static unsigned char buf[1 << 16];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long long i = 0; i < n; i++) {
        if (rate > 0) { /* record i is due at t0 + i / rate */
            long long due =
                (long long)t0.tv_sec * 1000000000LL + t0.tv_nsec + i * 1000000000LL / rate;
            for (;;) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                long long left = due - ((long long)now.tv_sec * 1000000000LL + now.tv_nsec);
                if (left <= 0)
                    break;
                if (left > 200000) {
                    struct timespec nap = {0, left - 150000};
                    nanosleep(&nap, NULL);
                }
            }
        }
        maplog_reservation res;
        if (i == hole) {
            if (maplog_reserve(log, 40, &res)) {
                fprintf(stderr, "mklog: %s\n", maplog_errmsg(log));
                return 1;
            }
            memset(res.data, 'h', 20); /* half written, never committed */
        }
        size_t len = mklog_payload(buf, sizeof buf, i, big, (size_t)pad);
        if (maplog_append(log, buf, len, NULL)) {
            fprintf(stderr, "mklog: %s\n", maplog_errmsg(log));
            return 1;
        }
        if (slow)
            usleep((useconds_t)slow);
    }
    if (crash)
        raise(SIGKILL);
    return maplog_close(log) ? 1 : 0;
}
