// floor_divide, and fmod / remainder on integer tensors: every pair of a small range in
// each integer dtype against the definitions worked out in double, the lowest value over
// -1, division by 0 refused; floating floor_divide against torch.floor_divide's values
// (signed zeros, infinities, NaN, and quotients like 1 // 0.1 = 9 that floor(a / b) gets
// wrong); broadcasting, numbers, the % operator, no gradient.
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
  std::vector<double> quotient, modulo, truncated;
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
    }
  const Tensor a = from_vector(us), b = from_vector(vs);
  CHECK(floor_divide(a, b).dtype() == dtype);
  kiln::test::check_values(floor_divide(a, b), quotient, 0);
  kiln::test::check_values(remainder(a, b), modulo, 0);
  kiln::test::check_values(a % b, modulo, 0);
  kiln::test::check_values(fmod(a, b), truncated, 0);
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
