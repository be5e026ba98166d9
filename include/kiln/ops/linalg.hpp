// Matrix products, backed by BLAS (OpenBLAS, or Eigen when built without it), and the
// products built on them: einsum, outer, diag, trace. Solves and factorisations of
// square matrices: solve, inv, det, slogdet, cholesky, solve_triangular, lu_factor /
// lu_solve / lu, cholesky_solve / cholesky_inverse; decompositions:
// qr, eigh, eigvalsh, svd, svdvals; lstsq, pinv, matrix_rank; and functions of matrices:
// logdet, matrix_power, matrix_exp, matrix_norm, cond, kron, tensordot, cross, cov, corrcoef.
#pragma once

#include <optional>
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

// The p-norm distance between every pair of rows i < j of x (N, M), in the order (0, 1),
// (0, 2), .., (1, 2), ..: N (N - 1) / 2 values (torch.pdist, p >= 0). Each difference's
// norm, exactly (for p < 1 torch's (sum |d|^p)^(1/p), for p = 0 the count of entries that
// differ); differentiable (the p >= 1 norms with gradient 0 at a distance of 0).
Tensor pdist(const Tensor& x, double p = 2.0);
// The Vandermonde matrix of a 1-D x (torch.vander): columns x^(N-1) .. x^0, or
// x^0 .. x^(N-1) with increasing; N = x's length unless given. Running products, so
// differentiable also at x = 0.
Tensor vander(const Tensor& x, std::optional<std::int64_t> n = std::nullopt, bool increasing = false);

// Batched matrix products with PyTorch's names: bmm(a, b) of (B, n, m) and (B, m, p);
// addmm(input, m1, m2) = beta input + alpha m1 m2 over matrices, baddbmm the same over
// batches (input broadcasting to the product's shape). With beta = 0 the input is not
// read (its NaN and inf do not reach the result), as PyTorch's. Differentiable.
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor addmm(const Tensor& input, const Tensor& m1, const Tensor& m2, double beta = 1.0, double alpha = 1.0);
Tensor baddbmm(const Tensor& input, const Tensor& b1, const Tensor& b2, double beta = 1.0,
               double alpha = 1.0);

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

// --- Square matrices (torch.linalg's names and conventions) -----------------------
// Each takes (..., n, n) matrices, batch dimensions in front, float32 or float64; every
// matrix is factored in float64 (a float32 result is rounded once), one matrix per
// task on the CPU and per thread on a GPU: made for small and batched matrices. All are
// differentiable (the gradients are solves with the same matrices).
//
// X with A X = B (torch.linalg.solve), by LU with partial pivoting. B is (..., n, k),
// batch dimensions broadcasting with A's, or a vector: (n), or A's shape without its
// last dimension. A singular A is an Error (on a GPU, at the next read-back).
Tensor solve(const Tensor& a, const Tensor& b);
// A^-1 (torch.linalg.inv); a singular A is an Error, as in solve.
Tensor inv(const Tensor& a);
// The determinant, (...) (torch.linalg.det): the product of U's diagonal times the sign
// of the row swaps. Its gradient g det(A) A^-T is not finite at a singular A.
Tensor det(const Tensor& a);
// The sign of det(A) (1, -1, or 0 when singular) and log |det(A)|, which stays finite
// where det would overflow or underflow (torch.linalg.slogdet). logabsdet is
// differentiable (gradient g A^-T); sign is not.
struct SignLogAbsDet {
  Tensor sign;
  Tensor logabsdet;
};
SignLogAbsDet slogdet(const Tensor& a);
// L, lower triangular with a positive diagonal, L L^T = A (torch.linalg.cholesky), from
// A's lower triangle only (A is taken as symmetric); `upper` gives U = L^T instead. A
// matrix that is not positive definite is an Error (on a GPU, at the next read-back).
// The gradient is symmetric, as PyTorch's.
Tensor cholesky(const Tensor& a, bool upper = false);
// X with T X = B, T the upper (lower) triangle of A, its diagonal taken as 1 when
// `unitriangular`; with left = false, X T = B (torch.linalg.solve_triangular). Only that
// triangle is read; B is (..., n, k) (left) or (..., k, n), batches broadcasting. A 0 on
// the diagonal gives infinities, not an Error.
Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left = true,
                        bool unitriangular = false);
// The LU factorisation with partial pivoting, P A = L U read as A = P L U (torch.linalg.lu_factor):
// L (unit lower triangular, below the diagonal) and U (on and above it) packed in one
// (..., n, n) tensor, and LAPACK's pivots, int32 (..., n): at step i row i was swapped
// with row pivots[i] - 1 (1-based, as torch's). A singular matrix factors too (a 0 on U's
// diagonal). Differentiable where A is invertible: gA = P L^-T (tril(L^T gL, -1) +
// triu(gU U^T)) U^-T.
struct LUFactorization {
  Tensor lu;
  Tensor pivots;
};
LUFactorization lu_factor(const Tensor& a);
// X with A X = B from A's lu_factor (torch.linalg.lu_solve): the rows of B swapped as the
// pivots say, then the two triangular solves. B is (..., n, k), batches broadcasting.
// Differentiable in LU and B. The pivots are read back from a GPU.
Tensor lu_solve(const Tensor& lu, const Tensor& pivots, const Tensor& b);
// P, L, U with A = P L U (torch.lu_unpack of lu_factor's result; torch.linalg.lu of a
// square A): P the permutation matrix in LU's dtype, L unit lower and U upper triangular.
// Differentiable through L and U.
struct PLU {
  Tensor p, l, u;
};
PLU lu_unpack(const Tensor& lu, const Tensor& pivots);
PLU lu(const Tensor& a);
// X with A X = B for A = L L^T given its Cholesky factor (U = L^T with upper)
// (torch.cholesky_solve; note the argument order, B first): two triangular solves, only
// the factor's triangle read. Differentiable in both (zero gradient off the triangle).
Tensor cholesky_solve(const Tensor& b, const Tensor& l, bool upper = false);
// A^-1 from A's Cholesky factor (torch.cholesky_inverse): cholesky_solve of the identity.
Tensor cholesky_inverse(const Tensor& l, bool upper = false);

// A = Q R (torch.linalg.qr, mode "reduced"): for A (..., m, n) and k = min(m, n), Q
// (..., m, k) with orthonormal columns and R (..., k, n) upper triangular, by Householder
// reflections as LAPACK's (R's diagonal entries take the sign opposite to the entry each
// reflection started from). Differentiable in both outputs where A's leading k columns
// have full rank (R^-1 enters the gradient).
struct QR {
  Tensor q;
  Tensor r;
};
QR qr(const Tensor& a);
// The eigenvalues, ascending, and orthonormal eigenvectors (columns) of symmetric
// matrices (torch.linalg.eigh), from the lower triangle only, by cyclic Jacobi rotations
// (accurate to the last digits of small eigenvalues too). Each eigenvector's entry of
// largest magnitude is positive (LAPACK leaves the sign to chance). Differentiable; the
// gradient is symmetric, and that of the eigenvectors is not finite where eigenvalues
// repeat. eigvalsh: the eigenvalues alone.
struct Eigh {
  Tensor eigenvalues;
  Tensor eigenvectors;
};
Eigh eigh(const Tensor& a);
Tensor eigvalsh(const Tensor& a);
// The least-squares solution X of A X = B (the X that makes |A X - B| smallest) for
// A (..., m, n) with m >= n of full column rank: R^-1 Q^T B from A's QR. B is
// (..., m, k), batches broadcasting, or a vector (m). Differentiable (composite). Unlike
// torch.linalg.lstsq, the solution only.
Tensor lstsq(const Tensor& a, const Tensor& b);
// The thin SVD A = U diag(S) Vh (torch.linalg.svd with full_matrices = false): for A
// (..., m, n) and k = min(m, n), U (..., m, k) and Vh (..., k, n) with orthonormal
// columns / rows, S (..., k) descending, by one-sided Jacobi rotations (accurate to the
// last digits of small singular values). Each pair of singular vectors is signed so that
// U's column has its entry of largest magnitude positive. Differentiable in all three;
// the gradients through U and Vh are not finite where singular values repeat or are 0.
// svdvals: S alone.
struct SVD {
  Tensor u;
  Tensor s;
  Tensor vh;
};
SVD svd(const Tensor& a);
Tensor svdvals(const Tensor& a);
// The Moore-Penrose pseudo-inverse (torch.linalg.pinv), (..., n, m): V diag(1 / S) U^T
// over the singular values above rtol times the largest (default: the dtype's epsilon
// times max(m, n), as torch's). Differentiable (composite) where the kept singular values
// are distinct.
Tensor pinv(const Tensor& a, std::optional<double> rtol = std::nullopt);
// The number of singular values above that same cutoff, int64 (torch.linalg.matrix_rank).
Tensor matrix_rank(const Tensor& a, std::optional<double> rtol = std::nullopt);

// --- Functions of matrices, composites of the above --------------------------------
// log det(A) (torch.logdet): NaN where det < 0 (no gradient there), -inf where A is singular.
Tensor logdet(const Tensor& a);
// A^k by repeated squaring (torch.linalg.matrix_power); k = 0 gives I, k < 0 powers of inv(A).
Tensor matrix_power(const Tensor& a, std::int64_t k);
// e^A (torch.linalg.matrix_exp): scaled by 2^-s until every 1-norm is at most 1/2 (s
// from the batch's largest norm, read back to the host once), the Taylor series to the
// 18th power, then s squarings, in float64 (a float32 result is rounded once). An
// infinite or NaN entry is an Error.
Tensor matrix_exp(const Tensor& a);
// Matrix norms over the last two dims (torch.linalg.matrix_norm): "fro" (default), "nuc"
// (the sum of the singular values), or a number: 2 / -2 (the largest / smallest singular
// value), 1 / -1 (the largest / smallest column sum of |A|), inf / -inf (row sums).
Tensor matrix_norm(const Tensor& a, const std::string& ord = "fro");
Tensor matrix_norm(const Tensor& a, double ord);
// The condition number norm(A) norm(A^-1) (torch.linalg.cond): for p = 2 / -2 the ratio of
// the extreme singular values (any shape), else square matrices with p as matrix_norm's.
Tensor cond(const Tensor& a, double p = 2);
Tensor cond(const Tensor& a, const std::string& p);
// The Kronecker product (torch.kron): shapes padded with leading 1s to equal length, each
// dim a_i b_i, block (i, j) of a 2-D result a_ij b.
Tensor kron(const Tensor& a, const Tensor& b);
// Sums over pairs of dims (torch.tensordot): dims_a[i] of a with dims_b[i] of b; the
// result has a's remaining dims, then b's. With a count: a's last `dims` with b's first.
Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<std::int64_t>& dims_a,
                 const std::vector<std::int64_t>& dims_b);
Tensor tensordot(const Tensor& a, const Tensor& b, std::int64_t dims = 2);
// The cross product of 3-vectors along `dim`, a and b broadcasting (torch.linalg.cross).
Tensor cross(const Tensor& a, const Tensor& b, std::int64_t dim = -1);
// The covariance of the rows (variables) over the columns (observations), divided by
// N - correction (torch.cov, without weights); one variable (a vector, or one row) gives
// a 0-d result.
// corrcoef: Pearson's correlation, cov over the product of the standard deviations,
// clamped to [-1, 1] (torch.corrcoef).
Tensor cov(const Tensor& x, std::int64_t correction = 1);
Tensor corrcoef(const Tensor& x);

}  // namespace kiln
