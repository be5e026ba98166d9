// Batch norm kernels: one block per channel for the statistics and for the
// backward's two channel sums (two passes over the channel's n * l values, in
// double, as the CPU's channel_moments), then one thread per element for the
// transform and for dx. The same formulas as batch_norm in src/ops/nn_ops.cpp.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm.cuh"

namespace kiln::cuda_kernels {

namespace {

// Sum over the block of one double per thread; every thread gets the total.
__device__ double block_sum(double v) {
  __shared__ double partial[kThreads / 32];
  __shared__ double total;
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    double s = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0;
    s = warp_sum(s);
    if (threadIdx.x == 0) total = s;
  }
  __syncthreads();
  const double out = total;
  __syncthreads();  // `total` and `partial` are reused by the next call
  return out;
}

template <class T>
__global__ void stats_kernel(std::int64_t n, std::int64_t c, std::int64_t l, const T* x, double eps, double momentum,
                             T* running_mean, T* running_var, double* mean, double* invstd) {
  const std::int64_t ch = blockIdx.x, m = n * l;
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < m; i += blockDim.x) s += x[((i / l) * c + ch) * l + i % l];
  const double mu = block_sum(s) / static_cast<double>(m);
  double ss = 0;
  for (std::int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double d = x[((i / l) * c + ch) * l + i % l] - mu;
    ss += d * d;
  }
  const double var = block_sum(ss) / static_cast<double>(m);
  if (threadIdx.x == 0) {
    mean[ch] = mu;
    invstd[ch] = 1.0 / sqrt(var + eps);
    if (running_mean) {
      const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
      running_mean[ch] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[ch]) + momentum * mu);
      running_var[ch] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[ch]) + momentum * var * unbias);
    }
  }
}

template <class T>
__global__ void apply_kernel(std::int64_t total, std::int64_t c, std::int64_t l, const T* x, const double* mean,
                             const double* invstd, const T* w, const T* b, T* y) {
  for (std::int64_t e = global_index(); e < total; e += grid_stride()) {
    const std::int64_t ch = e / l % c;
    const double wc = w ? static_cast<double>(w[ch]) : 1.0, bc = b ? static_cast<double>(b[ch]) : 0.0;
    const T scale = static_cast<T>(invstd[ch] * wc);
    const T shift = static_cast<T>(bc - mean[ch] * invstd[ch] * wc);
    y[e] = x[e] * scale + shift;
  }
}

// Per channel: sum g and sum g xhat, xhat = (x - mean) invstd.
template <class T>
__global__ void sums_kernel(std::int64_t n, std::int64_t c, std::int64_t l, const T* x, const T* g,
                            const double* mean, const double* invstd, double* sum_g, double* sum_gx) {
  const std::int64_t ch = blockIdx.x, m = n * l;
  double sg = 0, sgx = 0;
  for (std::int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const std::int64_t at = ((i / l) * c + ch) * l + i % l;
    sg += g[at];
    sgx += g[at] * (x[at] - mean[ch]) * invstd[ch];
  }
  sg = block_sum(sg);
  sgx = block_sum(sgx);
  if (threadIdx.x == 0) {
    sum_g[ch] = sg;
    sum_gx[ch] = sgx;
  }
}

template <class T>
__global__ void dx_kernel(std::int64_t total, std::int64_t c, std::int64_t l, std::int64_t m, const T* x, const T* g,
                          const double* mean, const double* invstd, const T* w, bool training, const double* sum_g,
                          const double* sum_gx, T* gx) {
  for (std::int64_t e = global_index(); e < total; e += grid_stride()) {
    const std::int64_t ch = e / l % c;
    const double k1 = (w ? static_cast<double>(w[ch]) : 1.0) * invstd[ch];
    if (!training) {
      gx[e] = static_cast<T>(k1 * g[e]);
      continue;
    }
    const double xhat = (x[e] - mean[ch]) * invstd[ch], md = static_cast<double>(m);
    gx[e] = static_cast<T>(k1 * (g[e] - sum_g[ch] / md - xhat * sum_gx[ch] / md));
  }
}

template <class T>
__global__ void to_element_kernel(std::int64_t c, const double* src, T* dst) {
  for (std::int64_t i = global_index(); i < c; i += grid_stride()) dst[i] = static_cast<T>(src[i]);
}

}  // namespace

void batch_norm_stats(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, double eps,
                      double momentum, void* running_mean, void* running_var, double* mean, double* invstd) {
  if (c == 0) return;
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    stats_kernel<<<static_cast<unsigned>(c), kThreads>>>(n, c, l, static_cast<const T*>(x), eps, momentum,
                                                        static_cast<T*>(running_mean), static_cast<T*>(running_var),
                                                        mean, invstd);
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void batch_norm_apply(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const double* mean,
                      const double* invstd, const void* w, const void* b, void* y) {
  const std::int64_t total = n * c * l;
  if (total == 0) return;
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    apply_kernel<<<blocks_for(total), kThreads>>>(total, c, l, static_cast<const T*>(x), mean, invstd,
                                                  static_cast<const T*>(w), static_cast<const T*>(b),
                                                  static_cast<T*>(y));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void batch_norm_backward(Scalar t, std::int64_t n, std::int64_t c, std::int64_t l, const void* x, const void* g,
                         const double* mean, const double* invstd, const void* w, bool training, void* gx, void* gw,
                         void* gb, double* scratch) {
  if (c == 0) return;
  double* sums = scratch;  // sum_g then sum_gx, c each
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    const T* pg = static_cast<const T*>(g);
    sums_kernel<<<static_cast<unsigned>(c), kThreads>>>(n, c, l, px, pg, mean, invstd, sums, sums + c);
    KILN_CUDA_CHECK_LAUNCH();
    if (gx && n * c * l > 0) {
      dx_kernel<<<blocks_for(n * c * l), kThreads>>>(n * c * l, c, l, n * l, px, pg, mean, invstd,
                                                     static_cast<const T*>(w), training, sums, sums + c,
                                                     static_cast<T*>(gx));
      KILN_CUDA_CHECK_LAUNCH();
    }
    if (gw) to_element_kernel<<<blocks_for(c), kThreads>>>(c, sums + c, static_cast<T*>(gw));
    if (gb) to_element_kernel<<<blocks_for(c), kThreads>>>(c, sums, static_cast<T*>(gb));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace kiln::cuda_kernels
