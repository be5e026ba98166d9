// Elementwise and reduction kernels, one thread, for each instruction set.
// Bytes counted: what the kernel reads plus what it writes. The two
// "bandwidth" benchmarks (memcpy, and a plain a[i] = b[i] + c[i] loop) give
// the machine's reachable memory bandwidth in the same run.
//
//   ./build/bench/bench_kernels --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/kiln.hpp"

using kiln::cpu::Isa;

namespace {

// 16 Mi floats = 64 MiB per array: far beyond the caches, so DRAM-bound kernels show it.
constexpr std::int64_t kLarge = 16 << 20;
// 64 Ki floats = 256 KiB: fits in L2, so compute-bound kernels show their speed.
constexpr std::int64_t kSmall = 64 << 10;

std::vector<float> values(std::int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(kiln::default_generator().uniform());
  return v;
}

bool select_isa(benchmark::State& state, Isa isa) {
  if (kiln::cpu::isa_supported(isa)) return true;
  state.SkipWithError("this CPU lacks the instruction set");
  return false;
}

void BM_bandwidth_memcpy(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<float> a = values(n, 0, 1), b(n);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 8);
}
BENCHMARK(BM_bandwidth_memcpy)->Arg(kLarge);

// The same copy cut into one piece per thread (1 and 2): the ceiling for kernels that
// stream from DRAM on every thread, as spmm does.
void BM_bandwidth_memcpy_threads(benchmark::State& state) {
  const int threads = kiln::get_num_threads();
  kiln::set_num_threads(static_cast<int>(state.range(0)));
  std::vector<float> a = values(kLarge, 0, 1), b(kLarge);
  for (auto _ : state) {
    kiln::parallel_for(0, kLarge, kLarge / state.range(0), [&](std::int64_t lo, std::int64_t hi) {
      std::memcpy(b.data() + lo, a.data() + lo, (hi - lo) * sizeof(float));
    });
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kLarge * 8);
  kiln::set_num_threads(threads);
}
BENCHMARK(BM_bandwidth_memcpy_threads)->Arg(1)->Arg(2)->UseRealTime();

void BM_bandwidth_add_loop(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<float> a = values(n, 0, 1), b = values(n, 0, 1), c(n);
  for (auto _ : state) {
    for (std::int64_t i = 0; i < n; ++i) c[i] = a[i] + b[i];
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 12);
}
BENCHMARK(BM_bandwidth_add_loop)->Arg(kLarge);

template <Isa isa>
void BM_add(benchmark::State& state) {
  if (!select_isa(state, isa)) return;
  const auto& k = kiln::cpu::kernels_f32_for(isa);
  const std::int64_t n = state.range(0);
  std::vector<float> a = values(n, -1, 1), b = values(n, -1, 1), y(n);
  for (auto _ : state) {
    k.binary[int(kiln::cpu::Binary::add)](n, a.data(), 1, b.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * n * 12);
}

template <Isa isa, kiln::cpu::Unary op>
void BM_unary(benchmark::State& state) {
  if (!select_isa(state, isa)) return;
  const auto& k = kiln::cpu::kernels_f32_for(isa);
  const std::int64_t n = state.range(0);
  std::vector<float> x = values(n, op == kiln::cpu::Unary::log1p ? -0.9f : -4, 4), y(n);  // log1p: above -1
  for (auto _ : state) {
    k.unary[int(op)](n, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * n * 8);
}

template <Isa isa>
void BM_sum(benchmark::State& state) {
  if (!select_isa(state, isa)) return;
  const auto& k = kiln::cpu::kernels_f32_for(isa);
  const std::int64_t n = state.range(0);
  std::vector<float> x = values(n, -1, 1);
  float out = 0;
  for (auto _ : state) {
    k.sum_rows(1, n, x.data(), &out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * n * 4);
}

template <Isa isa>
void BM_softmax_rows(benchmark::State& state) {
  if (!select_isa(state, isa)) return;
  const auto& k = kiln::cpu::kernels_f32_for(isa);
  const std::int64_t n = state.range(0), len = 1000;  // rows of 1000 logits
  std::vector<float> x = values(n, -4, 4), y(n);
  for (auto _ : state) {
    k.softmax_rows(n / len, len, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * n * 8);
}

// Registers `fn` for each instruction set as "label/isa/size".
#define KILN_BENCH_ALL_ISA(label, ...)                                                              \
  BENCHMARK(__VA_ARGS__<Isa::scalar>)->Name(label "/scalar")->Arg(kSmall)->Arg(kLarge);             \
  BENCHMARK(__VA_ARGS__<Isa::avx2>)->Name(label "/avx2")->Arg(kSmall)->Arg(kLarge);                 \
  BENCHMARK(__VA_ARGS__<Isa::avx512>)->Name(label "/avx512")->Arg(kSmall)->Arg(kLarge)

template <Isa isa> void BM_relu(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::relu>(s); }
template <Isa isa> void BM_exp(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::exp>(s); }
template <Isa isa> void BM_tanh(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::tanh>(s); }
template <Isa isa> void BM_gelu(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::gelu>(s); }
template <Isa isa> void BM_expm1(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::expm1>(s); }
template <Isa isa> void BM_log1p(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::log1p>(s); }
template <Isa isa> void BM_sin(benchmark::State& s) { BM_unary<isa, kiln::cpu::Unary::sin>(s); }

KILN_BENCH_ALL_ISA("add", BM_add);
KILN_BENCH_ALL_ISA("relu", BM_relu);
KILN_BENCH_ALL_ISA("exp", BM_exp);
KILN_BENCH_ALL_ISA("tanh", BM_tanh);
KILN_BENCH_ALL_ISA("gelu", BM_gelu);
KILN_BENCH_ALL_ISA("expm1", BM_expm1);
KILN_BENCH_ALL_ISA("log1p", BM_log1p);
KILN_BENCH_ALL_ISA("sin", BM_sin);
KILN_BENCH_ALL_ISA("sum", BM_sum);
KILN_BENCH_ALL_ISA("softmax_rows", BM_softmax_rows);

// dropout(x, 0.5) on Cora's feature matrix (2708 x 1433), on 1 and 2 threads: kiln's
// op (x times the mask in one pass, each keep decision a hash of (seed, index), drawn
// a vector at a time) against the same thing composed of public ops, as
// x * ((rand >= p) * 2), whose numbers come from the sequential generator.
void BM_dropout(benchmark::State& state, bool composed) {
  using namespace kiln;
  const int threads = get_num_threads();
  set_num_threads(static_cast<int>(state.range(0)));
  const Tensor x = rand({2708, 1433});
  for (auto _ : state) {
    const Tensor y = composed ? mul(x, ge(rand(x.shape()), scalar_like(x, 0.5)).to(kFloat32) * 2.0)
                              : dropout(x, 0.5, true);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  set_num_threads(threads);
}
BENCHMARK_CAPTURE(BM_dropout, op, false)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_dropout, composed, true)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// layer_norm over rows of 768 (a batch of 4096 feature vectors), forward and backward
// to x, weight and bias, on 1 and 2 threads: the fused op against the same definition
// composed of public ops (mean, subtract, square, mean, sqrt, divide, scale, shift).
void BM_layer_norm(benchmark::State& state, bool composed) {
  using namespace kiln;
  const int threads = get_num_threads();
  set_num_threads(static_cast<int>(state.range(0)));
  Tensor x = randn({4096, 768}).requires_grad_(), w = randn({768}).requires_grad_(),
         b = randn({768}).requires_grad_();
  const Tensor upstream = randn({4096, 768});
  for (auto _ : state) {
    Tensor y;
    if (composed) {
      const Tensor centred = x - mean(x, {1}, true);
      y = centred / sqrt(mean(centred * centred, {1}, true) + 1e-5) * w + b;
    } else {
      y = layer_norm(x, {768}, w, b);
    }
    y.backward(upstream);
    benchmark::DoNotOptimize(x.grad().data_ptr<float>());
    x.set_grad(Tensor());
    w.set_grad(Tensor());
    b.set_grad(Tensor());
  }
  set_num_threads(threads);
}
BENCHMARK_CAPTURE(BM_layer_norm, op, false)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_layer_norm, composed, true)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// cumsum and prod of a 4096 x 4096 float32 tensor along each dimension (default threads).
// Bytes: each value read once, and written once by cumsum; compare the memcpy row.
void BM_scan(benchmark::State& state, bool product) {
  using namespace kiln;
  const std::int64_t dim = state.range(0);
  const Tensor x = exp(randn({4096, 4096}) * 0.01);  // products stay in range
  for (auto _ : state) {
    const Tensor y = product ? prod(x, dim) : cumsum(x, dim);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetBytesProcessed(state.iterations() * x.numel() * 4 * (product ? 1 : 2));
}
BENCHMARK_CAPTURE(BM_scan, cumsum, false)->ArgName("dim")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_scan, prod, true)->ArgName("dim")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Rows picked at random from a table of 1M x 16 floats (64 MiB, beyond the caches), as
// the inner-product decoder of a GAE picks node vectors at 10M edges: index_select of
// 2M rows and index_add of 2M rows into the table (its backward), on 1 and 2 threads.
// Bytes: each picked row read and written once (index_add also copies the table).
constexpr std::int64_t kTableRows = 1 << 20, kPicked = 2 << 20, kRowWidth = 16;

kiln::Tensor random_rows(std::int64_t count, std::int64_t bound) {
  kiln::Generator gen(7);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(count));
  for (auto& i : idx) i = static_cast<std::int64_t>(gen.below(static_cast<std::uint64_t>(bound)));
  return kiln::from_vector(idx);
}

void BM_index_select_rows(benchmark::State& state) {
  using namespace kiln;
  const int threads = get_num_threads();
  set_num_threads(static_cast<int>(state.range(0)));
  const Tensor table = randn({kTableRows, kRowWidth}), index = random_rows(kPicked, kTableRows);
  for (auto _ : state) {
    const Tensor y = index_select(table, 0, index);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetBytesProcessed(state.iterations() * kPicked * kRowWidth * 4 * 2);
  set_num_threads(threads);
}
BENCHMARK(BM_index_select_rows)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// Also with rows of 256 floats (the table's size and the picked bytes kept).
void BM_index_add_rows(benchmark::State& state) {
  using namespace kiln;
  const int threads = get_num_threads();
  set_num_threads(static_cast<int>(state.range(0)));
  const std::int64_t width = state.range(1), scale = width / kRowWidth;
  const Tensor table = zeros({kTableRows / scale, width}),
               index = random_rows(kPicked / scale, kTableRows / scale),
               source = randn({kPicked / scale, width});
  for (auto _ : state) {
    const Tensor y = index_add(table, 0, index, source);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetBytesProcessed(state.iterations() * kPicked * kRowWidth * 4 * 2);
  set_num_threads(threads);
}
BENCHMARK(BM_index_add_rows)
    ->ArgNames({"threads", "width"})
    ->Args({1, kRowWidth})
    ->Args({2, kRowWidth})
    ->Args({1, 64})
    ->Args({2, 64})
    ->Args({1, 256})
    ->Args({2, 256})
    ->Unit(benchmark::kMillisecond);

// 1M non-edges drawn among 1M nodes, checked against 10M known edges (a 256 MiB hash
// set): the negatives of one GAE chunk at graph_scale's largest size. On 1 and 2
// threads (the checks against the known edges run on every thread).
void BM_sample_negatives(benchmark::State& state) {
  using namespace kiln;
  const int threads = get_num_threads();
  set_num_threads(static_cast<int>(state.range(0)));
  static const graph::EdgeSet known = [] {
    Generator gen(3);
    graph::EdgeSet set;
    set.reserve(10'000'000);
    while (set.size() < 10'000'000)
      set.insert(static_cast<std::int64_t>(gen.below(kTableRows)),
                 static_cast<std::int64_t>(gen.below(kTableRows)));
    return set;
  }();
  Generator gen(5);
  for (auto _ : state) {
    const auto pairs = graph::sample_negatives(kTableRows, 1'000'000, known, gen);
    benchmark::DoNotOptimize(pairs.data());
  }
  state.SetItemsProcessed(state.iterations() * 1'000'000);
  set_num_threads(threads);
}
BENCHMARK(BM_sample_negatives)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
