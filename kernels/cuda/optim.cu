// Adam / AdamW in one pass over the parameters: each thread reads p, g, m, v once
// and writes p, m, v once, with the same arithmetic as the scalar reference. One
// launch serves up to kAdamTensors parameters: each block updates one chunk of one
// of them, so a step of a small network is one launch, not one per parameter.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim.cuh"

namespace kiln::cuda_kernels {

namespace {

constexpr int kAdamThreads = 256;
constexpr std::int64_t kAdamChunk = 8 * kAdamThreads;  // elements per block

// The tensors and, for each, the first of its blocks: blocks [first[t], first[t + 1])
// update tensor t.
struct AdamLaunch {
  AdamTensors tensors;
  std::int64_t first[kAdamTensors + 1];
};

__global__ void adam_kernel(AdamLaunch a) {
  const std::int64_t block = blockIdx.x;
  int t = 0;
  while (block >= a.first[t + 1]) ++t;
  const AdamTensors& ts = a.tensors;
  float* p = ts.p[t];
  const float* g = ts.g[t];
  float* m = ts.m[t];
  float* v = ts.v[t];
  const cpu::AdamStep s = ts.step[t];
  const std::int64_t begin = (block - a.first[t]) * kAdamChunk;
  const std::int64_t end = begin + kAdamChunk < ts.n[t] ? begin + kAdamChunk : ts.n[t];
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
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

static_assert(sizeof(AdamLaunch) <= 4000, "an Adam launch's parameters must fit the 4 KB parameter space");

}  // namespace

void adam(const AdamTensors& batch) {
  KILN_ASSERT(batch.count >= 0 && batch.count <= kAdamTensors);
  AdamLaunch a;
  a.tensors = batch;
  a.first[0] = 0;
  for (int t = 0; t < batch.count; ++t) a.first[t + 1] = a.first[t] + (batch.n[t] + kAdamChunk - 1) / kAdamChunk;
  for (int t = batch.count; t < kAdamTensors; ++t) a.first[t + 1] = a.first[t];
  const std::int64_t blocks = a.first[batch.count];
  if (blocks == 0) return;
  KILN_CHECK(blocks <= 0x7fffffff, "Adam on cuda: ", blocks, " blocks exceed one launch; split the parameters");
  launch(adam_kernel, static_cast<unsigned>(blocks), kAdamThreads, 0, a);
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace kiln::cuda_kernels
