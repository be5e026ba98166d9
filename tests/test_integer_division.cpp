// floor_divide, div with a rounding mode, and fmod / remainder on integer tensors: every
// pair of a small range in each integer dtype against the definitions worked out in
// double, the lowest value over -1, division by 0 refused; floating floor_divide against
// torch.floor_divide's values (signed zeros, infinities, NaN, and quotients like
// 1 // 0.1 = 9 that floor(a / b) gets wrong); broadcasting, numbers, the % operator, no
// gradient. And PyTorch's promotions: true division of integers, and integers meeting a
// number that is not a whole one, in float32; in-place forms refuse them.
#include <cmath>
#include <limits>
#include <random>
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

TEST_CASE("pow of integer tensors: whole powers, wrapping, negative exponents as torch.pow") {
  // Against products multiplied out one factor at a time, in unsigned 64-bit arithmetic
  // cut to each dtype's width.
  for (DType dtype : {kInt64, kInt32, kInt8}) {
    INFO(std::string(dtype_name(dtype)));
    std::vector<std::int64_t> us, vs, want;
    for (std::int64_t u = -7; u <= 7; ++u)
      for (std::int64_t v = 0; v <= 45; ++v) {
        std::uint64_t product = 1;
        for (std::int64_t k = 0; k < v; ++k) product *= static_cast<std::uint64_t>(u);
        us.push_back(u);
        vs.push_back(v);
        // cut to the dtype's width, two's complement
        want.push_back(dtype == kInt64   ? static_cast<std::int64_t>(product)
                       : dtype == kInt32 ? static_cast<std::int32_t>(static_cast<std::uint32_t>(product))
                                         : static_cast<std::int8_t>(static_cast<std::uint8_t>(product)));
      }
    const Tensor got = pow(from_vector(us).to(dtype), from_vector(vs).to(dtype));
    CHECK(got.dtype() == dtype);
    CHECK(got.to(kInt64).to_vector<std::int64_t>() == want);
  }
  CHECK(pow(tensor<std::int64_t>({2, 1, -1, -1, 0, 5}), tensor<std::int64_t>({-1, -5, -3, -2, -1, 0}))
            .to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, -1, 1, 0, 1});
  CHECK(pow(tensor<std::uint8_t>({3, 2}), tensor<std::uint8_t>({5, 9})).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{243, 0});
  // A number: whole keeps the dtype, fractional promotes, negative is refused.
  const Tensor i = tensor<std::int64_t>({-3, 2, 9});
  CHECK(pow(i, 2.0).dtype() == kInt64);
  CHECK(pow(i, 3.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{-27, 8, 729});
  CHECK(pow(i, 0.5).dtype() == kFloat32);
  kiln::test::check_values(pow(tensor<std::int64_t>({4, 9}), 0.5), {2, 3}, 0);
  CHECK_THROWS_WITH_AS(
      pow(i, -1.0),
      "pow: an integer tensor (int64 of shape (3)) to the negative power -1 is not an integer; "
      "convert it with .to(kiln::kFloat32) first",
      Error);
}

TEST_CASE("clamp and where with numbers on integer tensors: whole numbers keep the dtype") {
  const Tensor idx = tensor<std::int64_t>({-3, 0, 2, 7, 12});
  CHECK(clamp(idx, 0, 4).dtype() == kInt64);
  CHECK(clamp(idx, 0, 4).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 2, 4, 4});
  CHECK(clamp(idx, 0, INFINITY).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 2, 7, 12});
  CHECK(clamp(idx, -INFINITY, 5).to_vector<std::int64_t>() == std::vector<std::int64_t>{-3, 0, 2, 5, 5});
  const Tensor open = clamp(idx, -INFINITY, INFINITY);
  CHECK(open.to_vector<std::int64_t>() == idx.to_vector<std::int64_t>());
  CHECK_FALSE(open.shares_storage(idx));  // a copy, as every clamp
  CHECK(clamp(tensor<std::uint8_t>({0, 100, 255}), 10, 200).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{10, 100, 200});
  CHECK(clamp(stack({idx, idx}, 1).t(), 1, 3).to_vector<std::int64_t>() ==  // strided
        std::vector<std::int64_t>{1, 1, 2, 3, 3, 1, 1, 2, 3, 3});
  CHECK(clamp(idx, 0.5, 2.5).dtype() == kFloat32);
  kiln::test::check_values(clamp(idx, 0.5, 2.5), {0.5, 0.5, 2, 2.5, 2.5}, 0);
  CHECK_THROWS_WITH_AS(clamp(tensor<std::int8_t>({1}), 0, 300),
                       doctest::Contains("clamp: value 300 cannot be converted to int8"), Error);
  CHECK_THROWS_WITH_AS(clamp(idx, 3, 1), doctest::Contains("clamp: lower bound 3 is above upper bound 1"),
                       Error);

  const Tensor mask = tensor<std::uint8_t>({1, 0, 1, 0, 1});
  CHECK(where(mask, idx, 0.5).dtype() == kFloat32);
  kiln::test::check_values(where(mask, idx, 0.5), {-3, 0.5, 2, 0.5, 12}, 0);
  kiln::test::check_values(where(mask, -1.5, idx), {-1.5, 0, -1.5, 7, -1.5}, 0);
  CHECK(where(mask, idx, -1.0).dtype() == kInt64);
  CHECK(where(mask, idx, -1.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{-3, -1, 2, -1, 12});
}

TEST_CASE("abs, sign, square, amax and amin of integer tensors keep the dtype") {
  const std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  const Tensor i = tensor<std::int64_t>({-7, 0, 5, lowest + 1, lowest});
  CHECK(abs(i).dtype() == kInt64);
  CHECK(abs(i).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{7, 0, 5, -(lowest + 1), lowest});  // wraps, as torch.abs
  CHECK(sign(i).to_vector<std::int64_t>() == std::vector<std::int64_t>{-1, 0, 1, -1, -1});
  CHECK(square(tensor<std::int32_t>({-3, 4, 46340, 46341})).to_vector<std::int32_t>() ==
        std::vector<std::int32_t>{9, 16, 46340 * 46340, std::int32_t(46341u * 46341u)});
  CHECK(abs(tensor<std::int8_t>({-128, -127, -1, 3})).to_vector<std::int8_t>() ==
        std::vector<std::int8_t>{-128, 127, 1, 3});
  const Tensor u = tensor<std::uint8_t>({0, 7, 255});
  CHECK(abs(u).to_vector<std::uint8_t>() == u.to_vector<std::uint8_t>());
  CHECK(sign(u).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1});

  const Tensor m = tensor<std::int32_t>({{3, -8, 5}, {-1, 9, 9}});
  CHECK(amax(m, {1}).dtype() == kInt32);
  CHECK(amax(m, {1}).to_vector<std::int32_t>() == std::vector<std::int32_t>{5, 9});
  CHECK(amin(m, {0}).to_vector<std::int32_t>() == std::vector<std::int32_t>{-1, -8, 5});
  CHECK(amax(m).to_vector<std::int32_t>() == std::vector<std::int32_t>{9});
  CHECK(amin(m, {0, 1}, true).shape() == Shape{1, 1});
  CHECK_THROWS_WITH_AS(amax(zeros({2, 0}, kInt64), {1}), doctest::Contains("amax: dimension 1"), Error);
}

namespace {

// a + b, a - b and a * b in two's complement for T (int64 or int32), from unsigned
// arithmetic alone, against kiln's integer kernels on values near the ends of T's range.
template <class T>
void check_wrapping(DType dtype, std::uint64_t seed) {
  INFO(dtype_name(dtype));
  using U = std::make_unsigned_t<T>;
  constexpr T lowest = std::numeric_limits<T>::min(), highest = std::numeric_limits<T>::max();
  std::vector<T> as{lowest, lowest, highest, highest, -1, 0, lowest + 1},
      bs{-1, lowest, 1, highest, lowest, lowest, 2};
  std::mt19937_64 rng(seed);
  for (int k = 0; k < 500; ++k) {
    as.push_back(static_cast<T>(static_cast<U>(rng())));
    bs.push_back(static_cast<T>(static_cast<U>(rng()) >> (rng() % (8 * sizeof(T)))));  // all magnitudes
  }
  std::vector<T> sums, differences, products, negations;
  for (std::size_t k = 0; k < as.size(); ++k) {
    const U u = static_cast<U>(as[k]), v = static_cast<U>(bs[k]);
    sums.push_back(static_cast<T>(static_cast<U>(u + v)));
    differences.push_back(static_cast<T>(static_cast<U>(u - v)));
    products.push_back(static_cast<T>(static_cast<U>(u * v)));
    negations.push_back(static_cast<T>(static_cast<U>(U(0) - u)));
  }
  const Tensor a = from_vector(as), b = from_vector(bs);
  CHECK((a + b).to_vector<T>() == sums);
  CHECK((a - b).to_vector<T>() == differences);
  CHECK((a * b).to_vector<T>() == products);
  CHECK((-a).to_vector<T>() == negations);
  // Strided and broadcast operands take the same kernels.
  CHECK((stack({a, a}, 1).select(1, 0) * stack({b, b}, 1).select(1, 1)).to_vector<T>() == products);
  CHECK((a.reshape({-1, 1}) + b.reshape({-1, 1}).expand({static_cast<std::int64_t>(bs.size()), 2}))
            .select(1, 1)
            .to_vector<T>() == sums);
}

}  // namespace

TEST_CASE("integer sums, differences and products, reductions and scans wrap around beyond the range") {
  check_wrapping<std::int64_t>(kInt64, 31);
  check_wrapping<std::int32_t>(kInt32, 32);
  // Numbers meet integer tensors in the same arithmetic.
  const auto highest = std::numeric_limits<std::int64_t>::max(),
             lowest = std::numeric_limits<std::int64_t>::min();
  const Tensor h = tensor<std::int64_t>({highest, lowest});
  CHECK((h + 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{lowest, lowest + 1});
  CHECK((h - 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{highest - 1, highest});
  CHECK((h * 2).to_vector<std::int64_t>() == std::vector<std::int64_t>{-2, 0});
  // Sums and products of int64 wrap too; int32 and int8 sum in int64, so they do not.
  CHECK(sum(tensor<std::int64_t>({highest, 1, 1})).item<std::int64_t>() == lowest + 1);
  CHECK(sum(tensor<std::int64_t>({highest, 1, 1, highest}).reshape({2, 2}), {0}).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{lowest, lowest});
  CHECK(sum(tensor<std::int32_t>({2147483647, 1})).item<std::int64_t>() == 2147483648LL);
  const std::int64_t two32 = std::int64_t(1) << 32;
  CHECK(prod(tensor<std::int64_t>({two32, two32, 3})).item<std::int64_t>() == 0);
  CHECK(prod(tensor<std::int64_t>({highest, highest})).item<std::int64_t>() ==
        1);  // (2^63 - 1)^2 = 1 mod 2^64
  CHECK(cumsum(tensor<std::int64_t>({highest, 1, 1}), 0).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{highest, lowest, lowest + 1});
  CHECK(cumprod(tensor<std::int64_t>({two32, two32, 3}), 0).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{two32, 0, 0});
}
