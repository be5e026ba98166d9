// Convolution and pooling kernels. Every backward here is written as a gather
// (each input element sums what it contributed to), so no atomics are needed and
// results do not depend on thread timing.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.cuh"
#include "kernels/cuda/index_math.hpp"

namespace kiln::cuda_kernels {

namespace {

// One col row per blockIdx.y (its channel and tap worked out once), consecutive
// threads along the row's columns: writes are coalesced and neighbouring reads
// share cache lines. The index arithmetic is index_math.hpp's.
template <class T, class I>
__global__ void im2col_kernel(ConvShape s, ConvDividers<I> dv, const T* image, T* col) {
  const I columns = static_cast<I>(s.n * s.oh * s.ow);
  const std::int64_t rows = s.c * s.kh * s.kw;
  for (std::int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const ColRow<I> r = col_row(s, static_cast<I>(row));
    T* out = col + row * s.n * s.oh * s.ow;
    for (I c = global_index<I>(); c < columns; c += grid_stride<I>()) {
      const I from = col_source(s, dv, r, c);
      out[c] = from < 0 ? T(0) : image[from];
    }
  }
}

// One thread per image element, summing the col entries it was copied to
// (index_math.hpp's col_targets), in tap order, in double.
template <class T, class I>
__global__ void col2im_kernel(ConvShape s, ConvDividers<I> dv, const T* col, T* image) {
  const I total = static_cast<I>(s.n * s.c * s.h * s.w);
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    double acc = 0;
    col_targets(s, dv, e, [&](std::int64_t k) { acc += col[k]; });
    image[e] = static_cast<T>(acc);
  }
}

// Pooling: one thread per output element for the forward passes, one per input
// element for the backward ones (a gather over the windows that cover it), with
// index_math.hpp's plane_position and covering_windows.
template <class T, class I>
__global__ void max_pool_kernel(PoolShape s, PoolDividers<I> dv, I total, const T* x, T* y, std::int32_t* argmax) {
  const I h = static_cast<I>(s.h), w = static_cast<I>(s.w);
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    const PlanePosition<I> o = plane_position(e, dv.out_plane, dv.out_width);
    const T* plane = x + static_cast<std::int64_t>(o.plane) * h * w;
    T best = -INFINITY;
    std::int32_t where = -1;
    bool done = false;
    for (I i = 0; i < static_cast<I>(s.kh) && !done; ++i) {
      const I iy = o.y * static_cast<I>(s.stride_h) - static_cast<I>(s.pad_h) + i;
      if (iy < 0 || iy >= h) continue;
      for (I j = 0; j < static_cast<I>(s.kw); ++j) {
        const I ix = o.x * static_cast<I>(s.stride_w) - static_cast<I>(s.pad_w) + j;
        if (ix < 0 || ix >= w) continue;
        const T v = plane[iy * w + ix];
        if (where < 0 || v > best || is_nan(v)) {
          best = v;
          where = static_cast<std::int32_t>(iy * w + ix);
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

template <class T, class I>
__global__ void max_pool_backward_kernel(PoolShape s, PoolDividers<I> dv, I total, const T* g,
                                         const std::int32_t* argmax, T* gx) {
  const I oh = static_cast<I>(s.oh), ow = static_cast<I>(s.ow);
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    const PlanePosition<I> in = plane_position(e, dv.in_plane, dv.in_width);
    const auto k = static_cast<std::int32_t>(e - in.plane * dv.in_plane.divisor());  // the offset argmax holds
    I y0, y1, x0, x1;
    covering_windows(in.y, static_cast<I>(s.pad_h), static_cast<I>(s.kh), dv.stride_h, oh, y0, y1);
    covering_windows(in.x, static_cast<I>(s.pad_w), static_cast<I>(s.kw), dv.stride_w, ow, x0, x1);
    T acc = 0;
    for (I oy = y0; oy < y1; ++oy)
      for (I ox = x0; ox < x1; ++ox) {
        const I o = (in.plane * oh + oy) * ow + ox;
        if (argmax[o] == k) acc += g[o];
      }
    gx[e] = acc;
  }
}

// What avg_pool divides window (oy, ox) by (index_math.hpp's pool_window_length).
__device__ inline std::int64_t window_area(const PoolShape& s, std::int64_t oy, std::int64_t ox) {
  return pool_window_length(oy, s.stride_h, s.pad_h, s.kh, s.h, s.count_include_pad) *
         pool_window_length(ox, s.stride_w, s.pad_w, s.kw, s.w, s.count_include_pad);
}

template <class T, class I>
__global__ void avg_pool_kernel(PoolShape s, PoolDividers<I> dv, I total, const T* x, T* y) {
  const I h = static_cast<I>(s.h), w = static_cast<I>(s.w);
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    const PlanePosition<I> o = plane_position(e, dv.out_plane, dv.out_width);
    const double inv_area = 1.0 / static_cast<double>(window_area(s, o.y, o.x));
    double acc = 0;
    for (I i = 0; i < static_cast<I>(s.kh); ++i) {
      const I iy = o.y * static_cast<I>(s.stride_h) - static_cast<I>(s.pad_h) + i;
      if (iy < 0 || iy >= h) continue;
      for (I j = 0; j < static_cast<I>(s.kw); ++j) {
        const I ix = o.x * static_cast<I>(s.stride_w) - static_cast<I>(s.pad_w) + j;
        if (ix >= 0 && ix < w) acc += x[(o.plane * h + iy) * w + ix];
      }
    }
    y[e] = static_cast<T>(acc * inv_area);
  }
}

template <class T, class I>
__global__ void avg_pool_backward_kernel(PoolShape s, PoolDividers<I> dv, I total, const T* g, T* gx) {
  const I oh = static_cast<I>(s.oh), ow = static_cast<I>(s.ow);
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    const PlanePosition<I> in = plane_position(e, dv.in_plane, dv.in_width);
    I y0, y1, x0, x1;
    covering_windows(in.y, static_cast<I>(s.pad_h), static_cast<I>(s.kh), dv.stride_h, oh, y0, y1);
    covering_windows(in.x, static_cast<I>(s.pad_w), static_cast<I>(s.kw), dv.stride_w, ow, x0, x1);
    T acc = 0;
    for (I oy = y0; oy < y1; ++oy)
      for (I ox = x0; ox < x1; ++ox)
        acc += static_cast<T>(g[(in.plane * oh + oy) * ow + ox] *
                              (1.0 / static_cast<double>(window_area(s, oy, ox))));
    gx[e] = acc;
  }
}

// Launches a pooling kernel over `total` elements: calls body(T{}, I{}) with T the
// element type and I the narrowest index type that serves the pooling.
template <class Body>
void launch_pool(Scalar t, const PoolShape& s, std::int64_t total, Body&& body) {
  if (total == 0) return;
  visit_floating(t, [&](auto tag) {
    visit_index(fits_int32(s), [&](auto index) { body(tag, index); });
    KILN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void im2col(Scalar t, const ConvShape& s, const void* image, void* col) {
  const std::int64_t rows = s.c * s.kh * s.kw, columns = s.n * s.oh * s.ow;
  if (rows == 0 || columns == 0) return;
  const dim3 grid(blocks_for(columns), static_cast<unsigned>(rows < 65535 ? rows : 65535));
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(image);
    T* out = static_cast<T*>(col);
    visit_index(fits_int32(s), [&](auto index) {
      using I = decltype(index);
      launch(im2col_kernel<T, I>, grid, kThreads, 0, s, conv_dividers<I>(s), in, out);
    });
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void col2im(Scalar t, const ConvShape& s, const void* col, void* image) {
  const std::int64_t total = s.n * s.c * s.h * s.w;
  visit_floating(t, [&](auto tag) {
    visit_index(fits_int32(s), [&](auto index) {
      using I = decltype(index);
      launch_over(total, col2im_kernel<decltype(tag), I>, s, conv_dividers<I>(s), col, image);
    });
  });
}

// The forward passes run over output elements, the backward ones over input elements.
void max_pool(Scalar t, const PoolShape& s, const void* x, void* y, std::int32_t* argmax) {
  const std::int64_t total = s.planes * s.oh * s.ow;
  launch_pool(t, s, total, [&](auto tag, auto index) {
    using T = decltype(tag);
    using I = decltype(index);
    launch(max_pool_kernel<T, I>, blocks_for(total), kThreads, 0, s, pool_dividers<I>(s),
           static_cast<I>(total), static_cast<const T*>(x), static_cast<T*>(y), argmax);
  });
}

void max_pool_backward(Scalar t, const PoolShape& s, const void* g, const std::int32_t* argmax, void* gx) {
  const std::int64_t total = s.planes * s.h * s.w;
  launch_pool(t, s, total, [&](auto tag, auto index) {
    using T = decltype(tag);
    using I = decltype(index);
    launch(max_pool_backward_kernel<T, I>, blocks_for(total), kThreads, 0, s, pool_dividers<I>(s),
           static_cast<I>(total), static_cast<const T*>(g), argmax, static_cast<T*>(gx));
  });
}

void avg_pool(Scalar t, const PoolShape& s, const void* x, void* y) {
  const std::int64_t total = s.planes * s.oh * s.ow;
  launch_pool(t, s, total, [&](auto tag, auto index) {
    using T = decltype(tag);
    using I = decltype(index);
    launch(avg_pool_kernel<T, I>, blocks_for(total), kThreads, 0, s, pool_dividers<I>(s),
           static_cast<I>(total), static_cast<const T*>(x), static_cast<T*>(y));
  });
}

void avg_pool_backward(Scalar t, const PoolShape& s, const void* g, void* gx) {
  const std::int64_t total = s.planes * s.h * s.w;
  launch_pool(t, s, total, [&](auto tag, auto index) {
    using T = decltype(tag);
    using I = decltype(index);
    launch(avg_pool_backward_kernel<T, I>, blocks_for(total), kThreads, 0, s, pool_dividers<I>(s),
           static_cast<I>(total), static_cast<const T*>(g), static_cast<T*>(gx));
  });
}

}  // namespace kiln::cuda_kernels
