// Quantized matrix kernels: int8 activations times int8 or 4-bit weights.
//
// Every product here is y[m, n] = sum_k a[m, k] * w[n, k]: activations are rows
// of int8 (one float scale per row), weights are rows of output channels. The
// integer part is exact in every variant; the float output stage runs the same
// float operations in the same order everywhere, so the scalar reference and the
// SIMD variants agree bit for bit (tests/test_quant_kernels.cpp).
//
// The reference kernels read the weights in their storage formats (int8 rows,
// BlockQ4_0 rows). The SIMD kernels read a packed copy laid out for them:
//
//   int8:  panels of 16 output channels; inside a panel, k in groups of 4:
//          packed[panel][k/4][row 0..15][k%4]      (64 bytes per group of 4 k)
//          K is padded with zeros to a multiple of 4.
//   q4_0:  panels of 16 output channels; inside a panel, per block of 32 k,
//          four 64-byte pieces of 8 k each: byte (row*4 + j) of piece p holds
//          u[k = 8p + j] in its low nibble and u[k = 8p + 4 + j] in its high one,
//          u = w + 8 in [0, 15]; the 16 rows' block scales sit in a float array
//          packed_scale[panel][block][row].
//
// In both, one 32-bit lane of a vector is one output channel and each
// dot-product instruction adds four k: AVX-512 VNNI vpdpbusd does that in one
// instruction, AVX2 with vpmaddubsw + vpmaddwd.
#pragma once

#include <cmath>
#include <cstdint>

#include "kiln/quant/format.hpp"
#include "../kernel_table.hpp"

namespace kiln::cpu::quant {

inline constexpr std::int64_t kPanelRows = 16;

constexpr std::int64_t round_up(std::int64_t x, std::int64_t to) { return (x + to - 1) / to * to; }
constexpr std::int64_t panel_count(std::int64_t n) { return (n + kPanelRows - 1) / kPanelRows; }
constexpr std::int64_t int8_packed_bytes(std::int64_t n, std::int64_t k) {
  return panel_count(n) * kPanelRows * round_up(k, 4);
}
constexpr std::int64_t q4_packed_bytes(std::int64_t n, std::int64_t k) {
  return panel_count(n) * kPanelRows * k / 2;
}
constexpr std::int64_t q4_packed_scales(std::int64_t n, std::int64_t k) {
  return panel_count(n) * kPanelRows * (k / kiln::quant::kQ4Group);
}

// Int8 weights w (n x k), symmetric, one scale per output channel.
struct Int8Weights {
  std::int64_t n = 0, k = 0;
  const std::int8_t* plain = nullptr;   // n x k
  const float* scale = nullptr;         // n
  const std::int8_t* packed = nullptr;  // int8_packed_bytes(n, k)
  const std::int32_t* row_sum = nullptr;  // panel_count(n) * 16: sum_k w[n, k] (0 past n)
};

// 4-bit weights in blocks of 32 along k (k % 32 == 0).
struct Q4Weights {
  std::int64_t n = 0, k = 0;
  const kiln::quant::BlockQ4_0* plain = nullptr;  // n x k/32
  const std::uint8_t* packed = nullptr;           // q4_packed_bytes(n, k)
  const float* packed_scale = nullptr;            // q4_packed_scales(n, k)
};

// The fused output stage:  y[m, n] = acc * (a_scale[m] * w_scale[n]) + bias[n], then ReLU.
// For q4_0 the per-block scales are applied inside the k loop:
//   acc = sum_blocks fma(float(block_dot), block_scale, acc);  y = acc * a_scale[m] + bias[n].
struct Output {
  const float* a_scale = nullptr;  // m
  const float* bias = nullptr;     // n, or null
  bool relu = false;
  float* y = nullptr;
  std::int64_t ldy = 0;
};

// The output stage of one element, shared by every variant (their files are
// compiled with -ffp-contract=off, so no variant fuses these into an FMA).
inline float finish_int8(std::int32_t acc, float a_scale, float w_scale, const Output& out, std::int64_t n) {
  const float s = a_scale * w_scale;
  float y = static_cast<float>(acc) * s;
  if (out.bias) y = y + out.bias[n];
  return out.relu && !(y > 0.0f) ? 0.0f : y;
}
inline float finish_q4(float acc, float a_scale, const Output& out, std::int64_t n) {
  float y = acc * a_scale;
  if (out.bias) y = y + out.bias[n];
  return out.relu && !(y > 0.0f) ? 0.0f : y;
}

// One activation value, as every quantizer computes it (SIMD max/min semantics:
// a NaN product lands on -127):  clamp(round(x * inv_scale), -127, 127).
inline std::int8_t quantize_value(float x, float inv_scale) {
  float v = x * inv_scale;
  v = v > -127.0f ? v : -127.0f;
  v = v < 127.0f ? v : 127.0f;
  return static_cast<std::int8_t>(std::nearbyint(v));
}
// max(m, |x|) as the SIMD max instruction does it (m > |x| ? m : |x|).
inline float max_abs_step(float m, float x) {
  const float a = std::fabs(x);
  return m > a ? m : a;
}

// Activations a: m rows of k int8 values in [-127, 127], row stride lda.
struct QuantKernels {
  // c[m, n] = sum_k a[m, k] w[n, k] as int32 (ldc: c's row stride).
  void (*gemm_s8_s32)(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w,
                      std::int32_t* c, std::int64_t ldc);
  void (*gemm_s8)(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w, const Output& out);
  void (*gemm_q4)(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Q4Weights& w, const Output& out);
  // Dynamic per-row activations: scale[r] = int8_scale_for(max_j |x[r, j]|),
  // q[r, j] = clamp(round(x[r, j] * (127 / max|x|)), -127, 127)  (all 0 for a zero row).
  void (*quantize_rows)(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx, std::int8_t* q,
                        std::int64_t ldq, float* scale);
  // q[i] = clamp(round(x[i] * inv_scale), -127, 127).
  void (*quantize_static)(std::int64_t n, const float* x, float inv_scale, std::int8_t* q);
};

// Packing (the same layout for every instruction set).
void pack_int8(std::int64_t n, std::int64_t k, const std::int8_t* plain, std::int8_t* packed, std::int32_t* row_sum);
void pack_q4(std::int64_t n, std::int64_t k, const kiln::quant::BlockQ4_0* plain, std::uint8_t* packed,
             float* packed_scale);

// The kernels of the active level (KILN_CPU_ISA as for the float kernels; the
// avx512 level needs AVX512-VNNI for these and falls back to AVX2 without it).
const QuantKernels& quant_kernels();
// One level's kernels (parity tests, benchmarks); kiln::Error if unsupported.
const QuantKernels& quant_kernels_for(Isa isa);

void fill_quant_scalar(QuantKernels& t);
void fill_quant_avx2(QuantKernels& t);
void fill_quant_avx512(QuantKernels& t);

}  // namespace kiln::cpu::quant
