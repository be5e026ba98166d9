// A floating-point number's parts and neighbours: its sign bit (that of -0 and -NaN
// included), the mantissa and exponent of x = m 2^e with |m| in [0.5, 1), and the next
// representable number toward another. Plain C++ that nvcc and the host compiler both
// read, so the CPU's reference kernels and the GPU's kernels give the same bits. Each math
// call names the global function (::frexp), which kiln's tensor functions of the same
// names would otherwise hide.
#pragma once

#include <math.h>

#include <type_traits>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// 1 where x's sign bit is set, else 0 (in x's type).
template <class T>
KILN_HOST_DEVICE inline T sign_bit_of(T x) {
  return ::signbit(x) ? T(1) : T(0);
}

// frexp's parts, computed on the double (exact for a float, subnormals included): the
// mantissa (x itself for 0, ±inf and NaN) and the exponent (0 for those, as C's frexp
// leaves unspecified).
template <class T>
KILN_HOST_DEVICE inline T frexp_mantissa_of(T x) {
  if (!::isfinite(x) || x == T(0)) return x;
  int e = 0;
  return static_cast<T>(::frexp(static_cast<double>(x), &e));
}
template <class T>
KILN_HOST_DEVICE inline T frexp_exponent_of(T x) {
  if (!::isfinite(x) || x == T(0)) return T(0);
  int e = 0;
  ::frexp(static_cast<double>(x), &e);
  return static_cast<T>(e);
}

// The next number after `from` toward `to`, in T's own precision (torch.nextafter).
template <class T>
KILN_HOST_DEVICE inline T next_after_of(T from, T to) {
  if constexpr (std::is_same_v<T, float>)
    return ::nextafterf(from, to);
  else
    return ::nextafter(from, to);
}

}  // namespace kiln::cuda_kernels
