/* ship_check.c -- read a JetStream stream back with the NATS C client and check it holds
 * exactly the records mklog wrote: seq FIRST..FIRST+N-1, each once, in order, with the
 * payload mklog wrote -- one per message (Maplog-Seq / Nats-Msg-Id headers), or in batches
 * (docs/FORMAT.md, "Shipped batches"), every record's CRC-32C checked with
 * maplog_record_decode().
 *   ship_check nats://HOST:PORT STREAM N [--pad BYTES] [--subject SUBJ]
 * Prints what it found; exit 0 only if everything is there exactly once.  --subject reads
 * that subject only (several logs in one stream, a subject each).
 *
 * Two more modes, for crafting messages a receiver must refuse:
 *   ship_check --get URL STREAM SEQ|SUBJECT HDRFILE BODYFILE
 *     writes the message at stream sequence SEQ (or SUBJECT's last message) to HDRFILE,
 *     one "Name: value" line a header value, and BODYFILE, its body; prints its stream
 *     sequence and subject;
 *   ship_check --publish URL SUBJECT HDRFILE BODYFILE
 *     publishes BODYFILE with HDRFILE's headers (the same form) to SUBJECT through
 *     JetStream; prints the stream sequence the server stored it at.
 * Exit 0 done, 1 failed. */
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maplog.h"
#include "mklog_payload.h"

static int js_connect(const char *url, natsConnection **nc, jsCtx **js)
{
    if (natsConnection_ConnectTo(nc, url) != NATS_OK ||
        natsConnection_JetStream(js, *nc, NULL) != NATS_OK) {
        fprintf(stderr, "ship_check: cannot connect to %s\n", url);
        return -1;
    }
    return 0;
}

static void js_close(natsConnection *nc, jsCtx *js)
{
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
}

static int get_mode(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: ship_check --get URL STREAM SEQ|SUBJECT HDRFILE BODYFILE\n");
        return 2;
    }
    const char *which = argv[4];
    natsConnection *nc;
    jsCtx *js;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    if (js_connect(argv[2], &nc, &js))
        return 1;
    natsStatus st = strspn(which, "0123456789") == strlen(which)
                        ? js_GetMsg(&m, js, argv[3], strtoull(which, NULL, 10), NULL, &jerr)
                        : js_GetLastMsg(&m, js, argv[3], which, NULL, &jerr);
    int rc = 1;
    if (st != NATS_OK) {
        fprintf(stderr, "ship_check: no message %s in stream %s: %s (%d)\n", which, argv[3],
                natsStatus_GetText(st), (int)jerr);
        goto out;
    }
    FILE *h = fopen(argv[5], "w"), *b = fopen(argv[6], "wb");
    const char **keys = NULL;
    int nkeys = 0;
    if (!h || !b) {
        fprintf(stderr, "ship_check: cannot write %s or %s\n", argv[5], argv[6]);
    } else {
        if (natsMsgHeader_Keys(m, &keys, &nkeys) != NATS_OK)
            nkeys = 0;
        for (int i = 0; i < nkeys; i++) {
            const char **vals = NULL;
            int nvals = 0;
            if (natsMsgHeader_Values(m, keys[i], &vals, &nvals) == NATS_OK) {
                for (int j = 0; j < nvals; j++)
                    fprintf(h, "%s: %s\n", keys[i], vals[j]);
                free((void *)vals);
            }
        }
        free((void *)keys);
        int len = natsMsg_GetDataLength(m);
        if ((len == 0 || fwrite(natsMsg_GetData(m), (size_t)len, 1, b) == 1) && !ferror(h))
            rc = 0;
        printf("stream seq %" PRIu64 " subject %s\n", natsMsg_GetSequence(m),
               natsMsg_GetSubject(m));
    }
    if (h && fclose(h))
        rc = 1;
    if (b && fclose(b))
        rc = 1;
    natsMsg_Destroy(m);
out:
    js_close(nc, js);
    return rc;
}

static int publish_mode(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: ship_check --publish URL SUBJECT HDRFILE BODYFILE\n");
        return 2;
    }
    static char body[64 << 20];
    FILE *b = fopen(argv[5], "rb"), *h = fopen(argv[4], "r");
    if (!b || !h) {
        fprintf(stderr, "ship_check: cannot read %s or %s\n", argv[4], argv[5]);
        return 1;
    }
    size_t len = fread(body, 1, sizeof body, b);
    fclose(b);
    natsConnection *nc;
    jsCtx *js;
    if (js_connect(argv[2], &nc, &js))
        return 1;
    natsMsg *m = NULL;
    natsStatus st = natsMsg_Create(&m, argv[3], NULL, body, (int)len);
    char line[4096];
    while (st == NATS_OK && fgets(line, sizeof line, h)) {
        line[strcspn(line, "\r\n")] = 0;
        char *colon = strstr(line, ": ");
        if (!colon)
            continue;
        *colon = 0;
        st = natsMsgHeader_Add(m, line, colon + 2);
    }
    fclose(h);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (st == NATS_OK)
        st = js_PublishMsg(&pa, js, m, NULL, &jerr);
    int rc = 1;
    if (st == NATS_OK && pa) {
        printf("stream seq %" PRIu64 "\n", pa->Sequence);
        rc = 0;
    } else {
        fprintf(stderr, "ship_check: publish to %s: %s (%d)\n", argv[3], natsStatus_GetText(st),
                (int)jerr);
    }
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    js_close(nc, js);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--get"))
        return get_mode(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--publish"))
        return publish_mode(argc, argv);
    if (argc < 4) {
        fprintf(stderr, "usage: ship_check URL STREAM N [--pad BYTES] [--subject SUBJ]\n");
        return 2;
    }
    long long n = atoll(argv[3]);
    size_t pad = 0;
    const char *subject = ">";
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pad"))
            pad = (size_t)atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--subject"))
            subject = argv[i + 1];
        else {
            fprintf(stderr, "ship_check: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    natsConnection *nc;
    jsCtx *js;
    jsStreamInfo *si;
    jsErrCode jerr;
    if (js_connect(argv[1], &nc, &js))
        return 1;
    natsStatus st = NATS_TIMEOUT;
    for (int tries = 0; tries < 20 && st != NATS_OK; tries++)
        st = js_GetStreamInfo(&si, js, argv[2], NULL, &jerr);
    if (st != NATS_OK) {
        fprintf(stderr, "ship_check: no stream %s: %s\n", argv[2], natsStatus_GetText(st));
        return 1;
    }
    uint64_t msgs = si->State.Msgs, first = si->State.FirstSeq, last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    printf("stream %s: %" PRIu64 " messages (stream seq %" PRIu64 "..%" PRIu64 ")\n", argv[2], msgs,
           first, last);
    int bad = 0;
    uint64_t nmsg = 0, batches = 0;
    static unsigned char want[1 << 16];
    long long expect = 0;
    /* read the stream in order through a pull consumer */
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = argv[2];
    so.Config.AckPolicy = js_AckNone;
    char durable[64];
    snprintf(durable, sizeof durable, "check%d", (int)getpid());
    st = js_PullSubscribe(&sub, js, subject, durable, NULL, &so, &jerr);
    if (st != NATS_OK) {
        printf("ship_check: cannot subscribe: %s (%d)\n", natsStatus_GetText(st), (int)jerr);
        bad = 1;
    }
    if (!bad && strcmp(subject, ">") != 0) { /* the subject's messages, not the stream's */
        jsConsumerInfo *ci = NULL;
        st = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &jerr);
        if (st != NATS_OK) {
            printf("ship_check: consumer info: %s (%d)\n", natsStatus_GetText(st), (int)jerr);
            bad = 1;
        } else {
            msgs = ci->NumPending;
            printf("subject %s: %" PRIu64 " messages\n", subject, msgs);
            jsConsumerInfo_Destroy(ci);
        }
    }
    while (!bad && nmsg < msgs) {
        natsMsgList list = {0};
        /* 64 messages a fetch: batches of 256 KiB, and the client drops what passes its
         * pending limit (64 MiB) as a slow consumer */
        st = natsSubscription_Fetch(&list, sub, 64, 5000, &jerr);
        if (st != NATS_OK && list.Count == 0) {
            printf("ship_check: fetch after %lld records: %s\n", expect, natsStatus_GetText(st));
            bad = 1;
            break;
        }
        for (int k = 0; k < list.Count && !bad; k++) {
            natsMsg *m = list.Msgs[k];
            const char *seq = NULL, *id = NULL, *bfirst = NULL, *bcount = NULL;
            nmsg++;
            natsMsgHeader_Get(m, "Maplog-First-Seq", &bfirst);
            natsMsgHeader_Get(m, "Maplog-Count", &bcount);
            if (bfirst || bcount) { /* a batch: its records' images, back to back */
                batches++;
                const unsigned char *p = (const unsigned char *)natsMsg_GetData(m);
                size_t left = (size_t)natsMsg_GetDataLength(m);
                long long c = bcount ? atoll(bcount) : -1;
                if (!bfirst || atoll(bfirst) != expect || c < 1) {
                    printf("ship_check: message %" PRIu64 ": a batch of %s from seq %s, want "
                           "seq %lld\n",
                           nmsg, bcount ? bcount : "?", bfirst ? bfirst : "?", expect);
                    bad = 1;
                }
                for (long long i = 0; !bad && i < c; i++) {
                    maplog_record rec;
                    size_t used;
                    const char *why;
                    size_t len = mklog_payload(want, sizeof want, expect, 0, pad);
                    if (maplog_record_decode(p, left, (uint64_t)expect, &rec, &used, &why)) {
                        printf("ship_check: message %" PRIu64 ", record %lld (seq %lld): %s\n",
                               nmsg, i, expect, why);
                        bad = 1;
                    } else if (rec.len != len || memcmp(rec.data, want, len) != 0) {
                        printf("ship_check: log seq %lld: payload differs\n", expect);
                        bad = 1;
                    }
                    p += bad ? 0 : used;
                    left -= bad ? 0 : used;
                    expect++;
                }
                if (!bad && left) {
                    printf("ship_check: message %" PRIu64 ": %zu bytes after its %lld records\n",
                           nmsg, left, c);
                    bad = 1;
                }
                continue;
            }
            natsMsgHeader_Get(m, "Maplog-Seq", &seq);
            natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
            long long got = seq ? atoll(seq) : -1;
            size_t len = mklog_payload(want, sizeof want, expect, 0, pad);
            if (got != expect) {
                printf("ship_check: record %lld of the stream holds log seq %lld (%s)\n", expect,
                       got, got < expect ? "a duplicate" : "a gap");
                bad = 1;
            } else if ((size_t)natsMsg_GetDataLength(m) != len ||
                       memcmp(natsMsg_GetData(m), want, len) != 0) {
                printf("ship_check: log seq %lld: payload differs\n", expect);
                bad = 1;
            } else if (!id || !strstr(id, seq)) {
                printf("ship_check: log seq %lld: Nats-Msg-Id %s\n", expect, id ? id : "missing");
                bad = 1;
            }
            expect++;
        }
        natsMsgList_Destroy(&list);
    }
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    (void)first;
    (void)last;
    if (!bad && expect != n) {
        printf("ship_check: %lld records, want %lld\n", expect, n);
        bad = 1;
    }
    printf("%s: %lld records, each exactly once, in order, intact (%" PRIu64 " messages, %" PRIu64
           " of them batches)\n",
           bad ? "FAILED" : "ok", expect, nmsg, batches);
    js_close(nc, js);
    return bad;
}
