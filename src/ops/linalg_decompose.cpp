// qr, eigh, eigvalsh and lstsq. Each matrix is decomposed in float64 (float32 inputs
// widened, the results rounded once) by kernels/cuda/matrix_factor.hpp: Householder QR
// and cyclic Jacobi rotations, a matrix per task on the CPU and per thread on a GPU.
// The gradients, in float64 from the unrounded factors, are linear in the outputs'
// gradients, so each output carries its own backward (the other output's gradient taken
// as 0) and the two add up:
//   A = Q R (rows m >= columns n): M = gR R^T - Q^T gQ,
//       gA = (gQ + Q copyutl(M)) R^-T, copyutl(M) M's upper triangle mirrored below;
//       m < n: A = [X | Y], R = [U | V] with X = Q U, V = Q^T Y: gY = Q gV, and X's
//       gradient the square case's with gQ + Y gV^T for gQ.
//   A = V diag(w) V^T: gA = V (diag(gw) + F o (V^T gV)) V^T, F_ij = 1 / (w_j - w_i) off
//       the diagonal (not finite where eigenvalues repeat), symmetrised as A is read.
#include "kernels/cuda/matrix_factor.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

namespace {

namespace ck = cuda_kernels;

Tensor fresh64(const Tensor& x) { return x.detach().to(kFloat64).contiguous().clone(); }
Tensor transposed(const Tensor& x) { return x.transpose(-2, -1); }
Shape batch_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }
Shape with(Shape s, std::initializer_list<std::int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}
std::int64_t matrix_grain(std::int64_t m, std::int64_t n) {
  return std::max<std::int64_t>(1, 32768 / (m * n * std::max(m, n) + 1));
}

// The sum of two gradients where either may be undefined (0).
Tensor plus(const Tensor& a, const Tensor& b) { return !a.defined() ? b : !b.defined() ? a : a + b; }

// qr's gradient for m >= n, from gq and / or gr (an undefined one is 0).
Tensor qr_grad_tall(const Tensor& q, const Tensor& r, const Tensor& gq, const Tensor& gr) {
  const Tensor m = plus(gr.defined() ? matmul(gr, transposed(r)) : Tensor(),
                        gq.defined() ? neg(matmul(transposed(q), gq)) : Tensor());
  const Tensor mirrored = triu(m) + transposed(triu(m, 1));
  const Tensor b = plus(gq, matmul(q, mirrored));
  return solve_triangular(transposed(r), b, false, false);  // b R^-T
}

Tensor qr_grad(const Tensor& a, const Tensor& q, const Tensor& r, const Tensor& gq, const Tensor& gr) {
  const std::int64_t m = a.size(-2), n = a.size(-1);
  if (m >= n) return qr_grad_tall(q, r, gq, gr);
  const Tensor y = a.narrow(-1, m, n - m);
  const Tensor gu = gr.defined() ? gr.narrow(-1, 0, m) : Tensor();
  const Tensor gv = gr.defined() ? gr.narrow(-1, m, n - m) : Tensor();
  const Tensor gx =
      qr_grad_tall(q, r.narrow(-1, 0, m), plus(gq, gv.defined() ? matmul(y, transposed(gv)) : Tensor()), gu);
  const Tensor gy = gv.defined() ? matmul(q, gv) : zeros_like(y);
  return cat({gx, gy}, -1);
}

// eigh's gradient from gw and / or gv (an undefined one is 0), symmetrised.
Tensor eigh_grad(const Tensor& w, const Tensor& v, const Tensor& gw, const Tensor& gv) {
  Tensor ga;
  if (gw.defined()) ga = matmul(v * gw.unsqueeze(-2), transposed(v));  // V diag(gw) V^T
  if (gv.defined()) {
    const Tensor gaps = w.unsqueeze(-2) - w.unsqueeze(-1);  // (i, j): w_j - w_i
    const Tensor off = where(eye(w.size(-1), -1, kUInt8, w.device()), 0.0, reciprocal(gaps));
    ga = plus(ga, matmul(matmul(v, off * matmul(transposed(v), gv)), transposed(v)));
  }
  return (ga + transposed(ga)) * 0.5;
}

}  // namespace

QR qr(const Tensor& a) {
  detail::check_floating("qr", a);
  KILN_CHECK(a.dim() >= 2, "qr: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  const std::int64_t m = a.size(-2), n = a.size(-1), k = std::min(m, n);
  const std::int64_t batch = numel_of(batch_shape(a));
  Tensor work = fresh64(a), tau = Tensor::empty({batch * k}, kFloat64, a.device());
  Tensor q = Tensor::empty(with(batch_shape(a), {m, k}), kFloat64, a.device());
  Tensor r = Tensor::empty(with(batch_shape(a), {k, n}), kFloat64, a.device());
  if (batch > 0 && k > 0) {
    if (a.device().is_cuda()) {
      detail::cuda_for(a).qr(batch, m, n, detail::dptr<double>(work), detail::dptr<double>(tau),
                             detail::dptr<double>(q), detail::dptr<double>(r));
    } else {
      double *ws = detail::ptr<double>(work), *ts = detail::ptr<double>(tau);
      double *qs = detail::ptr<double>(q), *rs = detail::ptr<double>(r);
      parallel_for(0, batch, matrix_grain(m, n), [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i) {
          ck::householder_qr_one(ws + i * m * n, m, n, ts + i * k);
          ck::householder_q_r_one(ws + i * m * n, ts + i * k, m, n, qs + i * m * k, rs + i * k * n);
        }
      });
    }
  } else if (batch > 0) {  // no columns or no rows: Q and R are empty, or Q is m x 0
    q.zero_();
    r.zero_();
  }
  QR out{q.to(a.dtype()), r.to(a.dtype())};
  if (should_record({a})) {
    // In float64 from the unrounded Q and R: a float32 Q is orthonormal only to its rounding.
    const Tensor a64 = a.detach().to(kFloat64), q64 = q.detach(), r64 = r.detach();
    attach_grad_fn(out.q, "qr", {a},
                   [a64, q64, r64](const Tensor& g) {
                     return Grads{qr_grad(a64, q64, r64, g.to(kFloat64), Tensor()).to(g.dtype())};
                   },
                   {a, out.q, out.r});
    attach_grad_fn(out.r, "qr", {a},
                   [a64, q64, r64](const Tensor& g) {
                     return Grads{qr_grad(a64, q64, r64, Tensor(), g.to(kFloat64)).to(g.dtype())};
                   },
                   {a, out.q, out.r});
  }
  return out;
}

Eigh eigh(const Tensor& a) {
  detail::check_floating("eigh", a);
  KILN_CHECK(a.dim() >= 2 && a.size(-1) == a.size(-2), "eigh: needs square matrices (..., n, n), got shape ",
             fmt(a.shape()));
  const std::int64_t n = a.size(-1), batch = numel_of(batch_shape(a));
  Tensor work = fresh64(a);
  Tensor w = Tensor::empty(with(batch_shape(a), {n}), kFloat64, a.device());
  Tensor v = Tensor::empty(a.shape(), kFloat64, a.device());
  if (batch > 0 && n > 0) {
    if (a.device().is_cuda()) {
      detail::cuda_for(a).eigh(batch, n, detail::dptr<double>(work), detail::dptr<double>(w),
                               detail::dptr<double>(v));
    } else {
      double *ws = detail::ptr<double>(work), *es = detail::ptr<double>(w), *vs = detail::ptr<double>(v);
      parallel_for(0, batch, matrix_grain(n, n), [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i)
          ck::jacobi_eigh_one(ws + i * n * n, n, es + i * n, vs + i * n * n);
      });
    }
  }
  Eigh out{w.to(a.dtype()), v.to(a.dtype())};
  if (should_record({a})) {                           // in float64 from the unrounded w and V, as qr's
    const Tensor w64 = w.detach(), v64 = v.detach();  // (for float64, w and v are the outputs)
    attach_grad_fn(out.eigenvalues, "eigh", {a},
                   [w64, v64](const Tensor& g) {
                     return Grads{eigh_grad(w64, v64, g.to(kFloat64), Tensor()).to(g.dtype())};
                   },
                   {a, out.eigenvalues, out.eigenvectors});
    attach_grad_fn(out.eigenvectors, "eigh", {a},
                   [w64, v64](const Tensor& g) {
                     return Grads{eigh_grad(w64, v64, Tensor(), g.to(kFloat64)).to(g.dtype())};
                   },
                   {a, out.eigenvalues, out.eigenvectors});
  }
  return out;
}

Tensor eigvalsh(const Tensor& a) { return eigh(a).eigenvalues; }

Tensor lstsq(const Tensor& a, const Tensor& b) {
  detail::check_same_dtype_device("lstsq", {a, b});
  detail::check_floating("lstsq", a);
  KILN_CHECK(a.dim() >= 2 && a.size(-2) >= a.size(-1),
             "lstsq: needs matrices (..., m, n) with m >= n (as many ",
             "equations as unknowns or more), got shape ", fmt(a.shape()));
  const bool vector = b.dim() == 1;
  const Tensor rhs = vector ? b.unsqueeze(-1) : b;
  KILN_CHECK(rhs.dim() >= 2 && rhs.size(-2) == a.size(-2), "lstsq: the right-hand side of shape ",
             fmt(b.shape()), " needs ", a.size(-2), " rows for matrices of shape ", fmt(a.shape()));
  const QR f = qr(a);
  const Tensor x = solve_triangular(f.r, matmul(transposed(f.q), rhs), true);
  return vector ? x.squeeze(-1) : x;
}

}  // namespace kiln
