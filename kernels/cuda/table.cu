// Fills the CUDA kernel table from the op families' launchers.
#include "kernels/cuda/blas.cuh"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/optim.cuh"
#include "kernels/cuda/reduce.cuh"

namespace kiln::cuda_kernels {

const Table& table() {
  static const Table t{
      fill,         copy,          binary,          compare,           unary,
      unary_grad,   sum,           extreme_rows,    softmax_rows,      count_bad_targets,
      cross_entropy, cross_entropy_backward, gemm, adam,
  };
  return t;
}

}  // namespace kiln::cuda_kernels
