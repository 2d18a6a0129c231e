/* kernels_xnnpack.c: XNNPACK's sparse (SpMM) path as the unstructured-sparse peer for
 * `blkrew bench kernels`: Y[M,N] = W[M,K] X[K,N] (row-major float32) run as the 1x1 convolution
 * it is in NCHW layout: batch 1, K input channels, M output channels, an image of N pixels
 * (height N, width 1); input [1,K,N] = X, output [1,M,N] = Y, OIHW weights [M,K,1,1] = W.
 * xnn_create_convolution2d_nchw_f32 takes its SpMM micro-kernel for every 1x1, stride-1,
 * unpadded, ungrouped NCHW convolution (the only NCHW 1x1 path; no sparsity threshold, no flag:
 * XNN_FLAG_SPARSE_INFERENCE is for the subgraph API). It packs the non-zeros of W (a CSR-like
 * format: per non-zero an input increment and the value, per output channel a count) and skips the
 * zeros. 1 thread (pthreadpool NULL).
 *
 *   gcc -O2 -Wall -Wextra -Werror kernels_xnnpack.c -o kx -lXNNPACK -lm
 *     (Debian: libxnnpack-dev for xnnpack.h and libXNNPACK.so, libpthreadpool-dev for the
 *      pthreadpool.h it includes; libXNNPACK.so.0 itself pulls in libpthreadpool and libcpuinfo)
 *   ./kx M K N NNZ SEED SECONDS [--cpu C]
 *
 * W: NNZ non-zeros at seeded uniformly random positions (Floyd's sampling; SplitMix64), values
 * +-[0.25, 1); the rest exact zeros. X: seeded uniform [-1, 1). Y is checked against a double
 * CSR reference: ok when max |Y - Yref| <= 1e-4 * sqrt(K) * max |Yref|. Then xnn_run_operator is
 * timed: calls per sample calibrated to last >= 2 ms, samples until SECONDS have passed (5 to
 * 10000); the median of the samples' per-call times. --cpu: pin to CPU C. Prints one JSON line:
 * {"m","k","n","nnz","seed","median_s","samples_s" (the first 15),"calls_per_sample","samples",
 *  "max_abs_err","max_abs_ref","tolerance","ok","threads","xnnpack","path","packed_weights_bytes",
 *  "spmm_packed_bytes","create_allocations"}, with "error" added and exit 1 on a wrong result;
 * or {"error": "..."} alone (exit 1 on an XNNPACK failure, 2 on bad arguments, 3 out of memory).
 *
 * "path" is "spmm" when XNNPACK allocated, while creating the operator, a block of exactly the
 * size its SpMM packing asks for with 1-channel blocks (the x86 micro-kernel
 * xnn_f32_spmm_minmax_ukernel_32x1__sse): 4 * (2 nnz) + 4 * M + 4 * (nnz + M) bytes (2 int32
 * per non-zero, a uint32 count per output channel, the values and the M biases; later XNNPACK adds
 * XNN_EXTRA_BYTES = 16, also accepted), observed through a counting xnn_allocator; else "unknown",
 * with the sizes it did allocate. (The dense packing would be 4 * M * (K + 1) bytes or more.) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xnnpack.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int fail(int code, const char *what, int status) {
  if (status >= 0) printf("{\"error\":\"%s (xnn_status %d)\"}\n", what, status);
  else printf("{\"error\":\"%s\"}\n", what);
  return code;
}

/* SplitMix64, as KernelBenchmark.SplitMix. */
static uint64_t rng_state;
static uint64_t next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next() >> 11) * 0x1.0p-53; } /* [0, 1) */
static uint64_t below(uint64_t n) { return (uint64_t)(uniform() * (double)n) % n; }

/* A counting allocator: records the sizes of aligned (SIMD) allocations while `recording`. */
#define MAX_RECORDED 64
static int recording;
static size_t recorded[MAX_RECORDED];
static int n_recorded;
static void note(size_t size) {
  if (recording && n_recorded < MAX_RECORDED) recorded[n_recorded++] = size;
}
static void *a_allocate(void *ctx, size_t size) {
  (void)ctx;
  note(size);
  return malloc(size);
}
static void *a_reallocate(void *ctx, void *p, size_t size) {
  (void)ctx;
  note(size);
  return realloc(p, size);
}
static void a_deallocate(void *ctx, void *p) {
  (void)ctx;
  free(p);
}
static void *a_aligned_allocate(void *ctx, size_t alignment, size_t size) {
  (void)ctx;
  note(size);
  void *p = NULL;
  if (alignment < sizeof(void *)) alignment = sizeof(void *);
  return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}
static void a_aligned_deallocate(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

/* "libxnnpack0 <Debian version> (<library path>)", as far as they can be told. */
static void version_info(char *out, size_t cap) {
  char path[512] = "libXNNPACK";
  Dl_info info;
  if (dladdr((void *)xnn_run_operator, &info) && info.dli_fname) {
    char *real = realpath(info.dli_fname, NULL);
    snprintf(path, sizeof path, "%s", real ? real : info.dli_fname);
    free(real);
  }
  char version[128] = "";
  FILE *f = fopen("/var/lib/dpkg/status", "r");
  if (f) {
    char line[512];
    int in = 0;
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "Package: ", 9)) in = !strcmp(line + 9, "libxnnpack0\n");
      else if (in && !strncmp(line, "Version: ", 9)) {
        line[strcspn(line, "\n")] = 0;
        snprintf(version, sizeof version, "%.100s", line + 9);
        break;
      }
    }
    fclose(f);
  }
  for (char *c = path; *c; c++)
    if (*c == '"' || *c == '\\') *c = '_';
  for (char *c = version; *c; c++)
    if (*c == '"' || *c == '\\') *c = '_';
  snprintf(out, cap, "libxnnpack0 %s (%s)", version[0] ? version : "version unknown", path);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s M K N NNZ SEED SECONDS [--cpu C]\n", argv[0]);
    return fail(2, "usage: kernels_xnnpack M K N NNZ SEED SECONDS [--cpu C]", -1);
  }
  const long M = atol(argv[1]), K = atol(argv[2]), N = atol(argv[3]);
  const long long NNZ = atoll(argv[4]);
  const unsigned long long seed = strtoull(argv[5], NULL, 0);
  const double seconds = atof(argv[6]);
  for (int i = 7; i < argc; i++) {
    if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(atoi(argv[++i]), &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
    } else return fail(2, "unknown option", -1);
  }
  if (M < 1 || K < 1 || N < 1 || NNZ < 0 || NNZ > (long long)M * K || !(seconds >= 0))
    return fail(2, "bad arguments: need M, K, N >= 1, 0 <= NNZ <= M*K, SECONDS >= 0", -1);
  const size_t MK = (size_t)M * K, KN = (size_t)K * N, MN = (size_t)M * N;
  const size_t nnz = (size_t)NNZ;

  /* Inputs, with XNN_EXTRA_BYTES of slack after every tensor XNNPACK reads. */
  float *W = calloc(MK + 16, sizeof(float));
  float *X = calloc(KN + 16, sizeof(float));
  float *Y = calloc(MN + 16, sizeof(float));
  unsigned char *mark = calloc(MK, 1);
  if (!W || !X || !Y || !mark) return fail(3, "out of memory", -1);
  rng_state = seed;
  for (size_t j = MK - nnz; j < MK; j++) { /* Floyd: nnz distinct positions, uniform */
    size_t t = (size_t)below(j + 1);
    mark[mark[t] ? j : t] = 1;
  }
  for (size_t i = 0; i < MK; i++)
    if (mark[i]) {
      const double v = 0.25 + 0.75 * uniform();
      W[i] = (float)(next() & 1 ? v : -v);
    }
  free(mark);
  for (size_t i = 0; i < KN; i++) X[i] = (float)(2.0 * uniform() - 1.0);

  /* The double reference, row by row over the non-zeros. */
  double *ref = calloc(MN, sizeof(double));
  if (!ref) return fail(3, "out of memory", -1);
  for (long m = 0; m < M; m++) {
    double *yr = ref + (size_t)m * N;
    for (long k = 0; k < K; k++) {
      const double w = W[(size_t)m * K + k];
      if (w == 0) continue;
      const float *xr = X + (size_t)k * N;
      for (long n = 0; n < N; n++) yr[n] += w * xr[n];
    }
  }

  const struct xnn_allocator allocator = {
      .context = NULL, .allocate = a_allocate, .reallocate = a_reallocate,
      .deallocate = a_deallocate, .aligned_allocate = a_aligned_allocate,
      .aligned_deallocate = a_aligned_deallocate};
  enum xnn_status st = xnn_initialize(&allocator);
  if (st != xnn_status_success) return fail(1, "xnn_initialize failed", (int)st);

  xnn_operator_t op = NULL;
  recording = 1;
  st = xnn_create_convolution2d_nchw_f32(
      0, 0, 0, 0,           /* padding top, right, bottom, left */
      1, 1,                 /* kernel height, width */
      1, 1,                 /* subsampling */
      1, 1,                 /* dilation */
      1,                    /* groups */
      (size_t)K, (size_t)M, /* group input / output channels */
      (size_t)K, (size_t)M, /* input / output channel strides */
      W, NULL,              /* kernel OIHW, no bias */
      -INFINITY, INFINITY,  /* output min / max */
      0, &op);
  recording = 0;
  if (st != xnn_status_success) return fail(1, "xnn_create_convolution2d_nchw_f32 failed", (int)st);
  st = xnn_setup_convolution2d_nchw_f32(op, 1, (size_t)N, 1, X, Y, NULL);
  if (st != xnn_status_success)
    return fail(1,
                st == xnn_status_unsupported_parameter
                    ? "xnn_setup_convolution2d_nchw_f32 failed: an input increment (channel gap * "
                      "4 * N bytes) exceeds int32_t"
                    : "xnn_setup_convolution2d_nchw_f32 failed",
                (int)st);
  st = xnn_run_operator(op, NULL);
  if (st != xnn_status_success) return fail(1, "xnn_run_operator failed", (int)st);

  const size_t spmm_bytes = 4 * (2 * nnz) + 4 * (size_t)M + 4 * (nnz + (size_t)M);
  size_t packed = 0;
  for (int i = 0; i < n_recorded; i++)
    if (recorded[i] == spmm_bytes || recorded[i] == spmm_bytes + 16) packed = recorded[i];
  const int is_spmm = packed != 0;

  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < MN; i++) {
    const double e = fabs((double)Y[i] - ref[i]);
    if (!(e <= max_err)) max_err = e; /* NaN propagates */
    if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
  }
  const double tol = 1e-4 * sqrt((double)K) * (max_ref > 0 ? max_ref : 1e-30);
  const int ok = max_err <= tol;

  /* Timing: calls per sample calibrated to >= 2 ms, samples until `seconds` (5 to 10000). */
  const double min_sample = 0.002;
  for (int i = 0; i < 3; i++) xnn_run_operator(op, NULL);
  long calls = 1;
  for (;;) {
    double dt = INFINITY; /* the best of 3: a preempted try must not end the calibration */
    for (int r = 0; r < 3; r++) {
      double t0 = now();
      for (long c = 0; c < calls; c++) xnn_run_operator(op, NULL);
      dt = fmin(dt, now() - t0);
    }
    if (dt >= min_sample || calls > (1L << 30)) break;
    calls = dt > 0 ? (long)(calls * 1.2 * min_sample / dt) + 1 : calls * 10;
  }
  const int max_samples = 10000;
  double *t = malloc(sizeof(double) * max_samples);
  if (!t) return fail(3, "out of memory", -1);
  int samples = 0;
  const double start = now();
  while (samples < max_samples && (samples < 5 || now() - start < seconds)) {
    double t0 = now();
    for (long c = 0; c < calls; c++) xnn_run_operator(op, NULL);
    t[samples++] = (now() - t0) / (double)calls;
  }

  char version[768];
  version_info(version, sizeof version);
  printf("{\"m\":%ld,\"k\":%ld,\"n\":%ld,\"nnz\":%zu,\"seed\":%llu,\"calls_per_sample\":%ld,"
         "\"samples\":%d,\"samples_s\":[",
         M, K, N, nnz, seed, calls, samples);
  for (int i = 0; i < samples && i < 15; i++) printf("%s%.9g", i ? "," : "", t[i]);
  qsort(t, (size_t)samples, sizeof(double), cmp);
  const double med = samples % 2 ? t[samples / 2] : 0.5 * (t[samples / 2 - 1] + t[samples / 2]);
  printf("],\"median_s\":%.9g,\"max_abs_err\":%.6g,\"max_abs_ref\":%.6g,\"tolerance\":%.6g,"
         "\"ok\":%s,\"threads\":1,\"xnnpack\":\"%s\",\"path\":\"%s\","
         "\"packed_weights_bytes\":%zu,\"spmm_packed_bytes\":%zu,\"create_allocations\":[",
         med, max_err, max_ref, tol, ok ? "true" : "false", version,
         is_spmm ? "spmm" : "unknown", packed, spmm_bytes);
  for (int i = 0; i < n_recorded; i++) printf("%s%zu", i ? "," : "", recorded[i]);
  printf("]%s}\n", ok ? "" : ",\"error\":\"wrong result: max_abs_err above tolerance\"");
  xnn_delete_operator(op);
  xnn_deinitialize();
  free(t);
  free(ref);
  free(W);
  free(X);
  free(Y);
  return ok ? 0 : 1;
}
