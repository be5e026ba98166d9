// The fused losses on the GPU: cross-entropy (log-softmax + NLL, label smoothing) and
// binary cross-entropy with logits.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void cross_entropy(Scalar t, std::int64_t n, std::int64_t c, const void* logits, const std::int64_t* target,
                   double eps, void* logp, void* loss, ReportSlot bad_targets, double* scratch);
void cross_entropy_backward(Scalar t, std::int64_t n, std::int64_t c, const void* logp,
                            const std::int64_t* target, double eps, const void* g, bool per_sample, double scale,
                            void* gx);

void bce_with_logits(Scalar t, std::int64_t n, const void* x, const void* y, const void* w, std::int64_t w_stride,
                     void* loss);
void bce_with_logits_backward(Scalar t, std::int64_t n, const void* x, const void* y, const void* w,
                              std::int64_t w_stride, const void* g, std::int64_t g_stride, void* gx);

}  // namespace kiln::cuda_kernels
