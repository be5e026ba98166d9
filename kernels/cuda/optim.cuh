// Fused optimizer updates on the GPU.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void adam(std::int64_t n, float* p, const float* g, float* m, float* v, const cpu::AdamStep& s);

}  // namespace kiln::cuda_kernels
