/*
 * test_when.c -- the maplog tool's time parser and formatter (tools/cli/when.c), alone.
 *
 * Expected values were computed independently of when.c, with GNU date, e.g.
 *   date -u -d 2026-11-27T10:00:00Z +%s              -> 1795773600
 *   TZ=Europe/Berlin date -d '2026-11-27 10:00' +%s  -> 1795770000
 * Every case fixes now_ns, so nothing depends on the clock.  The round trip (what
 * when_format prints parses back to the same ns) runs over pseudo-random values from a
 * printed seed; rerun one with  test_when SEED  or  MAPLOG_TEST_SEED=SEED test_when.
 *
 * The old tool accepted 2026-13-45T99:99:99Z; here it is rejected ("month 13 is not 1-12").
 */
#define _GNU_SOURCE
#include "when.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S UINT64_C(1000000000)
#define ANY UINT64_MAX /* accepted, value not checked */

static int passed, failed;

/* A zone by name, or (without tzdata) the POSIX rule that agrees with it since 2007. */
static void use_zone(const char *name)
{
    static const struct {
        const char *name, *posix;
    } zones[] = {{"UTC", "UTC0"},
                 {"Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"},
                 {"Asia/Kolkata", "IST-5:30"},
                 {"America/New_York", "EST5EDT,M3.2.0,M11.1.0"}};
    const char *tz = name;
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    if (access(path, R_OK) != 0)
        for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
            if (strcmp(zones[i].name, name) == 0)
                tz = zones[i].posix;
    setenv("TZ", tz, 1);
    tzset();
}

/* 2026-11-27T10:00:00.5Z; 11:00:00.5 in Berlin, 15:30:00.5 in Kolkata */
#define NOW (UINT64_C(1795773600) * S + 500000000)

static const struct accept {
    const char *in;
    const char *tz; /* NULL: local = 0 (UTC); else local = 1 in this zone */
    uint64_t now, want;
} accepts[] = {
    /* absolute, UTC */
    {"2026-11-27T10:00:00Z", NULL, NOW, 1795773600 * S},
    {"2026-11-27t10:00:00z", NULL, NOW, 1795773600 * S},
    {"2026-11-27 10:00:00 UTC", NULL, NOW, 1795773600 * S},
    {"2026-11-27 10:00 utc", NULL, NOW, 1795773600 * S},
    {"2026-11-27T10:00UTC", NULL, NOW, 1795773600 * S},
    {"2026-11-27T10:00 Z", NULL, NOW, 1795773600 * S},
    {"2026-11-27T10:00", NULL, NOW, 1795773600 * S},
    {"2026-11-27 10:00:00", NULL, NOW, 1795773600 * S},
    {"2026-11-27", NULL, NOW, 1795737600 * S},
    {"2026-11-27Z", NULL, NOW, 1795737600 * S},
    {"2026-11-27 UTC", NULL, NOW, 1795737600 * S},
    {"2026-11-27T10:00:00.5Z", NULL, NOW, 1795773600 * S + 500000000},
    {"2026-11-27T10:00:00.000000001Z", NULL, NOW, 1795773600 * S + 1},
    {"2026-11-27T10:00:00.123456789Z", NULL, NOW, 1795773600 * S + 123456789},
    {"2026-11-27T11:00:00.123456789+0100", NULL, NOW, 1795773600 * S + 123456789},
    {"2026-11-27T11:00:00.123456789+01:00", NULL, NOW, 1795773600 * S + 123456789},
    {"2026-11-27T11:00:00.123456789+01", NULL, NOW, 1795773600 * S + 123456789},
    {"2026-11-27 11:00:00 +01:00", NULL, NOW, 1795773600 * S},
    {"2026-11-27T10:00:00+0000", NULL, NOW, 1795773600 * S},
    {"2026-11-27T10:00:00-00:00", NULL, NOW, 1795773600 * S},
    {"2026-11-27T15:30:00+0530", NULL, NOW, 1795773600 * S},
    {"2026-11-27T05:30:00-04:30", NULL, NOW, 1795773600 * S},
    {"2026-11-27T10:00:00-0430", NULL, NOW, 1795789800 * S},
    {"2026-11-27T10:00+18:00", NULL, NOW, (1795773600 - 64800) * S},
    {"2026-11-27T10:00-18:00", NULL, NOW, (1795773600 + 64800) * S},
    {"2024-02-29", NULL, NOW, 1709164800 * S},
    {"2000-02-29T00:00Z", NULL, NOW, 951782400 * S},
    {"2000-03-01", NULL, NOW, 951868800 * S},
    {"2100-02-28", NULL, NOW, 4107456000 * S},
    {"1970-01-01T00:00:00Z", NULL, NOW, 0},
    {"1969-12-31T19:00:00-0500", NULL, NOW, 0},
    {"2262-04-11T23:47:16.854775807Z", NULL, NOW, UINT64_C(9223372036854775807)},
    {"2026-03-29T03:00:00+0200", NULL, NOW, 1774746000 * S},
    /* absolute, local */
    {"2026-11-27 10:00", "Europe/Berlin", NOW, 1795770000 * S},
    {"2026-11-27T10:00:00.25", "Europe/Berlin", NOW, 1795770000 * S + 250000000},
    {"2026-07-01T12:00", "Europe/Berlin", NOW, 1782900000 * S},
    {"2026-11-27T10:00Z", "Europe/Berlin", NOW, 1795773600 * S},
    {"2026-11-27T10:00:00+0530", "Europe/Berlin", NOW, 1795753800 * S},
    {"2026-11-27 10:00", "Asia/Kolkata", NOW, 1795753800 * S},
    {"1970-01-01", "America/New_York", NOW, 18000 * S},
    {"2026-03-29 02:30", "Europe/Berlin", NOW, ANY}, /* skipped by DST: as mktime resolves */
    /* @ */
    {"@0", NULL, NOW, 0},
    {"@1.5", NULL, NOW, 1500000000},
    {"@1795773600.123456789", NULL, NOW, 1795773600 * S + 123456789},
    {"@1795773600.1", "Europe/Berlin", NOW, 1795773600 * S + 100000000},
    {"@9223372036.854775807", NULL, NOW, UINT64_C(9223372036854775807)},
    /* time of day: today at that time */
    {"08:15", NULL, NOW, (1795737600 + 29700) * S},
    {"08:15:30.25Z", NULL, NOW, (1795737600 + 29730) * S + 250000000},
    {"08:15", "Europe/Berlin", NOW, (1795734000 + 29700) * S},
    {"08:15 UTC", "Europe/Berlin", NOW, (1795737600 + 29700) * S},
    {"08:15+05:30", NULL, NOW, (1795737600 + 29700 - 19800) * S},
    /* 2026-11-30T23:00Z: still Nov 30 in UTC, already Dec 1 in Berlin */
    {"00:30", NULL, 1796079600 * S, (1795996800 + 1800) * S},
    {"00:30", "Europe/Berlin", 1796079600 * S, (1796079600 + 1800) * S},
    /* words */
    {"now", NULL, NOW, NOW},
    {"now", "Europe/Berlin", NOW, NOW},
    {"today", NULL, NOW, 1795737600 * S},
    {"yesterday", NULL, NOW, (1795737600 - 86400) * S},
    {"tomorrow", NULL, NOW, (1795737600 + 86400) * S},
    {"today", "Europe/Berlin", NOW, 1795734000 * S},
    {"yesterday", "Europe/Berlin", NOW, (1795734000 - 86400) * S},
    {"tomorrow", "Europe/Berlin", NOW, (1795734000 + 86400) * S},
    {"today UTC", "Europe/Berlin", NOW, 1795737600 * S},
    {"today", "Asia/Kolkata", NOW, 1795717800 * S},
    {"today", NULL, 1796079600 * S, 1795996800 * S},
    {"today", "Europe/Berlin", 1796079600 * S, 1796079600 * S},
    {"yesterday", "Europe/Berlin", 1796079600 * S, 1795993200 * S},
    {"tomorrow", "Europe/Berlin", 1796079600 * S, 1796166000 * S},
    /* across the spring DST change (2026-03-29T12:00Z): the days are 24 h and 23 h */
    {"today", "Europe/Berlin", 1774785600 * S, 1774738800 * S},
    {"yesterday", "Europe/Berlin", 1774785600 * S, 1774652400 * S},
    {"tomorrow", "Europe/Berlin", 1774785600 * S, 1774821600 * S},
    {"today", NULL, 86399 * S, 0},
    /* relative */
    {"-1h", NULL, NOW, NOW - 3600 * S},
    {"- 1h", NULL, NOW, NOW - 3600 * S},
    {"+30min", NULL, NOW, NOW + 1800 * S},
    {"-1h 30min", NULL, NOW, NOW - 5400 * S},
    {"-1h30min", NULL, NOW, NOW - 5400 * S},
    {"1 hour ago", NULL, NOW, NOW - 3600 * S},
    {"2 days ago", NULL, NOW, NOW - 2 * 86400 * S},
    {"5min ago", NULL, NOW, NOW - 300 * S},
    {"1h30min ago", NULL, NOW, NOW - 5400 * S},
    {"3 days left", NULL, NOW, NOW + 3 * 86400 * S},
    {"+1.5h", NULL, NOW, NOW + 5400 * S},
    {"1.5h ago", "Europe/Berlin", NOW, NOW - 5400 * S},
    {"+.5s", NULL, NOW, NOW + 500000000},
    {"+1w", NULL, NOW, NOW + 604800 * S},
    {"+2 weeks", NULL, NOW, NOW + 2 * 604800 * S},
    {"1M ago", NULL, NOW, NOW - 2629800 * S},
    {"2 months ago", NULL, NOW, NOW - 2 * 2629800 * S},
    {"1y ago", NULL, NOW, NOW - 31557600 * S},
    {"+2.5y", NULL, NOW, NOW + 78894000 * S},
    {"-10 seconds", NULL, NOW, NOW - 10 * S},
    {"-10sec 5ms 3us 2ns", NULL, NOW, NOW - 10 * S - 5000000 - 3000 - 2},
    {"+1.5us", NULL, NOW, NOW + 1500},
    {"+1.0000001us", NULL, NOW, NOW + 1000}, /* finer than 1 ns: dropped */
    {"+0.000000001s", NULL, NOW, NOW + 1},
    {"-2hr", NULL, NOW, NOW - 7200 * S},
    {"-0s", NULL, NOW, NOW},
    {"-1s", NULL, 1 * S, 0},
};

static const struct reject {
    const char *in;
    const char *tz;
    const char *reason; /* a part the reason must contain, or NULL */
} rejects[] = {
    {"", NULL, "empty"},
    {"2026-13-45T99:99:99Z", NULL, "month 13 is not 1-12"},
    {"2026-00-10", NULL, "month 0 is not 1-12"},
    {"2026-01-00", NULL, "day 0"},
    {"2026-01-32", NULL, "January 2026 has 31 days"},
    {"2026-02-29", NULL, "February 2026 has 28 days"},
    {"2026-02-30", NULL, "2026-02-30: February 2026 has 28 days"},
    {"2100-02-29", NULL, "February 2100 has 28 days"},
    {"2026-04-31", NULL, "April 2026 has 30 days"},
    {"2026-11-27T24:00", NULL, "hour 24"},
    {"2026-11-27T99:00", NULL, "hour 99"},
    {"2026-11-27T23:60", NULL, "minute 60"},
    {"2026-11-27T23:59:60Z", NULL, "second 60"},
    {"2026-11-27T10:00:00.1234567891Z", NULL, "more than 9 digits"},
    {"2026-11-27T10:00:00.Z", NULL, "1-9 digits"},
    {"2026-11-27T10:00:00.", NULL, NULL},
    {"2026-11-27T10:00.5", NULL, NULL},
    {"2026-11-27T10:00Zx", NULL, "unexpected"},
    {"2026-11-27x", NULL, "unexpected"},
    {"2026-11-27T", NULL, NULL},
    {"2026-11-27T1:00", NULL, NULL},
    {"2026-11-27  10:00", NULL, NULL},
    {"2026-1-27", NULL, NULL},
    {"26-11-27", NULL, NULL},
    {"2026-11-27T10:00:00+01:0", NULL, NULL},
    {"2026-11-27T10:00:00+1", NULL, NULL},
    {"2026-11-27T10:00:00+18:01", NULL, "18:00"},
    {"2026-11-27T10:00:00-19", NULL, "18:00"},
    {"2026-11-27T10:00:00+0160", NULL, "minute 60"},
    {"2026-11-27T10:00:00 CET", NULL, NULL},
    {"1968-01-01", NULL, "before 1970"},
    {"0000-01-01", NULL, "before 1970"},
    {"1969-12-31T23:59:59Z", NULL, "before 1970"},
    {"1970-01-01T00:30+01:00", NULL, "before 1970"},
    {"1970-01-01", "Europe/Berlin", "before 1970"},
    {"2263-01-01", NULL, "after 2262"},
    {"9999-12-31", NULL, "after 2262"},
    {"2262-04-11T23:47:16.854775808Z", NULL, "after 2262"},
    {"2262-12-31", NULL, "after 2262"},
    {"@", NULL, NULL},
    {"@-1", NULL, NULL},
    {"@1.", NULL, NULL},
    {"@1x", NULL, NULL},
    {"@1.1234567891", NULL, "more than 9 digits"},
    {"@9223372036.854775808", NULL, "after 2262"},
    {"@9223372037", NULL, "after 2262"},
    {"@99999999999999999999999999", NULL, "after 2262"},
    {" now", NULL, "blank"},
    {"now ", NULL, "blank"},
    {"Now", NULL, "unknown time"},
    {"noon", NULL, "unknown time"},
    {"today x", NULL, "unexpected"},
    {"todayy", NULL, "unknown time"},
    {"10:00x", NULL, "unexpected"},
    {"25:00", NULL, "hour 25"},
    {"10:61", NULL, "minute 61"},
    {"10", NULL, NULL},
    {"1h", NULL, "sign"},
    {"-5", NULL, "needs a unit"},
    {"5 ago", NULL, "needs a unit"},
    {"1hx ago", NULL, "unknown unit 'hx'"},
    {"-1hx", NULL, "unknown unit 'hx'"},
    {"-1H", NULL, "unknown unit 'H'"},
    {"-1h ago", NULL, "not both"},
    {"+", NULL, "empty time span"},
    {"-", NULL, "empty time span"},
    {"- ", NULL, "blank"},
    {"ago", NULL, NULL},
    {" ago", NULL, NULL},
    {"-1.h", NULL, "1-9 digits"},
    {"-.h", NULL, "expected a number"},
    {"-h", NULL, "expected a number"},
    {"-1.1234567891h", NULL, "more than 9 digits"},
    {"-100y", NULL, "before 1970"},
    {"-2s", NULL, "before 1970"}, /* with now = 1 s, see below */
    {"+300y", NULL, "after 2262"},
    {"+99999999999999999999h", NULL, "too large"},
    {"+18446744073709551615s", NULL, "too large"},
    {"+9999999999999h", NULL, "too large"},
    {"2026-11-27\n", NULL, NULL},
    {"\x01", NULL, NULL},
};

static void check_accept(const struct accept *a)
{
    char err[160];
    uint64_t got = 12345;
    if (a->tz)
        use_zone(a->tz);
    int rc = when_parse(a->in, a->now, a->tz != NULL, &got, err, sizeof err);
    if (rc == 0 && (a->want == ANY || got == a->want)) {
        passed++;
        return;
    }
    failed++;
    if (rc != 0)
        printf("FAIL accept '%s' (%s): rejected: %s\n", a->in, a->tz ? a->tz : "UTC", err);
    else
        printf("FAIL accept '%s' (%s): got %" PRIu64 ", want %" PRIu64 "\n", a->in,
               a->tz ? a->tz : "UTC", got, a->want);
}

static void check_reject(const struct reject *r)
{
    char err[160];
    uint64_t got = 777;
    if (r->tz)
        use_zone(r->tz);
    /* "-2s" against now = 1 s; everything else against NOW */
    uint64_t now = strcmp(r->in, "-2s") == 0 ? 1 * S : NOW;
    memset(err, 'x', sizeof err);
    int rc = when_parse(r->in, now, r->tz != NULL, &got, err, sizeof err);
    int one_line = memchr(err, '\0', sizeof err) != NULL && strchr(err, '\n') == NULL;
    if (rc == -1 && got == 777 && err[0] != '\0' && one_line &&
        (!r->reason || strstr(err, r->reason))) {
        passed++;
        return;
    }
    failed++;
    if (rc != -1)
        printf("FAIL reject '%s': accepted as %" PRIu64 "\n", r->in, got);
    else
        printf("FAIL reject '%s': reason '%.*s', want it to contain '%s'%s\n", r->in,
               (int)sizeof err, err, r->reason ? r->reason : "(anything)",
               got != 777 ? " (and *ns was written)" : "");
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A value to round-trip: uniform over the range, near its ends, near DST changes, or with
 * a whole-second or millisecond fraction. */
static uint64_t pick(uint64_t *st)
{
    static const uint64_t spots[] = {0,
                                     1774746000 * S, /* 2026-03-29T01:00Z, Berlin spring */
                                     1792890000 * S, /* 2026-10-25T01:00Z, Berlin autumn */
                                     1795773600 * S,
                                     951782400 * S,
                                     UINT64_C(9223372036854775807)};
    uint64_t r = splitmix(st), v;
    switch (r % 4) {
    case 0: {
        uint64_t base = spots[(r >> 8) % (sizeof spots / sizeof spots[0])];
        uint64_t d = splitmix(st) % (7200 * S);
        v = base == 0 ? d : base == WHEN_MAX_NS ? base - d : (r >> 16) & 1 ? base + d : base - d;
        break;
    }
    case 1:
        v = splitmix(st) % (WHEN_MAX_NS / S + 1) * S;
        break;
    case 2:
        v = splitmix(st) % (WHEN_MAX_NS / 1000000 + 1) * 1000000;
        break;
    default:
        v = splitmix(st) % (WHEN_MAX_NS + 1);
        break;
    }
    return v;
}

static void round_trip(const char *zone, int local, uint64_t seed, int count)
{
    uint64_t st = seed;
    int bad = 0;
    if (local)
        use_zone(zone);
    for (int i = 0; i < count; i++) {
        uint64_t v = pick(&st), got = 0;
        char buf[40], err[160];
        when_format(buf, sizeof buf, v, local);
        int rc = when_parse(buf, NOW, local, &got, err, sizeof err);
        if (rc == 0 && got == v)
            continue;
        if (bad++ < 10)
            printf("FAIL round trip (%s): %" PRIu64 " -> '%s' -> %s%" PRIu64 "\n",
                   local ? zone : "UTC", v, buf, rc ? err : "", rc ? 0 : got);
    }
    if (bad)
        failed++;
    else
        passed++;
    printf("round trip %s%s: %d values, %d wrong\n", local ? "local " : "UTC", local ? zone : "",
           count, bad);
}

/* The formatter, on known values. */
static void check_format(uint64_t ns, const char *zone, const char *want)
{
    char buf[40];
    if (zone)
        use_zone(zone);
    when_format(buf, sizeof buf, ns, zone != NULL);
    if (strcmp(buf, want) == 0) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL format %" PRIu64 " (%s): got '%s', want '%s'\n", ns, zone ? zone : "UTC", buf,
           want);
}

int main(int argc, char **argv)
{
    uint64_t seed;
    const char *env = getenv("MAPLOG_TEST_SEED");
    if (argc > 1)
        seed = strtoull(argv[1], NULL, 0);
    else if (env && *env)
        seed = strtoull(env, NULL, 0);
    else
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("seed: %" PRIu64 "\n", seed);

    for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++)
        check_accept(&accepts[i]);
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++)
        check_reject(&rejects[i]);

    check_format(1795773600 * S + 123456789, NULL, "2026-11-27T10:00:00.123456789Z");
    check_format(1795773600 * S + 123456789, "Europe/Berlin", "2026-11-27T11:00:00.123456789+0100");
    check_format(1782900000 * S, "Europe/Berlin", "2026-07-01T12:00:00.000000000+0200");
    check_format(1795773600 * S, "Asia/Kolkata", "2026-11-27T15:30:00.000000000+0530");
    check_format(0, NULL, "1970-01-01T00:00:00.000000000Z");
    check_format(0, "America/New_York", "1969-12-31T19:00:00.000000000-0500");
    check_format(UINT64_C(9223372036854775807), NULL, "2262-04-11T23:47:16.854775807Z");

    /* A short buffer gets a truncated string, no overrun; a NULL err is allowed. */
    char small[8];
    uint64_t got;
    when_format(small, sizeof small, NOW, 0);
    if (strcmp(small, "2026-11") == 0 && when_parse("2026-02-30", NOW, 0, &got, NULL, 0) == -1)
        passed++;
    else {
        failed++;
        printf("FAIL short buffer: '%s'\n", small);
    }

    round_trip("UTC", 0, seed, 100000);
    round_trip("Europe/Berlin", 1, seed + 1, 100000);
    round_trip("Asia/Kolkata", 1, seed + 2, 100000);
    round_trip("America/New_York", 1, seed + 3, 100000);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
