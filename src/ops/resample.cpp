// Resampling images: nearest, bilinear, bicubic and area interpolation, adaptive average
// pooling, and pixel and channel shuffling. Interpolation runs its own loops on the CPU
// (each axis's taps worked out once); the rest, and interpolation on a GPU, are composites
// of index_select, products, matmul and views, so they run, and go backward, wherever those do.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
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

// One axis of interpolation: output position i blends the inputs index[i * taps + k] with
// weights weight[i * taps + k], k < taps.
struct AxisTaps {
  std::int64_t taps = 0;
  std::vector<std::int64_t> index;
  std::vector<double> weight;
};

// PyTorch's source position of output i along an axis of `in` inputs resized to `out`:
// the pixel centres, (i + 0.5) in / out - 0.5, or with align_corners the corners,
// i (in - 1) / (out - 1).
double source_position(std::int64_t i, std::int64_t in, std::int64_t out, bool align_corners) {
  if (align_corners)
    return out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) * static_cast<double>(i)
                   : 0.0;
  return static_cast<double>(in) / static_cast<double>(out) * (static_cast<double>(i) + 0.5) - 0.5;
}

// Linear: the two inputs around the source position (clamped at 0), as PyTorch's bilinear.
AxisTaps linear_taps(std::int64_t in, std::int64_t out, bool align_corners) {
  AxisTaps a{2, {}, {}};
  for (std::int64_t i = 0; i < out; ++i) {
    const double src = std::max(source_position(i, in, out, align_corners), 0.0);
    const auto lo = std::min(static_cast<std::int64_t>(src), in - 1);
    const double frac = std::min(src - static_cast<double>(lo), 1.0);
    a.index.insert(a.index.end(), {lo, lo < in - 1 ? lo + 1 : lo});
    a.weight.insert(a.weight.end(), {1.0 - frac, frac});
  }
  return a;
}

// Cubic convolution (Keys 1981) with a = -0.75, as PyTorch's bicubic: the four inputs
// floor(src) - 1 .. floor(src) + 2, each clamped into the axis (the edge repeated), weighted
// by the kernel at their distances from src (not clamped first, unlike linear's).
AxisTaps cubic_taps(std::int64_t in, std::int64_t out, bool align_corners) {
  constexpr double a = -0.75;
  const auto near = [](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  const auto far = [](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  AxisTaps taps{4, {}, {}};
  for (std::int64_t i = 0; i < out; ++i) {
    const double src = source_position(i, in, out, align_corners), floor_src = std::floor(src);
    const double t = src - floor_src;
    const auto first = static_cast<std::int64_t>(floor_src) - 1;
    for (std::int64_t k = 0; k < 4; ++k) taps.index.push_back(std::clamp<std::int64_t>(first + k, 0, in - 1));
    taps.weight.insert(taps.weight.end(), {far(t + 1), near(t), near(1 - t), far(2 - t)});
  }
  return taps;
}

// Nearest: output i reads floor(i in / out) (PyTorch's "nearest"), or with `exact` the
// input whose span holds the output's centre, floor((i + 0.5) in / out) ("nearest-exact");
// in integers, so exactly.
AxisTaps nearest_taps(std::int64_t in, std::int64_t out, bool exact) {
  AxisTaps a{1, {}, {}};
  for (std::int64_t i = 0; i < out; ++i) {
    a.index.push_back(exact ? std::min((2 * i + 1) * in / (2 * out), in - 1) : i * in / out);
    a.weight.push_back(1.0);
  }
  return a;
}

// x resampled along `dim` (2 or 3 of a 4-D tensor) by the taps: the sum over k of
// x[index_k] times weight_k, the weights shaped to broadcast along that dim.
Tensor blend_axis(const Tensor& x, std::int64_t dim, const AxisTaps& a) {
  const auto out = static_cast<std::int64_t>(a.index.size()) / a.taps;
  Tensor sum;
  for (std::int64_t k = 0; k < a.taps; ++k) {
    std::vector<std::int64_t> index;
    std::vector<double> weight;
    for (std::int64_t i = 0; i < out; ++i) {
      index.push_back(a.index[static_cast<std::size_t>(i * a.taps + k)]);
      weight.push_back(a.weight[static_cast<std::size_t>(i * a.taps + k)]);
    }
    Tensor term = index_select(x, dim, from_vector(index).to(x.device()));
    if (a.taps > 1)
      term = term * from_vector(weight, dim == 3 ? Shape{out} : Shape{out, 1}).to(x.dtype()).to(x.device());
    sum = k == 0 ? term : sum + term;
  }
  return sum;
}

// The CPU loops: each plane resampled along W into a buffer of rows (in double), then
// along H, each output row a weighted sum of whole buffer rows. `transposed` runs the
// adjoint, (oh, ow) planes back to (h, w): the gradient (and the adjoint's gradient is the
// forward run again).
struct PlaneResample {
  AxisTaps rows, cols;  // along H: oh outputs of h inputs; along W: ow of w
  std::int64_t h, w, oh, ow;
};

template <class T>
void resample_planes(const PlaneResample& r, std::int64_t planes, const T* x, T* out) {
  const std::int64_t rt = r.rows.taps, ct = r.cols.taps;
  parallel_for(0, planes, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(r.oh * r.ow, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 std::vector<double> buffer(static_cast<std::size_t>(r.h * r.ow)),
                     row(static_cast<std::size_t>(r.ow));
                 for (std::int64_t plane = begin; plane < end; ++plane) {
                   const T* src = x + plane * r.h * r.w;
                   for (std::int64_t y = 0; y < r.h; ++y)
                     for (std::int64_t j = 0; j < r.ow; ++j) {
                       double v = 0;
                       for (std::int64_t k = 0; k < ct; ++k) {
                         const auto t = static_cast<std::size_t>(j * ct + k);
                         v += r.cols.weight[t] * static_cast<double>(src[y * r.w + r.cols.index[t]]);
                       }
                       buffer[static_cast<std::size_t>(y * r.ow + j)] = v;
                     }
                   T* dst = out + plane * r.oh * r.ow;
                   for (std::int64_t i = 0; i < r.oh; ++i) {
                     std::fill(row.begin(), row.end(), 0.0);
                     for (std::int64_t k = 0; k < rt; ++k) {
                       const auto t = static_cast<std::size_t>(i * rt + k);
                       const double weight = r.rows.weight[t];
                       const double* from = buffer.data() + r.rows.index[t] * r.ow;
                       for (std::int64_t j = 0; j < r.ow; ++j)
                         row[static_cast<std::size_t>(j)] += weight * from[j];
                     }
                     for (std::int64_t j = 0; j < r.ow; ++j)
                       dst[i * r.ow + j] = static_cast<T>(row[static_cast<std::size_t>(j)]);
                   }
                 }
               });
}

// The adjoint: (oh, ow) planes g to (h, w): along H, each output row's weight times it added
// into the buffer rows it read; then along W, each buffer value into the columns it read.
template <class T>
void resample_planes_adjoint(const PlaneResample& r, std::int64_t planes, const T* g, T* out) {
  const std::int64_t rt = r.rows.taps, ct = r.cols.taps;
  parallel_for(0, planes, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(r.oh * r.ow, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 std::vector<double> buffer(static_cast<std::size_t>(r.h * r.ow)),
                     row(static_cast<std::size_t>(r.w));
                 for (std::int64_t plane = begin; plane < end; ++plane) {
                   std::fill(buffer.begin(), buffer.end(), 0.0);
                   const T* src = g + plane * r.oh * r.ow;
                   for (std::int64_t i = 0; i < r.oh; ++i)
                     for (std::int64_t k = 0; k < rt; ++k) {
                       const auto t = static_cast<std::size_t>(i * rt + k);
                       const double weight = r.rows.weight[t];
                       double* into = buffer.data() + r.rows.index[t] * r.ow;
                       for (std::int64_t j = 0; j < r.ow; ++j)
                         into[j] += weight * static_cast<double>(src[i * r.ow + j]);
                     }
                   T* dst = out + plane * r.h * r.w;
                   for (std::int64_t y = 0; y < r.h; ++y) {
                     std::fill(row.begin(), row.end(), 0.0);
                     for (std::int64_t j = 0; j < r.ow; ++j) {
                       const double v = buffer[static_cast<std::size_t>(y * r.ow + j)];
                       for (std::int64_t k = 0; k < ct; ++k) {
                         const auto t = static_cast<std::size_t>(j * ct + k);
                         row[static_cast<std::size_t>(r.cols.index[t])] += r.cols.weight[t] * v;
                       }
                     }
                     for (std::int64_t c = 0; c < r.w; ++c)
                       dst[y * r.w + c] = static_cast<T>(row[static_cast<std::size_t>(c)]);
                   }
                 }
               });
}

Tensor resample_cpu(const Tensor& x, const std::shared_ptr<const PlaneResample>& r, bool adjoint) {
  const Tensor xc = x.detach().contiguous();
  const std::int64_t planes = x.size(0) * x.size(1);
  Tensor out =
      Tensor::empty({x.size(0), x.size(1), adjoint ? r->h : r->oh, adjoint ? r->w : r->ow}, x.dtype());
  visit_floating(x.dtype(), "interpolate", [&]<class T>() {
    if (adjoint)
      resample_planes_adjoint<T>(*r, planes, xc.data_ptr<T>(), out.data_ptr<T>());
    else
      resample_planes<T>(*r, planes, xc.data_ptr<T>(), out.data_ptr<T>());
  });
  if (should_record({x})) {  // linear: the gradient is the adjoint resampling, recorded in turn
    attach_grad_fn(out, "interpolate", {x},
                   [r, adjoint](const Tensor& up) { return Grads{resample_cpu(up, r, !adjoint)}; });
    mark_differentiable_backward(out);
  }
  return out;
}

// Along W with `cols`, then along H with `rows`: the CPU's loops, or index_select and
// products on a GPU.
Tensor resample(const Tensor& x, AxisTaps rows, AxisTaps cols) {
  if (x.device().is_cpu()) {
    const std::int64_t oh = static_cast<std::int64_t>(rows.index.size()) / rows.taps;
    const std::int64_t ow = static_cast<std::int64_t>(cols.index.size()) / cols.taps;
    return resample_cpu(x,
                        std::make_shared<const PlaneResample>(
                            PlaneResample{std::move(rows), std::move(cols), x.size(2), x.size(3), oh, ow}),
                        false);
  }
  return blend_axis(blend_axis(x, 3, cols), 2, rows);
}

}  // namespace

const char* interpolation_name(Interpolation mode) {
  switch (mode) {
    case Interpolation::nearest:
      return "nearest";
    case Interpolation::bilinear:
      return "bilinear";
    case Interpolation::bicubic:
      return "bicubic";
    case Interpolation::nearest_exact:
      return "nearest-exact";
    case Interpolation::area:
      return "area";
    case Interpolation::linear:
      return "linear";
    case Interpolation::trilinear:
      return "trilinear";
  }
  return "?";
}

Tensor interpolate(const Tensor& x, Pair size, Interpolation mode, bool align_corners) {
  detail::check_floating("interpolate", x);
  KILN_CHECK(x.dim() == 4, "interpolate: input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  const auto [oh, ow] = size;
  KILN_CHECK(oh >= 1 && ow >= 1, "interpolate: output size (", oh, ", ", ow, ") must be >= 1");
  const std::int64_t h = x.size(2), w = x.size(3);
  KILN_CHECK(h >= 1 && w >= 1, "interpolate: input of shape ", fmt(x.shape()),
             " has an empty image; H and W must be >= 1");
  KILN_CHECK(mode != Interpolation::linear && mode != Interpolation::trilinear, "interpolate: mode ",
             interpolation_name(mode), " is for ", mode == Interpolation::linear ? "sequences" : "volumes",
             " (interpolate", mode == Interpolation::linear ? "1d" : "3d", "); images take bilinear");
  KILN_CHECK(mode == Interpolation::bilinear || mode == Interpolation::bicubic || !align_corners,
             "interpolate: align_corners is for bilinear and bicubic interpolation; ",
             interpolation_name(mode), " takes none");
  switch (mode) {
    case Interpolation::nearest:
      if (oh % h == 0 && ow % w == 0) return upsample_nearest2d(x, {oh / h, ow / w});  // whole blocks
      [[fallthrough]];
    case Interpolation::nearest_exact: {
      const bool exact = mode == Interpolation::nearest_exact;
      return resample(x, nearest_taps(h, oh, exact), nearest_taps(w, ow, exact));
    }
    case Interpolation::area:  // PyTorch's "area" is adaptive average pooling
      return adaptive_avg_pool2d(x, size);
    case Interpolation::bilinear:
    case Interpolation::bicubic:
    case Interpolation::linear:
    case Interpolation::trilinear:
      break;
  }
  // Along W, then along H: for bilinear out = w_lo,h (w_lo,w x00 + w_hi,w x01) + w_hi,h (...),
  // PyTorch's order of the products.
  const auto taps = mode == Interpolation::bilinear ? linear_taps : cubic_taps;
  return resample(x, taps(h, oh, align_corners), taps(w, ow, align_corners));
}

// ---- Sequences and volumes --------------------------------------------------------
// The 2-D walk with one axis left alone: a sequence is an image one row high; a volume is
// resampled plane by plane, then along its depth as an image of D rows by OH OW columns.

namespace {
// One axis's taps for the 1-D and 3-D forms' modes (`blend` the linear one).
AxisTaps axis_taps(Interpolation mode, Interpolation blend, std::int64_t in, std::int64_t out,
                   bool align_corners) {
  if (mode == blend) return linear_taps(in, out, align_corners);
  return nearest_taps(in, out, mode == Interpolation::nearest_exact);
}
void check_resize_mode(const char* op, Interpolation mode, Interpolation blend, bool align_corners) {
  KILN_CHECK(mode == Interpolation::nearest || mode == Interpolation::nearest_exact ||
                 mode == Interpolation::area || mode == blend,
             op, ": mode ", interpolation_name(mode), " is not one of nearest, nearest-exact, area and ",
             interpolation_name(blend));
  KILN_CHECK(mode == blend || !align_corners, op, ": align_corners is for ", interpolation_name(blend), "; ",
             interpolation_name(mode), " takes none");
}
}  // namespace

Tensor interpolate1d(const Tensor& x, std::int64_t size, Interpolation mode, bool align_corners) {
  constexpr const char* op = "interpolate1d";
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 3, op, ": input must be (N, C, L) but has shape ", fmt(x.shape()));
  KILN_CHECK(size >= 1 && x.size(2) >= 1, op, ": output size ", size, " and the input's length (shape ",
             fmt(x.shape()), ") must be >= 1");
  check_resize_mode(op, mode, Interpolation::linear, align_corners);
  if (mode == Interpolation::area) return adaptive_avg_pool1d(x, size);
  return resample(x.unsqueeze(2), nearest_taps(1, 1, false),
                  axis_taps(mode, Interpolation::linear, x.size(2), size, align_corners))
      .squeeze(2);
}

Tensor interpolate3d(const Tensor& x, Triple size, Interpolation mode, bool align_corners) {
  constexpr const char* op = "interpolate3d";
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 5, op, ": input must be (N, C, D, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(
      size[0] >= 1 && size[1] >= 1 && size[2] >= 1 && x.size(2) >= 1 && x.size(3) >= 1 && x.size(4) >= 1, op,
      ": the output size and the input's sides (shape ", fmt(x.shape()), ") must be >= 1");
  check_resize_mode(op, mode, Interpolation::trilinear, align_corners);
  if (mode == Interpolation::area) return adaptive_avg_pool3d(x, size);
  const std::int64_t n = x.size(0), c = x.size(1), d = x.size(2);
  const auto taps = [&](std::int64_t in, std::int64_t out) {
    return axis_taps(mode, Interpolation::trilinear, in, out, align_corners);
  };
  const Tensor planes = resample(x.reshape({n, c * d, x.size(3), x.size(4)}), taps(x.size(3), size[1]),
                                 taps(x.size(4), size[2]));  // (N, C D, OH, OW)
  const std::int64_t area = size[1] * size[2];
  return resample(planes.reshape({n, c, d, area}), taps(d, size[0]), nearest_taps(area, area, false))
      .reshape({n, c, size[0], size[1], size[2]});
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
