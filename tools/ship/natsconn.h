/*
 * natsconn.h -- what maplog-ship and maplog-mirror share: the stop flag their signal
 * handlers set, their clocks, and connecting to a NATS server list, retried with back-off
 * until it works or a stop.  Each program is one translation unit that includes this once.
 */
#ifndef MLG_NATSCONN_H
#define MLG_NATSCONN_H

#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The next wait of a retry: doubled, at most 5 s. */
static long next_backoff(long ms)
{
    return ms < 2500 ? ms * 2 : 5000;
}

/* --once is for scripts and cron jobs: a failure that goes on for 60 s (or
 * $MAPLOG_ONCE_PATIENCE seconds) ends the run with exit status 1, where following retries
 * for as long as it takes (a server that is down, a subject no stream takes). */
static int once_mode; /* --once was given */

static double once_patience_s(void)
{
    const char *e = getenv("MAPLOG_ONCE_PATIENCE");
    char *end;
    double v = e ? strtod(e, &end) : 0;
    return e && *e && !*end && v > 0 && v <= 86400 ? v : 60.0;
}

/* In a retry loop that began at since: 1, having said so under the name who, once --once
 * has waited long enough. */
static int once_gives_up(const char *who, double since)
{
    double patience = once_patience_s();
    if (!once_mode || now_s() - since < patience)
        return 0;
    fprintf(stderr, "maplog: %s: giving up after %.0f s of failures (--once)\n", who, patience);
    return 1;
}

/* The most URLs in a --server list (a cluster rarely has more than five). */
#define MAX_SERVERS 16

/* Connect to servers, a comma-separated list of URLs, reconnecting for ever once connected
 * (never give up on records); a failed first connect is retried with back-off, said on
 * stderr under the name who.  0 with *nc, or -1 (out of memory, bad options, a stop). */
static int nats_connect_list(const char *who, const char *servers, natsConnection **nc)
{
    natsOptions *o = NULL;
    char *list = strdup(servers), *save = NULL;
    const char *urls[MAX_SERVERS];
    int n = 0;
    if (!list) {
        fprintf(stderr, "maplog: %s: out of memory\n", who);
        return -1;
    }
    for (char *t = strtok_r(list, ",", &save); t && n < MAX_SERVERS; t = strtok_r(NULL, ",", &save))
        urls[n++] = t;
    natsStatus st = natsOptions_Create(&o);
    if (st == NATS_OK)
        st = natsOptions_SetServers(o, urls, n);
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(o, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(o, 250);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(o, 64 << 20);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(o, 2000);
    double since = now_s();
    int gave_up = 0;
    for (long backoff = 100; st == NATS_OK && !stop; backoff = next_backoff(backoff)) {
        if ((st = natsConnection_Connect(nc, o)) == NATS_OK)
            break;
        fprintf(stderr, "maplog: %s: cannot reach %s (%s); retrying in %ld ms\n", who, servers,
                natsStatus_GetText(st), backoff);
        if ((gave_up = once_gives_up(who, since)))
            break;
        sleep_ms(backoff);
        st = NATS_OK;
    }
    natsOptions_Destroy(o);
    free(list);
    return st == NATS_OK && !stop && !gave_up ? 0 : -1;
}

/* The last message of subject in stream, read again with back-off until it can be read
 * (said on stderr under the name who) or a stop.  1 with *m (the caller destroys it); 0
 * when the subject holds no message; -1 on a stop (or --once giving up); -2 when there is no such
 * stream and no_stream_is_final (else that too is retried: the stream may be on its way). */
static int nats_last_msg(const char *who, jsCtx *js, const char *stream, const char *subject,
                         int no_stream_is_final, natsMsg **m)
{
    double since = now_s();
    for (long backoff = 200; !stop; backoff = next_backoff(backoff)) {
        jsErrCode jerr = 0;
        *m = NULL;
        natsStatus st = js_GetLastMsg(m, js, stream, subject, NULL, &jerr);
        if (st == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
            return 0;
        if (st == NATS_OK)
            return 1;
        if (jerr == JSStreamNotFoundErr && no_stream_is_final)
            return -2;
        fprintf(stderr,
                "maplog: %s: cannot read subject %s's last message in stream %s (%s); "
                "retrying\n",
                who, subject, stream, natsStatus_GetText(st));
        if (once_gives_up(who, since))
            break;
        sleep_ms(backoff);
    }
    return -1;
}

#endif
