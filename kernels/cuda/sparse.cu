// CSR SpMM: one thread per output element y[r, j]. Threads of a warp share the
// row r and read x[col[k], j..j+31] together, so each nonzero costs one coalesced
// load of a feature row. The sum runs over the row's nonzeros in order, in the
// element type, as the CPU reference does.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/sparse.cuh"

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

}  // namespace

void spmm(Scalar t, std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col,
          const void* val, const void* x, void* y) {
  visit_floating(t, [&](auto tag) {
    launch_over(rows * f, spmm_kernel<decltype(tag)>, rows, f, row_ptr, col, val, x, y);
  });
}

}  // namespace kiln::cuda_kernels
