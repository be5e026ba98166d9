// Indexing kernels. The forward copies are plain gathers; the backward adds use
// atomicAdd because several outputs may come from one input (a repeated index),
// so sums over repeats can differ from the CPU in the last bits.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/index.cuh"

namespace kiln::cuda_kernels {

namespace {

template <class T>
__global__ void index_rows_kernel(std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner, const T* x,
                                  const std::int64_t* index, T* out) {
  for (std::int64_t e = global_index(); e < outer * m * inner; e += grid_stride()) {
    const std::int64_t k = e % inner, j = e / inner % m, o = e / (inner * m);
    out[e] = x[(o * n + index[j]) * inner + k];
  }
}

template <class T>
__global__ void index_add_rows_kernel(std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                                      const T* g, const std::int64_t* index, T* gx) {
  for (std::int64_t e = global_index(); e < outer * m * inner; e += grid_stride()) {
    const std::int64_t k = e % inner, j = e / inner % m, o = e / (inner * m);
    atomicAdd(gx + (o * n + index[j]) * inner + k, g[e]);
  }
}

template <class T>
__global__ void take_kernel(std::int64_t count, const T* x, const std::int64_t* offset, T* out) {
  for (std::int64_t k = global_index(); k < count; k += grid_stride()) out[k] = x[offset[k]];
}

template <class T>
__global__ void put_add_kernel(std::int64_t count, const T* g, const std::int64_t* offset, T* gx) {
  for (std::int64_t k = global_index(); k < count; k += grid_stride()) atomicAdd(gx + offset[k], g[k]);
}

}  // namespace

void index_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner, const void* x,
                const std::int64_t* index, void* out) {
  const std::int64_t total = outer * m * inner;
  if (total == 0) return;
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    index_rows_kernel<<<blocks_for(total), kThreads>>>(outer, n, m, inner, static_cast<const T*>(x), index,
                                                       static_cast<T*>(out));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void index_add_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                    const void* g, const std::int64_t* index, void* gx) {
  const std::int64_t total = outer * m * inner;
  if (total == 0) return;
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    index_add_rows_kernel<<<blocks_for(total), kThreads>>>(outer, n, m, inner, static_cast<const T*>(g), index,
                                                           static_cast<T*>(gx));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void take(Scalar t, std::int64_t count, const void* x, const std::int64_t* offset, void* out) {
  if (count == 0) return;
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    take_kernel<<<blocks_for(count), kThreads>>>(count, static_cast<const T*>(x), offset, static_cast<T*>(out));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

void put_add(Scalar t, std::int64_t count, const void* g, const std::int64_t* offset, void* gx) {
  if (count == 0) return;
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    put_add_kernel<<<blocks_for(count), kThreads>>>(count, static_cast<const T*>(g), offset, static_cast<T*>(gx));
    KILN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace kiln::cuda_kernels
