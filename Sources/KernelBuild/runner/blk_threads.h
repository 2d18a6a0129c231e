/* blk_threads.h: the thread pool of a generated kernel with the threads knob > 1.
 *
 * A kernel that includes this header defines, before including it,
 *   #define BLK_THREADS T                 (2..BLK_MAX_THREADS)
 *   static long long blk_part(const void *packed, const float *X, float *Y, int rb0, int rb1);
 * which computes the block rows [rb0, rb1) of Y and returns their multiply-adds. blk_parallel
 * cuts the block rows into up to BLK_CHUNKS_PER_THREAD x T chunks of about equal work (by the
 * prefix sums of the work of each block row, e.g. the row_start of the block-column format);
 * the calling thread and T - 1 persistent workers take chunks from a shared counter until none
 * is left, and the call returns when every chunk is done, with the sum of their multiply-adds.
 *
 * Taking chunks (rather than one fixed range per thread) keeps a call from waiting for a worker
 * that is not running: on a busy machine the caller does the chunks a descheduled worker never
 * took, and waits only for a chunk a worker is in the middle of.
 *
 * The workers start at the first call and live until the process exits. Between calls a worker
 * spins (with the CPU's pause/yield hint) for about BLK_SPIN_ROUNDS polls of the call counter,
 * then sleeps on a condition variable, so back-to-back calls pay no wake-up and an idle kernel
 * costs no CPU. The chunks of Y are disjoint, so the threads share nothing but the counters.
 *
 * The CPUs the threads run on are the process's affinity set: the runner pins to T CPUs for a
 * kernel with T threads (blk_kernel_threads). */
#ifndef BLK_THREADS_H
#define BLK_THREADS_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#ifndef BLK_THREADS
#error "define BLK_THREADS before including blk_threads.h"
#endif
#define BLK_MAX_THREADS 64
#if BLK_THREADS < 2 || BLK_THREADS > BLK_MAX_THREADS
#error "BLK_THREADS must be 2..64"
#endif
#ifndef BLK_SPIN_ROUNDS
#define BLK_SPIN_ROUNDS 200000
#endif

#if defined(__x86_64__) || defined(__i386__)
#define BLK_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define BLK_RELAX() __asm__ __volatile__("yield")
#else
#define BLK_RELAX() ((void)0)
#endif

const int blk_kernel_threads = BLK_THREADS;

static long long blk_part(const void *packed, const float *X, float *Y, int rb0, int rb1);

#define BLK_CHUNKS_PER_THREAD 4
#define BLK_MAX_CHUNKS (BLK_CHUNKS_PER_THREAD * BLK_THREADS)

static struct {
  _Alignas(64) atomic_uint epoch; /* bumped once per call */
  /* The chunks of the current call: call number << 32 | chunk count << 16 | next chunk, one word
   * so a thread takes a chunk of exactly the call it saw (compare-and-swap). */
  _Alignas(64) atomic_ullong work;
  _Alignas(64) atomic_int done;   /* chunks finished in the current call */
  atomic_llong macs;              /* their multiply-adds */
  _Alignas(64) atomic_int sleeping;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  const void *packed;
  const float *X;
  float *Y;
  int bounds[BLK_MAX_CHUNKS + 1];
  int started; /* 0: not yet, 1: running, -1: could not start (run serially) */
} blk_pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Takes and runs chunks of the current call until none is left. */
static void blk_take_chunks(void) {
  unsigned long long w = atomic_load_explicit(&blk_pool.work, memory_order_acquire);
  for (;;) {
    const int chunk = (int)(w & 0xffff), chunks = (int)((w >> 16) & 0xffff);
    if (chunk >= chunks) return;
    if (!atomic_compare_exchange_weak_explicit(&blk_pool.work, &w, w + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue; /* w now holds the current word */
    const long long m = blk_part(blk_pool.packed, blk_pool.X, blk_pool.Y, blk_pool.bounds[chunk],
                                 blk_pool.bounds[chunk + 1]);
    atomic_fetch_add_explicit(&blk_pool.macs, m, memory_order_relaxed);
    atomic_fetch_add_explicit(&blk_pool.done, 1, memory_order_release);
    w = atomic_load_explicit(&blk_pool.work, memory_order_acquire);
  }
}

static void *blk_worker(void *arg) {
  unsigned seen = 0;
  for (;;) {
    unsigned now = atomic_load_explicit(&blk_pool.epoch, memory_order_acquire);
    for (long i = 0; now == seen && i < BLK_SPIN_ROUNDS; i++) {
      BLK_RELAX();
      now = atomic_load_explicit(&blk_pool.epoch, memory_order_acquire);
    }
    if (now == seen) {
      pthread_mutex_lock(&blk_pool.lock);
      atomic_fetch_add(&blk_pool.sleeping, 1);
      while ((now = atomic_load(&blk_pool.epoch)) == seen) pthread_cond_wait(&blk_pool.wake, &blk_pool.lock);
      atomic_fetch_sub(&blk_pool.sleeping, 1);
      pthread_mutex_unlock(&blk_pool.lock);
    }
    seen = now;
    blk_take_chunks();
  }
  return arg;
}

static void blk_pool_start(void) {
  blk_pool.started = 1;
  for (int t = 1; t < BLK_THREADS; t++) {
    pthread_t th;
    if (pthread_create(&th, NULL, blk_worker, NULL) != 0) {
      blk_pool.started = -1; /* the workers started so far stay asleep: epoch never moves */
      return;
    }
    pthread_detach(th);
  }
}

/* The block rows [0, nrb) cut into `chunks` ranges of about equal work: `prefix` has nrb + 1
 * entries, prefix[rb] the work before block row rb. */
static void blk_split(const int *prefix, int nrb, int chunks, int *bounds) {
  const long long total = prefix[nrb] - prefix[0];
  bounds[0] = 0;
  int rb = 0;
  for (int t = 1; t < chunks; t++) {
    const long long goal = prefix[0] + total * t / chunks;
    while (rb < nrb && prefix[rb] < goal) rb++;
    bounds[t] = rb;
  }
  bounds[chunks] = nrb;
}

static long long blk_parallel(const void *packed, const float *X, float *Y, const int *prefix, int nrb) {
  if (blk_pool.started == 0) blk_pool_start();
  if (blk_pool.started < 0 || nrb <= 1) return blk_part(packed, X, Y, 0, nrb);
  /* Every chunk of the last call is done, so no thread reads these now; a thread that takes a
   * chunk of this call sees them (release on work, acquire in its compare-and-swap). */
  blk_pool.packed = packed;
  blk_pool.X = X;
  blk_pool.Y = Y;
  const int chunks = nrb < BLK_MAX_CHUNKS ? nrb : BLK_MAX_CHUNKS;
  blk_split(prefix, nrb, chunks, blk_pool.bounds);
  atomic_store_explicit(&blk_pool.done, 0, memory_order_relaxed);
  atomic_store_explicit(&blk_pool.macs, 0, memory_order_relaxed);
  static unsigned call = 0;
  call++;
  atomic_store_explicit(&blk_pool.work, (unsigned long long)call << 32 | (unsigned long long)chunks << 16,
                        memory_order_release);
  atomic_fetch_add(&blk_pool.epoch, 1); /* seq_cst: ordered before the read of sleeping */
  if (atomic_load(&blk_pool.sleeping) > 0) {
    pthread_mutex_lock(&blk_pool.lock);
    pthread_cond_broadcast(&blk_pool.wake);
    pthread_mutex_unlock(&blk_pool.lock);
  }
  blk_take_chunks();
  /* Only chunks a worker is running are left: spin, and yield now and then in case that worker
   * is waiting for this CPU. */
  for (long i = 1; atomic_load_explicit(&blk_pool.done, memory_order_acquire) < chunks; i++) {
    BLK_RELAX();
    if (i % 4096 == 0) sched_yield();
  }
  return atomic_load_explicit(&blk_pool.macs, memory_order_relaxed);
}

#endif
