// How a running scan (cpu::Scan) folds one element into its running value, and the
// value a line starts from. Plain C++ that nvcc and the host compiler both read, so the
// CPU's loops and the GPU's kernels combine alike. A is the accumulator: double for
// floating inputs, int64 for integers (logaddexp is for floating inputs only).
#pragma once

#include <math.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cpu/kernel_table.hpp"
#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE
#include "kernels/cuda/wrapping.hpp"

namespace kiln::cuda_kernels {

template <class A>
KILN_HOST_DEVICE inline A scan_identity(cpu::Scan op) {
  constexpr bool floating = std::is_floating_point_v<A>;
  switch (op) {
    case cpu::Scan::sum:
      return A(0);
    case cpu::Scan::max:
    case cpu::Scan::logaddexp:
      if constexpr (floating)
        return A(-INFINITY);
      else
        return A(INT64_MIN);
    case cpu::Scan::min:
      if constexpr (floating)
        return A(INFINITY);
      else
        return A(INT64_MAX);
    default:
      return A(1);
  }
}

// The running value s with the next element v folded in. max / min keep a NaN once one
// comes (as torch.cummax); logaddexp is log(e^s + e^v), exact at infinities (s == v
// covers -inf with -inf, which would otherwise give inf - inf).
template <class A>
KILN_HOST_DEVICE inline A scan_combine(cpu::Scan op, A s, A v) {
  switch (op) {
    case cpu::Scan::sum:  // integers wrap around beyond int64
      return wrapping_add(s, v);
    case cpu::Scan::max:
      if constexpr (std::is_floating_point_v<A>)
        return (v >= s || v != v) && s == s ? v : s;
      else
        return v >= s ? v : s;
    case cpu::Scan::min:
      if constexpr (std::is_floating_point_v<A>)
        return (v <= s || v != v) && s == s ? v : s;
      else
        return v <= s ? v : s;
    case cpu::Scan::logaddexp:
      if constexpr (std::is_floating_point_v<A>) {
        if (s == v) return s + A(0.69314718055994530942);
        return (s > v ? s : v) + ::log1p(::exp(-::fabs(s - v)));
      } else {
        return s;  // not reached: the op takes floating inputs only
      }
    default:
      return wrapping_mul(s, v);
  }
}

}  // namespace kiln::cuda_kernels
