#include "kiln/nn/graph_layers.hpp"

#include <sstream>
#include <type_traits>

#include "kiln/core/factories.hpp"
#include "kiln/nn/init.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/nn/inner_product.hpp"
#include "src/nn/vae_cuda.hpp"

namespace kiln::nn {

namespace {
// Glorot / Xavier uniform, as the GCN paper's code: U(-b, b), b = sqrt(6 / (fan_in + fan_out)).
Tensor glorot(std::int64_t out, std::int64_t in) { return init::xavier_uniform_(empty({out, in})); }

// The shape of sparse input features, held on the host or on a device.
std::int64_t sparse_rows(const graph::CsrMatrix& x) { return x.rows; }
std::int64_t sparse_rows(const graph::DeviceCsr& x) { return x.rows(); }
std::int64_t sparse_cols(const graph::CsrMatrix& x) { return x.cols; }
std::int64_t sparse_cols(const graph::DeviceCsr& x) { return x.cols(); }

// X W^T for sparse features X: spmm(X, W^T), whose gradient in W^T is X^T G. A host
// matrix goes to the weight's device for the call; a DeviceCsr must be there already.
Tensor sparse_times_transposed(const graph::CsrMatrix& x, const Tensor& w, const char*) {
  return spmm(x, w.t());
}
Tensor sparse_times_transposed(const graph::DeviceCsr& x, const Tensor& w, const char* layer) {
  KILN_CHECK(x.device() == w.device(), layer, ": the sparse features are on ", x.device(),
             " but the layer on ", w.device(),
             "; make the DeviceCsr on the layer's device (or move the layer with .to(device))");
  return spmm(x, w.t());
}

// On a GPU, reparameterize and gaussian_kl run as one kernel each way (vae_cuda.cpp);
// the CPU, and mixed devices or dtypes (whose errors the composites give), compose.
bool fused_on_gpu(const Tensor& mu, const Tensor& logstd) {
  return mu.device().is_cuda() && logstd.device() == mu.device() && logstd.dtype() == mu.dtype() &&
         is_floating(mu.dtype());
}
}  // namespace

GCNConv::GCNConv(std::int64_t in, std::int64_t out, bool with_bias) : in_(in), out_(out) {
  KILN_CHECK(in > 0 && out > 0, "GCNConv: sizes ", in, " -> ", out, " must be positive");
  register_parameter("weight", weight, glorot(out, in));
  if (with_bias) register_parameter("bias", bias, zeros({out}));
}

Tensor GCNConv::forward(const graph::CsrMatrix& a_hat, const Tensor& x) { return propagate(a_hat, x); }
Tensor GCNConv::forward(const graph::DeviceCsr& a_hat, const Tensor& x) { return propagate(a_hat, x); }
Tensor GCNConv::forward(const graph::CsrMatrix& a_hat, const graph::CsrMatrix& x) {
  return propagate(a_hat, x);
}
Tensor GCNConv::forward(const graph::DeviceCsr& a_hat, const graph::CsrMatrix& x) {
  return propagate(a_hat, x);
}
Tensor GCNConv::forward(const graph::DeviceCsr& a_hat, const graph::DeviceCsr& x) {
  return propagate(a_hat, x);
}

// H' = Â (H W^T) + b: the product with W first, since it narrows the features. For
// sparse H, H W^T is spmm(H, W^T), whose gradient in W^T is H^T G.
template <class Csr, class X>
Tensor GCNConv::propagate(const Csr& a_hat, const X& x) {
  Tensor xw;
  if constexpr (!std::is_same_v<X, Tensor>) {
    KILN_CHECK(sparse_cols(x) == in_, "GCNConv(", in_, " -> ", out_, "): sparse input features of shape (",
               sparse_rows(x), ", ", sparse_cols(x), ") have ", sparse_cols(x), " columns; expected ", in_);
    xw = sparse_times_transposed(x, weight, "GCNConv");
  } else {
    xw = linear(x, weight);
  }
  const Tensor h = spmm(a_hat, xw);
  return bias.defined() ? h + bias : h;
}

std::string GCNConv::description() const {
  std::ostringstream os;
  os << "GCNConv(" << in_ << ", " << out_ << ", bias=" << (bias.defined() ? "true" : "false") << ")";
  return os.str();
}

SAGEConv::SAGEConv(std::int64_t in, std::int64_t out) : in_(in), out_(out) {
  KILN_CHECK(in > 0 && out > 0, "SAGEConv: sizes ", in, " -> ", out, " must be positive");
  register_parameter("weight_self", weight_self, glorot(out, in));
  register_parameter("weight_neigh", weight_neigh, glorot(out, in));
  register_parameter("bias", bias, zeros({out}));
}

Tensor SAGEConv::forward(const graph::CsrMatrix& a_mean, const Tensor& x) { return propagate(a_mean, x); }
Tensor SAGEConv::forward(const graph::DeviceCsr& a_mean, const Tensor& x) { return propagate(a_mean, x); }
Tensor SAGEConv::forward(const graph::CsrMatrix& a_mean, const graph::CsrMatrix& x) {
  return propagate(a_mean, x);
}
Tensor SAGEConv::forward(const graph::DeviceCsr& a_mean, const graph::CsrMatrix& x) {
  return propagate(a_mean, x);
}
Tensor SAGEConv::forward(const graph::DeviceCsr& a_mean, const graph::DeviceCsr& x) {
  return propagate(a_mean, x);
}

template <class Csr, class X>
Tensor SAGEConv::propagate(const Csr& a_mean, const X& x) {
  if constexpr (!std::is_same_v<X, Tensor>) {
    KILN_CHECK(sparse_cols(x) == in_, "SAGEConv(", in_, " -> ", out_, "): sparse input features of shape (",
               sparse_rows(x), ", ", sparse_cols(x), ") have ", sparse_cols(x), " columns; expected ", in_);
    return sparse_times_transposed(x, weight_self, "SAGEConv") + bias +
           spmm(a_mean, sparse_times_transposed(x, weight_neigh, "SAGEConv"));
  } else {
    return linear(x, weight_self, bias) + linear(spmm(a_mean, x), weight_neigh);
  }
}

std::string SAGEConv::description() const {
  std::ostringstream os;
  os << "SAGEConv(" << in_ << ", " << out_ << ", aggregation=mean)";
  return os.str();
}

GATConv::GATConv(const GATConvOptions& o) : options(o) {
  const std::int64_t in = o.in_features(), out = o.out_features(), heads = o.heads();
  KILN_CHECK(in > 0 && out > 0 && heads > 0, "GATConv: sizes ", in, " -> ", heads, " heads of ", out,
             " must be positive");
  KILN_CHECK(o.dropout() >= 0 && o.dropout() < 1, "GATConv: dropout ", o.dropout(), " must lie in [0, 1)");
  register_parameter("weight", weight, glorot(heads * out, in));
  register_parameter("att_src", att_src, glorot(heads, out));
  register_parameter("att_dst", att_dst, glorot(heads, out));
  if (o.bias()) register_parameter("bias", bias, zeros({o.concat() ? heads * out : out}));
}

Tensor GATConv::forward(const graph::DeviceCsr& adj, const Tensor& x) {
  KILN_CHECK(x.dim() == 2 && x.size(0) == adj.cols() && adj.rows() == adj.cols(),
             "GATConv: features of shape ", fmt(x.shape()), " do not fit a graph of ", adj.rows(), " x ",
             adj.cols(), " nodes; expected (nodes, ", options.in_features(), ") and a square adjacency");
  return attend(adj, linear(x, weight));
}

template <class X>
Tensor GATConv::project_sparse(const graph::DeviceCsr& adj, const X& x) {
  const std::int64_t rows = sparse_rows(x), cols = sparse_cols(x);
  KILN_CHECK(rows == adj.cols() && cols == options.in_features() && adj.rows() == adj.cols(),
             "GATConv: sparse features of shape (", rows, ", ", cols, ") do not fit a graph of ", adj.rows(),
             " x ", adj.cols(), " nodes; expected (nodes, ", options.in_features(),
             ") and a square adjacency");
  KILN_CHECK(weight.device() == adj.device(), "GATConv: the graph is on ", adj.device(), " but the layer on ",
             weight.device(), "; make the DeviceCsr on the layer's device");
  return attend(adj, sparse_times_transposed(x, weight, "GATConv"));
}

Tensor GATConv::forward(const graph::DeviceCsr& adj, const graph::CsrMatrix& x) {
  return project_sparse(adj, x);
}
Tensor GATConv::forward(const graph::DeviceCsr& adj, const graph::DeviceCsr& x) {
  return project_sparse(adj, x);
}

Tensor GATConv::attend(const graph::DeviceCsr& adj, const Tensor& wx) {
  const std::int64_t heads = options.heads(), out = options.out_features(), n = adj.rows();
  const Tensor& dst = adj.row_idx();  // edge k runs from node col_idx[k] into node row_idx[k]
  const Tensor& src = adj.col_idx();
  const Tensor h = wx.reshape({n, heads, out});  // W x per head
  // Each node's two halves of the score, per head: a . W x.
  const Tensor score_src = sum(h * att_src, {2}), score_dst = sum(h * att_dst, {2});  // (N, heads)
  const Tensor scores =
      leaky_relu(index_select(score_dst, 0, dst) + index_select(score_src, 0, src), options.negative_slope());
  const Tensor alpha = dropout(edge_softmax(adj, scores), options.dropout(), is_training());  // (nnz, heads)
  attention_ = alpha.detach();
  // Messages alpha_ij W x_j, summed into their target rows.
  const Tensor messages = index_select(h, 0, src) * alpha.unsqueeze(2);  // (nnz, heads, out)
  Tensor y = index_add(zeros({n, heads, out}, wx.dtype(), wx.device()), 0, dst, messages);
  y = options.concat() ? y.reshape({n, heads * out}) : mean(y, {1});
  return bias.defined() ? y + bias : y;
}

Tensor GATConv::forward(const graph::CsrMatrix& adj, const Tensor& x) {
  return forward(graph::DeviceCsr(adj, x.device()), x);
}

std::string GATConv::description() const {
  std::ostringstream os;
  os << "GATConv(" << options.in_features() << ", " << options.out_features() << ", heads=" << options.heads()
     << ", concat=" << (options.concat() ? "true" : "false")
     << ", negative_slope=" << options.negative_slope() << ", dropout=" << options.dropout()
     << ", bias=" << (bias.defined() ? "true" : "false") << ")";
  return os.str();
}

Tensor inner_product_logits(const Tensor& z, const Tensor& src, const Tensor& dst) {
  KILN_CHECK(z.dim() == 2, "inner_product_logits: embeddings must be (N, D) but have shape ", fmt(z.shape()));
  KILN_CHECK(src.shape() == dst.shape() && src.dim() == 1, "inner_product_logits: src ", fmt(src.shape()),
             " and dst ", fmt(dst.shape()), " must be 1-D and of equal length");
  // logit_k = sum_j z[src_k, j] z[dst_k, j], one pass each way (inner_product.cpp on
  // the CPU, vae_cuda.cpp on a GPU); other dtypes get the composite's error.
  if (is_floating(z.dtype()))
    return z.device().is_cuda() ? detail::inner_product_logits_cuda(z, src, dst)
                                : detail::inner_product_logits_cpu(z, src, dst);
  return sum(index_select(z, 0, src) * index_select(z, 0, dst), {1});
}

Tensor inner_product_all(const Tensor& z) { return matmul(z, z.t()); }

Tensor reparameterize(const Tensor& mu, const Tensor& logstd) {
  KILN_CHECK(mu.shape() == logstd.shape(), "reparameterize: mu ", fmt(mu.shape()), " and logstd ",
             fmt(logstd.shape()), " differ");
  if (fused_on_gpu(mu, logstd)) return detail::reparameterize_cuda(mu, logstd);
  const Tensor eps = randn(mu.shape(), mu.dtype(), mu.device());
  return mu + eps * exp(logstd);
}

Tensor gaussian_kl(const Tensor& mu, const Tensor& logstd) {
  KILN_CHECK(mu.shape() == logstd.shape() && mu.dim() == 2, "gaussian_kl: mu ", fmt(mu.shape()), " and logstd ",
             fmt(logstd.shape()), " must be equal (N, D) shapes");
  if (fused_on_gpu(mu, logstd) && mu.size(0) > 0) return detail::gaussian_kl_cuda(mu, logstd);
  const Tensor per_dim = 1.0 + 2.0 * logstd - mu * mu - exp(2.0 * logstd);
  return mean(sum(per_dim, {1})) * -0.5;
}

}  // namespace kiln::nn
