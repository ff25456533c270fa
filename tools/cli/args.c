/*
 * args.c -- every command's options, parsed with getopt_long as Unix users expect:
 * `--opt=value` and `--opt value`, bundled short options (`-n5`, `-rn 5`), `--` to end the
 * options, options before or after the directory, `--help` anywhere.  An option a command
 * does not take is a usage error (exit 2), never silently taken for another.  Short forms
 * follow journalctl's where they mean the same thing: -o FORMAT, -n N, -f, -r, -S, -U.
 *
 * Values are checked once the whole line is read, so the order of the options never
 * changes their meaning (`--since T --local` and `--local --since T` are the same), and
 * every relative time of one command is taken against one reading of the clock.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "when.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct cli_opt {
    int id;
    const char *name; /* long name */
    int has_arg;
    const char *arg; /* the value's name in --help */
    const char *help;
} cli_opt;

static const cli_opt all_opts[] = {
    {O_OUTPUT_FORMAT, "output", 1, "FORMAT", "text (default), json, hex or raw"},
    {O_FORMAT, "format", 1, "FORMAT", "the same as --output"},
    {O_EXPORT_FORMAT, "format", 1, "FORMAT", "json (default) or binary"},
    {O_OUTPUT_FILE, "output", 1, "FILE", "write to FILE (- for standard output)"},
    {O_GZIP, "gzip", 0, NULL, "compress the output with gzip"},
    {O_FROM, "from", 1, "SEQ", "start at sequence number SEQ"},
    {O_TO, "to", 1, "SEQ", "end at sequence number SEQ (inclusive)"},
    {O_SINCE, "since", 1, "TIME", "records at or after TIME (see TIMES)"},
    {O_UNTIL, "until", 1, "TIME", "records at or before TIME"},
    {O_LIMIT, "limit", 1, "N", "at most N records"},
    {O_LINES, "lines", 1, "N", "the last N records"},
    {O_REVERSE, "reverse", 0, NULL, "newest first"},
    {O_FOLLOW, "follow", 0, NULL, "keep printing records as a writer appends them"},
    {O_LOCAL, "local", 0, NULL, "times in local time (with its UTC offset)"},
    {O_UTC, "utc", 0, NULL, "times in UTC (the default)"},
    {O_QUICK, "quick", 0, NULL, "headers, seals and digests only; no record CRCs"},
    {O_JSON, "json", 0, NULL, "one JSON object"},
    {O_APPLY, "apply", 0, NULL, "do it (without it, only say what would be done)"},
    {O_SEGMENT_SIZE, "segment-size", 1, "BYTES",
     "segment size of the new log (K, M, G suffixes; grown to fit the largest record)"},
    {O_VOIDS, "voids", 0, NULL,
     "also show void records (reserved, never published before a crash)"},
    {O_CURSOR_FILE, "cursor-file", 1, "FILE",
     "start after the cursor in FILE if it exists; write the last record's cursor there"},
    {O_AFTER_CURSOR, "after-cursor", 1, "CURSOR", "start after the record CURSOR names"},
    {O_SHOW_CURSOR, "show-cursor", 0, NULL, "print the last record's cursor on stderr"},
    {O_HELP, "help", 0, NULL, "this help"},
};

static const cli_opt *find_opt(int id)
{
    for (size_t i = 0; i < sizeof all_opts / sizeof all_opts[0]; i++)
        if (all_opts[i].id == id)
            return &all_opts[i];
    return NULL;
}

/* The short letter of an option id, or 0.  The two -o options share the letter. */
static int short_of(int id)
{
    if (id == O_OUTPUT_FILE)
        return 'o';
    return id < 256 ? id : 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(cli_err, "maplog: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(cli_err, fmt, ap);
    va_end(ap);
    fprintf(cli_err, "\n(maplog %s%s--help for the options)\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

static void print_help(const cli_cmd *c)
{
    fprintf(cli_out, "usage: maplog %s %s\n%s\n", c->name, c->synopsis, c->about);
    fputs("Options:\n", cli_out);
    for (const int *id = c->opts; *id; id++) {
        const cli_opt *o = find_opt(*id);
        char left[64];
        int s = short_of(*id);
        if (s)
            snprintf(left, sizeof left, "-%c, --%s%s%s", s, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(cli_out, "  %-28s %s\n", left, o->help);
    }
}

/* A decimal number, all of it: no sign, no blanks, no overflow. */
static int parse_u64(const char *s, uint64_t *v)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *v = x;
    return 0;
}

/* BYTES with an optional K, M or G (binary) suffix. */
static int parse_size(const char *s, int64_t *v)
{
    char num[32];
    size_t n = strlen(s);
    uint64_t x, mul = 1;
    if (n == 0 || n >= sizeof num)
        return -1;
    memcpy(num, s, n + 1);
    switch (num[n - 1]) {
    case 'K':
    case 'k':
        mul = 1u << 10;
        break;
    case 'M':
    case 'm':
        mul = 1u << 20;
        break;
    case 'G':
    case 'g':
        mul = 1u << 30;
        break;
    default:
        break;
    }
    if (mul > 1)
        num[n - 1] = 0;
    if (parse_u64(num, &x) || x > ((uint64_t)1 << 40) / mul)
        return -1;
    *v = (int64_t)(x * mul);
    return 0;
}

static int parse_format(const cli_args *a, const char *v, int export)
{
    static const struct {
        const char *name;
        int format, export_ok, dump_ok;
    } f[] = {{"text", F_TEXT, 0, 1},
             {"json", F_JSON, 1, 1},
             {"hex", F_HEX, 0, 1},
             {"raw", F_RAW, 0, 1},
             {"binary", F_BINARY, 1, 0}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!strcmp(v, f[i].name) && (export ? f[i].export_ok : f[i].dump_ok))
            return f[i].format;
    return cli_usage_error(a->cmd, "unknown format '%s' (%s)", v,
                           export ? "export writes json or binary"
                                  : "text, json, hex or raw; export writes binary"),
           -1;
}

/* Build getopt_long's tables for the command's options. */
static void build_tables(const cli_cmd *c, struct option *longs, char *shorts)
{
    size_t nl = 0, ns = 0;
    shorts[ns++] = ':'; /* a missing value is ':', not '?' */
    for (const int *id = c->opts; *id; id++) {
        const cli_opt *o = find_opt(*id);
        int s = short_of(*id);
        longs[nl++] =
            (struct option){o->name, o->has_arg ? required_argument : no_argument, NULL, *id};
        if (s) {
            shorts[ns++] = (char)s;
            if (o->has_arg)
                shorts[ns++] = ':';
        }
    }
    longs[nl] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = 0;
}

/* The value of one option into *a; times are kept as text until the line is read. */
static int take(cli_args *a, int id, const char *v, const char **since, const char **until)
{
    uint64_t x;
    const cli_opt *o = find_opt(id);
    switch (id) {
    case O_FROM:
    case O_TO:
    case O_LIMIT:
    case O_LINES:
        if (parse_u64(v, &x))
            return cli_usage_error(a->cmd, "--%s wants a number, not '%s'", o->name, v);
        if (id == O_FROM)
            a->from = x;
        else if (id == O_TO)
            a->to = x;
        else if (id == O_LIMIT)
            a->limit = x;
        else
            a->lines = x, a->have_lines = 1;
        return 0;
    case O_SINCE:
        *since = v;
        return 0;
    case O_UNTIL:
        *until = v;
        return 0;
    case O_OUTPUT_FORMAT:
    case O_FORMAT:
    case O_EXPORT_FORMAT:
        a->format = parse_format(a, v, id == O_EXPORT_FORMAT);
        return a->format < 0 ? EXIT_USAGE : 0;
    case O_OUTPUT_FILE:
        a->output = v;
        return 0;
    case O_SEGMENT_SIZE:
        if (parse_size(v, &a->segment_size))
            return cli_usage_error(a->cmd, "--segment-size wants bytes (e.g. 64M), not '%s'", v);
        return 0;
    case O_GZIP:
        a->gzip = 1;
        return 0;
    case O_REVERSE:
        a->reverse = 1;
        return 0;
    case O_FOLLOW:
        a->follow = 1;
        return 0;
    case O_LOCAL:
        a->local = 1;
        return 0;
    case O_UTC:
        a->local = 0;
        return 0;
    case O_QUICK:
        a->quick = 1;
        return 0;
    case O_VOIDS:
        a->voids = 1;
        return 0;
    case O_CURSOR_FILE:
        a->cursor_file = v;
        return 0;
    case O_AFTER_CURSOR:
        a->after_cursor = v;
        return 0;
    case O_SHOW_CURSOR:
        a->show_cursor = 1;
        return 0;
    case O_JSON:
        a->json = 1;
        return 0;
    case O_APPLY:
        a->apply = 1;
        return 0;
    default:
        return cli_usage_error(a->cmd, "option %d not handled", id);
    }
}

static int resolve_time(cli_args *a, const char *opt, const char *v, uint64_t now, uint64_t *ns)
{
    char why[160];
    if (when_parse(v, now, a->local, ns, why, sizeof why))
        return cli_usage_error(a->cmd, "--%s '%s': %s", opt, v, why);
    return 0;
}

int cli_parse(const cli_cmd *c, int argc, char **argv, cli_args *a)
{
    struct option longs[32];
    char shorts[64];
    const char *since = NULL, *until = NULL;
    int rc;
    memset(a, 0, sizeof *a);
    a->cmd = c->name;
    a->to = a->until = a->limit = UINT64_MAX;
    a->format = strcmp(c->name, "export") ? F_TEXT : F_JSON;
    a->tty = isatty(fileno(cli_err));
    build_tables(c, longs, shorts);
    optind = 0; /* glibc: start afresh (the fuzz targets parse many times) */
    opterr = 0;
    for (;;) {
        int prev = optind ? optind : 1;
        int id = getopt_long(argc, argv, shorts, longs, NULL);
        if (id == -1)
            break;
        if (id == O_HELP) {
            print_help(c);
            return EXIT_OK;
        }
        const char *arg = optind - 1 >= prev && optind - 1 < argc ? argv[optind - 1] : "?";
        if (id == '?') {
            if (arg[0] == '-' && arg[1] == '-') { /* a long option: unknown, or given a value */
                const char *eq = strchr(arg, '=');
                if (eq && optopt)
                    return cli_usage_error(c->name, "option '%.*s' takes no value", (int)(eq - arg),
                                           arg);
                return cli_usage_error(c->name, "unknown or ambiguous option '%s'", arg);
            }
            return cli_usage_error(c->name, "unknown option -%c", optopt);
        }
        if (id == ':') {
            if (optopt && optopt < 256 && arg[0] == '-' && arg[1] != '-')
                return cli_usage_error(c->name, "option -%c needs a value", optopt);
            return cli_usage_error(c->name, "option '%s' needs a value", arg);
        }
        for (const int *o = c->opts; *o; o++) /* a short letter back to this command's id */
            if (id < 256 && short_of(*o) == id)
                id = *o;
        if ((rc = take(a, id, optarg, &since, &until)))
            return rc;
    }
    int npos = argc - optind;
    if (npos < c->npos)
        return cli_usage_error(
            c->name, "%s", c->npos == 2 ? "FILE and DIR, please" : "which log? give its directory");
    if (npos > c->npos)
        return cli_usage_error(c->name, "one %s only ('%s' is extra)",
                               c->npos == 2 ? "FILE and DIR" : "directory", argv[optind + c->npos]);
    for (int i = 0; i < c->npos; i++)
        a->pos[i] = argv[optind + i];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (since && (rc = resolve_time(a, "since", since, now, &a->since)))
        return rc;
    if (until && (rc = resolve_time(a, "until", until, now, &a->until)))
        return rc;
    if (a->from > a->to)
        return cli_usage_error(c->name, "--from %llu is after --to %llu",
                               (unsigned long long)a->from, (unsigned long long)a->to);
    if (a->since > a->until)
        return cli_usage_error(c->name, "--since is after --until");
    if (a->follow && a->reverse)
        return cli_usage_error(c->name, "--follow and --reverse do not go together");
    if ((a->cursor_file || a->after_cursor || a->show_cursor) && a->reverse)
        return cli_usage_error(c->name, "cursors go forwards: not with --reverse");
    return -1;
}
