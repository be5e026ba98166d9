// Reductions (sum, mean, var, max/min, logsumexp) and softmax.
#include "kiln/ops/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/ref/ref_kernels.hpp"
#include "kernels/cuda/index_math.hpp"  // sum_scratch_slots
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

using detail::ptr;

namespace {

// Sorted, unique, non-negative dims; empty input means all dims.
Dims normalize_dims(const Dims& dims, std::int64_t ndim, const char* op) {
  Dims out;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (std::int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  if (ndim == 0) return {};  // a 0-d tensor's dimension 0 (or -1) is its one element: nothing to reduce
  std::sort(out.begin(), out.end());
  KILN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dimension is listed twice");
  return out;
}

Shape reduced_shape(const Shape& shape, const Dims& dims, bool keepdim) {
  Shape out;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
    const bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    if (!reduced)
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

// rows_fn over `rows` contiguous rows of `len` values into out[0 .. rows), the rows
// spread over the threads; one long row goes in up to 64 chunks whose partial results
// `combine` (a rows function over the partials, e.g. their sum) joins in order.
template <class T>
void reduce_rows(typename cpu::KernelTable<T>::RowsFn rows_fn, typename cpu::KernelTable<T>::RowsFn combine,
                 std::int64_t rows, std::int64_t len, const T* in, T* out) {
  if (rows == 1 && len > kElementwiseGrain) {
    const std::int64_t chunks = std::min<std::int64_t>(64, len / (kElementwiseGrain / 4));
    const std::int64_t step = (len + chunks - 1) / chunks;
    std::vector<T> partial(static_cast<std::size_t>(chunks), T(0));
    parallel_for(0, chunks, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t c = b; c < e; ++c) {
        const std::int64_t lo = c * step, hi = std::min(len, lo + step);
        if (lo < hi) rows_fn(1, hi - lo, in + lo, &partial[static_cast<std::size_t>(c)]);
      }
    });
    combine(1, chunks, partial.data(), out);
    return;
  }
  parallel_for(0, rows, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(len, 1)),
               [&](std::int64_t b, std::int64_t e) { rows_fn(e - b, len, in + b * len, out + b); });
}

// Sums x over `dims` (sorted and adjacent, or empty for a 0-d x), keeping them as
// size 1. No autograd. The data is viewed as (outer, r, inner) with r reduced. On a
// GPU the kernel divides each sum by `divisor` as it stores it; the CPU takes 1 only.
Tensor sum_forward(const Tensor& x, const Dims& dims, double divisor = 1.0) {
  KILN_ASSERT(dims.empty() || dims.back() - dims.front() + 1 == static_cast<std::int64_t>(dims.size()));
  const Tensor src = x.detach().contiguous();
  std::int64_t outer = 1, r = 1, inner = 1;
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    if (d < dims.front())
      outer *= x.shape()[d];
    else if (d <= dims.back())
      r *= x.shape()[d];
    else
      inner *= x.shape()[d];
  }
  Tensor out = Tensor::empty(reduced_shape(x.shape(), dims, true), x.dtype(), x.device());
  if (x.device().is_cuda()) {
    const std::int64_t slots = cuda_kernels::sum_scratch_slots(outer, r, inner);
    const Tensor scratch = slots > 0 ? Tensor::empty({slots}, kFloat64, x.device()) : Tensor();
    detail::cuda_for(x).sum(detail::cuda_scalar(x.dtype(), "sum"), outer, r, inner, detail::dptr(src),
                            detail::dptr(out), slots > 0 ? detail::dptr(scratch) : nullptr, divisor);
    return out;
  }
  KILN_ASSERT(divisor == 1.0);
  visit_dtype(x.dtype(), [&]<class T>() {
    const T* in = ptr<T>(src);
    T* o = ptr<T>(out);
    if (inner == 1) {
      typename cpu::KernelTable<T>::RowsFn rows_fn;
      if constexpr (std::is_floating_point_v<T>)
        rows_fn = cpu::kernels<T>().sum_rows;
      else
        rows_fn = cpu::ref::sum_rows<T>;
      reduce_rows<T>(rows_fn, rows_fn, outer, r, in, o);
      return;
    }
    // out[o, :] = sum_k in[o, k, :], accumulated row by row with the add kernel.
    typename cpu::KernelTable<T>::BinaryFn add_fn;
    if constexpr (std::is_floating_point_v<T>)
      add_fn = cpu::kernels<T>().binary[int(cpu::Binary::add)];
    else
      add_fn = cpu::ref::add<T>;
    parallel_for(0, outer, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        T* dst = o + i * inner;
        std::fill(dst, dst + inner, T(0));
        for (std::int64_t k = 0; k < r; ++k) add_fn(inner, dst, 1, in + (i * r + k) * inner, 1, dst);
      }
    });
  });
  return out;
}

// x summed over `dims` (normalized), kept as size 1, no autograd; the last pass
// divides by `divisor` (GPU only). Each run of adjacent dims is reduced in turn, last
// run first: every step is then a block reduction over contiguous memory, with no
// transposing copy.
Tensor sum_dims(const Tensor& x, const Dims& dims, double divisor) {
  Tensor kept = x.detach();
  for (std::size_t end = dims.size(); end > 0;) {
    std::size_t begin = end - 1;
    while (begin > 0 && dims[begin - 1] + 1 == dims[begin]) --begin;
    kept = sum_forward(kept, Dims(dims.begin() + begin, dims.begin() + end), begin == 0 ? divisor : 1.0);
    end = begin;
  }
  return dims.empty() ? kept.clone() : kept;  // a 0-d tensor: its own sum (and mean)
}

}  // namespace

// d/dx sum(x) = 1 for every summed element: the gradient is broadcast back.
Tensor sum(const Tensor& x, const Dims& dims_in, bool keepdim) {
  // Integer sums accumulate in int64 (as PyTorch): a uint8 mask summed in uint8 would wrap.
  if (!is_floating(x.dtype()) && x.dtype() != kInt64) return sum(x.to(kInt64), dims_in, keepdim);
  const Dims dims = normalize_dims(dims_in, x.dim(), "sum");
  const Tensor kept = sum_dims(x, dims, 1.0);
  Tensor out = keepdim ? kept : kept.detach().reshape(reduced_shape(x.shape(), dims, false));
  if (should_record({x})) {
    attach_grad_fn(out, "sum", {x}, [xs = x.shape(), ks = kept.shape()](const Tensor& g) {
      return Grads{g.reshape(ks).expand(xs)};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor mean(const Tensor& x, const Dims& dims_in, bool keepdim) {
  detail::check_floating("mean", x);
  const Dims dims = normalize_dims(dims_in, x.dim(), "mean");
  std::int64_t count = 1;
  for (std::int64_t d : dims) count *= x.shape()[d];
  if (!x.device().is_cuda())
    return div(sum(x, dims, keepdim), detail::constant_like(x, static_cast<double>(count)));
  // On a GPU the sum's last pass divides as it stores: one kernel, no temporary.
  const Tensor kept = sum_dims(x, dims, static_cast<double>(count));
  Tensor out = keepdim ? kept : kept.detach().reshape(reduced_shape(x.shape(), dims, false));
  if (should_record({x})) {  // d/dx mean(x) = 1/count for every element averaged
    const Tensor divisor = detail::constant_like(x, static_cast<double>(count));
    attach_grad_fn(out, "mean", {x}, [xs = x.shape(), ks = kept.shape(), divisor](const Tensor& g) {
      return Grads{div(g, divisor).reshape(ks).expand(xs)};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

// var = sum((x - mean)^2) / (N - correction); composite, so autograd comes for free.
Tensor var(const Tensor& x, const Dims& dims_in, bool keepdim, int correction) {
  detail::check_floating("var", x);
  const Dims dims = normalize_dims(dims_in, x.dim(), "var");
  std::int64_t count = 1;
  for (std::int64_t d : dims) count *= x.shape()[d];
  const Tensor centered = sub(x, mean(x, dims, true));
  const double denom = std::max<double>(0.0, static_cast<double>(count - correction));
  return div(sum(mul(centered, centered), dims, keepdim), detail::constant_like(x, denom));
}

// sqrt(var), with its gradient (x - mean) / ((count - correction) std) written out so that it
// can be 0 where std is 0 (a slice whose elements are all equal), PyTorch's choice, instead of
// the 0 / 0 of differentiating sqrt at 0.
Tensor std(const Tensor& x, const Dims& dims_in, bool keepdim, int correction) {
  detail::check_floating("std", x);
  const Dims dims = normalize_dims(dims_in, x.dim(), "std");
  std::int64_t count = 1;
  for (std::int64_t d : dims) count *= x.shape()[d];
  const double denom = std::max<double>(0.0, static_cast<double>(count - correction));
  Tensor centered, kept;
  {
    NoGradGuard no_grad;
    centered = sub(x.detach(), mean(x.detach(), dims, true));
    kept = sqrt(div(sum(mul(centered, centered), dims, true), detail::constant_like(x, denom)));
  }
  Tensor out = kept.reshape(reduced_shape(x.shape(), dims, keepdim));
  if (should_record({x})) {
    attach_grad_fn(out, "std", {x}, [x, dims, centered, kept, denom](const Tensor& g) {
      // While the walk records, the centred values and the std again as functions of x.
      const Tensor c = is_grad_enabled() ? sub(x, mean(x, dims, true)) : centered;
      const Tensor s =
          is_grad_enabled() ? sqrt(div(sum(mul(c, c), dims, true), detail::constant_like(x, denom))) : kept;
      const Tensor zero = detail::constant_like(kept, 0.0);
      const Tensor flat = eq(kept, zero);  // divided by 1 there instead, so no 0 / 0 reaches a later walk
      const Tensor scale =
          div(c, mul(where(flat, detail::constant_like(kept, 1.0), s), detail::constant_like(kept, denom)));
      return Grads{where(flat, zero, mul(g.reshape(kept.shape()), scale))};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

// ||x||_p = (sum |x|^p)^(1/p); p = 1 and p = inf are composed (sum and max of |x|, whose
// gradients are 0 at 0). Otherwise the gradient, sign(x) |x|^(p-1) / ||x||^(p-1)
// (x / ||x|| for p = 2), is written out so that it can be 0 where the norm is 0, PyTorch's
// choice of subgradient, instead of 0 / 0.
namespace {

// On the CPU, the sums of squares over a trailing block of dims (every dim included) in
// one pass, keepdim shape: the sumsq_rows kernel over contiguous rows (reduce_rows).
// Undefined when x is on a GPU or the dims are not trailing.
Tensor trailing_sum_of_squares(const Tensor& x, const Dims& dims) {
  if (x.device().is_cuda() || dims.empty() || dims.back() != x.dim() - 1 ||
      dims.back() - dims.front() + 1 != static_cast<std::int64_t>(dims.size()))
    return Tensor();
  const Tensor src = x.detach().contiguous();
  std::int64_t len = 1;
  for (std::int64_t d : dims) len *= x.size(d);
  const std::int64_t rows = len == 0 ? 0 : x.numel() / len;
  Tensor out = Tensor::empty(reduced_shape(x.shape(), dims, true), x.dtype());
  visit_floating(x.dtype(), "norm", [&]<class T>() {
    const T* in = ptr<T>(src);
    T* o = ptr<T>(out);
    if (len == 0)
      std::fill(o, o + out.numel(), T(0));
    else
      reduce_rows<T>(cpu::kernels<T>().sumsq_rows, cpu::kernels<T>().sum_rows, rows, len, in, o);
  });
  return out;
}

}  // namespace

Tensor norm(const Tensor& x, double p, const Dims& dims_in, bool keepdim) {
  detail::check_floating("norm", x);
  KILN_CHECK(p >= 1, "norm: p must be at least 1 (1, 2, ..., or INFINITY), not ", p);
  const Dims dims = normalize_dims(dims_in, x.dim(), "norm");
  const Shape out_shape = reduced_shape(x.shape(), dims, keepdim);
  if (p == 1) return sum(abs(x), dims, keepdim);
  if (std::isinf(p)) {
    KILN_CHECK(x.numel() > 0, "norm: the infinity norm of an empty tensor (shape ", fmt(x.shape()),
               ") is undefined");
    Tensor m = abs(x);
    for (std::int64_t d : dims) m = max(m, d, true).values;
    return m.reshape(out_shape);
  }
  Tensor kept;
  {
    NoGradGuard no_grad;
    const Tensor xd = x.detach();
    if (p == 2) {
      const Tensor squares = trailing_sum_of_squares(xd, dims);
      kept = sqrt(squares.defined() ? squares : sum(mul(xd, xd), dims, true));
    } else {
      kept = pow(sum(pow(abs(xd), p), dims, true), 1.0 / p);
    }
  }
  Tensor out = kept.reshape(out_shape);
  if (should_record({x})) {
    attach_grad_fn(out, "norm", {x},
                   [x, od = out.detach(), ks = kept.shape(), p](const Tensor& g) {
                     const Tensor n = output_for_backward(od).reshape(ks);
                     const Tensor scale =
                         p == 2 ? div(x, n) : mul(sign(x), div(pow(abs(x), p - 1), pow(n, p - 1)));
                     const Tensor zero = detail::constant_like(n, 0.0);
                     return Grads{where(eq(n, zero), zero, mul(g.reshape(ks), scale))};
                   },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor normalize(const Tensor& x, double p, std::int64_t dim, double eps) {
  return div(x, clamp(norm(x, p, {dim}, true), eps, INFINITY));
}

Tensor renorm(const Tensor& x, double p, std::int64_t dim, double maxnorm) {
  detail::check_floating("renorm", x);
  KILN_CHECK(p >= 1, "renorm: p must be at least 1 (1, 2, ..., or INFINITY), not ", p);
  KILN_CHECK(maxnorm >= 0, "renorm: maxnorm must be 0 or more, not ", maxnorm);
  KILN_CHECK(x.dim() >= 1, "renorm: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t d = normalize_dims({dim}, x.dim(), "renorm").front();
  Dims others;
  for (std::int64_t i = 0; i < x.dim(); ++i)
    if (i != d) others.push_back(i);
  const Tensor norms = norm(x, p, others, /*keepdim=*/true);
  return mul(x, where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0));
}

Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, std::int64_t dim, double eps) {
  detail::check_floating("cosine_similarity", x1);
  KILN_CHECK(eps >= 0, "cosine_similarity: eps must be >= 0, not ", eps);
  const Tensor product = mul(x1, x2);  // in the broadcast shape (checked there)
  const Shape& shape = product.shape();
  const Tensor lengths = mul(norm(x1.expand(shape), 2, {dim}), norm(x2.expand(shape), 2, {dim}));
  return div(sum(product, {dim}), clamp(lengths, eps, INFINITY));
}

namespace {

// Max or min along `dim`: the dim is moved last so each row is contiguous.
ValuesIndices extreme(const Tensor& x, std::int64_t dim_in, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  KILN_CHECK(x.dim() > 0, name, ": needs at least one dimension; reshape a 0-d tensor with .reshape({1})");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), name);
  const std::int64_t len = x.shape()[dim];
  KILN_CHECK(len > 0, name, ": dimension ", dim, " of shape ", fmt(x.shape()),
             " is empty; there is no extreme value to return");
  const Tensor rows = x.detach().transpose(dim, -1).contiguous();
  const std::int64_t count = x.numel() / len;
  Shape kept = x.shape();
  kept[dim] = 1;
  Tensor values = Tensor::empty({count}, x.dtype(), x.device());
  Tensor indices = Tensor::empty({count}, kInt64, x.device());
  if (x.device().is_cuda()) {
    const std::int64_t slots = cuda_kernels::sum_scratch_slots(count, len, 1);
    const Tensor scratch = slots > 0 ? Tensor::empty({slots}, kInt64, x.device()) : Tensor();
    detail::cuda_for(x).extreme_rows(
        detail::cuda_scalar(x.dtype(), name), !is_max, count, len, detail::dptr(rows), detail::dptr(values),
        detail::dptr<std::int64_t>(indices), slots > 0 ? detail::dptr<std::int64_t>(scratch) : nullptr);
  } else
    visit_dtype(x.dtype(), [&]<class T>() {
      typename cpu::KernelTable<T>::ArgRowsFn fn;
      if constexpr (std::is_floating_point_v<T>)
        fn = is_max ? cpu::kernels<T>().max_rows : cpu::kernels<T>().min_rows;
      else
        fn = is_max ? cpu::ref::max_rows<T> : cpu::ref::min_rows<T>;
      const T* in = ptr<T>(rows);
      T* v = ptr<T>(values);
      std::int64_t* ix = ptr<std::int64_t>(indices);
      parallel_for(0, count, std::max<std::int64_t>(1, kElementwiseGrain / len),
                   [&](std::int64_t b, std::int64_t e) { fn(e - b, len, in + b * len, v + b, ix + b); });
    });
  // rows are ordered like x with `dim` swapped to the end; undo that ordering.
  Shape swapped = x.shape();
  std::swap(swapped[dim], swapped.back());
  swapped.back() = 1;
  values = values.reshape(swapped).transpose(dim, -1).contiguous();
  indices = indices.reshape(swapped).transpose(dim, -1).contiguous();
  if (!keepdim) {
    values = values.squeeze(dim);
    indices = indices.squeeze(dim);
  }
  if (should_record({x})) {
    // d/dx max(x) = 1 at the chosen element, 0 elsewhere
    attach_grad_fn(
        values, name, {x},
        [xs = x.shape(), dtype = x.dtype(), kept, dim, ixd = indices.reshape(kept)](const Tensor& g) {
          if (g.device().is_cuda() ||
              is_grad_enabled()) {  // gx = g where the position along dim is the chosen index
            Shape along(xs.size(), 1);
            along[dim] = xs[dim];
            const Tensor position = arange(xs[dim]).reshape(along).to(g.device());
            return Grads{mul(eq(position, ixd).to(dtype), g.reshape(kept))};
          }
          Tensor gx = zeros(xs, dtype);
          const Tensor gk = g.reshape(kept).contiguous();
          visit_floating(dtype, "max backward", [&]<class T>() {
            // Walk every kept position: its index picks one element along `dim`.
            const Strides& gs = gx.strides();
            const std::int64_t n = gk.numel();
            const T* pg = ptr<T>(gk);
            const Tensor ic = ixd.contiguous();
            const std::int64_t* pi = ptr<std::int64_t>(ic);
            T* out = ptr<T>(gx);
            const Strides ks = contiguous_strides(kept);
            for (std::int64_t k = 0; k < n; ++k) {
              std::int64_t rem = k, off = 0;
              for (std::size_t d = 0; d < kept.size(); ++d) {
                const std::int64_t i = rem / ks[d];
                rem %= ks[d];
                off += (static_cast<std::int64_t>(d) == dim ? pi[k] : i) * gs[d];
              }
              out[off] += pg[k];
            }
          });
          return Grads{gx};
        });
    mark_differentiable_backward(values);
  }
  return {values, indices};
}

}  // namespace

// Counts of the nonzero (or zero) entries, compared with 0: sum runs any dtype's uint8
// mask as int64, on either device.
Tensor any(const Tensor& x, const Dims& dims, bool keepdim) {
  KILN_CHECK(x.defined(), "any: the tensor is undefined");
  return gt(sum(ne(x, 0.0), dims, keepdim), 0.0);
}
Tensor all(const Tensor& x, const Dims& dims, bool keepdim) {
  KILN_CHECK(x.defined(), "all: the tensor is undefined");
  return eq(sum(eq(x, 0.0), dims, keepdim), 0.0);
}

ValuesIndices max(const Tensor& x, std::int64_t dim, bool keepdim) { return extreme(x, dim, keepdim, true); }
ValuesIndices min(const Tensor& x, std::int64_t dim, bool keepdim) { return extreme(x, dim, keepdim, false); }
namespace {
// The extreme of all elements: along the flattened tensor, whose error names x's own shape.
Tensor extreme_of_all(const Tensor& x, bool is_max) {
  KILN_CHECK(x.numel() > 0, is_max ? "max" : "min", ": the tensor of shape ", fmt(x.shape()),
             " is empty; there is no extreme value to return");
  return extreme(x.reshape({-1}), 0, false, is_max).values;
}
}  // namespace

Tensor max(const Tensor& x) { return extreme_of_all(x, true); }
Tensor min(const Tensor& x) { return extreme_of_all(x, false); }
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return extreme(x, dim, keepdim, true).indices;
}
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return extreme(x, dim, keepdim, false).indices;
}

// logsumexp(x) = m + log sum exp(x - m), m = max(x) held constant (it cancels in the gradient).
namespace {
// amax / amin: the extreme over `dims`, its gradient split evenly among the entries equal
// to it (as torch's). The value is m plus a sum of zeros whose gradient is the split;
// where m is infinite or NaN it is m itself, with no gradient.
Tensor extreme_split(const Tensor& x, const Dims& dims_in, bool keepdim, bool largest, const char* name) {
  const Dims dims = normalize_dims(dims_in, x.dim(), name);
  for (std::int64_t d : dims)
    KILN_CHECK(x.size(d) > 0, name, ": dimension ", d, " of shape ", fmt(x.shape()),
               " is empty, and an empty slice has no extreme");
  Tensor m = x.detach();
  {
    NoGradGuard no_grad;
    for (std::int64_t d : dims) m = (largest ? max(m, d, true) : min(m, d, true)).values;
  }
  if (!is_floating(x.dtype()))  // integers: the extremes themselves (no gradient to share)
    return keepdim ? m : m.reshape(reduced_shape(x.shape(), dims, false));
  const Tensor ties = eq(x.detach(), m);
  const Tensor share = div(where(ties, sub(x, m), 0.0), sum(ties.to(x.dtype()), dims, true));
  const Tensor out = where(isfinite(m), add(m, sum(share, dims, true)), m);
  return keepdim ? out : out.reshape(reduced_shape(x.shape(), dims, false));
}
}  // namespace

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  return extreme_split(x, dims, keepdim, true, "amax");
}
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  return extreme_split(x, dims, keepdim, false, "amin");
}

Tensor nansum(const Tensor& x, const Dims& dims, bool keepdim) {
  detail::check_floating("nansum", x);
  return sum(where(isnan(x), 0.0, x), dims, keepdim);
}
Tensor nanmean(const Tensor& x, const Dims& dims, bool keepdim) {
  detail::check_floating("nanmean", x);
  return div(nansum(x, dims, keepdim), sum(logical_not(isnan(x)).to(x.dtype()), dims, keepdim));
}
Tensor count_nonzero(const Tensor& x, const Dims& dims) { return sum(ne(x, 0.0).to(kInt64), dims); }

Tensor logsumexp(const Tensor& x, const Dims& dims_in, bool keepdim) {
  detail::check_floating("logsumexp", x);
  const Dims dims = normalize_dims(dims_in, x.dim(), "logsumexp");
  // Over an empty dimension the sum of exponentials is 0 and its log -inf, as in PyTorch:
  // sum() gives the shape (and the graph, whose gradient is empty), -inf the value.
  if (std::any_of(dims.begin(), dims.end(), [&](std::int64_t d) { return x.size(d) == 0; }))
    return sum(x, dims, keepdim) + (-INFINITY);
  Tensor m = x.detach();
  {
    NoGradGuard no_grad;
    for (std::int64_t d : dims) m = max(m, d, true).values;
    // An all -inf slice would give inf - inf; its result is -inf either way.
    m = where(eq(abs(m), detail::constant_like(m, INFINITY)), zeros_like(m), m);
  }
  Tensor out = add(log(sum(exp(sub(x, m)), dims, true)), m);
  return keepdim ? out : out.reshape(reduced_shape(x.shape(), dims, false));
}

namespace {
// Runs a rows kernel (softmax or log_softmax) along `dim`.
template <class Pick>
Tensor rows_along(const Tensor& x, std::int64_t dim, const char* name, Pick pick) {
  detail::check_floating(name, x);
  KILN_CHECK(x.dim() > 0, name, ": needs at least one dimension");
  const std::int64_t d = wrap_dim(dim, x.dim(), name);
  const Tensor rows = x.detach().transpose(d, -1).contiguous();
  const std::int64_t len = x.shape()[d];
  Tensor out = Tensor::empty(rows.shape(), x.dtype(), x.device());
  if (len == 0) return out.transpose(d, -1);
  if (x.device().is_cuda()) {
    const std::int64_t count = rows.numel() / len, slots = cuda_kernels::sum_scratch_slots(count, len, 1);
    const Tensor scratch = slots > 0 ? Tensor::empty({3 * slots}, kFloat64, x.device()) : Tensor();
    detail::cuda_for(x).softmax_rows(detail::cuda_scalar(x.dtype(), name),
                                     std::string_view(name) == "log_softmax", count, len, detail::dptr(rows),
                                     detail::dptr(out), detail::dptr_or_null<double>(scratch));
    return out.transpose(d, -1).contiguous();
  }
  visit_floating(x.dtype(), name, [&]<class T>() {
    const auto fn = pick(cpu::kernels<T>());
    const std::int64_t count = rows.numel() / len;
    parallel_for(0, count, std::max<std::int64_t>(1, kElementwiseGrain / len),
                 [&](std::int64_t b, std::int64_t e) {
                   fn(e - b, len, ptr<T>(rows) + b * len, ptr<T>(out) + b * len);
                 });
  });
  return out.transpose(d, -1).contiguous();
}
}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  Tensor y = rows_along(x, dim, "softmax", [](const auto& k) { return k.softmax_rows; });
  if (should_record({x})) {
    // dx = y * (g - sum(g * y)) along dim
    attach_grad_fn(y, "softmax", {x},
                   [yd = y.detach(), dim](const Tensor& g) {
                     const Tensor p = output_for_backward(yd);
                     return Grads{mul(p, sub(g, sum(mul(g, p), {dim}, true)))};
                   },
                   {y});
    mark_differentiable_backward(y);
  }
  return y;
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  Tensor y = rows_along(x, dim, "log_softmax", [](const auto& k) { return k.log_softmax_rows; });
  if (should_record({x})) {
    // dx = g - softmax(x) * sum(g) along dim, softmax(x) = exp(y)
    attach_grad_fn(y, "log_softmax", {x},
                   [yd = y.detach(), dim](const Tensor& g) {
                     return Grads{sub(g, mul(exp(output_for_backward(yd)), sum(g, {dim}, true)))};
                   },
                   {y});
    mark_differentiable_backward(y);
  }
  return y;
}

SpreadMean var_mean(const Tensor& x, const Dims& dims, bool keepdim, int correction) {
  return {var(x, dims, keepdim, correction), mean(x, dims, keepdim)};
}
SpreadMean std_mean(const Tensor& x, const Dims& dims, bool keepdim, int correction) {
  return {std(x, dims, keepdim, correction), mean(x, dims, keepdim)};
}

MinMax aminmax(const Tensor& x, std::optional<std::int64_t> dim, bool keepdim) {
  KILN_CHECK(x.numel() > 0, "aminmax: x of shape ", fmt(x.shape()),
             " is empty; it has no smallest or largest entry");
  if (!dim) {
    KILN_CHECK(!keepdim || x.dim() == 0, "aminmax: keepdim needs a dim");
    return {amin(x), amax(x)};
  }
  return {amin(x, {*dim}, keepdim), amax(x, {*dim}, keepdim)};
}

}  // namespace kiln
