// Quantized storage formats and the conversions to and from float32.
//
//   int8 (kiln::kInt8 + one float scale per row): symmetric,
//       scale = max|w| / 127,  q = clamp(round(w / scale), -127, 127),  w ~ q * scale.
//       -128 is never produced: the kernels rely on |q| <= 127 (see docs/quantization.md).
//   q4_0 (kiln::kQ4_0): each run of 32 consecutive values of a row is one BlockQ4_0,
//       d = m / -8 where m is the value of largest magnitude (sign kept),
//       q = clamp(round(w / d), -8, 7),  stored as u = q + 8 in a nibble,  w ~ q * d.
//
// round() is round-half-to-even everywhere (the CPU's default rounding mode), so
// the scalar and SIMD quantizers give the same bytes.
#pragma once

#include <cstdint>

#include "kiln/core/tensor.hpp"

namespace kiln::quant {

inline constexpr std::int64_t kQ4Group = 32;

// One q4_0 block: 32 values of a row. qs[j] holds value j in its low nibble and
// value j + 16 in its high nibble, each offset by 8.
struct BlockQ4_0 {
  float scale;
  std::uint8_t qs[kQ4Group / 2];
};
static_assert(sizeof(BlockQ4_0) == 20, "q4_0 blocks are 20 bytes: a float and 16 nibble pairs");
static_assert(itemsize(kQ4_0) == sizeof(BlockQ4_0) && block_elems(kQ4_0) == kQ4Group,
              "the dtype table's q4_0 row must match BlockQ4_0");

// Int8 values with one float32 scale per row (of the last dimension).
struct Int8Rows {
  Tensor values;  // int8, the input's shape
  Tensor scale;   // float32, the input's shape without its last dimension
};

// Symmetric per-row int8 (weights per output channel, or activations per row).
Int8Rows quantize_int8(const Tensor& x);
// Int8 with one given scale for every value (static, calibrated activations).
Tensor quantize_int8(const Tensor& x, float scale);
Tensor dequantize(const Int8Rows& q);

// (..., k) float -> (..., k) q4_0; k must be a multiple of 32.
Tensor quantize_q4_0(const Tensor& x);
// q4_0 -> float32 of the same shape.
Tensor dequantize(const Tensor& q4);

// The bytes of a q4_0 tensor as uint8 (rows, k / 32 * 20), sharing its storage,
// and back (k: the row length in values). Checkpoints store q4_0 this way.
Tensor q4_0_as_bytes(const Tensor& q4);
Tensor q4_0_from_bytes(const Tensor& bytes, std::int64_t k);

// The scale that maps max|x| to 127 (1 when max|x| is 0).
inline float int8_scale_for(float max_abs) { return max_abs > 0.0f ? max_abs / 127.0f : 1.0f; }

}  // namespace kiln::quant
