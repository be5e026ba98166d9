// Graph layers and the pieces of a variational graph auto-encoder.
#pragma once

#include "kiln/graph/csr.hpp"
#include "kiln/nn/module.hpp"

namespace kiln::nn {

// Kipf & Welling's graph convolution: H' = Â H W + b, with Â the normalised adjacency
// (graph::normalize_symmetric). Weight (out, in) with Glorot-uniform initialisation,
// bias zeros, as in the paper's code.
class GCNConv : public Module {
public:
  GCNConv(std::int64_t in, std::int64_t out, bool bias = true);
  Tensor forward(const graph::CsrMatrix& a_hat, const Tensor& x);  // (N, in) -> (N, out)
  Tensor forward(const graph::DeviceCsr& a_hat, const Tensor& x);  // the same, Â already on x's device
  std::string description() const override;
  Tensor weight, bias;

private:
  template <class Csr>
  Tensor propagate(const Csr& a_hat, const Tensor& x);
  std::int64_t in_, out_;
};

// GraphSAGE with the mean aggregator: H' = H W_self^T + mean_{neighbours}(H) W_neigh^T + b.
// Pass the row-normalised adjacency (graph::normalize_rows) as `a_mean`.
class SAGEConv : public Module {
public:
  SAGEConv(std::int64_t in, std::int64_t out);
  Tensor forward(const graph::CsrMatrix& a_mean, const Tensor& x);
  Tensor forward(const graph::DeviceCsr& a_mean, const Tensor& x);
  std::string description() const override;
  Tensor weight_self, weight_neigh, bias;

private:
  template <class Csr>
  Tensor propagate(const Csr& a_mean, const Tensor& x);
  std::int64_t in_, out_;
};

// Inner-product decoder: the logit of edge (src[k], dst[k]) is z[src[k]] . z[dst[k]].
// Computes only the requested pairs: O(pairs * dim), never the N x N matrix.
Tensor inner_product_logits(const Tensor& z, const Tensor& src, const Tensor& dst);
// All pairs, z z^T (N x N): for small graphs only.
Tensor inner_product_all(const Tensor& z);

// z = mu + exp(logstd) * eps, eps ~ N(0, I) from the global generator (differentiable in mu, logstd).
Tensor reparameterize(const Tensor& mu, const Tensor& logstd);
// KL(N(mu, exp(logstd)^2) || N(0, I)) per row, averaged over rows:
//   mean_i -1/2 sum_j (1 + 2 logstd_ij - mu_ij^2 - exp(2 logstd_ij))
Tensor gaussian_kl(const Tensor& mu, const Tensor& logstd);

}  // namespace kiln::nn
