// matmul against a naive triple loop, for every argument rank and layout.
#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;

namespace {
// out[i][j] = sum_k a[i][k] b[k][j] for 2-D a, b (any strides).
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const std::int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  std::vector<double> out(m * n, 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t q = 0; q < k; ++q)
        s += a.select(0, i).select(0, q).item() * b.select(0, q).select(0, j).item();
      out[i * n + j] = s;
    }
  return from_vector(out, {m, n});
}
}  // namespace

TEST_CASE("2-D matmul matches the definition, float32 and float64") {
  manual_seed(7);
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor a = randn({5, 7}, dt), b = randn({7, 3}, dt);
    const Tensor c = matmul(a, b);
    CHECK(c.dtype() == dt);
    check_same(c, naive_matmul(a, b), dt == kFloat32 ? 1e-5 : 1e-12);
  }
}

TEST_CASE("transposed and strided operands need no copies and stay correct") {
  manual_seed(8);
  const Tensor a = randn({6, 4}), b = randn({5, 6});
  check_same(matmul(a.t(), b.t()), naive_matmul(a.t(), b.t()), 1e-5);
  const Tensor big = randn({10, 12});
  const Tensor sub = big.slice(0, 1, 7).slice(1, 2, 6);  // (6, 4) inside a wider row
  check_same(matmul(sub.t(), sub), naive_matmul(sub.t(), sub), 1e-5);
  const Tensor stepped = big.slice(1, 0, 12, 3);  // column stride 3: copied first
  check_same(matmul(stepped.t(), big), naive_matmul(stepped.t(), big), 1e-5);
}

TEST_CASE("1-D arguments and batches broadcast like numpy.matmul") {
  manual_seed(9);
  const Tensor v = randn({4}), w = randn({4}), m = randn({4, 3});
  CHECK(matmul(v, w).dim() == 0);
  CHECK(matmul(v, w).item() == doctest::Approx(sum(v * w).item()).epsilon(1e-5));
  CHECK(matmul(v, m).shape() == Shape{3});
  check_same(matmul(v, m), naive_matmul(v.reshape({1, 4}), m).reshape({3}), 1e-5);
  CHECK(matmul(m.t(), v).shape() == Shape{3});
  const Tensor batch = randn({2, 3, 5, 4});
  const Tensor out = matmul(batch, m);  // (2, 3, 5, 4) x (4, 3)
  CHECK(out.shape() == Shape{2, 3, 5, 3});
  check_same(out.select(0, 1).select(0, 2), naive_matmul(batch.select(0, 1).select(0, 2), m), 1e-5);
  const Tensor left = randn({3, 1, 2, 4}), right = randn({5, 4, 2});
  CHECK(matmul(left, right).shape() == Shape{3, 5, 2, 2});
  check_same(matmul(left, right).select(0, 2).select(0, 4),
             naive_matmul(left.select(0, 2).select(0, 0), right.select(0, 4)), 1e-5);
  CHECK(matmul(zeros({2, 0}), zeros({0, 3})).shape() == Shape{2, 3});
  check_values(matmul(ones({2, 0}), ones({0, 2})), {0, 0, 0, 0});
}

TEST_CASE("matmul rejects mismatched shapes with a message naming them") {
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 4}), zeros({5, 6})),
                       "matmul: shapes (3, 4) and (5, 6) cannot be multiplied: inner dimensions 4 and 5 differ",
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})), doctest::Contains("(2) and (3)"), Error);
  CHECK_THROWS_AS(matmul(scalar_tensor(1.0), zeros({2})), Error);
  CHECK_THROWS_WITH_AS(matmul(arange(4).reshape({2, 2}), arange(4).reshape({2, 2})),
                       doctest::Contains("floating"), Error);
}
