/*
 * fmt.c -- records as the tool prints them: text, JSON, hex, raw.
 *
 * JSON lines are valid RFC 8259 JSON whatever the payload: a payload that is valid UTF-8
 * goes out as "text" (escaped as JSON requires) unless escaping would make it longer than
 * base64, and any other payload as "base64".  Sequence numbers and timestamps are 64-bit
 * values; they are written as strings of decimal digits, as journalctl writes its 64-bit
 * fields, because JSON tools that hold numbers as doubles (jq, JavaScript) round values
 * above 2^53.  maplog import reads every line back byte for byte.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "when.h"

#include <inttypes.h>
#include <string.h>

/* Length of the UTF-8 sequence at p[0..n), or 0 when it is not a valid one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4;
    else
        return 0; /* 80-c1 (continuations, overlong 2-byte leads), f5-ff */
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t j = 2; j < k; j++)
        if ((p[j] & 0xc0) != 0x80)
            return 0;
    return k;
}

int cli_utf8_valid(const unsigned char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_seq(p + i, n - i)))
            return 0;
    return 1;
}

/* Bytes the JSON escape of one byte takes (valid UTF-8 assumed). */
static size_t escaped_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f')
        return 2;
    return c < 0x20 || c == 0x7f ? 6 : 1;
}

static void escape_byte(FILE *f, unsigned char c)
{
    switch (c) {
    case '"':
        fputs("\\\"", f);
        return;
    case '\\':
        fputs("\\\\", f);
        return;
    case '\n':
        fputs("\\n", f);
        return;
    case '\t':
        fputs("\\t", f);
        return;
    case '\r':
        fputs("\\r", f);
        return;
    case '\b':
        fputs("\\b", f);
        return;
    case '\f':
        fputs("\\f", f);
        return;
    default:
        if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void cli_json_escape(FILE *f, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        escape_byte(f, p[i]);
}

void cli_json_escape_lossy(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (k == 1)
            escape_byte(f, p[i]);
        else
            fwrite(p + i, 1, k, f);
        i += k;
    }
}

static size_t base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static void base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4096];
    size_t m = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[m++] = b64[v >> 18 & 63];
        out[m++] = b64[v >> 12 & 63];
        out[m++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[m++] = i + 2 < n ? b64[v & 63] : '=';
        if (m == sizeof out) {
            fwrite(out, 1, m, f);
            m = 0;
        }
    }
    fwrite(out, 1, m, f);
}

/* "text" when the payload is valid UTF-8 and its escaped form is no longer than base64. */
static int json_as_text(const unsigned char *p, size_t n)
{
    size_t limit = base64_len(n), len = 0;
    for (size_t i = 0; i < n; i++)
        if ((len += escaped_len(p[i])) > limit)
            return 0;
    return cli_utf8_valid(p, n);
}

/* {"seq":"","time":"","ts_ns":"","len":,"base64":""} and the newline, with room to spare. */
#define JSON_RECORD_OVERHEAD 160

size_t cli_json_record_max(size_t len)
{
    return JSON_RECORD_OVERHEAD + base64_len(len);
}

void cli_json_record(FILE *f, const maplog_record *r, int local)
{
    char when[64];
    if (r->flags & MAPLOG_RECORD_VOID) { /* a sequence number and nothing else */
        fprintf(f, "{\"seq\":\"%" PRIu64 "\",\"void\":true}\n", r->seq);
        return;
    }
    when_format(when, sizeof when, r->timestamp_ns, local);
    fprintf(f, "{\"seq\":\"%" PRIu64 "\",\"time\":\"%s\",\"ts_ns\":\"%" PRIu64 "\",\"len\":%zu,",
            r->seq, when, r->timestamp_ns, r->len);
    if (json_as_text(r->data, r->len)) {
        fputs("\"text\":\"", f);
        cli_json_escape(f, r->data, r->len);
    } else {
        fputs("\"base64\":\"", f);
        base64(f, r->data, r->len);
    }
    fputs("\"}\n", f);
}

/* Text that can stand on one line of a terminal: valid UTF-8, no control characters but tab. */
static int printable(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return 0;
    return cli_utf8_valid(p, n);
}

static void hex_dump(FILE *f, const maplog_record *r, int local)
{
    const unsigned char *p = r->data;
    char when[64];
    when_format(when, sizeof when, r->timestamp_ns, local);
    fprintf(f, "seq %" PRIu64 "  %s  %zu bytes\n", r->seq, when, r->len);
    for (size_t o = 0; o < r->len; o += 16) {
        fprintf(f, "  %08zx ", o);
        for (size_t k = 0; k < 16; k++) {
            if (o + k < r->len)
                fprintf(f, " %02x", p[o + k]);
            else
                fputs("   ", f);
        }
        fputs("  |", f);
        for (size_t k = 0; k < 16 && o + k < r->len; k++)
            fputc(p[o + k] >= 0x20 && p[o + k] < 0x7f ? p[o + k] : '.', f);
        fputs("|\n", f);
    }
}

static void text_line(FILE *f, const maplog_record *r, int local)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *p = r->data;
    char when[64], buf[512];
    when_format(when, sizeof when, r->timestamp_ns, local);
    fprintf(f, "%-10" PRIu64 " %s %7zu  ", r->seq, when, r->len);
    if (printable(p, r->len)) {
        fwrite(p, 1, r->len, f);
    } else {
        fputs("hex:", f);
        for (size_t k = 0; k < r->len;) {
            size_t m = 0;
            for (; k < r->len && m + 2 <= sizeof buf; k++) {
                buf[m++] = hx[p[k] >> 4];
                buf[m++] = hx[p[k] & 15];
            }
            fwrite(buf, 1, m, f);
        }
    }
    fputc('\n', f);
}

/* A void record (maplog.h): it has a sequence number and nothing else. */
static void void_record(FILE *f, const maplog_record *r, int format)
{
    switch (format) {
    case F_JSON:
        cli_json_record(f, r, 0);
        return;
    case F_RAW:
        return;
    case F_HEX:
        fprintf(f, "seq %" PRIu64 "  void\n", r->seq);
        return;
    default:
        fprintf(f, "%-10" PRIu64 " void (reserved, never published before a crash)\n", r->seq);
    }
}

void cli_print_record(FILE *f, const maplog_record *r, int format, int local)
{
    if (r->flags & MAPLOG_RECORD_VOID) {
        void_record(f, r, format);
        return;
    }
    switch (format) {
    case F_JSON:
        cli_json_record(f, r, local);
        return;
    case F_RAW:
        fwrite(r->data, 1, r->len, f);
        return;
    case F_HEX:
        hex_dump(f, r, local);
        return;
    default:
        text_line(f, r, local);
    }
}
