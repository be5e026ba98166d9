// What activation checkpointing trades: the peak memory and the time of a training step.
//
//   ./build/bench/checkpoint_memory --segments S [--depth 48] [--width 256] [--batch 4096]
//                                   [--steps 7] [--threads T]
//
// A deep MLP (depth blocks of Linear(width, width) + ReLU, then a 10-way head) trains with
// Adam on random data. --segments 0 runs the plain forward; S >= 1 runs it through
// nn::checkpoint_sequential with S segments. Run one configuration per process, since
// the peak resident memory (VmHWM) of a process only grows:
//   for s in 0 2 4 8; do ./build/bench/checkpoint_memory --segments $s; done
// Ends with "RESULT {json}": the median step time over the steps after the first, and
// the peak RSS of the process.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "bench/peak_rss.hpp"
#include "kiln/kiln.hpp"

using kiln::bench::peak_rss_mb;

int main(int argc, char** argv) {
  using namespace kiln;
  std::int64_t segments = 0, depth = 48, width = 256, batch = 4096, steps = 7;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::int64_t value = std::stoll(argv[i + 1]);
    if (flag == "--segments")
      segments = value;
    else if (flag == "--depth")
      depth = value;
    else if (flag == "--width")
      width = value;
    else if (flag == "--batch")
      batch = value;
    else if (flag == "--steps")
      steps = value;
    else if (flag == "--threads")
      threads = static_cast<int>(value);
    else {
      std::cerr << "checkpoint_memory: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (threads > 0) set_num_threads(threads);

  manual_seed(0);
  nn::Sequential net;
  for (std::int64_t i = 0; i < depth; ++i) {
    net.push_back(std::make_shared<nn::Linear>(width, width));
    net.push_back(std::make_shared<nn::ReLU>());
  }
  net.push_back(std::make_shared<nn::Linear>(width, 10));
  optim::Adam adam(net.parameters(), optim::AdamOptions(1e-4));
  const Tensor x = randn({batch, width});
  const Tensor labels = randint(0, 10, {batch});

  std::vector<double> seconds;
  double loss = 0;
  for (std::int64_t step = 0; step < steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    adam.zero_grad();
    const Tensor logits = segments == 0 ? net(x) : nn::checkpoint_sequential(net, segments, x);
    const Tensor l = cross_entropy(logits, labels);
    l.backward();
    adam.step();
    loss = l.item<double>();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> timed(seconds.begin() + (seconds.size() > 1 ? 1 : 0), seconds.end());
  std::sort(timed.begin(), timed.end());
  const double median = timed.empty() ? 0.0 : timed[timed.size() / 2];
  std::cout << "segments " << segments << ": " << median * 1e3 << " ms per step (median of " << timed.size()
            << "), peak RSS " << peak_rss_mb() << " MB, last loss " << loss << "\n";
  std::cout << "RESULT {\"segments\": " << segments << ", \"depth\": " << depth << ", \"width\": " << width
            << ", \"batch\": " << batch << ", \"step_ms\": " << median * 1e3
            << ", \"peak_rss_mb\": " << peak_rss_mb() << ", \"loss\": " << loss << "}\n";
  return 0;
}
