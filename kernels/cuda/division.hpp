// Division that rounds down (floor_divide, Python's //) or toward zero (C's /), the two
// remainders and whole powers for integers, and floor division of floating-point numbers: plain C++ that nvcc
// and the host compiler both read, so the CPU's reference kernels and the GPU's kernels give the same values.
// The integer forms need a divisor other than 0 (the ops check that first).
#pragma once

#include <math.h>

#include <type_traits>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// u / v rounded toward minus infinity. The lowest value divided by -1 wraps around (to
// itself), as two's complement arithmetic does, instead of overflowing.
template <class T>
KILN_HOST_DEVICE inline T floor_quotient(T u, T v) {
  if constexpr (std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    if (v == T(-1)) return static_cast<T>(U(0) - static_cast<U>(u));
    const T q = u / v;
    return (u % v != 0 && ((u < 0) != (v < 0))) ? T(q - 1) : q;
  } else {
    return u / v;
  }
}

// u / v rounded toward zero (C's /, torch.div with rounding_mode "trunc"); the lowest value
// over -1 wraps around to itself, as in floor_quotient.
template <class T>
KILN_HOST_DEVICE inline T truncated_quotient(T u, T v) {
  if constexpr (std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    if (v == T(-1)) return static_cast<T>(U(0) - static_cast<U>(u));
  }
  return u / v;
}

// u - v * trunc(u / v): the sign of u (C's %, torch.fmod).
template <class T>
KILN_HOST_DEVICE inline T truncated_remainder(T u, T v) {
  if constexpr (std::is_signed_v<T>)
    if (v == T(-1)) return T(0);
  return u % v;
}

// u - v * floor(u / v): the sign of v (Python's %, torch.remainder).
template <class T>
KILN_HOST_DEVICE inline T floored_remainder(T u, T v) {
  const T r = truncated_remainder(u, v);
  if constexpr (std::is_signed_v<T>)
    if (r != 0 && ((r < 0) != (v < 0))) return T(r + v);
  return r;
}

// u to the power v by repeated squaring (the product wraps around beyond T's range, as
// integer products do); for v < 0, as torch.pow of integer tensors: 1 for u = 1, ±1 for
// u = -1 by v's parity, else 0 (1 / u^|v| truncated).
template <class T>
KILN_HOST_DEVICE inline T integer_power(T u, T v) {
  using U = std::make_unsigned_t<T>;
  if constexpr (std::is_signed_v<T>) {
    if (v < 0) {
      if (u == T(1)) return T(1);
      if (u == T(-1)) return (v % 2 == 0) ? T(1) : T(-1);
      return T(0);
    }
  }
  U result = 1, base = static_cast<U>(u);
  for (U e = static_cast<U>(v); e != 0; e = static_cast<U>(e / 2)) {
    if (e % 2 == 1) result = static_cast<U>(result * base);
    base = static_cast<U>(base * base);
  }
  return static_cast<T>(result);
}

// floor(u / v) for floating point, as Python's float // and torch.floor_divide: the
// quotient of u less its remainder (exact), moved down by one where the remainder's sign
// differs from v's, then rounded to the nearest whole number (which it is up to the last
// bits); a zero quotient keeps the sign of u / v. By 0: u / v (±inf or NaN).
KILN_HOST_DEVICE inline float fmod_of(float u, float v) { return ::fmodf(u, v); }
KILN_HOST_DEVICE inline double fmod_of(double u, double v) { return ::fmod(u, v); }
KILN_HOST_DEVICE inline float floor_of(float x) { return ::floorf(x); }
KILN_HOST_DEVICE inline double floor_of(double x) { return ::floor(x); }
KILN_HOST_DEVICE inline float signed_zero(float sign_of) { return ::copysignf(0.0f, sign_of); }
KILN_HOST_DEVICE inline double signed_zero(double sign_of) { return ::copysign(0.0, sign_of); }

template <class T>
KILN_HOST_DEVICE inline T floor_divide_of(T u, T v) {
  if (v == T(0)) return u / v;
  const T r = fmod_of(u, v);
  T q = (u - r) / v;
  if (r != T(0) && ((v < T(0)) != (r < T(0)))) q -= T(1);
  if (q == T(0)) return signed_zero(u / v);
  T whole = floor_of(q);
  if (q - whole > T(0.5)) whole += T(1);
  return whole;
}

}  // namespace kiln::cuda_kernels
