// CSR kernels. SpMM: one thread per output element y[r, j]. Threads of a warp share
// the row r and read x[col[k], j..j+31] together, so each nonzero costs one coalesced
// load of a feature row. The sum runs over the row's nonzeros in order, in the
// element type, as the CPU reference does. Edge softmax: one thread per (row, column)
// walks the row's entries in order, as the CPU loop does (sums in double).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/sparse.cuh"
#include "kernels/cuda/unary_math.cuh"

namespace kiln::cuda_kernels {

namespace {

template <class T>
__global__ void spmm_kernel(std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
                            const T* val, const T* x, T* y) {
  for (std::int64_t e = global_index(); e < rows * f; e += grid_stride()) {
    const std::int64_t r = e / f, j = e % f;
    T acc = 0;
    for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) acc += val[k] * x[col[k] * f + j];
    y[e] = acc;
  }
}

// y[k, j] = exp(x[k, j] - m) / s over row r's entries k, m their maximum, s the sum of the exps.
template <class T>
__global__ void edge_softmax_kernel(std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr,
                                    const T* x, T* y) {
  for (std::int64_t e = global_index(); e < rows * h; e += grid_stride()) {
    const std::int64_t r = e / h, j = e % h, begin = row_ptr[r], end = row_ptr[r + 1];
    if (begin == end) continue;
    T m = x[begin * h + j];
    for (std::int64_t k = begin + 1; k < end; ++k) m = x[k * h + j] > m ? x[k * h + j] : m;
    double s = 0;
    for (std::int64_t k = begin; k < end; ++k) {
      const T p = Exp{}(x[k * h + j] - m);
      y[k * h + j] = p;
      s += p;
    }
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t k = begin; k < end; ++k) y[k * h + j] *= inv;
  }
}

// gx[k, j] = y[k, j] (g[k, j] - sum over the row of y g)
template <class T>
__global__ void edge_softmax_backward_kernel(std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr,
                                             const T* y, const T* g, T* gx) {
  for (std::int64_t e = global_index(); e < rows * h; e += grid_stride()) {
    const std::int64_t r = e / h, j = e % h, begin = row_ptr[r], end = row_ptr[r + 1];
    double dot = 0;
    for (std::int64_t k = begin; k < end; ++k) dot += static_cast<double>(y[k * h + j]) * g[k * h + j];
    const T d = static_cast<T>(dot);
    for (std::int64_t k = begin; k < end; ++k) gx[k * h + j] = y[k * h + j] * (g[k * h + j] - d);
  }
}

__global__ void csr_row_indices_kernel(std::int64_t rows, const std::int64_t* row_ptr, std::int64_t* out) {
  for (std::int64_t r = global_index(); r < rows; r += grid_stride())
    for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) out[k] = r;
}

}  // namespace

void edge_softmax(Scalar t, std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr, const void* x,
                  void* y) {
  visit_floating(t, [&](auto tag) {
    launch_over(rows * h, edge_softmax_kernel<decltype(tag)>, rows, h, row_ptr, x, y);
  });
}

void edge_softmax_backward(Scalar t, std::int64_t rows, std::int64_t h, const std::int64_t* row_ptr,
                           const void* y, const void* g, void* gx) {
  visit_floating(t, [&](auto tag) {
    launch_over(rows * h, edge_softmax_backward_kernel<decltype(tag)>, rows, h, row_ptr, y, g, gx);
  });
}

void csr_row_indices(std::int64_t rows, const std::int64_t* row_ptr, std::int64_t* out) {
  launch_over(rows, csr_row_indices_kernel, rows, row_ptr, out);
}

void spmm(Scalar t, std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
          const void* val, const void* x, void* y) {
  visit_floating(t, [&](auto tag) {
    launch_over(rows * f, spmm_kernel<decltype(tag)>, rows, f, row_ptr, col, val, x, y);
  });
}

}  // namespace kiln::cuda_kernels
