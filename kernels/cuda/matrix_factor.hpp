// Factorisations and solves of one dense square matrix, in double, row-major and
// contiguous: LU with partial pivoting, Cholesky, and triangular solves. Plain C++ that
// nvcc and the host compiler both read: the CPU runs them a matrix per task and the GPU a
// matrix per thread (kernels/cuda/linalg.cu), so both take the same steps in the same
// order. Meant for the small and batched matrices of deep learning (the work of one
// n x n matrix is serial, n^3 / 3 multiply-adds); src/ops/linalg_solve.cpp builds
// solve, inv, det, slogdet, cholesky and solve_triangular on them.
#pragma once

#include <math.h>

#include <cstdint>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// a = P L U in place: U on and above the diagonal, L's multipliers (its diagonal is 1)
// below; row k was swapped with row pivots[k] >= k at step k (LAPACK's getrf, pivots from
// 0). The pivot is the first entry of largest magnitude in its column. Returns the first
// k whose pivot is 0 (the matrix is singular; the factorisation goes on past it, as
// getrf's does), or -1.
KILN_HOST_DEVICE inline std::int64_t lu_factor_one(double* a, std::int64_t n, std::int64_t* pivots) {
  std::int64_t singular = -1;
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t p = k;
    double largest = ::fabs(a[k * n + k]);
    for (std::int64_t i = k + 1; i < n; ++i)
      if (::fabs(a[i * n + k]) > largest) largest = ::fabs(a[i * n + k]), p = i;
    pivots[k] = p;
    if (p != k)
      for (std::int64_t j = 0; j < n; ++j) {
        const double t = a[k * n + j];
        a[k * n + j] = a[p * n + j];
        a[p * n + j] = t;
      }
    const double d = a[k * n + k];
    if (d == 0.0) {  // the column below is 0 too: nothing to eliminate
      if (singular < 0) singular = k;
      continue;
    }
    for (std::int64_t i = k + 1; i < n; ++i) {
      const double l = a[i * n + k] /= d;
      for (std::int64_t j = k + 1; j < n; ++j) a[i * n + j] -= l * a[k * n + j];
    }
  }
  return singular;
}

// The sign of the row permutation lu_factor_one applied (+1 or -1).
KILN_HOST_DEVICE inline double permutation_sign(const std::int64_t* pivots, std::int64_t n) {
  double s = 1.0;
  for (std::int64_t k = 0; k < n; ++k)
    if (pivots[k] != k) s = -s;
  return s;
}

// From lu_factor_one's result: out[0] = det(A) (the permutation's sign times the product
// of U's diagonal), out[1] = its sign (0 when singular), out[2] = log |det(A)| (the sum
// of log |u_kk|; -inf when singular), which holds where the product would overflow.
KILN_HOST_DEVICE inline void lu_determinant(const double* lu, const std::int64_t* pivots, std::int64_t n,
                                            double* out) {
  double det = permutation_sign(pivots, n), sign = det, log_abs = 0.0;
  for (std::int64_t k = 0; k < n; ++k) {
    const double u = lu[k * n + k];
    det *= u;
    sign *= u > 0.0 ? 1.0 : u < 0.0 ? -1.0 : u;  // 0 stays 0, NaN NaN
    log_abs += ::log(::fabs(u));
  }
  out[0] = det;
  out[1] = sign;
  out[2] = log_abs;
}

// Solves T X = B in place of b (n rows of m), T the lower (upper) triangle of t (n x n),
// its diagonal taken as 1 when `unit`: forward (back) substitution, row by row.
KILN_HOST_DEVICE inline void triangular_solve_one(const double* t, double* b, std::int64_t n, std::int64_t m,
                                                  bool upper, bool unit) {
  for (std::int64_t step = 0; step < n; ++step) {
    const std::int64_t i = upper ? n - 1 - step : step;
    double* row = b + i * m;
    const std::int64_t j0 = upper ? i + 1 : 0, j1 = upper ? n : i;
    for (std::int64_t j = j0; j < j1; ++j) {
      const double f = t[i * n + j];
      const double* solved = b + j * m;
      for (std::int64_t c = 0; c < m; ++c) row[c] -= f * solved[c];
    }
    if (!unit)
      for (std::int64_t c = 0; c < m; ++c) row[c] /= t[i * n + i];
  }
}

// Solves A X = B in place of b (n rows of m), from A's lu_factor_one: the row swaps,
// then L (unit lower), then U.
KILN_HOST_DEVICE inline void lu_solve_one(const double* lu, const std::int64_t* pivots, double* b,
                                          std::int64_t n, std::int64_t m) {
  for (std::int64_t k = 0; k < n; ++k)
    if (pivots[k] != k)
      for (std::int64_t c = 0; c < m; ++c) {
        const double t = b[k * m + c];
        b[k * m + c] = b[pivots[k] * m + c];
        b[pivots[k] * m + c] = t;
      }
  triangular_solve_one(lu, b, n, m, false, true);
  triangular_solve_one(lu, b, n, m, true, false);
}

// a = L L^T in place, from a's lower triangle only (its upper part is not read and is
// set to 0). Returns the first k at which the leading k + 1 rows and columns are not
// positive definite (the pivot is <= 0 or NaN; L is left there), or -1.
KILN_HOST_DEVICE inline std::int64_t cholesky_one(double* a, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (std::int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0)) return j;
    const double l = ::sqrt(d);
    a[j * n + j] = l;
    for (std::int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (std::int64_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / l;
    }
    for (std::int64_t k = j + 1; k < n; ++k) a[j * n + k] = 0.0;
  }
  return -1;
}

}  // namespace kiln::cuda_kernels
