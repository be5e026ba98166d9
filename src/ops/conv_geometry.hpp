// Internal: the geometry of convolution and pooling, shared by the CPU code
// (conv.cpp) and the GPU code (conv_cuda.cpp).
#pragma once

#include "kiln/autograd/node.hpp"
#include "kiln/core/tensor.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/shape_ops.hpp"
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

// A convolution's weight gradient in recorded ops, by correlation per group: each group's
// input channels (as the batch) convolved by its output gradient's channels (as the
// filters) through `correlate` (conv2d or conv3d, stride and dilation swapped), cropped to
// the kernel's spatial sizes, the groups side by side along the output channels.
template <class Correlate>
Tensor correlated_weight_gradient(const Tensor& x, const Tensor& grad, std::int64_t groups,
                                  const Shape& kernel, Correlate correlate) {
  const std::int64_t cg = x.size(1) / groups, og = grad.size(1) / groups;
  std::vector<Tensor> per_group;
  for (std::int64_t gi = 0; gi < groups; ++gi) {
    Tensor corr = correlate(x.narrow(1, gi * cg, cg).transpose(0, 1),      // (C/groups, N, ...)
                            grad.narrow(1, gi * og, og).transpose(0, 1));  // (O/groups, N, ...)
    for (std::size_t d = 0; d < kernel.size(); ++d)
      corr = corr.narrow(static_cast<std::int64_t>(2 + d), 0, kernel[d]);  // (C/groups, O/groups, >= k...)
    per_group.push_back(corr.transpose(0, 1));
  }
  return per_group.size() == 1 ? per_group[0] : cat(per_group, 0);
}

// conv2d's gradients in recorded ops, for a backward pass that records (create_graph):
// dx = conv_transpose2d(grad, W), dW = each group's input correlated with its gradient (a
// conv2d with batch and channels swapped, stride and dilation swapped), db = the sum of
// grad over N, H and W. Both devices (conv.cpp).
Grads conv2d_recorded_grads(const Tensor& x, const Tensor& weight, const ConvGeometry& g, const Tensor& grad,
                            bool nx, bool nw, bool nb);
// conv_transpose2d's, g being the geometry of the conv2d it transposes: dx = conv2d(grad, W),
// dW = conv2d's weight gradient with grad as its input and x as its output's gradient.
Grads conv_transpose2d_recorded_grads(const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                                      const Tensor& grad, bool nx, bool nw, bool nb);

struct PoolGeometry {
  std::int64_t planes, h, w, oh, ow;
  Pair kernel, stride, padding;
  bool count_include_pad = true;  // avg_pool2d's divisor counts the padding
  // Every window lies inside the unpadded image (no padding, and no partial window that
  // ceil_mode added): the CPU's fast paths need no bounds checks.
  bool windows_inside() const {
    return padding == Pair{0, 0} && (oh - 1) * stride[0] + kernel[0] <= h &&
           (ow - 1) * stride[1] + kernel[1] <= w;
  }
};

// Windows along one axis of `in` values padded by `pad` (PyTorch's pooling_output_shape):
// floor((in + 2 pad - k) / stride) + 1, or with ceil_mode the ceiling, less one where the
// last window would start past the input and its left padding.
inline std::int64_t pool_windows(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                                 bool ceil_mode) {
  const std::int64_t span = in + 2 * pad - k + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return 0;  // not even one window (ceil_mode lets one pass the end)
  std::int64_t out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

inline PoolGeometry pool_geometry(const char* op, const Tensor& x, Pair kernel, Pair stride, Pair padding,
                                  bool ceil_mode = false) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 4, op, ": input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(kernel[d] >= 1 && stride[d] >= 1 && padding[d] >= 0 && 2 * padding[d] <= kernel[d], op,
               ": kernel (", kernel[0], ", ", kernel[1], "), stride (", stride[0], ", ", stride[1], "), padding (",
               padding[0], ", ", padding[1], ") are invalid: kernel and stride >= 1, padding at most half the kernel");
  PoolGeometry g{x.size(0) * x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride, padding};
  g.oh = pool_windows(g.h, kernel[0], stride[0], padding[0], ceil_mode);
  g.ow = pool_windows(g.w, kernel[1], stride[1], padding[1], ceil_mode);
  KILN_CHECK(g.oh > 0 && g.ow > 0, op, ": input of shape ", fmt(x.shape()), " is smaller than the ", kernel[0], "x",
             kernel[1], " window");
  return g;
}

// max pooling's input gradient in recorded ops, for a backward pass that records: each
// output's gradient added at its window's winner in the input of shape xs (N, C, H, W).
// `in_plane` (integers of grad's shape, on its device) holds each winner's offset y W + x
// in its plane, as the pooling kernels record it.
Tensor max_pool2d_recorded_grad(const Tensor& grad, const Tensor& in_plane, const Shape& xs);

// avg_pool2d on either device (conv.cpp), and its input gradient: each output's gradient
// spread over its window, recorded when grad requires grad (its own gradient is the pooling
// again: the two are adjoint linear maps), so it can be differentiated to any order.
Tensor avg_pool2d_with_geometry(const Tensor& x, const PoolGeometry& g);
Tensor avg_pool2d_adjoint(const Tensor& grad, const PoolGeometry& g, const Shape& xs);

}  // namespace kiln::detail
