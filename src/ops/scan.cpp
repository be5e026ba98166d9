// cumsum, cumprod, cummax / cummin, logcumsumexp and prod: running combinations along
// one dimension. The tensor is read as (outer, n, inner) around that dimension; each
// (outer, inner) line is combined in order, in double for floating types (int64 for
// integers), by the steps of kernels/cuda/scan_combine.hpp on either device.
//   cumsum: the gradient of a running sum is the running sum of the gradient taken
//           from the other end.
//   cumprod: out_j = x_0 ... x_j, so x_i's gradient is the sum over j >= i of g_j times
//           the product of x_0..x_j without x_i. Before a line's first 0 that is the
//           running sum from the end of g out, divided by x_i; at the first 0 it is the
//           same sum over the running products with that 0 taken as 1 (the products
//           before it); past it, 0 (every product holds that 0).
//   cummax / cummin: the running extreme and the last position that reached it (a
//           NaN, once seen, stays), in one walk on the CPU; on a GPU the positions are
//           a second scan over where the entries equal the extremes. The gradient goes
//           to that position.
//   logcumsumexp: running log(sum(exp)), one logaddexp per step (no overflow, no
//           underflow of the early terms). The gradient of x_i is the sum over j >= i
//           of g_j exp(x_i - out_j), taken as exp(x_i + a running logaddexp from the
//           end of log(g) - out) for the positive and the negative parts of g apart;
//           that sum and its transpose are a node of their own, differentiable again
//           (logcumsumexp_products).
//   prod:   the product of each line, without running values (a line along the last
//           dimension longer than 32768 is multiplied in slices, whose products then
//           multiply in order; the GPU slices its few long lines too). Each element's
//           gradient is g times the product of the others, i.e. of the elements before
//           it and of those after it (two exclusive running products, one from each
//           end): no division, so elements that are 0 get their true gradient.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cuda/index_math.hpp"  // scan_scratch_slots
#include "kernels/cuda/scan_combine.hpp"
#include "kernels/cuda/wrapping.hpp"  // integer products wrap around, defined
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

namespace {

using cpu::Scan;

// Lines per task: a block of up to kInnerBlock neighbouring lines, walked together
// down the dimension so every step reads and writes one contiguous run (4 KiB of
// float32, a page, which the prefetchers follow); narrower when there would be fewer
// blocks than threads.
constexpr std::int64_t kInnerBlock = 1024;

std::int64_t inner_block(std::int64_t outer, std::int64_t inner) {
  const std::int64_t threads = get_num_threads();
  if (outer * ((inner + kInnerBlock - 1) / kInnerBlock) >= threads) return std::min(inner, kInnerBlock);
  const std::int64_t share = (inner + threads - 1) / threads;
  return std::min(inner, std::max<std::int64_t>(64, (share + 15) / 16 * 16));
}

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>;

// The product of each contiguous row of n values into totals[row]. The rows are cut
// into slices of at least kSliceSteps values (from n alone, so results do not depend
// on the thread count), whose products multiply in slice order. Slices are walked
// kRowsTogether at a time, step by step, so that their independent products overlap
// in the pipeline instead of each step waiting on the one before.
constexpr std::int64_t kRowsTogether = 8, kSliceSteps = 16384;

template <class T>
void row_products(const T* x, T* totals, std::int64_t rows, std::int64_t n) {
  const std::int64_t parts = std::clamp<std::int64_t>(n / kSliceSteps, 1, 64);
  const std::int64_t per_part = (n + parts - 1) / parts;
  std::vector<Acc<T>> partial(static_cast<std::size_t>(rows * parts));
  const std::int64_t grain =
      std::max<std::int64_t>(kRowsTogether, 32768 / std::max<std::int64_t>(1, per_part));
  parallel_for(0, rows * parts, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t k0 = b; k0 < e; k0 += kRowsTogether) {
      const std::int64_t m = std::min(kRowsTogether, e - k0);
      const T* in[kRowsTogether];
      std::int64_t len[kRowsTogether];
      Acc<T> s[kRowsTogether];
      for (std::int64_t q = 0; q < m; ++q) {  // slice k = (row k / parts, part k % parts)
        const std::int64_t k = k0 + q, begin = std::min(n, (k % parts) * per_part);
        in[q] = x + (k / parts) * n + begin;
        len[q] = std::min(per_part, n - begin);
        s[q] = 1;
      }
      const std::int64_t common = *std::min_element(len, len + m);  // only a row's last slice is short
      for (std::int64_t j = 0; j < common; ++j)
        for (std::int64_t q = 0; q < m; ++q)
          s[q] = cuda_kernels::wrapping_mul(s[q], static_cast<Acc<T>>(in[q][j]));
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t j = common; j < len[q]; ++j)
          s[q] = cuda_kernels::wrapping_mul(s[q], static_cast<Acc<T>>(in[q][j]));
      std::copy(s, s + m, partial.begin() + k0);
    }
  });
  for (std::int64_t r = 0; r < rows; ++r) {
    Acc<T> s = 1;
    for (std::int64_t p = 0; p < parts; ++p)
      s = cuda_kernels::wrapping_mul(s, partial[static_cast<std::size_t>(r * parts + p)]);
    totals[r] = static_cast<T>(s);
  }
}

// scan_lines' running values when inner == 1: each line is a contiguous row, walked by
// one loop. (Rows walked several at a time, as row_products does, went three times
// slower here: their stores, a page apart, collide in the caches.)
template <class T>
void scan_rows(Scan op, const T* x, T* out, std::int64_t rows, std::int64_t n, bool reverse) {
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, n));
  parallel_for(0, rows, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* in = x + r * n;
      T* o = out + r * n;
      Acc<T> s = cuda_kernels::scan_identity<Acc<T>>(op);
      for (std::int64_t step = 0; step < n; ++step) {
        const std::int64_t j = reverse ? n - 1 - step : step;
        const Acc<T> v = static_cast<Acc<T>>(in[j]);
        if (op == Scan::sum) {
          o[j] = static_cast<T>(s = cuda_kernels::wrapping_add(s, v));
        } else if (op == Scan::product) {
          o[j] = static_cast<T>(s = cuda_kernels::wrapping_mul(s, v));
        } else if (op == Scan::exclusive_product) {
          o[j] = static_cast<T>(s);
          s = cuda_kernels::wrapping_mul(s, v);
        } else {
          o[j] = static_cast<T>(s = cuda_kernels::scan_combine(op, s, v));
        }
      }
    }
  });
}

// The running values into `out`, or instead (out null, op a product) only each line's
// result into `totals` (outer, inner).
template <class T>
void scan_lines(Scan op, const T* x, T* out, T* totals, std::int64_t outer, std::int64_t n,
                std::int64_t inner, bool reverse) {
  KILN_ASSERT(out ? !totals : totals && op == Scan::product);
  if (inner == 1) return out ? scan_rows(op, x, out, outer, n, reverse) : row_products(x, totals, outer, n);
  const std::int64_t block = inner_block(outer, inner);
  const std::int64_t blocks = (inner + block - 1) / block;
  const std::int64_t per_task = std::max<std::int64_t>(1, n * block);
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / per_task);
  parallel_for(0, outer * blocks, grain, [&](std::int64_t b, std::int64_t e) {
    std::vector<Acc<T>> acc(static_cast<std::size_t>(block));
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / blocks, i0 = (task % blocks) * block;
      const std::int64_t width = std::min(block, inner - i0);
      std::fill(acc.begin(), acc.begin() + width, cuda_kernels::scan_identity<Acc<T>>(op));
      for (std::int64_t step = 0; step < n; ++step) {
        const std::int64_t j = reverse ? n - 1 - step : step;
        const std::int64_t base = (o * n + j) * inner + i0;
        const T* in = x + base;
        T* o = out ? out + base : nullptr;
        Acc<T>* a = acc.data();
        if (!o) {  // a product's result only
          for (std::int64_t i = 0; i < width; ++i)
            a[i] = cuda_kernels::wrapping_mul(a[i], static_cast<Acc<T>>(in[i]));
        } else if (op == Scan::sum) {
          for (std::int64_t i = 0; i < width; ++i)
            o[i] = static_cast<T>(a[i] = cuda_kernels::wrapping_add(a[i], static_cast<Acc<T>>(in[i])));
        } else if (op == Scan::product) {
          for (std::int64_t i = 0; i < width; ++i)
            o[i] = static_cast<T>(a[i] = cuda_kernels::wrapping_mul(a[i], static_cast<Acc<T>>(in[i])));
        } else if (op == Scan::exclusive_product) {
          for (std::int64_t i = 0; i < width; ++i) {
            o[i] = static_cast<T>(a[i]);
            a[i] = cuda_kernels::wrapping_mul(a[i], static_cast<Acc<T>>(in[i]));
          }
        } else {
          for (std::int64_t i = 0; i < width; ++i)
            o[i] = static_cast<T>(a[i] = cuda_kernels::scan_combine(op, a[i], static_cast<Acc<T>>(in[i])));
        }
      }
      if (totals)
        for (std::int64_t i = 0; i < width; ++i) totals[o * inner + i0 + i] = static_cast<T>(acc[i]);
    }
  });
}

// x (floating or int64) as (outer, n, inner) around dim.
struct Lines {
  std::int64_t outer = 1, n, inner = 1;
  Lines(const Tensor& x, std::int64_t dim) : n(x.size(dim)) {
    for (std::int64_t d = 0; d < dim; ++d) outer *= x.size(d);
    for (std::int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  }
};

// Device scratch for a GPU scan over these lines (index_math.hpp), or an empty tensor.
Tensor scan_scratch(const Lines& l, Device device) {
  const std::int64_t slots = cuda_kernels::scan_scratch_slots(l.outer, l.n, l.inner);
  return slots > 0 ? Tensor::empty({slots}, kFloat64, device) : Tensor();
}

// The running sums or products of x (floating or int64) along dim, from its last entry
// backwards when `reverse`; or, when `totals_only`, only each line's product, with dim
// kept as size 1. Not recorded.
Tensor combine_lines(const Tensor& x, Scan op, std::int64_t dim, bool reverse, bool totals_only,
                     const char* name) {
  const Tensor xc = x.detach().contiguous();
  Shape shape = x.shape();
  if (totals_only) shape[dim] = 1;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  const Lines l(x, dim);
  if (out.numel() == 0) return out;
  if (x.device().is_cuda()) {
    const Tensor scratch = scan_scratch(l, x.device());
    const auto& kernels = detail::cuda_for(x);
    const auto t = detail::cuda_scalar(x.dtype(), name);
    if (totals_only)
      kernels.product(t, l.outer, l.n, l.inner, detail::dptr(xc), detail::dptr(out),
                      detail::dptr_or_null(scratch));
    else
      kernels.scan(t, op, reverse, l.outer, l.n, l.inner, detail::dptr(xc), detail::dptr(out),
                   detail::dptr_or_null(scratch));
  } else {
    visit_dtype(x.dtype(), [&]<class T>() {
      T* o = detail::ptr<T>(out);
      scan_lines(op, detail::ptr<T>(xc), totals_only ? nullptr : o, totals_only ? o : nullptr, l.outer, l.n,
                 l.inner, reverse);
    });
  }
  return out;
}

Tensor scan(const Tensor& x, Scan op, std::int64_t dim, bool reverse, const char* name) {
  return combine_lines(x, op, dim, reverse, false, name);
}

// Running sums along dim, recorded: the backward is the running sum from the other end.
Tensor running_sum(const Tensor& x, std::int64_t dim, bool reverse) {
  Tensor out = scan(x, Scan::sum, dim, reverse, "cumsum");
  if (should_record({x})) {
    attach_grad_fn(out, "cumsum", {x},
                   [dim, reverse](const Tensor& g) { return Grads{running_sum(g, dim, !reverse)}; });
    mark_differentiable_backward(out);  // the rule is itself a recorded running sum
  }
  return out;
}

// Integers sum and multiply as int64, as in sum() and torch.cumsum / torch.prod.
Tensor widened(const Tensor& x, const char* op) {
  KILN_CHECK(x.dtype() != kQ4_0, op, ": q4_0 blocks have no elements to combine; dequantize first");
  return is_floating(x.dtype()) || x.dtype() == kInt64 ? x : x.to(kInt64);
}

}  // namespace

Tensor cumsum(const Tensor& x, std::int64_t dim_in) {
  KILN_CHECK(x.dim() >= 1, "cumsum: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "cumsum");
  return running_sum(widened(x, "cumsum"), dim, false);
}

namespace {
Tensor cumprod_grad(const Tensor& x, const Tensor& out, const Tensor& g, std::int64_t dim);  // below
}  // namespace

Tensor prod(const Tensor& x_in, std::int64_t dim_in, bool keepdim) {
  KILN_CHECK(x_in.dim() >= 1, "prod: a 0-d tensor has no dimension ", dim_in,
             "; prod(x) multiplies every element");
  const std::int64_t dim = wrap_dim(dim_in, x_in.dim(), "prod");
  const Tensor x = widened(x_in, "prod");
  Tensor out = combine_lines(x, Scan::product, dim, false, true, "prod");
  if (!keepdim) out = out.squeeze(dim);
  if (should_record({x})) {
    attach_grad_fn(out, "prod", {x},
                   [x, dim, keepdim](const Tensor& g) {
                     const Tensor gk = keepdim ? g : g.unsqueeze(dim);
                     const std::int64_t n = x.size(dim);
                     if (is_grad_enabled() && n > 0) {
                       // Recording (create_graph): prod is cumprod's last entry, so its gradient is
                       // cumprod's for a gradient that is g at the last position and 0 before it.
                       Shape before_last = x.shape();
                       before_last[static_cast<std::size_t>(dim)] = n - 1;
                       const Tensor g_last = cat({zeros(before_last, g.dtype(), g.device()), gk}, dim);
                       return Grads{cumprod_grad(x, cumprod(x, dim), g_last, dim)};
                     }
                     const Tensor xd = x.detach();
                     const Tensor before = scan(xd, Scan::exclusive_product, dim, false, "prod");
                     const Tensor after = scan(xd, Scan::exclusive_product, dim, true, "prod");
                     return Grads{gk * before * after};
                   },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor prod(const Tensor& x) { return prod(x.reshape({-1}), 0, false); }

namespace {

std::int64_t scan_dim(const Tensor& x, std::int64_t dim, const char* op) {
  KILN_CHECK(x.dim() >= 1, op, ": needs a tensor with at least one dimension, not a 0-d one");
  KILN_CHECK(x.dtype() != kQ4_0, op, ": q4_0 blocks have no elements to combine; dequantize first");
  return wrap_dim(dim, x.dim(), op);
}

// cumprod's gradient (see the top of this file), recorded in g; while a walk records
// (create_graph), in recorded ops of x and out as well (x and out then being tensors of the graph).
Tensor cumprod_grad(const Tensor& x, const Tensor& out, const Tensor& g, std::int64_t dim) {
  const Tensor zero = eq(x, 0.0);
  const Tensor zeros_so_far = scan(zero.to(kInt64), Scan::sum, dim, false, "cumprod");
  const Tensor before_zero = eq(zeros_so_far, 0.0);
  const Tensor first_zero = logical_and(zero, eq(zeros_so_far, 1.0));
  const Tensor before = running_sum(g * out, dim, true) / where(before_zero, x, 1.0);
  const Tensor zero_as_one = is_grad_enabled()
                                 ? cumprod(where(first_zero, 1.0, x), dim)
                                 : scan(where(first_zero, 1.0, x), Scan::product, dim, false, "cumprod");
  const Tensor at = running_sum(g * zero_as_one, dim, true);
  return where(before_zero, before, where(first_zero, at, 0.0));
}

// The two sums through which logcumsumexp's derivatives run, for out = logcumsumexp(x)
// along dim and the triangular K_ij = exp(x_i - out_j) (i at or before j in the scan's
// direction; each entry at most 1): K v, whose entry i is the sum over j at or after i of
// v_j exp(x_i - out_j), the gradient of x for v = g; and, transposed, K^T v, whose entry j is
// the sum over i at or before j of v_i exp(x_i - out_j). Computed in double as exp of running
// logaddexps, the positive and the negative parts of v apart, so that nothing overflows and
// float32's rounding of x + (a sum near -x) leaves the float32 result its digits. While a
// walk records it is a node whose rule is these sums again: K v is linear in v (gradient
// K^T u), x_i scales row i of K (u_i (K v)_i), out_j column j (-v_j (K^T u)_j); and for K^T v
// the same with the roles swapped. So logcumsumexp has derivatives of every order.
Tensor logcumsumexp_products(const Tensor& v, const Tensor& x, const Tensor& out, std::int64_t dim,
                             bool reverse, bool transposed) {
  Tensor result;
  {
    NoGradGuard no_grad;
    const Tensor x64 = x.to(kFloat64), out64 = out.to(kFloat64), v64 = v.to(kFloat64);
    const auto part = [&](const Tensor& vs) {
      const char* name = "logcumsumexp";
      return transposed ? exp(scan(log(vs) + x64, Scan::logaddexp, dim, reverse, name) - out64)
                        : exp(x64 + scan(log(vs) - out64, Scan::logaddexp, dim, !reverse, name));
    };
    result = (part(relu(v64)) - part(relu(-v64))).to(v.dtype());
  }
  if (should_record({v, x, out})) {
    attach_grad_fn(result, "logcumsumexp_backward", {v, x, out},
                   [v, x, out, od = result.detach(), dim, reverse, transposed](const Tensor& u) {
                     const Tensor own = output_for_backward(od);  // K v, or K^T v
                     const Tensor other = logcumsumexp_products(u, x, out, dim, reverse, !transposed);
                     // K v: (K^T u, u (K v), -v (K^T u)); K^T v: (K u, v (K u), -u (K^T v))
                     return transposed ? Grads{other, mul(v, other), neg(mul(u, own))}
                                       : Grads{other, mul(u, own), neg(mul(v, other))};
                   },
                   {v, x, out});
    mark_differentiable_backward(result);
  }
  return result;
}

// Running logaddexp along dim, recorded (see the top of this file).
Tensor running_logsumexp(const Tensor& x, std::int64_t dim, bool reverse) {
  Tensor out = scan(x, Scan::logaddexp, dim, reverse, "logcumsumexp");
  if (should_record({x})) {
    attach_grad_fn(out, "logcumsumexp", {x},
                   [x, od = out.detach(), dim, reverse](const Tensor& g) {
                     const bool recording = is_grad_enabled();
                     return Grads{logcumsumexp_products(g, recording ? x : x.detach(),
                                                        output_for_backward(od), dim, reverse, false)};
                   },
                   {x, out});
    mark_differentiable_backward(out);
  }
  return out;
}

// The running extreme of each (outer, inner) line of contiguous x and the last position
// that reached it, in one walk on the CPU (blocks of neighbouring lines as scan_lines).
template <class T>
void extreme_lines(Scan op, const T* x, T* values, std::int64_t* at, std::int64_t outer, std::int64_t n,
                   std::int64_t inner) {
  const std::int64_t block = inner_block(outer, inner);
  const std::int64_t blocks = (inner + block - 1) / block;
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, n * block));
  parallel_for(0, outer * blocks, grain, [&](std::int64_t b, std::int64_t e) {
    std::vector<Acc<T>> best(static_cast<std::size_t>(block));
    std::vector<std::int64_t> where(static_cast<std::size_t>(block));
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / blocks, i0 = (task % blocks) * block, width = std::min(block, inner - i0);
      std::fill(best.begin(), best.begin() + width, cuda_kernels::scan_identity<Acc<T>>(op));
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t base = (o * n + j) * inner + i0;
        for (std::int64_t i = 0; i < width; ++i) {
          const Acc<T> v = static_cast<Acc<T>>(x[base + i]);
          best[i] = cuda_kernels::scan_combine(op, best[i], v);
          if (v == best[i] || v != v) where[i] = j;  // a NaN entry always reaches it
          values[base + i] = static_cast<T>(best[i]);
          at[base + i] = where[i];
        }
      }
    }
  });
}

ValuesIndices running_extreme(const Tensor& x_in, std::int64_t dim_in, Scan op, const char* name) {
  const std::int64_t dim = scan_dim(x_in, dim_in, name);
  const Tensor x = x_in.detach();
  Tensor values, indices;
  if (!x.device().is_cuda()) {
    const Tensor xc = x.contiguous();
    values = Tensor::empty(x.shape(), x.dtype());
    indices = Tensor::empty(x.shape(), kInt64);
    const Lines l(x, dim);
    if (x.numel() > 0)
      visit_dtype(x.dtype(), [&]<class T>() {
        extreme_lines(op, detail::ptr<T>(xc), detail::ptr<T>(values), detail::ptr<std::int64_t>(indices),
                      l.outer, l.n, l.inner);
      });
  } else {
    // On a GPU: the running extreme, then the last position up to each one whose entry
    // equals it, a running maximum over the positions where they are equal.
    values = scan(x, op, dim, false, name);
    Shape line(static_cast<std::size_t>(x.dim()), 1);
    line[static_cast<std::size_t>(dim)] = x.size(dim);
    const Tensor positions = arange(x.size(dim)).to(x.device()).reshape(line);
    Tensor reached = eq(x, values);
    if (is_floating(x.dtype())) reached = logical_or(reached, isnan(x));  // a NaN entry always reaches it
    indices = scan(where(reached, positions, -1.0), Scan::max, dim, false, name);
  }
  if (should_record({x_in})) {
    attach_grad_fn(
        values, name, {x_in},
        [indices, dim, shape = x.shape(), dtype = x.dtype(), device = x.device()](const Tensor& g) {
          return Grads{scatter_add(zeros(shape, dtype, device), dim, indices, g)};  // recorded in g
        });
    mark_differentiable_backward(values);
  }
  return {values, indices};
}

}  // namespace

Tensor cumprod(const Tensor& x_in, std::int64_t dim_in) {
  const std::int64_t dim = scan_dim(x_in, dim_in, "cumprod");
  const Tensor x = widened(x_in, "cumprod");
  Tensor out = scan(x, Scan::product, dim, false, "cumprod");
  if (should_record({x})) {
    attach_grad_fn(out, "cumprod", {x},
                   [x, od = out.detach(), dim](const Tensor& g) {
                     return Grads{is_grad_enabled() ? cumprod_grad(x, output_for_backward(od), g, dim)
                                                    : cumprod_grad(x.detach(), od, g, dim)};
                   },
                   {x, out});
    mark_differentiable_backward(out);
  }
  return out;
}

ValuesIndices cummax(const Tensor& x, std::int64_t dim) {
  return running_extreme(x, dim, Scan::max, "cummax");
}
ValuesIndices cummin(const Tensor& x, std::int64_t dim) {
  return running_extreme(x, dim, Scan::min, "cummin");
}

Tensor logcumsumexp(const Tensor& x, std::int64_t dim_in) {
  const std::int64_t dim = scan_dim(x, dim_in, "logcumsumexp");
  detail::check_floating("logcumsumexp", x);
  return running_logsumexp(x, dim, false);
}

// ---- The trapezoidal rule -------------------------------------------------------------

namespace {
// The trapezoids' areas along dim: (y[i] + y[i + 1]) / 2 times the step to the next point.
Tensor trapezoids(const char* op, const Tensor& y, const Tensor& x, double dx, std::int64_t dim) {
  detail::check_floating(op, y);
  KILN_CHECK(y.dim() >= 1, op, ": y must have at least one dimension, got a 0-d tensor");
  const std::int64_t d = dim < 0 ? dim + y.dim() : dim;
  KILN_CHECK(d >= 0 && d < y.dim(), op, ": dim ", dim, " is out of range for y of shape ", fmt(y.shape()));
  const std::int64_t n = y.size(d);
  if (n == 0) return y.narrow(d, 0, 0);
  const Tensor heights = (y.narrow(d, 0, n - 1) + y.narrow(d, 1, n - 1)) * 0.5;
  if (!x.defined()) return heights * dx;
  Tensor steps;
  if (x.dim() == 1) {
    KILN_CHECK(x.size(0) == n, op, ": x of shape ", fmt(x.shape()), " must hold one point per sample of y (",
               n, " along dim ", d, ")");
    Shape along(static_cast<std::size_t>(y.dim()), 1);
    along[static_cast<std::size_t>(d)] = n - 1;
    steps = diff(x).reshape(along);
  } else {
    KILN_CHECK(x.dim() == y.dim() && x.size(d) == n, op, ": x of shape ", fmt(x.shape()),
               " must be 1-D or y's shape ", fmt(y.shape()));
    steps = diff(x, 1, d);
  }
  return heights * steps;
}
}  // namespace

Tensor trapezoid(const Tensor& y, double dx, std::int64_t dim) {
  const Tensor areas = trapezoids("trapezoid", y, Tensor(), dx, dim);
  return sum(areas, {dim < 0 ? dim + y.dim() : dim});
}
Tensor trapezoid(const Tensor& y, const Tensor& x, std::int64_t dim) {
  const Tensor areas = trapezoids("trapezoid", y, x, 1.0, dim);
  return sum(areas, {dim < 0 ? dim + y.dim() : dim});
}
Tensor cumulative_trapezoid(const Tensor& y, double dx, std::int64_t dim) {
  return cumsum(trapezoids("cumulative_trapezoid", y, Tensor(), dx, dim), dim < 0 ? dim + y.dim() : dim);
}
Tensor cumulative_trapezoid(const Tensor& y, const Tensor& x, std::int64_t dim) {
  return cumsum(trapezoids("cumulative_trapezoid", y, x, 1.0, dim), dim < 0 ? dim + y.dim() : dim);
}

}  // namespace kiln
