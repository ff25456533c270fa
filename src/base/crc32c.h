/* crc32c.h -- CRC-32C (Castagnoli), hardware-accelerated where the CPU allows. */
#ifndef MLG_CRC32C_H
#define MLG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (the finished CRC of earlier bytes, 0 for none) over len bytes at buf.
 * mlg__crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t mlg__crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable table-driven version, always available (tests compare the two). */
uint32_t mlg__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* "sse4.2+vpclmulqdq", "sse4.2", "armv8-crc" or "table": which implementation
 * mlg__crc32c() uses (MAPLOG_CRC32C=sse4.2 or =table in the environment forces one). */
const char *mlg__crc32c_impl(void);

/* For tests: the implementation of that name, or NULL where this CPU lacks it. */
typedef uint32_t (*mlg__crc32c_fn)(uint32_t crc, const void *buf, size_t len);
mlg__crc32c_fn mlg__crc32c_get(const char *name);

/* The CRC of a record with sequence number seq (not stored), length word len_word,
 * timestamp ts and payload: covers seq (8 bytes LE), len_word (4), ts (8), payload. */
uint32_t mlg__record_crc(uint64_t seq, uint32_t len_word, uint64_t ts, const void *payload,
                         size_t len);
/* The same, with the payload gathered from iovecs. */
struct iovec;
uint32_t mlg__record_crcv(uint64_t seq, uint32_t len_word, uint64_t ts, const struct iovec *iov,
                          int iovcnt);

#endif
