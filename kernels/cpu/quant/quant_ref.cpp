// Scalar reference for the quantized kernels (the definitions the SIMD variants
// must match bit for bit), the packing routines, and the dispatch.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "../dispatch.hpp"
#include "kiln/core/error.hpp"
#include "quant_kernels.hpp"

namespace kiln::cpu::quant {
namespace {

using kiln::quant::BlockQ4_0;
using kiln::quant::kQ4Group;

void ref_gemm_s8_s32(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w,
                     std::int32_t* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < w.n; ++j) {
      std::int32_t acc = 0;
      for (std::int64_t p = 0; p < w.k; ++p) acc += std::int32_t{a[i * lda + p]} * w.plain[j * w.k + p];
      c[i * ldc + j] = acc;
    }
}

void ref_gemm_s8(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w, const Output& out) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < w.n; ++j) {
      std::int32_t acc = 0;
      for (std::int64_t p = 0; p < w.k; ++p) acc += std::int32_t{a[i * lda + p]} * w.plain[j * w.k + p];
      out.y[i * out.ldy + j] = finish_int8(acc, out.a_scale[i], w.scale[j], out, j);
    }
}

void ref_gemm_q4(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Q4Weights& w, const Output& out) {
  const std::int64_t blocks = w.k / kQ4Group;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < w.n; ++j) {
      float acc = 0.0f;
      for (std::int64_t b = 0; b < blocks; ++b) {
        const BlockQ4_0& blk = w.plain[j * blocks + b];
        const std::int8_t* x = a + i * lda + b * kQ4Group;
        std::int32_t dot = 0;
        for (int t = 0; t < kQ4Group / 2; ++t) {
          dot += std::int32_t{x[t]} * ((blk.qs[t] & 0x0F) - 8);
          dot += std::int32_t{x[t + 16]} * ((blk.qs[t] >> 4) - 8);
        }
        acc = std::fma(static_cast<float>(dot), blk.scale, acc);
      }
      out.y[i * out.ldy + j] = finish_q4(acc, out.a_scale[i], out, j);
    }
}

void ref_quantize_static(std::int64_t n, const float* x, float inv_scale, std::int8_t* q) {
  for (std::int64_t i = 0; i < n; ++i) q[i] = quantize_value(x[i], inv_scale);
}

void ref_quantize_rows(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx, std::int8_t* q,
                       std::int64_t ldq, float* scale) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float amax = 0.0f;
    for (std::int64_t j = 0; j < k; ++j) amax = max_abs_step(amax, xr[j]);
    scale[r] = kiln::quant::int8_scale_for(amax);
    ref_quantize_static(k, xr, amax > 0.0f ? 127.0f / amax : 0.0f, q + r * ldq);
  }
}

}  // namespace

void pack_int8(std::int64_t n, std::int64_t k, const std::int8_t* plain, std::int8_t* packed, std::int32_t* row_sum) {
  const std::int64_t kp = round_up(k, 4), full = k / 4;  // full: groups of 4 without padding
  for (std::int64_t p = 0; p < panel_count(n); ++p) {
    std::int8_t* panel = packed + p * kPanelRows * kp;
    for (std::int64_t r = 0; r < kPanelRows; ++r) {
      const std::int64_t row = p * kPanelRows + r;
      std::int8_t* dst = panel + r * 4;
      if (row >= n) {  // a padding row: zeros
        for (std::int64_t g = 0; g < kp / 4; ++g) std::memset(dst + g * 64, 0, 4);
        row_sum[row] = 0;
        continue;
      }
      const std::int8_t* src = plain + row * k;
      std::int32_t sum = 0;
      for (std::int64_t c = 0; c < k; ++c) sum += src[c];
      for (std::int64_t g = 0; g < full; ++g) std::memcpy(dst + g * 64, src + g * 4, 4);
      if (full * 4 < k) {
        std::int8_t last[4] = {0, 0, 0, 0};
        std::memcpy(last, src + full * 4, static_cast<std::size_t>(k - full * 4));
        std::memcpy(dst + full * 64, last, 4);
      }
      row_sum[row] = sum;
    }
  }
}

void pack_q4(std::int64_t n, std::int64_t k, const BlockQ4_0* plain, std::uint8_t* packed, float* packed_scale) {
  const std::int64_t blocks = k / kQ4Group;
  auto nibble = [&](std::int64_t row, std::int64_t col) -> std::uint8_t {
    if (row >= n) return 8;  // a zero weight
    const BlockQ4_0& b = plain[row * blocks + col / kQ4Group];
    const int t = static_cast<int>(col % kQ4Group);
    return t < 16 ? (b.qs[t] & 0x0F) : (b.qs[t - 16] >> 4);
  };
  for (std::int64_t p = 0; p < panel_count(n); ++p)
    for (std::int64_t b = 0; b < blocks; ++b) {
      std::uint8_t* dst = packed + (p * blocks + b) * 256;
      for (int piece = 0; piece < 4; ++piece)
        for (int r = 0; r < kPanelRows; ++r)
          for (int j = 0; j < 4; ++j) {
            const std::int64_t row = p * kPanelRows + r, col = b * kQ4Group + 8 * piece + j;
            dst[piece * 64 + r * 4 + j] = static_cast<std::uint8_t>(nibble(row, col) | (nibble(row, col + 4) << 4));
          }
      for (int r = 0; r < kPanelRows; ++r) {
        const std::int64_t row = p * kPanelRows + r;
        packed_scale[(p * blocks + b) * kPanelRows + r] = row < n ? plain[row * blocks + b].scale : 0.0f;
      }
    }
}

void fill_quant_scalar(QuantKernels& t) {
  t.gemm_s8_s32 = ref_gemm_s8_s32;
  t.gemm_s8 = ref_gemm_s8;
  t.gemm_q4 = ref_gemm_q4;
  t.quantize_rows = ref_quantize_rows;
  t.quantize_static = ref_quantize_static;
}

namespace {

bool quant_isa_supported(Isa isa) {
  if (isa == Isa::avx512) return isa_supported(isa) && cpu_features().avx512_vnni;
  return isa_supported(isa);
}

struct QuantTables {
  QuantKernels t[kIsaCount];
  QuantTables() {
    for (auto& x : t) fill_quant_scalar(x);
    if (isa_supported(Isa::avx2)) fill_quant_avx2(t[int(Isa::avx2)]);
    if (isa_supported(Isa::avx512)) {
      // Without VNNI the avx512 level runs the AVX2 quantized kernels.
      if (quant_isa_supported(Isa::avx512)) fill_quant_avx512(t[int(Isa::avx512)]);
      else fill_quant_avx2(t[int(Isa::avx512)]);
    }
  }
};

const QuantTables& quant_tables() {
  static const QuantTables t;
  return t;
}

}  // namespace

const QuantKernels& quant_kernels() { return quant_tables().t[int(active_isa())]; }

const QuantKernels& quant_kernels_for(Isa isa) {
  KILN_CHECK(isa_supported(isa), "quant_kernels_for: this CPU does not support ", isa_name(isa),
             "; check isa_supported() first");
  return quant_tables().t[int(isa)];
}

}  // namespace kiln::cpu::quant
