// Resampling images: nearest and bilinear interpolation, adaptive average pooling, and
// pixel and channel shuffling. All composites of index_select, products, matmul and views, so they
// run, and go backward, wherever those do.
#include <cmath>
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

// ---- Nearest-neighbour upsampling ----------------------------------------------------
// A view with a size-1 axis after H and after W, expanded to the factors, then copied:
// the copy is the strided copy every device has, and expand's gradient sums the blocks.

Tensor upsample_nearest2d(const Tensor& x, Pair scale) {
  detail::check_floating("upsample_nearest2d", x);
  KILN_CHECK(x.dim() == 4, "upsample_nearest2d: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(scale[0] >= 1 && scale[1] >= 1,
             "upsample_nearest2d: scale factors must be whole numbers >= 1, got (", scale[0], ", ", scale[1],
             ")");
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.reshape({n, c, h, 1, w, 1})
      .expand({n, c, h, scale[0], w, scale[1]})
      .reshape({n, c, h * scale[0], w * scale[1]});
}

// ---- Interpolation to a size -------------------------------------------------------

namespace {

// One axis of bilinear interpolation: output position i reads `lo[i]` and `hi[i]` with
// weights `w_lo[i]` and `w_hi[i]` (PyTorch's source positions: the pixel centres
// (i + 0.5) in / out - 0.5, clamped at 0; with align_corners the corners, i (in - 1) / (out - 1)).
struct LinearAxis {
  std::vector<std::int64_t> lo, hi;
  std::vector<double> w_lo, w_hi;
};

LinearAxis linear_axis(std::int64_t in, std::int64_t out, bool align_corners) {
  const double scale = align_corners
                           ? (out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0)
                           : static_cast<double>(in) / static_cast<double>(out);
  LinearAxis a;
  for (std::int64_t i = 0; i < out; ++i) {
    const double src = align_corners ? scale * static_cast<double>(i)
                                     : std::max(scale * (static_cast<double>(i) + 0.5) - 0.5, 0.0);
    const auto lo = std::min(static_cast<std::int64_t>(src), in - 1);
    const double frac = std::min(src - static_cast<double>(lo), 1.0);
    a.lo.push_back(lo);
    a.hi.push_back(lo < in - 1 ? lo + 1 : lo);
    a.w_lo.push_back(1.0 - frac);
    a.w_hi.push_back(frac);
  }
  return a;
}

// x blended along `dim` (of size in) to `out` positions: x[lo] w_lo + x[hi] w_hi, the
// weights shaped to broadcast along that dim of a 4-D tensor.
Tensor blend_axis(const Tensor& x, std::int64_t dim, std::int64_t out, bool align_corners) {
  const LinearAxis a = linear_axis(x.size(dim), out, align_corners);
  const Shape weight_shape = dim == 3 ? Shape{out} : Shape{out, 1};
  const auto weights = [&](const std::vector<double>& w) {
    return from_vector(w, weight_shape).to(x.dtype()).to(x.device());
  };
  return index_select(x, dim, from_vector(a.lo)) * weights(a.w_lo) +
         index_select(x, dim, from_vector(a.hi)) * weights(a.w_hi);
}

// Nearest: output position i reads floor(i * in / out), computed exactly in integers.
Tensor nearest_axis(const Tensor& x, std::int64_t dim, std::int64_t out) {
  const std::int64_t in = x.size(dim);
  std::vector<std::int64_t> source;
  for (std::int64_t i = 0; i < out; ++i) source.push_back(i * in / out);
  return index_select(x, dim, from_vector(source));
}

}  // namespace

Tensor interpolate(const Tensor& x, Pair size, Interpolation mode, bool align_corners) {
  detail::check_floating("interpolate", x);
  KILN_CHECK(x.dim() == 4, "interpolate: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  const auto [oh, ow] = size;
  KILN_CHECK(oh >= 1 && ow >= 1, "interpolate: output size (", oh, ", ", ow, ") must be >= 1");
  const std::int64_t h = x.size(2), w = x.size(3);
  KILN_CHECK(h >= 1 && w >= 1, "interpolate: input of shape ", fmt(x.shape()),
             " has an empty image; H and W must be >= 1");
  KILN_CHECK(mode == Interpolation::bilinear || !align_corners,
             "interpolate: align_corners is for bilinear interpolation; nearest takes none");
  if (mode == Interpolation::nearest) {
    if (oh % h == 0 && ow % w == 0) return upsample_nearest2d(x, {oh / h, ow / w});  // whole blocks
    return nearest_axis(nearest_axis(x, 3, ow), 2, oh);
  }
  // Along W, then along H: out = w_lo,h (w_lo,w x00 + w_hi,w x01) + w_hi,h (w_lo,w x10 + w_hi,w x11),
  // PyTorch's order of the products.
  return blend_axis(blend_axis(x, 3, ow, align_corners), 2, oh, align_corners);
}

// ---- Adaptive average pooling ------------------------------------------------------

namespace {
// (out, in): row i averages the inputs floor(i * in / out) .. ceil((i + 1) * in / out) - 1,
// PyTorch's adaptive windows, which cover the input and overlap where out does not divide in.
Tensor adaptive_window_means(std::int64_t out, std::int64_t in, const Tensor& like) {
  Tensor m = zeros({out, in}, kFloat64);
  double* p = m.data_ptr<double>();
  for (std::int64_t i = 0; i < out; ++i) {
    const std::int64_t begin = i * in / out, end = ((i + 1) * in + out - 1) / out;
    for (std::int64_t j = begin; j < end; ++j) p[i * in + j] = 1.0 / static_cast<double>(end - begin);
  }
  return m.to(like.dtype()).to(like.device());
}
}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& x, Pair output_size) {
  detail::check_floating("adaptive_avg_pool2d", x);
  KILN_CHECK(x.dim() == 4, "adaptive_avg_pool2d: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  const auto [oh, ow] = output_size;
  KILN_CHECK(oh >= 1 && ow >= 1, "adaptive_avg_pool2d: output size (", oh, ", ", ow, ") must be >= 1");
  const std::int64_t h = x.size(2), w = x.size(3);
  KILN_CHECK(h >= 1 && w >= 1, "adaptive_avg_pool2d: input of shape ", fmt(x.shape()),
             " has an empty image; H and W must be >= 1");
  if (oh == 1 && ow == 1) return mean(x, {2, 3}, /*keepdim=*/true);        // global average pooling
  if (h % oh == 0 && w % ow == 0) return avg_pool2d(x, {h / oh, w / ow});  // equal windows, no overlap
  // Otherwise each window mean is a weighted sum, out = A_h x A_w^T per image, done as two
  // GEMMs over the whole batch: the rows of every image by A_w^T, then (transposed) the
  // columns by A_h^T.
  const std::int64_t planes = x.size(0) * x.size(1);
  const Tensor rows = matmul(x.reshape({planes * h, w}), adaptive_window_means(ow, w, x).t());  // (P H, OW)
  const Tensor cols = rows.reshape({planes, h, ow}).transpose(1, 2).reshape({planes * ow, h});  // (P OW, H)
  const Tensor pooled = matmul(cols, adaptive_window_means(oh, h, x).t());                      // (P OW, OH)
  return pooled.reshape({x.size(0), x.size(1), ow, oh}).transpose(2, 3).contiguous();
}

// ---- Pixel shuffle -----------------------------------------------------------------
// Views and one copy: (B, C, r, r, H, W) permuted to (B, C, H, r, W, r), and back.

namespace {
// x's leading dimensions (before the last three) as one, and their sizes.
std::int64_t leading(const Tensor& x, const char* op, std::int64_t factor, Shape& lead) {
  KILN_CHECK(x.dim() >= 3, op, ": input must be (*, C, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(factor >= 1, op, ": the factor must be >= 1, got ", factor);
  lead.assign(x.shape().begin(), x.shape().end() - 3);
  std::int64_t b = 1;
  for (std::int64_t s : lead) b *= s;
  return b;
}
Shape with_lead(Shape lead, std::initializer_list<std::int64_t> rest) {
  lead.insert(lead.end(), rest);
  return lead;
}
}  // namespace

Tensor pixel_shuffle(const Tensor& x, std::int64_t r) {
  Shape lead;
  const std::int64_t b = leading(x, "pixel_shuffle", r, lead);
  const std::int64_t c = x.size(-3), h = x.size(-2), w = x.size(-1);
  KILN_CHECK(c % (r * r) == 0, "pixel_shuffle: ", c, " channels (input shape ", fmt(x.shape()),
             ") must be a multiple of the factor squared, ", r * r);
  const std::int64_t oc = c / (r * r);
  return x.reshape({b, oc, r, r, h, w})
      .permute({0, 1, 4, 2, 5, 3})
      .reshape(with_lead(lead, {oc, h * r, w * r}));
}

Tensor pixel_unshuffle(const Tensor& x, std::int64_t r) {
  Shape lead;
  const std::int64_t b = leading(x, "pixel_unshuffle", r, lead);
  const std::int64_t c = x.size(-3), h = x.size(-2), w = x.size(-1);
  KILN_CHECK(h % r == 0 && w % r == 0, "pixel_unshuffle: height and width (input shape ", fmt(x.shape()),
             ") must be multiples of the factor, ", r);
  return x.reshape({b, c, h / r, r, w / r, r})
      .permute({0, 1, 3, 5, 2, 4})
      .reshape(with_lead(lead, {c * r * r, h / r, w / r}));
}

// ---- Channel shuffle ----------------------------------------------------------------
// (N, groups, C / groups, *) with its two channel axes swapped, then one copy.

Tensor channel_shuffle(const Tensor& x, std::int64_t groups) {
  KILN_CHECK(x.dim() >= 3,
             "channel_shuffle: input must be (N, C, *) with at least one dimension after C, but has shape ",
             fmt(x.shape()));
  KILN_CHECK(groups >= 1 && x.size(1) % groups == 0, "channel_shuffle: groups = ", groups,
             " must divide the ", x.size(1), " channels of the input of shape ", fmt(x.shape()));
  Shape split = x.shape();
  split[1] = x.size(1) / groups;
  split.insert(split.begin() + 1, groups);
  return x.reshape(split).transpose(1, 2).contiguous().reshape(x.shape());
}

}  // namespace kiln
