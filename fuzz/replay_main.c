/* replay_main.c -- run a fuzz target over every file in the directories (or files) given,
 * without libFuzzer: how ctest replays the committed corpus under any compiler. */
#include "fuzz_common.h"

static int run_file(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: no such file or directory\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            files += run_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        char p[2048];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
                files += run_file(p);
            }
        closedir(d);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fz_scratch());
    if (system(cmd) != 0)
        return 1;
    printf("replayed %d inputs\n", files);
    if (files == 0) {
        fprintf(stderr, "no corpus inputs found\n");
        return 1;
    }
    printf("1 passed, 0 failed\n");
    return 0;
}
