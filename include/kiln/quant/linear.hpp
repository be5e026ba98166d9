// Quantized linear maps for inference: weights stored as int8 or q4_0 and packed
// once for the kernels; activations quantized to int8 on the fly.
//
//   auto w = kiln::quant::QuantizedWeight::from_float(fc.weight, kiln::quant::Format::int8);
//   Tensor y = kiln::quant::linear(x, w, fc.bias);            // dynamic per-row activations
//   Tensor y = kiln::quant::linear(x, w, fc.bias, {.input_scale = 0.02f, .relu = true});
//
// No autograd: these are inference paths (their inputs' gradients are not tracked).
#pragma once

#include <memory>
#include <string_view>

#include "kiln/ops/conv.hpp"
#include "kiln/quant/format.hpp"

namespace kiln::quant {

enum class Format { int8, q4_0 };
std::string_view format_name(Format f);  // "int8", "q4_0"

// A weight matrix (out_features x in_features) in a quantized format, with the
// packed copy the kernels read.
class QuantizedWeight {
public:
  QuantizedWeight() = default;
  // Quantizes a float (out, in) matrix. For q4_0 the rows are padded with zeros
  // to a multiple of 32 (values() then has that many columns; in_features() does not change).
  static QuantizedWeight from_float(const Tensor& weight, Format format);
  // Takes already quantized values: int8 (out, in) with float32 scales (out), values in [-127, 127].
  static QuantizedWeight from_int8(const Int8Rows& q);
  // Takes a q4_0 (out, padded_in) tensor; in_features <= padded_in (default: all of it),
  // the columns past it being zero padding.
  static QuantizedWeight from_q4_0(const Tensor& q4, std::int64_t in_features = -1);

  bool defined() const { return values_.defined(); }
  // Where the weight lives. A copy on a GPU serves inputs on that GPU (quant::linear,
  // quant::conv2d, matmul_int8 run there with CUDA kernels); the CPU copy serves CPU inputs.
  Device device() const { return values_.defined() ? values_.device() : Device::cpu(); }
  QuantizedWeight to(Device device) const;
  Format format() const { return format_; }
  std::int64_t out_features() const { return out_; }
  std::int64_t in_features() const { return in_; }
  const Tensor& values() const { return values_; }  // int8 (out, in) or q4_0 (out, in padded to 32)
  const Tensor& scale() const { return scale_; }    // float32 (out) for int8; undefined for q4_0
  std::int64_t bytes() const;                       // bytes of the stored format (values + scales)
  Tensor dequantize() const;                        // float32 (out, in)

  struct Packed;
  const Packed& packed() const;

private:
  Format format_ = Format::int8;
  std::int64_t out_ = 0, in_ = 0;
  Tensor values_, scale_;
  std::shared_ptr<const Packed> packed_;  // CPU weights only
  Tensor gpu_rows_;                       // int8 on a GPU: (out, in padded to 16) for the GEMM
  friend const Tensor& gpu_rows(const QuantizedWeight& w);
};

struct LinearOptions {
  float input_scale = 0.0f;  // > 0: static activations with this scale; 0: dynamic, per row
  bool relu = false;         // apply ReLU in the output stage
  // quant::conv2d only: a 2x2, stride-2 max pool (max_pool2d(y, {2, 2})) fused into
  // the output stage, after the ReLU; the output is (N, O, OH / 2, OW / 2).
  bool max_pool_2x2 = false;
};

// y = x W^T + bias with int8 activations: x (..., in) float -> (..., out) float32.
Tensor linear(const Tensor& x, const QuantizedWeight& w, const Tensor& bias = Tensor(), LinearOptions options = {});

// 2-D convolution (groups = 1) by im2col + the quantized GEMM. w is the weight
// (out, in, kh, kw) as a matrix with its columns in (kh, kw, in) order:
//   QuantizedWeight::from_float(weight.permute({0, 2, 3, 1}).reshape({out, -1}), format)
// The input is quantized with one scale per image (dynamic) or options.input_scale.
Tensor conv2d(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, Pair kernel, Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1}, LinearOptions options = {});

// The integer product itself: a int8 (m, in) in [-127, 127] times an int8 weight
// -> int32 (m, out) = sum_k a[i, k] w[j, k], exactly.
Tensor matmul_int8(const Tensor& a, const QuantizedWeight& w);

}  // namespace kiln::quant
