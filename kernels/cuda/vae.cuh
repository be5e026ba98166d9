// The variational pieces on the GPU: the Gaussian KL term's per-element values, the
// reparameterisation and the inner-product decoder, each one kernel forward and one backward.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void gaussian_kl_terms(Scalar t, std::int64_t n, const void* mu, const void* logstd, double scale, void* out);
void gaussian_kl_terms_backward(Scalar t, std::int64_t n, const void* mu, const void* logstd, double scale,
                                const void* g, std::int64_t g_stride, void* g_mu, void* g_logstd);
void reparameterize(Scalar t, std::int64_t n, const void* mu, const void* logstd, const void* eps, void* z);
void reparameterize_backward(Scalar t, std::int64_t n, const void* logstd, const void* eps, const void* g,
                             std::int64_t g_stride, void* g_logstd);
void inner_product_pairs(Scalar t, std::int64_t pairs, std::int64_t n, std::int64_t d, const void* z,
                         const std::int64_t* src, const std::int64_t* dst, void* out, ReportSlot bad_index);
void inner_product_pairs_backward(Scalar t, std::int64_t pairs, std::int64_t n, std::int64_t d, const void* z,
                                  const std::int64_t* src, const std::int64_t* dst, const void* g,
                                  std::int64_t g_stride, void* dz);

}  // namespace kiln::cuda_kernels
