/* fuzz_common.h -- what the fuzz targets share: a scratch directory on tmpfs when there is
 * one, and writing a buffer to a file. */
#ifndef MLG_FUZZ_COMMON_H
#define MLG_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fz_scratch(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/maplog-fuzz-%d", base, (int)getpid());
        mkdir(dir, 0755);
    }
    return dir;
}

/* Empty dir of its files (not recursive: targets make flat directories). */
static void fz_clear(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    if (!d)
        return;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

static void fz_write(const char *dir, const char *name, const uint8_t *data, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w <= 0)
            abort();
        data += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* Split data into up to max_files segment files in dir at 0xFF 'M' 'L' 'G' markers: the
 * first piece is 00000000000000000000.mlog, each later piece's first two bytes (big-endian)
 * are its first sequence number.  Returns how many files were written. */
static int fz_split_segments(const char *dir, const uint8_t *data, size_t size, int max_files)
{
    size_t start = 0;
    int files = 0;
    for (size_t i = 0; i <= size && files < max_files; i++) {
        if (i == size || (i + 4 <= size && memcmp(data + i, "\xffMLG", 4) == 0)) {
            size_t skip = files ? 2 : 0;
            if (i > start + skip) {
                char name[64];
                unsigned seq = files ? (unsigned)data[start] << 8 | data[start + 1] : 0u;
                snprintf(name, sizeof name, "%020u.mlog", seq);
                fz_write(dir, name, data + start + skip, i - start - skip);
                files++;
            }
            start = i + 4;
            i += 3;
        }
    }
    return files;
}

#endif
