// Elementwise math functions (kiln/ops/math.hpp): each forward is one kernel of the
// elementwise engine (reference kernels on the CPU, kernels/cuda on a GPU) or a
// composite of ops; each backward rule sits next to its forward.
#include "kiln/ops/math.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/unary_engine.hpp"

namespace kiln {

using cpu::Binary;
using cpu::Unary;

namespace {

Tensor constant(const Tensor& like, double value) { return detail::constant_like(like, value); }

// What a unary op's backward reads: its input x, or its output y.
enum class Reads { input, output };

// y = op(x) by its kernel; the gradient g * derivative(saved), where saved is x or y,
// whichever `reads` names. The derivatives are recorded ops, so the rule can be
// differentiated again, unless `recorded_derivative` is false.
template <class Derivative>
Tensor unary_op(Unary op, const char* name, const Tensor& x, Reads reads, Derivative derivative,
                bool recorded_derivative = true) {
  Tensor out = detail::unary_forward(op, name, x);
  if (should_record({x})) {
    const bool from_output = reads == Reads::output;
    attach_grad_fn(out, name, {x},
                   [s = from_output ? out.detach() : x, from_output, derivative](const Tensor& g) {
                     return Grads{mul(g, derivative(from_output ? output_for_backward(s) : s))};
                   },
                   {from_output ? out : x});
    if (recorded_derivative) mark_differentiable_backward(out);
  }
  return out;
}

// out = op(a, b) by its kernel, broadcasting; the gradients ga(g, a, b, out) and
// gb(g, a, b, out), each summed back to its operand's shape. `reads_out`: whether they
// read out (so that changing it in place before backward is an error).
template <class GradA, class GradB>
Tensor binary_op(Binary op, const char* name, const Tensor& a, const Tensor& b, GradA grad_a, GradB grad_b,
                 bool reads_out = false) {
  detail::check_floating(name, a);
  Tensor out = detail::binary_forward(op, name, a, b);
  if (should_record({a, b})) {
    const bool na = a.requires_grad(), nb = b.requires_grad();
    attach_grad_fn(out, name, {a, b},
                   [a, b, od = out.detach(), na, nb, grad_a, grad_b](const Tensor& g) {
                     const Tensor o = output_for_backward(od);
                     return Grads{na ? sum_to(grad_a(g, a, b, o), a.shape()) : Tensor(),
                                  nb ? sum_to(grad_b(g, a, b, o), b.shape()) : Tensor()};
                   },
                   {a, b, reads_out ? out : Tensor()});
    mark_differentiable_backward(out);
  }
  return out;
}

// 1 / sqrt(1 - x^2): asin's derivative (and, negated, acos's).
Tensor asin_slope(const Tensor& x) { return rsqrt(constant(x, 1.0) - x * x); }

}  // namespace

// --- Trigonometric and hyperbolic -----------------------------------------------

Tensor tan(const Tensor& x) {  // 1 + tan^2
  return unary_op(Unary::tan, "tan", x, Reads::output, [](const Tensor& y) { return y * y + 1.0; });
}
Tensor asin(const Tensor& x) { return unary_op(Unary::asin, "asin", x, Reads::input, asin_slope); }
Tensor acos(const Tensor& x) {
  return unary_op(Unary::acos, "acos", x, Reads::input, [](const Tensor& v) { return -asin_slope(v); });
}
Tensor atan(const Tensor& x) {  // 1 / (1 + x^2)
  return unary_op(Unary::atan, "atan", x, Reads::input,
                  [](const Tensor& v) { return reciprocal(v * v + 1.0); });
}
Tensor sinh(const Tensor& x) {
  return unary_op(Unary::sinh, "sinh", x, Reads::input, [](const Tensor& v) { return cosh(v); });
}
Tensor cosh(const Tensor& x) {
  return unary_op(Unary::cosh, "cosh", x, Reads::input, [](const Tensor& v) { return sinh(v); });
}
Tensor asinh(const Tensor& x) {  // 1 / sqrt(x^2 + 1)
  return unary_op(Unary::asinh, "asinh", x, Reads::input, [](const Tensor& v) { return rsqrt(v * v + 1.0); });
}
Tensor acosh(const Tensor& x) {  // 1 / sqrt(x^2 - 1)
  return unary_op(Unary::acosh, "acosh", x, Reads::input, [](const Tensor& v) { return rsqrt(v * v - 1.0); });
}
Tensor atanh(const Tensor& x) {  // 1 / (1 - x^2)
  return unary_op(Unary::atanh, "atanh", x, Reads::input,
                  [](const Tensor& v) { return reciprocal(1.0 - v * v); });
}

Tensor atan2(const Tensor& y, const Tensor& x) {  // d/dy = x / r^2, d/dx = -y / r^2
  return binary_op(
      Binary::atan2, "atan2", y, x,
      [](const Tensor& g, const Tensor& a, const Tensor& b, const Tensor&) {
        return g * b / (a * a + b * b);
      },
      [](const Tensor& g, const Tensor& a, const Tensor& b, const Tensor&) {
        return -(g * a) / (a * a + b * b);
      });
}

Tensor hypot(const Tensor& a, const Tensor& b) {  // a / r, b / r
  return binary_op(
      Binary::hypot, "hypot", a, b,
      [](const Tensor& g, const Tensor& u, const Tensor&, const Tensor& r) { return g * u / r; },
      [](const Tensor& g, const Tensor&, const Tensor& v, const Tensor& r) { return g * v / r; }, true);
}

// --- erf and its kin ---------------------------------------------------------------

Tensor erf(const Tensor& x) {  // 2 / sqrt(pi) e^(-x^2)
  return unary_op(Unary::erf, "erf", x, Reads::input,
                  [](const Tensor& v) { return exp(-(v * v)) * (2.0 * std::numbers::inv_sqrtpi); });
}
Tensor erfc(const Tensor& x) {
  return unary_op(Unary::erfc, "erfc", x, Reads::input,
                  [](const Tensor& v) { return exp(-(v * v)) * (-2.0 * std::numbers::inv_sqrtpi); });
}
Tensor erfinv(const Tensor& x) {  // sqrt(pi) / 2 e^(y^2)
  return unary_op(Unary::erfinv, "erfinv", x, Reads::output,
                  [](const Tensor& y) { return exp(y * y) * (0.5 / std::numbers::inv_sqrtpi); });
}

// --- Powers, roots, logarithms ---------------------------------------------------

Tensor rsqrt(const Tensor& x) {  // -y^3 / 2
  return unary_op(Unary::rsqrt, "rsqrt", x, Reads::output, [](const Tensor& y) { return y * y * y * -0.5; });
}
Tensor reciprocal(const Tensor& x) {  // -y^2
  return unary_op(Unary::reciprocal, "reciprocal", x, Reads::output,
                  [](const Tensor& y) { return -(y * y); });
}
Tensor square(const Tensor& x) { return mul(x, x); }  // integers too (wrapping, as products do)
Tensor exp2(const Tensor& x) {  // y ln 2
  return unary_op(Unary::exp2, "exp2", x, Reads::output,
                  [](const Tensor& y) { return y * std::numbers::ln2; });
}
Tensor log2(const Tensor& x) {  // 1 / (x ln 2)
  return unary_op(Unary::log2, "log2", x, Reads::input,
                  [](const Tensor& v) { return reciprocal(v * std::numbers::ln2); });
}
Tensor log10(const Tensor& x) {  // 1 / (x ln 10)
  return unary_op(Unary::log10, "log10", x, Reads::input,
                  [](const Tensor& v) { return reciprocal(v * std::numbers::ln10); });
}

// sigmoid(a - b), and the same swapped: 1 / (1 + e^(b - a)) without the e^(b - a) that
// overflows far apart, so that the second derivative (sigmoid's) stays finite there too.
Tensor logaddexp(const Tensor& a, const Tensor& b) {
  return binary_op(
      Binary::logaddexp, "logaddexp", a, b,
      [](const Tensor& g, const Tensor& u, const Tensor& v, const Tensor&) { return g * sigmoid(u - v); },
      [](const Tensor& g, const Tensor& u, const Tensor& v, const Tensor&) { return g * sigmoid(v - u); });
}

namespace {
// x log y, 0 where x = 0 and y is not NaN; no autograd.
Tensor xlogy_values(const Tensor& x, const Tensor& y) {
  NoGradGuard no_grad;
  return where(logical_and(x == 0.0, !isnan(y)), 0.0, x * log(y));
}
}  // namespace

Tensor xlogy(const Tensor& x, const Tensor& y) {
  detail::check_floating("xlogy", x);
  detail::check_same_dtype_device("xlogy", {x, y});
  Tensor out = xlogy_values(x, y);
  if (should_record({x, y})) {
    const bool nx = x.requires_grad(), ny = y.requires_grad();
    attach_grad_fn(out, "xlogy", {x, y},
                   [x, y, nx, ny](const Tensor& g) {
                     // Recording (create_graph), in ops of x and y: xlogy itself, and g x / y.
                     const bool recording = is_grad_enabled();
                     const Tensor xd = x.detach(), yd = y.detach();
                     Tensor gx, gy;
                     if (nx)
                       gx = sum_to(where(logical_and(xd == 0.0, yd <= 0.0), 0.0,
                                         recording ? xlogy(g, y) : xlogy_values(g, yd)),
                                   xd.shape());
                     if (ny) gy = sum_to(recording ? g * x / y : g * xd / yd, yd.shape());
                     return Grads{gx, gy};
                   },
                   {x, y});
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor ldexp(const Tensor& x, const Tensor& e) {
  // torch's promotion of x * 2^e: the wider floating dtype of the two, float32 for integers.
  const bool fx = is_floating(x.dtype()), fe = is_floating(e.dtype());
  const DType type = fx && fe ? (x.dtype() == kFloat64 || e.dtype() == kFloat64 ? kFloat64 : kFloat32)
                     : fx     ? x.dtype()
                     : fe     ? e.dtype()
                              : kFloat32;
  return mul(x.dtype() == type ? x : x.to(type), exp2(e.dtype() == type ? e : e.to(type)));
}

Tensor float_power(const Tensor& base, const Tensor& exponent) {
  return pow(base.to(kFloat64), exponent.to(kFloat64));
}
Tensor float_power(const Tensor& base, double exponent) { return pow(base.to(kFloat64), exponent); }

Tensor logit(const Tensor& x, std::optional<double> eps) {
  detail::check_floating("logit", x);
  KILN_CHECK(!eps || (*eps >= 0 && *eps <= 0.5), "logit: eps must lie in [0, 0.5], not ", *eps);
  const double lo = eps.value_or(0.0), hi = 1.0 - lo;
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor z = eps ? clamp(x, lo, hi) : x;
    out = log(z / (1.0 - z));
  }
  if (should_record({x})) {
    // 1 / (x (1 - x)) inside [lo, hi]; outside, 0 where eps clamped x, else NaN (as torch's)
    attach_grad_fn(out, "logit", {x},
                   [x, lo, hi, clamped = eps.has_value()](const Tensor& g) {
                     const Tensor xd = x.detach();
                     const Tensor outside = logical_or(xd<lo, xd> hi);
                     // x itself while the walk records (a recorded derivative), else its values
                     const Tensor& xs = is_grad_enabled() ? x : xd;
                     return Grads{where(outside, clamped ? 0.0 : std::numeric_limits<double>::quiet_NaN(),
                                        g / (xs * (1.0 - xs)))};
                   },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

// --- The gamma function ---------------------------------------------------------

Tensor lgamma(const Tensor& x) {
  return unary_op(Unary::lgamma, "lgamma", x, Reads::input, [](const Tensor& v) { return digamma(v); });
}
Tensor digamma(const Tensor& x) {  // trigamma
  return unary_op(Unary::digamma, "digamma", x, Reads::input,
                  [](const Tensor& v) { return polygamma(1, v); });
}

namespace {
// zeta(s, q) by its kernel, broadcasting; no autograd.
Tensor zeta_values(const Tensor& s, const Tensor& q) {
  NoGradGuard no_grad;
  return detail::binary_forward(Binary::zeta, "zeta", s, q);
}
}  // namespace

Tensor zeta(const Tensor& s,
            const Tensor& q) {  // d/dq = -s zeta(s + 1, q), zeta again; none in s (as torch's)
  return binary_op(
      Binary::zeta, "zeta", s, q,
      [](const Tensor&, const Tensor& a, const Tensor&, const Tensor&) -> Tensor {
        KILN_CHECK(false, "zeta: no gradient in s (shape ", fmt(a.shape()),
                   ") is defined; pass s detached, or as a number");
        return {};
      },
      [](const Tensor& g, const Tensor& a, const Tensor& b, const Tensor&) {
        const Tensor order = a.detach();
        return -(g * order * zeta(order + 1.0, b));
      });
}
Tensor zeta(double s, const Tensor& q) { return zeta(constant(q, s), q); }
Tensor zeta(const Tensor& s, double q) { return zeta(s, constant(s, q)); }

Tensor mvlgamma(const Tensor& x, int p) {
  detail::check_floating("mvlgamma", x);
  KILN_CHECK(p >= 1, "mvlgamma: the dimension p must be 1 or more, not ", p);
  const double least = 0.5 * (p - 1);
  KILN_CHECK(x.numel() == 0 || all(x.detach() > least).item() != 0.0,
             "mvlgamma: every entry of the tensor of shape ", fmt(x.shape()),
             " must exceed (p - 1) / 2 = ", least, " for p = ", p,
             " (the function is not defined there); some do not, or are NaN");
  Tensor out = lgamma(x);
  for (int j = 1; j < p; ++j) out = out + lgamma(x - 0.5 * j);
  return out + 0.25 * p * (p - 1) * std::log(std::numbers::pi);
}

Tensor polygamma(int n, const Tensor& x) {
  KILN_CHECK(n >= 0, "polygamma: the order n must be 0 or more, not ", n);
  if (n == 0) return digamma(x);
  if (n == 1)  // trigamma's own kernel (by reflection below 1/2, as torch's)
    return unary_op(Unary::trigamma, "polygamma", x, Reads::input,
                    [](const Tensor& v) { return polygamma(2, v); });
  detail::check_floating("polygamma", x);
  // (-1)^(n+1) n! zeta(n + 1, x); the derivative polygamma(n + 1, x)
  double scale = n % 2 == 1 ? 1.0 : -1.0;
  for (int k = 2; k <= n; ++k) scale *= k;
  Tensor out = zeta_values(constant(x, n + 1.0), x) * scale;
  if (should_record({x})) {
    attach_grad_fn(out, "polygamma", {x},
                   [x, n](const Tensor& g) {
                     const Tensor& v = is_grad_enabled() ? x : x.detach();
                     return Grads{mul(g, polygamma(n + 1, v))};
                   },
                   {x});
    mark_differentiable_backward(out);
  }
  return out;
}

// --- Bessel functions -------------------------------------------------------------

namespace {
// x where |x| > the dtype's epsilon, else that epsilon: where I1(x) / x is 1/2 to
// working precision, kept away from 0 so that the division stays finite.
Tensor away_from_zero(const Tensor& v, Tensor& tiny) {
  const double eps =
      v.dtype() == kFloat64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  tiny = abs(v) <= eps;
  return where(tiny, eps, v);
}
}  // namespace

Tensor i0(const Tensor& x) {
  return unary_op(Unary::i0, "i0", x, Reads::input, [](const Tensor& v) { return i1(v); });
}
Tensor i0e(const Tensor& x) {
  return unary_op(Unary::i0e, "i0e", x, Reads::input,
                  [](const Tensor& v) { return i1e(v) - sign(v) * i0e(v); });
}
Tensor i1(const Tensor& x) {
  return unary_op(Unary::i1, "i1", x, Reads::input, [](const Tensor& v) {
    Tensor tiny;
    const Tensor safe = away_from_zero(v, tiny);
    return where(tiny, 0.5, i0(safe) - i1(safe) / safe);
  });
}
Tensor i1e(const Tensor& x) {
  return unary_op(Unary::i1e, "i1e", x, Reads::input, [](const Tensor& v) {
    Tensor tiny;
    const Tensor safe = away_from_zero(v, tiny);
    return where(tiny, 0.5, i0e(safe) - i1e(safe) * (sign(safe) + reciprocal(safe)));
  });
}

// --- A floating-point number's parts ------------------------------------------------

Tensor signbit(const Tensor& x) {
  if (!is_floating(x.dtype())) return x < 0.0;
  NoGradGuard no_grad;
  return detail::unary_forward(Unary::signbit, "signbit", x).to(kUInt8);
}

MantissaExponent frexp(const Tensor& x) {
  const auto exponent_of = [](const Tensor& v) {
    NoGradGuard no_grad;
    return detail::unary_forward(Unary::frexp_exponent, "frexp", v.detach());
  };
  const Tensor exponent = exponent_of(x);
  // d mantissa / dx = 2^-exponent, the exponent constant between powers of 2.
  const Tensor mantissa = unary_op(Unary::frexp_mantissa, "frexp", x, Reads::input,
                                   [exponent_of](const Tensor& v) { return exp2(-exponent_of(v)); });
  return {mantissa, exponent.to(kInt32)};
}

Tensor nextafter(const Tensor& a, const Tensor& b) {
  detail::check_floating("nextafter", a);
  NoGradGuard no_grad;
  return detail::binary_forward(Binary::nextafter, "nextafter", a, b);
}

// --- Rounding and remainders ------------------------------------------------------

Tensor trunc(const Tensor& x) {  // a zero gradient, passed on (as floor's)
  Tensor out = detail::unary_forward(Unary::trunc, "trunc", x);
  if (should_record({x})) {
    attach_grad_fn(out, "trunc", {x}, [](const Tensor& g) { return Grads{zeros_like(g)}; });
    mark_differentiable_backward(out);
  }
  return out;
}
Tensor frac(const Tensor& x) { return sub(x, trunc(x)); }

namespace {
// The integer forms of floor_divide, fmod and remainder: no gradient (integers have
// none), and a divisor of 0 is an error instead of a crash (read back once on a GPU).
Tensor integer_division(Binary op, const char* name, const Tensor& a, const Tensor& b) {
  detail::check_same_dtype_device(name, {a, b});
  KILN_CHECK(b.numel() == 0 || any(eq(b, 0.0)).item() == 0, name, ": the divisor (shape ", fmt(b.shape()),
             ", ", b.dtype(), ") holds a 0, and integers cannot be divided by 0");
  return detail::binary_forward(op, name, a, b);
}
}  // namespace

Tensor floor_divide(const Tensor& a, const Tensor& b) {
  if (!is_floating(a.dtype())) return integer_division(Binary::floor_divide, "floor_divide", a, b);
  return detail::binary_forward(Binary::floor_divide, "floor_divide", a, b);
}
Tensor floor_divide(const Tensor& a, double b) {
  const Tensor x = detail::operand_for(a, b);
  return floor_divide(x, constant(x, b));
}

Tensor div(const Tensor& a, const Tensor& b, Rounding mode) {
  if (mode == Rounding::floor) return floor_divide(a, b);
  if (!is_floating(a.dtype())) return integer_division(Binary::div, "div", a, b);  // C's /
  NoGradGuard no_grad;  // no gradient, as floor_divide
  return trunc(div(a, b));
}
Tensor div(const Tensor& a, double b, Rounding mode) {
  const Tensor x = detail::operand_for(a, b);
  return div(x, constant(x, b), mode);
}

Tensor fmod(const Tensor& a, const Tensor& b) {
  if (!is_floating(a.dtype())) return integer_division(Binary::fmod, "fmod", a, b);
  return binary_op(
      Binary::fmod, "fmod", a, b,
      [](const Tensor& g, const Tensor&, const Tensor&, const Tensor&) { return g; },
      [](const Tensor& g, const Tensor& u, const Tensor& v, const Tensor&) { return -(g * trunc(u / v)); });
}
Tensor fmod(const Tensor& a, double b) {
  const Tensor x = detail::operand_for(a, b);
  return fmod(x, constant(x, b));
}

Tensor remainder(const Tensor& a, const Tensor& b) {
  if (!is_floating(a.dtype())) return integer_division(Binary::remainder, "remainder", a, b);
  return binary_op(
      Binary::remainder, "remainder", a, b,
      [](const Tensor& g, const Tensor&, const Tensor&, const Tensor&) { return g; },
      // floor(a / b) as the whole number (a - remainder) / b, which a / b rounded up to an
      // integer would miss (torch's floor division)
      [](const Tensor& g, const Tensor& u, const Tensor& v, const Tensor& r) {
        return -(g * round((u - r) / v));
      },
      true);
}
Tensor remainder(const Tensor& a, double b) {
  const Tensor x = detail::operand_for(a, b);
  return remainder(x, constant(x, b));
}

// --- Blends and bounds -----------------------------------------------------------

Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  detail::check_floating("lerp", start);
  detail::check_same_dtype_device("lerp", {start, end, weight});
  // From the nearer end: start + w (end - start) below w = 1/2, end - (1 - w) (end - start) from it.
  const Tensor span = end - start;
  return where(weight < 0.5, start + weight * span, end - (1.0 - weight) * span);
}

Tensor lerp(const Tensor& start, const Tensor& end, double weight) {
  detail::check_floating("lerp", start);
  detail::check_same_dtype_device("lerp", {start, end});
  const Tensor span = end - start;
  return weight < 0.5 ? start + span * weight : end - span * (1.0 - weight);
}

Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi) {
  detail::check_floating("clamp", x);
  detail::check_same_dtype_device("clamp", {x, lo, hi});
  return minimum(maximum(x, lo), hi);  // ties give x its gradient, as torch's
}

Tensor nan_to_num(const Tensor& x, double nan, std::optional<double> posinf, std::optional<double> neginf) {
  detail::check_floating("nan_to_num", x);
  const bool single = x.dtype() == kFloat32;
  const double largest = single ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
  const Tensor finite = where(isnan(x), nan, x);
  const Tensor capped = where(x == std::numeric_limits<double>::infinity(), posinf.value_or(largest), finite);
  return where(x == -std::numeric_limits<double>::infinity(), neginf.value_or(-largest), capped);
}

// ---- Products, signs and steps ----------------------------------------------------

Tensor addcmul(const Tensor& input, const Tensor& t1, const Tensor& t2, double value) {
  return input + t1 * t2 * value;
}
Tensor addcdiv(const Tensor& input, const Tensor& t1, const Tensor& t2, double value) {
  return input + t1 / t2 * value;
}

namespace {
// a or b as `keep_a` says, and the other where that one is NaN.
Tensor pick_number(const Tensor& a, const Tensor& b, const Tensor& keep_a) {
  Tensor use_a;
  {
    NoGradGuard no_grad;
    use_a = logical_or(logical_and(keep_a, !isnan(a)), isnan(b));
  }
  return where(use_a, a, b);
}
}  // namespace

Tensor fmax(const Tensor& a, const Tensor& b) {
  detail::check_floating("fmax", a);
  return pick_number(a, b, a.detach() >= b.detach());
}
Tensor fmin(const Tensor& a, const Tensor& b) {
  detail::check_floating("fmin", a);
  return pick_number(a, b, a.detach() <= b.detach());
}

Tensor copysign(const Tensor& a, const Tensor& b) {
  detail::check_floating("copysign", a);
  Tensor negative;
  {
    NoGradGuard no_grad;
    // b's sign bit: below 0, or a zero whose reciprocal is -inf (-0).
    negative = logical_or(b < 0.0, logical_and(b == 0.0, reciprocal(b) < 0.0));
  }
  const Tensor size = abs(a);
  const Tensor out = where(negative, -size, size);
  if (!b.requires_grad()) return out;
  // b's gradient is 0 (as PyTorch's), given through a factor of 1 that never reads b.
  return out * where(zeros(negative.shape(), kUInt8, negative.device()), b, 1.0);
}

Tensor heaviside(const Tensor& x, const Tensor& values) {
  NoGradGuard no_grad;
  return where(x == 0.0, values.to(x.dtype()), (x > 0.0).to(x.dtype()));
}

Tensor sinc(const Tensor& x) {
  detail::check_floating("sinc", x);
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor px = where(x == 0.0, 1.0, x) * std::numbers::pi;  // 1 where x = 0: no 0 / 0
    out = where(x == 0.0, 1.0, sin(px) / px);
  }
  if (!should_record({x})) return out;
  // The slope (pi x cos(pi x) - sin(pi x)) / (pi x^2), in double: in x's own precision the
  // two terms cancel to a few digits near sinc's extrema and near 0 (where it is 0).
  // While the walk records, the same ops of x itself (1 put in for x = 0 on both sides of
  // the division, so no 0 / 0 reaches a later walk; the slope's own slope there reads 0).
  attach_grad_fn(out, "sinc", {x}, [x](const Tensor& g) {
    const Tensor x64 = (is_grad_enabled() ? x : x.detach()).to(kFloat64);
    const Tensor at_zero = x.detach() == 0.0;
    const Tensor safe = where(at_zero, 1.0, x64);
    const Tensor px = safe * std::numbers::pi;
    const Tensor slope = where(at_zero, 0.0, (px * cos(px) - sin(px)) / (px * safe));
    return Grads{(g.to(kFloat64) * slope).to(x.dtype())};
  });
  mark_differentiable_backward(out);
  return out;
}

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  KILN_CHECK(rtol >= 0 && atol >= 0, "isclose: rtol ", rtol, " and atol ", atol, " must be >= 0");
  KILN_CHECK(a.device() == b.device(), "isclose: a is on ", a.device(), " but b on ", b.device(),
             "; move one with .to(device)");
  NoGradGuard no_grad;
  const Tensor x = a.detach().to(kFloat64), y = b.detach().to(kFloat64);
  // Equal entries (infinities included), or finite ones within the tolerance.
  Tensor close = eq(x, y) | (isfinite(x) & isfinite(y) & le(abs(x - y), abs(y) * rtol + atol));
  if (equal_nan) close = close | (isnan(x) & isnan(y));
  return close;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  return all(isclose(a, b, rtol, atol, equal_nan)).to(Device::cpu()).item<std::uint8_t>() != 0;
}

bool equal(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.device() == b.device(), "equal: a is on ", a.device(), " but b on ", b.device(),
             "; move one with .to(device)");
  if (a.shape() != b.shape()) return false;
  NoGradGuard no_grad;
  return all(eq(a.detach(), b.detach())).to(Device::cpu()).item<std::uint8_t>() != 0;
}

}  // namespace kiln
