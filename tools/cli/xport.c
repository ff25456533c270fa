/*
 * xport.c -- maplog export and maplog import.
 *
 * Export writes the records as JSON lines (fmt.c, cli_json_record) or as a binary stream:
 * "MAPLOGX1", then per record u64 seq, u64 ts_ns, u32 length and the payload, little-endian;
 * either one gzip-compressed with --gzip.  A void record is exported too, so that import
 * keeps every sequence number: {"seq":"N","void":true}, or length 0xFFFFFFFF (and ts 0, no
 * payload); import appends a void record for it.
 *
 * Import treats its input as hostile: it comes from another machine.  Lines and records are
 * bounded by the largest record a log can hold (a 1 GiB segment's), JSON is parsed by
 * jansson (strict RFC 8259, UTF-8 checked, duplicate keys refused), every number is checked,
 * and sequence numbers must follow one another.  Anything else ends the import with a
 * message naming the file and the line or record.  The new log is built in a hidden
 * directory beside DIR and renamed to DIR only when every record is in and synced: a failed
 * or interrupted import leaves nothing at DIR (a SIGKILLed one leaves the hidden
 * .NAME.import-XXXXXX directory, which the man page names).
 */
#define _GNU_SOURCE
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define EXPORT_MAGIC "MAPLOGX1"
/* What one record costs in a segment beyond its payload (maplog.h, maplog_append). */
#define SEGMENT_OVERHEAD 4112u
#define SEGMENT_MAX ((size_t)1 << 30)
#define RECORD_MAX (SEGMENT_MAX - SEGMENT_OVERHEAD)
#define SEGMENT_DEFAULT ((size_t)64 << 20)
/* The longest line import takes: the longest export line of the largest record, plus room
 * for the blanks and extra keys another producer may add. */
#define LINE_SLACK ((size_t)64 << 10)

/* ---- export --------------------------------------------------------------------------- */

static ssize_t gz_cookie_write(void *cookie, const char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        unsigned k = n - done > (1u << 30) ? 1u << 30 : (unsigned)(n - done);
        int w = gzwrite(cookie, buf + done, k);
        if (w <= 0)
            return done ? (ssize_t)done : -1;
        done += (size_t)w;
    }
    return (ssize_t)n;
}

static int gz_cookie_close(void *cookie)
{
    return gzclose(cookie) == Z_OK ? 0 : EOF;
}

/* A FILE* that compresses into fd: export writes one way whether gzip or not. */
static FILE *gzip_file(int fd)
{
    gzFile gz = gzdopen(fd, "wb6");
    if (!gz)
        return NULL;
    cookie_io_functions_t io = {NULL, gz_cookie_write, NULL, gz_cookie_close};
    FILE *f = fopencookie(gz, "w", io);
    if (!f)
        gzclose(gz);
    return f;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

#define BINARY_VOID 0xffffffffu /* the length that marks a void record */

static void binary_record(FILE *f, const maplog_record *r)
{
    unsigned char h[20];
    put_le(h, r->seq, 8);
    put_le(h + 8, r->timestamp_ns, 8);
    put_le(h + 16, r->flags & MAPLOG_RECORD_VOID ? BINARY_VOID : r->len, 4);
    fwrite(h, 1, sizeof h, f);
    if (r->len) /* a void record's data is NULL */
        fwrite(r->data, 1, r->len, f);
}

/* Open where export writes: the file, standard output, and gzip over either. */
static FILE *open_output(const cli_args *a, int *to_stdout)
{
    *to_stdout = !strcmp(a->output, "-");
    int fd = *to_stdout ? dup(fileno(cli_out))
                        : open(a->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    if (*to_stdout)
        fflush(cli_out);
    FILE *f = a->gzip ? gzip_file(fd) : fdopen(fd, "wb");
    if (!f)
        close(fd);
    return f;
}

int cli_cmd_export(cli_args *a)
{
    maplog_reader *r;
    int rc, to_stdout, status = EXIT_OK;
    if (!a->output)
        return cli_usage_error(a->cmd, "where to? -o FILE (or -o - for standard output)");
    int positioned = 0;
    char last[MAPLOG_CURSOR_MAX] = "";
    if ((rc = cli_open_reader(a->pos[0], MAPLOG_READER_VOIDS, &r)))
        return rc;
    if ((rc = cli_cursor_start(r, a, &positioned))) {
        maplog_reader_close(r);
        return rc;
    }
    FILE *out = open_output(a, &to_stdout);
    if (!out) {
        fprintf(cli_err, "maplog: %s: %s\n", a->output, strerror(errno));
        maplog_reader_close(r);
        return EXIT_PROBLEMS;
    }
    int64_t total = 0;
    maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &total);
    if (a->format == F_BINARY)
        fwrite(EXPORT_MAGIC, 1, 8, out);
    if (a->from && !positioned)
        maplog_reader_seek(r, a->from);
    maplog_record rec;
    uint64_t n = 0;
    while (!cli_interrupted && (rc = maplog_reader_next(r, &rec)) != MAPLOG_END) {
        if (rc) {
            fprintf(cli_err, "maplog: %s\n", maplog_reader_errmsg(r));
            status = EXIT_PROBLEMS;
            if (rc != MAPLOG_ECORRUPT || maplog_reader_skip_segment(r))
                break;
            continue;
        }
        if (rec.seq > a->to)
            break;
        if (rec.seq < a->from)
            continue;
        if (a->format == F_BINARY)
            binary_record(out, &rec);
        else
            cli_json_record(out, &rec, 0);
        if (ferror(out))
            break;
        if ((a->cursor_file || a->show_cursor) && maplog_reader_cursor(r, last, sizeof last) != 0)
            last[0] = 0;
        if (++n % 65536 == 0)
            cli_progress(a, "export", rec.seq, (uint64_t)total);
    }
    if (n >= 65536)
        cli_progress(a, "export", 1, 1);
    int werr = ferror(out) ? errno : 0;
    if (fclose(out) != 0 && !werr)
        werr = errno ? errno : EIO;
    if (werr && werr != EPIPE) {
        fprintf(cli_err, "maplog: %s: write failed: %s\n", a->output, strerror(werr));
        status = EXIT_PROBLEMS;
    }
    /* the cursor only once the records before it are written out */
    if (!werr && status == EXIT_OK)
        status = cli_cursor_finish(a, last);
    if (!cli_interrupted) {
        int m = cli_missing_note(r, a->pos[0]);
        if (status == EXIT_OK)
            status = m;
    }
    maplog_reader_close(r);
    return status;
}

/* ---- reading the input ------------------------------------------------------------------ */

typedef struct src {
    gzFile gz;
    const char *name;
    unsigned char buf[1 << 16];
    size_t pos, end;
    uint64_t off; /* bytes consumed, of the uncompressed stream */
    int eof;
} src;

/* gzread() returns 0, not -1, when a gzip stream is cut short: only gzerror() tells an
 * end from a truncation (Z_BUF_ERROR, "unexpected end of file").  1 at a clean end. */
static int clean_end(src *s)
{
    int zerr = Z_OK;
    gzerror(s->gz, &zerr);
    return zerr == Z_OK;
}

/* Make bytes available in s->buf; 0 at the end, -1 on a read error. */
static int src_fill(src *s)
{
    if (s->pos < s->end)
        return 1;
    if (s->eof)
        return 0;
    int got = gzread(s->gz, s->buf, sizeof s->buf);
    if (got < 0 || (got == 0 && !clean_end(s)))
        return -1;
    s->pos = 0;
    s->end = (size_t)got;
    if (got == 0)
        s->eof = 1;
    return got > 0;
}

/* Read up to n bytes; returns how many (less only at the end), or -1 on a read error. */
static long long src_read(src *s, unsigned char *dst, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (s->pos < s->end) {
            size_t k = s->end - s->pos < n - done ? s->end - s->pos : n - done;
            memcpy(dst + done, s->buf + s->pos, k);
            s->pos += k;
            done += k;
        } else if (n - done >= sizeof s->buf && !s->eof) { /* large: straight in */
            size_t k = n - done > INT_MAX ? INT_MAX : n - done;
            int got = gzread(s->gz, dst + done, (unsigned)k);
            if (got < 0 || (got == 0 && !clean_end(s)))
                return -1;
            if (got == 0)
                s->eof = 1;
            done += (size_t)got;
        } else {
            int f = src_fill(s);
            if (f < 0)
                return -1;
            if (f == 0)
                break;
        }
    }
    s->off += done;
    return (long long)done;
}

static int buf_reserve(cli_buf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < n)
        cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* One line into line (without its newline, NUL-terminated).  1 a line, 0 at the end,
 * -1 longer than max, -2 read error, -3 out of memory. */
static int src_line(src *s, cli_buf *line, size_t max)
{
    line->len = 0;
    for (;;) {
        int f = src_fill(s);
        if (f < 0)
            return -2;
        if (f == 0)
            break;
        unsigned char *nl = memchr(s->buf + s->pos, '\n', s->end - s->pos);
        size_t k = nl ? (size_t)(nl - (s->buf + s->pos)) : s->end - s->pos;
        if (line->len + k > max)
            return -1;
        if (buf_reserve(line, line->len + k + 1))
            return -3;
        memcpy(line->p + line->len, s->buf + s->pos, k);
        line->len += k;
        s->pos += k + (nl != NULL);
        s->off += k + (nl != NULL);
        if (nl)
            break;
    }
    if (line->len == 0 && s->eof && s->pos >= s->end)
        return 0;
    line->p[line->len] = 0;
    return 1;
}

/* A failed read: zlib's reason, and how far into the (uncompressed) stream it came. */
static const char *read_error(src *s, char *buf, size_t n)
{
    int zerr = 0;
    const char *z = gzerror(s->gz, &zerr);
    if (zerr == Z_ERRNO)
        snprintf(buf, n, "read failed at byte %" PRIu64 ": %s", s->off, strerror(errno));
    else
        snprintf(buf, n,
                 "the gzip data is damaged at byte %" PRIu64 " (of the uncompressed data): %s",
                 s->off, z);
    return buf;
}

/* ---- decoding a JSON line ----------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* key's value as an unsigned 64-bit number: a string of decimal digits, or a JSON integer
 * that is not negative.  *have is 0 when the key is absent. */
static int get_u64(json_t *o, const char *key, uint64_t *v, int *have, char *err, size_t errlen)
{
    json_t *x = json_object_get(o, key);
    *have = x != NULL;
    if (!x)
        return 0;
    if (json_is_integer(x)) {
        if (json_integer_value(x) < 0)
            return fail(err, errlen, "\"%s\" is negative", key);
        *v = (uint64_t)json_integer_value(x);
        return 0;
    }
    if (!json_is_string(x))
        return fail(err, errlen, "\"%s\" is not a string of digits", key);
    const char *s = json_string_value(x);
    size_t n = json_string_length(x);
    uint64_t acc = 0;
    if (n == 0 || n > 20)
        return fail(err, errlen, "\"%s\" is not a 64-bit number", key);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(err, errlen, "\"%s\" is not a string of digits", key);
        unsigned d = (unsigned)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return fail(err, errlen, "\"%s\" is larger than 2^64 - 1", key);
        acc = acc * 10 + d;
    }
    *v = acc;
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 (RFC 4648, with padding) into out. */
static int base64_decode(const char *s, size_t n, cli_buf *out, char *err, size_t errlen)
{
    if (n % 4)
        return fail(err, errlen, "\"base64\" is %zu characters, not a multiple of 4", n);
    size_t pad = n && s[n - 1] == '=' ? (n > 1 && s[n - 2] == '=' ? 2 : 1) : 0;
    if (buf_reserve(out, n / 4 * 3 + 1))
        return fail(err, errlen, "out of memory");
    out->len = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = i + j >= n - pad ? 0 : b64_value((unsigned char)s[i + j]);
            if (d < 0)
                return fail(err, errlen, "\"base64\" has '%c' at %zu", s[i + j], i + j);
            v = v << 6 | (uint32_t)d;
        }
        out->p[out->len++] = (unsigned char)(v >> 16);
        out->p[out->len++] = (unsigned char)(v >> 8);
        out->p[out->len++] = (unsigned char)v;
    }
    out->len -= pad;
    return 0;
}

int cli_json_decode(const char *line, size_t n, uint64_t *seq, int *have_seq, uint64_t *ts,
                    int *is_void, cli_buf *out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    int rc = -1, have_ts = 0, have_len = 0;
    uint64_t len = 0;
    *is_void = 0;
    if (!o)
        return fail(err, errlen, "column %d: %s", je.column, je.text);
    json_t *text = json_object_get(o, "text"), *b64 = json_object_get(o, "base64");
    json_t *v = json_object_get(o, "void");
    if (!json_is_object(o))
        fail(err, errlen, "not a JSON object");
    else if (v && !json_is_true(v))
        fail(err, errlen, "\"void\" is not true");
    else if (v && (text || b64 || json_object_get(o, "len")))
        fail(err, errlen, "a void record with a payload");
    else if (v && get_u64(o, "seq", seq, have_seq, err, errlen))
        ;
    else if (v && !*have_seq)
        fail(err, errlen, "a void record without \"seq\"");
    else if (v) {
        *is_void = 1;
        *ts = 0;
        out->len = 0;
        rc = 0;
    } else if (get_u64(o, "seq", seq, have_seq, err, errlen) ||
               get_u64(o, "ts_ns", ts, &have_ts, err, errlen) ||
               get_u64(o, "len", &len, &have_len, err, errlen))
        ;
    else if (!have_ts)
        fail(err, errlen, "no \"ts_ns\"");
    else if (!text == !b64)
        fail(err, errlen, "wants one of \"text\" and \"base64\"");
    else if (!json_is_string(text ? text : b64))
        fail(err, errlen, "\"%s\" is not a string", text ? "text" : "base64");
    else if (text && json_string_length(text) > RECORD_MAX)
        fail(err, errlen, "the payload is larger than any record (%zu bytes)", RECORD_MAX);
    else if (text && buf_reserve(out, json_string_length(text) + 1))
        fail(err, errlen, "out of memory");
    else if (text)
        memcpy(out->p, json_string_value(text), out->len = json_string_length(text)), rc = 0;
    else
        rc = base64_decode(json_string_value(b64), json_string_length(b64), out, err, errlen);
    if (rc == 0 && have_len && len != out->len)
        rc = fail(err, errlen, "\"len\" is %" PRIu64 " but the payload has %zu bytes", len,
                  out->len);
    json_decref(o);
    return rc;
}

/* ---- import ------------------------------------------------------------------------------ */

typedef struct importer {
    const cli_args *a;
    const char *file;
    char tmp[PATH_MAX]; /* the hidden directory the log is built in */
    maplog *log;
    size_t segment;    /* segment size of the open log */
    uint64_t n;        /* records imported */
    uint64_t next_seq; /* the seq the next record must have, once seq_known */
    int seq_known;     /* a record has named its seq */
    int seq_ended;     /* that was 2^64 - 1: no record can follow */
    int have_first;
} importer;

static int say(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(importer *im, const char *fmt, ...)
{
    va_list ap;
    fprintf(cli_err, "maplog: %s: ", im->file);
    va_start(ap, fmt);
    vfprintf(cli_err, fmt, ap);
    va_end(ap);
    fputc('\n', cli_err);
    return -1;
}

static int open_log(importer *im)
{
    maplog_options *o;
    if (maplog_options_create(&o))
        return say(im, "out of memory");
    maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, (int64_t)im->segment);
    maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0); /* nothing to gain from it here */
    int rc = maplog_open(&im->log, im->tmp, o);
    maplog_options_free(o);
    if (rc) {
        fprintf(cli_err, "maplog: %s\n", maplog_last_open_error());
        return -1;
    }
    return 0;
}

/* Append one record, growing the segment size first when it does not fit. */
static int put(importer *im, const char *where, uint64_t seq, int have_seq, uint64_t ts,
               int is_void, const unsigned char *p, size_t len)
{
    /* Once a record has named its seq, every record after it has the next one, whether it
     * names it or not. */
    if (im->seq_known && im->seq_ended)
        return say(im, "%s: a record after seq %" PRIu64 ", the last there can be", where,
                   UINT64_MAX);
    if (have_seq) {
        if (im->seq_known && seq != im->next_seq)
            return say(im,
                       "%s: seq %" PRIu64 " where %" PRIu64
                       " should follow: the export has a gap or is out of order",
                       where, seq, im->next_seq);
        if (!im->have_first && seq != 0)
            fprintf(cli_err,
                    "maplog: %s: note: the export starts at seq %" PRIu64
                    "; the new log numbers its records from 0\n",
                    im->file, seq);
        im->next_seq = seq;
        im->seq_known = 1;
    }
    if (im->seq_known) {
        if (im->next_seq == UINT64_MAX)
            im->seq_ended = 1;
        else
            im->next_seq++;
    }
    im->have_first = 1;
    if (len > RECORD_MAX)
        return say(im, "%s: a record of %zu bytes is larger than any segment holds (%zu)", where,
                   len, RECORD_MAX);
    if (len > im->segment - SEGMENT_OVERHEAD) {
        size_t need = (len + SEGMENT_OVERHEAD + 4095) / 4096 * 4096;
        size_t grow = im->segment * 2 > need ? im->segment * 2 : need;
        im->segment = grow < SEGMENT_MAX ? grow : SEGMENT_MAX;
        if (maplog_close(im->log)) {
            im->log = NULL;
            fprintf(cli_err, "maplog: %s\n", maplog_errmsg(NULL));
            return -1;
        }
        im->log = NULL;
        if (open_log(im))
            return -1;
    }
    if (is_void ? maplog_append_void(im->log, NULL) : maplog_append_ts(im->log, p, len, ts, NULL)) {
        fprintf(cli_err, "maplog: %s\n", maplog_errmsg(im->log));
        return -1;
    }
    im->n++;
    return 0;
}

static int import_binary(importer *im, src *s, cli_buf *payload)
{
    unsigned char h[20];
    char where[64], why[256];
    for (uint64_t k = 0; !cli_interrupted; k++) {
        uint64_t at = s->off;
        snprintf(where, sizeof where, "record %" PRIu64 " (byte %" PRIu64 ")", k, at);
        long long got = src_read(s, h, sizeof h);
        if (got == 0)
            return 0;
        if (got < 0)
            return say(im, "%s: %s", where, read_error(s, why, sizeof why));
        if (got != (long long)sizeof h)
            return say(im, "%s: the file ends inside the record's header", where);
        uint64_t seq = get_le(h, 8), ts = get_le(h + 8, 8);
        size_t len = (size_t)get_le(h + 16, 4);
        if (len == BINARY_VOID) {
            if (ts)
                return say(im, "%s: a void record with timestamp %" PRIu64 " (it has none)", where,
                           ts);
            if (put(im, where, seq, 1, 0, 1, NULL, 0))
                return -1;
            continue;
        }
        if (len > RECORD_MAX)
            return say(im, "%s: length %zu is larger than any record (at most %zu)", where, len,
                       RECORD_MAX);
        if (buf_reserve(payload, len + 1))
            return say(im, "%s: out of memory", where);
        got = src_read(s, payload->p, len);
        if (got < 0)
            return say(im, "%s: %s", where, read_error(s, why, sizeof why));
        if ((size_t)got != len)
            return say(im, "%s: the file ends %zu bytes into a payload of %zu", where, (size_t)got,
                       len);
        if (put(im, where, seq, 1, ts, 0, payload->p, len))
            return -1;
        if (im->n % 65536 == 0)
            cli_progress(im->a, "import", im->n, 0);
    }
    return say(im, "interrupted");
}

static int blank(const cli_buf *line)
{
    for (size_t i = 0; i < line->len; i++)
        if (line->p[i] != ' ' && line->p[i] != '\t' && line->p[i] != '\r')
            return 0;
    return 1;
}

static int import_json(importer *im, src *s, cli_buf *payload)
{
    cli_buf line = {0};
    char where[64], why[256];
    uint64_t lineno = 0;
    int rc = 0;
    size_t max = cli_json_record_max(RECORD_MAX) + LINE_SLACK;
    while (rc == 0) {
        if (cli_interrupted) {
            rc = say(im, "interrupted");
            break;
        }
        int got = src_line(s, &line, max);
        lineno++;
        snprintf(where, sizeof where, "line %" PRIu64, lineno);
        if (got == 0)
            break;
        if (got == -1)
            rc = say(im, "%s: longer than any record's export line (%zu bytes)", where, max);
        else if (got == -2)
            rc = say(im, "%s: %s", where, read_error(s, why, sizeof why));
        else if (got == -3)
            rc = say(im, "%s: out of memory", where);
        if (rc || blank(&line))
            continue;
        uint64_t seq = 0, ts = 0;
        int have_seq = 0, is_void = 0;
        if (cli_json_decode((const char *)line.p, line.len, &seq, &have_seq, &ts, &is_void, payload,
                            why, sizeof why))
            rc = say(im, "%s: %s", where, why);
        else
            rc = put(im, where, seq, have_seq, ts, is_void, payload->p, payload->len);
        if (rc == 0 && im->n % 65536 == 0)
            cli_progress(im->a, "import", im->n, 0);
    }
    free(line.p);
    return rc;
}

/* Remove the hidden directory and what is in it (flat: a log has no subdirectories). */
static void remove_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* DIR may be missing or an empty directory; anything else is refused. */
static int check_target(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? 0
                               : (fprintf(cli_err, "maplog: %s: %s\n", dir, strerror(errno)), -1);
    if (!S_ISDIR(st.st_mode)) {
        fprintf(cli_err, "maplog: %s: exists and is not a directory\n", dir);
        return -1;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    if (d)
        closedir(d);
    if (!empty) {
        maplog_reader *probe;
        int is_log = maplog_reader_open(&probe, dir, 0) == 0;
        maplog_reader_close(probe);
        fprintf(cli_err, "maplog: %s: %s; import makes a new log\n", dir,
                is_log ? "already holds a log" : "is not empty");
        return -1;
    }
    return 0;
}

/* Split dir (trailing slashes dropped) into its parent and its name, in copy. */
static int split_dir(const char *dir, char copy[PATH_MAX], const char **parent, const char **name)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(copy, dir, len);
    copy[len] = 0;
    char *slash = strrchr(copy, '/');
    *name = slash ? slash + 1 : copy;
    *parent = slash ? (slash == copy ? "/" : (*slash = 0, copy)) : ".";
    return 0;
}

/* The hidden directory beside dir: PARENT/.NAME.import-XXXXXX. */
static int make_tmp(const char *dir, char *tmp, size_t n)
{
    char copy[PATH_MAX];
    const char *parent, *name;
    if (split_dir(dir, copy, &parent, &name))
        return -1;
    if ((size_t)snprintf(tmp, n, "%s/.%s.import-XXXXXX", parent, name) >= n)
        return -1;
    if (!mkdtemp(tmp))
        return -1;
    return chmod(tmp, 0750);
}

/* The rename that put the log in place is durable once its parent directory is synced. */
static void sync_parent(const char *dir)
{
    char copy[PATH_MAX];
    const char *parent, *name;
    if (split_dir(dir, copy, &parent, &name))
        return;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int cli_cmd_import(cli_args *a)
{
    importer im = {.a = a, .file = a->pos[0], .segment = SEGMENT_DEFAULT};
    const char *dir = a->pos[1];
    int rc = -1;
    if (a->segment_size) {
        if (a->segment_size < 65536 || a->segment_size > (int64_t)SEGMENT_MAX ||
            a->segment_size % 4096)
            return cli_usage_error(a->cmd, "--segment-size: a multiple of 4096 from 64K to 1G");
        im.segment = (size_t)a->segment_size;
    }
    if (check_target(dir))
        return EXIT_PROBLEMS;
    src *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(cli_err, "maplog: out of memory\n");
        return EXIT_PROBLEMS;
    }
    s->name = im.file;
    struct stat st;
    if (strcmp(im.file, "-") && stat(im.file, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(cli_err, "maplog: %s: is a directory, not an export file\n", im.file);
        free(s);
        return EXIT_PROBLEMS;
    }
    s->gz = !strcmp(im.file, "-") ? gzdopen(dup(0), "rb") : gzopen(im.file, "rb");
    if (!s->gz) {
        fprintf(cli_err, "maplog: %s: %s\n", im.file, errno ? strerror(errno) : "cannot open");
        free(s);
        return EXIT_PROBLEMS;
    }
    if (make_tmp(dir, im.tmp, sizeof im.tmp)) {
        fprintf(cli_err, "maplog: %s: cannot make a directory beside it: %s\n", dir,
                strerror(errno));
        gzclose(s->gz);
        free(s);
        return EXIT_PROBLEMS;
    }
    cli_catch_signals();
    cli_buf payload = {0};
    if (open_log(&im) == 0) {
        int f = src_fill(s);
        if (f < 0) {
            char why[256];
            rc = say(&im, "%s", read_error(s, why, sizeof why));
        } else if (s->end - s->pos >= 8 && !memcmp(s->buf + s->pos, EXPORT_MAGIC, 8)) {
            s->pos += 8, s->off += 8;
            rc = import_binary(&im, s, &payload);
        } else if (s->end - s->pos >= 8 && !memcmp(s->buf + s->pos, "MAPLOGS1", 8)) {
            rc = say(&im, "offset 0: a maplog segment file, not an export: import reads what "
                          "maplog export writes (a log's directory is read as it is, or copied)");
        } else {
            rc = import_json(&im, s, &payload);
        }
    }
    free(payload.p);
    int zclose = gzclose(s->gz);
    if (zclose != Z_OK && rc == 0)
        rc = say(&im, "the gzip data ends early or is damaged (zlib: %s)", zError(zclose));
    free(s);
    if (im.log && maplog_close(im.log) && rc == 0) {
        fprintf(cli_err, "maplog: %s\n", maplog_errmsg(NULL));
        rc = -1;
    }
    if (rc == 0 && rename(im.tmp, dir) != 0) {
        fprintf(cli_err, "maplog: %s: cannot rename %s to it: %s\n", dir, im.tmp, strerror(errno));
        rc = -1;
    }
    if (rc) {
        remove_tmp(im.tmp);
        fprintf(cli_err, "maplog: import failed: nothing was written to %s\n", dir);
        return EXIT_PROBLEMS;
    }
    sync_parent(dir);
    if (a->tty)
        fprintf(cli_err, "import: %" PRIu64 " records into %s\n", im.n, dir);
    return EXIT_OK;
}
