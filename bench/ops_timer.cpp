// Medians of 15 runs of the newer ops against a peer in the same run: the reference-loop
// math functions against exp's vector kernel, einsum against the matmul it becomes, and
// scatter_reduce's amax against scatter_add. Usage: ./build/bench/ops_timer
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kiln/kiln.hpp"

using namespace kiln;

namespace {
template <class F>
double median_ms(F f) {
  std::vector<double> times;
  for (int r = 0; r < 15; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}
}  // namespace

int main() {
  manual_seed(1);
  const Tensor x = randn({1 << 20});
  std::printf("exp, 1M float32 (vector kernel): %.3f ms\n", median_ms([&] { exp(x); }));
  std::printf("erf, 1M float32 (reference loop): %.3f ms\n", median_ms([&] { erf(x); }));
  std::printf("lgamma, 1M float32 (reference loop): %.3f ms\n", median_ms([&] { lgamma(x); }));
  const Tensor a = randn({32, 128, 128}), b = randn({32, 128, 128});
  std::printf("matmul, (32, 128, 128) x (32, 128, 128): %.3f ms\n", median_ms([&] { matmul(a, b); }));
  std::printf("einsum bij,bjk->bik, the same: %.3f ms\n", median_ms([&] { einsum("bij,bjk->bik", {a, b}); }));
  const Tensor src = randn({100000, 16}), zero = zeros({5000, 16});
  const Tensor index = randint(0, 5000, {100000, 1}).expand({100000, 16}).contiguous();
  std::printf("scatter_add, 100k x 16 into 5k rows: %.3f ms\n",
              median_ms([&] { scatter_add(zero, 0, index, src); }));
  std::printf("scatter_reduce amax, the same: %.3f ms\n",
              median_ms([&] { scatter_reduce(zero, 0, index, src, ScatterReduce::amax, false); }));
}
