// searchsorted, bucketize, bincount, histc, unique and unique_consecutive: hand-worked cases (ties, NaN,
// empty inputs, rows of sequences), against loops over their definitions, and errors.
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;

TEST_CASE("searchsorted and bucketize: left and right of equal entries, NaN last, rows") {
  const Tensor seq = tensor<double>({1, 3, 3, 5, NAN});
  const Tensor v = tensor<double>({0, 1, 3, 4, 5, 6, NAN});
  CHECK(searchsorted(seq, v).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 1, 3, 3, 4, 4});
  CHECK(searchsorted(seq, v, true).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 1, 3, 3, 4, 4, 5});
  // Values of any shape against a 1-D sequence; integers too.
  const Tensor grid = tensor<std::int64_t>({{2, 7}, {-1, 4}});
  CHECK(searchsorted(tensor<std::int64_t>({0, 2, 4, 6}), grid).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{1, 4, 0, 2});
  CHECK(searchsorted(tensor<std::int64_t>({0, 2, 4, 6}), grid).shape() == Shape{2, 2});
  // A row of the sequence per row of values.
  const Tensor rows = tensor<float>({{0, 1, 2}, {10, 20, 30}});
  CHECK(searchsorted(rows, tensor<float>({{1.5f, 5}, {15, 35}})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{2, 3, 1, 3});
  // Against a count on random data.
  manual_seed(1);
  const Tensor s = sort(randint(0, 20, {50}).to(kFloat32)).values, x = randint(-2, 23, {200}).to(kFloat32);
  const std::vector<float> sv = s.to_vector<float>(), xv = x.to_vector<float>();
  for (const bool right : {false, true}) {
    const std::vector<std::int64_t> got = searchsorted(s, x, right).to_vector<std::int64_t>();
    for (std::size_t i = 0; i < xv.size(); ++i) {
      std::int64_t want = 0;
      for (float e : sv) want += right ? e <= xv[i] : e < xv[i];
      CHECK(got[i] == want);
    }
  }
  CHECK(bucketize(tensor<double>({0.5, 1, 2.5}), tensor<double>({1, 2}), false).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 2});
  CHECK(bucketize(tensor<double>({0.5, 1, 2.5}), tensor<double>({1, 2}), true).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 1, 2});
  CHECK(searchsorted(seq, zeros({0}, kFloat64)).shape() == Shape{0});
  CHECK_THROWS_WITH_AS(searchsorted(rows, tensor<float>({1, 2})), doctest::Contains("leading dims"), Error);
  CHECK_THROWS_WITH_AS(searchsorted(seq, tensor<float>({1})), doctest::Contains("searchsorted"), Error);
}

TEST_CASE("bincount: counts, weights (differentiable), minlength, errors") {
  const Tensor x = tensor<std::int64_t>({1, 3, 1, 0, 3, 3});
  CHECK(bincount(x).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 0, 3});
  CHECK(bincount(x, Tensor(), 6).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 0, 3, 0, 0});
  CHECK(bincount(zeros({0}, kInt64), Tensor(), 2).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0});
  const Tensor w = tensor<double>({0.5, 1, 2, 4, 8, 16}).requires_grad_(true);
  const Tensor counts = bincount(x, w);
  check_values(counts, {4, 2.5, 0, 25}, 0);
  sum(counts * tensor<double>({1, 10, 100, 1000})).backward();
  check_values(w.grad(), {10, 1000, 10, 1, 1000, 1000}, 0);
  CHECK_THROWS_WITH_AS(bincount(tensor<std::int64_t>({1, -2})), doctest::Contains("non-negative"), Error);
  CHECK_THROWS_WITH_AS(bincount(tensor<double>({1})), doctest::Contains("integers"), Error);
}

TEST_CASE("histc: equal bins, the top edge in the last bin, entries outside left out") {
  const Tensor x = tensor<float>({0, 0.5f, 1, 1.9f, 2, 2.5f, -1, NAN});
  check_values(histc(x, 4, 0, 2), {1, 1, 1, 2}, 0);  // [0, .5) [.5, 1) [1, 1.5) [1.5, 2]
  CHECK(histc(x, 4, 0, 2).dtype() == kFloat32);
  // min = max = 0: x's own range, [-1, 2.5] in 7 bins of 0.5 (NaN left out).
  check_values(histc(tensor<double>({-1, 0, 0.4, 2.5}), 7), {1, 0, 2, 0, 0, 0, 1}, 0);
  check_values(histc(tensor<double>({3, 3}), 2), {0, 2}, 0);  // one value: [2, 4]
  CHECK_THROWS_WITH_AS(histc(x, 0), doctest::Contains("bins"), Error);
}

TEST_CASE("unique: sorted distinct values, the inverse of x's shape, counts, NaN distinct") {
  const Tensor x = tensor<double>({{3, 1, 3}, {2, 1, 3}});
  const Unique u = unique(x);
  check_values(u.values, {1, 2, 3}, 0);
  CHECK(u.inverse.shape() == Shape{2, 3});
  CHECK(u.inverse.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 0, 2, 1, 0, 2});
  CHECK(u.counts.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 1, 3});
  const Unique n = unique(tensor<float>({NAN, 1, NAN}));
  CHECK(n.values.numel() == 3);  // 1, NaN, NaN
  CHECK(n.counts.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1});
  CHECK(n.inverse.to_vector<std::int64_t>()[1] == 0);
  // Values at their inverse give x back, on random integers.
  manual_seed(2);
  const Tensor r = randint(0, 9, {40});
  const Unique ur = unique(r);
  CHECK(index_select(ur.values, 0, ur.inverse).to_vector<std::int64_t>() == r.to_vector<std::int64_t>());
  CHECK(sum(ur.counts).item<std::int64_t>() == 40);
  CHECK(unique(zeros({0}, kInt64)).values.numel() == 0);
}

TEST_CASE("unique_consecutive: runs of equal neighbours, in order") {
  const Tensor x = tensor<double>({{1, 1, 2, 2}, {3, 1, 1, 2}});
  const Unique u = unique_consecutive(x);
  check_values(u.values, {1, 2, 3, 1, 2}, 0);
  CHECK(u.inverse.shape() == Shape{2, 4});
  CHECK(u.inverse.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 1, 1, 2, 3, 3, 4});
  CHECK(u.counts.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 2, 1, 2, 1});
  CHECK(unique_consecutive(tensor<float>({NAN, NAN, 1})).values.numel() == 3);  // each NaN its own run
  CHECK(unique_consecutive(zeros({0}, kInt64)).counts.numel() == 0);
  manual_seed(3);
  const Tensor r = randint(0, 3, {50});
  const Unique ur = unique_consecutive(r);
  CHECK(index_select(ur.values, 0, ur.inverse).to_vector<std::int64_t>() == r.to_vector<std::int64_t>());
}
