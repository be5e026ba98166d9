// The int8 im2col of quantized convolutions (internal to src/quant).
//
// The image is first laid out channels last with a zero border, so that each
// kernel tap of an output pixel is c contiguous bytes; a pixel's im2col row is then
// kh * kw copies, its columns in (kh, kw, c) order (the weight's column order).
#pragma once

#include <cstdint>

namespace kiln::quant::detail {

struct ConvGeometry {
  std::int64_t c, h, w;        // input channels and size
  std::int64_t kh, kw;         // kernel
  std::int64_t sh, sw;         // stride
  std::int64_t ph, pw;         // padding
  std::int64_t dh, dw;         // dilation
  std::int64_t oh, ow;         // output size
  std::int64_t padded_h() const { return h + 2 * ph; }
  std::int64_t padded_w() const { return w + 2 * pw; }
  std::int64_t taps_bytes() const { return kh * kw * c; }  // k, one row's values
};

// x8 (c, h, w) -> padded (h + 2ph, w + 2pw, c), border zero.
void to_padded_channels_last(const ConvGeometry& g, const std::int8_t* x8, std::int8_t* padded);

// One row of kq >= k bytes per output pixel (zeros past k): rows (oh * ow, kq).
void im2col_rows(const ConvGeometry& g, const std::int8_t* padded, std::int64_t kq, std::int8_t* rows);

}  // namespace kiln::quant::detail
