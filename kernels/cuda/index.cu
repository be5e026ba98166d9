// Indexing kernels. The forward copies are plain gathers; the backward adds use
// atomicAdd because several outputs may come from one input (a repeated index),
// so sums over repeats can differ from the CPU in the last bits. searchsorted: a
// thread per value, a binary search (index_math.hpp) in its row.
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
                                      const T* g, const std::int64_t* index, T* gx, ReportSlot bad) {
  for (std::int64_t e = global_index(); e < outer * m * inner; e += grid_stride()) {
    const std::int64_t k = e % inner, j = e / inner % m, o = e / (inner * m);
    const std::int64_t i = row_of(index, j, n);
    if (i >= 0) {
      atomicAdd(gx + (o * n + i) * inner + k, g[e]);
    } else if (bad.report != nullptr && o == 0 && k == 0) {
      report_bad_index(bad, j, index[j], n);  // once per bad entry
    }
  }
}

// Entry index[k] of a gather along a dimension of size n: counted from the end when
// negative and `wrap` is set; -1 when it lies outside the range allowed.
__device__ inline std::int64_t gathered_at(std::int64_t v, std::int64_t n, bool wrap) {
  const std::int64_t i = wrap && v < 0 ? v + n : v;
  return i >= 0 && i < n ? i : -1;
}

template <class T>
__global__ void gather_kernel(Loop loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const T* x,
                              const std::int64_t* index, T* out, ReportSlot bad) {
  for (std::int64_t e = global_index(); e < loop.numel; e += grid_stride()) {
    std::int64_t off[3];
    loop_offsets<3>(loop, e, off);
    const std::int64_t v = index[off[2]], i = gathered_at(v, n, wrap);
    if (i >= 0) {
      out[off[0]] = x[off[1] + i * dim_stride];
    } else {
      out[off[0]] = T(0);
      report_bad_index(bad, e, v, n);
    }
  }
}

template <class T>
__global__ void gather_add_kernel(Loop loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const T* g,
                                  const std::int64_t* index, T* gx) {
  for (std::int64_t e = global_index(); e < loop.numel; e += grid_stride()) {
    std::int64_t off[3];
    loop_offsets<3>(loop, e, off);
    const std::int64_t i = gathered_at(index[off[2]], n, wrap);
    if (i >= 0) atomicAdd(gx + off[1] + i * dim_stride, g[off[0]]);
  }
}

template <class T>
__global__ void searchsorted_kernel(std::int64_t rows, std::int64_t m, std::int64_t n, bool shared,
                                    const T* seq, const T* values, bool right, std::int64_t* out) {
  for (std::int64_t e = global_index(); e < rows * n; e += grid_stride())
    out[e] = sorted_position(seq + (shared ? 0 : (e / n) * m), m, values[e], right);
}

}  // namespace

void searchsorted(Scalar t, std::int64_t rows, std::int64_t m, std::int64_t n, bool shared, const void* seq,
                  const void* values, bool right, std::int64_t* out) {
  visit_scalar(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(rows * n, searchsorted_kernel<T>, rows, m, n, shared, static_cast<const T*>(seq),
                static_cast<const T*>(values), right, out);
  });
}

void index_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner, const void* x,
                const std::int64_t* index, void* out, ReportSlot bad_index) {
  visit_scalar(t, [&](auto tag) {
    launch_over(outer * m * inner, index_rows_kernel<decltype(tag)>, outer, n, m, inner, x, index, out, bad_index);
  });
}

void index_add_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                    const void* g, const std::int64_t* index, void* gx, ReportSlot bad_index) {
  visit_floating(t, [&](auto tag) {
    launch_over(outer * m * inner, index_add_rows_kernel<decltype(tag)>, outer, n, m, inner, g, index, gx,
                bad_index);
  });
}

void gather(Scalar t, const Loop& loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const void* x,
            const std::int64_t* index, void* out, ReportSlot bad_index) {
  visit_scalar(t, [&](auto tag) {
    launch_over(loop.numel, gather_kernel<decltype(tag)>, loop, n, dim_stride, wrap, x, index, out, bad_index);
  });
}

void gather_add(Scalar t, const Loop& loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const void* g,
                const std::int64_t* index, void* gx) {
  visit_floating(t, [&](auto tag) {
    launch_over(loop.numel, gather_add_kernel<decltype(tag)>, loop, n, dim_stride, wrap, g, index, gx);
  });
}

}  // namespace kiln::cuda_kernels
