// kiln::matmul against the BLAS library called directly, square float32
// matrices 128..2048, at the thread count set by KILN_NUM_THREADS (default: all cores);
// then one row through a linear layer (one image at inference: a vector times a
// matrix), which kiln hands to gemv, against OpenBLAS's sgemm asked for that one row.
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

// One row of `in` values through a linear layer of `out` outputs: x (1, in) W^T + b.
void BM_kiln_linear_one_row(benchmark::State& state) {
  const std::int64_t in = state.range(0), out = state.range(1);
  kiln::manual_seed(0);
  const kiln::Tensor x = kiln::randn({1, in}), w = kiln::randn({out, in}), b = kiln::randn({out});
  kiln::NoGradGuard no_grad;
  for (auto _ : state) {
    kiln::Tensor y = kiln::linear(x, w, b);
    benchmark::DoNotOptimize(y.raw_data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * in * out * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_kiln_linear_one_row)->Args({784, 256})->Args({256, 128})->Args({2048, 2048})->UseRealTime();

#if defined(KILN_USE_OPENBLAS)
// The same product as one sgemm of one row (what kiln called before it used gemv), with
// the bias copied in first and accumulated onto (beta = 1), as linear does.
void BM_openblas_sgemm_one_row(benchmark::State& state) {
  const std::int64_t in = state.range(0), out = state.range(1);
  kiln::manual_seed(0);
  const kiln::Tensor x = kiln::randn({1, in}), w = kiln::randn({out, in}), b = kiln::randn({out});
  (void)kiln::get_num_threads();  // applies KILN_NUM_THREADS to OpenBLAS as well
  for (auto _ : state) {
    kiln::Tensor y = b.clone();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, int(out), int(in), 1.0f, x.data_ptr<float>(),
                int(in), w.data_ptr<float>(), int(in), 1.0f, y.data_ptr<float>(), int(out));
    benchmark::DoNotOptimize(y.raw_data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * in * out * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_openblas_sgemm_one_row)->Args({784, 256})->Args({256, 128})->Args({2048, 2048})->UseRealTime();

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
