// Unary math and activations, forward and backward, over contiguous arrays (the
// functors: unary_math.cuh). See cuda_kernels.hpp for contracts.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void unary(cpu::Unary op, Scalar t, std::int64_t n, const void* x, void* y);
void unary_grad(cpu::UnaryGrad op, Scalar t, std::int64_t n, const void* saved, const void* g, void* gx);
void param_activation(ParamActivation op, Scalar t, std::int64_t n, const void* x, double param, void* y);
void param_activation_grad(ParamActivation op, Scalar t, std::int64_t n, const void* x, double param,
                           const void* g, void* gx);

}  // namespace kiln::cuda_kernels
