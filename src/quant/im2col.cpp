// The int8 im2col of quantized convolutions (see im2col.hpp).
#include "im2col.hpp"

#include <cstring>
#include <vector>

#include "kernels/cpu/quant/quant_kernels.hpp"

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
  for (std::int64_t p = 0; p < g.oh * g.ow; ++p) {
    std::int8_t* dst = rows + p * kq;
    for (std::int64_t i = 0; i < g.kh; ++i)
      for (std::int64_t j = 0; j < g.kw; ++j, dst += g.c) {
        const std::int8_t* src = tap(g, padded, p / g.ow, p % g.ow, i, j);
        if (g.c % 8 == 0)  // whole words: inlined moves rather than a library call per tap
          for (std::int64_t t = 0; t < g.c; t += 8) std::memcpy(dst + t, src + t, 8);
        else
          std::memcpy(dst, src, static_cast<std::size_t>(g.c));
      }
    std::memset(dst, 0, static_cast<std::size_t>(kq - g.taps_bytes()));
  }
}

void im2col_packed(const ConvGeometry& g, const std::int8_t* padded, std::int64_t kq, std::int8_t* packed,
                   std::int32_t* row_sum) {
  namespace qk = kiln::cpu::quant;
  const std::int64_t hw = g.oh * g.ow, kp = qk::round_up(kq, 4);
  std::memset(packed, 0, static_cast<std::size_t>(qk::int8_packed_bytes(hw, kq)));
  std::memset(row_sum, 0, static_cast<std::size_t>(qk::panel_count(hw) * qk::kPanelRows) * sizeof(std::int32_t));
  // Sum over channels at each padded position: a row's sum is the sum over its taps.
  std::vector<std::int32_t> position_sum(static_cast<std::size_t>(g.padded_h() * g.padded_w()));
  for (std::size_t q = 0; q < position_sum.size(); ++q) {
    std::int32_t s = 0;
    for (std::int64_t ch = 0; ch < g.c; ++ch) s += padded[static_cast<std::int64_t>(q) * g.c + ch];
    position_sum[q] = s;
  }
  for (std::int64_t p = 0; p < hw; ++p) {
    // Value k of row p lives at base + (k / 4) * 64 + k % 4.
    std::int8_t* base = packed + (p / qk::kPanelRows) * qk::kPanelRows * kp + (p % qk::kPanelRows) * 4;
    const std::int64_t y = p / g.ow, x = p % g.ow;
    std::int64_t k0 = 0;
    std::int32_t sum = 0;
    for (std::int64_t i = 0; i < g.kh; ++i)
      for (std::int64_t j = 0; j < g.kw; ++j, k0 += g.c) {
        const std::int8_t* src = tap(g, padded, y, x, i, j);
        sum += position_sum[(y * g.sh + i * g.dh) * g.padded_w() + x * g.sw + j * g.dw];
        if (g.c % 4 == 0)  // k0 is then a multiple of 4: whole 4-byte groups
          for (std::int64_t t = 0; t < g.c; t += 4) std::memcpy(base + (k0 + t) / 4 * 64, src + t, 4);
        else
          for (std::int64_t t = 0; t < g.c; ++t) base[(k0 + t) / 4 * 64 + (k0 + t) % 4] = src[t];
      }
    row_sum[p] = sum;
  }
}

}  // namespace kiln::quant::detail
