/* ship_check.c -- read a JetStream stream back with the NATS C client and check it holds
 * exactly the records mklog wrote: seq FIRST..FIRST+N-1, each once, in order, with the
 * payload mklog wrote and the Maplog-Seq / Nats-Msg-Id headers.
 *   ship_check nats://HOST:PORT STREAM N [--pad BYTES]
 * Prints what it found; exit 0 only if everything is there exactly once. */
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mklog_payload.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ship_check URL STREAM N [--pad BYTES]\n");
        return 2;
    }
    long long n = atoll(argv[3]);
    size_t pad = argc > 5 && !strcmp(argv[4], "--pad") ? (size_t)atoll(argv[5]) : 0;
    natsConnection *nc;
    jsCtx *js;
    jsStreamInfo *si;
    jsErrCode jerr;
    if (natsConnection_ConnectTo(&nc, argv[1]) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        fprintf(stderr, "ship_check: cannot connect to %s\n", argv[1]);
        return 1;
    }
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
    if (msgs != (uint64_t)n) {
        printf("ship_check: %" PRIu64 " messages, want %lld\n", msgs, n);
        bad = 1;
    }
    static unsigned char want[1 << 16];
    long long expect = 0;
    /* read the stream in order through a pull consumer, 1000 messages a fetch */
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = argv[2];
    so.Config.AckPolicy = js_AckNone;
    char durable[64];
    snprintf(durable, sizeof durable, "check%d", (int)getpid());
    st = js_PullSubscribe(&sub, js, ">", durable, NULL, &so, &jerr);
    if (st != NATS_OK) {
        printf("ship_check: cannot subscribe: %s (%d)\n", natsStatus_GetText(st), (int)jerr);
        bad = 1;
    }
    while (!bad && (uint64_t)expect < msgs) {
        natsMsgList list = {0};
        st = natsSubscription_Fetch(&list, sub, 1000, 5000, &jerr);
        if (st != NATS_OK && list.Count == 0) {
            printf("ship_check: fetch after %lld records: %s\n", expect, natsStatus_GetText(st));
            bad = 1;
            break;
        }
        for (int k = 0; k < list.Count && !bad; k++) {
            natsMsg *m = list.Msgs[k];
            const char *seq = NULL, *id = NULL;
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
    printf("%s: %lld records, each exactly once, in order, intact\n", bad ? "FAILED" : "ok",
           expect);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return bad;
}
