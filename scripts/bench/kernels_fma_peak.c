/* kernels_fma_peak.c: the machine's FP32 FMA throughput peak for `blkrew bench kernels`.
 *
 *   gcc -O2 -march=native -pthread kernels_fma_peak.c -o fma_peak
 *   ./fma_peak --threads 1 [--seconds 0.005] [--reps 200]
 *
 * Each thread runs ACC (12) independent FMA chains on vector registers (__m512 with AVX-512F,
 * else __m256 with FMA, else scalar), so the FMA units, not their latency, limit the rate.
 * Prints one JSON line: {"isa", "lanes", "accumulators", "threads", "gflops" (best rep, all
 * threads; 2 flops per lane per FMA), "median_gflops", "reps"}. Many short reps, the best
 * taken: on a shared machine a rep that another process interrupts is slower, never faster. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACC 12

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define ISA "avx512"
#define VSET(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
static float vsum(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define ISA "avx2"
#define VSET(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static float vsum(vec v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  float s = 0;
  for (int i = 0; i < 8; i++) s += t[i];
  return s;
}
#else
typedef float vec;
#define LANES 1
#define ISA "scalar"
#define VSET(x) (x)
#define VFMA(a, b, c) ((a) * (b) + (c))
static float vsum(vec v) { return v; }
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  long iters;
  double seconds;
  float sink;
} job_t;

static pthread_barrier_t barrier;

#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECL(i) vec acc##i = VSET(0.001f * (float)((i) + 1));
#define STEP(i) acc##i = VFMA(acc##i, a, b);
#define SUM(i) s += vsum(acc##i);

static void *worker(void *arg) {
  job_t *j = arg;
  EACH(DECL)
  const vec a = VSET(0.999999f), b = VSET(1e-7f);
  pthread_barrier_wait(&barrier);
  double t0 = now();
  for (long it = 0; it < j->iters; it++) {
    EACH(STEP)
    /* Keeps the 12 chains in registers and the loop from being folded away. */
    __asm__ volatile("" : "+v"(acc0), "+v"(acc1), "+v"(acc2), "+v"(acc3), "+v"(acc4),
                     "+v"(acc5), "+v"(acc6), "+v"(acc7), "+v"(acc8), "+v"(acc9), "+v"(acc10),
                     "+v"(acc11));
  }
  j->seconds = now() - t0;
  float s = 0;
  EACH(SUM)
  j->sink = s;
  return NULL;
}

/* One rep: every thread runs `iters` iterations; the rate uses the slowest thread's time. */
static double rep(int threads, long iters) {
  pthread_t t[64];
  job_t jobs[64];
  pthread_barrier_init(&barrier, NULL, (unsigned)threads);
  for (int i = 0; i < threads; i++) {
    jobs[i].iters = iters;
    if (i > 0) pthread_create(&t[i], NULL, worker, &jobs[i]);
  }
  worker(&jobs[0]);
  double worst = jobs[0].seconds;
  for (int i = 1; i < threads; i++) {
    pthread_join(t[i], NULL);
    if (jobs[i].seconds > worst) worst = jobs[i].seconds;
  }
  pthread_barrier_destroy(&barrier);
  volatile float sink = 0;
  for (int i = 0; i < threads; i++) sink += jobs[i].sink;
  (void)sink;
  return 2.0 * LANES * ACC * (double)iters * threads / worst / 1e9;
}

int main(int argc, char **argv) {
  int threads = 1, reps = 200;
  double seconds = 0.005;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
  }
  if (threads < 1 || threads > 64 || reps < 1 || reps > 100000) return 2;
  /* Calibrate the iterations to about `seconds` per rep on one thread. */
  long iters = 1 << 10;
  for (;;) {
    double t0 = now();
    rep(1, iters);
    double dt = now() - t0;
    if (dt > 0.002 || iters > (1L << 40)) {
      iters = (long)(iters * seconds / dt) + 1;
      break;
    }
    iters *= 4;
  }
  double best = 0;
  double *g = malloc(sizeof(double) * (size_t)reps);
  if (!g) return 3;
  for (int r = 0; r < reps; r++) {
    g[r] = rep(threads, iters);
    if (g[r] > best) best = g[r];
  }
  /* median by insertion sort (reps is small) */
  for (int i = 1; i < reps; i++)
    for (int j = i; j > 0 && g[j - 1] > g[j]; j--) {
      double t = g[j];
      g[j] = g[j - 1];
      g[j - 1] = t;
    }
  printf("{\"isa\":\"%s\",\"lanes\":%d,\"accumulators\":%d,\"threads\":%d,\"iters\":%ld,"
         "\"reps\":%d,\"median_gflops\":%.3f,\"gflops\":%.3f}\n",
         ISA, LANES, ACC, threads, iters, reps, g[reps / 2], best);
  free(g);
  return 0;
}
