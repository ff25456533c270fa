/*
 * when.c -- the maplog tool's times: strict parsing and formatting (grammar in when.h).
 *
 * Calendar arithmetic is integer only; the C library is used for local time (localtime_r,
 * mktime) and for breaking a time down when formatting.  Every loop stops at the string's
 * end (or at a span's end pointer, which lies inside the string).
 */
#define _GNU_SOURCE
#include "when.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_PER_S UINT64_C(1000000000)
#define MAX_OFFSET_S (18 * 3600)

/* ---- formatting ---------------------------------------------------------------------- */

void when_format(char *buf, size_t n, uint64_t ns, int local)
{
    if (!buf || n == 0)
        return;
    time_t s = (time_t)(ns / NS_PER_S);
    unsigned frac = (unsigned)(ns % NS_PER_S);
    struct tm tm;
    char base[32], zone[16] = "Z";
    if (local ? !localtime_r(&s, &tm) : !gmtime_r(&s, &tm)) {
        snprintf(buf, n, "@%" PRIu64 ".%09u", ns / NS_PER_S, frac);
        return;
    }
    if (local && strftime(zone, sizeof zone, "%z", &tm) == 0)
        zone[0] = '\0';
    if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        base[0] = '\0';
    snprintf(buf, n, "%s.%09u%s", base, frac, zone);
}

/* ---- parsing state and errors -------------------------------------------------------- */

struct ctx {
    char *err;
    size_t errlen;
    uint64_t now_ns;
    int local;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        for (char *q = c->err; *q; q++) /* one line, whatever the input held */
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                *q = '?';
    }
    return -1;
}

/* At most this many characters of the input are quoted in a message. */
#define QUOTE 24
static int quote_len(const char *p)
{
    size_t n = strnlen(p, QUOTE);
    return (int)n;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Exactly `width` digits at *pp. */
static int fixed_digits(const char **pp, int width, int *out)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (!is_digit((*pp)[i]))
            return -1;
        v = v * 10 + ((*pp)[i] - '0');
    }
    *pp += width;
    *out = v;
    return 0;
}

/* After a '.': 1-9 digits, as ns (scaled to 9 digits) in *frac, the digit count in *digits.
 * Stops at `end` (or at the NUL, whichever comes first). */
static int fraction(struct ctx *c, const char **pp, const char *end, uint64_t *frac, int *ndigits)
{
    const char *p = *pp;
    uint64_t v = 0;
    int k = 0;
    while (p < end && is_digit(*p)) {
        if (k == 9)
            return fail(c, "fraction '%.*s' has more than 9 digits (the resolution is 1 ns)",
                        quote_len(*pp), *pp);
        v = v * 10 + (uint64_t)(*p - '0');
        k++;
        p++;
    }
    *ndigits = k;
    for (int i = k; i < 9; i++)
        v *= 10;
    *frac = v;
    *pp = p;
    return 0;
}

/* ---- calendar ------------------------------------------------------------------------ */

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

static const char *const month_name[12] = {"January",   "February", "March",    "April",
                                           "May",       "June",     "July",     "August",
                                           "September", "October",  "November", "December"};

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (y >= 1). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = yy / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Seconds (since the epoch, may be negative) to ns, checked against the accepted range. */
static int to_ns(struct ctx *c, int64_t secs, uint64_t frac, uint64_t *ns)
{
    if (secs < 0)
        return fail(c, "the time is before 1970-01-01T00:00:00Z");
    if ((uint64_t)secs > WHEN_MAX_NS / NS_PER_S || (uint64_t)secs * NS_PER_S > WHEN_MAX_NS - frac)
        return fail(c, "the time is after 2262-04-11T23:47:16.854775807Z (the last time a "
                       "signed 64-bit ns count holds)");
    *ns = (uint64_t)secs * NS_PER_S + frac;
    return 0;
}

/* A broken-down local time to seconds, as mktime resolves it (tm_isdst = -1). */
static int local_secs(struct ctx *c, int y, int mo, int d, int h, int mi, int s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31 &&
                             tm.tm_hour == 23 && tm.tm_min == 59 && tm.tm_sec == 59))
        return fail(c, "%04d-%02d-%02d %02d:%02d:%02d cannot be converted from local time", y, mo,
                    d, h, mi, s);
    *out = (int64_t)t;
    return 0;
}

/* The current day (of now_ns) in the zone that applies, as y-m-d. */
static int current_day(struct ctx *c, int has_zone, int off, int *y, int *mo, int *d)
{
    int64_t now_s = (int64_t)(c->now_ns / NS_PER_S);
    struct tm tm;
    time_t t;
    if (!has_zone && c->local) {
        t = (time_t)now_s;
        if (!localtime_r(&t, &tm))
            return fail(c, "the current time cannot be converted to local time");
    } else {
        t = (time_t)(floor_div(now_s + off, 86400) * 86400);
        if (!gmtime_r(&t, &tm))
            return fail(c, "the current time cannot be converted");
    }
    *y = tm.tm_year + 1900;
    *mo = tm.tm_mon + 1;
    *d = tm.tm_mday;
    return 0;
}

/* y-m-d h:mi:s in the zone that applies (offset `off` seconds east when has_zone) to
 * seconds since the epoch.  Fields must be valid; mday may be one past or before the month
 * (yesterday/tomorrow), which both paths normalize. */
static int civil_secs(struct ctx *c, int has_zone, int off, int y, int mo, int d, int h, int mi,
                      int s, int64_t *out)
{
    if (!has_zone && c->local)
        return local_secs(c, y, mo, d, h, mi, s, out);
    *out =
        days_from_civil(y, mo, 1) * 86400 + (int64_t)(d - 1) * 86400 + h * 3600 + mi * 60 + s - off;
    return 0;
}

/* ---- zones --------------------------------------------------------------------------- */

/* An optional zone at *pp, optionally after one space; must be followed by the end. */
static int zone_suffix(struct ctx *c, const char *p, int *has_zone, int *off)
{
    const char *start = p;
    *has_zone = 0;
    *off = 0;
    if (*p == '\0')
        return 0;
    if (*p == ' ')
        p++;
    if (*p == 'Z' || *p == 'z') {
        p++;
        *has_zone = 1;
    } else if ((p[0] == 'U' || p[0] == 'u') && (p[1] == 'T' || p[1] == 't') &&
               (p[2] == 'C' || p[2] == 'c')) {
        p += 3;
        *has_zone = 1;
    } else if (*p == '+' || *p == '-') {
        const char *z = p;
        int sign = *p == '-' ? -1 : 1, hh, mm = 0;
        p++;
        if (fixed_digits(&p, 2, &hh) < 0)
            return fail(c, "offset '%.*s' is not +HH, +HHMM or +HH:MM", quote_len(z), z);
        if (*p == ':') {
            p++;
            if (fixed_digits(&p, 2, &mm) < 0)
                return fail(c, "offset '%.*s' is not +HH, +HHMM or +HH:MM", quote_len(z), z);
        } else if (is_digit(*p)) {
            if (fixed_digits(&p, 2, &mm) < 0)
                return fail(c, "offset '%.*s' is not +HH, +HHMM or +HH:MM", quote_len(z), z);
        }
        if (mm > 59)
            return fail(c, "offset minute %d is not 0-59", mm);
        if (hh * 3600 + mm * 60 > MAX_OFFSET_S)
            return fail(c, "offset %c%02d:%02d is beyond 18:00 either way", *z, hh, mm);
        *off = sign * (hh * 3600 + mm * 60);
        *has_zone = 1;
    } else {
        return fail(c, "unexpected '%.*s' after the time", quote_len(start), start);
    }
    if (*p != '\0')
        return fail(c, "unexpected '%.*s' after the time", quote_len(p), p);
    return 0;
}

/* ---- absolute times ------------------------------------------------------------------ */

/* HH:MM[:SS[.FRACTION]] at *pp. */
static int clock_time(struct ctx *c, const char **pp, int *h, int *mi, int *s, uint64_t *frac)
{
    const char *p = *pp;
    *s = 0;
    *frac = 0;
    if (fixed_digits(&p, 2, h) < 0 || *p != ':')
        return fail(c, "time '%.*s' is not HH:MM[:SS[.FRACTION]]", quote_len(*pp), *pp);
    p++;
    if (fixed_digits(&p, 2, mi) < 0)
        return fail(c, "time '%.*s' is not HH:MM[:SS[.FRACTION]]", quote_len(*pp), *pp);
    if (*p == ':') {
        p++;
        if (fixed_digits(&p, 2, s) < 0)
            return fail(c, "time '%.*s' is not HH:MM[:SS[.FRACTION]]", quote_len(*pp), *pp);
        if (*p == '.') {
            int k;
            p++;
            if (fraction(c, &p, p + strlen(p), frac, &k) < 0)
                return -1;
            if (k == 0)
                return fail(c, "'.' after the seconds needs 1-9 digits");
        }
    }
    if (*h > 23)
        return fail(c, "hour %d is not 0-23", *h);
    if (*mi > 59)
        return fail(c, "minute %d is not 0-59", *mi);
    if (*s > 59)
        return fail(c, "second %d is not 0-59 (ns since the epoch counts no leap seconds)", *s);
    *pp = p;
    return 0;
}

static int parse_date_time(struct ctx *c, const char *s, uint64_t *ns)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, has_zone, off;
    uint64_t frac = 0;
    if (fixed_digits(&p, 4, &y) < 0 || *p++ != '-' || fixed_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        fixed_digits(&p, 2, &d) < 0)
        return fail(c, "date '%.*s' is not YYYY-MM-DD", quote_len(s), s);
    if (y < 1969)
        return fail(c, "year %d is before 1970", y);
    if (y > 2262)
        return fail(c, "year %d is after 2262 (the last year a signed 64-bit ns count reaches)", y);
    if (mo < 1 || mo > 12)
        return fail(c, "month %d is not 1-12", mo);
    if (d < 1)
        return fail(c, "day %d is not 1-31", d);
    if (d > days_in_month(y, mo))
        return fail(c, "%04d-%02d-%02d: %s %d has %d days", y, mo, d, month_name[mo - 1], y,
                    days_in_month(y, mo));
    if ((*p == 'T' || *p == 't' || *p == ' ') && is_digit(p[1])) {
        p++;
        if (clock_time(c, &p, &h, &mi, &sec, &frac) < 0)
            return -1;
    }
    if (zone_suffix(c, p, &has_zone, &off) < 0)
        return -1;
    int64_t secs;
    if (civil_secs(c, has_zone, off, y, mo, d, h, mi, sec, &secs) < 0)
        return -1;
    return to_ns(c, secs, frac, ns);
}

static int parse_time_of_day(struct ctx *c, const char *s, uint64_t *ns)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, has_zone, off;
    uint64_t frac;
    if (clock_time(c, &p, &h, &mi, &sec, &frac) < 0 || zone_suffix(c, p, &has_zone, &off) < 0)
        return -1;
    int64_t secs;
    if (current_day(c, has_zone, off, &y, &mo, &d) < 0 ||
        civil_secs(c, has_zone, off, y, mo, d, h, mi, sec, &secs) < 0)
        return -1;
    return to_ns(c, secs, frac, ns);
}

/* now, today, yesterday, tomorrow, with an optional zone. */
static int parse_word(struct ctx *c, const char *s, uint64_t *ns)
{
    static const struct {
        const char *word;
        int days; /* from today; 2 means "now" */
    } words[] = {{"now", 2}, {"today", 0}, {"yesterday", -1}, {"tomorrow", 1}};
    size_t len = 0;
    while (is_alpha(s[len]))
        len++;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i].word) != len || memcmp(words[i].word, s, len) != 0)
            continue;
        int has_zone, off, y, mo, d;
        if (zone_suffix(c, s + len, &has_zone, &off) < 0)
            return -1;
        if (words[i].days == 2) {
            if (c->now_ns > WHEN_MAX_NS)
                return fail(c, "now is after 2262-04-11T23:47:16.854775807Z");
            *ns = c->now_ns;
            return 0;
        }
        int64_t secs;
        if (current_day(c, has_zone, off, &y, &mo, &d) < 0 ||
            civil_secs(c, has_zone, off, y, mo, d + words[i].days, 0, 0, 0, &secs) < 0)
            return -1;
        return to_ns(c, secs, 0, ns);
    }
    return fail(c,
                "unknown time '%.*s' (expected a date, a time, now, today, yesterday, "
                "tomorrow, +SPAN, -SPAN or SPAN ago)",
                quote_len(s), s);
}

/* @SECONDS[.FRACTION] */
static int parse_epoch(struct ctx *c, const char *s, uint64_t *ns)
{
    const char *p = s + 1;
    uint64_t secs = 0, frac = 0;
    if (!is_digit(*p))
        return fail(c, "'@' needs seconds since the epoch, as @SECONDS[.FRACTION]");
    while (is_digit(*p)) {
        uint64_t dgt = (uint64_t)(*p - '0');
        if (secs > (WHEN_MAX_NS / NS_PER_S - dgt) / 10)
            return fail(c,
                        "'%.*s' is after 2262-04-11T23:47:16.854775807Z (the last time a "
                        "signed 64-bit ns count holds)",
                        quote_len(s), s);
        secs = secs * 10 + dgt;
        p++;
    }
    if (*p == '.') {
        int k = 0;
        p++;
        if (fraction(c, &p, p + strlen(p), &frac, &k) < 0)
            return -1;
        if (k == 0)
            return fail(c, "'.' after the seconds needs 1-9 digits");
    }
    if (*p != '\0')
        return fail(c, "unexpected '%.*s' after the time", quote_len(p), p);
    return to_ns(c, (int64_t)secs, frac, ns);
}

/* ---- relative times ------------------------------------------------------------------ */

static const struct unit {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1},
    {"nsec", 1},
    {"us", 1000},
    {"usec", 1000},
    {"ms", 1000000},
    {"msec", 1000000},
    {"s", NS_PER_S},
    {"sec", NS_PER_S},
    {"second", NS_PER_S},
    {"seconds", NS_PER_S},
    {"m", 60 * NS_PER_S},
    {"min", 60 * NS_PER_S},
    {"minute", 60 * NS_PER_S},
    {"minutes", 60 * NS_PER_S},
    {"h", 3600 * NS_PER_S},
    {"hr", 3600 * NS_PER_S},
    {"hour", 3600 * NS_PER_S},
    {"hours", 3600 * NS_PER_S},
    {"d", 86400 * NS_PER_S},
    {"day", 86400 * NS_PER_S},
    {"days", 86400 * NS_PER_S},
    {"w", 7 * 86400 * NS_PER_S},
    {"week", 7 * 86400 * NS_PER_S},
    {"weeks", 7 * 86400 * NS_PER_S},
    {"M", 2629800 * NS_PER_S}, /* 1/12 of 365.25 days, as systemd */
    {"month", 2629800 * NS_PER_S},
    {"months", 2629800 * NS_PER_S},
    {"y", 31557600 * NS_PER_S}, /* 365.25 days */
    {"year", 31557600 * NS_PER_S},
    {"years", 31557600 * NS_PER_S},
};

#define TOO_BIG "time span '%.*s' is too large"
/* How much of [a, end) to quote. */
#define QLEN(a, end) ((int)((end) - (a) < QUOTE ? (end) - (a) : QUOTE))

/* SPAN between p and end (end lies within the string): one or more NUMBER[ ]UNIT. */
static int parse_span(struct ctx *c, const char *p, const char *end, uint64_t *out)
{
    const char *start = p;
    uint64_t total = 0;
    int terms = 0;
    for (;;) {
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        const char *num = p;
        uint64_t ip = 0, frac = 0;
        int k = 0;
        while (p < end && is_digit(*p)) {
            uint64_t dgt = (uint64_t)(*p - '0');
            if (ip > (UINT64_MAX - dgt) / 10)
                return fail(c, TOO_BIG, QLEN(start, end), start);
            ip = ip * 10 + dgt;
            p++;
        }
        if (p < end && *p == '.') {
            p++;
            if (fraction(c, &p, end, &frac, &k) < 0)
                return -1;
            if (k == 0 && p - num == 1)
                return fail(c, "expected a number at '%.*s'", QLEN(num, end), num);
            if (k == 0)
                return fail(c, "'.' in '%.*s' needs 1-9 digits after it", QLEN(num, end), num);
        }
        if (p == num && terms > 0 &&
            ((end - p == 3 && memcmp(p, "ago", 3) == 0) ||
             (end - p == 4 && memcmp(p, "left", 4) == 0)))
            return fail(c, "give either a sign (+1h, -1h) or '%.*s', not both", (int)(end - p), p);
        if (p == num)
            return fail(c, "expected a number at '%.*s'", QLEN(num, end), num);
        while (p < end && *p == ' ')
            p++;
        const char *u = p;
        while (p < end && is_alpha(*p))
            p++;
        size_t ulen = (size_t)(p - u);
        int nlen = (int)(u - num);
        while (nlen > 0 && num[nlen - 1] == ' ')
            nlen--;
        if (ulen == 0)
            return fail(c, "'%.*s' needs a unit (e.g. %.*ss, %.*smin, %.*sh)", nlen, num, nlen, num,
                        nlen, num, nlen, num);
        const struct unit *unit = NULL;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0)
                unit = &units[i];
        if (!unit) {
            if ((ulen == 3 && memcmp(u, "ago", 3) == 0) || (ulen == 4 && memcmp(u, "left", 4) == 0))
                return fail(c, "give either a sign (+1h, -1h) or '%.*s', not both", (int)ulen, u);
            return fail(c, "unknown unit '%.*s'", (int)(ulen < QUOTE ? ulen : QUOTE), u);
        }
        /* frac (9 digits) * unit / 1e9, exactly, without overflowing: unit = q*1e9 + r */
        uint64_t q = unit->ns / NS_PER_S, r = unit->ns % NS_PER_S;
        uint64_t part = q * frac + r * frac / NS_PER_S;
        if (ip > (UINT64_MAX - part) / unit->ns)
            return fail(c, TOO_BIG, QLEN(start, end), start);
        uint64_t v = ip * unit->ns + part;
        if (total > UINT64_MAX - v)
            return fail(c, TOO_BIG, QLEN(start, end), start);
        total += v;
        terms++;
    }
    if (terms == 0)
        return fail(c, "empty time span");
    *out = total;
    return 0;
}

static int apply_span(struct ctx *c, int sign, const char *p, const char *end, uint64_t *ns)
{
    uint64_t span;
    if (parse_span(c, p, end, &span) < 0)
        return -1;
    if (sign < 0) {
        if (span > c->now_ns)
            return fail(c, "now minus '%.*s' is before 1970-01-01T00:00:00Z", QLEN(p, end), p);
        *ns = c->now_ns - span;
    } else {
        if (c->now_ns > WHEN_MAX_NS || span > WHEN_MAX_NS - c->now_ns)
            return fail(c, "now plus '%.*s' is after 2262-04-11T23:47:16.854775807Z", QLEN(p, end),
                        p);
        *ns = c->now_ns + span;
    }
    return 0;
}

/* ---- entry --------------------------------------------------------------------------- */

int when_parse(const char *s, uint64_t now_ns, int local, uint64_t *ns, char *err, size_t errlen)
{
    struct ctx c = {err, errlen, now_ns, local};
    if (err && errlen > 0)
        err[0] = '\0';
    if (!s || !*s)
        return fail(&c, "empty time");
    uint64_t v = 0;
    int rc;
    size_t len = strlen(s);
    if (s[0] == ' ')
        rc = fail(&c, "unexpected blank before the time");
    else if (s[len - 1] == ' ')
        rc = fail(&c, "unexpected blank after the time");
    else if (s[0] == '@')
        rc = parse_epoch(&c, s, &v);
    else if (s[0] == '+' || s[0] == '-')
        rc = apply_span(&c, s[0] == '-' ? -1 : 1, s + 1, s + len, &v);
    else if (is_alpha(s[0]))
        rc = parse_word(&c, s, &v);
    else if (is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-')
        rc = parse_date_time(&c, s, &v);
    else if (is_digit(s[0]) && is_digit(s[1]) && s[2] == ':')
        rc = parse_time_of_day(&c, s, &v);
    else if (is_digit(s[0]) || s[0] == '.') {
        if (len > 4 && memcmp(s + len - 4, " ago", 4) == 0)
            rc = apply_span(&c, -1, s, s + len - 4, &v);
        else if (len > 5 && memcmp(s + len - 5, " left", 5) == 0)
            rc = apply_span(&c, 1, s, s + len - 5, &v);
        else
            rc = fail(&c,
                      "'%.*s' is neither a date (YYYY-MM-DD), a time (HH:MM) nor a relative "
                      "time (a sign, as in -1h, or ' ago', as in 1h ago)",
                      quote_len(s), s);
    } else
        rc = fail(&c, "unexpected '%.*s'", quote_len(s), s);
    if (rc == 0)
        *ns = v;
    return rc;
}
