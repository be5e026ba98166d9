// layer_norm: forward and backward side by side. On the CPU, fused loops: the row
// statistics in double (src/ops/moments.hpp), then one pass to normalise; the backward
// in one pass over blocks of rows. On a GPU, composed of the device's ops, whose
// backward autograd derives. group_norm, at the end, runs the same rows over the input
// viewed as (N, groups, rest), each group's rows with their own weights.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/moments.hpp"

namespace kiln {

using detail::ptr;

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

Tensor normalize_rows(const char* op, const Tensor& x, std::int64_t d, std::int64_t period,
                      const Tensor& weight, const Tensor& bias, double eps);

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  detail::check_floating("layer_norm", x);
  const auto nd = static_cast<std::int64_t>(normalized_shape.size());
  const bool trailing = nd >= 1 && nd <= x.dim() &&
                        std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - nd);
  KILN_CHECK(trailing, "layer_norm: normalized_shape ", fmt(normalized_shape),
             " must be the last dimensions of the input, whose shape is ", fmt(x.shape()), " (e.g. (",
             x.dim() > 0 ? x.size(-1) : 0, ") to normalise each row of features)");
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

namespace {

// The fused CPU layer_norm over rows of d values; row r takes its weight and bias from
// row r % period of (period, d) parameters (layer_norm: period 1; group_norm: the groups).
Tensor normalize_rows(const char* op, const Tensor& x, std::int64_t d, std::int64_t period,
                      const Tensor& weight, const Tensor& bias, double eps) {
  const std::int64_t rows = d == 0 ? 0 : x.numel() / d;
  const Shape param_shape = weight.defined() ? weight.shape() : bias.defined() ? bias.shape() : Shape{};
  const Tensor xc = x.detach().contiguous();
  const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  std::vector<double> mean_of, rstd_of;
  visit_floating(x.dtype(), op, [&]<class T>() {
    const T* px = ptr<T>(xc);
    detail::channel_moments(px, 1, rows, d, mean_of, rstd_of);  // rows as channels of one sample
    for (double& v : rstd_of) v = 1.0 / std::sqrt(v + eps);     // the variance becomes 1 / sqrt(var + eps)
    const T* pw = wc.defined() ? ptr<T>(wc) : nullptr;
    const T* pb = bc.defined() ? ptr<T>(bc) : nullptr;
    T* py = ptr<T>(y);
    parallel_for(0, rows, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(d, 1)),
                 [&](std::int64_t lo, std::int64_t hi) {
                   for (std::int64_t r = lo; r < hi; ++r) {
                     // In double: a float32 mean of a row far from 0 would round off its spread.
                     const double mu = mean_of[r], rs = rstd_of[r];
                     const T* row = px + r * d;
                     T* out = py + r * d;
                     const std::int64_t at = (r % period) * d;  // this row's weights
                     for (std::int64_t k = 0; k < d; ++k) {
                       double v = (row[k] - mu) * rs;
                       if (pw) v *= pw[at + k];
                       if (pb) v += pb[at + k];
                       out[k] = static_cast<T>(v);
                     }
                   }
                 });
  });

  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(
        y, op, {x, weight, bias},
        [op, xc, wc, mean_of, rstd_of, rows, d, period, nx, nw, nb, param_shape](const Tensor& g) {
          // Per row, with xhat = (x - mean) rstd and gw = g * weight:
          //   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))   (mean and rstd depend on x)
          // and over rows: dweight = sum g xhat, dbias = sum g.
          const Tensor gc = g.contiguous();
          Grads grads(3);
          visit_floating(xc.dtype(), op, [&]<class T>() {
            const T* px = ptr<T>(xc);
            const T* pg = ptr<T>(gc);
            const T* pw = wc.defined() ? ptr<T>(wc) : nullptr;
            T* pgx = nullptr;
            if (nx) {
              grads[0] = Tensor::empty(xc.shape(), xc.dtype());
              pgx = ptr<T>(grads[0]);
            }
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
                  const T* row = px + r * d;
                  const T* gr = pg + r * d;
                  const std::int64_t at = (r % period) * d;
                  const double mu = mean_of[r], rs = rstd_of[r];
                  double* share_g_xhat = columns ? shares.data() + 2 * blk * pd + at : nullptr;
                  double* share_g = columns ? share_g_xhat + pd : nullptr;
                  if (!nx) {
                    for (std::int64_t k = 0; k < d; ++k) {
                      share_g_xhat[k] += gr[k] * ((row[k] - mu) * rs);
                      share_g[k] += gr[k];
                    }
                    continue;
                  }
                  const T* w_row = pw ? pw + at : nullptr;
                  const auto gw_at = [gr, w_row](std::int64_t k) {
                    return w_row ? gr[k] * static_cast<double>(w_row[k]) : gr[k];
                  };
                  // One pass: the row's two sums, and its shares of dweight and dbias.
                  const auto [sum_gw, sum_gw_xhat] = detail::interleaved_sums(d, [&](std::int64_t k) {
                    const double xhat = (row[k] - mu) * rs;
                    if (share_g_xhat) {
                      share_g_xhat[k] += gr[k] * xhat;
                      share_g[k] += gr[k];
                    }
                    const double gw = gw_at(k);
                    return std::pair<double, double>{gw, gw * xhat};
                  });
                  const double a = sum_gw / static_cast<double>(d), b = sum_gw_xhat / static_cast<double>(d);
                  T* out = pgx + r * d;
                  for (std::int64_t k = 0; k < d; ++k)
                    out[k] = static_cast<T>(rs * (gw_at(k) - a - (row[k] - mu) * rs * b));
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
  }
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
  if (!x.device().is_cuda()) {
    // The fused rows, each group's row with its channels' weights spread over their
    // positions: (C) -> (groups, per_group), whose gradient autograd sums back to (C).
    const auto spread = [&](const Tensor& t) {
      return t.defined() ? t.reshape({c, 1}).expand({c, spatial}).reshape({num_groups, per_group}) : Tensor();
    };
    return normalize_rows("group_norm", x.reshape({n, num_groups, per_group}), per_group, num_groups,
                          spread(weight), spread(bias), eps)
        .reshape(x.shape());
  }
  Tensor y = layer_norm(x.reshape({n, num_groups, per_group}), {per_group}, Tensor(), Tensor(), eps)
                 .reshape(x.shape());
  // The affine part is per channel: weight and bias viewed as (C, 1, ...) broadcast over the rest.
  Shape per_channel(static_cast<std::size_t>(x.dim() - 1), 1);
  per_channel[0] = c;
  if (weight.defined()) y = y * weight.reshape(per_channel);
  if (bias.defined()) y = y + bias.reshape(per_channel);
  return y;
}

}  // namespace kiln
