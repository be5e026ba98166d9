// Graph layers and the pieces of a variational graph auto-encoder.
#pragma once

#include "kiln/graph/csr.hpp"
#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"

namespace kiln::nn {

// Kipf & Welling's graph convolution: H' = Â H W + b, with Â the normalised adjacency
// (graph::normalize_symmetric). Weight (out, in) with Glorot-uniform initialisation,
// bias zeros, as in the paper's code.
class GCNConv : public Module {
public:
  GCNConv(std::int64_t in, std::int64_t out, bool bias = true);
  using Module::forward;  // the one-input form: an error naming the layer (it needs a graph)
  Tensor forward(const graph::CsrMatrix& a_hat, const Tensor& x);  // (N, in) -> (N, out)
  Tensor forward(const graph::DeviceCsr& a_hat, const Tensor& x);  // the same, Â already on x's device
  // The same for sparse input features X (N, in), such as bag-of-words rows
  // (graph::CsrMatrix::from_dense): X W^T is a sparse product, O(nnz(X) * out) work
  // rather than O(N * in * out). Runs where the weight is (X goes up to a GPU per call).
  Tensor forward(const graph::CsrMatrix& a_hat, const graph::CsrMatrix& x);
  Tensor forward(const graph::DeviceCsr& a_hat, const graph::CsrMatrix& x);
  // The same with X held on the weight's device too (made once; dropout(DeviceCsr)
  // drops its values there).
  Tensor forward(const graph::DeviceCsr& a_hat, const graph::DeviceCsr& x);
  // Calling the layer, (*conv)(graph, x), runs its hooks (weight_norm, spectral_norm,
  // forward hooks) around the forward that fits the arguments.
  template <class Graph, class X>
  Tensor operator()(const Graph& graph, const X& x) {
    return call_with_hooks([&] { return forward(graph, x); });
  }
  using Module::operator();
  std::string description() const override;
  Tensor weight, bias;

private:
  template <class Csr, class X>
  Tensor propagate(const Csr& a_hat, const X& x);
  std::int64_t in_, out_;
};

// GraphSAGE with the mean aggregator: H' = H W_self^T + mean_{neighbours}(H) W_neigh^T + b.
// Pass the row-normalised adjacency (graph::normalize_rows) as `a_mean`.
class SAGEConv : public Module {
public:
  SAGEConv(std::int64_t in, std::int64_t out);
  using Module::forward;  // the one-input form: an error naming the layer (it needs a graph)
  Tensor forward(const graph::CsrMatrix& a_mean, const Tensor& x);
  Tensor forward(const graph::DeviceCsr& a_mean, const Tensor& x);
  // Sparse input features (see GCNConv): H W^T as sparse products, and the mean taken
  // after the product with W_neigh (the same sum, narrower).
  Tensor forward(const graph::CsrMatrix& a_mean, const graph::CsrMatrix& x);
  Tensor forward(const graph::DeviceCsr& a_mean, const graph::CsrMatrix& x);
  Tensor forward(const graph::DeviceCsr& a_mean, const graph::DeviceCsr& x);
  template <class Graph, class X>
  Tensor operator()(const Graph& graph, const X& x) {  // with hooks, as GCNConv's
    return call_with_hooks([&] { return forward(graph, x); });
  }
  using Module::operator();
  std::string description() const override;
  Tensor weight_self, weight_neigh, bias;

private:
  template <class Csr, class X>
  Tensor propagate(const Csr& a_mean, const X& x);
  std::int64_t in_, out_;
};

struct GATConvOptions {
  GATConvOptions(std::int64_t in, std::int64_t out) : in_features_(in), out_features_(out) {}
  KILN_OPTION(std::int64_t, in_features)
  KILN_OPTION(std::int64_t, out_features)  // per head
  KILN_OPTION(std::int64_t, heads)
  KILN_OPTION(bool, concat)            // heads side by side (heads * out), else their mean (out)
  KILN_OPTION(double, negative_slope)  // of the LeakyReLU on the attention scores
  KILN_OPTION(double, dropout)         // on the attention weights, in training
  KILN_OPTION(bool, bias)
private:
  std::int64_t in_features_, out_features_, heads_ = 1;
  bool concat_ = true;
  double negative_slope_ = 0.2, dropout_ = 0.0;
  bool bias_ = true;
};

// Graph attention (Velickovic et al., ICLR 2018). Per head, node i mixes its
// neighbours' features W x_j with learned weights
//   alpha_ij = softmax over j of LeakyReLU(a_dst . W x_i + a_src . W x_j),
//   x'_i = sum_j alpha_ij W x_j   (+ b, after the heads are concatenated or averaged).
// `adj` lists whom each node attends to: row i holds i's neighbours j. Add self loops
// (graph::add_self_loops) so a node also attends to itself, as in the paper; the
// matrix's values are not read. Weight (heads * out, in) and the attention vectors
// att_src, att_dst (heads, out) start Glorot-uniform, bias zeros (as PyTorch Geometric).
// Composed of differentiable ops (linear, index_select, edge_softmax, index_add), so
// it runs wherever the DeviceCsr and x are: O(edges * heads * out) memory and time.
class GATConv : public Module {
public:
  explicit GATConv(const GATConvOptions& options);
  using Module::forward;  // the one-input form: an error naming the layer (it needs a graph)
  Tensor forward(const graph::DeviceCsr& adj, const Tensor& x);  // (N, in) -> (N, heads * out) or (N, out)
  // The same for a host matrix, made into a DeviceCsr on x's device for the call (hold
  // a DeviceCsr to do that once).
  Tensor forward(const graph::CsrMatrix& adj, const Tensor& x);
  // The same for sparse input features X (N, in) held on the host (see GCNConv): W x
  // is a sparse product, sent to adj's device with each call.
  Tensor forward(const graph::DeviceCsr& adj, const graph::CsrMatrix& x);
  // The same with X held on adj's device as well (made once).
  Tensor forward(const graph::DeviceCsr& adj, const graph::DeviceCsr& x);
  template <class Graph, class X>
  Tensor operator()(const Graph& graph, const X& x) {  // with hooks, as GCNConv's
    return call_with_hooks([&] { return forward(graph, x); });
  }
  using Module::operator();
  // The attention weights of the last forward (after dropout, detached): (nnz, heads),
  // in adj's CSR order.
  const Tensor& last_attention() const { return attention_; }
  std::string description() const override;
  GATConvOptions options;
  Tensor weight, att_src, att_dst, bias;

private:
  template <class X>
  Tensor project_sparse(const graph::DeviceCsr& adj, const X& x);  // W x for sparse x, then attend
  Tensor attend(const graph::DeviceCsr& adj, const Tensor& wx);    // the rest, from W x (N, heads * out)
  Tensor attention_;
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
