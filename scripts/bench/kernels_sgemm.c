/* kernels_sgemm.c: OpenBLAS's dense peer for `blkrew bench kernels`: Y[M,N] = W[M,K] X[K,N]
 * (row-major, cblas_sgemm; N = 1 too, as the GEMM a dense layer runs), timed in its own process
 * so OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS take effect when OpenBLAS loads.
 *
 *   gcc -O2 -march=native kernels_sgemm.c -o sgemm -lopenblas
 *   ./sgemm M K N [--samples 7] [--min-sample-s 0.02] [--flush] [--cpu C]
 *
 * Warm (default): calls per sample calibrated to last >= min-sample-s; the median of the
 * samples' per-call times. --flush: one call per sample, each after writing and reading a
 * 128 MiB buffer (evicts the caches: the cold batch-1 case). --cpu: pin the process to CPU C (as
 * the kernel runner pins itself; for 1 thread). Prints one JSON line:
 * {"m","n","k","median_s","samples_s","calls_per_sample","core","threads","cache_mode"}. */
#define _GNU_SOURCE
#include <cblas.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_corename(void);
extern int openblas_get_num_threads(void);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static volatile unsigned long long sink;

static void flush(unsigned char *buf, size_t n) {
  unsigned long long s = 0;
  for (size_t i = 0; i < n; i += 64) buf[i] = (unsigned char)(buf[i] + 1);
  for (size_t i = 0; i < n; i += 64) s += buf[i];
  sink += s;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s M K N [--samples S] [--min-sample-s T] [--flush]\n", argv[0]);
    return 2;
  }
  const int M = atoi(argv[1]), K = atoi(argv[2]), N = atoi(argv[3]);
  int samples = 7, cold = 0;
  double min_sample = 0.02;
  for (int i = 4; i < argc; i++) {
    if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--min-sample-s") && i + 1 < argc) min_sample = atof(argv[++i]);
    else if (!strcmp(argv[i], "--flush")) cold = 1;
    else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(atoi(argv[++i]), &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
    }
  }
  if (M < 1 || K < 1 || N < 1 || samples < 1 || samples > 1000) return 2;
  float *W = aligned_alloc(64, ((size_t)M * K * 4 + 63) / 64 * 64);
  float *X = aligned_alloc(64, ((size_t)K * N * 4 + 63) / 64 * 64);
  float *Y = aligned_alloc(64, ((size_t)M * N * 4 + 63) / 64 * 64);
  if (!W || !X || !Y) return 3;
  unsigned long long s = 1;
  for (size_t i = 0; i < (size_t)M * K; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    W[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
  }
  for (size_t i = 0; i < (size_t)K * N; i++) X[i] = (float)(i % 7) * 0.1f - 0.3f;
  const size_t flush_bytes = (size_t)128 << 20;
  unsigned char *buf = cold ? calloc(1, flush_bytes) : NULL;
  if (cold && !buf) return 3;
#define CALL() cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, W, K, X, N, \
                           0.0f, Y, N)
  for (int i = 0; i < 3; i++) CALL(); /* warm-up: thread pool, buffers, page faults */
  long calls = 1;
  if (!cold) {
    for (;;) {
      double t0 = now();
      for (long c = 0; c < calls; c++) CALL();
      double dt = now() - t0;
      if (dt >= min_sample || calls > (1L << 30)) break;
      calls = dt > 0 ? (long)(calls * 1.2 * min_sample / dt) + 1 : calls * 10;
    }
  }
  double *t = malloc(sizeof(double) * (size_t)samples);
  for (int i = 0; i < samples; i++) {
    if (cold) flush(buf, flush_bytes);
    double t0 = now();
    for (long c = 0; c < calls; c++) CALL();
    t[i] = (now() - t0) / (double)calls;
  }
  printf("{\"m\":%d,\"k\":%d,\"n\":%d,\"calls_per_sample\":%ld,\"samples_s\":[", M, K, N, calls);
  for (int i = 0; i < samples; i++) printf("%s%.9g", i ? "," : "", t[i]);
  qsort(t, (size_t)samples, sizeof(double), cmp);
  const double med = samples % 2 ? t[samples / 2] : 0.5 * (t[samples / 2 - 1] + t[samples / 2]);
  printf("],\"median_s\":%.9g,\"core\":\"%s\",\"threads\":%d,\"cache_mode\":\"%s\"}\n", med,
         openblas_get_corename(), openblas_get_num_threads(), cold ? "cold" : "warm");
  return 0;
}
