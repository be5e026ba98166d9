// The index arithmetic of the GPU kernels, in plain C++ that nvcc and the host
// compiler both read: the kernels call it per element, and the CPU tests
// (tests/test_cuda_index_math.cpp) run it against definitions written as plain
// loops, so it is checked on machines without a GPU too.
//
// Strided loops: element i of a Loop (row-major over loop.shape) sits at offset
// sum_d idx_d * stride[o][d] in operand o.
//
// Whole-batch im2col: col has one row per (input channel ci, kernel tap i, j) and
// one column per output position (image, y, x), both row-major:
//   col[(ci * kh + i) * kw + j][(img * oh + y) * ow + x]
//     = image[img][ci][y * stride_h - pad_h + i * dil_h][x * stride_w - pad_w + j * dil_w]
// or 0 where that position falls in the padding.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_kernels.hpp"

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::cuda_kernels {

// Offsets of element i of `loop` in its first `Operands` operands.
template <int Operands>
KILN_HOST_DEVICE inline void loop_offsets(const Loop& loop, std::int64_t i, std::int64_t (&off)[Operands]) {
  if (loop.dense) {
    for (int o = 0; o < Operands; ++o) off[o] = i;
    return;
  }
  for (int o = 0; o < Operands; ++o) off[o] = 0;
  for (int d = loop.ndim - 1; d > 0; --d) {
    const std::int64_t idx = i % loop.shape[d];
    i /= loop.shape[d];
    for (int o = 0; o < Operands; ++o) off[o] += idx * loop.stride[o][d];
  }
  if (loop.ndim > 0)  // what is left of i indexes the outermost dimension
    for (int o = 0; o < Operands; ++o) off[o] += i * loop.stride[o][0];
}

// What one col row contributes to its source offsets; the same for every column,
// so a kernel works it out once per row. I is the index type (signed: a tap can
// reach into the padding above or left of the image).
template <class I>
struct ColRow {
  I channel_offset;  // ci * h * w
  I dy, dx;          // i * dil_h - pad_h, j * dil_w - pad_w
};

template <class I>
KILN_HOST_DEVICE inline ColRow<I> col_row(const ConvShape& s, I row) {
  const I kw = static_cast<I>(s.kw), taps = static_cast<I>(s.kh * s.kw);
  const I ci = row / taps, tap = row - ci * taps;
  const I i = tap / kw, j = tap - i * kw;
  return {ci * static_cast<I>(s.h * s.w), i * static_cast<I>(s.dil_h) - static_cast<I>(s.pad_h),
          j * static_cast<I>(s.dil_w) - static_cast<I>(s.pad_w)};
}

// The image offset that col[row][column] copies, or -1 where it reads padding.
// Two divisions per element: the column's image and its output row.
template <class I>
KILN_HOST_DEVICE inline I col_source(const ConvShape& s, const ColRow<I>& r, I column) {
  const I ow = static_cast<I>(s.ow), l = static_cast<I>(s.oh * s.ow);
  const I img = column / l, pos = column - img * l;
  const I y = pos / ow, x = pos - y * ow;
  const I iy = y * static_cast<I>(s.stride_h) + r.dy, ix = x * static_cast<I>(s.stride_w) + r.dx;
  if (iy < 0 || iy >= static_cast<I>(s.h) || ix < 0 || ix >= static_cast<I>(s.w)) return -1;
  return img * static_cast<I>(s.c * s.h * s.w) + r.channel_offset + iy * static_cast<I>(s.w) + ix;
}

// col2im, im2col's adjoint: calls fn(k) with the index k into col of every entry
// that copied image element e (e row-major over (n, c, h, w)), in tap order.
// Stride 1 (a uniform branch) needs no division per tap.
template <class I, class Fn>
KILN_HOST_DEVICE inline void col_targets(const ConvShape& s, I e, Fn&& fn) {
  const I w = static_cast<I>(s.w), h = static_cast<I>(s.h), c = static_cast<I>(s.c);
  const I oh = static_cast<I>(s.oh), ow = static_cast<I>(s.ow), kh = static_cast<I>(s.kh), kw = static_cast<I>(s.kw);
  const I sh = static_cast<I>(s.stride_h), sw = static_cast<I>(s.stride_w);
  const std::int64_t columns = s.n * s.oh * s.ow;
  I rest = e / w;
  const I ix = e - rest * w;
  I next = rest / h;
  const I iy = rest - next * h;
  const I img = next / c, ci = next - img * c;
  const I column0 = img * oh * ow;
  for (I i = 0; i < kh; ++i) {
    const I ty = iy + static_cast<I>(s.pad_h) - i * static_cast<I>(s.dil_h);
    if (ty < 0) continue;
    const I y = sh == 1 ? ty : ty / sh;
    if ((sh != 1 && y * sh != ty) || y >= oh) continue;
    for (I j = 0; j < kw; ++j) {
      const I tx = ix + static_cast<I>(s.pad_w) - j * static_cast<I>(s.dil_w);
      if (tx < 0) continue;
      const I x = sw == 1 ? tx : tx / sw;
      if ((sw != 1 && x * sw != tx) || x >= ow) continue;
      const std::int64_t row = (static_cast<std::int64_t>(ci) * kh + i) * kw + j;
      fn(row * columns + column0 + y * ow + x);
    }
  }
}

// True when 32-bit indices serve this shape: every image offset, column and row,
// plus a grid stride (at most 2^26 threads), stays below 2^31.
inline bool fits_int32(const ConvShape& s) {
  constexpr std::int64_t kLimit = std::int64_t(1) << 30;
  return s.n * s.c * s.h * s.w <= kLimit && s.n * s.oh * s.ow <= kLimit && s.c * s.kh * s.kw <= kLimit;
}

}  // namespace kiln::cuda_kernels
