/* spec.h -- what a test needs to read maplog's files from docs/FORMAT.md alone, apart from
 * the library: its own bitwise CRC-32C and explicit little-endian fields.  Tests that hold
 * the code to the document (test_golden, test_archive) decode with these, never with the
 * library's structs or its CRC. */
#ifndef MLG_TEST_SPEC_H
#define MLG_TEST_SPEC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C, bit by bit, straight from the definition (FORMAT.md "Checksums"), continuing
 * from crc (0 to start). */
static uint32_t crc_bits(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

#endif
