/*
 * append.c -- the append hot path: reserve (biased or one CAS), copy, CRC, publish; rollover.
 */
#define _GNU_SOURCE
#include "writer.h"

#include "crc32c.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static uintptr_t bias_next_owner(struct maplog *log, mlg__wseg *full);

/* ---- rollover ------------------------------------------------------------------------ */

/* Called when a record did not fit in s.  Marks s full, activates the spare as the next
 * segment and queues s for sealing.  Returns 0 when the caller should try again. */
static int rollover(struct maplog *log, mlg__wseg *s)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    if (atomic_load_explicit(&log->cur, memory_order_relaxed) != s)
        goto out; /* another thread rolled over already */
    /* No record goes into s from now on; several threads may get here for the same s. */
    atomic_fetch_or(&s->resv, MLG_RESV_FULL);
    while (!log->nspare) {
        if (log->spare_busy) {
            pthread_cond_wait(&log->spare_cv, &log->mu); /* releases mu: recheck below */
        } else {
            /* Appending outran the background thread, or it failed: prepare one here. */
            mlg__wseg *n = NULL;
            log->spare_busy = 1;
            rc = mlg__seg_create(log, &n, (uint64_t)log->opt.segment_size,
                                 mlg__free_spare_name(log));
            log->spare_busy = 0;
            log->spare_rc = 0;
            pthread_cond_broadcast(&log->spare_cv);
            if (rc)
                goto out; /* s stays FULL: every append fails the same way until space frees */
            log->spare[log->nspare++] = n;
        }
        if (atomic_load_explicit(&log->cur, memory_order_relaxed) != s)
            goto out; /* rolled over by another thread while we waited */
    }
    /* FULL is set, so the count is final: the next segment starts right after it. */
    uint64_t first = s->first_seq + MLG_RESV_COUNT(atomic_load(&s->resv));
    mlg__wseg *n = log->spare[0];
    if ((rc = mlg__seg_activate(log, n, first)))
        goto out;
    log->spare[0] = log->spare[1];
    log->spare[1] = NULL;
    log->nspare--;
    log->spare_rc = 0;
    pthread_cond_broadcast(&log->prep_cv); /* make the next one, pre-fault this one */
    s->next = NULL;
    mlg__wseg **tail = &log->sealq;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    log->dir_dirty = 1;
    /* The rollover mark, once the new segment has its name: a reader following the log
     * that reaches it knows to look for the next segment now, without waiting for the
     * seal (which waits for this segment's fdatasync).  Before cur moves on, so that no
     * record of the new segment is published -- and its wake-up spent -- while a follower
     * at the old segment's end sees neither the mark nor a full segment. */
    uint64_t end = MLG_RESV_OFF(atomic_load(&s->resv));
    if (s->size - end >= 8)
        __atomic_store_n((uint64_t *)(void *)(s->map + end), MLG_ROLLED_WORD, __ATOMIC_RELEASE);
    atomic_store_explicit(&n->owner, bias_next_owner(log, s), memory_order_relaxed);
    atomic_store_explicit(&log->cur, n, memory_order_release);
    mlg__wake_after_publish(&log->wake);
    mlg__wake_bg(log);
out:
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* ---- append -------------------------------------------------------------------------- */

/*
 * Reservation is biased to one thread.  A CAS (any locked instruction) costs more than it
 * seems on this path: it waits for the store buffer to drain, and the store buffer holds
 * the previous record's stores to lines not yet in the cache, so a 64-byte append spent
 * about 20 ns there.  Most logs are appended to by one thread at a time, so, as with the
 * biased locks of JVMs, a segment can have an owner thread, which reserves in it with a
 * plain load and store of resv:
 *
 *   owner:   busy = 1; [compiler barrier]; if (owner == me) { load resv; store resv+1 }
 *            busy = 0 (release)
 *   revoker: owner = REVOKING; membarrier(); wait until busy == 0; owner = 0 (release);
 *            then CAS as usual
 *
 * This is Dekker's store-then-load on both sides, with the owner's memory barrier supplied
 * by membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread of the
 * process execute one between our store and its return (the asymmetric fence of liburcu
 * and folly).  Wherever in the owner's reservation that barrier lands, either the owner
 * reads owner != me after it and takes the CAS path, or its busy = 1 is visible and the
 * revoker waits until its plain store is done.  Any other thread reserves with a CAS only
 * once it reads owner == 0, which is stored after that wait, so no CAS ever races a plain
 * store.  (With 0 stored first, a second thread reading it while the first revoker still
 * waited took a sequence number the preempted owner then took again.)
 *
 * A segment's owner is set only before the segment becomes cur, and after that only
 * cleared: the opening thread owns the first segment, and at a rollover the thread rolling
 * over owns the next one if it was the only thread to reserve in the full one.  Each
 * revocation doubles the number of such chances passed up (up to 1024 segments), so
 * threads that take turns settle on the CAS.  Without membarrier (Linux < 4.14, or a
 * seccomp filter) nothing is ever owned and every reservation is a CAS.
 */
#define BIAS_SKIP_MAX 1024u

static _Thread_local char bias_me_; /* its address names this thread while it lives */
static pthread_once_t bias_once = PTHREAD_ONCE_INIT;
static int bias_ok; /* membarrier(PRIVATE_EXPEDITED) is registered for this process */

static inline uintptr_t bias_me(void)
{
    return (uintptr_t)&bias_me_;
}

static long sys_membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0u, 0);
}

static void bias_init(void)
{
    long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
    bias_ok = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
              sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void mlg__bias_init(void)
{
    pthread_once(&bias_once, bias_init);
}

/* Who owns a segment about to become cur: me, if bias is possible and not backing off. */
uintptr_t mlg__bias_grant(struct maplog *log)
{
    if (!bias_ok)
        return 0;
    pthread_mutex_lock(&log->bias_mu);
    int skip = log->bias_skip > 0;
    if (skip)
        log->bias_skip--;
    pthread_mutex_unlock(&log->bias_mu);
    if (skip)
        return 0;
    atomic_fetch_add_explicit(&log->bias_grants, 1, memory_order_relaxed);
    return bias_me();
}

/* At a rollover by this thread: who owns the next segment. */
static uintptr_t bias_next_owner(struct maplog *log, mlg__wseg *full)
{
    uintptr_t me = bias_me();
    if (atomic_load(&full->owner) != me &&
        (atomic_load(&full->solo) != me || atomic_load(&full->mixed)))
        return 0; /* another thread reserved in it too */
    return mlg__bias_grant(log);
}

/* Take s's ownership away from whichever thread has it, before reserving with a CAS. */
static void bias_revoke(struct maplog *log, mlg__wseg *s)
{
    pthread_mutex_lock(&log->bias_mu);
    if (atomic_load(&s->owner)) {
        atomic_store(&s->owner, MLG_OWNER_REVOKING);
        /* Registered at open, so it does not fail; the global barrier is slower but
         * needs no registration, should it ever be refused. */
        while (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
               sys_membarrier(MEMBARRIER_CMD_GLOBAL) != 0)
            sched_yield();
        /* the owner is inside its plain reservation: a few instructions, or preempted */
        for (unsigned round = 0; atomic_load_explicit(&s->owner_busy, memory_order_acquire);
             round++)
            mlg__wait_round(round);
        atomic_store_explicit(&s->owner, 0, memory_order_release);
        uint64_t n = atomic_fetch_add_explicit(&log->bias_revokes, 1, memory_order_relaxed) + 1;
        log->bias_skip = n >= 10 ? BIAS_SKIP_MAX : 1u << n;
    }
    pthread_mutex_unlock(&log->bias_mu);
}

/*
 * Hints (docs/FORMAT.md, "Record hints").  Slot k of a segment's hint table names the first
 * record reserved at or past 4096 + k * stride, so that a reader finds a record near any
 * offset without walking the length words from the segment's start.  The fast path is one
 * compare with hint_next; once per stride a reservation crossing it fills the slot here.
 *
 * A slot is filled only when every record before the one it names is published, so that a
 * reader starting from a hint never skips a record still being written: the owner thread
 * knows it from its own count; another thread walks the record words from the last place
 * seen published (each word is read about once per segment, whoever walks).  If one is
 * still pending, the slot is left for a later reservation.  The entry is stored when the
 * record is reserved, before it is published: a reader checks the record an entry names, so
 * it uses the entry only once the record is published, and no store into the mapping
 * follows a publication (after its last record is published, a segment may be sealed and
 * unmapped).
 */
static __attribute__((noinline, cold)) void hint_fill(mlg__wseg *s, uint64_t off, uint64_t seq)
{
    uint64_t h = atomic_load_explicit(&s->hint_next, memory_order_relaxed);
    if (off < h || h >= MLG_HINT_BUSY ||
        !atomic_compare_exchange_strong_explicit(&s->hint_next, &h, MLG_HINT_BUSY,
                                                 memory_order_acquire, memory_order_relaxed))
        return; /* another thread is filling it, or has */
    int all_before =
        atomic_load_explicit(&s->owner, memory_order_relaxed) == bias_me() &&
        atomic_load_explicit(&s->owner_pub, memory_order_relaxed) == seq - s->first_seq;
    if (!all_before) {
        uint64_t o = s->hint_pub_off, q = s->hint_pub_seq;
        while (o < off) {
            uint64_t size = mlg__rec_word_size(mlg__rec_word(s->map, o));
            if (!size || size > off - o)
                break; /* not published yet */
            o += size;
            q++;
        }
        if (o <= off) {
            s->hint_pub_off = o;
            s->hint_pub_seq = q;
        }
        if (o != off || q != seq) {
            atomic_store_explicit(&s->hint_next, h, memory_order_release); /* for a later one */
            return;
        }
    }
    uint64_t k = (off - MLG_DATA_OFFSET) / s->hint_stride;
    __atomic_store_n((uint64_t *)(void *)(s->map + MLG_HINT_OFFSET + 8u * k),
                     off | (seq - s->first_seq) << 32, __ATOMIC_RELEASE);
    s->hint_pub_off = off;
    s->hint_pub_seq = seq;
    atomic_store_explicit(&s->hint_next,
                          k + 1 < MLG_HINT_COUNT ? MLG_DATA_OFFSET + (k + 1) * s->hint_stride
                                                 : MLG_HINT_NONE,
                          memory_order_release);
}

/* The record of need bytes that resv value v placed in s is ours: report its segment,
 * offset and sequence number, and wake the flusher if it crossed the FLUSH_BYTES mark.
 *
 * And prefetch, for writing, the line 2 KiB past the record.  Hardware prefetchers stop
 * at page boundaries, so the first record into each new page paid a TLB miss (a
 * two-dimensional page walk in a VM) and cache misses on its lines: traced, half of the
 * appends slower than 450 ns were the 2% that cross into a new page.  With the prefetch,
 * 64-byte appends slower than 450 ns went from 0.27-0.31% to 0.03-0.09%.  A prefetch
 * never faults; it stays inside the mapping anyway. */
static inline void reserved(struct maplog *log, mlg__wseg *s, uint64_t v, uint64_t need,
                            mlg__wseg **segp, uint64_t *offp, uint64_t *seqp)
{
    uint64_t off = MLG_RESV_OFF(v);
    /* The pending word, before any other byte of the record: should the process die before
     * the record is published, recovery knows its extent from it and keeps every record
     * after it (docs/FORMAT.md, "Holes and void records").  Same cache line as the header
     * the publication writes; the compiler barrier keeps the payload's stores after it. */
    __atomic_store_n((uint64_t *)(void *)(s->map + off),
                     mlg__pending_word((uint32_t)(need - MLG_REC_HEADER_SIZE)), __ATOMIC_RELAXED);
    atomic_signal_fence(memory_order_seq_cst);
    *segp = s;
    *offp = off;
    *seqp = s->first_seq + MLG_RESV_COUNT(v);
    if (__builtin_expect(off >= atomic_load_explicit(&s->hint_next, memory_order_relaxed), 0))
        hint_fill(s, off, *seqp);
    if (off + need + 2048 < s->size)
        __builtin_prefetch(s->map + off + need + 2048, 1, 3);
    uint64_t m = atomic_load_explicit(&s->flush_mark, memory_order_relaxed);
    if (off + need >= m && atomic_compare_exchange_strong(&s->flush_mark, &m, MLG_MARK_FIRED)) {
        /* Under mu, which the flusher holds from its look at the mark to its wait: a signal
         * in between would be lost, and the write-back wait for the next timeout. */
        pthread_mutex_lock(&log->mu);
        mlg__wake_bg(log); /* (offsets stay below 2^31: neither UINT64_MAX nor FIRED is reached) */
        pthread_mutex_unlock(&log->mu);
    }
}

/* Reserve with a CAS, rolling over as needed. */
static int reserve_shared(struct maplog *log, uint64_t need, mlg__wseg **segp, uint64_t *offp,
                          uint64_t *seqp)
{
    uintptr_t me = bias_me();
    for (;;) {
        mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
        /* Acquire: once 0 is read, the last plain store of the former owner is seen. */
        uintptr_t o = atomic_load_explicit(&s->owner, memory_order_acquire);
        if (o && o != me)
            bias_revoke(log, s); /* or waits for the thread revoking it */
        /* Who reserves here, for the next segment's owner: loads, once the answer is in. */
        uintptr_t solo = atomic_load_explicit(&s->solo, memory_order_relaxed);
        if (solo != me && !atomic_load_explicit(&s->mixed, memory_order_relaxed)) {
            if (solo || !atomic_compare_exchange_strong(&s->solo, &solo, me))
                atomic_store_explicit(&s->mixed, 1, memory_order_relaxed);
        }
        uint64_t v = atomic_load_explicit(&s->resv, memory_order_relaxed);
        while (!(v & MLG_RESV_FULL) && need <= s->size - MLG_RESV_OFF(v)) {
            if (atomic_compare_exchange_weak_explicit(&s->resv, &v, v + (1ull << 32) + need,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                reserved(log, s, v, need, segp, offp, seqp);
                return 0;
            }
        }
        int rc = rollover(log, s);
        if (rc)
            return rc;
    }
}

/* Reserve room for a payload of len bytes: the record's place and sequence number. */
static inline int reserve(struct maplog *log, size_t len, mlg__wseg **segp, uint64_t *offp,
                          uint64_t *seqp)
{
    if (len > log->max_payload)
        return mlg__fail(&mlg__tls_err, MAPLOG_ETOOBIG,
                         "%s: record of %zu bytes does not fit in a segment of %" PRId64
                         " bytes (largest payload %" PRIu64 ")",
                         log->dir, len, log->opt.segment_size, log->max_payload);
    uint64_t need = mlg__rec_size(len);
    uintptr_t me = bias_me();
    mlg__wseg *s = atomic_load_explicit(&log->cur, memory_order_acquire);
    if (atomic_load_explicit(&s->owner, memory_order_relaxed) == me) {
        atomic_store_explicit(&s->owner_busy, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the CPU's half is the revoker's */
        if (atomic_load_explicit(&s->owner, memory_order_relaxed) == me) {
            uint64_t v = atomic_load_explicit(&s->resv, memory_order_relaxed);
            if (!(v & MLG_RESV_FULL) && need <= s->size - MLG_RESV_OFF(v)) {
                atomic_store_explicit(&s->resv, v + (1ull << 32) + need, memory_order_relaxed);
                atomic_store_explicit(&s->owner_busy, 0, memory_order_release);
                reserved(log, s, v, need, segp, offp, seqp);
                return 0;
            }
        }
        atomic_store_explicit(&s->owner_busy, 0, memory_order_release);
    }
    return reserve_shared(log, need, segp, offp, seqp);
}

/* Store the publication word of the record at rec: len (the payload length, or
 * MLG_REC_VOID for a void record) with the valid bit, and its CRC. */
static inline void publish(uint8_t *rec, uint32_t len, uint32_t crc)
{
    uint64_t w = (uint64_t)(len | MLG_REC_VALID) | ((uint64_t)crc << 32);
    __atomic_store_n((uint64_t *)(void *)rec, w, __ATOMIC_RELEASE);
}

/* After publishing record seq, which ends at offset end, in s: if this thread owns s, count
 * it (see owner_pub), and when it counted every record before this one, say how far every
 * record is published (owner_pub_end). */
static inline void owner_published(mlg__wseg *s, uint64_t seq, uint64_t ts, uint64_t end)
{
    if (atomic_load_explicit(&s->owner, memory_order_relaxed) != bias_me())
        return;
    if (ts > atomic_load_explicit(&s->owner_max_ts, memory_order_relaxed))
        atomic_store_explicit(&s->owner_max_ts, ts, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&s->owner_pub, memory_order_relaxed);
    if (n == seq - s->first_seq)
        atomic_store_explicit(&s->owner_pub_end, end, memory_order_release);
    atomic_store_explicit(&s->owner_pub, n + 1, memory_order_release);
}

static int after_append(struct maplog *log, uint64_t seq)
{
    mlg__wake_after_publish(&log->wake);
    if (log->opt.durability == MAPLOG_DURABILITY_SYNC_EVERY &&
        seq + 1 - atomic_load_explicit(&log->durable, memory_order_relaxed) >=
            (uint64_t)log->opt.sync_every)
        return mlg__do_sync(log, MLG_STATE_OPEN);
    return 0;
}

static inline __attribute__((always_inline)) int append_at(maplog *log, const void *buf, size_t len,
                                                           uint64_t ts, int have_ts, uint64_t *seq)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    if (!log || (!buf && len))
        return MAPLOG_EINVAL;
    int rc = reserve(log, len, &s, &off, &sq);
    if (rc)
        return rc;
    uint8_t *rec = s->map + off;
    if (!have_ts)
        ts = mlg__now_ns();
    if (len)
        memcpy(rec + MLG_REC_HEADER_SIZE, buf, len);
    memcpy(rec + 8, &ts, 8);
    uint32_t crc = mlg__record_crc(sq, (uint32_t)len | MLG_REC_VALID, ts, buf, len);
    publish(rec, (uint32_t)len, crc);
    owner_published(s, sq, ts, off + mlg__rec_size(len));
    if (seq)
        *seq = sq;
    return after_append(log, sq);
}

int maplog_append(maplog *log, const void *buf, size_t len, uint64_t *seq)
{
    return append_at(log, buf, len, 0, 0, seq);
}

int maplog_append_ts(maplog *log, const void *buf, size_t len, uint64_t timestamp_ns, uint64_t *seq)
{
    return append_at(log, buf, len, timestamp_ns, 1, seq);
}

int maplog_append_void(maplog *log, uint64_t *seq)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    if (!log)
        return MAPLOG_EINVAL;
    int rc = reserve(log, 0, &s, &off, &sq);
    if (rc)
        return rc;
    uint8_t *rec = s->map + off;
    uint32_t lw = MLG_REC_VALID | MLG_REC_VOID; /* length 0, timestamp 0 (FORMAT.md) */
    memset(rec + 8, 0, 8);
    uint32_t crc = mlg__record_crc(sq, lw, 0, rec + MLG_REC_HEADER_SIZE, 0);
    __atomic_fetch_add(&s->voids, 1, __ATOMIC_RELAXED); /* before it is published: the sealer
                                                           counts it once it sees the record */
    publish(rec, MLG_REC_VOID, crc);
    owner_published(s, sq, 0, off + MLG_REC_HEADER_SIZE);
    if (seq)
        *seq = sq;
    return after_append(log, sq);
}

int maplog_appendv(maplog *log, const struct iovec *iov, int iovcnt, uint64_t *seq)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    size_t len = 0;
    if (!log || iovcnt < 0 || (iovcnt && !iov))
        return MAPLOG_EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - len || (!iov[i].iov_base && iov[i].iov_len))
            return MAPLOG_EINVAL;
        len += iov[i].iov_len;
    }
    int rc = reserve(log, len, &s, &off, &sq);
    if (rc)
        return rc;
    uint8_t *rec = s->map + off, *p = rec + MLG_REC_HEADER_SIZE;
    uint64_t ts = mlg__now_ns();
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    memcpy(rec + 8, &ts, 8);
    uint32_t crc = mlg__record_crcv(sq, (uint32_t)len | MLG_REC_VALID, ts, iov, iovcnt);
    publish(rec, (uint32_t)len, crc);
    owner_published(s, sq, ts, off + mlg__rec_size(len));
    if (seq)
        *seq = sq;
    return after_append(log, sq);
}

int maplog_reserve(maplog *log, size_t len, maplog_reservation *res)
{
    mlg__wseg *s = NULL;
    uint64_t off = 0, sq = 0;
    if (!log || !res)
        return MAPLOG_EINVAL;
    int rc = reserve(log, len, &s, &off, &sq);
    if (rc)
        return rc;
    res->data = s->map + off + MLG_REC_HEADER_SIZE;
    res->len = len;
    res->seq = sq;
    res->internal_[0] = (uintptr_t)(s->map + off);
    res->internal_[1] = (uintptr_t)log;
    res->internal_[2] = 0x6d6c6772u; /* "mlgr": a reservation not yet committed */
    return 0;
}

int maplog_commit(maplog *log, maplog_reservation *res)
{
    if (!log || !res || res->internal_[1] != (uintptr_t)log || res->internal_[2] != 0x6d6c6772u)
        return MAPLOG_EINVAL;
    uint8_t *rec = (uint8_t *)res->internal_[0];
    uint64_t ts = mlg__now_ns();
    memcpy(rec + 8, &ts, 8);
    uint32_t crc =
        mlg__record_crc(res->seq, (uint32_t)res->len | MLG_REC_VALID, ts, res->data, res->len);
    publish(rec, (uint32_t)res->len, crc);
    res->internal_[2] = 0;
    res->data = NULL;
    return after_append(log, res->seq);
}
