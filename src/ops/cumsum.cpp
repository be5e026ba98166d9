// cumsum: running sums along one dimension. The tensor is read as (outer, n, inner)
// around that dimension; each (outer, inner) line is summed in order, in double for
// floating types (int64 for integers). The gradient of a running sum is the running
// sum of the gradient taken from the other end.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kiln/autograd/node.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

namespace {

// Lines per task: a block of up to kInnerBlock neighbouring lines, walked together
// down the summed dimension so every step reads and writes one contiguous run.
constexpr std::int64_t kInnerBlock = 256;

template <class T>
void scan_lines(const T* x, T* out, std::int64_t outer, std::int64_t n, std::int64_t inner, bool reverse) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>;
  const std::int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const std::int64_t per_task = std::max<std::int64_t>(1, n * std::min(inner, kInnerBlock));
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / per_task);
  parallel_for(0, outer * blocks, grain, [&](std::int64_t b, std::int64_t e) {
    std::vector<Acc> acc(static_cast<std::size_t>(std::min(inner, kInnerBlock)));
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / blocks, i0 = (task % blocks) * kInnerBlock;
      const std::int64_t width = std::min(kInnerBlock, inner - i0);
      std::fill(acc.begin(), acc.begin() + width, Acc(0));
      for (std::int64_t step = 0; step < n; ++step) {
        const std::int64_t j = reverse ? n - 1 - step : step;
        const std::int64_t base = (o * n + j) * inner + i0;
        for (std::int64_t i = 0; i < width; ++i) {
          acc[i] += static_cast<Acc>(x[base + i]);
          out[base + i] = static_cast<T>(acc[i]);
        }
      }
    }
  });
}

// The running sums of x (floating or int64) along dim, from its last entry backwards when `reverse`.
Tensor scan(const Tensor& x, std::int64_t dim, bool reverse) {
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const std::int64_t n = x.size(dim);
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (std::int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  if (out.numel() > 0) {
    if (x.device().is_cuda()) {
      detail::cuda_for(x).cumsum(detail::cuda_scalar(x.dtype(), "cumsum"), reverse, outer, n, inner,
                                 detail::dptr(xc), detail::dptr(out));
    } else {
      visit_dtype(x.dtype(), [&]<class T>() {
        scan_lines(detail::ptr<T>(xc), detail::ptr<T>(out), outer, n, inner, reverse);
      });
    }
  }
  if (should_record({x})) {
    attach_grad_fn(out, "cumsum", {x}, [dim, reverse](const Tensor& g) {
      return Grads{scan(g, dim, !reverse)};
    });
  }
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, std::int64_t dim_in) {
  KILN_CHECK(x.dim() >= 1, "cumsum: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "cumsum");
  KILN_CHECK(x.dtype() != kQ4_0, "cumsum: q4_0 blocks have no elements to sum; dequantize first");
  // Integers sum as int64, as in sum() and torch.cumsum.
  if (!is_floating(x.dtype()) && x.dtype() != kInt64) return scan(x.to(kInt64), dim, false);
  return scan(x, dim, false);
}

}  // namespace kiln
