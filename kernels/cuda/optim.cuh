// Fused optimizer updates on the GPU.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void adam(const AdamTensors& batch);

}  // namespace kiln::cuda_kernels
