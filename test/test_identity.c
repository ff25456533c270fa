/* test_identity.c -- a log that continues another's identity, and records copied by their
 * on-disk images.
 *
 * A mirror reads a log's records as their on-disk images (maplog_reader_record_image),
 * ships them, checks each one on arrival (maplog_record_decode) and appends it to a log
 * created with the source's identity (maplog_options_set_identity): the same log id, the
 * same sequence numbers, the same timestamps.  This test does that with logs of several
 * segments, archived segments and void records, and checks that a log whose first record
 * is not seq 0 reads, seeks, verifies and recovers as any other; and that decoding refuses
 * every damaged, truncated or misnumbered image without reading past its buffer (run it
 * under ASan: every image is decoded from a buffer of exactly its size). */
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>

#define SEG (64 * 1024)
#define FIRST 1000u
#define TS0 1700000000000000000ull

static const uint8_t ID[16] = {0x6d, 0x69, 0x72, 0x72, 0x6f, 0x72, 0x01, 0x02,
                               0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0xfe};
static const char ID_HEX[] = "6d6972726f72010203040506070809fe";

/* Options: a small segment, the identity (id NULL: none), and key/value pairs, 0-ended. */
static int open_id(maplog **log, const char *dir, const uint8_t *id, uint64_t first, ...)
{
    maplog_options *o;
    va_list ap;
    ASSERT_OK(maplog_options_create(&o));
    ASSERT_OK(maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, SEG));
    if (id)
        ASSERT_OK(maplog_options_set_identity(o, id, first));
    va_start(ap, first);
    for (int k; (k = va_arg(ap, int)) != 0;)
        ASSERT_OK(maplog_options_set(o, (maplog_option)k, va_arg(ap, long long)));
    va_end(ap);
    int rc = maplog_open(log, dir, o);
    maplog_options_free(o);
    return rc;
}

/* Record seq's payload length and bytes, and its timestamp: what every check expects. */
static size_t payload_of(uint64_t seq, unsigned char *buf)
{
    size_t len = seq % 11 == 4 ? 0 : (size_t)(seq * 37 % 300);
    t_fill(buf, len, seq * 3 + 1);
    return len;
}

static uint64_t ts_of(uint64_t seq)
{
    return TS0 + seq * 1000 + seq % 3;
}

/* Append up to seq `until` (exclusive): records of payload_of(), a void every 37th. */
static void append_to(maplog *log, uint64_t until)
{
    unsigned char buf[400];
    uint64_t next, seq;
    ASSERT_OK(maplog_next_seq(log, &next));
    for (; next < until; next++) {
        if (next % 37 == 5) {
            ASSERT_OK(maplog_append_void(log, &seq));
        } else {
            size_t len = payload_of(next, buf);
            ASSERT_OK(maplog_append_ts(log, buf, len, ts_of(next), &seq));
        }
        ASSERT_EQ(seq, next);
    }
}

/* Read dir from its first record to the end, checking each against payload_of()/ts_of();
 * voids are returned (MAPLOG_READER_VOIDS) and expected at every 37th or at seqs in
 * extra_void (UINT64_MAX: none).  Returns the number of records; *first the first seq. */
static uint64_t check_log(const char *dir, uint64_t *first, uint64_t extra_void)
{
    maplog_reader *r;
    maplog_record rec;
    unsigned char want[400];
    uint64_t n = 0, expect = 0;
    int rc;
    ASSERT_OK(maplog_reader_open(&r, dir, MAPLOG_READER_VOIDS));
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        if (n == 0)
            *first = expect = rec.seq;
        CTX("%s: seq %" PRIu64, dir, rec.seq);
        ASSERT_EQ(rec.seq, expect);
        if (rec.seq % 37 == 5 || rec.seq == extra_void) {
            ASSERT_EQ(rec.flags, MAPLOG_RECORD_VOID);
            ASSERT_EQ(rec.len, 0);
            ASSERT_EQ(rec.timestamp_ns, 0);
        } else {
            size_t len = payload_of(rec.seq, want);
            ASSERT_EQ(rec.flags, 0);
            ASSERT_EQ(rec.len, len);
            ASSERT_EQ(rec.timestamp_ns, ts_of(rec.seq));
            ASSERT_MEM(rec.data, want, len);
        }
        n++;
        expect++;
    }
    ASSERT_TRUE(rc == MAPLOG_END, "%s: ended with %d: %s", dir, rc, maplog_reader_errmsg(r));
    maplog_reader_close(r);
    t_ctx[0] = 0;
    return n;
}

static void verify_clean(const char *dir)
{
    uint64_t problems = 99;
    ASSERT_OK(maplog_verify(dir, 0, NULL, NULL, NULL, &problems));
    ASSERT_EQ(problems, 0);
    ASSERT_OK(maplog_verify(dir, MAPLOG_VERIFY_QUICK, NULL, NULL, NULL, &problems));
    ASSERT_EQ(problems, 0);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

/* Run the maplog tool (MAPLOG_TOOL, when the build has it) on dir; its output in out. */
static int run_tool(const char *args, const char *dir, char *out, size_t cap)
{
    const char *tool = getenv("MAPLOG_TOOL");
    char cmd[2048];
    size_t n = 0;
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' 2>&1", tool, args, dir);
    FILE *p = popen(cmd, "r");
    ASSERT_TRUE(p != NULL, "popen %s", cmd);
    while (n + 1 < cap && !feof(p))
        n += fread(out + n, 1, cap - 1 - n, p);
    out[n] = 0;
    char rest[4096];
    while (fread(rest, 1, sizeof rest, p) > 0)
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- 1. a log created with an identity ------------------------------------------------ */

static void test_options(void)
{
    maplog_options *o;
    uint8_t id[16], zero[16] = {0};
    uint64_t first;
    ASSERT_OK(maplog_options_create(&o));
    ASSERT_EQ(maplog_options_get_identity(o, id, &first), MAPLOG_ENOENT);
    ASSERT_EQ(maplog_options_set_identity(NULL, ID, 1), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_options_set_identity(o, zero, 1), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_options_set_identity(o, ID, (uint64_t)INT64_MAX + 1), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_options_get_identity(o, id, &first), MAPLOG_ENOENT);
    ASSERT_OK(maplog_options_set_identity(o, ID, FIRST));
    ASSERT_OK(maplog_options_get_identity(o, id, &first));
    ASSERT_MEM(id, ID, 16);
    ASSERT_EQ(first, FIRST);
    ASSERT_EQ(maplog_options_get_identity(o, NULL, &first), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_options_get_identity(o, id, NULL), MAPLOG_EINVAL);
    ASSERT_OK(maplog_options_set_identity(o, NULL, 0));
    ASSERT_EQ(maplog_options_get_identity(o, id, &first), MAPLOG_ENOENT);
    maplog_options_free(o);
}

static void test_identity(const char *base)
{
    char dir[1024], other[40];
    maplog *log;
    maplog_reader *r;
    maplog_record rec;
    uint64_t next, first = 0;
    uint8_t id[16];
    snprintf(dir, sizeof dir, "%s/id", base);

    ASSERT_OK(open_id(&log, dir, ID, FIRST, 0));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, FIRST);
    append_to(log, FIRST + 1500); /* several segments */
    ASSERT_OK(maplog_close(log));
    ASSERT_TRUE(access(t_path(dir, "00000000000000001000.mlog"), F_OK) == 0,
                "the first segment is named for seq %u", FIRST);
    ASSERT_TRUE(count_files(dir, ".mlog") >= 3, "%d segments", count_files(dir, ".mlog"));
    ASSERT_EQ(check_log(dir, &first, UINT64_MAX), 1500);
    ASSERT_EQ(first, FIRST);
    verify_clean(dir);

    /* reopened without the identity, with it (first_seq is not checked), with another */
    ASSERT_OK(open_id(&log, dir, NULL, 0, 0));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, FIRST + 1500);
    append_to(log, FIRST + 1600);
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(open_id(&log, dir, ID, 7, 0));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, FIRST + 1600);
    append_to(log, FIRST + 1700);
    ASSERT_OK(maplog_close(log));
    uint8_t wrong[16];
    memcpy(wrong, ID, 16);
    wrong[15] ^= 0x01;
    ASSERT_EQ(open_id(&log, dir, wrong, FIRST, 0), MAPLOG_EINVAL);
    ASSERT_TRUE(log == NULL, "no handle on failure");
    const char *msg = maplog_last_open_error();
    snprintf(other, sizeof other, "%.30sff", ID_HEX);
    printf("another identity: %s\n", msg);
    ASSERT_TRUE(strstr(msg, dir) && strstr(msg, ID_HEX) && strstr(msg, other),
                "the message names the directory and both ids: %s", msg);
    /* not even a new log in a directory that holds one */
    ASSERT_EQ(check_log(dir, &first, UINT64_MAX), 1700);

    /* readers: the id, the figures, seeking, cursors */
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ASSERT_OK(maplog_reader_log_id(r, id));
    ASSERT_MEM(id, ID, 16);
    int64_t v;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_FIRST_SEQ, &v));
    ASSERT_EQ(v, FIRST);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_NEXT_SEQ, &v));
    ASSERT_EQ(v, FIRST + 1700);
    int64_t voids = 0;
    for (uint64_t s = FIRST; s < FIRST + 1700; s++)
        voids += s % 37 == 5;
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_RECORDS, &v));
    ASSERT_EQ(v, 1700 - voids);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_VOID_RECORDS, &v));
    ASSERT_EQ(v, voids);
    ASSERT_OK(maplog_reader_info_get(r, MAPLOG_INFO_FIRST_TS, &v));
    ASSERT_EQ(v, ts_of(FIRST));
    ASSERT_EQ(maplog_reader_seek(r, FIRST - 1), MAPLOG_ENOENT);
    ASSERT_EQ(maplog_reader_seek(r, 0), MAPLOG_ENOENT);
    for (uint64_t s = FIRST; s < FIRST + 1700; s += 97) {
        ASSERT_OK(maplog_reader_seek(r, s));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, s % 37 == 5 ? s + 1 : s);
    }
    ASSERT_OK(maplog_reader_seek(r, FIRST + 1700));
    ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
    ASSERT_EQ(maplog_reader_seek(r, FIRST + 1800), MAPLOG_END);
    ASSERT_OK(maplog_reader_seek_time(r, ts_of(FIRST + 1234)));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, FIRST + 1234);
    char cur[MAPLOG_CURSOR_MAX];
    ASSERT_OK(maplog_reader_seek(r, FIRST + 800));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_OK(maplog_reader_cursor(r, cur, sizeof cur));
    ASSERT_TRUE(strstr(cur, ID_HEX) != NULL, "cursor %s names the log", cur);
    maplog_reader_close(r);
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ASSERT_OK(maplog_reader_seek_cursor(r, cur));
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, FIRST + 801);
    maplog_reader_close(r);
    verify_clean(dir);

    /* the maplog tool: verify, stats and dump of a log that starts at seq 1000 */
    if (getenv("MAPLOG_TOOL")) {
        static char out[1 << 20];
        ASSERT_EQ(run_tool("verify", dir, out, sizeof out), 0);
        ASSERT_EQ(run_tool("stats --json", dir, out, sizeof out), 0);
        ASSERT_TRUE(strstr(out, "\"first_seq\":\"1000\"") && strstr(out, "\"next_seq\":\"2700\""),
                    "stats: %s", out);
        ASSERT_EQ(run_tool("dump -o json --from 1000 --limit 3", dir, out, sizeof out), 0);
        ASSERT_TRUE(strncmp(out, "{\"seq\":\"1000\"", 13) == 0, "dump: %s", out);
        ASSERT_EQ(run_tool("dump -o json --voids", dir, out, sizeof out), 0);
        ASSERT_TRUE(strncmp(out, "{\"seq\":\"1000\"", 13) == 0 && strstr(out, "\"seq\":\"2699\""),
                    "dump: %.200s", out);
        ASSERT_EQ(run_tool("dump -n 1", dir, out, sizeof out), 0);
        ASSERT_TRUE(strncmp(out, "2699 ", 5) == 0, "dump -n 1: %s", out);
        ASSERT_EQ(run_tool("recover", dir, out, sizeof out), 0);
        printf("maplog verify, stats, dump: fine\n");
    } else {
        printf("maplog tool not built: verify, stats and dump not run\n");
    }

    /* a crash: the writer dies without closing; recovery keeps the identity */
    pid_t pid = fork();
    if (pid == 0) {
        if (open_id(&log, dir, ID, FIRST, 0))
            _exit(1);
        append_to(log, FIRST + 1750);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d", st);
    ASSERT_EQ(open_id(&log, dir, wrong, FIRST, 0), MAPLOG_EINVAL);
    ASSERT_OK(open_id(&log, dir, ID, FIRST, 0));
    int64_t clean = -1;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_CLEAN, &clean));
    ASSERT_EQ(clean, 0);
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, FIRST + 1750);
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(check_log(dir, &first, UINT64_MAX), 1750);
    ASSERT_EQ(first, FIRST);
    verify_clean(dir);

    /* a crash right after creating: the new log keeps its identity and first seq */
    snprintf(dir, sizeof dir, "%s/id-new-crash", base);
    pid = fork();
    if (pid == 0) {
        if (open_id(&log, dir, ID, 1ull << 40, 0))
            _exit(1);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d", st);
    ASSERT_OK(open_id(&log, dir, NULL, 0, 0));
    ASSERT_OK(maplog_next_seq(log, &next));
    ASSERT_EQ(next, 1ull << 40);
    append_to(log, (1ull << 40) + 10);
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ASSERT_OK(maplog_reader_log_id(r, id));
    ASSERT_MEM(id, ID, 16);
    ASSERT_OK(maplog_reader_next(r, &rec));
    ASSERT_EQ(rec.seq, 1ull << 40);
    maplog_reader_close(r);
    verify_clean(dir);

    /* retention on such a log: the oldest segments go, the rest reads and verifies */
    snprintf(dir, sizeof dir, "%s/id-retain", base);
    ASSERT_OK(open_id(&log, dir, ID, FIRST, MAPLOG_OPT_RETAIN_SEGMENTS, 2LL, 0));
    append_to(log, FIRST + 3000);
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(count_files(dir, ".mlog"), 2);
    uint64_t n = check_log(dir, &first, UINT64_MAX);
    ASSERT_TRUE(first > FIRST && first + n == FIRST + 3000, "first %" PRIu64 ", %" PRIu64, first,
                n);
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    ASSERT_EQ(maplog_reader_seek(r, FIRST), MAPLOG_ENOENT);
    maplog_reader_close(r);
    verify_clean(dir);
    printf("identity: created at seq %u, reopened, refused to another, crashed, retained\n", FIRST);
}

/* ---- 2. the round trip: images read, decoded, appended to a log of the same identity -- */

/* Copy src into a new log dst with src's identity, image by image; each image decoded from
 * a buffer of exactly its size.  Returns the records copied. */
static uint64_t mirror(const char *src, const char *dst)
{
    maplog_reader *r;
    maplog_record rec, dec;
    maplog *log = NULL;
    uint8_t id[16];
    uint64_t n = 0, seq;
    int rc;
    const void *img;
    size_t len, used;
    const char *why;
    ASSERT_OK(maplog_reader_open(&r, src, MAPLOG_READER_VOIDS));
    ASSERT_EQ(maplog_reader_record_image(r, &img, &len), MAPLOG_EINVAL);
    while ((rc = maplog_reader_next(r, &rec)) == 0) {
        if (!log) {
            ASSERT_OK(maplog_reader_log_id(r, id));
            ASSERT_OK(open_id(&log, dst, id, rec.seq, 0));
        }
        ASSERT_OK(maplog_reader_record_image(r, &img, &len));
        ASSERT_TRUE(len >= 16 && len % 8 == 0, "image of %zu bytes", len);
        if (rec.flags)
            ASSERT_TRUE(len >= 16, "void image");
        else
            ASSERT_EQ(len, (16 + rec.len + 7) & ~(size_t)7);
        if (!rec.flags)
            ASSERT_TRUE((const unsigned char *)rec.data == (const unsigned char *)img + 16,
                        "the payload is in the image");
        unsigned char *copy = malloc(len);
        memcpy(copy, img, len);
        CTX("%s: seq %" PRIu64, src, rec.seq);
        why = NULL;
        ASSERT_OK(maplog_record_decode(copy, len, rec.seq, &dec, &used, &why));
        ASSERT_EQ(used, len);
        ASSERT_EQ(dec.seq, rec.seq);
        ASSERT_EQ(dec.timestamp_ns, rec.timestamp_ns);
        ASSERT_EQ(dec.len, rec.len);
        ASSERT_EQ(dec.flags, rec.flags);
        ASSERT_MEM(dec.data, rec.data, rec.len);
        if (dec.flags)
            ASSERT_TRUE(dec.data == NULL, "a void carries no data");
        else
            ASSERT_TRUE((const unsigned char *)dec.data == copy + 16, "data in the buffer");
        if (dec.flags & MAPLOG_RECORD_VOID)
            ASSERT_OK(maplog_append_void(log, &seq));
        else
            ASSERT_OK(maplog_append_ts(log, dec.data, dec.len, dec.timestamp_ns, &seq));
        ASSERT_EQ(seq, rec.seq);
        free(copy);
        n++;
    }
    ASSERT_TRUE(rc == MAPLOG_END, "%s: %d %s", src, rc, maplog_reader_errmsg(r));
    ASSERT_EQ(maplog_reader_record_image(r, &img, &len), MAPLOG_EINVAL);
    maplog_reader_close(r);
    if (log)
        ASSERT_OK(maplog_close(log));
    t_ctx[0] = 0;
    return n;
}

/* Both logs hold the same records (seq, timestamp, payload, flags) and the same id. */
static void same_logs(const char *a, const char *b)
{
    maplog_reader *ra, *rb;
    maplog_record x, y;
    uint8_t ia[16], ib[16];
    uint64_t n = 0;
    int ca, cb;
    ASSERT_OK(maplog_reader_open(&ra, a, MAPLOG_READER_VOIDS));
    ASSERT_OK(maplog_reader_open(&rb, b, MAPLOG_READER_VOIDS));
    ASSERT_OK(maplog_reader_log_id(ra, ia));
    ASSERT_OK(maplog_reader_log_id(rb, ib));
    ASSERT_MEM(ia, ib, 16);
    for (;;) {
        ca = maplog_reader_next(ra, &x);
        cb = maplog_reader_next(rb, &y);
        ASSERT_EQ(ca, cb);
        if (ca)
            break;
        CTX("%s and %s: seq %" PRIu64, a, b, x.seq);
        ASSERT_EQ(x.seq, y.seq);
        ASSERT_EQ(x.timestamp_ns, y.timestamp_ns);
        ASSERT_EQ(x.len, y.len);
        ASSERT_EQ(x.flags, y.flags);
        ASSERT_MEM(x.data, y.data, x.len);
        if (!x.flags) { /* a record's image is the same bytes, its CRC included */
            const void *pa, *pb;
            size_t la, lb;
            ASSERT_OK(maplog_reader_record_image(ra, &pa, &la));
            ASSERT_OK(maplog_reader_record_image(rb, &pb, &lb));
            ASSERT_EQ(la, lb);
            ASSERT_MEM(pa, pb, la);
        }
        n++;
    }
    ASSERT_EQ(ca, MAPLOG_END);
    maplog_reader_close(ra);
    maplog_reader_close(rb);
    t_ctx[0] = 0;
    ASSERT_TRUE(n > 0, "no records");
}

static void test_round_trip(const char *base)
{
    char src[1024], dst[1024], dst2[1024];
    maplog *log;
    uint64_t first = 0;

    /* a source of many segments, archived, with voids (maplog_append_void's, and one that
     * recovery made of a record reserved and never committed before a crash) */
    snprintf(src, sizeof src, "%s/src", base);
    snprintf(dst, sizeof dst, "%s/dst", base);
    snprintf(dst2, sizeof dst2, "%s/dst2", base);
    ASSERT_OK(open_id(&log, src, NULL, 0, MAPLOG_OPT_ARCHIVE, 1LL, 0));
    append_to(log, 2000);
    ASSERT_OK(maplog_sync(log));
    int plain = count_files(src, ".mlog");
    for (int i = 0; i < 500 && plain != 1; i++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        plain = count_files(src, ".mlog");
    }
    ASSERT_EQ(plain, 1);
    ASSERT_OK(maplog_close(log));
    ASSERT_TRUE(count_files(src, ".mlogz") >= 4, "%d archived", count_files(src, ".mlogz"));
    uint64_t lost = 2000; /* reserved, never committed: recovery makes it a void of its extent */
    pid_t pid = fork();
    if (pid == 0) {
        maplog_reservation res;
        if (open_id(&log, src, NULL, 0, 0) || maplog_reserve(log, 100, &res) || res.seq != lost)
            _exit(1);
        memset(res.data, 0x5a, 100);
        append_to(log, 2100);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d", st);
    ASSERT_OK(open_id(&log, src, NULL, 0, 0));
    int64_t voided = 0;
    ASSERT_OK(maplog_recovery_info(log, MAPLOG_RECOVERY_VOIDED, &voided));
    ASSERT_EQ(voided, 1);
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(check_log(src, &first, lost), 2100);
    { /* that void's image is its whole extent, and decodes */
        maplog_reader *r;
        maplog_record rec, dec;
        const void *img;
        size_t len, used;
        ASSERT_OK(maplog_reader_open(&r, src, MAPLOG_READER_VOIDS));
        ASSERT_OK(maplog_reader_seek(r, lost));
        ASSERT_EQ(maplog_reader_record_image(r, &img, &len), MAPLOG_EINVAL);
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.flags, MAPLOG_RECORD_VOID);
        ASSERT_OK(maplog_reader_record_image(r, &img, &len));
        ASSERT_EQ(len, 16 + 104);
        ASSERT_OK(maplog_record_decode(img, len, lost, &dec, &used, NULL));
        ASSERT_EQ(used, len);
        ASSERT_EQ(dec.flags, MAPLOG_RECORD_VOID);
        /* without MAPLOG_READER_VOIDS a void is stepped over: the next image is the next
         * record's */
        maplog_reader_close(r);
        ASSERT_OK(maplog_reader_open(&r, src, 0));
        ASSERT_OK(maplog_reader_seek(r, lost));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_EQ(rec.seq, lost + 1);
        ASSERT_OK(maplog_reader_record_image(r, &img, &len));
        ASSERT_OK(maplog_record_decode(img, len, lost + 1, &dec, &used, NULL));
        ASSERT_EQ(dec.len, rec.len);
        maplog_reader_close(r);
    }
    ASSERT_EQ(mirror(src, dst), 2100);
    same_logs(src, dst);
    verify_clean(dst);
    ASSERT_EQ(check_log(dst, &first, lost), 2100);
    ASSERT_EQ(first, 0);
    { /* recovery checks that the first segment, archived, reaches the next one: without
       * the second segment's archive, records are missing and the open is refused */
        char gap[1100];
        DIR *d;
        struct dirent *e;
        char second[64] = "";
        snprintf(gap, sizeof gap, "%s/gap", base);
        t_copy_dir(src, gap);
        ASSERT_TRUE((d = opendir(gap)) != NULL, "%s", gap);
        while ((e = readdir(d)))
            if (strstr(e->d_name, ".mlogz") && strcmp(e->d_name, "00000000000000000000.mlogz") &&
                (!second[0] || strcmp(e->d_name, second) < 0))
                snprintf(second, sizeof second, "%s", e->d_name);
        closedir(d);
        ASSERT_TRUE(second[0] && unlink(t_path(gap, second)) == 0, "remove %s", second);
        ASSERT_EQ(open_id(&log, gap, NULL, 0, 0), MAPLOG_ECORRUPT);
        printf("archived first segment not reaching the next: %s\n", maplog_last_open_error());
    }

    /* the mirror goes on where it left off: reopened with the identity, the next record is
     * the source's next */
    ASSERT_OK(open_id(&log, src, NULL, 0, 0));
    append_to(log, 2300);
    ASSERT_OK(maplog_close(log));
    {
        maplog_reader *r;
        maplog_record rec;
        maplog *m;
        uint8_t id[16];
        uint64_t next, seq;
        const void *img;
        size_t len, used;
        ASSERT_OK(maplog_reader_open(&r, src, MAPLOG_READER_VOIDS));
        ASSERT_OK(maplog_reader_log_id(r, id));
        ASSERT_OK(open_id(&m, dst, id, 0, 0));
        ASSERT_OK(maplog_next_seq(m, &next));
        ASSERT_EQ(next, 2100);
        ASSERT_OK(maplog_reader_seek(r, next));
        while (maplog_reader_next(r, &rec) == 0) {
            maplog_record dec;
            ASSERT_OK(maplog_reader_record_image(r, &img, &len));
            ASSERT_OK(maplog_record_decode(img, len, rec.seq, &dec, &used, NULL));
            if (dec.flags)
                ASSERT_OK(maplog_append_void(m, &seq));
            else
                ASSERT_OK(maplog_append_ts(m, dec.data, dec.len, dec.timestamp_ns, &seq));
            ASSERT_EQ(seq, rec.seq);
        }
        maplog_reader_close(r);
        ASSERT_OK(maplog_close(m));
    }
    same_logs(src, dst);

    /* a mirror of a mirror of a log that starts at seq 1000, with retention having
     * removed its first segments */
    snprintf(src, sizeof src, "%s/src-1000", base);
    ASSERT_OK(open_id(&log, src, ID, FIRST, MAPLOG_OPT_RETAIN_SEGMENTS, 4LL, 0));
    append_to(log, FIRST + 3000);
    ASSERT_OK(maplog_close(log));
    snprintf(dst, sizeof dst, "%s/dst-1000", base);
    uint64_t n = mirror(src, dst);
    ASSERT_TRUE(n > 500 && n < 3000, "%" PRIu64 " records", n);
    same_logs(src, dst);
    ASSERT_EQ(mirror(dst, dst2), n);
    same_logs(src, dst2);
    verify_clean(dst2);
    ASSERT_EQ(check_log(dst2, &first, UINT64_MAX), n);
    ASSERT_EQ(first + n, FIRST + 3000);
    printf("round trip: archived, voids, a crash's void, resumed, a mirror of a mirror\n");
}

/* An archived segment is read from memory it was inflated into: a reader that has read
 * far into one (past the 8 MiB it hands back of a plain segment) still reads it all again
 * after a seek back, and every image there decodes. */
static void test_archived_window(const char *base)
{
    char dir[1024];
    maplog *log;
    maplog_reader *r;
    maplog_record rec, dec;
    unsigned char buf[1000];
    const void *img;
    size_t len, used;
    uint64_t seq;
    snprintf(dir, sizeof dir, "%s/archived-16m", base);
    maplog_options *o;
    ASSERT_OK(maplog_options_create(&o));
    ASSERT_OK(maplog_options_set(o, MAPLOG_OPT_SEGMENT_SIZE, 16 << 20));
    ASSERT_OK(maplog_options_set(o, MAPLOG_OPT_ARCHIVE, 1));
    ASSERT_OK(maplog_options_set(o, MAPLOG_OPT_PREFAULT, 0));
    ASSERT_OK(maplog_options_set_identity(o, ID, FIRST));
    ASSERT_OK(maplog_open(&log, dir, o));
    maplog_options_free(o);
    for (int i = 0; i < 17000; i++) {
        t_fill(buf, sizeof buf, FIRST + (uint64_t)i);
        ASSERT_OK(maplog_append(log, buf, sizeof buf, &seq));
    }
    ASSERT_OK(maplog_sync(log));
    for (int i = 0; i < 500 && count_files(dir, ".mlogz") < 1; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    ASSERT_OK(maplog_close(log));
    ASSERT_EQ(count_files(dir, ".mlogz"), 1);
    ASSERT_OK(maplog_reader_open(&r, dir, 0));
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t want = FIRST + (pass ? 100 : 0); want < FIRST + 12000; want++) {
            ASSERT_OK(maplog_reader_next(r, &rec));
            ASSERT_EQ(rec.seq, want);
            if (want % 1000)
                continue;
            t_fill(buf, sizeof buf, want);
            CTX("pass %d: seq %" PRIu64, pass, want);
            ASSERT_MEM(rec.data, buf, sizeof buf);
            ASSERT_OK(maplog_reader_record_image(r, &img, &len));
            ASSERT_OK(maplog_record_decode(img, len, want, &dec, &used, NULL));
            ASSERT_MEM(dec.data, buf, sizeof buf);
        }
        ASSERT_OK(maplog_reader_seek(r, FIRST + 100));
    }
    t_ctx[0] = 0;
    maplog_reader_close(r);
    printf("archived segment of 16 MiB: read past 8 MiB, sought back, read again\n");
}

/* ---- 3. decoding refuses what is not the record ---------------------------------------- */

/* Decode bytes [0, n) of img from a buffer of exactly n bytes (at an odd address when odd:
 * the image need not be aligned). */
static int decode_exact(const unsigned char *img, size_t n, uint64_t seq, int odd,
                        maplog_record *out, size_t *used, const char **why)
{
    size_t size = n + (size_t)odd;
    unsigned char *block = malloc(size ? size : 1);
    unsigned char *p = block + odd;
    if (n)
        memcpy(p, img, n);
    *why = NULL;
    int rc = maplog_record_decode(p, n, seq, out, used, why);
    if (rc == 0)
        ASSERT_TRUE(*used <= n &&
                        (!out->data || ((const unsigned char *)out->data >= p &&
                                        (const unsigned char *)out->data + out->len <= p + n)),
                    "inside the buffer");
    else
        ASSERT_TRUE(*why != NULL && **why, "a reason");
    free(block);
    return rc;
}

static void refuses(const unsigned char *img, size_t used, uint64_t seq, size_t payload_len,
                    int is_void)
{
    maplog_record out;
    size_t u;
    const char *why;
    unsigned char *bent = malloc(used);
    ASSERT_OK(decode_exact(img, used, seq, 0, &out, &u, &why));
    ASSERT_EQ(u, used);
    ASSERT_OK(decode_exact(img, used, seq, 1, &out, &u, &why));
    ASSERT_EQ(u, used);
    /* every single bit flipped: refused, but for padding (no reader checks it) */
    for (size_t bit = 0; bit < used * 8; bit++) {
        memcpy(bent, img, used);
        bent[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        int rc = decode_exact(bent, used, seq, (int)(bit & 1), &out, &u, &why);
        CTX("seq %" PRIu64 ": bit %zu of %zu", seq, bit, used * 8);
        if (bit / 8 >= 16 + payload_len) {
            ASSERT_OK(rc); /* padding */
            continue;
        }
        ASSERT_EQ(rc, MAPLOG_ECORRUPT);
        ASSERT_TRUE(strstr(why, "CRC mismatch") || strstr(why, "truncated") ||
                        strstr(why, "not a published record") || strstr(why, "impossible length"),
                    "%s", why);
    }
    t_ctx[0] = 0;
    /* the right image as the wrong sequence number */
    ASSERT_EQ(decode_exact(img, used, seq + 1, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    ASSERT_TRUE(strstr(why, "CRC mismatch") != NULL, "%s", why);
    ASSERT_EQ(decode_exact(img, used, seq - 1, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    /* every truncation */
    for (size_t n = 0; n < used; n++) {
        CTX("seq %" PRIu64 ": %zu of %zu bytes", seq, n, used);
        ASSERT_EQ(decode_exact(img, n, seq, (int)(n & 1), &out, &u, &why), MAPLOG_ECORRUPT);
        ASSERT_TRUE(strstr(why, "truncated") != NULL, "%s", why);
    }
    t_ctx[0] = 0;
    /* more bytes than the image: used says where the next one starts */
    unsigned char *more = malloc(used + 40);
    memcpy(more, img, used);
    memset(more + used, 0xa5, 40);
    ASSERT_OK(decode_exact(more, used + 40, seq, 0, &out, &u, &why));
    ASSERT_EQ(u, used);
    ASSERT_EQ(out.flags, is_void ? MAPLOG_RECORD_VOID : 0);
    free(more);
    free(bent);
}

static void test_decode(const char *base)
{
    char dir[1024];
    maplog *log;
    maplog_reader *r;
    maplog_record rec, out;
    unsigned char buf[400], img[512], batch[8192];
    size_t u, blen = 0;
    const char *why;
    uint64_t seqs[64];
    size_t nb = 0;
    snprintf(dir, sizeof dir, "%s/decode", base);
    ASSERT_OK(open_id(&log, dir, ID, FIRST, 0));
    append_to(log, FIRST + 60);
    ASSERT_OK(maplog_close(log));
    ASSERT_OK(maplog_reader_open(&r, dir, MAPLOG_READER_VOIDS));
    int kinds = 0;
    while (maplog_reader_next(r, &rec) == 0) {
        const void *p;
        size_t len;
        ASSERT_OK(maplog_reader_record_image(r, &p, &len));
        ASSERT_TRUE(len <= sizeof img, "%zu", len);
        memcpy(img, p, len);
        if (blen + len <= sizeof batch) {
            memcpy(batch + blen, p, len);
            blen += len;
            seqs[nb++] = rec.seq;
        }
        /* a void, an empty record, one without padding and some with */
        int kind = rec.flags ? 1 : rec.len == 0 ? 2 : rec.len % 8 == 0 ? 4 : 8;
        if ((kinds & kind) && rec.seq % 9)
            continue;
        kinds |= kind;
        refuses(img, len, rec.seq, rec.flags ? 0 : rec.len, rec.flags != 0);
    }
    ASSERT_EQ(kinds, 15);
    maplog_reader_close(r);

    /* a batch: images back to back, decoded one after another */
    {
        size_t off = 0, k = 0;
        unsigned char *exact = malloc(blen);
        memcpy(exact, batch, blen);
        while (off < blen) {
            ASSERT_OK(maplog_record_decode(exact + off, blen - off, seqs[k], &out, &u, &why));
            ASSERT_EQ(out.seq, seqs[k]);
            off += u;
            k++;
        }
        ASSERT_EQ(off, blen);
        ASSERT_EQ(k, nb);
        /* one of them numbered wrong: the batch stops there */
        ASSERT_EQ(maplog_record_decode(exact, blen, seqs[0] + 1, &out, &u, &why), MAPLOG_ECORRUPT);
        free(exact);
    }

    /* words that are not a published record */
    uint64_t seq = 77;
    memset(buf, 0, sizeof buf);
    ASSERT_EQ(decode_exact(buf, 64, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT); /* zero */
    printf("zero word: %s\n", why);
    uint64_t w = 24 | (uint64_t)0x444e4550u << 32; /* pending, 24 bytes of payload */
    memcpy(buf, &w, 8);
    ASSERT_EQ(decode_exact(buf, 64, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    ASSERT_TRUE(strstr(why, "not a published record") != NULL, "%s", why);
    printf("pending word: %s\n", why);
    ASSERT_EQ(decode_exact(buf, 20, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT); /* cut short */
    w = 24 | (uint64_t)0x12345678u << 32; /* no valid bit, not pending */
    memcpy(buf, &w, 8);
    ASSERT_EQ(decode_exact(buf, 64, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    ASSERT_TRUE(strstr(why, "not a published record") != NULL, "%s", why);
    w = UINT64_MAX; /* the rollover mark */
    memcpy(buf, &w, 8);
    ASSERT_EQ(decode_exact(buf, 64, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    printf("rollover mark: %s\n", why);
    w = (0x3ffffff0u | 0x80000000u) | (uint64_t)0x1234u << 32; /* no segment holds it */
    memcpy(buf, &w, 8);
    ASSERT_EQ(decode_exact(buf, 64, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    ASSERT_TRUE(strstr(why, "impossible length") != NULL, "%s", why);
    w = (100 | 0x80000000u) | (uint64_t)0x1234u << 32; /* past this buffer */
    memcpy(buf, &w, 8);
    ASSERT_EQ(decode_exact(buf, 64, seq, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    ASSERT_TRUE(strstr(why, "truncated") != NULL, "%s", why);

    /* NULL arguments */
    ASSERT_EQ(maplog_record_decode(NULL, 16, 0, &out, &u, &why), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_record_decode(img, 16, 0, NULL, &u, &why), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_record_decode(img, 16, 0, &out, NULL, &why), MAPLOG_EINVAL);
    ASSERT_EQ(maplog_record_decode(NULL, 0, 0, &out, &u, &why), MAPLOG_ECORRUPT);
    ASSERT_EQ(maplog_reader_record_image(NULL, NULL, NULL), MAPLOG_EINVAL);

    /* the image is gone once the reader moves: after a positioning call, a call that
     * returned no record */
    {
        const void *p;
        size_t len;
        char cur[MAPLOG_CURSOR_MAX];
        ASSERT_OK(maplog_reader_open(&r, dir, 0));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_OK(maplog_reader_record_image(r, &p, &len));
        ASSERT_OK(maplog_reader_cursor(r, cur, sizeof cur));
        ASSERT_OK(maplog_reader_record_image(r, &p, &len)); /* asking ends nothing */
        ASSERT_OK(maplog_reader_seek_cursor(r, cur));
        ASSERT_EQ(maplog_reader_record_image(r, &p, &len), MAPLOG_EINVAL);
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_OK(maplog_reader_seek_time(r, 0));
        ASSERT_EQ(maplog_reader_record_image(r, &p, &len), MAPLOG_EINVAL);
        ASSERT_OK(maplog_reader_seek(r, FIRST + 59));
        ASSERT_OK(maplog_reader_next(r, &rec));
        ASSERT_OK(maplog_reader_record_image(r, &p, &len));
        ASSERT_EQ(maplog_reader_next(r, &rec), MAPLOG_END);
        ASSERT_EQ(maplog_reader_record_image(r, &p, &len), MAPLOG_EINVAL);
        ASSERT_TRUE(strstr(maplog_reader_errmsg(r), "no record image") != NULL, "%s",
                    maplog_reader_errmsg(r));
        ASSERT_OK(maplog_reader_seek(r, FIRST));
        ASSERT_OK(maplog_reader_next(r, &rec));
        (void)maplog_reader_skip_segment(r); /* MAPLOG_END: no later segment */
        ASSERT_EQ(maplog_reader_record_image(r, &p, &len), MAPLOG_EINVAL);
        maplog_reader_close(r);
    }
    printf("decode: every bit flip, truncation and wrong seq refused\n");
}

int main(int argc, char **argv)
{
    t_seed_init(argc, argv);
    const char *base = t_mkscratch("identity");
    test_options();
    test_identity(base);
    test_round_trip(base);
    test_archived_window(base);
    test_decode(base);
    t_scratch_done();
    printf("1 passed, 0 failed\n");
    return 0;
}
