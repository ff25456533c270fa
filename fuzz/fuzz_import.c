/* fuzz_import.c -- `maplog import` on an arbitrary file, and the JSON line codec on an
 * arbitrary payload.
 *
 * 1. The input is written to a file and imported into a new log (64 KiB segments, so large
 *    records make import grow them); whatever the bytes -- JSON lines, the binary stream,
 *    gzip of either, or garbage -- it must not crash, and a log it makes must verify.
 * 2. The input as a record's payload (and its first 8 bytes as the timestamp): the line
 *    cli_json_record writes must decode through cli_json_decode to the same bytes and
 *    timestamp, so what export writes, import reads back, for every payload. */
#include "fuzz_common.h" /* first: it defines _GNU_SOURCE */
#include "cli.h"

static FILE *devnull;

static void run(char **argv, int argc)
{
    argv[argc] = NULL;
    maplog_cli_main(argc, argv);
}

static void codec_round_trip(const uint8_t *data, size_t size)
{
    uint64_t ts = 0, seq = 0, got_ts = 0;
    int have_seq = 0, is_void = 0;
    memcpy(&ts, data, size < 8 ? size : 8);
    maplog_record rec = {12345, ts, data, size, 0};
    char *line = NULL, err[256];
    size_t len = 0;
    FILE *m = open_memstream(&line, &len);
    cli_json_record(m, &rec, 0);
    fclose(m);
    cli_buf out = {0};
    if (len > cli_json_record_max(size) || line[len - 1] != '\n' ||
        cli_json_decode(line, len, &seq, &have_seq, &got_ts, &is_void, &out, err, sizeof err) !=
            0 ||
        is_void || !have_seq || seq != 12345 || got_ts != ts || out.len != size ||
        (size && memcmp(out.p, data, size) != 0)) {
        fprintf(stderr, "codec round trip failed (%s): %.*s\n", err, (int)(len < 300 ? len : 300),
                line);
        abort();
    }
    free(out.p);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_scratch();
    char in[512], log[512];
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    cli_out = cli_err = devnull;
    snprintf(in, sizeof in, "%s/input", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    fz_clear(dir);
    fz_write(dir, "input", data, size);
    char *imp[] = {"maplog", "import", "--segment-size", "64K", in, log, NULL};
    run(imp, 6);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, ".log.import-", 12)) {
            fprintf(stderr, "import left its hidden directory %s behind\n", e->d_name);
            abort();
        }
    if (d)
        closedir(d);
    struct stat st;
    if (stat(log, &st) == 0) {
        char *ver[] = {"maplog", "verify", log, NULL};
        cli_out = cli_err = devnull;
        if (maplog_cli_main(3, ver) != 0) {
            fprintf(stderr, "an imported log does not verify\n");
            abort();
        }
        fz_clear(log);
        rmdir(log);
    }
    codec_round_trip(data, size);
    return 0;
}
