/* fuzz_header.c -- segment header, seal and checkpoint parsing on arbitrary bytes. */
#include "internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t page[MLG_DATA_OFFSET];
    mlg__err err;
    mlg__seal seal;
    mlg__checkpoint ck;
    size_t n = size < sizeof page ? size : sizeof page;
    uint64_t claimed = size >= 8 ? ((uint64_t)data[0] << 12) | data[1] : size;
    memset(page, 0, sizeof page);
    memcpy(page, data, n);
    /* the header check must hold whatever size the file claims to have */
    mlg__header_check(page, size, "fuzz", "header", NULL, &err);
    mlg__header_check(page, claimed, "fuzz", "header", page + 48, &err);
    for (uint64_t fs = 0; fs < 2; fs++) {
        if (mlg__seal_read(page, claimed, fs, &seal) == 1 &&
            (seal.end_offset > claimed || seal.end_offset < MLG_DATA_OFFSET))
            abort(); /* a valid seal must be within the segment */
        if (mlg__ckpt_best(page, claimed, fs, &ck) && ck.end_offset > claimed)
            abort();
    }
    return 0;
}
