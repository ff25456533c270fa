/*
 * crc32c.c -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Three implementations, one answer: the SSE4.2 crc32 instruction on x86-64, the ARMv8
 * CRC32C instructions on AArch64, and a slicing-by-8 table everywhere.  The choice is made
 * once, at first use, from what the CPU reports (cpuid / AT_HWCAP); test/test_crc.c checks
 * every implementation present against the RFC 3720 B.4 vectors and against each other.
 */
#define _GNU_SOURCE
#include "crc32c.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

#define POLY 0x82f63b78u

static uint32_t table[8][256];
static atomic_int table_ready;

static void build_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int s = 1; s < 8; s++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[s][n] = c;
        }
    }
}

static void ensure_table(void)
{
    /* Building twice is harmless (same values); the flag only avoids the work. */
    if (!atomic_load_explicit(&table_ready, memory_order_acquire)) {
        static atomic_flag building = ATOMIC_FLAG_INIT;
        while (atomic_flag_test_and_set_explicit(&building, memory_order_acquire))
            ;
        if (!atomic_load_explicit(&table_ready, memory_order_relaxed)) {
            build_table();
            atomic_store_explicit(&table_ready, 1, memory_order_release);
        }
        atomic_flag_clear_explicit(&building, memory_order_release);
    }
}

uint32_t mlg__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    ensure_table();
    crc = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf,
                                                            size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    while (len >= 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + 8, 8);
        memcpy(&w2, p + 16, 8);
        memcpy(&w3, p + 24, 8);
        c = _mm_crc32_u64(c, w0);
        c = _mm_crc32_u64(c, w1);
        c = _mm_crc32_u64(c, w2);
        c = _mm_crc32_u64(c, w3);
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
static int cpu_has_hw(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#define HW_NAME "sse4.2"
#elif defined(__aarch64__) && defined(__linux__)
#include <arm_acle.h>
__attribute__((target("+crc"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __crc32cb(c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __crc32cd(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __crc32cb(c, *p++);
    return ~c;
}
static int cpu_has_hw(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#define HW_NAME "armv8-crc"
#else
static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    return mlg__crc32c_sw(crc, buf, len);
}
static int cpu_has_hw(void)
{
    return 0;
}
#define HW_NAME "table"
#endif

/* 0: not decided yet, 1: hardware, 2: table.  MAPLOG_CRC32C=table forces the table. */
static atomic_int impl;

#include <stdlib.h>
static int decide(void)
{
    int v = atomic_load_explicit(&impl, memory_order_relaxed);
    if (v == 0) {
        const char *force = getenv("MAPLOG_CRC32C");
        v = (cpu_has_hw() && !(force && strcmp(force, "table") == 0)) ? 1 : 2;
        atomic_store_explicit(&impl, v, memory_order_relaxed);
    }
    return v;
}

uint32_t mlg__crc32c(uint32_t crc, const void *buf, size_t len)
{
    return decide() == 1 ? crc32c_hw(crc, buf, len) : mlg__crc32c_sw(crc, buf, len);
}

const char *mlg__crc32c_impl(void)
{
    return decide() == 1 ? HW_NAME : "table";
}

static uint32_t record_prefix(uint64_t seq, uint32_t len_word, uint64_t ts)
{
    uint8_t pre[20];
    memcpy(pre, &seq, 8);
    memcpy(pre + 8, &len_word, 4);
    memcpy(pre + 12, &ts, 8);
    return mlg__crc32c(0, pre, sizeof pre);
}

#if defined(__x86_64__)
/* The append path's CRC in one pass: the 20-byte prefix straight from registers (three
 * crc32 instructions instead of a buffer and a second call), then the payload. */
__attribute__((target("sse4.2"))) static uint32_t
record_crc_hw(uint64_t seq, uint32_t len_word, uint64_t ts, const void *payload, size_t len)
{
    uint64_t c = _mm_crc32_u64(0xffffffffu, seq);
    c = _mm_crc32_u32((uint32_t)c, len_word);
    c = _mm_crc32_u64(c, ts);
    return crc32c_hw(~(uint32_t)c, payload, len);
}
#endif

uint32_t mlg__record_crc(uint64_t seq, uint32_t len_word, uint64_t ts, const void *payload,
                         size_t len)
{
#if defined(__x86_64__)
    if (decide() == 1)
        return record_crc_hw(seq, len_word, ts, payload, len);
#endif
    return mlg__crc32c(record_prefix(seq, len_word, ts), payload, len);
}

uint32_t mlg__record_crcv(uint64_t seq, uint32_t len_word, uint64_t ts, const struct iovec *iov,
                          int iovcnt)
{
    uint32_t c = record_prefix(seq, len_word, ts);
    for (int i = 0; i < iovcnt; i++)
        c = mlg__crc32c(c, iov[i].iov_base, iov[i].iov_len);
    return c;
}
