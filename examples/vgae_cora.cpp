// vgae_cora: link prediction on Cora with a (variational) graph auto-encoder
// (Kipf & Welling, "Variational Graph Auto-Encoders", 2016).
//
// 15 % of the citation links are hidden (5 % validation, 10 % test, each with as many
// sampled non-links); the model sees the remaining 85 % and must tell the hidden links
// from the non-links.
//
//   encoder:  H = relu(Â X W0)                       (N, 32)
//             mu = Â H W_mu,  log sigma = Â H W_sigma (N, 16)   (GAE: z = mu)
//             z = mu + sigma * eps                              (the reparameterisation)
//   decoder:  p(A_ij = 1) = sigmoid(z_i . z_j)
//   loss:     weighted cross-entropy over all N x N entries of A + I (links are rare,
//             so they are up-weighted by #non-links / #links) + KL(q(z) || N(0, I)) / N
//
// Adam lr 0.01, 200 epochs; reports ROC-AUC and average precision on the test links.
//
//   ./build/examples/vgae_cora --data ../shared/data/cora [--model gae|vgae] [--runs 10]
#include "example_support.hpp"

namespace {

using kiln::Tensor;

// Scores sigmoid(mu_u . mu_v) for positive and negative pairs -> (AUC, AP).
std::pair<double, double> evaluate_links(const Tensor& z, const std::vector<kiln::graph::Edge>& pos,
                                         const std::vector<kiln::graph::Edge>& neg) {
  using namespace kiln;
  std::vector<std::int64_t> src, dst;
  std::vector<int> labels;
  for (const auto* edges : {&pos, &neg})
    for (const auto& [u, v] : *edges) {
      src.push_back(u);
      dst.push_back(v);
      labels.push_back(edges == &pos);
    }
  const Tensor scores = sigmoid(nn::inner_product_logits(z, from_vector(src), from_vector(dst)));
  const std::vector<double> s = scores.to_vector<double>();
  return {metrics::roc_auc(s, labels), metrics::average_precision(s, labels)};
}

}  // namespace

int main(int argc, char** argv) {
  example::Flags flags{"(V)GAE link prediction on Cora (Kipf & Welling 2016)"};
  example::RunArgs run_args;
  std::string model_kind = "vgae", metrics_path;
  int epochs = 200, hidden = 32, latent = 16;
  double lr = 0.01;
  example::add_run_flags(flags, run_args, "folder with cora.content and cora.cites");
  flags.option("--model", model_kind, "vgae (variational) or gae").one_of({"gae", "vgae"}).show_default();
  flags.option("--epochs", epochs, "epochs").at_least(0).show_default();
  flags.option("--hidden", hidden, "hidden units").at_least(1).show_default();
  flags.option("--latent", latent, "latent dimensions").at_least(1).show_default();
  flags.option("--lr", lr, "Adam learning rate").at_least(0).show_default();
  flags.option("--metrics", metrics_path, "append per-epoch metrics of the first run to this CSV");
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;

  return example::run_main([&] {
    using namespace kiln;
    const Device dev = example::apply_run_flags(run_args);
    const auto& [data_dir, seed, runs, threads, device] = run_args;
    const data::Cora cora = data::load_cora(data_dir);
    const Tensor features = cora.features.to(dev);
    const std::int64_t n = cora.num_nodes();
    const bool variational = model_kind == "vgae";
    std::printf("%s\nCora: %lld nodes, %zu undirected edges; model %s\n", build_info(), static_cast<long long>(n),
                cora.edges.size(), model_kind.c_str());

    std::vector<double> aucs, aps;
    double seconds = 0;
    for (int run = 0; run < runs; ++run) {
      const std::uint64_t s = seed + run;
      manual_seed(s);
      const graph::EdgeSplit split = graph::split_edges(n, cora.edges, 0.05, 0.10, s);
      const graph::CsrMatrix train_adj = graph::CsrMatrix::undirected(n, split.train);
      const graph::DeviceCsr a_hat(graph::normalize_symmetric(train_adj), dev);  // Â, held where the model trains
      // Targets: the training links plus self loops, as a dense N x N matrix.
      const Tensor target = graph::add_self_loops(train_adj).to_dense().to(dev);
      const double positives = sum(target).item(), total = static_cast<double>(n) * n;
      const Tensor pos_weight = scalar_tensor((total - positives) / positives, kFloat32, dev);
      const double norm = total / ((total - positives) * 2);

      nn::GCNConv enc(features.size(1), hidden, false), enc_mu(hidden, latent, false),
          enc_logstd(hidden, latent, false);
      for (nn::Module* m : {static_cast<nn::Module*>(&enc), static_cast<nn::Module*>(&enc_mu),
                            static_cast<nn::Module*>(&enc_logstd)})
        m->to(dev);
      std::vector<Tensor> params = enc.parameters();
      for (const Tensor& p : enc_mu.parameters()) params.push_back(p);
      if (variational)
        for (const Tensor& p : enc_logstd.parameters()) params.push_back(p);
      optim::Adam opt(params, optim::AdamOptions(lr));

      const example::MetricsCsv csv(run == 0 ? metrics_path : "", "epoch,train_loss,val_auc,val_ap,peak_rss_mb");
      const auto t0 = std::chrono::steady_clock::now();
      Tensor mu;
      for (int epoch = 0; epoch < epochs; ++epoch) {
        opt.zero_grad();
        const Tensor h = relu(enc(a_hat, features));  // (N, 32)
        mu = enc_mu(a_hat, h);                        // (N, 16)
        Tensor z = mu, kl;
        if (variational) {
          const Tensor logstd = enc_logstd(a_hat, h);
          z = nn::reparameterize(mu, logstd);
          kl = nn::gaussian_kl(mu, logstd) / static_cast<double>(n);
        }
        Tensor loss = binary_cross_entropy_with_logits(nn::inner_product_all(z), target, pos_weight) * norm;
        if (variational) loss = loss + kl;
        loss.backward();
        opt.step();
        if (!metrics_path.empty() && run == 0) {
          NoGradGuard no_grad;
          const auto [auc, ap] = evaluate_links(mu, split.val, split.val_negative);
          csv.add(epoch + 1, {loss.item(), auc, ap, example::peak_rss_mb()});
        }
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      NoGradGuard no_grad;
      const auto [val_auc, val_ap] = evaluate_links(mu, split.val, split.val_negative);
      const auto [auc, ap] = evaluate_links(mu, split.test, split.test_negative);
      aucs.push_back(auc);
      aps.push_back(ap);
      std::printf("run %d (seed %llu): val AUC %.4f AP %.4f, test AUC %.4f AP %.4f\n", run + 1,
                  static_cast<unsigned long long>(s), val_auc, val_ap, auc, ap);
      std::fflush(stdout);
    }
    const auto [auc_mean, auc_std] = example::mean_std(aucs);
    const auto [ap_mean, ap_std] = example::mean_std(aps);
    std::printf("test over %d run(s): AUC %.4f +- %.4f, AP %.4f +- %.4f\n", runs, auc_mean, auc_std, ap_mean, ap_std);
    example::print_result({{"model", model_kind},
                           {"runs", runs},
                           {"test_auc", auc_mean},
                           {"test_auc_std", auc_std},
                           {"test_ap", ap_mean},
                           {"test_ap_std", ap_std},
                           {"epochs", epochs},
                           {"train_seconds", seconds},
                           {"peak_rss_mb", example::peak_rss_mb()}});
    return 0;
  });
}
