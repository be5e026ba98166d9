// Reductions and softmax: values, dims, keepdim, ties, edge cases.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;

TEST_CASE("sum and mean over chosen dims, with keepdim") {
  const Tensor a = arange(0.0, 24.0, 1.0).reshape({2, 3, 4});
  CHECK(sum(a).item() == 276);
  CHECK(sum(a).dim() == 0);
  check_values(sum(a, {0}), {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
  check_values(sum(a, {2}), {6, 22, 38, 54, 70, 86});
  check_values(sum(a, {0, 2}), {60, 92, 124});  // non-adjacent dims
  CHECK(sum(a, {1}, true).shape() == Shape{2, 1, 4});
  CHECK(sum(a, {-1}).shape() == Shape{2, 3});
  check_values(mean(a, {1, 2}), {5.5, 17.5});
  check_values(sum(a.transpose(0, 2), {0}), {6, 54, 22, 70, 38, 86});  // (3, 2): [j][i] = sum_k a[i][j][k]
  check_values(sum(arange(10)), {45});
  CHECK(sum(arange(10)).dtype() == kInt64);
  CHECK(sum(ones({300}, kUInt8)).item() == 300);  // no uint8 wrap-around
  CHECK(sum(ones({3}, kInt32)).dtype() == kInt64);
  check_values(sum(zeros({0, 3}), {0}), {0, 0, 0});
  CHECK_THROWS_AS(sum(a, {0, 0}), Error);
  CHECK_THROWS_AS(sum(a, {3}), Error);
}

TEST_CASE("long sums split across threads stay accurate") {
  const Tensor ones_big = ones({3000000});
  CHECK(sum(ones_big).item() == 3000000.0);
  manual_seed(4);
  const Tensor x = randn({1000003}, kFloat64);
  double ref = 0;
  for (double v : x.to_vector<double>()) ref += v;
  CHECK(std::abs(sum(x).item() - ref) < 1e-9);
}

TEST_CASE("var and std use Bessel's correction by default") {
  const Tensor x = tensor<double>({{1, 2, 3, 4}, {2, 4, 6, 8}});
  check_values(var(x, {1}), {5.0 / 3, 20.0 / 3}, 1e-12);
  check_values(var(x, {1}, false, 0), {1.25, 5}, 1e-12);
  check_values(kiln::std(x, {1}), {std::sqrt(5.0 / 3), std::sqrt(20.0 / 3)}, 1e-12);
  CHECK(var(x).item() == doctest::Approx(37.5 / 7));  // mean 3.75, squared deviations sum to 37.5
}

TEST_CASE("std: gradient (x - mean) / ((n - correction) std), 0 where a slice's elements are all equal") {
  // Row 0 is constant (std 0: gradient 0, as PyTorch, not the 0 / 0 of sqrt's slope at 0);
  // row 1 has mean 2.5 and, with correction 0, std sqrt(1.25).
  const Tensor x = tensor<double>({{3, 3, 3, 3}, {1, 2, 3, 4}}).requires_grad_();
  const Tensor s = kiln::std(x, {1}, false, 0);
  check_values(s, {0, std::sqrt(1.25)}, 1e-12);
  s.backward(tensor<double>({1, 2}));
  const double k = 2 / (4 * std::sqrt(1.25));
  check_values(x.grad(), {0, 0, 0, 0, -1.5 * k, -0.5 * k, 0.5 * k, 1.5 * k}, 1e-12);
  // One element per slice with correction 1: no spread to estimate, NaN value and gradient.
  const Tensor y = tensor<double>({2, 5}).reshape({2, 1}).requires_grad_();
  const Tensor t = kiln::std(y, {1});
  CHECK(std::isnan(t.to_vector<double>()[0]));
  sum(t).backward();
  CHECK(std::isnan(y.grad().to_vector<double>()[0]));
}

TEST_CASE("any and all: over every element or chosen dims, NaN counting as nonzero") {
  const Tensor x = tensor<float>({{0, 0, 0}, {0, 2, NAN}, {1, 1, -1}});
  CHECK(any(x).dtype() == kUInt8);
  CHECK(any(x).item() == 1);
  CHECK(all(x).item() == 0);
  CHECK(any(x, {1}).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1});
  CHECK(all(x, {1}).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 0, 1});
  CHECK(all(x, {0}, true).shape() == Shape{1, 3});
  CHECK(all(x, {0}, true).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 0, 0});
  CHECK(all(tensor<float>({NAN})).item() == 1);
  // Empty reductions: any false, all true; integer and mask inputs.
  CHECK(any(zeros({0})).item() == 0);
  CHECK(all(zeros({0})).item() == 1);
  CHECK(all(tensor<std::int64_t>({3, -1})).item() == 1);
  CHECK(any(x > 1.5).item() == 1);
  CHECK(all(x > -2.0).item() == 0);  // NaN > -2 is false
  CHECK_THROWS_WITH_AS(any(Tensor()), doctest::Contains("any: the tensor is undefined"), Error);
}

TEST_CASE("max and min return values and first indices") {
  const Tensor a = tensor<float>({{1, 5, 5, 2}, {7, 0, 7, -1}});
  const auto mx = max(a, 1);
  check_values(mx.values, {5, 7});
  check_values(mx.indices, {1, 0});
  CHECK(mx.indices.dtype() == kInt64);
  const auto mn = min(a, 0, true);
  CHECK(mn.values.shape() == Shape{1, 4});
  check_values(mn.values, {1, 0, 5, -1});
  check_values(mn.indices, {0, 1, 0, 1});
  check_values(argmax(a, -1), {1, 0});
  check_values(argmin(a, 1), {0, 3});
  CHECK(max(a).item() == 7);
  CHECK(min(a).item() == -1);
  check_values(max(tensor<float>({1, NAN, 3}), 0).indices, {1});
  CHECK_THROWS_WITH_AS(max(zeros({2, 0}), 1), doctest::Contains("empty"), Error);
}

TEST_CASE("logsumexp is stable for large inputs") {
  const Tensor x = tensor<double>({{1000, 1000}, {-1, 2}});
  check_values(logsumexp(x, {1}), {1000 + std::log(2.0), std::log(std::exp(-1.0) + std::exp(2.0))}, 1e-12);
  CHECK(logsumexp(x, {0, 1}).item() == doctest::Approx(1000 + std::log(2.0)));
  check_values(logsumexp(tensor<double>({-INFINITY, -INFINITY}), {0}), {-INFINITY});
  // Over an empty dimension: -inf (log of an empty sum), as PyTorch; the gradient is empty.
  Tensor empty_rows = zeros({3, 0}, kFloat64).requires_grad_();
  const Tensor lse = logsumexp(empty_rows, {1});
  check_values(lse, {-INFINITY, -INFINITY, -INFINITY});
  sum(lse).backward();
  CHECK(empty_rows.grad().shape() == Shape{3, 0});
  CHECK(logsumexp(zeros({0, 2}), {0}, true).shape() == Shape{1, 2});
}

TEST_CASE("softmax and log_softmax along any dim") {
  manual_seed(5);
  const Tensor x = randn({4, 5, 6}, kFloat64);
  for (std::int64_t d = 0; d < 3; ++d) {
    const Tensor s = softmax(x, d);
    check_values(sum(s, {d}), std::vector<double>(s.numel() / s.size(d), 1.0), 1e-12);
    check_same(log_softmax(x, d), log(s), 1e-12);
    check_same(log_softmax(x, d), sub(x, logsumexp(x, {d}, true)), 1e-12);
  }
  check_values(softmax(tensor<float>({1000, 1000}), 0), {0.5, 0.5});
}

TEST_CASE("log_softmax and cross_entropy keep their precision for logits far from 0") {
  // (x - max) - log(sum) in that order: max + log(sum) first would round log(sum) to the
  // float ulp of the max (6e-5 at 700: the result was off by 3e-5) or, in float64 at 1e300,
  // lose it entirely. Rows of 8, 19 and 40 reach the vector kernels' main loops and tails.
  for (const std::int64_t len : {2, 8, 19, 40}) {
    for (const double big : {700.0, -3000.0, 1e6}) {
      CAPTURE(len);
      CAPTURE(big);
      std::vector<double> row(static_cast<std::size_t>(len), big - 50);  // e^-50: nothing next to e^0
      row[0] = row[1] = big;
      const Tensor x = from_vector(row, {1, len}).to(kFloat32);
      const std::vector<float> lp = log_softmax(x, 1).to_vector<float>();
      CHECK(lp[0] == doctest::Approx(-std::log(2.0)).epsilon(1e-6));
      CHECK(lp[1] == doctest::Approx(-std::log(2.0)).epsilon(1e-6));
      CHECK(cross_entropy(x, tensor<std::int64_t>({1})).item() ==
            doctest::Approx(std::log(2.0)).epsilon(1e-6));
    }
  }
  const std::vector<double> huge = log_softmax(tensor<double>({1e300, 1e300, 0}), 0).to_vector<double>();
  CHECK(huge[0] == doctest::Approx(-std::log(2.0)).epsilon(1e-15));
  CHECK(huge[2] == doctest::Approx(-1e300));
}

TEST_CASE("cumsum: running sums along any dimension, integers as int64") {
  const Tensor a = arange(0.0, 24.0, 1.0).reshape({2, 3, 4});
  // A plain triple loop is the definition.
  for (std::int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    std::vector<double> want(24);
    const std::vector<double> x = a.to_vector<double>();
    const std::int64_t sizes[3] = {2, 3, 4}, strides[3] = {12, 4, 1};
    for (std::int64_t i = 0; i < 24; ++i) {
      const std::int64_t j = (i / strides[dim]) % sizes[dim];
      for (std::int64_t k = 0; k <= j; ++k) want[i] += x[i - (j - k) * strides[dim]];
    }
    check_values(cumsum(a, dim), want, 0);
    check_values(cumsum(a, dim - 3), want, 0);  // negative dims count from the end
  }
  check_values(cumsum(a.transpose(0, 2), 0).contiguous().transpose(0, 2), cumsum(a, 2).to_vector<double>(), 0);
  const Tensor counts = tensor<std::uint8_t>({200, 100, 7});  // would wrap in uint8
  CHECK(cumsum(counts, 0).dtype() == kInt64);
  check_values(cumsum(counts, 0), {200, 300, 307}, 0);
  CHECK(cumsum(tensor<std::int32_t>({-1, 5}), 0).dtype() == kInt64);
  // Float sums run in double: 2^24 + 1 + 1 is exact there, and 2^24 + 2 is a float.
  CHECK(cumsum(tensor<float>({16777216.0f, 1, 1}), 0).to_vector<float>()[2] == 16777218.0f);
  CHECK(cumsum(zeros({3, 0}), 1).shape() == Shape{3, 0});
  CHECK_THROWS_WITH_AS(cumsum(scalar_tensor(1.0), 0), doctest::Contains("0-d"), Error);
  CHECK_THROWS_WITH_AS(cumsum(a, 3), doctest::Contains("cumsum"), Error);
}

TEST_CASE("prod: products over every element or along a dimension, zeros with their true gradient") {
  const Tensor a = tensor<double>({{1, 2, 3}, {4, 5, -6}});
  check_values(prod(a), {-720}, 0);
  CHECK(prod(a).dim() == 0);
  check_values(prod(a, 0), {4, 10, -18}, 0);
  check_values(prod(a, 1), {6, -120}, 0);
  check_values(prod(a, -1, true), {6, -120}, 0);
  CHECK(prod(a, -1, true).shape() == Shape{2, 1});
  check_values(prod(a.t(), 0), {6, -120}, 0);       // a strided view
  check_values(prod(zeros({2, 0}), 1), {1, 1}, 0);  // the empty product
  check_values(prod(scalar_tensor(2.5)), {2.5}, 0);
  // Integers multiply as int64: 1000^4 does not fit in int32.
  const Tensor big = tensor<std::int32_t>({1000, 1000, 1000, 1000});
  CHECK(prod(big).dtype() == kInt64);
  CHECK(prod(big).item<std::int64_t>() == 1000000000000LL);
  // Floats multiply in double: 2^-80 2^-80 2^100 2^60 is 1, though its running product
  // passes 2^-160, which a float cannot hold (it would flush the result to 0).
  const Tensor tiny_then_huge = tensor<float>(
      {std::ldexp(1.0f, -80), std::ldexp(1.0f, -80), std::ldexp(1.0f, 100), std::ldexp(1.0f, 60)});
  CHECK(prod(tiny_then_huge).item<float>() == 1.0f);
  // Long rows are multiplied in slices, several rows side by side, along the last dim
  // or down the first: each result matches a plain loop (ints exactly), 1, 2 or 3 rows.
  manual_seed(3);
  const Tensor factors = exp(randn({3, 100003}, kFloat64) * 0.01);
  const std::vector<double> fv = factors.to_vector<double>();
  const Tensor signs = randint(0, 2, {3, 100003}) * 2 - 1;
  const std::vector<std::int64_t> sv = signs.to_vector<std::int64_t>();
  for (std::int64_t rows : {1, 2, 3}) {
    const Tensor along = prod(factors.narrow(0, 0, rows), 1), down = prod(factors.narrow(0, 0, rows).t(), 0);
    const std::vector<double> along_v = along.to_vector<double>(), down_v = down.to_vector<double>();
    const std::vector<std::int64_t> exact = prod(signs.narrow(0, 0, rows), 1).to_vector<std::int64_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
      double want = 1;
      std::int64_t sign = 1;
      for (std::int64_t j = 0; j < 100003; ++j) {
        want *= fv[static_cast<std::size_t>(r * 100003 + j)];
        sign *= sv[static_cast<std::size_t>(r * 100003 + j)];
      }
      CHECK(along_v[static_cast<std::size_t>(r)] == doctest::Approx(want).epsilon(1e-12));
      CHECK(down_v[static_cast<std::size_t>(r)] == doctest::Approx(want).epsilon(1e-12));
      CHECK(exact[static_cast<std::size_t>(r)] == sign);
    }
  }
  // Gradients: the product of the other elements, also where some are 0.
  const Tensor x = tensor<double>({{2, 0, 3}, {0, 4, 0}, {1, 2, 3}}).requires_grad_();
  sum(prod(x, 1)).backward();
  check_values(x.grad(), {0, 6, 0, 0, 0, 0, 6, 3, 2}, 0);
  CHECK_THROWS_WITH_AS(prod(scalar_tensor(1.0), 0),
                       "prod: a 0-d tensor has no dimension 0; prod(x) multiplies every element", Error);
  CHECK_THROWS_WITH_AS(prod(a, 2), doctest::Contains("prod"), Error);
}

TEST_CASE("norm and normalize: p-norms over dims, a zero gradient at a zero norm") {
  const Tensor x = tensor<double>({{3, -4, 0}, {0, 0, 0}});
  check_values(norm(x), {5}, 1e-15);
  check_values(norm(x, 2, {1}), {5, 0}, 1e-15);
  check_values(norm(x, 1, {1}, true), {7, 0}, 0);
  CHECK(norm(x, 1, {1}, true).shape() == Shape{2, 1});
  check_values(norm(x, INFINITY, {1}), {4, 0}, 0);
  check_values(norm(x, INFINITY), {4}, 0);
  check_values(norm(x, 3, {0}), {3, 4, 0}, 1e-14);
  check_values(norm(tensor<double>({1, 2, 2}), 3), {std::cbrt(17.0)}, 1e-14);
  check_values(normalize(x), {0.6, -0.8, 0, 0, 0, 0}, 1e-15);  // the zero row stays 0
  check_values(normalize(x, 1, 0), {1, -1, 0, 0, 0, 0}, 0);
  for (double p : {1.0, 2.0, 3.0, double(INFINITY)}) {  // the zero row's gradient is 0, not NaN
    const Tensor w = x.clone().requires_grad_();
    sum(norm(w, p, {1})).backward();
    const std::vector<double> gr = w.grad().to_vector<double>();
    for (int i = 3; i < 6; ++i) CHECK(gr[i] == 0);
  }
  CHECK_THROWS_WITH_AS(norm(x, 0.5), doctest::Contains("at least 1"), Error);
  using In = std::vector<Tensor>;
  manual_seed(32);
  for (double p : {1.0, 2.0, 3.0, 1.5})
    KILN_CHECK_GRAD([p](const In& in) { return norm(in[0], p, {1}); }, {randn({3, 4}, kFloat64)});
  KILN_CHECK_GRAD([](const In& in) { return norm(in[0], INFINITY, {0}); }, {randn({3, 4}, kFloat64)});
  KILN_CHECK_GRAD([](const In& in) { return normalize(in[0]); }, {randn({3, 4}, kFloat64)});
}

TEST_CASE("norm with p = 2: one pass over trailing dims, against sums of squares in double") {
  // Trailing dims (rows of the sumsq kernel, a long single row in chunks), dims elsewhere
  // (the sum of products), a transposed input, empty rows; float32 and float64.
  manual_seed(33);
  struct Case {
    Shape shape;
    Dims dims;
    bool transpose;
  };
  for (const Case& c :
       {Case{{7, 37}, {1}, false}, Case{{3, 5, 16}, {1, 2}, false}, Case{{200001}, {}, false},
        Case{{4, 300, 300}, {}, false}, Case{{9, 6}, {1}, true}, Case{{5, 0}, {1}, false},
        Case{{6, 4, 3}, {0}, false}, Case{{6, 4, 3}, {0, 1}, false}, Case{{2, 70000}, {1}, false}}) {
    for (DType dtype : {kFloat32, kFloat64}) {
      INFO(fmt(c.shape) << " dtype " << dtype_name(dtype) << (c.transpose ? " transposed" : ""));
      Tensor x = randn(c.shape, kFloat64);
      if (c.transpose) x = x.t();
      const Tensor got = norm(x.to(dtype), 2, c.dims, true).to(kFloat64);
      const Tensor want = sqrt(sum(x.to(dtype).to(kFloat64) * x.to(dtype).to(kFloat64), c.dims, true));
      REQUIRE(got.shape() == want.shape());
      kiln::test::check_values(got, want.to_vector<double>(), dtype == kFloat32 ? 1e-5 : 1e-13);
    }
  }
}

TEST_CASE("sort and argsort: stable, NaN ranked above numbers, along any dimension") {
  using I = std::vector<std::int64_t>;
  const float nan = NAN;
  const Tensor x = tensor<float>({{3, nan, 1, 4, 1, -2}, {0, 5, 5, nan, nan, -1}});
  const auto up = sort(x);
  CHECK(up.indices.to_vector<std::int64_t>() == I{5, 2, 4, 0, 3, 1, 5, 0, 1, 2, 3, 4});
  check_values(up.values, {-2, 1, 1, 3, 4, NAN, -1, 0, 5, 5, NAN, NAN});
  const auto down = sort(x, 1, true);  // NaN first; equal values keep their order
  CHECK(down.indices.to_vector<std::int64_t>() == I{1, 3, 0, 2, 4, 5, 3, 4, 1, 2, 0, 5});
  CHECK(argsort(x, -1, true).to_vector<std::int64_t>() == down.indices.to_vector<std::int64_t>());
  // Along dim 0, and against std::stable_sort on random data with many ties.
  CHECK(argsort(x, 0).to_vector<std::int64_t>() == I{1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1});
  manual_seed(31);
  const Tensor r = (randn({7, 300}) * 3.0).to(kInt64).to(kFloat64);
  const std::vector<double> rv = r.to_vector<double>();
  const std::vector<std::int64_t> got = argsort(r, 1).to_vector<std::int64_t>();
  for (std::int64_t row = 0; row < 7; ++row) {
    std::vector<std::int64_t> want(300);
    std::iota(want.begin(), want.end(), 0);
    std::stable_sort(want.begin(), want.end(), [&](std::int64_t a, std::int64_t b) {
      return rv[row * 300 + a] < rv[row * 300 + b];
    });
    CHECK(std::equal(want.begin(), want.end(), got.begin() + row * 300));
  }
  CHECK(sort(tensor<std::int64_t>({3, -1, 2})).values.to_vector<std::int64_t>() == I{-1, 2, 3});
  CHECK(sort(zeros({2, 0})).indices.shape() == Shape{2, 0});
  CHECK_THROWS_WITH_AS(sort(scalar_tensor(1.0)), doctest::Contains("0-d"), Error);
  using In = std::vector<Tensor>;
  KILN_CHECK_GRAD([](const In& in) { return sort(in[0], 0, true).values; }, {randn({4, 3}, kFloat64)});
}

TEST_CASE("sort and topk: float32 rows (sorted as integer keys) rank as float64 rows (compared) do") {
  // NaNs of both signs, -0 and +0 (equal: the lower position first), infinities, the
  // smallest and largest floats, and many ties; both directions, whole sorts and topk.
  manual_seed(37);
  std::vector<float> v = round(randn({5, 257}) * 2.0).to_vector<float>();
  const float specials[] = {NAN, -NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 1e-45f, -1e-45f, 3.4e38f, -3.4e38f};
  for (std::size_t i = 0; i < v.size(); i += 7) v[i] = specials[i / 7 % 10];
  const Tensor x = from_vector(v, {5, 257});
  for (const bool descending : {false, true}) {
    INFO("descending " << descending);
    CHECK(argsort(x, 1, descending).to_vector<std::int64_t>() ==
          argsort(x.to(kFloat64), 1, descending).to_vector<std::int64_t>());
    CHECK(topk(x, 9, 1, descending).indices.to_vector<std::int64_t>() ==
          topk(x.to(kFloat64), 9, 1, descending).indices.to_vector<std::int64_t>());
    CHECK(argsort(x, 0, descending).to_vector<std::int64_t>() ==
          argsort(x.to(kFloat64), 0, descending).to_vector<std::int64_t>());
  }
}

TEST_CASE("topk: the k best along a dimension, NaN above numbers, ties to the lower position") {
  using I = std::vector<std::int64_t>;
  const Tensor x = tensor<float>({{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}});
  const auto [values, indices] = topk(x, 3);
  check_values(values, {5, 4, 3, 9, 6, 5});
  CHECK(indices.to_vector<std::int64_t>() == I{4, 2, 0, 0, 2, 3});
  const auto smallest = topk(x, 2, 1, false);  // the two 1s of row 0: position 1 first
  check_values(smallest.values, {1, 1, 2, 3});
  CHECK(smallest.indices.to_vector<std::int64_t>() == I{1, 3, 1, 4});
  const auto down = topk(x, 1, 0);  // along dimension 0: 5 vs 3 in the last column
  CHECK(down.indices.shape() == Shape{1, 5});
  CHECK(down.indices.to_vector<std::int64_t>() == I{1, 1, 1, 1, 0});
  const Tensor nan = tensor<double>({1, NAN, 3, NAN});
  CHECK(topk(nan, 3).indices.to_vector<std::int64_t>() == I{1, 3, 2});
  CHECK(topk(nan, 2, 0, false).indices.to_vector<std::int64_t>() == I{0, 2});
  CHECK(topk(tensor<std::int64_t>({5, 7, 7}), 2).indices.to_vector<std::int64_t>() == I{1, 2});
  CHECK(topk(x, 0).values.shape() == Shape{2, 0});
  // k = the whole dimension: a full descending sort of random rows.
  const Tensor r = randn({20, 33});
  const auto sorted = topk(r, 33);
  const auto s = sorted.values.to_vector<float>();
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    if ((i + 1) % 33 != 0) CHECK(s[i] >= s[i + 1]);
  check_same(sum(sorted.values, {1}), sum(r, {1}), 1e-5);
  CHECK_THROWS_WITH_AS(topk(x, 6),
                       "topk: k = 6 is outside [0, 5], the size of dimension 1 of shape (2, 5)", Error);
  // The values' gradient goes to the picked positions.
  using In = std::vector<Tensor>;
  KILN_CHECK_GRAD([](const In& in) { return topk(in[0], 2, 0).values; }, {randn({4, 3}, kFloat64)});
  KILN_CHECK_GRAD([](const In& in) { return topk(in[0], 3, 1, false).values; }, {randn({2, 5}, kFloat64)});
}

TEST_CASE("kthvalue, median and quantile: by hand, NaN, keepdim, gradients") {
  using In = std::vector<Tensor>;
  const Tensor x = tensor<double>({{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}});
  const ValuesIndices second = kthvalue(x, 2, 1);
  check_values(second.values, {1, 3});
  check_values(second.indices, {3, 4});  // of the equal 1s, the later one ranks second
  const ValuesIndices mid = median(x, 1);
  check_values(mid.values, {3, 5});
  check_values(mid.indices, {0, 3});
  check_values(median(tensor<double>({4, 1, 3, 2}), 0).values, {2});  // the lower of the middle two
  CHECK(median(x, 1, true).values.shape() == Shape{2, 1});
  const Tensor with_nan = tensor<double>({{1, std::nan(""), 2, std::nan("")}});
  CHECK(std::isnan(median(with_nan, 1).values.item()));
  CHECK(median(with_nan, 1).indices.item() == 1.0);  // its first NaN
  check_values(quantile(tensor<double>({1, 2, 3, 4}), 0.5), {2.5});
  check_values(quantile(tensor<double>({10, 0, 20, 30}), 0.25), {7.5});  // sorted 0 10 20 30, at 0.75
  check_values(quantile(x, 1.0, 1), {5, 9});
  check_values(quantile(x, 0.0, 0, true), {3, 1, 4, 1, 3});
  CHECK(quantile(x, 0.3, 0, true).shape() == Shape{1, 5});
  CHECK(quantile(x, 0.3, std::nullopt, true).shape() == Shape{1, 1});
  CHECK(std::isnan(quantile(with_nan, 0.1).item()));
  manual_seed(96);
  KILN_CHECK_GRAD([](const In& in) { return kthvalue(in[0], 2, 0).values; }, {kiln::test::rand64({4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return median(in[0], -1).values; }, {kiln::test::rand64({3, 5})});
  KILN_CHECK_GRAD([](const In& in) { return quantile(in[0], 0.3, 1); }, {kiln::test::rand64({3, 6})});
  CHECK_THROWS_WITH_AS(kthvalue(x, 6, 1),
                       doctest::Contains("k = 6 is out of range for dimension 1 of size 5"), Error);
  CHECK_THROWS_WITH_AS(quantile(x, 1.5, 1), doctest::Contains("q = 1.5 must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(median(zeros({2, 0}), 1), doctest::Contains("is empty; there is no median"), Error);
}

TEST_CASE("quantile's interpolations, levels as a tensor, and nanquantile: by hand, NaN, gradients") {
  using In = std::vector<Tensor>;
  using QI = QuantileInterpolation;
  const double nan = std::nan("");
  // Sorted 0 10 20 30: q = 0.4 reads place 1.2, q = 0.5 place 1.5.
  const Tensor x = tensor<double>({10, 0, 20, 30});
  check_values(quantile(x, 0.4, 0, false, QI::linear), {12});
  check_values(quantile(x, 0.4, 0, false, QI::lower), {10});
  check_values(quantile(x, 0.4, 0, false, QI::higher), {20});
  check_values(quantile(x, 0.4, 0, false, QI::midpoint), {15});
  check_values(quantile(x, 0.4, 0, false, QI::nearest), {10});
  check_values(quantile(x, 0.5, 0, false, QI::nearest), {20});                       // 1.5: the even place, 2
  check_values(quantile(tensor<double>({10, 0}), 0.5, 0, false, QI::nearest), {0});  // 0.5: place 0
  check_values(quantile(x, 0.0, 0, false, QI::midpoint), {0});                       // a whole place
  // Several levels: one leading dimension, a quantile per level.
  const Tensor m = tensor<double>({{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}});
  const Tensor levels = tensor<double>({0, 0.5, 1});
  const Tensor per_level = quantile(m, levels, 1);
  CHECK(per_level.shape() == Shape{3, 2});
  check_values(per_level, {1, 2, 3, 5, 5, 9});
  CHECK(quantile(m, levels, 1, true).shape() == Shape{3, 2, 1});
  CHECK(quantile(m, levels, std::nullopt, true).shape() == Shape{3, 1, 1});
  CHECK(quantile(m, zeros({0}, kFloat64), 1).shape() == Shape{0, 2});  // no levels, no quantiles
  CHECK(nanquantile(m, zeros({0}, kFloat64), std::nullopt, true).shape() == Shape{0, 1, 1});
  check_values(quantile(m, levels), {1, 3.5, 9});
  CHECK(quantile(m, scalar_tensor(0.5, kFloat64), 1).shape() == Shape{2});  // a 0-d q: no leading dimension
  check_values(quantile(m.to(kFloat32), levels.to(kFloat32), 0, false, QI::higher),
               {3, 1, 4, 1, 3, 9, 2, 6, 5, 5, 9, 2, 6, 5, 5});
  // nanquantile reads each line's numbers alone; a line of NaN gives NaN.
  const Tensor with_nan = tensor<double>({{nan, 3, 1, nan, 2}, {nan, nan, nan, nan, nan}, {4, 1, 2, 3, 5}});
  check_values(nanquantile(with_nan, 0.75, 1), {2.5, nan, 4});  // 1 2 3 at place 1.5
  check_values(quantile(with_nan, 0.75, 1), {nan, nan, 4});
  check_values(nanquantile(with_nan, levels, 1, false, QI::lower), {1, nan, 1, 2, nan, 3, 3, nan, 5});
  check_values(nanquantile(with_nan, 0.5), {2.5});  // 1 1 2 2 3 3 4 5 at place 3.5
  // The gradient goes to the entries read, never to a NaN beside them.
  const Tensor leaf = with_nan.narrow(0, 0, 1).detach().requires_grad_(true);
  sum(nanquantile(leaf, 0.75, 1)).backward();
  check_values(leaf.grad(), {0, 0.5, 0, 0, 0.5});
  manual_seed(97);
  for (const QI how : {QI::linear, QI::lower, QI::higher, QI::midpoint, QI::nearest}) {
    CAPTURE(static_cast<int>(how));
    KILN_CHECK_GRAD(
        [how](const In& in) {
          return quantile(in[0], tensor<double>({0.1, 0.45, 0.9}), 1, false, how);
        },
        {kiln::test::rand64({3, 7})});
    KILN_CHECK_GRAD([how](const In& in) { return nanquantile(in[0], 0.3, 0, true, how); },
                    {kiln::test::rand64({6, 2})});
  }
  CHECK_THROWS_WITH_AS(quantile(m, tensor<double>({0.5, 1.25}), 1),
                       doctest::Contains("q = 1.25 must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(nanquantile(m, tensor<double>({{0.5}}), 1),
                       doctest::Contains("nanquantile: q must be a number, a 0-d or a 1-D tensor"), Error);
  CHECK_THROWS_WITH_AS(quantile(m, tensor<std::int64_t>({0}), 1),
                       doctest::Contains("q must be a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(nanquantile(m.to(kInt64), 0.5, 1), doctest::Contains("nanquantile"), Error);
  CHECK_THROWS_WITH_AS(nanquantile(zeros({2, 0}), 0.5, 1),
                       doctest::Contains("is empty; there is no quantile"), Error);
}

TEST_CASE("nanmedian, mode and the median of all entries: by hand, NaN, ties, gradients") {
  using In = std::vector<Tensor>;
  const double nan = std::nan("");
  const Tensor x = tensor<double>({{3, nan, 1, 4, nan}, {nan, nan, nan, nan, nan}, {2, 8, 5, 1, 9}});
  const ValuesIndices m = nanmedian(x, 1);
  check_values(m.values, {3, nan, 5});  // the numbers 1 3 4 give 3; all NaN gives NaN
  check_values(m.indices, {0, 0, 2});
  CHECK(nanmedian(x, 1, true).values.shape() == Shape{3, 1});
  check_values(nanmedian(tensor<double>({nan, 4, 1, 3, 2})), {2});  // the lower of the middle two
  check_values(median(tensor<double>({{4, 1}, {3, 2}})), {2});
  CHECK(std::isnan(median(x).item()));

  const Tensor y = tensor<double>({{1, 3, 3, 1, 2}, {7, 7, 7, 0, 0}, {5, 4, 6, 2, 8}});
  const ValuesIndices md = mode(y, 1);
  check_values(md.values, {1, 7, 2});   // 1 and 3 twice each: the smaller; all distinct: the smallest
  check_values(md.indices, {3, 2, 3});  // the value's last position
  check_values(mode(y, 0).values, {1, 3, 3, 0, 0});
  check_values(mode(y, 0, true).indices, {0, 0, 0, 1, 1});
  check_values(mode(tensor<double>({nan, nan, 2})).values, {2});  // each NaN stands alone
  manual_seed(97);
  KILN_CHECK_GRAD([](const In& in) { return nanmedian(in[0], 0).values; }, {kiln::test::rand64({5, 3})});
  // Distinct entries: the mode is each line's smallest, its gradient a gather.
  KILN_CHECK_GRAD([](const In& in) { return mode(in[0], 1).values; }, {kiln::test::rand64({3, 6})});
  CHECK_THROWS_WITH_AS(mode(zeros({2, 0}), 1), doctest::Contains("is empty; there is no mode"), Error);
  CHECK_THROWS_WITH_AS(nanmedian(zeros({}), 0), doctest::Contains("not a 0-d one"), Error);
}

TEST_CASE("amax, amin, nansum, nanmean, count_nonzero") {
  const Tensor x = tensor<double>({{1, 5, 5}, {-2, -2, 0}});
  check_values(amax(x), {5}, 0);
  check_values(amax(x, {1}), {5, 0}, 0);
  check_values(amin(x, {0}, true), {-2, -2, 0}, 0);
  CHECK(amin(x, {0}, true).shape() == Shape{1, 3});
  // The gradient is split evenly among tied extremes (max(x, dim) gives it to the first).
  const Tensor xg = x.clone().requires_grad_();
  sum(amax(xg, {1}) + amin(xg, {1})).backward();
  check_values(xg.grad(), {1, 0.5, 0.5, 0.5, 0.5, 1}, 0);
  // NaN wins; an infinite extreme passes no gradient; an empty slice is an error.
  check_values(amax(tensor<double>({1, NAN, 3})), {NAN}, 0);
  const Tensor inf = tensor<double>({INFINITY, 1}).requires_grad_();
  amax(inf).backward();
  check_values(inf.grad(), {0, 0}, 0);
  CHECK_THROWS_WITH_AS(amax(zeros({2, 0}), {1}),
                       doctest::Contains("amax: dimension 1 of shape (2, 0) is empty"), Error);

  const Tensor n = tensor<double>({{1, NAN, 2}, {NAN, NAN, NAN}});
  check_values(nansum(n, {1}), {3, 0}, 0);
  check_values(nanmean(n, {1}), {1.5, NAN}, 0);
  check_values(nansum(n), {3}, 0);
  const Tensor ng = n.clone().requires_grad_();
  sum(nanmean(ng, {1})).backward();
  check_values(ng.grad(), {0.5, 0, 0.5, 0, 0, 0}, 0);
  CHECK(count_nonzero(n).item() == 6);  // NaN counts as nonzero
  CHECK(count_nonzero(x, {1}).dtype() == kInt64);
  check_values(count_nonzero(x, {1}), {3, 2}, 0);

  using In = std::vector<Tensor>;
  using kiln::test::rand64;
  manual_seed(98);
  KILN_CHECK_GRAD([](const In& in) { return amax(in[0], {0, 2}); }, {rand64({3, 2, 4})});
  KILN_CHECK_GRAD([](const In& in) { return amin(in[0], {1}, true); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return nanmean(in[0], {1}); }, {rand64({3, 4})});
}
