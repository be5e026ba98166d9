// bernoulli, multinomial, poisson, normal and the *_like factories: for a fixed seed, the
// frequencies of many draws against the exact probabilities (chi-square statistics far
// below what a wrong distribution gives), the cases with a certain answer exactly, the
// shapes, dtypes and reproducibility, and the errors.
#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "helpers.hpp"

using namespace kiln;

namespace {

// Pearson's statistic of `counts` against `expected` (bins of expected count 0 must stay
// empty: a draw there is a failure of its own).
double chi_square(const std::vector<double>& counts, const std::vector<double>& expected) {
  double statistic = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) {
      CHECK(counts[i] == 0);
      continue;
    }
    statistic += (counts[i] - expected[i]) * (counts[i] - expected[i]) / expected[i];
  }
  return statistic;
}

// A bound that a chi-square variable of `df` degrees of freedom exceeds with a probability
// below 1e-5 (mean df, variance 2 df; 6 standard deviations and more for small df).
double chi_square_bound(double df) { return df + 6 * std::sqrt(2 * df) + 10; }

std::vector<double> column_counts(const std::vector<std::int64_t>& draws, std::int64_t classes) {
  std::vector<double> counts(static_cast<std::size_t>(classes), 0);
  for (std::int64_t d : draws) {
    REQUIRE((d >= 0 && d < classes));
    ++counts[static_cast<std::size_t>(d)];
  }
  return counts;
}

double poisson_pmf(double rate, std::int64_t k) {
  return std::exp(-rate + static_cast<double>(k) * std::log(rate) - std::lgamma(static_cast<double>(k) + 1));
}

}  // namespace

TEST_CASE("bernoulli: frequencies, the certain cases, dtypes, device of the input, errors") {
  manual_seed(11);
  const std::int64_t n = 40000;
  const Tensor p = tensor<double>({0.0, 0.25, 0.5, 0.9, 1.0}).expand({n, 5});
  const Tensor draws = bernoulli(p);
  CHECK(draws.dtype() == kFloat64);
  CHECK(draws.shape() == Shape{n, 5});
  const std::vector<double> ones_per_column = sum(draws, {0}).to_vector<double>();
  CHECK(ones_per_column[0] == 0);
  CHECK(ones_per_column[4] == n);
  for (int c : {1, 2, 3}) {
    const double q = p.to_vector<double>()[static_cast<std::size_t>(c)];
    // Within 5 standard deviations of n q.
    CHECK(std::abs(ones_per_column[static_cast<std::size_t>(c)] - n * q) < 5 * std::sqrt(n * q * (1 - q)));
  }
  CHECK(all(eq(draws, 0.0) | eq(draws, 1.0)).item() == 1);

  const Tensor fixed = bernoulli(zeros({200, 100}), 0.3);
  CHECK(fixed.dtype() == kFloat32);
  CHECK(std::abs(mean(fixed).item() - 0.3) < 5 * std::sqrt(0.3 * 0.7 / 20000));

  // No gradient flows through a draw, even from a parameter that wants one.
  const Tensor param = full({3}, 0.5).requires_grad_();
  CHECK_FALSE(bernoulli(param).requires_grad());

  CHECK_THROWS_WITH_AS(bernoulli(tensor<float>({0.5f, 1.5f})), doctest::Contains("must each lie in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(bernoulli(tensor<float>({std::nanf("")})), doctest::Contains("bernoulli"), Error);
  CHECK_THROWS_WITH_AS(bernoulli(ones({2}), -0.1), doctest::Contains("must lie in [0, 1]"), Error);
  CHECK_THROWS_AS(bernoulli(tensor<std::int64_t>({0, 1})), Error);
}

TEST_CASE("multinomial with replacement: each row's frequencies follow its weights") {
  manual_seed(12);
  const std::int64_t n = 60000;
  // Unnormalised weights, a class of weight 0 (never drawn), and a second row.
  const Tensor weights = tensor<double>({{1.0, 0.0, 3.0, 6.0}, {0.0, 0.0, 0.0, 2.5}});
  const Tensor draws = multinomial(weights, n, /*replacement=*/true);
  CHECK(draws.dtype() == kInt64);
  CHECK(draws.shape() == Shape{2, n});
  const std::vector<double> first =
      column_counts(draws.select(0, 0).contiguous().to_vector<std::int64_t>(), 4);
  const double nd = static_cast<double>(n);
  CHECK(chi_square(first, {nd * 0.1, 0, nd * 0.3, nd * 0.6}) < chi_square_bound(2));
  CHECK(column_counts(draws.select(0, 1).contiguous().to_vector<std::int64_t>(), 4) ==
        std::vector<double>{0, 0, 0, nd});

  // A 1-D row gives a 1-D result; float32 weights; the same seed repeats the draws.
  manual_seed(5);
  const Tensor a = multinomial(tensor<float>({0.2f, 0.3f, 0.5f}), 1000, true);
  manual_seed(5);
  const Tensor b = multinomial(tensor<float>({0.2f, 0.3f, 0.5f}), 1000, true);
  CHECK(a.shape() == Shape{1000});
  CHECK(a.to_vector<std::int64_t>() == b.to_vector<std::int64_t>());
  CHECK(multinomial(ones({3, 4}), 0, true).shape() == Shape{3, 0});
}

TEST_CASE("multinomial without replacement: distinct draws, the first two places' exact probabilities") {
  manual_seed(13);
  const std::int64_t rows = 40000, k = 5;
  const std::vector<double> w{1, 2, 3, 4, 0};
  const Tensor draws = multinomial(tensor<double>({1, 2, 3, 4, 0}).expand({rows, k}), 4);
  CHECK(draws.shape() == Shape{rows, 4});
  const std::vector<std::int64_t> all_draws = draws.to_vector<std::int64_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    std::set<std::int64_t> row(all_draws.begin() + r * 4, all_draws.begin() + (r + 1) * 4);
    // Every class of positive weight exactly once, the class of weight 0 never.
    REQUIRE(row == std::set<std::int64_t>{0, 1, 2, 3});
  }
  // The first draw takes class i with probability w_i / 10; the second takes j with
  // probability sum over i != j of p_i p_j / (1 - p_i).
  std::vector<double> first_expected(k), second_expected(k, 0.0);
  for (std::int64_t i = 0; i < k; ++i) first_expected[static_cast<std::size_t>(i)] = w[i] / 10 * rows;
  for (std::int64_t j = 0; j < k; ++j)
    for (std::int64_t i = 0; i < k; ++i)
      if (i != j && w[i] < 10)
        second_expected[static_cast<std::size_t>(j)] += w[i] / 10 * w[j] / (10 - w[i]) * rows;
  CHECK(chi_square(column_counts(draws.select(1, 0).contiguous().to_vector<std::int64_t>(), k),
                   first_expected) < chi_square_bound(3));
  CHECK(chi_square(column_counts(draws.select(1, 1).contiguous().to_vector<std::int64_t>(), k),
                   second_expected) < chi_square_bound(3));

  CHECK_THROWS_WITH_AS(multinomial(tensor<double>({1, 2, 3, 4, 0}), 5),
                       doctest::Contains("has only 4 classes of positive weight"), Error);
  CHECK_THROWS_WITH_AS(multinomial(tensor<double>({1, -2}), 1), doctest::Contains("must be finite and >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(multinomial(tensor<double>({1, INFINITY}), 1), doctest::Contains("must be finite"),
                       Error);
  CHECK_THROWS_WITH_AS(multinomial(zeros({2, 3}), 1, true), doctest::Contains("row 0 of probs"), Error);
  CHECK_THROWS_WITH_AS(multinomial(ones({2, 3, 4}), 1),
                       doctest::Contains("must be (classes) or (rows, classes)"), Error);
  CHECK_THROWS_WITH_AS(multinomial(ones({3}), -1), doctest::Contains("num_samples = -1"), Error);
}

TEST_CASE("poisson: means, variances and the probabilities of each count, both algorithms") {
  manual_seed(14);
  const std::int64_t n = 40000;
  const std::vector<double> rates{0.0, 0.5, 4.0, 9.99, 10.0, 30.0, 1000.0};
  const auto columns = static_cast<std::int64_t>(rates.size());
  const Tensor counts = poisson(from_vector(rates).expand({n, columns}).contiguous());
  CHECK(counts.dtype() == kFloat64);
  CHECK(all(eq(counts, floor(counts)) & ge(counts, 0.0)).item() == 1);
  const std::vector<double> means = mean(counts, {0}).to_vector<double>();
  const std::vector<double> variances = var(counts, {0}).to_vector<double>();
  CHECK(means[0] == 0);
  for (std::size_t c = 1; c < rates.size(); ++c) {
    INFO("rate " << rates[c]);
    CHECK(std::abs(means[c] - rates[c]) < 5 * std::sqrt(rates[c] / static_cast<double>(n)));
    // The sample variance's spread is about rate sqrt(2 / n) for large rates.
    CHECK(std::abs(variances[c] / rates[c] - 1) < 0.05);
  }
  // Each count's frequency against the probability mass function: rate 4 (multiplying
  // uniforms) and rate 30 (the rejection method), counts in the tails pooled.
  for (std::size_t c : {std::size_t{2}, std::size_t{5}}) {
    INFO("rate " << rates[c]);
    const std::vector<double> column =
        counts.select(1, static_cast<std::int64_t>(c)).contiguous().to_vector<double>();
    const auto low = static_cast<std::int64_t>(std::max(0.0, rates[c] - 3 * std::sqrt(rates[c]))),
               high = static_cast<std::int64_t>(rates[c] + 3 * std::sqrt(rates[c]));
    std::vector<double> observed(static_cast<std::size_t>(high - low + 3), 0), expected(observed.size(), 0);
    for (double v : column) {
      const auto k = static_cast<std::int64_t>(v);
      ++observed[static_cast<std::size_t>(k < low ? 0 : k > high ? high - low + 2 : k - low + 1)];
    }
    double inside = 0;
    for (std::int64_t k = low; k <= high; ++k) {
      expected[static_cast<std::size_t>(k - low + 1)] = poisson_pmf(rates[c], k) * static_cast<double>(n);
      inside += poisson_pmf(rates[c], k);
    }
    double below = 0;
    for (std::int64_t k = 0; k < low; ++k) below += poisson_pmf(rates[c], k);
    expected.front() = below * static_cast<double>(n);
    expected.back() = (1 - inside - below) * static_cast<double>(n);
    if (expected.front() == 0) observed.erase(observed.begin()), expected.erase(expected.begin());
    CHECK(chi_square(observed, expected) < chi_square_bound(static_cast<double>(observed.size() - 1)));
  }
  // float32 rates give float32 counts; a 0-d rate keeps its shape; the seed repeats them.
  manual_seed(3);
  const Tensor a = poisson(full({50}, 12.5f));
  manual_seed(3);
  CHECK(a.dtype() == kFloat32);
  CHECK(a.to_vector<float>() == poisson(full({50}, 12.5f)).to_vector<float>());
  CHECK(poisson(scalar_tensor(2.0)).shape() == Shape{});

  CHECK_THROWS_WITH_AS(poisson(tensor<double>({1.0, -0.5})), doctest::Contains("poisson: rate -0.5"), Error);
  CHECK_THROWS_WITH_AS(poisson(tensor<double>({INFINITY})), doctest::Contains("must be finite"), Error);
}

TEST_CASE("normal: broadcast mean and std, numbers for either, moments, no gradient, errors") {
  manual_seed(15);
  const Tensor m = tensor<double>({{1.0}, {-2.0}}), s = tensor<double>({0.0, 0.0, 0.0});
  const Tensor exact = normal(m, s);  // std 0: the mean itself
  CHECK(exact.shape() == Shape{2, 3});
  kiln::test::check_values(exact, {1, 1, 1, -2, -2, -2}, 0);
  const Tensor draws = normal(5.0, 2.0, {200000}, kFloat64);
  CHECK(std::abs(mean(draws).item() - 5.0) < 5 * 2.0 / std::sqrt(200000.0));
  CHECK(std::abs(kiln::std(draws).item() / 2.0 - 1) < 0.01);
  CHECK(normal(zeros({4, 2}), 3.0).shape() == Shape{4, 2});
  CHECK(normal(1.0, ones({7}, kFloat64)).dtype() == kFloat64);
  const Tensor loc = zeros({3}).requires_grad_();
  CHECK_FALSE(normal(loc, 1.0).requires_grad());
  // Drawn from the same stream as randn.
  manual_seed(4);
  const Tensor z = randn({6});
  manual_seed(4);
  kiln::test::check_same(normal(zeros({6}), ones({6})), z, 0);

  CHECK_THROWS_WITH_AS(normal(zeros({2}), tensor<float>({1.0f, -1.0f})), doctest::Contains("must be >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(normal(0.0, -1.0, {3}), doctest::Contains("normal: std = -1"), Error);
  CHECK_THROWS_WITH_AS(normal(zeros({2}), ones({3})), doctest::Contains("cannot be broadcast"), Error);
  CHECK_THROWS_AS(normal(zeros({2}), ones({2}, kFloat64)), Error);
}

TEST_CASE("rand_like, randn_like, randint_like take the shape, dtype and device") {
  const Tensor t = zeros({3, 4}, kFloat64);
  const Tensor u = rand_like(t), z = randn_like(t);
  CHECK(u.shape() == t.shape());
  CHECK(u.dtype() == kFloat64);
  CHECK(z.dtype() == kFloat64);
  CHECK(all(ge(u, 0.0) & lt(u, 1.0)).item() == 1);
  const Tensor i = randint_like(zeros({1000}, kInt32), -3, 4);
  CHECK(i.dtype() == kInt32);
  CHECK(min(i).item() == -3);
  CHECK(max(i).item() == 3);
}
