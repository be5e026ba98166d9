// unfold (im2col as an op) and fold (its adjoint, col2im): composites of pad, strided
// slices, stack and adds, so they copy exactly (NaN and infinities stay where they are),
// run on either device, and autograd derives each one's backward (the other).
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// The output positions of a sliding window along one axis of `size` (padding included).
std::int64_t positions(std::int64_t size, std::int64_t kernel, std::int64_t dilation, std::int64_t padding,
                       std::int64_t stride) {
  const std::int64_t span = size + 2 * padding - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

void check_window(const char* op, Pair kernel, Pair dilation, Pair padding, Pair stride) {
  for (int d = 0; d < 2; ++d)
    KILN_CHECK(kernel[d] >= 1 && dilation[d] >= 1 && stride[d] >= 1 && padding[d] >= 0, op, ": kernel (",
               kernel[0], ", ", kernel[1], "), dilation (", dilation[0], ", ", dilation[1], ") and stride (",
               stride[0], ", ", stride[1], ") must be >= 1 and padding (", padding[0], ", ", padding[1],
               ") >= 0");
}

// t with s - 1 zeros after each entry along `dim` (not after the last): (n - 1) s + 1 long.
Tensor spread(const Tensor& t, std::int64_t dim, std::int64_t s) {
  if (s == 1 || t.size(dim) == 0) return t;
  std::vector<std::int64_t> pads(static_cast<std::size_t>(2 * (t.dim() - dim)), 0);
  pads.back() = s - 1;  // the new axis after `dim`, padded at its end
  Shape merged = t.shape();
  merged[dim] *= s;
  return pad(t.unsqueeze(dim + 1), pads).reshape(merged).narrow(dim, 0, (t.size(dim) - 1) * s + 1);
}

}  // namespace

Tensor unfold(const Tensor& x, Pair kernel, Pair dilation, Pair padding, Pair stride) {
  KILN_CHECK(x.dim() == 4, "unfold: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  check_window("unfold", kernel, dilation, padding, stride);
  const std::int64_t oh = positions(x.size(2), kernel[0], dilation[0], padding[0], stride[0]);
  const std::int64_t ow = positions(x.size(3), kernel[1], dilation[1], padding[1], stride[1]);
  KILN_CHECK(oh > 0 && ow > 0, "unfold: input of shape ", fmt(x.shape()), " is smaller than the dilated ",
             kernel[0], "x", kernel[1], " window after padding; no block fits");
  const Tensor xp = padding == Pair{0, 0} ? x : pad(x, {padding[1], padding[1], padding[0], padding[0]});
  std::vector<Tensor> blocks;  // one (N, C, OH, OW) view per window position, in (i, j) order
  for (std::int64_t i = 0; i < kernel[0]; ++i)
    for (std::int64_t j = 0; j < kernel[1]; ++j) {
      const std::int64_t y0 = i * dilation[0], x0 = j * dilation[1];
      blocks.push_back(xp.slice(2, y0, y0 + (oh - 1) * stride[0] + 1, stride[0])
                           .slice(3, x0, x0 + (ow - 1) * stride[1] + 1, stride[1]));
    }
  // (N, C, kh kw, OH, OW): the rows of a column are (channel, i, j), as PyTorch's.
  return stack(blocks, 2).reshape({x.size(0), x.size(1) * kernel[0] * kernel[1], oh * ow});
}

Tensor fold(const Tensor& y, Pair output_size, Pair kernel, Pair dilation, Pair padding, Pair stride) {
  KILN_CHECK(y.dim() == 3, "fold: input must be (N, C * kh * kw, L) but has shape ", fmt(y.shape()));
  check_window("fold", kernel, dilation, padding, stride);
  const auto [h, w] = output_size;
  KILN_CHECK(h >= 1 && w >= 1, "fold: output size (", h, ", ", w, ") must be >= 1");
  const std::int64_t taps = kernel[0] * kernel[1];
  const std::int64_t oh = positions(h, kernel[0], dilation[0], padding[0], stride[0]);
  const std::int64_t ow = positions(w, kernel[1], dilation[1], padding[1], stride[1]);
  KILN_CHECK(y.size(1) % taps == 0, "fold: ", y.size(1), " rows (input shape ", fmt(y.shape()),
             ") are not a multiple of the kernel's ", kernel[0], "x", kernel[1], " = ", taps, " positions");
  KILN_CHECK(oh > 0 && ow > 0 && y.size(2) == oh * ow, "fold: input of shape ", fmt(y.shape()), " has ",
             y.size(2), " blocks, but an output of (", h, ", ", w, ") with this window holds ", oh, " x ", ow,
             " = ", oh * ow);
  const std::int64_t n = y.size(0), c = y.size(1) / taps, hp = h + 2 * padding[0], wp = w + 2 * padding[1];
  const Tensor blocks = y.reshape({n, c, taps, oh, ow});
  // Each window position's values, spread to their strided places and shifted to its
  // offset in the padded output, all added up.
  Tensor out;
  for (std::int64_t i = 0; i < kernel[0]; ++i)
    for (std::int64_t j = 0; j < kernel[1]; ++j) {
      const Tensor placed = spread(spread(blocks.select(2, i * kernel[1] + j), 3, stride[1]), 2, stride[0]);
      const std::int64_t y0 = i * dilation[0], x0 = j * dilation[1];
      const Tensor shifted = pad(placed, {x0, wp - x0 - placed.size(3), y0, hp - y0 - placed.size(2)});
      out = out.defined() ? out + shifted : shifted;
    }
  return out.narrow(2, padding[0], h).narrow(3, padding[1], w).contiguous();
}

}  // namespace kiln
