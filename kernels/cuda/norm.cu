// Batch norm kernels. The channel reductions (the statistics, and the backward's
// two channel sums) cut each channel into slices, one block per (channel, slice),
// and add the slices' partial sums in slice order, in double, two passes for the
// variance as the CPU's channel_moments; then one thread per element for the
// transform and for dx. Index arithmetic (index_math.hpp) runs in 32 bits with
// division by multiplication where the tensor allows. The same formulas as
// batch_norm in src/ops/nn_ops.cpp.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/index_math.hpp"
#include "kernels/cuda/norm.cuh"

namespace kiln::cuda_kernels {

namespace {

// The sum of channel ch's slice partials, in slice order.
__device__ inline double sum_parts(const double* partial, std::int64_t ch, std::int64_t parts) {
  double s = 0;
  for (std::int64_t p = 0; p < parts; ++p) s += partial[ch * parts + p];
  return s;
}

// The values of this block's slice: blockIdx.x is the channel, blockIdx.y the slice.
template <class I>
struct Slice {
  I ch, begin, end;
};
template <class I>
__device__ inline Slice<I> this_slice(I m, I per_part) {
  std::int64_t begin, end;
  slice_bounds(m, per_part, blockIdx.y, begin, end);
  return {static_cast<I>(blockIdx.x), static_cast<I>(begin), static_cast<I>(end)};
}

// Pass 1 of the statistics: each slice's sum of x.
template <class T, class I>
__global__ void slice_sum_kernel(I c, I m, I per_part, DividerFor<I> l, const T* x, double* partial) {
  const Slice<I> s = this_slice(m, per_part);
  double acc = 0;
  for (I i = s.begin + static_cast<I>(threadIdx.x); i < s.end; i += static_cast<I>(blockDim.x))
    acc += x[channel_value_offset(i, l, c, s.ch)];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[static_cast<std::int64_t>(s.ch) * gridDim.y + blockIdx.y] = acc;
}

// Pass 2: each slice's sum of (x - mean)^2, the mean from pass 1's partials.
template <class T, class I>
__global__ void slice_centered_squares_kernel(I c, I m, I per_part, DividerFor<I> l, const T* x,
                                              const double* sums, double* partial) {
  const Slice<I> s = this_slice(m, per_part);
  __shared__ double mu;
  if (threadIdx.x == 0) mu = sum_parts(sums, s.ch, gridDim.y) / static_cast<double>(m);
  __syncthreads();
  double acc = 0;
  for (I i = s.begin + static_cast<I>(threadIdx.x); i < s.end; i += static_cast<I>(blockDim.x)) {
    const double d = static_cast<double>(x[channel_value_offset(i, l, c, s.ch)]) - mu;
    acc += d * d;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[static_cast<std::int64_t>(s.ch) * gridDim.y + blockIdx.y] = acc;
}

// One thread per channel: mean, invstd and the running statistics from the partials.
template <class T>
__global__ void finish_stats_kernel(std::int64_t c, std::int64_t m, std::int64_t parts, const double* sums,
                                    const double* squares, double eps, double momentum, T* running_mean,
                                    T* running_var, double* mean, double* invstd) {
  for (std::int64_t ch = global_index(); ch < c; ch += grid_stride()) {
    const double mu = sum_parts(sums, ch, parts) / static_cast<double>(m);
    const double var = sum_parts(squares, ch, parts) / static_cast<double>(m);
    mean[ch] = mu;
    invstd[ch] = 1.0 / sqrt(var + eps);
    if (running_mean) {
      const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
      running_mean[ch] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[ch]) + momentum * mu);
      running_var[ch] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[ch]) + momentum * var * unbias);
    }
  }
}

template <class T, class I>
__global__ void apply_kernel(I total, DividerFor<I> l, DividerFor<I> c, const T* x, const double* mean,
                             const double* invstd, const T* w, const T* b, T* y) {
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    const I ch = channel_of(e, l, c);
    const double wc = w ? static_cast<double>(w[ch]) : 1.0, bc = b ? static_cast<double>(b[ch]) : 0.0;
    const T scale = static_cast<T>(invstd[ch] * wc);
    const T shift = static_cast<T>(bc - mean[ch] * invstd[ch] * wc);
    y[e] = x[e] * scale + shift;
  }
}

// Each slice's sum of g and of g xhat, xhat = (x - mean) invstd.
template <class T, class I>
__global__ void slice_grad_sums_kernel(I c, I m, I per_part, DividerFor<I> l, const T* x, const T* g,
                                       const double* mean, const double* invstd, double* partial_g,
                                       double* partial_gx) {
  const Slice<I> s = this_slice(m, per_part);
  const double mu = mean[s.ch], is = invstd[s.ch];
  double sg = 0, sgx = 0;
  for (I i = s.begin + static_cast<I>(threadIdx.x); i < s.end; i += static_cast<I>(blockDim.x)) {
    const I at = channel_value_offset(i, l, c, s.ch);
    sg += g[at];
    sgx += g[at] * (x[at] - mu) * is;
  }
  sg = block_sum(sg);
  sgx = block_sum(sgx);
  if (threadIdx.x == 0) {
    const std::int64_t k = static_cast<std::int64_t>(s.ch) * gridDim.y + blockIdx.y;
    partial_g[k] = sg;
    partial_gx[k] = sgx;
  }
}

// One thread per channel: the two sums from their partials, the weight's and bias's
// gradients (sum g xhat and sum g), and the two sums over m for dx.
template <class T>
__global__ void finish_grad_sums_kernel(std::int64_t c, std::int64_t m, std::int64_t parts, const double* partial_g,
                                        const double* partial_gx, double* mean_g, double* mean_gx, T* gw, T* gb) {
  for (std::int64_t ch = global_index(); ch < c; ch += grid_stride()) {
    const double sg = sum_parts(partial_g, ch, parts), sgx = sum_parts(partial_gx, ch, parts);
    mean_g[ch] = sg / static_cast<double>(m);
    mean_gx[ch] = sgx / static_cast<double>(m);
    if (gw) gw[ch] = static_cast<T>(sgx);
    if (gb) gb[ch] = static_cast<T>(sg);
  }
}

template <class T, class I>
__global__ void dx_kernel(I total, DividerFor<I> l, DividerFor<I> c, const T* x, const T* g, const double* mean,
                          const double* invstd, const T* w, bool training, const double* mean_g,
                          const double* mean_gx, T* gx) {
  for (I e = global_index<I>(); e < total; e += grid_stride<I>()) {
    const I ch = channel_of(e, l, c);
    const double k1 = (w ? static_cast<double>(w[ch]) : 1.0) * invstd[ch];
    if (!training) {
      gx[e] = static_cast<T>(k1 * g[e]);
      continue;
    }
    const double xhat = (x[e] - mean[ch]) * invstd[ch];
    gx[e] = static_cast<T>(k1 * (g[e] - mean_g[ch] - xhat * mean_gx[ch]));
  }
}

dim3 slice_grid(std::int64_t c, const ChannelSplit& split) {
  return dim3(static_cast<unsigned>(c), static_cast<unsigned>(split.parts));
}

}  // namespace

void batch_norm_stats(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, double eps,
                      double momentum, void* running_mean, void* running_var, double* mean, double* invstd,
                      double* scratch) {
  const std::int64_t m = n * l;
  if (c == 0 || m == 0) return;
  const ChannelSplit split = channel_split(c, m);
  const int threads = slice_threads(split, kThreads);
  double* sums = scratch;                         // c * parts
  double* squares = scratch + c * split.parts;   // c * parts
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    visit_index(fits_int32(n * c * l), [&](auto index) {
      using I = decltype(index);
      const DividerFor<I> ld(l);
      const auto ci = static_cast<I>(c), mi = static_cast<I>(m), per = static_cast<I>(split.per_part);
      launch(slice_sum_kernel<T, I>, slice_grid(c, split), threads, 0, ci, mi, per, ld, px, sums);
      KILN_CUDA_CHECK_LAUNCH();
      launch(slice_centered_squares_kernel<T, I>, slice_grid(c, split), threads, 0, ci, mi, per, ld, px,
             sums, squares);
      KILN_CUDA_CHECK_LAUNCH();
    });
    launch_over(c, finish_stats_kernel<T>, c, m, split.parts, sums, squares, eps, momentum,
                static_cast<T*>(running_mean), static_cast<T*>(running_var), mean, invstd);
  });
}

void batch_norm_apply(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const double* mean,
                      const double* invstd, const void* w, const void* b, void* y) {
  const std::int64_t total = n * c * l;
  if (total == 0) return;
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    visit_index(fits_int32(total), [&](auto index) {
      using I = decltype(index);
      launch(apply_kernel<T, I>, blocks_for(total), kThreads, 0, static_cast<I>(total), DividerFor<I>(l),
             DividerFor<I>(c), static_cast<const T*>(x), mean, invstd, static_cast<const T*>(w),
             static_cast<const T*>(b), static_cast<T*>(y));
      KILN_CUDA_CHECK_LAUNCH();
    });
  });
}

void batch_norm_backward(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const void* g,
                         const double* mean, const double* invstd, const void* w, bool training, void* gx, void* gw,
                         void* gb, double* scratch) {
  const std::int64_t m = n * l, total = n * c * l;
  if (c == 0) return;
  const ChannelSplit split = channel_split(c, m);
  const int threads = slice_threads(split, kThreads);
  double* partial_g = scratch;                            // c * parts
  double* partial_gx = scratch + c * split.parts;         // c * parts
  double* mean_g = scratch + 2 * c * split.parts;         // c
  double* mean_gx = mean_g + c;                           // c
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    const T* pg = static_cast<const T*>(g);
    visit_index(fits_int32(total), [&](auto index) {
      using I = decltype(index);
      // The channel sums serve dx in training and the weight's and bias's gradients.
      if (training || gw || gb) {
        if (m > 0) {
          launch(slice_grad_sums_kernel<T, I>, slice_grid(c, split), threads, 0, static_cast<I>(c),
                 static_cast<I>(m), static_cast<I>(split.per_part), DividerFor<I>(l), px, pg, mean, invstd,
                 partial_g, partial_gx);
          KILN_CUDA_CHECK_LAUNCH();
        }
        const std::int64_t parts = m > 0 ? split.parts : 0;  // no values: every sum is 0
        launch_over(c, finish_grad_sums_kernel<T>, c, m, parts, partial_g, partial_gx, mean_g, mean_gx,
                    static_cast<T*>(gw), static_cast<T*>(gb));
      }
      if (gx && total > 0) {
        launch(dx_kernel<T, I>, blocks_for(total), kThreads, 0, static_cast<I>(total), DividerFor<I>(l),
               DividerFor<I>(c), px, pg, mean, invstd, static_cast<const T*>(w), training, mean_g, mean_gx,
               static_cast<T*>(gx));
        KILN_CUDA_CHECK_LAUNCH();
      }
    });
  });
}

}  // namespace kiln::cuda_kernels
