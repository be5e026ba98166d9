// Quantized weights, linear and conv2d for inference (see kiln/quant/linear.hpp).
#include "kiln/quant/linear.hpp"
#include "src/quant/linear_cuda.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>

#include "im2col.hpp"
#include "kernels/cpu/quant/quant_kernels.hpp"
#include "kiln/core/threads.hpp"

namespace kiln::quant {

namespace qk = kiln::cpu::quant;

namespace {
std::string shape_of(const Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::ostringstream os;
  os << fmt(t.shape());
  return os.str();
}
}  // namespace

// The kernel-side copy: packed bytes plus the descriptors that point into them.
struct QuantizedWeight::Packed {
  Tensor packed, row_sum, packed_scale;  // row_sum: int8 only; packed_scale: q4_0 only
  qk::Int8Weights int8;
  qk::Q4Weights q4;
};

std::string_view format_name(Format f) { return f == Format::int8 ? "int8" : "q4_0"; }

QuantizedWeight QuantizedWeight::from_float(const Tensor& weight, Format format) {
  KILN_CHECK(weight.defined() && weight.dim() == 2, "QuantizedWeight::from_float: expected a 2-D (out, in) weight, got ",
             shape_of(weight));
  if (format == Format::int8) return from_int8(quantize_int8(weight));
  const std::int64_t in = weight.size(1), padded = (in + kQ4Group - 1) / kQ4Group * kQ4Group;
  if (padded == in) return from_q4_0(quantize_q4_0(weight));
  Tensor w = Tensor::empty({weight.size(0), padded}, kFloat32);
  w.zero_();
  w.narrow(1, 0, in).copy_(weight.detach());
  return from_q4_0(quantize_q4_0(w), in);
}

QuantizedWeight QuantizedWeight::from_int8(const Int8Rows& q) {
  KILN_CHECK(q.values.defined() && q.values.dtype() == kInt8 && q.values.dim() == 2,
             "QuantizedWeight::from_int8: expected int8 values of shape (out, in)");
  KILN_CHECK(q.scale.defined() && q.scale.dtype() == kFloat32 && q.scale.shape() == Shape{q.values.size(0)},
             "QuantizedWeight::from_int8: int8 values of shape ", fmt(q.values.shape()),
             " need float32 scales of shape (", q.values.size(0), ")");
  QuantizedWeight w;
  w.format_ = Format::int8;
  w.out_ = q.values.size(0);
  w.in_ = q.values.size(1);
  w.values_ = q.values.contiguous();
  w.scale_ = q.scale.contiguous();
  const std::int8_t* v = w.values_.data_ptr<std::int8_t>();
  for (std::int64_t i = 0, n = w.values_.numel(); i < n; ++i)
    KILN_CHECK(v[i] != -128, "QuantizedWeight::from_int8: value -128 at flat index ", i,
               "; symmetric int8 weights lie in [-127, 127] (quantize_int8 never produces -128)");
  auto p = std::make_shared<Packed>();
  p->packed = Tensor::empty({qk::int8_packed_bytes(w.out_, w.in_)}, kInt8);
  p->row_sum = Tensor::empty({qk::panel_count(w.out_) * qk::kPanelRows}, kInt32);
  qk::pack_int8(w.out_, w.in_, v, p->packed.data_ptr<std::int8_t>(), p->row_sum.data_ptr<std::int32_t>());
  p->int8 = {w.out_, w.in_, v, w.scale_.data_ptr<float>(), p->packed.data_ptr<std::int8_t>(),
             p->row_sum.data_ptr<std::int32_t>()};
  w.packed_ = std::move(p);
  return w;
}

QuantizedWeight QuantizedWeight::from_q4_0(const Tensor& q4, std::int64_t in_features) {
  KILN_CHECK(q4.defined() && q4.dtype() == kQ4_0 && q4.dim() == 2,
             "QuantizedWeight::from_q4_0: expected a q4_0 tensor of shape (out, in)");
  const std::int64_t padded = q4.size(1);
  if (in_features < 0) in_features = padded;
  KILN_CHECK(in_features <= padded && padded - in_features < kQ4Group, "QuantizedWeight::from_q4_0: ", in_features,
             " input features do not fit q4_0 rows of ", padded, " values (rows are padded by fewer than ", kQ4Group,
             ")");
  QuantizedWeight w;
  w.format_ = Format::q4_0;
  w.out_ = q4.size(0);
  w.in_ = in_features;
  w.values_ = q4.contiguous();
  auto p = std::make_shared<Packed>();
  p->packed = Tensor::empty({qk::q4_packed_bytes(w.out_, padded)}, kUInt8);
  p->packed_scale = Tensor::empty({qk::q4_packed_scales(w.out_, padded)}, kFloat32);
  const auto* blocks = static_cast<const BlockQ4_0*>(w.values_.raw_data_ptr());
  qk::pack_q4(w.out_, padded, blocks, p->packed.data_ptr<std::uint8_t>(), p->packed_scale.data_ptr<float>());
  p->q4 = {w.out_, padded, blocks, p->packed.data_ptr<std::uint8_t>(), p->packed_scale.data_ptr<float>()};
  w.packed_ = std::move(p);
  return w;
}

const QuantizedWeight::Packed& QuantizedWeight::packed() const {
  KILN_CHECK(values_.defined(), "quant: the QuantizedWeight is empty (default-constructed); build it with from_float");
  KILN_CHECK(packed_, "quant: this weight lives on ", device(), "; its input must be there too (or use the CPU "
             "weight it was copied from)");
  return *packed_;
}

std::int64_t QuantizedWeight::bytes() const {
  std::int64_t b = static_cast<std::int64_t>(storage_bytes(values_.dtype(), values_.numel()));
  if (scale_.defined()) b += scale_.numel() * 4;
  return b;
}

Tensor QuantizedWeight::dequantize() const {
  if (!device().is_cpu()) return to(Device::cpu()).dequantize();
  packed();
  if (format_ == Format::int8) return quant::dequantize(Int8Rows{values_, scale_});
  return quant::dequantize(values_).narrow(1, 0, in_).contiguous();
}

namespace {

// y (rows, out) from float rows x (rows, in): quantize, multiply, output stage.
void linear_rows(std::int64_t rows, const float* x, const QuantizedWeight& w, const float* bias, LinearOptions o,
                 float* y) {
  const qk::QuantKernels& kern = qk::quant_kernels();
  const std::int64_t k = w.in_features(), kq = w.values().size(1);  // kq > k: q4_0 padding, zeros
  // The int8 rows come from kiln's allocator, whose cache hands a batch the same
  // pages every call (a fresh vector here cost more in page faults than the GEMM).
  const Tensor a_rows = Tensor::empty({rows, kq}, kInt8);
  std::int8_t* a = a_rows.data_ptr<std::int8_t>();
  if (kq > k)
    for (std::int64_t r = 0; r < rows; ++r) std::memset(a + r * kq + k, 0, static_cast<std::size_t>(kq - k));
  std::vector<float> a_scale(static_cast<std::size_t>(rows), o.input_scale);
  if (o.input_scale > 0.0f)
    parallel_for(0, rows, 64, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) kern.quantize_static(k, x + r * k, 1.0f / o.input_scale, a + r * kq);
    });
  else
    kern.quantize_rows(rows, k, x, k, a, kq, a_scale.data());
  const qk::Output out{a_scale.data(), bias, o.relu, y, w.out_features()};
  if (w.format() == Format::int8)
    kern.gemm_s8(rows, a, kq, w.packed().int8, out);
  else
    kern.gemm_q4(rows, a, kq, w.packed().q4, out);
}

Tensor float_bias(const Tensor& bias, const QuantizedWeight& w, const char* op) {
  if (!bias.defined()) return bias;
  KILN_CHECK(bias.shape() == Shape{w.out_features()}, op, ": bias of shape ", fmt(bias.shape()),
             " does not match the weight's ", w.out_features(), " outputs");
  return bias.detach().to(kFloat32).contiguous();
}

// The maximum of a 2x2 window in max_pool2d's order (top left, top right, bottom
// left, bottom right): the first maximum, or the first NaN when there is one.
float max_of_window(float a, float b, float c, float d) {
  for (float v : {a, b, c, d})
    if (v != v) return v;
  float m = a;
  m = b > m ? b : m;
  m = c > m ? c : m;
  return d > m ? d : m;
}

void check_options(const LinearOptions& o, const char* op) {
  KILN_CHECK(std::isfinite(o.input_scale) && o.input_scale >= 0.0f, op,
             ": input_scale must be 0 (dynamic) or a positive finite number, got ", o.input_scale);
}

}  // namespace

Tensor linear(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, LinearOptions options) {
  check_options(options, "quant::linear");
  KILN_CHECK(!options.max_pool_2x2, "quant::linear: max_pool_2x2 is an option of quant::conv2d only");
  KILN_CHECK(w.defined(), "quant::linear: the QuantizedWeight is empty; build it with from_float");
  if (x.defined() && (x.device().is_cuda() || w.device().is_cuda()))
    return detail::linear_cuda(x, w, bias, options);
  w.packed();
  KILN_CHECK(x.defined() && x.dim() >= 1 && x.shape().back() == w.in_features(), "quant::linear: input of shape ",
             shape_of(x), " does not end in the weight's ",
             w.in_features(), " input features");
  KILN_CHECK(is_floating(x.dtype()), "quant::linear: expected a floating input, got ", x.dtype());
  const Tensor xf = x.detach().to(kFloat32).contiguous(), b = float_bias(bias, w, "quant::linear");
  Shape shape = x.shape();
  shape.back() = w.out_features();
  Tensor y = Tensor::empty(shape, kFloat32);
  const std::int64_t rows = w.in_features() == 0 ? 0 : xf.numel() / w.in_features();
  if (rows > 0)
    linear_rows(rows, xf.data_ptr<float>(), w, b.defined() ? b.data_ptr<float>() : nullptr, options,
                y.data_ptr<float>());
  return y;
}

Tensor conv2d(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, Pair kernel, Pair stride, Pair padding,
              Pair dilation, LinearOptions options) {
  check_options(options, "quant::conv2d");
  KILN_CHECK(w.defined(), "quant::conv2d: the QuantizedWeight is empty; build it with from_float");
  KILN_CHECK(x.defined() && x.dim() == 4, "quant::conv2d: expected an (N, C, H, W) input, got ",
             shape_of(x));
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  KILN_CHECK(c * kernel[0] * kernel[1] == w.in_features(), "quant::conv2d: input of shape ", fmt(x.shape()),
             " with a ", kernel[0], "x", kernel[1], " kernel needs ", c * kernel[0] * kernel[1],
             " weight columns, but the weight has ", w.in_features());
  KILN_CHECK(stride[0] > 0 && stride[1] > 0 && dilation[0] > 0 && dilation[1] > 0 && padding[0] >= 0 &&
                 padding[1] >= 0,
             "quant::conv2d: stride and dilation must be positive and padding non-negative");
  const std::int64_t oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
  const std::int64_t ow = (wd + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
  KILN_CHECK(oh > 0 && ow > 0, "quant::conv2d: input of shape ", fmt(x.shape()), " is smaller than the ", kernel[0],
             "x", kernel[1], " kernel (with padding and dilation)");
  if (x.device().is_cuda() || w.device().is_cuda())
    return detail::conv2d_cuda(x, w, bias, kernel, stride, padding, dilation, options);
  w.packed();
  const Tensor xf = x.detach().to(kFloat32).contiguous(), b = float_bias(bias, w, "quant::conv2d");
  const qk::QuantKernels& kern = qk::quant_kernels();
  const std::int64_t plane = c * h * wd, hw = oh * ow, o = w.out_features();
  const std::int64_t kq = w.values().size(1);  // k, or k padded to 32 for q4_0
  const std::int64_t ph = h + 2 * padding[0], pw = wd + 2 * padding[1];
  const float* px = xf.data_ptr<float>();
  const float* pbias = b.defined() ? b.data_ptr<float>() : nullptr;
  const bool pool = options.max_pool_2x2;
  KILN_CHECK(!pool || (oh >= 2 && ow >= 2), "quant::conv2d: a fused 2x2 max pool needs an output of at least 2x2, "
             "got ", oh, "x", ow);
  const std::int64_t ph2 = pool ? oh / 2 : oh, pw2 = pool ? ow / 2 : ow;  // the stored output's size
  Tensor y = Tensor::empty({n, o, ph2, pw2}, kFloat32);
  float* py = y.data_ptr<float>();

  const detail::ConvGeometry g{c,          h,          wd,         kernel[0],   kernel[1], stride[0], stride[1],
                               padding[0], padding[1], dilation[0], dilation[1], oh,        ow};
  // Image by image, so that everything one image needs stays in cache:
  //  1. its pixels as int8, with one scale (its own: dynamic; or the layer's: calibrated);
  //  2. channels last with a zero border (src/quant/im2col.hpp);
  //  3. one im2col row per output pixel, zero tail up to kq;
  //  4. the quantized product as (OH * OW, O) rows, transposed into the output image.
  parallel_for(0, n, 1, [&](std::int64_t i0, std::int64_t i1) {
    std::vector<std::int8_t> x8(static_cast<std::size_t>(plane)), padded(static_cast<std::size_t>(ph * pw * c));
    std::vector<std::int8_t> rows(static_cast<std::size_t>(hw * kq));
    std::vector<float> pixel_scale(static_cast<std::size_t>(hw)), y_rows(static_cast<std::size_t>(hw * o));
    for (std::int64_t img = i0; img < i1; ++img) {
      float scale = options.input_scale;
      if (scale > 0.0f)
        kern.quantize_static(plane, px + img * plane, 1.0f / scale, x8.data());
      else
        kern.quantize_rows(1, plane, px + img * plane, plane, x8.data(), plane, &scale);
      std::fill(pixel_scale.begin(), pixel_scale.end(), scale);
      detail::to_padded_channels_last(g, x8.data(), padded.data());
      detail::im2col_rows(g, padded.data(), kq, rows.data());
      const qk::Output out{pixel_scale.data(), pbias, options.relu, y_rows.data(), o};
      if (w.format() == Format::int8)
        kern.gemm_s8(hw, rows.data(), kq, w.packed().int8, out);
      else
        kern.gemm_q4(hw, rows.data(), kq, w.packed().q4, out);
      float* out_image = py + img * o * ph2 * pw2;
      // Back to channels first, a few rows of y_rows at a time so that they stay in L1.
      if (!pool) {
        constexpr std::int64_t kBlock = 16;  // pixels
        for (std::int64_t p0 = 0; p0 < hw; p0 += kBlock) {
          const std::int64_t p1 = std::min(hw, p0 + kBlock);
          for (std::int64_t ch = 0; ch < o; ++ch)
            for (std::int64_t p = p0; p < p1; ++p) out_image[ch * hw + p] = y_rows[p * o + ch];
        }
      } else {  // and pooled in the same pass: each output reads its 2x2 window (two rows of pixels)
        for (std::int64_t yy = 0; yy < ph2; ++yy)
          for (std::int64_t ch = 0; ch < o; ++ch)
            for (std::int64_t xx = 0; xx < pw2; ++xx) {
              const std::int64_t p = 2 * yy * ow + 2 * xx;
              out_image[(ch * ph2 + yy) * pw2 + xx] =
                  max_of_window(y_rows[p * o + ch], y_rows[(p + 1) * o + ch], y_rows[(p + ow) * o + ch],
                                y_rows[(p + ow + 1) * o + ch]);
            }
      }
    }
  });
  return y;
}

Tensor matmul_int8(const Tensor& a, const QuantizedWeight& w) {
  KILN_CHECK(w.defined() && w.format() == Format::int8, "quant::matmul_int8: needs an int8 weight");
  KILN_CHECK(a.defined() && a.dtype() == kInt8 && a.dim() == 2 && a.size(1) == w.in_features(),
             "quant::matmul_int8: expected int8 activations of shape (m, ", w.in_features(), "), got ",
             shape_of(a), " ",
             a.defined() ? dtype_name(a.dtype()) : "");
  if (a.device().is_cuda() || w.device().is_cuda()) return detail::matmul_int8_cuda(a, w);
  const Tensor ac = a.contiguous();
  const std::int8_t* pa = ac.data_ptr<std::int8_t>();
  const std::int64_t n = ac.numel();
  for (std::int64_t i = 0; i < n; ++i)
    KILN_CHECK(pa[i] != -128, "quant::matmul_int8: activation -128 at flat index ", i,
               "; int8 activations lie in [-127, 127] (quantize_int8 never produces -128)");
  Tensor c = Tensor::empty({a.size(0), w.out_features()}, kInt32);
  if (a.size(0) > 0)
    qk::quant_kernels().gemm_s8_s32(a.size(0), pa, w.in_features(), w.packed().int8, c.data_ptr<std::int32_t>(),
                                    w.out_features());
  return c;
}

}  // namespace kiln::quant
