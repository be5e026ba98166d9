// Bit operations and the greatest common divisor of integers: plain C++ that nvcc and
// the host compiler both read, so the CPU's reference kernels and the GPU's kernels give
// the same values (as division.hpp).
#pragma once

#include <type_traits>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// u shifted left by v bits, in the unsigned form of T (the bits shifted out are lost, a
// signed result wraps); a count below 0 or of T's width or more gives 0.
template <class T>
KILN_HOST_DEVICE inline T shift_left(T u, T v) {
  using U = std::make_unsigned_t<T>;
  constexpr int width = static_cast<int>(sizeof(T) * 8);
  if constexpr (std::is_signed_v<T>)
    if (v < 0) return T(0);
  if (v >= T(width)) return T(0);
  return static_cast<T>(static_cast<U>(static_cast<U>(u) << static_cast<int>(v)));
}

// u shifted right by v bits, arithmetically for signed T (the sign fills in); a count below
// 0 or of T's width or more gives the sign alone: -1 for a negative u, else 0.
template <class T>
KILN_HOST_DEVICE inline T shift_right(T u, T v) {
  constexpr int width = static_cast<int>(sizeof(T) * 8);
  bool out_of_range = v >= T(width);
  if constexpr (std::is_signed_v<T>) out_of_range = out_of_range || v < 0;
  if (out_of_range) {
    if constexpr (std::is_signed_v<T>) return u < 0 ? T(-1) : T(0);
    return T(0);
  }
  return static_cast<T>(u >> static_cast<int>(v));
}

// |u| as T's unsigned type (the lowest signed value has one there).
template <class T>
KILN_HOST_DEVICE inline std::make_unsigned_t<T> magnitude(T u) {
  using U = std::make_unsigned_t<T>;
  if constexpr (std::is_signed_v<T>)
    if (u < 0) return static_cast<U>(U(0) - static_cast<U>(u));
  return static_cast<U>(u);
}

// Euclid's algorithm on two magnitudes; gcd(0, 0) = 0.
template <class U>
KILN_HOST_DEVICE inline U gcd_of_magnitudes(U a, U b) {
  while (b != 0) {
    const U r = static_cast<U>(a % b);
    a = b;
    b = r;
  }
  return a;
}

// The greatest common divisor of |u| and |v|: never negative, except that a result of
// 2^(width - 1) in a signed T (gcd(lowest, 0) or gcd(lowest, lowest)) wraps to the
// lowest value. gcd(0, 0) = 0.
template <class T>
KILN_HOST_DEVICE inline T gcd_of(T u, T v) {
  return static_cast<T>(gcd_of_magnitudes(magnitude(u), magnitude(v)));
}

// The least common multiple |u| / gcd(u, v) * |v|: 0 when either is 0; a multiple beyond
// T's range wraps, as the product of two integers does.
template <class T>
KILN_HOST_DEVICE inline T lcm_of(T u, T v) {
  using U = std::make_unsigned_t<T>;
  const U a = magnitude(u), b = magnitude(v), g = gcd_of_magnitudes(a, b);
  return g == 0 ? T(0) : static_cast<T>(static_cast<U>(a / g * b));
}

}  // namespace kiln::cuda_kernels
