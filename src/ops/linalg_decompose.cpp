// qr, eigh, eigvalsh, lstsq, svd, svdvals, pinv and matrix_rank. Each matrix is
// decomposed in float64 (float32 inputs widened, the results rounded once) by
// kernels/cuda/matrix_factor.hpp: Householder QR, cyclic Jacobi rotations (eigh) and
// one-sided Jacobi rotations (svd), a matrix per task on the CPU and per thread on a GPU.
// The gradients, in float64 from the unrounded factors, are linear in the outputs'
// gradients, so each output carries its own backward (the other output's gradient taken
// as 0) and the two add up:
//   A = Q R (rows m >= columns n): M = gR R^T - Q^T gQ,
//       gA = (gQ + Q copyutl(M)) R^-T, copyutl(M) M's upper triangle mirrored below;
//       m < n: A = [X | Y], R = [U | V] with X = Q U, V = Q^T Y: gY = Q gV, and X's
//       gradient the square case's with gQ + Y gV^T for gQ.
//   A = V diag(w) V^T: gA = V (diag(gw) + F o (V^T gV)) V^T, F_ij = 1 / (w_j - w_i) off
//       the diagonal (not finite where eigenvalues repeat), symmetrised as A is read.
//   A = U S V^T: see svd_grad_tall below (a wide A through A^T = V S U^T).
// The rules are recorded ops; while a walk records (create_graph) they read the factors of
// the graph's A, decomposed again, so that they are functions of A: any order.
#include <optional>

#include "kernels/cuda/matrix_factor.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/ops/linalg_internal.hpp"

namespace kiln {

namespace {

namespace ck = cuda_kernels;
using detail::batch_shape;
using detail::fresh64;
using detail::matrix_grain;
using detail::transposed;
using detail::with_tail;

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
    // The diagonal's gap (0) replaced before the reciprocal, so that no inf meets a zero
    // gradient there while a walk records.
    const Tensor diagonal = eye(w.size(-1), -1, kUInt8, w.device());
    const Tensor off = where(diagonal, 0.0, reciprocal(where(diagonal, 1.0, gaps)));
    ga = plus(ga, matmul(matmul(v, off * matmul(transposed(v), gv)), transposed(v)));
  }
  return (ga + transposed(ga)) * 0.5;
}

// svd's gradient for m >= n (U m x n, S n, V n x n) from gu, gs and / or gv (undefined: 0):
// U [F o (U^T gU - gU^T U) S + diag(gS) + S F o (V^T gV - gV^T V)] V^T
//   + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T),  F_ij = 1 / (s_j^2 - s_i^2) off
// the diagonal (not finite where singular values repeat; S^-1 where one is 0).
Tensor svd_grad_tall(const Tensor& u, const Tensor& sv, const Tensor& v, const Tensor& gu, const Tensor& gs,
                     const Tensor& gv) {
  const Tensor s2 = sv * sv;
  const Tensor diagonal = eye(sv.size(-1), -1, kUInt8, sv.device());  // its 0 gap replaced first, as eigh's
  const Tensor f =
      where(diagonal, 0.0, reciprocal(where(diagonal, 1.0, s2.unsqueeze(-2) - s2.unsqueeze(-1))));
  const Tensor inv_s = reciprocal(sv).unsqueeze(-2);  // scales columns
  Tensor middle = gs.defined() ? eye(sv.size(-1), -1, kFloat64, sv.device()) * gs.unsqueeze(-2) : Tensor();
  Tensor outside;
  if (gu.defined()) {
    const Tensor ut_gu = matmul(transposed(u), gu);
    middle = plus(middle, f * (ut_gu - transposed(ut_gu)) * sv.unsqueeze(-2));
    outside = matmul((gu - matmul(u, ut_gu)) * inv_s, transposed(v));
  }
  if (gv.defined()) {
    const Tensor vt_gv = matmul(transposed(v), gv);
    middle = plus(middle, sv.unsqueeze(-1) * (f * (vt_gv - transposed(vt_gv))));
    outside = plus(outside, matmul(u, transposed((gv - matmul(v, vt_gv)) * inv_s)));
  }
  return plus(middle.defined() ? matmul(matmul(u, middle), transposed(v)) : Tensor(), outside);
}

Tensor svd_grad(const Tensor& u, const Tensor& sv, const Tensor& vh, const Tensor& gu, const Tensor& gs,
                const Tensor& gvh) {
  const Tensor v = transposed(vh), gv = gvh.defined() ? transposed(gvh) : Tensor();
  if (u.size(-2) >= vh.size(-1)) return svd_grad_tall(u, sv, v, gu, gs, gv);
  return transposed(svd_grad_tall(v, sv, u, gv, gs, gu));  // A^T = V S U^T is tall
}

}  // namespace

QR qr(const Tensor& a) {
  detail::check_floating("qr", a);
  KILN_CHECK(a.dim() >= 2, "qr: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  const std::int64_t m = a.size(-2), n = a.size(-1), k = std::min(m, n);
  const std::int64_t batch = numel_of(batch_shape(a));
  Tensor work = fresh64(a), tau = Tensor::empty({batch * k}, kFloat64, a.device());
  Tensor q = Tensor::empty(with_tail(batch_shape(a), {m, k}), kFloat64, a.device());
  Tensor r = Tensor::empty(with_tail(batch_shape(a), {k, n}), kFloat64, a.device());
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
    // While a walk records (create_graph), the factors of the graph's A again (see the top).
    const auto rule = [a, a64, q64, r64](const Tensor& g, bool for_q) {
      const Tensor g64 = g.to(kFloat64);
      if (!is_grad_enabled())
        return qr_grad(a64, q64, r64, for_q ? g64 : Tensor(), for_q ? Tensor() : g64).to(g.dtype());
      const Tensor again = a.to(kFloat64);
      const QR f = qr(again);
      return qr_grad(again, f.q, f.r, for_q ? g64 : Tensor(), for_q ? Tensor() : g64).to(g.dtype());
    };
    attach_grad_fn(out.q, "qr", {a}, [rule](const Tensor& g) { return Grads{rule(g, true)}; },
                   {a, out.q, out.r});
    attach_grad_fn(out.r, "qr", {a}, [rule](const Tensor& g) { return Grads{rule(g, false)}; },
                   {a, out.q, out.r});
    mark_differentiable_backward(out.q);
    mark_differentiable_backward(out.r);
  }
  return out;
}

Eigh eigh(const Tensor& a) {
  detail::check_floating("eigh", a);
  KILN_CHECK(a.dim() >= 2 && a.size(-1) == a.size(-2), "eigh: needs square matrices (..., n, n), got shape ",
             fmt(a.shape()));
  const std::int64_t n = a.size(-1), batch = numel_of(batch_shape(a));
  Tensor work = fresh64(a);
  Tensor w = Tensor::empty(with_tail(batch_shape(a), {n}), kFloat64, a.device());
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
    const auto rule = [a, w64, v64](const Tensor& g, bool for_w) {
      const Tensor g64 = g.to(kFloat64);
      const Tensor gw = for_w ? g64 : Tensor(), gv = for_w ? Tensor() : g64;
      if (!is_grad_enabled()) return eigh_grad(w64, v64, gw, gv).to(g.dtype());
      const Eigh f = eigh(a.to(kFloat64));  // recording: the graph's A decomposed again
      return eigh_grad(f.eigenvalues, f.eigenvectors, gw, gv).to(g.dtype());
    };
    attach_grad_fn(out.eigenvalues, "eigh", {a}, [rule](const Tensor& g) { return Grads{rule(g, true)}; },
                   {a, out.eigenvalues, out.eigenvectors});
    attach_grad_fn(out.eigenvectors, "eigh", {a}, [rule](const Tensor& g) { return Grads{rule(g, false)}; },
                   {a, out.eigenvalues, out.eigenvectors});
    mark_differentiable_backward(out.eigenvalues);
    mark_differentiable_backward(out.eigenvectors);
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

SVD svd(const Tensor& a) {
  detail::check_floating("svd", a);
  KILN_CHECK(a.dim() >= 2, "svd: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  const std::int64_t m = a.size(-2), n = a.size(-1);
  const bool wide = m < n;  // then A^T = V S U^T, which is tall
  const std::int64_t rows = wide ? n : m, k = wide ? m : n, batch = numel_of(batch_shape(a));
  Tensor work = fresh64(wide ? transposed(a) : a);
  Tensor sv = Tensor::empty(with_tail(batch_shape(a), {k}), kFloat64, a.device());
  Tensor square = Tensor::empty(with_tail(batch_shape(a), {k, k}), kFloat64, a.device());
  if (batch > 0 && k > 0) {
    if (a.device().is_cuda()) {
      detail::cuda_for(a).svd(batch, rows, k, detail::dptr<double>(work), detail::dptr<double>(sv),
                              detail::dptr<double>(square), wide);
    } else {
      double *ws = detail::ptr<double>(work), *ss = detail::ptr<double>(sv),
             *vs = detail::ptr<double>(square);
      parallel_for(0, batch, matrix_grain(rows, k), [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i)
          ck::jacobi_svd_one(ws + i * rows * k, rows, k, ss + i * k, vs + i * k * k, wide);
      });
    }
  }
  // Tall: U = work, V = square. Wide: U = square, V = work.
  const Tensor u64 = wide ? square : work, vh64 = transposed(wide ? work : square).contiguous();
  SVD out{u64.to(a.dtype()), sv.to(a.dtype()), vh64.to(a.dtype())};
  if (should_record({a})) {  // in float64 from the unrounded factors, as qr's
    const Tensor ud = u64.detach(), sd = sv.detach(), vhd = vh64.detach();
    const auto saved = {a, out.u, out.s, out.vh};
    // which: 0 for U, 1 for S, 2 for V^T.
    const auto rule = [a, ud, sd, vhd](const Tensor& g, int which) {
      const Tensor g64 = g.to(kFloat64);
      const Tensor gu = which == 0 ? g64 : Tensor(), gs = which == 1 ? g64 : Tensor(),
                   gvh = which == 2 ? g64 : Tensor();
      if (!is_grad_enabled()) return svd_grad(ud, sd, vhd, gu, gs, gvh).to(g.dtype());
      const SVD f = svd(a.to(kFloat64));  // recording: the graph's A decomposed again
      return svd_grad(f.u, f.s, f.vh, gu, gs, gvh).to(g.dtype());
    };
    attach_grad_fn(
        out.u, "svd", {a}, [rule](const Tensor& g) { return Grads{rule(g, 0)}; }, saved);
    attach_grad_fn(
        out.s, "svd", {a}, [rule](const Tensor& g) { return Grads{rule(g, 1)}; }, saved);
    attach_grad_fn(
        out.vh, "svd", {a}, [rule](const Tensor& g) { return Grads{rule(g, 2)}; }, saved);
    for (const Tensor* t : {&out.u, &out.s, &out.vh}) mark_differentiable_backward(*t);
  }
  return out;
}

Tensor svdvals(const Tensor& a) { return svd(a).s; }

namespace {
// Singular values above rtol times the largest count (torch's default rtol: the dtype's
// epsilon times max(m, n)).
Tensor kept_singular_values(const Tensor& a, const Tensor& sv, std::optional<double> rtol) {
  const double eps = a.dtype() == kFloat32 ? 1.1920928955078125e-07 : 2.220446049250313e-16;
  const double r = rtol.value_or(eps * static_cast<double>(std::max(a.size(-2), a.size(-1))));
  const Tensor largest = sv.size(-1) > 0 ? amax(sv.detach(), {-1}, true) : sv.detach();
  return gt(sv.detach(), largest * r);
}
}  // namespace

Tensor pinv(const Tensor& a, std::optional<double> rtol) {
  detail::check_floating("pinv", a);
  KILN_CHECK(a.dim() >= 2, "pinv: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  const SVD f = svd(a);
  const Tensor kept = kept_singular_values(a, f.s, rtol);
  // 1 / s where kept, else 0; the reciprocal never sees a dropped 0 (its gradient would be NaN).
  const Tensor inv_s = where(kept, reciprocal(where(kept, f.s, 1.0)), 0.0);
  return matmul(transposed(f.vh) * inv_s.unsqueeze(-2), transposed(f.u));
}

Tensor matrix_rank(const Tensor& a, std::optional<double> rtol) {
  detail::check_floating("matrix_rank", a);
  KILN_CHECK(a.dim() >= 2, "matrix_rank: needs matrices (..., m, n), got shape ", fmt(a.shape()));
  NoGradGuard no_grad;
  const Tensor sv = svdvals(a);
  return sum(kept_singular_values(a, sv, rtol).to(kInt64), {-1});
}

}  // namespace kiln
