// The dense linear algebra on the GPU against the CPU: solve, inv, det, slogdet, cholesky,
// solve_triangular, lu_factor, lu_solve, lu, cholesky_solve and cholesky_inverse, qr, eigh, lstsq, svd, pinv,
// matrix_rank, the functions of matrices (logdet ... corrcoef), and the singular and not-positive-definite
// reports raised at the next read-back.
#include <doctest/doctest.h>

#include <functional>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

TEST_CASE("cuda: solve, inv, det, slogdet, cholesky and solve_triangular match the CPU") {
  manual_seed(13);
  for (DType dt : {kFloat32, kFloat64}) {
    INFO(dtype_name(dt));
    // Far from singular: randn plus n on the diagonal.
    const Tensor a = randn({6, 5, 5}, dt) + eye(5, -1, dt) * 5.0;
    parity([](const auto& v) { return solve(v[0], v[1]); }, {a, randn({6, 5, 3}, dt)}, tol_for(dt));
    parity([](const auto& v) { return solve(v[0], v[1]); }, {a.narrow(0, 0, 1), randn({4, 5, 2}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return solve(v[0], v[1]); }, {a, randn({5}, dt)}, tol_for(dt));
    parity([](const auto& v) { return inv(v[0]); }, {a}, tol_for(dt));
    parity([](const auto& v) { return det(v[0]); }, {randn({7, 4, 4}, dt)}, tol_for(dt));
    parity([](const auto& v) { return slogdet(v[0]).logabsdet; }, {a}, tol_for(dt));
    CHECK(slogdet(a.to(gpu)).sign.to(Device::cpu()).to_vector<double>() ==
          slogdet(a).sign.to_vector<double>());
    parity(
        [](const auto& v) {
          return cholesky(matmul(v[0], v[0].transpose(-2, -1)) +
                          eye(4, -1, v[0].dtype(), v[0].device()) * 4.0);
        },
        {randn({3, 4, 4}, dt)}, tol_for(dt));
    for (const bool upper : {false, true})
      parity([upper](const auto& v) { return solve_triangular(v[0], v[1], upper, !upper, upper); },
             {a, randn(upper ? Shape{6, 2, 5} : Shape{6, 5, 2}, dt)}, tol_for(dt));
    parity([](const auto& v) { return lu_factor(v[0]).lu; }, {a}, tol_for(dt));
    const LUFactorization on_gpu = lu_factor(a.to(gpu));
    CHECK(on_gpu.pivots.device() == gpu);
    CHECK(on_gpu.pivots.to(Device::cpu()).to(kInt64).to_vector<std::int64_t>() ==
          lu_factor(a).pivots.to(kInt64).to_vector<std::int64_t>());
    parity(
        [](const auto& v) {
          const PLU d = lu(v[0]);
          return matmul(d.p, d.l) + d.u;
        },
        {randn({3, 4, 4}, dt)}, tol_for(dt));
    parity(
        [](const auto& v) {
          const LUFactorization f = lu_factor(v[0]);
          return lu_solve(f.lu, f.pivots, v[1]);
        },
        {a, randn({5, 2}, dt)}, tol_for(dt) * 10);
    const Tensor l = cholesky(matmul(a, a.transpose(-2, -1)));
    parity([](const auto& v) { return cholesky_solve(v[0], tril(v[1])); }, {randn({6, 5, 3}, dt), l},
           tol_for(dt) * 10);
    parity([](const auto& v) { return cholesky_inverse(tril(v[0])); }, {l}, tol_for(dt) * 10);
  }
}

TEST_CASE("cuda: qr, eigh, lstsq, svd, pinv and matrix_rank match the CPU") {
  manual_seed(14);
  for (DType dt : {kFloat32, kFloat64}) {
    INFO(dtype_name(dt));
    for (const Shape& shape : {Shape{5, 6, 3}, Shape{2, 4, 4}, Shape{3, 2, 5}}) {
      parity([](const auto& v) { return qr(v[0]).q; }, {randn(shape, dt)}, tol_for(dt));
      parity([](const auto& v) { return qr(v[0]).r; }, {randn(shape, dt)}, tol_for(dt));
    }
    parity([](const auto& v) { return eigh(v[0] + v[0].transpose(-2, -1)).eigenvalues; },
           {randn({6, 5, 5}, dt)}, tol_for(dt));
    parity([](const auto& v) { return eigh(v[0] + v[0].transpose(-2, -1)).eigenvectors; },
           {randn({6, 5, 5}, dt)}, tol_for(dt));
    parity([](const auto& v) { return lstsq(v[0], v[1]); }, {randn({3, 7, 3}, dt), randn({3, 7, 2}, dt)},
           tol_for(dt));
    for (const Shape& shape : {Shape{5, 6, 3}, Shape{3, 2, 5}}) {
      parity([](const auto& v) { return svd(v[0]).u; }, {randn(shape, dt)}, tol_for(dt));
      parity([](const auto& v) { return svd(v[0]).s; }, {randn(shape, dt)}, tol_for(dt));
      parity([](const auto& v) { return svd(v[0]).vh; }, {randn(shape, dt)}, tol_for(dt));
      parity([](const auto& v) { return pinv(v[0]); }, {randn(shape, dt)}, tol_for(dt));
    }
    const Tensor low_rank = matmul(randn({4, 5, 2}, dt), randn({4, 2, 5}, dt));
    CHECK(matrix_rank(low_rank.to(gpu)).to(Device::cpu()).to_vector<std::int64_t>() ==
          matrix_rank(low_rank).to_vector<std::int64_t>());
  }
}

TEST_CASE(
    "cuda: a singular matrix in solve, or one not positive definite in cholesky, is an Error at the next "
    "read-back") {
  const Tensor singular = tensor<double>({{1, 2}, {2, 4}}).to(gpu);
  const Tensor batch = stack({eye(2, -1, kFloat64).to(gpu), singular}, 0);
  const Tensor x = solve(batch, ones({2, 2, 1}, kFloat64).to(gpu));
  CHECK_THROWS_WITH_AS(x.to(Device::cpu()), doctest::Contains("solve: matrix 1 of the batch is singular"),
                       Error);
  CHECK(det(batch).to(Device::cpu()).to_vector<double>() == std::vector<double>{1, 0});  // det is no error
  const Tensor l = cholesky(tensor<double>({{4, 2}, {2, 1}}).to(gpu));  // rank 1: the second pivot is 0
  CHECK_THROWS_WITH_AS(cuda::synchronize(),
                       doctest::Contains("cholesky: matrix 0 of the batch is not positive "
                                         "definite (its leading 2 x 2 block is not)"),
                       Error);
  cuda::synchronize();  // reported once
}

TEST_CASE(
    "cuda: logdet, matrix_power, matrix_exp, matrix_norm, cond, kron, tensordot, cross, cov match the CPU") {
  manual_seed(15);
  for (DType dt : {kFloat32, kFloat64}) {
    INFO(dtype_name(dt));
    const Tensor a = randn({3, 4, 4}, dt) + eye(4, -1, dt) * 4.0;
    parity([](const auto& v) { return logdet(v[0]); }, {a}, tol_for(dt));
    parity([](const auto& v) { return matrix_power(v[0] * 0.25, -3); }, {a}, tol_for(dt));
    parity([](const auto& v) { return matrix_exp(v[0]); }, {randn({3, 4, 4}, dt)}, tol_for(dt));
    parity([](const auto& v) { return matrix_norm(v[0], "nuc"); }, {randn({3, 4, 2}, dt)}, tol_for(dt));
    parity([](const auto& v) { return matrix_norm(v[0], -1.0); }, {randn({3, 4, 2}, dt)}, tol_for(dt));
    parity([](const auto& v) { return cond(v[0]); }, {a}, tol_for(dt));
    parity([](const auto& v) { return kron(v[0], v[1]); }, {randn({2, 3}, dt), randn({3, 1, 2}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return tensordot(v[0], v[1], 1); }, {randn({2, 3}, dt), randn({3, 4}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return cross(v[0], v[1], 0); }, {randn({3, 5}, dt), randn({3, 1}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return corrcoef(v[0]); }, {randn({3, 20}, dt)}, tol_for(dt));
  }
}

TEST_CASE("cuda: second derivatives of solve, det, cholesky, qr and svd match the CPU") {
  manual_seed(17);
  const auto first_derivative = [](const Fn& f) -> Fn {
    return [f](const std::vector<Tensor>& in) {
      return grad(sum(f(in)), {in[0]}, Tensor(), {.create_graph = true})[0];
    };
  };
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const double tol = tol_for(dt) * 10;
    const Tensor a = randn({2, 4, 4}, dt) + eye(4, -1, dt) * 4.0;
    parity(first_derivative([](const auto& v) { return square(solve(v[0], v[1])) + det(v[0]) * 0.1; }),
           {a, randn({2, 4, 2}, dt)}, tol);
    parity(first_derivative([](const auto& v) {
             const Tensor spd =
                 matmul(v[0], v[0].transpose(-2, -1)) + eye(4, -1, v[0].dtype()).to(v[0].device()) * 4.0;
             return square(cholesky(spd)) + slogdet(spd).logabsdet.unsqueeze(-1).unsqueeze(-1);
           }),
           {randn({2, 4, 4}, dt)}, tol);
    parity(first_derivative([](const auto& v) {
             const QR q = qr(v[0]);
             const SVD s = svd(v[0]);
             return sum(square(q.r)) + sum(q.q) + sum(square(s.s)) + sum(s.u * 0.5);
           }),
           {randn({5, 3}, dt)}, tol);
  }
}

}  // namespace kiln::test
