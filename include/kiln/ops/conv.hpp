// 2-D convolution and pooling over (N, C, H, W) tensors.
#pragma once

#include <array>

#include "kiln/core/tensor.hpp"

namespace kiln {

using Pair = std::array<std::int64_t, 2>;  // (height, width)

// Cross-correlation as in torch.nn.functional.conv2d: weight (O, C / groups, kh, kw),
// bias (O) or undefined. Computed as im2col + one GEMM per group over the whole batch.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1}, std::int64_t groups = 1);

// Max over each window; the gradient goes to the first maximal element of the window.
// stride defaults to the kernel size (pass {0, 0}); padding counts as -infinity.
Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0});
// Mean over each window; padded positions count as zeros (count_include_pad, as PyTorch).
Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0});

}  // namespace kiln
