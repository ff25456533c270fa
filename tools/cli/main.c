/*
 * main.c -- the maplog tool's commands and their dispatch.
 *
 * `maplog COMMAND [options] ARGS`: each command is a row of the table below (its help text,
 * the options it takes, its positional arguments), parsed by args.c and run by its file.
 * `maplog ship` runs the separate maplog-ship executable, as git runs its subcommands, so
 * the core tool needs no NATS client (tools/subcmd.c).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "subcmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

FILE *cli_out, *cli_err;
volatile sig_atomic_t cli_interrupted;

int cli_out_failed(void)
{
    return ferror(cli_out) != 0;
}

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_signals(void)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
}

void cli_progress(const cli_args *a, const char *what, uint64_t done, uint64_t total)
{
    if (!a->tty)
        return;
    if (!total) {
        fprintf(cli_err, "\r%s: %" PRIu64 " records", what, done);
        return;
    }
    fprintf(cli_err, "\r%s: %3.0f%% (%" PRIu64 " of %" PRIu64 " MB)", what,
            100.0 * (double)done / (double)total, done >> 20, total >> 20);
    if (done >= total)
        fputc('\n', cli_err);
}

#define TIMES                                                                                      \
    "TIMES: 2026-11-27T10:00:00Z, 2026-11-27 10:00, +01:00 or +0100 offsets, @SECONDS,\n"          \
    "now, today, yesterday, -1h, '1 hour ago' (maplog(1), TIMES); without a zone, UTC\n"           \
    "(local time with --local), whatever the order of the options.\n"

static const int dump_opts[] = {O_OUTPUT_FORMAT, O_FORMAT, O_FROM,  O_TO,          O_SINCE,
                                O_UNTIL,         O_LIMIT,  O_LINES, O_REVERSE,     O_FOLLOW,
                                O_LOCAL,         O_UTC,    O_VOIDS, O_CURSOR_FILE, O_AFTER_CURSOR,
                                O_SHOW_CURSOR,   O_HELP,   0};
static const int tail_opts[] = {O_LINES, O_FOLLOW,      O_OUTPUT_FORMAT, O_FORMAT,      O_LOCAL,
                                O_UTC,   O_CURSOR_FILE, O_AFTER_CURSOR,  O_SHOW_CURSOR, O_HELP,
                                0};
static const int verify_opts[] = {O_QUICK, O_HELP, 0};
static const int stats_opts[] = {O_JSON, O_LOCAL, O_UTC, O_HELP, 0};
static const int recover_opts[] = {O_APPLY, O_HELP, 0};
static const int archive_opts[] = {O_HELP, 0};
static const int export_opts[] = {O_OUTPUT_FILE, O_EXPORT_FORMAT, O_GZIP,        O_FROM, O_TO,
                                  O_CURSOR_FILE, O_AFTER_CURSOR,  O_SHOW_CURSOR, O_HELP, 0};
static const int import_opts[] = {O_SEGMENT_SIZE, O_HELP, 0};

static const cli_cmd cmds[] = {
    {"dump", "[options] DIR",
     "Print the records of the log in DIR, in order, verifying each CRC.  text: seq, time,\n"
     "length, and the payload when printable, else hex; json: one object a line (maplog(1));\n"
     "hex: a hex dump; raw: the bytes only.  Read-only: works on read-only copies and beside\n"
     "a running writer.\n" TIMES,
     dump_opts, 1, cli_cmd_dump},
    {"tail", "[options] DIR",
     "Print the last N records (default 10); with -f, keep printing new records as a writer\n"
     "appends them, across segments, until interrupted.\n",
     tail_opts, 1, cli_cmd_tail},
    {"verify", "[--quick] DIR",
     "Check every segment header, seal and XXH3 digest, every record's CRC, the sequence\n"
     "numbers across segments and the checkpoints.  Prints each problem with file and offset,\n"
     "then a summary.  Exit 0 when all is well, 3 when all it found is a crash state (a torn\n"
     "tail, holes: recovery resolves it without losing synced data), 1 for damage.\n",
     verify_opts, 1, cli_cmd_verify},
    {"stats", "[--json] DIR",
     "Segments, records, bytes used and allocated, first and last sequence number and time,\n"
     "the durable point, and how the last writer ended.  In --json, record counts, sequence\n"
     "numbers and nanosecond times are strings of digits (64-bit values).\n",
     stats_opts, 1, cli_cmd_stats},
    {"recover", "[--apply] DIR",
     "Say what recovery would do to the log in DIR: where it would cut (a torn tail, or the\n"
     "first damaged record) and how many records that drops.  With --apply, do it:\n"
     "afterwards maplog verify passes.  Nothing is deleted: cut bytes and later segments are\n"
     "kept beside the log as NAME.tail-OFFSET.  Exit 0 when the log is valid (or was made\n"
     "valid), 1 when it is not.\n",
     recover_opts, 1, cli_cmd_recover},
    {"archive", "DIR",
     "Compress every sealed segment of the log in DIR that is not compressed yet into\n"
     "NAME.mlogz (zlib; readers and every command read it as before).  The log is opened as\n"
     "its writer would open it (recovering it if a writer died), so no writer may hold it; a\n"
     "writer with MAPLOG_OPT_ARCHIVE does the same in the background.  Exit 0 when done.\n",
     archive_opts, 1, cli_cmd_archive},
    {"export", "[options] DIR -o FILE",
     "Write the records to FILE (- for standard output): JSON lines (default, as dump -o\n"
     "json) or a binary stream (\"MAPLOGX1\", then per record u64 seq, u64 ts_ns, u32 length,\n"
     "payload; little-endian), gzip-compressed with --gzip.  maplog import reads either back.\n",
     export_opts, 1, cli_cmd_export},
    {"import", "[options] FILE DIR",
     "Read records exported by maplog export (JSON lines or binary, gzip or not, told apart\n"
     "by their first bytes; FILE - is standard input) into a new log in DIR (missing or\n"
     "empty), with their original timestamps and payloads.  The log is built in a hidden\n"
     "directory beside DIR and renamed to DIR once complete: on any error nothing is left at\n"
     "DIR, and the message names the line or record.  Sequence numbers must follow one\n"
     "another; the new log numbers from 0.\n",
     import_opts, 2, cli_cmd_import},
};

static void main_usage(FILE *f)
{
    fprintf(f,
            "usage: maplog [--help | --version] COMMAND [options] ARGS\n"
            "Read, check, repair, export and ship maplog directories (maplog %s).\n\n"
            "  dump     print records (text, JSON, hex or raw)\n"
            "  tail     print the last records; -f follows a live log\n"
            "  verify   check headers, seals, digests and every CRC\n"
            "  stats    what the log holds, and how its writer last stopped\n"
            "  recover  say what recovery would cut; --apply does it\n"
            "  archive  compress the sealed segments (zlib)\n"
            "  export   write records to a file (JSON lines or binary, gzip)\n"
            "  import   read an export back into a new log\n"
            "  ship     publish a log's records to a NATS JetStream stream (maplog-ship)\n"
            "  mirror   rebuild a log from what ship sent (maplog-mirror)\n\n"
            "maplog COMMAND --help for each.  Exit status: 0 ok, 1 problems found,\n"
            "2 usage error, 3 a crash state alone (verify).  See maplog(1).\n",
            maplog_version());
}

/* Options before the command: --help, --version. */
static int main_options(int argc, char **argv)
{
    static const struct option longs[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int c = getopt_long(argc, argv, "+hV", longs, NULL);
    if (c == 'h') {
        main_usage(cli_out);
        return EXIT_OK;
    }
    if (c == 'V') {
        fprintf(cli_out, "maplog %s (format %d)\n", maplog_version(), MAPLOG_FORMAT_VERSION);
        return EXIT_OK;
    }
    if (c != -1)
        return cli_usage_error(NULL, "unknown option '%s' before the command", argv[optind - 1]);
    if (optind >= argc) {
        main_usage(cli_err);
        return EXIT_USAGE;
    }
    return -1;
}

int maplog_cli_main(int argc, char **argv)
{
    if (!cli_out)
        cli_out = stdout;
    if (!cli_err)
        cli_err = stderr;
    cli_interrupted = 0;
    signal(SIGPIPE, SIG_IGN); /* EPIPE from a closed pipe ends output quietly instead */
    int rc = main_options(argc, argv);
    if (rc >= 0)
        return rc;
    int at = optind;
    const char *name = argv[at];
    if (!strcmp(name, "ship"))
        return maplog_cli_exec("maplog-ship", argc - at, argv + at);
    if (!strcmp(name, "mirror"))
        return maplog_cli_exec("maplog-mirror", argc - at, argv + at);
    if (!strcmp(name, "help")) { /* maplog help [COMMAND] */
        if (at + 1 >= argc) {
            main_usage(cli_out);
            return EXIT_OK;
        }
        char *again[] = {argv[0], argv[at + 1], (char *)"--help", NULL};
        return maplog_cli_main(3, again);
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(name, cmds[i].name))
            continue;
        cli_args a;
        if ((rc = cli_parse(&cmds[i], argc - at, argv + at, &a)) < 0)
            rc = cmds[i].run(&a);
        if (fflush(cli_out) != 0 && errno != EPIPE && rc == EXIT_OK) {
            fprintf(cli_err, "maplog: writing output: %s\n", strerror(errno));
            rc = EXIT_PROBLEMS;
        }
        return rc;
    }
    return cli_usage_error(NULL, "unknown command '%s'", name);
}
