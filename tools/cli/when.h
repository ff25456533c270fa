/*
 * when.h -- the maplog tool's times: a strict parser and a formatter.
 *
 * Times are uint64_t nanoseconds since 1970-01-01T00:00:00Z (POSIX time: no leap seconds).
 * No globals, no printing, no floating point; the zone (UTC or local) is an argument, so the
 * meaning of a time never depends on the order of command-line options.
 *
 * Accepted by when_parse (modelled on systemd 252's parse_timestamp, as journalctl --since
 * takes it; differences are marked [systemd: ...]).  The whole string must match: no leading
 * or trailing blanks, nothing after the time.
 *
 *   @SECONDS[.FRACTION]
 *       Seconds since the epoch, exact to the nanosecond.  @1795773600.5
 *
 *   DATE[SEP TIME][ZONE]
 *       DATE  YYYY-MM-DD (four-digit year, two-digit month and day).
 *             [systemd: also YY-MM-DD and a weekday prefix; not accepted here]
 *       SEP   'T', 't' or one space.  [systemd 252: a space only]
 *       TIME  HH:MM, HH:MM:SS or HH:MM:SS.FRACTION (two digits each).  A date alone is 00:00.
 *       ZONE  optionally after one space:
 *               Z or z                UTC
 *               UTC (any case)        UTC
 *               +HH:MM -HH:MM +HHMM -HHMM +HH -HH
 *                                     an offset east (+) or west (-) of UTC, at most 18:00
 *             [systemd 252: only UTC or a zone name; Z and offsets are not accepted there]
 *       Without a zone the time is UTC, or local time when `local` is set.  A local time
 *       that does not exist (skipped at a DST change) or exists twice (repeated) is resolved
 *       as mktime() with tm_isdst = -1 resolves it; give an offset to be exact.
 *       So both forms when_format prints parse back to the same ns:
 *           2026-11-27T10:00:00.123456789Z   2026-11-27T11:00:00.123456789+0100
 *
 *   TIME[ZONE]
 *       HH:MM[:SS[.FRACTION]] alone: that time today, today being the current day (of now_ns)
 *       in the zone that applies (the given zone, else local time or UTC as above).
 *
 *   now | today | yesterday | tomorrow      (lower case, optionally followed by ZONE)
 *       now_ns; 00:00 of the current day, the day before, the day after, in the zone that
 *       applies as above.  A midnight skipped by a DST change resolves as mktime does.
 *
 *   +SPAN | -SPAN | SPAN ago | SPAN left
 *       now_ns plus or minus SPAN ("ago" = minus, "left" = plus; blanks may follow the sign).
 *       SPAN is one or more NUMBER[ ]UNIT, optionally separated by blanks: -1h 30min,
 *       1h30min ago, 2 days ago, +1.5h.  NUMBER is digits with an optional .FRACTION (or
 *       .FRACTION alone).  UNIT is case-sensitive ("M" is months, "m" minutes):
 *           ns nsec | us usec | ms msec | s sec second seconds | m min minute minutes |
 *           h hr hour hours | d day days | w week weeks |
 *           M month months (2629800 s = 30.4375 days = 1/12 year; systemd's man page rounds
 *           it to 30.44 days) | y year years (365.25 days)
 *       Each term is computed exactly in integer ns (a fraction finer than 1 ns of its unit
 *       is dropped).  [systemd: a number without a unit is seconds; here it is an error]
 *
 * FRACTION is 1 to 9 digits (the resolution is 1 ns); 10 or more digits are rejected rather
 * than silently truncated [systemd rounds to microseconds].
 *
 * Rejected, each with a one-line reason:
 *   - impossible dates and times: month 0 or 13+, day 0 or past the month's end (Feb 29 only
 *     in leap years), hour 24+, minute 60+, second 60+ [systemd normalizes 2026-02-30 to
 *     March 2 and :60 to the next minute].  Second 60 is rejected because ns since the epoch
 *     has no leap seconds: a leap second is not a distinct instant there.
 *   - years written before 1969 or after 2262 (1969 is let through only so that an instant
 *     just after the epoch, written with a western offset or in a western local zone, e.g.
 *     1969-12-31T19:00:00-0500, still parses);
 *   - any result before 1970-01-01T00:00:00Z, and any result after
 *     2262-04-11T23:47:16.854775807Z (INT64_MAX ns).  uint64 ns would last until 2554; this
 *     earlier limit keeps every accepted time valid as a signed 64-bit ns count too;
 *   - offsets beyond 18:00, unknown units, numbers that overflow, an empty string, blanks
 *     or anything else left over after the time.
 */
#ifndef MAPLOG_WHEN_H
#define MAPLOG_WHEN_H

#include <stddef.h>
#include <stdint.h>

/* The latest time when_parse accepts: INT64_MAX ns, 2262-04-11T23:47:16.854775807Z. */
#define WHEN_MAX_NS ((uint64_t)INT64_MAX)

/* Format ns (since the epoch) as 2026-11-27T10:00:00.123456789Z (UTC) or, with local != 0,
 * 2026-11-27T11:00:00.123456789+0100 (local time, strftime %z).  buf of at least 40 bytes
 * (a shorter buf gets a truncated, NUL-terminated string).  Should the C library fail to
 * break the time down, it is written as @SECONDS.NANOSECONDS, which also parses back. */
void when_format(char *buf, size_t n, uint64_t ns, int local);

/* Parse s (grammar above) into *ns.  now_ns is "now" (the caller reads the clock once per
 * command, so every relative time of one command agrees); local != 0 means times without a
 * zone, and the words today/yesterday/tomorrow, are in local time (else UTC).  Returns 0, or
 * -1 with a one-line reason in err (e.g. "month 13 is not 1-12", "2026-02-30: February 2026
 * has 28 days", "unknown unit 'hx'"); *ns is left alone on failure.  err may be NULL when
 * errlen is 0. */
int when_parse(const char *s, uint64_t now_ns, int local, uint64_t *ns, char *err, size_t errlen);

#endif
