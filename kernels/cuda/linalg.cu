// Dense factorisations (LU, Cholesky, QR, symmetric eigen, SVD) and solves, a thread per matrix
// (matrix_factor.hpp). A batch of many small matrices fills the GPU; one large matrix runs on one thread.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/linalg.cuh"
#include "kernels/cuda/matrix_factor.hpp"

namespace kiln::cuda_kernels {

namespace {

__global__ void lu_factor_matrices(std::int64_t batch, std::int64_t n, double* a, std::int64_t* pivots,
                                   double* dets, ReportSlot singular) {
  for (std::int64_t e = global_index(); e < batch; e += grid_stride()) {
    double* m = a + e * n * n;
    const std::int64_t k = lu_factor_one(m, n, pivots + e * n);
    if (dets) lu_determinant(m, pivots + e * n, n, dets + e * 3);
    if (k >= 0 && singular.report) report_bad_index(singular, e, k, n);
  }
}

__global__ void lu_solve_matrices(std::int64_t batch, std::int64_t n, std::int64_t m, const double* lu,
                                  const std::int64_t* pivots, double* b) {
  for (std::int64_t e = global_index(); e < batch; e += grid_stride())
    lu_solve_one(lu + e * n * n, pivots + e * n, b + e * n * m, n, m);
}

__global__ void triangular_solve_matrices(std::int64_t batch, std::int64_t n, std::int64_t m, const double* t,
                                          double* b, bool upper, bool unit) {
  for (std::int64_t e = global_index(); e < batch; e += grid_stride())
    triangular_solve_one(t + e * n * n, b + e * n * m, n, m, upper, unit);
}

__global__ void cholesky_matrices(std::int64_t batch, std::int64_t n, double* a,
                                  ReportSlot not_positive_definite) {
  for (std::int64_t e = global_index(); e < batch; e += grid_stride()) {
    const std::int64_t k = cholesky_one(a + e * n * n, n);
    if (k >= 0 && not_positive_definite.report) report_bad_index(not_positive_definite, e, k, n);
  }
}

__global__ void qr_matrices(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* tau,
                            double* q, double* r) {
  const std::int64_t k = m < n ? m : n;
  for (std::int64_t e = global_index(); e < batch; e += grid_stride()) {
    householder_qr_one(a + e * m * n, m, n, tau + e * k);
    householder_q_r_one(a + e * m * n, tau + e * k, m, n, q + e * m * k, r + e * k * n);
  }
}

__global__ void eigh_matrices(std::int64_t batch, std::int64_t n, double* a, double* w, double* v) {
  for (std::int64_t e = global_index(); e < batch; e += grid_stride())
    jacobi_eigh_one(a + e * n * n, n, w + e * n, v + e * n * n);
}

__global__ void svd_matrices(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* s,
                             double* v, bool sign_by_v) {
  for (std::int64_t e = global_index(); e < batch; e += grid_stride())
    jacobi_svd_one(a + e * m * n, m, n, s + e * n, v + e * n * n, sign_by_v);
}

}  // namespace

void svd(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* s, double* v,
         bool sign_by_v) {
  launch_over(batch, svd_matrices, batch, m, n, a, s, v, sign_by_v);
}

void qr(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* tau, double* q, double* r) {
  launch_over(batch, qr_matrices, batch, m, n, a, tau, q, r);
}

void eigh(std::int64_t batch, std::int64_t n, double* a, double* w, double* v) {
  launch_over(batch, eigh_matrices, batch, n, a, w, v);
}

void lu_factor(std::int64_t batch, std::int64_t n, double* a, std::int64_t* pivots, double* dets,
               ReportSlot singular) {
  launch_over(batch, lu_factor_matrices, batch, n, a, pivots, dets, singular);
}

void lu_solve(std::int64_t batch, std::int64_t n, std::int64_t m, const double* lu,
              const std::int64_t* pivots, double* b) {
  launch_over(batch, lu_solve_matrices, batch, n, m, lu, pivots, b);
}

void triangular_solve(std::int64_t batch, std::int64_t n, std::int64_t m, const double* t, double* b,
                      bool upper, bool unit) {
  launch_over(batch, triangular_solve_matrices, batch, n, m, t, b, upper, unit);
}

void cholesky(std::int64_t batch, std::int64_t n, double* a, ReportSlot not_positive_definite) {
  launch_over(batch, cholesky_matrices, batch, n, a, not_positive_definite);
}

}  // namespace kiln::cuda_kernels
