// matmul: shape rules and autograd here; the arithmetic is BLAS gemm.
#include "kiln/ops/linalg.hpp"

#include <algorithm>
#include <limits>
#include <optional>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/ops/blas.hpp"

namespace kiln {

namespace {

// How BLAS can read a (rows, cols) matrix with these strides without a copy.
struct MatLayout {
  bool trans;
  std::int64_t ld;
};
std::optional<MatLayout> blas_layout(std::int64_t rows, std::int64_t cols, std::int64_t s_row,
                                     std::int64_t s_col) {
  if (cols == 1) s_col = 1;  // strides of size-1 dims are free
  if (rows == 1) s_row = std::max<std::int64_t>(cols, 1);
  if (s_col == 1 && s_row >= std::max<std::int64_t>(cols, 1)) return MatLayout{false, s_row};
  if (rows == 1 && cols == 1) return MatLayout{false, 1};
  if (s_row == 1 && s_col >= std::max<std::int64_t>(rows, 1)) return MatLayout{true, s_col};
  return std::nullopt;
}

// Batched product of a (..., M, K) and b (..., K, N), both at least 2-D. No autograd.
Tensor matmul_forward(const Tensor& a_in, const Tensor& b_in) {
  const std::int64_t M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1);
  const Shape batch_a(a_in.shape().begin(), a_in.shape().end() - 2);
  const Shape batch_b(b_in.shape().begin(), b_in.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape full_a = batch, full_b = batch, out_shape = batch;
  full_a.insert(full_a.end(), {M, K});
  full_b.insert(full_b.end(), {K, N});
  out_shape.insert(out_shape.end(), {M, N});

  // Copy an operand only when BLAS cannot read its matrices as they are.
  auto readable = [](const Tensor& t) {
    const std::int64_t d = t.dim();
    return blas_layout(t.shape()[d - 2], t.shape()[d - 1], t.strides()[d - 2], t.strides()[d - 1])
        .has_value();
  };
  const Tensor a = readable(a_in) ? a_in.detach() : a_in.detach().contiguous();
  const Tensor b = readable(b_in) ? b_in.detach() : b_in.detach().contiguous();
  const Strides sa = detail::broadcast_strides(a, full_a), sb = detail::broadcast_strides(b, full_b);
  const std::size_t nb = batch.size();
  const MatLayout la = *blas_layout(M, K, sa[nb], sa[nb + 1]);
  const MatLayout lb = *blas_layout(K, N, sb[nb], sb[nb + 1]);

  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  const std::int64_t batches = numel_of(batch);
  // The offsets of batch i's matrices in a and b.
  auto batch_offsets = [&](std::int64_t i) {
    std::int64_t off_a = 0, off_b = 0, rem = i;
    for (std::size_t d = nb; d-- > 0;) {
      const std::int64_t idx = rem % batch[d];
      rem /= batch[d];
      off_a += idx * sa[d];
      off_b += idx * sb[d];
    }
    return std::pair{off_a, off_b};
  };
  if (out.device().is_cuda()) {
    if (out.numel() == 0) return out;
    if (K == 0) return out.fill_(0.0);
    const auto& k = detail::cuda_for(out);
    const auto t = detail::cuda_scalar(a.dtype(), "matmul");
    const std::size_t item = dtype_info(a.dtype()).itemsize;
    const char* pa = detail::dptr<const char>(a);
    const char* pb = detail::dptr<const char>(b);
    char* po = detail::dptr<char>(out);
    for (std::int64_t i = 0; i < batches; ++i) {
      const auto [off_a, off_b] = batch_offsets(i);
      k.gemm(t, la.trans, lb.trans, M, N, K, pa + off_a * item, la.ld, pb + off_b * item, lb.ld, 0.0,
             po + i * M * N * item, std::max<std::int64_t>(N, 1));
    }
    return out;
  }
  visit_floating(a.dtype(), "matmul", [&]<class T>() {
    const T* pa = detail::ptr<T>(a);
    const T* pb = detail::ptr<T>(b);
    T* po = detail::ptr<T>(out);
    if (out.numel() == 0) return;
    if (K == 0) {
      std::fill(po, po + out.numel(), T(0));
      return;
    }
    for (std::int64_t i = 0; i < batches; ++i) {
      const auto [off_a, off_b] = batch_offsets(i);
      detail::gemm(la.trans, lb.trans, M, N, K, T(1), pa + off_a, la.ld, pb + off_b, lb.ld, T(0),
                   po + i * M * N, std::max<std::int64_t>(N, 1));
    }
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  detail::check_same_dtype_device("matmul", {a_in, b_in});
  detail::check_floating("matmul", a_in);
  KILN_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1,
             "matmul: both arguments need at least one dimension, got shapes ", fmt(a_in.shape()), " and ",
             fmt(b_in.shape()));
  // 1-D arguments become matrices: (K) -> (1, K) on the left, (K, 1) on the right.
  const Tensor a = a_in.dim() == 1 ? a_in.unsqueeze(0) : a_in;
  const Tensor b = b_in.dim() == 1 ? b_in.unsqueeze(-1) : b_in;
  KILN_CHECK(a.size(-1) == b.size(-2), "matmul: shapes ", fmt(a_in.shape()), " and ", fmt(b_in.shape()),
             " cannot be multiplied: inner dimensions ", a.size(-1), " and ", b.size(-2), " differ");
  Tensor out = matmul_forward(a, b);
  if (should_record({a, b})) {
    // d(AB)/dA = G B^T, d(AB)/dB = A^T G; batch dimensions that were broadcast sum back.
    const bool na = a.requires_grad(), nb = b.requires_grad();
    attach_grad_fn(out, "matmul", {a, b},
                   [a, b, na, nb](const Tensor& g) {
                     // While recording (create_graph), the recorded product.
                     const auto product = is_grad_enabled() ? matmul : matmul_forward;
                     Grads grads(2);
                     if (na) grads[0] = sum_to(product(g, b.transpose(-1, -2)), a.shape());
                     if (nb) grads[1] = sum_to(product(a.transpose(-1, -2), g), b.shape());
                     return grads;
                   },
                   {nb ? a : Tensor(), na ? b : Tensor()});
    mark_differentiable_backward(out);
  }
  if (a_in.dim() == 1) out = out.squeeze(-2);
  if (b_in.dim() == 1) out = out.squeeze(-1);
  return out;
}

Tensor cdist(const Tensor& x1, const Tensor& x2, double p) {
  detail::check_floating("cdist", x1);
  KILN_CHECK(x1.dim() >= 2 && x2.dim() >= 2 && x1.size(-1) == x2.size(-1), "cdist: x1 of shape ",
             fmt(x1.shape()), " and x2 of shape ", fmt(x2.shape()),
             " must be (..., P, M) and (..., R, M), rows of the same length M");
  KILN_CHECK(p >= 1, "cdist: p = ", p, " must be >= 1 (or infinity)");
  const std::int64_t rows1 = x1.size(-2), rows2 = x2.size(-2);
  if (p == 2 && (rows1 > 25 || rows2 > 25)) {
    // PyTorch's construction: [-2 a, |a|^2, 1] . [b, 1, |b|^2] = |a|^2 + |b|^2 - 2 a.b, one product.
    const Tensor n1 = sum(x1 * x1, {-1}, true), n2 = sum(x2 * x2, {-1}, true);
    const Tensor a = cat({x1 * -2.0, n1, ones_like(n1)}, -1), b = cat({x2, ones_like(n2), n2}, -1);
    return sqrt(clamp(matmul(a, b.transpose(-1, -2)), 1e-30, std::numeric_limits<double>::infinity()));
  }
  return norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, {-1});
}

}  // namespace kiln
