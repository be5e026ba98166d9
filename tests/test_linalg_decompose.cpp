// qr, eigh, eigvalsh and lstsq: hand-worked decompositions, the defining identities on random
// batches (Q R = A, Q^T Q = I, V diag(w) V^T = A), sign conventions, float64 gradchecks
// and errors.
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
Tensor transposed(const Tensor& x) { return x.transpose(-2, -1); }
std::vector<double> identity_batch(std::int64_t batch, std::int64_t n) {
  return eye(n, -1, kFloat64).expand({batch, n, n}).contiguous().to_vector<double>();
}
}  // namespace

TEST_CASE("qr: a hand-worked factorisation with LAPACK's signs") {
  const Tensor a = tensor<double>({{12, -51, 4}, {6, 167, -68}, {-4, 24, -41}});
  const QR f = qr(a);
  check_values(f.r, {-14, -21, 14, 0, -175, 70, 0, 0, -35}, 1e-14);
  check_values(
      f.q,
      {-6.0 / 7, 69.0 / 175, 58.0 / 175, -3.0 / 7, -158.0 / 175, -6.0 / 175, 2.0 / 7, -6.0 / 35, 33.0 / 35},
      1e-15);
  // An upper triangular matrix needs no reflection: Q = I, R = A.
  const Tensor t = tensor<double>({{-2, 1, 3}, {0, 4, 5}, {0, 0, -6}});
  check_values(qr(t).q, identity_batch(1, 3), 0);
  check_values(qr(t).r, t.to_vector<double>(), 0);
}

TEST_CASE("qr: Q R = A, orthonormal Q, upper triangular R, for tall, square and wide batches") {
  manual_seed(1);
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{6, 3}, {4, 4}, {3, 5}, {1, 1}, {5, 1}}) {
    const std::int64_t m = size.first, n = size.second;
    INFO(m << " x " << n);
    const Tensor a = rand64({2, m, n});
    const QR f = qr(a);
    const std::int64_t k = std::min(m, n);
    CHECK(f.q.shape() == Shape{2, m, k});
    CHECK(f.r.shape() == Shape{2, k, n});
    check_values(matmul(f.q, f.r), a.to_vector<double>(), 1e-14);
    check_values(matmul(transposed(f.q), f.q), identity_batch(2, k), 1e-14);
    check_values(f.r, triu(f.r).to_vector<double>(), 0);
    const QR g = qr(a.to(kFloat32));
    CHECK(g.q.dtype() == kFloat32);
    check_values(g.r, qr(a.to(kFloat32).to(kFloat64)).r.to_vector<double>(), 1e-6);
  }
  CHECK(qr(zeros({2, 3, 0}, kFloat64)).q.shape() == Shape{2, 3, 0});
  CHECK_THROWS_WITH_AS(qr(zeros({3}, kFloat64)), doctest::Contains("qr"), Error);
  CHECK_THROWS_WITH_AS(qr(zeros({3, 3}, kInt64)), doctest::Contains("qr"), Error);
}

TEST_CASE("eigh: hand-worked eigenpairs, ascending, signs fixed, only the lower triangle read") {
  const Eigh e = eigh(tensor<double>({{2, 1}, {1, 2}}));
  check_values(e.eigenvalues, {1, 3}, 1e-15);
  const double h = std::sqrt(0.5);
  check_values(e.eigenvectors, {h, h, -h, h}, 1e-15);  // columns (1, -1) / sqrt 2 and (1, 1) / sqrt 2
  // The upper triangle is never read: 99 there changes nothing.
  check_values(eigh(tensor<double>({{2, 99}, {1, 2}})).eigenvalues, {1, 3}, 1e-15);
  // A diagonal matrix: its entries, sorted, and the unit vectors.
  const Eigh d = eigh(tensor<double>({{3, 0, 0}, {0, -1, 0}, {0, 0, 2}}));
  check_values(d.eigenvalues, {-1, 2, 3}, 0);
  check_values(d.eigenvectors, {0, 0, 1, 1, 0, 0, 0, 1, 0}, 0);
  // Eigenvalues far apart in size keep their relative precision: diag(1e-12, 1) turned by 30 degrees.
  const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  const Tensor rot = tensor<double>({{c, -s}, {s, c}});
  const Tensor scaled = matmul(matmul(rot, tensor<double>({{1e-12, 0}, {0, 1}})), transposed(rot));
  const std::vector<double> w = eigvalsh(scaled).to_vector<double>();
  CHECK(w[0] == doctest::Approx(1e-12).epsilon(1e-3));
  CHECK(w[1] == doctest::Approx(1.0).epsilon(1e-15));
}

TEST_CASE("eigh: V diag(w) V^T = A and V^T V = I on random symmetric batches") {
  manual_seed(2);
  for (const std::int64_t n : {1, 2, 5, 12}) {
    INFO("n = " << n);
    const Tensor x = rand64({3, n, n});
    const Tensor a = x + transposed(x);
    const Eigh e = eigh(a);
    const Tensor w = e.eigenvalues, v = e.eigenvectors;
    check_values(matmul(v * w.unsqueeze(-2), transposed(v)), a.to_vector<double>(), 1e-13);
    check_values(matmul(transposed(v), v), identity_batch(3, n), 1e-13);
    const std::vector<double> wv = w.to_vector<double>();
    for (std::size_t i = 1; i < wv.size(); ++i)
      if (i % static_cast<std::size_t>(n) != 0) CHECK(wv[i - 1] <= wv[i]);
    // Each column's entry of largest magnitude is positive.
    const std::vector<double> vv = v.to_vector<double>();
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t col = 0; col < n; ++col) {
        double largest = 0;
        for (std::int64_t row = 0; row < n; ++row) {
          const double entry = vv[static_cast<std::size_t>((b * n + row) * n + col)];
          if (std::abs(entry) > std::abs(largest)) largest = entry;
        }
        CHECK(largest > 0);
      }
  }
  CHECK_THROWS_WITH_AS(eigh(zeros({2, 3}, kFloat64)), doctest::Contains("square"), Error);
}

TEST_CASE("lstsq: the least-squares solution, against the normal equations") {
  manual_seed(3);
  const Tensor a = rand64({2, 7, 3}), b = rand64({2, 7, 2});
  const Tensor x = lstsq(a, b);
  CHECK(x.shape() == Shape{2, 3, 2});
  const Tensor normal = solve(matmul(transposed(a), a), matmul(transposed(a), b));
  check_values(x, normal.to_vector<double>(), 1e-12);
  // A consistent system is solved exactly; a vector right-hand side stays a vector.
  const Tensor exact = tensor<double>({{1, 0}, {0, 1}, {1, 1}});
  check_values(lstsq(exact, tensor<double>({2, 3, 5})), {2, 3}, 1e-15);
  CHECK_THROWS_WITH_AS(lstsq(zeros({2, 3}, kFloat64), zeros({2}, kFloat64)), doctest::Contains("m >= n"),
                       Error);
  CHECK_THROWS_WITH_AS(lstsq(zeros({3, 2}, kFloat64), zeros({2}, kFloat64)), doctest::Contains("3 rows"),
                       Error);
}

TEST_CASE("gradcheck: qr, eigh, eigvalsh, lstsq") {
  manual_seed(4);
  for (const auto& shape : {Shape{4, 3}, Shape{3, 3}, Shape{2, 4}, Shape{2, 3, 2}}) {
    INFO("shape " << shape.size());
    KILN_CHECK_GRAD([](const In& in) { return qr(in[0]).q; }, {rand64(shape)});
    KILN_CHECK_GRAD([](const In& in) { return qr(in[0]).r; }, {rand64(shape)});
    KILN_CHECK_GRAD(
        [](const In& in) {
          const QR f = qr(in[0]);
          return cat({f.q.reshape({-1}), f.r.reshape({-1})}, 0);
        },
        {rand64(shape)});
  }
  // eigh reads A as symmetric: check it through X + X^T.
  KILN_CHECK_GRAD([](const In& in) { return eigh(in[0] + transposed(in[0])).eigenvalues; },
                  {rand64({2, 4, 4})});
  KILN_CHECK_GRAD([](const In& in) { return eigh(in[0] + transposed(in[0])).eigenvectors; },
                  {rand64({2, 4, 4})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        const Eigh e = eigh(in[0] + transposed(in[0]));
        return matmul(e.eigenvectors * e.eigenvalues.unsqueeze(-2),
                      transposed(sum(e.eigenvectors, {-2}, true)));
      },
      {rand64({3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return eigvalsh(in[0] + transposed(in[0])); }, {rand64({5, 5})});
  KILN_CHECK_GRAD([](const In& in) { return lstsq(in[0], in[1]); }, {rand64({5, 3}), rand64({5, 2})});
  KILN_CHECK_GRAD([](const In& in) { return lstsq(in[0], in[1]); }, {rand64({2, 4, 2}), rand64({4})});
}

TEST_CASE("svd: a hand-worked example, the defining identities, signs, rank-deficient and zero matrices") {
  // A^T A = [[25, 20], [20, 25]]: eigenvalues 45 and 5.
  check_values(svdvals(tensor<double>({{3, 0}, {4, 5}})), {std::sqrt(45.0), std::sqrt(5.0)}, 1e-15);
  manual_seed(5);
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{6, 3}, {4, 4}, {3, 5}, {1, 4}, {5, 1}}) {
    const std::int64_t m = size.first, n = size.second;
    INFO(m << " x " << n);
    const Tensor a = rand64({2, m, n});
    const SVD f = svd(a);
    const std::int64_t k = std::min(m, n);
    CHECK(f.u.shape() == Shape{2, m, k});
    CHECK(f.s.shape() == Shape{2, k});
    CHECK(f.vh.shape() == Shape{2, k, n});
    check_values(matmul(f.u * f.s.unsqueeze(-2), f.vh), a.to_vector<double>(), 1e-14);
    check_values(matmul(transposed(f.u), f.u), identity_batch(2, k), 1e-14);
    check_values(matmul(f.vh, transposed(f.vh)), identity_batch(2, k), 1e-14);
    const std::vector<double> sv = f.s.to_vector<double>(), uv = f.u.to_vector<double>();
    for (std::size_t i = 0; i < sv.size(); ++i) {
      CHECK(sv[i] >= 0);
      if (i % static_cast<std::size_t>(k) != 0) CHECK(sv[i - 1] >= sv[i]);
    }
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t col = 0; col < k; ++col) {  // U's entry of largest magnitude is positive
        double largest = 0;
        for (std::int64_t row = 0; row < m; ++row) {
          const double e = uv[static_cast<std::size_t>((b * m + row) * k + col)];
          if (std::abs(e) > std::abs(largest)) largest = e;
        }
        CHECK(largest > 0);
      }
  }
  // Rank 1, and 0: U's columns still orthonormal, completed from unit vectors.
  const Tensor rank_one = matmul(tensor<double>({{1}, {2}, {2}, {4}}), tensor<double>({{3, 0, -4}}));
  const SVD r = svd(rank_one);
  check_values(r.s, {25, 0, 0}, 1e-14);
  check_values(matmul(transposed(r.u), r.u), identity_batch(1, 3), 1e-14);
  check_values(matmul(r.u * r.s.unsqueeze(-2), r.vh), rank_one.to_vector<double>(), 1e-14);
  const SVD z = svd(zeros({3, 2}, kFloat64));
  check_values(z.s, {0, 0}, 0);
  check_values(matmul(transposed(z.u), z.u), identity_batch(1, 2), 0);
  CHECK(svd(rand64({3, 4}).to(kFloat32)).s.dtype() == kFloat32);
  CHECK_THROWS_WITH_AS(svd(zeros({3}, kFloat64)), doctest::Contains("svd"), Error);
}

TEST_CASE("pinv and matrix_rank") {
  manual_seed(6);
  const Tensor tall = rand64({2, 5, 3});
  check_values(pinv(tall), matmul(inv(matmul(transposed(tall), tall)), transposed(tall)).to_vector<double>(),
               1e-12);
  // Rank 2 of 4 x 4: the Moore-Penrose conditions.
  const Tensor a = matmul(rand64({4, 2}), rand64({2, 4}));
  const Tensor p = pinv(a);
  check_values(matmul(matmul(a, p), a), a.to_vector<double>(), 1e-12);
  check_values(matmul(matmul(p, a), p), p.to_vector<double>(), 1e-12);
  check_values(matmul(a, p), transposed(matmul(a, p)).contiguous().to_vector<double>(), 1e-12);
  check_values(matmul(p, a), transposed(matmul(p, a)).contiguous().to_vector<double>(), 1e-12);
  CHECK(matrix_rank(a).item<std::int64_t>() == 2);
  CHECK(matrix_rank(stack({eye(3, -1, kFloat64), zeros({3, 3}, kFloat64)}, 0)).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{3, 0});
  // A looser rtol drops the smaller singular value of diag(1, 1e-3).
  const Tensor d = tensor<double>({{1, 0}, {0, 1e-3}});
  CHECK(matrix_rank(d).item<std::int64_t>() == 2);
  CHECK(matrix_rank(d, 1e-2).item<std::int64_t>() == 1);
  check_values(pinv(d, 1e-2), {1, 0, 0, 0}, 0);
}

TEST_CASE("gradcheck: svd, svdvals, pinv") {
  manual_seed(7);
  for (const auto& shape : {Shape{4, 3}, Shape{3, 3}, Shape{2, 4}, Shape{2, 3, 2}}) {
    INFO("shape " << shape.size());
    KILN_CHECK_GRAD([](const In& in) { return svd(in[0]).u; }, {rand64(shape)});
    KILN_CHECK_GRAD([](const In& in) { return svd(in[0]).s; }, {rand64(shape)});
    KILN_CHECK_GRAD([](const In& in) { return svd(in[0]).vh; }, {rand64(shape)});
    KILN_CHECK_GRAD(
        [](const In& in) {
          const SVD f = svd(in[0]);
          return cat({f.u.reshape({-1}), f.s.reshape({-1}), f.vh.reshape({-1})}, 0);
        },
        {rand64(shape)});
  }
  KILN_CHECK_GRAD([](const In& in) { return svdvals(in[0]); }, {rand64({5, 5})});
  KILN_CHECK_GRAD([](const In& in) { return pinv(in[0]); }, {rand64({4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return pinv(in[0]); }, {rand64({2, 5})});
}

TEST_CASE("gradgradcheck: qr, eigh, svd, lstsq, pinv") {
  // While a walk records, each rule reads the graph's A decomposed again: any order.
  manual_seed(8);
  for (const auto& shape : {Shape{4, 3}, Shape{3, 3}, Shape{2, 4}}) {
    INFO("shape " << shape[0] << " x " << shape[1]);
    KILN_CHECK_GRADGRAD(
        [](const In& in) {
          const QR f = qr(in[0]);
          return cat({f.q.reshape({-1}), square(f.r).reshape({-1})}, 0);
        },
        {rand64(shape)});
    KILN_CHECK_GRADGRAD(
        [](const In& in) {
          const SVD f = svd(in[0]);
          return cat({f.u.reshape({-1}), square(f.s), f.vh.reshape({-1})}, 0);
        },
        {rand64(shape)});
  }
  KILN_CHECK_GRADGRAD(
      [](const In& in) {
        const Eigh e = eigh(in[0] + transposed(in[0]));
        return cat({square(e.eigenvalues).reshape({-1}), e.eigenvectors.reshape({-1})}, 0);
      },
      {rand64({2, 3, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return lstsq(in[0], in[1]); }, {rand64({4, 3}), rand64({4, 2})});
  KILN_CHECK_GRADGRAD([](const In& in) { return pinv(in[0]); }, {rand64({3, 2})});
}
