// CBLAS through OpenBLAS (Debian libopenblas-dev); also declares openblas_set_num_threads and
// openblas_get_corename, which blkrew uses to pin BLAS threads and record the core type.
#include <cblas.h>
