// Dense factorisations on the GPU: a thread per matrix of a batch, each running
// matrix_factor.hpp's steps, which the CPU runs too. See cuda_kernels.hpp for contracts.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void lu_factor(std::int64_t batch, std::int64_t n, double* a, std::int64_t* pivots, double* dets,
               ReportSlot singular);
void lu_solve(std::int64_t batch, std::int64_t n, std::int64_t m, const double* lu,
              const std::int64_t* pivots, double* b);
void triangular_solve(std::int64_t batch, std::int64_t n, std::int64_t m, const double* t, double* b,
                      bool upper, bool unit);
void cholesky(std::int64_t batch, std::int64_t n, double* a, ReportSlot not_positive_definite);
void qr(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* tau, double* q, double* r);
void eigh(std::int64_t batch, std::int64_t n, double* a, double* w, double* v);
void svd(std::int64_t batch, std::int64_t m, std::int64_t n, double* a, double* s, double* v, bool sign_by_v);

}  // namespace kiln::cuda_kernels
