// Factorisations and solves of one dense matrix, in double, row-major and contiguous:
// LU with partial pivoting, Cholesky, triangular solves, Householder QR, the eigenvalues
// and eigenvectors of a symmetric matrix by Jacobi rotations, and the SVD by one-sided
// Jacobi rotations. Plain C++ that
// nvcc and the host compiler both read: the CPU runs them a matrix per task and the GPU a
// matrix per thread (kernels/cuda/linalg.cu), so both take the same steps in the same
// order. Meant for the small and batched matrices of deep learning (the work of one
// n x n matrix is serial, n^3 / 3 multiply-adds); src/ops/linalg_solve.cpp builds
// solve, inv, det, slogdet, cholesky and solve_triangular on them,
// src/ops/linalg_decompose.cpp qr, eigh, lstsq and svd.
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
// Step k of LU with partial pivoting, the elimination limited to columns k + 1 .. end - 1:
// the pivot (the first largest |a_ik|, i >= k) recorded and its whole row swapped with
// row k, the column below divided by it, and those columns of the rows below updated.
// Returns false where the pivot is 0 (the column below is 0 too: nothing to eliminate).
// lu_factor_one takes every column at once; the CPU's blocked LU a panel at a time.
KILN_HOST_DEVICE inline bool lu_step(double* a, std::int64_t n, std::int64_t k, std::int64_t end,
                                     std::int64_t* pivots) {
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
  if (d == 0.0) return false;
  for (std::int64_t i = k + 1; i < n; ++i) {
    const double l = a[i * n + k] /= d;
    for (std::int64_t j = k + 1; j < end; ++j) a[i * n + j] -= l * a[k * n + j];
  }
  return true;
}

KILN_HOST_DEVICE inline std::int64_t lu_factor_one(double* a, std::int64_t n, std::int64_t* pivots) {
  std::int64_t singular = -1;
  for (std::int64_t k = 0; k < n; ++k)
    if (!lu_step(a, n, k, n, pivots) && singular < 0) singular = k;
  return singular;
}

// The sign of the row permutation lu_factor_one applied (+1 or -1).
KILN_HOST_DEVICE inline double permutation_sign(const std::int64_t* pivots, std::int64_t n) {
  double s = 1.0;
  for (std::int64_t k = 0; k < n; ++k)
    if (pivots[k] != k) s = -s;
  return s;
}

// Swaps columns i and j of a (rows x cols).
KILN_HOST_DEVICE inline void swap_columns(double* a, std::int64_t rows, std::int64_t cols, std::int64_t i,
                                          std::int64_t j) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const double x = a[r * cols + i];
    a[r * cols + i] = a[r * cols + j];
    a[r * cols + j] = x;
  }
}

// Whether column c of a (rows x cols) has its entry of largest magnitude (the first of
// equals) negative: the sign convention of eigh's and svd's vectors.
KILN_HOST_DEVICE inline bool largest_entry_negative(const double* a, std::int64_t rows, std::int64_t cols,
                                                    std::int64_t c) {
  std::int64_t at = 0;
  for (std::int64_t r = 1; r < rows; ++r)
    if (::fabs(a[r * cols + c]) > ::fabs(a[at * cols + c])) at = r;
  return rows > 0 && a[at * cols + c] < 0.0;
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

// a (m x n) = Q R by Householder reflections, k = min(m, n) of them, as LAPACK's geqrf:
// reflection j maps column j's part from row j down to (beta, 0, ..., 0), beta of the
// opposite sign to the diagonal entry (so it never cancels), and is I - tau_j v v^T with
// v_j = 1. On return a holds R on and above the diagonal, v's lower part below it, and
// tau[j] (0 where the column below is already 0).
KILN_HOST_DEVICE inline void householder_qr_one(double* a, std::int64_t m, std::int64_t n, double* tau) {
  const std::int64_t k = m < n ? m : n;
  for (std::int64_t j = 0; j < k; ++j) {
    const double alpha = a[j * n + j];
    double below = 0.0;
    for (std::int64_t i = j + 1; i < m; ++i) below = ::hypot(below, a[i * n + j]);
    if (below == 0.0) {
      tau[j] = 0.0;
      continue;
    }
    const double beta = -::copysign(::hypot(alpha, below), alpha);
    tau[j] = (beta - alpha) / beta;
    const double scale = 1.0 / (alpha - beta);
    for (std::int64_t i = j + 1; i < m; ++i) a[i * n + j] *= scale;
    a[j * n + j] = beta;
    for (std::int64_t c = j + 1; c < n; ++c) {  // the columns right of j: minus tau v (v . column)
      double w = a[j * n + c];
      for (std::int64_t i = j + 1; i < m; ++i) w += a[i * n + j] * a[i * n + c];
      w *= tau[j];
      a[j * n + c] -= w;
      for (std::int64_t i = j + 1; i < m; ++i) a[i * n + c] -= w * a[i * n + j];
    }
  }
}

// From householder_qr_one's a (m x n) and tau: q (m x k) = the first k columns of
// H_0 H_1 ... H_(k-1), built from the identity's columns applying the last reflection
// first, and r (k x n) = the upper triangle of a's first k rows.
KILN_HOST_DEVICE inline void householder_q_r_one(const double* a, const double* tau, std::int64_t m,
                                                 std::int64_t n, double* q, double* r) {
  const std::int64_t k = m < n ? m : n;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t c = 0; c < k; ++c) q[i * k + c] = i == c ? 1.0 : 0.0;
  for (std::int64_t j = k - 1; j >= 0; --j) {
    if (tau[j] == 0.0) continue;
    for (std::int64_t c = j; c < k; ++c) {
      double w = q[j * k + c];
      for (std::int64_t i = j + 1; i < m; ++i) w += a[i * n + j] * q[i * k + c];
      w *= tau[j];
      q[j * k + c] -= w;
      for (std::int64_t i = j + 1; i < m; ++i) q[i * k + c] -= w * a[i * n + j];
    }
  }
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t c = 0; c < n; ++c) r[i * n + c] = c >= i ? a[i * n + c] : 0.0;
}

// The eigenvalues w (ascending) and orthonormal eigenvectors v (columns, n x n) of the
// symmetric matrix whose lower triangle a holds (a is overwritten), by cyclic Jacobi
// rotations: sweeps over every pair (p, q) that zero a_pq, until the off-diagonal part
// is below 1e-15 of the norm (small entries relative to their diagonal are left alone;
// at most 64 sweeps). Each eigenvector's entry of largest magnitude (the first of equals)
// is made positive, so that the result does not depend on the order of the rotations.
KILN_HOST_DEVICE inline void jacobi_eigh_one(double* a, std::int64_t n, double* w, double* v) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      if (j > i) a[i * n + j] = a[j * n + i];
      v[i * n + j] = i == j ? 1.0 : 0.0;
    }
  for (int sweep = 0; sweep < 64; ++sweep) {
    double off = 0.0, total = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const double x = a[i * n + j] * a[i * n + j];
        total += x;
        if (i != j) off += x;
      }
    if (!(off > 1e-30 * total)) break;  // also ends on NaN
    for (std::int64_t p = 0; p < n - 1; ++p)
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q], app = a[p * n + p], aqq = a[q * n + q];
        if (apq == 0.0 || ::fabs(apq) < 1e-18 * (::fabs(app) + ::fabs(aqq))) continue;
        // t = tan of the angle that zeroes a_pq, the smaller root: |angle| <= pi / 4.
        const double theta = (aqq - app) / (2.0 * apq);
        const double t = (theta >= 0.0 ? 1.0 : -1.0) / (::fabs(theta) + ::sqrt(theta * theta + 1.0));
        const double c = 1.0 / ::sqrt(t * t + 1.0), s = t * c;
        for (std::int64_t i = 0; i < n; ++i) {  // columns p and q of a J
          const double x = a[i * n + p], y = a[i * n + q];
          a[i * n + p] = c * x - s * y;
          a[i * n + q] = s * x + c * y;
        }
        for (std::int64_t j = 0; j < n; ++j) {  // rows p and q of J^T a J
          const double x = a[p * n + j], y = a[q * n + j];
          a[p * n + j] = c * x - s * y;
          a[q * n + j] = s * x + c * y;
        }
        a[p * n + q] = a[q * n + p] = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {  // v J
          const double x = v[i * n + p], y = v[i * n + q];
          v[i * n + p] = c * x - s * y;
          v[i * n + q] = s * x + c * y;
        }
      }
  }
  for (std::int64_t i = 0; i < n; ++i) w[i] = a[i * n + i];
  // Ascending, by selection: swap values and columns.
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = i;
    for (std::int64_t j = i + 1; j < n; ++j)
      if (w[j] < w[best]) best = j;
    if (best == i) continue;
    const double t = w[i];
    w[i] = w[best];
    w[best] = t;
    swap_columns(v, n, n, i, best);
  }
  for (std::int64_t c = 0; c < n; ++c)
    if (largest_entry_negative(v, n, n, c))
      for (std::int64_t r = 0; r < n; ++r) v[r * n + c] = -v[r * n + c];
}

// The thin SVD of a (m x n, m >= n) by one-sided Jacobi rotations (Hestenes): pairs of
// columns are turned until every two are orthogonal (|u_p . u_q| <= 1e-15 |u_p| |u_q|, at
// most 64 sweeps), the same rotations applied to v (n x n, from the identity). Then
// s[j] = |u_j| (descending), a becomes U (columns u_j / s[j]; columns whose s[j] is 0
// complete the orthonormal set from unit vectors), and v holds V, with A = U S V^T.
// Each pair of singular vectors is turned so that the entry of largest magnitude (the first
// of equals) of v's column, when `sign_by_v`, else of U's, is positive.
KILN_HOST_DEVICE inline void jacobi_svd_one(double* a, std::int64_t m, std::int64_t n, double* s, double* v,
                                            bool sign_by_v) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) v[i * n + j] = i == j ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 64; ++sweep) {
    bool turned = false;
    for (std::int64_t p = 0; p < n - 1; ++p)
      for (std::int64_t q = p + 1; q < n; ++q) {
        double alpha = 0.0, beta = 0.0, gamma = 0.0;
        for (std::int64_t i = 0; i < m; ++i) {
          const double x = a[i * n + p], y = a[i * n + q];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma == 0.0 || !(::fabs(gamma) > 1e-15 * ::sqrt(alpha * beta))) continue;
        turned = true;
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0.0 ? 1.0 : -1.0) / (::fabs(zeta) + ::sqrt(zeta * zeta + 1.0));
        const double c = 1.0 / ::sqrt(t * t + 1.0), sn = t * c;
        for (std::int64_t i = 0; i < m; ++i) {
          const double x = a[i * n + p], y = a[i * n + q];
          a[i * n + p] = c * x - sn * y;
          a[i * n + q] = sn * x + c * y;
        }
        for (std::int64_t i = 0; i < n; ++i) {
          const double x = v[i * n + p], y = v[i * n + q];
          v[i * n + p] = c * x - sn * y;
          v[i * n + q] = sn * x + c * y;
        }
      }
    if (!turned) break;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    double norm = 0.0;
    for (std::int64_t i = 0; i < m; ++i) norm = ::hypot(norm, a[i * n + j]);
    s[j] = norm;
  }
  // Descending, by selection: swap values and the columns of U and V.
  for (std::int64_t j = 0; j < n; ++j) {
    std::int64_t best = j;
    for (std::int64_t c = j + 1; c < n; ++c)
      if (s[c] > s[best]) best = c;
    if (best == j) continue;
    const double t = s[j];
    s[j] = s[best];
    s[best] = t;
    swap_columns(a, m, n, j, best);
    swap_columns(v, n, n, j, best);
  }
  for (std::int64_t j = 0; j < n; ++j) {
    if (s[j] > 0.0) {
      for (std::int64_t i = 0; i < m; ++i) a[i * n + j] /= s[j];
      continue;
    }
    // s[j] = 0 (so are the rest): the unit vector e_r least inside the columns before
    // (|e_r - its projection|^2 = 1 - the sum of row r's squares there, at least
    // (m - j) / m for one r), made orthogonal to them (Gram-Schmidt, twice) and normalised.
    std::int64_t pick = 0;
    double most = -1.0;
    for (std::int64_t r = 0; r < m; ++r) {
      double inside = 0.0;
      for (std::int64_t c = 0; c < j; ++c) inside += a[r * n + c] * a[r * n + c];
      if (1.0 - inside > most) most = 1.0 - inside, pick = r;
    }
    for (std::int64_t i = 0; i < m; ++i) a[i * n + j] = i == pick ? 1.0 : 0.0;
    for (int pass = 0; pass < 2; ++pass)
      for (std::int64_t c = 0; c < j; ++c) {
        double dot = 0.0;
        for (std::int64_t i = 0; i < m; ++i) dot += a[i * n + c] * a[i * n + j];
        for (std::int64_t i = 0; i < m; ++i) a[i * n + j] -= dot * a[i * n + c];
      }
    double norm = 0.0;
    for (std::int64_t i = 0; i < m; ++i) norm = ::hypot(norm, a[i * n + j]);
    for (std::int64_t i = 0; i < m; ++i) a[i * n + j] /= norm;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    if (!(sign_by_v ? largest_entry_negative(v, n, n, j) : largest_entry_negative(a, m, n, j))) continue;
    for (std::int64_t i = 0; i < m; ++i) a[i * n + j] = -a[i * n + j];
    for (std::int64_t i = 0; i < n; ++i) v[i * n + j] = -v[i * n + j];
  }
}

}  // namespace kiln::cuda_kernels
