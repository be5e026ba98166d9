// The elementwise math functions of kiln/ops/math.hpp: values against <cmath> and known
// constants (special values too), in both precisions, float64 gradchecks, errors.
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <type_traits>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
using kiln::test::positive64;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// f applied by kiln to `inputs` (in dtype) equals g applied by <cmath> in that dtype, to the
// last bit (each is one call of the library function on either side) or, for the
// functions kiln computes in double or with a vector kernel, within `tol` relative.
template <class T>
void check_against(const char* name, const std::function<Tensor(const Tensor&)>& f, T (*g)(T),
                   const std::vector<double>& inputs, double tol = 0) {
  INFO(name);
  std::vector<T> in(inputs.begin(), inputs.end());
  const std::vector<T> got = f(from_vector(in)).template to_vector<T>();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const T want = g(in[i]);
    INFO("x = ", in[i], ": got ", got[i], ", expected ", want);
    if (std::isnan(want))
      CHECK(std::isnan(got[i]));
    else if (tol == 0 || std::isinf(want))
      CHECK(got[i] == want);
    else
      CHECK(std::abs(got[i] - want) <= tol * std::abs(want) + 1e-300);
  }
}

template <class T>
void unary_functions_match_cmath() {
  const std::vector<double> any = {-1e3, -3.5, -1,  -0.7, -1e-20, -0.0, 0,     1e-20,
                                   0.3,  1,    2.5, 40,   1e3,    kInf, -kInf, NAN};
  const std::vector<double> unit = {-1.5, -1, -0.99, -0.5, -1e-8, 0, 1e-8, 0.5, 0.99, 1, 1.5, NAN};
  check_against<T>(
      "tan", [](const Tensor& x) { return tan(x); }, std::tan, any);
  check_against<T>(
      "asin", [](const Tensor& x) { return asin(x); }, std::asin, unit);
  check_against<T>(
      "acos", [](const Tensor& x) { return acos(x); }, std::acos, unit);
  check_against<T>(
      "atan", [](const Tensor& x) { return atan(x); }, std::atan, any);
  check_against<T>(
      "sinh", [](const Tensor& x) { return sinh(x); }, std::sinh, any);
  check_against<T>(
      "cosh", [](const Tensor& x) { return cosh(x); }, std::cosh, any);
  check_against<T>(
      "asinh", [](const Tensor& x) { return asinh(x); }, std::asinh, any);
  check_against<T>(
      "acosh", [](const Tensor& x) { return acosh(x); }, std::acosh, any);
  check_against<T>(
      "atanh", [](const Tensor& x) { return atanh(x); }, std::atanh, unit);
  // float32 erf, erfc and lgamma run vector kernels of their own (4e-6 relative to <cmath>,
  // as the kernel parity test holds them; lgamma's is closer to the exact value than
  // glibc's lgammaf); float64 calls <cmath>.
  const double vector_kernel = std::is_same_v<T, float> ? 4e-6 : 0;
  check_against<T>(
      "erf", [](const Tensor& x) { return erf(x); }, std::erf, any, vector_kernel);
  check_against<T>(
      "erfc", [](const Tensor& x) { return erfc(x); }, std::erfc, any, vector_kernel);
  check_against<T>(
      "trunc", [](const Tensor& x) { return trunc(x); }, std::trunc, any);
  check_against<T>(
      "exp2", [](const Tensor& x) { return exp2(x); }, std::exp2, any);
  check_against<T>(
      "log2", [](const Tensor& x) { return log2(x); }, std::log2, any);
  check_against<T>(
      "log10", [](const Tensor& x) { return log10(x); }, std::log10, any);
  check_against<T>(
      "lgamma", [](const Tensor& x) { return lgamma(x); }, std::lgamma,
      {-2.5, -2, -1, -0.5, 0, 0.5, 1, 2, 3.7, 100, 1e30, kInf, -kInf, NAN}, vector_kernel);
  check_against<T>(
      "rsqrt", [](const Tensor& x) { return rsqrt(x); }, +[](T v) { return T(1) / std::sqrt(v); },
      {-1, -0.0, 0, 1e-30, 0.25, 2, 1e30, kInf, NAN});
  check_against<T>(
      "reciprocal", [](const Tensor& x) { return reciprocal(x); }, +[](T v) { return T(1) / v; }, any);
  check_against<T>(
      "square", [](const Tensor& x) { return square(x); }, +[](T v) { return v * v; }, any);
  check_against<T>(
      "frac", [](const Tensor& x) { return frac(x); },
      +[](T v) { return std::isinf(v) ? T(NAN) : v - std::trunc(v); },
      {-3.75, -1, -0.25, 0, 0.5, 2.25, 1e3 + 0.125, kInf, -kInf, NAN});
}
}  // namespace

TEST_CASE("math: each unary function against <cmath>, special values included, float64 and float32") {
  unary_functions_match_cmath<double>();
  unary_functions_match_cmath<float>();
  // Signed zeros survive where <cmath> keeps them.
  CHECK(std::signbit(tan(tensor<double>({-0.0})).item()));
  CHECK(std::signbit(trunc(tensor<double>({-0.5})).item()));
}

TEST_CASE("math: erfinv inverts erf, tails included") {
  // erfinv(1/2) and erfinv(0.999) to 15 digits (Mathematica's InverseErf).
  check_values(erfinv(tensor<double>({0.5, -0.999})), {0.476936276204469873, -2.32675376551352470}, 1e-15);
  for (double y : {1e-300, 1e-12, 0.1, 0.5, 0.75, 0.99, 1 - 1e-9, 1 - 1e-15}) {
    const double x = erfinv(tensor<double>({y})).item();
    INFO("y = ", y);
    // Near 1 compare 1 - y, which erfc keeps to full relative precision.
    if (y > 0.5)
      CHECK(std::abs(std::erfc(x) - (1 - y)) <= 1e-14 * (1 - y));
    else
      CHECK(std::abs(std::erf(x) - y) <= 1e-15 * y);
  }
  check_values(erfinv(tensor<double>({1, -1, 0, 1.5, -2, NAN})), {kInf, -kInf, 0, NAN, NAN, NAN}, 0);
  CHECK(std::signbit(erfinv(tensor<double>({-0.0})).item()));
  // float32: the double result rounded once.
  const Tensor ys = rand({200}) * 1.98 - 0.99;
  const std::vector<float> got = erfinv(ys).to_vector<float>(), in = ys.to_vector<float>();
  for (std::size_t i = 0; i < in.size(); ++i) CHECK(std::abs(std::erf(double(got[i])) - in[i]) <= 2e-7);
  // erfinv(erf(x)) returns x, where erf(x) is not so near ±1 that its rounding hides x.
  const Tensor x = rand({50}, kFloat64) * 4.0 - 2.0;
  kiln::test::check_same(erfinv(erf(x)), x, 1e-12);
}

TEST_CASE("math: digamma at known values, its poles, and as lgamma's derivative") {
  const double gamma = 0.57721566490153286;  // Euler's constant
  // psi(1) = -gamma, psi(1/2) = -gamma - 2 ln 2, psi(n + 1) = psi(n) + 1/n, psi(-1/2) = psi(1/2) + 2.
  check_values(digamma(tensor<double>({1, 0.5, 4, -0.5, 1e6})),
               {-gamma, -gamma - 2 * std::numbers::ln2, -gamma + 1 + 0.5 + 1.0 / 3,
                -gamma - 2 * std::numbers::ln2 + 2, std::log(1e6) - 0.5e-6 - 1.0 / 12e12},
               1e-14);
  check_values(digamma(tensor<double>({0.0, -0.0, -1, -2, -kInf, kInf, NAN})),
               {-kInf, kInf, NAN, NAN, NAN, kInf, NAN}, 0);
  check_values(digamma(tensor<float>({1})), {-gamma}, 1e-7);
  // Against lgamma's central difference, both signs of x, small and large.
  for (double x : {0.01, 0.3, 1.4616, 2.7, 9.99, 10.01, 55.5, -0.3, -1.7, -7.9}) {
    const double h = 1e-6 * std::max(1.0, std::abs(x));
    const double fd = (std::lgamma(x + h) - std::lgamma(x - h)) / (2 * h);
    INFO("x = ", x);
    CHECK(digamma(tensor<double>({x})).item() == doctest::Approx(fd).epsilon(1e-7).scale(1));
  }
}

TEST_CASE("math: Hurwitz's zeta and polygamma at known values, their edges, and against 60-digit sums") {
  const double pi = std::numbers::pi, apery = 1.2020569031595942854;  // zeta(3)
  // zeta(2) = pi^2 / 6, zeta(4) = pi^4 / 90, zeta(2, 1/2) = 3 zeta(2), zeta(6, 2) = zeta(6) - 1.
  check_values(zeta(tensor<double>({2, 4, 3, 2, 6}), tensor<double>({1, 1, 1, 0.5, 2})),
               {pi * pi / 6, std::pow(pi, 4) / 90, apery, pi * pi / 2, std::pow(pi, 6) / 945 - 1}, 2e-15);
  // Sums to 60 digits (terms one by one, then Euler-Maclaurin far out): where the series
  // meets the direct sum, large s, s near 1, q near 0 and large q.
  check_values(
      zeta(tensor<double>({10, 51.07784261786553, 1.0001, 30, 7.5, 3.5, 2}),
           tensor<double>({10, 31.302618249250155, 0.5, 1e-3, 1e6, 2.25, 1e-8})),
      {1.6926861254407483327e-10, 5.1008425849755890529e-77, 10001.963645377935279, 9.999999999999993755e+89,
       1.5384665384677884615e-40, 0.089012242492388851113, 10000000000000001.226},
      3e-15);
  // psi'(1) = zeta(2), psi''(1) = -2 zeta(3), psi^(3)(1/2) = pi^4, psi''(-1/2) = 16 - 14 zeta(3);
  // psi^(5)(3.3) and psi^(4)(-2.7) from 60-digit sums.
  const Tensor at = tensor<double>({1, 1, 0.5, -0.5, 3.3, -2.7});
  const std::vector<int> orders = {1, 2, 3, 2, 5, 4};
  const std::vector<double> want = {
      pi * pi / 6,           -2 * apery, std::pow(pi, 4), 16 - 14 * apery, 0.12084171431847722886,
      -9738.8133404651006185};
  for (std::size_t i = 0; i < orders.size(); ++i) {
    INFO("polygamma(", orders[i], ", ", at.to_vector<double>()[i], ")");
    CHECK(polygamma(orders[i], at.narrow(0, i, 1)).item() == doctest::Approx(want[i]).epsilon(1e-13));
  }
  check_values(polygamma(0, at), digamma(at).to_vector<double>(), 0);
  CHECK(polygamma(1, tensor<float>({1})).item() == doctest::Approx(pi * pi / 6).epsilon(1e-7));
  CHECK(zeta(2.0, tensor<float>({1})).item() == doctest::Approx(pi * pi / 6).epsilon(1e-7));
  // The edges, PyTorch's: a pole at s = 1 and at q = 0, -1, ...; NaN for s < 1, for q < 0 with
  // s not whole, and for NaN; 0 at q = inf.
  check_values(
      zeta(tensor<double>({1, 0.5, 2, 2, 2.5, NAN, 2, 3}), tensor<double>({2, 2, 0, -3, -1.5, 1, NAN, kInf})),
      {kInf, NAN, kInf, kInf, NAN, NAN, NAN, 0}, 0);
  check_values(polygamma(1, tensor<double>({0, -2, kInf})), {kInf, kInf, 0}, 0);
  CHECK_THROWS_WITH_AS(polygamma(-1, at), doctest::Contains("polygamma: the order n must be 0 or more"),
                       Error);
  // zeta's gradient in q is -s zeta(s + 1, q); none is defined in s.
  const Tensor s = tensor<double>({2.5}).requires_grad_(), q = tensor<double>({1.5}).requires_grad_();
  CHECK_THROWS_WITH_AS(sum(zeta(s, q)).backward(), doctest::Contains("zeta: no gradient in s"), Error);
}

TEST_CASE("math: the Bessel functions i0, i0e, i1, i1e and mvlgamma at known values, edges, gradients") {
  // 30-digit values (mpmath): the series below |x| = 25, the asymptotic expansion above,
  // and past I0's overflow (800), where only the scaled forms are finite.
  const Tensor x = tensor<double>({0, 0.5, -1.5, 3, 10, -30, 100, 800});
  check_values(i0(x),
               {1.0, 1.0634833707413235, 1.6467231897728908, 4.8807925858650241, 2815.7166284662545,
                781672297823.97749, 1.0737517071310738e+42, kInf},
               3e-15);
  check_values(i0e(x),
               {1.0, 0.64503527044915007, 0.36743360905415834, 0.2430003541618254, 0.12783333716342861,
                0.073145946482237294, 0.039944379299096683, 0.014106945005869184},
               3e-15);
  check_values(i1(x),
               {0.0, 0.25789430539089632, -0.98166642857790759, 3.9533702174026094, 2670.9883037012547,
                -768532038938.957, 1.0683693903381625e+42, kInf},
               3e-15);
  check_values(i1e(x),
               {0.0, 0.1564208031848717, -0.21903938742092567, 0.19682671329730085, 0.12126268138445552,
                -0.071916330598647555, 0.039744153025130253, 0.014098125406526997},
               3e-15);
  // I0 even, I1 odd; at the infinities and NaN.
  check_values(i0(tensor<double>({-kInf, kInf, NAN})), {kInf, kInf, NAN}, 0);
  check_values(i1(tensor<double>({-kInf, kInf, NAN})), {-kInf, kInf, NAN}, 0);
  check_values(i0e(tensor<double>({-kInf, kInf})), {0, 0}, 0);
  check_values(i1e(tensor<double>({-kInf, kInf})), {0, 0}, 0);
  // float32 rounds the double value once; float64 tensors keep it (the same kernel).
  CHECK(i0(tensor<float>({3})).item() == doctest::Approx(4.8807925858650241).epsilon(1e-7));
  CHECK(i1e(tensor<float>({-30})).item() == doctest::Approx(-0.071916330598647555).epsilon(1e-7));
  // Gradients (and second ones: each rule is recorded), across 0 and the switch at 25.
  const Tensor across = tensor<double>({-31.5, -2.2, -0.3, 0.4, 1.7, 24.5, 26.0});
  for (const auto f : {&i0, &i0e, &i1, &i1e}) {
    KILN_CHECK_GRAD([f](const In& in) { return f(in[0]); }, {across});
    KILN_CHECK_GRADGRAD([f](const In& in) { return f(in[0]); }, {across});
  }
  // I1'(0) = I1e'(0) = 1/2, I0'(0) = 0 (the difference quotient's limit).
  const Tensor zero = tensor<double>({0.0}).requires_grad_();
  sum(i1(zero) + 10.0 * i1e(zero) + 100.0 * i0(zero)).backward();
  check_values(zero.grad(), {5.5}, 1e-15);
  // mvlgamma: p (p - 1) / 4 log pi + sum_j lgamma(x - j / 2), against mpmath.
  check_values(mvlgamma(tensor<double>({2.5}), 3), {1.8809954616117742}, 1e-14);
  check_values(mvlgamma(tensor<double>({1.2}), 1), {-0.085374090003315837}, 1e-14);
  check_values(mvlgamma(tensor<double>({4}), 2), {3.5650980144998293}, 1e-14);
  KILN_CHECK_GRAD([](const In& in) { return mvlgamma(in[0], 4); }, {tensor<double>({1.6, 2.2, 7.9})});
  CHECK_THROWS_WITH_AS(
      mvlgamma(tensor<double>({2.0, 1.4}), 4),
      doctest::Contains("mvlgamma: every entry of the tensor of shape (2) must exceed (p - 1) / 2 = 1.5"),
      Error);
  CHECK_THROWS_WITH_AS(mvlgamma(tensor<double>({2.0}), 0),
                       doctest::Contains("the dimension p must be 1 or more"), Error);
  CHECK_THROWS_WITH_AS(i0(tensor<std::int64_t>({1})), doctest::Contains("i0: expected a floating tensor"),
                       Error);
}

TEST_CASE("math: signbit, frexp and nextafter: signed zeros, subnormals, the infinities, NaN") {
  const double tiny = std::numeric_limits<double>::denorm_min();
  const Tensor x = tensor<double>({1.5, -1.5, 0.0, -0.0, kInf, -kInf, tiny, -1e300, 6.0});
  CHECK(signbit(x).dtype() == kUInt8);
  check_values(signbit(x), {0, 1, 0, 1, 0, 1, 0, 1, 0}, 0);
  check_values(signbit(-tensor<double>({NAN})), {1}, 0);  // the sign bit of a NaN, as std::signbit
  check_values(signbit(tensor<std::int64_t>({-3, 0, 4})), {1, 0, 0}, 0);
  // x = m 2^e, |m| in [0.5, 1): 1.5 = 0.75 2^1, 6 = 0.75 2^3, the smallest subnormal 0.5 2^-1073.
  const MantissaExponent parts = frexp(x);
  CHECK(parts.exponent.dtype() == kInt32);
  check_values(parts.mantissa, {0.75, -0.75, 0, 0, kInf, -kInf, 0.5, -1e300 / std::ldexp(1.0, 997), 0.75}, 0);
  check_values(parts.exponent, {1, 1, 0, 0, 0, 0, -1073, 997, 3}, 0);
  CHECK(std::signbit(parts.mantissa.to_vector<double>()[3]));  // -0 stays -0
  CHECK(std::isnan(frexp(tensor<double>({NAN})).mantissa.item()));
  // float32: a subnormal's exponent in float's own range; the parts put x back together exactly.
  const Tensor f = tensor<float>({1e-40f, 3.0f, -0.1f});
  const MantissaExponent fp = frexp(f);
  CHECK(fp.mantissa.dtype() == kFloat32);
  check_values(fp.exponent, {-132, 2, -3}, 0);
  kiln::test::check_same(ldexp(fp.mantissa, fp.exponent), f, 0);
  // The mantissa's gradient is 2^-e; the exponent has none.
  const Tensor leaf = tensor<double>({3.0, -0.2}).requires_grad_();
  sum(frexp(leaf).mantissa).backward();
  check_values(leaf.grad(), {0.25, 4}, 0);  // 3 = 0.75 2^2, -0.2 = -0.8 2^-2
  KILN_CHECK_GRAD([](const In& in) { return frexp(in[0]).mantissa; },
                  {tensor<double>({0.3, -5.1, 17.0, 1e-3})});
  // nextafter: one ulp toward b, in the dtype's own precision; b where they are equal.
  check_values(nextafter(tensor<double>({1, 1, 0, 2}), tensor<double>({2, 0, -1, 2})),
               {std::nextafter(1.0, 2.0), std::nextafter(1.0, 0.0), -tiny, 2}, 0);
  CHECK(nextafter(tensor<float>({1}), tensor<float>({2})).item() ==
        static_cast<double>(std::nextafterf(1, 2)));
  check_values(nextafter(tensor<double>({{1}, {NAN}}), tensor<double>({0, 5})),
               {std::nextafter(1.0, 0.0), std::nextafter(1.0, 5.0), NAN, NAN}, 0);
  CHECK_FALSE(nextafter(tensor<double>({1}).requires_grad_(), tensor<double>({2})).requires_grad());
  CHECK_THROWS_WITH_AS(nextafter(tensor<std::int64_t>({1}), tensor<std::int64_t>({2})),
                       doctest::Contains("nextafter: expected a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(frexp(tensor<std::int64_t>({1})),
                       doctest::Contains("frexp: expected a floating tensor"), Error);
}

TEST_CASE("math: atan2, hypot, fmod, remainder, logaddexp") {
  // atan2's quadrants, its axes and signed zeros, as <cmath>'s.
  const std::vector<double> ys = {1, 1, -1, -1, 0, -0.0, 0, 3, kInf, NAN};
  const std::vector<double> xs = {1, -1, 1, -1, -1, -1, 0, 0, kInf, 1};
  std::vector<double> want;
  for (std::size_t i = 0; i < ys.size(); ++i) want.push_back(std::atan2(ys[i], xs[i]));
  check_values(atan2(from_vector(ys), from_vector(xs)), want, 0);
  CHECK(std::signbit(atan2(tensor<double>({-0.0}), tensor<double>({-1})).item()));  // -pi
  // hypot: no overflow or underflow in the squares.
  check_values(
      hypot(tensor<double>({3, 1e300, 3e-300, kInf, NAN}), tensor<double>({4, 1e300, 4e-300, NAN, kInf})),
      {5, std::sqrt(2.0) * 1e300, 5e-300, kInf, kInf}, 1e-15);
  // fmod keeps a's sign, remainder b's; both exact.
  const Tensor a = tensor<double>({5.5, -5.5, 5.5, -5.5, 1e17 + 4, 3, 0.0});
  const Tensor b = tensor<double>({2, 2, -2, -2, 3, kInf, 1});
  check_values(fmod(a, b), {1.5, -1.5, 1.5, -1.5, std::fmod(1e17 + 4, 3), 3, 0}, 0);
  check_values(remainder(a, b), {1.5, 0.5, -0.5, -1.5, std::fmod(1e17 + 4, 3), 3, 0}, 0);
  check_values(fmod(tensor<float>({7.5f, -1}), 0.0), {NAN, NAN}, 0);
  check_values(remainder(tensor<float>({-7.25f}), 2.0), {0.75}, 0);
  // remainder of a small negative number by a large one: b plus it, as Python's.
  CHECK(remainder(tensor<double>({-1e-20}), 3.0).item() == 3.0);
  // logaddexp: exact at equal infinities, no overflow, -inf as the sum's identity.
  check_values(logaddexp(tensor<double>({0, 1000, -kInf, kInf, -kInf, 2, NAN}),
                         tensor<double>({0, 1000, -kInf, kInf, 3, kInf, 0})),
               {std::log(2.0), 1000 + std::log(2.0), -kInf, kInf, 3, kInf, NAN}, 1e-15);
  check_values(logaddexp(tensor<float>({-120, 80}), tensor<float>({-121, 90})),
               {-120 + std::log1p(std::exp(-1.0)), 90 + std::log1p(std::exp(-10.0))}, 1e-6);
}

TEST_CASE("math: xlogy, logit, lerp, clamp with tensor bounds, nan_to_num") {
  // xlogy: 0 at x = 0 whatever y (NaN excepted), x log y elsewhere.
  check_values(xlogy(tensor<double>({0, 0, 0, 2, 0, 3}), tensor<double>({0, -1, 5, 0.5, NAN, -1})),
               {0, 0, 0, 2 * std::log(0.5), NAN, NAN}, 1e-15);
  // Its gradient: log y in x (0 where x = 0 and y <= 0), x / y in y.
  const Tensor x = tensor<double>({0, 0, 2}).requires_grad_(), y = tensor<double>({3, 0, 4}).requires_grad_();
  sum(xlogy(x, y)).backward();
  check_values(x.grad(), {std::log(3.0), 0, std::log(4.0)}, 1e-15);
  check_values(y.grad(), {0, NAN, 0.5}, 1e-15);  // 0 / 0 at (0, 0), as torch's

  // logit is sigmoid's inverse; with eps the ends are clamped (and get no gradient).
  const Tensor p = tensor<double>({1e-3, 0.25, 0.5, 0.9});
  kiln::test::check_same(sigmoid(logit(p)), p, 1e-15);
  check_values(logit(tensor<double>({0, 1})), {-kInf, kInf}, 0);
  check_values(logit(tensor<double>({0, 1, 0.5}), 0.1), {std::log(1.0 / 9), std::log(9.0), 0}, 1e-15);
  const Tensor q = tensor<double>({0.05, 0.5}).requires_grad_();
  sum(logit(q, 0.1)).backward();
  check_values(q.grad(), {0, 4}, 1e-15);
  CHECK_THROWS_WITH_AS(logit(p, 0.7), doctest::Contains("logit: eps must lie in [0, 0.5]"), Error);

  // lerp: exact at both ends, from the nearer end in between; weights broadcast.
  const Tensor s = tensor<double>({1, -2, 1e-3}), e = tensor<double>({3, 5, 7e5});
  check_values(lerp(s, e, 0.0), s.to_vector<double>(), 0);
  check_values(lerp(s, e, 1.0), e.to_vector<double>(), 0);
  check_values(lerp(s, e, tensor<double>({0.25, 0.75, 1})), {1.5, 3.25, 7e5}, 1e-15);
  check_values(lerp(s, e, 0.5), {2, 1.5, (1e-3 + 7e5) / 2}, 1e-15);

  // clamp by tensors: min(max(x, lo), hi); the gradient to x inside, else to the bound.
  const Tensor v = tensor<double>({-2, 0.5, 3, 1}).requires_grad_();
  const Tensor lo = tensor<double>({-1, -1, -1, 2}).requires_grad_(),
               hi = tensor<double>({1, 1, 1, 0}).requires_grad_();
  const Tensor c = clamp(v, lo, hi);
  check_values(c, {-1, 0.5, 1, 0}, 0);  // lo > hi gives hi, as torch's
  sum(c * tensor<double>({1, 2, 3, 4})).backward();
  check_values(v.grad(), {0, 2, 0, 0}, 0);
  check_values(lo.grad(), {1, 0, 0, 0}, 0);
  check_values(hi.grad(), {0, 0, 3, 4}, 0);

  // nan_to_num: the defaults are 0 and the dtype's finite ends; the gradient passes where finite.
  const Tensor w = tensor<float>({NAN, INFINITY, -INFINITY, 1.5f});
  check_values(nan_to_num(w),
               {0, std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest(), 1.5}, 0);
  check_values(nan_to_num(w, 7, 8, -9), {7, 8, -9, 1.5}, 0);
  CHECK(nan_to_num(tensor<double>({kInf})).item() == std::numeric_limits<double>::max());
  const Tensor z = tensor<double>({NAN, kInf, 2}).requires_grad_();
  sum(nan_to_num(z)).backward();
  check_values(z.grad(), {0, 0, 1}, 0);
}

TEST_CASE("math: float64 gradchecks") {
  manual_seed(91);
  const Tensor inside = rand({2, 3}, kFloat64) * 1.6 - 0.8;  // (-0.8, 0.8): asin, acos, atanh, erfinv
  KILN_CHECK_GRAD([](const In& in) { return tan(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return asin(in[0]); }, {inside});
  KILN_CHECK_GRAD([](const In& in) { return acos(in[0]); }, {inside});
  KILN_CHECK_GRAD([](const In& in) { return atan(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return sinh(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return cosh(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return asinh(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return acosh(in[0]); }, {positive64({2, 3}) + 1.0});
  KILN_CHECK_GRAD([](const In& in) { return atanh(in[0]); }, {inside});
  KILN_CHECK_GRAD([](const In& in) { return erf(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return erfc(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return erfinv(in[0]); }, {inside});
  KILN_CHECK_GRAD([](const In& in) { return rsqrt(in[0]); }, {positive64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return reciprocal(in[0]); }, {positive64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return square(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return exp2(in[0]); }, {rand64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return log2(in[0]); }, {positive64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return log10(in[0]); }, {positive64({2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return lgamma(in[0]); }, {tensor<double>({0.2, 1.5, 7.3, -0.4, -2.6})});
  KILN_CHECK_GRAD([](const In& in) { return digamma(in[0]); },
                  {tensor<double>({0.2, 1.5, 12.3, -0.4, -2.6})});
  for (int n : {1, 2, 5})
    KILN_CHECK_GRAD([n](const In& in) { return polygamma(n, in[0]); },
                    {tensor<double>({0.2, 1.5, 12.3, -0.4, -2.6})});
  KILN_CHECK_GRAD(
      [](const In& in) {
        return zeta(3.5, in[0]) + zeta(tensor<double>({2.0, 7.0}), in[0]);
      },
      {tensor<double>({0.3, 11.5})});
  KILN_CHECK_GRAD([](const In& in) { return frac(in[0]); }, {tensor<double>({-2.3, -0.4, 0.3, 5.6})});
  KILN_CHECK_GRAD([](const In& in) { return logit(in[0]); }, {rand({5}, kFloat64) * 0.8 + 0.1});
  KILN_CHECK_GRAD([](const In& in) { return logit(in[0], 0.2); }, {tensor<double>({0.1, 0.3, 0.6, 0.95})});
  // Two inputs, broadcasting.
  KILN_CHECK_GRAD([](const In& in) { return atan2(in[0], in[1]); }, {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return hypot(in[0], in[1]); }, {rand64({2, 3}), rand64({2, 1})});
  KILN_CHECK_GRAD([](const In& in) { return logaddexp(in[0], in[1]); }, {rand64({2, 3}), rand64({3})});
  // fmod and remainder away from their jumps: a / b not near an integer.
  const Tensor num = tensor<double>({5.3, -5.3, 5.3, -5.3, 0.7}), den = tensor<double>({2, 2, -2, -2, 3});
  KILN_CHECK_GRAD([](const In& in) { return fmod(in[0], in[1]); }, {num, den});
  KILN_CHECK_GRAD([](const In& in) { return remainder(in[0], in[1]); }, {num, den});
  KILN_CHECK_GRAD([](const In& in) { return xlogy(in[0], in[1]); }, {rand64({2, 3}), positive64({3})});
  KILN_CHECK_GRAD([](const In& in) { return lerp(in[0], in[1], in[2]); },
                  {rand64({2, 3}), rand64({3}), rand({2, 1}, kFloat64)});
  KILN_CHECK_GRAD([](const In& in) { return lerp(in[0], in[1], 0.7); }, {rand64({2, 3}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return clamp(in[0], in[1], in[2]); },
                  {rand64({2, 4}), rand64({4}) - 0.5, rand64({2, 1}) + 0.5});
  KILN_CHECK_GRAD([](const In& in) { return nan_to_num(in[0]); }, {rand64({2, 3})});
  // A transposed (strided) input.
  KILN_CHECK_GRAD([](const In& in) { return atan(in[0].t()) + erf(in[0].t()); }, {rand64({3, 2})});
}

// (fmod, remainder and floor_divide take integers: tests/test_integer_division.cpp.)
TEST_CASE("math: integer tensors are refused with the op's name") {
  const Tensor i = tensor<std::int64_t>({1, 2});
  CHECK_THROWS_WITH_AS(erf(i), doctest::Contains("erf: expected a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(lgamma(i), doctest::Contains("lgamma: expected a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(atan2(i, i), doctest::Contains("atan2: expected a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(atan2(tensor<double>({1}), tensor<float>({1})), doctest::Contains("atan2: dtypes"),
                       Error);
  CHECK_THROWS_WITH_AS(hypot(tensor<double>({1, 2}), tensor<double>({1, 2, 3})), doctest::Contains("hypot"),
                       Error);
  CHECK_THROWS_WITH_AS(lerp(i, i, 0.5), doctest::Contains("lerp: expected a floating tensor"), Error);
}
