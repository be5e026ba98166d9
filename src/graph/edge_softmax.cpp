// Per-edge pieces of a DeviceCsr: its COO row indices (made on first use) and the
// softmax over each row's entries that graph attention normalises its scores with.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/graph/csr.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/graph/balanced_rows.hpp"

namespace kiln::graph {

const Tensor& DeviceCsr::row_idx() const {
  std::call_once(a_->pattern->row_idx_made, [a = a_->pattern.get()] {
    const Device device = a->row_ptr.device();
    const std::int64_t nnz = a->col_idx.numel();
    a->row_idx = Tensor::empty({nnz}, kInt64, device);
    if (device.is_cuda()) {
      detail::cuda_for(a->row_ptr)
          .csr_row_indices({a->rows, nnz, a->longest_row, detail::dptr<std::int64_t>(a->row_ptr)},
                           detail::dptr<std::int64_t>(a->row_idx));
      return;
    }
    const std::int64_t* row_ptr = a->row_ptr.data_ptr<std::int64_t>();
    std::int64_t* out = a->row_idx.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < a->rows; ++r) std::fill(out + row_ptr[r], out + row_ptr[r + 1], r);
  });
  return a_->pattern->row_idx;
}

}  // namespace kiln::graph

namespace kiln {

namespace {

// Rows [r0, r1) of the forward: y[k, j] = exp(x[k, j] - max_j) / sum_j over each row's
// entries k, h columns, sums in double (the GPU kernel's order and rounding).
template <class T>
void edge_softmax_rows(std::int64_t r0, std::int64_t r1, std::int64_t h, const std::int64_t* row_ptr,
                       const T* x, T* y) {
  std::vector<T> top(h);
  std::vector<double> total(h);
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t begin = row_ptr[r], end = row_ptr[r + 1];
    if (begin == end) continue;
    std::copy(x + begin * h, x + (begin + 1) * h, top.begin());
    for (std::int64_t k = begin + 1; k < end; ++k)
      for (std::int64_t j = 0; j < h; ++j) top[j] = x[k * h + j] > top[j] ? x[k * h + j] : top[j];
    std::fill(total.begin(), total.end(), 0.0);
    for (std::int64_t k = begin; k < end; ++k)
      for (std::int64_t j = 0; j < h; ++j) {
        const T p = std::exp(x[k * h + j] - top[j]);
        y[k * h + j] = p;
        total[j] += p;
      }
    for (std::int64_t j = 0; j < h; ++j) top[j] = static_cast<T>(1.0 / total[j]);  // now the scale
    for (std::int64_t k = begin; k < end; ++k)
      for (std::int64_t j = 0; j < h; ++j) y[k * h + j] *= top[j];
  }
}

// Rows [r0, r1) of the backward: gx[k, j] = y[k, j] (g[k, j] - sum over the row of y g).
template <class T>
void edge_softmax_backward_rows(std::int64_t r0, std::int64_t r1, std::int64_t h, const std::int64_t* row_ptr,
                                const T* y, const T* g, T* gx) {
  std::vector<double> dot(h);
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t begin = row_ptr[r], end = row_ptr[r + 1];
    std::fill(dot.begin(), dot.end(), 0.0);
    for (std::int64_t k = begin; k < end; ++k)
      for (std::int64_t j = 0; j < h; ++j) dot[j] += static_cast<double>(y[k * h + j]) * g[k * h + j];
    for (std::int64_t k = begin; k < end; ++k)
      for (std::int64_t j = 0; j < h; ++j)
        gx[k * h + j] = y[k * h + j] * (g[k * h + j] - static_cast<T>(dot[j]));
  }
}

// Tasks of about 16K entries' worth of work each, so Cora-sized graphs run on one thread.
constexpr std::int64_t kMinTaskWork = 16384;

// y (or gx) for contiguous operands of shape (nnz, h), on their device.
Tensor edge_softmax_forward(const graph::DeviceCsr& a, std::int64_t h, const Tensor& xc) {
  Tensor y = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
  if (xc.device().is_cuda()) {
    const Tensor scratch = detail::cuda_csr_scratch(a, h, 2, kFloat64);
    detail::cuda_for(xc).edge_softmax(detail::cuda_scalar(xc.dtype(), "edge_softmax"),
                                      detail::cuda_csr_rows(a), h, detail::dptr(xc), detail::dptr(y),
                                      detail::dptr_or_null<double>(scratch));
    return y;
  }
  const std::int64_t* row_ptr = a.row_ptr().data_ptr<std::int64_t>();
  visit_floating(xc.dtype(), "edge_softmax", [&]<class T>() {
    const T* px = detail::ptr<T>(xc);
    T* py = detail::ptr<T>(y);
    detail::parallel_rows_by_work(
        a.rows(), row_ptr, a.nnz(), h, kMinTaskWork,
        [&](std::int64_t b, std::int64_t e) { edge_softmax_rows(b, e, h, row_ptr, px, py); });
  });
  return y;
}

Tensor edge_softmax_backward(const graph::DeviceCsr& a, std::int64_t h, const Tensor& y, const Tensor& g) {
  const Tensor gc = g.contiguous();
  Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (y.device().is_cuda()) {
    const Tensor scratch = detail::cuda_csr_scratch(a, h, 1, kFloat64);
    detail::cuda_for(y).edge_softmax_backward(detail::cuda_scalar(y.dtype(), "edge_softmax"),
                                              detail::cuda_csr_rows(a), h, detail::dptr(y), detail::dptr(gc),
                                              detail::dptr(gx), detail::dptr_or_null<double>(scratch));
    return gx;
  }
  const std::int64_t* row_ptr = a.row_ptr().data_ptr<std::int64_t>();
  visit_floating(y.dtype(), "edge_softmax backward", [&]<class T>() {
    const T *py = detail::ptr<T>(y), *pg = detail::ptr<T>(gc);
    T* pgx = detail::ptr<T>(gx);
    detail::parallel_rows_by_work(
        a.rows(), row_ptr, a.nnz(), h, kMinTaskWork,
        [&](std::int64_t b, std::int64_t e) { edge_softmax_backward_rows(b, e, h, row_ptr, py, pg, pgx); });
  });
  return gx;
}

}  // namespace

Tensor edge_softmax(const graph::DeviceCsr& a, const Tensor& scores) {
  detail::check_floating("edge_softmax", scores);
  KILN_CHECK(scores.dim() >= 1 && scores.size(0) == a.nnz(), "edge_softmax: scores of shape ",
             fmt(scores.shape()), " do not fit a sparse matrix with ", a.nnz(), " nonzeros; expected (",
             a.nnz(), ") or (", a.nnz(), ", H...), one score per nonzero in CSR order");
  KILN_CHECK(scores.device() == a.device(), "edge_softmax: the sparse matrix is on ", a.device(),
             " but the scores on ", scores.device(),
             "; make the DeviceCsr on the scores' device (or move them with .to(device))");
  const std::int64_t h = a.nnz() == 0 ? 1 : scores.numel() / a.nnz();
  Tensor y = edge_softmax_forward(a, h, scores.detach().contiguous());
  if (should_record({scores})) {
    attach_grad_fn(y, "edge_softmax", {scores},
                   [a, h, yd = y.detach()](const Tensor& g) {
                     if (!is_grad_enabled()) return Grads{edge_softmax_backward(a, h, yd, g)};
                     // Recording (create_graph): y (g - the row's sum of y g), in recorded ops of y and g.
                     const Tensor yr = output_for_backward(yd), rows = a.row_idx();
                     Shape per_row = yd.shape();
                     per_row[0] = a.rows();
                     const Tensor yg = yr * g;
                     const Tensor sums = index_add(zeros(per_row, yd.dtype(), yd.device()), 0, rows, yg);
                     return Grads{yr * (g - index_select(sums, 0, rows))};
                   },
                   {y});
    mark_differentiable_backward(y);
  }
  return y;
}

Tensor edge_softmax(const graph::CsrMatrix& a, const Tensor& scores) {
  return edge_softmax(graph::DeviceCsr(a, scores.device()), scores);
}

}  // namespace kiln
