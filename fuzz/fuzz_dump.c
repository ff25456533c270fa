/* fuzz_dump.c -- the maplog tool's read paths on an arbitrary directory: the input is split
 * into segment files as in fuzz_dir.c, then `maplog dump` runs in every format (and
 * reversed), and `maplog verify` and `maplog stats` run, output to /dev/null. */
#include "cli.h"
#include "fuzz_common.h"

static void run(const char *dir, const char *a, const char *b, const char *c)
{
    char *argv[8];
    int argc = 0;
    argv[argc++] = (char *)"maplog";
    argv[argc++] = (char *)a;
    if (b)
        argv[argc++] = (char *)b;
    if (c)
        argv[argc++] = (char *)c;
    argv[argc++] = (char *)dir;
    argv[argc] = NULL;
    maplog_cli_main(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    const char *dir = fz_scratch();
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    cli_out = cli_err = devnull;
    fz_clear(dir);
    fz_split_segments(dir, data, size, 3);
    run(dir, "dump", "--format", "json");
    run(dir, "dump", "--format", "text");
    run(dir, "dump", "--format", "hex");
    run(dir, "dump", "--reverse", NULL);
    run(dir, "verify", NULL, NULL);
    run(dir, "stats", "--json", NULL);
    run(dir, "recover", NULL, NULL); /* the plan only: never --apply here */
    return 0;
}
