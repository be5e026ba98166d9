// gcn_cora: semi-supervised node classification on the Cora citation graph with a
// two-layer graph convolutional network (Kipf & Welling, ICLR 2017).
//
//   H1 = dropout(relu(Â dropout(X) W1)),   logits = Â H1 W2     (--bias adds b1, b2)
//
// Â = D^-1/2 (A + I) D^-1/2 spreads each paper's features to its neighbours; X is the
// row-normalised bag of words (2708 papers x 1433 words). Only 140 labelled papers
// (20 per class) are trained on. Setup of the paper: 16 hidden units, dropout 0.5,
// Adam lr 0.01, weight decay 5e-4 on the first layer's weights, up to 200 epochs,
// stopping when the validation loss (with the weight-decay term, as in the paper's
// code) exceeds the mean of the previous 10.
//
//   ./build/examples/gcn_cora --data ../shared/data/cora [--split planetoid|random] [--runs 10]
#include <cmath>

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GCN node classification on Cora (Kipf & Welling 2017)"};
  example::RunArgs run_args;
  std::string split_kind = "planetoid", metrics_path;
  int epochs = 200, hidden = 16, patience = 10;
  double lr = 0.01, weight_decay = 5e-4, dropout_p = 0.5;
  example::add_run_flags(app, run_args, "folder with cora.content, cora.cites (and cora.planetoid-split)");
  app.add_option("--split", split_kind, "planetoid (the split file) or random (20 per class from the seed)")
      ->check(CLI::IsMember({"planetoid", "random"}))
      ->capture_default_str();
  app.add_option("--epochs", epochs, "maximum epochs")->check(example::at_least(0))->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units")->check(example::at_least(1))->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate")->check(example::at_least(0))->capture_default_str();
  app.add_option("--weight-decay", weight_decay, "L2 on the first layer's weights")
      ->check(example::at_least(0))
      ->capture_default_str();
  app.add_option("--dropout", dropout_p, "dropout probability")->capture_default_str();
  app.add_option("--patience", patience, "early-stopping window (0: off)")
      ->check(example::at_least(0))
      ->capture_default_str();
  bool bias = false;  // the paper's layers have none
  app.add_flag("--bias", bias, "give both layers a bias (the paper's model has none)");
  app.add_option("--metrics", metrics_path, "append per-epoch metrics of the first run to this CSV");
  CLI11_PARSE(app, argc, argv);

  return example::run_main([&] {
    using namespace kiln;
    const Device dev = example::apply_run_flags(run_args);
    const auto& [data_dir, seed, runs, threads, device] = run_args;
    const data::Cora cora = data::load_cora(data_dir);
    // Row-normalised features: each paper's word indicators sum to 1.
    Tensor x;
    {
      NoGradGuard no_grad;
      x = cora.features / clamp(sum(cora.features, {1}, true), 1.0, INFINITY);  // (N, F)
      x = x.to(dev);  // the features live where the model trains
    }
    // Â, made once and held where the model trains (graph::DeviceCsr).
    const graph::DeviceCsr a_hat(
        graph::normalize_symmetric(graph::CsrMatrix::undirected(cora.num_nodes(), cora.edges)), dev);
    const auto n_classes = static_cast<std::int64_t>(cora.classes.size());
    std::printf("%s\nCora: %lld papers, %lld features, %lld classes, %zu undirected edges\n", build_info(),
                static_cast<long long>(cora.num_nodes()), static_cast<long long>(x.size(1)),
                static_cast<long long>(n_classes), cora.edges.size());

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

      nn::GCNConv conv1(x.size(1), hidden, bias), conv2(hidden, n_classes, bias);
      conv1.to(dev);
      conv2.to(dev);
      auto forward = [&](bool training) {
        const Tensor h = dropout(relu(conv1.forward(a_hat, dropout(x, dropout_p, training))), dropout_p, training);
        return conv2.forward(a_hat, h);  // (N, C) logits
      };
      // Weight decay on the first layer's weights only, as in the paper.
      std::vector<Tensor> rest;
      if (bias) rest.push_back(conv1.bias);
      for (const Tensor& p : conv2.parameters()) rest.push_back(p);
      optim::Adam opt({{{conv1.weight}, optim::GroupOverrides().set_weight_decay(weight_decay)}, {rest, {}}},
                      optim::AdamOptions(lr));

      const example::MetricsCsv csv(run == 0 ? metrics_path : "", "epoch,train_loss,val_loss,val_acc,peak_rss_mb");
      std::vector<double> val_losses;
      const auto t0 = std::chrono::steady_clock::now();
      int epoch = 0;
      for (; epoch < epochs; ++epoch) {
        opt.zero_grad();
        Tensor loss = cross_entropy(index_select(forward(true), 0, train_idx), y_train);
        loss.backward();
        opt.step();
        NoGradGuard no_grad;
        const Tensor logits = forward(false);
        const Tensor val_logits = index_select(logits, 0, val_idx);
        // As in the paper's code, the loss that early stopping watches includes the
        // weight-decay term (weight_decay / 2 * |W1|^2), not only the cross-entropy.
        const double val_loss = cross_entropy(val_logits, y_val).item() +
                                weight_decay / 2 * sum(conv1.weight * conv1.weight).item();
        const double val_acc = metrics::accuracy(val_logits, y_val);
        csv.add(epoch + 1, {loss.item(), val_loss, val_acc, example::peak_rss_mb()});
        // Early stopping: the validation loss rose above the mean of the last `patience`
        // (checked from epoch patience + 2 on, as the paper's code does).
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
    example::print_result({{"model", "gcn"},
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
