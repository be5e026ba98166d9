// lu_factor, lu_solve, lu_unpack, lu, cholesky_solve and cholesky_inverse (hand-worked
// factorisations, reconstructions of random batches, float64 gradchecks, errors);
// repeat_interleave and tile; isclose, allclose and equal.
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
Tensor well_conditioned(const Shape& shape) {
  const std::int64_t n = shape.back();
  return randn(shape, kFloat64) + eye(n, -1, kFloat64) * static_cast<double>(n);
}
// A symmetric positive definite batch.
Tensor spd(const Shape& shape) {
  const Tensor r = randn(shape, kFloat64);
  return matmul(r, r.transpose(-2, -1)) + eye(shape.back(), -1, kFloat64) * 0.5;
}
}  // namespace

TEST_CASE("lu_factor: LAPACK's pivots and packed factors, by hand and on random batches") {
  // Step 0 takes row 1 (|4| > |2|); then l = 2/4, and U's last entry 1 - 0.5 * 6 = -2.
  const Tensor a = tensor<double>({{2, 1}, {4, 6}});
  const LUFactorization f = lu_factor(a);
  CHECK(f.pivots.dtype() == kInt32);
  CHECK(f.pivots.to(kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 2});
  check_values(f.lu, {4, 6, 0.5, -2}, 0);
  const PLU plu = lu_unpack(f.lu, f.pivots);
  check_values(plu.p, {0, 1, 1, 0}, 0);
  check_values(plu.l, {1, 0, 0.5, 1}, 0);
  check_values(plu.u, {4, 6, 0, -2}, 0);

  manual_seed(11);
  for (std::int64_t n : {1, 3, 6}) {
    INFO("n = " << n);
    const Tensor as = randn({2, 3, n, n}, kFloat64);
    const PLU d = lu(as);
    check_same(matmul(d.p, matmul(d.l, d.u)), as, 1e-12);
    check_same(tril(d.u, -1), zeros({2, 3, n, n}, kFloat64), 0);
    check_same(diagonal(d.l, 0, -2, -1), ones({2, 3, n}, kFloat64), 0);
    // Partial pivoting keeps every multiplier within 1.
    CHECK(max(abs(d.l)).item<double>() <= 1.0);
    // Each P is a permutation: one 1 in every row and column.
    check_same(sum(d.p, {-1}), ones({2, 3, n}, kFloat64), 0);
    check_same(sum(d.p, {-2}), ones({2, 3, n}, kFloat64), 0);
    const Tensor b = rand64({3, n, 2});  // batches broadcast: (2, 3) with (3)
    const LUFactorization fa = lu_factor(as);
    check_same(lu_solve(fa.lu, fa.pivots, b), solve(as, b), 1e-9);
  }
  // A singular matrix factors too, with a 0 on U's diagonal.
  const LUFactorization s = lu_factor(tensor<double>({{1, 2}, {2, 4}}));
  CHECK(s.lu.to_vector<double>()[3] == 0.0);
}

TEST_CASE("lu_factor, lu_solve and lu: float64 gradchecks") {
  manual_seed(12);
  const Tensor a = well_conditioned({2, 4, 4});
  KILN_CHECK_GRAD([](const In& in) { return lu_factor(in[0]).lu; }, {a.clone().requires_grad_()});
  KILN_CHECK_GRAD([](const In& in) { return lu(in[0]).l * 2.0 + lu(in[0]).u; }, {a.clone().requires_grad_()});
  const LUFactorization f = lu_factor(a);
  KILN_CHECK_GRAD([&](const In& in) { return lu_solve(in[0], f.pivots, in[1]); },
                  {f.lu.clone().requires_grad_(), rand64({4, 3}).requires_grad_()});
  // Through both: the gradient of A^-1 B.
  KILN_CHECK_GRAD(
      [](const In& in) {
        const LUFactorization g = lu_factor(in[0]);
        return lu_solve(g.lu, g.pivots, in[1]);
      },
      {a.clone().requires_grad_(), rand64({2, 4, 2}).requires_grad_()});
  // Second derivatives through the factorisation and the solve.
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        const LUFactorization g = lu_factor(in[0]);
        return square(lu_solve(g.lu, g.pivots, in[1]));
      },
      {well_conditioned({3, 3}), rand64({3, 2})});
}

TEST_CASE("cholesky_solve and cholesky_inverse") {
  manual_seed(13);
  const Tensor a = spd({3, 5, 5});
  const Tensor b = rand64({3, 5, 2});
  const Tensor l = cholesky(a);
  check_same(cholesky_solve(b, l), solve(a, b), 1e-9);
  check_same(cholesky_solve(b, l.transpose(-2, -1).contiguous(), true), solve(a, b), 1e-9);
  check_same(cholesky_inverse(l), inv(a), 1e-9);
  check_same(cholesky_inverse(cholesky(a, true), true), inv(a), 1e-9);
  // Only the factor's triangle is read.
  check_same(cholesky_solve(b, l + triu(rand64({3, 5, 5}), 1)), solve(a, b), 1e-9);
  KILN_CHECK_GRAD([](const In& in) { return cholesky_solve(in[0], tril(in[1])); },
                  {b.clone().requires_grad_(), l.clone().requires_grad_()});
  KILN_CHECK_GRAD([](const In& in) { return cholesky_inverse(triu(in[0]), true); },
                  {cholesky(a, true).clone().requires_grad_()});
}

TEST_CASE("lu and cholesky solves refuse mismatched inputs") {
  const LUFactorization f = lu_factor(eye(3, -1, kFloat64));
  CHECK_THROWS_WITH_AS(lu_solve(f.lu, f.pivots, zeros({2, 1}, kFloat64)), doctest::Contains("needs 3 rows"),
                       Error);
  CHECK_THROWS_WITH_AS(lu_solve(f.lu, zeros({3}, kFloat64), zeros({3, 1}, kFloat64)),
                       doctest::Contains("pivots must be int32 (or int64) of shape (3)"), Error);
  CHECK_THROWS_WITH_AS(
      lu_solve(f.lu, from_vector(std::vector<std::int64_t>{1, 1, 3}, {3}), zeros({3, 1}, kFloat64)),
      doctest::Contains("pivot 1 at position 1 is out of range"), Error);
  CHECK_THROWS_WITH_AS(lu_factor(zeros({2, 3}, kFloat64)), doctest::Contains("lu_factor: needs square"),
                       Error);
  CHECK_THROWS_WITH_AS(cholesky_solve(zeros({2, 1}, kFloat64), eye(3, -1, kFloat64)),
                       doctest::Contains("cholesky_solve: the right-hand side of shape (2, 1) needs 3 rows"),
                       Error);
}

TEST_CASE("repeat_interleave and tile") {
  const Tensor x = tensor<double>({{1, 2}, {3, 4}});
  check_values(repeat_interleave(x, 2), {1, 1, 2, 2, 3, 3, 4, 4}, 0);
  CHECK(repeat_interleave(x, 2).shape() == Shape{8});
  check_values(repeat_interleave(x, 2, 0), {1, 2, 1, 2, 3, 4, 3, 4}, 0);
  check_values(repeat_interleave(x, from_vector(std::vector<std::int64_t>{1, 2}, {2}), 1), {1, 2, 2, 3, 4, 4},
               0);
  check_values(repeat_interleave(x, from_vector(std::vector<std::int64_t>{0, 3}, {2}), -2),
               {3, 4, 3, 4, 3, 4}, 0);
  CHECK(repeat_interleave(from_vector(std::vector<std::int64_t>{2, 0, 3}, {3})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 2, 2, 2});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return repeat_interleave(in[0], from_vector(std::vector<std::int64_t>{2, 0, 1}, {3}), 1);
      },
      {rand64({2, 3}).requires_grad_()});
  CHECK_THROWS_WITH_AS(repeat_interleave(x, from_vector(std::vector<std::int64_t>{1, 2, 3}, {3}), 0),
                       doctest::Contains("3 repeats for 2 slices along dim 0"), Error);
  CHECK_THROWS_WITH_AS(repeat_interleave(x, -1), doctest::Contains("repeats must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(repeat_interleave(x, x), doctest::Contains("a 0-d or 1-D int64 tensor"), Error);

  CHECK(tile(x, {2}).shape() == Shape{2, 4});
  check_values(tile(x, {2}), {1, 2, 1, 2, 3, 4, 3, 4}, 0);
  CHECK(tile(x, {2, 1, 1}).shape() == Shape{2, 2, 2});
  check_same(tile(x, {3, 2}), repeat(x, {3, 2}), 0);
}

TEST_CASE("isclose, allclose and equal") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const Tensor a = tensor<double>({1.0, 1.0, inf, -inf, nan, 0.0, 100.0});
  const Tensor b = tensor<double>({1.0 + 1e-9, 1.1, inf, inf, nan, 1e-9, 100.002});
  CHECK(isclose(a, b).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 1, 0, 0, 1, 0});
  CHECK(isclose(a, b, 1e-5, 1e-8, true).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{1, 0, 1, 0, 1, 1, 0});
  // The tolerance scales with b: |100 - 100.002| = 2e-3 is beyond 1e-8 + 1e-5 * 100.002, within 1e-4 *
  // 100.002.
  CHECK(isclose(a, b, 1e-4).to_vector<std::uint8_t>()[6] == 1);
  CHECK(isclose(tensor<double>({{1.0}, {2.0}}), tensor<double>({1.0, 2.0})).shape() == Shape{2, 2});
  CHECK(allclose(tensor<double>({1, 2}), tensor<double>({1, 2 + 1e-7})));
  CHECK_FALSE(allclose(tensor<double>({1, 2}), tensor<double>({1, 2.1})));
  CHECK_FALSE(allclose(a, a));  // NaN
  CHECK(allclose(a, a, 1e-5, 1e-8, true));
  CHECK(allclose(tensor<double>({1, 2}).to(kFloat32), tensor<double>({1, 2})));
  CHECK(equal(tensor<double>({1, 2}), tensor<double>({1, 2})));
  CHECK_FALSE(equal(tensor<double>({1, 2}), tensor<double>({{1, 2}})));
  CHECK_FALSE(equal(a, a));
  const Tensor ints = from_vector(std::vector<std::int64_t>{3, 4}, {2});
  CHECK(equal(ints, ints));
  CHECK_THROWS_WITH_AS(isclose(a, b, -1.0), doctest::Contains("rtol -1 and atol 1e-08 must be >= 0"), Error);
}
