// Internal: the Gaussian KL term and the reparameterisation for tensors on a GPU
// (vae_cuda.cpp). The public functions in graph_layers.cpp check their arguments,
// then hand GPU tensors here; the CPU runs their composites.
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// mean over rows of -1/2 sum_j (1 + 2 s - m^2 - exp(2 s)): mu, logstd (N, D), N > 0,
// one dtype, one GPU.
Tensor gaussian_kl_cuda(const Tensor& mu, const Tensor& logstd);
// mu + eps exp(logstd), eps ~ N(0, I) drawn on the device as randn draws it.
Tensor reparameterize_cuda(const Tensor& mu, const Tensor& logstd);

}  // namespace kiln::detail
