// Convolution (im2col / col2im for a whole batch) and pooling on the GPU.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void im2col(Scalar t, const ConvShape& s, const void* image, void* col);
void col2im(Scalar t, const ConvShape& s, const void* col, void* image);
void max_pool(Scalar t, const PoolShape& s, const void* x, void* y, std::int32_t* argmax);
void max_pool_backward(Scalar t, const PoolShape& s, const void* g, const std::int32_t* argmax, void* gx);
void avg_pool(Scalar t, const PoolShape& s, const void* x, void* y);
void avg_pool_backward(Scalar t, const PoolShape& s, const void* g, void* gx);

}  // namespace kiln::cuda_kernels
