/*
 * cli.c -- the maplog command-line tool: dump, tail, verify, stats, recover, export, import.
 *
 * Uses only the public header, as any user would.  Everything streams: one record at a
 * time from the reader (which maps one segment at a time), so a log of any size dumps in
 * flat memory.  Output goes to cli_out (stdout, or /dev/null for the fuzz target); errors
 * go to stderr and name the file.  Exit codes: 0 ok, 1 problems found, 2 usage error.
 * A closed pipe (maplog dump | head) ends the command quietly.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "maplog.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

FILE *cli_out;
static volatile sig_atomic_t interrupted;
static int use_local_time;
static int tty_progress;

#define EXIT_OK 0
#define EXIT_PROBLEMS 1
#define EXIT_USAGE 2

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "maplog: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(maplog --help, or maplog COMMAND --help)\n");
    return EXIT_USAGE;
}

/* Output failed: a closed pipe is a normal way for a reader to stop us. */
static int out_failed(void)
{
    if (ferror(cli_out) && errno == EPIPE)
        return 1;
    return ferror(cli_out) != 0;
}

/* ---- formatting ---------------------------------------------------------------------- */

static void fmt_time(char *buf, size_t n, uint64_t ns)
{
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    char base[40], zone[8];
    if (use_local_time) {
        localtime_r(&s, &tm);
        strftime(zone, sizeof zone, "%z", &tm);
    } else {
        gmtime_r(&s, &tm);
        snprintf(zone, sizeof zone, "Z");
    }
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%09" PRIu64 "%s", base, ns % 1000000000u, zone);
}

/* ISO 8601 (YYYY-MM-DD[THH:MM[:SS[.frac]]][Z|+HH:MM]), or @SECONDS[.frac].  Without a zone,
 * UTC (or local time with --local).  Returns 0 and *ns, or -1. */
static int parse_time(const char *s, uint64_t *ns)
{
    if (s[0] == '@') { /* exact to the nanosecond: no floating point */
        char *end;
        if (s[1] < '0' || s[1] > '9')
            return -1;
        errno = 0;
        uint64_t sec = strtoull(s + 1, &end, 10), frac = 0, scale = 100000000u;
        if (errno || sec > UINT64_MAX / 1000000000u)
            return -1;
        if (*end == '.')
            for (end++; *end >= '0' && *end <= '9'; end++, scale /= 10)
                frac += (uint64_t)(*end - '0') * scale;
        if (*end)
            return -1;
        *ns = sec * 1000000000u + frac;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3)
        return -1;
    const char *p = s + used;
    uint64_t frac = 0;
    if (*p == 'T' || *p == ' ') {
        int u2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &u2) != 2)
            return -1;
        p += 1 + u2;
        if (*p == ':') {
            int u3 = 0;
            if (sscanf(p + 1, "%2d%n", &sec, &u3) != 1)
                return -1;
            p += 1 + u3;
            if (*p == '.') {
                uint64_t scale = 100000000u;
                for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                    frac += (uint64_t)(*p - '0') * scale;
            }
        }
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t;
    if (*p == 'Z' && !p[1]) {
        t = timegm(&tm);
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = atoi(p + 1), om = atoi(p + 4);
        t = timegm(&tm) - (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else if (!*p) {
        tm.tm_isdst = -1;
        t = use_local_time ? mktime(&tm) : timegm(&tm);
    } else {
        return -1;
    }
    if (t < 0)
        return -1;
    *ns = (uint64_t)t * 1000000000u + frac;
    return 0;
}

/* 1 if data is valid UTF-8 with no control characters but tab. */
static int printable_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t k = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : 0;
        if (!k || i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
        /* overlong and surrogate forms */
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* JSON string body: valid UTF-8 passes through, the rest is escaped. */
static void json_string(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\')
            fprintf(cli_out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", cli_out);
        else if (c == '\t')
            fputs("\\t", cli_out);
        else if (c == '\r')
            fputs("\\r", cli_out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(cli_out, "\\u%04x", c);
        else
            fputc(c, cli_out);
    }
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(b64[v >> 18 & 63], cli_out);
        fputc(b64[v >> 12 & 63], cli_out);
        fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', cli_out);
        fputc(i + 2 < n ? b64[v & 63] : '=', cli_out);
    }
}

/* A record as one JSON object on one line: valid JSON whatever the bytes. */
static void json_record(const maplog_record *r)
{
    char when[64];
    fmt_time(when, sizeof when, r->timestamp_ns);
    fprintf(cli_out, "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"ts_ns\":%" PRIu64 ",\"len\":%zu,",
            r->seq, when, r->timestamp_ns, r->len);
    if (printable_utf8(r->data, r->len) || r->len == 0) {
        fputs("\"text\":\"", cli_out);
        json_string(r->data, r->len);
    } else {
        fputs("\"base64\":\"", cli_out);
        base64(r->data, r->len);
    }
    fputs("\"}\n", cli_out);
}

enum { F_TEXT, F_JSON, F_HEX, F_RAW };

static void print_record(const maplog_record *r, int format)
{
    const unsigned char *p = r->data;
    char when[64];
    switch (format) {
    case F_JSON:
        json_record(r);
        return;
    case F_RAW:
        fwrite(r->data, 1, r->len, cli_out);
        return;
    case F_HEX:
        fmt_time(when, sizeof when, r->timestamp_ns);
        fprintf(cli_out, "seq %" PRIu64 "  %s  %zu bytes\n", r->seq, when, r->len);
        for (size_t o = 0; o < r->len; o += 16) {
            fprintf(cli_out, "  %08zx ", o);
            for (size_t k = 0; k < 16; k++) {
                if (o + k < r->len)
                    fprintf(cli_out, " %02x", p[o + k]);
                else
                    fputs("   ", cli_out);
            }
            fputs("  |", cli_out);
            for (size_t k = 0; k < 16 && o + k < r->len; k++)
                fputc(p[o + k] >= 0x20 && p[o + k] < 0x7f ? p[o + k] : '.', cli_out);
            fputs("|\n", cli_out);
        }
        return;
    default:
        fmt_time(when, sizeof when, r->timestamp_ns);
        fprintf(cli_out, "%-10" PRIu64 " %s %7zu  ", r->seq, when, r->len);
        if (printable_utf8(p, r->len)) {
            fwrite(p, 1, r->len, cli_out);
        } else {
            static const char hx[] = "0123456789abcdef";
            char buf[512];
            fputs("hex:", cli_out);
            for (size_t k = 0; k < r->len;) {
                size_t m = 0;
                for (; k < r->len && m + 2 <= sizeof buf; k++) {
                    buf[m++] = hx[p[k] >> 4];
                    buf[m++] = hx[p[k] & 15];
                }
                fwrite(buf, 1, m, cli_out);
            }
        }
        fputc('\n', cli_out);
    }
}

/* ---- shared option parsing -------------------------------------------------------------- */

typedef struct sel {
    uint64_t from, to; /* [from, to] inclusive */
    uint64_t since, until;
    uint64_t limit;
    int reverse, format, follow;
    int64_t last_n;
    const char *dir;
    const char *output;
    int gzip, binary, apply, quick, json;
} sel;

static int need_value(int argc, int i)
{
    return i + 1 < argc;
}

/* Parse the options common to dump/tail/export; returns 0, or an exit code. */
static int parse_sel(const char *cmd, int argc, char **argv, sel *s, const char *allowed)
{
    memset(s, 0, sizeof *s);
    s->to = UINT64_MAX;
    s->until = UINT64_MAX;
    s->limit = UINT64_MAX;
    s->last_n = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define OPT(name) (strcmp(a, name) == 0 && strstr(allowed, name))
#define VAL()                                                                                      \
    (need_value(argc, i) ? argv[++i] : (usage_error("%s: %s needs a value", cmd, a), (char *)NULL))
        if (OPT("--from") || OPT("--to") || OPT("--limit") || OPT("-n")) {
            const char *v = VAL();
            char *end;
            if (!v)
                return EXIT_USAGE;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (*end || errno || v[0] == '-')
                return usage_error("%s: %s wants a number, not '%s'", cmd, a, v);
            if (!strcmp(a, "--from"))
                s->from = x;
            else if (!strcmp(a, "--to"))
                s->to = x;
            else if (!strcmp(a, "--limit"))
                s->limit = x;
            else
                s->last_n = (int64_t)x;
        } else if (OPT("--since") || OPT("--until")) {
            const char *v = VAL();
            uint64_t t;
            if (!v)
                return EXIT_USAGE;
            if (parse_time(v, &t))
                return usage_error("%s: %s: '%s' is not a time (2026-11-27T10:00:00Z or @SECONDS)",
                                   cmd, a, v);
            if (!strcmp(a, "--since"))
                s->since = t;
            else
                s->until = t;
        } else if (OPT("--format")) {
            const char *v = VAL();
            if (!v)
                return EXIT_USAGE;
            if (!strcmp(v, "text"))
                s->format = F_TEXT;
            else if (!strcmp(v, "json"))
                s->format = F_JSON;
            else if (!strcmp(v, "hex"))
                s->format = F_HEX;
            else if (!strcmp(v, "raw"))
                s->format = F_RAW;
            else if (!strcmp(v, "binary") && strstr(allowed, "--gzip"))
                s->binary = 1;
            else
                return usage_error("%s: unknown format '%s'", cmd, v);
        } else if (OPT("-o")) {
            if (!(s->output = VAL()))
                return EXIT_USAGE;
        } else if (OPT("--reverse")) {
            s->reverse = 1;
        } else if (OPT("-f") || OPT("--follow")) {
            s->follow = 1;
        } else if (OPT("--gzip")) {
            s->gzip = 1;
        } else if (OPT("--apply")) {
            s->apply = 1;
        } else if (OPT("--quick")) {
            s->quick = 1;
        } else if (OPT("--json")) {
            s->json = 1;
        } else if (!strcmp(a, "--local")) {
            use_local_time = 1;
        } else if (!strcmp(a, "--utc")) {
            use_local_time = 0;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("%s: unknown option %s", cmd, a);
        } else if (!s->dir) {
            s->dir = a;
        } else {
            return usage_error("%s: one directory only ('%s' is extra)", cmd, a);
        }
#undef OPT
#undef VAL
    }
    if (!s->dir)
        return usage_error("%s: which log? give its directory", cmd);
    if (s->from > s->to)
        return usage_error("%s: --from is after --to", cmd);
    return 0;
}

static int open_reader(const char *dir, maplog_reader **r)
{
    int rc = maplog_reader_open(r, dir, 0);
    if (rc) {
        fprintf(stderr, "maplog: %s\n", maplog_last_open_error());
        return EXIT_PROBLEMS;
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    if (!tty_progress)
        return;
    fprintf(stderr, "\r%s: %3.0f%% (%" PRIu64 " of %" PRIu64 " MB)", (const char *)ctx,
            total ? 100.0 * (double)done / (double)total : 100.0, done >> 20, total >> 20);
    if (done >= total)
        fputc('\n', stderr);
}

/* ---- dump / tail --------------------------------------------------------------------------- */

/* Read records in [s->from, s->to] and the time window, forwards, calling print. */
static int emit_range(maplog_reader *r, const sel *s, const char *dir)
{
    maplog_record rec;
    uint64_t n = 0;
    int status = EXIT_OK, rc;
    if (s->since) {
        if ((rc = maplog_reader_seek_time(r, s->since)))
            fprintf(stderr, "maplog: %s: %s\n", dir, maplog_reader_errmsg(r));
    }
    if (s->from) {
        rc = maplog_reader_seek(r, s->from);
        if (rc == MAPLOG_ENOENT) { /* before the first present: start at the first */
            int64_t first;
            maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first);
            maplog_reader_seek(r, (uint64_t)first);
        }
    }
    while (n < s->limit && !interrupted) {
        rc = maplog_reader_next(r, &rec);
        if (rc == MAPLOG_END) {
            if (!s->follow)
                break;
            if (out_failed())
                return EXIT_OK;
            fflush(cli_out);
            maplog_reader_wait(r, 200);
            continue;
        }
        if (rc == MAPLOG_ECORRUPT) {
            fprintf(stderr, "maplog: %s\n", maplog_reader_errmsg(r));
            status = EXIT_PROBLEMS;
            if (maplog_reader_skip_segment(r) != 0)
                break;
            continue;
        }
        if (rc) {
            fprintf(stderr, "maplog: %s\n", maplog_reader_errmsg(r));
            return EXIT_PROBLEMS;
        }
        if (rec.seq < s->from || rec.timestamp_ns < s->since)
            continue;
        if (rec.seq > s->to || (rec.timestamp_ns > s->until && !s->follow))
            break;
        print_record(&rec, s->format);
        n++;
        if (out_failed())
            return EXIT_OK;
    }
    int64_t torn;
    if (maplog_reader_info_get(r, MAPLOG_INFO_TORN_OFFSET, &torn) == 0 && torn > 0)
        fprintf(stderr, "maplog: note: %s\n", maplog_reader_errmsg(r));
    return status;
}

/* --reverse: walk backwards in windows, re-reading each window forwards. */
static int emit_reverse(maplog_reader *r, const sel *s, const char *dir)
{
    int64_t first, next;
    if (maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first) ||
        maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &next)) {
        fprintf(stderr, "maplog: %s: %s\n", dir, maplog_reader_errmsg(r));
        return EXIT_PROBLEMS;
    }
    uint64_t lo = s->from > (uint64_t)first ? s->from : (uint64_t)first;
    uint64_t hi = s->to < (uint64_t)next ? s->to + 1 : (uint64_t)next; /* exclusive */
    uint64_t n = 0;
    enum { WINDOW = 4096 };
    typedef struct held {
        maplog_record rec;
        unsigned char *copy;
    } held;
    held *w = calloc(WINDOW, sizeof *w);
    int status = EXIT_OK;
    while (hi > lo && n < s->limit && !interrupted) {
        uint64_t start = hi - lo > WINDOW ? hi - WINDOW : lo;
        size_t k = 0;
        maplog_record rec;
        int rc = maplog_reader_seek(r, start);
        while (rc == 0 && start + k < hi && (rc = maplog_reader_next(r, &rec)) == 0) {
            w[k].rec = rec;
            w[k].copy = malloc(rec.len ? rec.len : 1);
            memcpy(w[k].copy, rec.data, rec.len);
            w[k].rec.data = w[k].copy;
            k++;
        }
        if (rc && rc != MAPLOG_END) {
            fprintf(stderr, "maplog: %s\n", maplog_reader_errmsg(r));
            status = EXIT_PROBLEMS;
        }
        for (size_t j = k; j-- > 0;) {
            const maplog_record *x = &w[j].rec;
            if (n < s->limit && x->timestamp_ns >= s->since && x->timestamp_ns <= s->until) {
                print_record(x, s->format);
                n++;
            }
            free(w[j].copy);
        }
        if (out_failed())
            break;
        hi = start;
    }
    free(w);
    return status;
}

static int cmd_dump(int argc, char **argv)
{
    sel s;
    maplog_reader *r;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out,
                "usage: maplog dump [options] DIR\n"
                "Print every record of the log in DIR, in order, verifying each CRC.\n"
                "  --format text|json|hex|raw   text (default): seq, time, length, payload as\n"
                "                                text when printable, else hex; json: one object\n"
                "                                a line; hex: a hex dump; raw: the bytes only\n"
                "  --from SEQ --to SEQ          sequence numbers, inclusive\n"
                "  --since TIME --until TIME    ISO 8601 (2026-11-27T10:00:00Z) or @SECONDS\n"
                "  --limit N                    at most N records\n"
                "  --reverse                    newest first\n"
                "  --local | --utc              times in local time or UTC (default)\n"
                "Read-only: works on read-only copies and beside a running writer.\n");
        return EXIT_OK;
    }
    int rc =
        parse_sel("dump", argc, argv, &s, "--from --to --since --until --limit --reverse --format");
    if (rc)
        return rc;
    if ((rc = open_reader(s.dir, &r)))
        return rc;
    rc = s.reverse ? emit_reverse(r, &s, s.dir) : emit_range(r, &s, s.dir);
    maplog_reader_close(r);
    return rc;
}

static int cmd_tail(int argc, char **argv)
{
    sel s;
    maplog_reader *r;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out, "usage: maplog tail [-n N] [-f] [--format F] DIR\n"
                         "Print the last N records (default 10); with -f, keep printing new\n"
                         "records as a writer appends them, across segments, until interrupted.\n");
        return EXIT_OK;
    }
    int rc = parse_sel("tail", argc, argv, &s, "-n -f --follow --format");
    if (rc)
        return rc;
    if (s.last_n < 0)
        s.last_n = 10;
    if ((rc = open_reader(s.dir, &r)))
        return rc;
    int64_t first = 0, next = 0;
    maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first);
    if (maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &next) == 0)
        s.from = (uint64_t)next > (uint64_t)s.last_n + (uint64_t)first
                     ? (uint64_t)next - (uint64_t)s.last_n
                     : (uint64_t)first;
    if (s.follow) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
    if (s.from > (uint64_t)first)
        maplog_reader_seek(r, s.from);
    rc = emit_range(r, &s, s.dir);
    maplog_reader_close(r);
    return rc;
}

/* ---- verify / stats / recover ----------------------------------------------------------- */

typedef struct vout {
    const char *dir;
    uint64_t n;
} vout;

static void on_problem(void *ctx, const char *file, uint64_t off, const char *what)
{
    vout *v = ctx;
    if (tty_progress)
        fputc('\n', stderr);
    fprintf(cli_out, "%s/%s: offset %" PRIu64 ": %s\n", v->dir, file, off, what);
    v->n++;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    progress("verify", done, total);
}

static int cmd_verify(int argc, char **argv)
{
    sel s;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out,
                "usage: maplog verify [--quick] DIR\n"
                "Check every segment header, seal and XXH3 digest, every record's CRC, the\n"
                "sequence numbers across segments and the checkpoints.  Prints each problem\n"
                "with file and offset, then a summary.  Exit 0 when all is well, 1 when\n"
                "anything is wrong.  --quick: headers, seals and digests only.\n");
        return EXIT_OK;
    }
    int rc = parse_sel("verify", argc, argv, &s, "--quick");
    if (rc)
        return rc;
    vout v = {s.dir, 0};
    uint64_t problems = 0;
    rc = maplog_verify(s.dir, s.quick ? MAPLOG_VERIFY_QUICK : 0, on_problem, on_progress, &v,
                       &problems);
    if (rc) {
        fprintf(stderr, "maplog: %s\n", maplog_last_open_error());
        return EXIT_PROBLEMS;
    }
    maplog_reader *r;
    int64_t segs = 0, recs = 0;
    if (maplog_reader_open(&r, s.dir, 0) == 0) {
        maplog_reader_info_get(r, MAPLOG_INFO_SEGMENTS, &segs);
        maplog_reader_info_get(r, MAPLOG_INFO_RECORDS, &recs);
        maplog_reader_close(r);
    }
    fprintf(cli_out, "%s: %" PRId64 " segments, %" PRId64 " records: %s%" PRIu64 " problem%s\n",
            s.dir, segs, recs, problems ? "" : "ok, ", problems, problems == 1 ? "" : "s");
    return problems ? EXIT_PROBLEMS : EXIT_OK;
}

static int cmd_stats(int argc, char **argv)
{
    sel s;
    maplog_reader *r;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out, "usage: maplog stats [--json] DIR\n"
                         "Segments, records, bytes used and allocated, first and last sequence\n"
                         "number and time, the durable point, and how the last writer ended.\n");
        return EXIT_OK;
    }
    int rc = parse_sel("stats", argc, argv, &s, "--json");
    if (rc)
        return rc;
    if ((rc = open_reader(s.dir, &r)))
        return rc;
    int64_t v[16] = {0};
    static const maplog_reader_info keys[] = {
        MAPLOG_INFO_SEGMENTS,      MAPLOG_INFO_RECORDS,    MAPLOG_INFO_FIRST_SEQ,
        MAPLOG_INFO_NEXT_SEQ,      MAPLOG_INFO_BYTES_USED, MAPLOG_INFO_BYTES_ALLOCATED,
        MAPLOG_INFO_FIRST_TS,      MAPLOG_INFO_LAST_TS,    MAPLOG_INFO_DURABLE_COUNT,
        MAPLOG_INFO_CLEAN_SHUTDOWN};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if ((rc = maplog_reader_info_get(r, keys[k], &v[k]))) {
            fprintf(stderr, "maplog: %s: %s\n", s.dir, maplog_reader_errmsg(r));
            maplog_reader_close(r);
            return EXIT_PROBLEMS;
        }
    maplog_reader_close(r);
    char t0[64] = "", t1[64] = "";
    if (v[6])
        fmt_time(t0, sizeof t0, (uint64_t)v[6]);
    if (v[7])
        fmt_time(t1, sizeof t1, (uint64_t)v[7]);
    const char *shutdown = v[9] < 0 ? "writer running" : v[9] ? "clean" : "unclean (crash)";
    if (s.json) {
        fprintf(cli_out, "{\"dir\":\"");
        json_string((const unsigned char *)s.dir, strlen(s.dir));
        fprintf(cli_out,
                "\",\"segments\":%" PRId64 ",\"records\":%" PRId64 ",\"first_seq\":%" PRId64
                ",\"next_seq\":%" PRId64 ",\"bytes_used\":%" PRId64 ",\"bytes_allocated\":%" PRId64
                ",\"first_time\":%s%s%s,\"last_time\":%s%s%s,\"durable_count\":%" PRId64
                ",\"writer_running\":%s,\"clean_shutdown\":%s}\n",
                v[0], v[1], v[2], v[3], v[4], v[5], v[6] ? "\"" : "", v[6] ? t0 : "null",
                v[6] ? "\"" : "", v[7] ? "\"" : "", v[7] ? t1 : "null", v[7] ? "\"" : "", v[8],
                v[9] < 0 ? "true" : "false",
                v[9] < 0 ? "null"
                : v[9]   ? "true"
                         : "false");
    } else {
        fprintf(cli_out,
                "log:             %s\n"
                "segments:        %" PRId64 "\n"
                "records:         %" PRId64 "\n"
                "sequence:        %" PRId64 " .. %" PRId64 "\n"
                "bytes used:      %" PRId64 " (%.1f MB)\n"
                "bytes allocated: %" PRId64 " (%.1f MB)\n"
                "first record:    %s\n"
                "last record:     %s\n"
                "durable:         %" PRId64 " records (seq < %" PRId64 ")\n"
                "last shutdown:   %s\n",
                s.dir, v[0], v[1], v[2], v[3] - 1, v[4], (double)v[4] / 1e6, v[5],
                (double)v[5] / 1e6, v[6] ? t0 : "-", v[7] ? t1 : "-", v[8], v[8], shutdown);
    }
    return out_failed() ? EXIT_OK : EXIT_OK;
}

static int cmd_recover(int argc, char **argv)
{
    sel s;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out,
                "usage: maplog recover [--apply] DIR\n"
                "Say what recovery would do to the log in DIR: where it would cut (a torn\n"
                "tail, or the first damaged record) and how many records that drops.  With\n"
                "--apply, do it: afterwards maplog verify passes.  Nothing is deleted: cut\n"
                "bytes and later segments are kept beside the log as NAME.tail-OFFSET.\n"
                "Exit 0 when the log is valid (or was made valid), 1 when it is not.\n");
        return EXIT_OK;
    }
    int rc = parse_sel("recover", argc, argv, &s, "--apply");
    if (rc)
        return rc;
    char report[2048];
    int64_t dropped;
    rc = maplog_recover(s.dir, 0, report, sizeof report, &dropped);
    if (rc) { /* not a log, unreadable, ...: an error, on stderr */
        fprintf(stderr, "maplog: %s\n", report);
        return EXIT_PROBLEMS;
    }
    fprintf(cli_out, "%s%s\n", s.apply ? "plan: " : "", report);
    int nothing = strncmp(report, "nothing to do", 13) == 0;
    if (!s.apply || nothing)
        return nothing ? EXIT_OK : EXIT_PROBLEMS;
    if (tty_progress)
        fprintf(stderr, "recover: applying...\n");
    rc = maplog_recover(s.dir, MAPLOG_RECOVER_APPLY, report, sizeof report, &dropped);
    fprintf(cli_out, "done: %s\n", report);
    return rc ? EXIT_PROBLEMS : EXIT_OK;
}

/* ---- export / import ------------------------------------------------------------------------ */

#define EXPORT_MAGIC "MAPLOGX1"

typedef struct sink {
    FILE *f;
    gzFile gz;
} sink;

static int sink_write(sink *k, const void *p, size_t n)
{
    if (k->gz)
        return gzwrite(k->gz, p, (unsigned)n) == (int)n ? 0 : -1;
    return fwrite(p, 1, n, k->f) == n ? 0 : -1;
}

static int cmd_export(int argc, char **argv)
{
    sel s;
    maplog_reader *r;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out,
                "usage: maplog export DIR -o FILE [--format json|binary] [--gzip]\n"
                "                     [--from SEQ] [--to SEQ]\n"
                "Write the records to FILE (- for standard output): JSON lines (default, as\n"
                "dump --format json) or a binary stream (\"MAPLOGX1\", then per record u64 seq,\n"
                "u64 ts_ns, u32 length, payload; little-endian), gzip-compressed with --gzip.\n"
                "maplog import reads either back into a new log.\n");
        return EXIT_OK;
    }
    int rc = parse_sel("export", argc, argv, &s, "-o --format --gzip --from --to");
    if (rc)
        return rc;
    if (!s.output)
        return usage_error("export: where to? -o FILE (or -o - for standard output)");
    if ((rc = open_reader(s.dir, &r)))
        return rc;
    sink k = {NULL, NULL};
    int to_stdout = !strcmp(s.output, "-");
    FILE *f = to_stdout ? cli_out : fopen(s.output, "wb");
    if (!f) {
        fprintf(stderr, "maplog: %s: %s\n", s.output, strerror(errno));
        maplog_reader_close(r);
        return EXIT_PROBLEMS;
    }
    if (s.gzip) {
        fflush(f);
        k.gz = gzdopen(dup(fileno(f)), "wb6");
    } else {
        k.f = f;
    }
    int64_t total = 0;
    maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &total);
    if (s.binary)
        sink_write(&k, EXPORT_MAGIC, 8);
    if (s.from)
        maplog_reader_seek(r, s.from);
    maplog_record rec;
    int status = EXIT_OK;
    uint64_t n = 0;
    FILE *saved = cli_out;
    char *line = NULL;
    size_t line_len = 0;
    while (!interrupted && (rc = maplog_reader_next(r, &rec)) != MAPLOG_END) {
        if (rc) {
            fprintf(stderr, "maplog: %s\n", maplog_reader_errmsg(r));
            status = EXIT_PROBLEMS;
            if (rc != MAPLOG_ECORRUPT || maplog_reader_skip_segment(r))
                break;
            continue;
        }
        if (rec.seq > s.to)
            break;
        int werr;
        if (s.binary) {
            uint32_t len = (uint32_t)rec.len;
            werr = sink_write(&k, &rec.seq, 8) || sink_write(&k, &rec.timestamp_ns, 8) ||
                   sink_write(&k, &len, 4) || sink_write(&k, rec.data, rec.len);
        } else {
            free(line); /* open_memstream allocates anew each time */
            line = NULL;
            FILE *mem = open_memstream(&line, &line_len);
            cli_out = mem;
            json_record(&rec);
            fclose(mem);
            cli_out = saved;
            werr = sink_write(&k, line, line_len);
        }
        if (werr) {
            if (errno != EPIPE)
                fprintf(stderr, "maplog: %s: write failed: %s\n", s.output, strerror(errno));
            status = errno == EPIPE ? EXIT_OK : EXIT_PROBLEMS;
            break;
        }
        if (++n % 65536 == 0)
            progress("export", rec.seq, (uint64_t)total);
    }
    free(line);
    if (tty_progress && n >= 65536)
        progress("export", 1, 1);
    if (k.gz && gzclose(k.gz) != Z_OK) {
        fprintf(stderr, "maplog: %s: gzip write failed\n", s.output);
        status = EXIT_PROBLEMS;
    }
    if (!to_stdout && fclose(f) != 0) {
        fprintf(stderr, "maplog: %s: %s\n", s.output, strerror(errno));
        status = EXIT_PROBLEMS;
    }
    maplog_reader_close(r);
    return status;
}

/* A minimal reader for the JSON lines export writes: "ts_ns", then "text" or "base64". */
static int json_get_u64(const char *line, const char *key, uint64_t *v)
{
    const char *p = strstr(line, key);
    if (!p)
        return -1;
    p += strlen(key);
    char *end;
    *v = strtoull(p, &end, 10);
    return end == p ? -1 : 0;
}

static size_t utf8_put(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        o[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
    o[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

/* Decode the JSON string or base64 value of the record; returns length or -1. */
static long json_payload(const char *line, unsigned char *out)
{
    const char *p;
    size_t n = 0;
    if ((p = strstr(line, "\"text\":\""))) {
        for (p += 8; *p && *p != '"'; p++) {
            if (*p != '\\') {
                out[n++] = (unsigned char)*p;
                continue;
            }
            p++;
            switch (*p) {
            case 'n':
                out[n++] = '\n';
                break;
            case 't':
                out[n++] = '\t';
                break;
            case 'r':
                out[n++] = '\r';
                break;
            case 'b':
                out[n++] = '\b';
                break;
            case 'f':
                out[n++] = '\f';
                break;
            case '"':
            case '\\':
            case '/':
                out[n++] = (unsigned char)*p;
                break;
            case 'u': {
                unsigned cp;
                if (sscanf(p + 1, "%4x", &cp) != 1)
                    return -1;
                p += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
                    unsigned lo;
                    if (sscanf(p + 3, "%4x", &lo) != 1)
                        return -1;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
                n += utf8_put(out + n, cp);
                break;
            }
            default:
                return -1;
            }
        }
        return *p == '"' ? (long)n : -1;
    }
    if ((p = strstr(line, "\"base64\":\""))) {
        uint32_t acc = 0;
        int bits = 0;
        for (p += 10; *p && *p != '"' && *p != '='; p++) {
            const char *q = strchr(b64, *p);
            if (!q || !*p)
                return -1;
            acc = acc << 6 | (uint32_t)(q - b64);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[n++] = (unsigned char)(acc >> bits);
            }
        }
        return (long)n;
    }
    return -1;
}

static int cmd_import(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fprintf(cli_out,
                "usage: maplog import FILE DIR\n"
                "Read records exported by maplog export (JSON lines or binary, gzip or not,\n"
                "told apart by their first bytes; FILE - is standard input) and append them,\n"
                "with their original timestamps, to a new log created in DIR.\n");
        return EXIT_OK;
    }
    if (argc != 3)
        return usage_error("import: FILE and DIR, please");
    const char *file = argv[1], *dir = argv[2];
    struct stat st;
    if (stat(dir, &st) == 0) {
        char p[4096];
        snprintf(p, sizeof p, "%s/00000000000000000000.mlog", dir);
        maplog_reader *probe;
        if (maplog_reader_open(&probe, dir, 0) == 0) {
            maplog_reader_close(probe);
            fprintf(stderr, "maplog: %s: already holds a log; import makes a new one\n", dir);
            return EXIT_PROBLEMS;
        }
    }
    gzFile in = !strcmp(file, "-") ? gzdopen(dup(0), "rb") : gzopen(file, "rb");
    if (!in) {
        fprintf(stderr, "maplog: %s: %s\n", file, strerror(errno));
        return EXIT_PROBLEMS;
    }
    maplog *log;
    if (maplog_open(&log, dir, NULL)) {
        fprintf(stderr, "maplog: %s\n", maplog_last_open_error());
        gzclose(in);
        return EXIT_PROBLEMS;
    }
    int status = EXIT_OK;
    uint64_t n = 0;
    char magic[8];
    int got = gzread(in, magic, 8);
    unsigned char *payload = malloc((size_t)64 << 20); /* the largest record import takes */
    if (got == 8 && !memcmp(magic, EXPORT_MAGIC, 8)) {
        for (;;) {
            uint64_t seq, ts;
            uint32_t len;
            int a = gzread(in, &seq, 8);
            if (a == 0)
                break;
            if (a != 8 || gzread(in, &ts, 8) != 8 || gzread(in, &len, 4) != 4 ||
                len > (64u << 20) || gzread(in, payload, len) != (int)len) {
                fprintf(stderr, "maplog: %s: record %" PRIu64 " is cut short or too large\n", file,
                        n);
                status = EXIT_PROBLEMS;
                break;
            }
            if (maplog_append_ts(log, payload, len, ts, NULL)) {
                fprintf(stderr, "maplog: %s\n", maplog_errmsg(log));
                status = EXIT_PROBLEMS;
                break;
            }
            n++;
        }
    } else {
        gzrewind(in);
        size_t cap = (size_t)192 << 20;
        char *line = malloc(cap);
        uint64_t lineno = 0;
        while (gzgets(in, line, (int)cap)) {
            lineno++;
            if (line[0] == '\n' || !line[0])
                continue;
            uint64_t ts;
            long len = json_payload(line, payload);
            if (json_get_u64(line, "\"ts_ns\":", &ts) || len < 0) {
                fprintf(stderr, "maplog: %s: line %" PRIu64 ": not a maplog export record\n", file,
                        lineno);
                status = EXIT_PROBLEMS;
                break;
            }
            if (maplog_append_ts(log, payload, (size_t)len, ts, NULL)) {
                fprintf(stderr, "maplog: %s\n", maplog_errmsg(log));
                status = EXIT_PROBLEMS;
                break;
            }
            n++;
        }
        free(line);
    }
    free(payload);
    gzclose(in);
    if (maplog_close(log)) {
        fprintf(stderr, "maplog: %s\n", maplog_errmsg(NULL));
        status = EXIT_PROBLEMS;
    }
    if (tty_progress)
        fprintf(stderr, "import: %" PRIu64 " records into %s\n", n, dir);
    return status;
}

/* ---- main ------------------------------------------------------------------------------- */

static void main_usage(FILE *f)
{
    fprintf(f,
            "usage: maplog COMMAND [options] DIR\n"
            "Read, check and repair maplog directories (maplog %s).\n\n"
            "  dump     print records (text, JSON, hex or raw)\n"
            "  tail     print the last records; -f follows a live log\n"
            "  verify   check headers, seals, digests and every CRC\n"
            "  stats    what the log holds, and how its writer last stopped\n"
            "  recover  say what recovery would cut; --apply does it\n"
            "  export   write records to a file (JSON lines or binary, gzip)\n"
            "  import   read an export back into a new log\n\n"
            "maplog COMMAND --help for each.  Exit status: 0 ok, 1 problems found,\n"
            "2 usage error.  See maplog(1).\n",
            maplog_version());
}

int maplog_cli_main(int argc, char **argv)
{
    if (!cli_out)
        cli_out = stdout;
    tty_progress = isatty(2);
    signal(SIGPIPE, SIG_IGN); /* EPIPE from a closed pipe ends output quietly instead */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        main_usage(argc < 2 ? stderr : cli_out);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        fprintf(cli_out, "maplog %s (format %d)\n", maplog_version(), MAPLOG_FORMAT_VERSION);
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"dump", cmd_dump},     {"tail", cmd_tail},       {"verify", cmd_verify},
                {"stats", cmd_stats},   {"recover", cmd_recover}, {"export", cmd_export},
                {"import", cmd_import}, {"ship", maplog_cli_ship}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            int rc = cmds[i].fn(argc - 1, argv + 1);
            if (fflush(cli_out) != 0 && errno != EPIPE && rc == EXIT_OK) {
                fprintf(stderr, "maplog: writing output: %s\n", strerror(errno));
                rc = EXIT_PROBLEMS;
            }
            return rc;
        }
    return usage_error("unknown command '%s'", argv[1]);
}
