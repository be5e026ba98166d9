// Elementwise ops: values, broadcasting edge cases, dtypes, comparisons (with tensors,
// with numbers, as operators), logical ops on masks, where.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;

TEST_CASE("arithmetic with broadcasting") {
  const Tensor a = tensor<float>({{1, 2, 3}, {4, 5, 6}});  // (2, 3)
  const Tensor row = tensor<float>({10, 20, 30});           // (3)
  const Tensor col = tensor<float>({{1}, {2}});             // (2, 1)
  check_values(a + row, {11, 22, 33, 14, 25, 36});
  check_values(a - col, {0, 1, 2, 2, 3, 4});
  check_values(a * col, {1, 2, 3, 8, 10, 12});
  check_values(row / a, {10, 10, 10, 2.5, 4, 5});
  check_values(col + row, {11, 21, 31, 12, 22, 32});  // (2,1) + (3) -> (2, 3)
  check_values(a * 2.0, {2, 4, 6, 8, 10, 12});
  check_values(1.0 - a, {0, -1, -2, -3, -4, -5});
  check_values(-a, {-1, -2, -3, -4, -5, -6});
  check_values(pow(a, 2.0), {1, 4, 9, 16, 25, 36});
  check_values(pow(scalar_tensor(2.0), row.to(kFloat32) / 10.0), {2, 4, 8});
  check_values(maximum(a, col * 3.0), {3, 3, 3, 6, 6, 6});
  check_values(minimum(a, col * 3.0), {1, 2, 3, 4, 5, 6});
}

TEST_CASE("broadcasting edge cases: size 1, size 0, 0-d") {
  const Tensor empty_rows = zeros({0, 3});
  CHECK((empty_rows + ones({1, 3})).shape() == Shape{0, 3});
  CHECK((empty_rows + ones({3})).numel() == 0);
  CHECK((zeros({4, 1, 2}) + zeros({3, 1})).shape() == Shape{4, 3, 2});
  const Tensor s = scalar_tensor(5.0);
  CHECK((s + s).dim() == 0);
  check_values(s * ones({2}), {5, 5});
  CHECK_THROWS_WITH_AS(zeros({2, 3}) + zeros({4}), doctest::Contains("(2, 3) and (4)"), Error);
  CHECK_THROWS_AS(zeros({0}) + zeros({2}), Error);
}

TEST_CASE("non-contiguous operands give the same result as contiguous ones") {
  manual_seed(1);
  const Tensor a = randn({37, 29});
  const Tensor b = randn({29, 37});
  check_same(a + b.t(), a + b.t().contiguous(), 0);
  check_same(exp(a.t()), exp(a.t().contiguous()), 0);
  check_same(relu(a.slice(1, 0, 29, 3)), relu(a.slice(1, 0, 29, 3).contiguous()), 0);
}

TEST_CASE("large tensors (threaded path) match the serial result") {
  manual_seed(2);
  const Tensor a = randn({300, 1000});
  const Tensor b = randn({1000});
  const int saved = get_num_threads();
  set_num_threads(1);
  const Tensor serial = a * b + a;
  const Tensor serial_t = a.t() * 2.0;
  set_num_threads(2);
  check_same(a * b + a, serial, 0);
  check_same(a.t() * 2.0, serial_t, 0);
  set_num_threads(saved);
}

TEST_CASE("unary math") {
  const Tensor x = tensor<double>({0.25, 1.0, 4.0});
  check_values(exp(x), {std::exp(0.25), std::exp(1.0), std::exp(4.0)}, 1e-12);
  check_values(log(x), {std::log(0.25), 0, std::log(4.0)}, 1e-12);
  check_values(sqrt(x), {0.5, 1, 2}, 1e-12);
  check_values(abs(tensor<float>({-1.5f, 0, 2})), {1.5, 0, 2});
  check_values(clamp(tensor<float>({-3, 0.5f, 9}), -1, 1), {-1, 0.5, 1});
  CHECK_THROWS_AS(clamp(x, 1, -1), Error);
  check_values(exp(tensor<float>({-200, 200})), {0, INFINITY});
  check_values(log(tensor<float>({0, -1})), {-INFINITY, NAN});
}

TEST_CASE("activations") {
  const Tensor x = tensor<double>({-2, -0.5, 0, 0.5, 2});
  check_values(relu(x), {0, 0, 0, 0.5, 2});
  check_values(leaky_relu(x, 0.1), {-0.2, -0.05, 0, 0.5, 2});
  check_values(sigmoid(x), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5, 1 / (1 + std::exp(-0.5)),
                            1 / (1 + std::exp(-2.0))}, 1e-12);
  check_values(tanh(x), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(0.5), std::tanh(2.0)}, 1e-12);
  // gelu(x) = x Phi(x): reference values from the normal CDF.
  check_values(gelu(x), {-0.04550026389635842, -0.15426876936299347, 0, 0.34573123063700656, 1.9544997361036416},
               1e-12);
  check_values(softplus(tensor<double>({-30, 0, 30})), {std::exp(-30.0), std::log(2.0), 30}, 1e-12);
  check_values(silu(x), {-2 / (1 + std::exp(2.0)), -0.5 / (1 + std::exp(0.5)), 0, 0.5 / (1 + std::exp(-0.5)),
                         2 / (1 + std::exp(-2.0))}, 1e-12);
  check_values(silu(tensor<float>({-200, 200})), {0, 200});
  CHECK_THROWS_WITH_AS(relu(arange(3)), doctest::Contains("floating"), Error);
}

TEST_CASE("trigonometry, log1p and expm1") {
  const double pi = 3.14159265358979323846;
  check_values(sin(tensor<double>({0, pi / 6, pi / 2, -pi / 2})), {0, 0.5, 1, -1}, 1e-15);
  check_values(cos(tensor<double>({0, pi / 3, pi})), {1, 0.5, -1}, 1e-15);
  // Accurate where 1 + x rounds to 1: log1p(1e-10) = 1e-10 - 5e-21, expm1 likewise.
  const Tensor tiny = log1p(tensor<double>({1e-10, -1e-10}));
  CHECK(tiny.to_vector<double>()[0] == doctest::Approx(1e-10 - 5e-21).epsilon(1e-15));
  CHECK(tiny.to_vector<double>()[1] == doctest::Approx(-1e-10 - 5e-21).epsilon(1e-15));
  CHECK(expm1(tensor<float>({1e-10f})).item() == doctest::Approx(1e-10).epsilon(1e-6));
  check_values(log1p(tensor<float>({-1, -2, 1})), {-INFINITY, NAN, std::log(2.0)});
  check_values(expm1(tensor<float>({-200, 1})), {-1, std::exp(1.0) - 1});
}

TEST_CASE("sign, floor, ceil, round: values, special values, and a zero gradient") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = INFINITY;
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = tensor<double>({-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.7, -2.7, inf, -inf}).to(dt);
    check_values(round(x), {-2, -2, -0.0, 0, 2, 2, 3, -3, inf, -inf});  // halves to even
    check_values(floor(x), {-3, -2, -1, 0, 1, 2, 2, -3, inf, -inf});
    check_values(ceil(x), {-2, -1, -0.0, 1, 2, 3, 3, -2, inf, -inf});
    check_values(sign(x), {-1, -1, -1, 1, 1, 1, 1, -1, 1, -1});
    const std::vector<double> s = sign(tensor<double>({0.0, -0.0, nan}).to(dt)).to_vector<double>();
    CHECK((s[0] == 0 && !std::signbit(s[0])));
    CHECK((s[1] == 0 && std::signbit(s[1])));  // a zero keeps its sign
    CHECK(std::isnan(s[2]));
    CHECK(std::isnan(round(tensor<double>({nan}).to(dt)).item()));
  }
  // The graph reaches the leaf through them, with a gradient of 0 (as in PyTorch).
  const Tensor w = tensor<double>({0.3, -1.7, 2.5}).requires_grad_();
  sum(round(w) * 2.0 + floor(w) + ceil(w) + sign(w) + w).backward();
  check_values(w.grad(), {1, 1, 1});
  CHECK_THROWS_WITH_AS(floor(arange(3)), doctest::Contains("floating"), Error);
}

TEST_CASE("integer tensors: exact arithmetic; true division in float32") {
  const Tensor a = tensor<std::int64_t>({1, 2, 3});
  check_values(a + a * a, {2, 6, 12});
  check_values(-a, {-1, -2, -3});
  check_values(tensor<std::int32_t>({5}) - tensor<std::int32_t>({7}), {-2});
  CHECK((a / a).dtype() == kFloat32);  // more in test_integer_division.cpp
  check_values(a / tensor<std::int64_t>({2}), {0.5, 1, 1.5});
  CHECK_THROWS_WITH_AS(a + tensor<float>({1, 2, 3}), doctest::Contains("int64 and float32"), Error);
}

TEST_CASE("comparisons return uint8 masks; where selects") {
  const Tensor a = tensor<float>({1, 2, 3});
  const Tensor b = tensor<float>({3, 2, 1});
  CHECK(lt(a, b).dtype() == kUInt8);
  check_values(lt(a, b), {1, 0, 0});
  check_values(le(a, b), {1, 1, 0});
  check_values(gt(a, b), {0, 0, 1});
  check_values(ge(a, b), {0, 1, 1});
  check_values(eq(a, b), {0, 1, 0});
  check_values(ne(a, b), {1, 0, 1});
  check_values(where(gt(a, b), a, b), {3, 2, 3});
  check_values(where(tensor<std::uint8_t>({{1}, {0}}), a, scalar_tensor(0.0)), {1, 2, 3, 0, 0, 0});
  CHECK_THROWS_WITH_AS(where(a, a, b), doctest::Contains("uint8"), Error);
}

TEST_CASE(
    "pow with a number: the exponents 2, 1 and 1/2 (a product, a copy, a square root) give std::pow's "
    "values") {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> special{-inf, -2.5, -1, -0.0, 0.0, 1e-30, 0.3, 3, 1e200, inf, NAN};
  manual_seed(43);
  const Tensor random = randn({1000}, kFloat64) * 10.0;
  for (const DType dtype : {kFloat32, kFloat64})
    for (const double e : {2.0, 1.0, 0.5, 3.0, -1.0}) {
      INFO(std::string(dtype_name(dtype)) << " ^ " << e);
      for (const Tensor& x : {from_vector(special).to(dtype), random.to(dtype)}) {
        const std::vector<double> in = x.to(kFloat64).to_vector<double>();
        const std::vector<double> got = pow(x, e).to(kFloat64).to_vector<double>();
        // and through a broadcast exponent tensor, and one with a value per element
        const std::vector<double> got_tensor = pow(x, full({1}, e, dtype)).to(kFloat64).to_vector<double>();
        const std::vector<double> got_each =
            pow(x, full(x.shape(), e, dtype)).to(kFloat64).to_vector<double>();
        for (std::size_t i = 0; i < in.size(); ++i) {
          const double want = dtype == kFloat32 ? std::pow(static_cast<float>(in[i]), static_cast<float>(e))
                                                : std::pow(in[i], e);
          INFO("x = " << in[i] << ": got " << got[i] << ", want " << want);
          if (std::isnan(want)) {
            CHECK((std::isnan(got[i]) && std::isnan(got_tensor[i]) && std::isnan(got_each[i])));
          } else {
            // within one ulp: std::pow is itself within 0.52 ulp (exact at the special values)
            const double ulp = dtype == kFloat32 ? 1.2e-7 : 2.3e-16;
            const auto close = [&](double v) {
              return v == want || std::abs(v - want) <= ulp * std::abs(want);
            };
            CHECK(close(got[i]));
            CHECK(std::signbit(got[i]) == std::signbit(want));
            CHECK(got_tensor[i] == got[i]);
            CHECK(close(got_each[i]));
          }
        }
      }
    }
}

TEST_CASE("where and comparisons: every layout of the operands gives the element-by-element answer") {
  // Dense runs, one broadcast number, a row or a column broadcast, and a transposed view,
  // for the mask and both values; NaN, signed zeros and mask bytes other than 1 included.
  const Shape shape{5, 37};
  manual_seed(41);
  Tensor values = randn({5, 37}, kFloat64);
  values.narrow(1, 3, 1).fill_(NAN);
  values[1].fill_(-0.0);
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> layouts{
      {"dense", [](const Tensor& t) { return t; }},
      {"one number", [](const Tensor& t) { return t.flatten()[7]; }},
      {"a row", [](const Tensor& t) { return t[2]; }},
      {"a column", [](const Tensor& t) { return t.narrow(1, 5, 1); }},
      {"transposed", [](const Tensor& t) { return t.t().contiguous().t(); }},
  };
  const Tensor bytes = (randint(0, 4, {5, 37}) * 85).to(kUInt8);  // 0, 85, 170, 255
  for (const DType dtype : {kFloat32, kFloat64, kInt32}) {
    const Tensor a = values.to(dtype), b = flip((values * -1.5 + 0.25).to(dtype), {1});
    for (const auto& mask_layout : layouts)
      for (const auto& a_layout : layouts)
        for (const auto& b_layout : layouts) {
          // (named copies: clang lets no lambda, as INFO makes, capture a structured binding)
          const std::string what = std::string(dtype_name(dtype)) + ": mask " + mask_layout.first + ", a " +
                                   a_layout.first + ", b " + b_layout.first;
          INFO(what);
          const Tensor m = mask_layout.second(bytes), x = a_layout.second(a), y = b_layout.second(b);
          const std::vector<std::uint8_t> mv = m.expand(shape).contiguous().to_vector<std::uint8_t>();
          const std::vector<double> xv = x.expand(shape).to(kFloat64).contiguous().to_vector<double>(),
                                    yv = y.expand(shape).to(kFloat64).contiguous().to_vector<double>();
          // (the results broadcast to the whole shape, to read them at the same index)
          const std::vector<double> got =
              where(m, x, y).expand(shape).to(kFloat64).contiguous().to_vector<double>();
          const std::vector<std::uint8_t> less =
                                              lt(x, y).expand(shape).contiguous().to_vector<std::uint8_t>(),
                                          same =
                                              eq(x, y).expand(shape).contiguous().to_vector<std::uint8_t>();
          bool all = true;
          for (std::size_t i = 0; i < got.size(); ++i) {
            const double want = mv[i] ? xv[i] : yv[i];
            all = all && std::memcmp(&got[i], &want, sizeof(double)) == 0;  // NaN and -0 too
            all = all && less[i] == (xv[i] < yv[i] ? 1 : 0) && same[i] == (xv[i] == yv[i] ? 1 : 0);
          }
          CHECK(all);
        }
  }
}

TEST_CASE("comparisons with a number, and as operators") {
  // Floating x: the number rounded to x's dtype, as PyTorch compares.
  const Tensor x = tensor<float>({0.1f, 0.5f, -1.0f, NAN, INFINITY});
  CHECK((x == 0.1).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0, 0, 0});
  CHECK((x.to(kFloat64) == 0.1).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
  CHECK((x > 0.2).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 0, 0, 1});
  CHECK((x != 0.5).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 1, 1, 1});
  CHECK((0.2 < x).to_vector<std::uint8_t>() == (x > 0.2).to_vector<std::uint8_t>());
  CHECK((x <= NAN).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
  // Integer x: the number's exact value, against a long double reference (exact for any
  // int64), for every operator, dtype and number (halves, integers, the ends of each
  // range, beyond them, infinities, NaN).
  using CmpScalar = Tensor (*)(const Tensor&, double);
  const CmpScalar fns[] = {eq, ne, lt, le, gt, ge};
  const auto reference = [](int op, long double v, double s) {
    const long double t = s;
    switch (op) {
      case 0:
        return v == t;
      case 1:
        return v != t;
      case 2:
        return v < t;
      case 3:
        return v <= t;
      case 4:
        return v > t;
      default:
        return v >= t;
    }
  };
  struct Case {
    DType dtype;
    std::vector<std::int64_t> values;
  };
  const std::int64_t i64_min = std::numeric_limits<std::int64_t>::min(),
                     i64_max = std::numeric_limits<std::int64_t>::max();
  const Case cases[] = {
      {kUInt8, {0, 1, 2, 127, 254, 255}},
      {kInt32, {-2147483648LL, -3, -1, 0, 1, 2, 2147483647LL}},
      {kInt64, {i64_min, -(1LL << 53) - 1, -2, 0, 1, 2, (1LL << 53) + 1, i64_max}},
  };
  const double numbers[] = {0.0,
                            1.0,
                            1.5,
                            -1.5,
                            2.0,
                            -0.5,
                            255.0,
                            255.5,
                            256.0,
                            -1.0,
                            1e10,
                            -1e10,
                            2147483647.0,
                            2147483647.5,
                            -2147483648.5,
                            9007199254740992.0,
                            -9007199254740992.0,
                            9223372036854775808.0,
                            -9223372036854775808.0,
                            1e30,
                            -1e30,
                            INFINITY,
                            -INFINITY,
                            NAN};
  for (const Case& c : cases) {
    const Tensor t = from_vector(c.values).to(c.dtype);
    for (int op = 0; op < 6; ++op)
      for (const double s : numbers) {
        const Tensor m = fns[op](t, s);
        REQUIRE(m.dtype() == kUInt8);
        REQUIRE(m.shape() == t.shape());
        const auto got = m.to_vector<std::uint8_t>();
        for (std::size_t k = 0; k < c.values.size(); ++k)
          CHECK_MESSAGE(got[k] == reference(op, static_cast<long double>(c.values[k]), s),
                        "op " << op << " on " << c.values[k] << " (" << c.dtype << ") against " << s);
      }
  }
  // Tensor-tensor operators are the named ops, broadcasting.
  const Tensor a = tensor<float>({{1, 2, 3}}), b = tensor<float>({{2}, {1}});
  CHECK((a == b).to_vector<std::uint8_t>() == eq(a, b).to_vector<std::uint8_t>());
  CHECK((a < b).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0});
  CHECK((a >= b).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1, 1, 1, 1});
  CHECK((a != b).shape() == Shape{2, 3});
  CHECK((a <= b).to_vector<std::uint8_t>() == le(a, b).to_vector<std::uint8_t>());
  CHECK((a > b).to_vector<std::uint8_t>() == gt(a, b).to_vector<std::uint8_t>());
  // The masks feed where and masked_fill directly.
  check_values(where(a > 1.5, a, zeros_like(a)), {0, 2, 3});
  CHECK_THROWS_WITH_AS(eq(Tensor(), 1.0), doctest::Contains("eq: the tensor is undefined"), Error);
}

TEST_CASE("logical ops and their operators on masks; where with a number") {
  // Any dtypes in: nonzero is true (NaN too, -0 not); a uint8 mask of 2 is true as well.
  const Tensor a = tensor<float>({0, 1, NAN, -0.0f, 2, 0});
  const Tensor b = tensor<std::int64_t>({0, 0, 5, 7, -1, 3});
  check_values(logical_and(a, b), {0, 0, 1, 0, 1, 0});
  check_values(logical_or(a, b), {0, 1, 1, 1, 1, 1});
  check_values(logical_xor(a, b), {0, 1, 0, 1, 0, 1});
  check_values(logical_not(a), {1, 0, 0, 1, 0, 1});
  CHECK(logical_and(a, b).dtype() == kUInt8);
  CHECK(logical_not(b).dtype() == kUInt8);
  const Tensor two = tensor<std::uint8_t>({2, 2, 0}), one = tensor<std::uint8_t>({1, 0, 1});
  check_values(two & one, {1, 0, 0});  // logical: a bitwise and would give 0 for 2 & 1
  check_values(two | one, {1, 1, 1});
  check_values(two ^ one, {0, 1, 1});
  check_values(!two, {0, 0, 1});
  check_values(~two, {0, 0, 1});  // logical too, as ~ on PyTorch's bool masks
  // Broadcasting, and the operators on comparisons.
  const Tensor x = tensor<float>({{-1, 0.25f, 0.5f}, {0.75f, 1, 2}});
  check_values((x > 0.0) & (x < 1.0), {0, 1, 1, 1, 0, 0});
  check_values((x <= 0.0) | (x >= 1.0), {1, 0, 0, 0, 1, 1});
  check_values(logical_and(x, tensor<std::uint8_t>({{1}, {0}})), {1, 1, 1, 0, 0, 0});
  check_same(!(x > 0.5), x <= 0.5, 0.0);
  CHECK_THROWS_WITH_AS(logical_and(x, ones({4})), doctest::Contains("logical_and"), Error);
  CHECK_THROWS_WITH_AS(logical_xor(ones({2}), ones({3})), doctest::Contains("logical_xor"), Error);

  // where with a number on either side: the gradient reaches the tensor where it was chosen.
  Tensor v = tensor<float>({-2, 3, -1, 4}).requires_grad_();
  const Tensor clipped = where(v > 0.0, v, 0.0);
  check_values(clipped, {0, 3, 0, 4});
  check_values(where(v > 0.0, -1.5, v), {-2, -1.5, -1, -1.5});
  sum(clipped * 2.0).backward();
  check_values(v.grad(), {0, 2, 0, 2});
  v.set_grad(Tensor());
  sum(where(v > 0.0, 7.0, v)).backward();
  check_values(v.grad(), {1, 0, 1, 0});
  const Tensor ints = where(arange(4) > 1.0, arange(4), 9.0);  // in the tensor's dtype
  CHECK(ints.dtype() == kInt64);
  check_values(ints, {9, 9, 2, 3});
  KILN_CHECK_GRAD([](const std::vector<Tensor>& in) { return where(in[0] > 0.0, in[0], -0.5) * in[0]; },
                  {tensor<double>({-1.5, 0.7, 2.0, -0.3})});
}

TEST_CASE("NaN propagates through maximum and minimum") {
  const Tensor a = tensor<float>({NAN, 1, 2});
  const Tensor b = tensor<float>({0, NAN, 3});
  check_values(maximum(a, b), {NAN, NAN, 3});
  check_values(minimum(a, b), {NAN, NAN, 2});
}

TEST_CASE("masked_fill: a value where the mask is set, the mask broadcasting") {
  const Tensor x = arange(0.0, 6.0, 1.0).reshape({2, 3}).requires_grad_();
  const Tensor row_mask = tensor<std::uint8_t>({1, 0, 1});
  const Tensor y = masked_fill(x, row_mask, -INFINITY);
  check_values(y, {-INFINITY, 1, -INFINITY, -INFINITY, 4, -INFINITY});
  sum(masked_fill(x, row_mask, 7.0) * 2.0).backward();
  check_values(x.grad(), {0, 2, 0, 0, 2, 0});  // no gradient through a filled entry
  check_values(masked_fill(arange(3), gt(arange(3), scalar_tensor(0.0).to(kInt64)), 9), {0, 9, 9});
  CHECK_THROWS_WITH_AS(masked_fill(x, tensor<std::uint8_t>({{1}, {0}, {1}}), 0.0),
                       doctest::Contains("cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(masked_fill(x, ones({4, 2, 3}).to(kUInt8), 0.0),
                       doctest::Contains("does not broadcast to x's shape (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(masked_fill(x, tensor<float>({1, 0, 1}), 0.0), doctest::Contains("uint8"), Error);
}

TEST_CASE("tril and triu: triangles of a matrix or a batch, any diagonal") {
  const Tensor x = arange(1.0, 13.0, 1.0).reshape({3, 4});  // 1 .. 12, rows of 4
  check_values(tril(x), {1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0});
  check_values(triu(x), {1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12});
  check_values(tril(x, 1), {1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12});
  check_values(triu(x, -1), {1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12});
  check_values(triu(x, 2), {0, 0, 3, 4, 0, 0, 0, 8, 0, 0, 0, 0});
  check_values(tril(x, -3), std::vector<double>(12, 0.0));  // below every element
  check_values(triu(x, -5), arange(1.0, 13.0, 1.0).to_vector<double>());
  // Each matrix of a batch; integers keep their dtype; tril + triu(.., 1) puts x together again.
  const Tensor batch = stack({x, x * 2.0}).to(kInt64);
  const Tensor lower = tril(batch);
  CHECK(lower.dtype() == kInt64);
  CHECK(lower.shape() == Shape{2, 3, 4});
  check_values(lower.select(0, 1), {2, 0, 0, 0, 10, 12, 0, 0, 18, 20, 22, 0});
  check_values(lower + triu(batch, 1), batch.to_vector<double>());
  // A strided view: the triangle of x's transpose.
  check_values(triu(x.t()), {1, 5, 9, 0, 6, 10, 0, 0, 11, 0, 0, 0});
  // The gradient passes inside the triangle only.
  const Tensor w = ones({2, 3}).requires_grad_();
  sum(tril(w) * 3.0).backward();
  check_values(w.grad(), {3, 0, 0, 3, 3, 0});
  CHECK_THROWS_WITH_AS(tril(ones({4})),
                       "tril: needs a matrix or a batch of matrices (2 or more dimensions), got shape (4)",
                       Error);
  CHECK_THROWS_WITH_AS(triu(scalar_tensor(1.0)), doctest::Contains("triu: needs a matrix"), Error);
}

TEST_CASE("isnan, isinf, isfinite") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = INFINITY;
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = tensor<double>({1.5, nan, inf, -inf, 0, -1e300}).to(dt);  // -1e300 is -inf in float32
    const bool f32 = dt == kFloat32;
    check_values(isnan(x), {0, 1, 0, 0, 0, 0}, 0);
    check_values(isinf(x), {0, 0, 1, 1, 0, f32 ? 1.0 : 0.0}, 0);
    check_values(isfinite(x), {1, 0, 0, 0, 1, f32 ? 0.0 : 1.0}, 0);
    CHECK(isnan(x).dtype() == kUInt8);
  }
  check_values(isfinite(arange(3)), {1, 1, 1}, 0);
  check_values(isnan(arange(3)), {0, 0, 0}, 0);
  const Tensor w = tensor<double>({1, 2}).requires_grad_();
  CHECK(!isnan(w * 2.0).requires_grad());
}

TEST_CASE(
    "selu, celu, glu, logsigmoid, softsign, tanhshrink, the shrinks, threshold, softmin; their layers") {
  using In = std::vector<Tensor>;
  const double a = 1.6732632423543772848170429916717, s = 1.0507009873554804934193349852946;
  const Tensor x = tensor<double>({-2.0, -0.25, 0.0, 0.3, 1.5});
  check_values(selu(x), {s * a * std::expm1(-2.0), s * a * std::expm1(-0.25), 0, s * 0.3, s * 1.5}, 1e-12);
  check_values(celu(x, 2.0), {2 * std::expm1(-1.0), 2 * std::expm1(-0.125), 0, 0.3, 1.5}, 1e-12);
  check_values(celu(x), {std::expm1(-2.0), std::expm1(-0.25), 0, 0.3, 1.5}, 1e-12);
  check_values(logsigmoid(x),
               {-std::log1p(std::exp(2.0)), -std::log1p(std::exp(0.25)), -std::log(2.0),
                -std::log1p(std::exp(-0.3)), -std::log1p(std::exp(-1.5))},
               1e-12);
  check_values(logsigmoid(tensor<double>({-800.0})), {-800.0});  // no overflow
  check_values(softsign(x), {-2.0 / 3, -0.2, 0, 0.3 / 1.3, 0.6}, 1e-12);
  check_values(
      tanhshrink(x),
      {-2 - std::tanh(-2.0), -0.25 - std::tanh(-0.25), 0, 0.3 - std::tanh(0.3), 1.5 - std::tanh(1.5)}, 1e-12);
  check_values(softshrink(x, 0.25), {-1.75, 0, 0, 0.05, 1.25}, 1e-12);
  check_values(hardshrink(x, 0.25), {-2.0, 0, 0, 0.3, 1.5});
  check_values(threshold(x, 0.1, -7.0), {-7, -7, -7, 0.3, 1.5});
  const Tensor pairs = tensor<double>({{1.0, 2.0, 0.0, -1.0}});
  check_values(glu(pairs), {1.0 / (1 + std::exp(-0.0)), 2.0 / (1 + std::exp(1.0))}, 1e-12);
  check_same(softmin(pairs, 1), softmax(-pairs, 1), 0);
  manual_seed(99);
  const auto r = [] { return kiln::test::rand64({3, 4}); };
  KILN_CHECK_GRAD([](const In& in) { return selu(in[0]); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return celu(in[0], 0.7); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return glu(in[0], 1); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return glu(in[0], 0); }, {kiln::test::rand64({4, 3})});
  KILN_CHECK_GRAD([](const In& in) { return logsigmoid(in[0]); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return softsign(in[0]); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return tanhshrink(in[0]); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return softshrink(in[0], 0.3); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return hardshrink(in[0], 0.3); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return threshold(in[0], 0.1, 2.0); }, {r()});
  KILN_CHECK_GRAD([](const In& in) { return softmin(in[0], 1); }, {r()});
  CHECK_THROWS_WITH_AS(glu(tensor<double>({1.0, 2.0, 3.0})),
                       doctest::Contains("glu: dimension 0 of shape (3) must have an even size"), Error);
  CHECK_THROWS_WITH_AS(softshrink(x, -1.0), doctest::Contains("lambd must be >= 0"), Error);
  CHECK(nn::SELU().description() == "SELU()");
  check_same(nn::SELU()(x), selu(x), 0);
  CHECK(nn::LogSigmoid().description() == "LogSigmoid()");
  CHECK(nn::Softsign().description() == "Softsign()");
  CHECK(nn::Tanhshrink().description() == "Tanhshrink()");
  CHECK(nn::CELU(0.5).description() == "CELU(alpha=0.5)");
  CHECK(nn::GLU().description() == "GLU(dim=-1)");
  CHECK(nn::Softshrink().description() == "Softshrink(lambd=0.5)");
  CHECK(nn::Hardshrink(0.25).description() == "Hardshrink(lambd=0.25)");
  CHECK(nn::Threshold(0.1, 20).description() == "Threshold(threshold=0.1, value=20)");
  CHECK(nn::Softmin(1).description() == "Softmin(dim=1)");
  check_same(nn::Threshold(0.1, -7.0)(x), threshold(x, 0.1, -7.0), 0);
  check_same(nn::GLU(1)(pairs), glu(pairs, 1), 0);
}
