// The fused cross-entropy loss on the GPU (log-softmax + NLL, label smoothing).
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void cross_entropy(Scalar t, std::int64_t n, std::int64_t c, const void* logits, const std::int64_t* target,
                   double eps, void* logp, void* loss, ReportSlot bad_targets);
void cross_entropy_backward(Scalar t, std::int64_t n, std::int64_t c, const void* logp,
                            const std::int64_t* target, double eps, const void* g, bool per_sample, double scale,
                            void* gx);

}  // namespace kiln::cuda_kernels
