// The int8 im2col of quantized convolutions (see im2col.hpp).
#include "im2col.hpp"

#include <cstring>

namespace kiln::quant::detail {

void to_padded_channels_last(const ConvGeometry& g, const std::int8_t* x8, std::int8_t* padded) {
  const std::int64_t pw = g.padded_w();
  std::memset(padded, 0, static_cast<std::size_t>(g.padded_h() * pw * g.c));
  for (std::int64_t ch = 0; ch < g.c; ++ch)
    for (std::int64_t y = 0; y < g.h; ++y) {
      const std::int8_t* src = x8 + (ch * g.h + y) * g.w;
      std::int8_t* dst = padded + ((y + g.ph) * pw + g.pw) * g.c + ch;
      for (std::int64_t x = 0; x < g.w; ++x) dst[x * g.c] = src[x];
    }
}

namespace {
// The first byte of tap (i, j) of output pixel (y, x) in the padded image.
inline const std::int8_t* tap(const ConvGeometry& g, const std::int8_t* padded, std::int64_t y, std::int64_t x,
                              std::int64_t i, std::int64_t j) {
  return padded + ((y * g.sh + i * g.dh) * g.padded_w() + x * g.sw + j * g.dw) * g.c;
}
}  // namespace

void im2col_rows(const ConvGeometry& g, const std::int8_t* padded, std::int64_t kq, std::int8_t* rows) {
  // With stride and dilation 1 along x, the kw taps of a kernel row are one run of kw * c bytes.
  const bool runs = g.sw == 1 && g.dw == 1;
  const std::int64_t run = runs ? g.kw * g.c : g.c, per_row = runs ? 1 : g.kw;
  for (std::int64_t p = 0; p < g.oh * g.ow; ++p) {
    std::int8_t* dst = rows + p * kq;
    for (std::int64_t i = 0; i < g.kh; ++i)
      for (std::int64_t j = 0; j < per_row; ++j, dst += run) {
        const std::int8_t* src = tap(g, padded, p / g.ow, p % g.ow, i, j);
        if (run % 8 == 0)  // whole words: inlined moves rather than a library call per run
          for (std::int64_t t = 0; t < run; t += 8) std::memcpy(dst + t, src + t, 8);
        else
          std::memcpy(dst, src, static_cast<std::size_t>(run));
      }
    std::memset(dst, 0, static_cast<std::size_t>(kq - g.taps_bytes()));
  }
}

}  // namespace kiln::quant::detail
