// Activation functions (differentiable, elementwise, SIMD-dispatched for float32).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);  // x for x > 0, alpha (e^x - 1) otherwise
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x);      // exact: x * Phi(x), Phi the standard normal CDF
Tensor softplus(const Tensor& x);  // log(1 + e^x), computed stably
Tensor silu(const Tensor& x);      // x * sigmoid(x) (also called swish)

}  // namespace kiln
