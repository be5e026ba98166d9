// kiln::matmul against the BLAS library called directly, square float32
// matrices 128..2048, at the thread count set by KILN_NUM_THREADS (default: all cores).
//
//   ./build/bench/bench_matmul --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include "kiln/kiln.hpp"

#if defined(KILN_USE_OPENBLAS)
#include <cblas.h>
#endif

namespace {

void set_flops(benchmark::State& state, std::int64_t n) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void BM_kiln_matmul(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  kiln::manual_seed(0);
  const kiln::Tensor a = kiln::randn({n, n}), b = kiln::randn({n, n});
  for (auto _ : state) {
    kiln::Tensor c = kiln::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data_ptr());
  }
  set_flops(state, n);
}
BENCHMARK(BM_kiln_matmul)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime();

void BM_kiln_matmul_transposed(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  kiln::manual_seed(0);
  const kiln::Tensor a = kiln::randn({n, n}), b = kiln::randn({n, n});
  for (auto _ : state) {
    kiln::Tensor c = kiln::matmul(a.t(), b.t());  // passed to BLAS as transposes, no copies
    benchmark::DoNotOptimize(c.raw_data_ptr());
  }
  set_flops(state, n);
}
BENCHMARK(BM_kiln_matmul_transposed)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime();

#if defined(KILN_USE_OPENBLAS)
void BM_openblas_sgemm(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  kiln::manual_seed(0);
  const kiln::Tensor a = kiln::randn({n, n}), b = kiln::randn({n, n});
  (void)kiln::get_num_threads();  // applies KILN_NUM_THREADS to OpenBLAS as well
  for (auto _ : state) {
    // The peer allocates its output too, as matmul does.
    kiln::Tensor out = kiln::empty({n, n});
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0f, a.data_ptr<float>(), int(n),
                b.data_ptr<float>(), int(n), 0.0f, out.data_ptr<float>(), int(n));
    benchmark::DoNotOptimize(out.raw_data_ptr());
  }
  set_flops(state, n);
}
BENCHMARK(BM_openblas_sgemm)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
