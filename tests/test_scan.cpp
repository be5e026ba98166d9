// The running combinations cumprod, cummax / cummin and logcumsumexp: values and
// gradients against loops over their definitions, zeros, ties, NaN and infinities,
// float64 gradchecks, errors. (cumsum and prod are in test_reduce.cpp.)
#include <cmath>
#include <limits>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A tensor of shape (2, 3, 4) read as lines along `dim`: calls f(positions) with the flat
// positions of each line in order.
template <class F>
void for_each_line(std::int64_t dim, F&& f) {
  const std::int64_t sizes[3] = {2, 3, 4}, strides[3] = {12, 4, 1};
  for (std::int64_t start = 0; start < 24; ++start) {
    if ((start / strides[dim]) % sizes[dim] != 0) continue;
    std::vector<std::size_t> line;
    for (std::int64_t j = 0; j < sizes[dim]; ++j)
      line.push_back(static_cast<std::size_t>(start + j * strides[dim]));
    f(line);
  }
}
}  // namespace

TEST_CASE("cumprod: running products along any dimension, integers as int64") {
  manual_seed(1);
  const Tensor a = randn({2, 3, 4}, kFloat64);
  const std::vector<double> x = a.to_vector<double>();
  for (std::int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    std::vector<double> want(24);
    for_each_line(dim, [&](const std::vector<std::size_t>& line) {
      double p = 1;
      for (std::size_t i : line) want[i] = p *= x[i];
    });
    check_values(cumprod(a, dim), want, 1e-15);
    check_values(cumprod(a, dim - 3), want, 1e-15);
    check_values(cumprod(a.to(kFloat32), dim), want, 1e-6);
  }
  check_values(cumprod(a.transpose(0, 2), 0).contiguous().transpose(0, 2), cumprod(a, 2).to_vector<double>(),
               0);
  const Tensor big = tensor<std::int32_t>({1000, 1000, 1000, -1000});  // past int32 from the third
  CHECK(cumprod(big, 0).dtype() == kInt64);
  CHECK(cumprod(big, 0).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{1000, 1000000, 1000000000, -1000000000000LL});
  CHECK(cumprod(zeros({3, 0}), 1).shape() == Shape{3, 0});
  CHECK_THROWS_WITH_AS(cumprod(scalar_tensor(1.0), 0), doctest::Contains("0-d"), Error);
  CHECK_THROWS_WITH_AS(cumprod(a, 3), doctest::Contains("cumprod"), Error);
}

TEST_CASE("cumprod: the gradient is exact where entries are 0 (one, two, or none in a line)") {
  // Each row: no zero, a zero in the middle, two zeros, a zero first, a zero last.
  const Tensor x = tensor<double>({{2, -3, 0.5, 4, 1.5},
                                   {2, -3, 0, 4, 1.5},
                                   {2, 0, 0.5, 0, 1.5},
                                   {0, -3, 0.5, 4, 1.5},
                                   {2, -3, 0.5, 4, 0}})
                       .requires_grad_(true);
  const Tensor g = tensor<double>({{1, -2, 0.5, 3, -1},
                                   {1, -2, 0.5, 3, -1},
                                   {1, -2, 0.5, 3, -1},
                                   {1, -2, 0.5, 3, -1},
                                   {1, -2, 0.5, 3, -1}});
  cumprod(x, 1).backward(g);
  // The definition: d/dx_i of sum_j g_j x_0 ... x_j is the sum over j >= i of g_j times
  // the product of x_0 .. x_j leaving x_i out.
  const std::vector<double> xv = x.detach().to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> want(25);
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t i = 0; i < 5; ++i)
      for (std::size_t j = i; j < 5; ++j) {
        double p = gv[r * 5 + j];
        for (std::size_t k = 0; k <= j; ++k)
          if (k != i) p *= xv[r * 5 + k];
        want[r * 5 + i] += p;
      }
  check_values(x.grad(), want, 1e-15);
  manual_seed(2);
  KILN_CHECK_GRAD([](const In& in) { return cumprod(in[0], 1); }, {rand64({3, 5})});
  KILN_CHECK_GRAD([](const In& in) { return cumprod(in[0], 0); }, {rand64({4, 2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return cumprod(in[0], 1); }, {x.detach()});  // the zeros too
}

TEST_CASE("cummax and cummin: running extremes and the last position that reached them") {
  const Tensor x = tensor<double>({3, 1, 3, 5, 2, 5, 4, -1});
  auto mx = cummax(x, 0);
  check_values(mx.values, {3, 3, 3, 5, 5, 5, 5, 5}, 0);
  CHECK(mx.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 2, 3, 3, 5, 5, 5});
  auto mn = cummin(x, 0);
  check_values(mn.values, {3, 1, 1, 1, 1, 1, 1, -1}, 0);
  CHECK(mn.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 1, 1, 1, 1, 1, 7});
  // A NaN stays from where it comes, at the last NaN's position; -inf and inf are numbers.
  const Tensor y = tensor<float>({-INFINITY, 2, NAN, 7, NAN, 1});
  mx = cummax(y, 0);
  check_values(mx.values, {-kInf, 2, kNaN, kNaN, kNaN, kNaN}, 0);
  CHECK(mx.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 2, 4, 4});
  mn = cummin(tensor<float>({INFINITY, INFINITY, 0}), 0);
  CHECK(mn.indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2});
  // Integers keep their dtype.
  const Tensor counts = tensor<std::int32_t>({4, -7, 9, 9});
  CHECK(cummax(counts, 0).values.dtype() == kInt32);
  CHECK(cummax(counts, 0).values.to_vector<std::int32_t>() == std::vector<std::int32_t>{4, 4, 9, 9});
  CHECK(cummin(counts, 0).indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 1, 1});
  // Along each dimension of a 3-d tensor with ties, against a loop.
  manual_seed(3);
  const Tensor a = randint(0, 4, {2, 3, 4}).to(kFloat64);
  const std::vector<double> av = a.to_vector<double>();
  for (std::int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    std::vector<double> want(24), want_at(24);
    for_each_line(dim, [&](const std::vector<std::size_t>& line) {
      double best = -kInf;
      std::int64_t at = -1;
      for (std::size_t j = 0; j < line.size(); ++j) {
        if (av[line[j]] >= best) best = av[line[j]], at = static_cast<std::int64_t>(j);
        want[line[j]] = best;
        want_at[line[j]] = static_cast<double>(at);
      }
    });
    const auto got = cummax(a.transpose(0, 2).contiguous().transpose(0, 2), dim);  // a strided view
    check_values(got.values, want, 0);
    check_values(got.indices, want_at, 0);
  }
  CHECK(cummax(zeros({2, 0}), 1).indices.shape() == Shape{2, 0});
  CHECK_THROWS_WITH_AS(cummin(scalar_tensor(1.0), 0), doctest::Contains("cummin"), Error);
}

TEST_CASE("cummax and cummin: each gradient goes to the position its value came from") {
  const Tensor x = tensor<double>({1, 4, 2, 4, 3}).requires_grad_(true);
  cummax(x, 0).values.backward(tensor<double>({1, 10, 100, 1000, 10000}));
  check_values(x.grad(), {1, 110, 0, 11000, 0}, 0);
  manual_seed(4);
  KILN_CHECK_GRAD([](const In& in) { return cummax(in[0], 1).values; }, {rand64({3, 6})});
  KILN_CHECK_GRAD([](const In& in) { return cummin(in[0], 0).values; }, {rand64({5, 2, 2})});
}

TEST_CASE("logcumsumexp: running log-sum-exp without overflow or vanishing terms") {
  manual_seed(5);
  const Tensor a = randn({2, 3, 4}, kFloat64) * 3.0;
  const std::vector<double> x = a.to_vector<double>();
  for (std::int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    std::vector<double> want(24);
    for_each_line(dim, [&](const std::vector<std::size_t>& line) {
      double s = 0;
      for (std::size_t i : line) want[i] = std::log(s += std::exp(x[i]));
    });
    check_values(logcumsumexp(a, dim), want, 1e-14);
    check_values(logcumsumexp(a.to(kFloat32), dim), want, 1e-6);
  }
  // Large entries do not overflow; entries far below the rest still count where they
  // lead; -inf adds nothing; +inf stays; NaN spreads.
  check_values(logcumsumexp(tensor<double>({1000, 1000, 999}), 0),
               {1000, 1000 + std::log(2.0), 1000 + std::log(2 + std::exp(-1.0))}, 1e-15);
  check_values(logcumsumexp(tensor<float>({-1000, -1000, 0}), 0), {-1000, -1000 + std::log(2.0), 0}, 1e-7);
  check_values(logcumsumexp(tensor<double>({-kInf, -kInf, 0, -kInf, kInf, 1}), 0),
               {-kInf, -kInf, 0, 0, kInf, kInf}, 0);
  check_values(logcumsumexp(tensor<double>({0, kNaN, 0}), 0), {0, kNaN, kNaN}, 0);
  CHECK_THROWS_WITH_AS(logcumsumexp(tensor<std::int64_t>({1, 2}), 0), doctest::Contains("logcumsumexp"),
                       Error);

  // Gradient: x_i's is the sum over j >= i of g_j exp(x_i - out_j), gradients of both signs.
  const Tensor xs = tensor<double>({0.5, -1, 2, 0, 300, 301}).requires_grad_(true);
  const Tensor g = tensor<double>({1, -2, 0.5, 0, -1, 3});
  const Tensor out = logcumsumexp(xs, 0);
  out.backward(g);
  const std::vector<double> xv = xs.detach().to_vector<double>(), ov = out.detach().to_vector<double>(),
                            gv = g.to_vector<double>();
  std::vector<double> want(6);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = i; j < 6; ++j) want[i] += gv[j] * std::exp(xv[i] - ov[j]);
  check_values(xs.grad(), want, 1e-14);
  KILN_CHECK_GRAD([](const In& in) { return logcumsumexp(in[0], 1); }, {rand64({3, 5})});
  KILN_CHECK_GRAD([](const In& in) { return logcumsumexp(in[0], 0); }, {rand64({4, 2, 3})});
}
