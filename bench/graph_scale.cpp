// Graph workloads at scale, on generated power-law graphs.
//
//   ./build/bench/graph_scale --nodes 1000000 --edges 10000000 [--threads T] [--spmm-only] [--device cuda]
//
// Builds a graph whose node degrees follow a power law (each edge picks its two ends
// with probability proportional to w_i = (i + 1)^-0.8, a Chung-Lu graph), then
//   1. times spmm (Â X, 16 features) and reports its effective memory bandwidth,
//      counting the bytes it must move: row pointers, column indices and values
//      (8 + 8 + 4 bytes per nonzero, 8 per row), one X row per nonzero (64 B) and Y;
//   2. runs one epoch of GAE training with sampled negatives: a 2-layer GCN encoder
//      over learned 16-dimensional node embeddings and the inner-product decoder on
//      every edge and as many sampled non-edges. By default the epoch is one
//      full-batch step, as in the GAE paper: the encoder runs once, the decoder's
//      loss is taken over chunks of max(65,536, nodes) edges whose gradients add up in the node
//      vectors z, and one backward pass carries that sum through the encoder, so
//      the epoch costs O(edges + nodes) in time and memory. --batch-edges B instead takes
//      an optimizer step per B edges, each step propagating over the whole graph
//      (an epoch then costs edges^2 / B).
// With --device cuda the graph is built on the host and held on the GPU as a
// DeviceCsr, uploaded once before the spmm timing (so the set-up time does not
// count it); spmm and the epoch run there (the sampled pairs are drawn on the host
// and uploaded per chunk), and each timing waits for the GPU to finish.
// Ends with "RESULT {json}": seconds per phase and peak RSS (of the host).
#include <chrono>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "bench/peak_rss.hpp"
#include "kiln/kiln.hpp"

namespace {

using kiln::bench::peak_rss_mb;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln;
  std::int64_t nodes = 100000, edges = 1000000;
  int threads = 0;
  std::int64_t batch_edges = 0;  // 0: one full-batch step per epoch
  bool spmm_only = false;
  Device device = Device::cpu();
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--spmm-only") spmm_only = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    if (f == "--nodes") nodes = std::stoll(argv[i + 1]);
    else if (f == "--edges") edges = std::stoll(argv[i + 1]);
    else if (f == "--threads") threads = std::stoi(argv[i + 1]);
    else if (f == "--batch-edges") batch_edges = std::stoll(argv[i + 1]);
    else if (f == "--device") device = Device::parse(argv[i + 1]);
  }
  if (threads > 0) set_num_threads(threads);
  manual_seed(0);
  const auto t_build = std::chrono::steady_clock::now();
  // Chung-Lu sampling through the inverse of the cumulative weights.
  std::vector<double> cdf(nodes);
  double total = 0;
  for (std::int64_t i = 0; i < nodes; ++i) cdf[i] = (total += std::pow(double(i + 1), -0.8));
  Generator gen(1);
  auto pick = [&] {
    const double r = gen.uniform() * total;
    return static_cast<std::int64_t>(std::lower_bound(cdf.begin(), cdf.end(), r) - cdf.begin());
  };
  std::vector<graph::Edge> list;
  list.reserve(edges);
  while (static_cast<std::int64_t>(list.size()) < edges) {
    const std::int64_t u = pick(), v = pick();
    if (u != v) list.emplace_back(u, v);
  }
  const graph::CsrMatrix adj = graph::CsrMatrix::undirected(nodes, list);
  const graph::CsrMatrix a_hat = graph::normalize_symmetric(adj);
  const double build_s = seconds_since(t_build);
  std::int64_t longest_row = 0;
  for (std::int64_t r = 0; r < nodes; ++r)
    longest_row = std::max(longest_row, a_hat.row_ptr[r + 1] - a_hat.row_ptr[r]);
  const std::string device_name = device.is_cpu() ? "cpu" : "cuda:" + std::to_string(device.index);
  std::printf("%s, %d threads, device %s\ngraph: %lld nodes, %lld nonzeros in A-hat, at most %lld in a row "
              "(built in %.2f s)\n",
              build_info(), get_num_threads(), device_name.c_str(), static_cast<long long>(nodes),
              static_cast<long long>(a_hat.nnz()), static_cast<long long>(longest_row), build_s);

  // 1. spmm bandwidth.
  const Tensor x = randn({nodes, 16}).to(device);
  // On a GPU the matrix goes up once; on the CPU spmm reads the CsrMatrix itself.
  const graph::DeviceCsr a_up =
      device.is_cpu() ? graph::DeviceCsr(graph::CsrMatrix{}) : graph::DeviceCsr(a_hat, device);
  const auto product = [&] {
    Tensor y = device.is_cpu() ? spmm(a_hat, x) : spmm(a_up, x);
    if (device.is_cuda()) cuda::synchronize();
    return y;
  };
  // Warm-up for at least 0.2 s: small calls run slower until the allocator has settled
  // (the first ten Cora-size calls take ~6x the steady time, for their fresh pages).
  Tensor y;
  for (const auto t_warm = std::chrono::steady_clock::now(); seconds_since(t_warm) < 0.2;) y = product();
  std::vector<double> times;  // the median of 21 runs
  for (int r = 0; r < 21; ++r) {
    const auto t = std::chrono::steady_clock::now();
    y = product();
    times.push_back(seconds_since(t));
  }
  std::nth_element(times.begin(), times.begin() + 10, times.end());
  const double spmm_s = times[10];
  const double bytes = a_hat.nnz() * (8.0 + 4.0 + 64.0) + nodes * (8.0 + 64.0);
  std::printf("spmm (16 features): %.6f s, %.1f GB/s effective\n", spmm_s, bytes / spmm_s / 1e9);

  if (spmm_only) {
    std::printf("RESULT {\"nodes\":%lld,\"nnz\":%lld,\"spmm_seconds\":%.7f,\"spmm_gbps\":%.2f}\n",
                static_cast<long long>(nodes), static_cast<long long>(a_hat.nnz()), spmm_s, bytes / spmm_s / 1e9);
    return 0;
  }

  // 2. One GAE epoch with sampled negatives.
  const auto t_setup = std::chrono::steady_clock::now();
  Tensor emb = (randn({nodes, 16}) * 0.1).to(device).requires_grad_();
  nn::GCNConv conv1(16, 16), conv2(16, 16);
  conv1.to(device);
  conv2.to(device);
  std::vector<Tensor> params{emb};
  for (const auto* m : {&conv1, &conv2})
    for (const Tensor& p : m->parameters()) params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(0.01));
  const graph::EdgeSet known(list);
  const std::vector<graph::Edge> uniq = graph::unique_undirected(list);
  // Shared by every product and its backward, never copied (on a GPU, the one uploaded above).
  const graph::DeviceCsr a_held = device.is_cpu() ? graph::DeviceCsr(a_hat) : a_up;
  const double setup_s = seconds_since(t_setup);  // the edge set for sampling, the unique edges, Â held
  const auto t_epoch = std::chrono::steady_clock::now();
  const auto n_edges = static_cast<std::int64_t>(uniq.size());
  // Edges [start, end) with as many sampled non-edges: (src, dst, labels).
  auto pairs = [&](std::int64_t start, std::int64_t end) {
    std::vector<std::int64_t> src, dst;
    for (std::int64_t k = start; k < end; ++k) {
      src.push_back(uniq[k].first);
      dst.push_back(uniq[k].second);
    }
    for (const auto& [u, v] : graph::sample_negatives(nodes, end - start, known, gen)) {
      src.push_back(u);
      dst.push_back(v);
    }
    std::vector<float> labels(src.size(), 0.0f);
    std::fill(labels.begin(), labels.begin() + (end - start), 1.0f);
    return std::tuple{from_vector(src).to(device), from_vector(dst).to(device),
                      from_vector(labels).to(device)};
  };
  auto encode = [&] { return conv2.forward(a_held, relu(conv1.forward(a_held, emb))); };
  // Each chunk's backward writes a gradient the size of z (nodes x 16), so chunks of
  // at least `nodes` edges keep that O(edges) overall.
  const std::int64_t chunk = std::max<std::int64_t>(65536, nodes);
  double loss_sum = 0;
  std::int64_t steps = 0;
  if (batch_edges <= 0) {
    // One full-batch step: loss = (sum of the 2E pair losses) / 2E.
    opt.zero_grad();
    const Tensor z = encode();
    const Tensor z_leaf = z.detach().requires_grad_();  // gathers the decoder's gradient
    for (std::int64_t start = 0; start < n_edges; start += chunk) {
      const auto [src, dst, labels] = pairs(start, std::min(n_edges, start + chunk));
      Tensor loss = binary_cross_entropy_with_logits(nn::inner_product_logits(z_leaf, src, dst), labels, Tensor(),
                                                     Reduction::sum) /
                    static_cast<double>(2 * n_edges);
      loss.backward();
      loss_sum += loss.item();
    }
    z.backward(z_leaf.grad());
    opt.step();
    if (device.is_cuda()) cuda::synchronize();
    steps = 1;
  } else {
    for (std::int64_t start = 0; start < n_edges; start += batch_edges) {
      const auto [src, dst, labels] = pairs(start, std::min(n_edges, start + batch_edges));
      opt.zero_grad();
      Tensor loss = binary_cross_entropy_with_logits(nn::inner_product_logits(encode(), src, dst), labels);
      loss.backward();
      opt.step();
      loss_sum += loss.item() / static_cast<double>(n_edges) * static_cast<double>(src.size(0)) / 2;
      ++steps;
    }
  }
  const double epoch_s = seconds_since(t_epoch);
  std::printf("GAE: set-up %.2f s; epoch: %lld step(s), mean loss %.4f, %.2f s; peak RSS %.0f MiB\n", setup_s,
              static_cast<long long>(steps), loss_sum, epoch_s, peak_rss_mb());
  std::printf("RESULT {\"nodes\":%lld,\"nnz\":%lld,\"build_seconds\":%.3f,\"spmm_seconds\":%.7f,\"spmm_gbps\":%.2f,"
              "\"setup_seconds\":%.3f,\"epoch_seconds\":%.3f,\"steps\":%lld,\"peak_rss_mb\":%.1f}\n",
              static_cast<long long>(nodes), static_cast<long long>(a_hat.nnz()), build_s, spmm_s,
              bytes / spmm_s / 1e9, setup_s, epoch_s, static_cast<long long>(steps), peak_rss_mb());
  return 0;
}
