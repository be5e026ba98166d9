// Fills the CUDA kernel table from the op families' launchers.
#include "kernels/cuda/blas.cuh"
#include "kernels/cuda/conv.cuh"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/index.cuh"
#include "kernels/cuda/linalg.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/norm.cuh"
#include "kernels/cuda/optim.cuh"
#include "kernels/cuda/quant.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/sparse.cuh"
#include "kernels/cuda/unary.cuh"
#include "kernels/cuda/vae.cuh"

namespace kiln::cuda_kernels {

const Table& table() {
  static const Table t{
      // in the order of Table's members (cuda_kernels.hpp)
      fill,
      copy,
      binary,
      compare,
      where,
      random_uniform,
      random_normal,
      dropout,
      unary,
      unary_grad,
      param_activation,
      param_activation_grad,
      sum,
      extreme_rows,
      softmax_rows,
      topk_rows,
      sort_rows,
      scan,
      product,
      index_rows,
      index_add_rows,
      gather,
      gather_add,
      searchsorted,
      batch_norm_stats,
      batch_norm_apply,
      batch_norm_backward,
      spmm,
      edge_softmax,
      edge_softmax_backward,
      csr_row_indices,
      cross_entropy,
      cross_entropy_backward,
      bce_with_logits,
      bce_with_logits_backward,
      gaussian_kl_terms,
      gaussian_kl_terms_backward,
      reparameterize,
      reparameterize_backward,
      inner_product_pairs,
      inner_product_pairs_backward,
      im2col,
      col2im,
      max_pool,
      max_pool_backward,
      avg_pool,
      avg_pool_backward,
      quantize_rows,
      pad_rows_s8,
      gemm_s8_s32,
      finish_int8,
      gemm_q4,
      gemm,
      lu_factor,
      lu_solve,
      triangular_solve,
      cholesky,
      qr,
      eigh,
      svd,
      adam,
  };
  return t;
}

}  // namespace kiln::cuda_kernels
