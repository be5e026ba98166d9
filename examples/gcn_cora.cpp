// gcn_cora: semi-supervised node classification on the Cora citation graph with a
// two-layer graph convolutional network (Kipf & Welling, ICLR 2017), or with a graph
// attention network (Velickovic et al., ICLR 2018: --model gat).
//
//   GCN:  H1 = dropout(relu(Â dropout(X) W1)),   logits = Â H1 W2     (--bias adds b1, b2)
//
// Â = D^-1/2 (A + I) D^-1/2 spreads each paper's features to its neighbours; X is the
// row-normalised bag of words (2708 papers x 1433 words, 1.3 % nonzero), held as a
// sparse matrix, as the paper's code does: the product X W1 and dropout on X touch only
// the words a paper has (graph::CsrMatrix::from_dense, held where the model trains as a
// graph::DeviceCsr, dropout of a DeviceCsr). Only
// 140 labelled papers (20 per class) are trained on. Setup of the paper: 16 hidden
// units, dropout 0.5, Adam lr 0.01, weight decay 5e-4 on the first layer's weights, up
// to 200 epochs, stopping when the validation loss (with the weight-decay term, as in
// the paper's code) exceeds the mean of the previous 10.
//
//   GAT:  H1 = elu(GAT_8 heads x 8(dropout(X))),   logits = GAT_1 head x 7(dropout(H1))
//
// Instead of Â's fixed weights, each paper weighs its neighbours (and itself) with a
// learned softmax over LeakyReLU(a . [W h_i, W h_j]) (nn::GATConv). Setup of the paper:
// 8 heads of 8 units, dropout 0.6 on each layer's input and on the attention weights,
// Adam lr 0.005 with weight decay 5e-4 on every parameter, and patience 100: training
// stops once 100 epochs have passed without a lower validation loss or a higher
// validation accuracy, and the model kept is the last one that improved both.
//
//   ./build/examples/gcn_cora --data ../shared/data/cora [--model gcn|gat] [--split planetoid|random]
//                             [--runs 10]
#include <cmath>
#include <functional>
#include <memory>
#include <optional>

#include "example_support.hpp"

namespace {

using kiln::Tensor;

struct Split {
  std::vector<std::int64_t> train, val, test;
};

// 20 labelled nodes per class, then 500 validation and 1000 test nodes, drawn from `seed`.
Split random_split(const kiln::data::Cora& cora, std::uint64_t seed) {
  kiln::Generator gen(seed);
  std::vector<std::int64_t> order(cora.num_nodes());
  std::iota(order.begin(), order.end(), 0);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  const auto labels = cora.labels.to_vector<std::int64_t>();
  Split s;
  std::vector<int> per_class(cora.classes.size(), 0);
  std::vector<std::int64_t> rest;
  for (std::int64_t node : order) {
    if (per_class[labels[node]] < 20) {
      ++per_class[labels[node]];
      s.train.push_back(node);
    } else {
      rest.push_back(node);
    }
  }
  s.val.assign(rest.begin(), rest.begin() + 500);
  s.test.assign(rest.begin() + 500, rest.begin() + 1500);
  return s;
}

Tensor index_tensor(const std::vector<std::int64_t>& v) { return kiln::from_vector(v); }

// The graph attention network of the GAT paper: 8 heads of `hidden` units, ELU, then
// one head per class; dropout on each layer's input and on its attention weights.
struct Gat {
  Gat(std::int64_t features, std::int64_t hidden, std::int64_t heads, std::int64_t classes, double p)
      : conv1(kiln::nn::GATConvOptions(features, hidden).heads(heads).dropout(p)),
        conv2(kiln::nn::GATConvOptions(hidden * heads, classes).concat(false).dropout(p)),
        p(p) {}
  Tensor forward(const kiln::graph::DeviceCsr& adj, const kiln::graph::DeviceCsr& x, bool training) {
    conv1.train(training);
    conv2.train(training);
    const Tensor h = kiln::elu(conv1(adj, kiln::dropout(x, p, training)));
    return conv2(adj, kiln::dropout(h, p, training));
  }
  kiln::nn::GATConv conv1, conv2;
  double p;
};

// The GAT paper's early stopping: patience runs out after `patience` epochs in which
// neither the validation loss fell nor the validation accuracy rose; the model to keep
// is the last one that did both (at least as well as every epoch before).
struct PatienceWithBest {
  int patience;
  double best_loss = INFINITY, best_acc = -1;
  int waited = 0;
  // Whether this epoch's model is the one to keep for now.
  bool improved_both(double loss, double acc) const { return loss <= best_loss && acc >= best_acc; }
  // Records the epoch; true when patience ran out.
  bool stop_after(double loss, double acc) {
    if (loss <= best_loss || acc >= best_acc) {
      best_loss = std::min(best_loss, loss);
      best_acc = std::max(best_acc, acc);
      waited = 0;
      return false;
    }
    return patience > 0 && ++waited >= patience;
  }
};

}  // namespace

int main(int argc, char** argv) {
  example::Flags flags{
      "GCN or GAT node classification on Cora (Kipf & Welling 2017, Velickovic et al. 2018)"};
  example::RunArgs run_args;
  std::string model = "gcn", split_kind = "planetoid", metrics_path;
  // The GCN paper's values; --model gat switches the defaults to the GAT paper's.
  int epochs = 200, hidden = 16, patience = 10, heads = 8;
  double lr = 0.01, weight_decay = 5e-4, dropout_p = 0.5;
  example::add_run_flags(flags, run_args, "folder with cora.content, cora.cites (and cora.planetoid-split)");
  flags.option("--model", model, "gcn (Kipf & Welling) or gat (graph attention, Velickovic et al.)")
      .one_of({"gcn", "gat"})
      .show_default();
  flags.option("--split", split_kind, "planetoid (the split file) or random (20 per class from the seed)")
      .one_of({"planetoid", "random"})
      .show_default();
  flags.option("--epochs", epochs, "maximum epochs (gat: 1000)").at_least(0).show_default();
  flags.option("--hidden", hidden, "hidden units (gat: 8 per head)").at_least(1).show_default();
  flags.option("--heads", heads, "gat: attention heads of the first layer").at_least(1).show_default();
  flags.option("--lr", lr, "Adam learning rate (gat: 0.005)").at_least(0).show_default();
  flags.option("--weight-decay", weight_decay, "L2 on the first layer's weights (gat: on every parameter)")
      .at_least(0)
      .show_default();
  flags.option("--dropout", dropout_p, "dropout probability (gat: 0.6)").show_default();
  flags.option("--patience", patience, "early-stopping window (gat: 100; 0: off)").at_least(0).show_default();
  bool bias = false;  // the paper's layers have none
  flags.flag("--bias", bias,
             "gcn: give both layers a bias (the paper's model has none; GAT layers have one)");
  flags.option("--metrics", metrics_path, "append per-epoch metrics of the first run to this CSV");
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;
  const bool gat = model == "gat";
  if (gat) {  // the GAT paper's setup, where a flag does not say otherwise
    const auto unless_given = [&flags](const char* flag, auto& value, auto paper) {
      if (!flags.given(flag)) value = paper;
    };
    unless_given("--epochs", epochs, 1000);
    unless_given("--hidden", hidden, 8);
    unless_given("--lr", lr, 0.005);
    unless_given("--dropout", dropout_p, 0.6);
    unless_given("--patience", patience, 100);
  }

  return example::run_main([&] {
    using namespace kiln;
    const Device dev = example::apply_run_flags(run_args);
    const auto& [data_dir, seed, runs, threads, device] = run_args;
    const data::Cora cora = data::load_cora(data_dir);
    // Row-normalised features (each paper's word indicators sum to 1), held sparse
    // where the model trains: dropout draws for their 49,216 stored values there, and
    // the product with the first layer's weights reads only those.
    const graph::DeviceCsr x_sparse = [&] {
      NoGradGuard no_grad;
      return graph::DeviceCsr(
          graph::CsrMatrix::from_dense(cora.features / clamp(sum(cora.features, {1}, true), 1.0, INFINITY)),
          dev);
    }();
    const std::int64_t n_features = x_sparse.cols();
    // The graph, made once and held where the model trains (graph::DeviceCsr): GCN
    // propagates with Â; GAT attends over each paper's neighbours and itself (A + I).
    const graph::CsrMatrix adjacency = graph::CsrMatrix::undirected(cora.num_nodes(), cora.edges);
    const graph::DeviceCsr graph_on_device(
        gat ? graph::add_self_loops(adjacency) : graph::normalize_symmetric(adjacency), dev);
    const auto n_classes = static_cast<std::int64_t>(cora.classes.size());
    std::printf("%s\nCora: %lld papers, %lld features, %lld classes, %zu undirected edges; model %s\n",
                build_info(), static_cast<long long>(cora.num_nodes()), static_cast<long long>(n_features),
                static_cast<long long>(n_classes), cora.edges.size(), model.c_str());

    std::vector<double> accs, val_accs;
    double seconds = 0;
    std::int64_t epochs_run_total = 0;
    for (int run = 0; run < runs; ++run) {
      const std::uint64_t s = seed + run;
      manual_seed(s);
      Split split;
      if (split_kind == "planetoid") {
        KILN_CHECK(!cora.train.empty(), "--split planetoid: ", data_dir, " has no cora.planetoid-split");
        split = {cora.train, cora.val, cora.test};
      } else {
        split = random_split(cora, s);
      }
      // Node indices and labels go where the model trains, once.
      const Tensor train_idx = index_tensor(split.train).to(dev), val_idx = index_tensor(split.val).to(dev),
                   test_idx = index_tensor(split.test).to(dev);
      const Tensor y_train = index_select(cora.labels.to(dev), 0, train_idx),
                   y_val = index_select(cora.labels.to(dev), 0, val_idx),
                   y_test = index_select(cora.labels.to(dev), 0, test_idx);

      // The model, its optimizer and the weight-decay term its validation loss includes.
      std::function<Tensor(bool)> forward;
      std::function<double()> penalty = [] { return 0.0; };
      std::vector<Tensor> params;
      std::unique_ptr<optim::Adam> opt;
      std::optional<nn::GCNConv> conv1, conv2;
      std::optional<Gat> gat_net;
      if (gat) {
        gat_net.emplace(n_features, hidden, heads, n_classes, dropout_p);
        gat_net->conv1.to(dev);
        gat_net->conv2.to(dev);
        forward = [&](bool training) { return gat_net->forward(graph_on_device, x_sparse, training); };
        for (nn::GATConv* c : {&gat_net->conv1, &gat_net->conv2})
          for (const Tensor& p : c->parameters()) params.push_back(p);
        // Weight decay on every parameter, as the GAT paper's code and PyTorch Geometric do.
        opt = std::make_unique<optim::Adam>(params, optim::AdamOptions(lr).set_weight_decay(weight_decay));
      } else {
        conv1.emplace(n_features, hidden, bias);
        conv2.emplace(hidden, n_classes, bias);
        conv1->to(dev);
        conv2->to(dev);
        forward = [&](bool training) {
          const Tensor h = dropout(relu((*conv1)(graph_on_device, dropout(x_sparse, dropout_p, training))),
                                   dropout_p, training);
          return (*conv2)(graph_on_device, h);  // (N, C) logits
        };
        // Weight decay on the first layer's weights only, as in the paper.
        std::vector<Tensor> rest;
        if (bias) rest.push_back(conv1->bias);
        for (const Tensor& p : conv2->parameters()) rest.push_back(p);
        opt = std::make_unique<optim::Adam>(
            std::vector<optim::ParamGroup>{
                {{conv1->weight}, optim::GroupOverrides().set_weight_decay(weight_decay)}, {rest, {}}},
            optim::AdamOptions(lr));
        // As in the paper's code, the loss that early stopping watches includes the
        // weight-decay term (weight_decay / 2 * |W1|^2), not only the cross-entropy.
        penalty = [&] { return weight_decay / 2 * sum(conv1->weight * conv1->weight).item(); };
        params = conv1->parameters();
        for (const Tensor& p : conv2->parameters()) params.push_back(p);
      }

      const example::MetricsCsv csv(run == 0 ? metrics_path : "", "epoch,train_loss,val_loss,val_acc,peak_rss_mb");
      std::vector<double> val_losses;
      PatienceWithBest patience_rule{patience};
      std::vector<Tensor> kept;  // GAT: the parameters of the model to keep
      const auto t0 = std::chrono::steady_clock::now();
      int epoch = 0;
      for (; epoch < epochs; ++epoch) {
        opt->zero_grad();
        Tensor loss = cross_entropy(index_select(forward(true), 0, train_idx), y_train);
        loss.backward();
        opt->step();
        NoGradGuard no_grad;
        const Tensor val_logits = index_select(forward(false), 0, val_idx);
        const double val_loss = cross_entropy(val_logits, y_val).item() + penalty();
        const double val_acc = metrics::accuracy(val_logits, y_val);
        csv.add(epoch + 1, {loss.item(), val_loss, val_acc, example::peak_rss_mb()});
        if (gat) {
          if (patience_rule.improved_both(val_loss, val_acc)) {
            kept.clear();
            for (const Tensor& p : params) kept.push_back(p.detach().clone());
          }
          if (patience_rule.stop_after(val_loss, val_acc)) {
            ++epoch;
            break;
          }
          continue;
        }
        // GCN's early stopping: the validation loss rose above the mean of the last
        // `patience` (checked from epoch patience + 2 on, as the paper's code does).
        if (patience > 0 && epoch > patience) {
          double m = 0;
          for (int i = 1; i <= patience; ++i) m += val_losses[val_losses.size() - i];
          if (val_loss > m / patience) {
            ++epoch;
            break;
          }
        }
        val_losses.push_back(val_loss);
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      epochs_run_total += epoch;
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < kept.size(); ++i) params[i].copy_(kept[i]);  // GAT: back to the model kept
      const Tensor logits = forward(false);
      const double acc = metrics::accuracy(index_select(logits, 0, test_idx), y_test);
      accs.push_back(acc);
      val_accs.push_back(metrics::accuracy(index_select(logits, 0, val_idx), y_val));
      std::printf("run %d (seed %llu): %d epochs, validation accuracy %.4f, test accuracy %.4f\n", run + 1,
                  static_cast<unsigned long long>(s), epoch, val_accs.back(), acc);
      std::fflush(stdout);
    }
    const auto [mean_acc, std_acc] = example::mean_std(accs);
    const double mean_val_acc = example::mean_std(val_accs).first;
    std::printf("test accuracy over %d run(s): %.4f +- %.4f\n", runs, mean_acc, std_acc);
    example::print_result({{"model", model},
                           {"split", split_kind},
                           {"runs", runs},
                           {"test_acc", mean_acc},
                           {"test_acc_std", std_acc},
                           {"test_acc_runs", accs},
                           {"val_acc", mean_val_acc},
                           {"epochs", epochs},
                           {"mean_epochs_run", static_cast<double>(epochs_run_total) / runs},
                           {"train_seconds", seconds},
                           {"peak_rss_mb", example::peak_rss_mb()}});
    return 0;
  });
}
