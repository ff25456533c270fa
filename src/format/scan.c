/*
 * scan.c -- walking records by the validity rule: the status names, the scan of a valid
 * prefix, the high-water mark after it, and the digest a seal carries.  No I/O.
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

const char *mlg__rec_status_str(int st)
{
    switch (st) {
    case MLG_REC_OK:
        return "valid";
    case MLG_REC_EMPTY:
        return "no record (zero header)";
    case MLG_REC_BADLEN:
        return "bad length word";
    case MLG_REC_BADCRC:
        return "CRC mismatch";
    case MLG_REC_ROLLED:
        return "rollover mark (the writer moved to the next segment)";
    }
    return "?";
}

void mlg__scan(const uint8_t *map, uint64_t seg_size, uint64_t off, uint64_t seq, uint64_t limit,
               mlg__scan_result *r)
{
    mlg__rec_view v;
    r->count = 0;
    r->last_ts = 0;
    r->stop = MLG_REC_OK;
    while (off < limit) {
        int st = mlg__rec_check(map, seg_size, off, seq, &v);
        if (st != MLG_REC_OK) {
            r->stop = st;
            break;
        }
        if (v.ts > r->last_ts)
            r->last_ts = v.ts;
        off += v.size;
        seq++;
        r->count++;
    }
    r->end = off;
}

uint64_t mlg__high_water(const uint8_t *map, uint64_t seg_size, uint64_t from)
{
    uint64_t hw = from;
    for (uint64_t o = (from + 7) & ~(uint64_t)7; o + 8 <= seg_size; o += 8) {
        uint64_t w;
        memcpy(&w, map + o, 8);
        if (w)
            hw = o + 8;
    }
    return hw;
}

uint64_t mlg__digest(const uint8_t *map, uint64_t end)
{
    return XXH3_64bits(map + MLG_DATA_OFFSET, end - MLG_DATA_OFFSET);
}
