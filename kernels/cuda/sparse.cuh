// Sparse (CSR) x dense products on the GPU.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void spmm(Scalar t, std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
          const void* val, const void* x, void* y);

}  // namespace kiln::cuda_kernels
