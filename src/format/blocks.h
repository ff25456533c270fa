/*
 * blocks.h -- a segment's header, seal and checkpoint blocks (blocks.c): made, checked and
 * read, as functions of the bytes they are given.  docs/FORMAT.md specifies each byte.
 */
#ifndef MLG_BLOCKS_H
#define MLG_BLOCKS_H

#include "error.h"
#include "format.h"

#include <stdint.h>

/* A new segment header; created_ns is when (CLOCK_REALTIME ns). */
void mlg__header_init(mlg__seg_header *h, uint64_t seg_size, const uint8_t log_id[16],
                      uint64_t created_ns);
/* Check the header at the start of a mapping of map_size bytes of file fname.
 * expect_id may be NULL (any id).  0 or MAPLOG_ECORRUPT / MAPLOG_EVERSION with err set. */
int mlg__header_check(const void *map, uint64_t map_size, const char *dir, const char *fname,
                      const uint8_t *expect_id, mlg__err *err);

/* Copy out the seal block if valid (magic, CRC, first_seq, fields within the segment).
 * Returns 1 valid, 0 absent, -1 present but damaged (or torn by a power loss). */
int mlg__seal_read(const void *map, uint64_t seg_size, uint64_t first_seq, mlg__seal *out);
void mlg__seal_fill(mlg__seal *s, uint64_t first_seq, uint64_t count, uint64_t end,
                    uint64_t last_ts, uint64_t digest, uint64_t sealed_ns);
/* Set a filled seal's count of void records (and its CRC again). */
void mlg__seal_set_voids(mlg__seal *s, uint64_t voids);
/* The valid checkpoint with the larger generation; 1 found, 0 none.  Checkpoints and
 * seals name the segment's first sequence number, checked against the file name. */
int mlg__ckpt_best(const void *map, uint64_t seg_size, uint64_t first_seq, mlg__checkpoint *out);
/* Write a checkpoint into the slot the generation selects (the caller sets generation and
 * updated_ns; magic and CRC are set here). */
void mlg__ckpt_write(void *map, const mlg__checkpoint *c);

#endif
