// Internal: one GEMM entry point over OpenBLAS (cblas) or Eigen.
#pragma once

#include <cstdint>

namespace kiln::detail {

// Row-major C(M, N) = alpha * op(A)(M, K) * op(B)(K, N) + beta * C,
// op(X) = X or X^T; lda/ldb/ldc are the row strides of A, B, C as stored.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc);
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc);

// Which library gemm calls ("OpenBLAS" or "Eigen").
const char* blas_backend();

}  // namespace kiln::detail
