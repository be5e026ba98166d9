// Adam / AdamW in one pass over the parameters: each thread reads p, g, m, v once
// and writes p, m, v once. The same arithmetic as the scalar reference.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim.cuh"

namespace kiln::cuda_kernels {

namespace {

__global__ void adam_kernel(std::int64_t n, float* p, const float* g, float* m, float* v, cpu::AdamStep s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const float grad = g[i] + s.l2 * p[i];
    float pi = p[i] * s.decay;
    const float mi = s.beta1 * m[i] + (1.0f - s.beta1) * grad;
    const float vi = s.beta2 * v[i] + (1.0f - s.beta2) * grad * grad;
    pi -= s.step_size * mi / (sqrtf(vi) * s.inv_sqrt_c2 + s.eps);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void adam(std::int64_t n, float* p, const float* g, float* m, float* v, const cpu::AdamStep& s) {
  launch_over(n, adam_kernel, n, p, g, m, v, s);
}

}  // namespace kiln::cuda_kernels
