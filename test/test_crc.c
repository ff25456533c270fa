/* test_crc.c -- CRC-32C against RFC 3720 B.4 and "123456789"; every implementation this CPU
 * has against the table. */
#include "harness.h"

#include "crc32c.h"

/* Every implementation crc32c.c has; those this CPU lacks are skipped (and said so). */
static const char *const names[] = {"dispatched", "sse4.2+vpclmulqdq", "sse4.2", "armv8-crc",
                                    "table"};
#define NIMPL (int)(sizeof names / sizeof names[0])

static mlg__crc32c_fn impl(int k)
{
    return k == 0 ? mlg__crc32c : mlg__crc32c_get(names[k]);
}

int main(int argc, char **argv)
{
    unsigned char buf[48];
    t_seed_init(argc, argv);
    printf("crc32c implementation in use: %s\n", mlg__crc32c_impl());
    for (int k = 0; k < NIMPL; k++) {
        mlg__crc32c_fn f = impl(k);
        printf("%s: %s\n", names[k], f ? "tested" : "not on this CPU, skipped");
        if (!f)
            continue;
        CTX("implementation %s", names[k]);
        ASSERT_EQ(f(0, "123456789", 9), 0xE3069283u);
        memset(buf, 0, 32);
        ASSERT_EQ(f(0, buf, 32), 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
        memset(buf, 0xff, 32);
        ASSERT_EQ(f(0, buf, 32), 0x62A8AB43u); /* 32 bytes of ones */
        for (int i = 0; i < 32; i++)
            buf[i] = (unsigned char)i;
        ASSERT_EQ(f(0, buf, 32), 0x46DD794Eu); /* incrementing */
        for (int i = 0; i < 32; i++)
            buf[i] = (unsigned char)(31 - i);
        ASSERT_EQ(f(0, buf, 32), 0x113FDB5Cu); /* decrementing */
        static const unsigned char iscsi[48] = {
            0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
            0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
        ASSERT_EQ(f(0, iscsi, 48), 0xD9963A56u); /* an iSCSI read command PDU */
        ASSERT_EQ(f(0, "", 0), 0u);
        /* chaining: crc(a ++ b) == crc(crc(a), b) */
        ASSERT_EQ(f(f(0, "12345", 5), "6789", 4), 0xE3069283u);
    }
    for (int k = 1; k < NIMPL; k++) {
        mlg__crc32c_fn f = impl(k);
        if (!f || f == mlg__crc32c_sw)
            continue;
        /* every length and alignment up to 300, random content: agrees with the table */
        static unsigned char big[4096 + 16];
        for (int round = 0; round < 2000; round++) {
            size_t len = (size_t)t_rand_below(300), al = (size_t)t_rand_below(16);
            t_fill(big + al, len, t_rand());
            uint32_t seed = (uint32_t)t_rand();
            CTX("%s: round %d len %zu align %zu", names[k], round, len, al);
            ASSERT_EQ(f(seed, big + al, len), mlg__crc32c_sw(seed, big + al, len));
        }
        t_fill(big, 4096, 7);
        ASSERT_EQ(f(0, big, 4096), mlg__crc32c_sw(0, big, 4096));
        /* Long buffers take the three-way path (blocks of 3 x 64, 3 x 256, 3 x 8192 bytes,
         * combined by shift tables) or the folding one (256 bytes a step, then 64, then 16,
         * then 8 and 1): every length from 0 to 5000, lengths around the block edges, and
         * random ones, agree. */
        static unsigned char huge[3 * 3 * 8192 + 64];
        t_fill(huge, sizeof huge, t_rand());
        for (size_t len = 0; len <= 5000; len++) {
            size_t al = len % 9;
            uint32_t seed = (uint32_t)len * 2654435761u;
            CTX("%s: len %zu align %zu", names[k], len, al);
            ASSERT_EQ(f(seed, huge + al, len), mlg__crc32c_sw(seed, huge + al, len));
        }
        static const size_t edges[] = {767,  768,   769,   1535,  1536,  1537,
                                       4096, 24575, 24576, 24577, 49152, 3 * 3 * 8192};
        for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
            for (size_t al = 0; al < 9; al++) {
                CTX("%s: long buffer, len %zu align %zu", names[k], edges[e], al);
                ASSERT_EQ(f(1, huge + al, edges[e]), mlg__crc32c_sw(1, huge + al, edges[e]));
            }
        for (int round = 0; round < 300; round++) {
            size_t len = (size_t)t_rand_below(3 * 3 * 8192), al = (size_t)t_rand_below(64);
            uint32_t seed = (uint32_t)t_rand();
            CTX("%s: long round %d len %zu align %zu", names[k], round, len, al);
            ASSERT_EQ(f(seed, huge + al, len), mlg__crc32c_sw(seed, huge + al, len));
        }
    }
    /* The record CRC (FORMAT.md "Records": seq, len word, timestamp, payload) has its own
     * path for short payloads and hands long ones on: every length up to 300 and every
     * alignment, then longer ones, against the table over the same bytes laid out as the
     * format says. */
    static unsigned char big[4200 + 16];
    for (size_t len = 0; len <= 4200; len += len < 300 ? 1 : 97)
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
