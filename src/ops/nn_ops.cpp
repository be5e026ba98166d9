// linear, dropout (plain, per channel, alpha), embedding and batch_norm: forward and
// backward side by side.
#include "kiln/ops/nn_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cuda/counter_random.hpp"  // dropout_threshold
#include "kernels/cuda/index_math.hpp"      // batch_norm_scratch_doubles
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/ops/blas.hpp"
#include "src/ops/norm_recorded.hpp"

namespace kiln {

using detail::ptr;

namespace {
// C = op(A) op(B) + beta C over whole contiguous tensors, on the tensors' device.
void gemm_tensors(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const Tensor& a,
                  std::int64_t lda, const Tensor& b, std::int64_t ldb, double beta, Tensor& c,
                  std::int64_t ldc) {
  detail::check_same_dtype_device("linear", {a, b, c});
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta C (BLAS would also reject the leading dimension 0)
    if (beta == 0) c.fill_(0.0);
    return;
  }
  if (c.device().is_cuda()) {
    detail::cuda_for(c).gemm(detail::cuda_scalar(c.dtype(), "linear"), ta, tb, m, n, k, detail::dptr(a), lda,
                             detail::dptr(b), ldb, beta, detail::dptr(c), ldc);
    return;
  }
  visit_floating(c.dtype(), "linear", [&]<class T>() {
    detail::gemm(ta, tb, m, n, k, T(1), ptr<T>(a), lda, ptr<T>(b), ldb, static_cast<T>(beta), ptr<T>(c), ldc);
  });
}
}  // namespace

Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias) {
  KILN_CHECK(x1.dim() >= 1 && x2.dim() == x1.dim() && weight.dim() == 3 &&
                 Shape(x1.shape().begin(), x1.shape().end() - 1) ==
                     Shape(x2.shape().begin(), x2.shape().end() - 1) &&
                 weight.size(1) == x1.size(-1) && weight.size(2) == x2.size(-1),
             "bilinear: x1 of shape ", fmt(x1.shape()), ", x2 of shape ", fmt(x2.shape()),
             " and weight of shape ", fmt(weight.shape()),
             " do not fit; give x1 (..., in1), x2 (..., in2) with the same leading shape "
             "and weight (out, in1, in2)");
  const std::int64_t out = weight.size(0), in1 = weight.size(1), in2 = weight.size(2);
  KILN_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == out), "bilinear: bias of shape ",
             fmt(bias.defined() ? bias.shape() : Shape{}), " must be (", out, ")");
  const Tensor a = x1.reshape({-1, in1}), c = x2.reshape({-1, in2});
  const Tensor u = matmul(a, weight.permute({1, 0, 2}).reshape({in1, out * in2})).reshape({-1, out, in2});
  Tensor y = sum(u * c.unsqueeze(1), {-1});
  if (bias.defined()) y = y + bias;
  Shape shape(x1.shape().begin(), x1.shape().end() - 1);
  shape.push_back(out);
  return y.reshape(shape);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  detail::check_same_dtype_device("linear", {x, weight});
  detail::check_floating("linear", x);
  KILN_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features) but has shape ",
             fmt(weight.shape()));
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input of shape ", fmt(x.shape()), " has ",
             x.dim() ? x.size(-1) : 0, " features but weight of shape ", fmt(weight.shape()), " expects ",
             weight.size(1));
  const std::int64_t in = weight.size(1), out_f = weight.size(0);
  if (bias.defined()) {
    detail::check_same_dtype_device("linear", {x, bias});
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == out_f, "linear: bias of shape ", fmt(bias.shape()),
               " does not match ", out_f, " output features");
  }
  const std::int64_t m = numel_of(Shape(x.shape().begin(), x.shape().end() - 1));  // rows, even when in = 0
  const Tensor x2 = x.detach().reshape({m, in}).contiguous();                      // (M, in)
  const Tensor w = weight.detach().contiguous();                                   // (out, in)
  Shape out_shape = x.shape();
  out_shape.back() = out_f;
  Tensor y = Tensor::empty({m, out_f}, x.dtype(), x.device());
  double beta = 0;
  if (bias.defined()) {  // start from the bias in every row, then accumulate x W^T onto it
    if (y.device().is_cuda()) {
      y.copy_(bias.detach().expand({m, out_f}));
    } else {
      const Tensor bc = bias.detach().contiguous();
      const std::size_t row_bytes = out_f * itemsize(x.dtype());
      for (std::int64_t r = 0; r < m; ++r)
        std::memcpy(static_cast<char*>(y.raw_data_ptr()) + r * row_bytes, bc.raw_data_ptr(), row_bytes);
    }
    beta = 1;
  }
  gemm_tensors(false, true, m, out_f, in, x2, in, w, in, beta, y, out_f);
  Tensor out = y.reshape(out_shape);
  if (should_record({x, weight, bias})) {
    // y = x W^T + b:  dx = g W,  dW = g^T x,  db = sum over rows of g
    const bool nx = x.requires_grad(), nw = weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(out, "linear", {x, weight, bias},
                   [x, weight, m, nx, nw, nb](const Tensor& g) {
                     const std::int64_t in2 = weight.size(1), out2 = weight.size(0);
                     Grads grads(3);
                     if (is_grad_enabled()) {  // recording (create_graph): recorded products
                       const Tensor g2 = g.reshape({m, out2});
                       if (nx) grads[0] = matmul(g, weight);
                       if (nw) grads[1] = matmul(g2.transpose(0, 1), x.reshape({m, in2}));
                       if (nb) grads[2] = sum(g2, {0});
                       return grads;
                     }
                     const Tensor x2 = x.detach().reshape({m, in2}).contiguous();
                     const Tensor w = weight.detach().contiguous();
                     const std::int64_t m2 = m;
                     const Tensor g2 = g.reshape({m2, out2}).contiguous();
                     const Shape& xs = x.shape();
                     if (nx) {
                       Tensor gx = Tensor::empty({m2, in2}, g2.dtype(), g2.device());
                       gemm_tensors(false, false, m2, in2, out2, g2, out2, w, in2, 0.0, gx, in2);
                       grads[0] = gx.reshape(xs);
                     }
                     if (nw) {
                       Tensor gw = Tensor::empty({out2, in2}, g2.dtype(), g2.device());
                       gemm_tensors(true, false, out2, in2, m2, g2, out2, x2, in2, 0.0, gw, in2);
                       grads[1] = gw;
                     }
                     if (nb) grads[2] = sum(g2, {0});
                     return grads;
                   },
                   {nw ? x : Tensor(), nx ? weight : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

namespace {
// y = x * mask, where mask[i] is 1/(1-p) if element i of a counter-based stream keeps
// it, else 0 (cuda_kernels::dropout_keeps): one pass on the CPU (any thread count) or
// a GPU, the same mask on both for the same seed. The mask is never stored: the
// backward pass draws it again from the seed.
Tensor apply_dropout(const Tensor& x_in, std::uint64_t seed, double p) {
  const Tensor x = x_in.contiguous();
  const double scale = p == 1 ? 1.0 : 1.0 / (1.0 - p);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  visit_floating(x.dtype(), "dropout", [&]<class T>() {
    const std::uint64_t threshold = cuda_kernels::dropout_threshold(static_cast<T>(p));
    if (x.device().is_cuda()) {
      detail::cuda_for(x).dropout(detail::cuda_scalar(x.dtype(), "dropout"), x.numel(), detail::dptr(x), seed,
                                  threshold, scale, detail::dptr(y));
      return;
    }
    const T* in = x.data_ptr<T>();
    T* out = y.data_ptr<T>();
    const auto kernel = cpu::kernels<T>().dropout;
    const T kept = static_cast<T>(scale);
    parallel_for(0, x.numel(), std::int64_t(1) << 14, [=](std::int64_t b, std::int64_t e) {
      kernel(e - b, in + b, seed, static_cast<std::uint64_t>(b), threshold, kept, out + b);
    });
  });
  return y;
}
}  // namespace

namespace {
// dy/dx is the same scaled mask: the gradient passes through the same draw (recorded,
// itself a dropout with that seed, while the backward records).
Tensor dropout_with_seed(const Tensor& x, std::uint64_t seed, double p) {
  Tensor y = apply_dropout(x.detach(), seed, p);
  if (should_record({x})) {
    attach_grad_fn(y, "dropout", {x},
                   [seed, p](const Tensor& g) { return Grads{dropout_with_seed(g, seed, p)}; });
    mark_differentiable_backward(y);
  }
  return y;
}
}  // namespace

Tensor dropout(const Tensor& x, double p, bool training) {
  KILN_CHECK(p >= 0 && p <= 1, "dropout: probability p = ", p, " must be in [0, 1]");
  if (!training || p == 0) return x;
  detail::check_floating("dropout", x);
  return dropout_with_seed(x, default_generator().next_u64(), p);
}

// ---- Channel and alpha dropout -------------------------------------------------------
// One draw per channel of each sample (a noise tensor of shape (N, C, 1, ...), broadcast
// over the rest), the same counter-based stream as dropout's, so both devices give the
// same mask for a seed. The products with the noise carry the gradient.

namespace {

void check_probability(const char* op, double p) {
  KILN_CHECK(p >= 0 && p <= 1, op, ": probability p = ", p, " must be in [0, 1]");
}

// 1/(1-p) where kept and 0 where dropped, of `shape`, in x's dtype and on its device.
Tensor keep_scaled(const Shape& shape, const Tensor& x, double p) {
  return apply_dropout(ones(shape, x.dtype(), x.device()), default_generator().next_u64(), p);
}

// x's sample and channel sizes kept, the rest 1: the shape of per-channel noise.
Shape channel_noise_shape(const Tensor& x, bool batched) {
  Shape noise(static_cast<std::size_t>(x.dim()), 1);
  noise[0] = x.size(0);
  if (batched) noise[1] = x.size(1);
  return noise;
}

Tensor channel_dropout(const char* op, const Tensor& x, double p, bool training, std::int64_t spatial) {
  check_probability(op, p);
  const char* layout = spatial == 1   ? "(N, C, L) or (C, L)"
                       : spatial == 2 ? "(N, C, H, W) or (C, H, W)"
                                      : "(N, C, D, H, W) or (C, D, H, W)";
  KILN_CHECK(x.dim() == spatial + 1 || x.dim() == spatial + 2, op, ": input must be ", layout,
             " but has shape ", fmt(x.shape()));
  if (!training || p == 0) return x;
  detail::check_floating(op, x);
  return x * keep_scaled(channel_noise_shape(x, x.dim() == spatial + 2), x, p);
}

// y = x a keep + (keep - 1) alpha a + alpha a p, keep the 0/1 noise of `noise_shape`:
// a x + alpha a p where kept, -alpha a (1 - p) where dropped (torch's arrangement).
Tensor alpha_noise(const char* op, const Tensor& x, double p, bool training, bool per_channel) {
  check_probability(op, p);
  KILN_CHECK(!per_channel || x.dim() >= 2, op, ": input must be (N, C, ...) but has shape ", fmt(x.shape()));
  if (!training || p == 0) return x;
  detail::check_floating(op, x);
  if (p == 1) return x * 0.0;                   // every entry dropped: zeros, as torch's
  constexpr double alpha = 1.7580993408473766;  // -selu's limit at -infinity: scale * alpha of selu
  const double a = 1.0 / std::sqrt((alpha * alpha * p + 1.0) * (1.0 - p));
  const Shape noise = per_channel ? channel_noise_shape(x, true) : x.shape();
  const Tensor keep = ne(keep_scaled(noise, x, p), 0.0).to(x.dtype());
  return x * (keep * a) + (keep * (alpha * a) + (alpha * a * p - alpha * a));
}

}  // namespace

Tensor dropout1d(const Tensor& x, double p, bool training) {
  return channel_dropout("dropout1d", x, p, training, 1);
}
Tensor dropout2d(const Tensor& x, double p, bool training) {
  return channel_dropout("dropout2d", x, p, training, 2);
}
Tensor dropout3d(const Tensor& x, double p, bool training) {
  return channel_dropout("dropout3d", x, p, training, 3);
}
Tensor alpha_dropout(const Tensor& x, double p, bool training) {
  return alpha_noise("alpha_dropout", x, p, training, false);
}
Tensor feature_alpha_dropout(const Tensor& x, double p, bool training) {
  return alpha_noise("feature_alpha_dropout", x, p, training, true);
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<std::int64_t> padding_idx) {
  KILN_CHECK(weight.dim() == 2, "embedding: weight must be (num_embeddings, dim) but has shape ",
             fmt(weight.shape()));
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  const Tensor flat = indices.reshape({-1});
  Tensor rows = index_select(weight, 0, flat);
  if (padding_idx) {
    const std::int64_t num = weight.size(0), pad = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
    KILN_CHECK(pad >= 0 && pad < num, "embedding: padding_idx ", *padding_idx, " is outside the ", num,
               " rows of weight ", fmt(weight.shape()), "; give -", num, " .. ", num - 1);
    // The padding positions' rows, detached: the same values, no gradient back to that row.
    rows = where((flat == static_cast<double>(pad)).unsqueeze(1), rows.detach(), rows);
  }
  return rows.reshape(out_shape);
}

namespace {

// batch_norm's gradients in recorded ops, for a backward pass that records (create_graph).
// In training the statistics are x's own, over every dimension but the channels'; in
// evaluation they are constants, `mean` and `invstd` (float64, one per channel, on x's device).
Grads batch_norm_recorded_grads(const Tensor& x, const Tensor& weight, const Tensor& g, bool training,
                                const Tensor& mean, const Tensor& invstd, double eps, bool nx, bool nw,
                                bool nb) {
  const Shape per_channel = detail::channel_view_shape(x.dim(), x.size(1));
  Dims dims{0};
  for (std::int64_t k = 2; k < x.dim(); ++k) dims.push_back(k);
  const Tensor w = weight.defined() ? weight.reshape(per_channel) : Tensor();
  Tensor dx, xhat;
  if (training) {
    const detail::RecordedNorm r =
        detail::normalization_recorded_grad(x, w.defined() ? g * w : g, dims, eps, true);
    dx = r.dx;
    xhat = r.xhat;
  } else {
    const Tensor scale = invstd.to(x.dtype()).reshape(per_channel);
    xhat = (x - mean.to(x.dtype()).reshape(per_channel)) * scale;
    dx = w.defined() ? g * (w * scale) : g * scale;
  }
  return Grads{nx ? dx : Tensor(), nw ? sum(g * xhat, dims) : Tensor(), nb ? sum(g, dims) : Tensor()};
}

// batch_norm on a GPU: the same statistics, transform and backward rule as below,
// as the fused kernels of kernels/cuda/norm.cu (mean and invstd kept in double).
Tensor batch_norm_cuda(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                       const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps) {
  const std::int64_t n = x.size(0), c = x.size(1), l = x.numel() / std::max<std::int64_t>(n * c, 1);
  const Device dev = x.device();
  const Tensor xc = x.detach().contiguous();
  const auto& k = detail::cuda_for(x);
  const auto t = detail::cuda_scalar(x.dtype(), "batch_norm");
  auto maybe = [](const Tensor& v) { return v.defined() ? v.device_data_ptr() : nullptr; };
  const std::int64_t scratch_doubles = cuda_kernels::batch_norm_scratch_doubles(c, n * l);
  Tensor mean, invstd;
  if (training) {
    mean = Tensor::empty({c}, kFloat64, dev);
    invstd = Tensor::empty({c}, kFloat64, dev);
    const Tensor scratch = Tensor::empty({scratch_doubles}, kFloat64, dev);
    k.batch_norm_stats(t, n, c, l, xc.device_data_ptr(), eps, momentum, maybe(running_mean),
                       maybe(running_var), detail::dptr<double>(mean), detail::dptr<double>(invstd),
                       detail::dptr<double>(scratch));
  } else {
    NoGradGuard no_grad;
    mean = running_mean.detach().to(kFloat64).contiguous();
    const Tensor var = running_var.detach().to(kFloat64);
    invstd = div(detail::constant_like(var, 1.0), sqrt(add(var, detail::constant_like(var, eps))));
  }
  const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  k.batch_norm_apply(t, n, c, l, xc.device_data_ptr(), detail::dptr<double>(mean),
                     detail::dptr<double>(invstd), maybe(wc), maybe(bc), y.device_data_ptr());
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    attach_grad_fn(
        y, "batch_norm", {x, weight, bias},
        [x, weight, eps, xc, wc, mean, invstd, training, n, c, l, nx, nw, nb, t, maybe,
         scratch_doubles](const Tensor& g) {
          if (is_grad_enabled())  // recording (create_graph)
            return batch_norm_recorded_grads(x, weight, g, training, mean, invstd, eps, nx, nw, nb);
          const Tensor gc = g.contiguous();
          Grads grads(3);
          if (nx) grads[0] = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
          if (nw) grads[1] = Tensor::empty({c}, xc.dtype(), xc.device());
          if (nb) grads[2] = Tensor::empty({c}, xc.dtype(), xc.device());
          Tensor scratch = Tensor::empty({scratch_doubles}, kFloat64, xc.device());
          detail::cuda_for(xc).batch_norm_backward(t, n, c, l, xc.device_data_ptr(), gc.device_data_ptr(),
                                                   detail::dptr<double>(mean), detail::dptr<double>(invstd),
                                                   maybe(wc), training, maybe(grads[0]), maybe(grads[1]),
                                                   maybe(grads[2]), detail::dptr<double>(scratch));
          return grads;
        },
        {xc, wc, mean});  // mean: running_mean itself in evaluation, when float64
    mark_differentiable_backward(y);
  }
  return y;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps) {
  detail::check_floating("batch_norm", x);
  KILN_CHECK(x.dim() >= 2, "batch_norm: input must be (N, C) or (N, C, ...) but has shape ", fmt(x.shape()));
  const std::int64_t n = x.size(0), c = x.size(1), l = x.numel() / std::max<std::int64_t>(n * c, 1);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias}) {
    if (!t->defined()) continue;
    detail::check_same_dtype_device("batch_norm", {x, *t});
    KILN_CHECK(t->dim() == 1 && t->size(0) == c, "batch_norm: per-channel tensor of shape ", fmt(t->shape()),
               " does not match ", c, " channels of input ", fmt(x.shape()));
  }
  KILN_CHECK(training || (running_mean.defined() && running_var.defined()),
             "batch_norm: evaluation mode needs running_mean and running_var");
  KILN_CHECK(!training || n * l > 1, "batch_norm: training needs more than one value per channel, got input ",
             fmt(x.shape()));
  if (training)  // the running statistics are updated in place
    for (const Tensor* t : {&running_mean, &running_var})
      if (t->defined()) t->storage()->bump_version();
  if (x.device().is_cuda())
    return batch_norm_cuda(x, running_mean, running_var, weight, bias, training, momentum, eps);
  const Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  std::vector<double> mean, invstd(c);
  visit_floating(x.dtype(), "batch_norm", [&]<class T>() {
    const T* px = ptr<T>(xc);
    std::vector<double> var;
    if (training) {
      // Each channel's mean and biased variance over its n runs of l values.
      mean.assign(static_cast<std::size_t>(c), 0.0);
      var.assign(static_cast<std::size_t>(c), 0.0);
      const auto& kern = cpu::kernels<T>();
      parallel_for(0, c, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t ch = b; ch < e; ++ch)
          kern.norm_moments(n, c * l, l, px + ch * l, &mean[ch], &var[ch]);
      });
      if (running_mean.defined()) {  // running stats use the unbiased variance
        NoGradGuard no_grad;
        T* rm = ptr<T>(running_mean);
        T* rv = ptr<T>(running_var);
        const double unbias = static_cast<double>(n * l) / static_cast<double>(n * l - 1);
        for (std::int64_t ch = 0; ch < c; ++ch) {
          rm[ch] = static_cast<T>((1 - momentum) * rm[ch] + momentum * mean[ch]);
          rv[ch] = static_cast<T>((1 - momentum) * rv[ch] + momentum * var[ch] * unbias);
        }
      }
    } else {
      const std::vector<double> rm = running_mean.to_vector<double>();
      mean = rm;
      var = running_var.to_vector<double>();
    }
    for (std::int64_t ch = 0; ch < c; ++ch) invstd[ch] = 1.0 / std::sqrt(var[ch] + eps);
    const std::vector<double> w = weight.defined() ? weight.to_vector<double>() : std::vector<double>(c, 1.0);
    const std::vector<double> b = bias.defined() ? bias.to_vector<double>() : std::vector<double>(c, 0.0);
    T* py = ptr<T>(y);
    // y = (x - mean) * invstd * w + b = x * scale + shift
    parallel_for(0, n * c, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(l, 1)),
                 [&](std::int64_t beg, std::int64_t end) {
                   for (std::int64_t r = beg; r < end; ++r) {
                     const std::int64_t ch = r % c;
                     const T scale = static_cast<T>(invstd[ch] * w[ch]);
                     const T shift = static_cast<T>(b[ch] - mean[ch] * invstd[ch] * w[ch]);
                     for (std::int64_t k = 0; k < l; ++k) py[r * l + k] = px[r * l + k] * scale + shift;
                   }
                 });
  });
  if (should_record({x, weight, bias})) {
    const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
               nb = bias.defined() && bias.requires_grad();
    const Tensor wd = weight.defined() ? weight.detach() : Tensor();
    attach_grad_fn(
        y, "batch_norm", {x, weight, bias},
        [x, weight, eps, xc, wd, mean, invstd, training, n, c, l, nx, nw, nb](const Tensor& g) {
          if (is_grad_enabled())  // recording (create_graph)
            return batch_norm_recorded_grads(x, weight, g, training, from_vector(mean), from_vector(invstd),
                                             eps, nx, nw, nb);
          // xhat = (x - mean) invstd; dw = sum g xhat; db = sum g;
          // training: dx = w invstd (g - db/M - xhat dw/M)   (mean and var depend on x)
          // evaluation: dx = w invstd g
          const Tensor gc = g.contiguous();
          Grads grads(3);
          Tensor gx = nx ? Tensor::empty(xc.shape(), xc.dtype()) : Tensor();
          std::vector<double> sum_g(c, 0.0), sum_gx(c, 0.0);
          visit_floating(xc.dtype(), "batch_norm backward", [&]<class T>() {
            const T* px = ptr<T>(xc);
            const T* pg = ptr<T>(gc);
            const auto& kern = cpu::kernels<T>();
            const Tensor wc = wd.defined() ? wd.contiguous() : Tensor();
            const T* pw = wc.defined() ? ptr<T>(wc) : nullptr;
            T* pgx = nx ? ptr<T>(gx) : nullptr;
            parallel_for(0, c, 1, [&](std::int64_t b, std::int64_t e) {
              for (std::int64_t ch = b; ch < e; ++ch) {
                double sg = 0, sgx = 0;
                for (std::int64_t i = 0; i < n; ++i) {
                  const std::int64_t base = (i * c + ch) * l;
                  double sums[2];  // with no weight: sum g, sum g xhat
                  kern.norm_grad_sums(l, px + base, pg + base, nullptr, mean[ch], invstd[ch], nullptr,
                                      nullptr, sums);
                  sg += sums[0];
                  sgx += sums[1];
                }
                sum_g[ch] = sg;
                sum_gx[ch] = sgx;
                if (!nx) continue;
                // dx = invstd (g w - a - xhat b): a = w sg / m and b = w sgx / m in training, else 0.
                const double m = static_cast<double>(n * l), wch = pw ? static_cast<double>(pw[ch]) : 1.0;
                const double a = training ? wch * sg / m : 0.0, bb = training ? wch * sgx / m : 0.0;
                for (std::int64_t i = 0; i < n; ++i) {
                  const std::int64_t base = (i * c + ch) * l;
                  kern.norm_grad_apply(l, px + base, pg + base, pw ? pw + ch : nullptr, 0, mean[ch],
                                       invstd[ch], a, bb, pgx + base);
                }
              }
            });
          });
          grads[0] = gx;
          if (nw) grads[1] = from_vector(sum_gx).to(xc.dtype());
          if (nb) grads[2] = from_vector(sum_g).to(xc.dtype());
          return grads;
        },
        {xc, wd});
    mark_differentiable_backward(y);
  }
  return y;
}

}  // namespace kiln
