/* blk_kernel.h: the interface between the measuring runner (runner.c) and one generated kernel.
 *
 * A kernel computes Y = W X for one layer in the GEMM view: W is [M, K] row-major (M outputs,
 * K inputs), X is [K, N] row-major (N = batch), Y is [M, N] row-major. M, K and N are compile-time
 * constants of the kernel; the kept weights are data, packed at run time by blk_pack.
 */
#ifndef BLK_KERNEL_H
#define BLK_KERNEL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the kernel's own format from the dense weights W [M*K] and the mask [M*K] (1 = kept).
 * Masked-off weights are treated as zero whatever W holds. Returns NULL on failure. */
void *blk_pack(const float *W, const unsigned char *mask, int M, int K);

/* Y = W X. Overwrites all of Y. Returns the multiply-adds it executed (counted per block of
 * work, not per element). */
long long blk_kernel(const void *packed, const float *X, float *Y);

void blk_free(void *packed);

/* The shape the kernel was generated for: { M, K, N }. The runner checks a workload against it
 * (N lives only in the kernel: the workload file holds W and the mask). */
extern const int blk_kernel_dims[3];

/* The threads the kernel runs on (defined by blk_threads.h when the threads knob is > 1; a
 * kernel without it runs on the calling thread only). */
extern const int blk_kernel_threads __attribute__((weak));

#ifdef __cplusplus
}
#endif
#endif
