// Sparse (CSR) x dense products, and softmax over each row's entries, on the GPU.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void spmm(Scalar t, const CsrRows& a, const std::int64_t* col, std::int64_t f, const void* val, const void* x,
          void* y, void* scratch);
void edge_softmax(Scalar t, const CsrRows& a, std::int64_t h, const void* x, void* y, double* scratch);
void edge_softmax_backward(Scalar t, const CsrRows& a, std::int64_t h, const void* y, const void* g, void* gx,
                           double* scratch);
void csr_row_indices(const CsrRows& a, std::int64_t* out);

}  // namespace kiln::cuda_kernels
