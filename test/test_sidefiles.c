/* test_sidefiles.c -- a cut never overwrites a side file: when NAME.tail-OFFSET (the bytes a
 * repair cuts) or NAME.tail-0 (a segment set aside) already exists -- from an earlier cut,
 * or put there by anyone -- the new one takes the next free name (NAME.tail-OFFSET.1, ...)
 * and the old one is left as it was. */
#include "harness.h"

#define SEG (64 * 1024)

/* The names in dir that hold ".tail-", sorted, joined by spaces. */
static void side_files(const char *dir, char *out, size_t n)
{
    struct dirent **list;
    int k = scandir(dir, &list, NULL, alphasort);
    out[0] = 0;
    for (int i = 0; i < k; i++) {
        if (strstr(list[i]->d_name, ".tail-")) {
            size_t used = strlen(out);
            snprintf(out + used, n - used, "%s%s", used ? " " : "", list[i]->d_name);
        }
        free(list[i]);
    }
    free(list);
}

static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    maplog *log;
    char orig[600], a[600], b[600], first[2048], second[2048], report[2048];
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("sidefiles");
    snprintf(orig, sizeof orig, "%s/orig", base);
    ASSERT_OK(t_open(&log, orig, SEG, 0));
    unsigned char buf[300];
    for (int i = 0; i < 3000; i++) {
        t_fill(buf, sizeof buf, (unsigned long long)i);
        ASSERT_OK(maplog_append(log, buf, sizeof buf, NULL));
    }
    ASSERT_OK(maplog_close(log));
    /* damage a record in the second segment: repair cuts there, saves the cut bytes and
     * sets every later segment aside */
    struct dirent **segs;
    int nseg = scandir(orig, &segs, NULL, alphasort), seen = 0;
    char second_seg[64] = "";
    for (int i = 0; i < nseg; i++) {
        if (strlen(segs[i]->d_name) == 25 && strstr(segs[i]->d_name, ".mlog") && ++seen == 2)
            snprintf(second_seg, sizeof second_seg, "%s", segs[i]->d_name);
        free(segs[i]);
    }
    free(segs);
    ASSERT_TRUE(second_seg[0], "the log has %d segments", seen);
    unsigned char x;
    t_pread(t_path(orig, second_seg), &x, 1, 4096 + 500);
    x ^= 0x20;
    t_pwrite(t_path(orig, second_seg), &x, 1, 4096 + 500);

    /* a: the first repair, to learn the side files' names */
    snprintf(a, sizeof a, "%s/a", base);
    t_copy_dir(orig, a);
    ASSERT_OK(maplog_recover(a, MAPLOG_RECOVER_APPLY, report, sizeof report, NULL));
    side_files(a, first, sizeof first);
    printf("a first cut leaves: %s\n", first);
    ASSERT_TRUE(strstr(first, ".tail-0") && strstr(first, second_seg), "side files: %s", first);

    /* b: the same names already taken by someone's files */
    snprintf(b, sizeof b, "%s/b", base);
    t_copy_dir(orig, b);
    char names[2048], *save = NULL;
    snprintf(names, sizeof names, "%s", first);
    for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        FILE *f = fopen(t_path(b, t), "w");
        ASSERT_TRUE(f && fputs("keep me\n", f) >= 0 && fclose(f) == 0, "write %s", t);
    }
    ASSERT_OK(maplog_recover(b, MAPLOG_RECOVER_APPLY, report, sizeof report, NULL));
    side_files(b, second, sizeof second);
    printf("with those names taken: %s\n", second);
    snprintf(names, sizeof names, "%s", first);
    save = NULL;
    for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char buf2[32] = "";
        FILE *f = fopen(t_path(b, t), "r");
        ASSERT_TRUE(f && fgets(buf2, sizeof buf2, f), "read %s", t);
        fclose(f);
        ASSERT_TRUE(strcmp(buf2, "keep me\n") == 0, "%s was overwritten", t);
        char next[128];
        snprintf(next, sizeof next, "%s.1", t);
        ASSERT_TRUE(has_word(second, next), "no %s beside the taken %s: %s", next, t, second);
        ASSERT_EQ(t_file_size(t_path(b, next)), t_file_size(t_path(a, t)));
    }
    uint64_t problems = 1;
    ASSERT_OK(maplog_verify(b, 0, NULL, NULL, NULL, &problems));
    ASSERT_EQ(problems, 0);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
