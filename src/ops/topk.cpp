// topk: the k largest (or smallest) entries along a dimension, best first. The
// positions are found per row (a partial sort on the CPU, a kernel on a GPU); the
// values are a gather at them, which carries the gradient.
#include <algorithm>
#include <numeric>
#include <vector>

#include "kiln/core/threads.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

namespace {

// Whether (a, ia) ranks before (b, ib): NaN above every number, then the larger
// (smaller) value, then the lower position; the GPU kernel ranks the same way.
template <class T>
bool ranks_before(T a, std::int64_t ia, T b, std::int64_t ib, bool largest) {
  const bool na = a != a, nb = b != b;  // NOLINT(misc-redundant-expression): NaN tests
  if (na || nb) {
    if (na && nb) return ia < ib;
    return largest ? na : nb;
  }
  if (a == b) return ia < ib;
  return largest ? a > b : a < b;
}

}  // namespace

ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t dim_in, bool largest) {
  KILN_CHECK(x.dim() >= 1, "topk: needs a tensor with at least one dimension");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "topk");
  const std::int64_t len = x.size(dim);
  KILN_CHECK(k >= 0 && k <= len, "topk: k = ", k, " is outside [0, ", len, "], the size of dimension ", dim,
             " of shape ", fmt(x.shape()));
  // Rows along the last dimension: `dim` moves there, and back at the end.
  std::vector<std::int64_t> order;
  for (std::int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) order.push_back(d);
  order.push_back(dim);
  const Tensor rows_view = x.detach().permute(order).contiguous();
  const std::int64_t rows = len == 0 ? 0 : rows_view.numel() / len;
  Shape picked_shape = rows_view.shape();
  picked_shape.back() = k;
  Tensor picked = Tensor::empty(picked_shape, kInt64, x.device());
  if (rows > 0 && k > 0) {
    if (x.device().is_cuda()) {
      detail::cuda_for(x).topk_rows(detail::cuda_scalar(x.dtype(), "topk"), largest, rows, len, k,
                                    detail::dptr(rows_view), detail::dptr<std::int64_t>(picked));
    } else {
      visit_dtype(x.dtype(), [&]<class T>() {
        const T* base = detail::ptr<T>(rows_view);
        std::int64_t* out = picked.data_ptr<std::int64_t>();
        parallel_for(0, rows, std::max<std::int64_t>(1, 16384 / len), [&](std::int64_t b, std::int64_t e) {
          std::vector<std::int64_t> candidates(static_cast<std::size_t>(len));
          for (std::int64_t r = b; r < e; ++r) {
            const T* row = base + r * len;
            std::iota(candidates.begin(), candidates.end(), 0);
            std::partial_sort(
                candidates.begin(), candidates.begin() + k, candidates.end(),
                [&](std::int64_t i, std::int64_t j) { return ranks_before(row[i], i, row[j], j, largest); });
            std::copy(candidates.begin(), candidates.begin() + k, out + r * k);
          }
        });
      });
    }
  }
  std::vector<std::int64_t> inverse(order.size());
  for (std::size_t p = 0; p < order.size(); ++p)
    inverse[static_cast<std::size_t>(order[p])] = static_cast<std::int64_t>(p);
  Tensor indices = picked.permute(inverse).contiguous();
  return {gather(x, dim, indices), indices};  // the values, differentiable in x
}

}  // namespace kiln
