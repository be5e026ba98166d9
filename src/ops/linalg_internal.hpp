// Helpers shared by the dense linear algebra (linalg_solve.cpp, linalg_decompose.cpp,
// linalg_functions.cpp): the checks, the float64 working copies the factorisations write
// into, and the batch arithmetic.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kiln/core/factories.hpp"
#include "kiln/core/tensor.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln::detail {

// The last two dims swapped (a view).
inline Tensor transposed(const Tensor& x) { return x.transpose(-2, -1); }

// x as a fresh contiguous float64 tensor the kernels may overwrite.
inline Tensor fresh64(const Tensor& x) { return x.detach().to(kFloat64).contiguous().clone(); }

// x's dims before its last two, their product, and that shape with `tail` appended.
inline Shape batch_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }
inline std::int64_t batch_of(const Tensor& x) { return numel_of(batch_shape(x)); }
inline Shape with_tail(Shape s, std::initializer_list<std::int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}

// Matrices per CPU task: enough of them (each about rows * cols * max(rows, cols) work)
// to be worth a thread.
inline std::int64_t matrix_grain(std::int64_t rows, std::int64_t cols) {
  return std::max<std::int64_t>(1, 32768 / (rows * cols * std::max(rows, cols) + 1));
}

// lu_factor_one's factorisation of one n x n float64 matrix, in blocks whose trailing
// updates are GEMMs (linalg_blocked.cpp): for large n, where the unblocked loops wait on
// memory. Returns the first zero pivot, or -1.
std::int64_t lu_factor_blocked(double* a, std::int64_t n, std::int64_t* pivots);
inline constexpr std::int64_t kBlockedLuFrom = 128;  // the size from which it pays
// triangular_solve_one's and lu_solve_one's results the same way, each block of rows of
// B first updated by a GEMM with the rows solved before it.
void triangular_solve_blocked(const double* t, double* b, std::int64_t n, std::int64_t m, bool upper,
                              bool unit);
void lu_solve_blocked(const double* lu, const std::int64_t* pivots, double* b, std::int64_t n,
                      std::int64_t m);
// cholesky_one's factor the same way: the trailing updates by GEMM.
std::int64_t cholesky_blocked(double* a, std::int64_t n);

// A floating tensor of square matrices (..., n, n), or an Error naming `op`.
inline void check_square(const char* op, const Tensor& a) {
  check_floating(op, a);
  KILN_CHECK(a.dim() >= 2 && a.size(-1) == a.size(-2), op, ": needs square matrices (..., n, n), got shape ",
             fmt(a.shape()));
}

// The identity, expanded to a's shape (a view).
inline Tensor identity_like(const Tensor& a) {
  return eye(a.size(-1), -1, a.dtype(), a.device()).expand(a.shape());
}

}  // namespace kiln::detail
