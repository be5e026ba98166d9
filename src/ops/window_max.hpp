// Internal: the maximum of one pooling window, shared by max_pool2d (conv.cpp) and
// adaptive_max_pool2d (pooling_variants.cpp) on the CPU.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kiln::detail {

template <class T>
struct WindowMax {
  T value;
  std::int64_t offset;  // in the plane: y * w + x
};

// The first maximum of rows [y0, y1) and columns [x0, x1) of a plane with rows of w
// values, in row-major order; a NaN, if any, wins (the first). The window must not be
// empty. The scan is branch-free: on random data a branch per compare mispredicts about
// every other time; NaNs are only noted, then looked for where there was one.
template <class T>
WindowMax<T> window_max(const T* plane, std::int64_t w, std::int64_t y0, std::int64_t y1, std::int64_t x0,
                        std::int64_t x1) {
  std::int64_t where = y0 * w + x0;
  T best = plane[where];
  bool nan = false;
  for (std::int64_t y = y0; y < y1; ++y)
    for (std::int64_t x = x0; x < x1; ++x) {
      const std::int64_t at = y * w + x;
      const T v = plane[at];
      where += (at - where) & -static_cast<std::int64_t>(v > best);
      best = std::max(best, v);
      nan |= v != v;
    }
  if (nan)
    for (std::int64_t y = y0; y < y1; ++y)
      for (std::int64_t x = x0; x < x1; ++x)
        if (plane[y * w + x] != plane[y * w + x]) return {plane[y * w + x], y * w + x};
  return {best, where};
}

}  // namespace kiln::detail
