// movedim, rot90, diag_embed, block_diag, meshgrid, cartesian_prod, take_along_dim, take,
// put, unravel_index, fliplr, flipud, renorm, ldexp, float_power, the triangle's indices, addcmul / addcdiv,
// fmax / fmin, copysign, heaviside, sinc, var_mean, std_mean, aminmax, isin, argwhere, bmm, addmm, baddbmm,
// pad_sequence, rrelu, pdist, the trapezoidal rule and vander: by hand, against other ops, float64
// gradchecks, errors.
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

TEST_CASE("movedim, rot90, diag_embed and block_diag") {
  manual_seed(500);
  const Tensor x = rand64({2, 3, 4, 5});
  CHECK(movedim(x, 1, -1).shape() == Shape{2, 4, 5, 3});
  check_same(movedim(x, 1, -1), x.permute({0, 2, 3, 1}), 0);
  check_same(movedim(x, {0, 3}, {2, 0}), x.permute({3, 1, 0, 2}), 0);
  CHECK_THROWS_WITH_AS(movedim(x, {0, 0}, {1, 2}), doctest::Contains("must each be distinct"), Error);
  CHECK_THROWS_WITH_AS(movedim(x, {0}, {1, 2}), doctest::Contains("1 source dims but 2 destinations"), Error);

  // [[1 2] [3 4]] a quarter-turn anticlockwise: [[2 4] [1 3]].
  const Tensor m = tensor<double>({{1, 2}, {3, 4}});
  check_values(rot90(m), {2, 4, 1, 3});
  check_values(rot90(m, 2), {4, 3, 2, 1});
  check_values(rot90(m, -1), {3, 1, 4, 2});
  check_same(rot90(m, 3), rot90(m, -1), 0);
  check_same(rot90(rot90(x, 1, {1, 3}), -1, {1, 3}), x, 0);
  KILN_CHECK_GRAD([](const In& in) { return rot90(in[0], 1, {0, 2}); }, {rand64({2, 3, 4})});

  check_values(diag_embed(tensor<double>({1, 2})), {1, 0, 0, 2});
  check_values(diag_embed(tensor<double>({1, 2}), 1), {0, 1, 0, 0, 0, 2, 0, 0, 0});
  check_values(diag_embed(tensor<double>({1, 2}), -1), {0, 0, 0, 1, 0, 0, 0, 2, 0});
  const Tensor v = rand64({3, 4});
  check_same(diagonal(diag_embed(v), 0, -2, -1), v, 0);
  check_same(diagonal(diag_embed(v, 2, 0, 2), 2, 0, 2), v, 0);
  KILN_CHECK_GRAD([](const In& in) { return diag_embed(in[0], -1, 0, 2); }, {rand64({2, 3})});

  check_values(block_diag({tensor<double>({{1, 2}}), scalar_tensor(3.0, kFloat64), tensor<double>({4, 5})}),
               {1, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 4, 5});
  CHECK(block_diag({rand64({2, 3}), rand64({1, 1})}).shape() == Shape{3, 4});
  KILN_CHECK_GRAD([](const In& in) { return block_diag({in[0], in[1]}); }, {rand64({2, 2}), rand64({3})});
  CHECK_THROWS_WITH_AS(block_diag({rand64({1, 1, 1})}), doctest::Contains("at most two dimensions"), Error);
}

TEST_CASE("meshgrid, cartesian_prod, take_along_dim and the triangle's indices") {
  const Tensor a = tensor<double>({1, 2, 3}), b = tensor<double>({10, 20});
  const std::vector<Tensor> ij = meshgrid({a, b});
  CHECK(ij[0].shape() == Shape{3, 2});
  check_values(ij[0], {1, 1, 2, 2, 3, 3});
  check_values(ij[1], {10, 20, 10, 20, 10, 20});
  const std::vector<Tensor> xy = meshgrid({a, b}, MeshIndexing::xy);
  CHECK(xy[0].shape() == Shape{2, 3});
  check_values(xy[0], {1, 2, 3, 1, 2, 3});
  check_values(xy[1], {10, 10, 10, 20, 20, 20});
  check_values(cartesian_prod({a, b}), {1, 10, 1, 20, 2, 10, 2, 20, 3, 10, 3, 20});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return cartesian_prod({in[0], in[1], in[0]});
      },
      {rand64({2}), rand64({3})});

  manual_seed(501);
  const Tensor x = rand64({3, 4});
  const Tensor order = argsort(x, 1);
  check_same(take_along_dim(x, order, 1), sort(x, 1).values, 0);
  // Broadcasting outside the dim: one row of positions for every row.
  const Tensor first_two = from_vector(std::vector<std::int64_t>{0, 1}, {1, 2});
  check_same(take_along_dim(x, first_two, 1), x.narrow(1, 0, 2), 0);
  check_values(take_along_dim(x, from_vector(std::vector<std::int64_t>{5, 0})),
               {x.reshape({12}).to_vector<double>()[5], x.to_vector<double>()[0]});
  KILN_CHECK_GRAD([&](const In& in) { return take_along_dim(in[0], order, 1); }, {rand64({3, 4})});
  CHECK_THROWS_WITH_AS(take_along_dim(x, from_vector(std::vector<std::int64_t>{0, 1}), 1),
                       doctest::Contains("same number of dimensions"), Error);

  CHECK(triu_indices(3, 3).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 0, 1, 1, 2, 0, 1, 2, 1, 2, 2});
  CHECK(tril_indices(3, 2, -1).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 2, 0, 0, 1});
  CHECK(triu_indices(2, 2, 5).shape() == Shape{2, 0});
}

TEST_CASE("take, put, unravel_index, fliplr and flipud") {
  using I = std::vector<std::int64_t>;
  const Tensor x = tensor<double>({{1, 2, 3}, {4, 5, 6}});
  // take reads the flattened x in index's shape; -1 is the last entry.
  const Tensor picked = take(x, from_vector(I{5, 0, -1, 2}, {2, 2}));
  CHECK(picked.shape() == Shape{2, 2});
  check_values(picked, {6, 1, 6, 3});
  check_values(take(x.t(), from_vector(I{1, 2})), {4, 2});  // the row-major order of the transposed view
  check_values(take(x, from_vector(I{1}).to(kInt32)), {2});
  // put writes (or adds) source's entries at the flat positions; x is untouched.
  const Tensor written = put(x, from_vector(I{0, -1, 4}), tensor<double>({10, 60, 50}));
  check_values(written, {10, 2, 3, 4, 50, 60});
  check_values(x, {1, 2, 3, 4, 5, 6});
  check_values(put(x, from_vector(I{1, 1, 3}, {3, 1}), tensor<double>({{1, 2, 3}}), true),
               {1, 5, 3, 7, 5, 6});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return take(in[0], from_vector(I{3, -2, 3, 0}, {2, 2}));
      },
      {rand64({2, 3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return put(in[0], from_vector(I{4, 1, -6}), in[1]);
      },
      {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return put(in[0], from_vector(I{4, 1, 4}), in[1], true);
      },
      {rand64({2, 3}), rand64({3})});
  CHECK_THROWS_WITH_AS(take(x, from_vector(I{6})),
                       doctest::Contains("take: position 6 is out of range for a tensor of 6 entries"),
                       Error);
  CHECK_THROWS_WITH_AS(put(x, from_vector(I{-7}), tensor<double>({1})), doctest::Contains("put: position -7"),
                       Error);
  CHECK_THROWS_WITH_AS(put(x, from_vector(I{0, 1}), tensor<double>({1})),
                       doctest::Contains("put: source has 1 entries"), Error);
  CHECK_THROWS_WITH_AS(take(x, tensor<double>({0})),
                       doctest::Contains("take: the index must be int64 or int32"), Error);
  CHECK(take(x, from_vector(I{})).numel() == 0);
  // unravel_index: coordinates whose strides give back each position.
  const Tensor flat = from_vector(I{0, 5, 23, 17, 12}, {5});
  const std::vector<Tensor> coords = unravel_index(flat, {2, 3, 4});
  REQUIRE(coords.size() == 3);
  CHECK(coords[0].to_vector<std::int64_t>() == I{0, 0, 1, 1, 1});
  CHECK(coords[1].to_vector<std::int64_t>() == I{0, 1, 2, 1, 0});
  CHECK(coords[2].to_vector<std::int64_t>() == I{0, 1, 3, 1, 0});
  check_same(coords[0] * 12.0 + coords[1] * 4.0 + coords[2], flat, 0);
  // The position of the largest entry of a matrix, as (row, column).
  const std::vector<Tensor> at = unravel_index(argmax(x.flatten(), 0), x.shape());
  CHECK(at[0].item() == 1.0);
  CHECK(at[1].item() == 2.0);
  CHECK_THROWS_WITH_AS(unravel_index(flat, {2, 3, 3}),
                       doctest::Contains("unravel_index: position 23 is out of range for shape (2, 3, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(unravel_index(from_vector(I{-1}), {4}),
                       doctest::Contains("position -1 is out of range"), Error);
  CHECK_THROWS_WITH_AS(unravel_index(flat, {std::int64_t{1} << 40, std::int64_t{1} << 40}),
                       doctest::Contains("holds more elements than a 64-bit count can number"), Error);
  // fliplr / flipud: flip along dim 1 / dim 0.
  check_values(fliplr(x), {3, 2, 1, 6, 5, 4});
  check_values(flipud(x), {4, 5, 6, 1, 2, 3});
  check_values(flipud(tensor<double>({1, 2, 3})), {3, 2, 1});
  CHECK_THROWS_WITH_AS(fliplr(tensor<double>({1, 2})),
                       doctest::Contains("fliplr: needs at least 2 dimensions"), Error);
}

TEST_CASE("renorm, ldexp and float_power") {
  // Rows along dim 0 of 2-norms 5, 1 and 10: those above 2 scaled to 2 (by 2 / (norm + 1e-7)).
  const Tensor x = tensor<double>({{3, 4}, {0.6, 0.8}, {6, 8}});
  check_values(renorm(x, 2, 0, 2.0),
               {3 * 2 / (5 + 1e-7), 4 * 2 / (5 + 1e-7), 0.6, 0.8, 6 * 2 / (10 + 1e-7), 8 * 2 / (10 + 1e-7)},
               1e-15);
  check_values(renorm(x, 1, 1, 5.0),
               {3 * 5 / (9.6 + 1e-7), 4 * 5 / (12.8 + 1e-7), 0.6 * 5 / (9.6 + 1e-7), 0.8 * 5 / (12.8 + 1e-7),
                6 * 5 / (9.6 + 1e-7), 8 * 5 / (12.8 + 1e-7)},
               1e-15);
  check_values(norm(renorm(x, INFINITY, -2, 3.0), INFINITY, {1}), {3, 0.8, 3}, 1e-7);
  manual_seed(502);
  KILN_CHECK_GRAD([](const In& in) { return renorm(in[0], 2, 1, 0.9); }, {rand64({3, 4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return renorm(in[0], 3, 0, 1.2); }, {rand64({4, 3})});
  CHECK_THROWS_WITH_AS(renorm(x, 0.5, 0, 1.0), doctest::Contains("renorm: p must be at least 1"), Error);
  CHECK_THROWS_WITH_AS(renorm(x, 2, 0, -1.0), doctest::Contains("renorm: maxnorm must be 0 or more"), Error);
  CHECK_THROWS_WITH_AS(renorm(x, 2, 2, 1.0), doctest::Contains("renorm"), Error);
  // ldexp: x 2^e, promoted as torch's.
  const Tensor e = tensor<std::int64_t>({-1, 0, 3});
  check_values(ldexp(tensor<double>({3, 5, 0.5}), e), {1.5, 5, 4}, 0);
  CHECK(ldexp(tensor<float>({1}), tensor<std::int64_t>({2})).dtype() == kFloat32);
  CHECK(ldexp(tensor<float>({1}), tensor<double>({2})).dtype() == kFloat64);
  CHECK(ldexp(tensor<std::int64_t>({3}), e.narrow(0, 2, 1)).dtype() == kFloat32);
  check_values(ldexp(tensor<std::int64_t>({3}), e.narrow(0, 2, 1)), {24}, 0);
  KILN_CHECK_GRAD([](const In& in) { return ldexp(in[0], in[1]); }, {rand64({2, 3}), rand64({3})});
  // float_power: in double whatever the operands.
  const Tensor p = float_power(tensor<float>({1.1f, 2}), 3.0);
  CHECK(p.dtype() == kFloat64);
  check_values(p, {std::pow(static_cast<double>(1.1f), 3), 8}, 1e-15);
  check_values(float_power(tensor<std::int64_t>({2, 3}), tensor<std::int64_t>({62, -1})),
               {std::pow(2.0, 62), 1.0 / 3}, 1e-15);
  KILN_CHECK_GRAD([](const In& in) { return float_power(in[0], in[1]); },
                  {abs(rand64({2, 3})) + 0.5, rand64({3})});
}

TEST_CASE("addcmul, addcdiv, fmax, fmin, copysign, heaviside and sinc") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor a = tensor<double>({1, nan, 3, nan}), b = tensor<double>({2, 5, nan, nan});
  const std::vector<double> most = fmax(a, b).to_vector<double>(), least = fmin(a, b).to_vector<double>();
  CHECK(most[0] == 2);
  CHECK(most[1] == 5);
  CHECK(most[2] == 3);
  CHECK(std::isnan(most[3]));
  CHECK(least[0] == 1);
  CHECK(least[1] == 5);
  CHECK(least[2] == 3);
  CHECK(std::isnan(least[3]));
  check_values(copysign(tensor<double>({1, -2, 3, 4}), tensor<double>({-1, 1, -0.0, 0.0})), {-1, 2, -3, 4});
  check_values(heaviside(tensor<double>({-1, 0, 2}), tensor<double>({0.5})), {0, 0.5, 1});
  check_values(sinc(tensor<double>({0, 0.5, 1, -1.5})), {1, 2 / M_PI, 0, -2 / (3 * M_PI)}, 1e-15);
  manual_seed(502);
  const Tensor x = rand64({3, 4}), y = rand64({3, 4}), z = rand64({4}) + 3.0;
  check_same(addcmul(x, y, z, 0.5), x + y * z * 0.5, 1e-15);
  check_same(addcdiv(x, y, z, -2), x - y / z * 2.0, 1e-15);
  KILN_CHECK_GRAD([](const In& in) { return addcdiv(in[0], in[1], in[2], 0.7); },
                  {rand64({3, 4}), rand64({3, 4}), rand64({4}) + 3.0});
  KILN_CHECK_GRAD([](const In& in) { return fmax(in[0], in[1]) + fmin(in[0], in[1]) * 2.0; },
                  {rand64({5}), rand64({5})});
  KILN_CHECK_GRAD([](const In& in) { return copysign(in[0], in[1]); }, {rand64({5}), rand64({5})});
  KILN_CHECK_GRAD([](const In& in) { return sinc(in[0]); }, {rand64({6})});
  Tensor zero = zeros({1}, kFloat64).requires_grad_(true);
  sum(sinc(zero)).backward();
  CHECK(zero.grad().item() == 0.0);  // the slope at the peak, and no NaN
}

TEST_CASE("var_mean, std_mean, aminmax, isin, argwhere; bmm, addmm and baddbmm") {
  manual_seed(503);
  const Tensor x = rand64({3, 5});
  const SpreadMean vm = var_mean(x, {1}, true, 0);
  check_same(vm.spread, var(x, {1}, true, 0), 0);
  check_same(vm.mean, mean(x, {1}, true), 0);
  check_same(std_mean(x).spread, kiln::std(x), 0);
  const MinMax all = aminmax(x), rows = aminmax(x, 0, true);
  CHECK(all.min.item() == amin(x).item());
  CHECK(all.max.item() == amax(x).item());
  check_same(rows.max, amax(x, {0}, true), 0);
  CHECK_THROWS_WITH_AS(aminmax(zeros({0}, kFloat64)), doctest::Contains("is empty"), Error);

  const Tensor elements = tensor<double>({{1, 2, 3}, {4, NAN, 6}}), tests = tensor<double>({6, 1, 1, NAN, 9});
  CHECK(isin(elements, tests).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0, 0, 0, 1});
  CHECK(isin(elements, tests, true).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1, 1, 1, 0});
  CHECK(isin(elements, zeros({0}, kFloat64)).to_vector<std::uint8_t>() == std::vector<std::uint8_t>(6, 0));
  CHECK(argwhere(tensor<double>({{0, 1}, {2, 0}})).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 1, 1, 0});

  const Tensor b1 = rand64({2, 3, 4}), b2 = rand64({2, 4, 5}), input = rand64({3, 5});
  check_same(bmm(b1, b2), matmul(b1, b2), 0);
  check_same(baddbmm(input, b1, b2, 0.5, 2.0), input * 0.5 + matmul(b1, b2) * 2.0, 1e-14);
  check_same(addmm(input, b1.select(0, 0), b2.select(0, 1)), input + matmul(b1.select(0, 0), b2.select(0, 1)),
             1e-14);
  // beta = 0 never reads the input: its NaN stays out.
  const Tensor poisoned = full({3, 5}, NAN, kFloat64);
  check_same(addmm(poisoned, b1.select(0, 0), b2.select(0, 1), 0.0), matmul(b1.select(0, 0), b2.select(0, 1)),
             0);
  KILN_CHECK_GRAD([](const In& in) { return baddbmm(in[0], in[1], in[2], 0.3, -1.5); },
                  {rand64({1, 5}), rand64({2, 3, 4}), rand64({2, 4, 5})});
  CHECK_THROWS_WITH_AS(bmm(b1, b1), doctest::Contains("(B, n, m) and (B, m, p)"), Error);
  CHECK_THROWS_WITH_AS(addmm(input, b1, b2), doctest::Contains("must be (n, m) and (m, p)"), Error);
}

TEST_CASE("pad_sequence and unpad_sequence, rrelu, pdist, trapezoid, cumulative_trapezoid and vander") {
  const Tensor a = tensor<double>({{1, 2}, {3, 4}, {5, 6}}), b = tensor<double>({{7, 8}});
  const Tensor padded = nn::pad_sequence({a, b}, true, -1.0);
  CHECK(padded.shape() == Shape{2, 3, 2});
  check_values(padded, {1, 2, 3, 4, 5, 6, 7, 8, -1, -1, -1, -1});
  const Tensor time_major = nn::pad_sequence({a, b}, false, 0.0, /*pad_left=*/true);
  CHECK(time_major.shape() == Shape{3, 2, 2});
  check_values(time_major.select(1, 1), {0, 0, 0, 0, 7, 8});
  const std::vector<Tensor> back = nn::unpad_sequence(padded, {3, 1}, true);
  check_same(back[0], a, 0);
  check_same(back[1], b, 0);
  KILN_CHECK_GRAD(
      [](const In& in) {
        return nn::pad_sequence({in[0], in[1]}, false, 0.5);
      },
      {rand64({4, 3}), rand64({2, 3})});
  CHECK_THROWS_WITH_AS(nn::pad_sequence({a, rand64({2, 3})}), doctest::Contains("same trailing sizes"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::unpad_sequence(padded, {4, 1}, true), doctest::Contains("length 4 of sequence 0"),
                       Error);

  const Tensor x = tensor<double>({-2, -1, 0, 3});
  check_values(rrelu(x, 0.1, 0.3), {-0.4, -0.2, 0, 3}, 1e-15);  // the mean slope
  manual_seed(504);
  const Tensor wide = randn({10000}, kFloat64) - 0.5;
  const Tensor ratio = rrelu(wide, 0.1, 0.3, true) / wide;
  const Tensor negative = masked_select(ratio, wide < 0.0);
  CHECK(amin(negative).item() >= 0.1);
  CHECK(amax(negative).item() <= 0.3);
  CHECK(mean(negative).item() == doctest::Approx(0.2).epsilon(0.01));
  nn::RReLU layer(0.1, 0.3);
  layer.eval();
  check_same(layer(x), rrelu(x, 0.1, 0.3), 0);
  CHECK(layer.description() == "RReLU(lower=0.1, upper=0.3)");

  const Tensor points = tensor<double>({{0, 0}, {3, 4}, {6, 8}});
  check_values(pdist(points), {5, 10, 5});
  check_values(pdist(points, 1), {7, 14, 7});
  check_values(pdist(points, 0), {2, 2, 2});  // entries that differ
  check_values(pdist(points, 0.5),
               {std::pow(std::sqrt(3.0) + 2, 2), std::pow(std::sqrt(6.0) + std::sqrt(8.0), 2),
                std::pow(std::sqrt(3.0) + 2, 2)},
               1e-14);
  const Tensor rows = rand64({5, 3});
  const Tensor all_pairs = cdist(rows, rows);
  const std::vector<std::int64_t> upper = triu_indices(5, 5, 1).to_vector<std::int64_t>();
  std::vector<std::int64_t> flat;
  for (std::size_t i = 0; i < upper.size() / 2; ++i)
    flat.push_back(upper[i] * 5 + upper[i + upper.size() / 2]);
  check_same(pdist(rows), all_pairs.reshape({25})[from_vector(flat)], 1e-12);
  KILN_CHECK_GRAD([](const In& in) { return pdist(in[0], 3); }, {rand64({4, 3})});

  // The area under y = x^2 sampled at 0 .. 4: trapezoids 0.5, 2.5, 6.5, 12.5.
  const Tensor y = tensor<double>({0, 1, 4, 9, 16});
  CHECK(trapezoid(y).item() == 22);
  CHECK(trapezoid(y, 0.5).item() == 11);
  check_values(cumulative_trapezoid(y), {0.5, 3, 9.5, 22});
  CHECK(trapezoid(y, tensor<double>({0, 1, 3, 4, 8})).item() == doctest::Approx(0.5 + 5 + 6.5 + 50));
  KILN_CHECK_GRAD([](const In& in) { return cumulative_trapezoid(in[0], in[1], 0); },
                  {rand64({4, 2}), rand64({4, 2})});

  check_values(vander(tensor<double>({2, 3, 0})), {4, 2, 1, 9, 3, 1, 0, 0, 1});
  check_values(vander(tensor<double>({2, 3}), 4, true), {1, 2, 4, 8, 1, 3, 9, 27});
  KILN_CHECK_GRAD([](const In& in) { return vander(in[0], 4); }, {tensor<double>({0.0, 0.7, -1.3})});
}
