// Internal: the quantized linear maps for inputs on a GPU (linear_cuda.cpp).
// The public functions in linear.cpp hand GPU inputs and weights here.
#pragma once

#include "kiln/quant/linear.hpp"

namespace kiln::quant {

// The int8 weight's rows padded to a multiple of 16 bytes, on its GPU.
const Tensor& gpu_rows(const QuantizedWeight& w);

namespace detail {
Tensor linear_cuda(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, LinearOptions options);
Tensor conv2d_cuda(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, Pair kernel, Pair stride,
                   Pair padding, Pair dilation, LinearOptions options);
Tensor matmul_int8_cuda(const Tensor& a, const QuantizedWeight& w);
}  // namespace detail

}  // namespace kiln::quant
