// matmul against a naive triple loop, for every argument rank and layout.
#include "helpers.hpp"

#include <cmath>
#include <limits>

#include "src/ops/blas.hpp"

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

TEST_CASE("the GEMM entry point: beta = 0 never reads C, beta = 1 adds, and columns past n stay untouched") {
  // C(2, 3) inside rows of 5: the two extra columns of each row must keep their value.
  const std::vector<double> a = {1, 2, 3, 4};        // (2, 2)
  const std::vector<double> b = {1, 0, 2, 0, 1, 3};  // (2, 3)
  const std::vector<double> product = {1, 2, 8, 3, 4, 18};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double beta : {0.0, 1.0}) {
    CAPTURE(beta);
    std::vector<double> c(10, beta == 0 ? nan : 10.0);  // beta = 0: NaN in C must not leak
    c[3] = c[4] = c[8] = c[9] = -7;
    std::vector<float> cf(c.begin(), c.end());
    const std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
    detail::gemm(false, false, 2, 3, 2, 1.0, a.data(), 2, b.data(), 3, beta, c.data(), 5);
    detail::gemm(false, false, 2, 3, 2, 1.0f, af.data(), 2, bf.data(), 3, static_cast<float>(beta), cf.data(),
                 5);
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) {
        const double want = product[i * 3 + j] + (beta == 0 ? 0 : 10);
        CHECK(c[i * 5 + j] == want);
        CHECK(cf[i * 5 + j] == static_cast<float>(want));
      }
      for (int j = 3; j < 5; ++j) {
        CHECK(c[i * 5 + j] == -7);
        CHECK(cf[i * 5 + j] == -7);
      }
    }
  }
  std::vector<float> c(6, std::nanf(""));  // an empty product (k = 0) with beta = 0 is all zeros
  detail::gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, c.data(), 3);
  for (const float v : c) CHECK(v == 0);
}

// One row (m = 1) or one column (n = 1) goes to gemv; every layout must give what a plain
// loop gives. Small integers, alpha 1.5 and beta 0.5 keep every sum exact, so the
// comparison is exact; rows are padded (lda, ldb, ldc past their minimum) so a stride
// mix-up shows, and the padding of C must stay untouched.
template <class T>
void check_gemm_layouts() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  int value = 0;
  const auto next = [&] { return static_cast<T>((value++ * 5) % 7 - 3); };
  for (const std::int64_t m : {1, 3})
    for (const std::int64_t n : {1, 4})
      for (const std::int64_t k : {0, 1, 5})
        for (const bool ta : {false, true})
          for (const bool tb : {false, true})
            for (const T beta : {T(0), T(1), T(0.5)}) {
              CAPTURE(m);
              CAPTURE(n);
              CAPTURE(k);
              CAPTURE(ta);
              CAPTURE(tb);
              CAPTURE(beta);
              // A stored (m, k), or (k, m) when transposed; B (k, n) or (n, k); rows padded.
              const std::int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 2;
              std::vector<T> a(static_cast<std::size_t>((ta ? k : m) * lda + 1)),
                  b(static_cast<std::size_t>((tb ? n : k) * ldb + 1)), c(static_cast<std::size_t>(m * ldc));
              for (T& x : a) x = next();
              for (T& x : b) x = next();
              for (T& x : c) x = beta == T(0) ? nan : next();
              const std::vector<T> before = c;
              detail::gemm(ta, tb, m, n, k, T(1.5), a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
              for (std::int64_t i = 0; i < m; ++i) {
                for (std::int64_t j = 0; j < n; ++j) {
                  T want = beta == T(0) ? T(0) : beta * before[i * ldc + j];
                  for (std::int64_t q = 0; q < k; ++q)
                    want += T(1.5) * (ta ? a[q * lda + i] : a[i * lda + q]) *
                            (tb ? b[j * ldb + q] : b[q * ldb + j]);
                  CHECK(c[i * ldc + j] == want);
                }
                for (std::int64_t j = n; j < ldc; ++j)
                  CHECK((c[i * ldc + j] == before[i * ldc + j] ||
                         (std::isnan(c[i * ldc + j]) && beta == T(0))));
              }
            }
}

TEST_CASE("the GEMM entry point: one row or one column (a vector product) as every other shape") {
  check_gemm_layouts<float>();
  check_gemm_layouts<double>();
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

TEST_CASE("cdist: every pair's distance, the product path, batches, gradients") {
  using In = std::vector<Tensor>;
  check_values(cdist(tensor<double>({{0.0, 0.0}, {1.0, 1.0}}), tensor<double>({{3.0, 4.0}})),
               {5.0, std::sqrt(13.0)}, 1e-12);
  check_values(cdist(tensor<double>({{0.0, 0.0}}), tensor<double>({{3.0, -4.0}}), 1.0), {7.0});
  check_values(cdist(tensor<double>({{0.0, 0.0}}), tensor<double>({{3.0, -4.0}}),
                     std::numeric_limits<double>::infinity()),
               {4.0});
  manual_seed(98);
  // More than 25 rows: the product path, against the differences' norms.
  const Tensor a = kiln::test::rand64({2, 30, 4}), b = kiln::test::rand64({1, 7, 4});
  const Tensor direct = norm(a.unsqueeze(-2) - b.unsqueeze(-3), 2.0, {-1});
  CHECK(cdist(a, b).shape() == Shape{2, 30, 7});
  check_same(cdist(a, b), direct, 1e-12);
  // A point's distance to itself: 0 (1e-15 on the product path), with a zero gradient.
  Tensor self = kiln::test::rand64({27, 3}).requires_grad_();
  const Tensor d = cdist(self, self);
  CHECK(d[4][4].item() < 1e-7);
  sum(tril(triu(d))).backward();  // the diagonal alone
  check_values(self.grad(), std::vector<double>(81, 0.0));
  KILN_CHECK_GRAD([](const In& in) { return cdist(in[0], in[1], 3.0); },
                  {kiln::test::rand64({3, 2}), kiln::test::rand64({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return cdist(in[0], in[1]); },
                  {kiln::test::rand64({26, 2}), kiln::test::rand64({2, 2})});
  CHECK_THROWS_WITH_AS(cdist(kiln::test::rand64({3, 2}), kiln::test::rand64({3, 4})),
                       doctest::Contains("rows of the same length M"), Error);
}
