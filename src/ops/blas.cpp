#include "src/ops/blas.hpp"

#include "src/core/blas_threads.hpp"

#include <algorithm>

#if defined(KILN_USE_OPENBLAS)
#include <cblas.h>
#else
#include <Eigen/Core>
#endif

namespace kiln::detail {

#if defined(KILN_USE_OPENBLAS)

const char* blas_backend() { return "OpenBLAS"; }
void set_blas_threads(int n) { openblas_set_num_threads(n); }

namespace {
// OpenBLAS applies beta = 0 in a separate pass over C (its gemm_beta) that is slower than a
// plain zero fill: for the small per-image products of a convolution, clearing C first and
// accumulating with beta = 1 takes 7-45 % less time. Either way the old contents of C are never
// read (a NaN there cannot leak into the product).
template <class T>
T clear_for_zero_beta(T beta, std::int64_t m, std::int64_t n, T* c, std::int64_t ldc) {
  if (beta != T(0)) return beta;
  if (ldc == n)
    std::fill(c, c + m * n, T(0));
  else
    for (std::int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
  return T(1);
}

// cblas_sgemm / cblas_dgemm, and the matching gemv.
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a,
               int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a,
               int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemv(CBLAS_TRANSPOSE t, int rows, int cols, float alpha, const float* a, int lda, const float* x,
               int incx, float beta, float* y, int incy) {
  cblas_sgemv(CblasRowMajor, t, rows, cols, alpha, a, lda, x, incx, beta, y, incy);
}
void blas_gemv(CBLAS_TRANSPOSE t, int rows, int cols, double alpha, const double* a, int lda, const double* x,
               int incx, double beta, double* y, int incy) {
  cblas_dgemv(CblasRowMajor, t, rows, cols, alpha, a, lda, x, incx, beta, y, incy);
}

// C (m, n) = alpha op(A) op(B) + beta C. A product with one row (a vector times a matrix:
// one image through a linear layer) or one column goes to gemv: OpenBLAS's gemm does not
// switch to it by itself, and at m = 1 it runs 3-10 times slower than gemv (a 1 x 784 by
// 784 x 256 product: 72 us against 7-13 us; 1 x 256 by 256 x 128: 11 against 2-3 us).
// More rows stay with gemm: at 784 x 256, two gemv calls still beat it (49 against 75 us)
// but four lose (98 against 61 us). With k = 0 the product is empty and gemm keeps its
// rule for C (scaled by beta), which gemv skips.
template <class T>
void openblas_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                   std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  beta = clear_for_zero_beta(beta, m, n, c, ldc);
  const auto i = [](std::int64_t v) { return static_cast<int>(v); };
  if (m == 1 && k > 0) {
    // c (n) = op(B)^T a: op(A)'s K values lie a[0], a[1], ... (or a[0], a[lda], ... stored transposed).
    if (tb)
      blas_gemv(CblasNoTrans, i(n), i(k), alpha, b, i(ldb), a, ta ? i(lda) : 1, beta, c, 1);
    else
      blas_gemv(CblasTrans, i(k), i(n), alpha, b, i(ldb), a, ta ? i(lda) : 1, beta, c, 1);
  } else if (n == 1 && k > 0) {
    // c (m, stride ldc) = op(A) b: op(B)'s K values lie b[0], b[ldb], ... (or b[0], b[1], ... stored
    // transposed).
    if (ta)
      blas_gemv(CblasTrans, i(k), i(m), alpha, a, i(lda), b, tb ? 1 : i(ldb), beta, c, i(ldc));
    else
      blas_gemv(CblasNoTrans, i(m), i(k), alpha, a, i(lda), b, tb ? 1 : i(ldb), beta, c, i(ldc));
  } else {
    blas_gemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, i(m), i(n), i(k), alpha, a,
              i(lda), b, i(ldb), beta, c, i(ldc));
  }
}
}  // namespace

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  openblas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  openblas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else

const char* blas_backend() { return "Eigen"; }
void set_blas_threads(int n) { Eigen::setNbThreads(n); }

namespace {
template <class T>
void eigen_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  // A stored transposed is a (K, M) row-major matrix.
  Eigen::Map<const Mat, 0, Stride> A(a, ta ? k : m, ta ? m : k, Stride(lda));
  Eigen::Map<const Mat, 0, Stride> B(b, tb ? n : k, tb ? k : n, Stride(ldb));
  Eigen::Map<Mat, 0, Stride> C(c, m, n, Stride(ldc));
  if (beta == T(0))
    C.setZero();
  else
    C *= beta;
  if (ta && tb)
    C.noalias() += alpha * A.transpose() * B.transpose();
  else if (ta)
    C.noalias() += alpha * A.transpose() * B;
  else if (tb)
    C.noalias() += alpha * A * B.transpose();
  else
    C.noalias() += alpha * A * B;
}
}  // namespace

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  eigen_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  eigen_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#endif

}  // namespace kiln::detail
