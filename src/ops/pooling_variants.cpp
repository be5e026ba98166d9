// Adaptive max pooling, the 1-D adaptive poolings, power-average pooling and max
// unpooling. Adaptive max pooling runs its own loop on the CPU and is composed of
// index_select and max on a GPU; the rest are composites of the 2-D poolings, square,
// pow, sqrt and scatter, so they run, and go backward, wherever those do.
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/conv_geometry.hpp"
#include "src/ops/window_max.hpp"

namespace kiln {

// ---- Adaptive max pooling ----------------------------------------------------------

namespace {

void check_adaptive(const char* op, const Tensor& x, Pair output_size) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 4, op, ": input must be (N, C, H, W) but has shape ", fmt(x.shape()));
  KILN_CHECK(output_size[0] >= 1 && output_size[1] >= 1, op, ": output size (", output_size[0], ", ",
             output_size[1], ") must be >= 1");
  KILN_CHECK(x.size(2) >= 1 && x.size(3) >= 1, op, ": input of shape ", fmt(x.shape()),
             " has an empty image; H and W must be >= 1");
}

// Output cell i of `out` covers inputs floor(i in / out) .. ceil((i + 1) in / out) - 1,
// PyTorch's adaptive windows (they overlap where out does not divide in).
std::int64_t window_begin(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}
std::int64_t widest_window(std::int64_t in, std::int64_t out) {
  std::int64_t widest = 0;
  for (std::int64_t i = 0; i < out; ++i)
    widest = std::max(widest, window_end(i, in, out) - window_begin(i, in, out));
  return widest;
}

// The plane positions (y W + x) each output cell reads, cell after cell in row-major
// order, each window's own positions in row-major order, padded to the widest window
// (kh x kw) by repeating its last row and column. A repeat comes after the position it
// copies, so the first maximum in the table is the window's own first maximum.
std::vector<std::int64_t> window_positions(std::int64_t h, std::int64_t w, std::int64_t oh, std::int64_t ow,
                                           std::int64_t kh, std::int64_t kw) {
  std::vector<std::int64_t> positions;
  positions.reserve(static_cast<std::size_t>(oh * ow * kh * kw));
  for (std::int64_t i = 0; i < oh; ++i) {
    const std::int64_t y0 = window_begin(i, h, oh), rows = window_end(i, h, oh) - y0;
    for (std::int64_t j = 0; j < ow; ++j) {
      const std::int64_t x0 = window_begin(j, w, ow), cols = window_end(j, w, ow) - x0;
      for (std::int64_t a = 0; a < kh; ++a)
        for (std::int64_t b = 0; b < kw; ++b)
          positions.push_back((y0 + std::min(a, rows - 1)) * w + x0 + std::min(b, cols - 1));
    }
  }
  return positions;
}

// On the CPU: a plane per task, each window scanned for its first maximum (window_max.hpp;
// the first NaN wins, as max's); the backward adds each cell's gradient at its position.
ValuesIndices adaptive_max_pool2d_cpu(const Tensor& x, std::int64_t oh, std::int64_t ow) {
  const Tensor xc = x.detach().contiguous();
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), planes = n * c;
  Tensor out = Tensor::empty({n, c, oh, ow}, x.dtype());
  Tensor positions = Tensor::empty({n, c, oh, ow}, kInt64);
  std::int64_t* pos = positions.data_ptr<std::int64_t>();
  visit_floating(x.dtype(), "adaptive_max_pool2d", [&]<class T>() {
    const T* in = detail::ptr<T>(xc);
    T* o = detail::ptr<T>(out);
    parallel_for(0, planes, std::max<std::int64_t>(1, 4096 / (h * w)), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t p = b; p < e; ++p) {
        const T* plane = in + p * h * w;
        for (std::int64_t i = 0; i < oh; ++i) {
          const std::int64_t y0 = window_begin(i, h, oh), y1 = window_end(i, h, oh);
          for (std::int64_t j = 0; j < ow; ++j) {
            const std::int64_t x0 = window_begin(j, w, ow), x1 = window_end(j, w, ow);
            const detail::WindowMax<T> m = detail::window_max(plane, w, y0, y1, x0, x1);
            const std::int64_t k = (p * oh + i) * ow + j;
            o[k] = m.value;
            pos[k] = m.offset;
          }
        }
      }
    });
  });
  if (should_record({x})) {
    attach_grad_fn(out, "adaptive_max_pool2d", {x},
                   [positions, xs = x.shape()](const Tensor& g) {
                     const std::int64_t planes = xs[0] * xs[1], per_in = xs[2] * xs[3],
                                        per_out = g.numel() / std::max<std::int64_t>(planes, 1);
                     if (is_grad_enabled())  // recording (create_graph): an index_add at the winners
                       return Grads{detail::max_pool2d_recorded_grad(g, positions, xs)};
                     const Tensor gc = g.contiguous();
                     Tensor gx = zeros(xs, gc.dtype());
                     const std::int64_t* at = positions.data_ptr<std::int64_t>();
                     visit_floating(gc.dtype(), "adaptive_max_pool2d backward", [&]<class T>() {
                       const T* src = detail::ptr<T>(gc);
                       T* dst = detail::ptr<T>(gx);
                       parallel_for(0, planes, 1, [&](std::int64_t b, std::int64_t e) {
                         for (std::int64_t p = b; p < e; ++p)
                           for (std::int64_t k = p * per_out; k < (p + 1) * per_out; ++k)
                             dst[p * per_in + at[k]] += src[k];
                       });
                     });
                     return Grads{gx};
                   },
                   {positions});
    mark_differentiable_backward(out);
  }
  return {out, positions};
}

}  // namespace

ValuesIndices adaptive_max_pool2d_with_indices(const Tensor& x, Pair output_size) {
  check_adaptive("adaptive_max_pool2d", x, output_size);
  const auto [oh, ow] = output_size;
  if (x.device().is_cpu()) return adaptive_max_pool2d_cpu(x, oh, ow);
  // On a GPU, composed: the windows' positions gathered as a table, then max along it.
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t planes = n * c, cells = oh * ow, kh = widest_window(h, oh), kw = widest_window(w, ow);
  const std::int64_t k = kh * kw;
  const Tensor table = from_vector(window_positions(h, w, oh, ow, kh, kw)).to(x.device());  // (cells k)
  // Planes as columns, so each picked position is one contiguous row of all the planes.
  const Tensor picked = index_select(x.reshape({planes, h * w}).t(), 0, table).reshape({cells, k, planes});
  const ValuesIndices best = max(picked, 1);  // (cells, planes); indices into each cell's k entries
  std::vector<std::int64_t> first(static_cast<std::size_t>(cells));
  for (std::int64_t i = 0; i < cells; ++i) first[static_cast<std::size_t>(i)] = i * k;
  const Tensor in_table = best.indices + from_vector(first).reshape({cells, 1}).to(x.device());
  const Tensor positions = index_select(table, 0, in_table.reshape({-1})).reshape({cells, planes});
  return {best.values.t().reshape({n, c, oh, ow}), positions.t().reshape({n, c, oh, ow})};
}

Tensor adaptive_max_pool2d(const Tensor& x, Pair output_size) {
  check_adaptive("adaptive_max_pool2d", x, output_size);
  const auto [oh, ow] = output_size;
  const std::int64_t h = x.size(2), w = x.size(3);
  if (h % oh == 0 && w % ow == 0) return max_pool2d(x, {h / oh, w / ow});  // equal windows, no overlap
  return adaptive_max_pool2d_with_indices(x, output_size).values;
}

// ---- 1-D adaptive pooling: the 2-D ops on (N, C, 1, L) -----------------------------

namespace {
void check_adaptive_1d(const char* op, const Tensor& x, std::int64_t output_size) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == 3, op, ": input must be (N, C, L) but has shape ", fmt(x.shape()));
  KILN_CHECK(output_size >= 1, op, ": output size ", output_size, " must be >= 1");
  KILN_CHECK(x.size(2) >= 1, op, ": input of shape ", fmt(x.shape()), " is empty along L; L must be >= 1");
}
}  // namespace

Tensor adaptive_avg_pool1d(const Tensor& x, std::int64_t output_size) {
  check_adaptive_1d("adaptive_avg_pool1d", x, output_size);
  return adaptive_avg_pool2d(x.unsqueeze(2), {1, output_size}).squeeze(2);
}

Tensor adaptive_max_pool1d(const Tensor& x, std::int64_t output_size) {
  check_adaptive_1d("adaptive_max_pool1d", x, output_size);
  return adaptive_max_pool2d(x.unsqueeze(2), {1, output_size}).squeeze(2);
}

ValuesIndices adaptive_max_pool1d_with_indices(const Tensor& x, std::int64_t output_size) {
  check_adaptive_1d("adaptive_max_pool1d", x, output_size);
  const ValuesIndices best = adaptive_max_pool2d_with_indices(x.unsqueeze(2), {1, output_size});
  return {best.values.squeeze(2), best.indices.squeeze(2)};  // y = 0: the positions are along L
}

// ---- Power-average pooling ---------------------------------------------------------
// (sum over the window of x^p)^(1/p), as PyTorch's: the window mean of x^p times the
// window's size, then the 1/p power (p = 2: square and sqrt). Odd p and negative entries can make the sum
// negative, and its root NaN, as there.

namespace {
void check_lp(const char* op, const Tensor& x, double norm_type, std::int64_t dims, const char* layout) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == dims, op, ": input must be ", layout, " but has shape ", fmt(x.shape()));
  KILN_CHECK(std::isfinite(norm_type) && norm_type > 0, op, ": norm_type must be a finite number > 0, got ",
             norm_type);
}
}  // namespace

namespace {
// x^p and its inverse, the common powers 1 and 2 by their own ops.
Tensor power(const Tensor& x, double p) { return p == 1 ? x : p == 2 ? square(x) : pow(x, p); }
Tensor root(const Tensor& x, double p) { return p == 1 ? x : p == 2 ? sqrt(x) : pow(x, 1.0 / p); }
}  // namespace

Tensor lp_pool2d(const Tensor& x, double norm_type, Pair kernel, Pair stride) {
  check_lp("lp_pool2d", x, norm_type, 4, "(N, C, H, W)");
  const Tensor window_means = avg_pool2d(power(x, norm_type), kernel, stride);
  return root(window_means * static_cast<double>(kernel[0] * kernel[1]), norm_type);
}

Tensor lp_pool1d(const Tensor& x, double norm_type, std::int64_t kernel, std::int64_t stride) {
  check_lp("lp_pool1d", x, norm_type, 3, "(N, C, L)");
  const Tensor window_means = avg_pool1d(power(x, norm_type), kernel, stride);
  return root(window_means * static_cast<double>(kernel), norm_type);
}

// ---- Max unpooling ------------------------------------------------------------------

namespace {

// Each value of x (N, C, *spatial) written at its flat position `indices` (same shape, int64)
// in zeros of (N, C, *size): the unpooling of every rank. Differentiable in x.
Tensor unpool(const char* op, const Tensor& x, const Tensor& indices, const std::vector<std::int64_t>& size) {
  Shape out_shape{x.size(0), x.size(1)};
  std::int64_t plane = 1;
  for (std::int64_t s : size) {
    KILN_CHECK(s >= 1, op, ": the output size must be >= 1 along every axis, got ", s);
    out_shape.push_back(s);
    plane *= s;
  }
  const std::int64_t n = x.size(0), c = x.size(1);
  if (indices.device().is_cpu()) {  // named here; a GPU's indices are checked by scatter
    const Tensor held = indices.contiguous();
    const std::int64_t* at = held.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < indices.numel(); ++i)
      KILN_CHECK(at[i] >= 0 && at[i] < plane, op, ": index ", at[i], " is outside the output of ",
                 fmt(Shape(size)), " (", plane, " positions); pass the output_size the pooling's input had");
  }
  // Overlapping windows can share a maximum, so a position can come twice: each copy
  // takes the gradient there (a gather), where scatter's would give it to one.
  const Tensor places = indices.reshape({n, c, -1});
  Tensor out;
  {
    NoGradGuard no_grad;
    out = scatter(zeros({n, c, plane}, x.dtype(), x.device()), 2, places, x.detach().reshape({n, c, -1}))
              .reshape(out_shape);
  }
  if (should_record({x})) {
    attach_grad_fn(out, op, {x}, [places, xs = x.shape(), n, c](const Tensor& g) {
      return Grads{gather(g.reshape({n, c, -1}), 2, places).reshape(xs)};
    });
    mark_differentiable_backward(out);  // a recorded gather, linear in g
  }
  return out;
}

// The checks every max_unpool makes, and its output size: `given`, or per axis
// (in - 1) stride - 2 padding + kernel (stride 0: the kernel).
template <std::size_t R>
std::vector<std::int64_t> unpool_size(const char* op, const char* layout, const Tensor& x,
                                      const Tensor& indices, const std::array<std::int64_t, R>& kernel,
                                      std::array<std::int64_t, R> stride,
                                      const std::array<std::int64_t, R>& padding,
                                      const std::optional<std::array<std::int64_t, R>>& given) {
  detail::check_floating(op, x);
  KILN_CHECK(x.dim() == static_cast<std::int64_t>(R) + 2, op, ": input must be ", layout, " but has shape ",
             fmt(x.shape()));
  KILN_CHECK(indices.dtype() == kInt64 && indices.shape() == x.shape(), op, ": indices (", indices.dtype(),
             ", shape ", fmt(indices.shape()), ") must be int64 of the input's shape ", fmt(x.shape()),
             ", as the pooling's _with_indices form gives them");
  std::vector<std::int64_t> size;
  for (std::size_t d = 0; d < R; ++d) {
    if (stride[d] == 0) stride[d] = kernel[d];
    KILN_CHECK(kernel[d] >= 1 && stride[d] >= 1 && padding[d] >= 0, op, ": kernel ", kernel[d], ", stride ",
               stride[d], ", padding ", padding[d], " (axis ", d,
               ") are invalid: kernel and stride >= 1, padding >= 0");
    size.push_back(given ? (*given)[d]
                         : (x.size(static_cast<std::int64_t>(d) + 2) - 1) * stride[d] - 2 * padding[d] +
                               kernel[d]);
  }
  return size;
}

}  // namespace

Tensor max_unpool1d(const Tensor& x, const Tensor& indices, std::int64_t kernel, std::int64_t stride,
                    std::int64_t padding, std::optional<std::int64_t> output_size) {
  using A = std::array<std::int64_t, 1>;
  const auto size = unpool_size<1>("max_unpool1d", "(N, C, L)", x, indices, A{kernel}, A{stride}, A{padding},
                                   output_size ? std::optional<A>(A{*output_size}) : std::nullopt);
  return unpool("max_unpool1d", x, indices, size);
}

Tensor max_unpool2d(const Tensor& x, const Tensor& indices, Pair kernel, Pair stride, Pair padding,
                    std::optional<Pair> output_size) {
  const auto size =
      unpool_size<2>("max_unpool2d", "(N, C, H, W)", x, indices, kernel, stride, padding, output_size);
  return unpool("max_unpool2d", x, indices, size);
}

Tensor max_unpool3d(const Tensor& x, const Tensor& indices, Triple kernel, Triple stride, Triple padding,
                    std::optional<Triple> output_size) {
  const auto size =
      unpool_size<3>("max_unpool3d", "(N, C, D, H, W)", x, indices, kernel, stride, padding, output_size);
  return unpool("max_unpool3d", x, indices, size);
}

}  // namespace kiln
