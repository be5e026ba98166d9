// floor_divide, div with a rounding mode, and fmod / remainder on integer tensors: every
// pair of a small range in each integer dtype against the definitions worked out in
// double, the lowest value over -1, division by 0 refused; floating floor_divide against
// torch.floor_divide's values (signed zeros, infinities, NaN, and quotients like
// 1 // 0.1 = 9 that floor(a / b) gets wrong); broadcasting, numbers, the % operator, no
// gradient. And PyTorch's promotions: true division of integers, and integers meeting a
// number that is not a whole one, in float32; in-place forms refuse them.
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace kiln;

namespace {

template <class T>
void check_small_range(DType dtype, std::int64_t low) {
  INFO(dtype_name(dtype));
  std::vector<T> us, vs;
  std::vector<double> quotient, modulo, truncated, toward_zero, ratio;
  for (std::int64_t u = low; u <= 12; ++u)
    for (std::int64_t v = low == 0 ? 1 : -5; v <= 5; ++v) {
      if (v == 0) continue;
      us.push_back(static_cast<T>(u));
      vs.push_back(static_cast<T>(v));
      const double q = std::floor(static_cast<double>(u) / static_cast<double>(v));
      quotient.push_back(q);
      modulo.push_back(static_cast<double>(u) - q * static_cast<double>(v));
      truncated.push_back(static_cast<double>(u) -
                          std::trunc(static_cast<double>(u) / static_cast<double>(v)) *
                              static_cast<double>(v));
      toward_zero.push_back(std::trunc(static_cast<double>(u) / static_cast<double>(v)));
      ratio.push_back(static_cast<double>(static_cast<float>(u) / static_cast<float>(v)));
    }
  const Tensor a = from_vector(us), b = from_vector(vs);
  CHECK(floor_divide(a, b).dtype() == dtype);
  kiln::test::check_values(floor_divide(a, b), quotient, 0);
  kiln::test::check_values(remainder(a, b), modulo, 0);
  kiln::test::check_values(a % b, modulo, 0);
  kiln::test::check_values(fmod(a, b), truncated, 0);
  CHECK(div(a, b, Rounding::trunc).dtype() == dtype);
  kiln::test::check_values(div(a, b, Rounding::trunc), toward_zero, 0);
  kiln::test::check_values(div(a, b, Rounding::floor), quotient, 0);
  CHECK(div(a, b).dtype() == kFloat32);  // true division, in float32 as PyTorch
  kiln::test::check_values(a / b, ratio, 0);
}

}  // namespace

TEST_CASE("integer floor_divide, remainder and fmod: every pair of a small range, each dtype") {
  check_small_range<std::int64_t>(kInt64, -12);
  check_small_range<std::int32_t>(kInt32, -12);
  check_small_range<std::int8_t>(kInt8, -12);
  check_small_range<std::uint8_t>(kUInt8, 0);
  // The lowest value over -1 wraps around to itself; its remainders are 0.
  const auto lowest = std::numeric_limits<std::int64_t>::min();
  const Tensor a = tensor<std::int64_t>({lowest, lowest, 7}), minus_one = full({3}, -1.0, kInt64);
  CHECK(floor_divide(a, minus_one).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{lowest, lowest, -7});
  CHECK(remainder(a, minus_one).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0});
  CHECK(fmod(a, minus_one).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0});
  CHECK(div(a, minus_one, Rounding::trunc).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{lowest, lowest, -7});
  CHECK(div(tensor<std::int8_t>({-128, 127}), -1.0, Rounding::trunc).to_vector<std::int8_t>() ==
        std::vector<std::int8_t>{-128, -127});
  CHECK(floor_divide(tensor<std::int8_t>({-128}), full({1}, -1.0, kInt8)).to_vector<std::int8_t>() ==
        std::vector<std::int8_t>{-128});

  // Flat positions split into (row, column) of a width-7 grid, broadcasting a number.
  const Tensor flat = tensor<std::int64_t>({0, 6, 7, 20, 48});
  CHECK(floor_divide(flat, 7.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 1, 2, 6});
  CHECK((flat % 7.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 6, 0, 6, 6});
  CHECK(floor_divide(flat.reshape({5, 1}), tensor<std::int64_t>({2, -3})).shape() == Shape{5, 2});

  CHECK_THROWS_WITH_AS(
      floor_divide(flat, tensor<std::int64_t>({1, 2, 0, 1, 1})),
      "floor_divide: the divisor (shape (5), int64) holds a 0, and integers cannot be divided by 0", Error);
  CHECK_THROWS_WITH_AS(flat % 0.0, doctest::Contains("remainder: the divisor"), Error);
  CHECK_THROWS_WITH_AS(div(flat, 0.0, Rounding::trunc), doctest::Contains("div: the divisor"), Error);
  CHECK_THROWS_WITH_AS(fmod(flat, tensor<std::int32_t>({1})),
                       doctest::Contains("dtypes int64 and int32 differ"), Error);
}

TEST_CASE("floating floor_divide: torch.floor_divide's values, signed zeros and non-finite ones") {
  const double inf = INFINITY, nan = NAN;
  const std::vector<double> a{1.0, -0.0,  0.0, 5.0,  -5.0, 5.0, -5.0, inf, -7.5,
                              7.5, 1e300, 3.0, -3.0, 0.0,  1.0, nan,  2.0, 0.3};
  const std::vector<double> b{0.1,  3.0,    -3.0, -0.5, inf, inf, -inf, 2.0, 2.0,
                              -2.0, 1e-300, 0.0,  0.0,  0.0, nan, 1.0,  0.1, 0.1};
  // torch 2's floor_divide of these, float64 then float32 (0.3f // 0.1f is 3; 1e300 is inf in float32).
  const std::vector<double> q64{9,  -0.0, -0.0, -10,  -1,  0,   0,   nan, -4,
                                -4, inf,  inf,  -inf, nan, nan, nan, 19,  2};
  const std::vector<double> q32{9,  -0.0, -0.0, -10,  -1,  0,   0,   nan, -4,
                                -4, inf,  inf,  -inf, nan, nan, nan, 19,  3};
  for (DType dtype : {kFloat64, kFloat32}) {
    INFO(dtype_name(dtype));
    const std::vector<double> got =
        floor_divide(from_vector(a).to(dtype), from_vector(b).to(dtype)).to(kFloat64).to_vector<double>();
    const std::vector<double>& want = dtype == kFloat64 ? q64 : q32;
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO(a[i] << " // " << b[i]);
      if (std::isnan(want[i])) {
        CHECK(std::isnan(got[i]));
      } else {
        CHECK(got[i] == want[i]);
        CHECK(std::signbit(got[i]) == std::signbit(want[i]));
      }
    }
  }
  // No gradient, even from inputs that want one.
  const Tensor x = tensor<double>({3.5, -2.0}).requires_grad_();
  CHECK_FALSE(floor_divide(x, 2.0).requires_grad());
  kiln::test::check_values(floor_divide(x.detach(), 2.0), {1, -1}, 0);
}

TEST_CASE("div with Rounding::trunc on floating point: trunc(a / b), signed zeros, no gradient") {
  const double inf = INFINITY;
  const std::vector<double> a{7.5, -7.5, -1.0, 1.0, 0.3, 5.0, -5.0, 1e300};
  const std::vector<double> b{2.0, 2.0, 3.0, -3.0, 0.1, 0.0, inf, 1e-300};
  // torch.div(a, b, rounding_mode="trunc") in float64: 0.3 / 0.1 is 2.9999999999999996.
  const std::vector<double> want{3, -3, -0.0, -0.0, 2, inf, -0.0, inf};
  const std::vector<double> got = div(from_vector(a), from_vector(b), Rounding::trunc).to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i] << " / " << b[i]);
    CHECK(got[i] == want[i]);
    CHECK(std::signbit(got[i]) == std::signbit(want[i]));
  }
  // Rounding::floor is floor_divide (1 // 0.1 is 9, where floor(1 / 0.1) would be 10).
  CHECK(div(tensor<double>({1.0, -7.5}), 0.1, Rounding::floor).to_vector<double>()[0] == 9);
  kiln::test::check_values(div(tensor<float>({-7.5f, 7.5f}), 2.0, Rounding::floor), {-4, 3}, 0);
  const Tensor x = tensor<double>({3.5, -2.0}).requires_grad_();
  CHECK_FALSE(div(x, 2.0, Rounding::trunc).requires_grad());
  CHECK_FALSE(div(x, 2.0, Rounding::floor).requires_grad());
}

TEST_CASE("integer tensors meet fractional numbers and true division in float32, as in PyTorch") {
  const Tensor i = tensor<std::int64_t>({7, -7, 3});
  // True division, whatever the divisor.
  CHECK((i / 2.0).dtype() == kFloat32);
  kiln::test::check_values(i / 2.0, {3.5, -3.5, 1.5}, 0);
  kiln::test::check_values(6.0 / tensor<std::int32_t>({4, -3}), {1.5, -2}, 0);
  kiln::test::check_values(i / tensor<std::int64_t>({2}), {3.5, -3.5, 1.5}, 0);
  kiln::test::check_values(i / 0.0, {INFINITY, -INFINITY, INFINITY}, 0);
  // A number that is not a whole one promotes; a whole one keeps the integer dtype.
  CHECK((i * 0.5).dtype() == kFloat32);
  kiln::test::check_values(i * 0.5, {3.5, -3.5, 1.5}, 0);
  kiln::test::check_values(0.5 * i, {3.5, -3.5, 1.5}, 0);
  kiln::test::check_values(i + 0.25, {7.25, -6.75, 3.25}, 0);
  kiln::test::check_values(0.5 - i, {-6.5, 7.5, -2.5}, 0);
  kiln::test::check_values(i - 0.5, {6.5, -7.5, 2.5}, 0);
  CHECK((i * 2.0).dtype() == kInt64);
  CHECK((i + 1.0).dtype() == kInt64);
  CHECK(std::isinf((i * INFINITY).to_vector<float>()[0]));
  CHECK((i * INFINITY).dtype() == kFloat32);
  CHECK(std::isnan((i + NAN).to_vector<float>()[1]));
  // The division ops with a number that is not a whole one.
  kiln::test::check_values(floor_divide(i, 2.5), {2, -3, 1}, 0);
  CHECK(floor_divide(i, 2.5).dtype() == kFloat32);
  kiln::test::check_values(remainder(i, 2.5), {2, 0.5, 0.5}, 0);
  kiln::test::check_values(fmod(i, 2.5), {2, -2, 0.5}, 0);
  kiln::test::check_values(div(i, 2.5, Rounding::trunc), {2, -2, 1}, 0);
  CHECK(div(i, 2.5, Rounding::trunc).dtype() == kFloat32);
  CHECK(floor_divide(i, 2.0).dtype() == kInt64);
  // Out-of-range whole numbers are still refused, not wrapped.
  CHECK_THROWS_WITH_AS(tensor<std::int8_t>({1}) * 1000.0, doctest::Contains("cannot be converted to int8"),
                       Error);
}

TEST_CASE("in place, an integer tensor refuses what would make it float32, and keeps its values") {
  Tensor i = tensor<std::int64_t>({7, -7, 3});
  const std::string hint = "use the out-of-place form";
  CHECK_THROWS_WITH_AS(i.div_(2.0), doctest::Contains("div_: self is int64 of shape (3)"), Error);
  CHECK_THROWS_WITH_AS(i /= tensor<std::int64_t>({2}), doctest::Contains(hint.c_str()), Error);
  CHECK_THROWS_WITH_AS(i.mul_(0.5), doctest::Contains("mul_: self is int64"), Error);
  CHECK_THROWS_WITH_AS(i += 0.5, doctest::Contains("add_: self is int64"), Error);
  CHECK_THROWS_WITH_AS(i -= 0.5, doctest::Contains("fractional number"), Error);
  CHECK_THROWS_WITH_AS(i.add_(i, 0.5), doctest::Contains("add_: self is int64"), Error);
  CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{7, -7, 3});
  i *= 2.0;
  i += 1.0;
  i.sub_(tensor<std::int64_t>({1}), 2.0);
  CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{13, -15, 5});
  Tensor f = tensor<float>({7, -7});
  f /= 2.0;
  kiln::test::check_values(f, {3.5, -3.5}, 0);
}
