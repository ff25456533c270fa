/* mklog_payload.h -- record i's payload as test/mklog.c writes it, for the checkers. */
#ifndef MKLOG_PAYLOAD_H
#define MKLOG_PAYLOAD_H
#include <stdio.h>
#include <string.h>

/* Writes record i's payload into buf (cap >= 4096 + 200 + pad); returns its length. */
static size_t mklog_payload(unsigned char *buf, size_t cap, long long i, int big, size_t pad)
{
    size_t len;
    if (i % 5 == 4) {
        len = (size_t)(i % 97);
        for (size_t k = 0; k < len; k++)
            buf[k] = (unsigned char)(i * 31 + (long long)k * 7);
    } else {
        len =
            (size_t)snprintf((char *)buf, cap,
                             "{\"i\":%lld,\"msg\":\"event \\\"%lld\\\" \xc3\xa9t\xc3\xa9\"}", i, i);
    }
    if (big) {
        memset(buf + len, 'b', 4096);
        len += 4096;
    }
    if (pad) {
        memset(buf + len, 'p', pad);
        len += pad;
    }
    return len;
}
#endif
