// Elementwise math beyond the arithmetic of elementwise.hpp, with PyTorch's names and
// definitions: trigonometric and hyperbolic functions and their inverses, erf and its
// kin, other bases of exp and log, the log-gamma function and its derivatives, Hurwitz's
// zeta function, the modified Bessel functions, and functions of two tensors
// (broadcasting). Floating tensors only; each differentiable in its floating inputs.
// Outside a function's domain the value is NaN (or ±inf at a pole), as in <cmath> and
// PyTorch, never an error.
#pragma once

#include <optional>

#include "kiln/core/tensor.hpp"

namespace kiln {

// --- Trigonometric and hyperbolic -----------------------------------------------
Tensor tan(const Tensor& x);
Tensor asin(const Tensor& x);  // [-1, 1] -> [-pi/2, pi/2]
Tensor acos(const Tensor& x);  // [-1, 1] -> [0, pi]
Tensor atan(const Tensor& x);
Tensor sinh(const Tensor& x);
Tensor cosh(const Tensor& x);
Tensor asinh(const Tensor& x);
Tensor acosh(const Tensor& x);  // [1, inf)
Tensor atanh(const Tensor& x);  // (-1, 1); ±inf at ±1
// The angle of the point (x, y) in (-pi, pi], quadrant by the signs of both
// (torch.atan2(y, x)).
Tensor atan2(const Tensor& y, const Tensor& x);
// sqrt(a^2 + b^2) without overflow or underflow in the squares.
Tensor hypot(const Tensor& a, const Tensor& b);

// --- erf and its kin ---------------------------------------------------------------
Tensor erf(const Tensor& x);
Tensor erfc(const Tensor& x);    // 1 - erf(x), kept precise where erf(x) is near 1
Tensor erfinv(const Tensor& x);  // erf's inverse on [-1, 1] (±inf at ±1)

// --- Powers, roots, logarithms ---------------------------------------------------
Tensor rsqrt(const Tensor& x);       // 1 / sqrt(x)
Tensor reciprocal(const Tensor& x);  // 1 / x
Tensor square(const Tensor& x);      // x * x (integers too)
Tensor exp2(const Tensor& x);        // 2^x
Tensor log2(const Tensor& x);
Tensor log10(const Tensor& x);
// log(e^a + e^b) without overflow (a where both are the same infinity).
Tensor logaddexp(const Tensor& a, const Tensor& b);
// x log(y), and 0 where x is 0 (unless y is NaN): the entropy term that stays finite at
// x = 0. The gradient in x is log(y) (0 where x = 0 and y <= 0), in y x / y.
Tensor xlogy(const Tensor& x, const Tensor& y);
// x 2^e (torch.ldexp), e a tensor broadcasting with x, either of them integer or floating:
// the wider floating dtype of the two (float32 when both are integers). Differentiable in
// x, and in a floating e (x 2^e ln 2).
Tensor ldexp(const Tensor& x, const Tensor& e);
// base^exponent in float64 whatever the operands' dtypes (torch.float_power), so integer
// and float32 operands are raised in double precision; a float64 result. Differentiable
// as pow (the gradients in the operands' own dtypes).
Tensor float_power(const Tensor& base, const Tensor& exponent);
Tensor float_power(const Tensor& base, double exponent);
// log(x / (1 - x)), sigmoid's inverse; its gradient 1 / (x (1 - x)), NaN outside [0, 1].
// With eps, x is first clamped to [eps, 1 - eps], and the gradient is 0 outside that
// (torch.logit(x, eps)).
Tensor logit(const Tensor& x, std::optional<double> eps = std::nullopt);

// --- The gamma function ---------------------------------------------------------
Tensor lgamma(const Tensor& x);   // log |Gamma(x)|; +inf at 0 and the negative integers
Tensor digamma(const Tensor& x);  // lgamma's derivative; -inf at +0, NaN at the negative integers
// digamma's n-th derivative (torch.polygamma): digamma for n = 0, then (-1)^(n+1) n!
// zeta(n + 1, x); +inf at the non-positive integers. Differentiable to any order.
Tensor polygamma(int n, const Tensor& x);
// Hurwitz's zeta function, the sum over k >= 0 of (q + k)^-s (torch.special.zeta), computed
// in double, broadcasting: +inf at s = 1 and at q = 0, -1, -2, ...; NaN for s < 1, and for
// q < 0 unless s is a whole number. Differentiable in q (-s zeta(s + 1, q)); s's gradient is
// not defined (an Error if asked for, as in PyTorch).
Tensor zeta(const Tensor& s, const Tensor& q);
Tensor zeta(double s, const Tensor& q);
Tensor zeta(const Tensor& s, double q);
// The multivariate log-gamma function of dimension p (torch.mvlgamma):
// log Gamma_p(x) = p (p - 1) / 4 log pi + sum_{j < p} lgamma(x - j / 2). Every entry must
// exceed (p - 1) / 2, else an Error, as torch's (read back once from a GPU).
// Differentiable (a sum of digammas).
Tensor mvlgamma(const Tensor& x, int p);

// --- Bessel functions -------------------------------------------------------------
// The modified Bessel functions of the first kind of order 0 and 1 (torch.special.i0 /
// i1), and the same scaled by e^-|x| (i0e / i1e), which stay finite where I0 and I1
// overflow (|x| > 713). Computed in double (a power series, then the asymptotic
// expansion past |x| = 25), within 3e-15 relative. Differentiable to any order:
// I0' = I1, I1' = I0 - I1 / x (1/2 at 0), i0e' = i1e - sign(x) i0e,
// i1e' = i0e - i1e (sign(x) + 1 / x) (1/2 at 0).
Tensor i0(const Tensor& x);
Tensor i0e(const Tensor& x);
Tensor i1(const Tensor& x);
Tensor i1e(const Tensor& x);

// --- Rounding and remainders ------------------------------------------------------
// toward zero; gradient 0, as floor's
Tensor trunc(const Tensor& x);
// x - trunc(x) (the sign of x); gradient 1
Tensor frac(const Tensor& x);
// a - trunc(a / b) b, exactly (C's fmod): the sign of a. Gradient 1 in a, -trunc(a / b) in b.
// Integer tensors too (C's %; no gradient; a divisor of 0 is an Error), as remainder and
// floor_divide below.
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, double b);
// a - floor(a / b) b, exactly (Python's %): the sign of b. Gradient 1 in a, -floor(a / b) in b
// (the whole number (a - remainder) / b). Also `a % b`.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, double b);
// a / b rounded toward minus infinity (Python's //, torch.floor_divide), broadcasting: for
// integers exact (the lowest value over -1 wraps around to itself), so that with % it
// splits a flat position into coordinates: row = floor_divide(i, w), column = i % w. For
// floating point Python's algorithm: the quotient of a less its remainder, a whole number,
// with the sign of a / b at 0 (by 0: a / b). No gradient (PyTorch defines none).
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, double b);
// a / b rounded to a whole number (torch.div with rounding_mode): Rounding::trunc toward
// zero (C's / for integers, trunc(a / b) for floating point), Rounding::floor toward minus
// infinity (floor_divide). Integers stay integers (a divisor of 0 is an Error, the lowest
// value over -1 wraps around to itself); no gradient, as floor_divide. div(a, b) without a
// mode is true division (integers in float32).
enum class Rounding { trunc, floor };
Tensor div(const Tensor& a, const Tensor& b, Rounding mode);
Tensor div(const Tensor& a, double b, Rounding mode);
inline Tensor operator%(const Tensor& a, const Tensor& b) { return remainder(a, b); }
inline Tensor operator%(const Tensor& a, double b) { return remainder(a, b); }

// --- Blends and bounds -----------------------------------------------------------
// start + weight (end - start), computed from the nearer end (torch.lerp), so weight 1
// gives end exactly. Differentiable in all three.
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
Tensor lerp(const Tensor& start, const Tensor& end, double weight);
// x clamped elementwise to [lo, hi], bounds broadcasting (min(max(x, lo), hi), as torch.clamp
// with tensor bounds: hi where lo > hi). The gradient goes to x inside the bounds, else to
// the bound that applies.
Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi);
// NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (by default 0, and the
// dtype's largest and lowest finite values). Gradient 1 where x is finite, else 0.
Tensor nan_to_num(const Tensor& x, double nan = 0.0, std::optional<double> posinf = std::nullopt,
                  std::optional<double> neginf = std::nullopt);

// --- Products, signs and steps (broadcasting) -------------------------------------
// input + value t1 t2 and input + value t1 / t2 (torch.addcmul / addcdiv), differentiable
// in all three.
Tensor addcmul(const Tensor& input, const Tensor& t1, const Tensor& t2, double value = 1.0);
Tensor addcdiv(const Tensor& input, const Tensor& t1, const Tensor& t2, double value = 1.0);
// The larger (smaller) of a and b where a NaN loses to a number (torch.fmax / fmin);
// NaN only where both are. The gradient goes to the one picked (a on ties).
Tensor fmax(const Tensor& a, const Tensor& b);
Tensor fmin(const Tensor& a, const Tensor& b);
// |a| with the sign of b, -0 included (torch.copysign). Differentiable in a (b's gradient 0).
Tensor copysign(const Tensor& a, const Tensor& b);
// 0 where x < 0, 1 where x > 0, `values` where x = 0 (torch.heaviside); no gradient.
Tensor heaviside(const Tensor& x, const Tensor& values);
// sin(pi x) / (pi x), 1 at 0 (torch.sinc, the normalised sinc); gradient 0 at 0.
Tensor sinc(const Tensor& x);

// --- A floating-point number's parts ------------------------------------------------
// Whether x's sign bit is set (torch.signbit): a uint8 mask, 1 for the negative numbers,
// -0, -inf and a NaN whose sign bit is set; for integer tensors x < 0. No gradient.
Tensor signbit(const Tensor& x);
// x = mantissa 2^exponent with |mantissa| in [0.5, 1) (torch.frexp, exact): the mantissa
// in x's dtype, the exponent int32; 0, ±inf and NaN are their own mantissa, with exponent
// 0. Differentiable in the mantissa (2^-exponent, as torch's).
struct MantissaExponent {
  Tensor mantissa, exponent;
};
MantissaExponent frexp(const Tensor& x);
// The next number after a toward b that a's dtype can hold (torch.nextafter),
// broadcasting; b where a == b, NaN where either is. No gradient.
Tensor nextafter(const Tensor& a, const Tensor& b);

// --- Closeness (not differentiable) ------------------------------------------------
// |a - b| <= atol + rtol |b| entrywise, broadcasting (torch.isclose), computed in double:
// a uint8 mask. Infinities are close only to themselves; NaN is close to nothing, or to
// NaN with equal_nan. Integer tensors compare exactly with the defaults.
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
               bool equal_nan = false);
// Whether every entry of a is close to b's (torch.allclose); reads back from a GPU.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false);
// The same shape and equal entries (torch.equal); NaN equals nothing. Reads back from a GPU.
bool equal(const Tensor& a, const Tensor& b);

}  // namespace kiln
