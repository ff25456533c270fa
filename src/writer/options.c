/*
 * options.c -- the option set, keyed by enum so a new option never changes a signature.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "os.h"

#include <stdlib.h>
#include <time.h>

void mlg__options_default(struct maplog_options *o)
{
    o->segment_size = 64 << 20;
    o->create = 1;
    o->durability = MAPLOG_DURABILITY_ASYNC;
    o->flush_interval_ms = 1000;
    o->flush_bytes = 64 << 20; /* see MAPLOG_OPT_FLUSH_BYTES in maplog.h */
    o->sync_every = 1;
    o->file_mode = 0640;
    o->strict_recovery = 1;
    o->prefault = 1;
    o->retain_segments = 0;
    o->retain_bytes = 0;
    o->retain_age_ms = 0;
    o->archive = 0;
    o->has_identity = 0;
    memset(o->identity_id, 0, sizeof o->identity_id);
    o->identity_seq = 0;
}

int maplog_options_create(maplog_options **out)
{
    if (!out)
        return MAPLOG_EINVAL;
    *out = malloc(sizeof **out);
    if (!*out)
        return MAPLOG_ENOMEM;
    mlg__options_default(*out);
    return 0;
}

void maplog_options_free(maplog_options *opts)
{
    free(opts);
}

static int64_t *slot(maplog_options *o, maplog_option key)
{
    switch (key) {
    case MAPLOG_OPT_SEGMENT_SIZE:
        return &o->segment_size;
    case MAPLOG_OPT_CREATE:
        return &o->create;
    case MAPLOG_OPT_DURABILITY:
        return &o->durability;
    case MAPLOG_OPT_FLUSH_INTERVAL_MS:
        return &o->flush_interval_ms;
    case MAPLOG_OPT_FLUSH_BYTES:
        return &o->flush_bytes;
    case MAPLOG_OPT_SYNC_EVERY:
        return &o->sync_every;
    case MAPLOG_OPT_FILE_MODE:
        return &o->file_mode;
    case MAPLOG_OPT_STRICT_RECOVERY:
        return &o->strict_recovery;
    case MAPLOG_OPT_PREFAULT:
        return &o->prefault;
    case MAPLOG_OPT_RETAIN_SEGMENTS:
        return &o->retain_segments;
    case MAPLOG_OPT_RETAIN_BYTES:
        return &o->retain_bytes;
    case MAPLOG_OPT_RETAIN_AGE_MS:
        return &o->retain_age_ms;
    case MAPLOG_OPT_ARCHIVE:
        return &o->archive;
    }
    return NULL;
}

static int valid(maplog_option key, int64_t v)
{
    switch (key) {
    case MAPLOG_OPT_SEGMENT_SIZE:
        return v >= MLG_MIN_SEGMENT_SIZE && v <= MLG_MAX_SEGMENT_SIZE && v % 4096 == 0;
    case MAPLOG_OPT_CREATE:
    case MAPLOG_OPT_STRICT_RECOVERY:
    case MAPLOG_OPT_PREFAULT:
    case MAPLOG_OPT_ARCHIVE:
        return v == 0 || v == 1;
    case MAPLOG_OPT_RETAIN_SEGMENTS:
    case MAPLOG_OPT_RETAIN_BYTES:
    case MAPLOG_OPT_RETAIN_AGE_MS:
        return v >= 0;
    case MAPLOG_OPT_DURABILITY:
        return v >= MAPLOG_DURABILITY_NONE && v <= MAPLOG_DURABILITY_SYNC_EVERY;
    case MAPLOG_OPT_FLUSH_INTERVAL_MS:
        return v >= 0 && v <= 3600 * 1000;
    case MAPLOG_OPT_FLUSH_BYTES:
        return v >= 0;
    case MAPLOG_OPT_SYNC_EVERY:
        return v >= 1 && v <= (1 << 30);
    case MAPLOG_OPT_FILE_MODE:
        return v >= 0 && v <= 07777;
    }
    return 0;
}

int maplog_options_set(maplog_options *opts, maplog_option key, int64_t value)
{
    int64_t *p = opts ? slot(opts, key) : NULL;
    if (!p || !valid(key, value))
        return MAPLOG_EINVAL;
    *p = value;
    return 0;
}

int maplog_options_get(const maplog_options *opts, maplog_option key, int64_t *value)
{
    if (!opts || !value)
        return MAPLOG_EINVAL;
    maplog_options copy = *opts;
    int64_t *p = slot(&copy, key);
    if (!p)
        return MAPLOG_EINVAL;
    *value = *p;
    return 0;
}

int maplog_options_set_identity(maplog_options *opts, const uint8_t log_id[16], uint64_t first_seq)
{
    static const uint8_t zero[16];
    if (!opts)
        return MAPLOG_EINVAL;
    if (!log_id) {
        opts->has_identity = 0;
        return 0;
    }
    if (memcmp(log_id, zero, sizeof zero) == 0 || first_seq > (uint64_t)INT64_MAX)
        return MAPLOG_EINVAL;
    opts->has_identity = 1;
    memcpy(opts->identity_id, log_id, sizeof opts->identity_id);
    opts->identity_seq = first_seq;
    return 0;
}

int maplog_options_get_identity(const maplog_options *opts, uint8_t log_id[16], uint64_t *first_seq)
{
    if (!opts || !log_id || !first_seq)
        return MAPLOG_EINVAL;
    if (!opts->has_identity)
        return MAPLOG_ENOENT;
    memcpy(log_id, opts->identity_id, sizeof opts->identity_id);
    *first_seq = opts->identity_seq;
    return 0;
}
