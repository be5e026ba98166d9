// Dense linear algebra on square matrices: solve, inv, det, slogdet, cholesky,
// solve_triangular, lu_factor / lu_solve / lu_unpack / lu, cholesky_solve /
// cholesky_inverse. Every matrix is factored in
// float64 (float32 inputs are widened and the results rounded back) by
// kernels/cuda/matrix_factor.hpp, a matrix per task on the CPU and per thread on a GPU.
// The gradients are products and solves with the same matrices:
//   X = A^-1 B:        gB = A^-T G, gA = -gB X^T
//   det, slogdet:      gA = g det(A) A^-T, g A^-T for log|det| (not finite at a singular A)
//   L = cholesky(A):   gA = L^-T Phi(L^T G) L^-1, symmetrised, Phi the lower triangle with
//                      the diagonal halved (A is read as symmetric)
//   X = T^-1 B:        gB = T^-T G, gA = -gB X^T on T's triangle
//   A = P L U:         gA = P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T
// A singular matrix in solve / inv, or one that is not positive definite in cholesky, is
// an Error: at once on the CPU; on a GPU at the host's next read-back (the kernel reports
// it without making the host wait).
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/matrix_factor.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"
#include "src/ops/linalg_internal.hpp"

namespace kiln {

namespace {

namespace ck = cuda_kernels;
using detail::batch_of;
using detail::check_square;
using detail::fresh64;
using detail::matrix_grain;
using detail::transposed;

// What a GPU kernel found, as the CPU's checks say it.
std::string singular_message(const char* op, const ck::IndexReport& found) {
  return detail::concat(op, ": matrix ", found.position, " of the batch is singular (pivot ", found.value,
                        " of its LU factorisation is 0), so the system has no unique solution");
}
std::string solve_singular(const ck::IndexReport& found) { return singular_message("solve", found); }
std::string inv_singular(const ck::IndexReport& found) { return singular_message("inv", found); }
std::string not_positive_definite(const ck::IndexReport& found) {
  return detail::concat("cholesky: matrix ", found.position,
                        " of the batch is not positive definite (its leading ", found.value + 1, " x ",
                        found.value + 1, " block is not)");
}

struct Factored {
  Tensor lu, pivots, dets;  // (batch.., n, n) float64; (batch.., n) int64; (batch.., 3) float64 or none
};

// P L U of each (n x n) matrix of a. `op` set: a singular matrix is an Error naming it.
Factored factor_lu(const Tensor& a, const char* op, detail::ReportMessage gpu_message, bool dets) {
  const std::int64_t n = a.size(-1), batch = batch_of(a);
  Factored f{fresh64(a), Tensor(), Tensor()};
  Shape batch_shape(a.shape().begin(), a.shape().end() - 2);
  Shape pivot_shape = batch_shape, det_shape = batch_shape;
  pivot_shape.push_back(n);
  det_shape.push_back(3);
  f.pivots = Tensor::empty(pivot_shape, kInt64, a.device());
  if (dets) f.dets = Tensor::empty(det_shape, kFloat64, a.device());
  if (batch == 0) return f;
  if (a.device().is_cuda()) {
    detail::cuda_for(a).lu_factor(
        batch, n, detail::dptr<double>(f.lu), detail::dptr<std::int64_t>(f.pivots),
        detail::dptr_or_null<double>(f.dets),
        gpu_message ? detail::cuda_report_slot(a.device().index, gpu_message) : ck::ReportSlot{});
    return f;
  }
  double* lu = detail::ptr<double>(f.lu);
  std::int64_t* pivots = detail::ptr<std::int64_t>(f.pivots);
  double* d = dets ? detail::ptr<double>(f.dets) : nullptr;
  std::vector<std::int64_t> singular(static_cast<std::size_t>(batch));
  if (n >= detail::kBlockedLuFrom) {  // one after another, each on the BLAS library's threads
    for (std::int64_t i = 0; i < batch; ++i) {
      singular[static_cast<std::size_t>(i)] = detail::lu_factor_blocked(lu + i * n * n, n, pivots + i * n);
      if (d) ck::lu_determinant(lu + i * n * n, pivots + i * n, n, d + i * 3);
    }
  } else {
    parallel_for(0, batch, matrix_grain(n, n), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        singular[static_cast<std::size_t>(i)] = ck::lu_factor_one(lu + i * n * n, n, pivots + i * n);
        if (d) ck::lu_determinant(lu + i * n * n, pivots + i * n, n, d + i * 3);
      }
    });
  }
  if (op)
    for (std::int64_t i = 0; i < batch; ++i)
      KILN_CHECK(singular[static_cast<std::size_t>(i)] < 0, op, ": matrix ", i, " of the batch of ",
                 fmt(a.shape()), " is singular (pivot ", singular[static_cast<std::size_t>(i)],
                 " of its LU factorisation is 0), so the system has no unique solution");
  return f;
}

// X = A^-1 B for a (batch.., n, n) and b (batch.., n, m) of the same batch shape, in a's dtype.
Tensor lu_solve(const Tensor& a, const Tensor& b, const char* op, detail::ReportMessage gpu_message) {
  const Factored f = factor_lu(a, op, gpu_message, false);
  Tensor x = fresh64(b);
  const std::int64_t n = a.size(-1), m = b.size(-1), batch = batch_of(a);
  if (batch > 0 && m > 0) {
    if (a.device().is_cuda()) {
      detail::cuda_for(a).lu_solve(batch, n, m, detail::dptr<double>(f.lu),
                                   detail::dptr<std::int64_t>(f.pivots), detail::dptr<double>(x));
    } else {
      const double* lu = detail::ptr<double>(f.lu);
      const std::int64_t* pivots = detail::ptr<std::int64_t>(f.pivots);
      double* xs = detail::ptr<double>(x);
      if (n >= detail::kBlockedLuFrom)
        for (std::int64_t i = 0; i < batch; ++i)
          detail::lu_solve_blocked(lu + i * n * n, pivots + i * n, xs + i * n * m, n, m);
      else
        parallel_for(0, batch, matrix_grain(n, n), [&](std::int64_t s, std::int64_t e) {
          for (std::int64_t i = s; i < e; ++i)
            ck::lu_solve_one(lu + i * n * n, pivots + i * n, xs + i * n * m, n, m);
        });
    }
  }
  return x.to(a.dtype());
}

// T^-1 B for t (batch.., n, n) and b (batch.., n, m) of the same batch shape; T is t's
// lower (upper) triangle, its diagonal 1 when `unit`.
Tensor triangular_solve(const Tensor& t, const Tensor& b, bool upper, bool unit) {
  const Tensor t64 = fresh64(t);
  Tensor x = fresh64(b);
  const std::int64_t n = t.size(-1), m = b.size(-1), batch = batch_of(t);
  if (batch > 0 && m > 0) {
    if (t.device().is_cuda()) {
      detail::cuda_for(t).triangular_solve(batch, n, m, detail::dptr<double>(t64), detail::dptr<double>(x),
                                           upper, unit);
    } else {
      const double* ts = detail::ptr<double>(t64);
      double* xs = detail::ptr<double>(x);
      if (n >= detail::kBlockedLuFrom)
        for (std::int64_t i = 0; i < batch; ++i)
          detail::triangular_solve_blocked(ts + i * n * n, xs + i * n * m, n, m, upper, unit);
      else
        parallel_for(0, batch, matrix_grain(n, n), [&](std::int64_t s, std::int64_t e) {
          for (std::int64_t i = s; i < e; ++i)
            ck::triangular_solve_one(ts + i * n * n, xs + i * n * m, n, m, upper, unit);
        });
    }
  }
  return x.to(t.dtype());
}

// a (batch_a.., n, n) and b (batch_b.., n, m) expanded to their common batch shape.
std::pair<Tensor, Tensor> common_batch(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK(b.dim() >= 2 && b.size(-2) == a.size(-1), op, ": the right-hand side of shape ", fmt(b.shape()),
             " needs ", a.size(-1), " rows (..., ", a.size(-1), ", k) for matrices of shape ",
             fmt(a.shape()));
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), op);
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {a.size(-2), a.size(-1)});
  sb.insert(sb.end(), {b.size(-2), b.size(-1)});
  return {a.expand(sa), b.expand(sb)};
}

// A^-1 B, recorded; check: a singular A is an Error.
Tensor solve_matrices(const Tensor& a_in, const Tensor& b_in, const char* op,
                      detail::ReportMessage gpu_message) {
  const auto [a, b] = common_batch(op, a_in, b_in);
  Tensor x = lu_solve(a, b, op, gpu_message);
  if (should_record({a_in, b_in})) {
    attach_grad_fn(x, op, {a_in, b_in},
                   [a_full = a, xd = x.detach(), sa = a_in.shape(), sb = b_in.shape(), op,
                    gpu_message](const Tensor& g) {
                     // While a walk records (create_graph), in A and X as tensors of the graph.
                     const Tensor am = is_grad_enabled() ? a_full : a_full.detach(),
                                  xm = output_for_backward(xd);
                     const Tensor gb = solve_matrices(transposed(am), g, op, gpu_message);
                     return Grads{sum_to(neg(matmul(gb, transposed(xm))), sa), sum_to(gb, sb)};
                   },
                   {a_in, b_in, x});
    mark_differentiable_backward(x);
  }
  return x;
}

// A^-T times each of g's matrices: the gradient of log|det A| for g = 1. Not checked (a
// singular A gives infinities). While a walk records (create_graph), A^-T is transposed(inv(A))
// of the graph's A, recorded (a singular A is then inv's Error).
Tensor inverse_transposed_times(const Tensor& a, const Tensor& g) {
  if (is_grad_enabled()) return transposed(inv(a)) * g.unsqueeze(-1).unsqueeze(-1);
  const Tensor eye_n = detail::identity_like(a);
  return lu_solve(transposed(a).contiguous(), eye_n, nullptr, nullptr) * g.unsqueeze(-1).unsqueeze(-1);
}

}  // namespace

Tensor solve(const Tensor& a, const Tensor& b) {
  detail::check_same_dtype_device("solve", {a, b});
  check_square("solve", a);
  // b is a vector (or a batch of them) when it is 1-D or has a's shape without its last dim.
  const bool vector =
      b.dim() == 1 || (b.dim() == a.dim() - 1 && b.shape() == Shape(a.shape().begin(), a.shape().end() - 1));
  if (vector) return solve_matrices(a, b.unsqueeze(-1), "solve", solve_singular).squeeze(-1);
  return solve_matrices(a, b, "solve", solve_singular);
}

Tensor inv(const Tensor& a) {
  check_square("inv", a);
  return solve_matrices(a, detail::identity_like(a), "inv", inv_singular);
}

Tensor det(const Tensor& a) {
  check_square("det", a);
  const Factored f = factor_lu(a, nullptr, nullptr, true);
  Tensor out = f.dets.select(-1, 0).to(a.dtype()).contiguous();
  if (should_record({a})) {
    attach_grad_fn(out, "det", {a},
                   [a, od = out.detach()](const Tensor& g) {
                     return Grads{inverse_transposed_times(is_grad_enabled() ? a : a.detach(),
                                                           g * output_for_backward(od))};
                   },
                   {a, out});
    mark_differentiable_backward(out);
  }
  return out;
}

SignLogAbsDet slogdet(const Tensor& a) {
  check_square("slogdet", a);
  const Factored f = factor_lu(a, nullptr, nullptr, true);
  SignLogAbsDet out{f.dets.select(-1, 1).to(a.dtype()).contiguous(),
                    f.dets.select(-1, 2).to(a.dtype()).contiguous()};
  if (should_record({a})) {
    attach_grad_fn(out.logabsdet, "slogdet", {a},
                   [a](const Tensor& g) {
                     return Grads{inverse_transposed_times(is_grad_enabled() ? a : a.detach(), g)};
                   },
                   {a});
    mark_differentiable_backward(out.logabsdet);
  }
  return out;
}

Tensor cholesky(const Tensor& a, bool upper) {
  check_square("cholesky", a);
  Tensor l = fresh64(a);
  const std::int64_t n = a.size(-1), batch = batch_of(a);
  if (batch > 0) {
    if (a.device().is_cuda()) {
      detail::cuda_for(a).cholesky(batch, n, detail::dptr<double>(l),
                                   detail::cuda_report_slot(a.device().index, not_positive_definite));
    } else {
      double* ls = detail::ptr<double>(l);
      std::vector<std::int64_t> failed(static_cast<std::size_t>(batch));
      if (n >= detail::kBlockedLuFrom)
        for (std::int64_t i = 0; i < batch; ++i)
          failed[static_cast<std::size_t>(i)] = detail::cholesky_blocked(ls + i * n * n, n);
      else
        parallel_for(0, batch, matrix_grain(n, n), [&](std::int64_t s, std::int64_t e) {
          for (std::int64_t i = s; i < e; ++i)
            failed[static_cast<std::size_t>(i)] = ck::cholesky_one(ls + i * n * n, n);
        });
      for (std::int64_t i = 0; i < batch; ++i) {
        const std::int64_t k = failed[static_cast<std::size_t>(i)];
        KILN_CHECK(k < 0, "cholesky: matrix ", i, " of the batch of ", fmt(a.shape()),
                   " is not positive definite (its leading ", k + 1, " x ", k + 1,
                   " block is not); a covariance may need a small multiple of the identity added");
      }
    }
  }
  l = l.to(a.dtype());
  if (should_record({a})) {
    attach_grad_fn(l, "cholesky", {a},
                   [ld = l.detach()](const Tensor& g) {
                     // While a walk records (create_graph), in recorded ops of L, a tensor of the graph.
                     const Tensor lt = transposed(output_for_backward(ld));
                     const Tensor p = matmul(lt, g);
                     const Tensor phi = tril(p, -1) + tril(triu(p)) * 0.5;
                     const auto solve_lt = [&](const Tensor& rhs) {
                       return is_grad_enabled() ? solve_triangular(lt, rhs, true)
                                                : triangular_solve(lt.contiguous(), rhs, true, false);
                     };
                     const Tensor both = transposed(solve_lt(transposed(solve_lt(phi))));  // L^-T Phi L^-1
                     return Grads{(both + transposed(both)) * 0.5};
                   },
                   {l});
    mark_differentiable_backward(l);
  }
  return upper ? transposed(l) : l;
}

Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left, bool unitriangular) {
  detail::check_same_dtype_device("solve_triangular", {a, b});
  check_square("solve_triangular", a);
  // X A = B is A^T X^T = B^T.
  if (!left) return transposed(solve_triangular(transposed(a), transposed(b), !upper, true, unitriangular));
  const auto [ae, be] = common_batch("solve_triangular", a, b);
  Tensor x = triangular_solve(ae, be, upper, unitriangular);
  if (should_record({a, b})) {
    attach_grad_fn(x, "solve_triangular", {a, b},
                   [a_full = ae, xd = x.detach(), sa = a.shape(), sb = b.shape(), upper,
                    unitriangular](const Tensor& g) {
                     // While a walk records (create_graph), in A and X as tensors of the graph.
                     const Tensor am = is_grad_enabled() ? a_full : a_full.detach(),
                                  xm = output_for_backward(xd);
                     const Tensor gb = solve_triangular(transposed(am), g, !upper, true, unitriangular);
                     const Tensor full = neg(matmul(gb, transposed(xm)));
                     const std::int64_t skip = unitriangular ? 1 : 0;
                     const Tensor ga = upper ? triu(full, skip) : tril(full, -skip);
                     return Grads{sum_to(ga, sa), sum_to(gb, sb)};
                   },
                   {a, b, x});
    mark_differentiable_backward(x);
  }
  return x;
}

namespace {

// The rows of each matrix's P^T A, from its pivots: (P^T A)[i] = A[perm[i]], perm and its
// inverse as int64 (batch.., n, 1) indices for take_along_dim along the rows.
struct RowOrder {
  Tensor perm, inverse;
};
RowOrder row_order(const char* op, const Tensor& pivots, bool one_based, Device device) {
  const std::int64_t n = pivots.size(-1);
  const std::vector<std::int64_t> p =
      pivots.to(Device::cpu()).to(kInt64).contiguous().to_vector<std::int64_t>();
  std::vector<std::int64_t> perm(p.size()), inverse(p.size());
  for (std::size_t start = 0; start < p.size(); start += static_cast<std::size_t>(n)) {
    std::int64_t* order = perm.data() + start;
    for (std::int64_t i = 0; i < n; ++i) order[i] = i;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t to = p[start + static_cast<std::size_t>(i)] - (one_based ? 1 : 0);
      KILN_CHECK(to >= i && to < n, op, ": pivot ", to + (one_based ? 1 : 0), " at position ", i,
                 " is out of range; lu_factor's pivots are ", one_based ? "1-based, " : "", "from ",
                 i + (one_based ? 1 : 0), " to ", n - (one_based ? 0 : 1), " at that position");
      std::swap(order[i], order[to]);
    }
    for (std::int64_t i = 0; i < n; ++i) inverse[start + static_cast<std::size_t>(order[i])] = i;
  }
  Shape shape = pivots.shape();
  shape.push_back(1);
  return {from_vector(perm, shape).to(device), from_vector(inverse, shape).to(device)};
}

// pivots: int32 or int64 (batch.., n) for lu (batch.., n, n).
void check_pivots(const char* op, const Tensor& lu, const Tensor& pivots) {
  KILN_CHECK((pivots.dtype() == kInt32 || pivots.dtype() == kInt64) &&
                 pivots.shape() == Shape(lu.shape().begin(), lu.shape().end() - 1),
             op, ": pivots must be int32 (or int64) of shape ",
             fmt(Shape(lu.shape().begin(), lu.shape().end() - 1)), " for LU of shape ", fmt(lu.shape()),
             ", got ", dtype_name(pivots.dtype()), " of shape ", fmt(pivots.shape()),
             " (pass lu_factor's pivots)");
}

}  // namespace

LUFactorization lu_factor(const Tensor& a) {
  check_square("lu_factor", a);
  const Factored f = factor_lu(a, nullptr, nullptr, false);
  LUFactorization out{f.lu.to(a.dtype()), (f.pivots + 1.0).to(kInt32)};
  if (should_record({a})) {
    attach_grad_fn(
        out.lu, "lu_factor", {a},
        [lud = out.lu.detach(), pivots = f.pivots](const Tensor& g) {
          const Tensor lu = output_for_backward(lud);  // a tensor of the graph while a walk records
          const Tensor l = tril(lu, -1) + detail::identity_like(lud), u = triu(lu);
          const Tensor phi =
              tril(matmul(transposed(l), tril(g, -1)), -1) + triu(matmul(triu(g), transposed(u)));
          const Tensor x = solve_triangular(transposed(l), phi, true, true, true);  // L^-T phi
          const Tensor y = solve_triangular(transposed(u), x, false, false);        // .. U^-T
          return Grads{take_along_dim(y, row_order("lu_factor", pivots, false, g.device()).inverse, -2)};
        },
        {out.lu});
    mark_differentiable_backward(out.lu);
  }
  return out;
}

Tensor lu_solve(const Tensor& lu, const Tensor& pivots, const Tensor& b) {
  constexpr const char* op = "lu_solve";
  detail::check_same_dtype_device(op, {lu, b});
  check_square(op, lu);
  check_pivots(op, lu, pivots);
  const std::int64_t n = lu.size(-1);
  KILN_CHECK(b.dim() >= 2 && b.size(-2) == n, op, ": the right-hand side of shape ", fmt(b.shape()),
             " needs ", n, " rows (..., ", n, ", k) for LU of shape ", fmt(lu.shape()));
  const Shape batch = broadcast_shapes(Shape(lu.shape().begin(), lu.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), op);
  Shape sl = batch, sp = batch, sb = batch;
  sl.insert(sl.end(), {n, n});
  sp.push_back(n);
  sb.insert(sb.end(), {n, b.size(-1)});
  const Tensor le = lu.expand(sl);
  const RowOrder order = row_order(op, pivots.expand(sp), true, lu.device());
  const Tensor swapped = take_along_dim(b.expand(sb), order.perm, -2);  // P^T B
  return solve_triangular(le, solve_triangular(le, swapped, false, true, true), true);
}

PLU lu_unpack(const Tensor& lu, const Tensor& pivots) {
  check_square("lu_unpack", lu);
  check_pivots("lu_unpack", lu, pivots);
  const Tensor identity = detail::identity_like(lu);
  const RowOrder order = row_order("lu_unpack", pivots, true, lu.device());
  // Row j of P is e_inverse[j], so that P (P^T A) = A.
  return {take_along_dim(identity, order.inverse, -2), tril(lu, -1) + identity, triu(lu)};
}

PLU lu(const Tensor& a) {
  const LUFactorization f = lu_factor(a);
  return lu_unpack(f.lu, f.pivots);
}

Tensor cholesky_solve(const Tensor& b, const Tensor& l, bool upper) {
  constexpr const char* op = "cholesky_solve";
  detail::check_same_dtype_device(op, {b, l});
  check_square(op, l);
  KILN_CHECK(b.dim() >= 2 && b.size(-2) == l.size(-1), op, ": the right-hand side of shape ", fmt(b.shape()),
             " needs ", l.size(-1), " rows (..., ", l.size(-1), ", k) for a factor of shape ",
             fmt(l.shape()));
  const Tensor lower = upper ? transposed(l) : l;
  return solve_triangular(transposed(lower), solve_triangular(lower, b, false), true);
}

Tensor cholesky_inverse(const Tensor& l, bool upper) {
  check_square("cholesky_inverse", l);
  return cholesky_solve(detail::identity_like(l), l, upper);
}

}  // namespace kiln
