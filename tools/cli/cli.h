/*
 * cli.h -- what the files of the maplog tool share.
 *
 * The tool uses only the public header, as any user would.  main.c dispatches a command;
 * args.c turns its arguments into a cli_args with getopt_long; fmt.c prints records;
 * cmd_read.c (dump, tail), cmd_check.c (verify, stats, recover) and xport.c (export,
 * import) do the work; when.c reads and prints times.  Output goes to cli_out, messages to
 * cli_err (stdout and stderr unless set: the fuzz targets send both to /dev/null).
 * Exit codes: 0 ok, 1 problems found, 2 usage error.
 */
#ifndef MAPLOG_TOOLS_CLI_H
#define MAPLOG_TOOLS_CLI_H

#include "maplog.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern FILE *cli_out, *cli_err;
/* Set by SIGINT/SIGTERM while a command that follows or imports runs. */
extern volatile sig_atomic_t cli_interrupted;

/* Run the tool: argv[0] is "maplog", argv[1] the command.  Returns the exit status. */
int maplog_cli_main(int argc, char **argv);

#define EXIT_OK 0
#define EXIT_PROBLEMS 1
#define EXIT_USAGE 2
#define EXIT_CRASH_STATE 3 /* verify: no damage, but a crash state recovery resolves */

enum cli_format { F_TEXT, F_JSON, F_HEX, F_RAW, F_BINARY };

/* A command's arguments, after parsing and checking. */
typedef struct cli_args {
    const char *cmd;
    const char *pos[2]; /* the positional arguments (DIR; import: FILE DIR) */
    uint64_t from, to;  /* sequence numbers, inclusive */
    uint64_t since, until;
    uint64_t limit;
    uint64_t lines; /* -n: the last N records (tail's default 10) */
    int have_lines; /* -n was given (or is tail's default) */
    int format;     /* enum cli_format */
    int reverse, follow, gzip, apply, quick, json, local, voids;
    const char *output;                     /* export: -o FILE */
    const char *cursor_file, *after_cursor; /* --cursor-file FILE, --after-cursor CURSOR */
    int show_cursor;
    int64_t segment_size; /* import: bytes, 0 for the library's default */
    int tty;              /* stderr is a terminal: show progress */
} cli_args;

/* One command: its name, what --help prints above the options, the options it takes
 * (option ids, 0-terminated), how many positional arguments it wants, and its body. */
typedef struct cli_cmd {
    const char *name;
    const char *synopsis;
    const char *about;
    const int *opts;
    int npos;
    int (*run)(cli_args *a);
} cli_cmd;

/* Option ids: the short option's letter where there is one, else 256 and up. */
enum {
    O_HELP = 'h',
    O_OUTPUT_FORMAT = 'o',
    O_LINES = 'n',
    O_FOLLOW = 'f',
    O_REVERSE = 'r',
    O_SINCE = 'S',
    O_UNTIL = 'U',
    O_GZIP = 'z',
    O_FORMAT = 256,
    O_FROM,
    O_TO,
    O_LIMIT,
    O_LOCAL,
    O_UTC,
    O_QUICK,
    O_JSON,
    O_APPLY,
    O_OUTPUT_FILE,
    O_EXPORT_FORMAT,
    O_SEGMENT_SIZE,
    O_VOIDS,
    O_CURSOR_FILE,
    O_AFTER_CURSOR,
    O_SHOW_CURSOR,
};

/* Parse argv (argv[0] is the command's name) for cmd into *a.  Returns -1 to go on, or
 * the exit status to end with (0 after --help, 2 after a usage error, already said). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *a);
/* Print "maplog: CMD: message" and the hint to --help on cli_err; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Output failed; a closed pipe is a normal way for a reader to stop us. */
int cli_out_failed(void);
/* Catch SIGINT and SIGTERM into cli_interrupted. */
void cli_catch_signals(void);
/* "\r verify: 42% (...)" on cli_err when a.tty. */
void cli_progress(const cli_args *a, const char *what, uint64_t done, uint64_t total);

/* ---- fmt.c ---- */

/* 1 if p[0..n) is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF). */
int cli_utf8_valid(const unsigned char *p, size_t n);
/* A JSON string's body for bytes that are valid UTF-8: escapes quote, backslash and the
 * control characters. */
void cli_json_escape(FILE *f, const unsigned char *p, size_t n);
/* The same for a name that may not be UTF-8 (a path): invalid bytes become U+FFFD, so the
 * output is always valid JSON.  For information only: not for data that must round-trip. */
void cli_json_escape_lossy(FILE *f, const char *s);
/* A record as one JSON object on one line (docs/maplog.1, "JSON records").  Always valid
 * JSON (RFC 8259), whatever the payload; maplog import reads it back byte for byte. */
void cli_json_record(FILE *f, const maplog_record *r, int local);
/* The longest line cli_json_record writes for a payload of len bytes. */
size_t cli_json_record_max(size_t len);
/* A record in format (text, json, hex, raw). */
void cli_print_record(FILE *f, const maplog_record *r, int format, int local);

/* ---- xport.c ---- */

/* A growable byte buffer. */
typedef struct cli_buf {
    unsigned char *p;
    size_t len, cap;
} cli_buf;

/* Decode one export line (JSON) into *seq, *ts and the payload in out.  *have_seq is 0
 * when the line has no "seq".  Returns 0, or -1 with the reason in err. */
int cli_json_decode(const char *line, size_t n, uint64_t *seq, int *have_seq, uint64_t *ts,
                    int *is_void, cli_buf *out, char *err, size_t errlen);

int cli_cmd_export(cli_args *a);
int cli_cmd_import(cli_args *a);
int cli_cmd_dump(cli_args *a);
int cli_cmd_tail(cli_args *a);
int cli_cmd_verify(cli_args *a);
int cli_cmd_stats(cli_args *a);
int cli_cmd_archive(cli_args *a);
int cli_cmd_recover(cli_args *a);

/* Open a reader on dir, saying why not on cli_err.  0, or EXIT_PROBLEMS. */
int cli_open_reader(const char *dir, int flags, maplog_reader **r);
/* At the end of a read of dir: if the segment after the last existed and is missing (the
 * last is sealed, no writer holds the log), say so on cli_err and return EXIT_PROBLEMS;
 * else EXIT_OK. */
int cli_missing_note(maplog_reader *r, const char *dir);
/* Cursors (--after-cursor, --cursor-file, --show-cursor: maplog(1)).  cli_cursor_start
 * positions r after the cursor given, if any (*positioned says so): 0 to go on, or the
 * exit status to end with (said on cli_err).  cli_cursor_note, after a record is printed,
 * keeps its cursor in last (MAPLOG_CURSOR_MAX bytes) when one is wanted, and every
 * 65536 records saves it to the cursor file; cli_cursor_finish saves and shows it.  An
 * empty last: no record printed, and the cursor file is left as it was. */
int cli_cursor_start(maplog_reader *r, const cli_args *a, int *positioned);
void cli_cursor_note(maplog_reader *r, const cli_args *a, char *last, uint64_t n);
int cli_cursor_finish(const cli_args *a, const char *last);

#endif
