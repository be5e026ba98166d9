// One element converted from one dtype to another, in plain C++ that nvcc and the host
// compiler both read, so `to(dtype)` gives the same values on either device.
//
// A floating value becomes an integer by truncation toward zero; NaN becomes 0 and a
// value beyond the integer type's range becomes its nearest end (what a GPU's
// conversion instruction does). A bare static_cast of such a value is undefined in
// C++. Every other conversion (integer to integer wraps modulo 2^bits, anything to a
// floating type rounds to nearest) is static_cast's own.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// The ends of integer type I, computed without std::numeric_limits (whose functions
// are host-only for nvcc).
template <class I>
struct IntRange {
  using U = std::make_unsigned_t<I>;
  static constexpr I highest = static_cast<I>(static_cast<U>(~U(0)) >> (std::is_signed_v<I> ? 1 : 0));
  static constexpr I lowest = std::is_signed_v<I> ? static_cast<I>(-highest - 1) : I(0);
};

template <class D, class S>
KILN_HOST_DEVICE inline D value_cast(S v) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    if (!(v == v)) return D(0);  // NaN
    // lowest is 0 or minus a power of two, exact in S. highest rounds to itself or up
    // to the next power of two; below that every value truncates into range.
    if (v <= static_cast<S>(IntRange<D>::lowest)) return IntRange<D>::lowest;
    if (v >= static_cast<S>(IntRange<D>::highest)) return IntRange<D>::highest;
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace kiln::cuda_kernels
