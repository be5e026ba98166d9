// LU and Cholesky factorisations and triangular solves of one large matrix on the CPU in
// blocks (LAPACK's right-looking getrf and potrf, and trsm's blocked substitution), so
// that most of their work is one GEMM per block.
#include <algorithm>
#include <cmath>
#include <utility>

#include "kernels/cuda/matrix_factor.hpp"  // lu_step
#include "src/ops/blas.hpp"
#include "src/ops/linalg_internal.hpp"

namespace kiln::detail {

namespace {
constexpr std::int64_t kPanel = 48;  // columns factored at a time
}  // namespace

// For each panel of kPanel columns j .. j + nb:
//   1. factor the panel's columns over all rows below j, lu_factor_one's steps (lu_step)
//      with the updates kept inside the panel;
//   2. U12 = L11^-1 A12: the panel's rows to the right, by forward substitution with
//      the panel's unit lower triangle;
//   3. A22 -= L21 U12: the trailing block, by one GEMM.
// The same factorisation as lu_factor_one in exact arithmetic; the trailing updates add
// up in another order, so the last bits (and, between near-equal candidates, a pivot)
// can differ.
std::int64_t lu_factor_blocked(double* a, std::int64_t n, std::int64_t* pivots) {
  std::int64_t singular = -1;
  for (std::int64_t j = 0; j < n; j += kPanel) {
    const std::int64_t nb = std::min(kPanel, n - j), right = j + nb;
    for (std::int64_t k = j; k < right; ++k)
      if (!cuda_kernels::lu_step(a, n, k, right, pivots) && singular < 0) singular = k;
    if (right == n) break;
    for (std::int64_t i = j + 1; i < right; ++i)
      for (std::int64_t r = j; r < i; ++r) {
        const double l = a[i * n + r];
        const double* above = a + r * n;
        double* row = a + i * n;
        for (std::int64_t c = right; c < n; ++c) row[c] -= l * above[c];
      }
    gemm(false, false, n - right, n - right, nb, -1.0, a + right * n + j, n, a + j * n + right, n, 1.0,
         a + right * n + right, n);
  }
  return singular;
}

// Rows of B by blocks of kPanel: each block first loses what the rows already solved
// contribute (one GEMM with T's block of rows beside the diagonal), then is solved by
// substitution against T's diagonal block. Lower: blocks from the top; upper: from the
// bottom.
void triangular_solve_blocked(const double* t, double* b, std::int64_t n, std::int64_t m, bool upper,
                              bool unit) {
  const std::int64_t blocks = (n + kPanel - 1) / kPanel;
  for (std::int64_t step = 0; step < blocks; ++step) {
    const std::int64_t blk = upper ? blocks - 1 - step : step;
    const std::int64_t j = blk * kPanel, end = std::min(n, j + kPanel), nb = end - j;
    // Solved rows: 0 .. j (lower) or end .. n (upper).
    const std::int64_t from = upper ? end : 0, count = upper ? n - end : j;
    if (count > 0)
      gemm(false, false, nb, m, count, -1.0, t + j * n + from, n, b + from * m, m, 1.0, b + j * m, m);
    for (std::int64_t s = 0; s < nb; ++s) {
      const std::int64_t i = upper ? end - 1 - s : j + s;
      double* row = b + i * m;
      const std::int64_t c0 = upper ? i + 1 : j, c1 = upper ? end : i;
      for (std::int64_t c = c0; c < c1; ++c) {
        const double f = t[i * n + c];
        const double* solved = b + c * m;
        for (std::int64_t q = 0; q < m; ++q) row[q] -= f * solved[q];
      }
      if (!unit)
        for (std::int64_t q = 0; q < m; ++q) row[q] /= t[i * n + i];
    }
  }
}

void lu_solve_blocked(const double* lu, const std::int64_t* pivots, double* b, std::int64_t n,
                      std::int64_t m) {
  for (std::int64_t k = 0; k < n; ++k)
    if (pivots[k] != k) std::swap_ranges(b + k * m, b + (k + 1) * m, b + pivots[k] * m);
  triangular_solve_blocked(lu, b, n, m, false, true);
  triangular_solve_blocked(lu, b, n, m, true, false);
}

// For each panel of kPanel columns j .. j + nb, its earlier columns' share already taken
// off by the updates before:
//   1. L11: the diagonal block factored as cholesky_one does;
//   2. L21 = A21 L11^-T: each row below by forward substitution with L11;
//   3. A22 -= L21 L21^T: the trailing block by one GEMM (the whole block; only its lower
//      triangle is read later).
// Then the upper triangle is set to 0. Returns the first failing pivot, as cholesky_one.
std::int64_t cholesky_blocked(double* a, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += kPanel) {
    const std::int64_t right = std::min(j + kPanel, n);
    for (std::int64_t c = j; c < right; ++c) {
      double d = a[c * n + c];
      for (std::int64_t k = j; k < c; ++k) d -= a[c * n + k] * a[c * n + k];
      if (!(d > 0.0)) return c;
      const double l = std::sqrt(d);
      a[c * n + c] = l;
      for (std::int64_t i = c + 1; i < right; ++i) {
        double s = a[i * n + c];
        for (std::int64_t k = j; k < c; ++k) s -= a[i * n + k] * a[c * n + k];
        a[i * n + c] = s / l;
      }
    }
    if (right == n) break;
    for (std::int64_t i = right; i < n; ++i) {
      double* row = a + i * n;
      for (std::int64_t c = j; c < right; ++c) {
        double s = row[c];
        for (std::int64_t k = j; k < c; ++k) s -= row[k] * a[c * n + k];
        row[c] = s / a[c * n + c];
      }
    }
    gemm(false, true, n - right, n - right, right - j, -1.0, a + right * n + j, n, a + right * n + j, n, 1.0,
         a + right * n + right, n);
  }
  for (std::int64_t i = 0; i < n; ++i) std::fill(a + i * n + i + 1, a + (i + 1) * n, 0.0);
  return -1;
}

}  // namespace kiln::detail
