// Special functions that neither <cmath> nor CUDA's math library offers on both sides:
// erf's inverse (absent from <cmath>), digamma, trigamma, the modified Bessel functions
// I0 and I1 and Hurwitz's zeta function (absent from both). Plain C++ that nvcc and the
// host compiler both read, so the CPU's reference kernels, the GPU's kernels and nn::init
// compute each value the same way. All in double; a float caller rounds the result once.
// Each math call names the global function (::log), which kiln's tensor functions of the
// same names would otherwise hide.
#pragma once

#include <math.h>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kTwoOverSqrtPi = 1.12837916709551257390;  // erf'(x) = this e^(-x^2)

// The x with erf(x) = y, for y in [-1, 1] (±inf at ±1, NaN outside or for NaN; -0 stays
// -0). Winitzki's closed-form guess (within 2e-3), then four Newton steps: on erf where
// |y| <= 1/2, and on erfc = 1 - |y| (exact there) beyond, so the tails keep their
// relative precision. The error of a step squares, times at most |x| < 6.
KILN_HOST_DEVICE inline double erfinv_of(double y) {
  if (!(y >= -1.0 && y <= 1.0)) return NAN;
  if (y == 0.0) return y;
  const double a = ::fabs(y);
  if (a == 1.0) return y * INFINITY;
  const double w = ::log((1.0 - a) * (1.0 + a));  // log(1 - a^2) <= 0
  const double k = 0.147, c = 2.0 / (kPi * k) + w / 2.0;
  double x = ::sqrt(::sqrt(c * c - w / k) - c);
  for (int step = 0; step < 4; ++step) {
    const double slope = kTwoOverSqrtPi * ::exp(-x * x);
    x -= a <= 0.5 ? (::erf(x) - a) / slope : (1.0 - a - ::erfc(x)) / slope;
  }
  return y < 0.0 ? -x : x;
}

// psi(x) = d/dx log Gamma(x). PyTorch's values at the edges: -inf at +0 (+inf at -0),
// NaN at the negative integers and -inf, +inf at +inf. Below 0 by the reflection
// psi(x) = psi(1 - x) - pi / tan(pi x), tan's argument reduced by x's integer part
// (exact); above, psi(x) = psi(x + n) - sum 1 / (x + i) up to x + n >= 10, then the
// asymptotic series to x^-14 (its next term is below 5e-17 there).
KILN_HOST_DEVICE inline double digamma_of(double x) {
  if (x != x || x == INFINITY) return x;
  if (x == 0.0) return ::signbit(x) ? INFINITY : -INFINITY;
  double shift = 0.0;
  if (x < 0.0) {
    if (x == ::floor(x)) return NAN;  // a pole, or -inf
    shift = -kPi / ::tan(kPi * (x - ::trunc(x)));
    x = 1.0 - x;
  }
  double sum = 0.0;
  for (; x < 10.0; x += 1.0) sum -= 1.0 / x;
  const double inv = 1.0 / x, inv2 = inv * inv;
  // The series' coefficients of x^-2, x^-4, ..., x^-14 (Bernoulli numbers B_2k / 2k).
  constexpr double c[7] = {1.0 / 12, -1.0 / 120, 1.0 / 252, -1.0 / 240, 1.0 / 132, -691.0 / 32760, 1.0 / 12};
  double tail = 0.0;
  for (int k = 6; k >= 0; --k) tail = (tail + c[k]) * inv2;
  return shift + sum + ::log(x) - 0.5 * inv - tail;
}

// psi'(x), the trigamma function: +inf at the non-positive integers, NaN at -inf, 0 at
// +inf. Below 1/2 by the reflection psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x), sin's
// argument reduced to [-1/2, 1/2] (exact); above, psi'(x) = psi'(x + n) + sum 1 / (x + i)^2
// up to x + n >= 10, then the asymptotic series to x^-15.
KILN_HOST_DEVICE inline double trigamma_of(double x) {
  if (x != x || x == -INFINITY) return x != x ? x : NAN;
  if (x == INFINITY) return 0.0;
  if (x <= 0.0 && x == ::floor(x)) return INFINITY;
  double reflected = 0.0, sign = 1.0;
  if (x < 0.5) {
    const double s = ::sin(kPi * (x - ::rint(x)));
    reflected = kPi * kPi / (s * s);
    sign = -1.0;
    x = 1.0 - x;
  }
  double sum = 0.0;
  for (; x < 10.0; x += 1.0) sum += 1.0 / (x * x);
  const double inv = 1.0 / x, inv2 = inv * inv;
  // 1/x + 1/(2x^2) + the coefficients of x^-3, x^-5, ..., x^-15 (Bernoulli numbers B_2k).
  constexpr double d[7] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6};
  double odd = 0.0;
  for (int k = 6; k >= 0; --k) odd = (odd + d[k]) * inv2;
  const double series = inv + 0.5 * inv * inv + inv * odd;
  return reflected + sign * (sum + series);
}

// The modified Bessel functions of the first kind I0 and I1, and e^-|x| times them
// (torch.special's i0, i1, i0e, i1e). Up to |x| = 25 by the power series
// I_n(x) = (x / 2)^n sum_k (x^2 / 4)^k / (k! (k + n)!), whose terms are all positive (so
// the sum keeps its relative precision); beyond, by the asymptotic expansion
// e^-x I_n(x) = (2 pi x)^-1/2 sum_k (-1)^k prod_{j <= k} (4 n^2 - (2j - 1)^2) / (8 j x),
// whose terms shrink to below 1e-17 of the sum long before they start to grow again.
// I0 is even, I1 odd; I0(x) overflows to +inf only past x = 713.98 (e^x is taken in
// halves).
KILN_HOST_DEVICE inline double bessel_series_of(int n, double a) {  // the sum, a >= 0
  const double q = a * a / 4.0;
  double term = 1.0, sum = 1.0;
  for (int k = 1; k < 200 && term > 1e-17 * sum; ++k) {
    term *= q / (static_cast<double>(k) * static_cast<double>(k + n));
    sum += term;
  }
  return sum;
}
KILN_HOST_DEVICE inline double bessel_scaled_tail_of(int n, double a) {  // e^-a I_n(a), a > 25
  const double mu = 4.0 * n * n;
  double term = 1.0, sum = 1.0;
  for (int k = 1; k < 100; ++k) {
    const double odd = 2.0 * k - 1.0;
    term *= -(mu - odd * odd) / (8.0 * k * a);
    sum += term;
    if (::fabs(term) <= 1e-17 * ::fabs(sum)) break;
  }
  return sum / ::sqrt(2.0 * kPi * a);
}
inline constexpr double kBesselSeriesLimit = 25.0;
// e^-|x| I_n(x) when `scaled`, else I_n(x), for n = 0 or 1.
KILN_HOST_DEVICE inline double bessel_i_of(int n, double x, bool scaled) {
  if (x != x) return x;
  const double a = ::fabs(x), sign = n == 1 && x < 0.0 ? -1.0 : 1.0;
  if (a == INFINITY) return scaled ? sign * 0.0 : sign * INFINITY;
  if (a <= kBesselSeriesLimit) {
    const double value = (n == 1 ? a / 2.0 : 1.0) * bessel_series_of(n, a);
    return sign * (scaled ? value * ::exp(-a) : value);
  }
  const double tail = bessel_scaled_tail_of(n, a);
  if (scaled) return sign * tail;
  const double half = ::exp(a / 2.0);
  return sign * (tail * half) * half;
}

// zeta(s, q) = sum over k >= 0 of (q + k)^-s, Hurwitz's zeta function (torch.special.zeta),
// for s > 1; polygamma's n-th function is (-1)^(n+1) n! zeta(n + 1, x). PyTorch's values at
// the edges: +inf at s = 1 and at q = 0, -1, -2, ...; NaN for s < 1, and for q < 0 when s
// is not a whole number ((q + k)^-s is not real). The terms are summed one by one while
// q + k < max(12, 1.3 s), stopping early once a positive q + k's term no longer changes the
// sum (the rest is then below twice that term); the tail from a = q + k by the
// Euler-Maclaurin formula, a^(1-s) / (s-1) + a^-s / 2 + sum_j B_2j / (2j)! s (s+1) ...
// (s+2j-2) a^(1-s-2j), whose terms fall by (s + 2j)^2 / (2 pi a)^2 < 0.2 each there. Within
// 2e-15 of a 60-digit sum for 1 < s <= 1000 and q from 1e-8 to 1e6. Where q < 0 and s is odd,
// the terms of q + k < 0 cancel those above 0, and only the absolute error stays small.
KILN_HOST_DEVICE inline double zeta_of(double s, double q) {
  if (s != s || q != q) return NAN;
  if (s == 1.0) return INFINITY;
  if (s < 1.0) return NAN;
  if (q <= 0.0) {
    if (q == ::floor(q)) return INFINITY;
    if (s != ::floor(s)) return NAN;
  }
  if (q == INFINITY) return 0.0;
  double sum = 0.0, a = q;
  for (; a < 12.0 || a < 1.3 * s; a += 1.0) {
    const double term = ::pow(a, -s);
    sum += term;
    if (a > 0.0 && ::fabs(term) <= 1e-17 * ::fabs(sum)) return sum;
  }
  // B_2j / (2j)! for j = 1 ... 12.
  constexpr double b[12] = {
      8.3333333333333333333e-2,  -1.3888888888888888889e-3,  3.3068783068783068783e-5,
      -8.2671957671957671958e-7, 2.0876756987868098979e-8,   -5.2841901386874931848e-10,
      1.3382536530684678833e-11, -3.3896802963225828668e-13, 8.5860620562778445641e-15,
      -2.174868698558061873e-16, 5.5090028283602295152e-18,  -1.3954464685812523341e-19};
  const double power = ::pow(a, -s);  // a^-s
  double tail = a * power / (s - 1.0) + 0.5 * power;
  double rising = s * power / a;  // s (s+1) ... (s+2j-2) a^(1-s-2j), for j = 1
  for (int j = 0; j < 12; ++j) {
    const double term = b[j] * rising;
    tail += term;
    if (::fabs(term) <= 1e-17 * ::fabs(sum + tail)) break;
    rising *= (s + 2 * j + 1) * (s + 2 * j + 2) / (a * a);
  }
  return sum + tail;
}

}  // namespace kiln::cuda_kernels
