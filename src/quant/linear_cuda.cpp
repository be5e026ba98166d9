// Quantized inference on a GPU. The same steps as the CPU path (linear.cpp), as
// CUDA kernels, with the same results bit for bit:
//   activations -> int8 (per row, or per image for conv2d; or a calibrated scale),
//   int8 weights: int32 GEMM (cuBLASLt tensor cores, else dp4a), then the output stage;
//   q4_0 weights: one kernel that unpacks nibbles in registers and folds block scales.
// Weights move to the GPU once, with QuantizedWeight::to(device).
#include "src/quant/linear_cuda.hpp"

#include "kiln/core/factories.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln::quant {

namespace {

constexpr std::int64_t kRowAlign = 16;  // int8 GEMM rows padded to 16 bytes (tensor-core friendly)

std::int64_t padded_k(const QuantizedWeight& w) {
  return w.format() == Format::int8 ? (w.in_features() + kRowAlign - 1) / kRowAlign * kRowAlign : w.values().size(1);
}

void check_same_device(const char* op, const Tensor& x, const QuantizedWeight& w) {
  KILN_CHECK(x.device() == w.device(), op, ": input on ", x.device(), " but the weight on ", w.device(),
             "; move the weight once with w.to(device) (or the input with .to(device))");
}

// What the padding kernel found: activations of -128 (as the CPU's message says).
std::string bad_activation_message(const cuda_kernels::IndexReport& found) {
  std::string m = kiln::detail::concat("quant::matmul_int8: activation -128 at flat index ", found.position,
                                       "; int8 activations lie in [-127, 127] (quantize_int8 never produces -128)");
  if (found.count > 1) m += kiln::detail::concat(" (", found.count - 1, " other activations are -128 too)");
  return m;
}

// Quantizes float rows x (rows, k) on the GPU into a (rows, lda) with zero padding;
// returns the per-row scales (the calibrated scale repeated when static).
Tensor quantize_activations(const Tensor& x, std::int64_t rows, std::int64_t k, std::int64_t lda, float input_scale,
                            Tensor& a) {
  const Device dev = x.device();
  a = Tensor::empty({rows, lda}, kInt8, dev);
  Tensor scale = input_scale > 0.0f ? full({rows}, input_scale, kFloat32, dev) : Tensor::empty({rows}, kFloat32, dev);
  kiln::detail::cuda_for(x).quantize_rows(rows, k, kiln::detail::dptr<float>(x), k,
                                          input_scale > 0.0f ? 1.0f / input_scale : 0.0f,
                                          kiln::detail::dptr<std::int8_t>(a), lda,
                                          input_scale > 0.0f ? nullptr : kiln::detail::dptr<float>(scale));
  return scale;
}

// y (rows, out) = the quantized product of int8 rows a (rows, lda) with per-row scales.
void product(const Tensor& a, const Tensor& a_scale, const QuantizedWeight& w, const Tensor& bias, bool relu,
             Tensor& y) {
  const auto& k = kiln::detail::cuda_for(a);
  const std::int64_t rows = a.size(0), lda = a.size(1), n = w.out_features();
  const float* pb = bias.defined() ? kiln::detail::dptr<float>(bias) : nullptr;
  if (w.format() == Format::int8) {
    Tensor c = Tensor::empty({rows, n}, kInt32, a.device());
    k.gemm_s8_s32(rows, n, lda, kiln::detail::dptr<std::int8_t>(a), lda, kiln::detail::dptr<std::int8_t>(gpu_rows(w)),
                  lda, kiln::detail::dptr<std::int32_t>(c), false);
    k.finish_int8(rows, n, kiln::detail::dptr<std::int32_t>(c), kiln::detail::dptr<float>(a_scale),
                  kiln::detail::dptr<float>(w.scale()), pb, relu, kiln::detail::dptr<float>(y));
  } else {
    k.gemm_q4(rows, n, lda, kiln::detail::dptr<std::int8_t>(a), lda, w.values().device_data_ptr(),
              kiln::detail::dptr<float>(a_scale), pb, relu, kiln::detail::dptr<float>(y));
  }
}

Tensor device_bias(const Tensor& bias, const QuantizedWeight& w, const char* op) {
  if (!bias.defined()) return bias;
  KILN_CHECK(bias.shape() == Shape{w.out_features()}, op, ": bias of shape ", fmt(bias.shape()),
             " does not match the weight's ", w.out_features(), " outputs");
  return bias.detach().to(w.device()).to(kFloat32).contiguous();
}

}  // namespace

const Tensor& gpu_rows(const QuantizedWeight& w) { return w.gpu_rows_; }

QuantizedWeight QuantizedWeight::to(Device target) const {
  KILN_CHECK(defined(), "QuantizedWeight::to: the weight is empty; build it with from_float first");
  if (target == device()) return *this;
  if (target.is_cpu()) {  // back to the host: rebuild the CPU packing from the plain values
    if (format_ == Format::int8) return from_int8(Int8Rows{values_.to(target), scale_.to(target)});
    return from_q4_0(values_.to(target), in_);
  }
  QuantizedWeight w;
  w.format_ = format_;
  w.out_ = out_;
  w.in_ = in_;
  w.values_ = values_.to(target);
  if (format_ == Format::int8) {
    w.scale_ = scale_.to(target);
    const std::int64_t kp = (in_ + kRowAlign - 1) / kRowAlign * kRowAlign;
    Tensor rows = zeros({out_, kp}, kInt8, target);
    rows.narrow(1, 0, in_).copy_(w.values_);
    w.gpu_rows_ = rows;
  }
  return w;
}

namespace detail {

Tensor linear_cuda(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, LinearOptions options) {
  const char* op = "quant::linear";
  check_same_device(op, x, w);
  KILN_CHECK(!options.max_pool_2x2, op, ": max_pool_2x2 is an option of quant::conv2d only");
  KILN_CHECK(x.dim() >= 1 && x.shape().back() == w.in_features(), op, ": input of shape ", fmt(x.shape()),
             " does not end in the weight's ", w.in_features(), " input features");
  KILN_CHECK(is_floating(x.dtype()), op, ": expected a floating input, got ", x.dtype());
  const Tensor xf = x.detach().to(kFloat32).contiguous(), b = device_bias(bias, w, op);
  Shape shape = x.shape();
  shape.back() = w.out_features();
  Tensor y = Tensor::empty(shape, kFloat32, x.device());
  const std::int64_t rows = w.in_features() == 0 ? 0 : xf.numel() / w.in_features();
  if (rows == 0) return y;
  Tensor a;
  const Tensor a_scale = quantize_activations(xf, rows, w.in_features(), padded_k(w), options.input_scale, a);
  Tensor y2 = y.view({rows, w.out_features()});
  product(a, a_scale, w, b, options.relu, y2);
  return y;
}

Tensor conv2d_cuda(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, Pair kernel, Pair stride,
                   Pair padding, Pair dilation, LinearOptions options) {
  const char* op = "quant::conv2d";
  check_same_device(op, x, w);
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), o = w.out_features();
  const std::int64_t oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
  const std::int64_t ow = (wd + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
  const std::int64_t plane = c * h * wd, l = oh * ow, kk = c * kernel[0] * kernel[1], lda = padded_k(w);
  const Device dev = x.device();
  const Tensor xf = x.detach().to(kFloat32).contiguous(), b = device_bias(bias, w, op);
  // 1. Each image to int8 with its own scale (or the calibrated one).
  Tensor x8;
  const Tensor image_scale = quantize_activations(xf, n, plane, plane, options.input_scale, x8);
  // 2. The int8 columns of the whole batch, rows in (c, kh, kw) order ...
  const cuda_kernels::ConvShape s{n,         c,         h,          wd,         kernel[0],   kernel[1],  oh,
                                  ow,        stride[0], stride[1],  padding[0], padding[1], dilation[0], dilation[1]};
  Tensor col = Tensor::empty({kk, n * l}, kInt8, dev);
  kiln::detail::cuda_for(x).im2col(cuda_kernels::Scalar::i8, s, x8.device_data_ptr(), col.device_data_ptr());
  // 3. ... turned into one row per output pixel in the weight's (kh, kw, c) order, zero-padded to lda.
  Tensor a = zeros({n * l, lda}, kInt8, dev);
  a.narrow(1, 0, kk).copy_(col.view({c, kernel[0], kernel[1], n * l}).permute({3, 1, 2, 0}).reshape({n * l, kk}));
  const Tensor a_scale = image_scale.reshape({n, 1}).expand({n, l}).contiguous().reshape({n * l});
  // 4. The product as (N * OH * OW, O) rows, then channels first.
  Tensor y_rows = Tensor::empty({n * l, o}, kFloat32, dev);
  product(a, a_scale, w, b, options.relu, y_rows);
  const Tensor y = y_rows.view({n, l, o}).permute({0, 2, 1}).contiguous().view({n, o, oh, ow});
  return options.max_pool_2x2 ? max_pool2d(y, {2, 2}) : y;  // the same window rule as the CPU's fused pool
}

Tensor matmul_int8_cuda(const Tensor& a, const QuantizedWeight& w) {
  const char* op = "quant::matmul_int8";
  check_same_device(op, a, w);
  const std::int64_t m = a.size(0), k = w.in_features(), lda = padded_k(w);
  // Padded to whole 16-byte rows; the kernel that copies also looks for -128, and a
  // bad value is an Error at the next copy to the host (the host does not wait here).
  const Tensor ac = a.contiguous();
  Tensor ap = Tensor::empty({m, lda}, kInt8, a.device());
  kiln::detail::cuda_for(a).pad_rows_s8(m, k, kiln::detail::dptr<std::int8_t>(ac), k,
                                        kiln::detail::dptr<std::int8_t>(ap), lda,
                                        kiln::detail::cuda_report_slot(a.device().index, bad_activation_message));
  Tensor c = Tensor::empty({m, w.out_features()}, kInt32, a.device());
  kiln::detail::cuda_for(a).gemm_s8_s32(m, w.out_features(), lda, kiln::detail::dptr<std::int8_t>(ap), lda,
                                        kiln::detail::dptr<std::int8_t>(gpu_rows(w)), lda,
                                        kiln::detail::dptr<std::int32_t>(c), false);
  return c;
}

}  // namespace detail

}  // namespace kiln::quant
