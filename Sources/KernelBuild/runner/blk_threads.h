/* blk_threads.h: the thread pool of a generated kernel with the threads knob > 1.
 *
 * A kernel that includes this header defines, before including it,
 *   #define BLK_THREADS T                 (2..BLK_MAX_THREADS)
 *   static long long blk_part(const void *packed, const float *X, float *Y, int rb0, int rb1);
 * which computes the block rows [rb0, rb1) of Y and returns their multiply-adds. blk_parallel
 * splits the block rows into T ranges of about equal work (by the prefix sums of the work of
 * each block row, e.g. the row_start of the block-column format), runs range 0 on the calling
 * thread and the others on T - 1 persistent worker threads, and returns the sum of the
 * multiply-adds.
 *
 * The workers start at the first call and live until the process exits. Between calls a worker
 * spins (with the CPU's pause/yield hint) for about BLK_SPIN_ROUNDS polls of the call counter,
 * then sleeps on a condition variable, so back-to-back calls pay no wake-up and an idle kernel
 * costs no CPU. The caller waits for the workers by spinning: a call is short. The ranges of Y
 * are disjoint, so the workers share nothing but the pool's counters.
 *
 * The CPUs the threads run on are the process's affinity set: the runner pins to T CPUs for a
 * kernel with T threads (blk_kernel_threads). */
#ifndef BLK_THREADS_H
#define BLK_THREADS_H

#include <pthread.h>
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

typedef struct {
  _Alignas(64) atomic_long macs;
  char pad[64 - sizeof(atomic_long)];
} blk_slot_t;

static struct {
  _Alignas(64) atomic_uint epoch; /* bumped once per call */
  _Alignas(64) atomic_int done;   /* workers finished with the current call */
  _Alignas(64) atomic_int sleeping;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  const void *packed;
  const float *X;
  float *Y;
  int bounds[BLK_THREADS + 1];
  blk_slot_t slot[BLK_THREADS];
  int started; /* 0: not yet, 1: running, -1: could not start (run serially) */
} blk_pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void *blk_worker(void *arg) {
  const int t = (int)(size_t)arg;
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
    const long long m =
        blk_part(blk_pool.packed, blk_pool.X, blk_pool.Y, blk_pool.bounds[t], blk_pool.bounds[t + 1]);
    atomic_store_explicit(&blk_pool.slot[t].macs, (long)m, memory_order_relaxed);
    atomic_fetch_add_explicit(&blk_pool.done, 1, memory_order_release);
  }
  return NULL;
}

static void blk_pool_start(void) {
  blk_pool.started = 1;
  for (int t = 1; t < BLK_THREADS; t++) {
    pthread_t th;
    if (pthread_create(&th, NULL, blk_worker, (void *)(size_t)t) != 0) {
      blk_pool.started = -1; /* the workers started so far stay asleep: epoch never moves */
      return;
    }
    pthread_detach(th);
  }
}

/* The block rows [0, nrb) split into BLK_THREADS ranges of about equal work: `prefix` has
 * nrb + 1 entries, prefix[rb] the work before block row rb. */
static void blk_split(const int *prefix, int nrb, int *bounds) {
  const long long total = prefix[nrb] - prefix[0];
  bounds[0] = 0;
  int rb = 0;
  for (int t = 1; t < BLK_THREADS; t++) {
    const long long goal = prefix[0] + total * t / BLK_THREADS;
    while (rb < nrb && prefix[rb] < goal) rb++;
    bounds[t] = rb;
  }
  bounds[BLK_THREADS] = nrb;
}

static long long blk_parallel(const void *packed, const float *X, float *Y, const int *prefix, int nrb) {
  if (blk_pool.started == 0) blk_pool_start();
  if (blk_pool.started < 0) return blk_part(packed, X, Y, 0, nrb);
  blk_pool.packed = packed;
  blk_pool.X = X;
  blk_pool.Y = Y;
  blk_split(prefix, nrb, blk_pool.bounds);
  atomic_store_explicit(&blk_pool.done, 0, memory_order_relaxed);
  atomic_fetch_add(&blk_pool.epoch, 1); /* seq_cst: ordered before the read of sleeping */
  if (atomic_load(&blk_pool.sleeping) > 0) {
    pthread_mutex_lock(&blk_pool.lock);
    pthread_cond_broadcast(&blk_pool.wake);
    pthread_mutex_unlock(&blk_pool.lock);
  }
  long long macs = blk_part(packed, X, Y, blk_pool.bounds[0], blk_pool.bounds[1]);
  while (atomic_load_explicit(&blk_pool.done, memory_order_acquire) < BLK_THREADS - 1) BLK_RELAX();
  for (int t = 1; t < BLK_THREADS; t++) macs += atomic_load_explicit(&blk_pool.slot[t].macs, memory_order_relaxed);
  return macs;
}

#endif
