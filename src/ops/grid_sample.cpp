// affine_grid and grid_sample. affine_grid is one matmul; grid_sample runs its own loops on
// the CPU (forward and backward, in double) and is composed of floor, clamp, gather and
// products on a GPU, where autograd derives its backward. Both are differentiable in
// theta, the input and the grid.
#include <cmath>
#include <vector>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// The normalised coordinates of `size` pixels along one axis: their centres, or with
// align_corners the first and last pixel at -1 and 1.
std::vector<double> normalised_positions(std::int64_t size, bool align_corners) {
  std::vector<double> at(static_cast<std::size_t>(size));
  for (std::int64_t i = 0; i < size; ++i)
    at[static_cast<std::size_t>(i)] =
        align_corners ? (size > 1 ? -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(size - 1) : 0.0)
                      : -1.0 + (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(size);
  return at;
}

// A normalised coordinate (-1 .. 1) to a pixel position along an axis of `size` pixels.
Tensor unnormalise(const Tensor& coord, std::int64_t size, bool align_corners) {
  const auto n = static_cast<double>(size);
  return align_corners ? (coord + 1.0) * ((n - 1) / 2) : ((coord + 1.0) * n - 1.0) / 2;
}

// x reflected into [low, high] (twice the bounds given, as PyTorch's reflect_coordinates):
// its distance from low folded by the span, every other fold mirrored.
Tensor reflect(const Tensor& x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return x * 0.0;
  const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
  const Tensor distance = abs(x - low);
  const Tensor folds = floor(distance.detach() / span);
  const Tensor extra = fmod(distance, span);
  const Tensor even = eq(folds - floor(folds / 2.0) * 2.0, 0.0);
  return where(even, extra + low, (span + low) - extra);
}

// A pixel position moved inside [0, size - 1] as the padding mode says (zeros: unchanged;
// the corners outside are left out later).
Tensor pad_coordinate(const Tensor& at, std::int64_t size, GridPadding padding, bool align_corners) {
  const auto n = static_cast<double>(size);
  if (padding == GridPadding::zeros) return at;
  Tensor inside = at;
  if (padding == GridPadding::reflection)
    inside = align_corners ? reflect(at, 0, 2 * (n - 1)) : reflect(at, -1, 2 * n - 1);
  return clamp(inside, 0.0, n - 1);
}

// ---- On the CPU --------------------------------------------------------------------

// One axis of a grid point: its pixel position after padding and d(position)/d(coordinate)
// (PyTorch's grid_sampler_compute_source_index_set_grad).
struct Source {
  double at, slope;
};
Source source_of(double coord, std::int64_t size, GridPadding padding, bool align_corners) {
  const auto n = static_cast<double>(size);
  Source s{align_corners ? (coord + 1) / 2 * (n - 1) : ((coord + 1) * n - 1) / 2,
           align_corners ? (n - 1) / 2 : n / 2};
  if (padding == GridPadding::zeros) return s;
  if (padding == GridPadding::reflection) {
    const double twice_low = align_corners ? 0 : -1, twice_high = align_corners ? 2 * (n - 1) : 2 * n - 1;
    if (twice_low == twice_high) return {0, 0};
    const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
    double distance = s.at - low, sign = 1;
    if (distance < 0) distance = -distance, sign = -1;
    const double extra = std::fmod(distance, span);
    const bool even = std::fmod(std::floor(distance / span), 2.0) == 0;
    s.at = even ? extra + low : span - extra + low;
    s.slope *= even ? sign : -sign;
  }
  if (s.at <= 0) return {0, 0};  // clamped: no gradient, as PyTorch's (also at the edge)
  if (s.at >= n - 1) return {n - 1, 0};
  return s;
}

// The (up to) four input positions a grid point reads and their weights, with what the
// backward needs: the point's fractional position and slopes. Positions outside the
// image are marked, with weight 0 and offset 0.
struct Taps {
  std::int64_t offset[4];
  double weight[4];
  bool inside[4];
  double x, y, x0, y0, slope_x, slope_y;
};
Taps taps_of(double gx, double gy, std::int64_t h, std::int64_t w, Interpolation mode, GridPadding padding,
             bool align_corners) {
  const Source sx = source_of(gx, w, padding, align_corners), sy = source_of(gy, h, padding, align_corners);
  Taps t{};
  t.x = sx.at, t.y = sy.at, t.slope_x = sx.slope, t.slope_y = sy.slope;
  const auto put = [&](int k, double px, double py, double weight) {
    t.inside[k] = px >= 0 && px <= static_cast<double>(w - 1) && py >= 0 && py <= static_cast<double>(h - 1);
    t.offset[k] = t.inside[k] ? static_cast<std::int64_t>(py) * w + static_cast<std::int64_t>(px) : 0;
    t.weight[k] = t.inside[k] ? weight : 0.0;
  };
  if (mode == Interpolation::nearest) {
    put(0, std::nearbyint(t.x), std::nearbyint(t.y), 1.0);
    for (int k = 1; k < 4; ++k) put(k, -1, -1, 0.0);
    return t;
  }
  t.x0 = std::floor(t.x), t.y0 = std::floor(t.y);
  const double x1 = t.x0 + 1, y1 = t.y0 + 1;
  put(0, t.x0, t.y0, (x1 - t.x) * (y1 - t.y));  // as PyTorch forms them: the opposite corner's distances
  put(1, x1, t.y0, (t.x - t.x0) * (y1 - t.y));
  put(2, t.x0, y1, (x1 - t.x) * (t.y - t.y0));
  put(3, x1, y1, (t.x - t.x0) * (t.y - t.y0));
  return t;
}

// The CPU loops, in T with sums in double. A point's taps are worked out where they are
// used (a few operations), so nothing per point is stored.
struct GridSampleShape {
  std::int64_t n, c, h, w, points;
  Interpolation mode;
  GridPadding padding;
  bool align_corners;
  Taps taps(const double gx, const double gy) const {
    return taps_of(gx, gy, h, w, mode, padding, align_corners);
  }
};

// out[s, ch, p] = the sum over p's taps inside the image (an inf outside is not read).
template <class T>
void grid_sample_forward(const GridSampleShape& g, const T* x, const T* grid, T* out) {
  const std::int64_t plane = g.h * g.w;
  parallel_for(0, g.n * g.points, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(g.c, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t i = b; i < e; ++i) {
                   const std::int64_t s = i / g.points, p = i % g.points;
                   const Taps t = g.taps(grid[2 * i], grid[2 * i + 1]);
                   for (std::int64_t ch = 0; ch < g.c; ++ch) {
                     const T* src = x + (s * g.c + ch) * plane;
                     double sum = 0;
                     for (int k = 0; k < 4; ++k)
                       if (t.inside[k]) sum += static_cast<double>(src[t.offset[k]]) * t.weight[k];
                     out[(s * g.c + ch) * g.points + p] = static_cast<T>(sum);
                   }
                 }
               });
}

// One pass per sample (samples in parallel, so no two tasks add into one input plane):
// each point's share of the input's gradient, and, bilinear, its (x, y) gradient, the
// output's change along x and y summed over the channels, times the coordinates' slopes.
template <class T>
void grid_sample_backward(const GridSampleShape& g, const T* x, const T* grid, const T* up,
                          double* grad_input, T* grad_grid) {
  const std::int64_t plane = g.h * g.w;
  parallel_for(0, g.n, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t s = b; s < e; ++s)
      for (std::int64_t p = 0; p < g.points; ++p) {
        const std::int64_t i = s * g.points + p;
        const Taps t = g.taps(grid[2 * i], grid[2 * i + 1]);
        const double x1 = t.x0 + 1, y1 = t.y0 + 1;
        double dx = 0, dy = 0;
        for (std::int64_t ch = 0; ch < g.c; ++ch) {
          const double u = static_cast<double>(up[(s * g.c + ch) * g.points + p]);
          if (grad_input)
            for (int k = 0; k < 4; ++k)
              if (t.inside[k]) grad_input[(s * g.c + ch) * plane + t.offset[k]] += u * t.weight[k];
          if (grad_grid) {
            const T* src = x + (s * g.c + ch) * plane;
            const auto v = [&](int k) { return t.inside[k] ? static_cast<double>(src[t.offset[k]]) : 0.0; };
            dx += u * ((v(1) - v(0)) * (y1 - t.y) + (v(3) - v(2)) * (t.y - t.y0));
            dy += u * ((v(2) - v(0)) * (x1 - t.x) + (v(3) - v(1)) * (t.x - t.x0));
          }
        }
        if (grad_grid) {
          grad_grid[2 * i] = static_cast<T>(dx * t.slope_x);
          grad_grid[2 * i + 1] = static_cast<T>(dy * t.slope_y);
        }
      }
  });
}

// grid_sample in recorded ops (gather, where, arithmetic): a GPU's forward, and the function
// whose derivatives the CPU's kernel takes while a walk records (create_graph).
Tensor grid_sample_composite(const Tensor& input, const Tensor& grid, Interpolation mode, GridPadding padding,
                             bool align_corners) {
  const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const std::int64_t points = grid.size(1) * grid.size(2);
  const Tensor flat_grid = grid.reshape({n, points, 2});
  const Tensor x =
      pad_coordinate(unnormalise(flat_grid.select(2, 0), w, align_corners), w, padding, align_corners);
  const Tensor y =
      pad_coordinate(unnormalise(flat_grid.select(2, 1), h, align_corners), h, padding, align_corners);
  const Tensor planes = input.reshape({n, c, h * w});

  // The input at integer positions (px, py) (N, points), each times its weight; positions
  // outside the image read 0 (a valid index, its weight zeroed).
  const auto corner = [&](const Tensor& px, const Tensor& py, const Tensor& weight) {
    Tensor index, inside;
    {
      NoGradGuard no_grad;
      inside = logical_and(logical_and(px >= 0.0, px <= static_cast<double>(w - 1)),
                           logical_and(py >= 0.0, py <= static_cast<double>(h - 1)));
      const Tensor at = clamp(py.to(kFloat64), 0.0, static_cast<double>(h - 1)) * static_cast<double>(w) +
                        clamp(px.to(kFloat64), 0.0, static_cast<double>(w - 1));
      // A NaN coordinate reads position 0 with weight 0 (NaN compares false: not inside).
      index = nan_to_num(at, 0.0, 0.0, 0.0).to(kInt64).unsqueeze(1).expand({n, c, points}).contiguous();
    }
    return gather(planes, 2, index) * where(inside, weight, 0.0).unsqueeze(1);
  };
  Tensor out;
  if (mode == Interpolation::nearest) {
    // Weight 1, written through x and y so that the grid gets its zero gradient (as
    // torch's); where x or y is not finite the point is outside and the weight unused.
    out = corner(round(x.detach()), round(y.detach()), (x + y) * 0.0 + 1.0);
  } else {
    const Tensor x0 = floor(x.detach()), y0 = floor(y.detach());
    const Tensor x1 = x0 + 1.0, y1 = y0 + 1.0;
    // The weights as PyTorch forms them: the opposite corner's distances.
    out = corner(x0, y0, (x1 - x) * (y1 - y)) + corner(x1, y0, (x - x0) * (y1 - y)) +
          corner(x0, y1, (x1 - x) * (y - y0)) + corner(x1, y1, (x - x0) * (y - y0));
  }
  return out.reshape({n, c, grid.size(1), grid.size(2)});
}

Tensor grid_sample_cpu(const Tensor& input, const Tensor& grid, Interpolation mode, GridPadding padding,
                       bool align_corners) {
  const GridSampleShape g{
      input.size(0), input.size(1), input.size(2), input.size(3), grid.size(1) * grid.size(2),
      mode,          padding,       align_corners};
  const Tensor xc = input.detach().contiguous(), gc = grid.detach().contiguous();
  Tensor out = Tensor::empty({g.n, g.c, grid.size(1), grid.size(2)}, input.dtype());
  visit_floating(input.dtype(), "grid_sample", [&]<class T>() {
    grid_sample_forward<T>(g, xc.data_ptr<T>(), gc.data_ptr<T>(), out.data_ptr<T>());
  });
  if (!should_record({input, grid})) return out;
  const bool nearest = mode == Interpolation::nearest, need_input = input.requires_grad();
  const bool need_grid = grid.requires_grad() && !nearest, zero_grid = grid.requires_grad() && nearest;
  attach_grad_fn(out, "grid_sample", {input, grid},
                 [g, input, grid, xc, gc, need_input, need_grid, zero_grid](const Tensor& up) {
                   if (is_grad_enabled())  // recording (create_graph): the composite's gradients, recorded
                     return composite_gradients(
                         grid_sample_composite(input, grid, g.mode, g.padding, g.align_corners),
                         {input, grid}, up);
                   const Tensor uc = up.contiguous();
                   Grads grads(2);
                   Tensor gi = need_input ? zeros(xc.shape(), kFloat64) : Tensor();
                   Tensor gg = need_grid ? Tensor::empty(gc.shape(), gc.dtype()) : Tensor();
                   visit_floating(xc.dtype(), "grid_sample backward", [&]<class T>() {
                     grid_sample_backward<T>(g, xc.data_ptr<T>(), gc.data_ptr<T>(), uc.data_ptr<T>(),
                                             need_input ? gi.data_ptr<double>() : nullptr,
                                             need_grid ? gg.data_ptr<T>() : nullptr);
                   });
                   if (need_input) grads[0] = gi.to(xc.dtype());
                   if (need_grid) grads[1] = gg;
                   if (zero_grid) grads[1] = zeros(gc.shape(), gc.dtype());  // nearest: 0, as PyTorch's
                   return grads;
                 },
                 {xc, gc});
  mark_differentiable_backward(out);
  return out;
}

}  // namespace

Tensor affine_grid(const Tensor& theta, const Shape& size, bool align_corners) {
  detail::check_floating("affine_grid", theta);
  KILN_CHECK(size.size() == 4, "affine_grid: size must be (N, C, H, W), got ", fmt(size),
             " (volumes, (N, C, D, H, W), are not supported)");
  const std::int64_t n = size[0], h = size[2], w = size[3];
  KILN_CHECK(theta.dim() == 3 && theta.size(0) == n && theta.size(1) == 2 && theta.size(2) == 3,
             "affine_grid: theta of shape ", fmt(theta.shape()), " must be (N, 2, 3) with N = ", n,
             " of size ", fmt(size));
  KILN_CHECK(h >= 1 && w >= 1, "affine_grid: size ", fmt(size), " has an empty image");
  // Each output pixel's homogeneous (x, y, 1), row-major over (H, W), times theta^T.
  const std::vector<double> xs = normalised_positions(w, align_corners),
                            ys = normalised_positions(h, align_corners);
  std::vector<double> base;
  base.reserve(static_cast<std::size_t>(h * w * 3));
  for (std::int64_t i = 0; i < h; ++i)
    for (std::int64_t j = 0; j < w; ++j)
      base.insert(base.end(), {xs[static_cast<std::size_t>(j)], ys[static_cast<std::size_t>(i)], 1.0});
  const Tensor points = from_vector(base, {h * w, 3}).to(theta.dtype()).to(theta.device());
  return matmul(points, theta.transpose(1, 2)).reshape({n, h, w, 2});
}

Tensor grid_sample(const Tensor& input, const Tensor& grid, Interpolation mode, GridPadding padding,
                   bool align_corners) {
  detail::check_floating("grid_sample", input);
  detail::check_same_dtype_device("grid_sample", {input, grid});
  KILN_CHECK(mode == Interpolation::bilinear || mode == Interpolation::nearest, "grid_sample: mode ",
             interpolation_name(mode), " is not supported; use bilinear or nearest");
  KILN_CHECK(input.dim() == 4, "grid_sample: input must be (N, C, H, W) but has shape ", fmt(input.shape()),
             " (volumes are not supported)");
  KILN_CHECK(grid.dim() == 4 && grid.size(0) == input.size(0) && grid.size(3) == 2,
             "grid_sample: grid of shape ", fmt(grid.shape()),
             " must be (N, H_out, W_out, 2) with the input's N = ", input.size(0));
  KILN_CHECK(input.size(2) >= 1 && input.size(3) >= 1, "grid_sample: input of shape ", fmt(input.shape()),
             " has an empty image");
  if (input.device().is_cpu()) return grid_sample_cpu(input, grid, mode, padding, align_corners);
  return grid_sample_composite(input, grid, mode, padding, align_corners);
}

}  // namespace kiln
