// Dense matrix products on the GPU through cuBLAS.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void gemm(Scalar t, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const void* a,
          std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c, std::int64_t ldc);

}  // namespace kiln::cuda_kernels
