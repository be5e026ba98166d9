// Batch normalization on the GPU: per-channel statistics, the normalizing
// transform, and the fused backward pass.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void batch_norm_stats(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, double eps,
                      double momentum, void* running_mean, void* running_var, double* mean, double* invstd,
                      double* scratch);
void batch_norm_apply(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const double* mean,
                      const double* invstd, const void* w, const void* b, void* y);
void batch_norm_backward(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const void* g,
                         const double* mean, const double* invstd, const void* w, bool training, void* gx, void* gw,
                         void* gb, double* scratch);

}  // namespace kiln::cuda_kernels
