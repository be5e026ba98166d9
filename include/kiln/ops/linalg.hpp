// Matrix products, backed by BLAS (OpenBLAS, or Eigen when built without it), and the
// products built on them: einsum, outer, diag, trace.
#pragma once

#include <string>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// matmul follows numpy.matmul / torch.matmul:
//   1-D x 1-D -> dot product (0-d); 2-D x 2-D -> matrix product;
//   1-D arguments gain a dimension that is removed again afterwards;
//   N-D arguments are batches of matrices whose batch dimensions broadcast.
// float32 and float64 only. Transposed views are passed to BLAS without copies.
Tensor matmul(const Tensor& a, const Tensor& b);

// The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M),
// (..., P, R), batch dimensions broadcast (torch.cdist, p >= 1 or infinity). As PyTorch's
// default: for p = 2 with more than 25 rows on either side, through a matrix product,
// sqrt(max(|a|^2 + |b|^2 - 2 a.b, 1e-30)) (fast; rounding loses digits for points much
// nearer each other than to 0); otherwise the norm of each difference (exact, P R M
// memory). Differentiable in both; the gradient at a distance of 0 is 0.
Tensor cdist(const Tensor& x1, const Tensor& x2, double p = 2.0);

// Einstein summation (torch.einsum / numpy.einsum): "ij,jk->ik" is a matrix product,
// "bij,bjk->bik" a batched one, "ii->i" a diagonal, "ij->" a sum, "i,j->ij" an outer
// product, "...ij->...ji" a transpose of the last two dimensions of any batch. One
// term of letters (a-z, A-Z) per operand, at most one "..." in each standing for the
// dimensions the letters leave (they broadcast, right-aligned); without "->" the output
// is the ellipsis' dimensions, then every letter used once, in ASCII order. A letter
// repeated within a term takes that diagonal; a letter absent from the output is summed.
// Sizes of a letter must agree across operands, or be 1 (broadcast). Operands are
// contracted left to right, each pair by one matmul after a permute and reshape (a copy
// where the layout asks for one), so einsum is differentiable and runs on either device.
Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);

// The outer product of two vectors, (n) and (m) -> (n, m) (torch.outer). Differentiable.
Tensor outer(const Tensor& a, const Tensor& b);
// torch.diag: a vector becomes a square matrix with it on diagonal `offset` (> 0 above the
// main one), zeros elsewhere; a matrix gives that diagonal as a vector (a copy; diagonal()
// in shape_ops.hpp is the view), offset in [-rows, cols]. Differentiable.
Tensor diag(const Tensor& x, std::int64_t offset = 0);
// The sum of a matrix's main diagonal (torch.trace). Differentiable.
Tensor trace(const Tensor& x);

}  // namespace kiln
