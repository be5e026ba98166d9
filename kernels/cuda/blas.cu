// Row-major GEMM on cuBLAS (column-major) without copies: a row-major matrix is
// the column-major storage of its transpose, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T, i.e. cuBLAS gets B first and A second, with m and n swapped.
// FP32 runs in full precision (no TF32), as a reference-quality default.
#include <mutex>

#include "kernels/cuda/blas.cuh"
#include "kernels/cuda/cublas_loader.hpp"
#include "kernels/cuda/common.cuh"

#define KILN_CUBLAS_CHECK(api, call)                                                                   \
  do {                                                                                                 \
    const cublasStatus_t kiln_blas_status_ = (call);                                                   \
    KILN_CHECK(kiln_blas_status_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error in ", #call, ": ",            \
               (api).status_name(kiln_blas_status_), " (", (api).status_string(kiln_blas_status_), ") at ", \
               __FILE__, ":", __LINE__);                                                               \
  } while (0)

namespace kiln::cuda_kernels {

namespace {

// One cuBLAS handle per device, made on first use and kept for the process.
cublasHandle_t handle_for_current_device() {
  constexpr int kMaxDevices = 64;
  static std::mutex mutex;
  static cublasHandle_t handles[kMaxDevices] = {};
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device));
  KILN_ASSERT(device >= 0 && device < kMaxDevices);
  std::lock_guard<std::mutex> lock(mutex);
  const CublasApi& api = cublas();
  if (!handles[device]) KILN_CUBLAS_CHECK(api, api.create(&handles[device]));
  return handles[device];
}

int to_int(std::int64_t v, const char* what) {
  KILN_CHECK(v >= 0 && v <= 0x7fffffff, "matmul on cuda: ", what, " = ", v,
             " exceeds cuBLAS's 32-bit sizes; split the product into smaller pieces");
  return static_cast<int>(v);
}

}  // namespace

void gemm(Scalar t, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const void* a,
          std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cublasHandle_t h = handle_for_current_device();
  const CublasApi& api = cublas();
  const cublasOperation_t op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int M = to_int(m, "rows"), N = to_int(n, "columns"), K = to_int(k, "inner size");
  const int LDA = to_int(lda, "lda"), LDB = to_int(ldb, "ldb"), LDC = to_int(ldc, "ldc");
  if (t == Scalar::f32) {
    const float alpha = 1.0f, b32 = static_cast<float>(beta);
    KILN_CUBLAS_CHECK(api, api.sgemm(h, op_b, op_a, N, M, K, &alpha, static_cast<const float*>(b), LDB,
                                  static_cast<const float*>(a), LDA, &b32, static_cast<float*>(c), LDC));
  } else {
    KILN_ASSERT(t == Scalar::f64);
    const double alpha = 1.0;
    KILN_CUBLAS_CHECK(api, api.dgemm(h, op_b, op_a, N, M, K, &alpha, static_cast<const double*>(b), LDB,
                                  static_cast<const double*>(a), LDA, &beta, static_cast<double*>(c), LDC));
  }
}

}  // namespace kiln::cuda_kernels
