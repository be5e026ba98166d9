// logdet, matrix_power, matrix_exp, matrix_norm, cond, kron, tensordot, cross, cov and
// corrcoef: hand-worked values, identities on random inputs, float64 gradchecks, errors.
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
Tensor transposed(const Tensor& x) { return x.transpose(-2, -1); }
// Symmetric positive definite: X X^T + n I.
Tensor spd(const Tensor& x) {
  return matmul(x, transposed(x)) + eye(x.size(-1), -1, kFloat64) * static_cast<double>(x.size(-1));
}
}  // namespace

TEST_CASE("logdet and matrix_power") {
  check_values(logdet(tensor<double>({{2, 0}, {0, 3}})), {std::log(6.0)}, 1e-15);
  check_values(logdet(tensor<double>({{0, 1}, {1, 0}})), {NAN}, 0);        // det -1
  check_values(logdet(tensor<double>({{1, 2}, {2, 4}})), {-INFINITY}, 0);  // singular
  manual_seed(1);
  const Tensor a = rand64({2, 3, 3}) + eye(3, -1, kFloat64) * 3.0;
  check_values(matrix_power(a, 3), matmul(matmul(a, a), a).to_vector<double>(), 1e-13);
  check_values(matrix_power(a, 1), a.to_vector<double>(), 0);
  check_values(matrix_power(a, 0), eye(3, -1, kFloat64).expand({2, 3, 3}).contiguous().to_vector<double>(),
               0);
  check_values(matrix_power(a, -2), matmul(inv(a), inv(a)).to_vector<double>(), 1e-13);
  check_values(matrix_power(a, 13), matmul(matrix_power(a, 6), matrix_power(a, 7)).to_vector<double>(),
               1e-12);
  CHECK_THROWS_WITH_AS(matrix_power(zeros({2, 3}, kFloat64), 2), doctest::Contains("square"), Error);
}

TEST_CASE("matrix_exp: diagonal, rotation, nilpotent, large norms, exp(A) exp(-A) = I") {
  check_values(matrix_exp(tensor<double>({{1, 0}, {0, -2}})), {std::exp(1.0), 0, 0, std::exp(-2.0)}, 1e-15);
  const double t = 2.5;  // the generator of rotations: [[0, t], [-t, 0]] -> [[cos t, sin t], [-sin t, cos t]]
  check_values(matrix_exp(tensor<double>({{0, t}, {-t, 0}})),
               {std::cos(t), std::sin(t), -std::sin(t), std::cos(t)}, 1e-14);
  check_values(matrix_exp(tensor<double>({{0, 1}, {0, 0}})), {1, 1, 0, 1}, 0);
  // |A| = 40: 7 squarings; each entry keeps its relative precision.
  check_values(matrix_exp(tensor<double>({{20, 0}, {0, -20}})), {std::exp(20.0), 0, 0, std::exp(-20.0)},
               1e-13);
  manual_seed(2);
  const Tensor a = rand64({3, 4, 4});
  check_values(matmul(matrix_exp(a), matrix_exp(-a)),
               eye(4, -1, kFloat64).expand({3, 4, 4}).contiguous().to_vector<double>(), 1e-13);
  CHECK(matrix_exp(tensor<float>({{0.5f}})).item<float>() == doctest::Approx(std::exp(0.5)).epsilon(1e-7));
  CHECK_THROWS_WITH_AS(matrix_exp(tensor<double>({{NAN}})), doctest::Contains("NaN"), Error);
}

TEST_CASE("matrix_norm and cond: every order on a hand-worked matrix") {
  // [[1, -2], [3, 4]]: column sums of |a| 4 and 6, row sums 3 and 7; sigma^2 = 15 +- sqrt(125).
  const Tensor a = tensor<double>({{1, -2}, {3, 4}});
  const double s1 = std::sqrt(15 + std::sqrt(125.0)), s2 = std::sqrt(15 - std::sqrt(125.0));
  check_values(matrix_norm(a), {std::sqrt(30.0)}, 1e-15);
  check_values(matrix_norm(a, "nuc"), {std::sqrt(50.0)}, 1e-15);
  check_values(matrix_norm(a, 2.0), {s1}, 1e-15);
  check_values(matrix_norm(a, -2.0), {s2}, 1e-15);
  check_values(matrix_norm(a, 1.0), {6}, 0);
  check_values(matrix_norm(a, -1.0), {4}, 0);
  check_values(matrix_norm(a, INFINITY), {7}, 0);
  check_values(matrix_norm(a, -INFINITY), {3}, 0);
  check_values(cond(a), {s1 / s2}, 1e-14);
  check_values(cond(a, -2.0), {s2 / s1}, 1e-14);
  // inv(a) = [[4, 2], [-3, 1]] / 10: 1-norm 0.7, so cond_1 = 6 * 0.7.
  check_values(cond(a, 1.0), {4.2}, 1e-15);
  check_values(cond(a, "fro"), {std::sqrt(30.0) * std::sqrt(30.0) / 10}, 1e-15);
  CHECK_THROWS_WITH_AS(matrix_norm(a, "max"), doctest::Contains("\"fro\", \"nuc\""), Error);
  CHECK_THROWS_WITH_AS(matrix_norm(a, 3.0), doctest::Contains("1, -1, 2, -2"), Error);
}

TEST_CASE("kron, tensordot, cross") {
  check_values(kron(tensor<double>({{1, 2}, {3, 4}}), tensor<double>({{0, 1}, {1, 0}})),
               {0, 1, 0, 2, 1, 0, 2, 0, 0, 3, 0, 4, 3, 0, 4, 0}, 0);
  CHECK(kron(tensor<double>({1, 2}), ones({2, 3}, kFloat64)).shape() == Shape{2, 6});  // (1, 2) with (2, 3)
  check_values(kron(tensor<double>({1, 2}), tensor<double>({1, 10})), {1, 10, 2, 20}, 0);
  manual_seed(3);
  const Tensor a = rand64({2, 3, 4}), b = rand64({4, 3, 5});
  check_values(tensordot(a, b, {1, 2}, {1, 0}), einsum("ijk,kjl->il", {a, b}).to_vector<double>(), 1e-14);
  check_values(tensordot(a, b.permute({1, 0, 2}), 2),
               einsum("ijk,jkl->il", {a, b.permute({1, 0, 2})}).to_vector<double>(), 1e-14);
  CHECK(tensordot(a, b, 0).shape() == Shape{2, 3, 4, 4, 3, 5});
  CHECK_THROWS_WITH_AS(tensordot(a, b, {0}, {0}), doctest::Contains("differ"), Error);
  check_values(cross(tensor<double>({1, 0, 0}), tensor<double>({0, 1, 0})), {0, 0, 1}, 0);
  check_values(cross(tensor<double>({2, 3, 4}), tensor<double>({5, 6, 7})), {-3, 6, -3}, 0);
  // Along dim 0, b broadcasting across the columns.
  check_values(cross(tensor<double>({{1, 0}, {0, 1}, {0, 0}}), tensor<double>({{0}, {0}, {1}}), 0),
               {0, 1, -1, 0, 0, 0}, 0);
  CHECK_THROWS_WITH_AS(cross(rand64({4}), rand64({4})), doctest::Contains("not 3"), Error);
}

TEST_CASE("cov and corrcoef") {
  const Tensor x = tensor<double>({{0, 1, 2}, {2, 1, 0}});
  check_values(cov(x), {1, -1, -1, 1}, 1e-15);
  check_values(cov(x, 0), {2.0 / 3, -2.0 / 3, -2.0 / 3, 2.0 / 3}, 1e-15);
  check_values(corrcoef(x), {1, -1, -1, 1}, 1e-15);
  check_values(cov(tensor<double>({1, 2, 3, 4})), {5.0 / 3}, 1e-15);  // one variable: its variance
  manual_seed(4);
  const Tensor obs = rand64({3, 50});
  check_values(diagonal(cov(obs), 0, 0, 1), var(obs, {1}).to_vector<double>(), 1e-14);
  const std::vector<double> r = corrcoef(obs).to_vector<double>();
  for (double v : r) CHECK(std::abs(v) <= 1.0);
  CHECK_THROWS_WITH_AS(cov(rand64({2, 2, 2})), doctest::Contains("cov"), Error);
}

TEST_CASE(
    "gradcheck: logdet, matrix_power, matrix_exp, matrix_norm, cond, kron, tensordot, cross, cov, corrcoef") {
  manual_seed(5);
  KILN_CHECK_GRAD([](const In& in) { return logdet(spd(in[0])); }, {rand64({2, 3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return matrix_power(in[0], 3); }, {rand64({3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return matrix_power(spd(in[0]), -2); }, {rand64({3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return matrix_exp(in[0]); }, {rand64({2, 3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return matrix_exp(in[0] * 3.0); }, {rand64({3, 3})});  // with squarings
  KILN_CHECK_GRAD([](const In& in) { return matrix_norm(in[0]); }, {rand64({2, 3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return matrix_norm(in[0], "nuc"); }, {rand64({3, 4})});
  for (const double ord : {2.0, -2.0, 1.0, -1.0, double(INFINITY), -double(INFINITY)}) {
    INFO("ord " << ord);
    KILN_CHECK_GRAD([ord](const In& in) { return matrix_norm(in[0], ord); }, {rand64({4, 3})});
  }
  KILN_CHECK_GRAD([](const In& in) { return cond(in[0]); }, {rand64({4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return cond(spd(in[0]), 1.0); }, {rand64({3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return kron(in[0], in[1]); }, {rand64({2, 3}), rand64({3, 2})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return tensordot(in[0], in[1], {0, 2}, {2, 1});
      },
      {rand64({2, 3, 4}), rand64({5, 4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return cross(in[0], in[1], 1); }, {rand64({2, 3}), rand64({1, 3})});
  KILN_CHECK_GRAD([](const In& in) { return cov(in[0]); }, {rand64({3, 6})});
  KILN_CHECK_GRAD([](const In& in) { return corrcoef(in[0]); }, {rand64({3, 6})});
}
