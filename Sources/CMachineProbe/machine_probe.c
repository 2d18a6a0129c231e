#include "machine_probe.h"
#include <stdint.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double blk_estimate_ghz(long adds) {
#if defined(__x86_64__) || defined(__aarch64__)
  uint64_t x = 0;
  long iterations = adds / 8;
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {  // best of 5: the least disturbed run
    double t0 = now();
    for (long i = 0; i < iterations; i++) {
#if defined(__x86_64__)
      __asm__ volatile(
          "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
          "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
          : "+r"(x));
#else
      __asm__ volatile(
          "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
          "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1"
          : "+r"(x));
#endif
    }
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  return best > 0 ? (double)(iterations * 8) / best * 1e-9 : 0;
#else
  (void)adds;
  return 0;
#endif
}
