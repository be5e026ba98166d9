// quantize / dequantize for the int8 and q4_0 formats (see kiln/quant/format.hpp).
#include "kiln/quant/format.hpp"

#include <cmath>
#include <cstring>

#include "kernels/cpu/quant/quant_kernels.hpp"
#include "kiln/core/threads.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln::quant {
namespace {

// A float32 contiguous copy of x with at least one dimension.
Tensor float_rows(const Tensor& x, const char* op) {
  KILN_CHECK(x.dim() >= 1, op, ": expected a tensor with at least one dimension, got shape ", fmt(x.shape()));
  KILN_CHECK(is_floating(x.dtype()), op, ": expected a floating tensor but got ", x.dtype(),
             "; quantize float weights or activations");
  Tensor xf = x.detach().to(kFloat32).contiguous();
  // A NaN or an infinity would turn a whole row's (or block's) scale into garbage.
  const float* p = xf.data_ptr<float>();
  const std::int64_t n = xf.numel();
  for (std::int64_t i = 0; i < n; ++i)
    KILN_CHECK(std::isfinite(p[i]), op, ": element ", i, " of the tensor of shape ", fmt(x.shape()), " is ", p[i],
               " as float32; quantization needs finite values");
  return xf;
}

Shape without_last(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

}  // namespace

Int8Rows quantize_int8(const Tensor& x) {
  const Tensor xf = float_rows(x, "quantize_int8");
  const std::int64_t k = xf.shape().back(), rows = k == 0 ? 0 : xf.numel() / k;
  Int8Rows q{Tensor::empty(xf.shape(), kInt8), Tensor::empty(without_last(xf.shape()), kFloat32)};
  if (rows > 0)
    cpu::quant::quant_kernels().quantize_rows(rows, k, xf.data_ptr<float>(), k, q.values.data_ptr<std::int8_t>(), k,
                                              q.scale.data_ptr<float>());
  else
    q.scale.fill_(1.0);
  return q;
}

Tensor quantize_int8(const Tensor& x, float scale) {
  KILN_CHECK(std::isfinite(scale) && scale > 0.0f, "quantize_int8: the scale must be a positive finite number, got ",
             scale);
  const Tensor xf = float_rows(x, "quantize_int8");
  Tensor q = Tensor::empty(xf.shape(), kInt8);
  cpu::quant::quant_kernels().quantize_static(xf.numel(), xf.data_ptr<float>(), 1.0f / scale,
                                              q.data_ptr<std::int8_t>());
  return q;
}

Tensor dequantize(const Int8Rows& q) {
  KILN_CHECK(q.values.defined() && q.values.dtype() == kInt8 && q.scale.defined(),
             "dequantize: expected int8 values and a float32 scale per row");
  KILN_CHECK(q.scale.shape() == without_last(q.values.shape()), "dequantize: int8 values of shape ",
             fmt(q.values.shape()), " need one scale per row, shape ", fmt(without_last(q.values.shape())),
             ", but the scales have shape ", fmt(q.scale.shape()));
  const Tensor v = q.values.contiguous(), s = q.scale.to(kFloat32).contiguous();
  Tensor out = Tensor::empty(v.shape(), kFloat32);
  const std::int64_t k = v.shape().back(), rows = k == 0 ? 0 : v.numel() / k;
  const std::int8_t* pv = v.data_ptr<std::int8_t>();
  const float* ps = s.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < k; ++j) po[r * k + j] = pv[r * k + j] * ps[r];
  return out;
}

Tensor quantize_q4_0(const Tensor& x) {
  const Tensor xf = float_rows(x, "quantize_q4_0");
  const std::int64_t k = xf.shape().back();
  KILN_CHECK(k % kQ4Group == 0, "quantize_q4_0: rows of ", k, " values (shape ", fmt(xf.shape()),
             ") do not split into groups of ", kQ4Group, "; pad the input dimension to a multiple of ", kQ4Group,
             " or use int8");
  Tensor q = Tensor::empty(xf.shape(), kQ4_0);
  const std::int64_t blocks = xf.numel() / kQ4Group;
  const float* px = xf.data_ptr<float>();
  auto* pb = static_cast<BlockQ4_0*>(q.raw_data_ptr());
  parallel_for(0, blocks, 1024, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const float* v = px + b * kQ4Group;
      float extreme = 0.0f;  // the value of largest magnitude, sign kept
      for (int t = 0; t < kQ4Group; ++t)
        if (std::fabs(v[t]) > std::fabs(extreme)) extreme = v[t];
      const float d = extreme / -8.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
      auto code = [&](float value) {
        const float r = std::nearbyint(value * inv);
        return static_cast<std::uint8_t>(std::fmin(std::fmax(r, -8.0f), 7.0f) + 8.0f);
      };
      pb[b].scale = d;
      for (int t = 0; t < kQ4Group / 2; ++t)
        pb[b].qs[t] = static_cast<std::uint8_t>(code(v[t]) | (code(v[t + 16]) << 4));
    }
  });
  return q;
}

Tensor dequantize(const Tensor& q4) {
  KILN_CHECK(q4.defined() && q4.dtype() == kQ4_0, "dequantize: expected a q4_0 tensor but got ",
             q4.defined() ? dtype_name(q4.dtype()) : "an undefined tensor",
             "; int8 values dequantize together with their scales (dequantize(Int8Rows))");
  KILN_CHECK(q4.is_contiguous(), "dequantize: q4_0 tensors must be contiguous");
  Tensor out = Tensor::empty(q4.shape(), kFloat32);
  const auto* pb = static_cast<const BlockQ4_0*>(q4.raw_data_ptr());
  float* po = out.data_ptr<float>();
  for (std::int64_t b = 0, blocks = q4.numel() / kQ4Group; b < blocks; ++b)
    for (int t = 0; t < kQ4Group / 2; ++t) {
      po[b * kQ4Group + t] = static_cast<float>((pb[b].qs[t] & 0x0F) - 8) * pb[b].scale;
      po[b * kQ4Group + t + 16] = static_cast<float>((pb[b].qs[t] >> 4) - 8) * pb[b].scale;
    }
  return out;
}

Tensor q4_0_as_bytes(const Tensor& q4) {
  KILN_CHECK(q4.defined() && q4.dtype() == kQ4_0 && q4.is_contiguous() && q4.dim() >= 1,
             "q4_0_as_bytes: expected a contiguous q4_0 tensor");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = q4.storage();
  impl->shape = q4.shape();
  impl->shape.back() = impl->shape.back() / kQ4Group * static_cast<std::int64_t>(sizeof(BlockQ4_0));
  impl->strides = contiguous_strides(impl->shape);
  impl->offset = static_cast<std::int64_t>(storage_bytes(kQ4_0, q4.offset()));
  impl->dtype = kUInt8;
  return Tensor(std::move(impl));
}

Tensor q4_0_from_bytes(const Tensor& bytes, std::int64_t k) {
  KILN_CHECK(bytes.defined() && bytes.dtype() == kUInt8 && bytes.dim() >= 1, "q4_0_from_bytes: expected uint8 bytes");
  KILN_CHECK(k > 0 && k % kQ4Group == 0 &&
                 bytes.shape().back() == k / kQ4Group * static_cast<std::int64_t>(sizeof(BlockQ4_0)),
             "q4_0_from_bytes: rows of ", bytes.shape().back(), " bytes (shape ", fmt(bytes.shape()),
             ") do not hold ", k, " q4_0 values (", k / kQ4Group, " blocks of ", sizeof(BlockQ4_0),
             " bytes); the file and the model disagree on the layer's size");
  const Tensor c = bytes.contiguous();
  Shape shape = c.shape();
  shape.back() = k;
  Tensor q = Tensor::empty(shape, kQ4_0);
  std::memcpy(q.raw_data_ptr(), c.raw_data_ptr(), storage_bytes(kQ4_0, q.numel()));
  return q;
}

}  // namespace kiln::quant
