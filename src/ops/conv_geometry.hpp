// Internal: the geometry of convolution and pooling, shared by the CPU code
// (conv.cpp) and the GPU code (conv_cuda.cpp).
#pragma once

#include "kiln/core/tensor.hpp"
#include "kiln/ops/conv.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln::detail {

struct ConvGeometry {
  std::int64_t n, c, h, w;        // input
  std::int64_t o, kh, kw;         // filters
  std::int64_t oh, ow;            // output
  Pair stride, padding, dilation;
  std::int64_t groups;
  std::int64_t k() const { return c / groups * kh * kw; }  // rows of one group's col
  std::int64_t k_all() const { return c * kh * kw; }
  std::int64_t l() const { return oh * ow; }
};

struct PoolGeometry {
  std::int64_t planes, h, w, oh, ow;
  Pair kernel, stride, padding;
};

inline PoolGeometry pool_geometry(const char* op, const Tensor& x, Pair kernel, Pair stride, Pair padding) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 4, op, ": input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(kernel[d] >= 1 && stride[d] >= 1 && padding[d] >= 0 && 2 * padding[d] <= kernel[d], op,
               ": kernel (", kernel[0], ", ", kernel[1], "), stride (", stride[0], ", ", stride[1], "), padding (",
               padding[0], ", ", padding[1], ") are invalid: kernel and stride >= 1, padding at most half the kernel");
  PoolGeometry g{x.size(0) * x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride, padding};
  const std::int64_t span_h = g.h + 2 * padding[0] - kernel[0], span_w = g.w + 2 * padding[1] - kernel[1];
  g.oh = span_h < 0 ? 0 : span_h / stride[0] + 1;
  g.ow = span_w < 0 ? 0 : span_w / stride[1] + 1;
  KILN_CHECK(g.oh > 0 && g.ow > 0, op, ": input of shape ", fmt(x.shape()), " is smaller than the ", kernel[0], "x",
             kernel[1], " window");
  return g;
}

}  // namespace kiln::detail
