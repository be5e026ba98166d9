// Quantized kernels against float32 OpenBLAS in one run: the ratios that say
// whether int8 / 4-bit inference is worth it on this CPU.
//
//   ./build/bench/quant_ratios [--reps 7] [--quick]
//
// Each figure is the median over --reps rounds; in every round each contestant
// runs back to back with its peer, repeated for at least 50 ms, so both see the
// same machine load. Ratios are throughputs (peer time / kiln time): > 1 means
// the quantized kernel is faster. Activations are quantized before timing (the
// kernels themselves are compared); the last line is RESULT {json}.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/kiln.hpp"
#include "quant_fixture.hpp"

namespace {

namespace qk = kiln::cpu::quant;
using kiln::cpu::Isa;
using Clock = std::chrono::steady_clock;

// Seconds per call of fn, over enough calls to fill 50 ms.
double seconds_per_call(const std::function<void()>& fn) {
  fn();  // warm the caches and any lazy set-up
  std::int64_t calls = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (std::int64_t i = 0; i < calls; ++i) fn();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s >= 0.05) return s / static_cast<double>(calls);
    calls *= s > 0.005 ? 2 : 10;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Medians of several contestants timed round-robin.
std::vector<double> race(const std::vector<std::function<void()>>& fns, int reps) {
  std::vector<std::vector<double>> t(fns.size());
  for (int r = 0; r < reps; ++r)
    for (std::size_t i = 0; i < fns.size(); ++i) t[i].push_back(seconds_per_call(fns[i]));
  std::vector<double> out;
  for (auto& v : t) out.push_back(median(v));
  return out;
}

std::vector<float> random_floats(std::int64_t n, float scale) {
  const kiln::Tensor t = kiln::mul(kiln::randn({n}), kiln::scalar_tensor(scale));
  return t.to_vector<float>();
}

// A weight matrix in float32 (for the OpenBLAS peer) and quantized.
struct Weights : bench::QuantizedMatrix {
  std::vector<float> f32;
  Weights(std::int64_t n, std::int64_t k, std::vector<float> values)
      : bench::QuantizedMatrix(kiln::from_vector(values, {n, k})), f32(std::move(values)) {}
  Weights(std::int64_t n, std::int64_t k) : Weights(n, k, random_floats(n * k, 0.05f)) {}
};

// Activations: float rows and their int8 quantization.
struct Acts {
  std::int64_t m, k;
  std::vector<float> f32, scale;
  std::vector<std::int8_t> q;
  Acts(std::int64_t m_, std::int64_t k_) : m(m_), k(k_), f32(random_floats(m_ * k_, 1.0f)), scale(m_), q(m_ * k_) {
    qk::quant_kernels().quantize_rows(m, k, f32.data(), k, q.data(), k, scale.data());
  }
};

// Read bandwidth of main memory: sums of a 1 GiB array, both cores.
double dram_read_gbps(int reps) {
  const std::int64_t n = (std::int64_t{1} << 30) / 4;
  std::vector<float> big(static_cast<std::size_t>(n), 1.0f);
  const auto& kern = kiln::cpu::kernels_f32();
  const std::int64_t chunk = 1 << 20;
  std::vector<float> partial(static_cast<std::size_t>(n / chunk));
  const double s = race({[&] {
                          kiln::parallel_for(0, n / chunk, 1, [&](std::int64_t c0, std::int64_t c1) {
                            kern.sum_rows(c1 - c0, chunk, big.data() + c0 * chunk, partial.data() + c0);
                          });
                        }},
                        reps)[0];
  return static_cast<double>(n) * 4 / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--quick")) quick = true;
  }
  kiln::manual_seed(0);
  (void)kiln::get_num_threads();  // applies KILN_NUM_THREADS to OpenBLAS too
  const bool has_avx2 = kiln::cpu::isa_supported(Isa::avx2);
  const qk::QuantKernels& best = qk::quant_kernels();
  const qk::QuantKernels& avx2 = qk::quant_kernels_for(has_avx2 ? Isa::avx2 : Isa::scalar);
  nlohmann::json result, detail = nlohmann::json::array();
  std::printf("threads %d, quantized kernels at level %s (VNNI %s)\n", kiln::get_num_threads(),
              kiln::cpu::isa_name(kiln::cpu::active_isa()), kiln::cpu::cpu_features().avx512_vnni ? "yes" : "no");

  // ---- GEMM: y (m x n) = x (m x k) w^T -------------------------------------------------
  struct Shape3 { std::int64_t m, n, k; };
  std::vector<Shape3> gemms = {{256, 256, 784}, {256, 128, 256}, {512, 512, 512}, {1024, 1024, 1024},
                               {2048, 2048, 2048}};
  if (quick) gemms = {{256, 256, 784}, {512, 512, 512}};
  std::vector<double> r_best, r_avx2, frac_peak;
  std::printf("\n%-16s %12s %12s %12s %9s %9s\n", "GEMM m,n,k", "sgemm GF/s", "int8 GOP/s", "avx2 GOP/s", "ratio",
              "avx2 rat.");
  for (const auto& s : gemms) {
    Weights w(s.n, s.k);
    Acts a(s.m, s.k);
    std::vector<float> y(static_cast<std::size_t>(s.m * s.n));
    const qk::Output out{a.scale.data(), nullptr, false, y.data(), s.n};
    const auto t = race({[&] {
                           cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(s.m), int(s.n), int(s.k), 1.0f,
                                       a.f32.data(), int(s.k), w.f32.data(), int(s.k), 0.0f, y.data(), int(s.n));
                         },
                         [&] { best.gemm_s8(s.m, a.q.data(), s.k, w.i8, out); },
                         [&] { avx2.gemm_s8(s.m, a.q.data(), s.k, w.i8, out); }},
                        reps);
    const double ops = 2.0 * s.m * s.n * s.k;
    r_best.push_back(t[0] / t[1]);
    r_avx2.push_back(t[0] / t[2]);
    std::printf("%5ld,%5ld,%5ld %12.1f %12.1f %12.1f %9.2f %9.2f\n", long(s.m), long(s.n), long(s.k), ops / t[0] / 1e9,
                ops / t[1] / 1e9, ops / t[2] / 1e9, t[0] / t[1], t[0] / t[2]);
    detail.push_back({{"kind", "gemm"}, {"m", s.m}, {"n", s.n}, {"k", s.k}, {"sgemm_s", t[0]}, {"int8_s", t[1]},
                      {"int8_avx2_s", t[2]}});
  }
  result["gemm_int8_vs_sgemm"] = *std::min_element(r_best.begin(), r_best.end());
  result["gemm_int8_avx2_vs_sgemm"] = *std::min_element(r_avx2.begin(), r_avx2.end());

  // ---- GEMV: batch 1 -------------------------------------------------------------------
  const double dram = dram_read_gbps(reps);
  std::printf("\nDRAM read bandwidth (1 GiB sum, all threads): %.1f GB/s\n", dram);
  std::vector<Shape3> gemvs = {{1, 4096, 4096}, {1, 4096, 14336}};
  std::vector<double> r8, r4, bw;
  std::printf("\n%-16s %11s %11s %11s %8s %8s %10s\n", "GEMV n,k", "sgemv us", "int8 us", "q4_0 us", "int8 x", "q4_0 x",
              "q4_0 GB/s");
  for (const auto& s : gemvs) {
    Weights w(s.n, s.k);
    Acts a(1, s.k);
    std::vector<float> y(static_cast<std::size_t>(s.n));
    const qk::Output out{a.scale.data(), nullptr, false, y.data(), s.n};
    const auto t = race({[&] {
                           cblas_sgemv(CblasRowMajor, CblasNoTrans, int(s.n), int(s.k), 1.0f, w.f32.data(), int(s.k),
                                       a.f32.data(), 1, 0.0f, y.data(), 1);
                         },
                         [&] { best.gemm_s8(1, a.q.data(), s.k, w.i8, out); },
                         [&] { best.gemm_q4(1, a.q.data(), s.k, w.q4, out); }},
                        reps);
    const double gbps = w.q4_bytes() / t[2] / 1e9;
    r8.push_back(t[0] / t[1]);
    r4.push_back(t[0] / t[2]);
    bw.push_back(gbps / dram);
    std::printf("%5ld,%6ld     %11.1f %11.1f %11.1f %8.2f %8.2f %10.1f\n", long(s.n), long(s.k), t[0] * 1e6,
                t[1] * 1e6, t[2] * 1e6, t[0] / t[1], t[0] / t[2], gbps);
    detail.push_back({{"kind", "gemv"}, {"n", s.n}, {"k", s.k}, {"sgemv_s", t[0]}, {"int8_s", t[1]}, {"q4_0_s", t[2]},
                      {"q4_0_bytes", w.q4_bytes()}});
  }
  result["gemv_int8_vs_sgemv"] = *std::min_element(r8.begin(), r8.end());
  result["gemv_int4_vs_sgemv"] = *std::min_element(r4.begin(), r4.end());
  result["gemv_int4_bandwidth_fraction"] = *std::min_element(bw.begin(), bw.end());
  result["dram_read_gbps"] = dram;
  result["threads"] = kiln::get_num_threads();
  result["isa"] = kiln::cpu::isa_name(kiln::cpu::active_isa());
  result["detail"] = detail;
  std::printf("\n(each headline figure is the worst case over the shapes above)\nRESULT %s\n", result.dump().c_str());
}
