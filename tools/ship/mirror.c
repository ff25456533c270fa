/*
 * mirror.c -- maplog-mirror, run as `maplog mirror`: read one log's batches back from a NATS
 * JetStream subject (what `maplog ship` sent: docs/FORMAT.md, "Shipped batches") and append
 * them to a local log that is the same log -- the same log id, sequence numbers and
 * timestamps, void records included.
 *
 * Exactly once, by construction: the local log's next sequence number is the only cursor.
 * A batch is decoded whole, every record's CRC-32C checked as its own sequence number,
 * before any of it is appended; records the log already holds are skipped; a batch that
 * starts past the log's next sequence number is a gap, and refused.  A mirror killed at any
 * moment leaves a log whose recovery keeps every record whose append returned, and a
 * restart goes on from its next sequence number.
 *
 * It reads the subject through an ordered consumer: an ephemeral push consumer, without
 * acks, with flow control and a heartbeat, that the NATS client remakes from the stream
 * sequence after the last message it delivered whenever one goes missing (a dropped
 * message, a consumer lost with its server, a restarted server: two missed heartbeats).
 * It starts at the subject's first message and skips what the log holds: a restart reads
 * the batches before its position again, headers and all, without decoding them.  A batch
 * that starts past the log's next record is only called a gap once a new consumer, started
 * just after the last message applied, delivers it again.
 */
#define _GNU_SOURCE
#include "maplog.h"
#include "natsconn.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_PROBLEMS = 1, EXIT_USAGE = 2 };

typedef struct mirror {
    const char *dir, *server, *stream, *subject;
    int once;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    maplog *log;
    uint8_t id[16];
    char id_hex[33];
    uint64_t next;      /* the local log's next sequence number: the cursor */
    uint64_t last_sseq; /* the stream sequence of the last message applied or skipped */
    int regap;          /* a gap was seen; the consumer was remade to look again */
    uint64_t appended, skipped;
} mirror;

static void hex(char out[33], const uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int unhex(uint8_t id[16], const char *s)
{
    if (!s || strlen(s) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return -1;
        id[i] = (uint8_t)v;
    }
    return 0;
}

/* The stream sequence of m: from its metadata when a consumer delivered it (the message
 * itself says 0 then), else its own (a direct get). */
static uint64_t stream_seq(natsMsg *m)
{
    jsMsgMetaData *meta = NULL;
    uint64_t seq = natsMsg_GetSequence(m);
    if (!seq && natsMsg_GetMetaData(&meta, m) == NATS_OK && meta) {
        seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
    }
    return seq;
}

/* A decimal header: 0 with *v, or -1 (missing, not all digits, out of range). */
static int header_u64(natsMsg *m, const char *name, uint64_t *v)
{
    const char *s = NULL;
    if (natsMsgHeader_Get(m, name, &s) != NATS_OK || !s || !*s ||
        strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(s, NULL, 10);
    if (errno)
        return -1;
    *v = n;
    return 0;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("maplog: mirror: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

static int connect_js(mirror *mr)
{
    if (nats_connect_list("mirror", mr->server, &mr->nc))
        return -1;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    if (natsConnection_JetStream(&mr->js, mr->nc, &jo) != NATS_OK)
        return fail("cannot get a JetStream context");
    return 0;
}

/* How long an ordered consumer may go without a message or heartbeat before the client
 * remakes it (after two): what a lost server costs the mirror. */
#define HEARTBEAT_MS 1000

/* Subscribe to the subject from stream sequence start (0: its first message), dropping any
 * subscription before. */
static int subscribe(mirror *mr, uint64_t start)
{
    if (mr->sub) {
        natsSubscription_Unsubscribe(mr->sub);
        natsSubscription_Destroy(mr->sub);
        mr->sub = NULL;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = mr->stream;
    so.Ordered = true;
    so.Config.Heartbeat = (int64_t)HEARTBEAT_MS * 1000000;
    so.Config.DeliverPolicy = start ? js_DeliverByStartSequence : js_DeliverAll;
    so.Config.OptStartSeq = start;
    jsErrCode jerr = 0;
    double since = now_s();
    for (long backoff = 200; !stop; backoff = next_backoff(backoff)) {
        natsStatus st = js_SubscribeSync(&mr->sub, mr->js, mr->subject, NULL, &so, &jerr);
        if (st == NATS_OK) {
            /* Flow control paces the server; a client-side limit it could still pass would
             * only drop a message, and the consumer would be remade after it. */
            natsSubscription_SetPendingLimits(mr->sub, -1, 256 << 20);
            return 0;
        }
        mr->sub = NULL;
        if ((jerr == JSStreamNotFoundErr || st == NATS_NOT_FOUND) && mr->once)
            return fail("no stream %s on %s", mr->stream, mr->server);
        fprintf(stderr, "maplog: mirror: cannot read subject %s of stream %s (%s, %d); retrying\n",
                mr->subject, mr->stream, natsStatus_GetText(st), (int)jerr);
        if (once_gives_up("mirror", since))
            break;
        sleep_ms(backoff);
    }
    return -1;
}

/* Open the local log, or create it as the log the first batch names. */
static int open_log(mirror *mr, natsMsg *first_msg, uint64_t stream_seq)
{
    maplog_options *o;
    if (maplog_options_create(&o))
        return fail("out of memory");
    uint8_t id[16];
    uint64_t first;
    const char *log_hex = NULL;
    natsMsgHeader_Get(first_msg, "Maplog-Log", &log_hex);
    if (unhex(id, log_hex) || header_u64(first_msg, "Maplog-First-Seq", &first)) {
        maplog_options_free(o);
        return fail("stream %s, message %" PRIu64 ": not a batch of maplog records (headers "
                    "Maplog-Log and Maplog-First-Seq missing or malformed)",
                    mr->stream, stream_seq);
    }
    maplog_options_set(o, MAPLOG_OPT_CREATE, 1);
    maplog_options_set_identity(o, id, first);
    int rc = maplog_open(&mr->log, mr->dir, o);
    maplog_options_free(o);
    if (rc)
        return fail("%s", maplog_last_open_error());
    memcpy(mr->id, id, 16);
    hex(mr->id_hex, id);
    if (maplog_next_seq(mr->log, &mr->next))
        return fail("%s", maplog_errmsg(mr->log));
    return 0;
}

/* One message: skip what the log holds, refuse anything wrong, append the rest.  0; 1, a
 * gap seen for the first time (nothing appended; look again with a new consumer); or -1
 * (said why; nothing of this message appended). */
static int apply(mirror *mr, natsMsg *m)
{
    uint64_t sseq = stream_seq(m), first, count;
    if (!mr->log && open_log(mr, m, sseq))
        return -1;
    const char *log_hex = NULL;
    natsMsgHeader_Get(m, "Maplog-Log", &log_hex);
    if (!log_hex || strcmp(log_hex, mr->id_hex) != 0)
        return fail("stream %s, message %" PRIu64 ": of log %s, not %s (one log per subject)",
                    mr->stream, sseq, log_hex ? log_hex : "(no Maplog-Log header)", mr->id_hex);
    if (header_u64(m, "Maplog-First-Seq", &first) || header_u64(m, "Maplog-Count", &count) ||
        !count || first + count < first)
        return fail("stream %s, message %" PRIu64
                    ": Maplog-First-Seq or Maplog-Count missing or malformed",
                    mr->stream, sseq);
    if (first + count <= mr->next) {
        mr->skipped += count;
        mr->last_sseq = sseq;
        return 0; /* the log holds all of it */
    }
    if (first > mr->next && !mr->regap) {
        mr->regap = 1;
        return 1;
    }
    if (first > mr->next)
        return fail("stream %s, message %" PRIu64 ": records %" PRIu64 "..%" PRIu64
                    ", but the log's next is %" PRIu64 " (records missing from the stream)",
                    mr->stream, sseq, first, first + count - 1, mr->next);
    /* Check the whole batch before appending any of it. */
    const unsigned char *body = (const unsigned char *)natsMsg_GetData(m);
    size_t left = (size_t)natsMsg_GetDataLength(m), off = 0;
    for (uint64_t i = 0; i < count; i++) {
        maplog_record rec;
        size_t used;
        const char *why;
        if (maplog_record_decode(body + off, left - off, first + i, &rec, &used, &why))
            return fail("stream %s, message %" PRIu64 ", record %" PRIu64 " (seq %" PRIu64
                        ", byte %zu of the body): %s",
                        mr->stream, sseq, i, first + i, off, why);
        off += used;
    }
    if (off != left)
        return fail("stream %s, message %" PRIu64 ": %zu bytes after its %" PRIu64 " records",
                    mr->stream, sseq, left - off, count);
    off = 0;
    for (uint64_t i = 0; i < count; i++) {
        maplog_record rec;
        size_t used;
        const char *why;
        uint64_t seq;
        maplog_record_decode(body + off, left - off, first + i, &rec, &used, &why);
        off += used;
        if (first + i < mr->next) {
            mr->skipped++;
            continue;
        }
        int rc = rec.flags & MAPLOG_RECORD_VOID
                     ? maplog_append_void(mr->log, &seq)
                     : maplog_append_ts(mr->log, rec.data, rec.len, rec.timestamp_ns, &seq);
        if (rc)
            return fail("%s: appending seq %" PRIu64 ": %s", mr->dir, first + i,
                        maplog_errmsg(mr->log));
        if (seq != first + i)
            return fail("%s: appended seq %" PRIu64 " got %" PRIu64 " (the log moved under the "
                        "mirror?)",
                        mr->dir, first + i, seq);
        mr->next = seq + 1;
        mr->appended++;
    }
    mr->last_sseq = sseq;
    mr->regap = 0;
    return 0;
}

/* --once: where the subject ends now (the sequence number after its last batch), so that
 * the mirror stops there and not at the first wait that happens to come back empty.  0
 * with *end (0: the subject holds nothing), or -1. */
static int subject_end(mirror *mr, uint64_t *end)
{
    natsMsg *m;
    int got = nats_last_msg("mirror", mr->js, mr->stream, mr->subject, 1, &m);
    if (got == -2)
        return fail("no stream %s on %s", mr->stream, mr->server);
    if (got <= 0) {
        *end = 0;
        return got;
    }
    uint64_t first, count;
    int ok = header_u64(m, "Maplog-First-Seq", &first) == 0 &&
             header_u64(m, "Maplog-Count", &count) == 0 && first + count >= first;
    uint64_t sseq = natsMsg_GetSequence(m);
    natsMsg_Destroy(m);
    if (!ok)
        return fail("stream %s, message %" PRIu64
                    " (the subject's last): Maplog-First-Seq or Maplog-Count missing or "
                    "malformed",
                    mr->stream, sseq);
    *end = first + count;
    return 0;
}

static int run(mirror *mr)
{
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    if (connect_js(mr) || subscribe(mr, 0))
        return EXIT_PROBLEMS;
    int status = EXIT_OK;
    uint64_t end = 0;
    if (mr->once && subject_end(mr, &end))
        return EXIT_PROBLEMS;
    double t0 = now_s(), last_msg = t0;
    while (!stop && !(mr->once && (end == 0 || (mr->log && mr->next >= end)))) {
        /* A message comes as soon as the server has it; the wait only bounds how long a
         * stop goes unseen. */
        natsMsg *m = NULL;
        natsStatus st = natsSubscription_NextMsg(&m, mr->sub, mr->once ? 100 : 500);
        if (st == NATS_OK) {
            int rc = apply(mr, m);
            natsMsg_Destroy(m);
            last_msg = now_s();
            if (rc < 0) {
                status = EXIT_PROBLEMS;
                break;
            }
            if (rc > 0 && subscribe(mr, mr->last_sseq + 1))
                break; /* a stop */
            continue;
        }
        /* --once and nothing comes, though the subject goes on to end: its messages were
         * removed (stream limits) or are out of reach; say so rather than wait for ever */
        if (mr->once && now_s() - last_msg > 30) {
            fail("stream %s: subject %s ends at seq %" PRIu64 ", but no message came for 30 s "
                 "after seq %" PRIu64,
                 mr->stream, mr->subject, end, mr->next);
            status = EXIT_PROBLEMS;
            break;
        }
        if (st != NATS_TIMEOUT) {
            /* a missed heartbeat (the client is remaking the consumer), a closed
             * connection being remade: said, and waited out */
            fprintf(stderr, "maplog: mirror: %s; waiting\n", natsStatus_GetText(st));
            sleep_ms(200);
        }
    }
    double dt = now_s() - t0;
    fprintf(stderr,
            "maplog: mirror: %" PRIu64 " records appended, %" PRIu64
            " already held, in %.2f s (%.0f records/s)\n",
            mr->appended, mr->skipped, dt, dt > 0 ? (double)mr->appended / dt : 0.0);
    if (mr->log && maplog_close(mr->log) != 0 && status == EXIT_OK) {
        fprintf(stderr, "maplog: mirror: %s: close: %s\n", mr->dir, maplog_errmsg(mr->log));
        status = EXIT_PROBLEMS;
    }
    if (mr->sub) {
        natsSubscription_Unsubscribe(mr->sub);
        natsSubscription_Destroy(mr->sub);
    }
    jsCtx_Destroy(mr->js);
    natsConnection_Destroy(mr->nc);
    nats_Close();
    return status;
}

static const char usage_text[] =
    "usage: maplog mirror DIR --server nats://HOST:PORT[,...] --stream NAME --subject SUBJ\n"
    "                     [--once]\n"
    "Rebuild a log from the batches `maplog ship` sent to SUBJ of a JetStream stream:\n"
    "DIR becomes (or is) the same log -- its log id, sequence numbers and timestamps.\n"
    "Every record's CRC-32C is checked before its batch is appended.  The log's next\n"
    "sequence number is the cursor: a restart goes on from there, exactly once.\n"
    "Follows the stream until interrupted; --once stops once caught up, and gives up\n"
    "(exit 1) on a failure that lasts 60 s ($MAPLOG_ONCE_PATIENCE seconds).\n"
    "Exit status: 0 done (or stopped by SIGINT/SIGTERM), 1 failed, 2 usage error.\n";

int main(int argc, char **argv)
{
    enum { OPT_SERVER = 256, OPT_STREAM, OPT_SUBJECT, OPT_ONCE };
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"once", no_argument, NULL, OPT_ONCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mirror mr = {0};
    int c, help = 0;
    const char *bad = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            help = 1;
            break;
        case 1:
            if (mr.dir)
                bad = bad ? bad : "one DIR only";
            mr.dir = optarg;
            break;
        case OPT_SERVER:
            mr.server = optarg;
            break;
        case OPT_STREAM:
            mr.stream = optarg;
            break;
        case OPT_SUBJECT:
            mr.subject = optarg;
            break;
        case OPT_ONCE:
            mr.once = once_mode = 1;
            break;
        case ':':
            bad = bad ? bad : "an option needs a value";
            break;
        default:
            bad = bad ? bad : "unknown option";
            break;
        }
    }
    for (; optind < argc; optind++) {
        if (mr.dir)
            bad = bad ? bad : "one DIR only";
        mr.dir = argv[optind];
    }
    if (help) {
        fputs(usage_text, stdout);
        return fflush(stdout) ? EXIT_PROBLEMS : EXIT_OK;
    }
    if (!bad && (!mr.dir || !mr.server || !mr.stream || !mr.subject || !*mr.dir || !*mr.server ||
                 !*mr.stream || !*mr.subject))
        bad = "DIR, --server, --stream and --subject are needed";
    if (bad) {
        fprintf(stderr, "maplog: mirror: %s\n(maplog mirror --help)\n", bad);
        return EXIT_USAGE;
    }
    return run(&mr);
}
