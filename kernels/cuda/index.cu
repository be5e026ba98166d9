// Indexing kernels. The forward copies are plain gathers; the backward adds use
// atomicAdd because several outputs may come from one input (a repeated index),
// so sums over repeats can differ from the CPU in the last bits.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/index.cuh"

namespace kiln::cuda_kernels {

namespace {

// Row index[j] counted from the end when negative; -1 when outside [-n, n).
__device__ inline std::int64_t row_of(const std::int64_t* index, std::int64_t j, std::int64_t n) {
  const std::int64_t i = index[j] < 0 ? index[j] + n : index[j];
  return i >= 0 && i < n ? i : -1;
}

template <class T>
__global__ void index_rows_kernel(std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner, const T* x,
                                  const std::int64_t* index, T* out, ReportSlot bad) {
  for (std::int64_t e = global_index(); e < outer * m * inner; e += grid_stride()) {
    const std::int64_t k = e % inner, j = e / inner % m, o = e / (inner * m);
    const std::int64_t i = row_of(index, j, n);
    if (i >= 0) {
      out[e] = x[(o * n + i) * inner + k];
    } else {
      out[e] = T(0);
      if (o == 0 && k == 0) report_bad_index(bad, j, index[j], n);  // once per bad entry
    }
  }
}

template <class T>
__global__ void index_add_rows_kernel(std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                                      const T* g, const std::int64_t* index, T* gx) {
  for (std::int64_t e = global_index(); e < outer * m * inner; e += grid_stride()) {
    const std::int64_t k = e % inner, j = e / inner % m, o = e / (inner * m);
    const std::int64_t i = row_of(index, j, n);
    if (i >= 0) atomicAdd(gx + (o * n + i) * inner + k, g[e]);
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
                const std::int64_t* index, void* out, ReportSlot bad_index) {
  visit_scalar(t, [&](auto tag) {
    launch_over(outer * m * inner, index_rows_kernel<decltype(tag)>, outer, n, m, inner, x, index, out, bad_index);
  });
}

void index_add_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                    const void* g, const std::int64_t* index, void* gx) {
  visit_floating(t, [&](auto tag) {
    launch_over(outer * m * inner, index_add_rows_kernel<decltype(tag)>, outer, n, m, inner, g, index, gx);
  });
}

void take(Scalar t, std::int64_t count, const void* x, const std::int64_t* offset, void* out) {
  visit_scalar(t, [&](auto tag) { launch_over(count, take_kernel<decltype(tag)>, count, x, offset, out); });
}

void put_add(Scalar t, std::int64_t count, const void* g, const std::int64_t* offset, void* gx) {
  visit_floating(t, [&](auto tag) { launch_over(count, put_add_kernel<decltype(tag)>, count, g, offset, gx); });
}

}  // namespace kiln::cuda_kernels
