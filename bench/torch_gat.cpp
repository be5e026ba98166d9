// The peer for `gcn_cora --model gat`: the same graph attention network on Cora in
// libtorch, written as PyTorch Geometric's GATConv computes it (per-edge scores by
// index_select, a softmax over each node's incoming edges by scatter max / index_add,
// messages summed by index_add), with the features held sparse as the example holds
// them. Same sizes, dropout, optimizer and epoch loop (a training step, then the
// validation loss and accuracy); no early stopping, so both sides run exactly --epochs
// epochs.
//
//   ./build/bench/torch_gat --data ../shared/data/cora --epochs 200 --threads 2 [--dropout 0.6]
// Ends with "RESULT {json}" holding seconds_per_epoch and test_acc.
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <string>

#include "kiln/kiln.hpp"

namespace {

torch::Tensor wrap(const kiln::Tensor& t) {
  std::vector<int64_t> sizes(t.shape().begin(), t.shape().end());
  const auto dtype = t.dtype() == kiln::kFloat32 ? torch::kFloat32 : torch::kInt64;
  return torch::from_blob(t.raw_data_ptr(), sizes, dtype).clone();
}

torch::Tensor indices(const std::vector<std::int64_t>& v) {
  return torch::tensor(std::vector<int64_t>(v.begin(), v.end()), torch::kInt64);
}

// One GAT layer: heads x out, attention over the edges src -> dst (self loops included).
struct GatLayerImpl : torch::nn::Module {
  GatLayerImpl(int64_t in, int64_t out, int64_t heads, bool concat, double p)
      : out(out), heads(heads), concat(concat), p(p) {
    weight = register_parameter("weight", torch::empty({heads * out, in}));
    att_src = register_parameter("att_src", torch::empty({heads, out}));
    att_dst = register_parameter("att_dst", torch::empty({heads, out}));
    bias = register_parameter("bias", torch::zeros({concat ? heads * out : out}));
    for (auto* w : {&weight, &att_src, &att_dst}) torch::nn::init::xavier_uniform_(*w);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& src, const torch::Tensor& dst) {
    const int64_t n = x.size(0);
    // Sparse features (the first layer) through torch's sparse x dense product.
    const auto h =
        (x.is_sparse() ? torch::mm(x, weight.t()) : torch::matmul(x, weight.t())).view({n, heads, out});
    const auto s_src = (h * att_src).sum(-1), s_dst = (h * att_dst).sum(-1);                   // (N, heads)
    auto e = torch::leaky_relu(s_dst.index_select(0, dst) + s_src.index_select(0, src), 0.2);  // (E, heads)
    // Softmax over each node's incoming edges.
    const auto dst_e = dst.unsqueeze(1).expand_as(e);
    const auto top = torch::zeros({n, heads}).scatter_reduce(0, dst_e, e.detach(), "amax", false);
    const auto ex = (e - top.index_select(0, dst)).exp();
    const auto alpha = torch::dropout(
        ex / torch::zeros({n, heads}).index_add(0, dst, ex).index_select(0, dst), p, is_training());
    const auto messages = h.index_select(0, src) * alpha.unsqueeze(-1);  // (E, heads, out)
    auto y = torch::zeros({n, heads, out}).index_add(0, dst, messages);
    y = concat ? y.view({n, heads * out}) : y.mean(1);
    return y + bias;
  }
  int64_t out, heads;
  bool concat;
  double p;
  torch::Tensor weight, att_src, att_dst, bias;
};
TORCH_MODULE(GatLayer);

}  // namespace

int main(int argc, char** argv) {
  std::string data = "../shared/data/cora";
  int epochs = 200, threads = 1;
  std::uint64_t seed = 0;
  double p = 0.6;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (f == "--data")
      data = next();
    else if (f == "--epochs")
      epochs = std::stoi(next());
    else if (f == "--threads")
      threads = std::stoi(next());
    else if (f == "--seed")
      seed = std::stoull(next());
    else if (f == "--dropout")
      p = std::stod(next());
    else {
      std::cerr << "unknown flag " << f << "\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(seed);
  const kiln::data::Cora cora = kiln::data::load_cora(data);
  auto x = wrap(cora.features);
  x = x / x.sum(1, true).clamp_min(1.0);  // row-normalised, as the example
  x = x.to_sparse().coalesce();           // and sparse, dropout drawing for the stored values only
  const auto labels = wrap(cora.labels);
  const auto a =
      kiln::graph::add_self_loops(kiln::graph::CsrMatrix::undirected(cora.num_nodes(), cora.edges));
  std::vector<std::int64_t> rows;
  for (std::int64_t r = 0; r < a.rows; ++r)
    for (std::int64_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) rows.push_back(r);
  const auto dst = indices(rows), src = indices(a.col_idx);
  const auto train_idx = indices(cora.train), val_idx = indices(cora.val), test_idx = indices(cora.test);
  const auto y_train = labels.index_select(0, train_idx), y_val = labels.index_select(0, val_idx);

  GatLayer conv1(x.size(1), 8, 8, true, p), conv2(64, static_cast<int64_t>(cora.classes.size()), 1, false, p);
  std::vector<torch::Tensor> params = conv1->parameters();
  for (const auto& t : conv2->parameters()) params.push_back(t);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(0.005).weight_decay(5e-4));
  auto forward = [&](bool training) {
    conv1->train(training);
    conv2->train(training);
    const auto x_dropped =
        torch::sparse_coo_tensor(x.indices(), torch::dropout(x.values(), p, training), x.sizes());
    const auto h = torch::elu(conv1->forward(x_dropped, src, dst));
    return conv2->forward(torch::dropout(h, p, training), src, dst);
  };

  const auto t0 = std::chrono::steady_clock::now();
  double val_loss = 0, val_acc = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(forward(true).index_select(0, train_idx), y_train);
    loss.backward();
    opt.step();
    torch::NoGradGuard no_grad;
    const auto val_logits = forward(false).index_select(0, val_idx);
    val_loss = torch::nn::functional::cross_entropy(val_logits, y_val).item<double>();
    val_acc = val_logits.argmax(1).eq(y_val).to(torch::kFloat64).mean().item<double>();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  torch::NoGradGuard no_grad;
  const auto test_logits = forward(false).index_select(0, test_idx);
  const double test_acc =
      test_logits.argmax(1).eq(labels.index_select(0, test_idx)).to(torch::kFloat64).mean().item<double>();
  std::cout << "libtorch GAT: " << epochs << " epochs, validation loss " << val_loss << ", accuracy "
            << val_acc << "\nRESULT {\"framework\":\"libtorch\",\"model\":\"gat\",\"threads\":" << threads
            << ",\"epochs\":" << epochs << ",\"seconds_per_epoch\":" << seconds / std::max(epochs, 1)
            << ",\"test_acc\":" << test_acc << "}" << std::endl;
  return 0;
}
