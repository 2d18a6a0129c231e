// zlib (Debian zlib1g-dev), used to read the gzip-compressed IDX files of Fashion-MNIST.
#include <zlib.h>
