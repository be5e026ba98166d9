// lgamma and digamma of float32 values, computed in double lanes: written once over a
// policy `D` (SpecialAvx2: 4 doubles, SpecialAvx512: 8) and included by each instruction
// set's file inside an anonymous namespace. Each float is widened, the function worked out
// by the series below in double, and the result rounded to float once, so that near their
// roots (lgamma at 1 and 2, digamma at 1.4616...) the answers keep their relative accuracy.
// The references are std::lgamma and cuda_kernels::digamma_of (ref/ref_kernels.hpp);
// tests/test_kernel_parity.cpp holds these to them.

using R = D::R;

inline R set1(double v) { return D::set1(v); }

// Horner's rule: c[0] z^(n-1) + c[1] z^(n-2) + ... + c[n-1].
template <std::size_t N>
inline R horner(R z, const double (&c)[N]) {
  R p = set1(c[0]);
  for (std::size_t k = 1; k < N; ++k) p = D::add(D::mul(p, z), set1(c[k]));
  return p;
}

// log x for finite x > 0 (a normal double): x = m 2^e with m in [sqrt(1/2), sqrt 2),
// log m = 2 atanh(s), s = (m - 1) / (m + 1), by its odd series to s^21 (s^2 < 0.0295: the
// next term is below 1e-17 of the sum); e ln 2 in two parts, the first exact in the product.
inline R log_pos(R x) {
  R e, m;
  D::frexp(x, e, m);  // m in [1, 2)
  const auto big = D::gt(m, set1(1.4142135623730951));
  m = D::select(big, D::mul(m, set1(0.5)), m);
  e = D::select(big, D::add(e, set1(1.0)), e);
  const R s = D::div(D::sub(m, set1(1.0)), D::add(m, set1(1.0)));
  static constexpr double kOdd[] = {1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11,
                                    1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3,  1.0};
  const R log_m = D::mul(D::add(s, s), horner(D::mul(s, s), kOdd));
  const R low = D::add(D::mul(e, set1(1.90821492927058770002e-10)), log_m);
  return D::add(D::mul(e, set1(6.93147180369123816490e-01)), low);
}

// sin(pi r) and cos(pi r), r = x - round(x) in [-1/2, 1/2] (exact): sin(pi x) and cos(pi x)
// up to sign, which is all the reflections below need (|sin|, and cot = cos / sin, whose
// period is pi). Taylor series in y = pi r to y^21 and y^22 (|y| <= pi / 2: the next terms
// are below 2e-18).
inline void sin_cos_pi_reduced(R x, R& sin_y, R& cos_y) {
  const R y = D::mul(D::sub(x, D::round(x)), set1(3.141592653589793));
  const R z = D::mul(y, y);
  static constexpr double kSin[] = {1.9572941063391263e-20, -8.22063524662433e-18, 2.8114572543455206e-15,
                                    -7.647163731819816e-13, 1.6059043836821613e-10, -2.505210838544172e-08,
                                    2.7557319223985893e-06, -1.984126984126984e-04,  8.333333333333333e-03,
                                    -1.6666666666666666e-01, 1.0};
  static constexpr double kCos[] = {-8.896791392450574e-22, 4.110317623312165e-19, -1.5619206968586225e-16,
                                    4.779477332387385e-14,  -1.1470745597729725e-11, 2.08767569878681e-09,
                                    -2.755731922398589e-07, 2.48015873015873e-05,    -1.388888888888889e-03,
                                    4.1666666666666664e-02, -0.5,                    1.0};
  sin_y = D::mul(horner(z, kSin), y);
  cos_y = horner(z, kCos);
}

// lgamma(x) = log |Gamma(x)|. For x > 0: shifted up to z = x + n >= 10 by
// lgamma(x) = lgamma(z) - log(x (x + 1) ... (z - 1)), then Stirling's series to z^-13
// (the first term left out is below 4e-17 at z = 10). Below 0 by the reflection
// lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x). +inf at 0, the negative integers and
// +-inf; exactly 0 at 1 and 2, as the reference gives.
inline R lgamma_v(R x) {
  const auto negative = D::lt(x, set1(0.0));
  R z = D::select(negative, D::sub(set1(1.0), x), x);
  R product = set1(1.0);
  for (int k = 0; k < 10; ++k) {
    const auto below = D::lt(z, set1(10.0));
    product = D::select(below, D::mul(product, z), product);
    z = D::select(below, D::add(z, set1(1.0)), z);
  }
  const R inv = D::div(set1(1.0), z);
  static constexpr double kStirling[] = {1.0 / 156, -691.0 / 360360, 1.0 / 1188, -1.0 / 1680,
                                         1.0 / 1260, -1.0 / 360,     1.0 / 12};
  const R series = D::mul(horner(D::mul(inv, inv), kStirling), inv);
  const R log_z = log_pos(z);
  const R half_log_2pi = set1(0.91893853320467274178);
  R lg = D::sub(D::mul(D::sub(z, set1(0.5)), log_z), z);
  lg = D::add(D::add(lg, half_log_2pi), series);
  lg = D::sub(lg, log_pos(product));
  R out = lg;
  if (D::any(negative)) {
    R sin_y, cos_y;
    sin_cos_pi_reduced(x, sin_y, cos_y);
    const R sine = D::select(negative, D::abs(sin_y), set1(1.0));  // 1: no log of 0 in the other lanes
    out = D::select(negative, D::sub(log_pos(D::div(set1(3.141592653589793), sine)), lg), lg);
  }
  out = D::select(D::mask_or(D::eq(x, set1(1.0)), D::eq(x, set1(2.0))), set1(0.0), out);
  const double inf = __builtin_inf();
  const auto pole = D::mask_and(D::le(x, set1(0.0)), D::eq(x, D::floor(x)));  // -inf too
  out = D::select(D::mask_or(pole, D::eq(x, set1(inf))), set1(inf), out);
  return D::select(D::is_nan(x), x, out);
}

// digamma, as cuda_kernels::digamma_of: below 0 the reflection psi(x) = psi(1 - x) -
// pi cot(pi x); then psi(x) = psi(x + n) - sum 1 / (x + i) up to x + n >= 10, and the
// asymptotic series log x - 1/(2x) - sum B_2k / (2k x^2k) to x^-14. -inf at +0, +inf at
// -0, NaN at the negative integers and -inf.
inline R digamma_v(R x) {
  const auto negative = D::lt(x, set1(0.0));
  R shift = set1(0.0);
  if (D::any(negative)) {
    R sin_y, cos_y;
    sin_cos_pi_reduced(x, sin_y, cos_y);
    shift = D::select(negative, D::div(D::mul(set1(-3.141592653589793), cos_y), sin_y), shift);
  }
  R a = D::select(negative, D::sub(set1(1.0), x), x);
  R sum = set1(0.0);
  for (int k = 0; k < 10; ++k) {
    const auto below = D::lt(a, set1(10.0));
    sum = D::select(below, D::sub(sum, D::div(set1(1.0), a)), sum);
    a = D::select(below, D::add(a, set1(1.0)), a);
  }
  const R inv = D::div(set1(1.0), a), inv2 = D::mul(inv, inv);
  static constexpr double kTail[] = {1.0 / 12, -691.0 / 32760, 1.0 / 132, -1.0 / 240,
                                     1.0 / 252, -1.0 / 120,    1.0 / 12};
  const R tail = D::mul(horner(inv2, kTail), inv2);
  R out = D::add(D::add(shift, sum), log_pos(a));
  out = D::sub(D::sub(out, D::mul(set1(0.5), inv)), tail);
  const double inf = __builtin_inf();
  const auto zero = D::eq(x, set1(0.0));
  out = D::select(zero, D::select(D::sign_bit(x), set1(inf), set1(-inf)), out);
  out = D::select(D::mask_and(negative, D::eq(x, D::floor(x))), set1(__builtin_nan("")), out);
  out = D::select(D::eq(x, set1(inf)), set1(inf), out);
  return D::select(D::is_nan(x), x, out);
}

// y[i] = f(x[i]) over W floats at a time; the last few through a zero-padded copy.
template <class F>
inline void widened_map(std::int64_t n, const float* x, float* y, F f) {
  std::int64_t i = 0;
  for (; i + D::W <= n; i += D::W) D::store(y + i, f(D::load(x + i)));
  if (i < n) {
    float in[D::W] = {}, out[D::W];
    std::copy(x + i, x + n, in);
    D::store(out, f(D::load(in)));
    std::copy(out, out + (n - i), y + i);
  }
}

void lgamma_k(std::int64_t n, const float* x, float* y) { widened_map(n, x, y, [](R v) { return lgamma_v(v); }); }
void digamma_k(std::int64_t n, const float* x, float* y) { widened_map(n, x, y, [](R v) { return digamma_v(v); }); }
