/*
 * walk.c -- walking a log: the checked view of a segment (verify, repair) and the
 * whole-log summary (the reader's figures).
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include "logdir.h"
#include "os.h"

/* ---- the checked view of a segment (verify, repair, summary) ---- */

void mlg__segview_close(mlg__segview *v)
{
    if (v->map)
        mlg__munmap(v->map, v->size);
    if (v->fd >= 0)
        mlg__close(v->fd);
    v->map = NULL;
    v->fd = -1;
}

/* Map and analyse one segment.  Returns 0 (with v->header_ok saying whether the rest is
 * meaningful) or an error code when the file cannot be read at all. */
int mlg__segview_open(int dirfd, const char *dir, uint64_t first, const uint8_t *id, int scan,
                      mlg__segview *v, mlg__err *err)
{
    mlg__segmap m;
    memset(v, 0, sizeof *v);
    v->fd = -1;
    v->first = first;
    int rc = mlg__seg_open(dirfd, dir, first, MLG_SEG_ARCHIVE | MLG_SEG_ANY_HEADER, NULL, &m,
                           &v->header_err);
    memcpy(v->name, m.name, sizeof v->name);
    if (rc == MAPLOG_ENOENT || rc == MAPLOG_EIO || rc == MAPLOG_ENOMEM)
        return mlg__fail(err, rc, "%s", v->header_err.msg);
    if (rc) /* damaged: reported as the segment's problem */
        return 0;
    v->map = m.map;
    v->size = m.size;
    if (mlg__header_check(v->map, v->size, dir, v->name, id, &v->header_err) != 0)
        return 0;
    v->header_ok = 1;
    v->seal_state = mlg__seal_read(v->map, v->size, first, &v->seal);
    v->have_ck = mlg__ckpt_best(v->map, v->size, first, &v->ck);
    if (scan) {
        mlg__madvise(v->map, v->size, MADV_SEQUENTIAL);
        mlg__scan(v->map, v->size, MLG_DATA_OFFSET, first, v->size, &v->scan);
        v->hw = mlg__high_water(v->map, v->size, v->scan.end);
    }
    return 0;
}

/* ---- whole-log figures ------------------------------------------------------------------ */

int mlg__log_summary(int dirfd, const char *dir, const uint64_t *segs, size_t n, mlg__summary *out,
                     mlg__err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        mlg__segview v;
        int rc = mlg__segview_open(dirfd, dir, segs[i], NULL, 0, &v, err);
        if (rc || !v.header_ok) {
            mlg__segview_close(&v);
            if (!rc)
                rc = mlg__fail(err, MAPLOG_ECORRUPT, "%s", v.header_err.msg);
            return rc;
        }
        out->allocated += v.size;
        uint64_t count, end, last_ts;
        if (v.seal_state == 1) {
            count = v.seal.record_count;
            end = v.seal.end_offset;
            last_ts = v.seal.last_ts;
        } else {
            mlg__scan(v.map, v.size, MLG_DATA_OFFSET, v.first, v.size, &v.scan);
            count = v.scan.count;
            end = v.scan.end;
            last_ts = v.scan.last_ts;
        }
        if (i == 0) {
            mlg__rec_view r;
            if (mlg__rec_check(v.map, v.size, MLG_DATA_OFFSET, v.first, &r) == MLG_REC_OK)
                out->first_ts = r.ts;
        }
        out->used += end - MLG_DATA_OFFSET;
        out->next_seq = v.first + count;
        if (last_ts > out->last_ts)
            out->last_ts = last_ts;
        mlg__segview_close(&v);
    }
    return 0;
}
