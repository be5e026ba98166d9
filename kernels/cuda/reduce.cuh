// Reductions on the GPU: sums over a middle axis, max/min with their index per
// row, softmax and log-softmax per row, topk, sorting, running sums and products,
// products of whole lines.
// See cuda_kernels.hpp for contracts.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void sum(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out, void* scratch,
         double divisor);
void extreme_rows(Scalar t, bool minimum, std::int64_t rows, std::int64_t len, const void* x, void* y,
                  std::int64_t* index, std::int64_t* scratch);
void softmax_rows(Scalar t, bool log, std::int64_t rows, std::int64_t len, const void* x, void* y,
                  double* scratch);
void topk_rows(Scalar t, bool largest, std::int64_t rows, std::int64_t len, std::int64_t k, const void* x,
               std::int64_t* index);
void sort_rows(Scalar t, bool largest, std::int64_t rows, std::int64_t len, const void* x, std::int64_t* index,
               std::int64_t* scratch);
void scan(Scalar t, cpu::Scan op, bool reverse, std::int64_t outer, std::int64_t n, std::int64_t inner,
          const void* x, void* out, void* scratch);
void product(Scalar t, std::int64_t outer, std::int64_t r, std::int64_t inner, const void* x, void* out,
             void* scratch);

}  // namespace kiln::cuda_kernels
