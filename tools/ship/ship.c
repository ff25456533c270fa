/*
 * ship.c -- maplog-ship, run as `maplog ship`: follow a log and publish every record to a
 * NATS JetStream stream, exactly once, across shipper restarts, server restarts and cluster
 * failover.
 *
 * It is an executable of its own so that the maplog tool needs no NATS client (nor the TLS
 * and protobuf libraries the client brings): `maplog ship ARGS` finds this program and
 * execs it (subcmd.c), as git runs its subcommands.  It is built only when the NATS C
 * client is installed.
 *
 * Records go in batches by default (docs/FORMAT.md, "Shipped batches"): each message holds
 * the records' images exactly as in the segment, so the receiver checks every record's own
 * CRC-32C.  One batch is in flight per subject; exactly once, by construction: its id
 * "<log id>:<first seq>" dedupes a resend, and Nats-Expected-Last-Subject-Sequence (the
 * stream sequence of the subject's previous message, from the last acknowledgement)
 * refuses a gap, per subject, so several logs -- one subject each -- share a stream.  On
 * start, and after a failure, the subject's last message says where to go on.
 *
 * --per-record sends one message per record.  Exactly once, by construction:
 *   - every message carries Nats-Msg-Id "<log id>:<seq>" (the stream's duplicate window
 *     drops a resend) and Nats-Expected-Last-Msg-Id, the id of the record before it, so
 *     the stream refuses a message whose predecessor it does not hold: no gap can form,
 *     however many publishes are in flight when something fails;
 *   - the stream itself is the cursor: on start, and after any failed publish, the shipper
 *     reads the stream's last message back (js_GetLastMsg), checks it is this log's, and
 *     continues from the record after it.  Nothing to keep in step on local disk.
 * Publishes are asynchronous with at most --max-inflight outstanding, so throughput is not
 * one round trip per record.  The server being down is never a reason to drop a record:
 * the shipper retries with back-off (the client library reconnects; the shipper re-reads
 * its position and goes on), reporting on stderr.
 *
 * The stream must hold this log's records only (Expected-Last-Msg-Id is per stream).
 */
#define _GNU_SOURCE
#include "maplog.h"
#include "natsconn.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_PROBLEMS = 1, EXIT_USAGE = 2 };

/* A failed publish, seen by the NATS client's thread (on_pub_err) or by the main thread.
 * pub_failed is the flag the publish loop polls; fail_text, the first failure's words, is
 * written and read under fail_lock only, so a reader never sees it half written. */
static _Atomic int pub_failed;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_text[256];

static void note_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_failure(const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);
    if (!atomic_load(&pub_failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fail_text, sizeof fail_text, fmt, ap);
        va_end(ap);
        atomic_store(&pub_failed, 1);
    }
    pthread_mutex_unlock(&fail_lock);
}

/* Clear the failure flag; 1, with the failure's words copied to buf, when it was set. */
static int take_failure(char *buf, size_t len)
{
    pthread_mutex_lock(&fail_lock);
    int failed = atomic_exchange(&pub_failed, 0);
    if (failed)
        snprintf(buf, len, "%s", fail_text);
    pthread_mutex_unlock(&fail_lock);
    return failed;
}

static void on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js, (void)closure;
    note_failure("%s (%d)", pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err),
                 (int)pae->ErrCode);
}

typedef struct shipper {
    const char *dir, *servers, *stream, *subject, *stream_subjects;
    int once, create, replicas, per_record;
    int64_t inflight, batch_bytes, linger_ms;
    char log_id[40]; /* the log id in hex: the first part of every Nats-Msg-Id */
    natsConnection *nc;
    jsCtx *js;
} shipper;

/* The log's identity for message ids: the 16-byte log id, in hex.  0, 1 when the log has
 * no record yet (nothing to ship), -1 on error. */
static int log_identity(shipper *s)
{
    maplog_reader *r;
    maplog_record rec;
    uint8_t id[16];
    if (maplog_reader_open(&r, s->dir, 0)) {
        fprintf(stderr, "maplog: ship: %s\n", maplog_last_open_error());
        return -1;
    }
    int rc = maplog_reader_log_id(r, id);
    if (rc == 0)
        for (int i = 0; i < 16; i++)
            snprintf(s->log_id + 2 * i, 3, "%02x", id[i]);
    else
        fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
    int empty = rc == 0 && maplog_reader_next(r, &rec) == MAPLOG_END;
    maplog_reader_close(r);
    return rc ? -1 : empty ? 1 : 0;
}

static int connect_all(shipper *s)
{
    if (nats_connect_list("ship", s->servers, &s->nc))
        return -1;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = s->inflight;
    jo.PublishAsync.ErrHandler = on_pub_err;
    jo.Wait = 5000;
    if (natsConnection_JetStream(&s->js, s->nc, &jo) != NATS_OK) {
        fprintf(stderr, "maplog: ship: cannot get a JetStream context\n");
        return -1;
    }
    return 0;
}

/* Make sure the stream exists (creating it with --create-stream). */
static int ensure_stream(shipper *s)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    double since = now_s();
    for (long backoff = 200; !stop; backoff = next_backoff(backoff)) {
        natsStatus st = js_GetStreamInfo(&si, s->js, s->stream, NULL, &jerr);
        if (st == NATS_OK) {
            jsStreamInfo_Destroy(si);
            return 0;
        }
        if (st == NATS_NOT_FOUND && s->create) {
            jsStreamConfig cfg;
            const char *subjects[1] = {s->stream_subjects ? s->stream_subjects : s->subject};
            jsStreamConfig_Init(&cfg);
            cfg.Name = s->stream;
            cfg.Subjects = subjects;
            cfg.SubjectsLen = 1;
            cfg.Storage = js_FileStorage;
            cfg.Replicas = s->replicas;
            cfg.Duplicates = (int64_t)10 * 60 * 1000000000; /* 10 minutes, in ns */
            st = js_AddStream(&si, s->js, &cfg, NULL, &jerr);
            if (st == NATS_OK) {
                jsStreamInfo_Destroy(si);
                return 0;
            }
        } else if (st == NATS_NOT_FOUND) {
            fprintf(stderr, "maplog: ship: no stream %s (create it, or use --create-stream)\n",
                    s->stream);
            return -1;
        }
        fprintf(stderr, "maplog: ship: stream %s not ready (%s, %d); retrying in %ld ms\n",
                s->stream, natsStatus_GetText(st), (int)jerr, backoff);
        if (once_gives_up("ship", since))
            break;
        sleep_ms(backoff);
    }
    return -1;
}

/* Where to go on: the record after the stream's last message (which must be ours). */
static int resume_point(shipper *s, uint64_t first_present, uint64_t *next, char *last_id,
                        size_t last_id_len)
{
    natsMsg *m;
    int got = nats_last_msg("ship", s->js, s->stream, s->subject, 0, &m);
    if (got <= 0) {
        *next = first_present;
        last_id[0] = 0;
        return got;
    }
    const char *id = NULL, *seq = NULL;
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    natsMsgHeader_Get(m, "Maplog-Seq", &seq);
    int ours =
        id && seq && strncmp(id, s->log_id, strlen(s->log_id)) == 0 && id[strlen(s->log_id)] == ':';
    if (!ours) {
        fprintf(stderr,
                "maplog: ship: stream %s's last message (id %s) is not from this log "
                "(%s): refusing to mix logs in one stream\n",
                s->stream, id ? id : "none", s->log_id);
        natsMsg_Destroy(m);
        return -1;
    }
    *next = strtoull(seq, NULL, 10) + 1;
    snprintf(last_id, last_id_len, "%s", id);
    natsMsg_Destroy(m);
    return 0;
}

/* ---- batches (docs/FORMAT.md, "Shipped batches") ---------------------------------------- */

/* Records on their way: their images, back to back, as in the segment. */
typedef struct batch {
    unsigned char *buf;
    size_t len, cap;
    uint64_t first, count;
    double started; /* when its first record was added (now_s) */
} batch;

static int batch_add(batch *b, const void *img, size_t len, uint64_t seq)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *nb = realloc(b->buf, cap);
        if (!nb)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    if (!b->count) {
        b->first = seq;
        b->started = now_s();
    }
    memcpy(b->buf + b->len, img, len);
    b->len += len;
    b->count++;
    return 0;
}

/* What the subject's last message says: 0 with *next (the log's next sequence number to
 * ship) and *subj_seq (its stream sequence; 0: the subject holds nothing); -1 when it is
 * not this log's, or on a stop. */
static int batch_resume(shipper *s, uint64_t first_present, uint64_t *next, uint64_t *subj_seq,
                        uint64_t *last_first)
{
    natsMsg *m;
    int got = nats_last_msg("ship", s->js, s->stream, s->subject, 0, &m);
    if (got <= 0) {
        *next = first_present;
        *subj_seq = *last_first = 0;
        return got;
    }
    const char *log = NULL, *first = NULL, *count = NULL, *seq = NULL, *id = NULL;
    natsMsgHeader_Get(m, "Maplog-Log", &log);
    natsMsgHeader_Get(m, "Maplog-First-Seq", &first);
    natsMsgHeader_Get(m, "Maplog-Count", &count);
    natsMsgHeader_Get(m, "Maplog-Seq", &seq);
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    size_t idl = strlen(s->log_id);
    int ours = (log && strcmp(log, s->log_id) == 0) ||
               (!log && id && strncmp(id, s->log_id, idl) == 0 && id[idl] == ':');
    if (!ours || !((first && count) || seq)) {
        fprintf(stderr,
                "maplog: ship: subject %s of stream %s ends with a message (stream seq "
                "%" PRIu64 ") that is not this log's (%s): one log per subject\n",
                s->subject, s->stream, natsMsg_GetSequence(m), s->log_id);
        natsMsg_Destroy(m);
        return -1;
    }
    *last_first = first ? strtoull(first, NULL, 10) : strtoull(seq, NULL, 10);
    *next = first ? *last_first + strtoull(count, NULL, 10) : *last_first + 1;
    *subj_seq = natsMsg_GetSequence(m);
    natsMsg_Destroy(m);
    return 0;
}

/* Publish b, the batch after the subject's message *subj_seq, and wait for the stream to
 * hold it: the message id dedupes a resend, and the expected last subject sequence refuses
 * a gap.  A failure is retried (from what the stream says it holds) until it is stored or
 * a stop; 0 with *subj_seq its stream sequence, -1 on a stop or when the stream holds what
 * this shipper did not send. */
static int batch_publish(shipper *s, batch *b, uint64_t *subj_seq)
{
    char id[96], first[24], count[24], expect[24];
    snprintf(id, sizeof id, "%s:%" PRIu64, s->log_id, b->first);
    snprintf(first, sizeof first, "%" PRIu64, b->first);
    snprintf(count, sizeof count, "%" PRIu64, b->count);
    double since = now_s();
    for (long backoff = 100; !stop; backoff = next_backoff(backoff)) {
        natsMsg *m = NULL;
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 10000;
        snprintf(expect, sizeof expect, "%" PRIu64, *subj_seq);
        natsStatus st = natsMsg_Create(&m, s->subject, NULL, (const char *)b->buf, (int)b->len);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", expect);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Maplog-Log", s->log_id);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Maplog-First-Seq", first);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Maplog-Count", count);
        if (st == NATS_OK)
            st = js_PublishMsg(&pa, s->js, m, &po, &jerr);
        if (m)
            natsMsg_Destroy(m);
        if (st == NATS_OK && pa) {
            *subj_seq = pa->Sequence;
            jsPubAck_Destroy(pa);
            return 0;
        }
        /* Not known to be stored: ask the stream what the subject ends with. */
        fprintf(stderr,
                "maplog: ship: publishing records %s..%" PRIu64 ": %s (%d)%s; checking "
                "the stream\n",
                first, b->first + b->count - 1, natsStatus_GetText(st), (int)jerr,
                st == NATS_NO_RESPONDERS ? " -- no stream takes this subject: is it one of the "
                                           "stream's subjects?"
                                         : "");
        uint64_t next, seq, last_first;
        if (batch_resume(s, 0, &next, &seq, &last_first))
            return -1;
        if (seq && last_first == b->first && next == b->first + b->count) {
            *subj_seq = seq; /* it was stored; only its answer was lost */
            return 0;
        }
        if (next != b->first) {
            fprintf(stderr,
                    "maplog: ship: subject %s ends before or after these records (next "
                    "%" PRIu64 ", batch %s..%" PRIu64 "): another shipper?\n",
                    s->subject, next, first, b->first + b->count - 1);
            return -1;
        }
        *subj_seq = seq;
        if (once_gives_up("ship", since))
            break;
        sleep_ms(backoff);
    }
    return -1;
}

/* Ship in batches: the default.  The exit status. */
static int ship_batches(shipper *s, maplog_reader *r, uint64_t first_present, uint64_t *shipped)
{
    uint64_t next, subj_seq, last_first;
    batch b = {0};
    int status = 0;
    if (batch_resume(s, first_present, &next, &subj_seq, &last_first))
        return 1;
    if (next > first_present && maplog_reader_seek(r, next) != 0) {
        fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
        return 1;
    }
    const double linger = (double)s->linger_ms / 1000.0;
    while (!stop) {
        maplog_record rec;
        int rrc = maplog_reader_next(r, &rec);
        if (rrc == 0) {
            const void *img;
            size_t ilen;
            if (maplog_reader_record_image(r, &img, &ilen) != 0) {
                fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
                status = 1;
                break;
            }
            if (b.count && b.len + ilen > (size_t)s->batch_bytes) {
                if (batch_publish(s, &b, &subj_seq)) {
                    status = 1;
                    break;
                }
                *shipped += b.count;
                b.len = b.count = 0;
            }
            if (ilen + 1024 > (size_t)natsConnection_GetMaxPayload(s->nc)) {
                fprintf(stderr,
                        "maplog: ship: record %" PRIu64 " is %zu bytes, over the server's "
                        "largest message (%" PRId64 " bytes)\n",
                        rec.seq, ilen, natsConnection_GetMaxPayload(s->nc));
                status = 1;
                break;
            }
            if (batch_add(&b, img, ilen, rec.seq)) {
                fprintf(stderr, "maplog: ship: out of memory\n");
                status = 1;
                break;
            }
            continue;
        }
        if (rrc != MAPLOG_END) {
            fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
            status = 1;
            break;
        }
        /* At the end for now: a batch goes once it has lingered long enough. */
        double waited = b.count ? now_s() - b.started : 0;
        if (b.count && (s->once || waited >= linger)) {
            if (batch_publish(s, &b, &subj_seq)) {
                status = 1;
                break;
            }
            *shipped += b.count;
            b.len = b.count = 0;
            continue;
        }
        if (s->once)
            break;
        int ms = b.count ? (int)((linger - waited) * 1000.0) + 1 : 200;
        maplog_reader_wait(r, ms < 200 ? ms : 200);
    }
    free(b.buf);
    return status;
}

static const char usage_text[] =
    "usage: maplog ship DIR --server nats://HOST:PORT[,...] --stream NAME\n"
    "                   --subject SUBJ [--once] [--batch-bytes N] [--linger-ms MS]\n"
    "                   [--per-record [--max-inflight N]]\n"
    "                   [--create-stream [--replicas R] [--stream-subjects S]]\n"
    "Publish every record of the log to a NATS JetStream stream, exactly once,\n"
    "following the log as it grows (like tail -f) until interrupted; --once\n"
    "ships what exists and exits, and gives up (exit 1) on a failure that lasts\n"
    "60 s ($MAPLOG_ONCE_PATIENCE seconds): following retries for as long as it\n"
    "takes.  Restarts resume after what the stream holds.\n"
    "By default records go in batches: each message holds up to --batch-bytes\n"
    "(default 262144) of records exactly as in the segment, CRC-32C included,\n"
    "and a batch waits at most --linger-ms (default 10) for more; headers\n"
    "Nats-Msg-Id (<log>:<first seq>), Maplog-Log, Maplog-First-Seq, Maplog-Count\n"
    "(docs/FORMAT.md, \"Shipped batches\").  Each log needs a subject of its own;\n"
    "several logs may share a stream (--create-stream --stream-subjects 'logs.>'\n"
    "makes one for every subject under logs.).  --per-record sends one message\n"
    "per record (headers Nats-Msg-Id <log>:<seq>, Maplog-Seq and Maplog-Ts; the\n"
    "payload is the record), for consumers that want that; the stream must then\n"
    "hold this log's records only.\n"
    "Options take their value as --opt VALUE or --opt=VALUE; -- ends the options.\n"
    "Exit status: 0 done (or stopped by SIGINT/SIGTERM), 1 failed, 2 usage error.\n";

/* Keep the first usage mistake; it is reported only if there is no --help. */
static void usage_note(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void usage_note(char *err, size_t len, const char *fmt, ...)
{
    if (err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* A whole decimal number in [lo, hi], or -1 (not a number, or out of range). */
static int parse_count(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

/* Read the command line into s.  Returns -1 to go on, else the exit status: EXIT_OK after
 * printing the usage (--help or -h anywhere wins over any mistake beside it), EXIT_USAGE
 * after saying what is wrong.  Every argument is read before any mistake is reported. */
static int parse_args(shipper *s, int argc, char **argv)
{
    enum {
        OPT_SERVER = 256,
        OPT_STREAM,
        OPT_SUBJECT,
        OPT_ONCE,
        OPT_INFLIGHT,
        OPT_CREATE,
        OPT_REPLICAS,
        OPT_PER_RECORD,
        OPT_BATCH_BYTES,
        OPT_LINGER,
        OPT_STREAM_SUBJECTS
    };
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"once", no_argument, NULL, OPT_ONCE},
        {"max-inflight", required_argument, NULL, OPT_INFLIGHT},
        {"create-stream", no_argument, NULL, OPT_CREATE},
        {"replicas", required_argument, NULL, OPT_REPLICAS},
        {"per-record", no_argument, NULL, OPT_PER_RECORD},
        {"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
        {"linger-ms", required_argument, NULL, OPT_LINGER},
        {"stream-subjects", required_argument, NULL, OPT_STREAM_SUBJECTS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[512] = "";
    int help = 0, replicas_given = 0, batch_given = 0, c;
    int64_t n;
    /* "-": arguments that are not options come back in place (code 1), so DIR may come
     * anywhere whatever POSIXLY_CORRECT says; ":": a missing value is told apart. */
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
        const char *opt = argv[optind - 1];
        /* `--stream --once`: a value taken from the next argument that is itself an option
         * is a forgotten value (--stream=-x says it is meant) */
        int looks_like_option = c >= OPT_SERVER && optarg && optarg == argv[optind - 1] &&
                                optarg[0] == '-' && optarg[1];
        if (looks_like_option)
            opt = argv[optind - 2];
        switch (c) {
        case 'h':
            help = 1;
            break;
        case 1:
            if (!s->dir && optarg[0])
                s->dir = optarg;
            else if (!optarg[0])
                usage_note(err, sizeof err, "DIR is empty");
            else
                usage_note(err, sizeof err, "unexpected argument '%s' (one DIR only)", optarg);
            break;
        case OPT_SERVER:
        case OPT_STREAM:
        case OPT_SUBJECT:
        case OPT_STREAM_SUBJECTS:
            if (looks_like_option || !optarg[0]) {
                usage_note(err, sizeof err, "%.*s needs a value%s%s%s", (int)strcspn(opt, "="), opt,
                           optarg[0] ? ", not the option '" : "", optarg[0] ? optarg : "",
                           optarg[0] ? "'" : "");
                break;
            }
            *(c == OPT_SERVER    ? &s->servers
              : c == OPT_STREAM  ? &s->stream
              : c == OPT_SUBJECT ? &s->subject
                                 : &s->stream_subjects) = optarg;
            break;
        case OPT_ONCE:
            s->once = once_mode = 1;
            break;
        case OPT_CREATE:
            s->create = 1;
            break;
        case OPT_PER_RECORD:
            s->per_record = 1;
            break;
        case OPT_BATCH_BYTES:
            /* the server's largest message is 1 MiB unless configured otherwise */
            if (parse_count(optarg, 4096, 64 << 20, &n))
                usage_note(err, sizeof err,
                           "--batch-bytes: '%s' is not a number from 4096 to 67108864", optarg);
            else
                s->batch_bytes = n, batch_given = 1;
            break;
        case OPT_LINGER:
            if (parse_count(optarg, 0, 60000, &n))
                usage_note(err, sizeof err, "--linger-ms: '%s' is not a number from 0 to 60000",
                           optarg);
            else
                s->linger_ms = n, batch_given = 1;
            break;
        case OPT_INFLIGHT:
            if (parse_count(optarg, 1, INT64_MAX, &n))
                usage_note(err, sizeof err, "--max-inflight: '%s' is not a whole number >= 1",
                           optarg);
            else
                s->inflight = n; /* used by --per-record; batches have one in flight */
            break;
        case OPT_REPLICAS:
            /* JetStream keeps at most 5 replicas; more would be refused by the server on
             * every retry of the stream's creation */
            if (parse_count(optarg, 1, 5, &n))
                usage_note(err, sizeof err, "--replicas: '%s' is not a number from 1 to 5", optarg);
            else
                s->replicas = (int)n, replicas_given = 1;
            break;
        case ':':
            usage_note(err, sizeof err, "%s needs a value", opt);
            break;
        default: /* '?' */
            if (optopt >= OPT_SERVER)
                usage_note(err, sizeof err, "%.*s takes no value", (int)strcspn(opt, "="), opt);
            else if (optopt)
                usage_note(err, sizeof err, "unknown option '-%c'", optopt);
            else
                usage_note(err, sizeof err, "unknown option '%s'", opt);
            break;
        }
    }
    for (; optind < argc; optind++) { /* after "--" */
        if (!s->dir && argv[optind][0])
            s->dir = argv[optind];
        else
            usage_note(err, sizeof err, "unexpected argument '%s' (one DIR only)", argv[optind]);
    }
    if (help) {
        fputs(usage_text, stdout);
        return fflush(stdout) ? EXIT_PROBLEMS : EXIT_OK;
    }
    if (!err[0] && (batch_given && s->per_record))
        usage_note(err, sizeof err,
                   "--batch-bytes and --linger-ms apply to batches, not --per-record");
    if (!err[0] && s->stream_subjects && !s->create)
        usage_note(err, sizeof err, "--stream-subjects applies to a stream --create-stream makes");
    if (!err[0] && replicas_given && !s->create)
        usage_note(err, sizeof err, "--replicas applies to a stream --create-stream makes");
    if (!err[0] && (!s->dir || !s->servers || !s->stream || !s->subject))
        usage_note(err, sizeof err,
                   "missing%s%s%s%s (DIR, --server, --stream and --subject are needed)",
                   s->dir ? "" : " DIR", s->servers ? "" : " --server",
                   s->stream ? "" : " --stream", s->subject ? "" : " --subject");
    if (!err[0] && s->servers) { /* every URL is used: none dropped past a fixed count */
        int urls = 1, empty = !*s->servers || s->servers[strlen(s->servers) - 1] == ',';
        for (const char *p = s->servers; *p; p++)
            urls += *p == ',', empty |= p[0] == ',' && p[1] == ',';
        if (urls > MAX_SERVERS || empty || s->servers[0] == ',')
            usage_note(err, sizeof err, "--server '%s': 1 to %d comma-separated URLs, none empty",
                       s->servers, MAX_SERVERS);
    }
    if (err[0]) {
        fprintf(stderr, "maplog: ship: %s\n(maplog ship --help)\n", err);
        return EXIT_USAGE;
    }
    return -1;
}

/* Ship until the log is drained (--once) or a signal ends it.  The exit status. */
static int ship(shipper *s)
{
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    int rc;
    while ((rc = log_identity(s)) == 1 && !s->once && !stop)
        sleep_ms(200); /* an empty log: wait for its first record */
    if (rc)
        return rc < 0 ? 1 : 0;
    if (connect_all(s) || ensure_stream(s))
        return 1;

    maplog_reader *r;
    if (maplog_reader_open(&r, s->dir, 0)) {
        fprintf(stderr, "maplog: ship: %s\n", maplog_last_open_error());
        return 1;
    }
    int64_t first_present = 0;
    maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &first_present);
    uint64_t next, shipped = 0;
    char prev_id[96], id[96], seqs[24], tss[24];
    int status = 0;
    double t0 = now_s();
    if (!s->per_record) {
        status = ship_batches(s, r, (uint64_t)first_present, &shipped);
        goto out;
    }
    if (resume_point(s, (uint64_t)first_present, &next, prev_id, sizeof prev_id)) {
        status = 1;
        goto out;
    }
    if (next > (uint64_t)first_present && maplog_reader_seek(r, next) != 0) {
        fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
        status = 1;
        goto out;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    while (!stop) {
        maplog_record rec;
        int rrc = maplog_reader_next(r, &rec);
        int at_end = rrc == MAPLOG_END;
        if (rrc && !at_end) {
            fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
            status = 1;
            break;
        }
        if (!at_end) {
            natsMsg *m = NULL;
            snprintf(id, sizeof id, "%s:%" PRIu64, s->log_id, rec.seq);
            snprintf(seqs, sizeof seqs, "%" PRIu64, rec.seq);
            snprintf(tss, sizeof tss, "%" PRIu64, rec.timestamp_ns);
            natsStatus st = natsMsg_Create(&m, s->subject, NULL, rec.data, (int)rec.len);
            if (st == NATS_OK)
                st = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
            if (st == NATS_OK)
                st = prev_id[0] ? natsMsgHeader_Set(m, "Nats-Expected-Last-Msg-Id", prev_id)
                                : natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", "0");
            if (st == NATS_OK)
                st = natsMsgHeader_Set(m, "Maplog-Seq", seqs);
            if (st == NATS_OK)
                st = natsMsgHeader_Set(m, "Maplog-Ts", tss);
            if (st == NATS_OK)
                st = js_PublishMsgAsync(s->js, &m, &po);
            if (m)
                natsMsg_Destroy(m);
            if (st == NATS_OK) {
                snprintf(prev_id, sizeof prev_id, "%s", id);
                shipped++;
            } else {
                note_failure("publish: %s", natsStatus_GetText(st));
            }
        }
        if (at_end || atomic_load(&pub_failed)) {
            /* wait for every outstanding ack; on any failure, go back to what the stream
             * holds and go on from there (the stream's checks keep it gap-free) */
            jsPubOptions cw;
            jsPubOptions_Init(&cw);
            cw.MaxWait = 30000;
            js_PublishAsyncComplete(s->js, &cw);
            char why[sizeof fail_text];
            if (take_failure(why, sizeof why)) {
                fprintf(stderr,
                        "maplog: ship: a publish failed (%s); resuming from the "
                        "stream's last message\n",
                        why);
                if (resume_point(s, (uint64_t)first_present, &next, prev_id, sizeof prev_id)) {
                    status = 1;
                    break;
                }
                if (maplog_reader_seek(r, next) != 0 && next > (uint64_t)first_present) {
                    fprintf(stderr, "maplog: ship: %s\n", maplog_reader_errmsg(r));
                    status = 1;
                    break;
                }
                sleep_ms(100);
                continue;
            }
            if (at_end) {
                if (s->once)
                    break;
                maplog_reader_wait(r, 200);
            }
        }
    }
out:;
    jsPubOptions cw;
    jsPubOptions_Init(&cw);
    cw.MaxWait = 30000;
    if (s->js)
        js_PublishAsyncComplete(s->js, &cw);
    double dt = now_s() - t0;
    fprintf(stderr, "maplog: ship: %" PRIu64 " records published in %.2f s (%.0f records/s)%s\n",
            shipped, dt, dt > 0 ? (double)shipped / dt : 0.0,
            atomic_load(&pub_failed) ? "; the last publishes failed" : "");
    maplog_reader_close(r);
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    nats_Close();
    return status;
}

int main(int argc, char **argv)
{
    shipper s = {0};
    s.inflight = 4096;
    s.replicas = 1;
    s.batch_bytes = 256 << 10;
    s.linger_ms = 10;
    int rc = parse_args(&s, argc, argv);
    return rc >= 0 ? rc : ship(&s);
}
