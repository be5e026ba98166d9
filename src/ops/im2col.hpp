// Internal: what the CPU convolutions (conv.cpp, conv3d.cpp) share: im2col and its
// adjoint, and weight gradients summed over the threads in a fixed order.
//   col (K_all, L): K_all = C * kh * kw rows, L = OH * OW output positions, each row `ld`
//   values after the one before (L unless given; see col_row_stride)
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "src/ops/conv_geometry.hpp"

namespace kiln::detail {

// The row stride of a col buffer whose rows hold l values: l, or one cache line more when
// a row spans a multiple of 4 KiB (a 32 x 32 float plane). Rows that far apart all fall
// into one set of the L1 cache, so reading down a column of them, as the GEMM's packing
// does, misses the cache on almost every read. (Rows of 1 or 2 KiB measured no better
// padded.)
template <class T>
std::int64_t col_row_stride(std::int64_t l) {
  constexpr std::int64_t line = 64 / static_cast<std::int64_t>(sizeof(T));
  return l * static_cast<std::int64_t>(sizeof(T)) % 4096 == 0 ? l + line : l;
}

// Output columns x whose input column x * stride + ix0 lies inside [0, w): [lo, hi).
struct ColumnRange {
  std::int64_t lo, hi;
};
inline ColumnRange inside_columns(const ConvGeometry& g, std::int64_t ix0) {
  const std::int64_t s = g.stride[1];
  const std::int64_t lo = std::min(g.ow, ix0 >= 0 ? 0 : (-ix0 + s - 1) / s);
  const std::int64_t hi = std::max(lo, std::min(g.ow, g.w - 1 - ix0 < 0 ? 0 : (g.w - 1 - ix0) / s + 1));
  return {lo, hi};
}

// inside_columns of each kernel column j (input column j * dilation - padding at x = 0).
inline std::vector<ColumnRange> inside_columns_of_kernel(const ConvGeometry& g) {
  std::vector<ColumnRange> ranges;
  for (std::int64_t j = 0; j < g.kw; ++j)
    ranges.push_back(inside_columns(g, j * g.dilation[1] - g.padding[1]));
  return ranges;
}

// With stride 1 and as many output columns as input columns ("same" padding along x),
// col row (ci, i, j) is plane ci shifted by (dy, dx) = (i*d - p, j*d - p): flat index q
// of the row reads q + dy*w + dx of the plane. Rows and columns that fall outside are 0.
struct Shift {
  std::int64_t y_lo, y_hi;  // output rows whose input row lies inside
  ColumnRange x;            // output columns whose input column lies inside
  std::int64_t offset;      // dy * w + dx
  std::int64_t q_lo, q_hi;  // flat range to copy: the valid rows, clipped to the plane
};
inline bool shifts_whole_rows(const ConvGeometry& g) { return g.stride == Pair{1, 1} && g.ow == g.w; }
inline Shift shift_of(const ConvGeometry& g, std::int64_t i, std::int64_t j) {
  const std::int64_t dy = i * g.dilation[0] - g.padding[0], dx = j * g.dilation[1] - g.padding[1];
  Shift s;
  s.y_lo = std::min(g.oh, std::max<std::int64_t>(0, -dy));
  s.y_hi = std::max(s.y_lo, std::min(g.oh, g.h - dy));
  s.x = inside_columns(g, dx);
  s.offset = dy * g.w + dx;
  s.q_lo = std::max(s.y_lo * g.ow, -s.offset);
  s.q_hi = std::max(s.q_lo, std::min(s.y_hi * g.ow, g.h * g.w - s.offset));
  return s;
}

// col[(ci*kh + i)*kw + j][y*OW + x] = image[ci][y*s - p + i*d][x*s - p + j*d] (0 outside).
// Rows are ordered by channel, so group g owns the row block [g*K, (g+1)*K).
// (An image row is short, so the general path copies with plain loops rather than memcpy
// calls; the shifted copy of a whole plane is long enough for std::copy's vector code.)
template <class T>
void im2col(const T* image, const ConvGeometry& g, T* col, std::int64_t ld = -1) {
  if (ld < 0) ld = g.l();
  if (shifts_whole_rows(g)) {  // one long copy per row, then the border columns zeroed
    for (std::int64_t row = 0; row < g.k_all(); ++row) {
      const std::int64_t ci = row / (g.kh * g.kw), i = row / g.kw % g.kh, j = row % g.kw;
      const T* plane = image + ci * g.h * g.w;
      T* out = col + row * ld;
      const Shift sh = shift_of(g, i, j);
      for (std::int64_t q = 0; q < sh.q_lo; ++q) out[q] = T(0);
      std::copy(plane + sh.q_lo + sh.offset, plane + sh.q_hi + sh.offset, out + sh.q_lo);
      for (std::int64_t q = sh.q_hi; q < g.l(); ++q) out[q] = T(0);
      for (std::int64_t y = sh.y_lo; y < sh.y_hi; ++y) {
        for (std::int64_t x = 0; x < sh.x.lo; ++x) out[y * g.ow + x] = T(0);
        for (std::int64_t x = sh.x.hi; x < g.ow; ++x) out[y * g.ow + x] = T(0);
      }
    }
    return;
  }
  // The general path: per channel, kernel row and output row, the kw rows of col that read
  // the same input row (or none, above or below the image).
  const std::vector<ColumnRange> inside = inside_columns_of_kernel(g);
  for (std::int64_t ci = 0; ci < g.c; ++ci) {
    const T* plane = image + ci * g.h * g.w;
    for (std::int64_t i = 0; i < g.kh; ++i) {
      T* rows = col + (ci * g.kh + i) * g.kw * ld;  // kernel row i's col rows, one per j
      for (std::int64_t y = 0; y < g.oh; ++y) {
        const std::int64_t iy = y * g.stride[0] - g.padding[0] + i * g.dilation[0];
        if (iy < 0 || iy >= g.h) {
          for (std::int64_t j = 0; j < g.kw; ++j) std::fill_n(rows + j * ld + y * g.ow, g.ow, T(0));
          continue;
        }
        const T* src = plane + iy * g.w;
        for (std::int64_t j = 0; j < g.kw; ++j) {
          T* out = rows + j * ld + y * g.ow;
          const std::int64_t ix0 = j * g.dilation[1] - g.padding[1], s = g.stride[1];
          const auto [x_lo, x_hi] = inside[static_cast<std::size_t>(j)];
          for (std::int64_t x = 0; x < x_lo; ++x) out[x] = T(0);
          if (s == 1)
            for (std::int64_t x = x_lo; x < x_hi; ++x) out[x] = src[ix0 + x];
          else if (s == 2)  // a constant stride the compiler turns into vector shuffles
            for (std::int64_t x = x_lo; x < x_hi; ++x) out[x] = src[ix0 + 2 * x];
          else
            for (std::int64_t x = x_lo; x < x_hi; ++x) out[x] = src[ix0 + x * s];
          for (std::int64_t x = x_hi; x < g.ow; ++x) out[x] = T(0);
        }
      }
    }
  }
}

// The adjoint of im2col: image[...] += col[row][...] (col is scratch: its entries that fall
// outside the image may be overwritten).
template <class T>
void col2im_add(T* col, const ConvGeometry& g, T* image, std::int64_t ld = -1) {
  if (ld < 0) ld = g.l();
  if (shifts_whole_rows(g)) {  // the border columns of col zeroed, then one long sum per row
    for (std::int64_t row = 0; row < g.k_all(); ++row) {
      const std::int64_t ci = row / (g.kh * g.kw), i = row / g.kw % g.kh, j = row % g.kw;
      T* plane = image + ci * g.h * g.w;
      T* src = col + row * ld;
      const Shift sh = shift_of(g, i, j);
      for (std::int64_t y = sh.y_lo; y < sh.y_hi; ++y) {
        for (std::int64_t x = 0; x < sh.x.lo; ++x) src[y * g.ow + x] = T(0);
        for (std::int64_t x = sh.x.hi; x < g.ow; ++x) src[y * g.ow + x] = T(0);
      }
      for (std::int64_t q = sh.q_lo; q < sh.q_hi; ++q) plane[q + sh.offset] += src[q];
    }
    return;
  }
  const std::vector<ColumnRange> inside = inside_columns_of_kernel(g);
  for (std::int64_t ci = 0; ci < g.c; ++ci) {
    T* plane = image + ci * g.h * g.w;
    for (std::int64_t i = 0; i < g.kh; ++i) {
      const T* rows = col + (ci * g.kh + i) * g.kw * ld;
      for (std::int64_t y = 0; y < g.oh; ++y) {
        const std::int64_t iy = y * g.stride[0] - g.padding[0] + i * g.dilation[0];
        if (iy < 0 || iy >= g.h) continue;
        T* dst = plane + iy * g.w;
        for (std::int64_t j = 0; j < g.kw; ++j) {
          const T* src = rows + j * ld + y * g.ow;
          const std::int64_t ix0 = j * g.dilation[1] - g.padding[1], s = g.stride[1];
          const auto [x_lo, x_hi] = inside[static_cast<std::size_t>(j)];
          if (s == 1)
            for (std::int64_t x = x_lo; x < x_hi; ++x) dst[ix0 + x] += src[x];
          else
            for (std::int64_t x = x_lo; x < x_hi; ++x) dst[ix0 + x * s] += src[x];
        }
      }
    }
  }
}

// The adjoint of im2col into a zeroed image.
template <class T>
void col2im(T* col, const ConvGeometry& g, T* image, std::int64_t ld = -1) {
  std::fill(image, image + g.c * g.h * g.w, T(0));
  col2im_add(col, g, image, ld);
}

// Runs task(begin, end, gw) over [0, items) spread over the threads, each task adding into
// its own zeroed gradient gw of `shape` (null without `with_sum`). Returns the tasks' sums
// added in the order of their first items, so that a run repeats bit for bit (undefined
// without `with_sum`; zeros when there are no items).
template <class T, class Task>
Tensor sum_over_tasks(std::int64_t items, bool with_sum, const Shape& shape, Task task) {
  std::vector<std::pair<std::int64_t, Tensor>> partial;  // (first item, sum), one per task
  std::mutex partial_mutex;
  parallel_for(0, items, 1, [&](std::int64_t b, std::int64_t e) {
    Tensor gw = with_sum ? zeros(shape, dtype_of<T>::value) : Tensor();
    task(b, e, with_sum ? gw.data_ptr<T>() : nullptr);
    if (!with_sum) return;
    std::lock_guard<std::mutex> lock(partial_mutex);
    partial.emplace_back(b, gw);
  });
  if (!with_sum) return Tensor();
  if (partial.empty()) return zeros(shape, dtype_of<T>::value);
  std::sort(partial.begin(), partial.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
  Tensor total = partial.front().second;
  for (std::size_t i = 1; i < partial.size(); ++i) total = total + partial[i].second;
  return total;
}

}  // namespace kiln::detail
