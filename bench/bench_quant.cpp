// Micro benchmarks of the quantized kernels, per instruction-set level:
// int8 GEMM/GEMV, q4_0 GEMM/GEMV and per-row activation quantization.
// (quant_ratios.cpp compares them with OpenBLAS float32 in one run.)
//
//   ./build/bench/bench_quant --benchmark_min_time=0.2
//   ./build/bench/bench_quant --benchmark_filter='gemv'
#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/kiln.hpp"
#include "quant_fixture.hpp"

namespace {

namespace qk = kiln::cpu::quant;
using kiln::cpu::Isa;

// Quantized weights (both formats) and activations for one (m, n, k).
struct Problem : bench::QuantizedMatrix {
  std::int64_t m;
  std::vector<std::int8_t> a;
  std::vector<float> a_scale, y;
  Problem(std::int64_t m_, std::int64_t n_, std::int64_t k_)
      : bench::QuantizedMatrix((kiln::manual_seed(0), kiln::randn({n_, k_}))), m(m_) {
    const kiln::quant::Int8Rows act = kiln::quant::quantize_int8(kiln::randn({m, k}));
    a = act.values.to_vector<std::int8_t>();
    a_scale = act.scale.to_vector<float>();
    y.resize(static_cast<std::size_t>(m * n));
  }
  qk::Output out() { return {a_scale.data(), nullptr, false, y.data(), n}; }
};

const qk::QuantKernels* level(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  if (!kiln::cpu::isa_supported(isa)) {
    state.SkipWithError("instruction set not supported here");
    return nullptr;
  }
  state.SetLabel(kiln::cpu::isa_name(isa));
  return &qk::quant_kernels_for(isa);
}

// One quantized GEMM (kQ4: 4-bit weights, else int8) per iteration.
template <bool kQ4>
void BM_gemm(benchmark::State& state) {
  const qk::QuantKernels* kern = level(state);
  if (!kern) return;
  Problem p(state.range(1), state.range(2), state.range(3));
  for (auto _ : state) {
    if constexpr (kQ4) kern->gemm_q4(p.m, p.a.data(), p.k, p.q4, p.out());
    else kern->gemm_s8(p.m, p.a.data(), p.k, p.i8, p.out());
  }
  // Rates: "GOP" reads as GOP per second, "weight GB" as weight bytes read per second.
  const double reps = static_cast<double>(state.iterations());
  state.counters["GOP"] = benchmark::Counter(2.0 * p.m * p.n * p.k * reps / 1e9, benchmark::Counter::kIsRate);
  const double weight_bytes = kQ4 ? p.q4_bytes() : static_cast<double>(p.packed8.size());
  state.counters["weight GB"] = benchmark::Counter(weight_bytes * reps / 1e9, benchmark::Counter::kIsRate);
}
void BM_gemm_int8(benchmark::State& state) { BM_gemm<false>(state); }
void BM_gemm_q4_0(benchmark::State& state) { BM_gemm<true>(state); }

void BM_quantize_rows(benchmark::State& state) {
  const qk::QuantKernels* kern = level(state);
  if (!kern) return;
  const std::int64_t rows = state.range(1), k = state.range(2);
  kiln::manual_seed(0);
  const std::vector<float> x = kiln::randn({rows, k}).to_vector<float>();
  std::vector<std::int8_t> q(x.size());
  std::vector<float> scale(static_cast<std::size_t>(rows));
  for (auto _ : state) kern->quantize_rows(rows, k, x.data(), k, q.data(), k, scale.data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * x.size() * 4));
}

// (level, m, n, k): inference shapes, square GEMMs, and batch-1 GEMVs.
void gemm_shapes(benchmark::internal::Benchmark* b) {
  for (int isa : {0, 1, 2}) {
    b->Args({isa, 256, 256, 784})->Args({isa, 256, 128, 256});
    if (isa > 0) b->Args({isa, 1024, 1024, 1024})->Args({isa, 1, 4096, 4096})->Args({isa, 1, 4096, 14336});
  }
  b->ArgNames({"isa", "m", "n", "k"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_gemm_int8)->Apply(gemm_shapes);
BENCHMARK(BM_gemm_q4_0)->Apply(gemm_shapes);
BENCHMARK(BM_quantize_rows)
    ->ArgsProduct({{0, 1, 2}, {1, 256}, {784, 4096}})
    ->ArgNames({"isa", "rows", "k"})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
