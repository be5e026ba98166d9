// solve, inv, det, slogdet, cholesky and solve_triangular: hand-worked examples, residuals
// of random batches, the edge cases (singular, not positive definite, overflowing
// determinants), float64 gradchecks and errors.
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
// Random (shape.., n, n) matrices far from singular: randn plus n on the diagonal.
Tensor well_conditioned(const Shape& shape, DType dt = kFloat64) {
  const std::int64_t n = shape.back();
  return randn(shape, dt) + eye(n, -1, dt) * static_cast<double>(n);
}
}  // namespace

TEST_CASE("solve: hand-worked systems, vectors, batches that broadcast, residuals") {
  // 3x + y = 9, x + 2y = 8: x = 2, y = 3.
  const Tensor a = tensor<double>({{3, 1}, {1, 2}});
  check_values(solve(a, tensor<double>({9, 8})), {2, 3}, 1e-15);
  check_values(solve(a, tensor<double>({{9, 1}, {8, 0}})), {2, 0.4, 3, -0.2}, 1e-15);
  // A 0 where the first pivot would be: the rows must be swapped.
  check_values(solve(tensor<double>({{0, 1}, {1, 0}}), tensor<double>({5, 7})), {7, 5}, 0);
  manual_seed(1);
  for (std::int64_t n : {1, 2, 5, 9}) {
    INFO("n = " << n);
    const Tensor as = well_conditioned({3, n, n}), bs = rand64({3, n, 4});
    const Tensor x = solve(as, bs);
    CHECK(x.shape() == Shape{3, n, 4});
    check_values(matmul(as, x), bs.to_vector<double>(), 1e-12);
    // A batch of vectors: b of a's shape without its last dim.
    const Tensor v = rand64({3, n});
    check_values(matmul(as, solve(as, v).unsqueeze(-1)).squeeze(-1), v.to_vector<double>(), 1e-12);
    // float32: solved in double, rounded once.
    const Tensor x32 = solve(as.to(kFloat32), bs.to(kFloat32));
    CHECK(x32.dtype() == kFloat32);
    check_values(x32, solve(as.to(kFloat32).to(kFloat64), bs.to(kFloat32).to(kFloat64)).to_vector<double>(),
                 1e-6);
  }
  // Batch dimensions broadcast: (2, 1, 3, 3) with (4, 3, 2) gives (2, 4, 3, 2).
  const Tensor ab = well_conditioned({2, 1, 3, 3}), bb = rand64({4, 3, 2});
  const Tensor xb = solve(ab, bb);
  CHECK(xb.shape() == Shape{2, 4, 3, 2});
  check_values(matmul(ab, xb), bb.expand({2, 4, 3, 2}).contiguous().to_vector<double>(), 1e-12);
  CHECK(solve(zeros({0, 3, 3}, kFloat64), zeros({0, 3, 1}, kFloat64)).shape() == Shape{0, 3, 1});
}

TEST_CASE("solve and inv: errors name the op, the shapes and the singular matrix") {
  const Tensor singular = tensor<double>({{1, 2}, {2, 4}});
  CHECK_THROWS_WITH_AS(solve(singular, tensor<double>({1, 1})), doctest::Contains("singular"), Error);
  CHECK_THROWS_WITH_AS(inv(stack({eye(2, -1, kFloat64), singular}, 0)),
                       doctest::Contains("inv: matrix 1 of the batch"), Error);
  CHECK_THROWS_WITH_AS(solve(zeros({2, 3}, kFloat64), zeros({2}, kFloat64)), doctest::Contains("square"),
                       Error);
  CHECK_THROWS_WITH_AS(solve(eye(3, -1, kFloat64), zeros({2, 1}, kFloat64)), doctest::Contains("3 rows"),
                       Error);
  CHECK_THROWS_WITH_AS(solve(eye(3, -1, kFloat64), zeros({3, 1}, kFloat32)), doctest::Contains("solve"),
                       Error);
  CHECK_THROWS_WITH_AS(inv(eye(3, -1, kInt64)), doctest::Contains("inv"), Error);
  CHECK_THROWS_WITH_AS(det(zeros({4}, kFloat64)), doctest::Contains("det"), Error);
}

TEST_CASE("inv: A A^-1 = I; a hand-worked inverse") {
  check_values(inv(tensor<double>({{4, 7}, {2, 6}})), {0.6, -0.7, -0.2, 0.4}, 1e-15);
  manual_seed(2);
  const Tensor a = well_conditioned({4, 6, 6});
  check_values(matmul(a, inv(a)), eye(6, -1, kFloat64).expand({4, 6, 6}).contiguous().to_vector<double>(),
               1e-13);
}

TEST_CASE("det and slogdet: hand-worked values, row swaps, singular and overflowing matrices") {
  check_values(det(tensor<double>({{1, 2}, {3, 4}})), {-2}, 1e-15);
  check_values(det(tensor<double>({{2, -3, 1}, {2, 0, -1}, {1, 4, 5}})), {49}, 1e-14);
  check_values(det(tensor<double>({{0, 1, 0}, {0, 0, 1}, {1, 0, 0}})), {1}, 0);  // a cycle: two swaps
  check_values(det(tensor<double>({{0, 1}, {1, 0}})), {-1}, 0);
  check_values(det(tensor<double>({{1, 2}, {2, 4}})), {0}, 0);
  CHECK(det(zeros({2, 0, 0}, kFloat64)).to_vector<double>() == std::vector<double>{1, 1});  // empty product
  // det of the batch against the product of the diagonal of a triangular batch.
  manual_seed(3);
  const Tensor t = triu(rand64({5, 4, 4}));
  check_values(det(t), prod(diagonal(t, 0, -2, -1), -1).to_vector<double>(), 1e-14);
  // 1e200 on the diagonal of a 3 x 3: det overflows to inf, log |det| is 600 log 10.
  const Tensor huge = eye(3, -1, kFloat64) * -1e200;
  check_values(det(huge), {-INFINITY}, 0);
  const auto s = slogdet(huge);
  check_values(s.sign, {-1}, 0);
  check_values(s.logabsdet, {600 * std::log(10.0)}, 1e-15);
  const auto z = slogdet(tensor<double>({{1, 2}, {2, 4}}));
  check_values(z.sign, {0}, 0);
  check_values(z.logabsdet, {-INFINITY}, 0);
}

TEST_CASE("solve, inv, det, solve_triangular and cholesky of large matrices: the blocked factorisations") {
  // From 128 on the CPU factors in panels of 48 columns with GEMM updates: sizes across
  // and between panel edges, against residuals and a determinant known by construction.
  manual_seed(33);
  for (const std::int64_t n : {128, 200, 241}) {
    CAPTURE(n);
    const Tensor a = randn({n, n}, kFloat64);  // not diagonally dominant: pivoting matters
    const Tensor b = randn({n, 3}, kFloat64);
    const Tensor x = solve(a, b);
    CHECK(max(abs(matmul(a, x) - b)).item() < 1e-9 * (1 + max(abs(b)).item()) * static_cast<double>(n));
    CHECK(max(abs(matmul(a, inv(a)) - eye(n, -1, kFloat64))).item() < 1e-9 * static_cast<double>(n));
    // det(L0 U0) = the product of U0's diagonal, L0 unit lower, U0 upper with entries near 1.
    const Tensor l0 = tril(randn({n, n}, kFloat64) * 0.1, -1) + eye(n, -1, kFloat64);
    const Tensor diag = rand({n}, kFloat64) * 0.2 + 0.9;
    const Tensor u0 = triu(randn({n, n}, kFloat64) * 0.1, 1) + kiln::diag(diag);
    const double expected = sum(log(diag)).item();
    CHECK(slogdet(matmul(l0, u0)).logabsdet.item() == doctest::Approx(expected).epsilon(1e-10));
    CHECK(slogdet(matmul(l0, u0)).sign.item() == 1.0);
    // Triangular solves of the same sizes, by blocks of rows too.
    // Off-diagonal entries of about 1/n: a unit triangle of N(0, 1) entries would be
    // hopelessly ill-conditioned at these sizes.
    const Tensor t = a / static_cast<double>(n) + eye(n, -1, kFloat64);
    for (const bool upper : {false, true})
      for (const bool unit : {false, true}) {
        CAPTURE(upper);
        CAPTURE(unit);
        const Tensor tri =
            (upper ? triu(t) : tril(t)) * (unit ? 1.0 - eye(n, -1, kFloat64) : ones({n, n}, kFloat64)) +
            (unit ? eye(n, -1, kFloat64) : zeros({n, n}, kFloat64));
        const Tensor y = solve_triangular(t, b, upper, true, unit);
        CHECK(max(abs(matmul(tri, y) - b)).item() < 1e-10 * static_cast<double>(n));
      }
    // float32 in, factored in float64 all the same.
    CHECK(max(abs(matmul(a, solve(a.to(kFloat32), b.to(kFloat32)).to(kFloat64)) - b)).item() < 1e-3);
  }
  // cholesky by panels: L L^T = A from A's lower triangle alone, L lower; the first block
  // that is not positive definite named.
  for (const std::int64_t n : {128, 203}) {
    CAPTURE(n);
    const Tensor half = randn({n, n}, kFloat64);
    const Tensor spd = matmul(half, half.t()) + eye(n, -1, kFloat64) * static_cast<double>(n);
    const Tensor junk_above = tril(spd) + triu(randn({n, n}, kFloat64) * 100.0, 1);
    const Tensor l = cholesky(junk_above);
    CHECK(max(abs(matmul(l, l.t()) - spd)).item() < 1e-11 * static_cast<double>(n) * max(abs(spd)).item());
    CHECK(max(abs(triu(l, 1))).item() == 0.0);
    CHECK(min(diagonal(l)).item() > 0.0);
    std::vector<double> dent(static_cast<std::size_t>(n), 0.0);
    dent[100] = 1e9;  // a negative pivot at 100, in the third panel
    CHECK_THROWS_WITH_AS(cholesky(spd - kiln::diag(from_vector(dent))),
                         doctest::Contains("its leading 101 x 101"), Error);
  }
  // A zero column stays exactly zero through the updates: singular.
  Tensor z = randn({150, 150}, kFloat64);
  z = z * (arange(150, kInt64) != 70).to(kFloat64);
  CHECK_THROWS_WITH_AS(solve(z, randn({150, 1}, kFloat64)), doctest::Contains("pivot 70"), Error);
  CHECK(det(z).item() == 0.0);
}

TEST_CASE("cholesky: a hand-worked factor, upper, the upper part never read, errors") {
  const Tensor a = tensor<double>({{4, 12, -16}, {12, 37, -43}, {-16, -43, 98}});
  check_values(cholesky(a), {2, 0, 0, 6, 1, 0, -8, 5, 3}, 1e-15);
  check_values(cholesky(a, true), {2, 6, -8, 0, 1, 5, 0, 0, 3}, 1e-15);
  check_values(cholesky(tril(a)), {2, 0, 0, 6, 1, 0, -8, 5, 3}, 1e-15);  // only the lower triangle counts
  manual_seed(4);
  const Tensor x = rand64({3, 5, 5});
  const Tensor spd = matmul(x, x.transpose(-2, -1)) + eye(5, -1, kFloat64);
  const Tensor l = cholesky(spd);
  check_values(matmul(l, l.transpose(-2, -1)), spd.to_vector<double>(), 1e-13);
  check_values(l, tril(l).to_vector<double>(), 0);
  CHECK_THROWS_WITH_AS(cholesky(tensor<double>({{1, 2}, {2, 1}})),
                       doctest::Contains("leading 2 x 2 block is not"), Error);
  CHECK_THROWS_WITH_AS(cholesky(tensor<double>({{-1, 0}, {0, 1}})),
                       doctest::Contains("not positive definite"), Error);
}

TEST_CASE("solve_triangular: lower, upper, unit diagonal, from the right, against solve") {
  manual_seed(5);
  const Tensor a = well_conditioned({2, 4, 4}), b = rand64({2, 4, 3}), c = rand64({2, 3, 4});
  for (const bool upper : {false, true})
    for (const bool unit : {false, true}) {
      INFO("upper " << upper << ", unit " << unit);
      Tensor t = upper ? triu(a) : tril(a);
      if (unit) t = where(eye(4, -1, kFloat64) > 0.5, 1.0, t);
      check_values(solve_triangular(a, b, upper, true, unit), solve(t, b).to_vector<double>(), 1e-13);
      check_values(
          solve_triangular(a, c, upper, false, unit),
          solve(t.transpose(-2, -1), c.transpose(-2, -1)).transpose(-2, -1).contiguous().to_vector<double>(),
          1e-13);
    }
}

TEST_CASE("gradcheck: solve, inv, det, slogdet, cholesky, solve_triangular") {
  manual_seed(6);
  KILN_CHECK_GRAD([](const In& in) { return solve(in[0], in[1]); },
                  {well_conditioned({3, 3}), rand64({3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return solve(in[0], in[1]); },
                  {well_conditioned({2, 1, 3, 3}), rand64({2, 3, 1})});
  KILN_CHECK_GRAD([](const In& in) { return solve(in[0], in[1]); }, {well_conditioned({4, 4}), rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return inv(in[0]); }, {well_conditioned({2, 3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return det(in[0]); }, {rand64({2, 3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return slogdet(in[0]).logabsdet; }, {rand64({2, 4, 4})});
  // cholesky reads A as symmetric: check it through A = X X^T + n I, whose entries move together.
  KILN_CHECK_GRAD(
      [](const In& in) {
        return cholesky(matmul(in[0], in[0].transpose(-2, -1)) + eye(4, -1, kFloat64) * 4.0);
      },
      {rand64({2, 4, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return cholesky(matmul(in[0], in[0].transpose(-2, -1)) + eye(3, -1, kFloat64) * 3.0, true);
      },
      {rand64({3, 3})});
  for (const bool upper : {false, true})
    for (const bool left : {false, true})
      for (const bool unit : {false, true}) {
        INFO("upper " << upper << ", left " << left << ", unit " << unit);
        KILN_CHECK_GRAD([=](const In& in) { return solve_triangular(in[0], in[1], upper, left, unit); },
                        {well_conditioned({2, 3, 3}), rand64(left ? Shape{3, 2} : Shape{2, 3})});
      }
}

TEST_CASE("gradgradcheck: solve, inv, det, slogdet, cholesky, solve_triangular") {
  // While a walk records, each rule is written in the others (solve, inv, solve_triangular),
  // recorded: derivatives of every order.
  manual_seed(7);
  KILN_CHECK_GRADGRAD([](const In& in) { return solve(in[0], in[1]); },
                      {well_conditioned({2, 1, 3, 3}), rand64({2, 3, 2})});
  KILN_CHECK_GRADGRAD([](const In& in) { return solve(in[0], in[1]); },
                      {well_conditioned({3, 3}), rand64({3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return inv(in[0]); }, {well_conditioned({2, 3, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return det(in[0]); }, {well_conditioned({2, 3, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return slogdet(in[0]).logabsdet; }, {well_conditioned({2, 3, 3})});
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        return cholesky(matmul(in[0], in[0].transpose(-2, -1)) + eye(3, -1, kFloat64) * 3.0, true);
      },
      {rand64({2, 3, 3})});
  for (const bool upper : {false, true})
    for (const bool left : {false, true}) {
      INFO("upper " << upper << ", left " << left);
      KILN_CHECK_GRADGRAD([=](const In& in) { return solve_triangular(in[0], in[1], upper, left, !left); },
                          {well_conditioned({3, 3}), rand64(left ? Shape{3, 2} : Shape{2, 3})});
    }
  // A Gaussian's log-likelihood in its covariance, as a Gaussian process's marginal
  // likelihood is: its Hessian-vector products need these second derivatives.
  const Tensor y = rand64({3, 1});
  KILN_CHECK_GRADGRAD(
      [y](const In& in) {
        const Tensor k = matmul(in[0], in[0].transpose(-2, -1)) + eye(3, -1, kFloat64);
        const Tensor l = cholesky(k);
        const Tensor alpha = solve_triangular(l, y, false);
        return sum(alpha * alpha) * 0.5 + slogdet(k).logabsdet * 0.5;
      },
      {rand64({3, 3})});
}
