// cumsum and prod: running sums and products along one dimension. The tensor is read
// as (outer, n, inner) around that dimension; each (outer, inner) line is combined in
// order, in double for floating types (int64 for integers).
//   cumsum: the gradient of a running sum is the running sum of the gradient taken
//           from the other end.
//   prod:   the last running product; each element's gradient is g times the product
//           of the others, i.e. of the elements before it and of those after it (two
//           exclusive running products, one from each end): no division, so elements
//           that are 0 get their true gradient.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

namespace {

using cpu::Scan;

// Lines per task: a block of up to kInnerBlock neighbouring lines, walked together
// down the dimension so every step reads and writes one contiguous run.
constexpr std::int64_t kInnerBlock = 256;

template <class T>
void scan_lines(Scan op, const T* x, T* out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                bool reverse) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>;
  const std::int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const std::int64_t per_task = std::max<std::int64_t>(1, n * std::min(inner, kInnerBlock));
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / per_task);
  parallel_for(0, outer * blocks, grain, [&](std::int64_t b, std::int64_t e) {
    std::vector<Acc> acc(static_cast<std::size_t>(std::min(inner, kInnerBlock)));
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / blocks, i0 = (task % blocks) * kInnerBlock;
      const std::int64_t width = std::min(kInnerBlock, inner - i0);
      std::fill(acc.begin(), acc.begin() + width, Acc(op == Scan::sum ? 0 : 1));
      for (std::int64_t step = 0; step < n; ++step) {
        const std::int64_t j = reverse ? n - 1 - step : step;
        const std::int64_t base = (o * n + j) * inner + i0;
        for (std::int64_t i = 0; i < width; ++i) {
          const Acc v = static_cast<Acc>(x[base + i]);
          switch (op) {
            case Scan::sum:
              out[base + i] = static_cast<T>(acc[i] += v);
              break;
            case Scan::product:
              out[base + i] = static_cast<T>(acc[i] *= v);
              break;
            case Scan::exclusive_product:
              out[base + i] = static_cast<T>(acc[i]);
              acc[i] *= v;
              break;
          }
        }
      }
    }
  });
}

// The running sums or products of x (floating or int64) along dim, from its last entry
// backwards when `reverse`. Not recorded.
Tensor scan(const Tensor& x, Scan op, std::int64_t dim, bool reverse, const char* name) {
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const std::int64_t n = x.size(dim);
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (std::int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  if (out.numel() == 0) return out;
  if (x.device().is_cuda())
    detail::cuda_for(x).scan(detail::cuda_scalar(x.dtype(), name), op, reverse, outer, n, inner,
                             detail::dptr(xc), detail::dptr(out));
  else
    visit_dtype(x.dtype(), [&]<class T>() {
      scan_lines(op, detail::ptr<T>(xc), detail::ptr<T>(out), outer, n, inner, reverse);
    });
  return out;
}

// Running sums along dim, recorded: the backward is the running sum from the other end.
Tensor running_sum(const Tensor& x, std::int64_t dim, bool reverse) {
  Tensor out = scan(x, Scan::sum, dim, reverse, "cumsum");
  if (should_record({x})) {
    attach_grad_fn(out, "cumsum", {x},
                   [dim, reverse](const Tensor& g) { return Grads{running_sum(g, dim, !reverse)}; });
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

Tensor prod(const Tensor& x_in, std::int64_t dim_in, bool keepdim) {
  KILN_CHECK(x_in.dim() >= 1, "prod: a 0-d tensor has no dimension ", dim_in,
             "; prod(x) multiplies every element");
  const std::int64_t dim = wrap_dim(dim_in, x_in.dim(), "prod");
  const Tensor x = widened(x_in, "prod");
  const std::int64_t n = x.size(dim);
  Tensor out;
  if (n == 0) {
    Shape shape = x.shape();
    shape[dim] = 1;
    out = ones(shape, x.dtype(), x.device());
  } else {
    out = scan(x, Scan::product, dim, false, "prod").narrow(dim, n - 1, 1).contiguous();
  }
  if (!keepdim) out = out.squeeze(dim);
  if (should_record({x})) {
    attach_grad_fn(out, "prod", {x},
                   [xd = x.detach(), dim, keepdim](const Tensor& g) {
                     const Tensor before = scan(xd, Scan::exclusive_product, dim, false, "prod");
                     const Tensor after = scan(xd, Scan::exclusive_product, dim, true, "prod");
                     return Grads{(keepdim ? g : g.unsqueeze(dim)) * before * after};
                   },
                   {x});
  }
  return out;
}

Tensor prod(const Tensor& x) { return prod(x.reshape({-1}), 0, false); }

}  // namespace kiln
