// Sparse (CSR) x dense products, and softmax over each row's entries, on the GPU.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void spmm(Scalar t, std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
          const void* val, const void* x, void* y);
void edge_softmax(Scalar t, std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr, const void* x,
                  void* y);
void edge_softmax_backward(Scalar t, std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr,
                           const void* y, const void* g, void* gx);
void csr_row_indices(std::int64_t rows, const std::int64_t* row_ptr, std::int64_t* out);

}  // namespace kiln::cuda_kernels
