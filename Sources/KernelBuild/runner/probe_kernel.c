/* probe_kernel.c: a trivial dense kernel (M = K = 8, N = 1) linked with runner.c to build the
 * `runner --probe` binary, which reports the PAPI version, which events work and whether the
 * runner's SDE counter reads back exactly. It can also run an 8x8 workload. */
#include <stdlib.h>
#include <string.h>
#include "blk_kernel.h"

#define BLK_M 8
#define BLK_K 8
#define BLK_N 1

const int blk_kernel_dims[3] = {BLK_M, BLK_K, BLK_N};

void *blk_pack(const float *W, const unsigned char *mask, int M, int K) {
  if (M != BLK_M || K != BLK_K) return NULL;
  float *w = malloc(sizeof(float) * BLK_M * BLK_K);
  if (!w) return NULL;
  for (int i = 0; i < BLK_M * BLK_K; i++) w[i] = mask[i] ? W[i] : 0.0f;
  return w;
}

long long blk_kernel(const void *packed, const float *X, float *Y) {
  const float *w = packed;
  for (int m = 0; m < BLK_M; m++) {
    float s = 0.0f;
    for (int k = 0; k < BLK_K; k++) s += w[m * BLK_K + k] * X[k];
    Y[m] = s;
  }
  return (long long)BLK_M * BLK_K * BLK_N;
}

void blk_free(void *packed) { free(packed); }
