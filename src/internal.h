/*
 * internal.h -- what the subsystems of maplog share and users never see.
 *
 * Names here are mlg__ (two underscores: internal, may change any day).  The layers, each
 * looking only down (docs/DESIGN.md, "Map of the code"):
 *   base/     the system-call seam, the clock, CRC-32C, error text
 *   format/   the on-disk structs, the record rule, header/seal/checkpoint blocks, scans
 *   logdir/   the log directory: names, listing, lock, opening segments, cuts, views
 *   writer/   appending: open, the hot path, spares, durability, retention, recovery
 *   reader/   replay, seek, follow
 *   check/    verify and repair
 */
#ifndef MLG_INTERNAL_H
#define MLG_INTERNAL_H

#include "blocks.h"
#include "crc32c.h"
#include "error.h"
#include "format.h"
#include "maplog.h"
#include "os.h"
#include "record.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- options ---- */
struct maplog_options {
    int64_t segment_size;
    int64_t create;
    int64_t durability;
    int64_t flush_interval_ms;
    int64_t flush_bytes;
    int64_t sync_every;
    int64_t file_mode;
    int64_t strict_recovery;
    int64_t prefault;
    int64_t retain_segments;
    int64_t retain_bytes;
    int64_t retain_age_ms;
    int64_t archive;
    /* maplog_options_set_identity(): a log created with these options gets this id and
     * starts at identity_seq; an existing log must have this id. */
    int has_identity;
    uint8_t identity_id[16];
    uint64_t identity_seq;
};
void mlg__options_default(struct maplog_options *o);

/* ---- time ---- */
/* mlg__now_ns() and mlg__mono_ns(): os.h */

#endif
