// Scalar reference kernels: the definition every SIMD variant is tested against.
// Templates, so float, double and (where it makes sense) integer types share them.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cuda/bitwise.hpp"
#include "kernels/cuda/counter_random.hpp"  // dropout_keeps: one keep rule for CPU and GPU
#include "kernels/cuda/division.hpp"
#include "kernels/cuda/float_parts.hpp"
#include "kernels/cuda/special_functions.hpp"
#include "kernels/cuda/wrapping.hpp"  // integers wrap around (two's complement), defined

namespace kiln::cpu::ref {

// --- Unary math, one element -------------------------------------------------
template <class T> T relu_of(T x) { return x < T(0) ? T(0) : x; }  // NaN stays NaN
template <class T> T sigmoid_of(T x) { return T(1) / (T(1) + std::exp(-x)); }
// x * Phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2.
template <class T> T gelu_of(T x) { return T(0.5) * x * std::erfc(-x * T(0.70710678118654752440)); }
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, no loss for x << 0.
template <class T> T softplus_of(T x) {
  return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::abs(x)));
}
// x sigmoid(x); d/dx = s (1 + x (1 - s)) with s = sigmoid(x)
template <class T> T silu_of(T x) { return x * sigmoid_of(x); }
template <class T> T silu_grad_of(T x) {
  const T s = sigmoid_of(x);
  return s * (T(1) + x * (T(1) - s));
}
// -1, 0 or 1 (0 for both zeros); NaN stays NaN
template <class T> T sign_of(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x * T(0)); }
// d/dx gelu = Phi(x) + x phi(x)
template <class T> T gelu_grad_of(T x) {
  const T phi = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
  return T(0.5) * std::erfc(-x * T(0.70710678118654752440)) + x * phi;
}

// Python's remainder, the sign of v (PyTorch's): fmod, moved by v when the signs differ.
template <class T>
T remainder_of(T u, T v) {
  const T r = std::fmod(u, v);
  return r != T(0) && ((r < T(0)) != (v < T(0))) ? r + v : r;
}
// log(e^u + e^v) = max + log1p(e^-|u - v|); u where both are the same infinity.
template <class T>
T logaddexp_of(T u, T v) {
  if (std::isinf(u) && u == v) return u;
  const T m = u > v ? u : v;  // NaN in either gives NaN below
  return m + std::log1p(std::exp(-std::abs(u - v)));
}

template <class T, class F>
void map(std::int64_t n, const T* x, T* y, F f) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class T> void neg(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return -v; }); }
template <class T> void exp(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::exp(v); }); }
template <class T> void log(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::log(v); }); }
template <class T> void sqrt(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::sqrt(v); }); }
template <class T> void abs(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return v < T(0) ? -v : v; }); }
template <class T> void relu(std::int64_t n, const T* x, T* y) { map(n, x, y, relu_of<T>); }
template <class T> void sigmoid(std::int64_t n, const T* x, T* y) { map(n, x, y, sigmoid_of<T>); }
template <class T> void tanh(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::tanh(v); }); }
template <class T> void gelu(std::int64_t n, const T* x, T* y) { map(n, x, y, gelu_of<T>); }
template <class T> void softplus(std::int64_t n, const T* x, T* y) { map(n, x, y, softplus_of<T>); }
template <class T> void silu(std::int64_t n, const T* x, T* y) { map(n, x, y, silu_of<T>); }
template <class T> void sin(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::sin(v); }); }
template <class T> void cos(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::cos(v); }); }
template <class T> void log1p(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::log1p(v); }); }
template <class T> void expm1(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::expm1(v); }); }
template <class T> void sign(std::int64_t n, const T* x, T* y) { map(n, x, y, sign_of<T>); }
template <class T> void floor(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::floor(v); }); }
template <class T> void ceil(std::int64_t n, const T* x, T* y) { map(n, x, y, [](T v) { return std::ceil(v); }); }
// Halves round to the even neighbour (std::nearbyint in the default rounding mode), as in
// NumPy and PyTorch.
template <class T> void round(std::int64_t n, const T* x, T* y) {
  map(n, x, y, [](T v) { return std::nearbyint(v); });
}

// The math functions without a vector variant: <cmath>'s, or the shared special
// functions computed in double (the GPU computes the same).
#define KILN_REF_UNARY(name, expr)                          \
  template <class T>                                        \
  void name(std::int64_t n, const T* x, T* y) {             \
    map(n, x, y, [](T v) { return static_cast<T>(expr); }); \
  }
KILN_REF_UNARY(tan, std::tan(v))
KILN_REF_UNARY(asin, std::asin(v))
KILN_REF_UNARY(acos, std::acos(v))
KILN_REF_UNARY(atan, std::atan(v))
KILN_REF_UNARY(sinh, std::sinh(v))
KILN_REF_UNARY(cosh, std::cosh(v))
KILN_REF_UNARY(asinh, std::asinh(v))
KILN_REF_UNARY(acosh, std::acosh(v))
KILN_REF_UNARY(atanh, std::atanh(v))
KILN_REF_UNARY(erf, std::erf(v))
KILN_REF_UNARY(erfc, std::erfc(v))
KILN_REF_UNARY(erfinv, cuda_kernels::erfinv_of(static_cast<double>(v)))
KILN_REF_UNARY(rsqrt, T(1) / std::sqrt(v))
KILN_REF_UNARY(reciprocal, T(1) / v)
KILN_REF_UNARY(trunc, std::trunc(v))
KILN_REF_UNARY(exp2, std::exp2(v))
KILN_REF_UNARY(log2, std::log2(v))
KILN_REF_UNARY(log10, std::log10(v))
KILN_REF_UNARY(lgamma, std::lgamma(v))
KILN_REF_UNARY(digamma, cuda_kernels::digamma_of(static_cast<double>(v)))
KILN_REF_UNARY(trigamma, cuda_kernels::trigamma_of(static_cast<double>(v)))
KILN_REF_UNARY(i0, cuda_kernels::bessel_i_of(0, static_cast<double>(v), false))
KILN_REF_UNARY(i0e, cuda_kernels::bessel_i_of(0, static_cast<double>(v), true))
KILN_REF_UNARY(i1, cuda_kernels::bessel_i_of(1, static_cast<double>(v), false))
KILN_REF_UNARY(i1e, cuda_kernels::bessel_i_of(1, static_cast<double>(v), true))
KILN_REF_UNARY(signbit, cuda_kernels::sign_bit_of(v))
KILN_REF_UNARY(frexp_mantissa, cuda_kernels::frexp_mantissa_of(v))
KILN_REF_UNARY(frexp_exponent, cuda_kernels::frexp_exponent_of(v))
#undef KILN_REF_UNARY

template <class T> void leaky_relu(std::int64_t n, const T* x, T slope, T* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}
template <class T> void elu(std::int64_t n, const T* x, T alpha, T* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : alpha * std::expm1(x[i]);
}
template <class T> void clamp(std::int64_t n, const T* x, T lo, T hi, T* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
}
// The multiplier is a product, not a branch: keeping is a coin toss, and x * 0 stays
// NaN for an infinite x, as a mask product would.
template <class T>
void dropout(std::int64_t n, const T* x, std::uint64_t seed, std::uint64_t first, std::uint64_t threshold, T kept,
             T* y) {
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = x[i] * (kept * static_cast<T>(cuda_kernels::dropout_keeps<T>(seed, first + static_cast<std::uint64_t>(i),
                                                                         threshold)));
}

// --- Binary, with strides (0 = broadcast) ------------------------------------
template <class T, class F>
void zip(std::int64_t n, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* y, F f) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(a[i * sa], b[i * sb]);
}
#define KILN_REF_BINARY(name, expr)                                                          \
  template <class T>                                                                         \
  void name(std::int64_t n, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* y) { \
    zip(n, a, sa, b, sb, y, [](T u, T v) { return static_cast<T>(expr); });                  \
  }
KILN_REF_BINARY(add, cuda_kernels::wrapping_add(u, v))
KILN_REF_BINARY(sub, cuda_kernels::wrapping_sub(u, v))
KILN_REF_BINARY(mul, cuda_kernels::wrapping_mul(u, v))
KILN_REF_BINARY(div, u / v)
KILN_REF_BINARY(maximum, u != u ? u : (v != v ? v : (u >= v ? u : v)))  // NaN propagates
KILN_REF_BINARY(minimum, u != u ? u : (v != v ? v : (u <= v ? u : v)))
KILN_REF_BINARY(atan2, std::atan2(u, v))
KILN_REF_BINARY(fmod, std::fmod(u, v))  // the sign of u, exact
KILN_REF_BINARY(hypot, std::hypot(u, v))
KILN_REF_BINARY(remainder, remainder_of(u, v))
KILN_REF_BINARY(logaddexp, logaddexp_of(u, v))
KILN_REF_BINARY(zeta, cuda_kernels::zeta_of(static_cast<double>(u), static_cast<double>(v)))
KILN_REF_BINARY(nextafter, cuda_kernels::next_after_of(u, v))
KILN_REF_BINARY(floor_divide, cuda_kernels::floor_divide_of(u, v))
// Integer division and remainders (a divisor of 0 is refused before these run).
KILN_REF_BINARY(floor_quotient, cuda_kernels::floor_quotient(u, v))
KILN_REF_BINARY(truncated_quotient, cuda_kernels::truncated_quotient(u, v))
KILN_REF_BINARY(integer_power, cuda_kernels::integer_power(u, v))
KILN_REF_BINARY(truncated_remainder, cuda_kernels::truncated_remainder(u, v))
KILN_REF_BINARY(floored_remainder, cuda_kernels::floored_remainder(u, v))
// Bit operations and divisors of integers (kernels/cuda/bitwise.hpp).
KILN_REF_BINARY(bitwise_and, u& v)
KILN_REF_BINARY(bitwise_or, u | v)
KILN_REF_BINARY(bitwise_xor, u ^ v)
KILN_REF_BINARY(shift_left, cuda_kernels::shift_left(u, v))
KILN_REF_BINARY(shift_right, cuda_kernels::shift_right(u, v))
KILN_REF_BINARY(gcd, cuda_kernels::gcd_of(u, v))
KILN_REF_BINARY(lcm, cuda_kernels::lcm_of(u, v))
#undef KILN_REF_BINARY

// u^v. An exponent broadcast along the run (sb 0) of 2, 1 or 1/2 takes one product, a copy
// or a square root instead of std::pow's general path, which costs 50 times as much: each
// gives pow's special values (pow(-0, 1/2) = +0, pow(-inf, 1/2) = +inf), correctly rounded.
template <class T>
void pow(std::int64_t n, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* y) {
  const T v = n > 0 ? *b : T(0);
  if (sb == 0 && v == T(2)) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = a[i * sa] * a[i * sa];
  } else if (sb == 0 && v == T(1)) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = a[i * sa];
  } else if (sb == 0 && v == T(0.5)) {
    const T inf = std::numeric_limits<T>::infinity();
    for (std::int64_t i = 0; i < n; ++i) {
      const T u = a[i * sa];
      y[i] = u == -inf ? inf : std::sqrt(u) + T(0);  // + 0: -0 becomes +0
    }
  } else {
    zip(n, a, sa, b, sb, y, [](T u, T w) { return static_cast<T>(std::pow(u, w)); });
  }
}

// --- Gradients of the activations --------------------------------------------
template <class T> void relu_grad(std::int64_t n, const T* x, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = x[i] > T(0) ? g[i] : T(0);
}
template <class T> void sigmoid_grad(std::int64_t n, const T* y, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] * y[i] * (T(1) - y[i]);
}
template <class T> void tanh_grad(std::int64_t n, const T* y, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] * (T(1) - y[i] * y[i]);
}
template <class T> void gelu_grad(std::int64_t n, const T* x, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] * gelu_grad_of(x[i]);
}
template <class T> void softplus_grad(std::int64_t n, const T* x, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] * sigmoid_of(x[i]);
}
template <class T> void silu_grad(std::int64_t n, const T* x, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] * silu_grad_of(x[i]);
}
template <class T> void leaky_relu_grad(std::int64_t n, const T* x, T slope, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = x[i] > T(0) ? g[i] : slope * g[i];
}
template <class T> void elu_grad(std::int64_t n, const T* x, T alpha, const T* g, T* gx) {
  for (std::int64_t i = 0; i < n; ++i) gx[i] = x[i] > T(0) ? g[i] : g[i] * (alpha * std::exp(x[i]));
}

// --- Row reductions -----------------------------------------------------------
// Sums accumulate in double for floating types: the reference is the accurate answer.
template <class T> void sum_rows(std::int64_t rows, std::int64_t len, const T* x, T* y) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  for (std::int64_t r = 0; r < rows; ++r) {
    Acc s = 0;
    for (std::int64_t j = 0; j < len; ++j)
      s = cuda_kernels::wrapping_add(s, static_cast<Acc>(x[r * len + j]));
    y[r] = static_cast<T>(s);
  }
}

template <class T>
void sumsq_rows(std::int64_t rows, std::int64_t len, const T* x, T* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::int64_t j = 0; j < len; ++j) {
      const double v = x[r * len + j];
      s += v * v;
    }
    y[r] = static_cast<T>(s);
  }
}

// Best element by `better(candidate, current)`; the first NaN wins outright.
template <class T, class Better>
void arg_rows(std::int64_t rows, std::int64_t len, const T* x, T* y, std::int64_t* index,
              Better better) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * len;
    std::int64_t best = 0;
    for (std::int64_t j = 0; j < len; ++j) {
      if (row[j] != row[j]) { best = j; break; }
      if (better(row[j], row[best])) best = j;
    }
    y[r] = row[best];
    if (index) index[r] = best;
  }
}
template <class T> void max_rows(std::int64_t rows, std::int64_t len, const T* x, T* y, std::int64_t* index) {
  arg_rows(rows, len, x, y, index, [](T a, T b) { return a > b; });
}
template <class T> void min_rows(std::int64_t rows, std::int64_t len, const T* x, T* y, std::int64_t* index) {
  arg_rows(rows, len, x, y, index, [](T a, T b) { return a < b; });
}

// softmax(x)_j = e^(x_j - m) / sum_k e^(x_k - m), m = max_k x_k (for stability).
template <class T> void softmax_rows(std::int64_t rows, std::int64_t len, const T* x, T* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * len;
    T* out = y + r * len;
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t j = 0; j < len; ++j) m = in[j] > m ? in[j] : m;
    double s = 0;
    for (std::int64_t j = 0; j < len; ++j) s += (out[j] = std::exp(in[j] - m));
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t j = 0; j < len; ++j) out[j] *= inv;
  }
}
// log_softmax(x)_j = (x_j - m) - log sum_k e^(x_k - m), subtracted in that order: m + log(sum)
// first would round away log(sum) where |m| is large (its float ulp at m = 700 is 6e-5).
template <class T> void log_softmax_rows(std::int64_t rows, std::int64_t len, const T* x, T* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * len;
    T* out = y + r * len;
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t j = 0; j < len; ++j) m = in[j] > m ? in[j] : m;
    double s = 0;
    for (std::int64_t j = 0; j < len; ++j) s += std::exp(static_cast<double>(in[j] - m));
    const T log_sum = static_cast<T>(std::log(s));
    for (std::int64_t j = 0; j < len; ++j) out[j] = (in[j] - m) - log_sum;
  }
}

// --- Pooling ---------------------------------------------------------------------
// 2x2 / stride-2 max pooling of one (h, w) plane, no padding, into (h/2, w/2) (an odd
// last row or column is left out). Each window is read in the order (0,0) (0,1) (1,0)
// (1,1): the first maximum wins, and the first NaN beats any number. argmax (or null)
// gets the winner's offset in the plane.
template <class T>
void max_pool2x2(std::int64_t h, std::int64_t w, const T* plane, T* out, std::int32_t* argmax) {
  const std::int64_t oh = h / 2, ow = w / 2;
  for (std::int64_t y = 0; y < oh; ++y)
    for (std::int64_t x = 0; x < ow; ++x) {
      const std::int64_t top = 2 * y * w + 2 * x;
      const std::int64_t window[4] = {top, top + 1, top + w, top + w + 1};
      std::int64_t at = top;
      for (std::int64_t k : window)
        if (plane[k] > plane[at] || (plane[k] != plane[k] && plane[at] == plane[at])) at = k;
      out[y * ow + x] = plane[at];
      if (argmax) argmax[y * ow + x] = static_cast<std::int32_t>(at);
    }
}

// --- Sparse ----------------------------------------------------------------------
template <class T>
bool spmm(std::int64_t rows, std::int64_t f, const std::int64_t* row_ptr, const std::int64_t* col, std::int64_t cols,
          const T* val, const T* x, T* y) {
  const std::int64_t last = row_ptr[rows];
  for (std::int64_t r = 0; r < rows; ++r) {
    if (row_ptr[r + 1] < row_ptr[r] || row_ptr[r + 1] > last) return false;
    T* out = y + r * f;
    for (std::int64_t j = 0; j < f; ++j) out[j] = T(0);
    for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) {
      if (col[k] < 0 || col[k] >= cols) return false;
      const T v = val[k];
      const T* in = x + col[k] * f;
      for (std::int64_t j = 0; j < f; ++j) out[j] += v * in[j];
    }
  }
  return true;
}

// --- Optimizer ------------------------------------------------------------------
template <class T, class Step>
void adam(std::int64_t n, T* p, const T* g, T* m, T* v, const Step& s) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T grad = g[i] + T(s.l2) * p[i];
    p[i] *= T(s.decay);
    m[i] = T(s.beta1) * m[i] + (T(1) - T(s.beta1)) * grad;
    v[i] = T(s.beta2) * v[i] + (T(1) - T(s.beta2)) * grad * grad;
    p[i] -= T(s.step_size) * m[i] / (std::sqrt(v[i]) * T(s.inv_sqrt_c2) + T(s.eps));
  }
}

}  // namespace kiln::cpu::ref
