// layer_norm, rms_norm, group_norm and instance_norm: forward and backward side by side. On the CPU, fused
// loops over rows built from the kernel table's normalisation entries (kernels/cpu/norm/, in double): each
// row's statistics, then the pass that normalises it; the backward in one pass over blocks of rows.
// group_norm's rows are (sample, group) and its weights per channel. On a GPU, both are composed of the
// device's ops, whose backward autograd derives.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/norm_recorded.hpp"

namespace kiln {

using detail::ptr;

detail::RecordedNorm detail::normalization_recorded_grad(const Tensor& x, const Tensor& gw, const Dims& dims,
                                                         double eps, bool centre) {
  const Tensor xc = centre ? x - mean(x, dims, /*keepdim=*/true) : x;
  const Tensor rstd = rsqrt(mean(xc * xc, dims, /*keepdim=*/true) + eps);
  const Tensor xhat = xc * rstd;
  Tensor inner = gw - xhat * mean(gw * xhat, dims, /*keepdim=*/true);
  if (centre) inner = inner - mean(gw, dims, /*keepdim=*/true);
  return {rstd * inner, xhat};
}

Shape detail::channel_view_shape(std::int64_t rank, std::int64_t c) {
  Shape shape(static_cast<std::size_t>(rank), 1);
  shape[1] = c;
  return shape;
}

namespace {

// The composite: what a GPU runs, and the definition the fused CPU code follows.
Tensor layer_norm_composite(const Tensor& x, std::int64_t normalized_dims, const Tensor& weight,
                            const Tensor& bias, double eps) {
  Dims dims;
  for (std::int64_t d = x.dim() - normalized_dims; d < x.dim(); ++d) dims.push_back(d);
  const Tensor centred = x - mean(x, dims, /*keepdim=*/true);
  const Tensor var = mean(centred * centred, dims, /*keepdim=*/true);  // biased
  Tensor y = centred / sqrt(var + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

// Checks that x is floating and that normalized_shape is its trailing sizes; their count.
std::int64_t check_trailing(const char* op, const Tensor& x, const Shape& normalized_shape) {
  detail::check_floating(op, x);
  const auto nd = static_cast<std::int64_t>(normalized_shape.size());
  const bool trailing = nd >= 1 && nd <= x.dim() &&
                        std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - nd);
  KILN_CHECK(trailing, op, ": normalized_shape ", fmt(normalized_shape),
             " must be the last dimensions of the input, whose shape is ", fmt(x.shape()), " (e.g. (",
             x.dim() > 0 ? x.size(-1) : 0, ") to normalise each row of features)");
  return nd;
}

// Whether a row is centred on its mean before scaling (layer_norm) or only divided by
// its root mean square (rms_norm).
enum class Centre { mean, none };

Tensor normalize_rows(const char* op, const Tensor& x, std::int64_t d, std::int64_t period,
                      const Tensor& weight, const Tensor& bias, double eps, Centre centre = Centre::mean);

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const std::int64_t nd = check_trailing("layer_norm", x, normalized_shape);
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    detail::check_same_dtype_device("layer_norm", {x, *t});
    KILN_CHECK(t->shape() == normalized_shape, "layer_norm: ", t == &weight ? "weight" : "bias", " of shape ",
               fmt(t->shape()), " must have normalized_shape ", fmt(normalized_shape));
  }
  KILN_CHECK(eps >= 0 && std::isfinite(eps), "layer_norm: eps must be finite and >= 0, not ", eps);
  if (x.device().is_cuda()) return layer_norm_composite(x, nd, weight, bias, eps);
  return normalize_rows("layer_norm", x, numel_of(normalized_shape), 1, weight, bias, eps);
}

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                std::optional<double> eps) {
  const std::int64_t nd = check_trailing("rms_norm", x, normalized_shape);
  if (weight.defined()) {
    detail::check_same_dtype_device("rms_norm", {x, weight});
    KILN_CHECK(weight.shape() == normalized_shape, "rms_norm: weight of shape ", fmt(weight.shape()),
               " must have normalized_shape ", fmt(normalized_shape));
  }
  const double epsilon = eps.value_or(x.dtype() == kFloat32 ? std::numeric_limits<float>::epsilon()
                                                            : std::numeric_limits<double>::epsilon());
  KILN_CHECK(epsilon >= 0 && std::isfinite(epsilon), "rms_norm: eps must be finite and >= 0, not ", epsilon);
  if (x.device().is_cpu())
    return normalize_rows("rms_norm", x, numel_of(normalized_shape), 1, weight, Tensor(), epsilon,
                          Centre::none);
  // On a GPU, composed: x / sqrt(mean(x^2) + eps) * weight.
  Dims dims;
  for (std::int64_t d = x.dim() - nd; d < x.dim(); ++d) dims.push_back(d);
  const Tensor y = x * rsqrt(mean(x * x, dims, /*keepdim=*/true) + epsilon);
  return weight.defined() ? y * weight : y;
}

namespace {

// The forward the ops share: x, weight and bias made contiguous; then, for each row of d
// values, its mean and 1 / sqrt(var + eps) (with Centre::none, 0 and 1 / sqrt(mean(x^2)
// + eps), mean(x^2) being var + mean^2), and apply(kernels, r, mean, rstd, x, weight,
// bias, y) (pointers to the starts of the arrays), which writes row r of y.
struct RowsForward {
  Tensor xc, wc, y;
  std::vector<double> mean_of, rstd_of;
};
template <class Apply>
RowsForward normalize_each_row(const char* op, const Tensor& x, std::int64_t rows, std::int64_t d,
                               const Tensor& weight, const Tensor& bias, double eps, Apply apply,
                               Centre centre = Centre::mean) {
  RowsForward f{x.detach().contiguous(), weight.defined() ? weight.detach().contiguous() : Tensor(),
                Tensor::empty(x.shape(), x.dtype()), std::vector<double>(static_cast<std::size_t>(rows)),
                std::vector<double>(static_cast<std::size_t>(rows))};
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  visit_floating(x.dtype(), op, [&]<class T>() {
    const auto& kern = cpu::kernels<T>();
    const T* px = ptr<T>(f.xc);
    const T* pw = f.wc.defined() ? ptr<T>(f.wc) : nullptr;
    const T* pb = bc.defined() ? ptr<T>(bc) : nullptr;
    T* py = ptr<T>(f.y);
    parallel_for(0, rows, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(d, 1)),
                 [&](std::int64_t lo, std::int64_t hi) {
                   for (std::int64_t r = lo; r < hi; ++r) {
                     double var;
                     kern.norm_moments(1, d, d, px + r * d, &f.mean_of[r], &var);
                     if (centre == Centre::none) {
                       var += f.mean_of[r] * f.mean_of[r];  // the mean square
                       f.mean_of[r] = 0;
                     }
                     f.rstd_of[r] = 1.0 / std::sqrt(var + eps);
                     apply(kern, r, f.mean_of[r], f.rstd_of[r], px, pw, pb, py);
                   }
                 });
  });
  return f;
}

// What both backward passes read and write: x, the gradient, the weight (or null), and,
// when x needs one, its gradient, made here as grads[0] (else null).
template <class T>
struct BackwardPointers {
  const T *x, *g, *w;
  T* gx;
};
template <class T>
BackwardPointers<T> backward_pointers(const Tensor& xc, const Tensor& gc, const Tensor& wc, bool nx,
                                      Grads& grads) {
  if (nx) grads[0] = Tensor::empty(xc.shape(), xc.dtype());
  return {ptr<T>(xc), ptr<T>(gc), wc.defined() ? ptr<T>(wc) : nullptr, nx ? ptr<T>(grads[0]) : nullptr};
}

// The fused CPU layer_norm over rows of d values; row r takes its weight and bias from
// row r % period of (period, d) parameters (layer_norm: period 1). The loops are the
// kernel table's normalisation entries (kernels/cpu/norm/), in double.
Tensor normalize_rows(const char* op, const Tensor& x, std::int64_t d, std::int64_t period,
                      const Tensor& weight, const Tensor& bias, double eps, Centre centre) {
  const std::int64_t rows = d == 0 ? 0 : x.numel() / d;
  const Shape param_shape = weight.defined() ? weight.shape() : bias.defined() ? bias.shape() : Shape{};
  RowsForward f = normalize_each_row(
      op, x, rows, d, weight, bias, eps,
      [d, period](const auto& kern, std::int64_t r, double mean, double rstd, auto px, auto pw, auto pb,
                  auto py) {
        const std::int64_t at = (r % period) * d;  // this row's weights
        kern.norm_apply(d, px + r * d, mean, rstd, pw ? pw + at : nullptr, pb ? pb + at : nullptr, 1,
                        py + r * d);
      },
      centre);
  const Tensor xc = f.xc, wc = f.wc;
  Tensor y = f.y;
  const std::vector<double>& mean_of = f.mean_of;
  const std::vector<double>& rstd_of = f.rstd_of;

  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(
        y, op, {x, weight, bias},
        [op, x, weight, xc, wc, mean_of, rstd_of, rows, d, period, nx, nw, nb, param_shape, centre,
         eps](const Tensor& g) {
          if (is_grad_enabled()) {  // recording (create_graph): rows of (period, d) values
            const Shape rows_shape{period == 0 ? 0 : rows / period, period, d};
            const Tensor gr = g.reshape(rows_shape);
            const Tensor gw = weight.defined() ? gr * weight.reshape({period, d}) : gr;
            const detail::RecordedNorm r = detail::normalization_recorded_grad(x.reshape(rows_shape), gw, {2},
                                                                               eps, centre == Centre::mean);
            return Grads{nx ? r.dx.reshape(x.shape()) : Tensor(),
                         nw ? sum(gr * r.xhat, {0}).reshape(param_shape) : Tensor(),
                         nb ? sum(gr, {0}).reshape(param_shape) : Tensor()};
          }
          // Per row, with xhat = (x - mean) rstd and gw = g * weight:
          //   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))   (mean and rstd depend on x)
          // and over rows: dweight = sum g xhat, dbias = sum g. Uncentred, mean is 0 and
          // no longer depends on x: the mean(gw) term goes.
          const Tensor gc = g.contiguous();
          Grads grads(3);
          visit_floating(xc.dtype(), op, [&]<class T>() {
            const auto& kern = cpu::kernels<T>();
            const BackwardPointers<T> ptrs = backward_pointers<T>(xc, gc, wc, nx, grads);
            const T *px = ptrs.x, *pg = ptrs.g, *pw = ptrs.w;  // plain names: the lambdas below read them
            T* pgx = ptrs.gx;
            // One pass over blocks of rows: each row's dx (its two sums first, then the row
            // again from cache), and the block's share of dweight and dbias. Blocks have a
            // fixed size and their shares add up in block order, so the result is the same
            // for any thread count. Where there are shares, at most kMaxBlocks blocks: each
            // holds 2 * period * d doubles, zeroed and summed at the end.
            constexpr std::int64_t kMaxBlocks = 16;
            const bool columns = nw || nb;
            std::int64_t block = std::max<std::int64_t>(32, 8192 / std::max<std::int64_t>(d, 1));
            if (columns) block = std::max(block, (rows + kMaxBlocks - 1) / kMaxBlocks);
            const std::int64_t blocks = (rows + block - 1) / block;
            const std::int64_t pd = period * d;  // one block's share of dweight, and of dbias
            std::vector<double> shares(columns ? static_cast<std::size_t>(2 * blocks * pd) : 0, 0.0);
            parallel_for(0, blocks, 1, [&](std::int64_t lo, std::int64_t hi) {
              for (std::int64_t blk = lo; blk < hi; ++blk) {
                for (std::int64_t r = blk * block; r < std::min(rows, (blk + 1) * block); ++r) {
                  const std::int64_t at = (r % period) * d;
                  double* share_gxhat = columns ? shares.data() + 2 * blk * pd + at : nullptr;
                  double* share_g = columns ? share_gxhat + pd : nullptr;
                  const T* w_row = pw ? pw + at : nullptr;
                  double sums[2];  // sum gw, sum gw xhat
                  kern.norm_grad_sums(d, px + r * d, pg + r * d, w_row, mean_of[r], rstd_of[r], share_gxhat,
                                      share_g, sums);
                  if (!nx) continue;
                  const double a = centre == Centre::mean ? sums[0] / static_cast<double>(d) : 0.0;
                  const double b = sums[1] / static_cast<double>(d);
                  kern.norm_grad_apply(d, px + r * d, pg + r * d, w_row, 1, mean_of[r], rstd_of[r], a, b,
                                       pgx + r * d);
                }
              }
            });
            if (columns) {
              std::vector<double> sum_g_xhat(static_cast<std::size_t>(pd), 0.0),
                  sum_g(static_cast<std::size_t>(pd), 0.0);
              for (std::int64_t blk = 0; blk < blocks; ++blk)
                for (std::int64_t k = 0; k < pd; ++k) {
                  sum_g_xhat[k] += shares[2 * blk * pd + k];
                  sum_g[k] += shares[(2 * blk + 1) * pd + k];
                }
              if (nw) grads[1] = from_vector(sum_g_xhat, param_shape).to(xc.dtype());
              if (nb) grads[2] = from_vector(sum_g, param_shape).to(xc.dtype());
            }
          });
          return grads;
        },
        {xc, wc});
    mark_differentiable_backward(y);
  }
  return y;
}

// group_norm on the CPU. Each (sample, group) is one row of its channels' planes: the
// row's statistics, then each plane scaled by its channel's weight. The backward takes,
// per plane, sum g and sum g xhat: those give the weight's and the bias's gradients
// (summed over the samples in order) and, weighted by the channels' weights, the row's
// two sums of layer_norm's backward.
Tensor group_norm_cpu(const Tensor& x, std::int64_t groups, const Tensor& weight, const Tensor& bias,
                      double eps) {
  const std::int64_t n = x.size(0), c = x.size(1), per_channel = c / groups;
  const std::int64_t spatial = numel_of(Shape(x.shape().begin() + 2, x.shape().end()));
  const std::int64_t d = per_channel * spatial, rows = n * groups;
  RowsForward f = normalize_each_row(
      "group_norm", x, rows, d, weight, bias, eps,
      [=](const auto& kern, std::int64_t r, double mean, double rstd, auto px, auto pw, auto pb, auto py) {
        for (std::int64_t j = 0; j < per_channel; ++j) {  // each channel's plane, its weight one value
          const std::int64_t ch = (r % groups) * per_channel + j, at = r * d + j * spatial;
          kern.norm_apply(spatial, px + at, mean, rstd, pw ? pw + ch : nullptr, pb ? pb + ch : nullptr, 0,
                          py + at);
        }
      });
  const Tensor xc = f.xc, wc = f.wc;
  Tensor y = f.y;
  const std::vector<double>& mean_of = f.mean_of;
  const std::vector<double>& rstd_of = f.rstd_of;
  if (!should_record({x, weight, bias})) return y;
  const bool nx = x.requires_grad();
  attach_grad_fn(
      y, "group_norm", {x, weight, bias},
      [x, weight, eps, xc, wc, mean_of, rstd_of, n, c, groups, per_channel, spatial, d, rows, nx,
       has_bias = bias.defined()](const Tensor& g) {
        if (is_grad_enabled()) {  // recording (create_graph): rows of each (sample, group)
          const Tensor gw = weight.defined() ? g * weight.reshape(detail::channel_view_shape(x.dim(), c)) : g;
          const Shape rows_shape{n, groups, d};
          const detail::RecordedNorm r = detail::normalization_recorded_grad(
              x.reshape(rows_shape), gw.reshape(rows_shape), {2}, eps, true);
          Dims per_channel_sums{0};
          for (std::int64_t k = 2; k < x.dim(); ++k) per_channel_sums.push_back(k);
          return Grads{nx ? r.dx.reshape(x.shape()) : Tensor(),
                       weight.defined() && weight.requires_grad()
                           ? sum(g * r.xhat.reshape(x.shape()), per_channel_sums)
                           : Tensor(),
                       has_bias ? sum(g, per_channel_sums) : Tensor()};
        }
        const Tensor gc = g.contiguous();
        Grads grads(3);
        // Per (sample, channel): sum g and sum g xhat.
        std::vector<double> plane_g(static_cast<std::size_t>(n * c)),
            plane_gxhat(static_cast<std::size_t>(n * c));
        visit_floating(xc.dtype(), "group_norm", [&]<class T>() {
          const auto& kern = cpu::kernels<T>();
          const BackwardPointers<T> ptrs = backward_pointers<T>(xc, gc, wc, nx, grads);
          const T *px = ptrs.x, *pg = ptrs.g, *pw = ptrs.w;  // plain names: the lambdas below read them
          T* pgx = ptrs.gx;
          parallel_for(
              0, rows, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(d, 1)),
              [&](std::int64_t lo, std::int64_t hi) {
                for (std::int64_t r = lo; r < hi; ++r) {
                  const std::int64_t first = (r % groups) * per_channel;  // the row's first channel
                  double sum_gw = 0, sum_gw_xhat = 0;
                  for (std::int64_t j = 0; j < per_channel; ++j) {
                    const std::int64_t at = r * d + j * spatial, plane = (r / groups) * c + first + j;
                    double sums[2];  // with no weight: sum g, sum g xhat
                    kern.norm_grad_sums(spatial, px + at, pg + at, nullptr, mean_of[r], rstd_of[r], nullptr,
                                        nullptr, sums);
                    plane_g[plane] = sums[0];
                    plane_gxhat[plane] = sums[1];
                    const double w = pw ? static_cast<double>(pw[first + j]) : 1.0;
                    sum_gw += w * sums[0];
                    sum_gw_xhat += w * sums[1];
                  }
                  if (!nx) continue;
                  const double a = sum_gw / static_cast<double>(d), b = sum_gw_xhat / static_cast<double>(d);
                  for (std::int64_t j = 0; j < per_channel; ++j) {
                    const std::int64_t at = r * d + j * spatial;
                    kern.norm_grad_apply(spatial, px + at, pg + at, pw ? pw + first + j : nullptr, 0,
                                         mean_of[r], rstd_of[r], a, b, pgx + at);
                  }
                }
              });
        });
        // dweight = sum over samples of sum g xhat; dbias = of sum g (in sample order).
        for (int which : {1, 2}) {
          if (which == 1 ? !wc.defined() : !has_bias) continue;
          std::vector<double> total(static_cast<std::size_t>(c), 0.0);
          const std::vector<double>& per_plane = which == 1 ? plane_gxhat : plane_g;
          for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t ch = 0; ch < c; ++ch) total[ch] += per_plane[i * c + ch];
          grads[which] = from_vector(total, {c}).to(xc.dtype());
        }
        return grads;
      },
      {xc, wc});
  mark_differentiable_backward(y);
  return y;
}

}  // namespace

Tensor group_norm(const Tensor& x, std::int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  detail::check_floating("group_norm", x);
  KILN_CHECK(x.dim() >= 2, "group_norm: input must be (N, C, ...) but has shape ", fmt(x.shape()));
  const std::int64_t n = x.size(0), c = x.size(1);
  KILN_CHECK(num_groups > 0 && c % num_groups == 0, "group_norm: ", c, " channels (input shape ",
             fmt(x.shape()), ") do not split into ", num_groups,
             " groups; num_groups must divide the channel count");
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    detail::check_same_dtype_device("group_norm", {x, *t});
    KILN_CHECK(t->dim() == 1 && t->size(0) == c, "group_norm: ", t == &weight ? "weight" : "bias",
               " of shape ", fmt(t->shape()), " must be (", c, "), one value per channel");
  }
  KILN_CHECK(eps >= 0 && std::isfinite(eps), "group_norm: eps must be finite and >= 0, not ", eps);
  // Each (sample, group) is one row of its channels' values: layer_norm's statistics.
  const std::int64_t spatial = numel_of(Shape(x.shape().begin() + 2, x.shape().end()));
  const std::int64_t per_group = (c / num_groups) * spatial;
  if (!x.device().is_cuda()) return group_norm_cpu(x, num_groups, weight, bias, eps);
  Tensor y = layer_norm(x.reshape({n, num_groups, per_group}), {per_group}, Tensor(), Tensor(), eps)
                 .reshape(x.shape());
  // The affine part is per channel: weight and bias viewed as (C, 1, ...) broadcast over the rest.
  Shape per_channel(static_cast<std::size_t>(x.dim() - 1), 1);
  per_channel[0] = c;
  if (weight.defined()) y = y * weight.reshape(per_channel);
  if (bias.defined()) y = y + bias.reshape(per_channel);
  return y;
}

// PyTorch's construction: x (N, C, ...) as one sample of N C channels, whose batch_norm
// statistics are each plane's; the per-channel tensors repeated N times. The running
// statistics update a repeated copy, whose mean over the samples is written back.
Tensor instance_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                     const Tensor& weight, const Tensor& bias, bool use_input_stats, double momentum,
                     double eps) {
  detail::check_floating("instance_norm", x);
  KILN_CHECK(x.dim() >= 3, "instance_norm: input must be (N, C, L) or (N, C, ...) but has shape ",
             fmt(x.shape()));
  const std::int64_t n = x.size(0), c = x.size(1);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    KILN_CHECK(!t->defined() || (t->dim() == 1 && t->size(0) == c),
               "instance_norm: per-channel tensor of shape ", fmt(t->defined() ? t->shape() : Shape{}),
               " must be (", c, ") for input of shape ", fmt(x.shape()));
  KILN_CHECK(running_mean.defined() == running_var.defined(),
             "instance_norm: give both running_mean and running_var, or neither");
  KILN_CHECK(use_input_stats || running_mean.defined(),
             "instance_norm: without use_input_stats it needs running_mean and running_var");
  KILN_CHECK(!use_input_stats || x.numel() == 0 || x.numel() / (n * c) > 1,
             "instance_norm: each plane of input shape ", fmt(x.shape()),
             " has one value, which normalises to 0; give more than one spatial value");
  const auto repeated = [n](const Tensor& t) { return t.defined() ? repeat(t, {n}) : Tensor(); };
  Tensor mean_copy, var_copy;
  {
    NoGradGuard no_grad;
    mean_copy = repeated(running_mean);
    var_copy = repeated(running_var);
  }
  Shape planes = x.shape();
  planes.erase(planes.begin());
  planes[0] = n * c;
  planes.insert(planes.begin(), 1);
  const Tensor y = batch_norm(x.reshape(planes), mean_copy, var_copy, repeated(weight), repeated(bias),
                              use_input_stats, momentum, eps);
  if (running_mean.defined() && use_input_stats) {
    NoGradGuard no_grad;
    Tensor(running_mean).copy_(mean(mean_copy.reshape({n, c}), {0}));  // a handle: the caller's storage
    Tensor(running_var).copy_(mean(var_copy.reshape({n, c}), {0}));
  }
  return y.reshape(x.shape());
}

}  // namespace kiln
