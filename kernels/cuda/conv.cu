// Convolution and pooling kernels. Every backward here is written as a gather
// (each input element sums what it contributed to), so no atomics are needed and
// results do not depend on thread timing.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.cuh"

namespace kiln::cuda_kernels {

namespace {

// One col row per blockIdx.y (its channel and tap worked out once), consecutive
// threads along the row's columns: writes are coalesced and neighbouring reads
// share cache lines. The index arithmetic is index_math.hpp's.
template <class T, class I>
__global__ void im2col_kernel(ConvShape s, const T* image, T* col) {
  const I columns = static_cast<I>(s.n * s.oh * s.ow);
  const std::int64_t rows = s.c * s.kh * s.kw;
  for (std::int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const ColRow<I> r = col_row(s, static_cast<I>(row));
    T* out = col + row * s.n * s.oh * s.ow;
    for (I c = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); c < columns;
         c += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
      const I from = col_source(s, r, c);
      out[c] = from < 0 ? T(0) : image[from];
    }
  }
}

// One thread per image element, summing the col entries it was copied to
// (index_math.hpp's col_targets), in tap order, in double.
template <class T, class I>
__global__ void col2im_kernel(ConvShape s, const T* col, T* image) {
  const I total = static_cast<I>(s.n * s.c * s.h * s.w);
  for (I e = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); e < total;
       e += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    double acc = 0;
    col_targets(s, e, [&](std::int64_t k) { acc += col[k]; });
    image[e] = static_cast<T>(acc);
  }
}

template <class T>
__global__ void max_pool_kernel(PoolShape s, const T* x, T* y, std::int32_t* argmax) {
  const std::int64_t per_plane = s.oh * s.ow;
  for (std::int64_t e = global_index(); e < s.planes * per_plane; e += grid_stride()) {
    const std::int64_t p = e / per_plane, oy = e % per_plane / s.ow, ox = e % s.ow;
    const T* plane = x + p * s.h * s.w;
    T best = -INFINITY;
    std::int32_t where = -1;
    bool done = false;
    for (std::int64_t i = 0; i < s.kh && !done; ++i) {
      const std::int64_t iy = oy * s.stride_h - s.pad_h + i;
      if (iy < 0 || iy >= s.h) continue;
      for (std::int64_t j = 0; j < s.kw; ++j) {
        const std::int64_t ix = ox * s.stride_w - s.pad_w + j;
        if (ix < 0 || ix >= s.w) continue;
        const T v = plane[iy * s.w + ix];
        if (where < 0 || v > best || is_nan(v)) {
          best = v;
          where = static_cast<std::int32_t>(iy * s.w + ix);
          if (is_nan(v)) {
            done = true;
            break;
          }
        }
      }
    }
    y[e] = best;
    argmax[e] = where;
  }
}

// The output window range [lo, hi) covering input coordinate `in` along one axis.
__device__ inline void covering(std::int64_t in, std::int64_t pad, std::int64_t k, std::int64_t stride,
                                std::int64_t out_size, std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t last = in + pad;          // windows starting at or before `in`
  const std::int64_t first = last - (k - 1);   // ... and ending at or after it
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = last < 0 ? 0 : last / stride + 1;
  if (hi > out_size) hi = out_size;
}

template <class T>
__global__ void max_pool_backward_kernel(PoolShape s, const T* g, const std::int32_t* argmax, T* gx) {
  for (std::int64_t e = global_index(); e < s.planes * s.h * s.w; e += grid_stride()) {
    const std::int64_t p = e / (s.h * s.w), k = e % (s.h * s.w), iy = k / s.w, ix = k % s.w;
    std::int64_t y0, y1, x0, x1;
    covering(iy, s.pad_h, s.kh, s.stride_h, s.oh, y0, y1);
    covering(ix, s.pad_w, s.kw, s.stride_w, s.ow, x0, x1);
    T acc = 0;
    for (std::int64_t oy = y0; oy < y1; ++oy)
      for (std::int64_t ox = x0; ox < x1; ++ox) {
        const std::int64_t o = (p * s.oh + oy) * s.ow + ox;
        if (argmax[o] == k) acc += g[o];
      }
    gx[e] = acc;
  }
}

template <class T>
__global__ void avg_pool_kernel(PoolShape s, const T* x, T* y) {
  const std::int64_t per_plane = s.oh * s.ow;
  const double inv_area = 1.0 / static_cast<double>(s.kh * s.kw);
  for (std::int64_t e = global_index(); e < s.planes * per_plane; e += grid_stride()) {
    const std::int64_t p = e / per_plane, oy = e % per_plane / s.ow, ox = e % s.ow;
    double acc = 0;
    for (std::int64_t i = 0; i < s.kh; ++i) {
      const std::int64_t iy = oy * s.stride_h - s.pad_h + i;
      if (iy < 0 || iy >= s.h) continue;
      for (std::int64_t j = 0; j < s.kw; ++j) {
        const std::int64_t ix = ox * s.stride_w - s.pad_w + j;
        if (ix >= 0 && ix < s.w) acc += x[(p * s.h + iy) * s.w + ix];
      }
    }
    y[e] = static_cast<T>(acc * inv_area);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(PoolShape s, const T* g, T* gx) {
  const double inv_area = 1.0 / static_cast<double>(s.kh * s.kw);
  for (std::int64_t e = global_index(); e < s.planes * s.h * s.w; e += grid_stride()) {
    const std::int64_t p = e / (s.h * s.w), iy = e % (s.h * s.w) / s.w, ix = e % s.w;
    std::int64_t y0, y1, x0, x1;
    covering(iy, s.pad_h, s.kh, s.stride_h, s.oh, y0, y1);
    covering(ix, s.pad_w, s.kw, s.stride_w, s.ow, x0, x1);
    T acc = 0;
    for (std::int64_t oy = y0; oy < y1; ++oy)
      for (std::int64_t ox = x0; ox < x1; ++ox) acc += static_cast<T>(g[(p * s.oh + oy) * s.ow + ox] * inv_area);
    gx[e] = acc;
  }
}

}  // namespace

void im2col(Scalar t, const ConvShape& s, const void* image, void* col) {
  const std::int64_t rows = s.c * s.kh * s.kw, columns = s.n * s.oh * s.ow;
  if (rows == 0 || columns == 0) return;
  const dim3 grid(blocks_for(columns), static_cast<unsigned>(rows < 65535 ? rows : 65535));
  const bool narrow = fits_int32(s);
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(image);
    T* out = static_cast<T*>(col);
    if (narrow) im2col_kernel<T, std::int32_t><<<grid, kThreads>>>(s, in, out);
    else im2col_kernel<T, std::int64_t><<<grid, kThreads>>>(s, in, out);
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void col2im(Scalar t, const ConvShape& s, const void* col, void* image) {
  const std::int64_t total = s.n * s.c * s.h * s.w;
  const bool narrow = fits_int32(s);
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    if (narrow) launch_over(total, col2im_kernel<T, std::int32_t>, s, col, image);
    else launch_over(total, col2im_kernel<T, std::int64_t>, s, col, image);
  });
}

void max_pool(Scalar t, const PoolShape& s, const void* x, void* y, std::int32_t* argmax) {
  visit_floating(t, [&](auto tag) {
    launch_over(s.planes * s.oh * s.ow, max_pool_kernel<decltype(tag)>, s, x, y, argmax);
  });
}

void max_pool_backward(Scalar t, const PoolShape& s, const void* g, const std::int32_t* argmax, void* gx) {
  visit_floating(t, [&](auto tag) {
    launch_over(s.planes * s.h * s.w, max_pool_backward_kernel<decltype(tag)>, s, g, argmax, gx);
  });
}

void avg_pool(Scalar t, const PoolShape& s, const void* x, void* y) {
  visit_floating(t, [&](auto tag) { launch_over(s.planes * s.oh * s.ow, avg_pool_kernel<decltype(tag)>, s, x, y); });
}

void avg_pool_backward(Scalar t, const PoolShape& s, const void* g, void* gx) {
  visit_floating(t, [&](auto tag) {
    launch_over(s.planes * s.h * s.w, avg_pool_backward_kernel<decltype(tag)>, s, g, gx);
  });
}

}  // namespace kiln::cuda_kernels
