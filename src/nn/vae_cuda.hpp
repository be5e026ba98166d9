// Internal: the Gaussian KL term, the reparameterisation and the inner-product decoder
// for tensors on a GPU (vae_cuda.cpp). The public functions in graph_layers.cpp check their arguments,
// then hand GPU tensors here; the CPU runs their composites (and inner_product.cpp).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// mean over rows of -1/2 sum_j (1 + 2 s - m^2 - exp(2 s)): mu, logstd (N, D), N > 0,
// one dtype, one GPU.
Tensor gaussian_kl_cuda(const Tensor& mu, const Tensor& logstd);
// mu + eps exp(logstd), eps ~ N(0, I) drawn on the device as randn draws it.
Tensor reparameterize_cuda(const Tensor& mu, const Tensor& logstd);
// logit_k = z[src_k] . z[dst_k] for z (N, D) on a GPU; src and dst 1-D of equal length,
// on the host (checked there) or on z's GPU (checked by the kernel, reported at the
// next copy to the host).
Tensor inner_product_logits_cuda(const Tensor& z, const Tensor& src, const Tensor& dst);

}  // namespace kiln::detail
