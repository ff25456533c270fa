/* test_crc.c -- CRC-32C against RFC 3720 B.4 and "123456789", hardware against table. */
#include "harness.h"

#include "../src/crc32c.h"

static uint32_t (*const impls[])(uint32_t, const void *, size_t) = {mlg__crc32c, mlg__crc32c_sw};
static const char *const names[] = {"dispatched", "table"};

int main(int argc, char **argv)
{
    unsigned char buf[48];
    t_seed_init(argc, argv);
    printf("crc32c implementation in use: %s\n", mlg__crc32c_impl());
    for (int k = 0; k < 2; k++) {
        CTX("implementation %s", names[k]);
        ASSERT_EQ(impls[k](0, "123456789", 9), 0xE3069283u);
        memset(buf, 0, 32);
        ASSERT_EQ(impls[k](0, buf, 32), 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
        memset(buf, 0xff, 32);
        ASSERT_EQ(impls[k](0, buf, 32), 0x62A8AB43u); /* 32 bytes of ones */
        for (int i = 0; i < 32; i++)
            buf[i] = (unsigned char)i;
        ASSERT_EQ(impls[k](0, buf, 32), 0x46DD794Eu); /* incrementing */
        for (int i = 0; i < 32; i++)
            buf[i] = (unsigned char)(31 - i);
        ASSERT_EQ(impls[k](0, buf, 32), 0x113FDB5Cu); /* decrementing */
        static const unsigned char iscsi[48] = {
            0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
            0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
        ASSERT_EQ(impls[k](0, iscsi, 48), 0xD9963A56u); /* an iSCSI read command PDU */
        ASSERT_EQ(impls[k](0, "", 0), 0u);
        /* chaining: crc(a ++ b) == crc(crc(a), b) */
        ASSERT_EQ(impls[k](impls[k](0, "12345", 5), "6789", 4), 0xE3069283u);
    }
    /* every length and alignment up to 300, random content: both implementations agree */
    static unsigned char big[4096 + 16];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)t_rand_below(300), al = (size_t)t_rand_below(16);
        t_fill(big + al, len, t_rand());
        uint32_t seed = (uint32_t)t_rand();
        CTX("round %d len %zu align %zu", round, len, al);
        ASSERT_EQ(mlg__crc32c(seed, big + al, len), mlg__crc32c_sw(seed, big + al, len));
    }
    t_fill(big, 4096, 7);
    ASSERT_EQ(mlg__crc32c(0, big, 4096), mlg__crc32c_sw(0, big, 4096));
    /* Long buffers take the three-way path (blocks of 3 x 64, 3 x 256, 3 x 8192 bytes, combined
     * by shift tables): every length around the block edges, and random ones, agree. */
    static unsigned char huge[3 * 3 * 8192 + 64];
    t_fill(huge, sizeof huge, t_rand());
    static const size_t edges[] = {767,  768,   769,   1535,  1536,  1537,
                                   4096, 24575, 24576, 24577, 49152, 3 * 3 * 8192};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++)
        for (size_t al = 0; al < 9; al++) {
            CTX("long buffer, len %zu align %zu", edges[k], al);
            ASSERT_EQ(mlg__crc32c(1, huge + al, edges[k]), mlg__crc32c_sw(1, huge + al, edges[k]));
        }
    for (int round = 0; round < 300; round++) {
        size_t len = (size_t)t_rand_below(3 * 3 * 8192), al = (size_t)t_rand_below(64);
        uint32_t seed = (uint32_t)t_rand();
        CTX("long round %d len %zu align %zu", round, len, al);
        ASSERT_EQ(mlg__crc32c(seed, huge + al, len), mlg__crc32c_sw(seed, huge + al, len));
    }
    /* The record CRC (FORMAT.md "Records": seq, len word, timestamp, payload) has its own
     * path for short payloads: every length up to 300 and every alignment, against the
     * table over the same bytes laid out as the format says. */
    for (size_t len = 0; len <= 300; len++)
        for (size_t al = 0; al < 8; al++) {
            uint64_t seq = (uint64_t)t_rand() << 20 | len, ts = (uint64_t)t_rand() << 32 | al;
            uint32_t lw = (uint32_t)len | 0x80000000u;
            unsigned char pre[20];
            memcpy(pre, &seq, 8);
            memcpy(pre + 8, &lw, 4);
            memcpy(pre + 12, &ts, 8);
            t_fill(big + al, len, t_rand());
            CTX("record crc, payload len %zu align %zu", len, al);
            ASSERT_EQ(mlg__record_crc(seq, lw, ts, big + al, len),
                      mlg__crc32c_sw(mlg__crc32c_sw(0, pre, 20), big + al, len));
        }
    printf("1 passed, 0 failed\n");
    return 0;
}
