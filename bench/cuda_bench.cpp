// GPU figures in one run: device-to-device copy bandwidth, the q4_0 GEMV against
// it (weights read cold from device memory, and warm), int8 GEMM throughput
// (cuBLASLt tensor cores and kiln's dp4a kernel) against the card's int8 peak,
// float32 cuBLAS GEMM for scale, kiln's CSR spmm against cuSPARSE on 10M-nonzero
// matrices (even and power-law rows) and edge_softmax, running sums and products of
// long and short lines, topk and argsort.
//
//   ./build/bench/cuda_bench [--reps 5] [--only PART,PART...]
//
// --only runs the parts named (device, copy, gemv_q4, gemm, spmm, scan, topk); the
// parts that read the copy bandwidth then leave out their fraction of it.
// Each figure is the median of --reps timings; a timing runs the operation back
// to back for at least 50 ms between two device synchronizations. The last line
// is RESULT {json}; a part that fails is named under "errors" there (exit code 1)
// and the others still run. Without a GPU it says so and exits 77.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#if KILN_BENCH_CUSPARSE
#include <cusparse.h>
#endif

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/index_math.hpp"  // kCsrChunk, csr_chunk_scratch_slots
#include "kiln/kiln.hpp"

namespace {

using Clock = std::chrono::steady_clock;
const kiln::Device gpu = kiln::Device::cuda(0);

// Median seconds per call of fn.
double seconds_per_call(const std::function<void()>& fn, int reps) {
  fn();
  kiln::cuda::synchronize();
  std::vector<double> runs;
  for (int r = 0; r < reps; ++r) {
    std::int64_t calls = 1;
    for (;;) {
      const auto t0 = Clock::now();
      for (std::int64_t i = 0; i < calls; ++i) fn();
      kiln::cuda::synchronize();
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (s >= 0.05) {
        runs.push_back(s / static_cast<double>(calls));
        break;
      }
      calls *= 2;
    }
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

template <class T>
T* ptr(const kiln::Tensor& t) {
  return static_cast<T*>(t.device_data_ptr());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln;
  int reps = 5;
  std::string only;  // comma-separated part names; empty: every part
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--only") only = "," + std::string(argv[i + 1]) + ",";
  }
  const std::string parts = ",device,copy,gemv_q4,gemm,spmm,scan,topk,";
  for (std::size_t at = 1; at < only.size();) {  // every name given must be a part
    const std::size_t next = only.find(',', at);
    const std::string name = only.substr(at, next - at);
    if (parts.find("," + name + ",") == std::string::npos) {
      std::printf("cuda_bench: --only: no part named '%s'; the parts are %s\n", name.c_str(),
                  parts.substr(1, parts.size() - 2).c_str());
      return 2;
    }
    at = next + 1;
  }
  if (!cuda::is_available()) {
    std::printf("cuda_bench: no GPU visible (%s)\n", build_info());
    return 77;
  }
  std::printf("%s\n", build_info());
  const auto& k = cuda_kernels::table();
  nlohmann::json result;
  // Each part runs on its own: an error is recorded under "errors" and the parts
  // after it still run, so one failure does not cost the other figures.
  const auto part = [&](const char* name, const std::function<void()>& fn) {
    if (!only.empty() && only.find("," + std::string(name) + ",") == std::string::npos) return;
    try {
      fn();
    } catch (const std::exception& e) {
      result["errors"][name] = e.what();
      std::printf("%s FAILED: %s\n", name, e.what());
    }
  };

  std::size_t l2_bytes = 0;
  part("device", [&] {
    const cuda::DeviceProperties props = cuda::device_properties(0);
    l2_bytes = props.l2_cache_bytes;
    result["gpu"] = props.name;
    result["l2_cache_bytes"] = l2_bytes;
    std::printf("%s: %d SMs, %.0f GiB, %.0f MiB L2\n", props.name.c_str(), props.multiprocessors,
                static_cast<double>(props.total_memory_bytes) / (1 << 30),
                static_cast<double>(l2_bytes) / (1 << 20));
  });

  // 1. Device-to-device copy: 1 GiB read + 1 GiB written per call.
  double copy_gbs = 0;
  part("copy", [&] {
    const std::int64_t copy_elems = std::int64_t(1) << 28;
    const Tensor src = zeros({copy_elems}, kFloat32, gpu);
    Tensor dst = empty({copy_elems}, kFloat32, gpu);
    const double copy_s = seconds_per_call([&] { dst.copy_(src); }, reps);
    copy_gbs = 2.0 * copy_elems * 4 / copy_s / 1e9;
    result["copy_gb_per_s"] = copy_gbs;
    std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);
  });

  // 2. q4_0 GEMV (one activation row) at 8192 x 8192 and 4096 x 14336. The headline
  // figure is cold: calls rotate through copies of the weights that together hold at
  // least 4x the L2 cache, so every call reads its weights from device memory, as a
  // model's successive layers do. "warm" re-reads one copy, which L2 may hold.
  part("gemv_q4", [&] {
    for (auto [n, kk] : {std::pair<std::int64_t, std::int64_t>{8192, 8192}, {14336, 4096}}) {
      const quant::QuantizedWeight host_w =
          quant::QuantizedWeight::from_float(randn({n, kk}) * 0.02, quant::Format::q4_0);
      const double weight_bytes = static_cast<double>(n) * (kk / 32) * 20;
      const int copies =
          std::max(2, static_cast<int>(std::ceil(4.0 * static_cast<double>(l2_bytes) / weight_bytes)));
      std::vector<quant::QuantizedWeight> ws;
      for (int c = 0; c < copies; ++c) ws.push_back(host_w.to(gpu));
      const Tensor x = randn({1, kk}, kFloat32, gpu);
      Tensor a = empty({1, kk}, kInt8, gpu), a_scale = empty({1}, kFloat32, gpu),
             y = empty({1, n}, kFloat32, gpu);
      k.quantize_rows(1, kk, ptr<float>(x), kk, 0.0f, ptr<std::int8_t>(a), kk, ptr<float>(a_scale));
      const auto gemv = [&](const quant::QuantizedWeight& w) {
        k.gemm_q4(1, n, kk, ptr<std::int8_t>(a), kk, w.values().device_data_ptr(), ptr<float>(a_scale),
                  nullptr, false, ptr<float>(y));
      };
      std::size_t next = 0;
      const double s = seconds_per_call([&] { gemv(ws[next++ % ws.size()]); }, reps);
      const double s_warm = seconds_per_call([&] { gemv(ws[0]); }, reps);
      const double gbs = weight_bytes / s / 1e9;
      const std::string key = "gemv_q4_" + std::to_string(n) + "x" + std::to_string(kk);
      result[key + "_weight_copies"] = copies;
      result[key + "_us"] = s * 1e6;
      result[key + "_gb_per_s"] = gbs;
      if (copy_gbs > 0) result[key + "_copy_fraction"] = gbs / copy_gbs;
      result[key + "_warm_us"] = s_warm * 1e6;
      result[key + "_warm_gb_per_s"] = weight_bytes / s_warm / 1e9;
      // The whole quant::linear call (activation quantization included), for users' view.
      const double s_call = seconds_per_call([&] { quant::linear(x, ws[next++ % ws.size()]); }, reps);
      result[key + "_linear_us"] = s_call * 1e6;
      std::printf(
          "q4_0 GEMV %lldx%lld, cold (%d copies): %.1f us, %.0f GB/s of weights = %.2f of copy bandwidth; "
          "warm %.1f us; quant::linear %.1f us\n",
          static_cast<long long>(n), static_cast<long long>(kk), copies, s * 1e6, gbs, gbs / copy_gbs,
          s_warm * 1e6, s_call * 1e6);
    }
  });

  // 3. int8 x int8 -> int32 GEMM, square, both paths; float32 cuBLAS for scale.
  const double int8_peak_tops = 1979.0;  // H100/H200 SXM dense int8 (tensor cores), NVIDIA's data sheet
  result["int8_peak_tops_assumed"] = int8_peak_tops;
  part("gemm", [&] {
    for (std::int64_t s : {4096, 8192}) {
      const Tensor a = randint(-127, 128, {s, s}).to(kInt8).to(gpu),
                   w = randint(-127, 128, {s, s}).to(kInt8).to(gpu);
      Tensor c = empty({s, s}, kInt32, gpu);
      const double ops = 2.0 * s * s * s;
      for (bool dp4a : {false, true}) {
        const double t = seconds_per_call(
            [&] {
              k.gemm_s8_s32(s, s, s, ptr<std::int8_t>(a), s, ptr<std::int8_t>(w), s, ptr<std::int32_t>(c),
                            dp4a);
            },
            reps);
        const std::string key = std::string("gemm_int8_") + (dp4a ? "dp4a_" : "") + std::to_string(s);
        result[key + "_tops"] = ops / t / 1e12;
        result[key + "_peak_fraction"] = ops / t / 1e12 / int8_peak_tops;
        std::printf("int8 GEMM %lld^3 (%s): %.1f TOPS = %.3f of the %.0f TOPS peak\n",
                    static_cast<long long>(s), dp4a ? "dp4a" : "cuBLASLt", ops / t / 1e12,
                    ops / t / 1e12 / int8_peak_tops, int8_peak_tops);
      }
      const Tensor fa = randn({s, s}, kFloat32, gpu), fb = randn({s, s}, kFloat32, gpu);
      const double tf = seconds_per_call([&] { matmul(fa, fb); }, reps);
      result["sgemm_" + std::to_string(s) + "_tflops"] = ops / tf / 1e12;
      std::printf("float32 GEMM %lld^3 (cuBLAS, no TF32): %.1f TFLOP/s\n", static_cast<long long>(s),
                  ops / tf / 1e12);
    }
  });

  // 4. CSR spmm, 1M rows x 10M nonzeros x 16 features, against cuSPARSE on the same
  // arrays: rows of 10 nonzeros each, then rows whose lengths follow a power law
  // (row r's share of the nonzeros proportional to (r + 1)^-0.8, as in
  // bench/graph_scale's Chung-Lu graphs: the first row holds about 134,000), with
  // uniform random columns. Also edge_softmax over the power-law rows, 8 heads.
  part("spmm", [&] {
    const std::int64_t rows = 1000000, nnz = 10000000, f = 16;
    std::vector<std::int64_t> even(rows + 1), skewed(rows + 1), col(nnz);
    double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) total += std::pow(static_cast<double>(r + 1), -0.8);
    double below = 0;
    for (std::int64_t r = 0; r <= rows; ++r) {
      even[r] = r * nnz / rows;
      skewed[r] =
          std::min(nnz, static_cast<std::int64_t>(std::llround(below / total * static_cast<double>(nnz))));
      if (r < rows) below += std::pow(static_cast<double>(r + 1), -0.8);
    }
    skewed[rows] = nnz;
    Generator g(7);
    for (auto& c : col) c = static_cast<std::int64_t>(g.below(rows));
    const Tensor d_col = from_vector(col).to(gpu), d_val = rand({nnz}, kFloat32, gpu);
    const Tensor x = randn({rows, f}, kFloat32, gpu);
    // Bytes per call: column index + value per nonzero, the X row it reads, and per row
    // the row pointer and the Y row written.
    const double bytes = static_cast<double>(nnz) * (8 + 4 + f * 4) + static_cast<double>(rows) * (8 + f * 4);
    for (const auto& [name, row_ptr] : {std::pair{"spmm", &even}, std::pair{"spmm_powerlaw", &skewed}}) {
      const std::string key = name;
      std::int64_t longest = 0;
      for (std::int64_t r = 0; r < rows; ++r) longest = std::max(longest, (*row_ptr)[r + 1] - (*row_ptr)[r]);
      const Tensor d_row = from_vector(*row_ptr).to(gpu);
      const cuda_kernels::CsrRows a{rows, nnz, longest, ptr<std::int64_t>(d_row)};
      const std::int64_t slots =
          longest > cuda_kernels::kCsrChunk ? cuda_kernels::csr_chunk_scratch_slots(nnz, f) : 1;
      const Tensor scratch = empty({slots}, kFloat32, gpu);
      Tensor y = empty({rows, f}, kFloat32, gpu), y2 = empty({rows, f}, kFloat32, gpu);
      const double tk = seconds_per_call(
          [&] {
            k.spmm(cuda_kernels::Scalar::f32, a, ptr<std::int64_t>(d_col), f, ptr<float>(d_val),
                   ptr<float>(x), ptr<float>(y), ptr<float>(scratch));
          },
          reps);
      result[key + "_longest_row"] = longest;
      result[key + "_kiln_ms"] = tk * 1e3;
      result[key + "_kiln_gb_per_s"] = bytes / tk / 1e9;
      std::printf("%s 1M rows x 10M nonzeros x 16 (longest row %lld): kiln %.3f ms (%.0f GB/s counted)\n",
                  name, static_cast<long long>(longest), tk * 1e3, bytes / tk / 1e9);
#if KILN_BENCH_CUSPARSE
      cusparseHandle_t h = nullptr;
      cusparseSpMatDescr_t a_desc = nullptr;
      cusparseDnMatDescr_t x_desc = nullptr, y_desc = nullptr;
      const float one = 1.0f, zero = 0.0f;
      std::size_t buffer_bytes = 0;
      bool ok = cusparseCreate(&h) == CUSPARSE_STATUS_SUCCESS &&
                cusparseCreateCsr(&a_desc, rows, rows, nnz, d_row.device_data_ptr(), d_col.device_data_ptr(),
                                  d_val.device_data_ptr(), CUSPARSE_INDEX_64I, CUSPARSE_INDEX_64I,
                                  CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F) == CUSPARSE_STATUS_SUCCESS &&
                cusparseCreateDnMat(&x_desc, rows, f, f, x.device_data_ptr(), CUDA_R_32F,
                                    CUSPARSE_ORDER_ROW) == CUSPARSE_STATUS_SUCCESS &&
                cusparseCreateDnMat(&y_desc, rows, f, f, y2.device_data_ptr(), CUDA_R_32F,
                                    CUSPARSE_ORDER_ROW) == CUSPARSE_STATUS_SUCCESS &&
                cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                        &one, a_desc, x_desc, &zero, y_desc, CUDA_R_32F,
                                        CUSPARSE_SPMM_CSR_ALG2, &buffer_bytes) == CUSPARSE_STATUS_SUCCESS;
      if (ok) {
        const Tensor buffer = empty({static_cast<std::int64_t>(buffer_bytes) + 1}, kUInt8, gpu);
        const double tc = seconds_per_call(
            [&] {
              ok = ok && cusparseSpMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                      &one, a_desc, x_desc, &zero, y_desc, CUDA_R_32F, CUSPARSE_SPMM_CSR_ALG2,
                                      buffer.device_data_ptr()) == CUSPARSE_STATUS_SUCCESS;
            },
            reps);
        if (ok) {
          result[key + "_cusparse_ms"] = tc * 1e3;
          result[key + "_kiln_vs_cusparse"] = tc / tk;  // > 1: kiln faster
          result[key + "_max_abs_diff"] = max(abs(sub(y, y2))).item();
          std::printf("%s cuSPARSE (CSR_ALG2): %.3f ms; kiln / cuSPARSE throughput %.2f\n", name, tc * 1e3,
                      tc / tk);
        }
      }
      if (!ok) std::printf("%s cuSPARSE: not available for this layout\n", name);
      if (y_desc) cusparseDestroyDnMat(y_desc);
      if (x_desc) cusparseDestroyDnMat(x_desc);
      if (a_desc) cusparseDestroySpMat(a_desc);
      if (h) cusparseDestroy(h);
#else
      std::printf("%s cuSPARSE: not built (this CUDA toolkit has no cuSPARSE)\n", name);
#endif
    }
    // edge_softmax over the power-law rows, 8 heads: the scores read, the weights
    // written (4 + 4 bytes per entry and head), and the row pointers.
    const std::int64_t heads = 8;
    const Tensor d_row = from_vector(skewed).to(gpu);
    std::int64_t longest = 0;
    for (std::int64_t r = 0; r < rows; ++r) longest = std::max(longest, skewed[r + 1] - skewed[r]);
    const cuda_kernels::CsrRows a{rows, nnz, longest, ptr<std::int64_t>(d_row)};
    const Tensor scores = randn({nnz, heads}, kFloat32, gpu), weights = empty({nnz, heads}, kFloat32, gpu);
    const Tensor scratch = empty({cuda_kernels::csr_chunk_scratch_slots(nnz, heads, 2)}, kFloat64, gpu);
    const double ts = seconds_per_call(
        [&] {
          k.edge_softmax(cuda_kernels::Scalar::f32, a, heads, ptr<float>(scores), ptr<float>(weights),
                         ptr<double>(scratch));
        },
        reps);
    const double softmax_bytes = static_cast<double>(nnz) * heads * 8 + static_cast<double>(rows) * 8;
    result["edge_softmax_powerlaw_ms"] = ts * 1e3;
    result["edge_softmax_powerlaw_gb_per_s"] = softmax_bytes / ts / 1e9;
    std::printf("edge_softmax, the power-law rows x 8 heads: %.3f ms (%.0f GB/s counted)\n", ts * 1e3,
                softmax_bytes / ts / 1e9);
  });

  // 5. Running sums and whole-line products (kernels/cuda/reduce.cu): one row of 2^24
  // values, walked in slices, and 4096 x 4096 along each dimension; and the max of the
  // row, its softmax, and cross_entropy over it as 4 samples. Bytes: each value read
  // once, and written once by a running sum or a softmax (which reads the row twice
  // more: slices, then outputs).
  part("scan", [&] {
    const std::int64_t n = std::int64_t(1) << 24;
    const Tensor row = randn({1, n}, kFloat32, gpu), square = randn({4096, 4096}, kFloat32, gpu);
    const auto time = [&](const char* key, double bytes, const std::function<void()>& fn) {
      const double t = seconds_per_call(fn, reps);
      result[std::string(key) + "_us"] = t * 1e6;
      result[std::string(key) + "_gb_per_s"] = bytes / t / 1e9;
      if (copy_gbs > 0) result[std::string(key) + "_copy_fraction"] = bytes / t / 1e9 / copy_gbs;
      std::printf("%s: %.1f us, %.0f GB/s = %.2f of copy bandwidth\n", key, t * 1e6, bytes / t / 1e9,
                  copy_gbs > 0 ? bytes / t / 1e9 / copy_gbs : 0.0);
    };
    const double values = static_cast<double>(n) * 4;
    time("cumsum_row_16M", 2 * values, [&] { cumsum(row, 1); });
    time("cumsum_4096x4096_dim1", 2 * values, [&] { cumsum(square, 1); });
    time("cumsum_4096x4096_dim0", 2 * values, [&] { cumsum(square, 0); });
    time("prod_row_16M", values, [&] { prod(row); });
    time("max_row_16M", values, [&] { max(row); });
    time("softmax_row_16M", 2 * values, [&] { softmax(row, 1); });  // read once per pass: 3 reads in all
    // cross_entropy of 4 samples of 4M classes: the same slices, each row read once.
    const Tensor samples = row.reshape({4, n / 4}), targets = tensor<std::int64_t>({0, 1, 2, 3}).to(gpu);
    time("cross_entropy_4x4M", values, [&] { cross_entropy(samples, targets); });
  });

  // 6. topk, 10 picks (one warp per row, 10 passes), and argsort (bitonic): one row of
  // 2^20 values and 4096 rows of 4096. Bytes: topk's values read once per pass.
  part("topk", [&] {
    const Tensor row = randn({1, std::int64_t(1) << 20}, kFloat32, gpu),
                 square = randn({4096, 4096}, kFloat32, gpu);
    for (const auto& [key, x] :
         {std::pair<const char*, const Tensor*>{"topk10_row_1M", &row}, {"topk10_4096x4096", &square}}) {
      const double t = seconds_per_call([&] { topk(*x, 10, 1); }, reps);
      const double gbs = 10.0 * static_cast<double>(x->numel()) * 4 / t / 1e9;
      result[std::string(key) + "_us"] = t * 1e6;
      result[std::string(key) + "_gb_per_s"] = gbs;
      std::printf("%s: %.1f us, %.0f GB/s over its 10 passes\n", key, t * 1e6, gbs);
      const std::string sort_key = std::string(key).replace(0, 6, "argsort");
      const double ts = seconds_per_call([&] { argsort(*x, 1); }, reps);
      result[sort_key + "_us"] = ts * 1e6;
      std::printf("%s: %.1f us\n", sort_key.c_str(), ts * 1e6);
    }
  });
  std::printf("RESULT %s\n", result.dump().c_str());
  return result.contains("errors") ? 1 : 0;
}
