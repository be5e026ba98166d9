// Sums, differences and products that wrap around beyond an integer type's range, as
// two's complement arithmetic does (int64 max + 1 is int64 min; the negation of the
// lowest value is itself). Signed overflow is undefined behaviour in C++, so integers
// are added and multiplied in an unsigned type, where the wrap is defined, and converted
// back (modular since C++20). Floating-point values take the plain operators. Plain C++
// that nvcc and the host compiler both read: the CPU's reference kernels, its scans and
// the GPU's elementwise functors give the same values.
#pragma once

#include <type_traits>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// The unsigned type integer arithmetic on T happens in: at least unsigned int, as
// narrower operands would be promoted to (signed) int, whose products can overflow.
template <class T>
using WrapUnsigned = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class T>
KILN_HOST_DEVICE inline T wrapping_add(T u, T v) {
  if constexpr (std::is_integral_v<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(u) + static_cast<U>(v)));
  } else {
    return u + v;
  }
}

template <class T>
KILN_HOST_DEVICE inline T wrapping_sub(T u, T v) {
  if constexpr (std::is_integral_v<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(u) - static_cast<U>(v)));
  } else {
    return u - v;
  }
}

template <class T>
KILN_HOST_DEVICE inline T wrapping_mul(T u, T v) {
  if constexpr (std::is_integral_v<T>) {
    using U = WrapUnsigned<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(u) * static_cast<U>(v)));
  } else {
    return u * v;
  }
}

}  // namespace kiln::cuda_kernels
