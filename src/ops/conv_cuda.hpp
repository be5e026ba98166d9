// Internal: conv2d, conv_transpose2d and the 2-D pools for tensors on a GPU (conv_cuda.cpp). The
// public ops in conv.cpp check their arguments, then hand GPU tensors here.
#pragma once

#include "src/ops/conv_geometry.hpp"

namespace kiln::detail {

Tensor conv2d_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g);
// g is the geometry of the conv2d that conv_transpose2d transposes (see conv.cpp).
Tensor conv_transpose2d_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const ConvGeometry& g);
// max: each window's maximum, and with `indices` its int64 position in the plane; else
// the mean, divided as PoolGeometry's count_include_pad says.
Tensor pool2d_cuda(const Tensor& x, const PoolGeometry& g, bool max, Tensor* indices = nullptr);
// avg_pool2d's input gradient (of shape xs): the kernel that spreads each output's over its window.
Tensor avg_pool2d_backward_cuda(const Tensor& grad, const PoolGeometry& g, const Shape& xs);

}  // namespace kiln::detail
