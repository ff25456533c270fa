/*
 * blocks.c -- a segment's header, seal and checkpoint blocks: made, checked and read.

 * Everything here reads bytes that may be damaged, truncated or hostile: every length and
 * offset that comes from disk is checked against the size of the mapping, with arithmetic
 * that cannot overflow, before a byte behind it is touched (systemd's journal-verify rule).
 * Nothing here does I/O: these are functions of the bytes they are given.
 */
#define _GNU_SOURCE
#include "crc32c.h"
#include "blocks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>

void mlg__header_init(mlg__seg_header *h, uint64_t seg_size, const uint8_t log_id[16],
                      uint64_t created_ns)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, MLG_SEG_MAGIC, 8);
    h->version = MAPLOG_FORMAT_VERSION;
    h->header_size = MLG_SEG_HEADER_SIZE;
    h->compat_flags = MLG_COMPAT_HINTS;
    h->incompat_flags = MLG_INCOMPAT_VOIDS;
    h->segment_size = seg_size;
    h->created_ns = created_ns;
    memcpy(h->log_id, log_id, 16);
    h->data_offset = MLG_DATA_OFFSET;
    h->header_crc = mlg__crc32c(0, h, offsetof(mlg__seg_header, header_crc));
}

int mlg__header_check(const void *map, uint64_t map_size, const char *dir, const char *fname,
                      const uint8_t *expect_id, mlg__err *err)
{
    mlg__seg_header h;
    if (map_size < MLG_DATA_OFFSET)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: file is %" PRIu64 " bytes, shorter than a segment header page "
                         "(%u)",
                         dir, fname, map_size, MLG_DATA_OFFSET);
    memcpy(&h, map, sizeof h);
    if (memcmp(h.magic, MLG_SEG_MAGIC, 8) != 0)
        return mlg__fail(err, MAPLOG_ECORRUPT, "%s/%s: offset 0: bad magic, not a maplog segment",
                         dir, fname);
    uint32_t crc = mlg__crc32c(0, &h, offsetof(mlg__seg_header, header_crc));
    if (crc != h.header_crc)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 124: segment header CRC mismatch (stored %08x, computed "
                         "%08x)",
                         dir, fname, h.header_crc, crc);
    if (h.version != MAPLOG_FORMAT_VERSION || (h.incompat_flags & ~MLG_INCOMPAT_KNOWN))
        return mlg__fail(err, MAPLOG_EVERSION,
                         "%s/%s: offset 8: format version %u, incompatible flags %08x; this "
                         "library reads version %d",
                         dir, fname, h.version, h.incompat_flags, MAPLOG_FORMAT_VERSION);
    if (h.header_size != MLG_SEG_HEADER_SIZE || h.data_offset != MLG_DATA_OFFSET)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 12: header size %u / data offset %u not as specified", dir,
                         fname, h.header_size, h.data_offset);
    if (h.segment_size != map_size)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 24: header says %" PRIu64 " bytes but the file has %" PRIu64
                         " (truncated or extended copy?)",
                         dir, fname, h.segment_size, map_size);
    if (expect_id && memcmp(h.log_id, expect_id, 16) != 0)
        return mlg__fail(err, MAPLOG_ECORRUPT,
                         "%s/%s: offset 48: log id differs from the log's other segments (a "
                         "segment of another log?)",
                         dir, fname);
    return 0;
}

int mlg__seal_read(const void *map, uint64_t seg_size, uint64_t first_seq, mlg__seal *out)
{
    mlg__seal s;
    memcpy(&s, (const uint8_t *)map + MLG_SEAL_OFFSET, sizeof s);
    if (s.magic == 0 && s.crc == 0)
        return 0;
    if (s.magic != MLG_SEAL_MAGIC || s.crc != mlg__crc32c(0, &s, offsetof(mlg__seal, crc)))
        return -1;
    if (s.first_seq != first_seq || s.end_offset < MLG_DATA_OFFSET || s.end_offset > seg_size ||
        (s.end_offset & 7) ||
        s.record_count > (s.end_offset - MLG_DATA_OFFSET) / MLG_REC_HEADER_SIZE)
        return -1;
    *out = s;
    return 1;
}

void mlg__seal_fill(mlg__seal *s, uint64_t first_seq, uint64_t count, uint64_t end,
                    uint64_t last_ts, uint64_t digest, uint64_t sealed_ns)
{
    memset(s, 0, sizeof *s);
    s->first_seq = first_seq;
    s->magic = MLG_SEAL_MAGIC;
    s->flags = MLG_SEAL_DIGEST;
    s->record_count = count;
    s->end_offset = end;
    s->last_ts = last_ts;
    s->digest = digest;
    s->sealed_ns = sealed_ns;
    s->crc = mlg__crc32c(0, s, offsetof(mlg__seal, crc));
}

void mlg__seal_set_voids(mlg__seal *s, uint64_t voids)
{
    s->void_count = voids > UINT32_MAX ? UINT32_MAX : (uint32_t)voids;
    s->crc = mlg__crc32c(0, s, offsetof(mlg__seal, crc));
}

static int ckpt_valid(const mlg__checkpoint *c, uint64_t seg_size, uint64_t first_seq)
{
    return c->magic == MLG_CKPT_MAGIC && c->first_seq == first_seq &&
           c->crc == mlg__crc32c(0, c, offsetof(mlg__checkpoint, crc)) &&
           c->end_offset >= MLG_DATA_OFFSET && c->end_offset <= seg_size && !(c->end_offset & 7) &&
           c->record_count <= (c->end_offset - MLG_DATA_OFFSET) / MLG_REC_HEADER_SIZE &&
           (c->state == MLG_STATE_OPEN || c->state == MLG_STATE_CLOSED);
}

int mlg__ckpt_best(const void *map, uint64_t seg_size, uint64_t first_seq, mlg__checkpoint *out)
{
    mlg__checkpoint a, b;
    memcpy(&a, (const uint8_t *)map + MLG_CKPT_OFFSET_A, sizeof a);
    memcpy(&b, (const uint8_t *)map + MLG_CKPT_OFFSET_B, sizeof b);
    int va = ckpt_valid(&a, seg_size, first_seq), vb = ckpt_valid(&b, seg_size, first_seq);
    if (va && (!vb || a.generation > b.generation))
        *out = a;
    else if (vb)
        *out = b;
    return va || vb;
}

void mlg__ckpt_write(void *map, const mlg__checkpoint *c)
{
    mlg__checkpoint w = *c;
    w.magic = MLG_CKPT_MAGIC;
    w.crc = mlg__crc32c(0, &w, offsetof(mlg__checkpoint, crc));
    memcpy((uint8_t *)map + ((w.generation & 1) ? MLG_CKPT_OFFSET_B : MLG_CKPT_OFFSET_A), &w,
           sizeof w);
}
