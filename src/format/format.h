/*
 * format.h -- the on-disk structures of maplog, and nothing else.
 *
 * docs/FORMAT.md is the normative description; this header must agree with it byte for
 * byte, and test/test_golden.c holds the two together.  All integers are little-endian.
 * maplog supports little-endian hosts only (checked below), so these structs are read
 * and written in place; every length and offset taken from them is checked against the
 * size of the mapping before use (see segment.c).
 *
 * A segment file:
 *
 *   0      128   mlg__seg_header   written once, and synced, before the segment has a name
 *   512    64    mlg__seal         written once, when the segment is sealed
 *   1024   64    mlg__checkpoint   slot A  } alternately rewritten by sync and close;
 *   1536   64    mlg__checkpoint   slot B  } the valid one with the larger generation wins
 *   2048   2048  record hints      256 x {u32 offset, u32 seq delta}, each written once
 *                                  (MLG_COMPAT_HINTS; advisory, checked before any use)
 *   4096   ...   records, each 8-byte aligned, until segment_size
 * Each block has a 512-byte sector to itself (the hints four of their own), so a write torn
 * by a power loss damages only the block being written.  Everything else in the first 4096
 * bytes is zero.
 */
#ifndef MLG_FORMAT_H
#define MLG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "maplog's on-disk format is little-endian; big-endian hosts are not supported yet"
#endif

#define MLG_SEG_MAGIC "MAPLOGS1" /* 8 bytes, no terminator on disk */
#define MLG_SEG_HEADER_SIZE 128u
#define MLG_DATA_OFFSET 4096u
#define MLG_SEAL_OFFSET 512u
#define MLG_CKPT_OFFSET_A 1024u
#define MLG_CKPT_OFFSET_B 1536u
#define MLG_SEAL_MAGIC 0x4c414553u /* "SEAL" */
#define MLG_CKPT_MAGIC 0x54504b43u /* "CKPT" */

#define MLG_MIN_SEGMENT_SIZE (64u * 1024u)
#define MLG_MAX_SEGMENT_SIZE (1024u * 1024u * 1024u)

/* Feature flags.  A reader must refuse a segment with an incompatible flag it does not
 * know; it may ignore unknown compatible flags. */
/* Bytes 2048..4095 are the record hint table (docs/FORMAT.md, "Record hints"): entry k
 * names the first record the writer published at or past 4096 + k * stride, so that a
 * reader can start a walk near any offset instead of at 4096.  Advisory: a reader checks
 * the record an entry names before it uses it, and a reader that does not know the flag
 * reads the segment as before. */
#define MLG_COMPAT_HINTS 1u
#define MLG_COMPAT_KNOWN MLG_COMPAT_HINTS
/* Records may be reserved ahead of publication (the pending word) and recovery may leave
 * void records in place of reservations whose writer died (docs/FORMAT.md, "Records").
 * Every segment this library makes sets it; a reader that does not know it would take a
 * void for damage, so it must refuse the segment instead. */
#define MLG_INCOMPAT_VOIDS 1u
#define MLG_INCOMPAT_KNOWN MLG_INCOMPAT_VOIDS

typedef struct mlg__seg_header {
    uint8_t magic[8];        /* 0   "MAPLOGS1" */
    uint32_t version;        /* 8   format version, 1 */
    uint32_t header_size;    /* 12  128: bytes of this header, covered by header_crc */
    uint32_t compat_flags;   /* 16  */
    uint32_t incompat_flags; /* 20  */
    uint64_t segment_size;   /* 24  size of the file in bytes */
    uint64_t reserved_fs;    /* 32  zero (the first sequence number is in the file name: the
                                    header is written before anyone knows it) */
    uint64_t created_ns;     /* 40  CLOCK_REALTIME ns when the segment file was made */
    uint8_t log_id[16];      /* 48  random, the same in every segment of one log */
    uint32_t data_offset;    /* 64  4096: where the first record starts */
    uint32_t reserved0;      /* 68  zero */
    uint64_t reserved[6];    /* 72  zero */
    uint32_t reserved1;      /* 120 zero */
    uint32_t header_crc;     /* 124 CRC-32C of bytes [0, 124) */
} mlg__seg_header;

typedef struct mlg__seal {
    uint32_t magic;        /* 0   "SEAL" once sealed, else 0 */
    uint32_t flags;        /* 4   bit 0: digest is valid */
    uint64_t record_count; /* 8   records in the segment */
    uint64_t end_offset;   /* 16  offset just past the last record */
    uint64_t last_ts;      /* 24  largest record timestamp */
    uint64_t digest;       /* 32  XXH3-64 (seed 0) of bytes [data_offset, end_offset) */
    uint64_t sealed_ns;    /* 40  CLOCK_REALTIME ns of sealing */
    uint64_t first_seq;    /* 48  the segment's first sequence number (= its file name) */
    uint32_t void_count;   /* 56  void records among record_count */
    uint32_t crc;          /* 60  CRC-32C of bytes [0, 60) of this block */
} mlg__seal;

#define MLG_SEAL_DIGEST 1u

#define MLG_STATE_OPEN 1u   /* a writer had the segment open when this was written */
#define MLG_STATE_CLOSED 2u /* written by a clean close: the log ended exactly here */

typedef struct mlg__checkpoint {
    uint32_t magic;        /* 0   "CKPT" */
    uint32_t state;        /* 4   MLG_STATE_OPEN or MLG_STATE_CLOSED */
    uint64_t generation;   /* 8   larger is newer */
    uint64_t end_offset;   /* 16  every record before this offset was durable */
    uint64_t record_count; /* 24  records before end_offset */
    uint64_t last_ts;      /* 32  largest timestamp among them */
    uint64_t updated_ns;   /* 40  CLOCK_REALTIME ns of writing */
    uint64_t first_seq;    /* 48  the segment's first sequence number (= its file name) */
    uint32_t reserved2;    /* 56  zero */
    uint32_t crc;          /* 60  CRC-32C of bytes [0, 60) of this block */
} mlg__checkpoint;

/* The record hint table: MLG_HINT_COUNT little-endian 64-bit entries from MLG_HINT_OFFSET,
 * entry k = offset | (seq - first_seq) << 32 of the record it names, 0 when empty. */
#define MLG_HINT_OFFSET 2048u
#define MLG_HINT_COUNT 256u
/* Entry k is written for the first record published at or past
 * MLG_DATA_OFFSET + k * mlg__hint_stride(segment_size). */
static inline uint64_t mlg__hint_stride(uint64_t seg_size)
{
    uint64_t s = (seg_size - MLG_DATA_OFFSET + MLG_HINT_COUNT - 1) / MLG_HINT_COUNT;
    return (s + 7u) & ~(uint64_t)7u;
}

/* A record: 16-byte header, payload, zero padding to a multiple of 8.
 * The first 8 bytes (len | crc << 32) are the publication word: written last, with a
 * release store; zero means "no record here (yet)". */
typedef struct mlg__rec_header {
    uint32_t len;          /* 0   payload length | MLG_REC_VALID */
    uint32_t crc;          /* 4   CRC-32C, see mlg__record_crc() */
    uint64_t timestamp_ns; /* 8   CLOCK_REALTIME ns */
} mlg__rec_header;

#define MLG_REC_HEADER_SIZE 16u
/* The rollover mark: at a rollover the writer stores this word just after the last record
 * it reserved in the old segment (when 8 bytes are left).  It is not a record (its length
 * is impossible); it tells a following reader the next segment exists. */
#define MLG_ROLLED_WORD UINT64_MAX
#define MLG_REC_VALID 0x80000000u /* set in every record's len word, so it is never 0 */
#define MLG_REC_VOID 0x40000000u  /* a void record: a reservation whose writer died */
#define MLG_REC_LEN_MASK 0x3fffffffu
/* The pending word, stored when a record is reserved and before any of its other bytes:
 * the payload length (no VALID bit) and this tag in the CRC's place.  It makes the
 * reservation's extent known to recovery should its writer die before publishing. */
#define MLG_PENDING_TAG 0x444e4550u /* "PEND" */
static inline uint64_t mlg__pending_word(uint32_t len)
{
    return (uint64_t)len | ((uint64_t)MLG_PENDING_TAG << 32);
}

_Static_assert(sizeof(mlg__seg_header) == 128, "segment header is 128 bytes");
_Static_assert(offsetof(mlg__seg_header, log_id) == 48, "log_id at 48");
_Static_assert(offsetof(mlg__seg_header, data_offset) == 64, "data_offset at 64");
_Static_assert(offsetof(mlg__seg_header, header_crc) == 124, "header_crc at 124");
_Static_assert(sizeof(mlg__seal) == 64, "seal block is 64 bytes");
_Static_assert(offsetof(mlg__seal, crc) == 60, "seal crc at 60");
_Static_assert(sizeof(mlg__checkpoint) == 64, "checkpoint is 64 bytes");
_Static_assert(offsetof(mlg__checkpoint, crc) == 60, "checkpoint crc at 60");
_Static_assert(sizeof(mlg__rec_header) == MLG_REC_HEADER_SIZE, "record header is 16 bytes");
_Static_assert(MLG_CKPT_OFFSET_B + sizeof(mlg__checkpoint) <= MLG_DATA_OFFSET, "fits a page");
_Static_assert(MLG_CKPT_OFFSET_B + sizeof(mlg__checkpoint) <= MLG_HINT_OFFSET &&
                   MLG_HINT_OFFSET + 8u * MLG_HINT_COUNT == MLG_DATA_OFFSET &&
                   MLG_HINT_OFFSET % 512 == 0,
               "the hints fill the sectors after slot B's, up to the records");
_Static_assert(MLG_SEAL_OFFSET % 512 == 0 && MLG_CKPT_OFFSET_A % 512 == 0 &&
                   MLG_CKPT_OFFSET_B % 512 == 0,
               "each block in a sector of its own");

/* Bytes a record of payload length len occupies, header and padding included. */
static inline uint64_t mlg__rec_size(uint64_t len)
{
    return (MLG_REC_HEADER_SIZE + len + 7u) & ~(uint64_t)7u;
}

/* An archived segment, NAME.mlogz: this 96-byte header, then (version 1) a zlib stream
 * (RFC 1950) of the segment's bytes [0, stored_len), or (version 2) mlg__arch_blocks, the
 * block index and the blocks, each a zlib stream of its own; the rest of the segment is
 * zero. */
typedef struct mlg__arch_header {
    uint8_t magic[8];      /* 0   "MAPLOGZ1" */
    uint32_t version;      /* 8   1 */
    uint32_t header_size;  /* 12  96 */
    uint64_t segment_size; /* 16  size of the segment it holds */
    uint64_t stored_len;   /* 24  bytes compressed: the seal's end_offset */
    uint64_t digest;       /* 32  the seal's digest: XXH3-64 of [4096, stored_len) */
    uint64_t packed_len;   /* 40  bytes of zlib stream that follow */
    uint64_t first_seq;    /* 48  the segment's first sequence number (= its name) */
    uint64_t record_count; /* 56  the seal's record count */
    uint64_t last_ts;      /* 64  the seal's largest timestamp (for retention by age) */
    uint8_t log_id[16];    /* 72  the segment header's log id */
    uint32_t void_count;   /* 88  the seal's void record count */
    uint32_t crc;          /* 92  CRC-32C of bytes [0, 92) */
} mlg__arch_header;
_Static_assert(sizeof(mlg__arch_header) == 96, "archive header is 96 bytes");
#define MLG_ARCH_MAGIC "MAPLOGZ1"

/* Version 2: after the header, at offset 96, how the segment is cut into blocks. */
typedef struct mlg__arch_blocks {
    uint32_t block_size;  /* 96  segment bytes per block: a power of two, 64 KiB to 16 MiB */
    uint32_t block_count; /* 100 ceil(stored_len / block_size) */
    uint32_t index_crc;   /* 104 CRC-32C of the block index */
    uint8_t reserved[16]; /* 108 zero */
    uint32_t crc;         /* 124 CRC-32C of bytes [96, 124) */
} mlg__arch_blocks;
_Static_assert(sizeof(mlg__arch_blocks) == 32, "archive block header is 32 bytes");
/* One block index entry, at offset 128 + 32 * i: block i holds segment bytes
 * [i * block_size, min((i + 1) * block_size, stored_len)). */
typedef struct mlg__arch_entry {
    uint64_t packed_off;   /* 0  where its zlib stream starts in the file */
    uint32_t packed_len;   /* 8  its length */
    uint32_t rec_off;      /* 12 the first record that starts in the block, 0 if none */
    uint64_t rec_seq;      /* 16 that record's sequence number (0 if none) */
    uint64_t maxts_before; /* 24 largest timestamp of the records before it (0 if none) */
} mlg__arch_entry;
_Static_assert(sizeof(mlg__arch_entry) == 32, "archive index entry is 32 bytes");
#define MLG_ARCH_V2_HEADER 128
#define MLG_ARCH_BLOCK ((uint32_t)256 * 1024) /* what the writer cuts */
#define MLG_ARCH_BLOCK_MIN ((uint32_t)64 * 1024)
#define MLG_ARCH_BLOCK_MAX ((uint32_t)16 * 1024 * 1024)

/* File names: 20 zero-padded decimal digits of first_seq, then ".mlog" (or ".mlogz"
 * for an archived segment). */
#define MLG_SEG_SUFFIX ".mlog"
#define MLG_ARCH_SUFFIX ".mlogz"
#define MLG_SEG_NAME_LEN 25
#define MLG_LOCK_NAME "maplog.lock"
#define MLG_SPARE_NAME "next.mlog-spare"
#define MLG_SPARE2_NAME "next.mlog-spare2" /* the writer keeps up to two spares ready */

#endif
