/*
 * wake.c -- the wake page: how a writer wakes followers in other processes, and how a
 * follower sleeps until there is something to read (docs/FORMAT.md, "The wake page").
 *
 * The page is the first 4096 bytes of maplog.lock, which the writer holds open anyway.  Its
 * wake word is a futex word: a follower about to sleep sets a bit in it (SLEEP for a futex
 * wait, POLL for a descriptor), and a writer that has just published a record looks at the
 * word and, only when a bit is set, clears the bits, bumps the count in the rest of the
 * word and wakes: FUTEX_WAKE for sleepers, a one-word write into the page (inotify's
 * IN_MODIFY) for descriptors.  With nobody asleep an append reads one word and makes no
 * system call.  A bit rather than a count of sleepers: a follower killed in its sleep
 * leaves a bit the next wake clears, where a count would make every later append pay a
 * system call for a sleeper that is gone.
 *
 * The writer's store of a record and its load of the word, and the follower's store of its
 * bit and its load of the record, are the two halves of Dekker's problem: each needs a full
 * barrier between its store and its load, or the writer may miss the bit while the
 * follower misses the record, and the follower sleeps past it.  The follower's bit is set
 * with a locked instruction, a full barrier.  The writer's side costs it nothing: its
 * process registers for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), and a follower
 * about to sleep calls it, which puts a full barrier into every running thread of every
 * registered process -- the asymmetric fence (Folly's asymmetricHeavyBarrier).  Where the
 * kernel has no membarrier the writer says so in the page (MLG_WAKE_FENCED) and pays a
 * fence per append instead.  A follower that can do neither, or cannot write the page (it
 * may only read the log), or finds no page (a writer of an older version), polls.
 *
 * Nothing here can lose a record: a sleep is bounded (MLG_WAKE_SLICE_NS), so a wake-up that
 * never comes -- the writer died between its record and its wake -- costs that long, and the
 * follower then looks again.
 *
 * No standalone fences: ThreadSanitizer does not model them (GCC refuses them under
 * -fsanitize=thread), so each full barrier is a sequentially consistent read-modify-write.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "logdir.h"
#include "os.h"

static long sys_membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0u, 0);
}

static long sys_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

static int mb_writer_ok; /* this process is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED */
static pthread_once_t mb_writer_once = PTHREAD_ONCE_INIT;
static void mb_writer_init(void)
{
    long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
    mb_writer_ok = cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
                   sys_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
}

static uint32_t no_word; /* the word of a writer without a page: never has a bit set */

/* Map the page of fd, size permitting; NULL if it cannot be. */
static uint8_t *map_page(int fd, int prot)
{
    void *p = mlg__os.mmap(NULL, MLG_WAKE_SIZE, prot, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : (uint8_t *)p;
}

static uint32_t *word_of(uint8_t *page, size_t off)
{
    return (uint32_t *)(void *)(page + off);
}

void mlg__wake_writer_open(mlg__wake *w, int lockfd)
{
    memset(w, 0, sizeof *w);
    w->fd = lockfd;
    w->word = &no_word;
    pthread_once(&mb_writer_once, mb_writer_init);
    struct stat st;
    if (mlg__fstat(lockfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
        return; /* not a plain file of this directory alone (a hard link): not written */
    /* Never shorter: a follower may have the page mapped, and would fault past the end. */
    if (st.st_size < MLG_WAKE_SIZE && mlg__ftruncate(lockfd, MLG_WAKE_SIZE) < 0)
        return; /* the lock works without the page; followers poll */
    uint8_t *p = map_page(lockfd, PROT_READ | PROT_WRITE);
    if (!p)
        return;
    w->page = p;
    w->fenced = !mb_writer_ok;
    if (memcmp(p, MLG_WAKE_MAGIC, 8) != 0 ||
        __atomic_load_n(word_of(p, MLG_WAKE_VERSION_OFF), __ATOMIC_SEQ_CST) != MLG_WAKE_VERSION) {
        /* A new page (or one that is not ours): followers check the magic before the
         * version, so the magic goes last. */
        __atomic_store_n(word_of(p, MLG_WAKE_VERSION_OFF), MLG_WAKE_VERSION, __ATOMIC_SEQ_CST);
        __atomic_store_n(word_of(p, MLG_WAKE_WORD_OFF), 0, __ATOMIC_SEQ_CST);
        uint64_t magic;
        memcpy(&magic, MLG_WAKE_MAGIC, 8);
        __atomic_store_n((uint64_t *)(void *)p, magic, __ATOMIC_SEQ_CST);
    }
    __atomic_store_n(word_of(p, MLG_WAKE_FLAGS_OFF), w->fenced ? MLG_WAKE_FENCED : 0u,
                     __ATOMIC_SEQ_CST);
    w->word = word_of(p, MLG_WAKE_WORD_OFF);
}

void mlg__wake_all(mlg__wake *w)
{
    uint32_t v = __atomic_load_n(w->word, __ATOMIC_RELAXED);
    while (v & MLG_WAKE_WAITING) {
        if (!__atomic_compare_exchange_n(w->word, &v,
                                         (v + MLG_WAKE_COUNT_ONE) & ~(uint32_t)MLG_WAKE_WAITING, 1,
                                         __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            continue;
        if (v & MLG_WAKE_SLEEP) {
            sys_futex(w->word, FUTEX_WAKE, INT_MAX, NULL);
            atomic_fetch_add_explicit(&w->futex_wakes, 1, memory_order_relaxed);
        }
        if (v & MLG_WAKE_POLL && w->fd >= 0) {
            /* The poke: any write makes inotify say IN_MODIFY; this one is the word's new
             * value. */
            uint32_t c = (v + MLG_WAKE_COUNT_ONE) & ~(uint32_t)MLG_WAKE_WAITING;
            (void)mlg__pwrite(w->fd, &c, sizeof c, MLG_WAKE_POKE_OFF);
            atomic_fetch_add_explicit(&w->pokes, 1, memory_order_relaxed);
        }
        return;
    }
}

void mlg__wake_writer_close(mlg__wake *w)
{
    if (w->page) {
        mlg__wake_all(w);
        mlg__os.munmap(w->page, MLG_WAKE_SIZE);
    }
    w->page = NULL;
    w->word = &no_word;
}

/* ---- the follower's side ----------------------------------------------------------- */

int mlg__wake_follower_attach(mlg__wake *w, int dirfd)
{
    if (w->page)
        return 0;
    int fd = mlg__openat(dirfd, MLG_LOCK_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0)
        return -1; /* no writer ever came, or this follower may only read the log */
    struct stat st;
    uint8_t *p = NULL;
    if (mlg__fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= MLG_WAKE_SIZE)
        p = map_page(fd, PROT_READ | PROT_WRITE);
    if (!p || memcmp(p, MLG_WAKE_MAGIC, 8) != 0 ||
        __atomic_load_n(word_of(p, MLG_WAKE_VERSION_OFF), __ATOMIC_SEQ_CST) != MLG_WAKE_VERSION) {
        if (p)
            mlg__os.munmap(p, MLG_WAKE_SIZE);
        mlg__close(fd);
        return -1;
    }
    w->fd = fd;
    w->page = p;
    w->word = word_of(p, MLG_WAKE_WORD_OFF);
    return 0;
}

void mlg__wake_follower_detach(mlg__wake *w)
{
    if (w->page)
        mlg__os.munmap(w->page, MLG_WAKE_SIZE);
    if (w->page && w->fd >= 0)
        mlg__close(w->fd);
    w->page = NULL;
    w->fd = -1;
    w->word = &no_word;
}

int mlg__wake_arm(mlg__wake *w, uint32_t bit, uint32_t *seen)
{
    if (!w->page)
        return -1;
    /* A locked read-modify-write, even when the bit is set already: our full barrier. */
    *seen = __atomic_fetch_or(w->word, bit, __ATOMIC_SEQ_CST) | bit;
    if (__atomic_load_n(word_of(w->page, MLG_WAKE_FLAGS_OFF), __ATOMIC_ACQUIRE) & MLG_WAKE_FENCED)
        return 0; /* the writer fences each append: our locked instruction is the other half */
    if (sys_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0)
        return 0;
    w->no_barrier = 1; /* cannot order against the writer: sleeping could miss a record */
    return -1;
}

int mlg__wake_sleep(mlg__wake *w, uint32_t seen, uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    long rc = sys_futex(w->word, FUTEX_WAIT, seen, &ts);
    return rc == 0 ? 1 : 0; /* 0: timed out, the word changed already, or a signal */
}
