// Cross-entropy on the GPU: one warp per sample computes its log-softmax row and
// its loss (and reports a target out of range); few samples of many classes are cut
// into slices instead (softmax_slices.cuh), then a thread per sample takes its loss.
// The backward is one thread per logit.
// Binary cross-entropy with logits: one thread per element, forward and backward.
// Same formulas as src/ops/loss.cpp.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/softmax_slices.cuh"
#include "kernels/cuda/unary_math.cuh"

namespace kiln::cuda_kernels {

namespace {

// loss_i = -(1 - eps) logp[i, t_i] - eps/C sum_j logp[i, j]
template <class T>
__global__ void cross_entropy_kernel(std::int64_t n, std::int64_t c, const T* x, const std::int64_t* target,
                                     double eps, T* logp, T* loss, ReportSlot bad) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; row < n;
       row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* in = x + row * c;
    T m;
    double s;
    row_max_sum_exp(in, c, lane, m, s);
    const T log_sum = static_cast<T>(log(s));  // logp = (x - m) - log_sum, as the CPU
    double row_sum = 0;
    for (std::int64_t j = lane; j < c; j += 32) {
      const T lp = (in[j] - m) - log_sum;
      logp[row * c + j] = lp;
      row_sum += lp;
    }
    row_sum = warp_sum(row_sum);
    if (lane == 0) {
      const std::int64_t t = target[row];
      if (t < 0 || t >= c) {  // never read out of bounds; the host hears of it at its next read-back
        report_bad_index(bad, row, t, c);
        loss[row] = static_cast<T>(NAN);
      } else {
        const T picked = (in[t] - m) - log_sum;
        const double smooth = eps > 0 ? eps / static_cast<double>(c) * row_sum : 0.0;
        loss[row] = static_cast<T>(-(1 - eps) * static_cast<double>(picked) - smooth);
      }
    }
  }
}

// The loss of each sample from its row's slice totals (maximum M, sum S of exp(x - M),
// sum of x): logp = (x - M) - log S, so sum_j logp[i, j] = sum of x - C (M + log S).
template <class T>
__global__ void cross_entropy_row_losses(std::int64_t n, std::int64_t c, const T* x,
                                         const std::int64_t* target, double eps, const double* partial,
                                         T* loss, ReportSlot bad) {
  for (std::int64_t row = global_index(); row < n; row += grid_stride()) {
    const double* first = partial + kSoftmaxSlot * row;
    const T m = static_cast<T>(first[0]), log_sum = static_cast<T>(log(first[1]));
    const std::int64_t t = target[row];
    if (t < 0 || t >= c) {
      report_bad_index(bad, row, t, c);
      loss[row] = static_cast<T>(NAN);
      continue;
    }
    const T picked = (x[row * c + t] - m) - log_sum;
    const double smooth = eps > 0 ? eps / static_cast<double>(c) *
                                        (first[2] - static_cast<double>(c) * (first[0] + log(first[1])))
                                  : 0.0;
    loss[row] = static_cast<T>(-(1 - eps) * static_cast<double>(picked) - smooth);
  }
}

// d loss_i / d logits[i, j] = softmax[i, j] - q[i, j],  q = (1 - eps) onehot(t_i) + eps / C
template <class T>
__global__ void cross_entropy_backward_kernel(std::int64_t n, std::int64_t c, const T* logp,
                                              const std::int64_t* target, double eps, const T* g, bool per_sample,
                                              double scale, T* gx) {
  for (std::int64_t e = global_index(); e < n * c; e += grid_stride()) {
    const std::int64_t i = e / c, j = e % c;
    const double coef = static_cast<double>(per_sample ? g[i] : g[0]) * scale;
    const double q = (j == target[i] ? 1 - eps : 0.0) + eps / static_cast<double>(c);
    gx[e] = static_cast<T>(coef * (exp(static_cast<double>(logp[e])) - q));
  }
}

// The weight of the positive term, 1 + (w - 1) y, with w = pos_weight (read at
// e * w_stride), or 1 without one.
template <class T>
__device__ T positive_weight(const T* w, std::int64_t w_stride, T y, std::int64_t e) {
  return w ? T(1) + (w[e * w_stride] - T(1)) * y : T(1);
}

// loss = (1 - y) x + (1 + (w - 1) y) softplus(-x)
template <class T>
__global__ void bce_with_logits_kernel(std::int64_t n, const T* x, const T* y, const T* w, std::int64_t w_stride,
                                       T* loss) {
  for (std::int64_t e = global_index(); e < n; e += grid_stride()) {
    const T ye = y[e];
    loss[e] = (T(1) - ye) * x[e] + positive_weight(w, w_stride, ye, e) * Softplus{}(-x[e]);
  }
}

// d loss / dx = g (1 - y) - g (1 + (w - 1) y) softplus'(-x), g read at e * g_stride
template <class T>
__global__ void bce_with_logits_backward_kernel(std::int64_t n, const T* x, const T* y, const T* w,
                                                std::int64_t w_stride, const T* g, std::int64_t g_stride, T* gx) {
  for (std::int64_t e = global_index(); e < n; e += grid_stride()) {
    const T ye = y[e], ge = g[e * g_stride];
    gx[e] = ge * (T(1) - ye) - SoftplusGrad{}(-x[e], ge * positive_weight(w, w_stride, ye, e));
  }
}

}  // namespace

void bce_with_logits(Scalar t, std::int64_t n, const void* x, const void* y, const void* w, std::int64_t w_stride,
                     void* loss) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, bce_with_logits_kernel<T>, n, static_cast<const T*>(x), static_cast<const T*>(y),
                static_cast<const T*>(w), w_stride, static_cast<T*>(loss));
  });
}

void bce_with_logits_backward(Scalar t, std::int64_t n, const void* x, const void* y, const void* w,
                              std::int64_t w_stride, const void* g, std::int64_t g_stride, void* gx) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, bce_with_logits_backward_kernel<T>, n, static_cast<const T*>(x), static_cast<const T*>(y),
                static_cast<const T*>(w), w_stride, static_cast<const T*>(g), g_stride, static_cast<T*>(gx));
  });
}

void cross_entropy(Scalar t, std::int64_t n, std::int64_t c, const void* logits, const std::int64_t* target,
                   double eps, void* logp, void* loss, ReportSlot bad_targets, double* scratch) {
  if (n == 0) return;
  const ChannelSplit split = sum_split(n, c, 1);
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    if (split.parts > 1) {
      KILN_ASSERT(scratch != nullptr);
      const T* x = static_cast<const T*>(logits);
      softmax_slices(n, c, split, x, scratch);
      launch_over(n, cross_entropy_row_losses<T>, n, c, x, target, eps, scratch, static_cast<T*>(loss),
                  bad_targets);
      launch_over(n * c, softmax_row_outputs<T>, true, n, c, scratch, x, static_cast<T*>(logp));
      return;
    }
    const std::int64_t blocks = (n + kRowsPerBlock - 1) / kRowsPerBlock;
    launch(cross_entropy_kernel<T>, static_cast<unsigned>(blocks < 262140 ? blocks : 262140),
           kRowsPerBlock * 32, 0, n, c, static_cast<const T*>(logits), target, eps, static_cast<T*>(logp),
           static_cast<T*>(loss), bad_targets);
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_backward(Scalar t, std::int64_t n, std::int64_t c, const void* logp,
                            const std::int64_t* target, double eps, const void* g, bool per_sample, double scale,
                            void* gx) {
  if (n * c == 0) return;
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch(cross_entropy_backward_kernel<T>, blocks_for(n * c), kThreads, 0, n, c,
           static_cast<const T*>(logp), target, eps, static_cast<const T*>(g), per_sample, scale,
           static_cast<T*>(gx));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace kiln::cuda_kernels
